// GPU image preprocessing (resize + centre crop + normalise) against a float64 CPU reference
// written here from PyTorch's definition of the (antialiased) bilinear filter, against PyTorch's
// own values (kernels-test/fixtures/resnet18/preprocess.json), batching, and every argument error.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HashStream } from '../src/data/random.js';
import { IMAGENET_MEAN, IMAGENET_STD, preprocessGeometry, preprocessImages, type PreprocessOptions, type RgbaImage } from '../src/ops/preprocess.js';
import { FIXTURE_DIR } from './fixtures.js';
import { assertClose, reduction, useEngine } from './helpers.js';

const engine = useEngine();

/** Seeded RGBA bytes, as scripts/golden/make_resnet18_fixtures.py makes them. */
function seededRgba(seed: number, width: number, height: number): RgbaImage {
  const u = new HashStream('rgba', seed).uniform(width * height * 4, -1, 1);
  return { width, height, data: Uint8Array.from(u, (v) => Math.floor((v + 1) * 128)) };
}

/**
 * PyTorch's separable bilinear filter along one axis (aten's _compute_weights_aa): output index i
 * of `outSize` centred at scale * (i + 0.5), inputs within the support, triangle weights, normalised.
 */
function axisWeights(inSize: number, outSize: number, antialias: boolean): Array<Map<number, number>> {
  const scale = inSize / outSize;
  const support = antialias && scale > 1 ? scale : 1;
  const invscale = antialias && scale > 1 ? 1 / scale : 1;
  const rows: Array<Map<number, number>> = [];
  for (let i = 0; i < outSize; i++) {
    const center = scale * (i + 0.5);
    const first = Math.max(Math.trunc(center - support + 0.5), 0);
    const last = Math.min(Math.trunc(center + support + 0.5), inSize);
    const weights = new Map<number, number>();
    let total = 0;
    for (let j = first; j < last; j++) {
      const w = Math.max(0, 1 - Math.abs((j - center + 0.5) * invscale));
      weights.set(j, w);
      total += w;
    }
    if (total !== 0) for (const [j, w] of weights) weights.set(j, w / total);
    rows.push(weights);
  }
  return rows;
}

/** Resize, crop and normalise one image on the CPU in float64: [3, H, W] flattened. */
function preprocessRef(image: RgbaImage, options: PreprocessOptions): Float64Array {
  const g = preprocessGeometry(image.width, image.height, options);
  const antialias = options.antialias ?? true;
  const mean = options.mean ?? IMAGENET_MEAN;
  const std = options.std ?? IMAGENET_STD;
  const wy = axisWeights(image.height, g.resizedHeight, antialias);
  const wx = axisWeights(image.width, g.resizedWidth, antialias);
  const out = new Float64Array(3 * g.outHeight * g.outWidth);
  for (let c = 0; c < 3; c++) {
    for (let oy = 0; oy < g.outHeight; oy++) {
      for (let ox = 0; ox < g.outWidth; ox++) {
        let v = 0;
        for (const [y, fy] of wy[oy + g.top]!) {
          for (const [x, fx] of wx[ox + g.left]!) v += fy * fx * (image.data[(y * image.width + x) * 4 + c]! / 255);
        }
        out[(c * g.outHeight + oy) * g.outWidth + ox] = (v - mean[c]!) / std[c]!;
      }
    }
  }
  return out;
}

/** The tolerance for sums of up to (taps per axis)^2 weighted pixels. */
function tolerance(image: RgbaImage, options: PreprocessOptions) {
  const g = preprocessGeometry(image.width, image.height, options);
  const taps = (inSize: number, outSize: number) => 2 * Math.ceil(Math.max(1, inSize / outSize)) + 1;
  return reduction(taps(image.width, g.resizedWidth) * taps(image.height, g.resizedHeight));
}

async function gpu(images: RgbaImage[], options: PreprocessOptions): Promise<{ shape: readonly number[]; data: Float32Array }> {
  const t = preprocessImages(engine(), images, options);
  try {
    return { shape: t.shape, data: await t.toArray() };
  } finally {
    t.dispose();
  }
}

