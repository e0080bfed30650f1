// Buffer views (Tensor.region) and the one runtime chunker (src/runtime/split.ts): views bind,
// copy, upload and read back at their offset; a lowered binding limit is enforced by every
// dispatch; planSplit chunks along one axis, then two, with aligned views where it can and copies
// where it cannot (the same values either way), sums outputs over chunks, and refuses a unit that
// cannot be split before anything is allocated or recorded (issue 11: a refused op used to leave its
// output allocated).
import { describe, expect, it } from 'vitest';
import { conv2d } from '../src/ops/conv.js';
import { addInPlace, relu } from '../src/ops/elementwise.js';
import { linear } from '../src/ops/gemm.js';
import { batchNorm } from '../src/ops/norm.js';
import { maxPool2d } from '../src/ops/pool.js';
import { interpolate } from '../src/ops/resize.js';
import { softmax } from '../src/ops/softmax.js';
import { Engine, grid1d } from '../src/runtime/engine.js';
import type { KernelSpec } from '../src/runtime/kernel.js';
import { planSplit, runSplit, type Split } from '../src/runtime/split.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { params } from '../src/runtime/uniforms.js';
import { random, useEngine } from './helpers.js';

const engine = useEngine();
/** 1 KiB: 256 floats per binding. */
const LIMIT = 1024;
const small = useEngine({ maxStorageBufferBindingSize: LIMIT });

/** out = a + b, the elementwise shader's add (one kernel whatever binds it). */
const ADD: KernelSpec = { name: 'test.add', shader: 'elementwise', defines: { OP: 1, WG: 256 }, bindings: ['uniform', 'read', 'read', 'write'] };
function add(a: Tensor, b: Tensor, out: Tensor): void {
  a.engine.dispatch(ADD, [a, b, out], grid1d(out.size, 256), params().u32(out.size).f32(0));
}

describe('views', () => {
  it('bind, copy, upload and read back at their offset, leaving the rest of the buffer alone', async () => {
    const e = engine();
    const data = random(256, 1);
    const t = e.tensor(data, [4, 64]);
    const row2 = t.region(128, [64]);
    expect(row2.offset).toBe(128);
    expect(row2.byteOffset).toBe(512);
    expect(Array.from(await row2.toArray())).toEqual(Array.from(data.subarray(128, 192)));
    // A kernel writing through the view: acc += acc's own copy, on row 2 only.
    const copy = e.empty([64]);
    e.copy(row2, copy, 256);
    addInPlace(row2, copy);
    e.upload(t, Float32Array.of(7, 8), 4); // elements 1 and 2 of row 0
    const got = await t.toArray();
    const want = Float32Array.from(data);
    for (let i = 128; i < 192; i++) want[i] = 2 * data[i]!;
    want[1] = 7;
    want[2] = 8;
    expect(Array.from(got)).toEqual(Array.from(want));
    // An op on a view reads only the view.
    const y = relu(row2.reshape([8, 8]));
    expect(Array.from(await y.toArray())).toEqual(Array.from(want.subarray(128, 192), (v) => Math.max(v, 0)));
    for (const v of [row2, copy, y, t]) v.dispose();
  });

  it('are refused where a kernel could not bind them, and raw-buffer access refuses them', () => {
    const e = engine();
    const t = e.zeros([300]);
    const align = e.limits.minStorageBufferOffsetAlignment;
    expect(() => t.region(1, [4])).toThrow(`region: a view starting 4 bytes into its buffer is not a multiple of the device's minStorageBufferOffsetAlignment (${align})`);
    expect(() => t.region(256, [64])).toThrow('region: elements [256, 320) are not within tensor [300] (300 elements)');
    const v = t.region(align / 4, [8]);
    expect(() => v.buffer).toThrow(`tensor [8] is a view starting ${align / 4} elements into its buffer`);
    expect(() => e.copy(v, t, 36)).toThrow('copy source: bytes [0, 36) are not a 4-byte-aligned range within tensor [8] (32 bytes)');
    expect(() => e.upload(v, new Float32Array(9))).toThrow('upload: bytes [0, 36) are not a 4-byte-aligned range within tensor [8] (32 bytes)');
    v.dispose();
    // The view held the storage: disposing it alone leaves t usable.
    expect(t.isDisposed).toBe(false);
    t.dispose();
  });
});

