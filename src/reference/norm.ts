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
  return { output, runningMean: newMean, runningVar: newVar };
}
