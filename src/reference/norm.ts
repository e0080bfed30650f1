// Batch normalisation from its definition (torch.nn.functional.batch_norm), in float64.
import { hostZeros, type HostTensor } from './host-tensor.js';

export interface BatchNormRefOptions {
  training: boolean;
  momentum?: number;
  eps?: number;
}

export interface BatchNormRefResult {
  output: HostTensor;
  /** The running statistics after the call (updated copies in training, the inputs otherwise). */
  runningMean?: HostTensor;
  runningVar?: HostTensor;
  /** Training only: the batch mean and 1 / sqrt(biased batch variance + eps) per channel. */
  saveMean?: HostTensor;
  saveInvStd?: HostTensor;
}

export function batchNormRef(
  x: HostTensor,
  runningMean: HostTensor | undefined,
  runningVar: HostTensor | undefined,
  weight: HostTensor | undefined,
  bias: HostTensor | undefined,
  options: BatchNormRefOptions,
): BatchNormRefResult {
  const { training, momentum = 0.1, eps = 1e-5 } = options;
  const [batch, channels] = [x.shape[0]!, x.shape[1]!];
  let spatial = 1;
  for (const d of x.shape.slice(2)) spatial *= d;
  const at = (n: number, c: number, s: number) => (n * channels + c) * spatial + s;
  const count = batch * spatial;

  const output = hostZeros(x.shape);
  const newMean = runningMean && hostZeros(runningMean.shape);
  const newVar = runningVar && hostZeros(runningVar.shape);
  const saveMean = hostZeros([channels]);
  const saveInvStd = hostZeros([channels]);
  for (let c = 0; c < channels; c++) {
    let mean: number;
    let variance: number;
    if (training) {
      let sum = 0;
      for (let n = 0; n < batch; n++) for (let s = 0; s < spatial; s++) sum += x.data[at(n, c, s)]!;
      mean = sum / count;
      let squares = 0;
      for (let n = 0; n < batch; n++) for (let s = 0; s < spatial; s++) squares += (x.data[at(n, c, s)]! - mean) ** 2;
      variance = squares / count;
      saveMean.data[c] = mean;
      saveInvStd.data[c] = 1 / Math.sqrt(variance + eps);
      if (newMean && newVar) {
        newMean.data[c] = (1 - momentum) * runningMean!.data[c]! + momentum * mean;
        newVar.data[c] = (1 - momentum) * runningVar!.data[c]! + momentum * (squares / (count - 1));
      }
    } else {
      if (!runningMean || !runningVar) throw new Error('batchNormRef: running statistics are required in evaluation');
      mean = runningMean.data[c]!;
      variance = runningVar.data[c]!;
    }
    const gamma = weight ? weight.data[c]! : 1;
    const beta = bias ? bias.data[c]! : 0;
    for (let n = 0; n < batch; n++) {
      for (let s = 0; s < spatial; s++) {
        const i = at(n, c, s);
        output.data[i] = ((x.data[i]! - mean) / Math.sqrt(variance + eps)) * gamma + beta;
      }
    }
  }
  if (!training) return { output, runningMean, runningVar };
  return { output, runningMean: newMean, runningVar: newVar, saveMean, saveInvStd };
}

export interface BatchNormGradsRef {
  gradInput: HostTensor;
  gradWeight: HostTensor;
  gradBias: HostTensor;
}

/**
 * The gradients of training-mode batch normalisation (y = xhat * weight + bias, xhat normalised
 * with the batch statistics of x), by the chain rule through each intermediate in turn: xhat,
 * the variance and the mean (the textbook derivation, not the simplified closed form).
 */
