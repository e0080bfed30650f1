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
// Every argument is checked (with the forward's rules and messages, and gradOut's shape against
// the forward's output) before anything is recorded.
import { runSplit, type Split } from '../runtime/split.js';
import type { Tensor } from '../runtime/tensor.js';
import { shapeString } from '../runtime/tensor.js';
import { expectSameEngine, fail } from './check.js';
import { checkConv, type ConvOptions, type ConvProblem } from './conv-args.js';
import { columnsBackward, columnsScratch } from './conv-backward-columns.js';
import { preferShifted, shiftedApplies, shiftedScratch, shiftedWeightGradient } from './conv-backward-shifted.js';
import { conv1d, conv2d, conv3d, convUnits } from './conv.js';
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
  inputGradient?: 'auto' | 'transposed' | 'col2im';
  /**
   * How the weight gradient is computed: 'im2col' (gradOut x im2col(x)^T, any convolution),
   * 'shifted' (stride 1 only: one GEMM per kernel tap over x padded and channels last, no im2col
   * buffer) or 'auto' (default: 'shifted' where it is expected to be faster).
   */
  weightGradient?: 'auto' | 'shifted' | 'im2col';
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

/** Padding after the input on each axis, as the forward pass's output size implies it. */
function padAfter(p: ConvProblem): number[] {
  return p.input.map((n, i) => (p.output[i]! - 1) * p.stride[i]! + p.dilation[i]! * (p.kernel[i]! - 1) + 1 - n - p.padBefore[i]!);
}

/** Whether the input gradient is a stride-1 convolution of gradOut (see the file comment). */
function transposable(p: ConvProblem): boolean {
  const after = padAfter(p);
  return p.stride.every((s) => s === 1) && p.padBefore.every((q, i) => q === after[i] && q <= p.dilation[i]! * (p.kernel[i]! - 1));
}

const product = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/**
 * Where both routes apply, which is faster (measured on lavapipe). A 1x1 convolution's transpose
 * is a plain GEMM. Else the transposed convolution's GEMM has C/groups rows, so with few of them
 * most of each tile idles (Fashion-MNIST's 1 -> 32 layer: 2-5x slower than col2im); and it does
 * input/output positions times the forward's FLOPs, while col2im's GEMM does exactly the
 * forward's but writes and reads a column buffer: at 1.36x (a 'valid' 3x3 on 14x14 inputs, which
 * the forward runs as Winograd) the transposed route was still ~30% faster, at 1x ('same', 64
 * channels @ 56x56) 2-3x faster.
 */
