import { describe, expect, it, vi } from 'vitest';
import { Tape } from '../src/autograd/tape.js';
import { constant, type Variable } from '../src/autograd/variable.js';
import { Conv2d } from '../src/nn/conv.js';
import { Rng } from '../src/nn/init.js';
import { Dropout, Flatten, MaxPool2d, ReLU } from '../src/nn/layers.js';
import { Linear } from '../src/nn/linear.js';
import { fashionCnn, fashionDnn } from '../src/nn/models/fashion.js';
import { BatchNorm1d, BatchNorm2d } from '../src/nn/norm.js';
import { Sequential } from '../src/nn/sequential.js';
import { Adam } from '../src/optim/adam.js';
import { conv2dRef } from '../src/reference/conv.js';
import { linearRef } from '../src/reference/gemm.js';
import { host } from '../src/reference/host-tensor.js';
import { assertClose, random, reduction, useEngine } from './helpers.js';

const engine = useEngine();

const CNN_PARAMETERS: Array<[string, number[]]> = [
  ['layer1.0.weight', [32, 1, 3, 3]],
  ['layer1.0.bias', [32]],
  ['layer1.1.weight', [32]],
  ['layer1.1.bias', [32]],
  ['layer2.0.weight', [64, 32, 3, 3]],
  ['layer2.0.bias', [64]],
  ['layer2.1.weight', [64]],
  ['layer2.1.bias', [64]],
  ['fc1.weight', [600, 2304]],
  ['fc1.bias', [600]],
  ['fc2.weight', [120, 600]],
  ['fc2.bias', [120]],
  ['fc3.weight', [10, 120]],
  ['fc3.bias', [10]],
];

/** Runs a module forward on a tape that records nothing and returns the output values. */
async function run(m: { forward(t: Tape, x: Variable): Variable }, x: Variable): Promise<Float32Array> {
  const tape = new Tape(engine(), { grad: false });
  try {
    return await m.forward(tape, x).value.toArray();
  } finally {
    tape.dispose();
  }
}

const images = (n: number, seed: number) => constant(engine().tensor(random(n * 784, seed, 0, 1), [n, 1, 28, 28]));

describe('models', () => {
  it('the CNN has PyTorch names and shapes, and its running statistics as buffers', () => {
    const model = fashionCnn(engine(), { seed: 1 });
    expect(model.namedParameters().map(([n, v]) => [n, v.shape])).toEqual(CNN_PARAMETERS);
    expect(model.namedBuffers().map(([n, t]) => [n, t.shape])).toEqual([
      ['layer1.1.running_mean', [32]],
      ['layer1.1.running_var', [32]],
      ['layer2.1.running_mean', [64]],
      ['layer2.1.running_var', [64]],
    ]);
    expect(model.parameters().reduce((n, p) => n + p.value.size, 0)).toBe(1_475_338);
    expect([...model.stateDict().keys()]).toHaveLength(18);
    model.dispose();
  });

  it('the DNN has fc1, fc2, fc3', () => {
    const model = fashionDnn(engine(), { seed: 1 });
    expect(model.namedParameters().map(([n, v]) => [n, v.shape])).toEqual([
      ['fc1.weight', [256, 784]],
      ['fc1.bias', [256]],
      ['fc2.weight', [128, 256]],
      ['fc2.bias', [128]],
      ['fc3.weight', [10, 128]],
      ['fc3.bias', [10]],
    ]);
    expect(model.parameters().reduce((n, p) => n + p.value.size, 0)).toBe(235_146);
    model.dispose();
  });

  it('both map [N, 1, 28, 28] to logits [N, 10], deterministically from the seed', async () => {
    const x = images(3, 2);
    for (const make of [fashionCnn, fashionDnn]) {
      const [a, b, c] = [make(engine(), { seed: 5 }), make(engine(), { seed: 5 }), make(engine(), { seed: 6 })];
      for (const m of [a, b, c]) m.eval();
      const [ya, yb, yc] = [await run(a, x), await run(b, x), await run(c, x)];
      expect(ya).toHaveLength(30);
      expect(yb).toEqual(ya);
      expect(yc).not.toEqual(ya);
      for (const m of [a, b, c]) m.dispose();
    }
    x.dispose();
  });
});

