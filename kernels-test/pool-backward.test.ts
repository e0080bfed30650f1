// Pooling backward passes: the CPU references against central finite differences of the reference
// forward passes (float64), the GPU kernels against the references on awkward shapes, splitting
// past the binding limit, and every argument error.
import { describe, expect, it } from 'vitest';
import {
  adaptiveAvgPool2d,
  adaptiveAvgPool2dBackward,
  avgPool2dBackward,
  maxPool1dBackward,
  maxPool1dWithIndices,
  maxPool2dBackward,
  maxPool2dWithIndices,
  type AvgPoolOptions,
  type MaxPoolOptions,
} from '../src/ops/pool.js';
import { host, type HostTensor } from '../src/reference/host-tensor.js';
import {
  adaptiveAvgPool2dBackwardRef,
  adaptiveAvgPool2dRef,
  avgPool2dBackwardRef,
  avgPool2dRef,
  maxPool1dBackwardRef,
  maxPool1dWithIndicesRef,
  maxPool2dBackwardRef,
  maxPool2dWithIndicesRef,
} from '../src/reference/pool.js';
import { numel, shapeString, type DType, type Tensor } from '../src/runtime/tensor.js';
import { dot, finiteDifferences } from './gradcheck.js';
import { EXACT, FINITE_DIFFERENCE, assertClose, random, reduction, useEngine } from './helpers.js';

const engine = useEngine();

/** Max pooling routes values without arithmetic, except where overlapping windows add up. */

/** Central differences of piecewise-linear functions in float64: only rounding remains. */

function describeCase(shape: readonly number[], options: unknown): string {
  return `${shapeString(shape)} ${JSON.stringify(options)}`;
}

/**
 * Distinct values in [-1, 1), at least 2/n apart, in a seeded random order, so no max-pooling
 * window has a tie that a small step could break.
 */
function distinct(n: number, seed: number): Float64Array {
  const order = Array.from({ length: n }, (_, i) => i);
  const u = random(n, seed, 0, 1);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u[i]! * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return Float64Array.from(order, (k) => ((k + 0.5) / n) * 2 - 1);
}

/**
 * d(sum(gradOut * f(x)))/dx by central differences. The step is far below the gap between
 * distinct values, so no maximum changes hands.
 */
function numericGradient(f: (x: HostTensor) => HostTensor, x: HostTensor, gradOut: ArrayLike<number>): Float64Array {
  return finiteDifferences(() => dot(f(x).data, gradOut), x.data, 1e-4);
}

/** Asserts the analytic gradient matches finite differences and is not trivially zero. */
function expectGradient(analytic: HostTensor, numeric: Float64Array, what: string): void {
  assertClose(analytic.data, numeric, FINITE_DIFFERENCE, what);
  expect(analytic.data.some((v) => v !== 0)).toBe(true);
}

