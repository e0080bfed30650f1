// CPU references for pooling and its gradients, written from PyTorch's definitions (aten's CPU
// kernels): plain loops over every output and every cell of its window. The backward references
// scatter: each output's gradient is added to the input cells its window used.
import type { AvgPoolOptions, MaxPoolOptions } from '../ops/pool.js';
import { hostZeros, type HostTensor } from './host-tensor.js';

function pairOf(v: number | number[] | undefined, fallback: number[]): number[] {
  if (v === undefined) return fallback;
  if (typeof v === 'number') return [v, v];
  return v.length === 1 ? [v[0]!, v[0]!] : v;
}

/** Output length of a pooling axis: windows of extent d(k-1)+1 every s cells over the padded input. */
function outputLength(size: number, k: number, s: number, p: number, d: number, ceilMode: boolean): number {
  const room = size + 2 * p - (d * (k - 1) + 1);
  let n = (ceilMode ? Math.ceil(room / s) : Math.floor(room / s)) + 1;
  // In ceil mode the last window must start inside the input or its left padding.
  if (ceilMode && (n - 1) * s >= size + p) n -= 1;
  return n;
}

/** The input as [planes, H, W] plus the leading dimensions to put back. */
function planesOf(x: HostTensor): { lead: number[]; planes: number; h: number; w: number } {
  const lead = x.shape.slice(0, -2);
  return { lead, planes: lead.reduce((a, b) => a * b, 1), h: x.shape[x.shape.length - 2]!, w: x.shape[x.shape.length - 1]! };
}

/**
 * F.max_pool2d(x, ..., return_indices=True) on [N, C, H, W] or [C, H, W]. Each window is scanned
 * row by row; a value replaces the running maximum when it is greater or NaN (PyTorch's rule, so NaN
 * propagates and the first of equal maxima wins). The index starts at the window's first cell
 * inside the input, so a window of -inf reports that cell.
 */
export function maxPool2dWithIndicesRef(x: HostTensor, o: MaxPoolOptions): { output: HostTensor; indices: HostTensor } {
  const [kh, kw] = pairOf(o.kernelSize, []) as [number, number];
  const [sh, sw] = pairOf(o.stride, [kh, kw]) as [number, number];
  const [ph, pw] = pairOf(o.padding, [0, 0]) as [number, number];
  const [dh, dw] = pairOf(o.dilation, [1, 1]) as [number, number];
  const ceil = o.ceilMode ?? false;
  const { lead, planes, h, w } = planesOf(x);
  const oh = outputLength(h, kh, sh, ph, dh, ceil);
  const ow = outputLength(w, kw, sw, pw, dw, ceil);
  const output = hostZeros([...lead, oh, ow]);
  const indices = hostZeros([...lead, oh, ow]);
  for (let plane = 0; plane < planes; plane++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        let best = -Infinity;
        let bestIndex = -1;
        for (let a = 0; a < kh; a++) {
          const r = i * sh - ph + a * dh;
          if (r < 0 || r >= h) continue;
          for (let b = 0; b < kw; b++) {
            const c = j * sw - pw + b * dw;
            if (c < 0 || c >= w) continue;
            const v = x.data[(plane * h + r) * w + c]!;
            if (bestIndex < 0) bestIndex = r * w + c;
            if (v > best || Number.isNaN(v)) {
              best = v;
              bestIndex = r * w + c;
            }
          }
        }
        const at = (plane * oh + i) * ow + j;
        output.data[at] = best;
        indices.data[at] = bestIndex;
      }
    }
  }
  return { output, indices };
}

export function maxPool2dRef(x: HostTensor, o: MaxPoolOptions): HostTensor {
  return maxPool2dWithIndicesRef(x, o).output;
}

