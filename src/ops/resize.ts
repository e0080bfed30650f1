// torch.nn.functional.interpolate on [N, C, H, W]: 'nearest' (PyTorch's legacy nearest, the
// default) and 'bilinear' with either alignCorners. Kernel in shaders/resize.wgsl.
import { grid1d } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import { shapeString, type Shape, type Tensor } from '../runtime/tensor.js';
import { runSplit } from '../runtime/split.js';
import { params } from '../runtime/uniforms.js';
import { interpolateRef } from '../reference/resize.js';
import { expectRank, expectSameEngine, fail } from './check.js';
import { defineOp } from './registry.js';
import { planeSplit } from './pool.js';

export interface InterpolateOptions {
  /** Output (height, width); exactly one of size and scaleFactor. */
  size?: number | [number, number];
  /** Output size = floor(input size * scaleFactor). */
  scaleFactor?: number | [number, number];
  /** Default 'nearest', as PyTorch. */
  mode?: 'bilinear' | 'nearest';
  /** Bilinear only (PyTorch refuses it for 'nearest'); default false. */
  alignCorners?: boolean;
  /**
   * As PyTorch's recompute_scale_factor: when true, a scaleFactor only sets the output size and the
   * source indices use input/output sizes. By default (false, PyTorch's None) they use 1/scaleFactor.
   */
  recomputeScaleFactor?: boolean;
}

const WG = 64;
/** Input columns per invocation of the backward kernel (see shaders/resize.wgsl). */
const SEG = 32;

function kernel(bilinear: boolean, alignCorners: boolean): KernelSpec {
  return {
    name: bilinear ? 'interpolate.bilinear' : 'interpolate.nearest',
    shader: 'resize',
    defines: { WG, BILINEAR: bilinear, ALIGN_CORNERS: alignCorners, SEG },
    bindings: ['uniform', 'read', 'write'],
  };
}

/** A number-or-pair argument as a pair (undefined stays undefined). */
function pair(op: string, name: string, v: number | readonly number[] | undefined, integer: boolean): [number, number] | undefined {
  if (v === undefined) return undefined;
  const out = typeof v === 'number' ? [v, v] : [...v];
  const ok = (n: number): boolean => (integer ? Number.isInteger(n) : Number.isFinite(n));
  if (out.length !== 2 || !out.every(ok)) {
    const got = typeof v === 'number' ? String(v) : `[${v.join(', ')}]`;
    fail(op, `${name} must be ${integer ? 'an integer' : 'a finite number'} or a pair of them (height, width), got ${got}`);
  }
  return out as [number, number];
}

/**
 * PyTorch's float32 source-index ratio along one axis (area_pixel_compute_scale): with
 * alignCorners (in - 1) / (out - 1), else 1 / scaleFactor when a scale factor is passed through
 * (PyTorch's default, recompute_scale_factor None), else in / out.
 */
function sourceRatio(inSize: number, outSize: number, alignCorners: boolean, scale: number | undefined): number {
  if (alignCorners) return outSize > 1 ? Math.fround((inSize - 1) / (outSize - 1)) : 0;
  return scale !== undefined ? Math.fround(1 / scale) : Math.fround(inSize / outSize);
}

/** Where each output cell reads from: the checked arguments of one interpolate call. */
interface ResizeGeometry {
  shape: [number, number, number, number];
  h: number;
  w: number;
  oh: number;
  ow: number;
  ratioH: number;
  ratioW: number;
  bilinear: boolean;
  alignCorners: boolean;
}

