import { grid1d, type Engine } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import { planSplit, runSplit, type Chunk, type PerUnit, type Split, type SplitPlan } from '../runtime/split.js';
import { shapeString, type Shape, type Tensor } from '../runtime/tensor.js';
import { params, type ParamWriter } from '../runtime/uniforms.js';
import type { HostTensor } from '../reference/host-tensor.js';
import { reluRef } from '../reference/elementwise.js';
import { batchNormRef, groupNormRef, layerNormRef } from '../reference/norm.js';
import { maxPool2dRef } from '../reference/pool.js';
import { expectRank, expectSameEngine, fail } from './check.js';
import { addInPlace, mul } from './elementwise.js';
import { maxPool2dFused, reluMaxPool2dBackward, reluMaxPool2dOp, type MaxPoolOptions } from './pool.js';
import { sumPerChannel } from './reduce.js';
import { defineOp, narrow, type AnyTensor, type BackwardArgs, type Checked, type Forwarded, type Gradients, type Operands, type ReferenceResult } from './registry.js';

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
  graph: {
    fuses: {
      chain: ['batchNorm', 'relu', 'maxPool2d'],
      combine: ([bn, , pool]) => ({ inputs: [...bn!.inputs], options: { ...bn!.options, pool: pool!.options } }),
    },
  },
  operands: BATCH_NORM_OPERANDS,
  check: (shapes, options) => {
    const op = 'batchNormReluMaxPool2d';
    // [N, C, H, W] only: the pooling kernel takes the channel of a plane from dim rank - 3, batch norm from dim 1.
    expectRank(op, 'input', shapes[0]!, 4);
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

// ---- group norm and layer norm ---------------------------------------------------------------
// Both normalise rows of contiguous values by the row's own statistics (shaders/group_norm.wgsl):
// group norm a (sample, group) of x [N, C, *], layer norm a run of the normalised trailing
// dimensions. They differ in where a value's affine entry (weight and bias index) comes from.

export interface GroupNormOptions {
  /** Groups of consecutive channels normalised together; divides the channels C. */
  numGroups: number;
  /** Added to the variance before the square root (PyTorch's default 1e-5). */
  eps?: number;
}

export interface LayerNormOptions {
  /** The trailing dimensions of the input normalised together (a number: the last one). */
  normalizedShape: number | readonly number[];
  eps?: number;
}

/** A row normalisation: x seen as [rows, len], weight and bias [groups * groupChannels]. */
interface RowNorm extends Checked {
  rows: number;
  len: number;
  groups: number;
  /** Affine entries per row. */
  groupChannels: number;
  /** Consecutive values of a row sharing one affine entry. */
  spatial: number;
}

const ROW_WG = 64;

function checkEps(op: string, eps: number | undefined): void {
  if (eps !== undefined && (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0)) fail(op, `eps must be a finite number >= 0, got ${String(eps)}`);
}

function checkGroupNorm([x, weight, bias]: ReadonlyArray<Shape | undefined>, { numGroups, eps }: GroupNormOptions): RowNorm {
  const op = 'groupNorm';
  if (x!.length < 2) fail(op, `expected input of rank 2 or more ([N, C, *]), got shape ${shapeString(x!)}`);
  if (!Number.isInteger(numGroups) || numGroups < 1) fail(op, `numGroups must be a positive integer, got ${String(numGroups)}`);
  const [batch, channels] = [x![0]!, x![1]!];
  if (channels % numGroups !== 0) fail(op, `expected the channels (dimension 1) to be divisible by numGroups = ${numGroups}, got input ${shapeString(x!)}`);
  const input = { shape: x! };
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) checkPerChannel(op, name, t && { shape: t }, input);
  checkEps(op, eps);
  const spatial = x!.slice(2).reduce((a, b) => a * b, 1);
  const groupChannels = channels / numGroups;
  return { shape: x!, rows: batch * numGroups, len: groupChannels * spatial, groups: numGroups, groupChannels, spatial };
}

/** normalizedShape as a list. */
function normalizedDims(normalizedShape: number | readonly number[]): readonly number[] {
  return typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
}

