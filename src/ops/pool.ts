// Pooling ops with PyTorch's semantics (torch.nn.functional.max_pool1d/2d, avg_pool2d,
// adaptive_avg_pool2d) and their backward passes: argument checks and output shapes here, kernels
// in shaders/pool.wgsl.
import { grid1d } from '../runtime/engine.js';
import type { BindingKind, KernelSpec } from '../runtime/kernel.js';
import { runSplit, type Split } from '../runtime/split.js';
import { numel, shapeString, type DType, type Shape, type Tensor } from '../runtime/tensor.js';
import { params, type ParamWriter } from '../runtime/uniforms.js';
import { reluRef } from '../reference/elementwise.js';
import { adaptiveAvgPool2dRef, avgPool2dRef, maxPool1dRef, maxPool2dRef } from '../reference/pool.js';
import { expectRank, expectSameEngine, fail, tuple } from './check.js';
import { reluBackward } from './elementwise.js';
import { defineOp, narrow, type AnyTensor, type Op } from './registry.js';

export interface MaxPoolOptions {
  kernelSize: number | number[];
  /** Defaults to kernelSize. */
  stride?: number | number[];
  padding?: number | number[];
  dilation?: number | number[];
  ceilMode?: boolean;
}

export interface AvgPoolOptions {
  kernelSize: number | number[];
  /** Defaults to kernelSize. */
  stride?: number | number[];
  padding?: number | number[];
  ceilMode?: boolean;
  /** Whether padded cells count in the divisor (default true, as PyTorch). */
  countIncludePad?: boolean;
  /** Divides every window's sum by this instead. */
  divisorOverride?: number;
}

/** Invocations per workgroup of the one-invocation-per-output kernels. */
const WG = 64;

/** Where a pooling window sits, per spatial axis (height, width). */
interface PoolGeometry {
  planes: number;
  h: number;
  w: number;
  oh: number;
  ow: number;
  kernel: number[];
  stride: number[];
  padding: number[];
  dilation: number[];
  /** The output's shape, of the input's rank. */
  shape: number[];
  /** The window arguments, for error messages. */
  window: string;
}

interface WindowOptions {
  kernelSize: number | number[];
  stride?: number | number[];
  padding?: number | number[];
  dilation?: number | number[];
  ceilMode?: boolean;
}

/** An int-or-tuple argument with `dims` entries (a one-element tuple stands for all of them). */
function expand(op: string, name: string, v: number | readonly number[], dims: number, min: number): number[] {
  return tuple(op, name, Array.isArray(v) && v.length === 1 ? v[0]! : v, dims, min);
}

function list(xs: readonly number[]): string {
  return `[${xs.join(', ')}]`;
}

/** PyTorch's pooling_output_shape: floor (or ceil) division, and a last window that starts inside the input or left padding. */
function pooledSize(size: number, k: number, s: number, p: number, d: number, ceilMode: boolean): number {
  let out = Math.floor((size + 2 * p - d * (k - 1) - 1 + (ceilMode ? s - 1 : 0)) / s) + 1;
  if (ceilMode && (out - 1) * s >= size + p) out -= 1;
  return out;
}

/**
 * Checks the shape of a pooling input: rank dims + 1 or dims + 2, and (as PyTorch) an empty batch
 * but no empty channel or spatial dimension.
 */
function expectPoolInput(op: string, shape: Shape, dims: 1 | 2): void {
  expectRank(op, 'input', shape, [dims + 1, dims + 2]);
  const batched = shape.length === dims + 2;
  if (shape.some((n, i) => n === 0 && !(batched && i === 0))) {
    fail(op, `expected an input with non-zero channel and spatial sizes (the batch may be empty), got ${shapeString(shape)}`);
  }
}

/**
 * Checks a pooling call on an input of `shape` and works out its geometry. `dims` is 1 ([N, C, L]
 * or [C, L], run as 2-D with H = 1) or 2 ([N, C, H, W] or [C, H, W]).
 */
