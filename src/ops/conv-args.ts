// Argument checking and output shapes for conv1d / conv2d / conv3d, with PyTorch's rules and
// messages. Every convolution is described in three spatial dimensions (depth, height, width);
// conv2d has depth 1 and conv1d has depth and height 1.
import { shapeString } from '../runtime/tensor.js';
import type { Shape, Tensor } from '../runtime/tensor.js';
import { expectSameEngine, expectTensor, fail, tuple } from './check.js';

export interface ConvOptions {
  stride?: number | number[];
  padding?: number | number[] | 'same' | 'valid';
  dilation?: number | number[];
  groups?: number;
  relu?: boolean;
  /** Added to the output before the ReLU, in the GEMM's epilogue; shaped like the output. */
  residual?: Tensor;
  /** 'auto' picks per shape; the others force one path (the tests run each). */
  algorithm?: ConvAlgorithm;
}

/**
 * How a convolution is computed: 'implicit' GEMM (im2col inside the GEMM's loads), an explicit
 * 'im2col' buffer feeding the GEMM, or Winograd F(2x2, 3x3) / F(4x4, 3x3) ('winograd2',
 * 'winograd4': conv2d with 3x3 kernels, stride 1, dilation 1 and groups 1 only). 'auto' picks
 * per shape.
 */
export type ConvAlgorithm = 'auto' | 'implicit' | 'im2col' | 'winograd2' | 'winograd4';

/** A convolution's options as the op registry and graphs hold them: the residual is an operand there. */
export type ConvAttributes = Omit<ConvOptions, 'residual'>;

/** How the input gradient is computed: see ConvBackwardOptions (conv-backward.ts). */
export type InputGradientRoute = 'auto' | 'transposed' | 'col2im';
/** How the weight gradient is computed: see ConvBackwardOptions (conv-backward.ts). */
export type WeightGradientRoute = 'auto' | 'shifted' | 'im2col';

/** The routes a caller may force: the convolution planner's overrides (conv-plan.ts), checked here. */
export interface ConvRouteOptions {
  algorithm?: ConvAlgorithm;
  inputGradient?: InputGradientRoute;
  weightGradient?: WeightGradientRoute;
}

const ALGORITHMS: readonly ConvAlgorithm[] = ['auto', 'implicit', 'im2col', 'winograd2', 'winograd4'];
const INPUT_GRADIENTS: readonly InputGradientRoute[] = ['auto', 'transposed', 'col2im'];
const WEIGHT_GRADIENTS: readonly WeightGradientRoute[] = ['auto', 'shifted', 'im2col'];

type Triple = [number, number, number];

/** A checked convolution: sizes of every operand, spatial values as [depth, height, width]. */
export interface ConvProblem {
  op: string;
  /** Spatial dimensions of the op (1, 2 or 3). */
  dims: number;
  /** Whether the input had no batch dimension (the output then has none either). */
  unbatched: boolean;
  batch: number;
  inChannels: number;
  outChannels: number;
  groups: number;
  input: Triple;
  kernel: Triple;
  stride: Triple;
  dilation: Triple;
  /** Padding before the first element; the end padding follows from the output size. */
  padBefore: Triple;
  output: Triple;
  relu: boolean;
  /** Forced routes ('auto' where the planner chooses). */
  algorithm: ConvAlgorithm;
  inputGradient: InputGradientRoute;
  weightGradient: WeightGradientRoute;
  shape: number[];
}

/** Lifts a per-op tuple (length dims) to [depth, height, width], filling missing leading axes with `fill`. */
function lift(values: number[], fill: number): Triple {
  const t: number[] = [fill, fill, fill];
  t.splice(3 - values.length, values.length, ...values);
  return t as Triple;
}

function sizes(xs: number[]): string {
  return `(${xs.join(' x ')})`;
}

export function checkConv(op: string, dims: number, x: Tensor, weight: Tensor, bias: Tensor | undefined, options: ConvOptions & ConvRouteOptions): ConvProblem {
  expectTensor(op, 'the input', x);
  expectTensor(op, 'the weight', weight);
  expectSameEngine(op, x, weight, bias, options.residual);
  return convProblem(op, dims, x.shape, weight.shape, bias?.shape, options, options.residual?.shape);
}

/**
 * A convolution's checks and output shape from shapes alone (the graph's shape inference runs it
 * before any tensor exists); `checkConv` adds the tensors' own checks.
 */
