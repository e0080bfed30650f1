// Pooling forward ops against the CPU references (src/reference/pool.ts) on awkward shapes, the
// references against PyTorch's golden values, and every argument error.
import { describe, expect, it } from 'vitest';
import {
  adaptiveAvgPool2d,
  avgPool2d,
  maxPool1d,
  maxPool2d,
  maxPool2dWithIndices,
  type AvgPoolOptions,
  type MaxPoolOptions,
} from '../src/ops/pool.js';
import { host, type HostTensor } from '../src/reference/host-tensor.js';
import {
  adaptiveAvgPool2dRef,
  avgPool2dRef,
  maxPool1dRef,
  maxPool2dRef,
  maxPool2dWithIndicesRef,
} from '../src/reference/pool.js';
import { numel, shapeString, type Tensor } from '../src/runtime/tensor.js';
import { EXACT, assertClose, random, reduction, useEngine } from './helpers.js';

const engine = useEngine();

/** Max pooling selects input values, so GPU and reference agree exactly. */

function describeCase(shape: readonly number[], options: unknown): string {
  return `${shapeString(shape)} ${JSON.stringify(options)}`;
}

const MAX_CASES: Array<[number[], MaxPoolOptions]> = [
  [[1, 3, 7, 9], { kernelSize: 3, stride: 2 }],
  [[3, 5, 5, 5], { kernelSize: 3, stride: 2 }],
  [[1, 3, 7, 9], { kernelSize: 2, stride: 2 }],
  [[1, 3, 7, 9], { kernelSize: 2, stride: 2, ceilMode: true }],
  [[2, 3, 9, 7], { kernelSize: 3, stride: 1, dilation: 2 }],
  [[3, 5, 7, 9], { kernelSize: 3, stride: 2, padding: 1 }],
  [[1, 3, 8, 9], { kernelSize: [2, 3], stride: [1, 2] }],
  [[2, 5, 10, 11], { kernelSize: [3, 2], stride: [2, 3], padding: [1, 1], dilation: [2, 3], ceilMode: true }],
  // ResNet18's stem pool
  [[2, 4, 16, 16], { kernelSize: 3, stride: 2, padding: 1 }],
  // [C, H, W] without a batch dimension
  [[3, 7, 9], { kernelSize: 3, stride: 2, padding: 1, ceilMode: true }],
];

describe('maxPool2d', () => {
  it.each(MAX_CASES)('matches the reference on %j %j', async (shape, options) => {
    const data = random(numel(shape), numel(shape) + shape.length);
    const x = engine().tensor(data, shape);
    const y = maxPool2d(x, options);
    const want = maxPool2dRef(host(data, shape), options);
    expect(y.shape).toEqual(want.shape);
    assertClose(await y.toArray(), want.data, EXACT, `maxPool2d ${describeCase(shape, options)}`);
    x.dispose();
    y.dispose();
  });

  it('drops a ceil-mode window that would start in the right padding', async () => {
    // out = ceil((5 + 2 - 2) / 2) + 1 = 4, but the 4th window would start at 6 >= 5 + 1: 3 windows
    const shape = [1, 3, 5, 5];
    const options = { kernelSize: 2, stride: 2, padding: 1, ceilMode: true };
    const data = random(numel(shape), 11);
    const x = engine().tensor(data, shape);
    const y = maxPool2d(x, options);
    expect(y.shape).toEqual([1, 3, 3, 3]);
    assertClose(await y.toArray(), maxPool2dRef(host(data, shape), options).data, EXACT, 'maxPool2d ceil mode');
    x.dispose();
    y.dispose();
  });

  it('returns the argmax indices of the reference, with -inf, huge values and NaN', async () => {
    const shape = [2, 3, 9, 8];
    const data = random(numel(shape), 5);
    // Plane 0: all -inf, so each index is the window's first cell inside the input.
    data.fill(-Infinity, 0, 72);
    // Plane 1: huge values of both signs and ties between them.
    for (let i = 72; i < 144; i += 3) data[i] = i % 2 ? 3.4e38 : -3.4e38;
    // Plane 2: NaNs, which propagate; two in one window, where PyTorch reports the later one.
    data[144 + 10] = NaN;
    data[144 + 11] = NaN;
    data[144 + 40] = NaN;
    // Plane 3: +inf among ordinary values.
    data[216 + 20] = Infinity;
    const options: MaxPoolOptions = { kernelSize: 3, stride: 2, padding: 1, ceilMode: true };
    const x = engine().tensor(data, shape);
    const { output, indices } = maxPool2dWithIndices(x, options);
    const want = maxPool2dWithIndicesRef(host(data, shape), options);
    expect(output.shape).toEqual(want.output.shape);
    expect(indices.shape).toEqual(want.indices.shape);
    const got = await output.toArray();
    assertClose(got, want.output.data, EXACT, 'maxPool2dWithIndices values');
    assertClose(await indices.toArray(), want.indices.data, EXACT, 'maxPool2dWithIndices indices');
    // The special values really reached the output.
    expect(got.slice(0, 20).every((v) => v === -Infinity)).toBe(true);
    expect(got.some((v) => v === Math.fround(3.4e38))).toBe(true);
    expect(got.some((v) => Number.isNaN(v))).toBe(true);
    expect(got.some((v) => v === Infinity)).toBe(true);
    // Outputs are 5x5 per plane. Plane 0, output (0, 1): all -inf, the first cell inside, (0, 1).
    const idx = await indices.toArray();
    expect(idx[1]).toBe(1);
    // Plane 2, output (0, 1): rows 0..1, columns 1..3 hold NaNs at (1, 2) and (1, 3): the later one.
    expect(got[50 + 1]).toBeNaN();
    expect(idx[50 + 1]).toBe(11);
    x.dispose();
    output.dispose();
    indices.dispose();
  });

  it('returns indices on dilated, non-square windows', async () => {
    const shape = [3, 5, 11, 10];
    const options: MaxPoolOptions = { kernelSize: [3, 2], stride: [1, 2], dilation: [2, 1], padding: [1, 0] };
    const data = random(numel(shape), 21);
    const x = engine().tensor(data, shape);
    const { output, indices } = maxPool2dWithIndices(x, options);
    const want = maxPool2dWithIndicesRef(host(data, shape), options);
    assertClose(await output.toArray(), want.output.data, EXACT, 'values');
    assertClose(await indices.toArray(), want.indices.data, EXACT, 'indices');
    x.dispose();
    output.dispose();
    indices.dispose();
  });
});