export function batchNormBackwardRef(gradOut: HostTensor, x: HostTensor, weight: HostTensor | undefined, eps = 1e-5): BatchNormGradsRef {
  const [batch, channels] = [x.shape[0]!, x.shape[1]!];
  let spatial = 1;
  for (const d of x.shape.slice(2)) spatial *= d;
  const at = (n: number, c: number, s: number) => (n * channels + c) * spatial + s;
  const m = batch * spatial;
  const gradInput = hostZeros(x.shape);
  const gradWeight = hostZeros([channels]);
  const gradBias = hostZeros([channels]);
  for (let c = 0; c < channels; c++) {
    const indices: number[] = [];
    for (let n = 0; n < batch; n++) for (let s = 0; s < spatial; s++) indices.push(at(n, c, s));
    let mean = 0;
    for (const i of indices) mean += x.data[i]! / m;
    let variance = 0;
    for (const i of indices) variance += (x.data[i]! - mean) ** 2 / m;
    const std = Math.sqrt(variance + eps);
    const gamma = weight ? weight.data[c]! : 1;
    let dVar = 0; // d loss / d variance
    let dMeanDirect = 0; // d loss / d mean through xhat
    for (const i of indices) {
      const g = gradOut.data[i]!;
      const xhat = (x.data[i]! - mean) / std;
      gradBias.data[c]! += g;
      gradWeight.data[c]! += g * xhat;
      const dXhat = g * gamma;
      dVar += dXhat * (x.data[i]! - mean) * -0.5 * (variance + eps) ** -1.5;
      dMeanDirect += -dXhat / std;
    }
    // The variance depends on the mean too: d var / d mean = -2 / m * sum (x - mean), which is 0
    // at the batch mean, but it is kept to follow the chain rule literally.
    let sumCentered = 0;
    for (const i of indices) sumCentered += x.data[i]! - mean;
    const dMean = dMeanDirect + (dVar * -2 * sumCentered) / m;
    for (const i of indices) {
      const dXhat = gradOut.data[i]! * gamma;
      gradInput.data[i] = dXhat / std + (dVar * 2 * (x.data[i]! - mean)) / m + dMean / m;
    }
  }
  return { gradInput, gradWeight, gradBias };
}

/** The input gradient of evaluation-mode batch normalisation: gradOut * weight / sqrt(runningVar + eps). */
export function batchNormEvalBackwardRef(
  gradOut: HostTensor,
  runningVar: HostTensor,
  weight: HostTensor | undefined,
  eps = 1e-5,
): HostTensor {
  const [batch, channels] = [gradOut.shape[0]!, gradOut.shape[1]!];
  let spatial = 1;
  for (const d of gradOut.shape.slice(2)) spatial *= d;
  const gradInput = hostZeros(gradOut.shape);
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      const factor = (weight ? weight.data[c]! : 1) / Math.sqrt(runningVar.data[c]! + eps);
      for (let s = 0; s < spatial; s++) {
        const i = (n * channels + c) * spatial + s;
        gradInput.data[i] = gradOut.data[i]! * factor;
      }
    }
  }
  return gradInput;
}

/**
 * Rows of `len` contiguous values normalised by their own mean and biased variance (two passes,
 * from the definition), then scaled and shifted by the affine entry `affineIndex(row, i)`:
 * group norm and layer norm are both this, with different rows and affine layouts.
 */
function normalizeRows(
  x: HostTensor,
  len: number,
  affineIndex: (row: number, i: number) => number,
  weight: HostTensor | undefined,
  bias: HostTensor | undefined,
  eps: number,
): HostTensor {
  const output = hostZeros(x.shape);
  const rows = len === 0 ? 0 : x.data.length / len;
  for (let r = 0; r < rows; r++) {
    const start = r * len;
    let sum = 0;
    for (let i = 0; i < len; i++) sum += x.data[start + i]!;
    const mean = sum / len;
    let squares = 0;
    for (let i = 0; i < len; i++) squares += (x.data[start + i]! - mean) ** 2;
    const std = Math.sqrt(squares / len + eps);
    for (let i = 0; i < len; i++) {
      const a = affineIndex(r, i);
      const gamma = weight ? weight.data[a]! : 1;
      const beta = bias ? bias.data[a]! : 0;
      output.data[start + i] = ((x.data[start + i]! - mean) / std) * gamma + beta;
    }
  }
  return output;
}

/**
 * F.group_norm: x [N, C, *] with its C channels split into numGroups groups of consecutive
 * channels, each (sample, group) normalised over its channels and spatial positions; weight and
 * bias [C] per channel.
 */
export function groupNormRef(
  x: HostTensor,
  weight: HostTensor | undefined,
  bias: HostTensor | undefined,
  options: { numGroups: number; eps?: number },
): HostTensor {
  const { numGroups, eps = 1e-5 } = options;
  const channels = x.shape[1]!;
  const spatial = x.shape.slice(2).reduce((a, b) => a * b, 1);
  const perGroup = channels / numGroups;
  const affineIndex = (row: number, i: number) => (row % numGroups) * perGroup + Math.floor(i / spatial);
  return normalizeRows(x, perGroup * spatial, affineIndex, weight, bias, eps);
}

/**
 * F.layer_norm: every run of the last normalizedShape.length dimensions of x normalised on its
 * own; weight and bias (shaped normalizedShape) elementwise.
 */
export function layerNormRef(
  x: HostTensor,
  weight: HostTensor | undefined,
  bias: HostTensor | undefined,
  options: { normalizedShape: readonly number[]; eps?: number },
): HostTensor {
  const { normalizedShape, eps = 1e-5 } = options;
  const len = normalizedShape.reduce((a, b) => a * b, 1);
  return normalizeRows(x, len, (_row, i) => i, weight, bias, eps);
}