export function convProblem(
  op: string,
  dims: number,
  xShape: Shape,
  weightShape: Shape,
  biasShape: Shape | undefined,
  options: ConvAttributes & ConvRouteOptions,
  residualShape?: Shape,
): ConvProblem {
  const x = { shape: xShape, rank: xShape.length };
  const weight = { shape: weightShape, rank: weightShape.length };
  const bias = biasShape && { shape: biasShape, rank: biasShape.length };
  const layout = ['D', 'H', 'W'].slice(3 - dims);
  if (weight.rank !== dims + 2) {
    fail(op, `expected weight of rank ${dims + 2} [out, in / groups, ${layout.map((a) => 'k' + a).join(', ')}], got ${shapeString(weight.shape)}`);
  }
  if (x.rank !== dims + 2 && x.rank !== dims + 1) {
    fail(op, `expected input of rank ${dims + 1} (unbatched) or ${dims + 2} (batched [N, C, ${layout.join(', ')}]), got ${shapeString(x.shape)}`);
  }
  const unbatched = x.rank === dims + 1;
  const xs = unbatched ? [1, ...x.shape] : [...x.shape];
  const groups = options.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) fail(op, `groups must be a positive integer, got ${groups}`);
  const outChannels = weight.shape[0]!;
  const inChannels = xs[1]!;
  if (outChannels % groups !== 0) {
    fail(op, `out channels ${outChannels} (weight ${shapeString(weight.shape)}) must be divisible by groups ${groups}`);
  }
  if (inChannels % groups !== 0) {
    fail(op, `in channels ${inChannels} (input ${shapeString(x.shape)}) must be divisible by groups ${groups}`);
  }
  if (inChannels !== weight.shape[1]! * groups) {
    fail(
      op,
      `expected input with ${weight.shape[1]! * groups} channels (weight ${shapeString(weight.shape)}, groups ${groups}), got input ${shapeString(x.shape)}`,
    );
  }
  const kernel = weight.shape.slice(2);
  if (kernel.some((k) => k < 1)) fail(op, `kernel size must be positive, got weight ${shapeString(weight.shape)}`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== outChannels)) {
    fail(op, `expected bias of shape [${outChannels}], got ${shapeString(bias.shape)}`);
  }
  const stride = tuple(op, 'stride', options.stride ?? 1, dims, 1);
  const dilation = tuple(op, 'dilation', options.dilation ?? 1, dims, 1);
  const input = xs.slice(2);
  const span = kernel.map((k, i) => dilation[i]! * (k - 1) + 1);
  const padding = options.padding ?? 0;
  let padBefore: number[];
  let padTotal: number[];
  if (padding === 'valid') {
    padBefore = Array(dims).fill(0);
    padTotal = padBefore;
  } else if (padding === 'same') {
    if (stride.some((s) => s !== 1)) fail(op, `padding='same' is not supported for strided convolutions (stride ${JSON.stringify(options.stride)})`);
    // As PyTorch: total padding d*(k-1); the odd element goes after.
    padTotal = span.map((s) => s - 1);
    padBefore = padTotal.map((t) => Math.floor(t / 2));
  } else if (typeof padding === 'string') {
    fail(op, `padding must be 'same', 'valid', an integer >= 0 or a tuple of ${dims} of them, got '${padding}'`);
  } else {
    padBefore = tuple(op, 'padding', padding, dims, 0);
    padTotal = padBefore.map((p) => 2 * p);
  }
  const padded = input.map((n, i) => n + padTotal[i]!);
  const output = padded.map((n, i) => Math.floor((n - span[i]!) / stride[i]!) + 1);
  if (padded.some((n, i) => n < span[i]!)) {
    fail(
      op,
      `kernel size ${sizes(kernel)} with dilation ${sizes(dilation)} spans ${sizes(span)}, larger than the padded input ${sizes(padded)}: ` +
        `the output size would be non-positive ${sizes(output.map((o) => Math.max(o, 0)))}`,
    );
  }
  const algorithm = options.algorithm ?? 'auto';
  if (!ALGORITHMS.includes(algorithm)) {
    fail(op, `algorithm must be one of ${ALGORITHMS.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(algorithm)}`);
  }
  const inputGradient = options.inputGradient ?? 'auto';
  if (!INPUT_GRADIENTS.includes(inputGradient)) fail(op, `inputGradient must be 'auto', 'transposed' or 'col2im', got ${JSON.stringify(inputGradient)}`);
  const weightGradient = options.weightGradient ?? 'auto';
  if (!WEIGHT_GRADIENTS.includes(weightGradient)) fail(op, `weightGradient must be 'auto', 'shifted' or 'im2col', got ${JSON.stringify(weightGradient)}`);
  const shape = [...(unbatched ? [] : [xs[0]!]), outChannels, ...output];
  const residual = residualShape;
  if (residual && (residual.length !== shape.length || residual.some((d, i) => d !== shape[i]))) {
    fail(op, `expected residual of the output's shape ${shapeString(shape)}, got ${shapeString(residual)}`);
  }
  return {
    op,
    dims,
    unbatched,
    batch: xs[0]!,
    inChannels,
    outChannels,
    groups,
    input: lift(input, 1),
    kernel: lift(kernel, 1),
    stride: lift(stride, 1),
    dilation: lift(dilation, 1),
    padBefore: lift(padBefore, 0),
    output: lift(output, 1),
    relu: options.relu ?? false,
    algorithm,
    inputGradient,
    weightGradient,
    shape,
  };
}