describe('maxPool1d', () => {
  it.each<[number[], MaxPoolOptions]>([
    [[2, 3, 11], { kernelSize: 3, stride: 2, padding: 1 }],
    [[1, 5, 10], { kernelSize: 2, ceilMode: true }],
    [[3, 3, 13], { kernelSize: 3, stride: 2, dilation: 2, ceilMode: true }],
    [[5, 9], { kernelSize: [4], stride: [3], padding: [2] }],
  ])('matches the reference on %j %j', async (shape, options) => {
    const data = random(numel(shape), 7 + shape.length);
    const x = engine().tensor(data, shape);
    const y = maxPool1d(x, options);
    const want = maxPool1dRef(host(data, shape), options);
    expect(y.shape).toEqual(want.shape);
    assertClose(await y.toArray(), want.data, EXACT, `maxPool1d ${describeCase(shape, options)}`);
    x.dispose();
    y.dispose();
  });
});

describe('avgPool2d', () => {
  it.each<[number[], AvgPoolOptions]>([
    [[1, 3, 7, 9], { kernelSize: 3, stride: 2 }],
    [[3, 5, 5, 5], { kernelSize: 3, stride: 2, padding: 1 }],
    [[3, 5, 5, 5], { kernelSize: 3, stride: 2, padding: 1, countIncludePad: false }],
    [[1, 3, 7, 9], { kernelSize: 2, stride: 2, ceilMode: true }],
    // ceil mode with padding: the last window reaches past the padded border, which never counts
    [[1, 3, 6, 6], { kernelSize: 3, stride: 2, padding: 1, ceilMode: true }],
    [[2, 3, 6, 7], { kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false }],
    [[1, 3, 8, 9], { kernelSize: [2, 3], stride: [1, 2], padding: [1, 1] }],
    [[1, 5, 8, 9], { kernelSize: [2, 3], stride: [1, 2], padding: [1, 1], divisorOverride: 4 }],
    [[2, 3, 7, 7], { kernelSize: 3, divisorOverride: -5, ceilMode: true }],
    [[5, 7, 9], { kernelSize: 2 }],
  ])('matches the reference on %j %j', async (shape, options) => {
    const data = random(numel(shape), 31 + shape.length);
    const x = engine().tensor(data, shape);
    const y = avgPool2d(x, options);
    const want = avgPool2dRef(host(data, shape), options);
    expect(y.shape).toEqual(want.shape);
    assertClose(await y.toArray(), want.data, reduction(9), `avgPool2d ${describeCase(shape, options)}`);
    x.dispose();
    y.dispose();
  });
});