function resizeGeometry(shape: Shape, options: InterpolateOptions, op = 'interpolate'): ResizeGeometry {
  expectRank(op, 'input ([N, C, H, W])', shape, 4);
  const mode = options.mode ?? 'nearest';
  if (mode !== 'nearest' && mode !== 'bilinear') fail(op, `mode must be 'nearest' or 'bilinear', got ${JSON.stringify(mode)}`);
  if (options.size !== undefined && options.scaleFactor !== undefined) fail(op, 'only one of size or scaleFactor should be defined');
  if (options.size === undefined && options.scaleFactor === undefined) fail(op, 'either size or scaleFactor should be defined');
  const size = pair(op, 'size', options.size, true);
  const scale = pair(op, 'scaleFactor', options.scaleFactor, false);
  if (options.recomputeScaleFactor && size) fail(op, 'recomputeScaleFactor is not meaningful with an explicit size');
  if (mode === 'nearest' && options.alignCorners !== undefined) {
    fail(op, "alignCorners can only be set with mode 'bilinear' (PyTorch: the interpolating modes)");
  }
  const alignCorners = options.alignCorners ?? false;
  const [n, c, h, w] = shape as [number, number, number, number];
  // A scale factor's output size is floor(in * scale), computed in double as PyTorch does.
  const [oh, ow] = size ?? [Math.floor(h * scale![0]), Math.floor(w * scale![1])];
  if (!(h > 0 && w > 0 && oh > 0 && ow > 0)) {
    fail(op, `input and output sizes should be greater than 0, but got input (H: ${h}, W: ${w}) output (H: ${oh}, W: ${ow}) for input ${shapeString(shape)}`);
  }
  const passScale = scale !== undefined && !options.recomputeScaleFactor;
  const ratioH = sourceRatio(h, oh, alignCorners, passScale ? scale[0] : undefined);
  const ratioW = sourceRatio(w, ow, alignCorners, passScale ? scale[1] : undefined);
  return { shape: [n, c, oh, ow], h, w, oh, ow, ratioH, ratioW, bilinear: mode === 'bilinear', alignCorners };
}

export const interpolateOp = defineOp<InterpolateOptions, ResizeGeometry>({
  name: 'interpolate',
  operands: [{ name: 'x' }],
  check: ([x], options) => resizeGeometry(x!, options),
  forward: ([x], { shape, h, w, oh, ow, ratioH, ratioW, bilinear, alignCorners }) => {
    const spec = kernel(bilinear, alignCorners);
    const [n, c] = shape;
    return runSplit(x!.engine, planeSplit('interpolate', n * c, [['x', x!]], [['output', shape]]), ([input, out], chunk) => {
      const total = chunk.a * oh * ow;
      x!.engine.dispatch(spec, [input!, out!], grid1d(total, WG), params().u32(total, h, w, oh, ow).f32(ratioH, ratioW));
    })[0]!;
  },
  backward: ({ gradOut, inputs: [x], options }) => [interpolateBackward(gradOut, x!.shape, options)],
  reference: ([x], options) => interpolateRef(x!, options),
});

/** Resizes the planes of x [N, C, H, W] to a size or by a scale factor, as F.interpolate. */
export function interpolate(x: Tensor, options: InterpolateOptions): Tensor {
  return interpolateOp.run([x], options);
}

// ---- backward -------------------------------------------------------------------------------------

function backwardKernel(bilinear: boolean, alignCorners: boolean): KernelSpec {
  const forward = kernel(bilinear, alignCorners);
  return { ...forward, name: `${forward.name}.backward`, entryPoint: 'backward' };
}

/**
 * The gradient of interpolate with respect to its input of `inputShape` [N, C, H, W], given the
 * gradient of its output for the same `options`. Each input cell gathers the output gradients of
 * the cells that read it (a contiguous span per axis), weighted as the forward pass weighs them:
 * deterministic, without atomics.
 */
export function interpolateBackward(gradOut: Tensor, inputShape: Shape, options: InterpolateOptions): Tensor {
  const op = 'interpolateBackward';
  expectSameEngine(op, gradOut);
  if (!Array.isArray(inputShape) || inputShape.some((n) => !Number.isInteger(n) || n < 0)) {
    fail(op, `inputShape must be a list of integers >= 0, got ${JSON.stringify(inputShape)}`);
  }
  const { shape, h, w, oh, ow, ratioH, ratioW, bilinear, alignCorners } = resizeGeometry(inputShape, options, op);
  if (gradOut.rank !== 4 || gradOut.shape.some((n, i) => n !== shape[i])) {
    fail(op, `expected gradOut of shape ${shapeString(shape)} (the output for input ${shapeString(inputShape)}), got ${shapeString(gradOut.shape)}`);
  }
  const spec = backwardKernel(bilinear, alignCorners);
  const [n, c] = shape;
  return runSplit(gradOut.engine, planeSplit(op, n * c, [['gradOut', gradOut]], [['gradInput', inputShape]]), ([dy, dx], chunk) => {
    const segments = chunk.a * h * Math.ceil(w / SEG);
    gradOut.engine.dispatch(spec, [dy!, dx!], grid1d(segments, WG), params().u32(segments, h, w, oh, ow).f32(ratioH, ratioW));
  })[0]!;
}