describe('initialisation', () => {
  it("follows PyTorch's defaults: kaiming_uniform(a = sqrt 5) weights, uniform(1 / sqrt fan_in) biases", async () => {
    const e = engine();
    const rng = new Rng(3);
    const conv = new Conv2d(e, 6, 8, [3, 5], { groups: 2, rng });
    const fan = 3 * 3 * 5;
    for (const p of [conv.weight, conv.bias!]) {
      const v = await p.value.toArray();
      const bound = 1 / Math.sqrt(fan);
      expect(Math.max(...v.map(Math.abs))).toBeLessThanOrEqual(bound);
      // Uniform on [-b, b] has mean 0 and variance b^2 / 3 (a loose check: 360 and 8 samples).
      if (v.length > 100) {
        const mean = v.reduce((a, b) => a + b, 0) / v.length;
        const variance = v.reduce((a, b) => a + b * b, 0) / v.length;
        expect(Math.abs(mean)).toBeLessThan(0.2 * bound);
        expect(variance).toBeGreaterThan(0.7 * (bound * bound) / 3);
        expect(variance).toBeLessThan(1.3 * (bound * bound) / 3);
      }
    }
    const bn = new BatchNorm2d(e, 3);
    expect(Array.from(await bn.weight!.value.toArray())).toEqual([1, 1, 1]);
    expect(Array.from(await bn.bias!.value.toArray())).toEqual([0, 0, 0]);
    expect(Array.from(await bn.runningVar!.toArray())).toEqual([1, 1, 1]);
    conv.dispose();
    bn.dispose();
  });

  it('the generator is reproducible and uniform', () => {
    const a = new Rng(42).uniform(1000, 0, 1);
    expect(new Rng(42).uniform(1000, 0, 1)).toEqual(a);
    expect(new Rng(43).uniform(1000, 0, 1)).not.toEqual(a);
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...a)).toBeLessThan(1);
  });
});

describe('layers against the references', () => {
  it('Linear and Conv2d forward', async () => {
    const e = engine();
    const rng = new Rng(7);
    const lin = new Linear(e, 7, 5, { rng });
    const xl = random(3 * 7, 8);
    const gotL = await run(lin, constant(e.tensor(xl, [3, 7])));
    const wl = host(await lin.weight.value.toArray(), [5, 7]);
    const bl = host(await lin.bias!.value.toArray(), [5]);
    assertClose(gotL, linearRef(host(xl, [3, 7]), wl, bl).data, reduction(7), 'Linear');
    const conv = new Conv2d(e, 3, 5, [3, 2], { stride: [2, 1], padding: 1, bias: false, rng });
    expect(conv.bias).toBeUndefined();
    const xc = random(2 * 3 * 7 * 6, 9);
    const gotC = await run(conv, constant(e.tensor(xc, [2, 3, 7, 6])));
    const wc = host(await conv.weight.value.toArray(), [5, 3, 3, 2]);
    assertClose(gotC, conv2dRef(host(xc, [2, 3, 7, 6]), wc, undefined, { stride: [2, 1], padding: 1 }).data, reduction(18), 'Conv2d');
    lin.dispose();
    conv.dispose();
  });

  it('BatchNorm updates its running statistics in training mode only', async () => {
    const e = engine();
    const bn = new BatchNorm1d(e, 4, { momentum: 0.5 });
    const data = random(5 * 4, 10, 1, 3);
    const x = constant(e.tensor(data, [5, 4]));
    await run(bn, x);
    const mean = await bn.runningMean!.toArray();
    const batchMean = [0, 1, 2, 3].map((c) => [0, 1, 2, 3, 4].reduce((s, n) => s + data[n * 4 + c]!, 0) / 5);
    assertClose(mean, batchMean.map((m) => 0.5 * m), reduction(5), 'running mean');
    bn.eval();
    await run(bn, x);
    expect(await bn.runningMean!.toArray()).toEqual(mean);
    const tape = new Tape(e);
    expect(() => new BatchNorm2d(e, 4).forward(tape, x)).toThrow('BatchNorm2d: expected 4D input (got 2D input)');
    tape.dispose();
    bn.dispose();
    x.dispose();
  });

  it('Dropout draws a new mask per training call and is the identity in evaluation', async () => {
    const e = engine();
    const drop = new Dropout(0.5, { seed: 11 });
    const x = constant(e.tensor(new Float32Array(256).fill(1), [256]));
    const [a, b] = [await run(drop, x), await run(drop, x)];
    expect(a).not.toEqual(b);
    expect(new Set(a)).toEqual(new Set([0, 2]));
    drop.eval();
    const tape = new Tape(e);
    expect(drop.forward(tape, x)).toBe(x);
    tape.dispose();
    x.dispose();
  });

  it('Sequential names its children 0, 1, … and runs them in order', async () => {
    const e = engine();
    const seq = new Sequential(new Flatten(), new Linear(e, 12, 3, { rng: new Rng(1) }), new ReLU());
    expect(seq.namedParameters().map(([n]) => n)).toEqual(['1.weight', '1.bias']);
    const named = Sequential.named([['pool', new MaxPool2d(2)], ['flat', new Flatten()]]);
    expect(named.namedModules().map(([n]) => n)).toEqual(['', 'pool', 'flat']);
    const y = await run(seq, constant(e.tensor(random(24, 12), [2, 3, 2, 2])));
    expect(y).toHaveLength(6);
    expect(Math.min(...y)).toBeGreaterThanOrEqual(0);
    seq.dispose();
  });
});

