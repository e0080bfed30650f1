// Convolution backward passes (conv1d, conv2d, conv3d), all on the GEMM core:
// - bias gradient: sumPerChannel(gradOut);
// - weight gradient, two routes: gradOut_g x im2col(x)_g^T, one GEMM reducing over every image
//   and output position (conv-backward-columns.ts); or, with stride 1, one GEMM per kernel tap
//   over x padded and channels last, each reading it shifted by whole rows, so no im2col buffer
//   (conv-backward-shifted.ts);
// - input gradient, two routes:
//   'transposed': with stride 1 and symmetric padding p <= d(k - 1), the input gradient is itself
//     a convolution: of gradOut with the kernel flipped and its channel axes swapped, padding
//     d(k - 1) - p, the same dilation and groups. It runs through the forward convolution, with
//     its routes (implicit GEMM, im2col, 1x1 GEMM, Winograd), so it is as fast as a forward pass;
//   'col2im': W_g^T x gradOut_g into columns, then col2im sums each input element's taps (each
//     input row owned by one invocation: no atomics, deterministic); any stride, dilation,
//     padding and groups.
// Which routes: the planner's (conv-plan.ts), for the engine's device profile and the whole
// problem. Past the binding limit the runtime chunker splits the weight gradient and the column
// input gradient as the forward pass is split (convUnits), each block planned on those routes; the
// transposed input gradient is a forward convolution, split as one.
// Every argument is checked (with the forward's rules and messages, and gradOut's shape against
// the forward's output) and the routes chosen before anything is recorded.
import { planSplit, runSplit, type Split, type SplitPlan } from '../runtime/split.js';
import type { Tensor } from '../runtime/tensor.js';
import { shapeString } from '../runtime/tensor.js';
import { expectSameEngine, fail } from './check.js';
import { checkConv, type ConvOptions, type ConvProblem, type InputGradientRoute, type WeightGradientRoute } from './conv-args.js';
import { columnsBackward } from './conv-backward-columns.js';
import { shiftedWeightGradient } from './conv-backward-shifted.js';
import { backwardScratch, convUnits, planBlock, planRoutes, transposedProblem, type ConvRoutes } from './conv-plan.js';
import { convolve, planConvolve } from './conv.js';
import { addInPlace } from './elementwise.js';
import { sumPerChannel } from './reduce.js';
import { transposeAxes } from './transpose-axes.js';

/** Which gradients to compute (the others are neither computed nor allocated). */
export interface ConvBackwardNeeds {
  input: boolean;
  weight: boolean;
  bias: boolean;
}

/** New tensors the caller owns: gradInput shaped like x, gradWeight like weight, gradBias [O]. */
export interface ConvGradients {
  gradInput?: Tensor;
  gradWeight?: Tensor;
  gradBias?: Tensor;
}

export interface ConvBackwardOptions extends ConvOptions {
  /**
   * How the input gradient is computed: 'auto' (default) takes 'transposed' where it applies
   * (stride 1, symmetric padding no larger than the dilated kernel's reach) and is expected to be
   * faster, 'col2im' elsewhere; forcing 'transposed' where it does not apply is an error.
   * `algorithm` picks the forward route of that transposed convolution.
   */
  inputGradient?: InputGradientRoute;
  /**
   * How the weight gradient is computed: 'im2col' (gradOut x im2col(x)^T, any convolution),
   * 'shifted' (stride 1 only: one GEMM per kernel tap over x padded and channels last, no im2col
   * buffer) or 'auto' (default: 'shifted' where it is expected to be faster).
   */
  weightGradient?: WeightGradientRoute;
}

const ALL: ConvBackwardNeeds = { input: true, weight: true, bias: true };

/** Gradients of conv1d: gradOut [N, O, L'] (or [O, L']), x [N, C, L] (or [C, L]), weight [O, C/groups, K]. */
export function conv1dBackward(gradOut: Tensor, x: Tensor, weight: Tensor, options: ConvBackwardOptions = {}, needs: ConvBackwardNeeds = ALL): ConvGradients {
  return convBackward('conv1dBackward', 1, gradOut, x, weight, options, needs);
}

