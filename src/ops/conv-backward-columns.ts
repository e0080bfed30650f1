// The convolution backward passes that go through explicit column buffers, on the GEMM core:
//   weight gradient  gradW_g [O/G, K] = gradOut_g [O/G, positions] x cols_g(x)^T [positions, K]
//   input gradient   gradIn = col2im(W_g^T [K, O/G] x gradOut_g [O/G, positions])
// (K = C/G * kernel volume). Both gradOut and the im2col columns of x are laid out as
// [group][row][image][position] (shaders/conv_backward_im2col.wgsl), so one GEMM reduces over
// every image and position of a chunk at once, with 4-aligned rows (the subgroup kernel's vec4
// path) whatever the output size. When the weight GEMM has too few tiles to keep the device busy
// (few output channels, a small kernel), its reduction is split over groups of images into
// partial sums, added up by sumRows. The column buffers go in chunks of images (or of one image's
// output rows) whenever one would pass the binding limit (the runtime has already split x and
// gradOut so that they fit).
import { grid1d, type Engine } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import type { Tensor } from '../runtime/tensor.js';
import { params } from '../runtime/uniforms.js';
import type { ConvProblem } from './conv-args.js';
import { addInPlace } from './elementwise.js';
import { gemm, gemmTile } from './gemm.js';
import { isCpuAdapter } from './gemm-tile.js';
import { sumRows } from './reduce.js';
import { transposeAxes } from './transpose-axes.js';

const WG = 64;
const IM2COL: KernelSpec = { name: 'convBackward.im2col', shader: 'conv_backward_im2col', defines: { WG }, bindings: ['uniform', 'read', 'write'] };
const COL2IM: KernelSpec = { name: 'convBackward.col2im', shader: 'col2im', defines: { WG }, bindings: ['uniform', 'read', 'write'] };

type Triple = [number, number, number];
const product = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);
const roundUp4 = (n: number) => Math.ceil(n / 4) * 4;

/** A window sliding over a source tensor: the im2col geometry of x, or 1 x 1 x 1 over gradOut itself. */
export interface Window {
  channels: number;
  channelsPerGroup: number;
  /** Rows per group in the columns (>= channelsPerGroup * kernel volume, the rest zeros). */
  kRows: number;
  input: Triple;
  kernel: Triple;
  stride: Triple;
  dilation: Triple;
  pad: Triple;
}

/** A chunk of the work: images [image0, image0 + images) and output rows [outRow0, outRow0 + outRows). */
interface Chunk {
  image0: number;
  images: number;
  outRow0: number;
  outRows: number;
  /** Values per image in a column row: the chunk's positions rounded up to a multiple of 4. */
  rowLength: number;
  /** Splits of the weight GEMM's reduction, each over `imagesPerSplit` images (zeros past `images`). */
  splits: number;
  imagesPerSplit: number;
}

/** The sizes every part of the column route needs, derived once from the checked problem. */
interface Geometry {
  p: ConvProblem;
  G: number;
  /** Channels per group of the input and of the output. */
  Cg: number;
  Og: number;
  /** Og rounded up to a multiple of 4: the reduction length of W^T x gradOut. */
  OgPadded: number;
  /** Rows of the weight gradient per group: Cg x kernel volume. */
  K: number;
  positions: number;
  outRows: number;
  inPlane: number;
}

function geometry(p: ConvProblem): Geometry {
  const G = p.groups;
  const Og = p.outChannels / G;
  const Cg = p.inChannels / G;
  return {
    p,
    G,
    Cg,
    Og,
    OgPadded: roundUp4(Og),
    K: Cg * product(p.kernel),
    positions: product(p.output),
    outRows: p.output[0] * p.output[1],
    inPlane: product(p.input),
  };
}

function inputWindow(g: Geometry): Window {
  const p = g.p;
  return { channels: p.inChannels, channelsPerGroup: g.Cg, kRows: g.K, input: p.input, kernel: p.kernel, stride: p.stride, dilation: p.dilation, pad: p.padBefore };
}

function gradOutWindow(g: Geometry): Window {
  const one: Triple = [1, 1, 1];
  return { channels: g.p.outChannels, channelsPerGroup: g.Og, kRows: g.OgPadded, input: g.p.output, kernel: one, stride: one, dilation: one, pad: [0, 0, 0] };
}

/** Where the columns' positions come from: output rows [outRow0, outRow0 + outRows) of a grid outH x outW. */
export interface ColumnsGrid {
  outH: number;
  outW: number;
  outRow0: number;
  outRows: number;
  /** Images with data, from `srcImage0` in the bound source; `layoutImages` >= images (zeros after). */
  images: number;
  layoutImages: number;
  srcImage0: number;
  /** Values per image in a column row (>= outRows * outW, a multiple of 4). */
  rowLength: number;
}

