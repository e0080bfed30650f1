// Convolution forward on the GEMM core: per image and group, out[o, pos] = W[o, :] x im2col(x)[:, pos].
// Four routes: 1x1 / stride 1 / no padding is a plain GEMM over the input; the implicit GEMM
// reads the im2col view straight from the image inside the GEMM's B loads (1-D and 2-D); the
// explicit route writes im2col columns to a buffer first (any dimension, the simplest path);
// Winograd F(2x2, 3x3) or F(4x4, 3x3) (conv-winograd.ts) takes 3x3 stride-1 2-D convolutions.
// Which route, tile, padding and chunks: the plan (conv-plan.ts), made for the engine's device
// profile; the code here executes it. Past the binding limit the runtime chunker (runtime/split.ts)
// splits the operands into blocks of images or output channels (convUnits), each run on the whole
// problem's route with its own plan.
// Bias (per output channel = per GEMM row), a residual add and ReLU run in the GEMM's epilogue
// (in the output transform on the Winograd route).
import { grid1d, type Engine } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import { planSplit, runSplit, type Chunk, type Split, type SplitPlan } from '../runtime/split.js';
import type { Tensor } from '../runtime/tensor.js';
import { params } from '../runtime/uniforms.js';
import { addRef, reluRef } from '../reference/elementwise.js';
import { conv1dRef, conv2dRef, conv3dRef } from '../reference/conv.js';
import { checkConv, convProblem, type ConvAttributes, type ConvOptions, type ConvProblem, type ConvRouteOptions } from './conv-args.js';
import { conv1dBackward, conv2dBackward, conv3dBackward } from './conv-backward.js';
import { convUnits, forwardRoute, forwardScratch, planConvolution, planForward, type ConvPasses, type ConvPlan, type ConvRoute, type ForwardPlan } from './conv-plan.js';
import { reluBackward, sameGradient } from './elementwise.js';
import { defineOp, type Inputs } from './registry.js';
import { runWinograd } from './conv-winograd.js';
import { gemm, padColumns } from './gemm.js';

export type { ConvOptions } from './conv-args.js';
export type { ConvPlan, ConvRoute, ForwardPlan } from './conv-plan.js';

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

/**
 * The plan conv2d (and, for the passes asked, its backward: options may force their routes too)
 * makes for these operands on their engine's device profile, after the same checks: for
 * benchmarks' labels and tests.
 */
export function conv2dPlan(x: Tensor, weight: Tensor, bias?: Tensor, options: ConvOptions & ConvRouteOptions = {}, passes?: ConvPasses): ConvPlan {
  return planConvolution(checkConv('conv2d', 2, x, weight, bias, options), x.engine.planTarget, passes);
}

const product = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** How the forward pass of `p` over these operands splits past the binding limit (convUnits), on `route`. */
function forwardSplit(p: ConvProblem, route: ConvRoute, x: Tensor, weight: Tensor, bias: Tensor | undefined, residual: Tensor | undefined): Split {
  const target = x.engine.planTarget;
  const u = convUnits(p);
  return {
    op: p.op,
    axes: u.axes,
    operands: [
      { name: 'x', input: x, per: u.x },
      { name: 'weight', input: weight, per: u.weight },
      ...(bias ? [{ name: 'bias', input: bias, per: u.bias }] : []),
      ...(residual ? [{ name: 'residual', input: residual, per: u.output }] : []),
      { name: 'output', output: p.shape, per: u.output },
    ],
    // The route's scratch chunks over images by itself: a block's least is one image's.
    otherBytes: (_images, units) => 4 * forwardScratch(u.block({ a0: 0, a: 1, b0: 0, b: units }), target, route),
  };
}

/**
 * The runtime split of the forward pass of `p` over operands of these shapes (the tensors' values
 * are not read): refused here, before anything is recorded, when its smallest block cannot fit.
 * For a caller that records other work first (the transposed input gradient).
 */
export function planConvolve(p: ConvProblem, x: Tensor, weight: Tensor, bias?: Tensor, residual?: Tensor): SplitPlan {
  return planSplit(x.engine, forwardSplit(p, forwardRoute(p, x.engine.planTarget), x, weight, bias, residual));
}

