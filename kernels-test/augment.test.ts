// GPU training/evaluation transforms (src/ops/augment.ts): the crop-resize-flip-normalise kernel
// against the float64 reference (src/reference/augment.ts) for fixed parameters on odd sizes, the
// reference against torchvision's own values, the evaluation path against preprocessImages,
// batches of mixed sizes split over several dispatches, the RandomResizedCrop sampler (torchvision's
// procedure, its statistics, determinism per seed) and every argument error.
import { describe, expect, it } from 'vitest';
import {
  augmentBatch,
  augmentUniforms,
  centerCropBatch,
  sampleAugmentParams,
  sampleRandomResizedCrop,
  stagingGroups,
  type AugmentParams,
  type CenterCropOptions,
  type TransformOptions,
} from '../src/ops/augment.js';
import { IMAGENET_MEAN, IMAGENET_STD, preprocessImages, type RgbaImage } from '../src/ops/preprocess.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { centerCropRef, resizedCropRef } from '../src/reference/augment.js';
import { philox4x32 } from '../src/reference/philox.js';
import { assertClose, random, reduction, useEngine } from './helpers.js';

const engine = useEngine();

/** Seeded RGBA bytes. */
function rgba(seed: number, width: number, height: number): RgbaImage {
  return { width, height, data: Uint8Array.from(random(width * height * 4, seed, 0, 256), Math.floor) };
}

/** The bytes the torchvision values below were computed from: the top byte of k * 2654435761. */
function hashed(width: number, height: number): RgbaImage {
  return { width, height, data: Uint8Array.from({ length: width * height * 4 }, (_, k) => Number((BigInt(k) * 2654435761n) & 0xffffffffn) >> 24) };
}

/** Sums of up to (taps per axis)^2 weighted pixels, as preprocess's tests allow. */
function tolerance(shrink: number) {
  const taps = 2 * Math.ceil(Math.max(1, shrink)) + 1;
  return reduction(taps * taps);
}

async function read(t: Tensor): Promise<{ shape: readonly number[]; data: Float32Array }> {
  try {
    return { shape: t.shape, data: await t.toArray() };
  } finally {
    t.dispose();
  }
}

describe('the reference against torchvision', () => {
  // torchvision 0.14 on float64 tensors of the hashed 11x7 image / 255:
  // F.resized_crop(..., antialias=True), F.hflip, F.normalize(ImageNet), and
  // F.resize(5, antialias=True) + F.center_crop(4) + F.normalize; values to 5 decimals.
  const image = hashed(11, 7);
  const close = { rtol: 0, atol: 1e-5 };
  it('RandomResizedCrop shrinking, antialiased, flipped', () => {
    const want = [
      0.22099, 0.08284, -0.14253, -0.07663, -0.27871, -0.02968, 0.24954, 0.49705, 0.29836, 0.3625, 0.1388, -0.00289, 0.10636, 0.03017, 0.14668, 0.53338,
      0.37594, 0.25813, 0.0536, -0.03441, -0.17883, 0.09794, 0.24441, -0.21027, 0.26188, 0.64876, 0.79251, 0.23214, 0.40352, 0.39413, 0.48819, 0.6362,
      0.61409, 0.42018, 0.1908, 0.31118,
    ];
    const got = resizedCropRef(image, { crop: { top: 1, left: 2, height: 6, width: 9 }, flip: true }, { size: [3, 4] });
    expect(got.shape).toEqual([1, 3, 3, 4]);
    assertClose(got.data, want, close, 'shrink');
  });

  it('RandomResizedCrop growing (plain bilinear)', () => {
    const want = [
      -2.1179, -0.67942, 0.97311, 1.31561, -0.30268, -1.59346, -0.14749, 0.13828, -0.06721, 0.23247, -0.9577, 0.48827, -0.04795, -0.58224, 0.86823,
      -0.42255, 1.01593, 0.4765, -0.0578, 1.39267, 0.73039, -0.92402, -0.58263, -0.24125, -1.89566, 1.26654, -0.38787, -0.04101, 0.30585, -1.34856,
      0.23582, -0.24212, 0.61222, 0.96039, -0.69862, -2.01821, -0.53536, 1.15931, 1.5042, -0.16246, -0.75869, 0.71756, 0.17377, -0.37002, 1.10623,
      -0.22492, 1.25133, 0.70754, 0.16375, 1.64, 0.42214, 0.72715, 0.518, 0.30885, 0.61386, 0.9668, -0.68026, -0.33168, 0.01691, -1.63015,
    ];
    const crop = { top: 0, left: 0, height: 3, width: 4 };
    assertClose(resizedCropRef(image, { crop, flip: false }, { size: [4, 5] }).data, want, close, 'grow');
    // Growing never widens the filter: antialias makes no difference.
    assertClose(resizedCropRef(image, { crop, flip: false }, { size: [4, 5], antialias: false }).data, want, close, 'grow, plain');
  });

  it('Resize + CenterCrop', () => {
    const want = [
      0.30311, 0.04612, -0.00157, 0.57259, -0.12121, -0.14896, -0.39663, 0.26149, 0.70632, 0.61304, 0.30583, 0.04846, 0.13567, -0.23378, -0.26153,
      -0.32054, -0.52938, 0.82315, 0.56043, 0.33681, 0.53137, 0.15307, 0.1247, 0.06707, -0.04887, -0.13583, -0.27556, 0.86444, -0.20198, 0.77114,
      0.39071, 0.08069, 0.2246, 0.19594, -0.17881, -0.48854, 0.03954, 1.25137, 0.8765, 0.56528, 0.29538, 0.38638, 0.29884, 0.18785, 0.5531, 0.32763,
      0.27084, 1.0789,
    ];
    assertClose(centerCropRef(image, { size: 4, resizeTo: 5 }).data, want, close, 'eval');
  });
});

