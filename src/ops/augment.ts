// Classifier input transforms on the GPU for a batch of RGBA8 images of any sizes, one dispatch
// per batch (shaders/augment.wgsl):
// - training: torchvision's RandomResizedCrop(size, scale, ratio) + RandomHorizontalFlip(p) +
//   ToTensor + Normalize, with the crop and flip drawn per image on the CPU from a counter-based
//   generator (Philox4x32-10 keyed by a seed, counters from the image's id and the epoch), so the
//   same seed gives the same batch whatever the batch size or order;
// - evaluation: Resize(shorter side) + CenterCrop(size) + ToTensor + Normalize.
// Resampling is PyTorch's bilinear filter, antialiased when shrinking by default (as torchvision's
// Resize and RandomResizedCrop with antialias=True); `antialias: false` gives F.interpolate's plain
// bilinear. The images are packed into one staging buffer (4 bytes a pixel) with a small table of
// per-image offsets, sizes and sampling windows.
import type { Engine } from '../runtime/engine.js';
import { grid1d } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import type { Tensor } from '../runtime/tensor.js';
import { planSplit, runSplit, type Split } from '../runtime/split.js';
import { params } from '../runtime/uniforms.js';
import { philox4x32 } from '../reference/philox.js';
import { fail, OpError } from './check.js';
import { IMAGENET_MEAN, IMAGENET_STD, preprocessGeometry, type RgbaImage } from './preprocess.js';

export type { RgbaImage } from './preprocess.js';

/** A rectangle of a source image in pixels: torchvision's crop parameters (i, j, h, w). */
export interface Crop {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** One image's drawn augmentation: the crop to resize and whether to mirror the result. */
export interface AugmentParams {
  crop: Crop;
  flip: boolean;
}

export interface RandomResizedCropOptions {
  /** Range of the crop's area as a fraction of the image's (default [0.08, 1]). */
  scale?: readonly [number, number];
  /** Range of the crop's aspect ratio width / height, sampled log-uniformly (default [3/4, 4/3]). */
  ratio?: readonly [number, number];
}

export interface AugmentSampleOptions extends RandomResizedCropOptions {
  /** RandomHorizontalFlip's probability (default 0.5). */
  flipProbability?: number;
}

/** Which random numbers an image gets: the same (seed, id, epoch) always draws the same parameters. */
export interface AugmentDraw {
  /** An integer in [0, 2^53). */
  seed: number;
  /** The image's identity, e.g. its index in the dataset: an integer in [0, 2^32). */
  id: number;
  /** An integer in [0, 2^32); default 0. */
  epoch?: number;
}

export interface TransformOptions {
  /** Output (height, width); default 224. */
  size?: number | readonly [number, number];
  mean?: readonly [number, number, number];
  std?: readonly [number, number, number];
  /** Widen the filter when shrinking, as torchvision's antialias=True (default true). */
  antialias?: boolean;
  /**
   * The most bytes of pixels one dispatch binds (default, and at most, the engine's binding limit,
   * Engine.maxBindingBytes); a batch with more is split into several dispatches.
   */
  maxStagingBytes?: number;
}

export interface CenterCropOptions extends TransformOptions {
  /** The shorter side after Resize; default round(size * 8 / 7), 256 for 224. */
  resizeTo?: number;
}

// ---- draws: Philox4x32-10 (src/reference/philox.ts) ---------------------------------------------

/** Draw streams of one image: crop attempts and the flip never share numbers. */
const STREAM_CROP = 0;
const STREAM_FLIP = 1;

/**
 * Uniform numbers in [0, 1) (32 bits each) from Philox: block b of the stream is
 * philox(counter = (b, id, epoch, stream), key = seed split into 32-bit halves), four numbers a block.
 */
export function augmentUniforms(draw: AugmentDraw, stream: number): () => number {
  const key: [number, number] = [draw.seed % 2 ** 32, Math.floor(draw.seed / 2 ** 32)];
  const epoch = draw.epoch ?? 0;
  let block = 0;
  let words: number[] = [];
  return () => {
    if (words.length === 0) words = philox4x32([block++, draw.id, epoch, stream], key).reverse();
    return words.pop()! / 2 ** 32;
  };
}

// ---- parameter sampling ----------------------------------------------------------------------

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function checkRange(op: string, name: string, range: readonly number[], positive: boolean): [number, number] {
  const [lo, hi] = range;
  const ok = range.length === 2 && Number.isFinite(lo) && Number.isFinite(hi) && (positive ? lo! > 0 : lo! >= 0);
  if (!ok) fail(op, `${name} must be a pair (min, max) of finite numbers ${positive ? '> 0' : '>= 0'}, got ${JSON.stringify(range)}`);
  if (lo! > hi!) fail(op, `${name} should be of kind (min, max), got ${JSON.stringify(range)}`);
  return [lo!, hi!];
}

function checkImageSize(op: string, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    fail(op, `image width and height must be positive integers, got ${width}x${height}`);
  }
}

