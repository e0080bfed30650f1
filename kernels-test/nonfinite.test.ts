// NaN and infinities through the ops, as PyTorch treats them, and answers that must not be
// silently wrong: ReLU (elementwise and fused into every epilogue), Winograd's tiles, softmax and
// cross-entropy rows, batch-norm statistics of data whose mean dwarfs its spread, and a compiled
// plan whose constant was disposed. PyTorch's answers come from
// scripts/golden/make_nonfinite_fixtures.py (kernels-test/fixtures/nonfinite/values.json).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Graph, GraphError } from '../src/graph/graph.js';
import { GraphExecutor } from '../src/graph/executor.js';
import { compileGraph } from '../src/graph/plan.js';
import { conv2d, conv2dPlan } from '../src/ops/conv.js';
import { add, relu, reluBackward } from '../src/ops/elementwise.js';
import { gemm, gemmTileFor, linear, type GemmKernel } from '../src/ops/gemm.js';
import { crossEntropy, crossEntropyWithGrad, type CrossEntropyOptions } from '../src/ops/loss.js';
import { batchNormTrain } from '../src/ops/norm.js';
import { maxPool2dBackward, maxPool2dFused, maxPool2dWithIndices, reluMaxPool2dBackward, type MaxPoolOptions } from '../src/ops/pool.js';
import { logSoftmax, logSoftmaxBackward, softmax, softmaxBackward } from '../src/ops/softmax.js';
import { conv2dRef } from '../src/reference/conv.js';
import { addRef, reluBackwardRef, reluRef } from '../src/reference/elementwise.js';
import { linearRef, matmulRef } from '../src/reference/gemm.js';
import { host } from '../src/reference/host-tensor.js';
import { crossEntropyBackwardRef, crossEntropyRef } from '../src/reference/loss.js';
import { batchNormRef } from '../src/reference/norm.js';
import { maxPool2dBackwardRef, maxPool2dRef, maxPool2dWithIndicesRef } from '../src/reference/pool.js';
import { logSoftmaxRef, softmaxRef } from '../src/reference/softmax.js';
import type { Engine } from '../src/runtime/engine.js';
import { numel, type DType, type Tensor } from '../src/runtime/tensor.js';
import { decodeTensor, FIXTURE_DIR, type FixtureTensor } from './fixtures.js';
import { assertClose, ELEMENTWISE, gradient, random, reduction, useEngine, type Tolerance } from './helpers.js';

const engine = useEngine();

// ---- shared ----------------------------------------------------------------------------------

/** The fixture file's sections (see the generator's header); tensors stay raw until `fixture` decodes them. */
interface Fixtures {
  relu: Record<'x' | 'out' | 'gradOut' | 'grad', unknown>;
  maxPool: Array<{ name: string; options: MaxPoolOptions } & Record<string, unknown>>;
  softmax: Array<{ name: string } & Record<string, unknown>>;
  crossEntropy: Array<{ classes: number; logits: unknown; target: unknown; weight: unknown; variants: CrossEntropyVariant[] }>;
  batchNormLargeMean: BatchNormFixture;
}

interface CrossEntropyVariant {
  name: string;
  rows: number[];
  options: CrossEntropyOptions;
  weighted: boolean;
  loss: unknown;
  grad: unknown;
}

interface BatchNormFixture {
  shape: number[];
  generator: { lcgA: number; lcgC: number; seed: number; offset: number; spread: number };
  momentum: number;
  eps: number;
  runningMeanInit: number;
  runningVarInit: number;
  torchFloat32Error: Record<'output' | 'saveMean' | 'saveInvStd' | 'runningMean' | 'runningVar', number>;
}

const FIXTURES = JSON.parse(readFileSync(join(FIXTURE_DIR, 'nonfinite', 'values.json'), 'utf8')) as Fixtures;
const fixture = (raw: unknown, where: string): FixtureTensor => decodeTensor(raw, `nonfinite/values.json ${where}`);

/** "index:NaN", "index:+inf", "index:-inf" for each non-finite value: a readable diff of positions. */
function specials(values: ArrayLike<number>): string[] {
  const out: string[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) out.push(`${i}:NaN`);
    else if (v === Infinity) out.push(`${i}:+inf`);
    else if (v === -Infinity) out.push(`${i}:-inf`);
  }
  return out;
}

