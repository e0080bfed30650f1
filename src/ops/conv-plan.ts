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
//
// Past the binding limit the work is split in two layers. The operands (x, the weight, the output
// and their gradients) are split by the runtime chunker (runtime/split.ts) into blocks of fewer
// images or output channels (convUnits); the routes are chosen once for the whole problem
// (planRoutes), and each block is planned with them (planBlock): its tiles, K padding, split-K and
// the chunks its own scratch buffers (im2col columns, Winograd transforms, backward columns, shifted
// copies) go in under the limit. The least scratch a block needs on its routes (forwardScratch,
// backwardScratch) bounds the chunker's blocks, so a call whose smallest block cannot fit is
// refused before anything is allocated.
import type { PlanTarget } from '../runtime/device-profile.js';
import type { Chunk, PerUnit, Split } from '../runtime/split.js';
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
  | { route: 'shifted'; padded: Triple; rowLength: number; chunks: ShiftedChunk[] }
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

/** The routes of a convolution's passes, chosen for the whole problem: what every block of it runs. */
export interface ConvRoutes {
  forward?: ConvRoute;
  input?: 'transposed' | 'col2im';
  weight?: 'shifted' | 'im2col';
}

/** The routes of the passes asked for (default: all three), 'auto' resolved by the profile; forced ones checked. */
export function planRoutes(p: ConvProblem, target: PlanTarget, passes: ConvPasses = ALL_PASSES): ConvRoutes {
  const routes: ConvRoutes = {};
  if (passes.forward) routes.forward = forwardRoute(p, target);
  if (passes.input) routes.input = inputGradientRoute(p, target);
  // The transposed convolution's forced algorithm is checked now, before anything is recorded.
  if (routes.input === 'transposed') forwardRoute(transposedProblem(p), target);
  if (passes.weight) routes.weight = weightGradientRoute(p, target);
  return routes;
}

/** The whole plan of the passes asked for (default: all three), for the problem run as one block. */
export function planConvolution(p: ConvProblem, target: PlanTarget, passes: ConvPasses = ALL_PASSES): ConvPlan {
  return planBlock(p, target, planRoutes(p, target, passes));
}

/**
 * The plan of `p` run as one block on `routes` (planRoutes' for the whole problem it belongs to):
 * tiles, K padding, split-K and the chunks of its scratch buffers under the binding limit. Refuses
 * a block whose least scratch (forwardScratch, backwardScratch) passes the limit.
 */
export function planBlock(p: ConvProblem, target: PlanTarget, routes: ConvRoutes): ConvPlan {
  const plan: ConvPlan = {};
  if (routes.forward) plan.forward = planForward(p, target, routes.forward);
  const viaColumns = { weight: routes.weight === 'im2col', input: routes.input === 'col2im' };
  if (viaColumns.weight || viaColumns.input) plan.columns = planColumns(p, target, viaColumns);
  if (routes.input === 'transposed') {
    const problem = transposedProblem(p);
    plan.inputGradient = { route: 'transposed', problem, forward: planForward(problem, target) };
  } else if (routes.input === 'col2im') {
    // W^T [K, OgPadded] x gradOut's columns: laid out for the subgroup kernel.
    const g = columnGeometry(p);
    plan.inputGradient = { route: 'col2im', gemm: planGemm(target, { M: g.K, K: g.OgPadded, subgroupFits: true }) };
  }
  if (routes.weight) plan.weightGradient = routes.weight === 'shifted' ? planShifted(p, target) : { route: 'im2col' };
  return plan;
}

