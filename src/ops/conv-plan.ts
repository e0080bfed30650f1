// The convolution planner: for a checked problem and a plan target (the device profile's
// thresholds, subgroup support, the binding limit), the whole plan of a convolution's passes:
//   forward         the route (1x1 GEMM, implicit GEMM, explicit im2col, Winograd F(2x2) / F(4x4)),
//                   its GEMM's kernel and tile, the K its weights are padded to, and its chunks;
//   input gradient  'transposed' (a stride-1 forward convolution of gradOut, planned here too) or
//                   'col2im' (column buffers, shared with the im2col weight gradient);
//   weight gradient 'shifted' (one GEMM per kernel tap over x padded, channels last) or 'im2col'
//                   (column buffers, the reduction split over images where it has few tiles).
// The routes (conv.ts, conv-winograd.ts, conv-backward*.ts) execute a plan and decide nothing.
// Forced routes (the options algorithm / inputGradient / weightGradient, checked in conv-args.ts)
// are overrides: where one cannot compute the problem, planning fails with a message saying why.
// Every refusal for the binding limit is made here too, before anything is allocated.
import type { PlanTarget } from '../runtime/device-profile.js';
import { shapeString } from '../runtime/tensor.js';
import { fail } from './check.js';
import { convProblem, type ConvProblem } from './conv-args.js';
import { planGemm, subgroupFits, tileLabel, tileSpan, type GemmTile } from './gemm-tile.js';

/** How a convolution runs: `algorithm` with 'auto' resolved, 'pointwise' being the plain GEMM of a 1x1 convolution. */
export type ConvRoute = 'pointwise' | 'implicit' | 'im2col' | 'winograd2' | 'winograd4';

/** Output tile edge: F(2x2, 3x3) or F(4x4, 3x3). */
export type WinogradTile = 2 | 4;

type Triple = [number, number, number];

interface ForwardCommon {
  /** The GEMM's kernel and tile (Winograd: its batched product's). */
  gemm: GemmTile;
  /**
   * The GEMM's reduction: C/groups x kernel volume, rounded up to a multiple of 4 where the
   * weights are padded with zero columns (always for im2col columns; on the subgroup kernel for
   * the implicit GEMM); Winograd: C rounded up to 4.
   */
  k: number;
  /** Images per chunk when x or the output is over the binding limit (run through copied slices); else the batch. */
  imagesPerChunk: number;
  sliced: boolean;
}

export type ForwardPlan =
  | (ForwardCommon & { route: 'pointwise' | 'implicit' })
  /** columnImages images per column buffer; columnRows output rows per buffer (all of them unless one image's columns are over the limit). */
  | (ForwardCommon & { route: 'im2col'; columnImages: number; columnRows: number })
  /** winogradImages images per chunk of transformed operands. */
  | (ForwardCommon & { route: 'winograd2' | 'winograd4'; winogradImages: number });

/** A chunk of the column route's work: images [image0, image0 + images), output rows [outRow0, outRow0 + outRows). */
export interface ColumnChunk {
  image0: number;
  images: number;
  outRow0: number;
  outRows: number;
  /** Values per image in a column row: the chunk's positions rounded up to a multiple of 4. */
  rowLength: number;
  /** Splits of the weight GEMM's reduction, each over `imagesPerSplit` images (zeros past `images`). */
  splits: number;
  imagesPerSplit: number;
  /** The weight GEMM's tile (its reduction is imagesPerSplit x rowLength long); absent without a weight gradient. */
  weightGemm?: GemmTile;
}

/** The column buffers of the col2im input gradient and the im2col weight gradient (gradOut's columns serve both). */
export interface ColumnsPlan {
  chunks: ColumnChunk[];
  /** x and gradOut are over the binding limit: each chunk copies its images' slices. */
  sliced: boolean;
}