function checkLayerNorm([x, weight, bias]: ReadonlyArray<Shape | undefined>, { normalizedShape, eps }: LayerNormOptions): RowNorm {
  const op = 'layerNorm';
  const dims = normalizedDims(normalizedShape);
  if (!Array.isArray(dims) || dims.length === 0 || dims.some((d) => !Number.isInteger(d) || d < 0)) {
    fail(op, `normalizedShape must be an integer >= 0 or a non-empty list of them, got ${JSON.stringify(normalizedShape)}`);
  }
  const trailing = x!.slice(x!.length - dims.length);
  if (x!.length < dims.length || trailing.some((d, i) => d !== dims[i])) {
    fail(op, `expected input of shape [*, ${dims.join(', ')}] (normalizedShape ${shapeString(dims)}), got ${shapeString(x!)}`);
  }
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t && (t.length !== dims.length || t.some((d, i) => d !== dims[i]))) {
      fail(op, `${name} should have the shape of normalizedShape ${shapeString(dims)}, got ${shapeString(t)}`);
    }
  }
  checkEps(op, eps);
  const len = dims.reduce((a, b) => a * b, 1);
  const rows = x!.slice(0, x!.length - dims.length).reduce((a, b) => a * b, 1);
  return { shape: x!, rows, len, groups: 1, groupChannels: len, spatial: 1 };
}

type RowEntry = 'forward' | 'backward_input' | 'affine_grads';

const ROW_BINDINGS: Record<RowEntry, KernelSpec['bindings']> = {
  forward: ['uniform', 'read', 'write', 'write', 'read', 'read'],
  backward_input: ['uniform', 'read', 'read', 'read', 'read', 'write'],
  affine_grads: ['uniform', 'read', 'read', 'read', 'write'],
};

/**
 * Rows up to this long get an invocation each, longer ones a workgroup each. Measured on lavapipe
 * (2 cores, shared and noisy, medians of 5): barriers dominate a workgroup's cost on short rows,
 * so layer norm over [2048, 256] took 30-50 ms with a workgroup per row against 4.5 ms with an
 * invocation per row; at 768-value rows invocations still won (~25 against 25-40 ms forward,
 * ~35 against ~90 ms forward and backward), at 2048 workgroups did (20-40 against 35-40 ms,
 * ~70-120 against ~130 ms), and for group norm over [8, 64, 32, 32] (2048-value rows) too.
 */
const ROWS_PER_INVOCATION_MAX = 1024;
/** Values per affine entry (N * S) up to which the parameters' gradients take an invocation per entry. */
const AFFINE_PER_INVOCATION_MAX = 2048;

/** How a row kernel runs: an invocation per row, or a workgroup per row (see shaders/group_norm.wgsl). */
type RowMode = 'rows' | 'scalar' | 'vec4' | 'vec4_elementwise';

function rowMode(n: RowNorm): RowMode {
  if (n.len <= ROWS_PER_INVOCATION_MAX) return 'rows';
  if (n.len % 4 !== 0) return 'scalar';
  return n.spatial === 1 ? 'vec4_elementwise' : n.spatial % 4 === 0 ? 'vec4' : 'scalar';
}

/** The affine gradients' kernel: an invocation per entry ('columns'), or a workgroup per entry. */
function affineMode(n: RowNorm): 'columns' | 'scalar' | 'vec4' {
  if (n.spatial === 1 || (n.rows / n.groups) * n.spatial <= AFFINE_PER_INVOCATION_MAX) return 'columns';
  return n.spatial % 4 === 0 ? 'vec4' : 'scalar';
}

function rowKernel(op: string, entry: RowEntry, mode: RowMode | 'columns'): KernelSpec {
  const suffix = { rows: '_rows', columns: '_columns', scalar: '', vec4: '4', vec4_elementwise: '4_elementwise' }[mode];
  const entryPoint = entry + suffix;
  return { name: `${op}.${entryPoint}`, shader: 'group_norm', entryPoint, defines: { WG: ROW_WG }, bindings: ROW_BINDINGS[entry] };
}

