import { grid1d } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import { shapeString, type Tensor } from '../runtime/tensor.js';
import { runSplit, type Split } from '../runtime/split.js';
import { params } from '../runtime/uniforms.js';
import { expectRank, expectSameEngine, fail } from './check.js';
import { addInPlace } from './elementwise.js';

const WG = 256;
/** Invocations summing one column side by side in the `columns` kernel (WG / LANES columns per workgroup). */
const LANES = 4;
/** Values of one output reduced by one workgroup of `channels` (16 per invocation). */
const CHANNEL_CHUNK = 4096;
/** Rows reduced by one workgroup of `columns` (64 per invocation). */
const ROW_CHUNK = 256;
/** Values of one output reduced by one workgroup of `channel_rows4` (64 vec4 per invocation). */
const ROWS4_CHUNK = 16384;

function kernel(entry: 'channels' | 'channel_rows' | 'channel_rows4' | 'columns'): KernelSpec {
  return { name: `reduce.${entry}`, shader: 'reduce', entryPoint: entry, defines: { WG, LANES }, bindings: ['uniform', 'read', 'write'] };
}

/**
 * Sums x viewed as [outer, len, inner] over its first and last parts into `out` [len]. Each pass
 * reduces chunks with one workgroup each; while more than one chunk per output is left, their
 * partial sums are reduced again (a second pass covers 4096 * 4096 values per channel), the last
 * pass writing `out`.
 */
function sumInto(x: Tensor, outer: number, len: number, inner: number, out: Tensor): void {
  const e = x.engine;
  let src = x;
  for (;;) {
    let partial: Tensor;
    if (inner === 1) {
      const blocks = Math.ceil(outer / ROW_CHUNK);
      partial = blocks === 1 ? out : e.empty([blocks, len], 'reduce.partial');
      const groups = grid1d(Math.ceil(len / (WG / LANES)) * blocks, 1);
      e.dispatch(kernel('columns'), [src, partial], groups, params().u32(outer, len, 1, ROW_CHUNK, blocks));
      outer = blocks; // the partial sums are a [blocks, len] matrix: sum its columns
    } else if (inner >= WG || (inner % 4 === 0 && inner >= 16)) {
      // Whole rows per workgroup: as vec4 where rows split into them (about ROWS4_CHUNK values a
      // workgroup), else about CHANNEL_CHUNK values.
      const vec4 = inner % 4 === 0 && inner >= 16;
      const rows = Math.max(1, Math.floor((vec4 ? ROWS4_CHUNK : CHANNEL_CHUNK) / inner));
      const chunks = Math.ceil(outer / rows);
      partial = chunks === 1 ? out : e.empty([len, chunks], 'reduce.partial');
      e.dispatch(kernel(vec4 ? 'channel_rows4' : 'channel_rows'), [src, partial], grid1d(len * chunks, 1), params().u32(outer, len, inner, rows, chunks));
      [outer, inner] = [1, chunks]; // the partial sums are [len, chunks]: sum each row
    } else {
      const chunks = Math.ceil((outer * inner) / CHANNEL_CHUNK);
      partial = chunks === 1 ? out : e.empty([len, chunks], 'reduce.partial');
      e.dispatch(kernel('channels'), [src, partial], grid1d(len * chunks, 1), params().u32(outer, len, inner, CHANNEL_CHUNK, chunks));
      [outer, inner] = [1, chunks]; // the partial sums are [len, chunks]: sum each row
    }
    if (src !== x) src.dispose();
    if (partial === out) return;
    src = partial;
  }
}

/**
 * The [len] sums of x viewed as [outer, len, inner] over its first and last parts. Past the
 * binding limit x splits by its outer slices (rows, images), each summed on its own and the sums
 * added; a slice too big alone splits further by `len` (columns, channels).
 */
function sumAround(op: string, x: Tensor, outer: number, len: number, inner: number): Tensor {
  const e = x.engine;
  if (outer * inner === 0) return e.zeros([len]);
  const split: Split = {
    op,
    axes: [
      { name: inner === 1 ? 'row' : 'image', size: outer },
      { name: inner === 1 ? 'column' : 'channel', size: len },
    ],
    operands: [
      { name: 'x', input: x, per: [len * inner, inner] },
      { name: 'sums', output: [len], per: [0, 1], combine: (acc, part) => addInPlace(acc, part) },
    ],
  };
  return runSplit(e, split, ([xs, sums], c) => sumInto(xs!, c.a, c.b, inner, sums!))[0]!;
}

/**
 * Column sums of a matrix x [M, N] written into `out` [N], x and `out` each within a binding (for
 * callers whose x is their own scratch, sized under the limit: a split-K's partial sums).
 */
export function sumRowsInto(x: Tensor, out: Tensor): void {
  expectRank('sumRowsInto', 'input', x, 2);
  if (out.size !== x.shape[1]) fail('sumRowsInto', `expected an output of ${x.shape[1]} values for input ${shapeString(x.shape)}, got ${shapeString(out.shape)}`);
  if (x.size === 0) x.engine.upload(out, new Float32Array(out.size));
  else sumInto(x, x.shape[0]!, x.shape[1]!, 1, out);
}

/** Column sums of a matrix x [M, N]: a [N] tensor (a linear layer's bias gradient from gradOut [M, N]). */
export function sumRows(x: Tensor): Tensor {
  expectSameEngine('sumRows', x);
  expectRank('sumRows', 'input', x, 2);
  return sumAround('sumRows', x, x.shape[0]!, x.shape[1]!, 1);
}

/**
 * Sums x [N, C, ...] over every dimension but the channels (dimension 1): a [C] tensor (a
 * convolution's bias gradient from gradOut [N, C, H, W]).
 */
export function sumPerChannel(x: Tensor): Tensor {
  expectSameEngine('sumPerChannel', x);
  if (x.rank < 2) {
    fail('sumPerChannel', `expected input of rank 2 or more ([N, C, ...]), got shape ${shapeString(x.shape)}`);
  }
  const inner = x.shape.slice(2).reduce((a, b) => a * b, 1);
  return sumAround('sumPerChannel', x, x.shape[0]!, x.shape[1]!, inner);
}