function poolGeometry(op: string, shape: Shape, o: WindowOptions, dims: 1 | 2, hasDilation: boolean): PoolGeometry {
  expectPoolInput(op, shape, dims);
  const kernel = expand(op, 'kernelSize', o.kernelSize, dims, 1);
  const stride = o.stride === undefined ? kernel : expand(op, 'stride', o.stride, dims, 1);
  const padding = expand(op, 'padding', o.padding ?? 0, dims, 0);
  const dilation = expand(op, 'dilation', o.dilation ?? 1, dims, 1);
  const ceilMode = o.ceilMode ?? false;
  const window = `kernelSize ${list(kernel)}, stride ${list(stride)}, padding ${list(padding)}` + (hasDilation ? ` and dilation ${list(dilation)}` : '');
  // PyTorch checks padding against the dilated window first, then against the kernel itself.
  if (padding.some((p, i) => p > Math.floor((dilation[i]! * (kernel[i]! - 1) + 1) / 2))) {
    fail(op, `pad should be at most half of effective kernel size, but got ${window}`);
  }
  if (padding.some((p, i) => p > Math.floor(kernel[i]! / 2))) {
    fail(op, `pad should be smaller than or equal to half of kernel size, but got ${window}`);
  }
  const spatial = shape.slice(-dims);
  const out = spatial.map((n, i) => pooledSize(n, kernel[i]!, stride[i]!, padding[i]!, dilation[i]!, ceilMode));
  if (out.some((n) => n <= 0)) {
    fail(op, `output size is too small: computed ${list(out)} from input ${shapeString(shape)} with ${window}`);
  }
  const lead = shape.slice(0, -dims);
  const planes = numel(lead);
  const pooled = [...lead, ...out];
  // 1-D pools are the 2-D kernel over planes of height 1.
  const axis = (v: number[], one: number): number[] => (dims === 1 ? [one, v[0]!] : v);
  const [h, w] = axis(spatial, 1);
  const [oh, ow] = axis(out, 1);
  return {
    planes,
    h: h!,
    w: w!,
    oh: oh!,
    ow: ow!,
    kernel: axis(kernel, 1),
    stride: axis(stride, 1),
    padding: axis(padding, 0),
    dilation: axis(dilation, 1),
    shape: pooled,
    window,
  };
}

function poolKernel(entryPoint: string, bindings: readonly BindingKind[], wg = WG, fusion: { norm?: boolean; relu?: boolean } = {}): KernelSpec {
  const { norm = false, relu = false } = fusion;
  const name = `pool.${entryPoint}` + (norm ? '+norm' : '') + (relu ? '+relu' : '');
  return { name, shader: 'pool', entryPoint, defines: { WG: wg, NORM: norm, RELU: relu }, bindings };
}

const MAX_POOL = poolKernel('max_pool', ['uniform', 'read', 'write']);
const MAX_POOL_INDICES = poolKernel('max_pool_indices', ['uniform', 'read', 'write', 'write']);
const AVG_POOL = poolKernel('avg_pool', ['uniform', 'read', 'write']);
const ADAPTIVE_AVG_POOL = poolKernel('adaptive_avg_pool', ['uniform', 'read', 'write']);
// Backward kernels read the output gradient and write the input gradient; max pooling also reads the argmax.
const MAX_POOL_BACKWARD = poolKernel('max_pool_backward', ['uniform', 'read', 'write', 'read']);
const MAX_POOL_BACKWARD_PLANE = poolKernel('max_pool_backward_plane', ['uniform', 'read', 'write', 'read']);
// The fused and single-window kernels also read `aux` (coefficients forward, the pooled output backward).
const maxPoolFusedKernel = (norm: boolean, relu: boolean) => poolKernel('max_pool_fused', ['uniform', 'read', 'write', 'write', 'read'], WG, { norm, relu });
const maxPoolBackwardSingleKernel = (relu: boolean) => poolKernel('max_pool_backward_single', ['uniform', 'read', 'write', 'read', 'read'], WG, { relu });
const AVG_POOL_BACKWARD = poolKernel('avg_pool_backward', ['uniform', 'read', 'write']);
const ADAPTIVE_AVG_POOL_BACKWARD = poolKernel('adaptive_avg_pool_backward', ['uniform', 'read', 'write']);
const GLOBAL_AVG_POOL_BACKWARD = poolKernel('global_avg_pool_backward', ['uniform', 'read', 'write']);