export type InputGradientPlan =
  /** The convolution of gradOut with the flipped, channel-swapped kernel: its problem and forward plan. */
  | { route: 'transposed'; problem: ConvProblem; forward: ForwardPlan }
  /** W^T x gradOut's columns, then col2im; `gemm` is the product's tile. */
  | { route: 'col2im'; gemm: GemmTile };

export interface ShiftedChunk {
  image0: number;
  images: number;
  /** The tap GEMMs' tile (their reduction is images x rowLength long). */
  gemm: GemmTile;
}

export type WeightGradientPlan =
  /** padded: the grid the windows cover; rowLength: its volume rounded up to 4. */
  | { route: 'shifted'; padded: Triple; rowLength: number; sliced: boolean; chunks: ShiftedChunk[] }
  | { route: 'im2col' };

export interface ConvPlan {
  forward?: ForwardPlan;
  inputGradient?: InputGradientPlan;
  weightGradient?: WeightGradientPlan;
  /** Present when a gradient goes through column buffers. */
  columns?: ColumnsPlan;
}

/** Which passes to plan (a pass not planned is neither chosen nor checked). */
export interface ConvPasses {
  forward: boolean;
  input: boolean;
  weight: boolean;
}

const ALL_PASSES: ConvPasses = { forward: true, input: true, weight: true };

const product = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);
const roundUp4 = (n: number) => Math.ceil(n / 4) * 4;

/** The whole plan of the passes asked for (default: all three). */
export function planConvolution(p: ConvProblem, target: PlanTarget, passes: ConvPasses = ALL_PASSES): ConvPlan {
  const plan: ConvPlan = {};
  if (passes.forward) plan.forward = planForward(p, target);
  if (!passes.input && !passes.weight) return plan;
  const useTransposed = passes.input && inputGradientRoute(p, target) === 'transposed';
  const useShifted = passes.weight && weightGradientRoute(p, target) === 'shifted';
  const viaColumns = { weight: passes.weight && !useShifted, input: passes.input && !useTransposed };
  if (viaColumns.weight || viaColumns.input) plan.columns = planColumns(p, target, viaColumns);
  if (passes.input) {
    if (useTransposed) {
      const problem = transposedProblem(p);
      plan.inputGradient = { route: 'transposed', problem, forward: planForward(problem, target) };
    } else {
      // W^T [K, OgPadded] x gradOut's columns: laid out for the subgroup kernel.
      const g = columnGeometry(p);
      plan.inputGradient = { route: 'col2im', gemm: planGemm(target, { M: g.K, K: g.OgPadded, subgroupFits: true }) };
    }
  }
  if (passes.weight) plan.weightGradient = useShifted ? planShifted(p, target) : { route: 'im2col' };
  return plan;
}

