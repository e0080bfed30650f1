// Linear and matmul backward passes: the CPU references against central finite differences of the
// reference forward passes (float64), the GPU against the references (both weight-gradient paths,
// every subset of gradients, batched and shared operands), and argument errors.
import { describe, expect, it } from 'vitest';
import { linearBackward, matmulBackward, type LinearBackwardNeeds, type MatmulBackwardNeeds } from '../src/ops/linear-backward.js';
import { linear } from '../src/ops/gemm.js';
import { linearRef, matmulRef } from '../src/reference/gemm.js';
import { host, type HostTensor } from '../src/reference/host-tensor.js';
import { linearBackwardRef, matmulBackwardRef } from '../src/reference/linear-backward.js';
import { numel, type Tensor } from '../src/runtime/tensor.js';
import { checkGradient, dot } from './gradcheck.js';
import { assertClose, gradient, random, useEngine } from './helpers.js';

const engine = useEngine();
let seed = 4200;

function hostRandom(shape: number[]): HostTensor {
  return host(random(numel(shape), seed++), shape);
}

function upload(t: HostTensor): Tensor {
  return engine().tensor(t.data, t.shape);
}

describe('backward references agree with finite differences', () => {
  it('linear with two leading dimensions', () => {
    const x = hostRandom([2, 3, 5]);
    const w = hostRandom([4, 5]);
    const b = hostRandom([4]);
    const gradOut = random(2 * 3 * 4, seed++);
    const loss = () => dot(linearRef(x, w, b).data, gradOut);
    const grads = linearBackwardRef(host(gradOut, [2, 3, 4]), x, w);
    checkGradient(grads.gradInput.data, loss, x.data, 'input');
    checkGradient(grads.gradWeight.data, loss, w.data, 'weight');
    checkGradient(grads.gradBias.data, loss, b.data, 'bias');
  });

  it.each([
    [[3, 4], [4, 5]],
    [[2, 3, 4], [2, 4, 5]],
    [[3, 4], [2, 4, 5]],
    [[2, 3, 4], [4, 5]],
  ])('matmul %j x %j', (sa, sb) => {
    const a = hostRandom(sa);
    const b = hostRandom(sb);
    const y = matmulRef(a, b);
    const gradOut = random(y.data.length, seed++);
    const loss = () => dot(matmulRef(a, b).data, gradOut);
    const grads = matmulBackwardRef(host(gradOut, y.shape), a, b);
    checkGradient(grads.gradA.data, loss, a.data, 'a');
    checkGradient(grads.gradB.data, loss, b.data, 'b');
  });
});

const ALL: LinearBackwardNeeds = { input: true, weight: true, bias: true };

describe('linearBackward', () => {
  async function check(xShape: number[], outFeatures: number, needs: LinearBackwardNeeds = ALL): Promise<void> {
    const inFeatures = xShape[xShape.length - 1]!;
    const rows = numel(xShape) / inFeatures;
    const x = hostRandom(xShape);
    const w = hostRandom([outFeatures, inFeatures]);
    const gradOut = hostRandom([...xShape.slice(0, -1), outFeatures]);
    const want = linearBackwardRef(gradOut, x, w);
    const [xg, wg, gg] = [upload(x), upload(w), upload(gradOut)];
    const got = linearBackward(gg, xg, wg, needs);
    const what = `x ${JSON.stringify(xShape)}, ${outFeatures} out, needs ${JSON.stringify(needs)}`;
    const expected = { input: [want.gradInput, outFeatures, 'gradInput'], weight: [want.gradWeight, rows, 'gradWeight'], bias: [want.gradBias, rows, 'gradBias'] } as const;
    for (const key of ['input', 'weight', 'bias'] as const) {
      const [ref, k, name] = expected[key];
      const tensor = got[name];
      if (!needs[key]) {
        expect(tensor, `${what}: ${name}`).toBeUndefined();
        continue;
      }
      expect(tensor!.shape).toEqual(ref.shape);
      assertClose(await tensor!.toArray(), ref.data, gradient(k), `${what}: ${name}`);
      tensor!.dispose();
    }
    for (const t of [xg, wg, gg]) t.dispose();
  }

  it('odd sizes (gradOut and x transposed and padded first, or the portable kernel)', () => check([7, 5], 3));
  it('aligned sizes (gradOut transposed first)', () => check([8, 12], 5));
  it('rows a multiple of 4, features not', () => check([12, 7], 6));
  it('two leading dimensions, 37 outputs', () => check([3, 4, 9], 37));
  it('one row, one output', () => check([1, 6], 1));
  it('the Fashion-MNIST DNN first layer (batch 100, 784 -> 256)', () => check([100, 784], 256));
  it('computes only the gradients asked for', async () => {
    for (const needs of [
      { input: true, weight: false, bias: false },
      { input: false, weight: true, bias: false },
      { input: false, weight: false, bias: true },
      { input: false, weight: false, bias: false },
    ]) {
      await check([6, 7], 4, needs);
    }
  });

  it('agrees with the forward pass: <gradOut, linear(x, w)> = <gradInput, x> = <gradWeight, w>', async () => {
    const e = engine();
    const x = e.tensor(random(12 * 10, 81), [12, 10]);
    const w = e.tensor(random(6 * 10, 82), [6, 10]);
    const y = linear(x, w);
    const g = e.tensor(random(y.size, 83), y.shape);
    const grads = linearBackward(g, x, w, { input: true, weight: true, bias: false });
    const inner = async (a: Tensor, b: Tensor) => dot(await a.toArray(), await b.toArray());
    const forward = await inner(g, y);
    expect(await inner(grads.gradInput!, x)).toBeCloseTo(forward, 4);
    expect(await inner(grads.gradWeight!, w)).toBeCloseTo(forward, 4);
    for (const t of [x, w, y, g, grads.gradInput!, grads.gradWeight!]) t.dispose();
  });
});