/** shaders/pool.wgsl's Params, in its field order. */
function poolParams(g: PoolGeometry, total: number, divisorMode = 0, divisor = 0, channels = 1, firstPlane = 0): ParamWriter {
  return params()
    .u32(total, g.h, g.w, g.oh, g.ow)
    .u32(g.kernel[0]!, g.kernel[1]!, g.stride[0]!, g.stride[1]!, g.padding[0]!, g.padding[1]!, g.dilation[0]!, g.dilation[1]!)
    .u32(divisorMode)
    .f32(divisor)
    .u32(channels, firstPlane);
}

/**
 * How a per-plane kernel splits past the binding limit: by (n, c) planes (ResNet18's first max
 * pool reads 205 MB at batch 64). The inputs and outputs are `planes` equal planes each; `whole`
 * tensors (per-channel coefficients) are bound whole.
 */
export function planeSplit(
  op: string,
  planes: number,
  inputs: ReadonlyArray<readonly [string, AnyTensor]>,
  outputs: ReadonlyArray<readonly [string, Shape, DType?]>,
  whole: ReadonlyArray<readonly [string, AnyTensor]> = [],
): Split {
  const per = (elements: number) => [planes === 0 ? 0 : elements / planes] as const;
  return {
    op,
    axes: [{ name: 'plane', size: planes }],
    operands: [
      ...inputs.map(([name, t]) => ({ name, input: t, per: per(t.size) })),
      ...outputs.map(([name, shape, dtype]) => ({ name, output: shape, dtype, per: per(numel(shape)) })),
      ...whole.map(([name, t]) => ({ name, input: t, per: [0] as const })),
    ],
  };
}

function maxPool(op: string, x: Tensor, g: PoolGeometry, withIndices: boolean): Tensor[] {
  const outputs: Array<[string, Shape, DType]> = [['output', g.shape, 'float32']];
  if (withIndices) outputs.push(['indices', g.shape, 'int32']);
  return runSplit(x.engine, planeSplit(op, g.planes, [['x', x]], outputs), ([input, ...out], c) => {
    const total = c.a * g.oh * g.ow;
    x.engine.dispatch(withIndices ? MAX_POOL_INDICES : MAX_POOL, [input!, ...out], grid1d(total, WG), poolParams(g, total));
  });
}

/**
 * maxPool1d / maxPool2d as registered ops. Recorded calls also write each output's argmax (saved
 * for the backward pass, which sends the gradient there); plain calls do not.
 */
function defineMaxPool(name: string, dims: 1 | 2) {
  return defineOp<MaxPoolOptions, PoolGeometry>({
    name,
    operands: [{ name: 'x' }],
    check: ([x], options) => poolGeometry(name, x!, options, dims, true),
    forward: ([x], g, _options, record) => {
      if (!record) return maxPool(name, x!, g, false)[0]!;
      expectIndexable(name, g, x!.shape);
      const [output, indices] = maxPool(name, x!, g, true);
      return { output: output!, saved: { indices: indices! } };
    },
    backward: ({ gradOut, inputs: [x], saved, options }) => [maxPoolBackward(`${name}Backward`, gradOut, narrow(saved.indices, 'int32'), x!.shape, options, dims)],
    reference: ([x], options) => (dims === 2 ? maxPool2dRef : maxPool1dRef)(x!, options),
  });
}

export const maxPool2dOp = defineMaxPool('maxPool2d', 2);
export const maxPool1dOp = defineMaxPool('maxPool1d', 1);

/**
 * Max pooling over x [N, C, H, W] (or [C, H, W]), as F.max_pool2d: windows clipped to the input
 * (padding acts as -inf), the first maximum of a window wins, NaN propagates.
 */
