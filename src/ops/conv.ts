// Convolution forward on the GEMM core: per image and group, out[o, pos] = W[o, :] x im2col(x)[:, pos].
// Four routes: 1x1 / stride 1 / no padding is a plain GEMM over the input; the implicit GEMM
// reads the im2col view straight from the image inside the GEMM's B loads (1-D and 2-D); the
// explicit route writes im2col columns to a buffer first (any dimension, the simplest path);
// Winograd F(2x2, 3x3) or F(4x4, 3x3) (conv-winograd.ts) takes 3x3 stride-1 2-D convolutions
// with enough output tiles.
// Bias (per output channel = per GEMM row), a residual add and ReLU run in the GEMM's epilogue
// (in the output transform on the Winograd route).
import { grid1d, type Engine } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import { runSplit, type Chunk, type PerUnit, type Split } from '../runtime/split.js';
import type { Tensor } from '../runtime/tensor.js';
import { params } from '../runtime/uniforms.js';
import { addRef, reluRef } from '../reference/elementwise.js';
import { conv1dRef, conv2dRef, conv3dRef } from '../reference/conv.js';
import { fail } from './check.js';
import { checkConv, convProblem, type ConvAttributes, type ConvOptions, type ConvProblem } from './conv-args.js';
import { conv1dBackward, conv2dBackward, conv3dBackward } from './conv-backward.js';
import { reluBackward, sameGradient } from './elementwise.js';
import { defineOp, type Inputs } from './registry.js';
import { runWinograd, winogradImagesPerChunk, winogradMismatch, winogradTiles, type WinogradTile } from './conv-winograd.js';
import { gemm, padColumns } from './gemm.js';

export type { ConvOptions } from './conv-args.js';

/** How a convolution runs: `algorithm` with 'auto' resolved, 'pointwise' being the plain GEMM of a 1x1 convolution. */
export type ConvRoute = 'pointwise' | 'implicit' | 'im2col' | 'winograd2' | 'winograd4';

const CONV_OPERANDS = [{ name: 'x' }, { name: 'weight' }, { name: 'bias', optional: true }, { name: 'residual', optional: true }] as const;

const CONV_BACKWARD = { 1: conv1dBackward, 2: conv2dBackward, 3: conv3dBackward } as const;
const CONV_REFERENCE = { 1: conv1dRef, 2: conv2dRef, 3: conv3dRef } as const;

/**
 * conv1d / conv2d / conv3d as registered ops: operands x, weight, bias?, residual? (added before
 * the ReLU in the epilogue). The residual's gradient is the output gradient (after the fused
 * ReLU's mask), handed through.
 */
function defineConv(name: string, dims: 1 | 2 | 3) {
  return defineOp<ConvAttributes, ConvProblem>({
    name,
    operands: CONV_OPERANDS,
    check: ([x, weight, bias, residual], options) => convProblem(name, dims, x!, weight!, bias, options, residual),
    forward: ([x, weight, bias, residual], p) => convolve(p, x!, weight!, bias, residual),
    backward: ({ gradOut, output, inputs: [x, weight], options, needs }) => {
      const { relu: fused, ...geometry } = options;
      const g = fused ? reluBackward(gradOut, output) : gradOut;
      const { gradInput, gradWeight, gradBias } = CONV_BACKWARD[dims](g, x!, weight!, geometry, { input: needs[0]!, weight: needs[1]!, bias: needs[2]! });
      const [, , , gradResidual] = sameGradient(g, g !== gradOut, [false, false, false, needs[3]!]);
      return [gradInput, gradWeight, gradBias, gradResidual];
    },
    reference: ([x, weight, bias, residual], { relu, ...options }) => {
      // The references take batched input: an unbatched x is a batch of one.
      const unbatched = x!.shape.length === dims + 1;
      const batched = CONV_REFERENCE[dims](unbatched ? { ...x!, shape: [1, ...x!.shape] } : x!, weight!, bias, options);
      const out = unbatched ? { ...batched, shape: batched.shape.slice(1) } : batched;
      const summed = residual ? addRef(out, residual) : out;
      return relu ? reluRef(summed) : summed;
    },
    graph: { reluOption: 'relu', residualOperand: 3, foldsBatchNorm: { weight: 1, bias: 2 } },
  });
}