/** Workgroups for `count` rows or affine entries: one per invocation ('rows', 'columns') or one each. */
function rowGroups(e: Engine, count: number, mode: RowMode | 'columns'): [number, number, number] {
  return grid1d(count, mode === 'rows' || mode === 'columns' ? ROW_WG : 1, e.limits.maxComputeWorkgroupsPerDimension);
}

function rowUniforms(n: RowNorm, flags: number, eps = 0): ParamWriter {
  return params().u32(n.rows, n.len, n.groups, n.groupChannels, n.spatial, flags).f32(eps);
}

/**
 * How a row normalisation splits past the binding limit: by samples (a sample's rows are its
 * groups, so each chunk's rows start at group 0, as the kernels' affine index assumes), the
 * tensors of `perSample` values per sample (x, y, gradients) and the row statistics (3 per row)
 * taking a sample's share each.
 */
function rowSplit(op: string, n: RowNorm, operands: Split['operands']): Split {
  return { op, axes: [{ name: 'sample', size: n.rows / n.groups }], operands };
}

/** Per-sample elements of x (and y, the gradients) and of the row statistics. */
const perSample = (n: RowNorm): PerUnit => [n.groups * n.len];
const statsPerSample = (n: RowNorm): PerUnit => [n.groups * 3];

/** The uniforms of a chunk of `samples` samples. */
function chunkUniforms(n: RowNorm, samples: number, flags: number, eps = 0): ParamWriter {
  return rowUniforms({ ...n, rows: samples * n.groups }, flags, eps);
}

/** Normalises x's rows, saving their statistics [rows, 3] (pivot, shifted mean, 1 / std) when recording. */
function rowNormForward(op: string, [x, weight, bias]: Operands, n: RowNorm, eps: number, record: boolean): Tensor | Forwarded {
  const e = x!.engine;
  if (x!.size === 0) return e.empty(x!.shape);
  const flags = (weight ? 1 : 0) | (bias ? 2 : 0);
  const mode = rowMode(n);
  const split = rowSplit(op, n, [
    { name: 'x', input: x!, per: perSample(n) },
    ...(weight ? [{ name: 'weight', input: weight, per: [0] as const }] : []),
    ...(bias ? [{ name: 'bias', input: bias, per: [0] as const }] : []),
    { name: 'output', output: x!.shape, per: perSample(n) },
    { name: 'stats', output: [n.rows * 3], per: statsPerSample(n) },
  ]);
  const [output, stats] = runSplit(e, split, (bound, c) => {
    const [xs, ws, bs] = [bound[0]!, weight && bound[1], bias && bound[weight ? 2 : 1]];
    const [ys, ss] = bound.slice(-2);
    e.dispatch(rowKernel(op, 'forward', mode), [xs, ys!, ss!, ws ?? xs, bs ?? xs], rowGroups(e, c.a * n.groups, mode), chunkUniforms(n, c.a, flags, eps));
  });
  if (!record) {
    stats!.dispose();
    return output!;
  }
  return { output: output!, saved: { stats: stats! } };
}

/** A new tensor shaped `shape` holding the values of `src` from `offset` on. */
function slice(src: Tensor, offset: number, shape: Shape): Tensor {
  const out = src.engine.empty(shape);
  if (out.size > 0) src.engine.copy(src, out, out.size * 4, offset * 4, 0);
  return out;
}