export function maxPool2d(x: Tensor, options: MaxPoolOptions): Tensor {
  return maxPool2dOp.run([x], options);
}

/**
 * maxPool2d that also returns, per output, the flat index h * W + w of the chosen input within its
 * (n, c) plane (F.max_pool2d's return_indices), as int32.
 */
export function maxPool2dWithIndices(x: Tensor, options: MaxPoolOptions): { output: Tensor; indices: Tensor<'int32'> } {
  return maxPoolWithIndices(maxPool2dOp, x, options);
}

/** Max pooling over x [N, C, L] (or [C, L]), as F.max_pool1d: the 2-D kernel with H = 1. */
export function maxPool1d(x: Tensor, options: MaxPoolOptions): Tensor {
  return maxPool1dOp.run([x], options);
}

/** maxPool1d that also returns, per output, the position of the chosen input along L, as int32. */
export function maxPool1dWithIndices(x: Tensor, options: MaxPoolOptions): { output: Tensor; indices: Tensor<'int32'> } {
  return maxPoolWithIndices(maxPool1dOp, x, options);
}

/** The op's output with the argmax it saves when recorded. */
function maxPoolWithIndices(op: Op<MaxPoolOptions, PoolGeometry>, x: Tensor, options: MaxPoolOptions): { output: Tensor; indices: Tensor<'int32'> } {
  const { output, saved } = op.apply([x], options, true);
  return { output, indices: narrow(saved!.indices, 'int32') };
}

/** Indices within a plane are int32: a plane may hold at most 2^31 - 1 cells. */
function expectIndexable(op: string, g: PoolGeometry, inputShape: Shape): void {
  if (g.h * g.w > 2 ** 31 - 1) {
    fail(op, `planes of ${g.h * g.w} cells (input ${shapeString(inputShape)}) are too large for int32 indices (at most 2^31 - 1)`);
  }
}

/** The argmax a max-pool backward pass reads: int32, shaped like gradOut. */
function expectIndices(op: string, indices: Tensor<DType>, gradOut: Tensor): void {
  if (indices.dtype !== 'int32') fail(op, `expected indices of dtype int32 (from maxPool2dWithIndices), got ${indices.dtype} ${shapeString(indices.shape)}`);
  if (!sameShape(indices.shape, gradOut.shape)) {
    fail(op, `expected indices of the same shape as gradOut ${shapeString(gradOut.shape)}, got ${shapeString(indices.shape)}`);
  }
}

/** What maxPool2dFused applies to its input before pooling. */
export interface MaxPoolFusion {
  /**
   * Batch-norm coefficients [mean | scale | shift | ...] (each C long, C = the input's channels, so
   * at least 3C values; batchNormCoefficients gives them): each cell becomes
   * (x - mean) * scale + shift first, as batchNorm's output would be.
   */
  affine?: Tensor;
  /** Then max(., 0), as relu (NaN stays NaN). */
  relu?: boolean;
}

/**
 * maxPool2dWithIndices over f(x), f = the batch normalisation and/or ReLU of `fusion`, without
 * writing f(x): the same outputs and indices as pooling the materialised f(x) (the same scan, the
 * same tie and NaN rules). x is [N, C, H, W] (or [C, H, W]).
 */
export function maxPool2dFused(x: Tensor, options: MaxPoolOptions, fusion: MaxPoolFusion): { output: Tensor; indices: Tensor<'int32'> } {
  const op = 'maxPool2dFused';
  const { affine, relu = false } = fusion;
  expectSameEngine(op, x, affine);
  const g = poolGeometry(op, x.shape, options, 2, true);
  expectIndexable(op, g, x.shape);
  const channels = x.shape[x.rank - 3]!;
  if (affine && (affine.rank !== 1 || affine.size < 3 * channels)) {
    fail(op, `affine should hold at least 3 * ${channels} per-channel coefficients (input ${shapeString(x.shape)}), got ${shapeString(affine.shape)}`);
  }
  const spec = maxPoolFusedKernel(affine !== undefined, relu);
  const split = planeSplit(op, g.planes, [['x', x]], [['output', g.shape], ['indices', g.shape, 'int32']], affine ? [['affine', affine]] : []);
  const [output, indices] = runSplit(x.engine, split, ([input, out, argmax, coefficients], c) => {
    const total = c.a * g.oh * g.ow;
    x.engine.dispatch(spec, [input!, out!, argmax!, coefficients ?? input!], grid1d(total, WG), poolParams(g, total, 0, 0, channels, c.a0));
  });
  return { output: output!, indices: narrow(indices, 'int32') };
}

