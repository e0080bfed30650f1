// CPU references for the classifier input transforms (src/ops/augment.ts), written step by step
// as torchvision composes them, in float64: the RGB bytes / 255 as planes -> crop -> resize ->
// flip -> normalise (training), or resize -> centre crop -> normalise (evaluation). The resize is
// PyTorch's: plain bilinear (align_corners=False) through interpolateRef, or, with antialias, the
// separable triangle filter widened by the shrink factor (aten's _compute_weights_aa).
import type { AugmentParams, CenterCropOptions, TransformOptions } from '../ops/augment.js';
import { IMAGENET_MEAN, IMAGENET_STD, type RgbaImage } from '../ops/preprocess.js';
import { host, hostZeros, type HostTensor } from './host-tensor.js';
import { interpolateRef } from './resize.js';

/** The image's R, G, B bytes / 255 as [1, 3, H, W] (alpha dropped). */
function toPlanes(image: RgbaImage): HostTensor {
  const { width, height, data } = image;
  const t = hostZeros([1, 3, height, width]);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) t.data[(c * height + y) * width + x] = data[(y * width + x) * 4 + c]! / 255;
    }
  }
  return t;
}

/** The [top, top + h) x [left, left + w) window of every plane. */
function cropPlanes(t: HostTensor, top: number, left: number, h: number, w: number): HostTensor {
  const [n, c, height, width] = t.shape as [number, number, number, number];
  const out = hostZeros([n, c, h, w]);
  for (let p = 0; p < n * c; p++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) out.data[(p * h + y) * w + x] = t.data[(p * height + top + y) * width + left + x]!;
    }
  }
  return out;
}

/** Normalised filter weights along one axis: row i maps source index -> weight for output i. */
function antialiasWeights(inSize: number, outSize: number): Array<Map<number, number>> {
  const scale = inSize / outSize;
  const support = scale > 1 ? scale : 1;
  const invscale = scale > 1 ? 1 / scale : 1;
  const rows: Array<Map<number, number>> = [];
  for (let i = 0; i < outSize; i++) {
    const center = scale * (i + 0.5);
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    const row = new Map<number, number>();
    let total = 0;
    for (let j = lo; j < hi; j++) {
      const w = Math.max(0, 1 - Math.abs((j - center + 0.5) * invscale));
      row.set(j, w);
      total += w;
    }
    if (total > 0) for (const [j, w] of row) row.set(j, w / total);
    rows.push(row);
  }
  return rows;
}

/** F.interpolate(mode='bilinear', align_corners=False, antialias=...) to (outH, outW). */
function resizePlanes(t: HostTensor, outH: number, outW: number, antialias: boolean): HostTensor {
  if (!antialias) return interpolateRef(t, { size: [outH, outW], mode: 'bilinear', alignCorners: false });
  const [n, c, h, w] = t.shape as [number, number, number, number];
  const wy = antialiasWeights(h, outH);
  const wx = antialiasWeights(w, outW);
  const out = hostZeros([n, c, outH, outW]);
  for (let p = 0; p < n * c; p++) {
    for (let i = 0; i < outH; i++) {
      for (let j = 0; j < outW; j++) {
        let v = 0;
        for (const [y, fy] of wy[i]!) for (const [x, fx] of wx[j]!) v += fy * fx * t.data[(p * h + y) * w + x]!;
        out.data[(p * outH + i) * outW + j] = v;
      }
    }
  }
  return out;
}

function flipColumns(t: HostTensor): HostTensor {
  const [n, c, h, w] = t.shape as [number, number, number, number];
  const out = hostZeros(t.shape);
  for (let r = 0; r < n * c * h; r++) for (let x = 0; x < w; x++) out.data[r * w + x] = t.data[r * w + (w - 1 - x)]!;
  return out;
}

function normalise(t: HostTensor, mean: readonly number[], std: readonly number[]): HostTensor {
  const [, c, h, w] = t.shape as [number, number, number, number];
  const out = host(t.data, t.shape);
  for (let i = 0; i < out.data.length; i++) {
    const ch = Math.floor(i / (h * w)) % c;
    out.data[i] = (out.data[i]! - mean[ch]!) / std[ch]!;
  }
  return out;
}

function sizePair(size: TransformOptions['size']): [number, number] {
  const v = size ?? 224;
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

/** Python's round(): halves to even. */
function pythonRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

/** RandomResizedCrop (with the given crop) + RandomHorizontalFlip (with the given flip) + ToTensor + Normalize: [1, 3, H, W]. */
export function resizedCropRef(image: RgbaImage, params: AugmentParams, options: TransformOptions = {}): HostTensor {
  const [outH, outW] = sizePair(options.size);
  const { top, left, height, width } = params.crop;
  let t = resizePlanes(cropPlanes(toPlanes(image), top, left, height, width), outH, outW, options.antialias ?? true);
  if (params.flip) t = flipColumns(t);
  return normalise(t, options.mean ?? IMAGENET_MEAN, options.std ?? IMAGENET_STD);
}

/** Resize(resizeTo) + CenterCrop(size) + ToTensor + Normalize: [1, 3, H, W]. */
export function centerCropRef(image: RgbaImage, options: CenterCropOptions = {}): HostTensor {
  const [outH, outW] = sizePair(options.size);
  const short = options.resizeTo ?? Math.round((Math.min(outH, outW) * 8) / 7);
  const { width, height } = image;
  // torchvision's Resize(int): the shorter side becomes `short`, the longer int(short * long / short_in).
  const [resizedH, resizedW] = width <= height ? [Math.floor((short * height) / width), short] : [short, Math.floor((short * width) / height)];
  const resized = resizePlanes(toPlanes(image), resizedH, resizedW, options.antialias ?? true);
  // CenterCrop: int(round((size_in - size_out) / 2)).
  const top = pythonRound((resizedH - outH) / 2);
  const left = pythonRound((resizedW - outW) / 2);
  return normalise(cropPlanes(resized, top, left, outH, outW), options.mean ?? IMAGENET_MEAN, options.std ?? IMAGENET_STD);
}
