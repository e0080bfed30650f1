import { grid1d, type Engine } from '../runtime/engine.js';
import type { BindingKind, KernelSpec } from '../runtime/kernel.js';
import { shapeString, type Shape, type Tensor } from '../runtime/tensor.js';
import { planSplit, runSplit, type Split, type SplitPlan } from '../runtime/split.js';
import { params, type ParamWriter } from '../runtime/uniforms.js';
import { crossEntropyRef } from '../reference/loss.js';
import { expectRank, expectSameEngine, fail } from './check.js';
import { addInPlace } from './elementwise.js';
import { matmul } from './gemm.js';
import { sumRows } from './reduce.js';
import { defineOp, narrow, type Checked } from './registry.js';

export interface CrossEntropyOptions {
  /** 'mean' (default) divides the summed loss by the summed weights of the non-ignored targets. */
  reduction?: 'mean' | 'sum' | 'none';
  /** Targets equal to this contribute nothing, to the loss or to the mean's divisor (default -100). */
  ignoreIndex?: number;
  /** Mixes the one-hot target with the uniform distribution: (1 - s) * nll + s / C * smooth (default 0). */
  labelSmoothing?: number;
  /** One weight per class. */
  weight?: Tensor;
}

const OP = 'crossEntropy';
const WG = 64;
const REDUCE_WG = 256;
/** Rows with up to this many classes get one invocation each; more get a workgroup each. */
const ROW_PER_INVOCATION_MAX = 64;
const REDUCTIONS = ['mean', 'sum', 'none'] as const;

type Entry = 'rows' | 'wide' | 'rows_grad' | 'wide_grad' | 'weight_sum' | 'reduce';

/** Each entry point's bindings (see shaders/loss.wgsl): the first 3, 4, 5 or all 7 of one list. */
const BINDINGS: Record<Entry, BindingKind[]> = {
  reduce: ['uniform', 'read', 'write'], // per-sample values -> total
  weight_sum: ['uniform', 'read', 'write', 'read'], // labels -> divisor, weight
  rows: ['uniform', 'read', 'write', 'read', 'read'], // labels -> per-sample, weight, logits
  wide: ['uniform', 'read', 'write', 'read', 'read'],
  rows_grad: ['uniform', 'read', 'write', 'read', 'read', 'write', 'read'], // ... -> gradient, divisor
  wide_grad: ['uniform', 'read', 'write', 'read', 'read', 'write', 'read'],
};

function kernel(entry: Entry): KernelSpec {
  return {
    name: `cross_entropy.${entry}`,
    shader: 'loss',
    entryPoint: entry,
    defines: { WG: entry === 'reduce' || entry === 'weight_sum' ? REDUCE_WG : WG },
    bindings: BINDINGS[entry],
  };
}

interface Settings {
  reduction: 'mean' | 'sum' | 'none';
  ignoreIndex: number;
  labelSmoothing: number;
}

function checkOptions(logits: Shape, weight: Shape | undefined, options: CrossEntropyAttributes, op = OP): Settings {
  const { reduction = 'mean', ignoreIndex = -100, labelSmoothing = 0 } = options;
  expectRank(op, 'logits', logits, 2);
  const classes = logits[1]!;
  if (classes === 0) fail(op, `expected at least one class, got logits ${shapeString(logits)}`);
  if (!REDUCTIONS.includes(reduction)) fail(op, `reduction must be 'mean', 'sum' or 'none', got '${String(reduction)}'`);
  if (!Number.isInteger(ignoreIndex) || ignoreIndex < -(2 ** 31) || ignoreIndex >= 2 ** 31) {
    fail(op, `ignoreIndex must be an int32, got ${ignoreIndex}`);
  }
  if (!(labelSmoothing >= 0 && labelSmoothing <= 1)) fail(op, `labelSmoothing must be between 0.0 and 1.0, got ${labelSmoothing}`);
  if (weight && (weight.length !== 1 || weight[0] !== classes)) {
    fail(op, `weight should have shape [${classes}] (one value per class of logits ${shapeString(logits)}), got ${shapeString(weight)}`);
  }
  return { reduction, ignoreIndex, labelSmoothing };
}

function checkTarget(op: string, logits: Shape, target: Shape): void {
  const rows = logits[0]!;
  if (target.length !== 1 || target[0] !== rows) {
    fail(op, `expected target of shape [${rows}] (one class index per row of logits ${shapeString(logits)}), got ${shapeString(target)}`);
  }
}