/**
 * The gradient of maxPool2d(relu(v)) with respect to v (shape `inputShape`), given gradOut, the
 * indices and the pooled output of maxPool2dFused with relu: the output gradient reaches its
 * argmax unless the pooled value is <= 0 (relu's gradient is 0 there and passes at NaN, as
 * PyTorch's), so it equals reluBackward(maxPool2dBackward(gradOut, indices, ...), relu(v)).
 */
export function reluMaxPool2dBackward(gradOut: Tensor, indices: Tensor<'int32'>, output: Tensor, inputShape: Shape, options: MaxPoolOptions): Tensor {
  const op = 'reluMaxPool2dBackward';
  expectSameEngine(op, gradOut, indices, output);
  expectBackwardInput(op, gradOut, inputShape, 2);
  const g = poolGeometry(op, inputShape, options, 2, true);
  expectPooledGradOut(op, gradOut, g, inputShape);
  expectIndices(op, indices, gradOut);
  if (!sameShape(output.shape, gradOut.shape)) fail(op, `expected output of the same shape as gradOut ${shapeString(gradOut.shape)}, got ${shapeString(output.shape)}`);
  expectIndexable(op, g, inputShape);
  if (!windowsDisjoint(g)) {
    // Overlapping windows: the gather path, then the mask by the materialised relu output.
    const masked = reluBackward(gradOut, output);
    const grad = maxPoolBackward(op, masked, indices, inputShape, options, 2);
    masked.dispose();
    return grad;
  }
  const split = planeSplit(op, g.planes, [['gradOut', gradOut], ['indices', indices], ['output', output]], [['gradInput', inputShape]]);
  return runSplit(gradOut.engine, split, ([dy, argmax, pooled, dx], c) => {
    const total = c.a * g.oh * g.ow;
    gradOut.engine.dispatch(maxPoolBackwardSingleKernel(true), [dy!, dx!, argmax!, pooled!], grid1d(total, WG), poolParams(g, total));
  })[0]!;
}

/**
 * maxPool2d(relu(x)) as one op: the same values and gradients as relu then maxPool2d (PyTorch's),
 * without writing relu(x). Its fusion rule makes Sequential and graphs use it for a ReLU followed
 * by a max pool.
 */
export const reluMaxPool2dOp = defineOp<MaxPoolOptions, PoolGeometry>({
  name: 'reluMaxPool2d',
  graph: { fuses: { chain: ['relu', 'maxPool2d'], combine: ([relu, pool]) => ({ inputs: [relu!.inputs[0]], options: { ...pool!.options } }) } },
  operands: [{ name: 'x' }],
  check: ([x], options) => poolGeometry('reluMaxPool2d', x!, options, 2, true),
  forward: ([x], _g, options, record) => {
    const { output, indices } = maxPool2dFused(x!, options, { relu: true });
    if (!record) {
      indices.dispose();
      return output;
    }
    return { output, saved: { indices } };
  },
  backward: ({ gradOut, inputs: [x], output, saved, options }) => [reluMaxPool2dBackward(gradOut, narrow(saved.indices, 'int32'), output, x!.shape, options)],
  reference: ([x], options) => maxPool2dRef(reluRef(x!), options),
});

interface AvgPoolChecked {
  shape: number[];
  g: PoolGeometry;
  /** shaders/pool.wgsl's divisor_mode and divisor. */
  mode: number;
  divisor: number;
}

