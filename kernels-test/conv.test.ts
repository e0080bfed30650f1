import { describe, expect, it, vi } from 'vitest';
import { conv1d, conv2d, conv3d, type ConvOptions } from '../src/ops/conv.js';
import { checkConv, convProblem } from '../src/ops/conv-args.js';
import { convUnits, planForward, winogradImagesPerChunk, winogradTiles } from '../src/ops/conv-plan.js';
import { CPU_PROFILE } from '../src/runtime/device-profile.js';
import { conv1dRef, conv2dRef, conv3dRef } from '../src/reference/conv.js';
import { addRef, reluRef } from '../src/reference/elementwise.js';
import { host, type HostTensor } from '../src/reference/host-tensor.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { ELEMENTWISE, assertClose, random, reduction, useEngine, useLimitedEngines } from './helpers.js';

const engine = useEngine();
const limited = useLimitedEngines();
let seed = 500;

function pair(shape: number[]): { gpu: Tensor; ref: HostTensor } {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = random(n, seed++);
  return { gpu: engine().tensor(data, shape), ref: host(data, shape) };
}

type Conv = typeof conv2d;
type ConvRef = typeof conv2dRef;

interface Case {
  name: string;
  x: number[];
  w: number[];
  bias?: boolean;
  options?: ConvOptions;
}

/** Runs one case through the GPU op (every listed algorithm) and the reference. */
async function check(op: Conv, ref: ConvRef, c: Case, algorithms: Array<ConvOptions['algorithm']>): Promise<void> {
  const x = pair(c.x);
  const w = pair(c.w);
  const b = c.bias ? pair([c.w[0]!]) : undefined;
  const want = ref(x.ref, w.ref, b?.ref, c.options);
  const k = c.w.slice(1).reduce((p, d) => p * d, 1);
  for (const algorithm of algorithms) {
    const got = op(x.gpu, w.gpu, b?.gpu, { ...c.options, algorithm });
    expect(got.shape).toEqual(want.shape);
    assertClose(await got.toArray(), want.data, reduction(k), `${c.name} (${algorithm})`);
    got.dispose();
  }
  x.gpu.dispose();
  w.gpu.dispose();
  b?.gpu.dispose();
}

