// Matrix products on the one GEMM core: matmul and linear here, and the low-level `gemm` entry
// that convolution (implicit GEMM, im2col, 1x1) and the backward passes reuse, with a fused
// epilogue (bias per column or per row, residual add, ReLU). The core is one tiled kernel in
// three shader files, with the same parameters: shaders/gemm.wgsl (register-blocked) runs
// anywhere; shaders/gemm_subgroup.wgsl shares A's rows through subgroup shuffles (the fast path on
// CPU adapters) and must be a file of its own because it starts with `enable subgroups;`;
// shaders/gemm_tiled.wgsl stages both operands in workgroup memory (the path on GPUs). Which one
// runs, with which tile, is planGemm's choice from the device profile (gemm-tile.ts).
import type { Engine } from '../runtime/engine.js';
import { shapeString, type Shape, type Tensor } from '../runtime/tensor.js';
import { runSplit, type Split } from '../runtime/split.js';
import { params } from '../runtime/uniforms.js';
import { linearRef, matmulRef } from '../reference/gemm.js';
import { expectSameEngine, fail } from './check.js';
import { addInPlace, reluBackward } from './elementwise.js';
import { linearBackward, matmulGradients } from './linear-backward.js';
import { sumRows } from './reduce.js';
import { defineOp, type Checked } from './registry.js';
import { checkTile, epilogueBits, gemmKernelSpec, planGemm, subgroupFits, tileSpan, type GemmTile } from './gemm-tile.js';

export { gemmTileFor, padColumns, planGemm, type GemmKernel, type GemmTile } from './gemm-tile.js';

/** The im2col view of one image that B stands for in an implicit-GEMM convolution. */
export interface ConvGeometry {
  /** Input channels per group (K = channels * kH * kW). */
  channels: number;
  inH: number;
  inW: number;
  /** Output width (N = outH * outW). */
  outW: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  dilH: number;
  dilW: number;
  /** Padding before the first row / column (after-padding is implied by the output size). */
  padH: number;
  padW: number;
}

/** Element strides of one operand between problems: [per outer batch item, per inner group]. */
export type BatchStrides = readonly [outer: number, inner: number];

export interface GemmArgs {
  /** A: [M, K] (or [K, M] with transA), row stride lda. */
  a: Tensor;
  /** B: [K, N] (or [N, K] with transB), row stride ldb; or an image when `conv` is set. */
  b: Tensor;
  /** C: [M, N] with row stride ldc. Written, never read (use `residual` to accumulate). */
  out: Tensor;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  lda?: number;
  ldb?: number;
  ldc?: number;
  /** Problems = batch x groups; each one is offset by its strides (defaults: packed one after another). */
  batch?: number;
  groups?: number;
  strides?: { a?: BatchStrides; b?: BatchStrides; c?: BatchStrides };
  /** Element offsets of the first problem in each buffer. */
  offsets?: { a?: number; b?: number; c?: number; bias?: number };
  bias?: Tensor;
  /** 'column' (default): bias[n]; 'row': bias[m] (a convolution's per-channel bias). */
  biasPer?: 'column' | 'row';
  /** Bias elements between groups (default: the bias length per problem, M or N). */
  biasGroupStride?: number;
  /** Added before the ReLU; laid out exactly like `out`. */
  residual?: Tensor;
  relu?: boolean;
  /**
   * Makes B the im2col view of an image at B's offset (implicit-GEMM convolution). K may run past
   * channels * kH * kW when A's rows are padded with zero columns (the subgroup kernel needs K a
   * multiple of 4: see padColumns); those steps read zeros from the image.
   */
  conv?: ConvGeometry;
  /** Kernel and tile (default: planGemm's for the engine's device profile). */
  tile?: GemmTile;
  /** Names the kernel in errors, e.g. 'conv2d'. */
  name?: string;
}

/** Largest element index an operand is read or written at, checked against its size below. */
function lastIndex(offset: number, strides: BatchStrides, batch: number, groups: number, extent: number): number {
  return offset + (batch - 1) * strides[0] + (groups - 1) * strides[1] + extent;
}

function checkCount(op: string, what: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) fail(op, `${what} must be an integer >= ${min}, got ${v}`);
}