export const avgPool2dOp = defineOp<AvgPoolOptions, AvgPoolChecked>({
  name: 'avgPool2d',
  operands: [{ name: 'x' }],
  check: ([x], options) => avgGeometry('avgPool2d', x!, options),
  forward: ([x], { g, mode, divisor }) =>
    runSplit(x!.engine, planeSplit('avgPool2d', g.planes, [['x', x!]], [['output', g.shape]]), ([input, out], c) => {
      const total = c.a * g.oh * g.ow;
      x!.engine.dispatch(AVG_POOL, [input!, out!], grid1d(total, WG), poolParams(g, total, mode, divisor));
    })[0]!,
  backward: ({ gradOut, inputs: [x], options }) => [avgPool2dBackward(gradOut, x!.shape, options)],
  reference: ([x], options) => avgPool2dRef(x!, options),
});

/**
 * Average pooling over x [N, C, H, W] (or [C, H, W]), as F.avg_pool2d. The divisor is the window
 * clipped to the padded input (countIncludePad, the default: in ceil mode the cells past the padding
 * never count), or to the input itself, or divisorOverride.
 */
export function avgPool2d(x: Tensor, options: AvgPoolOptions): Tensor {
  return avgPool2dOp.run([x], options);
}

/** Checks an average-pooling call; its divisor mode is shaders/pool.wgsl's `divisor_mode`. */
function avgGeometry(op: string, shape: Shape, options: AvgPoolOptions): AvgPoolChecked {
  const { divisorOverride } = options;
  const g = poolGeometry(op, shape, { ...options, dilation: 1 }, 2, false);
  if (divisorOverride !== undefined && (!Number.isInteger(divisorOverride) || divisorOverride === 0)) {
    fail(op, `divisorOverride must be a non-zero integer, got ${divisorOverride}`);
  }
  const mode = divisorOverride !== undefined ? 2 : (options.countIncludePad ?? true) ? 0 : 1;
  return { shape: g.shape, g, mode, divisor: divisorOverride ?? 0 };
}

function adaptiveGeometry(op: string, shape: Shape, outputSize: number | [number, number]): PoolGeometry {
  expectPoolInput(op, shape, 2);
  const [oh, ow] = expand(op, 'outputSize', outputSize, 2, 0) as [number, number];
  const [h, w] = shape.slice(-2) as [number, number];
  const lead = shape.slice(0, -2);
  const unused = [0, 0];
  return { planes: numel(lead), h, w, oh, ow, kernel: unused, stride: unused, padding: unused, dilation: unused, shape: [...lead, oh, ow], window: '' };
}

export interface AdaptiveAvgPoolOptions {
  /** The output's (height, width), or one number for both. */
  outputSize: number | [number, number];
}

export const adaptiveAvgPool2dOp = defineOp<AdaptiveAvgPoolOptions, PoolGeometry>({
  name: 'adaptiveAvgPool2d',
  operands: [{ name: 'x' }],
  check: ([x], { outputSize }) => adaptiveGeometry('adaptiveAvgPool2d', x!, outputSize),
  forward: ([x], g) => {
    const { h, w, oh, ow } = g;
    return runSplit(x!.engine, planeSplit('adaptiveAvgPool2d', g.planes, [['x', x!]], [['output', g.shape]]), ([input, out], c) => {
      const planes = c.a;
      if (oh === 1 && ow === 1) {
        // One workgroup per plane: wide enough to keep a big plane's threads busy, small for ResNet's 7x7.
        const wg = h * w >= 2048 ? 256 : 64;
        x!.engine.dispatch(poolKernel('global_avg_pool', ['uniform', 'read', 'write'], wg), [input!, out!], grid1d(planes, 1), poolParams(g, planes));
      } else {
        const total = planes * oh * ow;
        x!.engine.dispatch(ADAPTIVE_AVG_POOL, [input!, out!], grid1d(total, WG), poolParams(g, total));
      }
    })[0]!;
  },
  backward: ({ gradOut, inputs: [x] }) => [adaptiveAvgPool2dBackward(gradOut, x!.shape)],
  reference: ([x], { outputSize }) => adaptiveAvgPool2dRef(x!, outputSize),
});