describe('geometry', () => {
  it("follows torchvision's Resize(int) + CenterCrop", () => {
    expect(preprocessGeometry(640, 480)).toEqual({ resizedHeight: 256, resizedWidth: 341, top: 16, left: 58, outHeight: 224, outWidth: 224 });
    expect(preprocessGeometry(480, 640)).toEqual({ resizedHeight: 341, resizedWidth: 256, top: 58, left: 16, outHeight: 224, outWidth: 224 });
    // Python's round(): (13 - 12) / 2 = 0.5 -> 0 and (19 - 12) / 2 = 3.5 -> 4.
    expect(preprocessGeometry(19, 45, { size: [10, 12], resizeTo: 13 })).toMatchObject({ resizedHeight: 30, resizedWidth: 13, top: 10, left: 0 });
    expect(preprocessGeometry(9, 6, { size: 12, resizeTo: 13 })).toMatchObject({ resizedHeight: 13, resizedWidth: 19, top: 0, left: 4 });
    expect(preprocessGeometry(100, 50, { size: 64, fit: 'stretch' })).toEqual({ resizedHeight: 64, resizedWidth: 64, top: 0, left: 0, outHeight: 64, outWidth: 64 });
  });
});

describe('preprocessImages against the CPU reference', () => {
  const cases: Array<[string, number, number, PreprocessOptions]> = [
    ['a 640x480 photo shape at the default 224 (antialiased 1.9x shrink)', 160, 120, { size: 56 }],
    ['a portrait image, odd size', 45, 71, { size: 17 }],
    ['upscaling', 7, 5, { size: 13 }],
    ['stretch, shrink by 3.7 with antialias', 37, 29, { size: [10, 8], fit: 'stretch' }],
    ['stretch, shrink without antialias', 37, 29, { size: [10, 8], fit: 'stretch', antialias: false }],
    ['a 1-pixel image', 1, 1, { size: 3, fit: 'stretch' }],
    ['a 1-pixel-high strip', 53, 1, { size: [1, 7], fit: 'stretch' }],
  ];
  it.each(cases)('%s', async (_, width, height, options) => {
    const image = seededRgba(width * 31 + height, width, height);
    const got = await gpu([image], options);
    const g = preprocessGeometry(width, height, options);
    expect(got.shape).toEqual([1, 3, g.outHeight, g.outWidth]);
    assertClose(got.data, preprocessRef(image, options), tolerance(image, options), `${width}x${height} ${JSON.stringify(options)}`);
  });

  it('batches images of different sizes, each as it would be alone', async () => {
    const images = [seededRgba(1, 40, 30), seededRgba(2, 17, 33), seededRgba(3, 24, 24)];
    const options: PreprocessOptions = { size: 16 };
    const got = await gpu(images, options);
    expect(got.shape).toEqual([3, 3, 16, 16]);
    images.forEach((image, n) => {
      assertClose(got.data.subarray(n * 768, (n + 1) * 768), preprocessRef(image, options), tolerance(image, options), `image ${n}`);
    });
  });

  it('keeps the default ImageNet normalisation: a flat grey image gives (v/255 - mean) / std', async () => {
    const grey: RgbaImage = { width: 5, height: 4, data: new Uint8Array(80).fill(128) };
    const got = await gpu([grey], { size: 3 });
    for (let c = 0; c < 3; c++) {
      const want = (128 / 255 - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!;
      assertClose(got.data.subarray(c * 9, (c + 1) * 9), new Float64Array(9).fill(want), reduction(20), `channel ${c}`);
    }
  });

  it('ignores alpha', async () => {
    const image = seededRgba(9, 6, 5);
    const opaque: RgbaImage = { ...image, data: image.data.map((v, i) => (i % 4 === 3 ? 255 : v)) };
    const clear: RgbaImage = { ...image, data: image.data.map((v, i) => (i % 4 === 3 ? 0 : v)) };
    const [a, b] = [await gpu([opaque], { size: 4 }), await gpu([clear], { size: 4 })];
    expect(a.data).toEqual(b.data);
  });
});

describe("preprocessImages against PyTorch's values", () => {
  interface Case {
    name: string;
    seed: number;
    width: number;
    height: number;
    options: PreprocessOptions;
    out: { shape: number[]; data: number[] };
  }
  const fixture = JSON.parse(readFileSync(join(FIXTURE_DIR, 'resnet18', 'preprocess.json'), 'utf8')) as { cases: Case[] };

  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const image = seededRgba(c.seed, c.width, c.height);
    const got = await gpu([image], c.options);
    expect(got.shape).toEqual([1, ...c.out.shape]);
    assertClose(got.data, c.out.data, tolerance(image, c.options), c.name);
    // The reference above agrees with PyTorch too (it is the oracle of the other tests).
    assertClose(preprocessRef(image, c.options), c.out.data, { rtol: 1e-6, atol: 1e-6 }, `${c.name} (reference)`);
  });
});