/** crossEntropy's options as the registry holds them: the class weights are an operand there. */
export type CrossEntropyAttributes = Omit<CrossEntropyOptions, 'weight'>;

export const crossEntropyOp = defineOp<CrossEntropyAttributes, Checked>({
  name: OP,
  operands: [
    { name: 'logits' },
    { name: 'target', dtype: 'int32' },
    { name: 'weight', optional: true, differentiable: false },
  ],
  check: ([logits, target, weight], options) => {
    checkOptions(logits!, weight, options);
    checkTarget(OP, logits!, target!);
    return { shape: (options.reduction ?? 'mean') === 'none' ? [logits![0]!] : [] };
  },
  forward: ([logits, target, weight], _c, options, record) => {
    const labels = narrow(target, 'int32');
    if (!record) return crossEntropyForward(logits!, labels, { ...options, weight });
    const { loss, gradLogits } = crossEntropyWithGrad(logits!, labels, { ...options, weight });
    return { output: loss, saved: { gradLogits } };
  },
  // The gradient from the forward pass, scaled by the upstream one on the GPU: a GEMM with K = 1
  // broadcasts it, per row for reduction 'none' ([N, C, 1] x [N, 1, 1]), over everything for a
  // scalar loss.
  backward: ({ gradOut, inputs: [logits], saved }) => {
    const [rows, classes] = logits!.shape as [number, number];
    const perRow = gradOut.rank === 1;
    const a = narrow(saved.gradLogits, 'float32').reshape(perRow ? [rows, classes, 1] : [rows * classes, 1]);
    const s = gradOut.reshape(perRow ? [rows, 1, 1] : [1, 1]);
    const product = matmul(a, s);
    const dx = product.reshape([rows, classes]);
    for (const t of [a, s, product]) t.dispose();
    return [dx, undefined, undefined];
  },
  // Seeded at this loss: its gradient is the one the forward pass computed, handed over.
  backwardFromOnes: ({ saved }) => {
    const gradLogits = narrow(saved.gradLogits, 'float32');
    delete saved.gradLogits;
    return [gradLogits, undefined, undefined];
  },
  reference: ([logits, target, weight], options) => crossEntropyRef(logits!, target!, { ...options, weight }),
});

/**
 * Cross-entropy between logits [N, C] and int32 class-index targets [N], as
 * torch.nn.functional.cross_entropy: log-softmax and negative log-likelihood fused,
 * with class weights, ignoreIndex and label smoothing. Returns a [] tensor for 'mean' and 'sum',
 * [N] for 'none'. 'mean' divides by the summed weights of the non-ignored targets (NaN when there
 * are none, as in PyTorch).
 *
 * The targets are on the GPU, so their values cannot be checked here: a target that is neither
 * ignoreIndex nor an integer in [0, C) makes that sample's loss NaN (and so a reduced loss NaN),
 * never a silently clamped class. Use crossEntropyWithIndices to have host targets checked.
 * As in PyTorch, a row of logits holding a NaN or +inf, or only -inf, gives NaN unless ignored.
 */
export function crossEntropy(logits: Tensor, target: Tensor<'int32'>, options: CrossEntropyOptions = {}): Tensor {
  const { weight, ...attributes } = options ?? {};
  return crossEntropyOp.run([logits, target, weight], attributes);
}

/** One call's settings, as shaders/loss.wgsl's Params take them (`rows` per dispatch). */
interface Call {
  classes: number;
  /** Class weights given: bit 0; the mean's per-sample weights written beside the losses: bit 1. */
  flags: number;
  mean: boolean;
  ignoreIndex: number;
  labelSmoothing: number;
  gradScale: number;
}

function uniforms(call: Call, rows: number): ParamWriter {
  return params().u32(rows, call.classes, call.flags, call.mean ? 1 : 0).i32(call.ignoreIndex).f32(call.labelSmoothing, call.gradScale);
}

/**
 * The per-sample pass (rows or wide entry points, with the gradient or not), split by rows past
 * the binding limit: targets, logits, the per-sample values ([N], or [N, 2] with each weight beside
 * its loss for the mean) and the gradient by rows, the class weights whole.
 */
