// interpolateBackward: the CPU reference against central finite differences of interpolateRef
// (float64), the GPU kernel against the reference on awkward shapes (non-finite gradients
// included), splitting past the binding limit and every argument error. PyTorch's gradients are
// checked by the registry-driven test (kernels-test/op-cases/resize.ts).
import { describe, expect, it } from 'vitest';
import { interpolate, interpolateBackward, interpolateOp, type InterpolateOptions } from '../src/ops/resize.js';
import { host } from '../src/reference/host-tensor.js';
import { interpolateBackwardRef, interpolateRef } from '../src/reference/resize.js';
import { numel, shapeString } from '../src/runtime/tensor.js';
import { dot, finiteDifferences } from './gradcheck.js';
import { FINITE_DIFFERENCE, assertClose, gradient, random, reduction, useEngine } from './helpers.js';

/** interpolate's output shape, by its registry check. */
const outputShape = (shape: number[], options: InterpolateOptions) => [...interpolateOp.check([shape], options).shape];

const engine = useEngine();

function describeCase(shape: readonly number[], options: InterpolateOptions): string {
  return `${shapeString(shape)} ${JSON.stringify(options)}`;
}

/**
 * The longest sum behind one input gradient: the outputs that read one input along an axis are
 * about out/in of them for nearest and twice that for bilinear's two taps (all of them for a
 * one-pixel input), times the same along the other axis.
 */
function reach(shape: readonly number[], outShape: readonly number[], options: InterpolateOptions): number {
  const taps = options.mode === 'bilinear' ? 2 : 1;
  const axis = (i: number, o: number): number => Math.min(o, taps * Math.ceil(o / i) + 1);
  return axis(shape[2]!, outShape[2]!) * axis(shape[3]!, outShape[3]!);
}

const BILINEAR_CASES: Array<[number[], InterpolateOptions]> = [];
for (const alignCorners of [false, true]) {
  const bl = { mode: 'bilinear', alignCorners } as const;
  BILINEAR_CASES.push(
    [[2, 3, 5, 7], { ...bl, size: [11, 16] }],
    [[1, 2, 9, 11], { ...bl, size: [4, 5] }],
    [[2, 2, 4, 5], { ...bl, scaleFactor: 2 }],
    [[1, 3, 6, 7], { ...bl, scaleFactor: [1.7, 0.6] }],
    [[1, 2, 1, 1], { ...bl, size: [5, 3] }],
    [[1, 2, 5, 6], { ...bl, size: 1 }],
    [[1, 2, 1, 6], { ...bl, size: [4, 1] }],
    [[1, 1, 3, 40], { ...bl, size: [37, 5] }],
    [[1, 2, 6, 5], { ...bl, size: [6, 9] }],
    // floor(5 * 1.1) = 5 rows: an unchanged size copies, whatever 1/1.1 would say
    [[1, 2, 5, 9], { ...bl, scaleFactor: 1.1 }],
    // 0.3 gives 2 x 2 outputs read 1/0.3 apart: the last taps clamp at the border
    [[1, 2, 7, 9], { ...bl, scaleFactor: 0.3 }],
    // rows wider than one invocation's 32 columns
    [[1, 2, 3, 70], { ...bl, size: [5, 150] }],
  );
}
BILINEAR_CASES.push([[1, 2, 7, 9], { mode: 'bilinear', scaleFactor: 1.3, recomputeScaleFactor: true }]);

const NEAREST_CASES: Array<[number[], InterpolateOptions]> = [
  [[2, 3, 5, 7], { size: [11, 16] }],
  [[1, 2, 9, 11], { size: [4, 5] }],
  [[2, 2, 4, 5], { scaleFactor: 2 }],
  [[1, 3, 5, 7], { mode: 'nearest', scaleFactor: 1.5 }],
  [[1, 2, 9, 7], { scaleFactor: [0.5, 1.7] }],
  [[1, 2, 7, 9], { scaleFactor: 0.3 }],
  [[1, 2, 5, 9], { scaleFactor: 1.1 }],
  [[1, 2, 7, 9], { scaleFactor: 1.3, recomputeScaleFactor: true }],
  [[1, 2, 1, 1], { size: [5, 3] }],
  [[1, 2, 5, 6], { size: 1 }],
  [[1, 1, 4, 3], { size: [150, 200] }],
  [[1, 2, 3, 70], { size: [4, 33] }],
  [[2, 1, 2, 65], { scaleFactor: [1, 1.3] }],
];

