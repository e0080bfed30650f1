import { grid1d, type Engine } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import { planSplit, runSplit, type Chunk, type PerUnit, type Split, type SplitPlan } from '../runtime/split.js';
import { shapeString, type Shape, type Tensor } from '../runtime/tensor.js';
import { params, type ParamWriter } from '../runtime/uniforms.js';
import type { HostTensor } from '../reference/host-tensor.js';
import { reluRef } from '../reference/elementwise.js';
import { batchNormRef } from '../reference/norm.js';
import { maxPool2dRef } from '../reference/pool.js';
import { expectRank, expectSameEngine, fail } from './check.js';
import { mul } from './elementwise.js';
import { maxPool2dFused, reluMaxPool2dBackward, reluMaxPool2dOp, type MaxPoolOptions } from './pool.js';
import { sumPerChannel } from './reduce.js';
import { defineOp, narrow, type AnyTensor, type Checked, type ReferenceResult } from './registry.js';

export interface BatchNormOptions {
  /** Normalise with the batch statistics (and update the running ones) rather than the running ones. */
  training: boolean;
  /** Weight of the new batch statistic in the running average (PyTorch's default 0.1). */
  momentum?: number;
  /** Added to the variance before the square root (PyTorch's default 1e-5). */
  eps?: number;
}

const OP = 'batchNorm';
const WG = 64;
const NORMALIZE_WG = 256;
/** Values of one channel reduced by one workgroup; longer channels are split and merged after. */
const CHUNK = 4096;

type Entry =
  | 'partial_stats'
  | 'finalize'
  | 'eval_coefficients'
  | 'update_running'
  | 'normalize'
  | 'backward_partial'
  | 'backward_finalize'
  | 'backward_input'
  | 'eval_backward'
  | 'normalize_planes'
  | 'backward_input_planes'
  | 'partial_stats4'
  | 'backward_partial4';

const ELEMENTWISE_ENTRIES: ReadonlySet<Entry> = new Set(['normalize', 'backward_input', 'eval_backward']);
const PLANE_WG = 64;

/**
 * Whether the per-plane entry points take x (a workgroup per (n, c) plane, read as vec4): planes
 * of a multiple of 4 values, and enough of them per workgroup to beat one invocation per value.
 */
function byPlanes(spatial: number): boolean {
  return spatial % 4 === 0 && spatial >= 32;
}

function kernel(entry: Entry): KernelSpec {
  return {
    name: `batch_norm.${entry}`,
    shader: 'norm',
    entryPoint: entry,
    defines: { WG: ELEMENTWISE_ENTRIES.has(entry) ? NORMALIZE_WG : entry.endsWith('_planes') ? PLANE_WG : WG },
    bindings: ['uniform', 'read', 'read', 'read', 'read', 'write'],
  };
}

/** x seen as [N, C, S]. */
interface Geometry {
  batch: number;
  channels: number;
  spatial: number;
}

function geometry(x: Tensor): Geometry {
  return { batch: x.shape[0]!, channels: x.shape[1]!, spatial: x.shape.slice(2).reduce((a, b) => a * b, 1) };
}

/**
 * shaders/norm.wgsl's Params for a dispatch over a chunk's images and channels (the whole batch
 * for the per-channel passes; count, per channel, is then the total's).
 */
function uniforms(g: Geometry, c: Chunk, o: { stat?: number; flags?: number; momentum?: number; eps?: number; slot0?: number; slots?: number } = {}): ParamWriter {
  const count = c.a * g.spatial;
  return params()
    .u32(c.a * c.b * g.spatial, g.channels, g.spatial, count, CHUNK, Math.ceil(count / CHUNK), o.stat ?? 0, o.flags ?? 0)
    .f32(o.momentum ?? 0, o.eps ?? 0)
    .u32(o.slot0 ?? 0, o.slots ?? 0, c.b, c.b0);
}

/** Every image and channel: the chunk of a pass that runs whole, or of a per-channel pass. */
const all = (g: Geometry): Chunk => ({ a0: 0, a: g.batch, b0: 0, b: g.channels });

