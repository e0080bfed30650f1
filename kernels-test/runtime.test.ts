import { describe, expect, it } from 'vitest';
import { add, relu } from '../src/ops/elementwise.js';
import { bucketSize } from '../src/runtime/buffer-pool.js';
import { DeviceLostError, Engine, READ_STAGING_KEEP, grid1d } from '../src/runtime/engine.js';
import { kernelCode, type KernelSpec } from '../src/runtime/kernel.js';
import { shaderSource } from '../src/runtime/shader.js';
import { params } from '../src/runtime/uniforms.js';
import { checkKernelLayout } from './layout-check.js';
import { ELEMENTWISE, assertClose, random, useEngine } from './helpers.js';

const engine = useEngine();

describe('engine', () => {
  it('names the adapter and raises the storage binding limit to the adapter maximum', () => {
    expect(engine().adapterName.length).toBeGreaterThan(0);
    expect(engine().limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
  });

  it('round-trips data through a tensor', async () => {
    const data = random(1000, 1);
    const t = engine().tensor(data, [10, 100]);
    expect(await t.toArray()).toEqual(data);
    t.dispose();
  });

  it('records many dispatches and submits them once, in order', async () => {
    const e = engine();
    const x = e.tensor(random(4097, 2), [4097]);
    let y = relu(x);
    for (let i = 0; i < 20; i++) {
      const next = add(y, x);
      y.dispose();
      y = next;
    }
    expect(e.pending).toBeGreaterThan(20);
    const got = await y.toArray();
    expect(e.pending).toBe(0);
    const xs = await x.toArray();
    const want = Array.from(xs, (v) => Math.max(v, 0) + 20 * v);
    assertClose(got, want, { rtol: 1e-5, atol: 1e-5 });
    x.dispose();
    y.dispose();
  });

  it('submits concurrent flushes in recording order, even while an earlier one waits for compilation', async () => {
    const e = engine();
    const x = e.tensor([-1, 2, -3, 4]);
    const y = e.tensor([9, 9, 9, 9]);
    // add_relu is compiled for the first time here, so this flush waits on the compiler...
    const r = add(x, x, { relu: true });
    const first = r.toArray();
    // ...while this one has nothing to compile; it must still reach the queue second.
    e.copy(r, y, 16);
    const second = y.toArray();
    expect(Array.from(await second)).toEqual([0, 4, 0, 8]);
    expect(Array.from(await first)).toEqual([0, 4, 0, 8]);
    for (const t of [x, y, r]) t.dispose();
  });

  it('reuses buffers: a repeated op allocates nothing new', async () => {
    const e = engine();
    const x = e.tensor(random(3000, 3), [3000]);
    relu(x).dispose();
    await e.flush();
    const before = e.stats();
    for (let i = 0; i < 50; i++) relu(x).dispose();
    await e.flush();
    expect(e.stats().bytesAllocated).toBe(before.bytesAllocated);
    expect(e.stats().bytesInUse).toBe(before.bytesInUse);
    x.dispose();
  });

  it('folds big 1-D grids into two dimensions', () => {
    expect(grid1d(100, 64)).toEqual([2, 1, 1]);
    const [x, y] = grid1d(70000 * 256, 256);
    expect(x).toBeLessThanOrEqual(65535);
    expect(x * y).toBeGreaterThanOrEqual(70000);
  });

  it('runs an elementwise op over a grid folded into two dimensions', async () => {
    const e = engine();
    const n = 65535 * 256 + 1000; // one more workgroup row than fits in x
    const data = random(n, 4);
    const x = e.tensor(data);
    const got = await relu(x).toArray();
    assertClose(got, data.map((v) => Math.max(v, 0)), ELEMENTWISE, 'relu');
    x.dispose();
  });
});

describe('capture and replay', () => {
  it('replays captured dispatches on new input data, allocating nothing', async () => {
    const e = engine();
    const n = 1000;
    const { value, recording } = e.capture(() => {
      const input = e.empty([n]);
      const h = relu(input);
      const out = add(h, input, { relu: true });
      h.dispose(); // freed inside the capture: its buffer may serve a later op of the recording
      return { input, out };
    });
    await recording.compiled();
    expect(recording.dispatchCount).toBe(2);
    const before = e.stats().bytesAllocated;
    for (const seed of [1, 2, 3]) {
      const data = random(n, seed);
      e.upload(value.input, data);
      e.replay(recording);
      const got = await value.out.toArray();
      assertClose(got, Array.from(data, (v) => Math.max(Math.max(v, 0) + v, 0)), ELEMENTWISE, `replay ${seed}`);
    }
    expect(e.stats().bytesAllocated).toBe(before);
    recording.dispose();
    expect(() => e.replay(recording)).toThrow(/Recording used after dispose/);
    value.out.dispose(); // harmless after the recording freed its buffers
  });

  it('primes every pipeline before the first replay without changing its results', async () => {
    const e = engine();
    const n = 70000; // several workgroups: the primes run only the first
    const { value, recording } = e.capture(() => {
      const input = e.empty([n]);
      return { input, out: add(relu(input), input) };
    });
    const data = random(n, 7);
    e.upload(value.input, data);
    await e.sync();
    await e.prime(recording);
    e.replay(recording);
    assertClose(await value.out.toArray(), Array.from(data, (v) => Math.max(v, 0) + v), ELEMENTWISE, 'primed replay');
    recording.dispose();
  });

  it('refuses to submit or nest while capturing', () => {
    const e = engine();
    expect(() => e.capture(() => e.capture(() => 0))).toThrow(/already capturing/);
    let flushed: Promise<void> | undefined;
    const { recording } = e.capture(() => {
      flushed = e.flush();
    });
    recording.dispose();
    return expect(flushed).rejects.toThrow(/cannot submit while capturing/);
  });

  it('refuses a readback while capturing, leaving nothing in the recording', async () => {
    const e = engine();
    const x = e.tensor([1, 2, 3, 4]);
    let read: Promise<ArrayBuffer> | undefined;
    const { recording } = e.capture(() => {
      read = e.readBuffer(x, 16);
    });
    await expect(read).rejects.toThrow('Engine.readBuffer: cannot read back while capturing');
    expect(recording.commands()).toHaveLength(0);
    recording.dispose();
    expect(await x.toArray()).toEqual(new Float32Array([1, 2, 3, 4]));
    x.dispose();
  });
});

describe('tensor views', () => {
  it('reshape, view and flatten share storage and infer -1', async () => {
    const e = engine();
    const x = e.tensor(random(2 * 3 * 4 * 5, 5), [2, 3, 4, 5]);
    const r = x.reshape([6, -1]);
    expect(r.shape).toEqual([6, 20]);
    expect(x.flatten(1).shape).toEqual([2, 60]);
    expect(x.flatten().shape).toEqual([120]);
    expect(x.view([2, 3, 20]).shape).toEqual([2, 3, 20]);
    expect(r.buffer).toBe(x.buffer);
    x.dispose();
    // the view keeps the storage alive
    expect(await r.toArray()).toHaveLength(120);
    r.dispose();
  });

  it('refuses bad reshapes and use after dispose', async () => {
    const e = engine();
    const x = e.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(() => x.reshape([4, 2])).toThrow(/cannot reshape \[2, 3\] \(6 values\) into \[4, 2\]/);
    expect(() => x.reshape([-1, -1])).toThrow(/only one dimension can be -1/);
    expect(() => x.reshape([4, -1])).toThrow(/cannot reshape/);
    expect(() => e.tensor([1, 2, 3], [2, 2])).toThrow(/holds 4 values but 3 were given/);
    x.dispose();
    await expect(x.toArray()).rejects.toThrow(/used after dispose/);
    expect(() => relu(x)).toThrow(/relu: x \[2, 3\] was used after dispose/);
  });
});

describe('readback staging', () => {
  it('keeps a bounded pool of staging buffers after many concurrent readbacks', async () => {
    const e = engine();
    const n = 64 * 1024; // 256 KiB each
    const tensors = Array.from({ length: 24 }, (_, i) => e.tensor(new Float32Array(n).fill(i), [n]));
    const values = await Promise.all(tensors.map((t) => t.toArray()));
    values.forEach((v, i) => expect(v[n - 1]).toBe(i));
    // 24 were in flight at once; what stays for reuse is at most the pool's bound.
    const kept = e.stats().readStaging;
    expect(kept.buffers).toBeLessThanOrEqual(READ_STAGING_KEEP.buffers);
    expect(kept.bytes).toBeLessThanOrEqual(READ_STAGING_KEEP.bytes);
    expect(kept.buffers).toBeGreaterThan(0); // and it does keep some: a readback loop reuses them
    // Sequential readbacks of one size reuse one buffer.
    for (let i = 0; i < 5; i++) await tensors[0]!.toArray();
    expect(e.stats().readStaging.buffers).toBe(kept.buffers);
    for (const t of tensors) t.dispose();
  });
});

describe('argument errors before any allocation', () => {
  it('tensor() names what it got when the data or shape is not an array of numbers', () => {
    const e = engine();
    expect(() => e.tensor(null as never)).toThrow('tensor: expected data as an array or typed array of numbers, got null');
    expect(() => e.tensor(undefined as never)).toThrow('tensor: expected data as an array or typed array of numbers, got undefined');
    expect(() => e.tensor('abc' as never)).toThrow('tensor: expected data as an array or typed array of numbers, got a string');
    expect(() => e.tensor([1, 2], 2 as never)).toThrow('tensor: expected the shape as an array of integers >= 0, got 2');
    expect(() => e.zeros(undefined as never)).toThrow('zeros: expected the shape as an array of integers >= 0, got undefined');
  });

  it('zeros and tensor refuse a size over maxBufferSize before allocating on the host', () => {
    const e = engine();
    const max = e.limits.maxBufferSize;
    expect(() => e.zeros([2 ** 20, 2 ** 20])).toThrow(
      `zeros: shape [1048576, 1048576] is 4398046511104 bytes, over the device's maxBufferSize of ${max} bytes`,
    );
    // The size is checked before the data's length: no host array could be that large anyway.
    expect(() => e.tensor([1], [2 ** 31, 2])).toThrow(`tensor: shape [2147483648, 2] is 17179869184 bytes, over the device's maxBufferSize`);
  });

  it('ops name a non-Tensor argument instead of blaming engines', () => {
    const e = engine();
    const x = e.tensor([1, -2]);
    expect(() => relu({ shape: [2] } as never)).toThrow('relu: expected x to be a Tensor, got an object ({"shape":[2]})');
    expect(() => add(x, new Float32Array(2) as never)).toThrow('add: expected b to be a Tensor, got a Float32Array');
    x.dispose();
  });
});

describe('buffer pool', () => {
  it('buckets sizes at powers of two and their three-quarter points', () => {
    expect(bucketSize(1)).toBe(16);
    expect(bucketSize(1000)).toBe(1024);
    expect(bucketSize(1025)).toBe(1536);
    expect(bucketSize(1537)).toBe(2048);
  });

  it('reports bytes in use and frees them on dispose', () => {
    const e = engine();
    const before = e.stats().bytesInUse;
    const t = e.empty([1000]);
    expect(e.stats().bytesInUse).toBe(before + bucketSize(4000));
    t.dispose();
    expect(e.stats().bytesInUse).toBe(before);
    expect(() => e.pool.release(t.buffer)).toThrow(/used after dispose/);
  });
});

describe('kernel errors', () => {
  it('reports a WGSL compile error with the kernel name and line', async () => {
    const e = engine();
    const broken: KernelSpec = { name: 'broken', shader: 'elementwise', defines: { WG: 64 }, bindings: ['uniform', 'read', 'read', 'write'] };
    // OP is missing, so the shader does not compile
    const line = shaderSource('elementwise').split('\n').findIndex((l) => l.includes('if (OP == 0u)')) + 1;
    await expect(e.pipelines.get(broken)).rejects.toThrow(
      new RegExp(`WGSL compile error in kernel 'broken':\n  shaders/elementwise\\.wgsl:${line}:\\d+: .*'OP'.*\n    if \\(OP == 0u\\) \\{`),
    );
  });

  it('checks a kernel layout against its WGSL', () => {
    const good: KernelSpec = { name: 'relu', shader: 'elementwise', defines: { OP: 0, WG: 64 }, bindings: ['uniform', 'read', 'read', 'write'] };
    const code = kernelCode(good);
    expect(() => checkKernelLayout(good, code)).not.toThrow();
    const bad: KernelSpec = { ...good, bindings: ['uniform', 'read', 'write'] };
    expect(() => checkKernelLayout(bad, code)).toThrow(
      /kernel 'relu': declared bindings \[uniform,read,write\] but elementwise.wgsl declares \[uniform,read,read,write\]/,
    );
  });

  it('refuses a dispatch with the wrong number of buffers or too many workgroups', () => {
    const e = engine();
    const spec: KernelSpec = { name: 'relu', shader: 'elementwise', defines: { OP: 0, WG: 64 }, bindings: ['uniform', 'read', 'read', 'write'] };
    const x = e.tensor([1, 2]);
    expect(() => e.dispatch(spec, [x, x], 1, params().u32(2))).toThrow(/takes 3 storage buffers but got 2/);
    expect(() => e.dispatch(spec, [x, x, x], 70000, params().u32(2))).toThrow(/70000 workgroups .* exceeds the device limit/);
    expect(() => e.dispatch(spec, [x, x, x], 1)).toThrow(/needs uniform parameters/);
    x.dispose();
  });
});

describe('device loss', () => {
  it('is reported with its reason, refuses further work, and a new engine carries on', async () => {
    let reported: DeviceLostError | undefined;
    const doomed = await Engine.create({ onDeviceLost: (err) => (reported = err) });
    const x = doomed.tensor([1, -2, 3]);
    doomed.device.destroy(); // what a driver reset looks like to the engine
    await new Promise((r) => setTimeout(r, 50));
    expect(reported).toBeInstanceOf(DeviceLostError);
    expect(reported!.message).toMatch(/device lost \(destroyed\)/);
    expect(() => relu(x)).toThrow(DeviceLostError);
    await expect(doomed.flush()).rejects.toThrow(DeviceLostError);
    const fresh = await Engine.create();
    const y = fresh.tensor([1, -2, 3]);
    expect(Array.from(await relu(y).toArray())).toEqual([1, 0, 3]);
    fresh.dispose();
  });
});