describe('a lowered binding limit', () => {
  it('is checked when the engine is made, and enforced by every dispatch', async () => {
    await expect(Engine.create({ maxStorageBufferBindingSize: 1000.5 })).rejects.toThrow('Engine.create: maxStorageBufferBindingSize must be a multiple of 4');
    const e = small();
    expect(e.maxBindingBytes).toBe(LIMIT);
    const x = e.zeros([257]);
    const out = e.empty([257]);
    expect(() => add(x, x, out)).toThrow(`kernel 'test.add': binding 0 is 1028 bytes, over the storage-binding limit of 1024 bytes (lowered by EngineOptions.maxStorageBufferBindingSize)`);
    x.dispose();
    out.dispose();
  });
});

/** Rows of `per` values, out[r] = x[r] + x[r] over `rows` rows, split by rows. */
function doubleRows(e: Engine, x: Tensor, rows: number, per: number): Tensor {
  const split: Split = { op: 'doubleRows', axes: [{ name: 'row', size: rows }], operands: [{ name: 'x', input: x, per: [per] }, { name: 'out', output: x.shape, per: [per] }] };
  return runSplit(e, split, ([xs, out]) => add(xs!, xs!, out!))[0]!;
}

describe('the chunker', () => {
  it('runs whole when everything fits, else in chunks of whole units aligned for views', () => {
    const e = small();
    const x = e.zeros([1000]);
    const rows = (per: number): Split => ({ op: 't', axes: [{ name: 'row', size: 1000 / per }], operands: [{ name: 'x', input: x, per: [per] }] });
    expect(planSplit(e, { op: 't', axes: [{ name: 'element', size: 200 }], operands: [{ name: 'x', input: x.region(0, [200]), per: [1] }] })).toEqual({
      whole: true,
      chunks: [{ a0: 0, a: 200, b0: 0, b: 1 }],
    });
    // 1000 floats by elements: 256 fit a binding, views start every 64 (256 bytes): 4 chunks of 256 (the last 232).
    expect(planSplit(e, rows(1)).chunks.map((c) => [c.a0, c.a])).toEqual([[0, 256], [256, 256], [512, 256], [768, 232]]);
    // Rows of 100 floats (400 bytes): two fit; aligned starts would need 64-row steps, so equal chunks of 2 (copies where misaligned).
    expect(planSplit(e, rows(100)).chunks.map((c) => c.a)).toEqual([2, 2, 2, 2, 2]);
    x.dispose();
  });

  it('gives the same values through views and through copies', async () => {
    const e = small();
    const data = random(1000, 3);
    const want = Array.from(data, (v) => 2 * v);
    const x = e.tensor(data);
    // 64-float rows: aligned views (4 rows a chunk); 100- and 40-float rows: misaligned regions copied.
    for (const per of [64, 100, 40]) {
      const rows = Math.floor(1000 / per);
      const xs = x.region(0, [rows * per]);
      const y = doubleRows(e, xs, rows, per);
      expect(Array.from(await y.toArray()), `rows of ${per}`).toEqual(want.slice(0, rows * per));
      y.dispose();
      xs.dispose();
    }
    x.dispose();
  });

  it('splits one unit along a second axis when it alone is too big, and sums outputs over the chunks', async () => {
    const e = small();
    // 3 images of 4 "channels" x 100 values: an image (1600 bytes) is over the limit, two channels are not.
    const data = random(1200, 4);
    const x = e.tensor(data, [3, 4, 100]);
    const split: Split = {
      op: 'perChannelSum',
      axes: [{ name: 'image', size: 3 }, { name: 'channel', size: 4 }],
      operands: [
        { name: 'x', input: x, per: [400, 100] },
        { name: 'y', output: [3, 4, 100], per: [400, 100] },
        // The sum over images of each chunk's first 4 values: per 0 along the images.
        { name: 'firsts', output: [4], per: [0], combine: (acc, part) => addInPlace(acc, part) },
      ],
    };
    const plan = planSplit(e, split);
    expect(plan.chunks.map((c) => [c.a0, c.b0, c.b])).toEqual([[0, 0, 2], [0, 2, 2], [1, 0, 2], [1, 2, 2], [2, 0, 2], [2, 2, 2]]);
    const chunks: number[] = [];
    const [y, firsts] = runSplit(e, split, ([xs, ys, f], c) => {
      add(xs!, xs!, ys!);
      // Only the chunks at the first channel write: the others leave their part zero.
      e.upload(f!, new Float32Array(4));
      if (c.b0 === 0) e.copy(xs!, f!, 16);
      chunks.push(c.a0);
    });
    expect(chunks).toEqual([0, 0, 1, 1, 2, 2]);
    expect(Array.from(await y!.toArray())).toEqual(Array.from(data, (v) => 2 * v));
    const sums = [0, 1, 2, 3].map((k) => data[k]! + data[400 + k]! + data[800 + k]!);
    const got = await firsts!.toArray();
    sums.forEach((s, k) => expect(got[k]).toBeCloseTo(s, 6));
    for (const t of [x, y!, firsts!]) t.dispose();
  });

  it('refuses a unit that cannot be split before allocating or recording anything', async () => {
    const e = small();
    const x = e.zeros([2, 300]);
    await e.flush();
    const before = { pending: e.pending, inUse: e.pool.stats().bytesInUse };
    const split: Split = { op: 'rowOp', axes: [{ name: 'row', size: 2 }], operands: [{ name: 'x', input: x, per: [300] }, { name: 'out', output: [2, 300], per: [300] }] };
    expect(() => runSplit(e, split, () => {})).toThrow(
      'rowOp: one row needs a binding of 1200 bytes (x; x [2, 300]), over the storage-binding limit of 1024 bytes (lowered by EngineOptions.maxStorageBufferBindingSize), and cannot be split further',
    );
    expect({ pending: e.pending, inUse: e.pool.stats().bytesInUse }).toEqual(before);
    x.dispose();
  });
});

