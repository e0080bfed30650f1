// Gradient-based explanations of a class score, computed on the GPU for a whole batch:
// - Grad-CAM (Selvaraju et al., 2017): the gradient of the class score with respect to a layer's
//   activations A [N, C, h, w], averaged over space, weighs A's channels; the weighted sum, rectified,
//   is upsampled bilinearly to the input's size and scaled to [0, 1] per image.
// - Gradient saliency (Simonyan et al., 2014): |d score / d input|, its largest channel per pixel.
// The layer's activations are caught by a forward hook that replaces them with a leaf Variable
// requiring a gradient: the backward pass stops there, and the layers before it run as plain
// inference (ResNet18's frozen blocks stay folded). Parameters are frozen meanwhile, so no weight
// gradient is computed.
import { Tape } from '../../autograd/tape.js';
import { constant, Variable } from '../../autograd/variable.js';
import { channelAbsMax, minMaxNormalize } from '../../ops/attribution.js';
import { expectTensor, fail } from '../../ops/check.js';
import { matmul } from '../../ops/gemm.js';
import { adaptiveAvgPool2d } from '../../ops/pool.js';
import { interpolate } from '../../ops/resize.js';
import type { Engine } from '../../runtime/engine.js';
import { shapeString, type Tensor } from '../../runtime/tensor.js';
import type { Module } from '../module.js';
import { enterExplainMode, findLayer } from './layers.js';

/** Which class's score is explained: one for every image, one per image, or (undefined) each image's top class. */
export type ClassChoice = number | readonly number[] | undefined;

export interface GradCamOptions {
  /** The layer whose activations are weighed, by state-dict name ('layer4', 'layer2.2'); its output must be [N, C, h, w]. */
  layer: string;
  classIndex?: ClassChoice;
}

export interface GradCamResult {
  /** [N, 1, H, W] in [0, 1]: the heat map at the input's size (0 everywhere for an image whose map is flat). */
  heatmap: Tensor;
  /** The model's output [N, classes]. */
  logits: Tensor;
  /** The class explained for each image. */
  classIndex: number[];
  /** Frees heatmap and logits. */
  dispose(): void;
}

export interface SaliencyOptions {
  classIndex?: ClassChoice;
}

export interface SaliencyResult {
  /** [N, 1, H, W]: the largest |d score / d input| over the input's channels, per pixel. */
  map: Tensor;
  /** [N, C, H, W]: d score / d input itself. */
  gradient: Tensor;
  logits: Tensor;
  classIndex: number[];
  /** Frees map, gradient and logits. */
  dispose(): void;
}

/** The class of each image: `choice` checked against the logits, or each row's argmax (read back). */
async function chooseClasses(op: string, logits: Tensor, choice: ClassChoice): Promise<number[]> {
  if (logits.rank !== 2) fail(op, `expected the model to output logits [N, classes], got ${shapeString(logits.shape)}`);
  const [n, k] = logits.shape as [number, number];
  if (choice === undefined) {
    const values = await logits.toArray();
    return Array.from({ length: n }, (_, row) => {
      let best = 0;
      for (let c = 1; c < k; c++) if (values[row * k + c]! > values[row * k + best]!) best = c;
      return best;
    });
  }
  const list = typeof choice === 'number' ? new Array<number>(n).fill(choice) : Array.isArray(choice) ? [...(choice as number[])] : undefined;
  if (!list) fail(op, `classIndex must be a number or an array of them (one per image), got ${JSON.stringify(choice)}`);
  if (list.length !== n) fail(op, `expected ${n} class indices (one per image), got ${list.length}`);
  for (const c of list) {
    if (!Number.isInteger(c) || c < 0 || c >= k) fail(op, `classIndex ${JSON.stringify(c)} is out of range: the model has ${k} classes (0 to ${k - 1})`);
  }
  return list;
}

/** d (sum over images of logits[i, classes[i]]) / d logits: one-hot rows. */
function oneHot(engine: Engine, classes: readonly number[], k: number): Tensor {
  const data = new Float32Array(classes.length * k);
  classes.forEach((c, i) => (data[i * k + c] = 1));
  return engine.tensor(data, [classes.length, k]);
}

/** Runs the tape's backward pass from each image's chosen class score; returns the classes. */
async function backwardFromClassScores(op: string, tape: Tape, logits: Variable, choice: ClassChoice): Promise<number[]> {
  const classIndex = await chooseClasses(op, logits.value, choice);
  const seed = oneHot(logits.value.engine, classIndex, logits.shape[1]!);
  try {
    tape.backward(logits, seed);
  } finally {
    seed.dispose();
  }
  return classIndex;
}