/**
 * How batch norm's passes over x split past the binding limit: by images, and one image by
 * channels (every entry point sees the chunk as a smaller x). `inputs` are shaped like x (or, with
 * per [0, S], read from x's first image), the per-channel tensors (statistics, coefficients,
 * weights) are bound whole. The moments or sums a partial pass writes hold at most one slot per
 * CHUNK values plus one per run of images.
 */
function imageSplit(op: string, x: Tensor, inputs: ReadonlyArray<readonly [string, Tensor, PerUnit?]>, output?: string): Split {
  const g = geometry(x);
  const per = [g.channels * g.spatial, g.spatial] as const;
  const maxSlots = Math.ceil((g.batch * g.spatial) / CHUNK) + g.batch;
  return {
    op,
    axes: [{ name: 'image', size: g.batch }, { name: 'channel', size: g.channels }],
    operands: [...inputs.map(([name, t, p]) => ({ name, input: t, per: p ?? per })), ...(output ? [{ name: output, output: x.shape, per }] : [])],
    otherBytes: () => 4 * g.channels * Math.max(5, 3 * maxSlots + 1),
  };
}

/** The dispatch of an elementwise entry over a chunk: per plane where byPlanes allows, else per value. */
function elementwise(engine: Engine, g: Geometry, c: Chunk, entry: 'normalize' | 'backward_input'): { spec: KernelSpec; groups: [number, number, number] } {
  const max = engine.limits.maxComputeWorkgroupsPerDimension;
  if (byPlanes(g.spatial)) return { spec: kernel(`${entry}_planes`), groups: grid1d(c.a * c.b, 1, max) };
  return { spec: kernel(entry), groups: grid1d(c.a * c.b * g.spatial, NORMALIZE_WG, max) };
}

/**
 * A partial pass (the statistics, or the backward's two sums) over x's images, chunk by chunk as
 * `plan` splits them: returns the per-chunk results, [C, slots, width], and the slots per channel.
 * `bind` gives a chunk's five bindings, the last being the results.
 */
function partials(
  x: Tensor,
  split: Split,
  plan: SplitPlan,
  entry: 'partial_stats' | 'backward_partial',
  width: number,
  bind: (bound: Tensor[], out: Tensor) => Tensor[],
): { out: Tensor; slots: number } {
  const g = geometry(x);
  const e = x.engine;
  const chunksOf = (images: number) => Math.ceil((images * g.spatial) / CHUNK);
  // Each run of images has its slots; the chunks of one image's channels share them.
  const first = new Map<number, number>();
  let slots = 0;
  for (const c of plan.chunks) {
    if (first.has(c.a0)) continue;
    first.set(c.a0, slots);
    slots += chunksOf(c.a);
  }
  // The statistics' moments are followed by the pivots.
  const out = e.empty([g.channels * (slots * width + (width === 3 ? 1 : 0))], `batch_norm.${entry}`);
  const spec = kernel(g.spatial % 4 === 0 ? (`${entry}4` as Entry) : entry);
  runSplit(e, split, (bound, c) => e.dispatch(spec, bind(bound, out), grid1d(c.b * chunksOf(c.a), 1), uniforms(g, c, { slot0: first.get(c.a0)!, slots })), plan);
  return { out, slots };
}

function checkPerChannel(op: string, name: string, t: { readonly shape: Shape } | undefined, x: { readonly shape: Shape }): void {
  const channels = x.shape[1]!;
  if (t && (t.shape.length !== 1 || t.shape[0] !== channels)) {
    fail(op, `${name} should have shape [${channels}] (one value per channel of input ${shapeString(x.shape)}), got ${shapeString(t.shape)}`);
  }
}

/** The per-channel operands of a batch norm call, as anything with a shape (undefined: not given). */
export interface BatchNormOperands {
  runningMean?: { readonly shape: Shape };
  runningVar?: { readonly shape: Shape };
  weight?: { readonly shape: Shape };
  bias?: { readonly shape: Shape };
}

/**
 * batchNorm's argument checks on shapes and options alone (the graph's shape inference runs them
 * before any tensor exists); the output has the input's shape.
 */