describe('augmentBatch against the reference', () => {
  const cases: Array<[string, number, number, AugmentParams, TransformOptions]> = [
    ['a shrinking crop, antialiased, flipped', 37, 29, { crop: { top: 3, left: 5, height: 23, width: 31 }, flip: true }, { size: [7, 9] }],
    ['a shrinking crop without antialias', 37, 29, { crop: { top: 3, left: 5, height: 23, width: 31 }, flip: false }, { size: [7, 9], antialias: false }],
    ['a growing crop at the corner', 13, 11, { crop: { top: 8, left: 9, height: 3, width: 4 }, flip: true }, { size: 11 }],
    ['the whole image, odd output', 17, 23, { crop: { top: 0, left: 0, height: 23, width: 17 }, flip: false }, { size: [13, 5] }],
    ['a one-pixel crop', 6, 5, { crop: { top: 2, left: 3, height: 1, width: 1 }, flip: true }, { size: 3 }],
    ['a 1-pixel-high strip', 41, 3, { crop: { top: 1, left: 2, height: 1, width: 37 }, flip: true }, { size: [2, 5] }],
    ['other mean and std', 19, 14, { crop: { top: 1, left: 1, height: 12, width: 15 }, flip: false }, { size: 6, mean: [0.5, 0.25, 0], std: [0.5, 2, 1] }],
  ];
  it.each(cases)('%s', async (_, width, height, params, options) => {
    const image = rgba(width * 7 + height, width, height);
    const got = await read(augmentBatch(engine(), [image], [params], options));
    const want = resizedCropRef(image, params, options);
    expect(got.shape).toEqual(want.shape);
    const [oh, ow] = want.shape.slice(2) as [number, number];
    assertClose(got.data, want.data, tolerance(Math.max(params.crop.width / ow, params.crop.height / oh)), `${width}x${height} ${JSON.stringify(params)}`);
  });

  it('batches images of different sizes in one dispatch, each as it would be alone', async () => {
    const images = [rgba(1, 40, 30), rgba(2, 17, 33), rgba(3, 9, 9), rgba(4, 64, 5)];
    const params: AugmentParams[] = [
      { crop: { top: 2, left: 7, height: 25, width: 30 }, flip: true },
      { crop: { top: 10, left: 0, height: 20, width: 17 }, flip: false },
      { crop: { top: 0, left: 0, height: 9, width: 9 }, flip: true },
      { crop: { top: 1, left: 20, height: 4, width: 40 }, flip: false },
    ];
    const options: TransformOptions = { size: [8, 10] };
    const before = engine().pending;
    const out = augmentBatch(engine(), images, params, options);
    expect(engine().pending - before).toBe(3); // two uploads (table, pixels) and one dispatch
    const got = await read(out);
    expect(got.shape).toEqual([4, 3, 8, 10]);
    images.forEach((image, n) => {
      const want = resizedCropRef(image, params[n]!, options);
      assertClose(got.data.subarray(n * 240, (n + 1) * 240), want.data, tolerance(4), `image ${n}`);
    });
  });

  it('splits a batch over several dispatches when the pixels do not fit one binding, with the same result', async () => {
    const images = [rgba(5, 20, 10), rgba(6, 9, 13), rgba(7, 30, 4), rgba(8, 5, 5)];
    const params = images.map((im, id) => sampleAugmentParams(im.width, im.height, { seed: 3, id }));
    const whole = await read(augmentBatch(engine(), images, params, { size: 6 }));
    const before = engine().pending;
    // 200 pixels at most: groups [0], [1, 2], [3] (117 + 120 = 237 would not fit with image 0).
    const split = augmentBatch(engine(), images, params, { size: 6, maxStagingBytes: 250 * 4 });
    expect(engine().pending - before).toBe(1 + 2 * 3);
    expect((await read(split)).data).toEqual(whole.data);
  });

  it('groups images for staging in order, starting a new group when the next would not fit', () => {
    expect(stagingGroups([200, 117, 120, 25], 250)).toEqual([[0, 1], [1, 3], [3, 4]]);
    expect(stagingGroups([5, 5, 5], 100)).toEqual([[0, 3]]);
    expect(stagingGroups([100, 100], 100)).toEqual([[0, 1], [1, 2]]);
    expect(stagingGroups([], 100)).toEqual([]);
  });
});