/**
 * Records C = epilogue(op(A) x op(B)) for `batch x groups` problems on the GEMM core. Every
 * operand's extent is checked against its tensor before anything is dispatched; grids over the
 * device's per-dimension limit are split into several dispatches.
 */
export function gemm(engine: Engine, args: GemmArgs): void {
  const op = args.name ?? 'gemm';
  const { M, N, K } = args;
  const transA = args.transA ?? false;
  const transB = args.transB ?? false;
  const batch = args.batch ?? 1;
  const groups = args.groups ?? 1;
  for (const [what, v, min] of [['M', M, 0], ['N', N, 0], ['K', K, 0], ['batch', batch, 1], ['groups', groups, 1]] as const) {
    checkCount(op, what, v, min);
  }
  if (args.conv && (transA || transB)) fail(op, 'an implicit-GEMM convolution reads A as [M, K] weights and B as an image; transA and transB do not apply');
  expectSameEngine(op, args.a, args.b, args.out, args.bias, args.residual);
  if (args.a.engine !== engine) fail(op, 'tensors belong to a different engine');
  for (const [what, t] of [['A', args.a], ['B', args.b], ['bias', args.bias], ['residual', args.residual]] as const) {
    if (t && t.sharesBuffer(args.out)) fail(op, `${what} shares its buffer with the output (a kernel cannot read and write one buffer)`);
  }
  const lda = args.lda ?? (transA ? M : K);
  const ldb = args.ldb ?? (transB ? K : N);
  const ldc = args.ldc ?? N;
  const off = { a: 0, b: 0, c: 0, bias: 0, ...args.offsets };
  const sizeA = M * K;
  const sizeB = args.conv ? args.conv.channels * args.conv.inH * args.conv.inW : K * N;
  const sA = args.strides?.a ?? [groups * sizeA, sizeA];
  const sB = args.strides?.b ?? [groups * sizeB, sizeB];
  const sC = args.strides?.c ?? [groups * M * N, M * N];
  const biasPer = args.biasPer ?? 'column';
  const biasLen = biasPer === 'row' ? M : N;
  const biasGroupStride = args.biasGroupStride ?? biasLen;
  if (args.conv) {
    const g = args.conv;
    const taps = g.channels * g.kH * g.kW;
    if (K !== taps && K !== Math.ceil(taps / 4) * 4) {
      fail(op, `K = ${K} does not match the convolution's ${g.channels} x ${g.kH} x ${g.kW} (nor that rounded up to a multiple of 4)`);
    }
    if (g.outW === 0 || N % g.outW !== 0) fail(op, `N = ${N} is not a whole number of output rows of width ${g.outW}`);
  }
  if (M === 0 || N === 0) return;

  const extentA = K === 0 ? 0 : transA ? (K - 1) * lda + M - 1 : (M - 1) * lda + K - 1;
  const extentB = args.conv ? sizeB - 1 : K === 0 ? 0 : transB ? (N - 1) * ldb + K - 1 : (K - 1) * ldb + N - 1;
  const extentC = (M - 1) * ldc + N - 1;
  const within = (what: string, t: Tensor, last: number) => {
    if (last >= t.size) fail(op, `${what} ${shapeString(t.shape)} is too small: the product reads or writes element ${last}`);
  };
  if (K > 0) within('A', args.a, lastIndex(off.a, sA, batch, groups, extentA));
  if (K > 0) within('B', args.b, lastIndex(off.b, sB, batch, groups, extentB));
  within('output', args.out, lastIndex(off.c, sC, batch, groups, extentC));
  if (args.residual) within('residual', args.residual, lastIndex(off.c, sC, batch, groups, extentC));
  if (args.bias) within('bias', args.bias, off.bias + (groups - 1) * biasGroupStride + biasLen - 1);

  const bMode = args.conv ? 2 : transB ? 1 : 0;
  const fits = subgroupFits({ N, K, transA, bMode, lda, ldb, offsetA: off.a, offsetB: off.b, stridesA: sA, stridesB: sB, batch, groups, sizeA: args.a.size, sizeB: args.b.size });
  const tile = args.tile ?? planGemm(engine.planTarget, { M, K, subgroupFits: fits });
  checkTile(op, tile);
  if (tile.kernel === 'subgroup' && !fits) {
    fail(op, 'the subgroup kernel needs A as [M, K] and 4-aligned operands (K, row lengths, strides and offsets)');
  }
  const spec = gemmKernelSpec(op, tile, { transA, bMode });
  const epilogue = epilogueBits({ bias: args.bias ? (biasPer === 'row' ? 2 : 1) : 0, residual: args.residual !== undefined, relu: args.relu ?? false });
  const g = args.conv;
  const span = tileSpan(tile);
  const rowTiles = Math.ceil(M / span.rows);
  const colTiles = Math.ceil(N / span.cols);
  const problems = batch * groups;
  const max = engine.limits.maxComputeWorkgroupsPerDimension;
  const a = args.a;
  const buffers = [a, args.b, args.bias ?? a, args.residual ?? a, args.out];
  if (tile.kernel === 'subgroup') buffers.push(args.b);
  for (let z0 = 0; z0 < problems; z0 += max) {
    for (let y0 = 0; y0 < colTiles; y0 += max) {
      for (let x0 = 0; x0 < rowTiles; x0 += max) {
        const u = params()
          .u32(M, N, K, groups, lda, ldb, ldc, biasGroupStride)
          .u32(sA[0], sA[1], sB[0], sB[1], sC[0], sC[1], off.a, off.b, off.c, off.bias)
          .u32(x0, y0, z0)
          .u32(g?.channels ?? 0, g?.inH ?? 0, g?.inW ?? 0, g?.outW ?? 1, g?.kH ?? 0, g?.kW ?? 0)
          .u32(g?.strideH ?? 1, g?.strideW ?? 1, g?.dilH ?? 1, g?.dilW ?? 1, g?.padH ?? 0, g?.padW ?? 0)
          .u32(epilogue);
        const groupsXYZ = [Math.min(max, rowTiles - x0), Math.min(max, colTiles - y0), Math.min(max, problems - z0)] as const;
        engine.dispatch(spec, buffers, groupsXYZ, u);
      }
    }
  }
}