describe('ops refused past the binding limit', () => {
  // Each op's smallest unit (a plane, a row, one image's channel...) is over 1 KiB (256 floats).
  const cases: Array<[string, (e: Engine) => Tensor[], (t: Tensor[]) => unknown, string]> = [
    ['maxPool2d: one plane', (e) => [e.zeros([2, 3, 17, 17])], ([x]) => maxPool2d(x!, { kernelSize: 2 }), 'maxPool2d: one plane needs a binding of 1156 bytes'],
    ['interpolate: one output plane', (e) => [e.zeros([1, 2, 8, 8])], ([x]) => interpolate(x!, { size: 17 }), 'interpolate: one plane needs a binding of 1156 bytes'],
    ['softmax: one row', (e) => [e.zeros([3, 300])], ([x]) => softmax(x!, -1), 'softmax: one row needs a binding of 1200 bytes'],
    ['batchNorm: one (n, c) plane', (e) => [e.zeros([2, 3, 300]), e.zeros([3]), e.zeros([3])], ([x, m, v]) => batchNorm(x!, m, v, undefined, undefined, { training: true }), "batchNorm: one image's channel needs a binding of 1200 bytes"],
    ['conv2d: one image (a 1x1 convolution cannot split its input by output channels)', (e) => [e.zeros([2, 4, 9, 9]), e.zeros([2, 4, 1, 1])], ([x, w]) => conv2d(x!, w!), "conv2d: one image's output channel needs a binding of 1296 bytes (x;"],
    ['linear: one row of x', (e) => [e.zeros([2, 300]), e.zeros([4, 300])], ([x, w]) => linear(x!, w!), "linear: one row's output feature needs a binding of 1200 bytes (x;"],
  ];
  it.each(cases)('%s: refused before anything is allocated or recorded, again and again', async (_what, make, call, message) => {
    const e = small();
    const tensors = make(e);
    await e.flush();
    const before = { pending: e.pending, inUse: e.pool.stats().bytesInUse, allocated: e.pool.stats().bytesAllocated };
    for (let k = 0; k < 5; k++) expect(() => call(tensors)).toThrow(message);
    expect({ pending: e.pending, inUse: e.pool.stats().bytesInUse, allocated: e.pool.stats().bytesAllocated }).toEqual(before);
    for (const t of tensors) t.dispose();
  });
});
