import { grid1d } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import { shapeString, type Tensor } from '../runtime/tensor.js';
import { params } from '../runtime/uniforms.js';
import { expectRank, expectSameEngine, fail } from './check.js';

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
/** Class indices travel as float32, which holds every integer up to 2^24 exactly. */
const MAX_EXACT = 2 ** 24;
const REDUCTIONS = ['mean', 'sum', 'none'] as const;

function kernel(entry: 'rows' | 'wide' | 'reduce'): KernelSpec {
  return {
    name: `cross_entropy.${entry}`,
    shader: 'loss',
    entryPoint: entry,
    defines: { WG: entry === 'reduce' ? REDUCE_WG : WG },
    bindings: ['uniform', 'read', 'read', 'read', 'write'],
  };
}

interface Checked {
  reduction: 'mean' | 'sum' | 'none';
  ignoreIndex: number;
  labelSmoothing: number;
  weight: Tensor | undefined;
}

function checkOptions(logits: Tensor, options: CrossEntropyOptions): Checked {
  const { reduction = 'mean', ignoreIndex = -100, labelSmoothing = 0, weight } = options;
  expectSameEngine(OP, logits, weight);
  expectRank(OP, 'logits', logits, 2);
  const classes = logits.shape[1]!;
  if (classes === 0) fail(OP, `expected at least one class, got logits ${shapeString(logits.shape)}`);
  if (classes > MAX_EXACT) fail(OP, `at most ${MAX_EXACT} classes are supported (float32 class indices), got ${classes}`);
  if (!REDUCTIONS.includes(reduction)) fail(OP, `reduction must be 'mean', 'sum' or 'none', got '${String(reduction)}'`);
  if (!Number.isInteger(ignoreIndex) || Math.abs(ignoreIndex) > MAX_EXACT) {
    fail(OP, `ignoreIndex must be an integer with magnitude at most 2^24, got ${ignoreIndex}`);
  }
  if (!(labelSmoothing >= 0 && labelSmoothing <= 1)) fail(OP, `labelSmoothing must be between 0.0 and 1.0, got ${labelSmoothing}`);
  if (weight && (weight.rank !== 1 || weight.shape[0] !== classes)) {
    fail(OP, `weight should have shape [${classes}] (one value per class of logits ${shapeString(logits.shape)}), got ${shapeString(weight.shape)}`);
  }
  return { reduction, ignoreIndex, labelSmoothing, weight };
}

/**
 * Cross-entropy between logits [N, C] and class-index targets [N] (integers stored as float32 on
 * the GPU), as torch.nn.functional.cross_entropy: log-softmax and negative log-likelihood fused,
 * with class weights, ignoreIndex and label smoothing. Returns a [] tensor for 'mean' and 'sum',
 * [N] for 'none'. 'mean' divides by the summed weights of the non-ignored targets (NaN when there
 * are none, as in PyTorch).
 *
 * The targets are on the GPU, so their values cannot be checked here: a target that is neither
 * ignoreIndex nor an integer in [0, C) makes that sample's loss NaN (and so a reduced loss NaN),
 * never a silently clamped class. Use crossEntropyWithIndices to have host targets checked.
 */
export function crossEntropy(logits: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const { reduction, ignoreIndex, labelSmoothing, weight } = checkOptions(logits, options);
  expectSameEngine(OP, logits, target, weight);
  const [rows, classes] = [logits.shape[0]!, logits.shape[1]!];
  if (target.rank !== 1 || target.shape[0] !== rows) {
    fail(OP, `expected target of shape [${rows}] (one class index per row of logits ${shapeString(logits.shape)}), got ${shapeString(target.shape)}`);
  }
  const e = logits.engine;
  if (rows === 0) {
    if (reduction === 'none') return e.empty([0]);
    return e.tensor([reduction === 'mean' ? NaN : 0], []);
  }
  const reduced = reduction !== 'none';
  const writeWeights = reduction === 'mean';
  const perSample = e.empty([writeWeights ? 2 * rows : rows], 'cross_entropy.per_sample');
  const flags = (weight ? 1 : 0) | (writeWeights ? 2 : 0);
  const uniforms = () => params().u32(rows, classes, flags, writeWeights ? 1 : 0).f32(ignoreIndex, labelSmoothing);
  const wide = classes > ROW_PER_INVOCATION_MAX;
  const groups = wide ? grid1d(rows, 1) : grid1d(rows, WG);
  e.dispatch(kernel(wide ? 'wide' : 'rows'), [logits, target, weight ?? logits, perSample], groups, uniforms());
  if (!reduced) return perSample;
  const out = e.empty([]);
  e.dispatch(kernel('reduce'), [perSample, perSample, perSample, out], 1, uniforms());
  perSample.dispose();
  return out;
}

/**
 * crossEntropy with targets given on the host: each is checked (an integer class in [0, C), or
 * ignoreIndex) before it is uploaded, so a bad target is an error rather than a NaN loss.
 */
export function crossEntropyWithIndices(logits: Tensor, target: Int32Array | readonly number[], options: CrossEntropyOptions = {}): Tensor {
  const { ignoreIndex } = checkOptions(logits, options);
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
  const t = logits.engine.tensor(Float32Array.from(target), [rows]);
  const loss = crossEntropy(logits, t, options);
  t.dispose(); // the upload and the kernels reading it are already recorded, in order
  return loss;
}