function preferTransposed(p: ConvProblem): boolean {
  if (product(p.kernel) === 1) return true;
  return p.inChannels / p.groups >= 8 && product(p.input) <= 1.5 * product(p.output);
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
  const route = options.inputGradient ?? 'auto';
  if (!['auto', 'transposed', 'col2im'].includes(route)) {
    fail(op, `inputGradient must be 'auto', 'transposed' or 'col2im', got ${JSON.stringify(route)}`);
  }
  const weightRoute = options.weightGradient ?? 'auto';
  if (!['auto', 'shifted', 'im2col'].includes(weightRoute)) {
    fail(op, `weightGradient must be 'auto', 'shifted' or 'im2col', got ${JSON.stringify(weightRoute)}`);
  }
  if (gradOut.shape.length !== p.shape.length || gradOut.shape.some((d, i) => d !== p.shape[i])) {
    fail(
      op,
      `expected gradOut of shape ${shapeString(p.shape)} (the output for input ${shapeString(x.shape)} and weight ${shapeString(weight.shape)}), ` +
        `got ${shapeString(gradOut.shape)}`,
    );
  }
  const engine = x.engine;
  const maxBinding = engine.maxBindingBytes;
  // The transposed route flips the whole weight in one dispatch; the column route splits it by output channels.
  const flips = weight.size * 4 <= maxBinding;
  const useTransposed = needs.input && (route === 'transposed' || (route === 'auto' && transposable(p) && flips && preferTransposed(p)));
  if (useTransposed && !transposable(p)) {
    fail(op, `inputGradient 'transposed' needs stride 1 and symmetric padding no larger than dilation * (kernel - 1) on every axis`);
  }
  if (useTransposed && !flips) {
    fail(op, `inputGradient 'transposed' flips the whole weight ${shapeString(weight.shape)} (${weight.size * 4} bytes), over the binding limit of ${maxBinding} bytes; use 'col2im' or 'auto'`);
  }

  const useShifted = needs.weight && (weightRoute === 'shifted' || (weightRoute === 'auto' && preferShifted(p, maxBinding)));
  if (useShifted && !shiftedApplies(p, maxBinding)) {
    fail(op, `weightGradient 'shifted' needs stride 1 and one image's padded copy within the binding limit of ${maxBinding} bytes`);
  }
  // Batched views ([1, ...] for unbatched calls), disposed at the end.
  const xb = x.reshape([p.batch, p.inChannels, ...x.shape.slice(x.rank - dims)]);
  const gb = gradOut.reshape([p.batch, p.outChannels, ...gradOut.shape.slice(gradOut.rank - dims)]);
  const result: ConvGradients = {};
  try {
    if (needs.bias) result.gradBias = sumPerChannel(gb);
    if (p.batch === 0) {
      if (needs.weight) result.gradWeight = engine.zeros(weight.shape);
      if (needs.input) result.gradInput = engine.empty(x.shape);
      return result;
    }
    const viaColumns = needs.input && !useTransposed;
    if (needs.weight || viaColumns) Object.assign(result, splitGradients(p, gb, xb, weight, needs.weight, viaColumns, useShifted));
    const gradInput = useTransposed ? transposedInputGradient(p, gb, weight) : result.gradInput;
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
 * The weight gradient (shifted or column route) and/or the column route's input gradient,
 * split as the forward convolution is (convUnits): by images, the weight gradient summed over
 * them; an image too big alone by output channels or groups, whose input gradients (groups 1)
 * add up.
 */
function splitGradients(p: ConvProblem, gradOut: Tensor, x: Tensor, weight: Tensor, wantWeight: boolean, wantInput: boolean, shifted: boolean): ConvGradients {
  const u = convUnits(p);
  const sum = (acc: Tensor, part: Tensor) => addInPlace(acc, part);
  const columnsWeight = wantWeight && !shifted;
  const split: Split = {
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
    otherBytes: (_images, units) => {
      const block = u.block({ a0: 0, a: 1, b0: 0, b: units });
      const columns = columnsWeight || wantInput ? columnsScratch(block, wantInput) : 0;
      return 4 * Math.max(columns, shifted ? shiftedScratch(block) : 0);
    },
  };
  const outputs = runSplit(x.engine, split, (bound, c) => {
    const [gs, xs] = bound;
    const ws = wantInput ? bound[2] : undefined;
    const [gradWeight, gradInput] = [wantWeight ? bound[wantInput ? 3 : 2] : undefined, wantInput ? bound[bound.length - 1] : undefined];
    const block = u.block(c);
    if (columnsWeight || gradInput) columnsBackward(block, gs!, xs!, ws ?? weight, { gradWeight: columnsWeight ? gradWeight : undefined, gradInput });
    if (shifted && gradWeight) shiftedWeightGradient(block, gs!, xs!, gradWeight);
  });
  return { gradWeight: wantWeight ? outputs[0] : undefined, gradInput: wantInput ? outputs[wantWeight ? 1 : 0] : undefined };
}

/** The input gradient as the convolution of gradOut with the flipped, channel-swapped kernel. */
function transposedInputGradient(p: ConvProblem, gradOut: Tensor, weight: Tensor): Tensor {
  const engine = gradOut.engine;
  const G = p.groups;
  const Og = p.outChannels / G;
  const Cg = p.inChannels / G;
  const kernelDims = weight.shape.slice(2);
  // [G][Og][Cg][k] -> [G][Cg][Og][k reversed] = [C, Og, k...].
  const flipped = transposeAxes(engine, weight, { groups: G, a: Og, b: Cg, l: kernelDims.reduce((a, b) => a * b, 1), reverse: true }, [
    p.inChannels,
    Og,
    ...kernelDims,
  ]);
  const axes = [0, 1, 2].slice(3 - p.dims);
  const options: ConvOptions = {
    padding: axes.map((i) => p.dilation[i]! * (p.kernel[i]! - 1) - p.padBefore[i]!),
    dilation: axes.map((i) => p.dilation[i]!),
    groups: G,
    algorithm: p.algorithm,
  };
  const forward = p.dims === 1 ? conv1d : p.dims === 2 ? conv2d : conv3d;
  try {
    return forward(gradOut, flipped, undefined, options);
  } finally {
    flipped.dispose();
  }
}