describe('conv2d', () => {
  const cases: Case[] = [
    { name: '3x3 pad 1, odd channels', x: [1, 3, 9, 11], w: [5, 3, 3, 3], bias: true, options: { padding: 1 } },
    { name: 'stride 2, batch 3', x: [3, 5, 10, 9], w: [7, 5, 3, 3], bias: true, options: { stride: 2, padding: 1 } },
    { name: 'stride 3, no padding', x: [2, 3, 11, 13], w: [4, 3, 3, 3], options: { stride: 3 } },
    { name: 'dilation 2', x: [1, 3, 12, 10], w: [6, 3, 3, 3], bias: true, options: { dilation: 2, padding: 2 } },
    { name: 'non-square 3x5 kernel, per-axis stride and padding', x: [2, 4, 9, 12], w: [3, 4, 3, 5], options: { stride: [1, 2], padding: [1, 2] } },
    { name: 'padding larger than half the kernel', x: [1, 3, 5, 6], w: [5, 3, 3, 3], bias: true, options: { padding: 3 } },
    { name: 'groups 2 with ReLU', x: [2, 6, 8, 7], w: [4, 3, 3, 3], bias: true, options: { groups: 2, padding: 1, relu: true } },
    { name: 'depthwise', x: [2, 5, 9, 8], w: [5, 1, 3, 3], bias: true, options: { groups: 5, padding: 1, stride: 2 } },
    { name: 'depthwise multiplier 2', x: [1, 3, 7, 7], w: [6, 1, 5, 5], options: { groups: 3, padding: 2 } },
    { name: "'same' with an even kernel", x: [1, 3, 7, 9], w: [4, 3, 4, 2], bias: true, options: { padding: 'same' } },
    { name: "'same' dilated", x: [2, 2, 8, 8], w: [3, 2, 3, 3], options: { padding: 'same', dilation: [2, 1] } },
    { name: "'valid'", x: [1, 3, 6, 9], w: [2, 3, 2, 4], options: { padding: 'valid' } },
    { name: '7x7 stride 2 pad 3 (ResNet stem shape)', x: [1, 3, 23, 23], w: [8, 3, 7, 7], options: { stride: 2, padding: 3 } },
    { name: 'many output channels (tiles in M)', x: [1, 4, 6, 5], w: [37, 4, 3, 3], bias: true, options: { padding: 1, relu: true } },
    { name: '1x1 strided', x: [2, 5, 7, 7], w: [6, 5, 1, 1], bias: true, options: { stride: 2 } },
    { name: '1x1 padded', x: [1, 3, 4, 5], w: [2, 3, 1, 1], options: { padding: 1 } },
  ];
  for (const c of cases) {
    it(c.name, () => check(conv2d, conv2dRef, c, ['implicit', 'im2col']));
  }

  it('routes 1x1 / stride 1 / no padding straight to the GEMM (with groups, bias and ReLU)', async () => {
    await check(conv2d, conv2dRef, { name: '1x1', x: [3, 6, 5, 7], w: [8, 3, 1, 1], bias: true, options: { groups: 2, relu: true } }, ['auto']);
    await check(conv2d, conv2dRef, { name: '1x1 plain', x: [1, 7, 3, 3], w: [33, 7, 1, 1] }, ['auto']);
  });

  it('takes an unbatched [C, H, W] input and returns [O, OH, OW]', async () => {
    const x = pair([3, 6, 6]);
    const w = pair([4, 3, 3, 3]);
    const got = conv2d(x.gpu, w.gpu, undefined, { padding: 1 });
    expect(got.shape).toEqual([4, 6, 6]);
    const want = conv2dRef({ shape: [1, 3, 6, 6], data: x.ref.data }, w.ref, undefined, { padding: 1 });
    assertClose(await got.toArray(), want.data, reduction(27), 'unbatched');
  });

  it('rejects bad arguments with clear messages', () => {
    const e = engine();
    const x = e.tensor(random(4 * 81, 1), [1, 4, 9, 9]);
    const w = e.tensor(random(8 * 27, 2), [8, 3, 3, 3]);
    const w4 = e.tensor(random(8 * 36, 2), [8, 4, 3, 3]);
    expect(() => conv2d(x, w)).toThrow('conv2d: expected input with 3 channels (weight [8, 3, 3, 3], groups 1), got input [1, 4, 9, 9]');
    expect(() => conv2d(undefined as never, w)).toThrow('conv2d: expected x to be a Tensor, got undefined');
    expect(() => conv2d(x, random(27, 1) as never)).toThrow('conv2d: expected weight to be a Tensor, got a Float32Array');
    expect(() => conv2d(x, w4, [1, 2] as never)).toThrow('conv2d: expected bias to be a Tensor, got an array ([1,2])');
    expect(() => conv2d(x, w4, undefined, { groups: 3 })).toThrow('conv2d: out channels 8 (weight [8, 4, 3, 3]) must be divisible by groups 3');
    const w6 = e.tensor(random(6 * 9, 2), [6, 1, 3, 3]);
    expect(() => conv2d(x, w6, undefined, { groups: 3 })).toThrow('conv2d: in channels 4 (input [1, 4, 9, 9]) must be divisible by groups 3');
    expect(() => conv2d(x, w4, undefined, { groups: 0 })).toThrow('conv2d: groups must be a positive integer, got 0');
    expect(() => conv2d(x, w4, undefined, { stride: 0 })).toThrow('conv2d: stride must be an integer >= 1 or a tuple of 2 of them, got 0');
    expect(() => conv2d(x, w4, undefined, { stride: [1, 2, 3] })).toThrow(/conv2d: stride must be .* got \[1,2,3\]/);
    expect(() => conv2d(x, w4, undefined, { dilation: 1.5 })).toThrow('conv2d: dilation must be an integer >= 1 or a tuple of 2 of them, got 1.5');
    expect(() => conv2d(x, w4, undefined, { padding: -1 })).toThrow('conv2d: padding must be an integer >= 0 or a tuple of 2 of them, got -1');
    expect(() => conv2d(x, w4, undefined, { padding: 'full' as 'same' })).toThrow(/conv2d: padding must be 'same', 'valid', .* got 'full'/);
    expect(() => conv2d(x, w4, undefined, { padding: 'same', stride: 2 })).toThrow("conv2d: padding='same' is not supported for strided convolutions");
    const small = e.tensor(random(4 * 4, 3), [1, 4, 2, 2]);
    expect(() => conv2d(small, w4)).toThrow(
      'conv2d: kernel size (3 x 3) with dilation (1 x 1) spans (3 x 3), larger than the padded input (2 x 2): the output size would be non-positive (0 x 0)',
    );
    expect(() => conv2d(x, w4, undefined, { dilation: 5 })).toThrow(/spans \(11 x 11\), larger than the padded input \(9 x 9\)/);
    expect(conv2d(small, w4, undefined, { padding: 1 }).shape).toEqual([1, 8, 2, 2]);
    expect(() => conv2d(x, w4, e.tensor([1, 2, 3]))).toThrow('conv2d: expected bias of shape [8], got [3]');
    expect(() => conv2d(x.reshape([4, 81]), w4)).toThrow('conv2d: expected input of rank 3 (unbatched) or 4 (batched [N, C, H, W]), got [4, 81]');
    expect(() => conv2d(x, w4.reshape([8, 36]))).toThrow('conv2d: expected weight of rank 4 [out, in / groups, kH, kW], got [8, 36]');
    expect(() => conv2d(x, w4, undefined, { algorithm: 'fft' as 'auto' })).toThrow(
      `conv2d: algorithm must be one of 'auto', 'implicit', 'im2col', 'winograd2', 'winograd4', got "fft"`,
    );
    const other = e.tensor(random(1, 1), [1]);
    other.dispose();
    expect(() => conv2d(x, w4, other)).toThrow('conv2d: bias [1] was used after dispose()');
  });
});