/** Gradients of conv2d: gradOut [N, O, H', W'] (or unbatched), x [N, C, H, W], weight [O, C/groups, KH, KW]. */
export function conv2dBackward(gradOut: Tensor, x: Tensor, weight: Tensor, options: ConvBackwardOptions = {}, needs: ConvBackwardNeeds = ALL): ConvGradients {
  return convBackward('conv2dBackward', 2, gradOut, x, weight, options, needs);
}

/** Gradients of conv3d: gradOut [N, O, D', H', W'] (or unbatched), x [N, C, D, H, W], weight [O, C/groups, KD, KH, KW]. */
export function conv3dBackward(gradOut: Tensor, x: Tensor, weight: Tensor, options: ConvBackwardOptions = {}, needs: ConvBackwardNeeds = ALL): ConvGradients {
  return convBackward('conv3dBackward', 3, gradOut, x, weight, options, needs);
}

function checkNeeds(op: string, needs: ConvBackwardNeeds): void {
  const ok = typeof needs === 'object' && needs !== null && (['input', 'weight', 'bias'] as const).every((k) => typeof needs[k] === 'boolean');
  if (!ok) fail(op, `needs must be { input: boolean, weight: boolean, bias: boolean }, got ${JSON.stringify(needs)}`);
}

function convBackward(
  op: string,
  dims: 1 | 2 | 3,
  gradOut: Tensor,
  x: Tensor,
  weight: Tensor,
  options: ConvBackwardOptions,
  needs: ConvBackwardNeeds,
): ConvGradients {
  expectSameEngine(op, gradOut, x, weight);
  checkNeeds(op, needs);
  const p = checkConv(op, dims, x, weight, undefined, options);
  if (p.relu) fail(op, 'relu: true belongs to the forward pass only; apply reluBackward to gradOut first');
  if (gradOut.shape.length !== p.shape.length || gradOut.shape.some((d, i) => d !== p.shape[i])) {
    fail(
      op,
      `expected gradOut of shape ${shapeString(p.shape)} (the output for input ${shapeString(x.shape)} and weight ${shapeString(weight.shape)}), ` +
        `got ${shapeString(gradOut.shape)}`,
    );
  }
  const routes = planRoutes(p, x.engine.planTarget, { forward: false, input: needs.input, weight: needs.weight });
  const engine = x.engine;
  // Batched views ([1, ...] for unbatched calls), disposed at the end.
  const xb = x.reshape([p.batch, p.inChannels, ...x.shape.slice(x.rank - dims)]);
  const gb = gradOut.reshape([p.batch, p.outChannels, ...gradOut.shape.slice(gradOut.rank - dims)]);
  const result: ConvGradients = {};
  try {
    // The weight gradient and the column route's input gradient go block by block; the transposed
    // input gradient is a convolution. Both splits are planned (or refused) before anything is recorded.
    const blockRoutes: ConvRoutes = { weight: routes.weight, input: routes.input === 'col2im' ? 'col2im' : undefined };
    const blocks = blockRoutes.weight || blockRoutes.input ? gradientSplit(p, blockRoutes, gb, xb, weight) : undefined;
    const blocksPlan = blocks && planSplit(engine, blocks);
    const transposed = routes.input === 'transposed' ? planTransposed(p, gb, weight) : undefined;
    if (needs.bias) result.gradBias = sumPerChannel(gb);
    if (p.batch === 0) {
      if (needs.weight) result.gradWeight = engine.zeros(weight.shape);
      if (needs.input) result.gradInput = engine.empty(x.shape);
      return result;
    }
    if (blocks) Object.assign(result, splitGradients(p, blockRoutes, blocks, blocksPlan!, weight));
    const gradInput = transposed ? transposedInputGradient(p, gb, weight, transposed) : result.gradInput;
    if (gradInput) {
      result.gradInput = gradInput.reshape(x.shape);
      gradInput.dispose();
    }
    return result;
  } finally {
    xb.dispose();
    gb.dispose();
  }
}

/**
 * How the weight gradient (shifted or column route) and/or the column route's input gradient
 * split, as the forward convolution does (convUnits): by images, the weight gradient summed over
 * them; an image too big alone by output channels or groups, whose input gradients (groups 1) add up.
 */