export function checkBatchNormShapes(op: string, x: Shape, operands: BatchNormOperands, options: BatchNormOptions): void {
  const { runningMean, runningVar, weight, bias } = operands;
  expectRank(op, 'input', x, [2, 3, 4, 5]);
  const { training, momentum = 0.1, eps = 1e-5 } = options;
  if (typeof training !== 'boolean') fail(op, `options.training must be true or false, got ${String(training)}`);
  if (!Number.isFinite(momentum)) fail(op, `momentum must be a finite number, got ${momentum}`);
  if (!Number.isFinite(eps) || eps < 0) fail(op, `eps must be a finite number >= 0, got ${eps}`);
  if ((runningMean === undefined) !== (runningVar === undefined)) {
    fail(op, 'runningMean and runningVar must be given together (or both omitted)');
  }
  const input = { shape: x };
  checkPerChannel(op, 'runningMean', runningMean, input);
  checkPerChannel(op, 'runningVar', runningVar, input);
  checkPerChannel(op, 'weight', weight, input);
  checkPerChannel(op, 'bias', bias, input);
  if (training) {
    const count = x[0]! * x.slice(2).reduce((a, b) => a * b, 1);
    if (count <= 1) fail(op, `expected more than 1 value per channel when training, got input ${shapeString(x)}`);
  } else if (!runningMean || !runningVar) {
    fail(op, 'runningMean and runningVar are required when training is false');
  }
}

/**
 * The per-channel coefficients of a batch norm call: [mean | scale | shift | unbiased var | invstd]
 * (5C; the last two only in training), so that y = (x - mean) * scale + shift. Training computes
 * the batch statistics and updates the running ones in place. Checks that x splits (by images)
 * under the binding limit before anything is recorded, and returns that plan for the passes
 * shaped like x.
 */
function coefficients(
  op: string,
  x: Tensor,
  runningMean: Tensor | undefined,
  runningVar: Tensor | undefined,
  weight: Tensor | undefined,
  bias: Tensor | undefined,
  options: BatchNormOptions,
): { coef: Tensor; plan: SplitPlan } {
  expectSameEngine(op, x, runningMean, runningVar, weight, bias);
  checkBatchNormShapes(op, x.shape, { runningMean, runningVar, weight, bias }, options);
  const { training, momentum = 0.1, eps = 1e-5 } = options;
  if (training && runningMean && runningMean.sharesBuffer(runningVar!)) {
    fail(op, 'runningMean and runningVar must be different tensors (both are updated in place)');
  }
  const e = x.engine;
  const g = geometry(x);
  // The output pass binds x and y alike; it splits wherever the statistics pass does.
  const plan = planSplit(e, imageSplit(op, x, [['x', x]], 'output'));
  const flags = (weight ? 1 : 0) | (bias ? 2 : 0);
  const perChannel = Math.ceil(g.channels / WG);
  if (!training) {
    const coef = e.empty([5 * g.channels], 'batch_norm.coef');
    const [mean, variance] = [runningMean!, runningVar!];
    e.dispatch(kernel('eval_coefficients'), [mean, variance, weight ?? mean, bias ?? mean, coef], perChannel, uniforms(g, all(g), { flags, eps }));
    return { coef, plan };
  }
  // The moments are taken about each channel's first value, read from x's first image.
  const split = imageSplit(op, x, [['x', x], ['pivots', x, [0, g.spatial]]]);
  const moments = partials(x, split, plan, 'partial_stats', 3, ([xs, pivots], out) => [xs!, pivots!, pivots!, pivots!, out]);
  const coef = e.empty([5 * g.channels], 'batch_norm.coef');
  const stats = moments.out;
  e.dispatch(kernel('finalize'), [stats, weight ?? stats, bias ?? stats, stats, coef], perChannel, uniforms(g, all(g), { flags, eps, slots: moments.slots }));
  stats.dispose();
  if (runningMean && runningVar) {
    e.dispatch(kernel('update_running'), [coef, coef, coef, coef, runningMean], perChannel, uniforms(g, all(g), { stat: 0, momentum }));
    e.dispatch(kernel('update_running'), [coef, coef, coef, coef, runningVar], perChannel, uniforms(g, all(g), { stat: 3, momentum }));
  }
  return { coef, plan };
}