function checkInput(op: string, input: Tensor): void {
  expectTensor(op, 'input', input);
  if (input.dtype !== 'float32' || input.rank !== 4) fail(op, `expected input images [N, C, H, W] of float32, got ${input.dtype} ${shapeString(input.shape)}`);
}

/**
 * The Grad-CAM map from a layer's activations and their gradient (both [N, C, h, w]), at
 * (height, width): relu(sum_c mean_hw(gradient)_c * activations_c), bilinear (align_corners
 * false), each image scaled to [0, 1]. All on the GPU; a new tensor [N, 1, height, width].
 */
export function gradCamMap(activations: Tensor, gradient: Tensor, height: number, width: number): Tensor {
  const [n, c, h, w] = activations.shape as [number, number, number, number];
  const weights = adaptiveAvgPool2d(gradient, 1);
  const flatWeights = weights.reshape([n, 1, c]);
  const flatActivations = activations.reshape([n, c, h * w]);
  const cam = matmul(flatWeights, flatActivations, { relu: true });
  const camImage = cam.reshape([n, 1, h, w]);
  const upsampled = interpolate(camImage, { size: [height, width], mode: 'bilinear', alignCorners: false });
  try {
    return minMaxNormalize(upsampled);
  } finally {
    for (const t of [weights, flatWeights, flatActivations, cam, camImage, upsampled]) t.dispose();
  }
}

/**
 * Grad-CAM of the class scores of `input` [N, C, H, W] (batched; one backward pass for all
 * images) at `options.layer`. Unknown layers are refused with the valid names listed, a layer
 * whose output is not [N, C, h, w] and a class index out of range with the reason.
 */
export async function gradCam(model: Module, input: Tensor, options: GradCamOptions): Promise<GradCamResult> {
  const op = 'gradCam';
  checkInput(op, input);
  const name = options?.layer;
  const layer = findLayer(model, name, op);
  const restore = enterExplainMode(model);
  const tape = new Tape(input.engine);
  let activation: Variable | undefined;
  const remove = layer.registerForwardHook((_m, _x, y) => {
    if (activation) fail(op, `layer '${name}' ran more than once in one forward pass, so its activations are ambiguous`);
    if (y.shape.length !== 4) fail(op, `layer '${name}' outputs ${shapeString(y.shape)}; Grad-CAM needs a layer with maps [N, C, h, w] (a convolution, batch norm, activation or pooling layer, or a block of them)`);
    activation = new Variable(y.value, { requiresGrad: true }); // a leaf: the backward pass ends here
    return activation;
  });
  try {
    const logits = model.call(tape, constant(input));
    remove();
    if (!activation) fail(op, `layer '${name}' did not run in the model's forward pass`);
    const classIndex = await backwardFromClassScores(op, tape, logits, options.classIndex);
    const gradient = activation.grad!;
    activation.grad = undefined;
    let heatmap: Tensor;
    try {
      heatmap = gradCamMap(activation.value, gradient, input.shape[2]!, input.shape[3]!);
    } finally {
      gradient.dispose();
    }
    const kept = logits.value.reshape(logits.shape); // a view: it outlives the tape
    return { heatmap, logits: kept, classIndex, dispose: () => [heatmap, kept].forEach((t) => t.dispose()) };
  } finally {
    remove();
    activation?.clearGrad();
    tape.dispose();
    restore();
  }
}

/**
 * Gradient saliency of the class scores of `input` [N, C, H, W] (batched): the gradient of each
 * image's class score with respect to its pixels, and its largest magnitude over the channels.
 */
export async function saliency(model: Module, input: Tensor, options: SaliencyOptions = {}): Promise<SaliencyResult> {
  const op = 'saliency';
  checkInput(op, input);
  const restore = enterExplainMode(model);
  const tape = new Tape(input.engine);
  const x = new Variable(input, { requiresGrad: true });
  try {
    const logits = model.call(tape, x);
    const classIndex = await backwardFromClassScores(op, tape, logits, options.classIndex);
    const gradient = x.grad!;
    x.grad = undefined;
    const map = channelAbsMax(gradient);
    const kept = logits.value.reshape(logits.shape);
    return { map, gradient, logits: kept, classIndex, dispose: () => [map, gradient, kept].forEach((t) => t.dispose()) };
  } finally {
    x.clearGrad();
    tape.dispose();
    restore();
  }
}
