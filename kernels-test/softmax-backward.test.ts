import { describe, expect, it } from 'vitest';
import { logSoftmax, logSoftmaxBackward, softmax, softmaxBackward } from '../src/ops/softmax.js';
import { host } from '../src/reference/host-tensor.js';
import { logSoftmaxBackwardRef, logSoftmaxRef, softmaxBackwardRef, softmaxRef } from '../src/reference/softmax.js';
import { checkGradient, dot } from './gradcheck.js';
import { assertClose, gradient, random, useEngine } from './helpers.js';

const engine = useEngine();

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

describe('softmax reference gradients against finite differences', () => {
  const cases: Array<[number[], number]> = [
    [[2, 5], 1],
    [[2, 5], 0],
    [[2, 3, 4], 1],
    [[], 0],
  ];
  for (const [shape, dim] of cases) {
    it(`[${shape.join(', ')}] over dim ${dim}`, () => {
      const x = host(random(size(shape), 3, -3, 3), shape);
      const g = host(random(size(shape), 4), shape);
      const y = softmaxRef(x, dim);
      const ly = logSoftmaxRef(x, dim);
      checkGradient(softmaxBackwardRef(g, y, dim).data, () => dot(softmaxRef(x, dim).data, g.data), x.data, 'softmax');
      checkGradient(logSoftmaxBackwardRef(g, ly, dim).data, () => dot(logSoftmaxRef(x, dim).data, g.data), x.data, 'logSoftmax');
    });
  }
});

/** The forward on the GPU, then both backward kernels from its output, against the reference. */
async function check(shape: number[], dim: number, seed: number): Promise<void> {
  const e = engine();
  const xs = random(size(shape), seed, -4, 4);
  const gs = random(size(shape), seed + 1, -1, 1);
  const x = e.tensor(xs, shape);
  const g = e.tensor(gs, shape);
  const r = Math.max(shape.length, 1);
  const len = shape.length === 0 ? 1 : shape[(dim + r) % r]!;
  const what = `[${shape.join(', ')}] dim ${dim}`;
  const hx = host(xs, shape);
  const hg = host(gs, shape);
  for (const log of [false, true]) {
    const y = log ? logSoftmax(x, dim) : softmax(x, dim);
    const dx = log ? logSoftmaxBackward(g, y, dim) : softmaxBackward(g, y, dim);
    expect(dx.shape).toEqual(shape);
    // The reference differentiates at the reference forward's output, as the GPU does at its own.
    const want = log ? logSoftmaxBackwardRef(hg, logSoftmaxRef(hx, dim), dim) : softmaxBackwardRef(hg, softmaxRef(hx, dim), dim);
    const got = await dx.toArray();
    assertClose(got, want.data, gradient(len), `${log ? 'logSoftmaxBackward' : 'softmaxBackward'} ${what}`);
    y.dispose();
    dx.dispose();
  }
  x.dispose();
  g.dispose();
}

describe('softmaxBackward and logSoftmaxBackward against the reference', () => {
  const cases: Array<[number[], number]> = [
    [[3, 7], -1], // short contiguous rows: one invocation each
    [[3, 7], 0], // short strided rows
    [[5, 1], 1], // rows of length 1: the gradient is 0 for softmax
    [[100, 10], 1], // the Fashion-MNIST logits
    [[2, 1000], 1], // long rows: one workgroup each
    [[2, 1500, 3], 1], // long strided rows with outer 2
    [[2, 7, 3, 5], 1], // rank 4 over channels
    [[4, 3, 65], -2],
    [[], 0],
  ];
  cases.forEach(([shape, dim], i) => {
    it(`[${shape.join(', ')}] over dim ${dim}`, async () => {
      await check(shape, dim, 40 + i);
    });
  });

  it('gives finite gradients for -inf logits (probability 0)', async () => {
    const e = engine();
    for (const len of [6, 200]) {
      const xs = random(2 * len, 5, -3, 3);
      xs[1] = Number.NEGATIVE_INFINITY;
      xs[len + 4] = Number.NEGATIVE_INFINITY;
      const gs = random(2 * len, 6);
      const x = e.tensor(xs, [2, len]);
      const g = e.tensor(gs, [2, len]);
      for (const log of [false, true]) {
        const y = log ? logSoftmax(x, 1) : softmax(x, 1);
        const got = await (log ? logSoftmaxBackward(g, y, 1) : softmaxBackward(g, y, 1)).toArray();
        const hy = (log ? logSoftmaxRef : softmaxRef)(host(xs, [2, len]), 1);
        const want = (log ? logSoftmaxBackwardRef : softmaxBackwardRef)(host(gs, [2, len]), hy, 1);
        expect(got.every(Number.isFinite)).toBe(true);
        assertClose(got, want.data, gradient(len), `${log ? 'logSoftmax' : 'softmax'} with -inf, length ${len}`);
        // softmax: no gradient reaches a logit of probability 0; log-softmax passes gradOut there.
        if (log) expect(got[1]).toBe(gs[1]);
        else expect(Math.abs(got[1]!)).toBe(0); // y * (g - sum) with y = 0 may be -0
      }
      x.dispose();
      g.dispose();
    }
  });
});

describe('softmax backward argument errors', () => {
  it('names each bad input', () => {
    const e = engine();
    const y = e.tensor(random(6, 1), [2, 3]);
    const g = e.tensor(random(6, 2), [3, 2]);
    expect(() => softmaxBackward(g, y, 1)).toThrow('softmaxBackward: gradOut should have the shape of the output [2, 3], got [3, 2]');
    expect(() => logSoftmaxBackward(g, y, 1)).toThrow('logSoftmaxBackward: gradOut should have the shape of the output [2, 3], got [3, 2]');
    expect(() => softmaxBackward(y, y, 2)).toThrow(
      'softmaxBackward: dimension out of range (expected to be in range of [-2, 1], but got 2)',
    );
    expect(() => logSoftmaxBackward(y, y, 0.5)).toThrow(/logSoftmaxBackward: dimension out of range/);
    y.dispose();
    g.dispose();
  });
});
