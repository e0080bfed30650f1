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
// gradOut so that they fit). The chunks, splits and tiles are the plan's (conv-plan.ts, planColumns).
import { grid1d, type Engine } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import type { Tensor } from '../runtime/tensor.js';
import { params } from '../runtime/uniforms.js';
import type { ConvProblem } from './conv-args.js';
import { columnGeometry, type ColumnChunk, type ColumnGeometry, type ConvPlan } from './conv-plan.js';
import { addInPlace } from './elementwise.js';
import { gemm } from './gemm.js';
import type { GemmTile } from './gemm-tile.js';
import { sumRowsInto } from './reduce.js';
import { transposeAxes } from './transpose-axes.js';

const WG = 64;
const IM2COL: KernelSpec = { name: 'convBackward.im2col', shader: 'conv_backward_im2col', defines: { WG }, bindings: ['uniform', 'read', 'write'] };
const COL2IM: KernelSpec = { name: 'convBackward.col2im', shader: 'col2im', defines: { WG }, bindings: ['uniform', 'read', 'write'] };

type Triple = [number, number, number];
const product = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

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

/** The sizes every part of the column route needs, with the problem. */
type Geometry = ColumnGeometry & { p: ConvProblem };

function geometry(p: ConvProblem): Geometry {
  return { p, ...columnGeometry(p) };
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
function columns(engine: Engine, g: Geometry, w: Window, src: Tensor, srcImage0: number, c: ColumnChunk, layoutImages: number): Tensor {
  const [, outH, outW] = g.p.output;
  return writeColumns(engine, g.G, w, src, { outH, outW, outRow0: c.outRow0, outRows: c.outRows, images: c.images, layoutImages, srcImage0, rowLength: c.rowLength });
}

/** gradW for one chunk, [O * K] (the sum of the splits' partial products), into `target`. */
function chunkWeightGradient(engine: Engine, g: Geometry, gradOutCols: Tensor, xCols: Tensor, c: ColumnChunk, target: Tensor): void {
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
    tile: c.weightGemm,
  });
  if (out === target) return;
  sumRowsInto(out, target);
  out.dispose();
}

/** W^T per group, [G][K][OgPadded] with zero columns past Og: the A operand of W^T x gradOut. */
function transposedWeight(engine: Engine, g: Geometry, weight: Tensor): Tensor {
  return transposeAxes(engine, weight, { groups: g.G, a: g.Og, b: g.K, l: 1, aPadded: g.OgPadded }, [g.G * g.K * g.OgPadded]);
}

/** Adds (or writes, for the chunk's first rows) the chunk's input gradient into gradIn at image `outImage0`. */
function chunkInputGradient(engine: Engine, g: Geometry, tile: GemmTile, wT: Tensor, gradOutCols: Tensor, layoutImages: number, c: ColumnChunk, gradIn: Tensor, outImage0: number): void {
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
    tile,
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
 * The weight gradient (`into.gradWeight`, [O, C/G, k...] as the weight) and/or the input gradient
 * (`into.gradInput`, shaped like the batched x) through column buffers, as `plan` says: its
 * columns' chunks, for the weight gradient when its route is 'im2col' and the input gradient when
 * its route is 'col2im'. x and gradOut are batched ([N, C, ...] and [N, O, ...]) and fit a binding
 * each.
 */
export function columnsBackward(p: ConvProblem, plan: ConvPlan, gradOut: Tensor, x: Tensor, weight: Tensor, into: { gradWeight?: Tensor; gradInput?: Tensor }): void {
  const engine = x.engine;
  const g = geometry(p);
  const { gradWeight, gradInput } = into;
  const inputTile = plan.inputGradient?.route === 'col2im' ? plan.inputGradient.gemm : undefined;
  const wT = gradInput ? transposedWeight(engine, g, weight) : undefined;
  let first = true;
  for (const c of plan.columns!.chunks) {
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
    if (gradInput && wT && inputTile) chunkInputGradient(engine, g, inputTile, wT, gradOutCols, layoutImages, c, gradInput, c.image0);
    gradOutCols.dispose();
  }
  wT?.dispose();
}