function rowSplit(op: string, logits: Tensor, target: Tensor<'int32'>, weight: Tensor | undefined, call: Call, withGrad: boolean): Split {
  const rows = logits.shape[0]!;
  const stride = call.mean ? 2 : 1;
  return {
    op,
    axes: [{ name: 'row', size: rows }],
    operands: [
      { name: 'target', input: target, per: [1] },
      { name: 'logits', input: logits, per: [call.classes] },
      ...(weight ? [{ name: 'weight', input: weight, per: [0] as const }] : []),
      { name: 'perSample', output: call.mean ? [rows, 2] : [rows], per: [stride] },
      ...(withGrad ? [{ name: 'gradLogits', output: logits.shape, per: [call.classes] as const }] : []),
    ],
  };
}

/** Records the per-sample pass chunk by chunk; bound = [target, logits, weight?, perSample, gradLogits?]. */
function perSamplePass(e: Engine, split: Split, plan: SplitPlan, call: Call, weighted: boolean, divisor?: Tensor): Tensor[] {
  const wide = call.classes > ROW_PER_INVOCATION_MAX;
  const entry = divisor ? (wide ? 'wide_grad' : 'rows_grad') : wide ? 'wide' : 'rows';
  return runSplit(
    e,
    split,
    (bound, c) => {
      const [target, logits] = bound;
      const weight = weighted ? bound[2]! : target!;
      const [perSample, grad] = bound.slice(weighted ? 3 : 2);
      const buffers = [target!, perSample!, weight, logits!, ...(divisor ? [grad!, divisor] : [])];
      e.dispatch(kernel(entry), buffers, wide ? grid1d(c.a, 1) : grid1d(c.a, WG), uniforms(call, c.a));
    },
    plan,
  );
}

/**
 * The reduced loss from the per-sample values: one workgroup over them all; past the binding
 * limit, over their column sums (the total loss and, for the mean, the total weight).
 */
function reduceLoss(e: Engine, perSample: Tensor, call: Call): Tensor {
  const rows = perSample.shape[0]!;
  const out = e.empty([]);
  if (perSample.size * 4 <= e.maxBindingBytes) {
    e.dispatch(kernel('reduce'), [perSample, out], 1, uniforms(call, rows));
  } else {
    const sums = sumRows(perSample.reshape([rows, call.mean ? 2 : 1]));
    e.dispatch(kernel('reduce'), [sums, out], 1, uniforms(call, 1));
    sums.dispose();
  }
  return out;
}

/** The loss alone (no gradient), on checked operands. */
function crossEntropyForward(logits: Tensor, target: Tensor<'int32'>, options: CrossEntropyOptions): Tensor {
  const { reduction = 'mean', ignoreIndex = -100, labelSmoothing = 0, weight } = options;
  const [rows, classes] = [logits.shape[0]!, logits.shape[1]!];
  const e = logits.engine;
  if (rows === 0) {
    if (reduction === 'none') return e.empty([0]);
    return e.tensor([reduction === 'mean' ? NaN : 0], []);
  }
  const mean = reduction === 'mean';
  const call: Call = { classes, flags: (weight ? 1 : 0) | (mean ? 2 : 0), mean, ignoreIndex, labelSmoothing, gradScale: 1 };
  const split = rowSplit(OP, logits, target, weight, call, false);
  const [perSample] = perSamplePass(e, split, planSplit(e, split), call, weight !== undefined);
  if (reduction === 'none') return perSample!;
  const out = reduceLoss(e, perSample!, call);
  perSample!.dispose();
  return out;
}

/**
 * crossEntropy with targets given on the host: each is checked (an integer class in [0, C), or
 * ignoreIndex) before it is uploaded, so a bad target is an error rather than a NaN loss.
 */
export function crossEntropyWithIndices(logits: Tensor, target: Int32Array | readonly number[], options: CrossEntropyOptions = {}): Tensor {
  expectSameEngine(OP, logits, options.weight);
  const { ignoreIndex } = checkOptions(logits.shape, options.weight?.shape, options);
  const [rows, classes] = [logits.shape[0]!, logits.shape[1]!];
  if (target.length !== rows) {
    fail(OP, `expected ${rows} target indices (one per row of logits ${shapeString(logits.shape)}), got ${target.length}`);
  }
  for (let i = 0; i < target.length; i++) {
    const t = target[i]!;
    if (t === ignoreIndex) continue;
    if (!Number.isInteger(t)) fail(OP, `target ${t} at index ${i} is not an integer class index`);
    if (t < 0 || t >= classes) fail(OP, `target ${t} at index ${i} is out of range for ${classes} classes`);
  }
  const t = logits.engine.tensor(Int32Array.from(target), [rows]);
  const loss = crossEntropy(logits, t, options);
  t.dispose(); // the upload and the kernels reading it are already recorded, in order
  return loss;
}