describe('conv2d by Winograd', () => {
  // Every 3x3 / stride 1 / dilation 1 / groups 1 shape runs through both tiles: partial tiles at
  // the right and bottom edges (odd and non-square outputs), padding 0 to 2 (and larger than the
  // kernel's half), channels not a multiple of 4 (K padding), enough channels for the subgroup
  // GEMM (K >= 16) and output channels over one GEMM row tile, batches whose tiles run across
  // images, bias and ReLU.
  const cases: Case[] = [
    { name: 'odd channels and sizes, bias', x: [1, 3, 9, 11], w: [5, 3, 3, 3], bias: true, options: { padding: 1 } },
    { name: 'no padding, batch 2', x: [2, 5, 10, 7], w: [6, 5, 3, 3], options: { padding: 0 } },
    { name: 'padding 2, batch 3, ReLU', x: [3, 7, 5, 6], w: [4, 7, 3, 3], bias: true, options: { padding: 2, relu: true } },
    { name: 'per-axis padding (0, 1)', x: [2, 4, 6, 13], w: [3, 4, 3, 3], options: { padding: [0, 1] } },
    { name: "'same', one output row", x: [1, 2, 1, 9], w: [3, 2, 3, 3], bias: true, options: { padding: 'same' } },
    { name: 'padding 3 (larger than the kernel half)', x: [1, 3, 4, 5], w: [2, 3, 3, 3], options: { padding: 3 } },
    { name: '20 channels, 37 output channels, batch 2', x: [2, 20, 12, 10], w: [37, 20, 3, 3], bias: true, options: { padding: 1, relu: true } },
    { name: 'many tiles across 2 images (several GEMM column blocks)', x: [2, 16, 23, 21], w: [24, 16, 3, 3], bias: true, options: { padding: 1 } },
    { name: '64 channels (the longest reductions here)', x: [1, 64, 9, 10], w: [8, 64, 3, 3], bias: true, options: { padding: 1 } },
  ];
  for (const c of cases) {
    it(c.name, () => check(conv2d, conv2dRef, c, ['winograd2', 'winograd4']));
  }

  it('adds a residual before the ReLU, on both tiles', async () => {
    const x = pair([2, 6, 9, 10]);
    const w = pair([5, 6, 3, 3]);
    const b = pair([5]);
    const plain = conv2dRef(x.ref, w.ref, b.ref, { padding: 1 });
    const r = pair(plain.shape);
    const want = reluRef(addRef(plain, r.ref));
    for (const algorithm of ['winograd2', 'winograd4'] as const) {
      const y = conv2d(x.gpu, w.gpu, b.gpu, { padding: 1, relu: true, residual: r.gpu, algorithm });
      assertClose(await y.toArray(), want.data, reduction(54), `residual (${algorithm})`);
      y.dispose();
    }
    for (const t of [x.gpu, w.gpu, b.gpu, r.gpu]) t.dispose();
  });

  it('takes an unbatched input', async () => {
    const x = pair([3, 7, 8]);
    const w = pair([4, 3, 3, 3]);
    const want = conv2dRef({ shape: [1, 3, 7, 8], data: x.ref.data }, w.ref, undefined, { padding: 1 });
    for (const algorithm of ['winograd2', 'winograd4'] as const) {
      const y = conv2d(x.gpu, w.gpu, undefined, { padding: 1, algorithm });
      expect(y.shape).toEqual([4, 7, 8]);
      assertClose(await y.toArray(), want.data, reduction(27), `unbatched (${algorithm})`);
      y.dispose();
    }
    x.gpu.dispose();
    w.gpu.dispose();
  });

  it("computes the shapes 'auto' sends to each tile (on the CPU profile; the planner's test pins the rest)", async () => {
    const cpu = { ...engine().planTarget, profile: CPU_PROFILE };
    const cases: Array<[Case, string]> = [
      [{ name: 'auto F(4x4)', x: [2, 32, 28, 28], w: [40, 32, 3, 3], bias: true, options: { padding: 1, relu: true } }, 'winograd4'],
      [{ name: 'auto F(2x2)', x: [1, 96, 14, 14], w: [96, 96, 3, 3], options: { padding: 1 } }, 'winograd2'],
    ];
    for (const [c, want] of cases) {
      expect(planForward(convProblem('conv2d', 2, c.x, c.w, undefined, c.options ?? {}), cpu).route).toBe(want);
      await check(conv2d, conv2dRef, c, ['auto']);
    }
  });

  it('refuses shapes it cannot compute, naming why', () => {
    const e = engine();
    const x = e.zeros([1, 4, 9, 9]);
    const w = e.zeros([4, 4, 3, 3]);
    const refusal = (what: string) => `conv2d: algorithm 'winograd2' cannot compute this convolution: ${what}; use 'auto', 'implicit' or 'im2col'`;
    expect(() => conv2d(x, w, undefined, { stride: 2, algorithm: 'winograd2' })).toThrow(refusal('it needs stride 1, got (2, 2)'));
    expect(() => conv2d(x, w, undefined, { dilation: [1, 2], algorithm: 'winograd2' })).toThrow(refusal('it needs dilation 1, got (1, 2)'));
    expect(() => conv2d(x, e.zeros([4, 2, 3, 3]), undefined, { groups: 2, algorithm: 'winograd2' })).toThrow(refusal('it needs groups 1, got 2'));
    expect(() => conv2d(x, e.zeros([4, 4, 3, 5]), undefined, { algorithm: 'winograd2' })).toThrow(refusal('it needs a 3x3 kernel, got 3x5'));
    expect(() => conv1d(e.zeros([1, 4, 9]), e.zeros([4, 4, 3]), undefined, { algorithm: 'winograd4' })).toThrow(
      "conv1d: algorithm 'winograd4' cannot compute this convolution: it handles conv2d only, not conv1d",
    );
  });
});