/** The forward pass's plan alone. */
export function planForward(p: ConvProblem, target: PlanTarget): ForwardPlan {
  const route = forwardRoute(p, target);
  const maxBytes = target.maxBindingBytes;
  const maxFloats = Math.floor(maxBytes / 4);
  const G = p.groups;
  const Og = p.outChannels / G;
  const Cg = p.inChannels / G;
  const K = Cg * product(p.kernel);
  const P = product(p.output);
  const plane = product(p.input);
  const inPerImage = p.inChannels * plane;
  const outPerImage = p.outChannels * P;

  // Images per chunk when x or the output cannot be bound whole (nothing to refuse for an empty output).
  let imagesPerChunk = p.batch;
  let sliced = false;
  if (p.batch * outPerImage > 0) {
    const weightSize = p.outChannels * K;
    if (weightSize * 4 > maxBytes) {
      fail(p.op, `weight ${shapeString(weightShape(p))} takes ${weightSize * 4} bytes, over the device's maxStorageBufferBindingSize of ${maxBytes}`);
    }
    if (p.batch * inPerImage * 4 > maxBytes || p.batch * outPerImage * 4 > maxBytes) {
      sliced = true;
      imagesPerChunk = Math.floor(maxFloats / Math.max(inPerImage, outPerImage));
      if (imagesPerChunk < 1) {
        fail(
          p.op,
          `one image's input (${inPerImage * 4} bytes) or output (${outPerImage * 4} bytes) is over the device's ` +
            `maxStorageBufferBindingSize of ${maxBytes}; input ${shapeString(inputShape(p))}`,
        );
      }
    }
  }
  const common = { imagesPerChunk, sliced };

  if (route === 'winograd2' || route === 'winograd4') {
    const tile: WinogradTile = route === 'winograd2' ? 2 : 4;
    const Cp = roundUp4(p.inChannels);
    const winogradImages = winogradImagesPerChunk(p, tile, p.batch, maxBytes);
    if (winogradImages < 1 && p.batch * outPerImage > 0) {
      const { perImage, points } = winogradTiles(p, tile);
      fail(
        p.op,
        `the Winograd operands of one image (${points} x ${Math.max(Cp, p.outChannels)} x ${roundUp4(perImage)} floats) or of the weights ` +
          `(${points} x ${p.outChannels} x ${Cp} floats) are over the device's maxStorageBufferBindingSize of ${maxBytes} bytes; use algorithm 'implicit'`,
      );
    }
    // The transformed operands are laid out for the subgroup kernel: K = Cp, rows of Np, all 4-aligned.
    return { route, gemm: planGemm(target, { M: p.outChannels, K: Cp, subgroupFits: true }), k: Cp, winogradImages, ...common };
  }
  if (route === 'im2col') {
    // K padded to a multiple of 4 (zero weights, zero column rows) keeps the GEMM on its vec4
    // path: the columns are laid out for the subgroup kernel.
    const kRows = roundUp4(K);
    const outRows = p.output[0] * p.output[1];
    const outW = p.output[2];
    const perImage = G * kRows * roundUp4(P);
    const columnImages = Math.max(1, Math.min(p.batch, Math.floor(maxFloats / perImage)));
    const columnRows = perImage <= maxFloats ? outRows : Math.floor((Math.floor(maxFloats / (G * kRows)) - 3) / outW);
    if (columnRows < 1 && p.batch * outPerImage > 0) {
      fail(p.op, `the im2col buffer for one output row needs ${G * kRows * roundUp4(outW) * 4} bytes, over the device's maxStorageBufferBindingSize`);
    }
    return { route, gemm: planGemm(target, { M: Og, K: kRows, subgroupFits: true }), k: kRows, columnImages, columnRows, ...common };
  }
  if (route === 'implicit') {
    // The weights are padded to a multiple of 4 for the subgroup kernel (B is the image itself).
    const fits = p.outChannels * roundUp4(K) >= 4 && p.batch * inPerImage >= 4;
    const gemm = planGemm(target, { M: Og, K, subgroupFits: fits });
    return { route, gemm, k: gemm.kernel === 'subgroup' ? roundUp4(K) : K, ...common };
  }
  // 1x1, stride 1, no padding: the weights times the input as it lies ([C/groups, positions] per group and image).
  const fits = subgroupFits({
    N: P,
    K,
    transA: false,
    bMode: 0,
    lda: K,
    ldb: P,
    offsetA: 0,
    offsetB: 0,
    stridesA: [0, Og * K],
    stridesB: [inPerImage, Cg * plane],
    batch: p.batch,
    groups: G,
    sizeA: p.outChannels * K,
    sizeB: p.batch * inPerImage,
  });
  return { route, gemm: planGemm(target, { M: Og, K, subgroupFits: fits }), k: K, ...common };
}

// ---- forward routes -------------------------------------------------------------------------