/** How many times the most-chosen cell of any plane is the argmax (2 or more: windows overlap there). */
function mostChosen(indices: HostTensor, outPlane: number): number {
  const counts = new Map<string, number>();
  indices.data.forEach((index, o) => {
    const key = `${Math.floor(o / outPlane)}:${index}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  });
  return Math.max(...counts.values());
}

const MAX_FD_CASES: Array<[number[], MaxPoolOptions]> = [
  [[1, 2, 7, 7], { kernelSize: 3, stride: 2 }],
  [[1, 2, 6, 6], { kernelSize: 3, stride: 1 }],
  [[2, 1, 7, 8], { kernelSize: 3, stride: 2, padding: 1 }],
  [[1, 2, 9, 8], { kernelSize: [3, 2], stride: [2, 1], padding: [1, 1], dilation: [2, 2] }],
  [[1, 2, 7, 6], { kernelSize: 2, stride: 2, ceilMode: true }],
  [[2, 7, 7], { kernelSize: 3, stride: 2, padding: 1, ceilMode: true }],
];

const AVG_FD_CASES: Array<[number[], AvgPoolOptions]> = [
  [[1, 2, 7, 7], { kernelSize: 3, stride: 2 }],
  [[1, 2, 6, 6], { kernelSize: 3, stride: 1, padding: 1 }],
  [[1, 2, 6, 6], { kernelSize: 3, stride: 1, padding: 1, countIncludePad: false }],
  // ceil mode: the last window reaches past the padded border, which never counts
  [[1, 2, 6, 6], { kernelSize: 3, stride: 2, padding: 1, ceilMode: true }],
  [[1, 2, 7, 6], { kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false }],
  [[1, 2, 7, 7], { kernelSize: [3, 2], stride: [2, 1], padding: [1, 1], divisorOverride: 3 }],
  [[2, 6, 7], { kernelSize: 2, ceilMode: true, divisorOverride: -2 }],
];

const ADAPTIVE_FD_CASES: Array<[number[], number | [number, number]]> = [
  [[1, 2, 7, 7], 1],
  [[1, 2, 7, 7], 3],
  [[1, 1, 11, 9], [5, 4]],
  [[1, 2, 3, 5], [7, 6]], // more outputs than inputs: every cell in several windows
];

describe('backward references agree with finite differences', () => {
  it.each(MAX_FD_CASES)('maxPool2d %j %j', (shape, options) => {
    const x = { shape, data: distinct(numel(shape), numel(shape)) };
    const { output, indices } = maxPool2dWithIndicesRef(x, options);
    const gradOut = random(output.data.length, 3);
    const analytic = maxPool2dBackwardRef(host(gradOut, output.shape), indices, shape);
    const numeric = numericGradient((t) => maxPool2dWithIndicesRef(t, options).output, x, gradOut);
    expectGradient(analytic, numeric, `maxPool2d ${describeCase(shape, options)}`);
  });

  it('maxPool2d windows that overlap route to a shared maximum twice', () => {
    // Kernel 3 stride 1: a cell that is the maximum of several windows gets each one's gradient.
    const [shape, options] = MAX_FD_CASES[1]!;
    const { indices } = maxPool2dWithIndicesRef({ shape, data: distinct(numel(shape), numel(shape)) }, options);
    expect(mostChosen(indices, 16)).toBeGreaterThan(1);
  });

  it.each<[number[], MaxPoolOptions]>([
    [[2, 2, 11], { kernelSize: 3, stride: 2, padding: 1 }],
    [[1, 3, 10], { kernelSize: 3, stride: 1, dilation: 2, ceilMode: true }],
  ])('maxPool1d %j %j', (shape, options) => {
    const x = { shape, data: distinct(numel(shape), 5 * numel(shape)) };
    const { output, indices } = maxPool1dWithIndicesRef(x, options);
    const gradOut = random(output.data.length, 4);
    const analytic = maxPool1dBackwardRef(host(gradOut, output.shape), indices, shape);
    const numeric = numericGradient((t) => maxPool1dWithIndicesRef(t, options).output, x, gradOut);
    expectGradient(analytic, numeric, `maxPool1d ${describeCase(shape, options)}`);
  });

  it.each(AVG_FD_CASES)('avgPool2d %j %j', (shape, options) => {
    const x = host(random(numel(shape), 6), shape);
    const output = avgPool2dRef(x, options);
    const gradOut = random(output.data.length, 7);
    const analytic = avgPool2dBackwardRef(host(gradOut, output.shape), shape, options);
    const numeric = numericGradient((t) => avgPool2dRef(t, options), x, gradOut);
    expectGradient(analytic, numeric, `avgPool2d ${describeCase(shape, options)}`);
  });

  it.each(ADAPTIVE_FD_CASES)('adaptiveAvgPool2d %j to %j', (shape, size) => {
    const x = host(random(numel(shape), 8), shape);
    const output = adaptiveAvgPool2dRef(x, size);
    const gradOut = random(output.data.length, 9);
    const analytic = adaptiveAvgPool2dBackwardRef(host(gradOut, output.shape), shape);
    const numeric = numericGradient((t) => adaptiveAvgPool2dRef(t, size), x, gradOut);
    expectGradient(analytic, numeric, `adaptiveAvgPool2d ${describeCase(shape, size)}`);
  });
});

const MAX_CASES: Array<[number[], MaxPoolOptions]> = [
  // ResNet18's stem pool on an odd size
  [[1, 3, 13, 13], { kernelSize: 3, stride: 2, padding: 1 }],
  [[3, 5, 9, 7], { kernelSize: 3, stride: 1 }],
  [[3, 3, 7, 9], { kernelSize: 2, stride: 2, ceilMode: true }],
  [[3, 3, 11, 10], { kernelSize: [3, 2], stride: [1, 2], dilation: [2, 1], padding: [1, 0] }],
  [[1, 5, 10, 11], { kernelSize: [3, 2], stride: [2, 3], padding: [1, 1], dilation: [2, 3], ceilMode: true }],
  [[5, 7, 9], { kernelSize: 3, stride: 2, padding: 1, ceilMode: true }],
  [[0, 3, 5, 5], { kernelSize: 2 }],
];

describe('maxPool2dBackward', () => {
  it.each(MAX_CASES)('matches the reference on %j %j, with and without the window options', async (shape, options) => {
    const e = engine();
    const data = random(numel(shape), 17 + numel(shape));
    const x = e.tensor(data, shape);
    const { output, indices } = maxPool2dWithIndices(x, options);
    const want = maxPool2dWithIndicesRef(host(data, shape), options);
    assertClose(await indices.toArray(), want.indices.data, EXACT, 'indices');
    const gradData = random(output.size, 23);
    const gradOut = e.tensor(gradData, output.shape);
    const expected = maxPool2dBackwardRef(host(gradData, output.shape), want.indices, shape);
    const gathered = maxPool2dBackward(gradOut, indices, shape, options);
    const scattered = maxPool2dBackward(gradOut, indices, shape);
    expect(gathered.shape).toEqual(shape);
    expect(scattered.shape).toEqual(shape);
    // A cell is the maximum of at most 9 windows here.
    const tol = reduction(9);
    const what = `maxPool2dBackward ${describeCase(shape, options)}`;
    assertClose(await gathered.toArray(), expected.data, tol, `${what} (gather)`);
    assertClose(await scattered.toArray(), expected.data, tol, `${what} (per plane)`);
    for (const t of [x, output, indices, gradOut, gathered, scattered]) t.dispose();
  });

  it('adds up the gradients of overlapping windows deterministically', async () => {
    const e = engine();
    const shape = [3, 5, 9, 7];
    const options: MaxPoolOptions = { kernelSize: 3, stride: 1 };
    const data = random(numel(shape), 101);
    const want = maxPool2dWithIndicesRef(host(data, shape), options);
    expect(mostChosen(want.indices, 7 * 5)).toBeGreaterThan(2);
    const x = e.tensor(data, shape);
    const { output, indices } = maxPool2dWithIndices(x, options);
    const gradOut = e.tensor(random(output.size, 5), output.shape);
    const first = maxPool2dBackward(gradOut, indices, shape, options);
    const second = maxPool2dBackward(gradOut, indices, shape, options);
    const a = await first.toArray();
    expect(await second.toArray()).toEqual(a);
    // Every output's gradient lands somewhere: the sums agree.
    const total = (await gradOut.toArray()).reduce((s, v) => s + v, 0);
    assertClose([a.reduce((s, v) => s + v, 0)], [total], reduction(output.size), 'gradient mass');
    for (const t of [x, output, indices, gradOut, first, second]) t.dispose();
  });
});

describe('maxPool1dBackward', () => {
  it.each<[number[], MaxPoolOptions]>([
    [[2, 3, 11], { kernelSize: 3, stride: 2, padding: 1 }],
    [[3, 5, 13], { kernelSize: 3, stride: 1, dilation: 2, ceilMode: true }],
    [[5, 9], { kernelSize: [4], stride: [3], padding: [2] }],
  ])('matches the reference on %j %j', async (shape, options) => {
    const e = engine();
    const data = random(numel(shape), 29 + numel(shape));
    const x = e.tensor(data, shape);
    const { output, indices } = maxPool1dWithIndices(x, options);
    const want = maxPool1dWithIndicesRef(host(data, shape), options);
    expect(output.shape).toEqual(want.output.shape);
    assertClose(await output.toArray(), want.output.data, EXACT, 'maxPool1dWithIndices values');
    assertClose(await indices.toArray(), want.indices.data, EXACT, 'maxPool1dWithIndices indices');
    const gradData = random(output.size, 31);
    const gradOut = e.tensor(gradData, output.shape);
    const expected = maxPool1dBackwardRef(host(gradData, output.shape), want.indices, shape);
    const gathered = maxPool1dBackward(gradOut, indices, shape, options);
    const scattered = maxPool1dBackward(gradOut, indices, shape);
    const what = `maxPool1dBackward ${describeCase(shape, options)}`;
    assertClose(await gathered.toArray(), expected.data, reduction(4), `${what} (gather)`);
    assertClose(await scattered.toArray(), expected.data, reduction(4), `${what} (per plane)`);
    for (const t of [x, output, indices, gradOut, gathered, scattered]) t.dispose();
  });
});

describe('avgPool2dBackward', () => {
  it.each<[number[], AvgPoolOptions]>([
    [[1, 3, 7, 9], { kernelSize: 3, stride: 2 }],
    [[3, 5, 5, 5], { kernelSize: 3, stride: 2, padding: 1 }],
    [[3, 5, 5, 5], { kernelSize: 3, stride: 2, padding: 1, countIncludePad: false }],
    [[1, 3, 6, 6], { kernelSize: 3, stride: 2, padding: 1, ceilMode: true }],
    [[3, 3, 6, 7], { kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false }],
    [[3, 3, 7, 7], { kernelSize: 3, stride: 1, padding: 1 }],
    [[1, 5, 8, 9], { kernelSize: [2, 3], stride: [1, 2], padding: [1, 1], divisorOverride: 4 }],
    [[3, 3, 7, 7], { kernelSize: 3, divisorOverride: -5, ceilMode: true }],
    [[5, 7, 9], { kernelSize: 2 }],
  ])('matches the reference on %j %j', async (shape, options) => {
    const e = engine();
    const outShape = avgPool2dRef(host(new Float64Array(numel(shape)), shape), options).shape;
    const gradData = random(numel(outShape), 37 + numel(shape));
    const gradOut = e.tensor(gradData, outShape);
    const gradIn = avgPool2dBackward(gradOut, shape, options);
    const expected = avgPool2dBackwardRef(host(gradData, outShape), shape, options);
    expect(gradIn.shape).toEqual(shape);
    assertClose(await gradIn.toArray(), expected.data, reduction(9), `avgPool2dBackward ${describeCase(shape, options)}`);
    gradOut.dispose();
    gradIn.dispose();
  });
});

describe('adaptiveAvgPool2dBackward', () => {
  it.each<[number[], number | [number, number]]>([
    [[3, 5, 7, 7], 1],
    [[1, 3, 7, 7], 1],
    [[1, 3, 7, 7], 3],
    [[3, 5, 11, 9], [5, 4]],
    [[1, 3, 3, 5], [7, 6]],
    [[3, 9, 8], [2, 3]],
    [[0, 3, 4, 4], 1],
  ])('matches the reference on %j from %j', async (shape, size) => {
    const e = engine();
    const outShape = adaptiveAvgPool2dRef(host(new Float64Array(numel(shape)), shape), size).shape;
    const gradData = random(numel(outShape), 43 + numel(shape));
    const gradOut = e.tensor(gradData, outShape);
    const gradIn = adaptiveAvgPool2dBackward(gradOut, shape);
    const expected = adaptiveAvgPool2dBackwardRef(host(gradData, outShape), shape);
    expect(gradIn.shape).toEqual(shape);
    assertClose(await gradIn.toArray(), expected.data, reduction(9), `adaptiveAvgPool2dBackward ${describeCase(shape, size)}`);
    gradOut.dispose();
    gradIn.dispose();
  });

  it('takes the output size from gradOut, as the forward pass produced it', async () => {
    const e = engine();
    const x = e.tensor(random(2 * 3 * 11 * 9, 47), [2, 3, 11, 9]);
    const y = adaptiveAvgPool2d(x, [5, 4]);
    const gradIn = adaptiveAvgPool2dBackward(y, x.shape);
    const expected = adaptiveAvgPool2dBackwardRef(host(await y.toArray(), y.shape), [...x.shape]);
    assertClose(await gradIn.toArray(), expected.data, reduction(9), 'adaptiveAvgPool2dBackward after the forward pass');
    for (const t of [x, y, gradIn]) t.dispose();
  });
});

describe('bindings over the device limit', () => {
  // Max pooling's two inputs (gradient and indices) go through in chunks together, each chunk
  // writing a slice of the big input gradient. (One-input chunking is the forward pools' own.)
  it('splits maxPool2dBackward whose input gradient passes maxStorageBufferBindingSize by planes', async () => {
    const e = engine();
    const limit = e.limits.maxStorageBufferBindingSize;
    const [h, w] = [512, 512];
    const fit = Math.floor(limit / (h * w * 4));
    const planes = fit + 2;
    const shape = [1, planes, h, w];
    // Gradients and indices are built on the GPU from a few distinct planes, repeated.
    const distinctPlanes = 7;
    const outPlane = (h / 4) * (w / 4);
    const repeat = <D extends DType>(data: Float32Array, dtype: D): Tensor<D> => {
      const tile = dtype === 'int32' ? e.tensor(Int32Array.from(data)) : e.tensor(data);
      const t = e.empty([1, planes, h / 4, w / 4], undefined, dtype);
      for (let p = 0; p < planes; p += distinctPlanes) {
        e.copy(tile, t, Math.min(distinctPlanes, planes - p) * outPlane * 4, 0, p * outPlane * 4);
      }
      tile.dispose();
      return t;
    };
    const gradData = random(distinctPlanes * outPlane, 53);
    // Non-overlapping 4x4 windows, each choosing one of its cells.
    const choice = random(distinctPlanes * outPlane, 59, 0, 16);
    const indexData = choice.map((c, o) => {
      const cell = o % outPlane;
      const [i, j] = [Math.floor(cell / (w / 4)), cell % (w / 4)];
      return (4 * i + Math.floor(c / 4)) * w + 4 * j + (Math.floor(c) % 4);
    });
    const gradOut = repeat(gradData, 'float32');
    const indices = repeat(indexData, 'int32');
    const gradIn = maxPool2dBackward(gradOut, indices, shape, { kernelSize: 4, stride: 4 });
    gradOut.dispose();
    indices.dispose();
    // Planes on both sides of the chunk boundary (two chunks of equal size), and the last.
    const perChunk = Math.ceil(planes / 2);
    for (const p of [0, perChunk - 1, perChunk, planes - 1]) {
      const got = new Float32Array(await e.readBuffer(gradIn, h * w * 4, p * h * w * 4));
      const d = p % distinctPlanes;
      const planeOf = (data: Float32Array): HostTensor => host(data.subarray(d * outPlane, (d + 1) * outPlane), [1, 1, h / 4, w / 4]);
      assertClose(got, maxPool2dBackwardRef(planeOf(gradData), planeOf(indexData), [1, 1, h, w]).data, EXACT, `plane ${p}`);
    }
    gradIn.dispose();
  });
});

/** An index shape in the table below: that operand is made int32. */
type Int32Shape = { int32: number[] };
const int32 = (shape: number[]): Int32Shape => ({ int32: shape });
/** The table's tensors are typed float32; those made from an Int32Shape are int32 (or float32, where a case says so). */
const idx = (t: Tensor | undefined) => t as unknown as Tensor<'int32'>;

describe('argument errors', () => {
  const windowOf = (k: string, s: string, p: string, d?: string): string =>
    `kernelSize ${k}, stride ${s}, padding ${p}` + (d ? ` and dilation ${d}` : '');
  const cases: Array<[string, Array<number[] | Int32Shape>, (t: Tensor[]) => unknown, string]> = [
    [
      'gradOut of the wrong size',
      [[1, 3, 4, 5], int32([1, 3, 4, 5])],
      ([g, i]) => maxPool2dBackward(g!, idx(i), [1, 3, 9, 9], { kernelSize: 3, stride: 2 }),
      `maxPool2dBackward: expected gradOut of shape [1, 3, 4, 4] (the output for input [1, 3, 9, 9] with ${windowOf('[3, 3]', '[2, 2]', '[0, 0]', '[1, 1]')}), got [1, 3, 4, 5]`,
    ],
    [
      'gradOut with other channels',
      [[2, 4, 4, 4], int32([2, 4, 4, 4])],
      ([g, i]) => maxPool2dBackward(g!, idx(i), [2, 3, 9, 9]),
      'maxPool2dBackward: expected gradOut of shape [2, 3, *, *] to match input [2, 3, 9, 9], got [2, 4, 4, 4]',
    ],
    [
      'gradOut of another rank',
      [[3, 4, 4], int32([3, 4, 4])],
      ([g, i]) => maxPool2dBackward(g!, idx(i), [1, 3, 9, 9], { kernelSize: 2 }),
      'maxPool2dBackward: expected gradOut of shape [1, 3, *, *] to match input [1, 3, 9, 9], got [3, 4, 4]',
    ],
    [
      'indices of another shape',
      [[1, 3, 4, 4], int32([1, 3, 16])],
      ([g, i]) => maxPool2dBackward(g!, idx(i), [1, 3, 9, 9], { kernelSize: 2 }),
      'maxPool2dBackward: expected indices of the same shape as gradOut [1, 3, 4, 4], got [1, 3, 16]',
    ],
    [
      'indices of another shape, without options',
      [[1, 3, 4, 4], int32([1, 3, 4, 3])],
      ([g, i]) => maxPool2dBackward(g!, idx(i), [1, 3, 9, 9]),
      'maxPool2dBackward: expected indices of the same shape as gradOut [1, 3, 4, 4], got [1, 3, 4, 3]',
    ],
    [
      'gradOut of the wrong length (1-D)',
      [[2, 3, 5], int32([2, 3, 5])],
      ([g, i]) => maxPool1dBackward(g!, idx(i), [2, 3, 11], { kernelSize: 3, stride: 2, padding: 1 }),
      `maxPool1dBackward: expected gradOut of shape [2, 3, 6] (the output for input [2, 3, 11] with ${windowOf('[3]', '[2]', '[1]', '[1]')}), got [2, 3, 5]`,
    ],
    ['inputShape rank', [[1, 3, 4, 4], int32([1, 3, 4, 4])], ([g, i]) => maxPool2dBackward(g!, idx(i), [9, 9]), 'maxPool2dBackward: expected input of rank 3 or 4, got shape [9, 9]'],
    [
      'inputShape not integers',
      [[1, 3, 4, 4], int32([1, 3, 4, 4])],
      ([g, i]) => maxPool2dBackward(g!, idx(i), [1, 3, 9.5, 9]),
      'maxPool2dBackward: inputShape must be a list of integers >= 0, got [1,3,9.5,9]',
    ],
    [
      'inputShape without channels',
      [[1, 3, 4, 4]],
      ([g]) => adaptiveAvgPool2dBackward(g!, [1, 0, 9, 9]),
      'adaptiveAvgPool2dBackward: expected an input with non-zero channel and spatial sizes (the batch may be empty), got [1, 0, 9, 9]',
    ],
    [
      'window options',
      [[1, 3, 4, 4], int32([1, 3, 4, 4])],
      ([g, i]) => maxPool2dBackward(g!, idx(i), [1, 3, 9, 9], { kernelSize: 0 }),
      'maxPool2dBackward: kernelSize must be an integer >= 1 or a tuple of 2 of them, got 0',
    ],
    [
      'planes too large for int32 indices',
      [[1, 1, 1, 1], int32([1, 1, 1, 1])],
      ([g, i]) => maxPool2dBackward(g!, idx(i), [1, 1, 46341, 46341]),
      'maxPool2dBackward: planes of 2147488281 cells (input [1, 1, 46341, 46341]) are too large for int32 indices (at most 2^31 - 1)',
    ],
    [
      'float32 indices',
      [[1, 3, 4, 4], [1, 3, 4, 4]],
      ([g, i]) => maxPool2dBackward(g!, idx(i), [1, 3, 8, 8], { kernelSize: 2 }),
      'maxPool2dBackward: expected indices of dtype int32 (from maxPool2dWithIndices), got float32 [1, 3, 4, 4]',
    ],
    [
      'avg gradOut of the wrong size',
      [[1, 3, 3, 3]],
      ([g]) => avgPool2dBackward(g!, [1, 3, 6, 6], { kernelSize: 3, stride: 2, padding: 1, ceilMode: true }),
      `avgPool2dBackward: expected gradOut of shape [1, 3, 4, 4] (the output for input [1, 3, 6, 6] with ${windowOf('[3, 3]', '[2, 2]', '[1, 1]')}), got [1, 3, 3, 3]`,
    ],
    [
      'avg gradOut with another batch',
      [[2, 3, 3, 3]],
      ([g]) => avgPool2dBackward(g!, [1, 3, 6, 6], { kernelSize: 2 }),
      'avgPool2dBackward: expected gradOut of shape [1, 3, *, *] to match input [1, 3, 6, 6], got [2, 3, 3, 3]',
    ],
    [
      'avg divisorOverride 0',
      [[1, 3, 3, 3]],
      ([g]) => avgPool2dBackward(g!, [1, 3, 6, 6], { kernelSize: 2, divisorOverride: 0 }),
      'avgPool2dBackward: divisorOverride must be a non-zero integer, got 0',
    ],
    [
      'adaptive gradOut with other channels',
      [[1, 5, 1, 1]],
      ([g]) => adaptiveAvgPool2dBackward(g!, [1, 3, 7, 7]),
      'adaptiveAvgPool2dBackward: expected gradOut of shape [1, 3, *, *] to match input [1, 3, 7, 7], got [1, 5, 1, 1]',
    ],
    [
      'disposed gradOut',
      [[1, 3, 4, 4], int32([1, 3, 4, 4])],
      ([g, i]) => {
        g!.dispose();
        return maxPool2dBackward(g!, idx(i), [1, 3, 8, 8], { kernelSize: 2 });
      },
      'maxPool2dBackward: a tensor of shape [1, 3, 4, 4] was used after dispose()',
    ],
    ['1-D indices input rank', [[1, 2, 3, 4]], ([x]) => maxPool1dWithIndices(x!, { kernelSize: 2 }), 'maxPool1d: expected input of rank 2 or 3, got shape [1, 2, 3, 4]'],
  ];

  it.each(cases)('%s', (_what, shapes, call, message) => {
    const e = engine();
    const tensors = shapes.map((s) => (Array.isArray(s) ? e.empty(s) : (e.empty(s.int32, undefined, 'int32') as unknown as Tensor)));
    const before = e.pending;
    const inUse = e.stats().bytesInUse;
    expect(() => call(tensors)).toThrow(message);
    // Refused before anything was recorded or allocated.
    expect(e.pending).toBe(before);
    expect(e.stats().bytesInUse).toBeLessThanOrEqual(inUse);
    for (const t of tensors) if (!t.isDisposed) t.dispose();
  });
});