/**
 * torchvision's RandomResizedCrop.get_params for a width x height image, drawing from `uniform`
 * ([0, 1) numbers): up to 10 attempts, each taking an area fraction uniformly from `scale` and an
 * aspect ratio log-uniformly from `ratio`, rounding the crop's sides, and keeping the first crop
 * that fits (with a uniformly placed corner); if none fits, the central crop of the whole image,
 * narrowed to the nearest ratio in range.
 */
export function sampleRandomResizedCrop(width: number, height: number, uniform: () => number, options: RandomResizedCropOptions = {}): Crop {
  const op = 'randomResizedCrop';
  checkImageSize(op, width, height);
  const [scaleLo, scaleHi] = checkRange(op, 'scale', options.scale ?? [0.08, 1], false);
  const [ratioLo, ratioHi] = checkRange(op, 'ratio', options.ratio ?? [3 / 4, 4 / 3], true);
  const area = width * height;
  const [logLo, logHi] = [Math.log(ratioLo), Math.log(ratioHi)];
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * (scaleLo + (scaleHi - scaleLo) * uniform());
    const aspect = Math.exp(logLo + (logHi - logLo) * uniform());
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = Math.floor(uniform() * (height - h + 1));
      const left = Math.floor(uniform() * (width - w + 1));
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  let [w, h] = [width, height];
  if (inRatio < ratioLo) h = roundHalfEven(w / ratioLo);
  else if (inRatio > ratioHi) w = roundHalfEven(h * ratioHi);
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/** The crop and flip of one width x height image for training, from its own random numbers. */
export function sampleAugmentParams(width: number, height: number, draw: AugmentDraw, options: AugmentSampleOptions = {}): AugmentParams {
  const op = 'sampleAugmentParams';
  const { seed, id, epoch = 0 } = draw;
  if (!Number.isSafeInteger(seed) || seed < 0) fail(op, `seed must be an integer in [0, 2^53), got ${seed}`);
  if (!Number.isInteger(id) || id < 0 || id >= 2 ** 32) fail(op, `id must be an integer in [0, 2^32), got ${id}`);
  if (!Number.isInteger(epoch) || epoch < 0 || epoch >= 2 ** 32) fail(op, `epoch must be an integer in [0, 2^32), got ${epoch}`);
  const p = options.flipProbability ?? 0.5;
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) fail(op, `flipProbability must be between 0 and 1, got ${p}`);
  const crop = sampleRandomResizedCrop(width, height, augmentUniforms(draw, STREAM_CROP), options);
  // torchvision: flip when torch.rand(1) < p.
  const flip = augmentUniforms(draw, STREAM_FLIP)() < p;
  return { crop, flip };
}

// ---- the GPU transform -----------------------------------------------------------------------

const WG = 64;
const BOX_WORDS = 16;
const KERNEL: KernelSpec = { name: 'augment', shader: 'augment', defines: { WG, BOX_WORDS }, bindings: ['uniform', 'read', 'read', 'write'] };

/** Where one axis of the output samples from (see shaders/augment.wgsl). */
interface AxisWindow {
  lo: number;
  hi: number;
  base: number;
  scale: number;
}

interface Sampling {
  x: AxisWindow;
  y: AxisWindow;
  flip: boolean;
}

function outputSize(op: string, size: TransformOptions['size']): [number, number] {
  const v = size ?? 224;
  const pair = typeof v === 'number' ? [v, v] : Array.isArray(v) ? [...v] : [];
  if (pair.length !== 2 || !pair.every((d) => Number.isInteger(d) && d >= 1)) {
    fail(op, `size must be a positive integer or a pair of them (height, width), got ${JSON.stringify(v)}`);
  }
  return pair as [number, number];
}

function checkChannels(op: string, name: string, v: readonly number[], positive: boolean): void {
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => Number.isFinite(x) && (!positive || x > 0))) {
    fail(op, `${name} must be 3 finite numbers${positive ? ' > 0' : ''} (R, G, B), got ${JSON.stringify(v)}`);
  }
}