export const conv1dOp = defineConv('conv1d', 1);
export const conv2dOp = defineConv('conv2d', 2);
export const conv3dOp = defineConv('conv3d', 3);

function convInputs(x: Tensor, weight: Tensor, bias: Tensor | undefined, options: ConvOptions): [Inputs, ConvAttributes] {
  const { residual, ...attributes } = options ?? {};
  return [[x, weight, bias, residual], attributes];
}

/** torch.nn.functional.conv1d: x [N, C, L] (or [C, L]), weight [O, C/groups, K]. */
export function conv1d(x: Tensor, weight: Tensor, bias?: Tensor, options: ConvOptions = {}): Tensor {
  return conv1dOp.run(...convInputs(x, weight, bias, options));
}

/** torch.nn.functional.conv2d: x [N, C, H, W] (or [C, H, W]), weight [O, C/groups, KH, KW]. */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor, options: ConvOptions = {}): Tensor {
  return conv2dOp.run(...convInputs(x, weight, bias, options));
}

/** torch.nn.functional.conv3d: x [N, C, D, H, W] (or [C, D, H, W]), weight [O, C/groups, KD, KH, KW]. */
export function conv3d(x: Tensor, weight: Tensor, bias?: Tensor, options: ConvOptions = {}): Tensor {
  return conv3dOp.run(...convInputs(x, weight, bias, options));
}

/** The route conv2d takes for these operands and options (after the same checks): for benchmarks and tests. */
export function conv2dRoute(x: Tensor, weight: Tensor, bias?: Tensor, options: ConvOptions = {}): ConvRoute {
  return chooseRoute(x.engine, checkConv('conv2d', 2, x, weight, bias, options));
}

const product = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/**
 * When 'auto' takes Winograd (measured on lavapipe, batch 1 unless said):
 * - Its product is a GEMM over N = batch x tiles columns, which the GEMM core covers 32 at a
 *   time: below one full block the transforms (the weights' above all, redone every call) cost
 *   more than the product saves. 512 channels at 7x7 (16 tiles of 2x2) ran ~1.6x slower by
 *   F(2x2) than by im2col at batch 1, ~1.3x faster at batch 2.
 * - The transforms grow with C + O and the savings with C x O: with 16 channels or fewer the
 *   implicit GEMM (K = 9C is short) won everywhere tried; 32 -> 64 channels at 12x12 won by
 *   F(4x4) from batch 8 (1.5x) and lost at batch 1 (2x slower).
 * - Four dispatches cost a fixed ~1 ms: 32 channels at 28x28 (14.5 MFLOP) still lost by 1.4x,
 *   at 56x56 (58 MFLOP) F(4x4) was level with the implicit GEMM.
 * F(4x4) beat F(2x2) wherever it had enough tiles (~1.8x at 64 channels, 56x56).
 */
const WINOGRAD_MIN_TILES = 32;
const WINOGRAD_MIN_CHANNELS = 32;
const WINOGRAD_MIN_FLOPS = 32e6;

/** The Winograd tile `auto` takes for `p`, or undefined where the GEMM routes win. */
function autoWinogradTile(engine: Engine, p: ConvProblem): WinogradTile | undefined {
  if (winogradMismatch(p) || Math.min(p.inChannels, p.outChannels) < WINOGRAD_MIN_CHANNELS) return undefined;
  const flops = 2 * p.batch * p.outChannels * p.inChannels * 9 * product(p.output);
  if (flops < WINOGRAD_MIN_FLOPS) return undefined;
  return ([4, 2] as const).find(
    (tile) =>
      p.batch * winogradTiles(p, tile).perImage >= WINOGRAD_MIN_TILES &&
      winogradImagesPerChunk(p, tile, 1, engine.maxBindingBytes) > 0,
  );
}