/** Columns of `src` under window `w`: [groups][kRows][layoutImages][rowLength] (shaders/conv_backward_im2col.wgsl). */
export function writeColumns(engine: Engine, groups: number, w: Window, src: Tensor, grid: ColumnsGrid): Tensor {
  const cols = engine.empty([groups * w.kRows * grid.layoutImages * grid.rowLength]);
  // One invocation per segment (group, image, k).
  const total = groups * w.kRows * grid.layoutImages;
  const u = params()
    .u32(total, grid.outRows, w.kRows, w.channelsPerGroup * product(w.kernel), grid.layoutImages, grid.images, w.channelsPerGroup, w.channels)
    .u32(grid.srcImage0, grid.outRow0, grid.rowLength, ...w.input, grid.outH, grid.outW, ...w.kernel, ...w.stride, ...w.dilation, ...w.pad);
  engine.dispatch(IM2COL, [src, cols], grid1d(total, WG, engine.limits.maxComputeWorkgroupsPerDimension), u);
  return cols;
}

/** Columns of `src` for a chunk of the convolution's own output grid. */
function columns(engine: Engine, g: Geometry, w: Window, src: Tensor, srcImage0: number, c: Chunk, layoutImages: number): Tensor {
  const [, outH, outW] = g.p.output;
  return writeColumns(engine, g.G, w, src, { outH, outW, outRow0: c.outRow0, outRows: c.outRows, images: c.images, layoutImages, srcImage0, rowLength: c.rowLength });
}

/**
 * How many pieces the weight GEMM's reduction is split into for `images` images: enough
 * workgroups to fill the device (CPU adapters run one workgroup per thread; GPUs need many more),
 * each piece still a long reduction (at least 1024 terms), at most one per image.
 */
function weightSplits(engine: Engine, g: Geometry, images: number, rowLength: number): number {
  const tile = gemmTile(engine, g.Og);
  const tiles = Math.ceil(g.Og / tile.rows) * Math.ceil(g.K / (tile.threads * tile.cols)) * g.G;
  const wanted = Math.ceil((isCpuAdapter(engine) ? 16 : 512) / tiles);
  return Math.max(1, Math.min(wanted, images, Math.floor((images * rowLength) / 1024)));
}

/** Column rows per output position: gradOut's (always), x's (weight) and the GEMM's before col2im (input). */
function columnRows(g: Geometry): number {
  return g.G * Math.max(g.OgPadded, g.K);
}

/**
 * The least scratch (floats) the column route binds for `p` besides its operands: one output row
 * of columns (as `plan` sizes a piece: its positions plus up to 3 of padding), and the transposed
 * weight of the input gradient.
 */
export function columnsScratch(p: ConvProblem, wantInput: boolean): number {
  const g = geometry(p);
  return Math.max(columnRows(g) * (p.output[2] + 3), wantInput ? g.G * g.K * g.OgPadded : 0);
}

/** Splits the batch (or, when one image's columns are too big, its output rows) into chunks whose column buffers fit a binding. */
function plan(engine: Engine, g: Geometry, wantWeight: boolean): Chunk[] {
  const p = g.p;
  const maxFloats = Math.floor(engine.maxBindingBytes / 4);
  const rows = columnRows(g);
  const perImage = rows * roundUp4(g.positions);
  const maxImages = Math.floor(maxFloats / perImage);
  const chunks: Chunk[] = [];
  if (maxImages >= 1) {
    const count = Math.ceil(p.batch / maxImages);
    const per = Math.ceil(p.batch / count);
    for (let image0 = 0; image0 < p.batch; image0 += per) {
      const images = Math.min(per, p.batch - image0);
      const rowLength = roundUp4(g.positions);
      // Each split writes its own [O, K] partial sums.
      const partialsFit = Math.max(1, Math.floor(maxFloats / (p.outChannels * g.K)));
      let splits = wantWeight ? Math.min(weightSplits(engine, g, images, rowLength), partialsFit) : 1;
      let imagesPerSplit = Math.ceil(images / splits);
      splits = Math.ceil(images / imagesPerSplit);
      // Padding images must not push the columns past the limit either.
      if (splits * imagesPerSplit * perImage > maxFloats) [splits, imagesPerSplit] = [1, images];
      chunks.push({ image0, images, outRow0: 0, outRows: g.outRows, rowLength, splits, imagesPerSplit });
    }
    return chunks;
  }
  // One image's columns pass the limit: its output rows go in pieces (columnsScratch keeps one row within it).
  const outW = p.output[2];
  const rowsPerChunk = Math.floor((Math.floor(maxFloats / rows) - 3) / outW);
  if (rowsPerChunk < 1) throw new Error(`${p.op}: internal error: the backward columns of one output row need ${rows * roundUp4(outW) * 4} bytes`);
  for (let image0 = 0; image0 < p.batch; image0++) {
    for (let outRow0 = 0; outRow0 < g.outRows; outRow0 += rowsPerChunk) {
      const outRows = Math.min(rowsPerChunk, g.outRows - outRow0);
      chunks.push({ image0, images: 1, outRow0, outRows, rowLength: roundUp4(outRows * outW), splits: 1, imagesPerSplit: 1 });
    }
  }
  return chunks;
}