/** The forward pass's plan alone, on `route` (by default the one the profile chooses for `p`), run as one block. */
export function planForward(p: ConvProblem, target: PlanTarget, route: ConvRoute = forwardRoute(p, target)): ForwardPlan {
  const maxBytes = target.maxBindingBytes;
  const maxFloats = Math.floor(maxBytes / 4);
  const G = p.groups;
  const Og = p.outChannels / G;
  const Cg = p.inChannels / G;
  const K = Cg * product(p.kernel);
  const P = product(p.output);
  const plane = product(p.input);
  const inPerImage = p.inChannels * plane;
  const least = forwardScratch(p, target, route);
  if (p.batch * p.outChannels * P > 0 && least * 4 > maxBytes) {
    fail(p.op, `the ${route} route needs a scratch binding of ${least * 4} bytes (${SCRATCH_WHAT[route]}), over the binding limit of ${maxBytes} bytes`);
  }

  if (route === 'winograd2' || route === 'winograd4') {
    const tile: WinogradTile = route === 'winograd2' ? 2 : 4;
    const Cp = roundUp4(p.inChannels);
    const winogradImages = winogradImagesPerChunk(p, tile, p.batch, maxBytes);
    // The transformed operands are laid out for the subgroup kernel: K = Cp, rows of Np, all 4-aligned.
    return { route, gemm: planGemm(target, { M: p.outChannels, K: Cp, subgroupFits: true }), k: Cp, winogradImages };
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
    return { route, gemm: planGemm(target, { M: Og, K: kRows, subgroupFits: true }), k: kRows, columnImages, columnRows };
  }
  if (route === 'implicit') return { route, ...implicitGemm(p, target) };
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
  return { route, gemm: planGemm(target, { M: Og, K, subgroupFits: fits }), k: K };
}

/** The implicit GEMM's tile and K: the weights are padded to a multiple of 4 for the subgroup kernel (B is the image itself). */
function implicitGemm(p: ConvProblem, target: PlanTarget): { gemm: GemmTile; k: number } {
  const K = (p.inChannels / p.groups) * product(p.kernel);
  const fits = p.outChannels * roundUp4(K) >= 4 && p.batch * p.inChannels * product(p.input) >= 4;
  const gemm = planGemm(target, { M: p.outChannels / p.groups, K, subgroupFits: fits });
  return { gemm, k: gemm.kernel === 'subgroup' ? roundUp4(K) : K };
}

const SCRATCH_WHAT: Record<ConvRoute, string> = {
  pointwise: 'none',
  implicit: 'the K-padded weights',
  im2col: 'the K-padded weights, or the im2col columns of one output row',
  winograd2: 'the transformed weights, or the transforms of one image',
  winograd4: 'the transformed weights, or the transforms of one image',
};

/**
 * The least scratch (floats) the forward pass of `p` binds on `route` besides its operands, its
 * scratch chunked as far as it goes: the K-padded weights (none where K needs no padding), one
 * output row of im2col columns (its positions plus up to 3 of padding), the Winograd transforms of
 * the weights and of one image.
 */
export function forwardScratch(p: ConvProblem, target: PlanTarget, route: ConvRoute): number {
  if (route === 'winograd2' || route === 'winograd4') {
    const { perImage, points } = winogradTiles(p, route === 'winograd2' ? 2 : 4);
    const Cp = roundUp4(p.inChannels);
    return points * Math.max(p.outChannels * Cp, Math.max(Cp, p.outChannels) * roundUp4(perImage));
  }
  const K = (p.inChannels / p.groups) * product(p.kernel);
  const k = route === 'im2col' ? roundUp4(K) : route === 'implicit' ? implicitGemm(p, target).k : K;
  const weights = k === K ? 0 : p.outChannels * k;
  return route === 'im2col' ? Math.max(weights, p.groups * k * (p.output[2] + 3)) : weights;
}

// ---- forward routes -------------------------------------------------------------------------

/** The forward route the profile chooses for `p` (or the forced one, checked). */
export function forwardRoute(p: ConvProblem, target: PlanTarget): ConvRoute {
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
  // The transposed route flips the whole weight in one dispatch; the column route splits it by output channels.
  const weightBytes = p.outChannels * (p.inChannels / p.groups) * product(p.kernel) * 4;
  const flips = weightBytes <= target.maxBindingBytes;
  if (p.inputGradient === 'transposed') {
    if (!transposable(p)) fail(p.op, `inputGradient 'transposed' needs stride 1 and symmetric padding no larger than dilation * (kernel - 1) on every axis`);
    if (!flips) {
      fail(p.op, `inputGradient 'transposed' flips the whole weight ${shapeString(weightShape(p))} (${weightBytes} bytes), over the binding limit of ${target.maxBindingBytes} bytes; use 'col2im' or 'auto'`);
    }
    return 'transposed';
  }
  if (p.inputGradient === 'col2im') return 'col2im';
  return transposable(p) && flips && preferTransposed(p, target) ? 'transposed' : 'col2im';
}