describe('conv1d', () => {
  const cases: Case[] = [
    { name: 'padding 2, bias', x: [2, 3, 17], w: [5, 3, 5], bias: true, options: { padding: 2 } },
    { name: 'stride 3, dilation 2', x: [1, 4, 30], w: [3, 4, 3], options: { stride: 3, dilation: 2 } },
    { name: 'groups 2, same', x: [3, 4, 11], w: [6, 2, 4], bias: true, options: { groups: 2, padding: 'same', relu: true } },
  ];
  for (const c of cases) {
    it(c.name, () => check(conv1d, conv1dRef, c, ['implicit', 'im2col']));
  }
  it('routes kernel size 1 to the GEMM', () => check(conv1d, conv1dRef, { name: 'k1', x: [2, 5, 9], w: [3, 5, 1], bias: true }, ['auto']));

  it('rejects bad arguments', () => {
    const e = engine();
    const x = e.tensor(random(30, 1), [1, 3, 10]);
    const w = e.tensor(random(24, 1), [2, 4, 3]);
    expect(() => conv1d(x, w)).toThrow('conv1d: expected input with 4 channels (weight [2, 4, 3], groups 1), got input [1, 3, 10]');
    expect(() => conv1d(x, w.reshape([2, 4, 3, 1]))).toThrow('conv1d: expected weight of rank 3 [out, in / groups, kW], got [2, 4, 3, 1]');
    expect(() => conv1d(x, e.tensor(random(9, 1), [1, 3, 3]), undefined, { stride: [1, 1] })).toThrow(
      'conv1d: stride must be an integer >= 1 or a tuple of 1 of them, got [1,1]',
    );
  });
});

