import { describe, expect, it } from 'vitest';
import { gemm, gemmTileFor, linear, matmul, padColumns, type GemmKernel } from '../src/ops/gemm.js';
import { conv2dRef } from '../src/reference/conv.js';
import { linearRef, matmulRef } from '../src/reference/gemm.js';
import { host, type HostTensor } from '../src/reference/host-tensor.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { assertClose, random, reduction, useEngine } from './helpers.js';

const engine = useEngine();
let seed = 100;

/** Random data uploaded to the GPU, with its host copy for the reference. */
function pair(shape: number[]): { gpu: Tensor; ref: HostTensor } {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = random(n, seed++);
  return { gpu: engine().tensor(data, shape), ref: host(data, shape) };
}

async function expectMatches(got: Tensor, want: HostTensor, k: number, what: string): Promise<void> {
  expect(got.shape).toEqual(want.shape);
  assertClose(await got.toArray(), want.data, reduction(k), what);
  got.dispose();
}

describe('matmul', () => {
  // [M, N, K]: sizes off the tiles; those with K (and N) multiples of 4 take the subgroup kernel
  // where the adapter has one (transA always takes the portable one).
  const sizes: Array<[number, number, number]> = [
    [1, 1, 1],
    [3, 17, 5],
    [17, 3, 65],
    [65, 33, 17],
    [17, 36, 20],
    [33, 65, 4],
    [5, 1, 132],
  ];
  const allLayouts = [[false, false], [true, false], [false, true], [true, true]] as const;
  for (const [M, N, K] of sizes) {
    // Every layout on three sizes (each layout and tile is a kernel to compile), plain on the rest.
    const layouts = [3, 65, 17].includes(M) ? allLayouts : allLayouts.slice(0, 1);
    for (const [transA, transB] of layouts) {
      it(`[${M}, ${K}] x [${K}, ${N}] transA=${transA} transB=${transB}`, async () => {
        const a = pair(transA ? [K, M] : [M, K]);
        const b = pair(transB ? [N, K] : [K, N]);
        const got = matmul(a.gpu, b.gpu, { transA, transB });
        await expectMatches(got, matmulRef(a.ref, b.ref, { transA, transB }), K, 'matmul');
        a.gpu.dispose();
        b.gpu.dispose();
      });
    }
  }

  it('fuses bias and ReLU', async () => {
    const a = pair([19, 23]);
    const b = pair([23, 37]);
    const bias = pair([37]);
    const got = matmul(a.gpu, b.gpu, { bias: bias.gpu, relu: true });
    const want = matmulRef(a.ref, b.ref, { bias: bias.ref, relu: true });
    expect(want.data.some((v) => v === 0)).toBe(true);
    await expectMatches(got, want, 23, 'matmul bias relu');
  });

  it('runs batched products, with a shared operand on either side', async () => {
    const a = pair([3, 7, 9]);
    const b = pair([3, 9, 18]);
    const shared = pair([9, 18]);
    const sharedA = pair([7, 9]);
    await expectMatches(matmul(a.gpu, b.gpu), matmulRef(a.ref, b.ref), 9, 'batched');
    await expectMatches(matmul(a.gpu, shared.gpu), matmulRef(a.ref, shared.ref), 9, 'batched x shared B');
    await expectMatches(matmul(sharedA.gpu, b.gpu), matmulRef(sharedA.ref, b.ref), 9, 'shared A x batched');
    const at = pair([2, 3, 5, 4]);
    const bt = pair([2, 3, 6, 5]);
    const bias = pair([6]);
    await expectMatches(
      matmul(at.gpu, bt.gpu, { transA: true, transB: true, bias: bias.gpu }),
      matmulRef(at.ref, bt.ref, { transA: true, transB: true, bias: bias.ref }),
      5,
      'batched, both transposed, bias',
    );
  });

  it('treats 1-D operands as vectors, as torch does', async () => {
    const v = pair([9]);
    const m = pair([9, 4]);
    const mt = pair([4, 9]);
    await expectMatches(matmul(v.gpu, m.gpu), matmulRef(v.ref, m.ref), 9, 'vector x matrix');
    await expectMatches(matmul(mt.gpu, v.gpu), matmulRef(mt.ref, v.ref), 9, 'matrix x vector');
    await expectMatches(matmul(v.gpu, v.gpu), matmulRef(v.ref, v.ref), 9, 'dot');
  });

  it('handles an empty inner dimension (bias only) and empty outputs', async () => {
    const a = engine().tensor([], [3, 0]);
    const b = engine().tensor([], [0, 4]);
    const bias = pair([4]);
    await expectMatches(matmul(a, b, { bias: bias.gpu }), matmulRef(host([], [3, 0]), host([], [0, 4]), { bias: bias.ref }), 1, 'K = 0');
    const e = matmul(engine().tensor([], [0, 5]), engine().tensor(random(10, 1), [5, 2]));
    expect(e.shape).toEqual([0, 2]);
  });

  it('rejects bad shapes with clear messages', () => {
    const e = engine();
    const a = e.tensor(random(6, 1), [2, 3]);
    const b = e.tensor(random(8, 2), [4, 2]);
    expect(() => matmul(a, b)).toThrow('matmul: inner dimensions differ (3 vs 4): a [2, 3] x b [4, 2]');
    expect(() => matmul(a, b, { transA: true })).toThrow(/matmul: inner dimensions differ \(2 vs 4\): a \[2, 3\] \(transA\)/);
    const a3 = e.tensor(random(12, 1), [2, 2, 3]);
    const b3 = e.tensor(random(18, 1), [3, 3, 2]);
    expect(() => matmul(a3, b3)).toThrow(/matmul: batch dimensions must match/);
    const c = e.tensor(random(6, 3), [3, 2]);
    expect(() => matmul(a, c, { bias: a })).toThrow('matmul: expected bias of shape [2], got [2, 3]');
    const v = e.tensor([1, 2, 3]);
    expect(() => matmul(v, c, { transA: true })).toThrow(/matmul: transA \/ transB need a matrix/);
    const s = e.tensor([1], []);
    expect(() => matmul(s, c)).toThrow(/matmul: both operands need at least one dimension/);
    for (const t of [a, b, a3, b3, c, v, s]) t.dispose();
  });
});

