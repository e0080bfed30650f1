import { grid1d } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import { shapeString, type Tensor } from '../runtime/tensor.js';
import { params } from '../runtime/uniforms.js';
import { expectRank, expectSameEngine, fail } from './check.js';

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
 * Sums x viewed as [outer, len, inner] over its first and last parts: a [len] tensor. Each pass
 * reduces chunks with one workgroup each; while more than one chunk per output is left, their
 * partial sums are reduced again (a second pass covers 4096 * 4096 values per channel).
 */
function sumAround(x: Tensor, outer: number, len: number, inner: number): Tensor {
  const e = x.engine;
  if (outer * inner === 0) return e.zeros([len]);
  let src = x;
  for (;;) {
    if (inner === 1) {
      const blocks = Math.ceil(outer / ROW_CHUNK);
      const partial = e.empty(blocks === 1 ? [len] : [blocks, len], 'reduce.partial');
      const groups = grid1d(Math.ceil(len / (WG / LANES)) * blocks, 1);
      e.dispatch(kernel('columns'), [src, partial], groups, params().u32(outer, len, 1, ROW_CHUNK, blocks));
      if (src !== x) src.dispose();
      if (blocks === 1) return partial;
      src = partial;
      outer = blocks; // the partial sums are a [blocks, len] matrix: sum its columns
    } else if (inner >= WG || (inner % 4 === 0 && inner >= 16)) {
      // Whole rows per workgroup: as vec4 where rows split into them (about ROWS4_CHUNK values a
      // workgroup), else about CHANNEL_CHUNK values.
      const vec4 = inner % 4 === 0 && inner >= 16;
      const rows = Math.max(1, Math.floor((vec4 ? ROWS4_CHUNK : CHANNEL_CHUNK) / inner));
      const chunks = Math.ceil(outer / rows);
      const partial = e.empty(chunks === 1 ? [len] : [len, chunks], 'reduce.partial');
      e.dispatch(kernel(vec4 ? 'channel_rows4' : 'channel_rows'), [src, partial], grid1d(len * chunks, 1), params().u32(outer, len, inner, rows, chunks));
      if (src !== x) src.dispose();
      if (chunks === 1) return partial;
      src = partial;
      [outer, inner] = [1, chunks]; // the partial sums are [len, chunks]: sum each row
    } else {
      const chunks = Math.ceil((outer * inner) / CHANNEL_CHUNK);
      const partial = e.empty(chunks === 1 ? [len] : [len, chunks], 'reduce.partial');
      e.dispatch(kernel('channels'), [src, partial], grid1d(len * chunks, 1), params().u32(outer, len, inner, CHANNEL_CHUNK, chunks));
      if (src !== x) src.dispose();
      if (chunks === 1) return partial;
      src = partial;
      [outer, inner] = [1, chunks]; // the partial sums are [len, chunks]: sum each row
    }
  }
}

/** Column sums of a matrix x [M, N]: a [N] tensor (a linear layer's bias gradient from gradOut [M, N]). */
export function sumRows(x: Tensor): Tensor {
  expectSameEngine('sumRows', x);
  expectRank('sumRows', 'input', x, 2);
  return sumAround(x, x.shape[0]!, x.shape[1]!, 1);
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
  return sumAround(x, x.shape[0]!, x.shape[1]!, inner);
}