describe('argument errors', () => {
  const image = seededRgba(5, 8, 6);
  it.each<[string, () => unknown, string]>([
    ['no images', () => preprocessImages(engine(), []), 'preprocess: expected at least one image'],
    ['a bad size', () => preprocessImages(engine(), [image], { size: 0 }), 'preprocess: size must be a positive integer, got 0'],
    ['a size triple', () => preprocessImages(engine(), [image], { size: [1, 2, 3] as unknown as [number, number] }), 'preprocess: size must be a number or a pair (height, width), got [1,2,3]'],
    ['a bad fit', () => preprocessImages(engine(), [image], { fit: 'cover' as 'stretch' }), `preprocess: fit must be 'center-crop' or 'stretch', got "cover"`],
    ['resizeTo with stretch', () => preprocessImages(engine(), [image], { fit: 'stretch', resizeTo: 9 }), "preprocess: resizeTo only applies to fit 'center-crop'"],
    [
      'a crop bigger than the resized image',
      () => preprocessImages(engine(), [image], { size: 8, resizeTo: 7 }),
      'preprocess: a 8x6 image resized to 9x7 (resizeTo 7) is smaller than the 8x8 crop; use resizeTo >= 8',
    ],
    ['a zero std', () => preprocessImages(engine(), [image], { std: [1, 0, 1] }), 'preprocess: std must be 3 finite numbers > 0 (R, G, B), got [1,0,1]'],
    ['two means', () => preprocessImages(engine(), [image], { mean: [0, 0] as unknown as [number, number, number] }), 'preprocess: mean must be 3 finite numbers (R, G, B), got [0,0]'],
    [
      'pixels that do not match the size',
      () => preprocessImages(engine(), [image, { width: 3, height: 2, data: new Uint8Array(18) }]),
      'preprocess: image 1: a 3x2 RGBA image has 24 bytes, got 18',
    ],
    ['a zero-width image', () => preprocessImages(engine(), [{ width: 0, height: 2, data: new Uint8Array(0) }]), 'preprocess: image 0: width and height must be positive integers, got 0x2'],
    [
      'float pixels',
      () => preprocessImages(engine(), [{ width: 1, height: 1, data: new Float32Array(4) as unknown as Uint8Array }]),
      'preprocess: image 0: data must be a Uint8Array or Uint8ClampedArray of RGBA bytes',
    ],
  ])('refuses %s', (_, call, message) => {
    const before = engine().pending;
    expect(call).toThrow(message);
    expect(engine().pending).toBe(before); // nothing recorded
  });

  it('refuses an image over the binding limit before uploading anything', () => {
    const limit = engine().limits.maxStorageBufferBindingSize;
    const side = Math.ceil(Math.sqrt(limit / 4)) + 1;
    // A view that claims the size without allocating the bytes is enough to reach the check.
    const huge = { width: side, height: side, data: { length: side * side * 4 } } as unknown as RgbaImage;
    Object.setPrototypeOf(huge.data, Uint8Array.prototype);
    expect(() => preprocessImages(engine(), [huge])).toThrow(`preprocess: image 0: ${side}x${side} is over the ${Math.floor(limit / 4)} pixels one GPU binding holds on this device; downscale it first`);
  });
});