function forwardRoute(p: ConvProblem, target: PlanTarget): ConvRoute {
  const flat = p.input[0] === 1 && p.kernel[0] === 1 && p.output[0] === 1;
  if (p.algorithm === 'implicit') {
    if (!flat) fail(p.op, `algorithm 'implicit' handles 1-D and 2-D convolutions; use 'auto' or 'im2col' for 3-D`);
    return 'implicit';
  }
  if (p.algorithm === 'im2col') return 'im2col';
  if (p.algorithm === 'winograd2' || p.algorithm === 'winograd4') {
    const mismatch = winogradMismatch(p);
    if (mismatch) fail(p.op, `algorithm '${p.algorithm}' cannot compute this convolution: ${mismatch}; use 'auto', 'implicit' or 'im2col'`);
    return p.algorithm;
  }
  const pointwise = p.kernel.every((k) => k === 1) && p.stride.every((s) => s === 1) && p.padBefore.every((q) => q === 0);
  if (pointwise) return 'pointwise';
  const tile = autoWinogradTile(p, target);
  if (tile) return tile === 4 ? 'winograd4' : 'winograd2';
  return flat && product(p.output) > target.profile.conv.implicitAbovePositions ? 'implicit' : 'im2col';
}

/**
 * The Winograd tile 'auto' takes (F(4x4) first, it saves more), or undefined where the GEMM
 * routes win: too few channels on either side, too little work, too few tiles (the profile's
 * thresholds), or operands that cannot fit a binding even one image at a time.
 */
function autoWinogradTile(p: ConvProblem, target: PlanTarget): WinogradTile | undefined {
  const w = target.profile.conv.winograd;
  if (winogradMismatch(p) || Math.min(p.inChannels, p.outChannels) < w.minChannels) return undefined;
  const flops = 2 * p.batch * p.outChannels * p.inChannels * 9 * product(p.output);
  if (flops < w.minFlops) return undefined;
  return ([4, 2] as const).find(
    (tile) => p.batch * winogradTiles(p, tile).perImage >= w.minTiles && winogradImagesPerChunk(p, tile, 1, target.maxBindingBytes) > 0,
  );
}

/** Why the Winograd route cannot compute `p` (a 2-D 3x3 convolution, stride 1, dilation 1, groups 1), or undefined. */
export function winogradMismatch(p: ConvProblem): string | undefined {
  if (p.dims !== 2) return `it handles conv2d only, not ${p.op}`;
  if (p.kernel[1] !== 3 || p.kernel[2] !== 3) return `it needs a 3x3 kernel, got ${p.kernel[1]}x${p.kernel[2]}`;
  if (p.stride.some((s) => s !== 1)) return `it needs stride 1, got (${p.stride[1]}, ${p.stride[2]})`;
  if (p.dilation.some((d) => d !== 1)) return `it needs dilation 1, got (${p.dilation[1]}, ${p.dilation[2]})`;
  if (p.groups !== 1) return `it needs groups 1, got ${p.groups}`;
  return undefined;
}

/** The tiles covering one image's output, and the transform's points per tile. */
export function winogradTiles(p: ConvProblem, tile: WinogradTile): { tilesW: number; perImage: number; points: number } {
  const tilesW = Math.ceil(p.output[2] / tile);
  return { tilesW, perImage: Math.ceil(p.output[1] / tile) * tilesW, points: (tile + 2) ** 2 };
}

/**
 * Images per chunk such that the transformed weights, and one chunk's transformed input and
 * products, each fit in `maxBindingBytes`; 0 when not even one image does.
 */
export function winogradImagesPerChunk(p: ConvProblem, tile: WinogradTile, batch: number, maxBindingBytes: number): number {
  const maxFloats = Math.floor(maxBindingBytes / 4);
  const Cp = roundUp4(p.inChannels);
  const { perImage, points } = winogradTiles(p, tile);
  if (points * p.outChannels * Cp > maxFloats) return 0;
  const rows = points * Math.max(Cp, p.outChannels);
  let images = Math.min(batch, Math.floor(maxFloats / rows / perImage));
  while (images > 0 && rows * roundUp4(images * perImage) > maxFloats) images--;
  return images;
}