// ---- matmul and linear --------------------------------------------------------------------

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** [N], added to every row of the result. */
  bias?: Tensor;
  relu?: boolean;
}

/** matmul's options as the registry holds them: the bias is an operand there. */
export type MatmulAttributes = Omit<MatmulOptions, 'bias'>;

/** Splits [...batch, r, c] into its batch dims and matrix dims (rank 1 is a single vector). */
function matrixDims(shape: Shape): { batch: number[]; rows: number; cols: number } {
  if (shape.length === 1) return { batch: [], rows: 1, cols: shape[0]! };
  return { batch: shape.slice(0, -2), rows: shape[shape.length - 2]!, cols: shape[shape.length - 1]! };
}

/** A checked matmul: the GEMM's sizes and how each operand repeats over the batch. */
export interface MatmulProblem {
  shape: number[];
  M: number;
  N: number;
  K: number;
  batch: number;
  /** Whether a (b) is one matrix shared by every batch item. */
  sharedA: boolean;
  sharedB: boolean;
}

export function matmulProblem([a, b, bias]: ReadonlyArray<Shape | undefined>, options: MatmulAttributes, op = 'matmul'): MatmulProblem {
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  if (a!.length === 0 || b!.length === 0) fail(op, `both operands need at least one dimension, got ${shapeString(a!)} and ${shapeString(b!)}`);
  if ((transA && a!.length < 2) || (transB && b!.length < 2)) {
    fail(op, `transA / transB need a matrix, got a ${shapeString(a!)} and b ${shapeString(b!)}`);
  }
  const da = matrixDims(a!);
  const db = b!.length === 1 ? { batch: [], rows: b![0]!, cols: 1 } : matrixDims(b!);
  const [M, Ka] = transA ? [da.cols, da.rows] : [da.rows, da.cols];
  const [Kb, N] = transB ? [db.cols, db.rows] : [db.rows, db.cols];
  const describe = () => `a ${shapeString(a!)}${transA ? ' (transA)' : ''} x b ${shapeString(b!)}${transB ? ' (transB)' : ''}`;
  if (Ka !== Kb) fail(op, `inner dimensions differ (${Ka} vs ${Kb}): ${describe()}`);
  let batchDims: number[];
  if (da.batch.length === 0) batchDims = db.batch;
  else if (db.batch.length === 0) batchDims = da.batch;
  else if (da.batch.length === db.batch.length && da.batch.every((d, i) => d === db.batch[i])) batchDims = da.batch;
  else fail(op, `batch dimensions must match or one operand must be a matrix (no broadcasting between batches): ${describe()}`);
  if (bias && (bias.length !== 1 || bias[0] !== N)) fail(op, `expected bias of shape [${N}], got ${shapeString(bias)}`);
  const batch = batchDims.reduce((x, y) => x * y, 1);
  const shape = [...batchDims, ...(a!.length === 1 ? [] : [M]), ...(b!.length === 1 ? [] : [N])];
  return { shape, M, N, K: Ka, batch, sharedA: da.batch.length === 0 && batch > 1, sharedB: db.batch.length === 0 && batch > 1 };
}

