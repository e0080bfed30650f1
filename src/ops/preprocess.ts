// Classifier input preprocessing on the GPU, as torchvision's ImageNet evaluation transform:
// RGBA8 pixels -> bilinear resize (antialiased when shrinking, as PIL and torchvision's Resize)
// -> centre crop -> ToTensor's / 255 -> Normalize(mean, std), for a batch of images of any sizes,
// into one [N, 3, H, W] tensor. One fused kernel per image (shaders/preprocess.wgsl): the pixels
// are uploaded packed (4 bytes each) and read once per filter tap for all three channels.
import type { Engine } from '../runtime/engine.js';
import { grid1d } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import type { Tensor } from '../runtime/tensor.js';
import { runSplit, type Split } from '../runtime/split.js';
import { params } from '../runtime/uniforms.js';
import { fail } from './check.js';

/** 8-bit RGBA pixels, row-major, top row first (the layout of a browser's ImageData). */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray;
}

export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

export interface PreprocessOptions {
  /** Output (height, width); default 224. */
  size?: number | readonly [number, number];
  /**
   * 'center-crop' (default): resize so the shorter side is `resizeTo`, keeping the aspect ratio
   * (torchvision's Resize(int)), then take the centre `size` (CenterCrop). 'stretch': resize the
   * whole image to `size`, ignoring the aspect ratio.
   */
  fit?: 'center-crop' | 'stretch';
  /** The shorter side before the centre crop; default round(size * 8 / 7): 256 for 224. */
  resizeTo?: number;
  /** Widen the filter when shrinking, as PIL and torchvision do (default true); false is F.interpolate's plain bilinear. */
  antialias?: boolean;
  mean?: readonly [number, number, number];
  std?: readonly [number, number, number];
}

/** Where one image's output comes from: the resized size and the window of it that is kept. */
export interface PreprocessGeometry {
  resizedHeight: number;
  resizedWidth: number;
  top: number;
  left: number;
  outHeight: number;
  outWidth: number;
}

const WG = 64;
const KERNEL: KernelSpec = { name: 'preprocess', shader: 'preprocess', defines: { WG }, bindings: ['uniform', 'read', 'write'] };
const OP = 'preprocess';

/** Python's round(): halves go to the even neighbour (torchvision's CenterCrop uses it). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) fail(OP, `${name} must be a positive integer, got ${String(v)}`);
  return v;
}

function outputSize(options: PreprocessOptions): [number, number] {
  const size = options.size ?? 224;
  const pair = typeof size === 'number' ? [size, size] : [...size];
  if (pair.length !== 2) fail(OP, `size must be a number or a pair (height, width), got ${JSON.stringify(size)}`);
  return [positiveInt('size', pair[0]!), positiveInt('size', pair[1]!)];
}

/** The resize and crop torchvision's Resize(resizeTo) + CenterCrop(size) apply to a width x height image. */
export function preprocessGeometry(width: number, height: number, options: PreprocessOptions = {}): PreprocessGeometry {
  const [outHeight, outWidth] = outputSize(options);
  const fit = options.fit ?? 'center-crop';
  if (fit === 'stretch') {
    if (options.resizeTo !== undefined) fail(OP, "resizeTo only applies to fit 'center-crop'");
    return { resizedHeight: outHeight, resizedWidth: outWidth, top: 0, left: 0, outHeight, outWidth };
  }
  if (fit !== 'center-crop') fail(OP, `fit must be 'center-crop' or 'stretch', got ${JSON.stringify(fit)}`);
  const short = options.resizeTo ?? Math.round((Math.min(outHeight, outWidth) * 8) / 7);
  positiveInt('resizeTo', short);
  // torchvision: the shorter side becomes `short`, the longer int(short * long / short_in).
  const resizedHeight = height <= width ? short : Math.floor((short * height) / width);
  const resizedWidth = height <= width ? Math.floor((short * width) / height) : short;
  if (resizedHeight < outHeight || resizedWidth < outWidth) {
    fail(OP, `a ${width}x${height} image resized to ${resizedWidth}x${resizedHeight} (resizeTo ${short}) is smaller than the ${outWidth}x${outHeight} crop; use resizeTo >= ${Math.max(outHeight, outWidth)}`);
  }
  const top = roundHalfEven((resizedHeight - outHeight) / 2);
  const left = roundHalfEven((resizedWidth - outWidth) / 2);
  return { resizedHeight, resizedWidth, top, left, outHeight, outWidth };
}

