import { describe, expect, it } from 'vitest';
import { accumulate, addInPlace, mul, reluBackward, scale } from '../src/ops/elementwise.js';
import { addRef, mulRef, reluBackwardRef, reluRef, scaleRef } from '../src/reference/elementwise.js';
import { host } from '../src/reference/host-tensor.js';
import { checkGradient, dot } from './gradcheck.js';
import { ELEMENTWISE, assertClose, random, useEngine } from './helpers.js';

const engine = useEngine();

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const shapes = [[1], [7], [3, 5, 7], [2, 3, 33, 17], [1000, 3]];

describe('reference gradients against finite differences', () => {
  it('reluBackwardRef', () => {
    // Away from the kink at 0, where relu has no derivative.
    const x = host(Array.from(random(40, 1, -1, 1), (v) => (Math.abs(v) < 0.05 ? v + 0.1 : v)), [5, 8]);
    const g = host(random(40, 2), [5, 8]);
    checkGradient(reluBackwardRef(g, x).data, () => dot(reluRef(x).data, g.data), x.data, 'relu');
  });

  it('mul and scale', () => {
    const a = host(random(12, 3), [3, 4]);
    const b = host(random(12, 4), [3, 4]);
    const g = host(random(12, 5), [3, 4]);
    checkGradient(mulRef(g, b).data, () => dot(mulRef(a, b).data, g.data), a.data, 'mul, d/da');
    checkGradient(scaleRef(g, -2.5).data, () => dot(scaleRef(a, -2.5).data, g.data), a.data, 'scale');
  });
});

describe('elementwise backward kernels against the reference', () => {
  for (const shape of shapes) {
    it(`[${shape.join(', ')}]: reluBackward, mul, scale, addInPlace`, async () => {
      const e = engine();
      const n = size(shape);
      const seed = n;
      const xs = random(n, seed, -1, 1);
      xs[0] = 0; // relu's gradient at 0 is 0, as in PyTorch
      const gs = random(n, seed + 1, -2, 2);
      const [x, g] = [e.tensor(xs, shape), e.tensor(gs, shape)];
      const [hx, hg] = [host(xs, shape), host(gs, shape)];
      const dx = reluBackward(g, x);
      expect(dx.shape).toEqual(shape);
      assertClose(await dx.toArray(), reluBackwardRef(hg, hx).data, ELEMENTWISE, 'reluBackward');
      const product = mul(g, x);
      assertClose(await product.toArray(), mulRef(hg, hx).data, ELEMENTWISE, 'mul');
      const scaled = scale(x, -0.37);
      assertClose(await scaled.toArray(), scaleRef(hx, -0.37).data, ELEMENTWISE, 'scale');
      // acc += g twice, then += x: the additions run in recorded order.
      const acc = e.tensor(xs, shape);
      addInPlace(acc, g);
      accumulate(acc, g);
      addInPlace(acc, scaled);
      const want = addRef(addRef(addRef(hx, hg), hg), scaleRef(hx, -0.37));
      assertClose(await acc.toArray(), want.data, ELEMENTWISE, 'addInPlace');
      for (const t of [x, g, dx, product, scaled, acc]) t.dispose();
    });
  }

  it('reluBackward zeroes the gradient exactly where x <= 0 (it passes at NaN, as PyTorch), also for -0, tiny and huge values', async () => {
    const e = engine();
    const xs = [-0, 0, 1e-40, -1e-40, 3e38, -3e38, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
    const x = e.tensor(xs);
    const g = e.tensor(xs.map((_, i) => i + 1));
    // 1e-40 is a float32 denormal: lavapipe may flush it to 0 (WGSL allows either), so it is not asserted.
    const got = Array.from(await reluBackward(g, x).toArray());
    expect(got.filter((_, i) => i !== 2)).toEqual([0, 0, 0, 5, 0, 7, 8, 0]);
    x.dispose();
    g.dispose();
  });
});

describe('elementwise argument errors', () => {
  it('names each bad input', () => {
    const e = engine();
    const a = e.tensor(random(6, 1), [2, 3]);
    const b = e.tensor(random(6, 2), [3, 2]);
    expect(() => reluBackward(a, b)).toThrow('reluBackward: shapes must match, got [2, 3] and [3, 2]');
    expect(() => mul(a, b)).toThrow('mul: shapes must match, got [2, 3] and [3, 2]');
    expect(() => addInPlace(a, b)).toThrow('addInPlace: shapes must match, got [2, 3] and [3, 2]');
    expect(() => addInPlace(a, a)).toThrow('addInPlace: acc and x share storage; use scale(x, 2) to double a tensor');
    const view = a.reshape([6]).reshape([2, 3]);
    expect(() => addInPlace(a, view)).toThrow(/share storage/);
    expect(() => scale(a, Number.NaN)).toThrow('scale: the factor must be a finite number, got NaN');
    b.dispose();
    expect(() => mul(a, b)).toThrow('mul: b [3, 2] was used after dispose()');
    a.dispose();
    view.dispose();
  });
});