export interface CrossEntropyGradOptions extends CrossEntropyOptions {
  /** Multiplies the gradient (not the loss): the upstream gradient of the loss (default 1). */
  gradScale?: number;
}

export interface CrossEntropyWithGrad {
  /** As crossEntropy returns it: [] for 'mean' and 'sum', [N] for 'none'. */
  loss: Tensor;
  /** d loss / d logits * gradScale, [N, C] ('none': the gradient of the summed losses). */
  gradLogits: Tensor;
}

/**
 * crossEntropy and its gradient with respect to the logits, computed in the same pass over the
 * logits (each row's max and sum of exponentials serve both):
 *   d loss_i / d x_ic = (1 - s) * w[t_i] * (softmax_ic - [c == t_i]) + s / C * (sum_k w[k] * softmax_ic - w[c])
 * zero for ignored samples, divided by the summed target weights for 'mean', times gradScale.
 * For 'none' the gradient is that of sum_i loss_i (an upstream gradient of gradScale for every
 * sample). The loss equals crossEntropy's exactly: the same code computes it. Ahead of that pass,
 * 'mean' sums the target weights in one small workgroup (N values) to have the divisor ready.
 */
export function crossEntropyWithGrad(logits: Tensor, target: Tensor<'int32'>, options: CrossEntropyGradOptions = {}): CrossEntropyWithGrad {
  const op = 'crossEntropyWithGrad';
  const { weight } = options;
  expectSameEngine(op, logits, target, weight);
  const { reduction, ignoreIndex, labelSmoothing } = checkOptions(logits.shape, weight?.shape, options, op);
  checkTarget(op, logits.shape, target.shape);
  const { gradScale = 1 } = options;
  if (typeof gradScale !== 'number' || !Number.isFinite(gradScale)) fail(op, `gradScale must be a finite number, got ${String(gradScale)}`);
  const [rows, classes] = [logits.shape[0]!, logits.shape[1]!];
  const e = logits.engine;
  if (rows === 0) {
    const gradLogits = e.empty(logits.shape);
    if (reduction === 'none') return { loss: e.empty([0]), gradLogits };
    return { loss: e.tensor([reduction === 'mean' ? NaN : 0], []), gradLogits };
  }
  const mean = reduction === 'mean';
  const call: Call = { classes, flags: (weight ? 1 : 0) | (mean ? 2 : 0), mean, ignoreIndex, labelSmoothing, gradScale };
  const split = rowSplit(op, logits, target, weight, call, true);
  const plan = planSplit(e, split);
  // The mean's divisor must be known before the gradient is written; 'sum' and 'none' never read it.
  const divisor = mean ? weightSum(op, target, weight, call) : e.empty([1], 'cross_entropy.divisor');
  const [perSample, gradLogits] = perSamplePass(e, split, plan, call, weight !== undefined, divisor);
  divisor.dispose();
  if (reduction === 'none') return { loss: perSample!, gradLogits: gradLogits! };
  const loss = reduceLoss(e, perSample!, call);
  perSample!.dispose();
  return { loss, gradLogits: gradLogits! };
}

/** The mean's divisor, sum_i w[t_i] over the non-ignored samples: [1]; past the binding limit, summed over runs of targets. */
function weightSum(op: string, target: Tensor<'int32'>, weight: Tensor | undefined, call: Call): Tensor {
  const split: Split = {
    op,
    axes: [{ name: 'row', size: target.size }],
    operands: [
      { name: 'target', input: target, per: [1] },
      ...(weight ? [{ name: 'weight', input: weight, per: [0] as const }] : []),
      { name: 'divisor', output: [1], per: [0], combine: (acc, part) => addInPlace(acc, part) },
    ],
  };
  return runSplit(target.engine, split, (bound, c) => {
    const [t, w] = bound;
    target.engine.dispatch(kernel('weight_sum'), [t!, bound[bound.length - 1]!, weight ? w! : t!], 1, uniforms(call, c.a));
  })[0]!;
}