function chooseRoute(engine: Engine, p: ConvProblem): ConvRoute {
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
  const tile = autoWinogradTile(engine, p);
  if (tile) return tile === 4 ? 'winograd4' : 'winograd2';
  // Measured on lavapipe: the implicit GEMM wins on large outputs (64 ch @ 56x56: ~15% faster);
  // on small ones (28x28 and below) the explicit buffer is as fast or faster (256 @ 14x14:
  // ~1.4x), its GEMM reading B as vec4 and its columns costing little to write.
  return flat && product(p.output) > 1024 ? 'implicit' : 'im2col';
}

function convolve(p: ConvProblem, x: Tensor, weight: Tensor, bias: Tensor | undefined, residual: Tensor | undefined): Tensor {
  const engine = x.engine;
  const route = chooseRoute(engine, p);
  if (p.shape.some((d) => d === 0)) return engine.empty(p.shape);
  const u = convUnits(p);
  const split: Split = {
    op: p.op,
    axes: u.axes,
    operands: [
      { name: 'x', input: x, per: u.x },
      { name: 'weight', input: weight, per: u.weight },
      ...(bias ? [{ name: 'bias', input: bias, per: u.bias }] : []),
      ...(residual ? [{ name: 'residual', input: residual, per: u.output }] : []),
      { name: 'output', output: p.shape, per: u.output },
    ],
    otherBytes: (_images, units) => 4 * routeScratch(u.block({ a0: 0, a: 1, b0: 0, b: units }), route),
  };
  return runSplit(engine, split, (bound, c) => {
    const [xs, ws] = bound;
    runRoute(engine, route, u.block(c), xs!, ws!, bias && bound[2], bound[bound.length - 1]!, c.a, residual && bound[bias ? 3 : 2]);
  })[0]!;
}

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
    block: (c) => ({ ...p, batch: c.a, groups: grouped ? c.b : 1, inChannels: grouped ? c.b * Cg : p.inChannels, outChannels: c.b * per }),
  };
}

/**
 * The least scratch (floats) the convolution `p` (a chunk's) binds on `route` besides its operands:
 * the K-padded weights of the GEMM routes, one output row of im2col columns, the Winograd
 * transforms of the weights and of one image.
 */
function routeScratch(p: ConvProblem, route: ConvRoute): number {
  const roundUp4 = (n: number) => Math.ceil(n / 4) * 4;
  const kRows = roundUp4((p.inChannels / p.groups) * product(p.kernel));
  if (route === 'winograd2' || route === 'winograd4') {
    const { perImage, points } = winogradTiles(p, route === 'winograd2' ? 2 : 4);
    const Cp = roundUp4(p.inChannels);
    return points * Math.max(p.outChannels * Cp, Math.max(Cp, p.outChannels) * roundUp4(perImage));
  }
  const padded = p.outChannels * kRows;
  // runIm2col sizes a piece of rows as their positions plus up to 3 of padding.
  return route === 'im2col' ? Math.max(padded, p.groups * kRows * (p.output[2] + 3)) : padded;
}