describe('centerCropBatch (Resize + CenterCrop)', () => {
  const cases: Array<[string, number, number, CenterCropOptions]> = [
    ['a landscape image shrunk 2.5x', 71, 45, { size: 16, resizeTo: 18 }],
    ['a portrait image, odd sizes', 23, 37, { size: [9, 7], resizeTo: 11 }],
    ['an upscaled small image', 7, 5, { size: 12 }],
    ['without antialias', 53, 40, { size: 10, antialias: false }],
  ];
  it.each(cases)('%s matches the reference', async (_, width, height, options) => {
    const image = rgba(width + 100 * height, width, height);
    const got = await read(centerCropBatch(engine(), [image], options));
    const want = centerCropRef(image, options);
    expect(got.shape).toEqual(want.shape);
    assertClose(got.data, want.data, tolerance(Math.max(width, height) / 9), `${width}x${height}`);
  });

  it('agrees with preprocessImages (checked against PyTorch) on a mixed batch', async () => {
    const images = [rgba(11, 50, 31), rgba(12, 19, 40), rgba(13, 24, 24)];
    const options = { size: 14, resizeTo: 16 };
    const ours = await read(centerCropBatch(engine(), images, options));
    const theirs = await read(preprocessImages(engine(), images, options));
    assertClose(ours.data, theirs.data, tolerance(4), 'centerCropBatch vs preprocessImages');
  });

  it('is an exact crop when no resizing is needed', async () => {
    // 20x16: the shorter side is already 16, so the output is the centre 12x12 pixels themselves.
    const image = rgba(21, 20, 16);
    const got = await read(centerCropBatch(engine(), [image], { size: 12, resizeTo: 16, mean: [0, 0, 0], std: [1, 1, 1] }));
    const want = new Float32Array(3 * 144);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 12; y++) for (let x = 0; x < 12; x++) want[(c * 12 + y) * 12 + x] = image.data[((y + 2) * 20 + x + 4) * 4 + c]! / 255;
    }
    assertClose(got.data, want, { rtol: 1e-6, atol: 0 }, 'centre crop');
  });

  it('keeps the default ImageNet normalisation: flat grey gives (v/255 - mean) / std', async () => {
    const grey: RgbaImage = { width: 9, height: 6, data: new Uint8Array(216).fill(200) };
    const got = await read(centerCropBatch(engine(), [grey], { size: 4 }));
    for (let c = 0; c < 3; c++) {
      const v = (200 / 255 - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!;
      assertClose(got.data.subarray(c * 16, (c + 1) * 16), new Float64Array(16).fill(v), reduction(16), `channel ${c}`);
    }
  });
});