/**
 * F.adaptive_avg_pool2d over x [N, C, H, W] (or [C, H, W]): output cell i averages input rows
 * floor(i * H / OH) to ceil((i + 1) * H / OH) (and likewise columns). The 1x1 case (global average
 * pooling) runs one workgroup per plane.
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: number | [number, number]): Tensor {
  return adaptiveAvgPool2dOp.run([x], { outputSize });
}

// ---- backward -------------------------------------------------------------------------------------

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

/** Checks `inputShape` (the forward input's shape, as an argument) and `gradOut` against it. */
function expectBackwardInput(op: string, gradOut: Tensor, inputShape: Shape, dims: 1 | 2): void {
  if (!Array.isArray(inputShape) || inputShape.some((n) => !Number.isInteger(n) || n < 0)) {
    fail(op, `inputShape must be a list of integers >= 0, got ${JSON.stringify(inputShape)}`);
  }
  expectPoolInput(op, inputShape, dims);
  const lead = inputShape.slice(0, -dims);
  if (gradOut.rank !== inputShape.length || !sameShape(gradOut.shape.slice(0, -dims), lead)) {
    const wanted = shapeString([...lead, ...Array<string>(dims).fill('*')]);
    fail(op, `expected gradOut of shape ${wanted} to match input ${shapeString(inputShape)}, got ${shapeString(gradOut.shape)}`);
  }
}

/** Checks that gradOut has the shape the forward pass gives for `inputShape`. */
function expectPooledGradOut(op: string, gradOut: Tensor, g: PoolGeometry, inputShape: Shape): void {
  if (!sameShape(gradOut.shape, g.shape)) {
    fail(
      op,
      `expected gradOut of shape ${shapeString(g.shape)} (the output for input ${shapeString(inputShape)} with ${g.window}), got ${shapeString(gradOut.shape)}`,
    );
  }
}

/**
 * The planes of a backward call whose output size comes from gradOut rather than from a window:
 * `dims` trailing dimensions of inputShape and gradOut, the rest planes.
 */
function planesOf(inputShape: Shape, gradOut: Tensor, dims: 1 | 2): PoolGeometry {
  const axis = (shape: Shape): number[] => (dims === 1 ? [1, shape[shape.length - 1]!] : shape.slice(-2));
  const [h, w] = axis(inputShape);
  const [oh, ow] = axis(gradOut.shape);
  const unused = [0, 0];
  return {
    planes: numel(inputShape.slice(0, -dims)),
    h: h!,
    w: w!,
    oh: oh!,
    ow: ow!,
    kernel: unused,
    stride: unused,
    padding: unused,
    dilation: unused,
    shape: [...gradOut.shape],
    window: '',
  };
}

/**
 * Whether no two pooling windows share a cell (stride at least the dilated kernel on both axes, as
 * for the usual 2x2 stride 2): then each input cell has at most one candidate output.
 */
function windowsDisjoint(g: PoolGeometry): boolean {
  return [0, 1].every((i) => g.stride[i]! >= g.dilation[i]! * (g.kernel[i]! - 1) + 1);
}

function maxPoolBackward(op: string, gradOut: Tensor, indices: Tensor<'int32'>, inputShape: Shape, options: MaxPoolOptions | undefined, dims: 1 | 2): Tensor {
  expectSameEngine(op, gradOut, indices);
  expectBackwardInput(op, gradOut, inputShape, dims);
  const g = options ? poolGeometry(op, inputShape, options, dims, true) : planesOf(inputShape, gradOut, dims);
  if (options) expectPooledGradOut(op, gradOut, g, inputShape);
  expectIndices(op, indices, gradOut);
  expectIndexable(op, g, inputShape);
  const single = options !== undefined && windowsDisjoint(g);
  const split = planeSplit(op, g.planes, [['gradOut', gradOut], ['indices', indices]], [['gradInput', inputShape]]);
  return runSplit(gradOut.engine, split, ([dy, argmax, dx], { a: planes }) => {
    if (single) {
      // One invocation per output; `aux` is unused without relu, argmax stands in for it.
      const total = planes * g.oh * g.ow;
      gradOut.engine.dispatch(maxPoolBackwardSingleKernel(false), [dy!, dx!, argmax!, argmax!], grid1d(total, WG), poolParams(g, total));
    } else if (options) {
      const total = planes * g.h * g.w;
      gradOut.engine.dispatch(MAX_POOL_BACKWARD, [dy!, dx!, argmax!], grid1d(total, WG), poolParams(g, total));
    } else {
      gradOut.engine.dispatch(MAX_POOL_BACKWARD_PLANE, [dy!, dx!, argmax!], grid1d(planes, 1), poolParams(g, planes));
    }
  })[0]!;
}

