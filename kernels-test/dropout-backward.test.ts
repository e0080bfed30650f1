import { describe, expect, it } from 'vitest';
import { dropout, dropoutBackward, dropoutMask, type DropoutOptions } from '../src/ops/dropout.js';
import { dropoutBackwardRef, dropoutMaskRef, dropoutRef } from '../src/reference/dropout.js';
import { host } from '../src/reference/host-tensor.js';
import { checkGradient, dot } from './gradcheck.js';
import { ELEMENTWISE, EXACT, assertClose, random, useEngine } from './helpers.js';

const engine = useEngine();

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

describe('dropout reference gradient against finite differences', () => {
  it('is the mask the forward pass drew', () => {
    const shape = [3, 7];
    const options = { p: 0.4, seed: 5, offset: 2 };
    const x = host(random(21, 1), shape);
    const g = host(random(21, 2), shape);
    const mask = dropoutMaskRef(shape, options);
    checkGradient(dropoutBackwardRef(g, mask).data, () => dot(dropoutRef(x, options).output.data, g.data), x.data, 'dropout');
  });
});

describe('dropoutBackward against the reference', () => {
  const cases: Array<{ shape: number[]; options: DropoutOptions }> = [
    { shape: [7, 13, 11], options: { p: 0.3, seed: 1234 } }, // 1001 elements: a partial last Philox block
    { shape: [2, 3, 5], options: { p: 0.5, seed: 0, offset: 7 } },
    { shape: [100, 256], options: { p: 0.25, seed: 2 ** 40 + 7, offset: 2 ** 33 + 3 } }, // the DNN's dropout at batch 100
    { shape: [4, 5], options: { p: 1, seed: 3 } }, // everything dropped: no gradient
    { shape: [4, 5], options: { p: 0.5, seed: 3, training: false } }, // identity: the gradient passes
  ];
  for (const { shape, options } of cases) {
    it(`[${shape.join(', ')}] ${JSON.stringify(options)}`, async () => {
      const e = engine();
      const n = size(shape);
      const gs = random(n, n, -2, 2);
      const g = e.tensor(gs, shape);
      const mask = dropoutMask(e, shape, options);
      const dx = dropoutBackward(g, mask);
      expect(dx.shape).toEqual(shape);
      const want = dropoutBackwardRef(host(gs, shape), dropoutMaskRef(shape, options));
      const got = await dx.toArray();
      assertClose(got, want.data, ELEMENTWISE, 'dropoutBackward');
      // Redrawing the mask from the same options gives the same values without storing it.
      assertClose(await dropout(g, options).toArray(), got, EXACT, 'dropout(gradOut) as the backward pass');
      for (const t of [g, mask, dx]) t.dispose();
    });
  }
});

describe('dropoutBackward argument errors', () => {
  it('names each bad input', () => {
    const e = engine();
    const g = e.tensor(random(6, 1), [2, 3]);
    const mask = dropoutMask(e, [3, 2], { seed: 1 });
    expect(() => dropoutBackward(g, mask)).toThrow('dropoutBackward: gradOut [2, 3] and mask [3, 2] should have the same shape');
    mask.dispose();
    expect(() => dropoutBackward(g, mask)).toThrow('dropoutBackward: a tensor of shape [3, 2] was used after dispose()');
    g.dispose();
  });
});