/**
 * The forward pass shared by batchNorm and batchNormTrain. Returns the output and, in training,
 * the coefficients buffer [mean | scale | shift | unbiased var | invstd] (the caller disposes it).
 */
function forward(
  op: string,
  x: Tensor,
  runningMean: Tensor | undefined,
  runningVar: Tensor | undefined,
  weight: Tensor | undefined,
  bias: Tensor | undefined,
  options: BatchNormOptions,
): { output: Tensor; coef?: Tensor } {
  if (!options.training && x.size === 0) {
    expectSameEngine(op, x, runningMean, runningVar, weight, bias);
    checkBatchNormShapes(op, x.shape, { runningMean, runningVar, weight, bias }, options);
    return { output: x.engine.empty(x.shape) };
  }
  const { coef, plan } = coefficients(op, x, runningMean, runningVar, weight, bias, options);
  const e = x.engine;
  const g = geometry(x);
  const [output] = runSplit(
    e,
    imageSplit(op, x, [['x', x]], 'output'),
    ([xs, ys], c) => {
      const normalize = elementwise(e, g, c, 'normalize');
      e.dispatch(normalize.spec, [xs!, coef, coef, coef, ys!], normalize.groups, uniforms(g, c));
    },
    plan,
  );
  if (options.training) return { output: output!, coef };
  coef.dispose();
  return { output: output! };
}

/** A new [C] tensor holding section `section` of a per-channel coefficients buffer. */
function section(coef: Tensor, channels: number, index: number): Tensor {
  const out = coef.engine.empty([channels]);
  if (channels > 0) coef.engine.copy(coef, out, channels * 4, index * channels * 4, 0);
  return out;
}

const BATCH_NORM_OPERANDS = [
  { name: 'x' },
  { name: 'runningMean', optional: true, differentiable: false },
  { name: 'runningVar', optional: true, differentiable: false },
  { name: 'weight', optional: true },
  { name: 'bias', optional: true },
] as const;

function checkBatchNorm(op: string, [x, runningMean, runningVar, weight, bias]: ReadonlyArray<Shape | undefined>, options: BatchNormOptions): Checked {
  const shaped = (shape: Shape | undefined) => shape && { shape };
  checkBatchNormShapes(op, x!, { runningMean: shaped(runningMean), runningVar: shaped(runningVar), weight: shaped(weight), bias: shaped(bias) }, options);
  return { shape: x! };
}

/** The reference of F.batch_norm, with the running statistics it updates in training. */
function batchNormReference([x, runningMean, runningVar, weight, bias]: ReadonlyArray<HostTensor | undefined>, options: BatchNormOptions): ReferenceResult {
  const r = batchNormRef(x!, runningMean, runningVar, weight, bias, options);
  const updated: Record<string, HostTensor> = {};
  if (r.runningMean) updated.runningMean = r.runningMean;
  if (r.runningVar) updated.runningVar = r.runningVar;
  return { output: r.output, updated };
}

export const batchNormOp = defineOp<BatchNormOptions, Checked>({
  name: 'batchNorm',
  operands: BATCH_NORM_OPERANDS,
  check: (shapes, options) => checkBatchNorm(OP, shapes, options),
  forward: ([x, runningMean, runningVar, weight, bias], _c, options, record) => {
    if (!record || !options.training) return batchNorm(x!, runningMean, runningVar, weight, bias, options);
    const { output, saveMean, saveInvStd } = batchNormTrain(x!, runningMean, runningVar, weight, bias, options);
    return { output, saved: { saveMean, saveInvStd } };
  },
  backward: ({ gradOut, inputs: [x, runningMean, runningVar, weight], saved, options, needs }) => {
    const g = batchNormGradients(gradOut, x!, runningMean, runningVar, weight, options, { input: needs[0]!, weight: needs[3]!, bias: needs[4]! }, saved);
    return [g.gradInput, undefined, undefined, g.gradWeight, g.gradBias];
  },
  reference: batchNormReference,
});