describe('interpolateBackwardRef agrees with finite differences', () => {
  // interpolateRef is linear in x, so central differences are exact but for rounding.
  const cases: Array<[number[], InterpolateOptions]> = [
    [[1, 2, 4, 5], { mode: 'bilinear', size: [7, 3] }],
    [[1, 2, 4, 5], { mode: 'bilinear', size: [7, 3], alignCorners: true }],
    [[2, 1, 3, 4], { mode: 'bilinear', scaleFactor: [1.5, 0.6] }],
    [[1, 1, 1, 3], { mode: 'bilinear', size: [3, 5], alignCorners: true }],
    [[1, 1, 4, 5], { mode: 'bilinear', size: [4, 1], alignCorners: true }],
    [[1, 2, 4, 5], { size: [7, 3] }],
    [[1, 1, 5, 4], { scaleFactor: [0.6, 2] }],
  ];

  it.each(cases)('%j %j', (shape, options) => {
    const x = host(random(numel(shape), 5), shape);
    const gradOut = random(numel(outputShape(shape, options)), 6);
    const analytic = interpolateBackwardRef(host(gradOut, outputShape(shape, options)), shape, options);
    const numeric = finiteDifferences(() => dot(interpolateRef(x, options).data, gradOut), x.data);
    expect(analytic.shape).toEqual(shape);
    assertClose(analytic.data, numeric, FINITE_DIFFERENCE, `interpolateBackwardRef ${describeCase(shape, options)}`);
    expect(analytic.data.some((v) => v !== 0)).toBe(true);
  });
});

async function checkBackward(shape: number[], options: InterpolateOptions, gradData?: Float32Array): Promise<Float32Array> {
  const e = engine();
  const outShape = outputShape(shape, options);
  const data = gradData ?? random(numel(outShape), 11 + numel(shape));
  const gradOut = e.tensor(data, outShape);
  const gradIn = interpolateBackward(gradOut, shape, options);
  expect(gradIn.shape).toEqual(shape);
  const got = await gradIn.toArray();
  const want = interpolateBackwardRef(host(data, outShape), shape, options);
  assertClose(got, want.data, gradient(reach(shape, outShape, options)), `interpolateBackward ${describeCase(shape, options)}`);
  gradOut.dispose();
  gradIn.dispose();
  return got;
}

describe('interpolateBackward', () => {
  it.each(BILINEAR_CASES)('bilinear matches the reference on %j %j', async (shape, options) => {
    await checkBackward(shape, options);
  });

  it.each(NEAREST_CASES)('nearest matches the reference on %j %j', async (shape, options) => {
    await checkBackward(shape, options);
  });

  it.each([...BILINEAR_CASES.filter((_, i) => i % 3 === 0), ...NEAREST_CASES.filter((_, i) => i % 3 === 1)])(
    'is the adjoint of the GPU forward pass on %j %j',
    async (shape, options) => {
      // <interpolate(x), g> = <x, interpolateBackward(g)>: the same weights both ways.
      const e = engine();
      const x = e.tensor(random(numel(shape), 17), shape);
      const y = interpolate(x, options);
      const g = e.tensor(random(y.size, 19), y.shape);
      const gx = interpolateBackward(g, shape, options);
      const forward = dot(await y.toArray(), await g.toArray());
      const backward = dot(await x.toArray(), await gx.toArray());
      assertClose([backward], [forward], reduction(y.size), `adjoint ${describeCase(shape, options)}`);
      for (const t of [x, y, g, gx]) t.dispose();
    },
  );

  it('gives an empty batch an empty gradient', async () => {
    await checkBackward([0, 3, 4, 5], { mode: 'bilinear', size: [7, 2] });
  });

  it('is deterministic: the same bits twice', async () => {
    const [shape, options] = BILINEAR_CASES[0]!;
    expect(await checkBackward(shape, options)).toEqual(await checkBackward(shape, options));
  });

  it.each<[number[], InterpolateOptions]>([
    [[1, 2, 5, 6], { mode: 'bilinear', size: [9, 4] }],
    [[1, 2, 5, 6], { mode: 'bilinear', size: [5, 11], alignCorners: true }],
    [[1, 2, 5, 6], { size: [9, 4] }],
  ])('spreads NaN and infinity where PyTorch does on %j %j', async (shape, options) => {
    // Both taps of an unchanged axis land on one cell, one with weight 0: 0 * inf is NaN there.
    const outShape = outputShape(shape, options);
    const data = random(numel(outShape), 13);
    data[3] = Infinity;
    data[7] = -Infinity;
    data[numel(outShape) - 5] = NaN;
    const got = await checkBackward(shape, options, data);
    expect(got.some((v) => Number.isNaN(v))).toBe(true);
  });
});

