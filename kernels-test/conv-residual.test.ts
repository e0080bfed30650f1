// conv2d / conv1d with a residual operand added in the GEMM's epilogue (before the ReLU), on every route.
import { describe, expect, it } from 'vitest';
import { conv1d, conv2d, type ConvOptions } from '../src/ops/conv.js';
import { conv1dRef, conv2dRef } from '../src/reference/conv.js';
import { addRef, reluRef } from '../src/reference/elementwise.js';
import { host } from '../src/reference/host-tensor.js';
import { numel } from '../src/runtime/tensor.js';
import { assertClose, random, reduction, useEngine } from './helpers.js';

const engine = useEngine();

interface Case {
  what: string;
  x: number[];
  w: number[];
  bias: boolean;
  options: ConvOptions;
}

const cases: Case[] = [
  { what: 'implicit GEMM, stride 2, bias, relu', x: [2, 3, 9, 8], w: [5, 3, 3, 3], bias: true, options: { stride: 2, padding: 1, relu: true, algorithm: 'implicit' } },
  { what: 'im2col, dilation, no bias', x: [1, 5, 7, 9], w: [7, 5, 2, 3], bias: false, options: { dilation: 2, padding: [1, 2], algorithm: 'im2col' } },
  { what: 'im2col, groups, relu', x: [3, 6, 6, 5], w: [4, 3, 3, 3], bias: true, options: { groups: 2, padding: 1, relu: true, algorithm: 'im2col' } },
  { what: 'pointwise 1x1', x: [2, 7, 5, 5], w: [3, 7, 1, 1], bias: true, options: { relu: true } },
  { what: 'winograd F(2x2, 3x3)', x: [2, 5, 9, 7], w: [6, 5, 3, 3], bias: true, options: { padding: 1, relu: true, algorithm: 'winograd2' } },
  { what: 'auto route, stride 3', x: [1, 4, 11, 10], w: [6, 4, 3, 2], bias: false, options: { stride: 3, padding: 1 } },
];

describe('conv2d with a residual', () => {
  for (const c of cases) {
    it(c.what, async () => {
      const e = engine();
      const xd = random(numel(c.x), 1);
      const wd = random(numel(c.w), 2);
      const bd = random(c.w[0]!, 3);
      const plainRef = conv2dRef(host(xd, c.x), host(wd, c.w), c.bias ? host(bd, [c.w[0]!]) : undefined, { ...c.options, relu: false });
      const rd = random(plainRef.data.length, 4);
      const sum = addRef(plainRef, host(rd, plainRef.shape));
      const want = c.options.relu ? reluRef(sum) : sum;
      const x = e.tensor(xd, c.x);
      const w = e.tensor(wd, c.w);
      const b = c.bias ? e.tensor(bd, [c.w[0]!]) : undefined;
      const r = e.tensor(rd, plainRef.shape);
      const y = conv2d(x, w, b, { ...c.options, residual: r });
      expect(y.shape).toEqual(plainRef.shape);
      assertClose(await y.toArray(), want.data, reduction(numel(c.w.slice(1))), c.what);
      for (const t of [x, w, b, r, y]) t?.dispose();
    });
  }

  it('conv1d takes a residual too', async () => {
    const e = engine();
    const xd = random(2 * 3 * 13, 5);
    const wd = random(4 * 3 * 3, 6);
    const bd = random(4, 8);
    const plain = conv1dRef(host(xd, [2, 3, 13]), host(wd, [4, 3, 3]), host(bd, [4]), { padding: 1 });
    const rd = random(plain.data.length, 7);
    const x = e.tensor(xd, [2, 3, 13]);
    const w = e.tensor(wd, [4, 3, 3]);
    const b = e.tensor(bd, [4]);
    const r = e.tensor(rd, plain.shape);
    const y = conv1d(x, w, b, { padding: 1, residual: r, relu: true });
    assertClose(await y.toArray(), reluRef(addRef(plain, host(rd, plain.shape))).data, reduction(9), 'conv1d');
    for (const t of [x, w, b, r, y]) t.dispose();
  });

  it("refuses a residual that is not the output's shape", () => {
    const e = engine();
    const x = e.zeros([1, 3, 8, 8]);
    const w = e.zeros([4, 3, 3, 3]);
    const r = e.zeros([1, 4, 8, 8]);
    expect(() => conv2d(x, w, undefined, { residual: r })).toThrow('conv2d: expected residual of the output\'s shape [1, 4, 6, 6], got [1, 4, 8, 8]');
    r.dispose();
    expect(() => conv2d(x, w, undefined, { padding: 1, residual: r })).toThrow('conv2d: residual [1, 4, 8, 8] was used after dispose()');
    x.dispose();
    w.dispose();
  });
});