/**
 * How matmul splits past the binding limit: by batch items, then within one item by the rows of
 * op(a) (a read as it is stored) or, with a transposed and no epilogue, by the reduction (rows of
 * both operands as stored, the products added).
 */
function matmulSplit(a: Tensor, b: Tensor, bias: Tensor | undefined, p: MatmulProblem, options: MatmulAttributes): { split: Split; inner: 'rows' | 'reduction' | undefined } {
  const { M, N, K, batch } = p;
  const [perA, perB] = [p.sharedA ? 0 : M * K, p.sharedB ? 0 : K * N];
  const items = { name: 'batch item', size: batch };
  const whole = bias ? [{ name: 'bias', input: bias, per: [0] as const }] : [];
  const op = 'matmul';
  if (!options.transA) {
    const operands = [{ name: 'a', input: a, per: [perA, K] as const }, { name: 'b', input: b, per: [perB, 0] as const }, ...whole, { name: 'output', output: p.shape, per: [M * N, N] as const }];
    return { split: { op, axes: [items, { name: 'row', size: M }], operands }, inner: 'rows' };
  }
  if (!options.transB && !bias && !options.relu) {
    const sum = (acc: Tensor, part: Tensor) => addInPlace(acc, part);
    const operands = [{ name: 'a', input: a, per: [perA, M] as const }, { name: 'b', input: b, per: [perB, N] as const }, { name: 'output', output: p.shape, per: [M * N, 0] as const, combine: sum }];
    return { split: { op, axes: [items, { name: 'row of the reduction', size: K }], operands }, inner: 'reduction' };
  }
  const operands = [{ name: 'a', input: a, per: [perA] as const }, { name: 'b', input: b, per: [perB] as const }, ...whole, { name: 'output', output: p.shape, per: [M * N] as const }];
  return { split: { op, axes: [items], operands }, inner: undefined };
}

function matmulForward(a: Tensor, b: Tensor, bias: Tensor | undefined, p: MatmulProblem, options: MatmulAttributes): Tensor {
  const { M, N, K } = p;
  const { split, inner } = matmulSplit(a, b, bias, p, options);
  return runSplit(a.engine, split, (bound, c) => {
    const [as, bs] = bound;
    const out = bound[bound.length - 1]!;
    gemm(a.engine, {
      name: 'matmul',
      a: as!,
      b: bs!,
      out,
      M: inner === 'rows' ? c.b : M,
      N,
      K: inner === 'reduction' ? c.b : K,
      transA: options.transA,
      transB: options.transB,
      lda: options.transA ? M : undefined,
      batch: c.a,
      strides: { a: [p.sharedA ? 0 : M * K, 0], b: [p.sharedB ? 0 : K * N, 0], c: [M * N, 0] },
      bias: bias && bound[2],
      relu: options.relu,
    });
  })[0]!;
}