/** PyTorch's filter parameters along one axis: [scale, support, invscale]. */
function axisFilter(inSize: number, outSize: number, antialias: boolean): [number, number, number] {
  const scale = inSize / outSize;
  return antialias && scale > 1 ? [scale, scale, 1 / scale] : [scale, 1, 1];
}

function checkChannels(name: string, v: readonly number[], positive: boolean): void {
  if (v.length !== 3 || !v.every((x) => Number.isFinite(x) && (!positive || x > 0))) {
    fail(OP, `${name} must be 3 finite numbers${positive ? ' > 0' : ''} (R, G, B), got ${JSON.stringify(v)}`);
  }
}

function checkImage(image: RgbaImage, index: number, maxPixels: number): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    fail(OP, `image ${index}: width and height must be positive integers, got ${width}x${height}`);
  }
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    fail(OP, `image ${index}: data must be a Uint8Array or Uint8ClampedArray of RGBA bytes`);
  }
  if (data.length !== width * height * 4) {
    fail(OP, `image ${index}: a ${width}x${height} RGBA image has ${width * height * 4} bytes, got ${data.length}`);
  }
  if (width * height > maxPixels) {
    fail(OP, `image ${index}: ${width}x${height} is over the ${maxPixels} pixels one GPU binding holds on this device; downscale it first`);
  }
}

/** The pixels as packed u32s (R in the low byte on every little-endian host WebGPU runs on). */
function packed(data: Uint8Array | Uint8ClampedArray): Uint32Array {
  const bytes = data.byteOffset % 4 === 0 ? data : data.slice();
  return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
}

/**
 * Resizes, crops and normalises RGBA images into one float tensor [N, 3, H, W] on the GPU, as
 * torchvision's Resize + CenterCrop + ToTensor + Normalize (ImageNet mean and std by default).
 */
export function preprocessImages(engine: Engine, images: readonly RgbaImage[], options: PreprocessOptions = {}): Tensor {
  if (!Array.isArray(images) || images.length === 0) fail(OP, 'expected at least one image');
  const mean = options.mean ?? IMAGENET_MEAN;
  const std = options.std ?? IMAGENET_STD;
  checkChannels('mean', mean, false);
  checkChannels('std', std, true);
  const antialias = options.antialias ?? true;
  const maxPixels = Math.floor(engine.maxBindingBytes / 4);
  images.forEach((image, i) => checkImage(image, i, maxPixels));
  const geometries = images.map((image) => preprocessGeometry(image.width, image.height, options));
  const [outHeight, outWidth] = outputSize(options);
  const plane = outHeight * outWidth;
  // One dispatch per image, writing its planes of the output (split by images past the binding limit).
  const split: Split = { op: OP, axes: [{ name: 'image', size: images.length }], operands: [{ name: 'output', output: [images.length, 3, outHeight, outWidth], per: [3 * plane] }] };
  return runSplit(engine, split, ([out], c) => {
    for (let n = c.a0; n < c.a0 + c.a; n++) {
      const image = images[n]!;
      const g = geometries[n]!;
      const pixels = engine.empty([image.width * image.height], 'preprocess.pixels');
      engine.upload(pixels, packed(image.data));
      const [scaleX, supportX, invX] = axisFilter(image.width, g.resizedWidth, antialias);
      const [scaleY, supportY, invY] = axisFilter(image.height, g.resizedHeight, antialias);
      const uniforms = params()
        .u32(image.width, image.height, outWidth, outHeight, g.top, g.left, (n - c.a0) * 3 * plane)
        .f32(scaleX, scaleY, supportX, supportY, invX, invY, ...mean, ...std);
      engine.dispatch(KERNEL, [pixels, out!], grid1d(plane, WG), uniforms);
      // Back to the pool now: a later image's upload into it is ordered after this dispatch.
      pixels.dispose();
    }
  })[0]!;
}