describe('conv3d', () => {
  const cases: Case[] = [
    { name: '3x3x3 pad 1, bias', x: [2, 3, 5, 6, 4], w: [4, 3, 3, 3, 3], bias: true, options: { padding: 1 } },
    { name: 'stride (2, 1, 3), dilation (1, 2, 1), non-cubic kernel', x: [1, 2, 7, 8, 9], w: [3, 2, 2, 3, 2], options: { stride: [2, 1, 3], dilation: [1, 2, 1], padding: [0, 1, 1] } },
    { name: 'groups 3 with ReLU', x: [1, 6, 4, 5, 5], w: [3, 2, 3, 1, 3], bias: true, options: { groups: 3, padding: 'same', relu: true } },
  ];
  for (const c of cases) {
    it(c.name, () => check(conv3d, conv3dRef, c, ['auto', 'im2col']));
  }
  it('routes 1x1x1 to the GEMM', () => check(conv3d, conv3dRef, { name: '1x1x1', x: [2, 4, 3, 2, 5], w: [5, 4, 1, 1, 1], bias: true }, ['auto']));

  it('refuses the implicit algorithm and bad shapes', () => {
    const e = engine();
    const x = e.tensor(random(2 * 64, 1), [1, 2, 4, 4, 4]);
    const w = e.tensor(random(2 * 2 * 8, 1), [2, 2, 2, 2, 2]);
    expect(() => conv3d(x, w, undefined, { algorithm: 'implicit' })).toThrow(
      "conv3d: algorithm 'implicit' handles 1-D and 2-D convolutions; use 'auto' or 'im2col' for 3-D",
    );
    expect(() => conv3d(x, w, undefined, { padding: [1, 1] })).toThrow('conv3d: padding must be an integer >= 0 or a tuple of 3 of them, got [1,1]');
    expect(() => conv3d(x.reshape([2, 4, 4, 4]), w.reshape([2, 2, 8]))).toThrow(/conv3d: expected weight of rank 5/);
  });
});