describe('bindings over the device limit', () => {
  it('splits interpolateBackward whose input gradient passes maxStorageBufferBindingSize by planes', async () => {
    const e = engine();
    const limit = e.limits.maxStorageBufferBindingSize;
    const [h, w] = [512, 512];
    const planes = Math.floor(limit / (h * w * 4)) + 2;
    const shape = [1, planes, h, w];
    const options: InterpolateOptions = { mode: 'bilinear', size: [128, 128] };
    // gradOut repeats a few distinct planes, built on the GPU.
    const distinctPlanes = 7;
    const outPlane = 128 * 128;
    const gradData = random(distinctPlanes * outPlane, 61);
    const tile = e.tensor(gradData);
    const gradOut = e.empty([1, planes, 128, 128]);
    for (let p = 0; p < planes; p += distinctPlanes) {
      e.copy(tile, gradOut, Math.min(distinctPlanes, planes - p) * outPlane * 4, 0, p * outPlane * 4);
    }
    tile.dispose();
    const gradIn = interpolateBackward(gradOut, shape, options);
    gradOut.dispose();
    // Planes on both sides of the chunk boundary (two chunks of equal size), and the last.
    const perChunk = Math.ceil(planes / 2);
    for (const p of [0, perChunk - 1, perChunk, planes - 1]) {
      const got = new Float32Array(await e.readBuffer(gradIn, h * w * 4, p * h * w * 4));
      const d = p % distinctPlanes;
      const plane = host(gradData.subarray(d * outPlane, (d + 1) * outPlane), [1, 1, 128, 128]);
      assertClose(got, interpolateBackwardRef(plane, [1, 1, h, w], options).data, gradient(4), `plane ${p}`);
    }
    gradIn.dispose();
  });
});

// ---- PyTorch's gradients -------------------------------------------------------------------------

describe('argument errors', () => {
  const cases: Array<[string, number[], number[], InterpolateOptions, string]> = [
    [
      'gradOut of the wrong size',
      [1, 3, 12, 16],
      [1, 3, 7, 9],
      { mode: 'bilinear', size: [13, 17] },
      'interpolateBackward: expected gradOut of shape [1, 3, 13, 17] (the output for input [1, 3, 7, 9]), got [1, 3, 12, 16]',
    ],
    [
      'gradOut with other channels',
      [1, 4, 14, 18],
      [1, 3, 7, 9],
      { scaleFactor: 2 },
      'interpolateBackward: expected gradOut of shape [1, 3, 14, 18] (the output for input [1, 3, 7, 9]), got [1, 4, 14, 18]',
    ],
    [
      'gradOut of another rank',
      [3, 14, 18],
      [1, 3, 7, 9],
      { scaleFactor: 2 },
      'interpolateBackward: expected gradOut of shape [1, 3, 14, 18] (the output for input [1, 3, 7, 9]), got [3, 14, 18]',
    ],
    ['inputShape rank', [1, 3, 4, 4], [3, 7, 9], { size: 4 }, 'interpolateBackward: expected input ([N, C, H, W]) of rank 4, got shape [3, 7, 9]'],
    [
      'inputShape not integers',
      [1, 3, 4, 4],
      [1, 3, 7.5, 9],
      { size: 4 },
      'interpolateBackward: inputShape must be a list of integers >= 0, got [1,3,7.5,9]',
    ],
    [
      'size and scaleFactor',
      [1, 1, 8, 8],
      [1, 1, 4, 4],
      { size: 8, scaleFactor: 2 },
      'interpolateBackward: only one of size or scaleFactor should be defined',
    ],
    [
      'alignCorners with nearest',
      [1, 1, 8, 8],
      [1, 1, 4, 4],
      { size: 8, alignCorners: true },
      "interpolateBackward: alignCorners can only be set with mode 'bilinear' (PyTorch: the interpolating modes)",
    ],
    [
      'scale to nothing',
      [1, 1, 4, 1],
      [1, 1, 4, 5],
      { scaleFactor: [1, 0.1] },
      'interpolateBackward: input and output sizes should be greater than 0, but got input (H: 4, W: 5) output (H: 4, W: 0) for input [1, 1, 4, 5]',
    ],
    [
      'recomputeScaleFactor with size',
      [1, 1, 8, 8],
      [1, 1, 4, 4],
      { size: 8, recomputeScaleFactor: true },
      'interpolateBackward: recomputeScaleFactor is not meaningful with an explicit size',
    ],
  ];

  it.each(cases)('%s', (_what, gradShape, inputShape, options, message) => {
    const e = engine();
    const gradOut = e.empty(gradShape);
    const before = e.pending;
    const inUse = e.stats().bytesInUse;
    expect(() => interpolateBackward(gradOut, inputShape, options)).toThrow(message);
    // Refused before anything was recorded or allocated.
    expect(e.pending).toBe(before);
    expect(e.stats().bytesInUse).toBeLessThanOrEqual(inUse);
    gradOut.dispose();
  });

  it('refuses a disposed gradOut', () => {
    const gradOut = engine().empty([1, 1, 8, 8]);
    gradOut.dispose();
    expect(() => interpolateBackward(gradOut, [1, 1, 4, 4], { size: 8 })).toThrow(
      'interpolateBackward: a tensor of shape [1, 1, 8, 8] was used after dispose()',
    );
  });
});