describe('linear', () => {
  it('matches F.linear on a batch, with and without bias and ReLU', async () => {
    const x = pair([2, 5, 13]);
    const w = pair([7, 13]);
    const bias = pair([7]);
    await expectMatches(linear(x.gpu, w.gpu), linearRef(x.ref, w.ref), 13, 'linear');
    await expectMatches(
      linear(x.gpu, w.gpu, bias.gpu, { relu: true }),
      linearRef(x.ref, w.ref, bias.ref, { relu: true }),
      13,
      'linear bias relu',
    );
    const v = pair([13]);
    await expectMatches(linear(v.gpu, w.gpu, bias.gpu), linearRef(v.ref, w.ref, bias.ref), 13, 'linear on a vector');
  });

  it('rejects mismatched features and bias', () => {
    const e = engine();
    const x = e.tensor(random(12, 1), [3, 4]);
    const w = e.tensor(random(10, 1), [2, 5]);
    expect(() => linear(x, w)).toThrow('linear: expected input with 5 features (weight [2, 5]), got input [3, 4]');
    const w2 = e.tensor(random(8, 1), [2, 4]);
    expect(() => linear(x, w2, e.tensor([1, 2, 3]))).toThrow('linear: expected bias of shape [2], got [3]');
    expect(() => linear(x, e.tensor(random(4, 1)))).toThrow('linear: expected weight of shape [out, in], got [4]');
  });
});

