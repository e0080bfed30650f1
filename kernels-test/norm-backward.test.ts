import { describe, expect, it } from 'vitest';
import { batchNorm, batchNormBackward, batchNormEvalBackward, batchNormTrain, type BatchNormNeeds } from '../src/ops/norm.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { host, type HostTensor } from '../src/reference/host-tensor.js';
import { batchNormBackwardRef, batchNormEvalBackwardRef, batchNormRef } from '../src/reference/norm.js';
import { checkGradient, dot } from './gradcheck.js';
import { GRADIENT, assertClose, gradient, random, reduction, useEngine } from './helpers.js';

const engine = useEngine();

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

describe('batch norm reference gradients against finite differences', () => {
  const cases: Array<[number[], boolean]> = [
    [[3, 2], true],
    [[2, 3, 4], true],
    [[1, 2, 2, 3], false], // batch 1, no weight
    [[2, 2, 1, 2, 2], true],
  ];
  for (const [shape, withWeight] of cases) {
    it(`training [${shape.join(', ')}]${withWeight ? ' with weight and bias' : ''}`, () => {
      const c = shape[1]!;
      const x = host(random(size(shape), size(shape), -2, 2), shape);
      const g = host(random(size(shape), 7, -1, 1), shape);
      const w = host(random(c, 3, 0.5, 1.5), [c]);
      const b = host(random(c, 4, -1, 1), [c]);
      const weight = withWeight ? w : undefined;
      const bias = withWeight ? b : undefined;
      const eps = 1e-3;
      const loss = () => dot(batchNormRef(x, undefined, undefined, weight, bias, { training: true, eps }).output.data, g.data);
      const grads = batchNormBackwardRef(g, x, weight, eps);
      checkGradient(grads.gradInput.data, loss, x.data, 'gradInput');
      if (withWeight) {
        checkGradient(grads.gradWeight.data, loss, w.data, 'gradWeight');
        checkGradient(grads.gradBias.data, loss, b.data, 'gradBias');
      }
    });
  }

  it('evaluation [2, 3, 2]', () => {
    const shape = [2, 3, 2];
    const x = host(random(12, 1, -2, 2), shape);
    const g = host(random(12, 2), shape);
    const mean = host(random(3, 3), [3]);
    const variance = host(random(3, 4, 0.5, 2), [3]);
    const w = host(random(3, 5, 0.5, 1.5), [3]);
    const loss = () => dot(batchNormRef(x, mean, variance, w, undefined, { training: false, eps: 0.01 }).output.data, g.data);
    checkGradient(batchNormEvalBackwardRef(g, variance, w, 0.01).data, loss, x.data, 'eval gradInput');
  });
});

interface Case {
  shape: number[];
  weight: boolean;
  eps?: number;
  needs?: BatchNormNeeds;
}

const ALL: BatchNormNeeds = { input: true, weight: true, bias: true };

/** Forward with batchNormTrain on the GPU, then batchNormBackward, each checked with the reference. */
async function check(c: Case, seed: number, data = random(size(c.shape), seed, -3, 5)): Promise<void> {
  const e = engine();
  const { shape, eps = 1e-5, needs = ALL } = c;
  const channels = shape[1]!;
  const count = size(shape) / channels;
  const gs = random(size(shape), seed + 1, -1, 1);
  const ws = random(channels, seed + 2, 0.5, 1.5);
  const x = e.tensor(data, shape);
  const g = e.tensor(gs, shape);
  const weight = c.weight ? e.tensor(ws, [channels]) : undefined;
  const bias = c.weight ? e.tensor(random(channels, seed + 3), [channels]) : undefined;
  const hx = host(data, shape);
  const hw = c.weight ? host(ws, [channels]) : undefined;
  const what = `[${shape.join(', ')}]${c.weight ? ' affine' : ''}`;

  const fwd = batchNormTrain(x, undefined, undefined, weight, bias, { eps });
  const ref = batchNormRef(hx, undefined, undefined, hw, bias && host(await bias.toArray(), [channels]), { training: true, eps });
  assertClose(await fwd.saveMean.toArray(), ref.saveMean!.data, reduction(count), `${what} saveMean`);
  assertClose(await fwd.saveInvStd.toArray(), ref.saveInvStd!.data, reduction(count), `${what} saveInvStd`);

  const grads = batchNormBackward(g, x, weight, fwd.saveMean, fwd.saveInvStd, needs);
  const want = batchNormBackwardRef(host(gs, shape), hx, hw, eps);
  expect(grads.gradInput !== undefined).toBe(needs.input);
  expect(grads.gradWeight !== undefined).toBe(needs.weight);
  expect(grads.gradBias !== undefined).toBe(needs.bias);
  const pairs: Array<[Tensor | undefined, HostTensor, string]> = [
    [grads.gradInput, want.gradInput, 'gradInput'],
    [grads.gradWeight, want.gradWeight, 'gradWeight'],
    [grads.gradBias, want.gradBias, 'gradBias'],
  ];
  for (const [got, expected, name] of pairs) {
    if (!got) continue;
    expect(got.shape).toEqual(expected.shape);
    const a = await got.toArray();
    assertClose(a, expected.data, gradient(count), `${what} ${name}`);
  }
  for (const t of [x, g, weight, bias, fwd.output, fwd.saveMean, fwd.saveInvStd]) t?.dispose();
  for (const t of [grads.gradInput, grads.gradWeight, grads.gradBias]) t?.dispose();
}