/**
 * The gradients of F.batch_norm for the `needs`ed operands: through the batch statistics (`saved`
 * holds saveMean and saveInvStd from training mode), or with the running statistics as constants
 * (evaluation).
 */
export function batchNormGradients(
  gradOut: Tensor,
  x: Tensor,
  runningMean: Tensor | undefined,
  runningVar: Tensor | undefined,
  weight: Tensor | undefined,
  options: BatchNormOptions,
  needs: BatchNormNeeds,
  saved: Record<string, AnyTensor>,
): BatchNormGrads {
  if (options.training) return batchNormBackward(gradOut, x, weight, narrow(saved.saveMean, 'float32'), narrow(saved.saveInvStd, 'float32'), needs);
  const eps = options.eps ?? 1e-5;
  const grads: BatchNormGrads = {};
  if (needs.input) grads.gradInput = batchNormEvalBackward(gradOut, runningVar!, weight, eps);
  if (needs.bias) grads.gradBias = sumPerChannel(gradOut);
  if (needs.weight) {
    // d/dweight = sum over N and space of g * xhat, xhat = (x - mean) / sqrt(var + eps).
    const xhat = batchNorm(x, runningMean, runningVar, undefined, undefined, { training: false, eps });
    const prod = mul(gradOut, xhat);
    grads.gradWeight = sumPerChannel(prod);
    xhat.dispose();
    prod.dispose();
  }
  return grads;
}

/**
 * Batch normalisation with torch.nn.functional.batch_norm's semantics, per channel (dimension 1)
 * over the batch and spatial dimensions of x [N, C], [N, C, L], [N, C, H, W] or [N, C, D, H, W].
 *
 * Training normalises with the batch mean and biased variance and, when running statistics are
 * given, updates them in place on the GPU: running = (1 - momentum) * running + momentum * stat,
 * the variance's statistic being the unbiased one (n / (n - 1)). Evaluation normalises with the
 * running statistics, which are then required. Returns a new tensor.
 */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor | undefined,
  runningVar: Tensor | undefined,
  weight: Tensor | undefined,
  bias: Tensor | undefined,
  options: BatchNormOptions,
): Tensor {
  const { output, coef } = forward(OP, x, runningMean, runningVar, weight, bias, options);
  coef?.dispose();
  return output;
}

export interface BatchNormReluMaxPoolOptions extends BatchNormOptions {
  /** The max pool after the batch norm and ReLU. */
  pool: MaxPoolOptions;
}

/**
 * maxPool2d(relu(batchNorm(x))) as one op, the block conv -> BatchNorm2d -> ReLU -> MaxPool2d
 * ends with: the same values, running-statistics update and gradients (for x, weight and bias)
 * as the three ops one by one, but neither the normalised nor the rectified tensor is written:
 * the pooling kernel normalises and rectifies the cells it reads, and the backward pass routes the
 * pooled gradient straight into batch norm's backward.
 */
export const batchNormReluMaxPool2dOp = defineOp<BatchNormReluMaxPoolOptions, Checked>({
  name: 'batchNormReluMaxPool2d',
  operands: BATCH_NORM_OPERANDS,
  check: (shapes, options) => {
    const op = 'batchNormReluMaxPool2d';
    checkBatchNorm(op, shapes, options);
    if (typeof options.pool !== 'object' || options.pool === null) fail(op, `options.pool must be the max pool's options, got ${String(options.pool)}`);
    return reluMaxPool2dOp.check([shapes[0]], options.pool);
  },
  forward: ([x, runningMean, runningVar, weight, bias], _c, options, record) => {
    const { affine, saveMean, saveInvStd } = batchNormCoefficients(x!, runningMean, runningVar, weight, bias, options);
    let pooled: { output: Tensor; indices: Tensor<'int32'> };
    try {
      pooled = maxPool2dFused(x!, options.pool, { affine, relu: true });
    } finally {
      affine.dispose();
    }
    const stats: Record<string, Tensor> = saveMean && saveInvStd ? { saveMean, saveInvStd } : {};
    if (!record) {
      for (const t of [pooled.indices, saveMean, saveInvStd]) t?.dispose();
      return pooled.output;
    }
    return { output: pooled.output, saved: { indices: pooled.indices, ...stats } };
  },
  backward: ({ gradOut, inputs: [x, runningMean, runningVar, weight], output, saved, options, needs }) => {
    const gy = reluMaxPool2dBackward(gradOut, narrow(saved.indices, 'int32'), output, x!.shape, options.pool);
    try {
      const g = batchNormGradients(gy, x!, runningMean, runningVar, weight, options, { input: needs[0]!, weight: needs[3]!, bias: needs[4]! }, saved);
      return [g.gradInput, undefined, undefined, g.gradWeight, g.gradBias];
    } finally {
      gy.dispose();
    }
  },
  reference: (inputs, { pool, ...options }) => {
    const { output, updated } = batchNormReference(inputs, options);
    return { output: maxPool2dRef(reluRef(output), pool), updated };
  },
});