/** gradW for one chunk, [O * K] (the sum of the splits' partial products), into `target`. */
function chunkWeightGradient(engine: Engine, g: Geometry, gradOutCols: Tensor, xCols: Tensor, c: Chunk, target: Tensor): void {
  const p = g.p;
  const split = c.imagesPerSplit * c.rowLength;
  const row = c.splits * split;
  const weightSize = p.outChannels * g.K;
  const out = c.splits === 1 ? target : engine.empty([c.splits, weightSize]);
  gemm(engine, {
    name: p.op,
    a: gradOutCols,
    b: xCols,
    out,
    M: g.Og,
    N: g.K,
    K: split,
    transB: true,
    lda: row,
    ldb: row,
    ldc: g.K,
    batch: c.splits,
    groups: g.G,
    strides: { a: [split, g.OgPadded * row], b: [split, g.K * row], c: [weightSize, g.Og * g.K] },
  });
  if (out === target) return;
  const sum = sumRows(out);
  engine.copy(sum, target, weightSize * 4);
  for (const t of [out, sum]) t.dispose();
}

/** W^T per group, [G][K][OgPadded] with zero columns past Og: the A operand of W^T x gradOut. */
function transposedWeight(engine: Engine, g: Geometry, weight: Tensor): Tensor {
  return transposeAxes(engine, weight, { groups: g.G, a: g.Og, b: g.K, l: 1, aPadded: g.OgPadded }, [g.G * g.K * g.OgPadded]);
}

/** Adds (or writes, for the chunk's first rows) the chunk's input gradient into gradIn at image `outImage0`. */
function chunkInputGradient(engine: Engine, g: Geometry, wT: Tensor, gradOutCols: Tensor, layoutImages: number, c: Chunk, gradIn: Tensor, outImage0: number): void {
  const p = g.p;
  const n = c.images * c.rowLength;
  const cols = engine.empty([g.G * g.K * n]);
  gemm(engine, {
    name: p.op,
    a: wT,
    b: gradOutCols,
    out: cols,
    M: g.K,
    N: n,
    K: g.OgPadded,
    lda: g.OgPadded,
    ldb: layoutImages * c.rowLength,
    ldc: n,
    groups: g.G,
    strides: { a: [0, g.K * g.OgPadded], b: [0, g.OgPadded * layoutImages * c.rowLength], c: [0, g.K * n] },
  });
  // One invocation per input row.
  const rows = c.images * p.inChannels * p.input[0] * p.input[1];
  const dilQ = p.dilation.map((d, i) => Math.floor(d / p.stride[i]!));
  const dilR = p.dilation.map((d, i) => d % p.stride[i]!);
  const u = params()
    .u32(rows, p.inChannels, g.Cg, g.K, n, c.rowLength, c.outRow0, c.outRows, outImage0 * p.inChannels * g.inPlane, c.outRow0 > 0 ? 1 : 0)
    .u32(...p.input, ...p.output, ...p.kernel, ...p.stride, ...dilQ, ...dilR, ...p.padBefore);
  engine.dispatch(COL2IM, [cols, gradIn], grid1d(rows, WG, engine.limits.maxComputeWorkgroupsPerDimension), u);
  cols.dispose();
}

/**
 * The weight gradient (`into.gradWeight`, [O, C/G, k...] as `weight`) and/or the input gradient
 * (`into.gradInput`, shaped like the batched x) through column buffers. x and gradOut are batched
 * ([N, C, ...] and [N, O, ...]) and fit a binding each; the column buffers go in chunks.
 */
export function columnsBackward(p: ConvProblem, gradOut: Tensor, x: Tensor, weight: Tensor, into: { gradWeight?: Tensor; gradInput?: Tensor }): void {
  const engine = x.engine;
  const g = geometry(p);
  const { gradWeight, gradInput } = into;
  const wT = gradInput ? transposedWeight(engine, g, weight) : undefined;
  let first = true;
  for (const c of plan(engine, g, gradWeight !== undefined)) {
    const layoutImages = gradWeight ? c.splits * c.imagesPerSplit : c.images;
    const gradOutCols = columns(engine, g, gradOutWindow(g), gradOut, c.image0, c, layoutImages);
    if (gradWeight) {
      const xCols = columns(engine, g, inputWindow(g), x, c.image0, c, layoutImages);
      // The first chunk writes the weight gradient, the others add theirs.
      const part = first ? gradWeight : engine.empty(gradWeight.shape);
      chunkWeightGradient(engine, g, gradOutCols, xCols, c, part);
      xCols.dispose();
      if (part !== gradWeight) {
        addInPlace(gradWeight, part);
        part.dispose();
      }
      first = false;
    }
    if (gradInput && wT) chunkInputGradient(engine, g, wT, gradOutCols, layoutImages, c, gradInput, c.image0);
    gradOutCols.dispose();
  }
  wT?.dispose();
}