/** The same NaN and infinities in the same places, then the finite values within `tol`. */
function expectSameAnswer(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, what: string): void {
  const [got, want] = [specials(actual), specials(expected)];
  expect(got, `${what}: non-finite positions (${got.length} got, ${want.length} expected)`).toEqual(want);
  assertClose(actual, expected, tol, what);
}

/** A [rows, cols] matrix transposed (for the dim-0 runs of row fixtures). */
function transpose(data: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

function dispose(...ts: Array<Tensor<DType> | undefined>): void {
  for (const t of ts) t?.dispose();
}

/** Seeded uniform data with some values replaced: [flat index, value] pairs. */
function withSpecials(shape: number[], seed: number, put: Array<[number, number]>): Float32Array {
  const data = random(numel(shape), seed);
  for (const [i, v] of put) data[i] = v;
  return data;
}

/** Flat index of [n, c, h, w] in a tensor of `shape`. */
const at4 = (shape: number[], n: number, c: number, h: number, w: number) => ((n * shape[1]! + c) * shape[2]! + h) * shape[3]! + w;

// ---- ReLU and max pooling --------------------------------------------------------------------

describe('relu keeps NaN, elementwise and fused, and its gradient passes at NaN (as PyTorch)', () => {
  it('relu, reluBackward (from the input or from relu output) and the references match PyTorch', async () => {
    const e = engine();
    const x = fixture(FIXTURES.relu.x, 'relu.x');
    const want = fixture(FIXTURES.relu.out, 'relu.out');
    const g = fixture(FIXTURES.relu.gradOut, 'relu.gradOut');
    const wantGrad = fixture(FIXTURES.relu.grad, 'relu.grad');
    const [xt, gt] = [e.tensor(x.data, x.shape), e.tensor(g.data, g.shape)];
    const y = relu(xt);
    const fromInput = reluBackward(gt, xt);
    const fromOutput = reluBackward(gt, y);
    expectSameAnswer(await y.toArray(), want.data, ELEMENTWISE, 'relu');
    expectSameAnswer(await fromInput.toArray(), wantGrad.data, ELEMENTWISE, 'reluBackward(g, x)');
    expectSameAnswer(await fromOutput.toArray(), wantGrad.data, ELEMENTWISE, 'reluBackward(g, relu(x))');
    expectSameAnswer(reluRef(host(x.data, x.shape)).data, want.data, ELEMENTWISE, 'reluRef');
    expectSameAnswer(reluBackwardRef(host(g.data, g.shape), host(x.data, x.shape)).data, wantGrad.data, ELEMENTWISE, 'reluBackwardRef');
    dispose(xt, gt, y, fromInput, fromOutput);
  });

  it('add with the fused relu keeps NaN', async () => {
    const e = engine();
    const a = [NaN, 1, -Infinity, Infinity, 2, -1];
    const b = [1, NaN, 1, -Infinity, -3, 0.5];
    const [at, bt] = [e.tensor(a, [6]), e.tensor(b, [6])];
    const y = add(at, bt, { relu: true });
    const want = reluRef(addRef(host(a, [6]), host(b, [6]))).data;
    expect(Array.from(want).map(String)).toEqual(['NaN', 'NaN', '0', 'NaN', '0', '0']);
    expectSameAnswer(await y.toArray(), want, ELEMENTWISE, 'add relu');
    dispose(at, bt, y);
  });

  const kernels: GemmKernel[] = ['portable', 'subgroup', 'tiled'];
  for (const kernel of kernels) {
    it(`the ${kernel} GEMM's epilogue keeps NaN through bias and relu`, async (ctx) => {
      const e = engine();
      if (kernel === 'subgroup' && !e.planTarget.subgroups) ctx.skip();
      const [M, N, K] = [9, 12, 8];
      const a = withSpecials([M, K], 1, [[2 * K + 3, NaN], [5 * K, Infinity]]);
      const b = withSpecials([K, N], 2, [[1 * N + 7, -Infinity]]);
      const bias = withSpecials([N], 3, [[10, NaN]]);
      const [at, bt, biast] = [e.tensor(a, [M, K]), e.tensor(b, [K, N]), e.tensor(bias, [N])];
      const out = e.empty([M, N]);
      gemm(e, { a: at, b: bt, out, M, N, K, bias: biast, relu: true, tile: gemmTileFor(e.profile, kernel, M) });
      const want = matmulRef(host(a, [M, K]), host(b, [K, N]), { bias: host(bias, [N]), relu: true }).data;
      expect(specials(want).length).toBeGreaterThan(M); // a NaN column, a NaN row, infinities
      expectSameAnswer(await out.toArray(), want, reduction(K), `${kernel} GEMM`);
      dispose(at, bt, biast, out);
    });
  }

  it('linear with relu keeps NaN', async () => {
    const e = engine();
    const x = withSpecials([4, 8], 4, [[11, NaN], [16, Infinity]]);
    const w = withSpecials([6, 8], 5, [[3 * 8 + 2, NaN]]);
    const [xt, wt] = [e.tensor(x, [4, 8]), e.tensor(w, [6, 8])];
    const y = linear(xt, wt, undefined, { relu: true });
    const want = linearRef(host(x, [4, 8]), host(w, [6, 8]), undefined, { relu: true }).data;
    expectSameAnswer(await y.toArray(), want, reduction(8), 'linear relu');
    dispose(xt, wt, y);
  });

  for (const c of FIXTURES.maxPool) {
    it(`max pooling (${c.name}) propagates NaN as PyTorch, fused relu too, and routes the gradient to it`, async () => {
      const e = engine();
      const x = fixture(c.x, `maxPool ${c.name} x`);
      const [wantOut, wantIndices] = [fixture(c.out, 'out'), fixture(c.indices, 'indices')];
      const [g, wantGrad] = [fixture(c.gradOut, 'gradOut'), fixture(c.grad, 'grad')];
      const [xt, gt] = [e.tensor(x.data, x.shape), e.tensor(g.data, g.shape)];
      const pooled = maxPool2dWithIndices(xt, c.options);
      const grad = maxPool2dBackward(gt, pooled.indices, x.shape, c.options);
      expectSameAnswer(await pooled.output.toArray(), wantOut.data, ELEMENTWISE, `${c.name} values`);
      expect(Array.from(await pooled.indices.toArray())).toEqual(Array.from(wantIndices.data));
      expectSameAnswer(await grad.toArray(), wantGrad.data, ELEMENTWISE, `${c.name} gradient`);
      const ref = maxPool2dWithIndicesRef(host(x.data, x.shape), c.options);
      expectSameAnswer(ref.output.data, wantOut.data, ELEMENTWISE, `${c.name} reference values`);
      expect(Array.from(ref.indices.data)).toEqual(Array.from(wantIndices.data));

      // Pooling relu(x) without writing it: PyTorch's max_pool2d(relu(x)), and the gradient through both.
      const fused = maxPool2dFused(xt, c.options, { relu: true });
      const fusedGrad = reluMaxPool2dBackward(gt, fused.indices, fused.output, x.shape, c.options);
      const wantFusedGrad = fixture(c.reluGrad, 'reluGrad');
      expectSameAnswer(await fused.output.toArray(), fixture(c.reluOut, 'reluOut').data, ELEMENTWISE, `${c.name} fused relu values`);
      expect(Array.from(await fused.indices.toArray())).toEqual(Array.from(fixture(c.reluIndices, 'reluIndices').data));
      expectSameAnswer(await fusedGrad.toArray(), wantFusedGrad.data, ELEMENTWISE, `${c.name} fused relu gradient`);
      const hx = host(x.data, x.shape);
      const refIndices = maxPool2dWithIndicesRef(reluRef(hx), c.options).indices;
      const refGrad = reluBackwardRef(maxPool2dBackwardRef(host(g.data, g.shape), refIndices, x.shape), hx);
      expectSameAnswer(refGrad.data, wantFusedGrad.data, ELEMENTWISE, `${c.name} fused relu reference gradient`);
      dispose(xt, gt, pooled.output, pooled.indices, grad, fused.output, fused.indices, fusedGrad);
    });
  }
});

// ---- convolution: every route, with Winograd's tiles ------------------------------------------

describe('conv2d with NaN and infinities: the direct convolution\'s non-finite positions on every route', () => {
  // 3x3, stride 1, padding 1: every route can take it. NaN and infinities in both images and a
  // NaN weight (its output channel is NaN everywhere: PyTorch multiplies the padding's zeros too).
  const xShape = [2, 5, 9, 10];
  const wShape = [6, 5, 3, 3];
  const x = withSpecials(xShape, 6, [
    [at4(xShape, 0, 1, 4, 5), NaN],
    [at4(xShape, 1, 2, 0, 0), Infinity],
    [at4(xShape, 1, 0, 8, 9), -Infinity],
    [at4(xShape, 1, 4, 5, 2), Infinity],
  ]);
  const w = withSpecials(wShape, 7, [[((3 * 5 + 2) * 3 + 0) * 3 + 0, NaN]]);
  const bias = random(6, 8);
  const routes = ['implicit', 'im2col', 'winograd2', 'winograd4'] as const;

  for (const algorithm of routes) {
    for (const fusedRelu of [true, false]) {
      it(`${algorithm}${fusedRelu ? ' with relu' : ''}`, async () => {
        const e = engine();
        const [xt, wt, bt] = [e.tensor(x, xShape), e.tensor(w, wShape), e.tensor(bias, [6])];
        const options = { padding: 1, relu: fusedRelu, algorithm };
        expect(conv2dPlan(xt, wt, bt, options).forward!.route).toBe(algorithm);
        const y = conv2d(xt, wt, bt, options);
        const want = conv2dRef(host(x, xShape), host(w, wShape), host(bias, [6]), { padding: 1, relu: fusedRelu }).data;
        expectSameAnswer(await y.toArray(), want, reduction(45), `${algorithm} relu ${fusedRelu}`);
        dispose(xt, wt, bt, y);
      });
    }
  }

  it('pointwise (1x1) with relu', async () => {
    const e = engine();
    const shape = [2, 5, 4, 3];
    const xs = withSpecials(shape, 9, [[at4(shape, 0, 2, 1, 1), NaN], [at4(shape, 1, 0, 3, 2), -Infinity]]);
    const ws = withSpecials([6, 5, 1, 1], 10, [[4 * 5 + 1, Infinity]]);
    const [xt, wt] = [e.tensor(xs, shape), e.tensor(ws, [6, 5, 1, 1])];
    expect(conv2dPlan(xt, wt, undefined, { relu: true }).forward!.route).toBe('pointwise');
    const y = conv2d(xt, wt, undefined, { relu: true });
    const want = conv2dRef(host(xs, shape), host(ws, [6, 5, 1, 1]), undefined, { relu: true }).data;
    expectSameAnswer(await y.toArray(), want, reduction(5), 'pointwise relu');
    dispose(xt, wt, y);
  });

  // One NaN pixel reaches the 3x3 outputs around it in every channel; a Winograd tile must not
  // spread it over its whole tile (nor, with relu, turn the tile's finite outputs wrong).
  for (const algorithm of ['winograd2', 'winograd4'] as const) {
    it(`${algorithm}: one NaN pixel gives the direct convolution's 9 NaN per channel, the rest unchanged`, async () => {
      const e = engine();
      const shape = [1, 8, 16, 16];
      const xs = withSpecials(shape, 11, [[at4(shape, 0, 3, 7, 8), NaN]]);
      const ws = random(8 * 8 * 9, 12);
      const [xt, wt] = [e.tensor(xs, shape), e.tensor(ws, [8, 8, 3, 3])];
      for (const fusedRelu of [false, true]) {
        const y = conv2d(xt, wt, undefined, { padding: 1, relu: fusedRelu, algorithm });
        const want = conv2dRef(host(xs, shape), host(ws, [8, 8, 3, 3]), undefined, { padding: 1, relu: fusedRelu }).data;
        expect(specials(want).length).toBe(8 * 9);
        expectSameAnswer(await y.toArray(), want, reduction(72), `${algorithm} relu ${fusedRelu}`);
        y.dispose();
      }
      dispose(xt, wt);
    });
  }

  it('winograd4: an infinite weight and a residual give the direct convolution\'s answer', async () => {
    const e = engine();
    const shape = [2, 4, 11, 9];
    const xs = withSpecials(shape, 13, [[at4(shape, 1, 1, 10, 8), 0]]);
    const ws = withSpecials([5, 4, 3, 3], 14, [[((2 * 4 + 1) * 3 + 1) * 3 + 1, Infinity]]);
    const outShape = [2, 5, 11, 9];
    const res = withSpecials(outShape, 15, [[at4(outShape, 0, 4, 3, 3), NaN]]);
    const [xt, wt, rt] = [e.tensor(xs, shape), e.tensor(ws, [5, 4, 3, 3]), e.tensor(res, outShape)];
    const y = conv2d(xt, wt, undefined, { padding: 1, relu: true, residual: rt, algorithm: 'winograd4' });
    const direct = conv2dRef(host(xs, shape), host(ws, [5, 4, 3, 3]), undefined, { padding: 1 });
    const want = reluRef(addRef(direct, host(res, outShape))).data;
    expectSameAnswer(await y.toArray(), want, reduction(36), 'winograd4 inf weight + residual');
    dispose(xt, wt, rt, y);
  });
});

describe('a network with a NaN weight or a NaN pixel gives NaN logits', () => {
  // conv (bias, relu fused by the rewrite) -> max pool -> flatten -> linear, compiled as a graph.
  async function logits(e: Engine, xs: Float32Array, ws: Float32Array): Promise<{ got: Float32Array; want: Float64Array }> {
    const [xShape, wShape, fcShape] = [[1, 2, 8, 8], [4, 2, 3, 3], [3, 64]];
    const bias = random(4, 20);
    const fc = random(3 * 64, 21);
    const [wt, bt, fct] = [e.tensor(ws, wShape), e.tensor(bias, [4]), e.tensor(fc, fcShape)];
    const g = new Graph();
    const x = g.input('x');
    const conv = g.conv2d(x, g.constant('conv.weight', wt), g.constant('conv.bias', bt), { padding: 1 });
    const pooled = g.maxPool2d(g.relu(conv), { kernelSize: 2 });
    g.output('logits', g.linear(g.flatten(pooled, 1), g.constant('fc.weight', fct)));
    const plan = await compileGraph(e, g, { x: xShape });
    expect(plan.rewrites.fusedRelus).toBe(1);
    const got = (await plan.run({ x: xs })).logits!;
    plan.dispose();
    dispose(wt, bt, fct);
    const features = maxPool2dRef(reluRef(conv2dRef(host(xs, xShape), host(ws, wShape), host(bias, [4]), { padding: 1 })), { kernelSize: 2 });
    const want = linearRef({ shape: [1, 64], data: features.data }, host(fc, fcShape)).data;
    return { got, want };
  }

  it('NaN weight', async () => {
    const { got, want } = await logits(engine(), random(128, 22), withSpecials([4, 2, 3, 3], 23, [[20, NaN]]));
    expect(specials(want)).toEqual(['0:NaN', '1:NaN', '2:NaN']);
    expectSameAnswer(got, want, reduction(64 * 18), 'logits');
  });

  it('NaN pixel', async () => {
    const { got, want } = await logits(engine(), withSpecials([1, 2, 8, 8], 24, [[70, NaN]]), random(72, 25));
    expect(specials(want)).toEqual(['0:NaN', '1:NaN', '2:NaN']);
    expectSameAnswer(got, want, reduction(64 * 18), 'logits');
  });
});

// ---- softmax and cross-entropy -------------------------------------------------------------

describe('softmax and log_softmax rows with NaN and infinities, every length and route (PyTorch)', () => {
  for (const c of FIXTURES.softmax) {
    const x = fixture(c.x, `softmax ${c.name} x`);
    const [rows, len] = x.shape as [number, number];
    for (const dim of [-1, 0]) {
      it(`${c.name} along dim ${dim}: forward, backward and the reference`, async () => {
        const e = engine();
        // Along dim 0 the rows are the columns of the transposed tensor.
        const lay = (d: ArrayLike<number>) => (dim === 0 ? transpose(d, rows, len) : Float32Array.from(d));
        const shape = dim === 0 ? [len, rows] : [rows, len];
        const hx = host(lay(x.data), shape);
        const xt = e.tensor(hx.data, shape);
        const g = e.tensor(lay(fixture(c.gradOut, 'gradOut').data), shape);
        for (const [key, forward, backward, ref] of [
          ['softmax', softmax, softmaxBackward, softmaxRef],
          ['logSoftmax', logSoftmax, logSoftmaxBackward, logSoftmaxRef],
        ] as const) {
          const want = lay(fixture(c[key], key).data);
          const y = forward(xt, dim);
          const grad = backward(g, y, dim);
          expectSameAnswer(await y.toArray(), want, reduction(len), `${key} ${c.name} dim ${dim}`);
          expectSameAnswer(await grad.toArray(), lay(fixture(c[`${key}Grad`], 'grad').data), gradient(len), `${key} gradient ${c.name} dim ${dim}`);
          expectSameAnswer(ref(hx, dim).data, want, reduction(len), `${key} reference ${c.name} dim ${dim}`);
          dispose(y, grad);
        }
        dispose(xt, g);
      });
    }
  }
});

describe('cross-entropy with NaN and infinities in the logits (PyTorch)', () => {
  for (const c of FIXTURES.crossEntropy) {
    const classes = c.classes;
    const logits = fixture(c.logits, 'logits');
    const target = fixture(c.target, 'target');
    const weight = fixture(c.weight, 'weight');
    for (const v of c.variants) {
      it(`${classes} classes, ${v.name}: loss, gradient and the reference`, async () => {
        const e = engine();
        const n = v.rows.length;
        const l = new Float32Array(n * classes);
        v.rows.forEach((r, i) => l.set(logits.data.subarray(r * classes, (r + 1) * classes), i * classes));
        const t = Int32Array.from(v.rows, (r) => target.data[r]!);
        const [lt, tt] = [e.tensor(l, [n, classes]), e.tensor(t, [n])];
        const wt = v.weighted ? e.tensor(weight.data, [classes]) : undefined;
        const options = { ...v.options, weight: wt };
        const wantLoss = fixture(v.loss, 'loss').data;
        const wantGrad = fixture(v.grad, 'grad').data;
        const lossTol = reduction(n * classes);
        const loss = crossEntropy(lt, tt, options);
        const both = crossEntropyWithGrad(lt, tt, options);
        expectSameAnswer(await loss.toArray(), wantLoss, lossTol, `crossEntropy ${v.name}`);
        expectSameAnswer(await both.loss.toArray(), wantLoss, lossTol, `crossEntropyWithGrad loss ${v.name}`);
        expectSameAnswer(await both.gradLogits.toArray(), wantGrad, gradient(classes), `crossEntropyWithGrad gradient ${v.name}`);
        const refOptions = { ...v.options, weight: v.weighted ? host(weight.data, [classes]) : undefined };
        const [hl, ht] = [host(l, [n, classes]), host(t, [n])];
        expectSameAnswer(crossEntropyRef(hl, ht, refOptions).data, wantLoss, lossTol, `crossEntropyRef ${v.name}`);
        expectSameAnswer(crossEntropyBackwardRef(hl, ht, refOptions).data, wantGrad, gradient(classes), `crossEntropyBackwardRef ${v.name}`);
        dispose(lt, tt, wt, loss, both.loss, both.gradLogits);
      });
    }
  }
});

// ---- batch norm statistics ---------------------------------------------------------------------

describe('batch-norm statistics when the mean is 1e4 times the spread', () => {
  const f = FIXTURES.batchNormLargeMean;

  /** The fixture's data: offset + spread * (u - 0.5), u from a 32-bit LCG, rounded to float32. */
  function data(): Float32Array {
    const { lcgA, lcgC, seed, offset, spread } = f.generator;
    const out = new Float32Array(numel(f.shape));
    let s = seed;
    for (let i = 0; i < out.length; i++) {
      s = (Math.imul(s, lcgA) + lcgC) >>> 0;
      out[i] = offset + spread * (s / 2 ** 32 - 0.5);
    }
    return out;
  }

  /** Largest |got - want| (relative: over |want|). */
  function worst(got: ArrayLike<number>, want: ArrayLike<number>, relative: boolean): number {
    let w = 0;
    for (let i = 0; i < want.length; i++) {
      const err = Math.abs(got[i]! - want[i]!) / (relative ? Math.abs(want[i]!) : 1);
      w = Number.isNaN(err) ? Infinity : Math.max(w, err);
    }
    return w;
  }

  /** One float32 ulp at the largest magnitude of `values`: the least error any float32 answer can promise. */
  function ulpAt(values: ArrayLike<number>): number {
    const big = Math.max(...Array.from(values, Math.abs));
    return 2 ** (Math.floor(Math.log2(big)) - 23);
  }

  it('output, saved mean and inverse std, running statistics: within 2x of PyTorch float32\'s error', async () => {
    const e = engine();
    const xs = data();
    const channels = f.shape[1]!;
    const x = e.tensor(xs, f.shape);
    const runningMean = e.tensor(new Float32Array(channels).fill(f.runningMeanInit), [channels]);
    const runningVar = e.tensor(new Float32Array(channels).fill(f.runningVarInit), [channels]);
    const got = batchNormTrain(x, runningMean, runningVar, undefined, undefined, { momentum: f.momentum, eps: f.eps });
    const filled = (v: number) => host(new Float32Array(channels).fill(v), [channels]);
    const options = { training: true, momentum: f.momentum, eps: f.eps };
    const want = batchNormRef(host(xs, f.shape), filled(f.runningMeanInit), filled(f.runningVarInit), undefined, undefined, options);
    // Absolute errors for the output (unit spread) and the means, relative for the others.
    const checks: Array<[keyof typeof f.torchFloat32Error, ArrayLike<number>, ArrayLike<number>, boolean]> = [
      ['output', await got.output.toArray(), want.output.data, false],
      ['saveMean', await got.saveMean.toArray(), want.saveMean!.data, false],
      ['saveInvStd', await got.saveInvStd.toArray(), want.saveInvStd!.data, true],
      ['runningMean', await runningMean.toArray(), want.runningMean!.data, false],
      ['runningVar', await runningVar.toArray(), want.runningVar!.data, true],
    ];
    for (const [key, values, exact, relative] of checks) {
      const err = worst(values, exact, relative);
      const torch = f.torchFloat32Error[key];
      // Never asked for better than one float32 ulp, which PyTorch may beat by the luck of a rounding.
      const bound = Math.max(2 * torch, relative ? 2 ** -23 : ulpAt(exact));
      expect(err, `${key}: error ${err.toExponential(3)} against float64, PyTorch float32's ${torch.toExponential(3)}`).toBeLessThanOrEqual(bound);
    }
    dispose(x, runningMean, runningVar, got.output, got.saveMean, got.saveInvStd);
  });
});

// ---- compiled plans and their constants --------------------------------------------------------

describe('a plan whose constant was disposed refuses to run', () => {
  function smallGraph(e: Engine): { g: Graph; weight: Tensor } {
    const weight = e.tensor(random(12, 30), [3, 4]);
    const g = new Graph();
    g.output('y', g.linear(g.input('x'), g.constant('fc.weight', weight)));
    return { g, weight };
  }

  it('compileGraph: the run throws a GraphError naming the constant, even after its buffer was reused', async () => {
    const e = engine();
    const { g, weight } = smallGraph(e);
    const plan = await compileGraph(e, g, { x: [2, 4] });
    const x = random(8, 31);
    expect((await plan.run({ x })).y).toBeDefined();
    weight.dispose();
    // Tensors of the same size take the freed buffer from the pool and fill it with other numbers.
    const others = [0, 1, 2].map((i) => e.tensor(new Float32Array(12).fill(100 + i), [3, 4]));
    await e.sync();
    const run = plan.run({ x });
    await expect(run).rejects.toThrow(GraphError);
    await expect(run).rejects.toThrow("constant 'fc.weight' [3, 4] was disposed");
    plan.dispose();
    dispose(...others);
  });

  it('GraphExecutor: running a cached plan or compiling a new one throws the same error', async () => {
    const e = engine();
    const { g, weight } = smallGraph(e);
    const executor = new GraphExecutor(e, g);
    await executor.run({ x: { data: random(8, 32), shape: [2, 4] } });
    weight.dispose();
    await expect(executor.run({ x: { data: random(8, 33), shape: [2, 4] } })).rejects.toThrow("constant 'fc.weight' [3, 4] was disposed");
    await expect(executor.run({ x: { data: random(12, 34), shape: [3, 4] } })).rejects.toThrow("constant 'fc.weight' [3, 4] was disposed");
    executor.dispose();
  });
});