/**
 * The gradient of maxPool2d with respect to its input [N, C, H, W] (or [C, H, W]), `inputShape`:
 * each output's gradient goes to the cell its index (from maxPool2dWithIndices) names, and cells
 * chosen by several overlapping windows get the sum. With the forward `options` each input cell
 * gathers from the few windows that can cover it; without them any output may name any cell, so
 * each plane is summed by one invocation (correct, but slower on big planes: pass the options).
 */
export function maxPool2dBackward(gradOut: Tensor, indices: Tensor<'int32'>, inputShape: Shape, options?: MaxPoolOptions): Tensor {
  return maxPoolBackward('maxPool2dBackward', gradOut, indices, inputShape, options, 2);
}

/** maxPool2dBackward for maxPool1d: input [N, C, L] (or [C, L]), indices from maxPool1dWithIndices. */
export function maxPool1dBackward(gradOut: Tensor, indices: Tensor<'int32'>, inputShape: Shape, options?: MaxPoolOptions): Tensor {
  return maxPoolBackward('maxPool1dBackward', gradOut, indices, inputShape, options, 1);
}

/**
 * The gradient of avgPool2d with respect to its input of `inputShape`: each input cell gets the
 * sum, over the windows that sum it, of the window's output gradient over the same divisor the
 * forward pass divides by (countIncludePad, ceilMode and divisorOverride as there).
 */
export function avgPool2dBackward(gradOut: Tensor, inputShape: Shape, options: AvgPoolOptions): Tensor {
  const op = 'avgPool2dBackward';
  expectSameEngine(op, gradOut);
  expectBackwardInput(op, gradOut, inputShape, 2);
  const { g, mode, divisor } = avgGeometry(op, inputShape, options);
  expectPooledGradOut(op, gradOut, g, inputShape);
  return runSplit(gradOut.engine, planeSplit(op, g.planes, [['gradOut', gradOut]], [['gradInput', inputShape]]), ([dy, dx], c) => {
    const total = c.a * g.h * g.w;
    gradOut.engine.dispatch(AVG_POOL_BACKWARD, [dy!, dx!], grid1d(total, WG), poolParams(g, total, mode, divisor));
  })[0]!;
}

/**
 * The gradient of adaptiveAvgPool2d with respect to its input of `inputShape`; the output size is
 * gradOut's. Each input cell sums the gradients of the windows containing it over their sizes; for
 * a 1x1 output (global average pooling) that is the plane's gradient / (H * W).
 */
export function adaptiveAvgPool2dBackward(gradOut: Tensor, inputShape: Shape): Tensor {
  const op = 'adaptiveAvgPool2dBackward';
  expectSameEngine(op, gradOut);
  expectBackwardInput(op, gradOut, inputShape, 2);
  const g = planesOf(inputShape, gradOut, 2);
  const spec = g.oh === 1 && g.ow === 1 ? GLOBAL_AVG_POOL_BACKWARD : ADAPTIVE_AVG_POOL_BACKWARD;
  return runSplit(gradOut.engine, planeSplit(op, g.planes, [['gradOut', gradOut]], [['gradInput', inputShape]]), ([dy, dx], c) => {
    const total = c.a * g.h * g.w;
    gradOut.engine.dispatch(spec, [dy!, dx!], grid1d(total, WG), poolParams(g, total));
  })[0]!;
}