export interface BatchNormTrainResult {
  output: Tensor;
  /** The batch mean per channel, [C]. */
  saveMean: Tensor;
  /** 1 / sqrt(biased batch variance + eps) per channel, [C] (PyTorch's save_invstd). */
  saveInvStd: Tensor;
}

/**
 * batchNorm in training mode that also returns the batch statistics batchNormBackward needs.
 * `options.training`, if given, must be true.
 */
export function batchNormTrain(
  x: Tensor,
  runningMean: Tensor | undefined,
  runningVar: Tensor | undefined,
  weight: Tensor | undefined,
  bias: Tensor | undefined,
  options: Omit<BatchNormOptions, 'training'> & { training?: boolean } = {},
): BatchNormTrainResult {
  const op = 'batchNormTrain';
  if (options.training === false) fail(op, 'options.training must be true (use batchNorm for evaluation)');
  const { output, coef } = forward(op, x, runningMean, runningVar, weight, bias, { ...options, training: true });
  const channels = x.shape[1]!;
  const saveMean = section(coef!, channels, 0);
  const saveInvStd = section(coef!, channels, 4);
  coef!.dispose();
  return { output, saveMean, saveInvStd };
}

export interface BatchNormCoefficients {
  /**
   * [mean | scale | shift | ...], each C long: batchNorm's output is (x - mean) * scale + shift
   * (maxPool2dFused's `affine`).
   */
  affine: Tensor;
  /** Training only: the batch mean and 1 / sqrt(biased var + eps), [C] each, for batchNormBackward. */
  saveMean?: Tensor;
  saveInvStd?: Tensor;
}

/**
 * batchNorm (training: batchNormTrain) up to but without the normalisation pass: the same checks,
 * statistics and running-statistics update, returning the per-channel coefficients for a kernel
 * that applies them itself (fused into the next op). The caller disposes what it gets.
 */
export function batchNormCoefficients(
  x: Tensor,
  runningMean: Tensor | undefined,
  runningVar: Tensor | undefined,
  weight: Tensor | undefined,
  bias: Tensor | undefined,
  options: BatchNormOptions,
): BatchNormCoefficients {
  const affine = coefficients('batchNormCoefficients', x, runningMean, runningVar, weight, bias, options).coef;
  if (!options.training) return { affine };
  const channels = x.shape[1]!;
  return { affine, saveMean: section(affine, channels, 0), saveInvStd: section(affine, channels, 4) };
}

/** Which gradients a backward call should compute (the others are neither computed nor returned). */
export interface BatchNormNeeds {
  input: boolean;
  weight: boolean;
  bias: boolean;
}

export interface BatchNormGrads {
  gradInput?: Tensor;
  gradWeight?: Tensor;
  gradBias?: Tensor;
}

/**
 * The gradients of batchNormTrain (training mode: through the batch statistics) given gradOut,
 * the input x, the weight (undefined: an implicit weight of 1) and the saved statistics.
 *   gradBias = sum g,  gradWeight = sum g * xhat   (sums over N and the spatial dimensions)
 *   gradInput = weight * invstd * (g - mean(g) - xhat * mean(g * xhat)),  xhat = (x - mean) * invstd
 * Both sums come from one pass over g and x with workgroup trees; gradInput is one more pass.
 * gradWeight is computed when asked even without a weight (the gradient for a weight of 1).
 */