function gradientSplit(p: ConvProblem, routes: ConvRoutes, gradOut: Tensor, x: Tensor, weight: Tensor): Split {
  const u = convUnits(p);
  const sum = (acc: Tensor, part: Tensor) => addInPlace(acc, part);
  const [wantWeight, wantInput] = [routes.weight !== undefined, routes.input !== undefined];
  return {
    op: p.op,
    axes: u.axes,
    operands: [
      { name: 'gradOut', input: gradOut, per: u.output },
      { name: 'x', input: x, per: u.x },
      // The input gradient reads the weight (transposed), the weight gradient does not.
      ...(wantInput ? [{ name: 'weight', input: weight, per: u.weight }] : []),
      ...(wantWeight ? [{ name: 'gradWeight', output: weight.shape, per: u.weight, combine: sum }] : []),
      ...(wantInput ? [{ name: 'gradInput', output: x.shape, per: u.x, combine: sum }] : []),
    ],
    // The routes' scratch chunks over images by itself: a block's least is one image's.
    otherBytes: (_images, units) => 4 * backwardScratch(u.block({ a0: 0, a: 1, b0: 0, b: units }), routes),
  };
}

/** Runs gradientSplit's split (`plan`: its plan), each block on its own plan for `routes`. */
function splitGradients(p: ConvProblem, routes: ConvRoutes, split: Split, plan: SplitPlan, weight: Tensor): ConvGradients {
  const engine = weight.engine;
  const u = convUnits(p);
  const [wantWeight, wantInput] = [routes.weight !== undefined, routes.input !== undefined];
  const outputs = runSplit(
    engine,
    split,
    (bound, c) => {
      const [gs, xs] = bound;
      const ws = wantInput ? bound[2]! : weight;
      const gradWeight = wantWeight ? bound[wantInput ? 3 : 2] : undefined;
      const gradInput = wantInput ? bound[bound.length - 1] : undefined;
      const block = u.block(c);
      const blockPlan = planBlock(block, engine.planTarget, routes);
      if (blockPlan.columns) columnsBackward(block, blockPlan, gs!, xs!, ws, { gradWeight: routes.weight === 'im2col' ? gradWeight : undefined, gradInput });
      if (blockPlan.weightGradient?.route === 'shifted') shiftedWeightGradient(block, blockPlan.weightGradient, gs!, xs!, gradWeight!);
    },
    plan,
  );
  return { gradWeight: wantWeight ? outputs[0] : undefined, gradInput: wantInput ? outputs[wantWeight ? 1 : 0] : undefined };
}

/** The flipped, channel-swapped kernel's shape: [C, O/groups, k...]. */
function flippedShape(p: ConvProblem, weight: Tensor): number[] {
  return [p.inChannels, p.outChannels / p.groups, ...weight.shape.slice(2)];
}

/** The transposed input gradient's split, planned on a view of the weight shaped as its flip (only shapes are read). */
function planTransposed(p: ConvProblem, gradOut: Tensor, weight: Tensor): SplitPlan {
  const shaped = weight.reshape(flippedShape(p, weight));
  try {
    return planConvolve(transposedProblem(p), gradOut, shaped);
  } finally {
    shaped.dispose();
  }
}

/**
 * The input gradient as the convolution of gradOut with the flipped, channel-swapped kernel
 * (padding d(k - 1) - p, the same dilation, groups and forced algorithm): a forward convolution,
 * on the route the planner chooses for it, split as `plan` (planTransposed's) says.
 */
function transposedInputGradient(p: ConvProblem, gradOut: Tensor, weight: Tensor, plan: SplitPlan): Tensor {
  const engine = gradOut.engine;
  const G = p.groups;
  const Og = p.outChannels / G;
  const Cg = p.inChannels / G;
  const kernelDims = weight.shape.slice(2);
  // [G][Og][Cg][k] -> [G][Cg][Og][k reversed] = [C, Og, k...].
  const flipped = transposeAxes(engine, weight, { groups: G, a: Og, b: Cg, l: kernelDims.reduce((a, b) => a * b, 1), reverse: true }, flippedShape(p, weight));
  try {
    return convolve(transposedProblem(p), gradOut, flipped, undefined, undefined, plan);
  } finally {
    flipped.dispose();
  }
}
