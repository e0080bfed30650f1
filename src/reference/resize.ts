// CPU reference for F.interpolate on [N, C, H, W] ('nearest' and 'bilinear'), following aten's
// CPU kernels (UpSample.h). PyTorch picks source pixels with float32 arithmetic; that choice is
// discontinuous for 'nearest', so the index math here rounds to float32 (Math.fround) where
// PyTorch's does. Values are interpolated in float64.
import type { InterpolateOptions } from '../ops/resize.js';
import { hostZeros, type HostTensor } from './host-tensor.js';

function twice(v: number | [number, number] | undefined): [number, number] | undefined {
  return v === undefined ? undefined : typeof v === 'number' ? [v, v] : v;
}

/**
 * PyTorch's scale along one axis (area_pixel_compute_scale / compute_scales_value), in float32.
 * `scale` is the scale factor the kernel receives: the caller's, unless recomputeScaleFactor.
 */
function axisScale(inSize: number, outSize: number, alignCorners: boolean, scale: number | undefined): number {
  if (alignCorners) return outSize > 1 ? Math.fround((inSize - 1) / (outSize - 1)) : 0;
  if (scale !== undefined && scale > 0) return Math.fround(1 / scale);
  return Math.fround(inSize / outSize);
}

/** nearest_idx: the source of output index `dst` along one axis. */
function nearestSource(dst: number, inSize: number, outSize: number, scale: number): number {
  if (outSize === inSize) return dst;
  if (outSize === 2 * inSize) return Math.floor(dst / 2);
  // float32 product, then floor (dst * scale is exact in float64, so one fround rounds it as float32 does)
  return Math.min(Math.floor(Math.fround(dst * scale)), inSize - 1);
}

/** compute_source_index_and_lambda: the two source indices of `dst` and their weights. */
function linearSource(dst: number, inSize: number, outSize: number, scale: number, alignCorners: boolean): [number, number, number, number] {
  if (outSize === inSize) return [dst, dst, 1, 0];
  let src: number;
  if (alignCorners) {
    src = Math.fround(scale * dst);
  } else {
    src = Math.fround(scale * (dst + 0.5) - 0.5);
    if (src < 0) src = 0;
  }
  const i0 = Math.min(Math.floor(src), inSize - 1);
  const lambda1 = Math.min(Math.max(Math.fround(src - i0), 0), 1);
  const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
  return [i0, i1, 1 - lambda1, lambda1];
}

/** The output size and float32 scales of one interpolate call on an input of `shape`. */
function geometry(shape: readonly number[], o: InterpolateOptions) {
  const [n, c, h, w] = shape as [number, number, number, number];
  const align = o.alignCorners ?? false;
  const size = twice(o.size);
  const factor = twice(o.scaleFactor);
  const oh = size ? size[0] : Math.floor(h * factor![0]);
  const ow = size ? size[1] : Math.floor(w * factor![1]);
  const passed = factor && !o.recomputeScaleFactor ? factor : undefined;
  const scaleH = axisScale(h, oh, align, passed?.[0]);
  const scaleW = axisScale(w, ow, align, passed?.[1]);
  return { n, c, h, w, oh, ow, scaleH, scaleW, align, nearest: (o.mode ?? 'nearest') === 'nearest' };
}

export function interpolateRef(x: HostTensor, o: InterpolateOptions): HostTensor {
  const { n, c, h, w, oh, ow, scaleH, scaleW, align, nearest } = geometry(x.shape, o);
  const y = hostZeros([n, c, oh, ow]);
  for (let plane = 0; plane < n * c; plane++) {
    const at = (r: number, col: number): number => x.data[(plane * h + r) * w + col]!;
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        let v: number;
        if (nearest) {
          v = at(nearestSource(i, h, oh, scaleH), nearestSource(j, w, ow, scaleW));
        } else {
          const [r0, r1, a0, a1] = linearSource(i, h, oh, scaleH, align);
          const [c0, c1, b0, b1] = linearSource(j, w, ow, scaleW, align);
          v = a0 * (b0 * at(r0, c0) + b1 * at(r0, c1)) + a1 * (b0 * at(r1, c0) + b1 * at(r1, c1));
        }
        y.data[(plane * oh + i) * ow + j] = v;
      }
    }
  }
  return y;
}

/**
 * The gradient of interpolateRef with respect to its input of `inputShape`: its adjoint, written
 * as the scatter of each output's gradient onto the cells it read, times the weights it read them
 * with (both bilinear taps even where they are the same cell, as PyTorch's backward does).
 */
export function interpolateBackwardRef(gradOut: HostTensor, inputShape: readonly number[], o: InterpolateOptions): HostTensor {
  const { n, c, h, w, oh, ow, scaleH, scaleW, align, nearest } = geometry(inputShape, o);
  const gx = hostZeros([n, c, h, w]);
  for (let plane = 0; plane < n * c; plane++) {
    const add = (r: number, col: number, v: number): void => {
      gx.data[(plane * h + r) * w + col] += v;
    };
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const g = gradOut.data[(plane * oh + i) * ow + j]!;
        if (nearest) {
          add(nearestSource(i, h, oh, scaleH), nearestSource(j, w, ow, scaleW), g);
        } else {
          const [r0, r1, a0, a1] = linearSource(i, h, oh, scaleH, align);
          const [c0, c1, b0, b1] = linearSource(j, w, ow, scaleW, align);
          add(r0, c0, a0 * b0 * g);
          add(r0, c1, a0 * b1 * g);
          add(r1, c0, a1 * b0 * g);
          add(r1, c1, a1 * b1 * g);
        }
      }
    }
  }
  return gx;
}
