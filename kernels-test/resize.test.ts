// interpolate against the CPU reference (src/reference/resize.ts) on awkward sizes, the reference
// against PyTorch's golden values, and every argument error.
import { describe, expect, it } from 'vitest';
import { interpolate, type InterpolateOptions } from '../src/ops/resize.js';
import { host } from '../src/reference/host-tensor.js';
import { interpolateRef } from '../src/reference/resize.js';
import { numel, shapeString, type Tensor } from '../src/runtime/tensor.js';
import { ELEMENTWISE, EXACT, assertClose, random, useEngine } from './helpers.js';

const engine = useEngine();

/** Nearest copies input values, so GPU and reference agree exactly. */

async function check(shape: number[], options: InterpolateOptions, expectedShape?: number[]): Promise<void> {
  const data = random(numel(shape), numel(shape) + 3);
  const x = engine().tensor(data, shape);
  const y = interpolate(x, options);
  const want = interpolateRef(host(data, shape), options);
  expect(y.shape).toEqual(want.shape);
  if (expectedShape) expect(y.shape).toEqual(expectedShape);
  const tol = options.mode === 'bilinear' ? ELEMENTWISE : EXACT;
  assertClose(await y.toArray(), want.data, tol, `interpolate ${shapeString(shape)} ${JSON.stringify(options)}`);
  x.dispose();
  y.dispose();
}

describe('interpolate nearest', () => {
  it.each<[number[], InterpolateOptions, number[]]>([
    [[1, 3, 7, 9], { size: [13, 17] }, [1, 3, 13, 17]],
    [[2, 5, 7, 9], { size: [4, 5] }, [2, 5, 4, 5]],
    [[1, 3, 7, 9], { size: 11, mode: 'nearest' }, [1, 3, 11, 11]],
    [[3, 3, 5, 6], { scaleFactor: 2 }, [3, 3, 10, 12]],
    [[1, 5, 7, 9], { scaleFactor: 1.5 }, [1, 5, 10, 13]],
    [[1, 3, 9, 7], { scaleFactor: [0.5, 1.7] }, [1, 3, 4, 11]],
    [[1, 3, 7, 9], { scaleFactor: 0.3 }, [1, 3, 2, 2]],
    // floor(5 * 1.1) = 5: the unchanged size copies, where 1/1.1 would pick other rows
    [[1, 3, 5, 9], { scaleFactor: 1.1 }, [1, 3, 5, 9]],
    [[1, 3, 7, 9], { scaleFactor: 1.3, recomputeScaleFactor: true }, [1, 3, 9, 11]],
    [[1, 3, 7, 9], { size: [7, 9] }, [1, 3, 7, 9]],
  ])('matches the reference on %j %j', async (shape, options, expectedShape) => {
    await check(shape, options, expectedShape);
  });

  it('takes 1/scaleFactor as the ratio unless recomputeScaleFactor, as PyTorch', async () => {
    // 9 columns scaled by 1.3 give 11; column 10 reads floor(10 * fround(1 / 1.3)) = 7, but
    // floor(10 * 9 / 11) = 8 once the scale is recomputed from the sizes.
    const data = Float32Array.from({ length: 9 }, (_, i) => i);
    const x = engine().tensor(data, [1, 1, 1, 9]);
    const passed = interpolate(x, { scaleFactor: [1, 1.3] });
    const recomputed = interpolate(x, { scaleFactor: [1, 1.3], recomputeScaleFactor: true });
    expect((await passed.toArray())[10]).toBe(7);
    expect((await recomputed.toArray())[10]).toBe(8);
    x.dispose();
    passed.dispose();
    recomputed.dispose();
  });
});