export function batchNormBackward(
  gradOut: Tensor,
  x: Tensor,
  weight: Tensor | undefined,
  saveMean: Tensor,
  saveInvStd: Tensor,
  needs: BatchNormNeeds,
): BatchNormGrads {
  const op = 'batchNormBackward';
  expectSameEngine(op, gradOut, x, weight, saveMean, saveInvStd);
  expectRank(op, 'input', x, [2, 3, 4, 5]);
  if (gradOut.rank !== x.rank || gradOut.shape.some((d, i) => d !== x.shape[i])) {
    fail(op, `gradOut should have the shape of the input ${shapeString(x.shape)}, got ${shapeString(gradOut.shape)}`);
  }
  checkPerChannel(op, 'weight', weight, x);
  checkPerChannel(op, 'saveMean', saveMean, x);
  checkPerChannel(op, 'saveInvStd', saveInvStd, x);
  const g = geometry(x);
  if (g.batch * g.spatial <= 1) fail(op, `expected more than 1 value per channel (training mode), got input ${shapeString(x.shape)}`);

  const grads: BatchNormGrads = {};
  if (!needs.input && !needs.weight && !needs.bias) return grads;
  const e = x.engine;
  // The input-gradient pass binds gradOut, x and its result alike: it splits wherever the sums do.
  const inputSplit = imageSplit(op, x, [['gradOut', gradOut], ['x', x]], 'gradInput');
  const plan = planSplit(e, inputSplit);
  const sums = partials(x, imageSplit(op, x, [['gradOut', gradOut], ['x', x]]), plan, 'backward_partial', 2, ([gs, xs], out) => [gs!, xs!, saveMean, saveMean, out]);
  const bcoef = e.empty([5 * g.channels], 'batch_norm.grad_coef');
  const perChannel = Math.ceil(g.channels / WG);
  const flags = weight ? 1 : 0;
  e.dispatch(kernel('backward_finalize'), [sums.out, weight ?? sums.out, saveInvStd, sums.out, bcoef], perChannel, uniforms(g, all(g), { flags, slots: sums.slots }));
  sums.out.dispose();
  if (needs.bias) grads.gradBias = section(bcoef, g.channels, 0);
  if (needs.weight) grads.gradWeight = section(bcoef, g.channels, 1);
  if (needs.input) {
    grads.gradInput = runSplit(
      e,
      inputSplit,
      ([gs, xs, dx], c) => {
        const backward = elementwise(e, g, c, 'backward_input');
        e.dispatch(backward.spec, [gs!, xs!, bcoef, saveMean, dx!], backward.groups, uniforms(g, c));
      },
      plan,
    )[0];
  }
  bcoef.dispose();
  return grads;
}

/**
 * The input gradient of batchNorm in evaluation mode (the running statistics are constants):
 * gradInput = gradOut * weight / sqrt(runningVar + eps), per channel. `weight` may be undefined (1).
 */
export function batchNormEvalBackward(gradOut: Tensor, runningVar: Tensor, weight: Tensor | undefined, eps = 1e-5): Tensor {
  const op = 'batchNormEvalBackward';
  expectSameEngine(op, gradOut, runningVar, weight);
  expectRank(op, 'gradOut', gradOut, [2, 3, 4, 5]);
  if (!Number.isFinite(eps) || eps < 0) fail(op, `eps must be a finite number >= 0, got ${eps}`);
  checkPerChannel(op, 'runningVar', runningVar, gradOut);
  checkPerChannel(op, 'weight', weight, gradOut);
  const e = gradOut.engine;
  const g = geometry(gradOut);
  const flags = weight ? 1 : 0;
  return runSplit(e, imageSplit(op, gradOut, [['gradOut', gradOut]], 'gradInput'), ([gs, dx], c) => {
    const buffers = [gs!, runningVar, weight ?? runningVar, runningVar, dx!];
    e.dispatch(kernel('eval_backward'), buffers, grid1d(gs!.size, NORMALIZE_WG), uniforms(g, c, { flags, eps }));
  })[0]!;
}