describe('batchNormBackward against the reference', () => {
  const shapes = [
    [3, 5, 7, 9],
    [1, 3, 4, 4], // batch 1 with spatial > 1
    [4, 7], // [N, C]
    [2, 3, 5], // [N, C, L]
    [2, 3, 2, 3, 4], // [N, C, D, H, W]
    [3, 2, 50, 50], // 7500 values per channel: two partial sums merged; planes of 2500 (the per-plane entry)
  ];
  shapes.forEach((shape, i) => {
    it(`[${shape.join(', ')}] with and without weight`, async () => {
      await check({ shape, weight: true }, 10 + i);
      await check({ shape, weight: false, eps: 1e-3 }, 20 + i);
    });
  });

  it('computes only the gradients asked for', async () => {
    await check({ shape: [2, 3, 4], weight: true, needs: { input: true, weight: false, bias: false } }, 31);
    await check({ shape: [2, 3, 4], weight: true, needs: { input: false, weight: true, bias: false } }, 32);
    await check({ shape: [2, 3, 4], weight: false, needs: { input: false, weight: false, bias: true } }, 33);
    await check({ shape: [2, 3, 4], weight: true, needs: { input: false, weight: false, bias: false } }, 34);
  });

  it('stays accurate for a channel with a large mean', async () => {
    const shape = [8, 3, 6, 5];
    const data = random(size(shape), 77, -1, 1);
    for (let n = 0; n < 8; n++) for (let s = 0; s < 30; s++) data[(n * 3 + 1) * 30 + s]! += 1000;
    await check({ shape, weight: true }, 77, data);
  });

  it('batchNormTrain gives batchNorm training output and running statistics', async () => {
    const e = engine();
    const shape = [3, 5, 4];
    const data = random(size(shape), 3, -2, 2);
    const x = e.tensor(data, shape);
    const [m1, v1, m2, v2] = [0, 1, 2, 3].map(() => e.tensor(random(5, 9, 0.5, 1), [5]));
    const weight = e.tensor(random(5, 4, 0.5, 1.5), [5]);
    const options = { momentum: 0.2, eps: 1e-4 };
    const train = batchNormTrain(x, m1, v1, weight, undefined, options);
    const plain = batchNorm(x, m2, v2, weight, undefined, { ...options, training: true });
    expect(await train.output.toArray()).toEqual(await plain.toArray());
    expect(await m1!.toArray()).toEqual(await m2!.toArray());
    expect(await v1!.toArray()).toEqual(await v2!.toArray());
    expect(train.saveMean.shape).toEqual([5]);
    expect(train.saveInvStd.shape).toEqual([5]);
    for (const t of [x, m1, v1, m2, v2, weight, train.output, train.saveMean, train.saveInvStd, plain]) t!.dispose();
  });
});