// ---- input gradient -------------------------------------------------------------------------

/** Padding after the input on each axis, as the forward pass's output size implies it. */
function padAfter(p: ConvProblem): number[] {
  return p.input.map((n, i) => (p.output[i]! - 1) * p.stride[i]! + p.dilation[i]! * (p.kernel[i]! - 1) + 1 - n - p.padBefore[i]!);
}

/** Whether the input gradient is a stride-1 convolution of gradOut (stride 1, symmetric padding within the dilated kernel's reach). */
function transposable(p: ConvProblem): boolean {
  const after = padAfter(p);
  return p.stride.every((s) => s === 1) && p.padBefore.every((q, i) => q === after[i] && q <= p.dilation[i]! * (p.kernel[i]! - 1));
}

/**
 * Where both routes apply, which the profile expects to be faster: a 1x1 convolution's transpose
 * is a plain GEMM; else the transposed convolution's GEMM has C/groups rows (too few leave its
 * tiles idle) and does input/output positions times the forward's FLOPs.
 */
function preferTransposed(p: ConvProblem, target: PlanTarget): boolean {
  if (product(p.kernel) === 1) return true;
  const t = target.profile.conv.transposedInput;
  return p.inChannels / p.groups >= t.minChannelsPerGroup && product(p.input) <= t.maxInputPerOutput * product(p.output);
}

function inputGradientRoute(p: ConvProblem, target: PlanTarget): 'transposed' | 'col2im' {
  if (p.inputGradient === 'transposed') {
    if (!transposable(p)) fail(p.op, `inputGradient 'transposed' needs stride 1 and symmetric padding no larger than dilation * (kernel - 1) on every axis`);
    return 'transposed';
  }
  if (p.inputGradient === 'col2im') return 'col2im';
  return transposable(p) && preferTransposed(p, target) ? 'transposed' : 'col2im';
}

/**
 * The input gradient's convolution: gradOut (batched) with the kernel flipped and its channel axes
 * swapped ([C, O/groups, k...]), padding d(k - 1) - p, the same dilation and groups and the forced
 * algorithm; errors name the forward op.
 */
function transposedProblem(p: ConvProblem): ConvProblem {
  const axes = [0, 1, 2].slice(3 - p.dims);
  const spatial = (t: readonly number[]) => axes.map((i) => t[i]!);
  return convProblem(
    `conv${p.dims}d`,
    p.dims,
    [p.batch, p.outChannels, ...spatial(p.output)],
    [p.inChannels, p.outChannels / p.groups, ...spatial(p.kernel)],
    undefined,
    { padding: axes.map((i) => p.dilation[i]! * (p.kernel[i]! - 1) - p.padBefore[i]!), dilation: spatial(p.dilation), groups: p.groups, algorithm: p.algorithm },
  );
}

// ---- weight gradient ------------------------------------------------------------------------

function weightGradientRoute(p: ConvProblem, target: PlanTarget): 'shifted' | 'im2col' {
  if (p.weightGradient === 'shifted') {
    if (!p.stride.every((s) => s === 1) || shiftedLayout(p, target).imagesPerChunk < 1) {
      fail(p.op, `weightGradient 'shifted' needs stride 1 and one image's padded copy within maxStorageBufferBindingSize`);
    }
    return 'shifted';
  }
  if (p.weightGradient === 'im2col') return 'im2col';
  return preferShifted(p, target) ? 'shifted' : 'im2col';
}

/**
 * Whether 'auto' takes the shifted route: stride 1; channels per group (the GEMM's columns)
 * enough, and 4-aligned where the profile's GEMM needs it; the padded grid not much larger than
 * the output (its extra positions are extra FLOPs); and one image fits a binding.
 */
