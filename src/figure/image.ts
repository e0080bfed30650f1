// Pixels for figures: checking images, scaling them for display (whole-pixel enlargement so small
// maps stay crisp, box averaging when shrinking), turning a float map into grey or colour-mapped
// pixels, and bilinear upsampling of heat maps. Plain arrays in, plain arrays out: the same code
// serves the CLI and a browser (ImageData has exactly this layout).
import type { RgbaImage } from '../ops/preprocess.js';
import { colormap, type ColormapName } from './colormap.js';

/** 8-bit RGBA pixels, row-major, top row first (a browser's ImageData). */
export type { RgbaImage };

/** One float per pixel, row-major (a feature map, a heat map). */
export interface ScalarImage {
  width: number;
  height: number;
  values: ArrayLike<number>;
}

function checkSize(what: string, width: number, height: number): void {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new Error(`${what}: expected a positive integer width and height, got ${width}x${height}`);
  }
}

export function checkRgba(image: RgbaImage, what: string): void {
  checkSize(what, image.width, image.height);
  if (image.data.length !== image.width * image.height * 4) {
    throw new Error(`${what}: a ${image.width}x${image.height} RGBA image needs ${image.width * image.height * 4} bytes, got ${image.data.length}`);
  }
}

export function checkScalar(map: ScalarImage, what: string): void {
  checkSize(what, map.width, map.height);
  if (map.values.length !== map.width * map.height) {
    throw new Error(`${what}: a ${map.width}x${map.height} map needs ${map.width * map.height} values, got ${map.values.length}`);
  }
}

/**
 * The size `image` is shown at inside a `side` x `side` square: enlarged by a whole factor (every
 * source pixel the same square) or shrunk to fit, keeping its aspect ratio.
 */
export function displaySize(width: number, height: number, side: number): { width: number; height: number } {
  const longest = Math.max(width, height);
  if (longest <= side) {
    const k = Math.floor(side / longest);
    return { width: width * k, height: height * k };
  }
  return { width: Math.max(1, Math.round((width * side) / longest)), height: Math.max(1, Math.round((height * side) / longest)) };
}

/** `image` resampled to width x height: nearest pixel along an axis that grows, box average along one that shrinks. */
export function resizeRgba(image: RgbaImage, width: number, height: number): RgbaImage {
  checkRgba(image, 'resizeRgba');
  checkSize('resizeRgba', width, height);
  const out = new Uint8Array(width * height * 4);
  const span = (t: number, size: number, from: number): [number, number] => {
    const a = Math.floor((t * from) / size);
    return [a, Math.max(a + 1, Math.floor(((t + 1) * from) / size))];
  };
  const sum = [0, 0, 0, 0];
  for (let ty = 0; ty < height; ty++) {
    const [y0, y1] = span(ty, height, image.height);
    for (let tx = 0; tx < width; tx++) {
      const [x0, x1] = span(tx, width, image.width);
      sum.fill(0);
      for (let sy = y0; sy < y1; sy++) for (let sx = x0; sx < x1; sx++) for (let c = 0; c < 4; c++) sum[c]! += image.data[(sy * image.width + sx) * 4 + c]!;
      const n = (y1 - y0) * (x1 - x0);
      for (let c = 0; c < 4; c++) out[(ty * width + tx) * 4 + c] = Math.round(sum[c]! / n);
    }
  }
  return { width, height, data: out };
}

/** Colour for values that are not numbers: a magenta no real map produces. */
export const NAN_COLOR: [number, number, number] = [255, 0, 255];

export interface ScalarToRgbaOptions {
  /** Values mapped to the low and high ends; default the map's own finite min and max. */
  range?: [number, number];
  /** 'grey' (default: black to white) or a perceptual colour map. */
  colormap?: 'grey' | ColormapName;
}

/** A float map as pixels, normalised to `range` (each map by its own min/max by default). NaN shows magenta. */
export function scalarToRgba(map: ScalarImage, options: ScalarToRgbaOptions = {}): RgbaImage {
  checkScalar(map, 'scalarToRgba');
  let [lo, hi] = options.range ?? [Infinity, -Infinity];
  if (!options.range) {
    for (let i = 0; i < map.values.length; i++) {
      const v = map.values[i]!;
      if (Number.isFinite(v)) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    }
  }
  // A flat map (or one with no finite value) draws at the low end.
  const scale = hi > lo ? 1 / (hi - lo) : 0;
  const out = new Uint8Array(map.values.length * 4);
  for (let i = 0; i < map.values.length; i++) {
    const v = map.values[i]!;
    const t = Number.isNaN(v) ? NaN : v === Infinity ? 1 : v === -Infinity ? 0 : Math.min(1, Math.max(0, (v - lo) * scale));
    const rgb = Number.isNaN(t) ? NAN_COLOR : !options.colormap || options.colormap === 'grey' ? [255 * t, 255 * t, 255 * t] : colormap(options.colormap, t);
    out.set([Math.round(rgb[0]!), Math.round(rgb[1]!), Math.round(rgb[2]!), 255], i * 4);
  }
  return { width: map.width, height: map.height, data: out };
}

/** Bilinear resampling with half-pixel centres (PyTorch's interpolate(..., 'bilinear', align_corners=False)). */
export function resizeBilinear(map: ScalarImage, width: number, height: number): ScalarImage {
  checkScalar(map, 'resizeBilinear');
  checkSize('resizeBilinear', width, height);
  const out = new Float64Array(width * height);
  const axis = (t: number, size: number, from: number): [number, number, number] => {
    const s = Math.max(0, ((t + 0.5) * from) / size - 0.5);
    const i0 = Math.min(from - 1, Math.floor(s));
    return [i0, Math.min(from - 1, i0 + 1), s - i0];
  };
  for (let y = 0; y < height; y++) {
    const [y0, y1, fy] = axis(y, height, map.height);
    for (let x = 0; x < width; x++) {
      const [x0, x1, fx] = axis(x, width, map.width);
      const v = (r: number, c: number): number => map.values[r * map.width + c]!;
      out[y * width + x] = (1 - fy) * ((1 - fx) * v(y0, x0) + fx * v(y0, x1)) + fy * ((1 - fx) * v(y1, x0) + fx * v(y1, x1));
    }
  }
  return { width, height, values: out };
}