describe('batchNormEvalBackward against the reference', () => {
  const shapes = [[3, 5, 7, 9], [1, 3, 4, 4], [4, 7], [2, 3, 2, 3, 4], [1, 3]];
  shapes.forEach((shape, i) => {
    it(`[${shape.join(', ')}]`, async () => {
      const e = engine();
      const channels = shape[1]!;
      const gs = random(size(shape), i, -1, 1);
      const vs = random(channels, i + 1, 0.2, 2);
      const ws = random(channels, i + 2, -1.5, 1.5);
      const [g, variance, weight] = [e.tensor(gs, shape), e.tensor(vs, [channels]), e.tensor(ws, [channels])];
      for (const withWeight of [true, false]) {
        const got = batchNormEvalBackward(g, variance, withWeight ? weight : undefined, 0.01);
        const want = batchNormEvalBackwardRef(host(gs, shape), host(vs, [channels]), withWeight ? host(ws, [channels]) : undefined, 0.01);
        assertClose(await got.toArray(), want.data, GRADIENT, `eval backward [${shape.join(', ')}]`);
        got.dispose();
      }
      for (const t of [g, variance, weight]) t.dispose();
    });
  });
});

describe('batch norm backward argument errors', () => {
  it('names each bad input', () => {
    const e = engine();
    const x = e.tensor(random(2 * 3 * 4, 1), [2, 3, 4]);
    const g = e.tensor(random(2 * 3 * 4, 2), [2, 3, 4]);
    const gWrong = e.tensor(random(2 * 3 * 4, 2), [2, 4, 3]);
    const c3 = e.tensor([1, 1, 1], [3]);
    const c4 = e.tensor([1, 1, 1, 1], [4]);
    const flat = e.tensor([1, 2, 3], [3]);
    const single = e.tensor([1, 2, 3], [1, 3]);
    expect(() => batchNormBackward(gWrong, x, c3, c3, c3, ALL)).toThrow(
      'batchNormBackward: gradOut should have the shape of the input [2, 3, 4], got [2, 4, 3]',
    );
    expect(() => batchNormBackward(g, x, c4, c3, c3, ALL)).toThrow(
      'batchNormBackward: weight should have shape [3] (one value per channel of input [2, 3, 4]), got [4]',
    );
    expect(() => batchNormBackward(g, x, c3, c4, c3, ALL)).toThrow('batchNormBackward: saveMean should have shape [3]');
    expect(() => batchNormBackward(g, x, c3, c3, c4, ALL)).toThrow('batchNormBackward: saveInvStd should have shape [3]');
    expect(() => batchNormBackward(flat, flat, undefined, c3, c3, ALL)).toThrow(
      'batchNormBackward: expected input of rank 2 or 3 or 4 or 5, got shape [3]',
    );
    expect(() => batchNormBackward(single, single, undefined, c3, c3, ALL)).toThrow(
      'batchNormBackward: expected more than 1 value per channel (training mode), got input [1, 3]',
    );
    expect(() => batchNormTrain(x, undefined, undefined, undefined, undefined, { training: false })).toThrow(
      'batchNormTrain: options.training must be true (use batchNorm for evaluation)',
    );
    expect(() => batchNormTrain(x, c4, c3, undefined, undefined)).toThrow('batchNormTrain: runningMean should have shape [3]');
    expect(() => batchNormTrain(single, undefined, undefined, undefined, undefined)).toThrow(
      'batchNormTrain: expected more than 1 value per channel when training, got input [1, 3]',
    );
    expect(() => batchNormEvalBackward(g, c4, undefined)).toThrow(
      'batchNormEvalBackward: runningVar should have shape [3] (one value per channel of input [2, 3, 4]), got [4]',
    );
    expect(() => batchNormEvalBackward(g, c3, c4)).toThrow('batchNormEvalBackward: weight should have shape [3]');
    expect(() => batchNormEvalBackward(g, c3, c3, -1)).toThrow('batchNormEvalBackward: eps must be a finite number >= 0, got -1');
    expect(() => batchNormEvalBackward(flat, c3, c3)).toThrow(
      'batchNormEvalBackward: expected gradOut of rank 2 or 3 or 4 or 5, got shape [3]',
    );
    for (const t of [x, g, gWrong, c3, c4, flat, single]) t.dispose();
  });
});