function checkImages(op: string, images: readonly RgbaImage[], maxPixels: number): void {
  if (!Array.isArray(images) || images.length === 0) fail(op, 'expected at least one image');
  images.forEach((image, i) => {
    const { width, height, data } = image;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      fail(op, `image ${i}: width and height must be positive integers, got ${width}x${height}`);
    }
    if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) fail(op, `image ${i}: data must be a Uint8Array or Uint8ClampedArray of RGBA bytes`);
    if (data.length !== width * height * 4) fail(op, `image ${i}: a ${width}x${height} RGBA image has ${width * height * 4} bytes, got ${data.length}`);
    if (width * height > maxPixels) {
      fail(op, `image ${i}: ${width}x${height} is over the ${maxPixels} pixels one dispatch binds on this device; downscale it first`);
    }
  });
}

/**
 * Splits images (given their pixel counts) into runs of consecutive images of at most `maxPixels`
 * pixels in all: [first, end) index pairs. Every count must be <= maxPixels.
 */
export function stagingGroups(pixelCounts: readonly number[], maxPixels: number): Array<[number, number]> {
  const groups: Array<[number, number]> = [];
  let first = 0;
  let total = 0;
  pixelCounts.forEach((n, i) => {
    if (i > first && total + n > maxPixels) {
      groups.push([first, i]);
      first = i;
      total = 0;
    }
    total += n;
  });
  if (pixelCounts.length > 0) groups.push([first, pixelCounts.length]);
  return groups;
}

function run(engine: Engine, op: string, images: readonly RgbaImage[], samplings: readonly Sampling[], options: TransformOptions, antialias: boolean): Tensor {
  const [outHeight, outWidth] = outputSize(op, options.size);
  const plane = outHeight * outWidth;
  const mean = options.mean ?? IMAGENET_MEAN;
  const std = options.std ?? IMAGENET_STD;
  const limit = engine.maxBindingBytes;
  const maxPixels = Math.floor(Math.min(options.maxStagingBytes ?? limit, limit) / 4);
  // Past the binding limit the output splits by images; each run of them is packed into staging
  // uploads of at most maxPixels pixels (a dispatch each).
  const split: Split = {
    op,
    axes: [{ name: 'image', size: images.length }],
    operands: [{ name: 'output', output: [images.length, 3, outHeight, outWidth], per: [3 * plane] }],
    otherBytes: () => Math.max(images.length * BOX_WORDS * 4, maxPixels * 4),
  };
  const plan = planSplit(engine, split);
  const groups = plan.chunks.flatMap((c) =>
    stagingGroups(images.slice(c.a0, c.a0 + c.a).map((im) => im.width * im.height), maxPixels).map(([f, e]): [number, number] => [c.a0 + f, c.a0 + e]),
  );

  // The per-image table: offsets are relative to the start of the image's own staging group.
  const table = new ArrayBuffer(images.length * BOX_WORDS * 4);
  const words = new Uint32Array(table);
  const floats = new Float32Array(table);
  const offsets: number[] = [];
  for (const [first, end] of groups) {
    let offset = 0;
    for (let n = first; n < end; n++) {
      offsets[n] = offset;
      offset += images[n]!.width * images[n]!.height;
    }
  }
  samplings.forEach((s, n) => {
    const at = n * BOX_WORDS;
    words[at] = offsets[n]!;
    words[at + 1] = images[n]!.width;
    words[at + 2] = s.flip ? 1 : 0;
    [s.x, s.y].forEach((axis, k) => {
      const a = at + 4 + 6 * k;
      const scale = axis.scale;
      // PyTorch's filter: widened by the scale when shrinking with antialias.
      const wide = antialias && scale > 1;
      words[a] = axis.lo;
      words[a + 1] = axis.hi;
      floats[a + 2] = axis.base;
      floats[a + 3] = scale;
      floats[a + 4] = wide ? scale : 1;
      floats[a + 5] = wide ? 1 / scale : 1;
    });
  });

  const boxes = engine.empty([words.length], 'augment.boxes');
  engine.upload(boxes, words);
  const [out] = runSplit(
    engine,
    split,
    ([y], c) => {
      for (const [first, end] of groups.filter(([f]) => f >= c.a0 && f < c.a0 + c.a)) {
        const total = images.slice(first, end).reduce((sum, im) => sum + im.width * im.height, 0);
        const bytes = new Uint8Array(total * 4);
        let at = 0;
        for (let n = first; n < end; n++) {
          bytes.set(images[n]!.data, at);
          at += images[n]!.data.length;
        }
        const staging = engine.empty([total], 'augment.pixels');
        engine.upload(staging, new Uint32Array(bytes.buffer));
        const uniforms = params()
          .u32(first, end - first, outWidth, outHeight)
          .f32(...mean, ...std)
          .u32(c.a0);
        engine.dispatch(KERNEL, [staging, boxes, y!], grid1d((end - first) * plane, WG), uniforms);
        // Back to the pool now: a later upload into it is ordered after this dispatch.
        staging.dispose();
      }
    },
    plan,
  );
  boxes.dispose();
  return out!;
}