describe('the RandomResizedCrop sampler', () => {
  /** A uniform source that returns the given numbers in order. */
  const scripted = (values: number[]) => () => {
    if (values.length === 0) throw new Error('scripted uniforms ran out');
    return values.shift()!;
  };

  it("follows torchvision's procedure for an attempt that fits", () => {
    // area 10000 * (0.08 + 0.92 * 0.5) = 5400, ratio exp(0) = 1: a 73x73 crop (sqrt 73.48); corner
    // top floor(0 * 28) = 0, left floor(0.999 * 28) = 27.
    expect(sampleRandomResizedCrop(100, 100, scripted([0.5, 0.5, 0, 0.999]))).toEqual({ top: 0, left: 27, height: 73, width: 73 });
    // 100x50, scale [0.5, 1]: the first attempt (area 5000, ratio 4/3: 82x61) is too high; the
    // second (area 2500, ratio 4/3: 58x43) fits, at top floor(0.5 * 8) = 4, left floor(0.5 * 43) = 21.
    expect(sampleRandomResizedCrop(100, 50, scripted([1, 1, 0, 1, 0.5, 0.5]), { scale: [0.5, 1] })).toEqual({ top: 4, left: 21, height: 43, width: 58 });
  });

  it('falls back to the central crop clamped to the ratio range after 10 failed attempts', () => {
    const failing = () => scripted(Array(20).fill(0.5));
    const tooBig = { scale: [2, 3] as [number, number] };
    // 100x20 is wider than 4/3: full height, width round(20 * 4/3) = 27, centred.
    expect(sampleRandomResizedCrop(100, 20, failing(), tooBig)).toEqual({ top: 0, left: 36, height: 20, width: 27 });
    // 20x100 is taller than 3/4: full width, height round(20 / (3/4)) = 27, centred.
    expect(sampleRandomResizedCrop(20, 100, failing(), tooBig)).toEqual({ top: 36, left: 0, height: 27, width: 20 });
    // 30x25 is within the range: the whole image.
    expect(sampleRandomResizedCrop(30, 25, failing(), tooBig)).toEqual({ top: 0, left: 0, height: 25, width: 30 });
  });

  it('draws crops inside the image with scale and ratio in range, corners spread uniformly, flips at rate p', () => {
    // A square image, so that crops too big to fit are as often too wide as too high and the
    // accepted ratios stay symmetric.
    const [width, height] = [500, 500];
    const n = 3000;
    let [flips, logRatioSum, cornerSum, corners, outside] = [0, 0, 0, 0, 0];
    let [minScale, maxScale, minRatio, maxRatio] = [Infinity, 0, Infinity, 0];
    for (let id = 0; id < n; id++) {
      const { crop, flip } = sampleAugmentParams(width, height, { seed: 1234, id });
      if (crop.top < 0 || crop.left < 0 || crop.top + crop.height > height || crop.left + crop.width > width) outside++;
      const scale = (crop.width * crop.height) / (width * height);
      const ratio = crop.width / crop.height;
      [minScale, maxScale] = [Math.min(minScale, scale), Math.max(maxScale, scale)];
      [minRatio, maxRatio] = [Math.min(minRatio, ratio), Math.max(maxRatio, ratio)];
      logRatioSum += Math.log(ratio);
      if (crop.width < width) {
        cornerSum += crop.left / (width - crop.width);
        corners++;
      }
      if (flip) flips++;
    }
    expect(outside).toBe(0);
    // In range (rounding the sides moves them a little), and the ranges really used.
    expect(minScale).toBeGreaterThan(0.08 * 0.98);
    expect(minScale).toBeLessThan(0.085);
    expect(maxScale).toBeGreaterThan(0.95);
    expect(minRatio).toBeGreaterThan((3 / 4) * 0.98);
    expect(minRatio).toBeLessThan(0.77);
    expect(maxRatio).toBeLessThan((4 / 3) * 1.02);
    expect(maxRatio).toBeGreaterThan(1.3);
    // log-uniform ratio: symmetric around 0 (uniform on +-0.288: sd 0.166 / sqrt(n) = 0.003).
    expect(Math.abs(logRatioSum / n)).toBeLessThan(0.012);
    // uniform corners: mean 0.5, sd 0.29 / sqrt(n) = 0.005.
    expect(Math.abs(cornerSum / corners - 0.5)).toBeLessThan(0.02);
    // flips ~ Binomial(n, 0.5): sd 0.009.
    expect(Math.abs(flips / n - 0.5)).toBeLessThan(0.035);
    let rare = 0;
    for (let id = 0; id < n; id++) if (sampleAugmentParams(8, 8, { seed: 9, id }, { flipProbability: 0.2 }).flip) rare++;
    expect(Math.abs(rare / n - 0.2)).toBeLessThan(0.03);
  });

  it('is deterministic per (seed, id, epoch) and changes with each of them', () => {
    const draw = { seed: 2 ** 40 + 17, id: 5, epoch: 3 };
    const a = sampleAugmentParams(300, 200, draw);
    expect(sampleAugmentParams(300, 200, { ...draw })).toEqual(a);
    const others = [{ ...draw, seed: draw.seed + 1 }, { ...draw, id: 6 }, { ...draw, epoch: 4 }].map((d) => sampleAugmentParams(300, 200, d));
    for (const o of others) expect(o.crop).not.toEqual(a.crop);
    // The flip has its own stream: changing the crop ranges leaves it alone.
    for (let id = 0; id < 20; id++) {
      expect(sampleAugmentParams(300, 200, { seed: 1, id }, { scale: [0.5, 0.6] }).flip).toBe(sampleAugmentParams(300, 200, { seed: 1, id }).flip);
    }
    // The uniforms are Philox words / 2^32: block b of stream s is philox((b, id, epoch, s), seed halves).
    const u = augmentUniforms(draw, 0);
    const words = philox4x32([0, 5, 3, 0], [17, 256]);
    expect([u(), u(), u(), u()]).toEqual(words.map((w) => w / 2 ** 32));
    expect(u()).toBe(philox4x32([1, 5, 3, 0], [17, 256])[0] / 2 ** 32);
  });

  it('gives the same batch for the same seed on the GPU', async () => {
    const images = [rgba(31, 33, 21), rgba(32, 18, 27)];
    const make = () => augmentBatch(engine(), images, images.map((im, id) => sampleAugmentParams(im.width, im.height, { seed: 77, id, epoch: 1 })), { size: 8 });
    const [a, b] = [await read(make()), await read(make())];
    expect(a.data).toEqual(b.data);
  });
});