describe('interpolate bilinear', () => {
  const cases: Array<[number[], InterpolateOptions]> = [];
  for (const alignCorners of [false, true]) {
    cases.push(
      [[1, 3, 7, 9], { mode: 'bilinear', size: [13, 17], alignCorners }],
      [[2, 5, 7, 9], { mode: 'bilinear', size: [4, 5], alignCorners }],
      [[1, 3, 5, 6], { mode: 'bilinear', scaleFactor: 2, alignCorners }],
      [[3, 3, 9, 7], { mode: 'bilinear', scaleFactor: [0.6, 1.7], alignCorners }],
      [[1, 3, 7, 9], { mode: 'bilinear', size: [1, 9], alignCorners }],
      [[1, 5, 11, 10], { mode: 'bilinear', size: [11, 3], alignCorners }],
    );
  }
  cases.push([[1, 3, 7, 9], { mode: 'bilinear', scaleFactor: 1.3, recomputeScaleFactor: true }]);
  cases.push([[2, 3, 7, 9], { mode: 'bilinear', size: 5 }]);

  it.each(cases)('matches the reference on %j %j', async (shape, options) => {
    await check(shape, options);
  });

  it('reproduces a linear ramp exactly where the corners align', async () => {
    // With alignCorners, corners map to corners and a ramp stays a ramp.
    const data = Float32Array.from({ length: 5 }, (_, i) => i);
    const x = engine().tensor(data, [1, 1, 1, 5]);
    const y = interpolate(x, { mode: 'bilinear', size: [1, 9], alignCorners: true });
    assertClose(await y.toArray(), Array.from({ length: 9 }, (_, i) => i / 2), ELEMENTWISE, 'ramp');
    x.dispose();
    y.dispose();
  });
});

describe('argument errors', () => {
  const cases: Array<[string, number[], (x: Tensor) => unknown, string]> = [
    ['rank', [3, 7, 9], (x) => interpolate(x, { size: 4 }), 'interpolate: expected input ([N, C, H, W]) of rank 4, got shape [3, 7, 9]'],
    ['size and scaleFactor', [1, 1, 4, 4], (x) => interpolate(x, { size: 8, scaleFactor: 2 }), 'interpolate: only one of size or scaleFactor should be defined'],
    ['neither size nor scaleFactor', [1, 1, 4, 4], (x) => interpolate(x, { mode: 'bilinear' }), 'interpolate: either size or scaleFactor should be defined'],
    [
      'alignCorners with nearest',
      [1, 1, 4, 4],
      (x) => interpolate(x, { size: 8, alignCorners: true }),
      "interpolate: alignCorners can only be set with mode 'bilinear' (PyTorch: the interpolating modes)",
    ],
    [
      'alignCorners false with nearest',
      [1, 1, 4, 4],
      (x) => interpolate(x, { size: 8, mode: 'nearest', alignCorners: false }),
      "interpolate: alignCorners can only be set with mode 'bilinear' (PyTorch: the interpolating modes)",
    ],
    [
      'unknown mode',
      [1, 1, 4, 4],
      (x) => interpolate(x, { size: 8, mode: 'bicubic' as 'bilinear' }),
      `interpolate: mode must be 'nearest' or 'bilinear', got "bicubic"`,
    ],
    [
      'zero size',
      [1, 1, 4, 4],
      (x) => interpolate(x, { size: [0, 3] }),
      'interpolate: input and output sizes should be greater than 0, but got input (H: 4, W: 4) output (H: 0, W: 3) for input [1, 1, 4, 4]',
    ],
    [
      'negative size',
      [1, 1, 4, 4],
      (x) => interpolate(x, { size: -2, mode: 'bilinear' }),
      'interpolate: input and output sizes should be greater than 0, but got input (H: 4, W: 4) output (H: -2, W: -2) for input [1, 1, 4, 4]',
    ],
    [
      'scale to nothing',
      [1, 1, 4, 5],
      (x) => interpolate(x, { scaleFactor: [1, 0.1] }),
      'interpolate: input and output sizes should be greater than 0, but got input (H: 4, W: 5) output (H: 4, W: 0) for input [1, 1, 4, 5]',
    ],
    [
      'empty input plane',
      [1, 1, 0, 5],
      (x) => interpolate(x, { size: 3 }),
      'interpolate: input and output sizes should be greater than 0, but got input (H: 0, W: 5) output (H: 3, W: 3) for input [1, 1, 0, 5]',
    ],
    ['fractional size', [1, 1, 4, 4], (x) => interpolate(x, { size: 2.5 }), 'interpolate: size must be an integer or a pair of them (height, width), got 2.5'],
    [
      'size of three',
      [1, 1, 4, 4],
      (x) => interpolate(x, { size: [2, 3, 4] as unknown as [number, number] }),
      'interpolate: size must be an integer or a pair of them (height, width), got [2, 3, 4]',
    ],
    [
      'infinite scale',
      [1, 1, 4, 4],
      (x) => interpolate(x, { scaleFactor: Infinity }),
      'interpolate: scaleFactor must be a finite number or a pair of them (height, width), got Infinity',
    ],
    [
      'recomputeScaleFactor with size',
      [1, 1, 4, 4],
      (x) => interpolate(x, { size: 8, recomputeScaleFactor: true }),
      'interpolate: recomputeScaleFactor is not meaningful with an explicit size',
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