describe('binding limit', () => {
  it('splits a batch whose output is over maxStorageBufferBindingSize into chunks, never truncating', async () => {
    const e = engine();
    const max = e.limits.maxStorageBufferBindingSize;
    // 1x1 convolution from one channel to two over three images: the input fits in a binding,
    // the output [3, 2, H, W] does not.
    const W = 1024;
    const H = Math.ceil(max / 4 / 6 / W) + 8;
    const plane = H * W;
    expect(6 * plane * 4).toBeGreaterThan(max);
    const data = new Float32Array(3 * plane);
    for (let i = 0; i < data.length; i++) data[i] = (i % 977) - 488;
    const x = e.tensor(data, [3, 1, H, W]);
    const w = e.tensor([2, -1], [2, 1, 1, 1]);
    const b = e.tensor([0.25, 0.5], [2]);
    const y = conv2d(x, w, b);
    expect(y.shape).toEqual([3, 2, H, W]);
    // Windows across each image boundary and at both ends (reading all of it back is slow).
    const windows = 4096;
    for (const image of [0, 1, 2]) {
      for (const channel of [0, 1]) {
        for (const at of [0, plane - windows]) {
          const start = (image * 2 + channel) * plane + at;
          const got = new Float32Array(await e.readBuffer(y, windows * 4, start * 4));
          const want = Array.from(got, (_, i) => [2, -1][channel]! * data[image * plane + at + i]! + [0.25, 0.5][channel]!);
          assertClose(got, want, ELEMENTWISE, `image ${image} channel ${channel} at ${at}`);
        }
      }
    }
    x.dispose();
    y.dispose();
  });

  it('runs blocks of images split by the runtime, each on its own plan: im2col columns by output rows', async () => {
    const c: Case = { name: 'slices', x: [3, 4, 10, 10], w: [8, 4, 3, 3], bias: true, options: { padding: 1, relu: true } };
    const [x, w, b, r] = [pair(c.x), pair(c.w), pair([8]), pair([3, 8, 10, 10])];
    const want = reluRef(addRef(conv2dRef(x.ref, w.ref, b.ref, { padding: 1 }), r.ref));
    // 1700 floats: the output (2400) splits into blocks of 2 images and 1 (x's second block is
    // misaligned: a copy); im2col's columns (3600 floats an image) go in pieces of 4 output rows.
    const e = await limited(1700 * 4);
    const p = checkConv('conv2d', 2, x.gpu, w.gpu, b.gpu, { ...c.options, algorithm: 'im2col' });
    const block = convUnits(p).block({ a0: 0, a: 2, b0: 0, b: 8 });
    expect(planForward(block, e.planTarget)).toMatchObject({ route: 'im2col', k: 36, columnImages: 1, columnRows: 4 });
    for (const algorithm of ['im2col', 'implicit'] as const) {
      const inputs = [x, w, b, r].map((t) => e.tensor(t.ref.data, t.ref.shape));
      const kernels: string[] = [];
      const dispatch = e.dispatch.bind(e);
      const spy = vi.spyOn(e, 'dispatch').mockImplementation((spec, ...rest) => {
        kernels.push(spec.name);
        dispatch(spec, ...rest);
      });
      const y = conv2d(inputs[0]!, inputs[1]!, inputs[2]!, { ...c.options, residual: inputs[3]!, algorithm });
      spy.mockRestore();
      // im2col: 3 pieces of rows per image; both routes: one GEMM per block (two blocks) or piece.
      const count = (name: string) => kernels.filter((k) => k === name).length;
      expect(count('im2col')).toBe(algorithm === 'im2col' ? 9 : 0);
      expect(count('conv2d')).toBe(algorithm === 'im2col' ? 9 : 2);
      assertClose(await y.toArray(), want.data, reduction(37), `${algorithm} in blocks`);
      for (const t of [...inputs, y]) t.dispose();
    }
    for (const t of [x.gpu, w.gpu, b.gpu, r.gpu]) t.dispose();
  });

  it('runs Winograd in chunks of images whose transformed operands fit in a binding, by output channels below that', async () => {
    const c: Case = { name: 'chunks', x: [5, 3, 7, 6], w: [6, 3, 3, 3], bias: true, options: { padding: 1, relu: true } };
    const [x, w, b, r] = [pair(c.x), pair(c.w), pair([6]), pair([5, 6, 7, 6])];
    const want = reluRef(addRef(conv2dRef(x.ref, w.ref, b.ref, { padding: 1 }), r.ref));
    for (const tile of [2, 4] as const) {
      // The plan for a lower binding limit (the device's is 128 MiB) chunks the transformed operands.
      const p = checkConv('conv2d', 2, x.gpu, w.gpu, b.gpu, { ...c.options, algorithm: tile === 2 ? 'winograd2' : 'winograd4' });
      const planFor = (limit: number) => planForward(p, { ...engine().planTarget, maxBindingBytes: limit });
      // One image's transformed input or products: points x max(Cp = 4, O = 6) x tiles (rounded up to 4).
      const { points, perImage } = winogradTiles(p, tile);
      const tiles = Math.ceil(perImage / 4) * 4;
      const oneImage = points * 6 * tiles * 4;
      // One output channel's: points x Cp x tiles.
      const oneChannel = points * 4 * tiles * 4;
      for (const [limit, images] of [[oneChannel, 0], [oneImage, 1], [2 * oneImage + 64, 2], [1 << 20, 5]] as const) {
        expect(winogradImagesPerChunk(p, tile, 5, limit)).toBe(images);
        // Each block's plan chunks its transformed operands (a whole image's block when one fits).
        if (images > 0) expect(planFor(limit)).toMatchObject({ route: `winograd${tile}`, winogradImages: images });
        const e = await limited(limit);
        const inputs = [x, w, b, r].map((t) => e.tensor(t.ref.data, t.ref.shape));
        const y = conv2d(inputs[0]!, inputs[1]!, inputs[2]!, { ...c.options, residual: inputs[3]!, algorithm: `winograd${tile}` });
        assertClose(await y.toArray(), want.data, reduction(27), `F(${tile}x${tile}) under ${limit} bytes: chunks of ${images} images (0: of output channels)`);
        for (const t of [...inputs, y]) t.dispose();
      }
      // The plan of the whole problem as one block refuses what only blocks of output channels fit.
      expect(() => planFor(oneImage - 4)).toThrow(
        `conv2d: the winograd${tile} route needs a scratch binding of ${oneImage} bytes (the transformed weights, or the transforms of one image), over the binding limit of ${oneImage - 4} bytes`,
      );
      const e = await limited(oneChannel - 4);
      const inputs = [x, w, b, r].map((t) => e.tensor(t.ref.data, t.ref.shape));
      const before = { pending: e.pending, inUse: e.pool.stats().bytesInUse };
      expect(() => conv2d(inputs[0]!, inputs[1]!, inputs[2]!, { ...c.options, residual: inputs[3]!, algorithm: `winograd${tile}` })).toThrow(
        `conv2d: one image's output channel needs a binding of ${oneChannel} bytes (its scratch buffers; x [5, 3, 7, 6], weight [6, 3, 3, 3], bias [6], residual [5, 6, 7, 6]), ` +
          `over the storage-binding limit of ${oneChannel - 4} bytes (lowered by EngineOptions.maxStorageBufferBindingSize), and cannot be split further`,
      );
      expect({ pending: e.pending, inUse: e.pool.stats().bytesInUse }).toEqual(before);
      for (const t of inputs) t.dispose();
    }
    for (const t of [x.gpu, w.gpu, b.gpu, r.gpu]) t.dispose();
  });
});