describe('state dicts, modes and freezing', () => {
  it('loadStateDict copies weights and running statistics: two models then agree', async () => {
    const [a, b] = [fashionCnn(engine(), { seed: 1 }), fashionCnn(engine(), { seed: 2 })];
    const x = images(2, 13);
    a.train();
    await run(a, x); // moves a's running statistics away from their initial values
    const result = b.loadStateDict(a.stateDict());
    expect(result).toEqual({ missingKeys: [], unexpectedKeys: [] });
    a.eval();
    b.eval();
    expect(await run(b, x)).toEqual(await run(a, x));
    for (const m of [a, b]) m.dispose();
    x.dispose();
  });

  it('strict loading reports missing, unexpected and mis-sized keys as PyTorch does', () => {
    const e = engine();
    const model = fashionDnn(e);
    const state = model.stateDict();
    const wrong = e.zeros([3]);
    const extra = new Map(state);
    extra.delete('fc3.bias');
    extra.set('fc4.weight', wrong);
    expect(() => model.loadStateDict(extra)).toThrow(
      'Error(s) in loading state_dict for FashionDNN:\n\tMissing key(s) in state_dict: "fc3.bias".\n\tUnexpected key(s) in state_dict: "fc4.weight".',
    );
    expect(model.loadStateDict(extra, { strict: false })).toEqual({ missingKeys: ['fc3.bias'], unexpectedKeys: ['fc4.weight'] });
    const mis = new Map(state);
    mis.set('fc1.bias', wrong);
    expect(() => model.loadStateDict(mis, { strict: false })).toThrow(
      'size mismatch for fc1.bias: copying a param with shape [3] from checkpoint, the shape in current model is [256].',
    );
    // PyTorch's num_batches_tracked is accepted (and ignored) by batch norm.
    const cnn = fashionCnn(e);
    const torchStyle = new Map(cnn.stateDict());
    torchStyle.set('layer1.1.num_batches_tracked', wrong);
    expect(cnn.loadStateDict(torchStyle)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    wrong.dispose();
    model.dispose();
    cnn.dispose();
  });

  it('train() and eval() reach every descendant; requiresGrad(false) freezes every parameter', () => {
    const model = fashionCnn(engine());
    model.eval();
    expect(model.namedModules().every(([, m]) => !m.training)).toBe(true);
    model.train();
    expect(model.namedModules().every(([, m]) => m.training)).toBe(true);
    model.layer1.requiresGrad(false);
    expect(model.namedParameters().filter(([, p]) => !p.requiresGrad).map(([n]) => n)).toEqual([
      'layer1.0.weight',
      'layer1.0.bias',
      'layer1.1.weight',
      'layer1.1.bias',
    ]);
    model.dispose();
  });
});

describe('training the CNN end to end', () => {
  it('loss decreases over 20 Adam steps on a fixed batch of 4', async () => {
    const e = engine();
    const model = fashionCnn(e, { seed: 3 });
    const opt = new Adam(model.parameters(), { lr: 1e-3 });
    const x = images(4, 14);
    const target = e.tensor(Int32Array.of(0, 3, 7, 9), [4]);
    const losses: number[] = [];
    for (let step = 0; step < 20; step++) {
      const tape = new Tape(e);
      const loss = tape.crossEntropy(model.forward(tape, x), target);
      opt.zeroGrad();
      tape.backward(loss);
      opt.step();
      if (step === 0 || step === 19) losses.push((await loss.value.toArray())[0]!);
      tape.dispose();
    }
    expect(losses[1]).toBeLessThan(0.5 * losses[0]!);
    for (const p of model.parameters()) expect(p.grad?.shape).toEqual(p.shape);
    opt.dispose();
    model.dispose();
    x.dispose();
    target.dispose();
  });

  it('one training step is one submission, and memory stops growing after the first step', async () => {
    const e = engine();
    const model = fashionCnn(e, { seed: 4 });
    const opt = new Adam(model.parameters());
    const target = e.tensor(Int32Array.of(1, 2, 3, 4), [4]);
    const step = (x: Variable) => {
      const tape = new Tape(e);
      const loss = tape.crossEntropy(model.forward(tape, x), target);
      opt.zeroGrad();
      tape.backward(loss);
      opt.step();
      return { tape, loss };
    };
    const x = images(4, 15);
    step(x).tape.dispose();
    await e.flush();
    const after1 = e.stats();
    const flush = vi.spyOn(e, 'flush');
    const { tape, loss } = step(x);
    expect(flush).not.toHaveBeenCalled(); // forward, backward and the update only record
    expect(e.pending).toBeGreaterThan(40);
    const value = (await loss.value.toArray())[0]!; // the one submission, when the loss is asked for
    expect(flush).toHaveBeenCalledTimes(1);
    expect(e.pending).toBe(0);
    expect(Number.isFinite(value)).toBe(true);
    tape.dispose();
    flush.mockRestore();
    for (let k = 0; k < 3; k++) step(x).tape.dispose();
    await e.flush();
    expect(e.stats().bytesAllocated).toBe(after1.bytesAllocated);
    expect(e.stats().bytesInUse).toBe(after1.bytesInUse);
    opt.dispose();
    model.dispose();
    x.dispose();
    target.dispose();
  });

  it('a frozen feature extractor gets no gradients and no backward kernels', async () => {
    const e = engine();
    const model = fashionCnn(e, { seed: 5 });
    model.layer1.requiresGrad(false);
    model.layer2.requiresGrad(false);
    const names: string[] = [];
    const original = e.dispatch.bind(e);
    const spy = vi.spyOn(e, 'dispatch').mockImplementation((spec, ...rest) => {
      names.push(spec.name);
      original(spec, ...rest);
    });
    const x = images(2, 16);
    const target = e.tensor(Int32Array.of(1, 2), [2]);
    const tape = new Tape(e);
    const loss = tape.crossEntropy(model.forward(tape, x), target);
    const forwardKernels = names.length;
    tape.backward(loss);
    spy.mockRestore();
    for (const [name, p] of model.namedParameters()) {
      if (name.startsWith('layer')) expect(p.grad, name).toBeUndefined();
      else expect(p.grad?.shape, name).toEqual(p.shape);
    }
    // Backward runs the three linear layers (fc1 without an input gradient: nothing upstream wants
    // one, and the weight gradients transpose gradOut first), the bias sums and the dropout mask,
    // and nothing of the convolutional part.
    const backward = names.slice(forwardKernels);
    expect(backward.filter((n) => n === 'linearBackward')).toHaveLength(5);
    const linearPart = ['linearBackward', 'transposeAxes', 'reduce.columns', 'dropout.mask', 'mul'];
    expect(backward.filter((n) => !linearPart.includes(n))).toEqual([]);
    // The frozen layers' forward pass saved nothing for backward (no max-pool indices).
    expect(names).not.toContain('pool.max_pool_indices');
    await e.flush();
    tape.dispose();
    model.dispose();
    x.dispose();
    target.dispose();
  });
});
