import { describe, expect, it } from 'vitest';
import { batchNorm, type BatchNormOptions } from '../src/ops/norm.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { host, type HostTensor } from '../src/reference/host-tensor.js';
import { batchNormRef } from '../src/reference/norm.js';
import { assertClose, random, reduction, useEngine } from './helpers.js';

const engine = useEngine();

interface Case {
  shape: number[];
  options: BatchNormOptions;
  running?: boolean;
  weight?: boolean;
  bias?: boolean;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Runs batchNorm on the GPU and checks the output and the running statistics with the reference. */
async function check(c: Case, seed: number, data = random(size(c.shape), seed, -3, 5)): Promise<void> {
  const e = engine();
  const channels = c.shape[1]!;
  const perChannel = (s: number, lo: number, hi: number) => random(channels, seed + s, lo, hi);
  const inputs = {
    mean: c.running ? perChannel(1, -1, 1) : undefined,
    variance: c.running ? perChannel(2, 0.5, 2) : undefined,
    weight: c.weight ? perChannel(3, 0.5, 1.5) : undefined,
    bias: c.bias ? perChannel(4, -1, 1) : undefined,
  };
  const gpu = (d: Float32Array | undefined): Tensor | undefined => d && e.tensor(d, [channels]);
  const cpu = (d: Float32Array | undefined): HostTensor | undefined => d && host(d, [channels]);
  const x = e.tensor(data, c.shape);
  const [mean, variance, weight, bias] = [inputs.mean, inputs.variance, inputs.weight, inputs.bias].map(gpu);
  const y = batchNorm(x, mean, variance, weight, bias, c.options);
  expect(y.shape).toEqual(c.shape);
  const ref = batchNormRef(host(data, c.shape), cpu(inputs.mean), cpu(inputs.variance), cpu(inputs.weight), cpu(inputs.bias), c.options);
  const count = size(c.shape) / channels;
  const what = `[${c.shape.join(', ')}] ${c.options.training ? 'training' : 'eval'}`;
  assertClose(await y.toArray(), ref.output.data, reduction(count), `${what} output`);
  if (mean && variance) {
    // Updated in place in training, untouched in evaluation.
    assertClose(await mean.toArray(), ref.runningMean!.data, reduction(count), `${what} running mean`);
    assertClose(await variance.toArray(), ref.runningVar!.data, reduction(count), `${what} running var`);
    if (!c.options.training) {
      expect(await mean.toArray()).toEqual(inputs.mean);
      expect(await variance.toArray()).toEqual(inputs.variance);
    }
  }
  for (const t of [x, y, mean, variance, weight, bias]) t?.dispose();
}

describe('batchNorm against the reference', () => {
  const shapes = [
    [3, 5, 7, 9],
    [1, 3, 4, 4], // batch 1 with spatial > 1 is fine in training
    [4, 7], // [N, C]
    [2, 3, 5], // [N, C, L]
    [2, 3, 2, 3, 4], // [N, C, D, H, W]
    [3, 2, 50, 50], // 7500 values per channel: two partial reductions merged; planes of 2500 (the per-plane entry)
  ];
  shapes.forEach((shape, i) => {
    const s = `[${shape.join(', ')}]`;
    it(`${s} training with running stats, weight and bias (momentum 0.1)`, async () => {
      await check({ shape, options: { training: true }, running: true, weight: true, bias: true }, 10 + i);
    });
    it(`${s} training without running stats or affine`, async () => {
      await check({ shape, options: { training: true } }, 20 + i);
    });
    it(`${s} training with momentum 0.3, eps 1e-3 and weight only`, async () => {
      await check({ shape, options: { training: true, momentum: 0.3, eps: 1e-3 }, running: true, weight: true }, 30 + i);
    });
    it(`${s} evaluation with running stats (bias only, then weight and bias)`, async () => {
      await check({ shape, options: { training: false }, running: true, bias: true }, 40 + i);
      await check({ shape, options: { training: false, eps: 0.1 }, running: true, weight: true, bias: true }, 50 + i);
    });
  });

  it('computes the variance stably for a channel with a large mean', async () => {
    const shape = [8, 3, 6, 5];
    const data = random(size(shape), 77, -1, 1);
    const spatial = 30;
    for (let n = 0; n < 8; n++) for (let s = 0; s < spatial; s++) data[(n * 3 + 1) * spatial + s]! += 1000;
    // rtol 1e-4 on the running variance (about 1/3 here): E[x^2] - E[x]^2 in float32 would be off by ~0.1.
    await check({ shape, options: { training: true, momentum: 1 }, running: true, weight: true, bias: true }, 77, data);
  });

  it('updates the running statistics again on every training call', async () => {
    const e = engine();
    const shape = [4, 3, 5];
    const data = random(size(shape), 5, 0, 4);
    const x = e.tensor(data, shape);
    const mean = e.zeros([3]);
    const variance = e.tensor([1, 1, 1], [3]);
    let hostMean = host([0, 0, 0], [3]);
    let hostVar = host([1, 1, 1], [3]);
    for (let step = 0; step < 3; step++) {
      batchNorm(x, mean, variance, undefined, undefined, { training: true, momentum: 0.3 }).dispose();
      const ref = batchNormRef(host(data, shape), hostMean, hostVar, undefined, undefined, { training: true, momentum: 0.3 });
      hostMean = ref.runningMean!;
      hostVar = ref.runningVar!;
    }
    assertClose(await mean.toArray(), hostMean.data, reduction(20), 'running mean after 3 steps');
    assertClose(await variance.toArray(), hostVar.data, reduction(20), 'running var after 3 steps');
    for (const t of [x, mean, variance]) t.dispose();
  });
});

describe('batchNorm argument errors', () => {
  it('names each bad input', () => {
    const e = engine();
    const x = e.tensor(random(2 * 3 * 4, 1), [2, 3, 4]);
    const c3 = e.tensor([1, 1, 1], [3]);
    const v3 = e.tensor([1, 1, 1], [3]);
    const c4 = e.tensor([1, 1, 1, 1], [4]);
    const train = { training: true };
    const flat = e.tensor([1, 2, 3], [3]);
    expect(() => batchNorm(flat, undefined, undefined, undefined, undefined, train)).toThrow(
      'batchNorm: expected input of rank 2 or 3 or 4 or 5, got shape [3]',
    );
    expect(() => batchNorm(x, c4, v3, undefined, undefined, train)).toThrow(
      'batchNorm: runningMean should have shape [3] (one value per channel of input [2, 3, 4]), got [4]',
    );
    expect(() => batchNorm(x, c3, c4, undefined, undefined, train)).toThrow('batchNorm: runningVar should have shape [3]');
    expect(() => batchNorm(x, c3, v3, c4, undefined, train)).toThrow('batchNorm: weight should have shape [3]');
    expect(() => batchNorm(x, c3, v3, undefined, c4, train)).toThrow('batchNorm: bias should have shape [3]');
    expect(() => batchNorm(x, c3, v3, x, undefined, train)).toThrow('batchNorm: weight should have shape [3] (one value per channel of input [2, 3, 4]), got [2, 3, 4]');
    expect(() => batchNorm(x, undefined, undefined, undefined, undefined, { training: false })).toThrow(
      'batchNorm: runningMean and runningVar are required when training is false',
    );
    expect(() => batchNorm(x, c3, undefined, undefined, undefined, train)).toThrow(
      'batchNorm: runningMean and runningVar must be given together (or both omitted)',
    );
    expect(() => batchNorm(x, c3, c3, undefined, undefined, train)).toThrow(
      'batchNorm: runningMean and runningVar must be different tensors (both are updated in place)',
    );
    const single = e.tensor([1, 2, 3], [1, 3]);
    expect(() => batchNorm(single, undefined, undefined, undefined, undefined, train)).toThrow(
      'batchNorm: expected more than 1 value per channel when training, got input [1, 3]',
    );
    const single3d = e.tensor([1, 2, 3], [1, 3, 1]);
    expect(() => batchNorm(single3d, undefined, undefined, undefined, undefined, train)).toThrow(/more than 1 value per channel/);
    // One value per channel, or none, is fine in evaluation.
    batchNorm(single, c3, v3, undefined, undefined, { training: false }).dispose();
    const empty = e.empty([0, 3]);
    expect(batchNorm(empty, c3, v3, undefined, undefined, { training: false }).shape).toEqual([0, 3]);
    expect(() => batchNorm(empty, undefined, undefined, undefined, undefined, train)).toThrow(/more than 1 value per channel when training, got input \[0, 3\]/);
    expect(() => batchNorm(x, c3, v3, undefined, undefined, { training: true, momentum: NaN })).toThrow(
      'batchNorm: momentum must be a finite number, got NaN',
    );
    expect(() => batchNorm(x, c3, v3, undefined, undefined, { training: true, eps: -1 })).toThrow(
      'batchNorm: eps must be a finite number >= 0, got -1',
    );
    for (const t of [x, flat, c3, v3, c4, single, single3d, empty]) t.dispose();
  });
});