function preferShifted(p: ConvProblem, target: PlanTarget): boolean {
  const s = target.profile.conv.shiftedWeight;
  const Cg = p.inChannels / p.groups;
  if (!p.stride.every((v) => v === 1) || (s.alignedChannels && Cg % 4 !== 0) || Cg < s.minChannelsPerGroup) return false;
  const l = shiftedLayout(p, target);
  return product(l.padded) <= s.maxPaddedPerOutput * product(p.output) && l.imagesPerChunk >= 1;
}

/** The shifted route's padded grid and how many images a chunk holds with every buffer in a binding (0: not one). */
function shiftedLayout(p: ConvProblem, target: PlanTarget): { padded: Triple; rowLength: number; imagesPerChunk: number; sliced: boolean } {
  const padded = p.output.map((o, i) => o + p.dilation[i]! * (p.kernel[i]! - 1)) as Triple;
  const rowLength = roundUp4(product(padded));
  const maxFloats = Math.floor(target.maxBindingBytes / 4);
  const xPerImage = p.inChannels * product(p.input);
  const gPerImage = p.outChannels * product(p.output);
  const sliced = p.batch * xPerImage > maxFloats || p.batch * gPerImage > maxFloats;
  const slicePerImage = sliced ? Math.max(xPerImage, gPerImage) : 0;
  // x padded (one extra zero image at the end) and gradOut on the padded grid.
  const fit = Math.min(Math.floor(maxFloats / (rowLength * p.inChannels)) - 1, Math.floor(maxFloats / (rowLength * p.outChannels)));
  const imagesPerChunk = Math.max(0, Math.min(fit, slicePerImage > 0 ? Math.floor(maxFloats / slicePerImage) : Infinity));
  return { padded, rowLength, imagesPerChunk, sliced };
}

function planShifted(p: ConvProblem, target: PlanTarget): WeightGradientPlan {
  const l = shiftedLayout(p, target);
  const G = p.groups;
  const [Og, Cg] = [p.outChannels / G, p.inChannels / G];
  const [, Hp, Wp] = l.padded;
  // The deepest tap's B offset: alignment and the row padding read are checked there (the others read less).
  const lastShift = ((p.kernel[0] - 1) * p.dilation[0] * Hp + (p.kernel[1] - 1) * p.dilation[1]) * Wp * p.inChannels;
  const chunks: ShiftedChunk[] = [];
  if (p.batch > 0) {
    const perChunk = Math.ceil(p.batch / Math.ceil(p.batch / l.imagesPerChunk));
    for (let image0 = 0; image0 < p.batch; image0 += perChunk) {
      const images = Math.min(perChunk, p.batch - image0);
      const K = images * l.rowLength;
      const fits = subgroupFits({
        N: Cg,
        K,
        transA: false,
        bMode: 0,
        lda: K,
        ldb: p.inChannels,
        offsetA: 0,
        offsetB: lastShift,
        stridesA: [0, Og * K],
        stridesB: [p.dilation[2] * p.inChannels, Cg],
        batch: p.kernel[2],
        groups: G,
        sizeA: G * Og * K,
        sizeB: (images + 1) * l.rowLength * p.inChannels,
      });
      chunks.push({ image0, images, gemm: planGemm(target, { M: Og, K, subgroupFits: fits }) });
    }
  }
  return { route: 'shifted', padded: l.padded, rowLength: l.rowLength, sliced: l.sliced, chunks };
}

// ---- column buffers -------------------------------------------------------------------------