/** The gradients of a row normalisation for the operands (x, weight, bias) in `needs`. */
function rowNormBackward(op: string, { gradOut, inputs: [x, weight, bias], saved, checked: n, needs }: BackwardArgs<unknown, RowNorm>): Gradients {
  const e = x!.engine;
  const grads: Gradients = [undefined, undefined, undefined];
  if (x!.size === 0) {
    if (needs[0]) grads[0] = e.empty(x!.shape);
    if (needs[1]) grads[1] = e.zeros(weight!.shape);
    if (needs[2]) grads[2] = e.zeros(bias!.shape);
    return grads;
  }
  const stats = narrow(saved.stats, 'float32');
  const rowOperands = [
    { name: 'x', input: x!, per: perSample(n) },
    { name: 'gradOut', input: gradOut, per: perSample(n) },
    { name: 'stats', input: stats, per: statsPerSample(n) },
  ];
  if (needs[0]) {
    const mode = rowMode(n);
    const split = rowSplit(op, n, [...rowOperands, ...(weight ? [{ name: 'weight', input: weight, per: [0] as const }] : []), { name: 'gradInput', output: x!.shape, per: perSample(n) }]);
    grads[0] = runSplit(e, split, (bound, c) => {
      const [xs, gs, ss] = bound;
      const buffers = [xs!, gs!, ss!, weight ? bound[3]! : xs!, bound[bound.length - 1]!];
      e.dispatch(rowKernel(op, 'backward_input', mode), buffers, rowGroups(e, c.a * n.groups, mode), chunkUniforms(n, c.a, weight ? 1 : 0));
    })[0];
  }
  if (needs[1] || needs[2]) {
    const count = n.groups * n.groupChannels;
    const mode = affineMode(n);
    // [sum g | sum g * xhat] per affine entry, summed over the chunks of samples.
    const sumsOperand = { name: 'sums', output: [2 * count], per: [0] as const, combine: (acc: Tensor, part: Tensor) => addInPlace(acc, part) };
    const [sums] = runSplit(e, rowSplit(op, n, [...rowOperands, sumsOperand]), ([xs, gs, ss, out], c) => {
      e.dispatch(rowKernel(op, 'affine_grads', mode), [xs!, gs!, ss!, out!], rowGroups(e, count, mode), chunkUniforms(n, c.a, needs[1] ? 1 : 0));
    });
    if (needs[2]) grads[2] = slice(sums!, 0, bias!.shape);
    if (needs[1]) grads[1] = slice(sums!, count, weight!.shape);
    sums!.dispose();
  }
  return grads;
}

const ROW_NORM_OPERANDS = [{ name: 'x' }, { name: 'weight', optional: true }, { name: 'bias', optional: true }] as const;

export const groupNormOp = defineOp<GroupNormOptions, RowNorm>({
  name: 'groupNorm',
  operands: ROW_NORM_OPERANDS,
  check: checkGroupNorm,
  forward: (inputs, checked, { eps = 1e-5 }, record) => rowNormForward('groupNorm', inputs, checked, eps, record),
  backward: (args) => rowNormBackward('groupNorm', args),
  reference: ([x, weight, bias], options) => groupNormRef(x!, weight, bias, options),
});

export const layerNormOp = defineOp<LayerNormOptions, RowNorm>({
  name: 'layerNorm',
  operands: ROW_NORM_OPERANDS,
  check: checkLayerNorm,
  forward: (inputs, checked, { eps = 1e-5 }, record) => rowNormForward('layerNorm', inputs, checked, eps, record),
  backward: (args) => rowNormBackward('layerNorm', args),
  reference: ([x, weight, bias], { normalizedShape, eps }) => layerNormRef(x!, weight, bias, { normalizedShape: normalizedDims(normalizedShape), eps }),
});

/**
 * Group normalisation with F.group_norm's semantics: the channels of x [N, C, *] split into
 * numGroups groups of consecutive channels, each (sample, group) normalised over its channels and
 * positions with its mean and biased variance, then scaled by weight [C] and shifted by bias [C]
 * per channel (either may be left out). Returns a new tensor.
 */
export function groupNorm(x: Tensor, numGroups: number, weight?: Tensor, bias?: Tensor, options: { eps?: number } = {}): Tensor {
  return groupNormOp.run([x, weight, bias], { ...options, numGroups });
}

/**
 * Layer normalisation with F.layer_norm's semantics: each run of x's trailing dimensions given by
 * normalizedShape normalised with its mean and biased variance, then scaled by weight and shifted
 * by bias (both shaped normalizedShape, either may be left out) elementwise. Returns a new tensor.
 */
export function layerNorm(x: Tensor, normalizedShape: number | readonly number[], weight?: Tensor, bias?: Tensor, options: { eps?: number } = {}): Tensor {
  return layerNormOp.run([x, weight, bias], { ...options, normalizedShape });
}