/**
 * The input gradient's convolution: gradOut (batched) with the kernel flipped and its channel axes
 * swapped ([C, O/groups, k...]), padding d(k - 1) - p, the same dilation and groups and the forced
 * algorithm; errors name the forward op.
 */
export function transposedProblem(p: ConvProblem): ConvProblem {
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
    // Past the binding limit the runtime splits it by output channels or groups (backwardScratch).
    if (!p.stride.every((s) => s === 1)) fail(p.op, `weightGradient 'shifted' needs stride 1`);
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
function shiftedLayout(p: ConvProblem, target: PlanTarget): { padded: Triple; rowLength: number; imagesPerChunk: number } {
  const padded = p.output.map((o, i) => o + p.dilation[i]! * (p.kernel[i]! - 1)) as Triple;
  const rowLength = roundUp4(product(padded));
  const maxFloats = Math.floor(target.maxBindingBytes / 4);
  // x padded (one extra zero image at the end) and gradOut on the padded grid.
  const fit = Math.min(Math.floor(maxFloats / (rowLength * p.inChannels)) - 1, Math.floor(maxFloats / (rowLength * p.outChannels)));
  return { padded, rowLength, imagesPerChunk: Math.max(0, fit) };
}

function planShifted(p: ConvProblem, target: PlanTarget): WeightGradientPlan {
  const l = shiftedLayout(p, target);
  const G = p.groups;
  const [Og, Cg] = [p.outChannels / G, p.inChannels / G];
  const [, Hp, Wp] = l.padded;
  // The deepest tap's B offset: alignment and the row padding read are checked there (the others read less).
  const lastShift = ((p.kernel[0] - 1) * p.dilation[0] * Hp + (p.kernel[1] - 1) * p.dilation[1]) * Wp * p.inChannels;
  const chunks: ShiftedChunk[] = [];
  if (p.batch > 0 && l.imagesPerChunk < 1) {
    fail(p.op, `the shifted weight gradient needs scratch bindings of ${backwardScratch(p, { weight: 'shifted' }) * 4} bytes (one image's padded copies), over the binding limit of ${target.maxBindingBytes} bytes`);
  }
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
  return { route: 'shifted', padded: l.padded, rowLength: l.rowLength, chunks };
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

/** Column rows per output position: gradOut's (always), x's (weight) and the GEMM's before col2im (input). */
function columnRows(g: ColumnGeometry): number {
  return g.G * Math.max(g.OgPadded, g.K);
}

/**
 * Splits the batch (or, when one image is too big, its output rows) into chunks whose column
 * buffers all fit a binding; and the weight GEMM's reduction over a chunk into pieces when it has
 * too few tiles to keep the device busy (the profile's split-K: enough workgroups, each piece
 * still a long reduction, at most one per image).
 */
function planColumns(p: ConvProblem, target: PlanTarget, want: { weight: boolean; input: boolean }): ColumnsPlan {
  const g = columnGeometry(p);
  const maxBytes = target.maxBindingBytes;
  const maxFloats = Math.floor(maxBytes / 4);
  const weightSize = p.outChannels * g.K;
  if (p.batch === 0) return { chunks: [] };
  const least = backwardScratch(p, { weight: want.weight ? 'im2col' : undefined, input: want.input ? 'col2im' : undefined });
  if (least * 4 > maxBytes) {
    fail(p.op, `the backward column route needs scratch bindings of ${least * 4} bytes (the columns of one output row, the transposed weight), over the binding limit of ${maxBytes} bytes`);
  }
  const rows = columnRows(g);
  const perImage = rows * roundUp4(g.positions);
  const weightGemm = (imagesPerSplit: number, rowLength: number) => planGemm(target, { M: g.Og, K: imagesPerSplit * rowLength, subgroupFits: true });
  const maxImages = Math.floor(maxFloats / perImage);
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
    return { chunks };
  }
  // One image's columns pass the limit: its output rows go in pieces.
  const outW = p.output[2];
  const rowsPerChunk = Math.floor((Math.floor(maxFloats / rows) - 3) / outW);
  for (let image0 = 0; image0 < p.batch; image0++) {
    for (let outRow0 = 0; outRow0 < g.outRows; outRow0 += rowsPerChunk) {
      const outRows = Math.min(rowsPerChunk, g.outRows - outRow0);
      const rowLength = roundUp4(outRows * outW);
      const chunk: ColumnChunk = { image0, images: 1, outRow0, outRows, rowLength, splits: 1, imagesPerSplit: 1 };
      if (want.weight) chunk.weightGemm = weightGemm(1, rowLength);
      chunks.push(chunk);
    }
  }
  return { chunks };
}

/**
 * The least scratch (floats) the backward passes of `p` bind on `routes` besides their operands,
 * their scratch chunked as far as it goes: one output row of the column buffers (its positions
 * plus up to 3 of padding) and the transposed weight of the col2im input gradient; one image's
 * padded copies (x with an extra zero image, gradOut) for the shifted weight gradient. The
 * transposed input gradient is a forward convolution, split and bounded as one.
 */
export function backwardScratch(p: ConvProblem, routes: ConvRoutes): number {
  let floats = 0;
  if (routes.weight === 'im2col' || routes.input === 'col2im') {
    const g = columnGeometry(p);
    floats = Math.max(columnRows(g) * (p.output[2] + 3), routes.input === 'col2im' ? g.G * g.K * g.OgPadded : 0);
  }
  if (routes.weight === 'shifted') {
    const rowLength = roundUp4(product(p.output.map((o, i) => o + p.dilation[i]! * (p.kernel[i]! - 1))));
    floats = Math.max(floats, rowLength * Math.max(2 * p.inChannels, p.outChannels));
  }
  return floats;
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

// ---- blocks: how the runtime chunker splits a convolution ----------------------------------------

/** How a convolution's tensors split past the binding limit (runtime/split.ts), and what a chunk computes. */
export interface ConvUnits {
  axes: Split['axes'];
  /** Elements per unit of x (and its gradient), the weight (and its gradient), the bias, the output (residual, output gradient). */
  x: PerUnit;
  weight: PerUnit;
  bias: PerUnit;
  output: PerUnit;
  /** The convolution a chunk computes: its images, and its output channels with their input channels. */
  block(c: Chunk): ConvProblem;
}

/**
 * A convolution splits by images; an image too big alone (or a weight too big to bind) by output
 * channels (groups 1) or by whole groups, each block with its rows of the weight, its bias and its
 * share of the input (a group's channels), residual and output.
 */
export function convUnits(p: ConvProblem): ConvUnits {
  const G = p.groups;
  const grouped = G > 1;
  const [Og, Cg] = [p.outChannels / G, p.inChannels / G];
  const [plane, positions] = [product(p.input), product(p.output)];
  // Output channels in one unit of the second axis: one, or a group's.
  const per = grouped ? Og : 1;
  return {
    axes: [{ name: 'image', size: p.batch }, { name: grouped ? 'group' : 'output channel', size: grouped ? G : p.outChannels }],
    x: [p.inChannels * plane, grouped ? Cg * plane : 0],
    weight: [0, per * Cg * product(p.kernel)],
    bias: [0, per],
    output: [p.outChannels * positions, per * positions],
    block: (c) => {
      const outChannels = c.b * per;
      const shape = [...(p.unbatched ? [] : [c.a]), outChannels, ...spatialDims(p, p.output)];
      return { ...p, batch: c.a, groups: grouped ? c.b : 1, inChannels: grouped ? c.b * Cg : p.inChannels, outChannels, shape };
    },
  };
}

// ---- shapes for messages, and labels --------------------------------------------------------

function spatialDims(p: ConvProblem, t: Triple): number[] {
  return t.slice(3 - p.dims);
}

function weightShape(p: ConvProblem): number[] {
  return [p.outChannels, p.inChannels / p.groups, ...spatialDims(p, p.kernel)];
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
    return `${forwardLabel(f)} k=${f.k}${inner}`;
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