describe('argument errors', () => {
  const image = rgba(5, 8, 6);
  const ok: AugmentParams = { crop: { top: 0, left: 0, height: 6, width: 8 }, flip: false };
  it.each<[string, () => unknown, string]>([
    ['no images', () => augmentBatch(engine(), [], []), 'augmentBatch: expected at least one image'],
    ['missing parameters', () => augmentBatch(engine(), [image, image], [ok]), 'augmentBatch: expected parameters for each of the 2 images, got 1'],
    [
      'a crop outside the image',
      () => augmentBatch(engine(), [image], [{ crop: { top: 1, left: 0, height: 6, width: 8 }, flip: false }]),
      'augmentBatch: image 0: crop {"top":1,"left":0,"height":6,"width":8} is not a non-empty integer rectangle inside the 8x6 image',
    ],
    [
      'a fractional crop',
      () => augmentBatch(engine(), [image], [{ crop: { top: 0.5, left: 0, height: 2, width: 2 }, flip: false }]),
      'augmentBatch: image 0: crop {"top":0.5,"left":0,"height":2,"width":2} is not a non-empty integer rectangle inside the 8x6 image',
    ],
    ['a flip that is not a boolean', () => augmentBatch(engine(), [image], [{ ...ok, flip: 1 as unknown as boolean }]), 'augmentBatch: image 0: flip must be true or false, got 1'],
    ['a bad size', () => augmentBatch(engine(), [image], [ok], { size: [4, 0] }), 'augmentBatch: size must be a positive integer or a pair of them (height, width), got [4,0]'],
    ['a zero std', () => augmentBatch(engine(), [image], [ok], { std: [1, 0, 1] }), 'augmentBatch: std must be 3 finite numbers > 0 (R, G, B), got [1,0,1]'],
    ['a short mean', () => centerCropBatch(engine(), [image], { mean: [0, 0] as unknown as [number, number, number] }), 'centerCropBatch: mean must be 3 finite numbers (R, G, B), got [0,0]'],
    [
      'pixels that do not match the size',
      () => centerCropBatch(engine(), [image, { width: 3, height: 2, data: new Uint8Array(18) }], { size: 2 }),
      'centerCropBatch: image 1: a 3x2 RGBA image has 24 bytes, got 18',
    ],
    [
      'an image over the staging limit',
      () => centerCropBatch(engine(), [image], { size: 2, maxStagingBytes: 100 }),
      'centerCropBatch: image 0: 8x6 is over the 25 pixels one dispatch binds on this device; downscale it first',
    ],
    [
      'a crop bigger than the resized image',
      () => centerCropBatch(engine(), [image], { size: 8, resizeTo: 7 }),
      'centerCropBatch: a 8x6 image resized to 9x7 (resizeTo 7) is smaller than the 8x8 crop; use resizeTo >= 8',
    ],
  ])('refuses %s', (_, call, message) => {
    const before = engine().pending;
    expect(call).toThrow(message);
    expect(engine().pending).toBe(before);
  });

  it('refuses one image whose output is over the binding limit, before anything is recorded or allocated', () => {
    const e = engine();
    const wide = Math.ceil(e.maxBindingBytes / 12) + 1;
    const before = { pending: e.pending, inUse: e.pool.stats().bytesInUse };
    expect(() => centerCropBatch(e, [image], { size: [1, wide], resizeTo: wide })).toThrow(
      `centerCropBatch: one image needs a binding of ${12 * wide} bytes (output), over the storage-binding limit of ${e.maxBindingBytes} bytes (the device's maxStorageBufferBindingSize), and cannot be split further`,
    );
    expect({ pending: e.pending, inUse: e.pool.stats().bytesInUse }).toEqual(before);
  });

  it.each<[string, () => unknown, string]>([
    ['a reversed scale', () => sampleRandomResizedCrop(10, 10, Math.random, { scale: [1, 0.5] }), 'randomResizedCrop: scale should be of kind (min, max), got [1,0.5]'],
    ['a zero ratio', () => sampleRandomResizedCrop(10, 10, Math.random, { ratio: [0, 1] }), 'randomResizedCrop: ratio must be a pair (min, max) of finite numbers > 0, got [0,1]'],
    ['an empty image', () => sampleRandomResizedCrop(0, 10, Math.random), 'randomResizedCrop: image width and height must be positive integers, got 0x10'],
    ['a negative seed', () => sampleAugmentParams(10, 10, { seed: -1, id: 0 }), 'sampleAugmentParams: seed must be an integer in [0, 2^53), got -1'],
    ['a fractional id', () => sampleAugmentParams(10, 10, { seed: 1, id: 0.5 }), 'sampleAugmentParams: id must be an integer in [0, 2^32), got 0.5'],
    ['a flip probability over 1', () => sampleAugmentParams(10, 10, { seed: 1, id: 0 }, { flipProbability: 2 }), 'sampleAugmentParams: flipProbability must be between 0 and 1, got 2'],
  ])('the sampler refuses %s', (_, call, message) => {
    expect(call).toThrow(message);
  });
});