/** F.max_pool1d(x, ..., return_indices=True) on [N, C, L] or [C, L], as a 2-D pool over rows of height 1. */
export function maxPool1dWithIndicesRef(x: HostTensor, o: MaxPoolOptions): { output: HostTensor; indices: HostTensor } {
  const one = (v: number | number[] | undefined, unit: number): number[] | undefined =>
    v === undefined ? undefined : [unit, typeof v === 'number' ? v : v[0]!];
  const rows: HostTensor = { shape: [...x.shape.slice(0, -1), 1, x.shape[x.shape.length - 1]!], data: x.data };
  const { output, indices } = maxPool2dWithIndicesRef(rows, {
    kernelSize: one(o.kernelSize, 1)!,
    stride: one(o.stride, 1),
    padding: one(o.padding ?? 0, 0),
    dilation: one(o.dilation ?? 1, 1),
    ceilMode: o.ceilMode,
  });
  // Row 0 of each plane: the flat index is the position along L.
  const shape = [...x.shape.slice(0, -1), output.shape[output.shape.length - 1]!];
  return { output: { shape, data: output.data }, indices: { shape: [...shape], data: indices.data } };
}

export function maxPool1dRef(x: HostTensor, o: MaxPoolOptions): HostTensor {
  return maxPool1dWithIndicesRef(x, o).output;
}

/**
 * The gradient of max pooling (1-D or 2-D) for an input of `inputShape`: each output's gradient is
 * added to the cell its index names within its plane (the last `dims` dimensions).
 */
function maxPoolBackwardRef(gradOut: HostTensor, indices: HostTensor, inputShape: number[], dims: number): HostTensor {
  const gradIn = hostZeros(inputShape);
  const planeSize = inputShape.slice(-dims).reduce((a, b) => a * b, 1);
  const outPlane = gradOut.shape.slice(-dims).reduce((a, b) => a * b, 1);
  for (let o = 0; o < gradOut.data.length; o++) {
    const plane = Math.floor(o / outPlane);
    gradIn.data[plane * planeSize + indices.data[o]!] += gradOut.data[o]!;
  }
  return gradIn;
}

/** The gradient of F.max_pool2d with respect to x [N, C, H, W] or [C, H, W], from its indices. */
export function maxPool2dBackwardRef(gradOut: HostTensor, indices: HostTensor, inputShape: number[]): HostTensor {
  return maxPoolBackwardRef(gradOut, indices, inputShape, 2);
}

/** The gradient of F.max_pool1d with respect to x [N, C, L] or [C, L], from its indices. */
export function maxPool1dBackwardRef(gradOut: HostTensor, indices: HostTensor, inputShape: number[]): HostTensor {
  return maxPoolBackwardRef(gradOut, indices, inputShape, 1);
}

/**
 * F.avg_pool2d. The sum covers the window's cells inside the input; the divisor is
 * divisorOverride, else (countIncludePad) the window clipped to the padded input, else the
 * number of cells summed.
 */
export function avgPool2dRef(x: HostTensor, o: AvgPoolOptions): HostTensor {
  const [kh, kw] = pairOf(o.kernelSize, []) as [number, number];
  const [sh, sw] = pairOf(o.stride, [kh, kw]) as [number, number];
  const [ph, pw] = pairOf(o.padding, [0, 0]) as [number, number];
  const ceil = o.ceilMode ?? false;
  const includePad = o.countIncludePad ?? true;
  const { lead, planes, h, w } = planesOf(x);
  const oh = outputLength(h, kh, sh, ph, 1, ceil);
  const ow = outputLength(w, kw, sw, pw, 1, ceil);
  const y = hostZeros([...lead, oh, ow]);
  for (let plane = 0; plane < planes; plane++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const top = i * sh - ph;
        const left = j * sw - pw;
        let sum = 0;
        let inside = 0;
        let padded = 0;
        for (let r = top; r < top + kh; r++) {
          for (let c = left; c < left + kw; c++) {
            if (r < h + ph && c < w + pw) padded++;
            if (r < 0 || r >= h || c < 0 || c >= w) continue;
            sum += x.data[(plane * h + r) * w + c]!;
            inside++;
          }
        }
        const divisor = o.divisorOverride ?? (includePad ? padded : inside);
        y.data[(plane * oh + i) * ow + j] = sum / divisor;
      }
    }
  }
  return y;
}