describe('adaptiveAvgPool2d', () => {
  it.each<[number[], number | [number, number]]>([
    [[3, 5, 7, 7], 1],
    [[1, 512, 7, 7], 1], // ResNet18's global average pool
    [[2, 3, 50, 47], 1], // planes wide enough for the 256-wide workgroup
    [[1, 3, 7, 7], 3],
    [[2, 5, 11, 9], [5, 4]],
    [[1, 3, 3, 5], [7, 6]], // more outputs than inputs: overlapping windows
    [[3, 9, 8], [2, 3]],
  ])('matches the reference on %j to %j', async (shape, size) => {
    const data = random(numel(shape), 41 + shape.length);
    const x = engine().tensor(data, shape);
    const y = adaptiveAvgPool2d(x, size);
    const want = adaptiveAvgPool2dRef(host(data, shape), size);
    expect(y.shape).toEqual(want.shape);
    // No window is larger than a plane.
    const plane = shape[shape.length - 2]! * shape[shape.length - 1]!;
    assertClose(await y.toArray(), want.data, reduction(plane), `adaptiveAvgPool2d ${describeCase(shape, size)}`);
    x.dispose();
    y.dispose();
  });

  it('pools an empty batch to an empty output', async () => {
    const x = engine().tensor([], [0, 3, 4, 4]);
    const y = adaptiveAvgPool2d(x, 1);
    expect(y.shape).toEqual([0, 3, 1, 1]);
    expect((await y.toArray()).length).toBe(0);
    x.dispose();
    y.dispose();
  });
});

/** Cells of a plane of a host tensor, as its own [1, 1, H, W] host tensor. */
function plane(x: Float32Array, index: number, h: number, w: number): HostTensor {
  return host(x.subarray(index * h * w, (index + 1) * h * w), [1, 1, h, w]);
}

describe('bindings over the device limit', () => {
  it('splits a pool whose input passes maxStorageBufferBindingSize by planes', async () => {
    const e = engine();
    const limit = e.limits.maxStorageBufferBindingSize;
    const [h, w] = [512, 512];
    const planes = Math.floor(limit / (h * w * 4)) + 3;
    // The big input is built on the GPU from a few distinct planes (uploading it all is slow on lavapipe).
    const distinct = 7;
    const data = random(distinct * h * w, 77);
    const tile = e.tensor(data);
    const x = e.empty([1, planes, h, w]);
    for (let p = 0; p < planes; p += distinct) {
      e.copy(tile, x, Math.min(distinct, planes - p) * h * w * 4, 0, p * h * w * 4);
    }
    tile.dispose();
    const options = { kernelSize: 4, stride: 4 };
    const pooled = maxPool2d(x, options);
    const mean = adaptiveAvgPool2d(x, 1);
    x.dispose();
    const gotMax = await pooled.toArray();
    const gotMean = await mean.toArray();
    const outPlane = (h / 4) * (w / 4);
    const expectedMax = Array.from({ length: distinct }, (_, i) => maxPool2dRef(plane(data, i, h, w), options).data);
    const expectedMean = Array.from({ length: distinct }, (_, i) => adaptiveAvgPool2dRef(plane(data, i, h, w), 1).data[0]!);
    const wantMax = new Float64Array(planes * outPlane);
    for (let p = 0; p < planes; p++) wantMax.set(expectedMax[p % distinct]!, p * outPlane);
    assertClose(gotMax, wantMax, EXACT, 'maxPool2d over chunks');
    assertClose(gotMean, Array.from({ length: planes }, (_, p) => expectedMean[p % distinct]!), reduction(h * w), 'global average over chunks');
    pooled.dispose();
    mean.dispose();
  });
});