export const matmulOp = defineOp<MatmulAttributes, MatmulProblem>({
  name: 'matmul',
  operands: [{ name: 'a' }, { name: 'b' }, { name: 'bias', optional: true }],
  check: (shapes, options) => matmulProblem(shapes, options),
  forward: ([a, b, bias], p, options) => matmulForward(a!, b!, bias, p, options),
  backward: ({ gradOut, output, inputs: [a, b], options, checked, needs }) => {
    const g = options.relu ? reluBackward(gradOut, output) : gradOut;
    try {
      const { gradA, gradB } = matmulGradients(g, a!, b!, checked, options, { a: needs[0]!, b: needs[1]! });
      const gradBias = needs[2] ? sumRows(g.reshape([g.size / checked.N, checked.N])) : undefined;
      return [gradA, gradB, gradBias];
    } finally {
      if (g !== gradOut) g.dispose();
    }
  },
  reference: ([a, b, bias], options) => matmulRef(a!, b!, { ...options, bias }),
  graph: { reluOption: 'relu' },
});

/**
 * torch.matmul(op(a), op(b)) (+ bias, ReLU): [M, K] x [K, N] -> [M, N], batched [..., M, K] x
 * [..., K, N] when the batch dims are equal or one side has none (it is then shared). 1-D
 * operands are vectors as in torch (the unit dimension is dropped from the result).
 * transA / transB read a or b as its transpose (a.mT / b.mT).
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const { bias, ...attributes } = options ?? {};
  return matmulOp.run([a, b, bias], attributes);
}

/** linear's checks and output shape from shapes alone. */
function linearProblem([x, weight, bias]: ReadonlyArray<Shape | undefined>): Checked {
  const op = 'linear';
  if (weight!.length !== 2) fail(op, `expected weight of shape [out, in], got ${shapeString(weight!)}`);
  if (x!.length === 0) fail(op, `expected input of shape [..., ${weight![1]}], got a scalar`);
  const [outFeatures, inFeatures] = weight as [number, number];
  if (x![x!.length - 1] !== inFeatures) {
    fail(op, `expected input with ${inFeatures} features (weight ${shapeString(weight!)}), got input ${shapeString(x!)}`);
  }
  if (bias && (bias.length !== 1 || bias[0] !== outFeatures)) {
    fail(op, `expected bias of shape [${outFeatures}], got ${shapeString(bias)}`);
  }
  return { shape: [...x!.slice(0, -1), outFeatures] };
}

export interface LinearOptions {
  /** Apply ReLU in the epilogue. */
  relu?: boolean;
}

export const linearOp = defineOp<LinearOptions, Checked>({
  name: 'linear',
  operands: [{ name: 'x' }, { name: 'weight' }, { name: 'bias', optional: true }],
  check: linearProblem,
  forward: ([x, weight, bias], { shape }, options) => {
    const [outFeatures, inFeatures] = weight!.shape as [number, number];
    const rows = x!.size / inFeatures;
    // Past the binding limit: by rows of x, and within a row by output features (rows of the weight).
    const split: Split = {
      op: 'linear',
      axes: [{ name: 'row', size: rows }, { name: 'output feature', size: outFeatures }],
      operands: [
        { name: 'x', input: x!, per: [inFeatures, 0] },
        { name: 'weight', input: weight!, per: [0, inFeatures] },
        ...(bias ? [{ name: 'bias', input: bias, per: [0, 1] as const }] : []),
        { name: 'output', output: shape, per: [outFeatures, 1] },
      ],
    };
    return runSplit(x!.engine, split, (bound, c) => {
      const [xs, ws] = bound;
      gemm(x!.engine, { name: 'linear', a: xs!, b: ws!, out: bound[bound.length - 1]!, M: c.a, N: c.b, K: inFeatures, transB: true, bias: bias && bound[2], relu: options.relu });
    })[0]!;
  },
  backward: ({ gradOut, output, inputs: [x, weight], options, needs }) => {
    const g = options.relu ? reluBackward(gradOut, output) : gradOut;
    try {
      const { gradInput, gradWeight, gradBias } = linearBackward(g, x!, weight!, { input: needs[0]!, weight: needs[1]!, bias: needs[2]! });
      return [gradInput, gradWeight, gradBias];
    } finally {
      if (g !== gradOut) g.dispose();
    }
  },
  reference: ([x, weight, bias], options) => linearRef(x!, weight!, bias, options),
  graph: { reluOption: 'relu', foldsBatchNorm: { weight: 1, bias: 2 } },
});

/** torch.nn.functional.linear: x [..., in] times weight [out, in] transposed, plus bias [out]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor, options: LinearOptions = {}): Tensor {
  return linearOp.run([x, weight, bias], options);
}
