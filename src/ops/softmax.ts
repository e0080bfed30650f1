import { grid1d } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import { shapeString, type Tensor } from '../runtime/tensor.js';
import { runSplit, type Split } from '../runtime/split.js';
import { params } from '../runtime/uniforms.js';
import { logSoftmaxRef, softmaxRef } from '../reference/softmax.js';
import { expectSameEngine, fail } from './check.js';
import { defineOp, type Checked } from './registry.js';

const WG = 64;
/** Rows up to this long get one invocation each; longer rows get a workgroup and a tree reduction. */
const ROW_PER_INVOCATION_MAX = 64;

/**
 * Resolves a possibly negative dimension as PyTorch does; a 0-d tensor accepts -1 and 0.
 * The message matches PyTorch's: "Dimension out of range (expected to be in range of [-2, 1], but got 2)".
 */
export function resolveDim(op: string, dim: number, rank: number): number {
  const r = Math.max(rank, 1);
  if (!Number.isInteger(dim) || dim < -r || dim >= r) {
    fail(op, `dimension out of range (expected to be in range of [${-r}, ${r - 1}], but got ${dim})`);
  }
  return dim < 0 ? dim + r : dim;
}

/** The tensor seen as [outer, len, inner] around dimension `dim`. */
export function splitAround(shape: readonly number[], dim: number): { outer: number; len: number; inner: number } {
  const prod = (ds: readonly number[]) => ds.reduce((a, b) => a * b, 1);
  if (shape.length === 0) return { outer: 1, len: 1, inner: 1 };
  return { outer: prod(shape.slice(0, dim)), len: shape[dim]!, inner: prod(shape.slice(dim + 1)) };
}

function kernel(log: boolean, wide: boolean): KernelSpec {
  return {
    name: `${log ? 'log_softmax' : 'softmax'}.${wide ? 'wide' : 'rows'}`,
    shader: 'softmax',
    entryPoint: wide ? 'wide' : 'rows',
    defines: { WG, LOG: log },
    bindings: ['uniform', 'read', 'write'],
  };
}

/**
 * How a softmax pass splits past the binding limit: by the slices [len, inner] of the dimensions
 * before `dim` (rows, when dim is the last); the inputs and the output are shaped like x.
 */
function sliceSplit(op: string, shape: readonly number[], d: number, inputs: ReadonlyArray<readonly [string, Tensor]>, output: string): Split {
  const { outer, len, inner } = splitAround(shape, d);
  const per = [len * inner] as const;
  return {
    op,
    axes: [{ name: inner === 1 ? 'row' : `slice along dimension ${d}`, size: outer }],
    operands: [...inputs.map(([name, t]) => ({ name, input: t, per })), { name: output, output: shape, per }],
  };
}

/** The grid of a softmax pass over `rows` rows of `len` values: an invocation or (long rows) a workgroup per row. */
function rowGroups(rows: number, len: number): [number, number, number] {
  return len > ROW_PER_INVOCATION_MAX ? grid1d(rows, 1) : grid1d(rows, WG);
}

function run(op: string, log: boolean, x: Tensor, d: number): Tensor {
  const { len, inner } = splitAround(x.shape, d);
  const spec = kernel(log, len > ROW_PER_INVOCATION_MAX);
  if (x.size === 0) return x.engine.empty(x.shape);
  return runSplit(x.engine, sliceSplit(op, x.shape, d, [['x', x]], 'output'), ([xs, out], c) => {
    const rows = c.a * inner;
    x.engine.dispatch(spec, [xs!, out!], rowGroups(rows, len), params().u32(rows, len, inner));
  })[0]!;
}

export interface SoftmaxOptions {
  /** The dimension to normalise along (negative counts from the end). */
  dim: number;
}

function defineSoftmax(name: string, log: boolean) {
  return defineOp<SoftmaxOptions, Checked>({
    name,
    operands: [{ name: 'x' }],
    check: ([x], { dim }) => {
      resolveDim(name, dim, x!.length);
      return { shape: x! };
    },
    forward: ([x], _c, { dim }) => run(name, log, x!, resolveDim(name, dim, x!.rank)),
    backward: ({ gradOut, output, options: { dim } }) => [runBackward(`${name}Backward`, log, gradOut, output, dim)],
    reference: ([x], { dim }) => (log ? logSoftmaxRef : softmaxRef)(x!, dim),
  });
}

export const softmaxOp = defineSoftmax('softmax', false);
export const logSoftmaxOp = defineSoftmax('logSoftmax', true);

/**
 * exp(x) / sum(exp(x)) along `dim` (negative counts from the end) of a tensor of any rank,
 * computed stably (the row max is subtracted first, so entries of 1e30 are fine). -inf entries
 * give 0; a row holding a NaN or +inf, or entirely -inf, gives NaN, as in PyTorch. Returns a new tensor.
 */
export function softmax(x: Tensor, dim: number): Tensor {
  return softmaxOp.run([x], { dim });
}

/** log(softmax(x, dim)), computed directly as x - max - log(sum(exp(x - max))). */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return logSoftmaxOp.run([x], { dim });
}

function backwardKernel(log: boolean, wide: boolean): KernelSpec {
  return {
    name: `${log ? 'log_softmax' : 'softmax'}_backward.${wide ? 'wide' : 'rows'}`,
    shader: 'softmax',
    entryPoint: wide ? 'backward_wide' : 'backward_rows',
    defines: { WG, LOG: log },
    bindings: ['uniform', 'read', 'read', 'write'],
  };
}

function runBackward(op: string, log: boolean, gradOut: Tensor, y: Tensor, dim: number): Tensor {
  expectSameEngine(op, gradOut, y);
  if (gradOut.rank !== y.rank || gradOut.shape.some((d, i) => d !== y.shape[i])) {
    fail(op, `gradOut should have the shape of the output ${shapeString(y.shape)}, got ${shapeString(gradOut.shape)}`);
  }
  const d = resolveDim(op, dim, y.rank);
  const { len, inner } = splitAround(y.shape, d);
  const spec = backwardKernel(log, len > ROW_PER_INVOCATION_MAX);
  if (y.size === 0) return y.engine.empty(y.shape);
  return runSplit(y.engine, sliceSplit(op, y.shape, d, [['gradOut', gradOut], ['y', y]], 'gradInput'), ([g, ys, gradIn], c) => {
    const rows = c.a * inner;
    y.engine.dispatch(spec, [g!, ys!, gradIn!], rowGroups(rows, len), params().u32(rows, len, inner));
  })[0]!;
}

/**
 * The gradient of softmax(x, dim) from its output y: gradOut * y - y * sum(gradOut * y) along dim.
 * Returns a new tensor shaped like y.
 */
export function softmaxBackward(gradOut: Tensor, y: Tensor, dim: number): Tensor {
  return runBackward('softmaxBackward', false, gradOut, y, dim);
}

/** The gradient of logSoftmax(x, dim) from its output y: gradOut - exp(y) * sum(gradOut) along dim. */
export function logSoftmaxBackward(gradOut: Tensor, y: Tensor, dim: number): Tensor {
  return runBackward('logSoftmaxBackward', true, gradOut, y, dim);
}