describe('argument errors', () => {
  const cases: Array<[string, number[], (x: Tensor) => unknown, string]> = [
    ['rank', [7, 9], (x) => maxPool2d(x, { kernelSize: 2 }), 'maxPool2d: expected input of rank 3 or 4, got shape [7, 9]'],
    ['rank (1-D)', [1, 2, 3, 4], (x) => maxPool1d(x, { kernelSize: 2 }), 'maxPool1d: expected input of rank 2 or 3, got shape [1, 2, 3, 4]'],
    ['rank (adaptive)', [9], (x) => adaptiveAvgPool2d(x, 1), 'adaptiveAvgPool2d: expected input of rank 3 or 4, got shape [9]'],
    [
      'empty channels',
      [2, 0, 5, 5],
      (x) => avgPool2d(x, { kernelSize: 2 }),
      'avgPool2d: expected an input with non-zero channel and spatial sizes (the batch may be empty), got [2, 0, 5, 5]',
    ],
    ['kernel 0', [1, 1, 5, 5], (x) => maxPool2d(x, { kernelSize: 0 }), 'maxPool2d: kernelSize must be an integer >= 1 or a tuple of 2 of them, got 0'],
    ['kernel -1', [1, 1, 5, 5], (x) => avgPool2d(x, { kernelSize: [2, -1] }), 'avgPool2d: kernelSize must be an integer >= 1 or a tuple of 2 of them, got [2,-1]'],
    ['kernel arity', [1, 1, 5, 5], (x) => maxPool2d(x, { kernelSize: [2, 2, 2] }), 'maxPool2d: kernelSize must be an integer >= 1 or a tuple of 2 of them, got [2,2,2]'],
    ['stride 0', [1, 1, 5, 5], (x) => maxPool2d(x, { kernelSize: 2, stride: 0 }), 'maxPool2d: stride must be an integer >= 1 or a tuple of 2 of them, got 0'],
    ['stride 1.5', [1, 1, 5], (x) => maxPool1d(x, { kernelSize: 2, stride: 1.5 }), 'maxPool1d: stride must be an integer >= 1 or a tuple of 1 of them, got 1.5'],
    ['dilation 0', [1, 1, 5, 5], (x) => maxPool2d(x, { kernelSize: 2, dilation: 0 }), 'maxPool2d: dilation must be an integer >= 1 or a tuple of 2 of them, got 0'],
    ['negative padding', [1, 1, 5, 5], (x) => maxPool2d(x, { kernelSize: 3, padding: -1 }), 'maxPool2d: padding must be an integer >= 0 or a tuple of 2 of them, got -1'],
    [
      'padding over half the kernel',
      [1, 1, 5, 5],
      (x) => avgPool2d(x, { kernelSize: 3, padding: [1, 2] }),
      'avgPool2d: pad should be at most half of effective kernel size, but got kernelSize [3, 3], stride [3, 3], padding [1, 2]',
    ],
    [
      'padding over half the dilated kernel',
      [1, 1, 9, 9],
      (x) => maxPool2d(x, { kernelSize: 2, dilation: 2, padding: 2 }),
      'maxPool2d: pad should be at most half of effective kernel size, but got kernelSize [2, 2], stride [2, 2], padding [2, 2] and dilation [2, 2]',
    ],
    [
      'padding within the dilated kernel but over half the kernel',
      [1, 1, 9],
      (x) => maxPool1d(x, { kernelSize: 3, dilation: 2, padding: 2 }),
      'maxPool1d: pad should be smaller than or equal to half of kernel size, but got kernelSize [3], stride [3], padding [2] and dilation [2]',
    ],
    [
      'output too small',
      [1, 1, 2, 7],
      (x) => maxPool2d(x, { kernelSize: 3 }),
      'maxPool2d: output size is too small: computed [0, 2] from input [1, 1, 2, 7] with kernelSize [3, 3], stride [3, 3], padding [0, 0] and dilation [1, 1]',
    ],
    [
      'output too small (1-D, dilated)',
      [2, 4],
      (x) => maxPool1d(x, { kernelSize: 3, dilation: 2 }),
      'maxPool1d: output size is too small: computed [0] from input [2, 4] with kernelSize [3], stride [3], padding [0] and dilation [2]',
    ],
    [
      'output too small (indices)',
      [1, 3, 3],
      (x) => maxPool2dWithIndices(x, { kernelSize: [2, 4] }),
      'maxPool2d: output size is too small: computed [1, 0] from input [1, 3, 3] with kernelSize [2, 4], stride [2, 4], padding [0, 0] and dilation [1, 1]',
    ],
    ['divisorOverride 0', [1, 1, 4, 4], (x) => avgPool2d(x, { kernelSize: 2, divisorOverride: 0 }), 'avgPool2d: divisorOverride must be a non-zero integer, got 0'],
    ['divisorOverride 2.5', [1, 1, 4, 4], (x) => avgPool2d(x, { kernelSize: 2, divisorOverride: 2.5 }), 'avgPool2d: divisorOverride must be a non-zero integer, got 2.5'],
    [
      'adaptive output size',
      [1, 1, 4, 4],
      (x) => adaptiveAvgPool2d(x, [2, -1]),
      'adaptiveAvgPool2d: outputSize must be an integer >= 0 or a tuple of 2 of them, got [2,-1]',
    ],
    [
      'disposed input',
      [1, 1, 4, 4],
      (x) => {
        x.dispose();
        return maxPool2d(x, { kernelSize: 2 });
      },
      'maxPool2d: x [1, 1, 4, 4] was used after dispose()',
    ],
  ];

  it.each(cases)('%s', (_what, shape, call, message) => {
    const e = engine();
    const x = e.empty(shape);
    const before = e.pending;
    const inUse = e.stats().bytesInUse;
    expect(() => call(x)).toThrow(message);
    // Refused before anything was recorded or allocated.
    expect(e.pending).toBe(before);
    expect(e.stats().bytesInUse).toBeLessThanOrEqual(inUse);
    x.dispose();
  });
});