describe('matmulBackward', () => {
  it.each([
    [[3, 4], [4, 5]],
    [[2, 3, 4], [2, 4, 5]],
    [[3, 5], [4, 5, 6]],
    [[4, 3, 5], [5, 6]],
    [[2, 2, 7, 3], [2, 2, 3, 9]],
  ])('%j x %j', async (sa, sb) => {
    const a = hostRandom(sa);
    const b = hostRandom(sb);
    const y = matmulRef(a, b);
    const gradOut = hostRandom(y.shape);
    const want = matmulBackwardRef(gradOut, a, b);
    const [ag, bg, gg] = [upload(a), upload(b), upload(gradOut)];
    for (const needs of [{ a: true, b: true }, { a: true, b: false }, { a: false, b: true }] as MatmulBackwardNeeds[]) {
      const got = matmulBackward(gg, ag, bg, needs);
      const batch = numel(y.shape) / (y.shape.at(-1)! * y.shape.at(-2)!);
      if (needs.a) {
        expect(got.gradA!.shape).toEqual(sa);
        assertClose(await got.gradA!.toArray(), want.gradA.data, gradient(y.shape.at(-1)! * batch), 'gradA');
        got.gradA!.dispose();
      } else {
        expect(got.gradA).toBeUndefined();
      }
      if (needs.b) {
        expect(got.gradB!.shape).toEqual(sb);
        assertClose(await got.gradB!.toArray(), want.gradB.data, gradient(y.shape.at(-2)! * batch), 'gradB');
        got.gradB!.dispose();
      } else {
        expect(got.gradB).toBeUndefined();
      }
    }
    for (const t of [ag, bg, gg]) t.dispose();
  });
});

describe('argument errors', () => {
  it('linearBackward rejects shapes that do not fit together', () => {
    const e = engine();
    const x = e.tensor(random(20, 1), [4, 5]);
    const w = e.tensor(random(15, 2), [3, 5]);
    const g = e.tensor(random(12, 3), [4, 3]);
    const gWrong = e.tensor(random(16, 3), [4, 4]);
    const w3 = e.tensor(random(15, 2), [3, 5, 1]);
    const x6 = e.tensor(random(24, 1), [4, 6]);
    expect(() => linearBackward(gWrong, x, w, ALL)).toThrow(
      'linearBackward: expected gradOut of shape [4, 3] (input [4, 5], weight [3, 5]), got [4, 4]',
    );
    expect(() => linearBackward(g, x6, w, ALL)).toThrow('linearBackward: expected input with 5 features (weight [3, 5]), got input [4, 6]');
    expect(() => linearBackward(g, x, w3, ALL)).toThrow('linearBackward: expected weight of shape [out, in], got [3, 5, 1]');
    expect(() => linearBackward(g, x, w, { input: true } as LinearBackwardNeeds)).toThrow(
      'linearBackward: needs must be { input: boolean, weight: boolean, bias: boolean }, got {"input":true}',
    );
    for (const t of [x, w, g, gWrong, w3, x6]) t.dispose();
  });

  it('matmulBackward rejects shapes that do not fit together', () => {
    const e = engine();
    const a = e.tensor(random(12, 1), [3, 4]);
    const b = e.tensor(random(20, 2), [4, 5]);
    const g = e.tensor(random(15, 3), [3, 5]);
    const b2 = e.tensor(random(40, 2), [2, 4, 5]);
    const a3 = e.tensor(random(36, 1), [3, 3, 4]);
    const v = e.tensor(random(4, 1), [4]);
    const b6 = e.tensor(random(30, 2), [6, 5]);
    expect(() => matmulBackward(g, a, b2, { a: true, b: true })).toThrow(
      'matmulBackward: expected gradOut of shape [2, 3, 5] (a [3, 4] x b [2, 4, 5]), got [3, 5]',
    );
    expect(() => matmulBackward(g, a3, b2, { a: true, b: true })).toThrow(
      'matmulBackward: batch dimensions must match or one operand must be a matrix (no broadcasting between batches): a [3, 3, 4] x b [2, 4, 5]',
    );
    expect(() => matmulBackward(g, a, b6, { a: true, b: true })).toThrow('matmulBackward: inner dimensions differ (4 vs 6): a [3, 4] x b [6, 5]');
    expect(() => matmulBackward(g, v, b, { a: true, b: true })).toThrow(
      'matmulBackward: both operands need at least two dimensions, got a [4] and b [4, 5]',
    );
    expect(() => matmulBackward(g, a, b, { a: true } as MatmulBackwardNeeds)).toThrow('matmulBackward: needs must be { a: boolean, b: boolean }, got {"a":true}');
    for (const t of [a, b, g, b2, a3, v, b6]) t.dispose();
  });
});