/** Runs one route over `batch` images whose input and output both fit in a binding. */
function runRoute(
  engine: Engine,
  route: ConvRoute,
  p: ConvProblem,
  x: Tensor,
  weight: Tensor,
  bias: Tensor | undefined,
  out: Tensor,
  batch: number,
  residual: Tensor | undefined,
): void {
  const G = p.groups;
  const Og = p.outChannels / G;
  const Cg = p.inChannels / G;
  const K = Cg * product(p.kernel);
  const P = product(p.output);
  const plane = product(p.input);
  if (route === 'winograd2' || route === 'winograd4') {
    runWinograd(engine, p, route === 'winograd2' ? 2 : 4, x, weight, bias, out, batch, residual);
    return;
  }
  const common = {
    name: p.op,
    a: weight,
    out,
    M: Og,
    K,
    batch,
    groups: G,
    bias,
    biasPer: 'row' as const,
    biasGroupStride: Og,
    residual,
    relu: p.relu,
  };
  if (route === 'im2col') {
    // K padded to a multiple of 4 (zero weights, zero cols rows) keeps the GEMM on its vec4 path.
    const kRows = Math.ceil(K / 4) * 4;
    const w = kRows === K ? weight : padColumns(engine, weight, 1, p.outChannels, K, kRows, K, 0, 0);
    runIm2col(engine, p, x, batch, kRows, (cols, n0, nb, p0, pc, rowLength) =>
      gemm(engine, {
        ...common,
        a: w,
        K: kRows,
        b: cols,
        N: pc,
        ldb: rowLength,
        ldc: P,
        batch: nb,
        strides: { a: [0, Og * kRows], b: [G * kRows * rowLength, kRows * rowLength], c: [p.outChannels * P, Og * P] },
        offsets: { c: n0 * p.outChannels * P + p0 },
      }),
    );
    if (w !== weight) w.dispose();
    return;
  }
  const [, inH, inW] = p.input;
  gemm(engine, {
    ...common,
    b: x,
    N: P,
    ldb: P,
    strides: { a: [0, Og * K], b: [p.inChannels * plane, Cg * plane], c: [p.outChannels * P, Og * P] },
    conv:
      route === 'implicit'
        ? {
            channels: Cg,
            inH,
            inW,
            outW: p.output[2],
            kH: p.kernel[1],
            kW: p.kernel[2],
            strideH: p.stride[1],
            strideW: p.stride[2],
            dilH: p.dilation[1],
            dilW: p.dilation[2],
            padH: p.padBefore[1],
            padW: p.padBefore[2],
          }
        : undefined,
  });
}

const IM2COL_WG = 64;

function im2colKernel(): KernelSpec {
  return { name: 'im2col', shader: 'im2col', defines: { WG: IM2COL_WG }, bindings: ['uniform', 'read', 'write'] };
}

/**
 * Writes im2col columns chunk by chunk, each chunk under the binding limit (several images, or
 * one image's output rows in pieces), and hands each to `consume` before the next is written.
 * A chunk is [images, groups, kRows, rowLength]: rowLength is the chunk's positions rounded up
 * to a multiple of 4, with zeros in the padding.
 */
function runIm2col(
  engine: Engine,
  p: ConvProblem,
  x: Tensor,
  batch: number,
  kRows: number,
  consume: (cols: Tensor, image0: number, images: number, position0: number, positions: number, rowLength: number) => void,
): void {
  const G = p.groups;
  const Cg = p.inChannels / G;
  const [, outH, outW] = p.output;
  const outRows = p.output[0] * outH;
  const P = outRows * outW;
  const roundUp4 = (n: number) => Math.ceil(n / 4) * 4;
  const maxFloats = Math.floor(engine.maxBindingBytes / 4);
  const perImage = G * kRows * roundUp4(P);
  const images = Math.max(1, Math.min(batch, Math.floor(maxFloats / perImage)));
  const rowsPerChunk = perImage <= maxFloats ? outRows : Math.floor((Math.floor(maxFloats / (G * kRows)) - 3) / outW);
  // convSplit's scratch bound keeps one output row's columns within the limit.
  if (rowsPerChunk < 1) throw new Error(`${p.op}: internal error: the im2col buffer for one output row needs ${G * kRows * roundUp4(outW) * 4} bytes`);
  for (let n0 = 0; n0 < batch; n0 += images) {
    const nb = Math.min(images, batch - n0);
    for (let r0 = 0; r0 < outRows; r0 += rowsPerChunk) {
      const rows = Math.min(rowsPerChunk, outRows - r0);
      const rowLength = roundUp4(rows * outW);
      const cols = engine.empty([nb * G * kRows * rowLength]);
      const invocations = nb * G * kRows * rows;
      if (invocations > 0) {
        const u = params()
          .u32(invocations, rows, kRows, Cg * product(p.kernel), G, Cg, n0, r0, rowLength, p.inChannels)
          .u32(...p.input, outH, outW, ...p.kernel, ...p.stride, ...p.dilation, ...p.padBefore);
        engine.dispatch(im2colKernel(), [x, cols], grid1d(invocations, IM2COL_WG, engine.limits.maxComputeWorkgroupsPerDimension), u);
      }
      consume(cols, n0, nb, r0 * outW, rows * outW, rowLength);
      cols.dispose();
    }
  }
}