/** F.adaptive_avg_pool2d: output cell i averages input cells floor(i * in / out) .. ceil((i + 1) * in / out) - 1. */
export function adaptiveAvgPool2dRef(x: HostTensor, outputSize: number | [number, number]): HostTensor {
  const [oh, ow] = pairOf(outputSize, []) as [number, number];
  const { lead, planes, h, w } = planesOf(x);
  const y = hostZeros([...lead, oh, ow]);
  for (let plane = 0; plane < planes; plane++) {
    for (let i = 0; i < oh; i++) {
      const r0 = Math.floor((i * h) / oh);
      const r1 = Math.ceil(((i + 1) * h) / oh);
      for (let j = 0; j < ow; j++) {
        const c0 = Math.floor((j * w) / ow);
        const c1 = Math.ceil(((j + 1) * w) / ow);
        let sum = 0;
        for (let r = r0; r < r1; r++) {
          for (let c = c0; c < c1; c++) sum += x.data[(plane * h + r) * w + c]!;
        }
        y.data[(plane * oh + i) * ow + j] = sum / ((r1 - r0) * (c1 - c0));
      }
    }
  }
  return y;
}

/**
 * The gradient of F.avg_pool2d with respect to x of `inputShape`: each output's gradient, over
 * that output's divisor (as in avgPool2dRef), is added to every input cell of its window.
 */
export function avgPool2dBackwardRef(gradOut: HostTensor, inputShape: number[], o: AvgPoolOptions): HostTensor {
  const [kh, kw] = pairOf(o.kernelSize, []) as [number, number];
  const [sh, sw] = pairOf(o.stride, [kh, kw]) as [number, number];
  const [ph, pw] = pairOf(o.padding, [0, 0]) as [number, number];
  const includePad = o.countIncludePad ?? true;
  const gradIn = hostZeros(inputShape);
  const { planes, h, w } = planesOf(gradIn);
  const [oh, ow] = gradOut.shape.slice(-2) as [number, number];
  for (let plane = 0; plane < planes; plane++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const top = i * sh - ph;
        const left = j * sw - pw;
        let inside = 0;
        let padded = 0;
        for (let r = top; r < top + kh; r++) {
          for (let c = left; c < left + kw; c++) {
            if (r < h + ph && c < w + pw) padded++;
            if (r >= 0 && r < h && c >= 0 && c < w) inside++;
          }
        }
        const divisor = o.divisorOverride ?? (includePad ? padded : inside);
        const share = gradOut.data[(plane * oh + i) * ow + j]! / divisor;
        for (let r = Math.max(top, 0); r < Math.min(top + kh, h); r++) {
          for (let c = Math.max(left, 0); c < Math.min(left + kw, w); c++) gradIn.data[(plane * h + r) * w + c] += share;
        }
      }
    }
  }
  return gradIn;
}

/**
 * The gradient of F.adaptive_avg_pool2d with respect to x of `inputShape` (the output size is
 * gradOut's): each output's gradient over its window's size, added to every cell of the window.
 */
export function adaptiveAvgPool2dBackwardRef(gradOut: HostTensor, inputShape: number[]): HostTensor {
  const gradIn = hostZeros(inputShape);
  const { planes, h, w } = planesOf(gradIn);
  const [oh, ow] = gradOut.shape.slice(-2) as [number, number];
  for (let plane = 0; plane < planes; plane++) {
    for (let i = 0; i < oh; i++) {
      const r0 = Math.floor((i * h) / oh);
      const r1 = Math.ceil(((i + 1) * h) / oh);
      for (let j = 0; j < ow; j++) {
        const c0 = Math.floor((j * w) / ow);
        const c1 = Math.ceil(((j + 1) * w) / ow);
        const share = gradOut.data[(plane * oh + i) * ow + j]! / ((r1 - r0) * (c1 - c0));
        for (let r = r0; r < r1; r++) {
          for (let c = c0; c < c1; c++) gradIn.data[(plane * h + r) * w + c] += share;
        }
      }
    }
  }
  return gradIn;
}