function checkCommon(engine: Engine, op: string, images: readonly RgbaImage[], options: TransformOptions): boolean {
  const limit = engine.maxBindingBytes;
  const maxStaging = options.maxStagingBytes ?? limit;
  if (!Number.isInteger(maxStaging) || maxStaging < 4) fail(op, `maxStagingBytes must be an integer >= 4, got ${maxStaging}`);
  checkImages(op, images, Math.floor(Math.min(maxStaging, limit) / 4));
  outputSize(op, options.size);
  checkChannels(op, 'mean', options.mean ?? IMAGENET_MEAN, false);
  checkChannels(op, 'std', options.std ?? IMAGENET_STD, true);
  const antialias = options.antialias ?? true;
  if (typeof antialias !== 'boolean') fail(op, `antialias must be true or false, got ${String(antialias)}`);
  return antialias;
}

/**
 * Training transform: each image's crop (in its own pixels) resized to `size`, mirrored where
 * `flip`, scaled to [0, 1] and normalised (ImageNet mean and std by default), as torchvision's
 * RandomResizedCrop + RandomHorizontalFlip + ToTensor + Normalize with the given parameters.
 * Returns [N, 3, H, W].
 */
export function augmentBatch(engine: Engine, images: readonly RgbaImage[], augment: readonly AugmentParams[], options: TransformOptions = {}): Tensor {
  const op = 'augmentBatch';
  const antialias = checkCommon(engine, op, images, options);
  if (!Array.isArray(augment) || augment.length !== images.length) {
    fail(op, `expected parameters for each of the ${images.length} images, got ${Array.isArray(augment) ? augment.length : String(augment)}`);
  }
  const [outHeight, outWidth] = outputSize(op, options.size);
  const samplings = augment.map(({ crop, flip }, n): Sampling => {
    const { width, height } = images[n]!;
    const { top, left } = crop;
    const ints = [top, left, crop.height, crop.width];
    if (!ints.every(Number.isInteger) || top < 0 || left < 0 || crop.height < 1 || crop.width < 1 || top + crop.height > height || left + crop.width > width) {
      fail(op, `image ${n}: crop ${JSON.stringify(crop)} is not a non-empty integer rectangle inside the ${width}x${height} image`);
    }
    if (typeof flip !== 'boolean') fail(op, `image ${n}: flip must be true or false, got ${String(flip)}`);
    return {
      x: { lo: left, hi: left + crop.width, base: left, scale: crop.width / outWidth },
      y: { lo: top, hi: top + crop.height, base: top, scale: crop.height / outHeight },
      flip,
    };
  });
  return run(engine, op, images, samplings, options, antialias);
}

/**
 * Evaluation transform: Resize so the shorter side is `resizeTo` (keeping the aspect ratio), the
 * centre `size` crop, ToTensor, Normalize, as torchvision's Resize(resizeTo) + CenterCrop(size).
 * Returns [N, 3, H, W].
 */
export function centerCropBatch(engine: Engine, images: readonly RgbaImage[], options: CenterCropOptions = {}): Tensor {
  const op = 'centerCropBatch';
  const antialias = checkCommon(engine, op, images, options);
  const samplings = images.map((image): Sampling => {
    let g;
    try {
      g = preprocessGeometry(image.width, image.height, { size: options.size, resizeTo: options.resizeTo });
    } catch (err) {
      if (err instanceof OpError) fail(op, err.message.replace(/^preprocess: /, ''));
      throw err;
    }
    const scaleX = image.width / g.resizedWidth;
    const scaleY = image.height / g.resizedHeight;
    return {
      x: { lo: 0, hi: image.width, base: g.left * scaleX, scale: scaleX },
      y: { lo: 0, hi: image.height, base: g.top * scaleY, scale: scaleY },
      flip: false,
    };
  });
  return run(engine, op, images, samplings, options, antialias);
}