describe('gemm core', () => {
  // Every kernel with its tile from the engine's profile (the tiled kernel's rows: 32 under 64 rows, else 64).
  const kernels: GemmKernel[] = ['portable', 'subgroup', 'tiled'];
  const tileFor = (kernel: GemmKernel, M: number) => gemmTileFor(engine().profile, kernel, M);
  const skip = (kernel: GemmKernel) => kernel === 'subgroup' && !engine().planTarget.subgroups;

  for (const kernel of kernels) {
    it(`${kernel} kernel: per-row bias and residual before the ReLU, over groups with strides and offsets`, async (ctx) => {
      if (skip(kernel)) ctx.skip();
      // Two groups of C[g] = A[g] x B[g] + bias[g] (per row) + R[g], written into a wider C at an offset.
      const [M, N, K, G] = [19, 12, 8, 2];
      const a = pair([G, M, K]);
      const b = pair([G, K, N]);
      const bias = pair([G * M]);
      const res = pair([3 + G * M * N]);
      const out = engine().empty([3 + G * M * N]);
      gemm(engine(), {
        a: a.gpu,
        b: b.gpu,
        out,
        M,
        N,
        K,
        groups: G,
        bias: bias.gpu,
        biasPer: 'row',
        residual: res.gpu,
        relu: true,
        offsets: { c: 3 },
        tile: tileFor(kernel, M),
      });
      const got = await out.toArray();
      const prod = matmulRef(a.ref, b.ref);
      const want = Array.from(got.slice(0, 3));
      for (let g = 0; g < G; g++) {
        for (let m = 0; m < M; m++) {
          for (let n = 0; n < N; n++) {
            const i = (g * M + m) * N + n;
            want.push(Math.max(0, prod.data[i]! + bias.ref.data[g * M + m]! + res.ref.data[3 + i]!));
          }
        }
      }
      assertClose(got, want, reduction(K), `${kernel} epilogue`);
      out.dispose();
    });

    it(`${kernel} kernel: transB with a column bias, and rows padded past N`, async (ctx) => {
      if (skip(kernel)) ctx.skip();
      const [M, N, K] = [9, 37, 12];
      const a = pair([M, K]);
      const bt = pair([N, K]);
      const bias = pair([N]);
      const out = engine().empty([M, N]);
      gemm(engine(), { a: a.gpu, b: bt.gpu, out, M, N, K, transB: true, bias: bias.gpu, tile: tileFor(kernel, M) });
      await expectMatches(out, matmulRef(a.ref, bt.ref, { transB: true, bias: bias.ref }), K, `${kernel} transB`);
      // B [K, N] stored with rows of ldb = 40 > N: the subgroup kernel reads the row padding whole.
      const ldb = 40;
      const b = pair([K, ldb]);
      const out2 = engine().empty([M, N]);
      gemm(engine(), { a: a.gpu, b: b.gpu, out: out2, M, N, K, ldb, tile: tileFor(kernel, M) });
      const bRef = host(Array.from({ length: K * N }, (_, i) => b.ref.data[Math.floor(i / N) * ldb + (i % N)]!), [K, N]);
      await expectMatches(out2, matmulRef(a.ref, bRef), K, `${kernel} padded rows`);
    });

    it(`${kernel} kernel: implicit-GEMM convolution geometry (stride, dilation, padding, K padded to 4)`, async (ctx) => {
      if (skip(kernel)) ctx.skip();
      const x = pair([2, 3, 9, 8]);
      const w = pair([5, 3, 3, 3]);
      const bias = pair([5]);
      const options = { stride: [2, 1], padding: [2, 1], dilation: [1, 2] };
      const want = conv2dRef(x.ref, w.ref, bias.ref, { ...options, relu: true });
      const [, , OH, OW] = want.shape as [number, number, number, number];
      // K = 27 as it is (not on the subgroup kernel, which reads vec4 weights) and padded to 28 with zero columns.
      for (const K of kernel === 'subgroup' ? [28] : [27, 28]) {
        const a = K === 27 ? w.gpu : padColumns(engine(), w.gpu, 1, 5, 27, K, 27, 0, 0);
        const out = engine().empty(want.shape);
        gemm(engine(), {
          a,
          b: x.gpu,
          out,
          M: 5,
          N: OH * OW,
          K,
          batch: 2,
          strides: { a: [0, 0], b: [3 * 72, 0], c: [5 * OH * OW, 0] },
          bias: bias.gpu,
          biasPer: 'row',
          relu: true,
          conv: { channels: 3, inH: 9, inW: 8, outW: OW, kH: 3, kW: 3, strideH: 2, strideW: 1, dilH: 1, dilW: 2, padH: 2, padW: 1 },
          tile: tileFor(kernel, 5),
        });
        await expectMatches(out, want, 27, `${kernel} implicit conv, K ${K}`);
        if (a !== w.gpu) a.dispose();
      }
    });

    it(`${kernel} kernel: many rows and columns (several blocks each way), transA`, async (ctx) => {
      if (kernel === 'subgroup' || skip(kernel)) ctx.skip();
      const [M, N, K] = [70, 131, 37];
      const a = pair([K, M]);
      const b = pair([K, N]);
      const out = engine().empty([M, N]);
      gemm(engine(), { a: a.gpu, b: b.gpu, out, M, N, K, transA: true, tile: tileFor(kernel, M) });
      await expectMatches(out, matmulRef(a.ref, b.ref, { transA: true }), K, `${kernel} transA`);
    });
  }

  it('refuses operands too small for the product', () => {
    const e = engine();
    const a = e.tensor(random(6, 1), [2, 3]);
    const out = e.empty([4]);
    expect(() => gemm(e, { a, b: a, out, M: 2, N: 3, K: 3 })).toThrow('gemm: B [2, 3] is too small: the product reads or writes element 8');
    expect(() => gemm(e, { a, b: a, out, M: 2, N: 3, K: 2, transB: false, ldb: 3 })).toThrow(
      'gemm: output [4] is too small: the product reads or writes element 5',
    );
    expect(() => gemm(e, { a, b: a, out, M: -1, N: 3, K: 2 })).toThrow('gemm: M must be an integer >= 0, got -1');
    const conv = { channels: 1, inH: 1, inW: 3, outW: 3, kH: 1, kW: 1, strideH: 1, strideW: 1, dilH: 1, dilW: 1, padH: 0, padW: 0 };
    expect(() => gemm(e, { a, b: a, out, M: 1, N: 3, K: 1, transA: true, conv })).toThrow(
      'gemm: an implicit-GEMM convolution reads A as [M, K] weights and B as an image; transA and transB do not apply',
    );
    expect(() => gemm(e, { a, b: a, out, M: 2, N: 2, K: 1, residual: out })).toThrow(
      'gemm: residual shares its buffer with the output (a kernel cannot read and write one buffer)',
    );
    expect(() => gemm(e, { a, b: a, out, M: 1, N: 1, K: 3, tile: { kernel: 'subgroup', rows: 12, cols: 4, threads: 8 } })).toThrow(
      'gemm: bad subgroup tile {"kernel":"subgroup","rows":12,"cols":4,"threads":8}',
    );
    expect(() => gemm(e, { a, b: a, out, M: 1, N: 1, K: 3, tile: { kernel: 'subgroup', rows: 8, cols: 4, threads: 8 } })).toThrow(
      'gemm: the subgroup kernel needs A as [M, K] and 4-aligned operands',
    );
    expect(() => gemm(e, { a, b: a, out, M: 1, N: 1, K: 3, tile: { kernel: 'tiled', rows: 64, cols: 64, depth: 48, threads: 256 } })).toThrow(
      'gemm: bad tiled tile {"kernel":"tiled","rows":64,"cols":64,"depth":48,"threads":256}',
    );
    const x = e.tensor(random(18, 1), [1, 2, 3, 3]);
    const conv3 = { channels: 2, inH: 3, inW: 3, outW: 1, kH: 3, kW: 3, strideH: 1, strideW: 1, dilH: 1, dilW: 1, padH: 0, padW: 0 };
    expect(() => gemm(e, { a: e.tensor(random(24, 1), [1, 24]), b: x, out: e.empty([1]), M: 1, N: 1, K: 24, conv: conv3 })).toThrow(
      "gemm: K = 24 does not match the convolution's 2 x 3 x 3 (nor that rounded up to a multiple of 4)",
    );
  });

  it('splits a grid over the per-dimension workgroup limit into several dispatches', async () => {
    // 70000 one-row problems: more than the 65535 workgroups a dimension allows.
    const e = engine();
    const P = 70000;
    const a = pair([P, 1, 3]);
    const b = pair([P, 3, 2]);
    const got = matmul(a.gpu, b.gpu);
    await expectMatches(got, matmulRef(a.ref, b.ref), 3, 'many problems');
    expect(e.pending).toBe(0);
  });
});