/** The sizes every part of the column route needs, derived once from the checked problem. */
export interface ColumnGeometry {
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

export function columnGeometry(p: ConvProblem): ColumnGeometry {
  const G = p.groups;
  const Og = p.outChannels / G;
  const Cg = p.inChannels / G;
  return {
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

/**
 * Splits the batch (or, when one image is too big, its output rows) into chunks whose buffers all
 * fit a binding; and the weight GEMM's reduction over a chunk into pieces when it has too few
 * tiles to keep the device busy (the profile's split-K: enough workgroups, each piece still a
 * long reduction, at most one per image).
 */
function planColumns(p: ConvProblem, target: PlanTarget, want: { weight: boolean; input: boolean }): ColumnsPlan {
  const g = columnGeometry(p);
  const maxBytes = target.maxBindingBytes;
  const maxFloats = Math.floor(maxBytes / 4);
  const weightSize = p.outChannels * g.K;
  if (weightSize * 4 > maxBytes) {
    fail(p.op, `weight ${shapeString(weightShape(p))} takes ${weightSize * 4} bytes, over the device's maxStorageBufferBindingSize of ${maxBytes}`);
  }
  const xPerImage = p.inChannels * g.inPlane;
  const gPerImage = p.outChannels * g.positions;
  // x, gradOut and gradIn are bound whole when they fit, else each chunk copies its slices.
  const sliced = p.batch * xPerImage > maxFloats || p.batch * gPerImage > maxFloats;
  if (p.batch === 0) return { chunks: [], sliced };
  // Column rows per image position: gradOut's (always), x's (weight) and the GEMM's before col2im (input).
  const rows = g.G * Math.max(g.OgPadded, want.weight || want.input ? g.K : 0);
  const perImage = rows * roundUp4(g.positions);
  const slicePerImage = sliced ? Math.max(xPerImage, gPerImage) : 0;
  if (slicePerImage > maxFloats) {
    fail(
      p.op,
      `one image of input ${shapeString(batchedShape(p, p.inChannels, p.input))} or of gradOut ${shapeString(batchedShape(p, p.outChannels, p.output))} ` +
        `takes over the device's maxStorageBufferBindingSize of ${maxFloats * 4} bytes`,
    );
  }
  const weightGemm = (imagesPerSplit: number, rowLength: number) => planGemm(target, { M: g.Og, K: imagesPerSplit * rowLength, subgroupFits: true });
  const maxImages = Math.floor(maxFloats / Math.max(perImage, slicePerImage));
  const chunks: ColumnChunk[] = [];
  if (maxImages >= 1) {
    const count = Math.ceil(p.batch / maxImages);
    const per = Math.ceil(p.batch / count);
    for (let image0 = 0; image0 < p.batch; image0 += per) {
      const images = Math.min(per, p.batch - image0);
      const rowLength = roundUp4(g.positions);
      // Each split writes its own [O, K] partial sums.
      const partialsFit = Math.max(1, Math.floor(maxFloats / weightSize));
      let splits = want.weight ? Math.min(weightSplits(p, target, images, rowLength), partialsFit) : 1;
      let imagesPerSplit = Math.ceil(images / splits);
      splits = Math.ceil(images / imagesPerSplit);
      // Padding images must not push the columns past the limit either.
      if (splits * imagesPerSplit * perImage > maxFloats) [splits, imagesPerSplit] = [1, images];
      const chunk: ColumnChunk = { image0, images, outRow0: 0, outRows: g.outRows, rowLength, splits, imagesPerSplit };
      if (want.weight) chunk.weightGemm = weightGemm(imagesPerSplit, rowLength);
      chunks.push(chunk);
    }
    return { chunks, sliced };
  }
  // One image's columns pass the limit: its output rows go in pieces.
  const outW = p.output[2];
  const rowsPerChunk = Math.floor((Math.floor(maxFloats / rows) - 3) / outW);
  if (rowsPerChunk < 1) {
    fail(p.op, `the backward columns of one output row need ${rows * roundUp4(outW) * 4} bytes, over the device's maxStorageBufferBindingSize`);
  }
  for (let image0 = 0; image0 < p.batch; image0++) {
    for (let outRow0 = 0; outRow0 < g.outRows; outRow0 += rowsPerChunk) {
      const outRows = Math.min(rowsPerChunk, g.outRows - outRow0);
      const rowLength = roundUp4(outRows * outW);
      const chunk: ColumnChunk = { image0, images: 1, outRow0, outRows, rowLength, splits: 1, imagesPerSplit: 1 };
      if (want.weight) chunk.weightGemm = weightGemm(1, rowLength);
      chunks.push(chunk);
    }
  }
  return { chunks, sliced };
}

/** Pieces of the weight GEMM's reduction for `images` images (see planColumns). */
function weightSplits(p: ConvProblem, target: PlanTarget, images: number, rowLength: number): number {
  const g = columnGeometry(p);
  const split = target.profile.conv.splitK;
  // The tile a long reduction over Og rows takes: how many workgroups one piece keeps busy.
  const span = tileSpan(planGemm(target, { M: g.Og, K: 64, subgroupFits: true }));
  const tiles = Math.ceil(g.Og / span.rows) * Math.ceil(g.K / span.cols) * g.G;
  const wanted = Math.ceil(split.workgroups / tiles);
  return Math.max(1, Math.min(wanted, images, Math.floor((images * rowLength) / split.minTerms)));
}

// ---- shapes for messages, and labels --------------------------------------------------------

function spatialDims(p: ConvProblem, t: Triple): number[] {
  return t.slice(3 - p.dims);
}

function weightShape(p: ConvProblem): number[] {
  return [p.outChannels, p.inChannels / p.groups, ...spatialDims(p, p.kernel)];
}

function inputShape(p: ConvProblem): number[] {
  return [...(p.unbatched ? [] : [p.batch]), p.inChannels, ...spatialDims(p, p.input)];
}

function batchedShape(p: ConvProblem, channels: number, spatial: Triple): number[] {
  return [p.batch, channels, ...spatialDims(p, spatial)];
}

/** The forward route and its GEMM tile, e.g. 'winograd4 sg:16x4x8' (the benchmarks' "ours via"). */
export function forwardLabel(f: ForwardPlan): string {
  return `${f.route} ${tileLabel(f.gemm)}`;
}

/**
 * A plan in a few words, for tables: the forward route, its GEMM tile and K (padded where the
 * weights are), chunks where a buffer is over the binding limit; the gradients' routes, tiles,
 * split-K and chunks. E.g. 'implicit sg:16x4x8 k=148 | grad in col2im sg:16x4x8, weight im2col sg:16x4x8 split 2'.
 */
export function describePlan(plan: ConvPlan): string {
  const chunks = (n: number) => (n > 1 ? ` in ${n} chunks` : '');
  const images = (n: number) => `${n} image${n === 1 ? '' : 's'}`;
  const forward = (f: ForwardPlan) => {
    const inner =
      f.route === 'im2col'
        ? `, columns of ${images(f.columnImages)} x ${f.columnRows} rows`
        : f.route === 'winograd2' || f.route === 'winograd4'
          ? `, ${images(f.winogradImages)} a chunk`
          : '';
    return `${forwardLabel(f)} k=${f.k}${f.sliced ? `, ${images(f.imagesPerChunk)} a slice` : ''}${inner}`;
  };
  const parts: string[] = [];
  if (plan.forward) parts.push(forward(plan.forward));
  const grads: string[] = [];
  const i = plan.inputGradient;
  if (i) grads.push(i.route === 'transposed' ? `in transposed (${forward(i.forward)})` : `in col2im ${tileLabel(i.gemm)}`);
  const w = plan.weightGradient;
  if (w?.route === 'shifted') grads.push(`weight shifted ${tileLabel(w.chunks[0]!.gemm)}${chunks(w.chunks.length)}`);
  if (w?.route === 'im2col') {
    const first = plan.columns!.chunks[0];
    grads.push(`weight im2col${first ? ` ${tileLabel(first.weightGemm!)}${first.splits > 1 ? ` split ${first.splits}` : ''}` : ''}`);
  }
  if (plan.columns && plan.columns.chunks.length > 1) grads.push(`columns${chunks(plan.columns.chunks.length)}`);
  if (grads.length > 0) parts.push(`grad ${grads.join(', ')}`);
  return parts.join(' | ');
}