/**
 * The forward pass of `p` into a new tensor, on the route the device profile chooses for it: in
 * one block when every binding fits, else split by the runtime chunker into blocks of images or
 * output channels (convUnits), each planned on that route (planForward of the block). A call whose
 * smallest block cannot fit is refused before anything is allocated (`split`: planConvolve's plan,
 * made earlier for operands of the same shapes).
 */
export function convolve(p: ConvProblem, x: Tensor, weight: Tensor, bias: Tensor | undefined, residual: Tensor | undefined, split?: SplitPlan): Tensor {
  const engine = x.engine;
  const target = engine.planTarget;
  const route = forwardRoute(p, target);
  if (p.shape.some((d) => d === 0)) return engine.empty(p.shape);
  const u = convUnits(p);
  const s = forwardSplit(p, route, x, weight, bias, residual);
  const record = (bound: Tensor[], c: Chunk) => {
    const [xs, ws] = bound;
    const block = u.block(c);
    runRoute(engine, planForward(block, target, route), block, xs!, ws!, bias && bound[2], bound[bound.length - 1]!, c.a, residual && bound[bias ? 3 : 2]);
  };
  return runSplit(engine, s, record, split ?? planSplit(engine, s))[0]!;
}

/** Runs one block's plan over its `batch` images, every operand within a binding. */
function runRoute(
  engine: Engine,
  plan: ForwardPlan,
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
  if (plan.route === 'winograd2' || plan.route === 'winograd4') {
    runWinograd(engine, p, plan, x, weight, bias, out, batch, residual);
    return;
  }
  // The weights padded with zero columns to the plan's K (im2col rows; the subgroup kernel's vec4 loads).
  const kp = plan.k;
  const w = kp === K ? weight : padColumns(engine, weight, 1, p.outChannels, K, kp, K, 0, 0);
  const common = {
    name: p.op,
    a: w,
    out,
    M: Og,
    K: kp,
    batch,
    tile: plan.gemm,
    groups: G,
    bias,
    biasPer: 'row' as const,
    biasGroupStride: Og,
    residual,
    relu: p.relu,
  };
  if (plan.route === 'im2col') {
    runIm2col(engine, p, x, batch, kp, plan.columnImages, plan.columnRows, (cols, n0, nb, p0, pc, rowLength) =>
      gemm(engine, {
        ...common,
        b: cols,
        N: pc,
        ldb: rowLength,
        ldc: P,
        batch: nb,
        strides: { a: [0, Og * kp], b: [G * kp * rowLength, kp * rowLength], c: [p.outChannels * P, Og * P] },
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
    strides: { a: [0, Og * kp], b: [p.inChannels * plane, Cg * plane], c: [p.outChannels * P, Og * P] },
    conv:
      plan.route === 'implicit'
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
  if (w !== weight) w.dispose();
}

const IM2COL_WG = 64;

function im2colKernel(): KernelSpec {
  return { name: 'im2col', shader: 'im2col', defines: { WG: IM2COL_WG }, bindings: ['uniform', 'read', 'write'] };
}

/**
 * Writes im2col columns chunk by chunk, `images` images or one image's `rowsPerChunk` output rows
 * at a time (the plan's sizes, under the binding limit), and hands each to `consume` before the
 * next is written. A chunk is [images, groups, kRows, rowLength]: rowLength is the chunk's
 * positions rounded up to a multiple of 4, with zeros in the padding.
 */
function runIm2col(
  engine: Engine,
  p: ConvProblem,
  x: Tensor,
  batch: number,
  kRows: number,
  images: number,
  rowsPerChunk: number,
  consume: (cols: Tensor, image0: number, images: number, position0: number, positions: number, rowLength: number) => void,
): void {
  const G = p.groups;
  const Cg = p.inChannels / G;
  const [, outH, outW] = p.output;
  const outRows = p.output[0] * outH;
  const roundUp4 = (n: number) => Math.ceil(n / 4) * 4;
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
