// Transfer learning with ResNet18: the modes and their errors; two SGD-with-momentum steps per
// mode against PyTorch (kernels-test/fixtures/transfer/, written by
// scripts/golden/make_transfer_fixtures.py): updated weights, momentum buffers, running statistics
// and losses; every frozen tensor bit-identical after training; and the backward pass really
// skipping the frozen backbone (the kernels that run, and what they write).
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { Tape } from '../src/autograd/tape.js';
import { constant } from '../src/autograd/variable.js';
import { resnet18Module, type ResNet18Module } from '../src/nn/models/resnet18-module.js';
import { seededImages, seededResNet18Weights, type SeededTensor } from '../src/nn/models/seeded-weights.js';
import { freezeForTransfer, prepareTransfer, trainableParameters, type TransferOptions } from '../src/nn/transfer.js';
import { SGD } from '../src/optim/sgd.js';
import type { Engine } from '../src/runtime/engine.js';
import type { KernelSpec } from '../src/runtime/kernel.js';
import { Tensor } from '../src/runtime/tensor.js';
import { useEngine } from './helpers.js';

const engine = useEngine();

interface Summary {
  n: number;
  idx: number[];
  values: number[];
  sum: number;
  sumAbs: number;
  sumSq: number;
}

interface StepCase {
  name: string;
  losses: number[];
  params: Record<string, { delta: Summary; momentum: Summary }>;
  buffers: Record<string, Summary>;
  frozen: string[];
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/transfer/transfer-steps.json', import.meta.url), 'utf8')) as {
  weightSeed: number;
  numClasses: number;
  shape: [number, number, number, number];
  batches: Array<{ imageSeed: number; labels: number[] }>;
  sgd: { lr: number; momentum: number; weightDecay: number };
  cases: StepCase[];
};

const MODES: Record<string, Omit<TransferOptions, 'numClasses'>> = {
  'fine-tune-all': { mode: 'fine-tune', unfreeze: 'all' },
  'fine-tune-layer4': { mode: 'fine-tune', unfreeze: 'layer4' },
  'feature-extraction': { mode: 'feature-extraction' },
};

/**
 * Tolerances against PyTorch's float64 run, relative to each tensor's RMS (a summary's scale):
 * a value matches when |ours - torch| <= RTOL * |torch| + ATOL * rms. The quantities compared
 * are gradients (momentum buffers, and the weight changes lr * (buffers)) through a 20-layer
 * network with batch statistics, in float32: errors of a few 1e-5 of the RMS are rounding.
 * Sums: RTOL * sum |torch| + ATOL * rms * sqrt(n); sums of squares: 2 RTOL * sum torch^2 +
 * 2 ATOL * rms * sum |torch| (what the per-value bound implies).
 */
const RTOL = 1e-4;
const ATOL = 1e-4;
/** Losses are O(1) values at the end of the forward pass. */
const LOSS_TOL = 2e-5;

/**
 * A binding limit under which the fine-tuning step splits: the stem's output (590 KB) and what
 * reads it (batch norm, ReLU, the max pool and their gradients) by images; the weights of layer2
 * to layer4 (590 KB to 9.4 MB) in the convolutions, their weight and input gradients, and SGD's
 * updates of them and their momentum, by output channels or elements. (128 KiB splits one image
 * by channels too; it takes twice as long and the op conformance test covers those splits.)
 */
const SPLIT_LIMIT = 512 * 1024;
const small = useEngine({ maxStorageBufferBindingSize: SPLIT_LIMIT });

const shared = new Map<Engine, { model: ResNet18Module; weights: Map<string, SeededTensor> }>();

/** One model per engine for the whole file (weights reloaded per test): building ResNet18 costs seconds on lavapipe. */
function model(e = engine()): { model: ResNet18Module; weights: Map<string, SeededTensor> } {
  let m = shared.get(e);
  if (!m) {
    m = { model: resnet18Module(e, { numClasses: fixture.numClasses, init: false }), weights: seededResNet18Weights(fixture.weightSeed, { numClasses: fixture.numClasses }) };
    shared.set(e, m);
  }
  return m;
}

/** Prepares the shared model for a mode with the fixture's seeded weights (the new fc included). */
function prepared(options: Omit<TransferOptions, 'numClasses'>, e = engine()): ResNet18Module {
  const { model: m, weights } = model(e);
  prepareTransfer(m, { ...options, numClasses: fixture.numClasses });
  m.loadWeights(weights);
  m.train();
  return m;
}

/** 2 ulp of each float32 value (the spacing of float32 numbers at its size), from its exponent bits. */
function twoUlps(values: Float32Array): Float64Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const byExponent = Float64Array.from({ length: 256 }, (_, e) => 2 ** (Math.max(e, 1) - 149));
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = byExponent[(bits[i]! >>> 23) & 0xff]!;
  return out;
}

/**
 * Worst error of `actual` against a summary, as a fraction of the allowed error (<= 1 passes), and
 * as |diff| / rms. `quantum[i]`, when given, is added to value i's allowance: a weight change
 * read as (float32 weight after) - (weight before) carries the roundings of the stored weight
 * (PyTorch's reference change is exact): half an ulp per step's update, so an ulp for two steps,
 * doubled for a weight whose ulp changed on the way (crossing a power of two); for batch-norm
 * weights near 1 an ulp is 1.2e-7 against changes of 1e-5. Summed, those roundings are
 * independent: 4 sigma of their sum.
 */
function checkSummary(actual: ArrayLike<number>, s: Summary, what: string, quantum?: ArrayLike<number>): { ratio: number; relative: number } {
  expect(actual.length, `${what}: size`).toBe(s.n);
  const rms = Math.sqrt(s.sumSq / s.n);
  let sum = 0;
  let sumAbs = 0;
  let sumSq = 0;
  for (let i = 0; i < actual.length; i++) {
    const v = actual[i]!;
    sum += v;
    sumAbs += Math.abs(v);
    sumSq += v * v;
  }
  // Variances of the roundings in the sums (each within +-ulp = +-quantum / 2: variance quantum^2 / 12).
  let [roundSum, roundSq] = [0, 0];
  for (let i = 0; quantum && i < actual.length; i++) {
    roundSum += quantum[i]! ** 2 / 12;
    roundSq += (2 * actual[i]! * quantum[i]!) ** 2 / 12;
  }
  const q = (i: number) => (quantum ? quantum[i]! : 0);
  const checks: Array<[string, number, number, number]> = s.idx.map((i, k) => [`[${i}]`, actual[i]!, s.values[k]!, RTOL * Math.abs(s.values[k]!) + ATOL * rms + q(i)]);
  checks.push(['sum', sum, s.sum, RTOL * s.sumAbs + ATOL * rms * Math.sqrt(s.n) + 4 * Math.sqrt(roundSum)]);
  checks.push(['sum |x|', sumAbs, s.sumAbs, RTOL * s.sumAbs + ATOL * rms * Math.sqrt(s.n) + 4 * Math.sqrt(roundSum)]);
  checks.push(['sum x^2', sumSq, s.sumSq, 2 * RTOL * s.sumSq + 2 * ATOL * rms * s.sumAbs + 4 * Math.sqrt(roundSq)]);
  let ratio = 0;
  let relative = 0;
  for (const [where, got, want, allowed] of checks) {
    const err = Math.abs(got - want);
    if (!(err <= allowed)) throw new Error(`${what} ${where}: got ${got}, PyTorch ${want} (|diff| ${err.toExponential(2)}, allowed ${allowed.toExponential(2)})`);
    ratio = Math.max(ratio, err / allowed);
    if (where.startsWith('[')) relative = Math.max(relative, err / rms);
  }
  return { ratio, relative };
}

const sameBits = (a: Float32Array, b: Float32Array) => a.length === b.length && new Uint32Array(a.buffer, a.byteOffset, a.length).every((v, i) => v === new Uint32Array(b.buffer, b.byteOffset, b.length)[i]);

describe('prepareTransfer', () => {
  it('replaces fc, freezes what the mode says, and keeps frozen batch norms on running statistics', () => {
    const m = model().model;
    const fe = prepareTransfer(m, { mode: 'feature-extraction', numClasses: 3, seed: 2 });
    expect(m.fc.weight.shape).toEqual([3, 512]);
    expect(fe).toMatchObject({ mode: 'feature-extraction', unfreeze: 'fc', trainableStages: ['fc'], trainable: ['fc.weight', 'fc.bias'] });
    expect(fe.frozen).toHaveLength(60);
    expect(trainableParameters(m).map((p) => p.name)).toEqual(['weight', 'bias']);
    m.train();
    expect(m.layer3.namedModules().every(([, sub]) => sub.training)).toBe(true); // train() reaches them...
    expect(m.bn1.usesRunningStats).toBe(true); // ...but frozen batch norms stay on their running statistics
    const ft = prepareTransfer(m, { mode: 'fine-tune', unfreeze: 'layer3+', numClasses: fixture.numClasses });
    expect(ft.trainableStages).toEqual(['layer3', 'layer4', 'fc']);
    expect(ft.trainable.every((n) => /^(layer3|layer4|fc)\./.test(n))).toBe(true);
    expect(ft.trainable).toHaveLength(32);
    expect(m.layer2.namedModules().some(([, sub]) => 'pinned' in sub && sub.pinned)).toBe(true);
    expect(m.layer3.namedModules().some(([, sub]) => 'pinned' in sub && sub.pinned)).toBe(false);
    expect(prepareTransfer(m, { mode: 'fine-tune', numClasses: fixture.numClasses }).unfreeze).toBe('all');
    expect(m.bn1.usesRunningStats).toBe(false);
    // Resuming: freezing again without touching fc.
    const fc = m.fc;
    expect(freezeForTransfer(m, 'fine-tune', 'layer4').trainableStages).toEqual(['layer4', 'fc']);
    expect(m.fc).toBe(fc);
  });

  it('refuses bad choices', () => {
    const m = model().model;
    expect(() => prepareTransfer(m, { mode: 'feature-extraction', unfreeze: 'layer4', numClasses: 2 })).toThrow(
      "prepareTransfer: feature extraction trains only the new fc (unfreeze 'fc'), got unfreeze 'layer4'; use mode 'fine-tune' to train backbone stages",
    );
    expect(() => prepareTransfer(m, { mode: 'finetune' as 'fine-tune', numClasses: 2 })).toThrow(
      `prepareTransfer: mode must be one of 'feature-extraction', 'fine-tune', got "finetune"`,
    );
    expect(() => prepareTransfer(m, { mode: 'fine-tune', unfreeze: 'layer2' as 'layer4', numClasses: 2 })).toThrow(
      `prepareTransfer: unfreeze must be one of 'fc', 'layer4', 'layer3+', 'all', got "layer2"`,
    );
    expect(() => prepareTransfer(m, { mode: 'fine-tune', numClasses: 1.5 })).toThrow('prepareTransfer: numClasses must be a positive integer, got 1.5');
  });
});

/**
 * Two SGD steps of a mode on engine `e` checked against the PyTorch fixture: losses, weight
 * changes, momentum buffers, running statistics, frozen tensors bit-identical.
 */
async function stepsAgainstTorch(c: StepCase, e: Engine): Promise<void> {
  const m = prepared(MODES[c.name]!, e);
  const { weights } = model(e);
  const params = trainableParameters(m);
  const names = m.namedParameters().filter(([, p]) => p.requiresGrad).map(([n]) => n);
  expect(names).toEqual(Object.keys(c.params));
  const { lr, momentum, weightDecay } = fixture.sgd;
  const optimizer = new SGD(params, { lr, momentum, weightDecay });
  const shape = fixture.shape;
  const losses: number[] = [];
  for (const { imageSeed, labels } of fixture.batches) {
    const x = constant(e.tensor(seededImages(imageSeed, shape), shape));
    const target = e.tensor(Int32Array.from(labels), [labels.length]);
    const tape = new Tape(e);
    const loss = tape.crossEntropy(m.forward(tape, x), target);
    optimizer.zeroGrad();
    tape.backward(loss);
    optimizer.step();
    losses.push((await loss.value.toArray())[0]!);
    tape.dispose();
    x.dispose();
    target.dispose();
  }
  c.losses.forEach((want, k) => expect(Math.abs(losses[k]! - want), `loss of step ${k + 1}: ${losses[k]} vs ${want}`).toBeLessThanOrEqual(LOSS_TOL));

  const state = m.stateDict();
  const optimizerState = optimizer.stateDict().state;
  const worst = { delta: { ratio: 0, relative: 0 }, momentum: { ratio: 0, relative: 0 }, buffers: { ratio: 0, relative: 0 } };
  const note = (kind: keyof typeof worst, r: { ratio: number; relative: number }) => {
    worst[kind].ratio = Math.max(worst[kind].ratio, r.ratio);
    worst[kind].relative = Math.max(worst[kind].relative, r.relative);
  };
  for (const [i, name] of names.entries()) {
    const after = await state.get(name)!.toArray();
    const before = weights.get(name)!.data;
    const delta = new Float64Array(after.length);
    for (let k = 0; k < after.length; k++) delta[k] = after[k]! - before[k]!;
    note('delta', checkSummary(delta, c.params[name]!.delta, `${name} (change)`, twoUlps(after)));
    const buffer = optimizerState[`state.${i}.momentum_buffer`] as Tensor;
    note('momentum', checkSummary(await buffer.toArray(), c.params[name]!.momentum, `${name} (momentum buffer)`));
  }
  for (const [name, s] of Object.entries(c.buffers)) note('buffers', checkSummary(await state.get(name)!.toArray(), s, name));
  // Everything PyTorch left unchanged is bit-for-bit what was loaded.
  expect(c.frozen.length + names.length + Object.keys(c.buffers).length).toBe(state.size);
  for (const name of c.frozen) expect(sameBits(await state.get(name)!.toArray(), weights.get(name)!.data), `${name} is unchanged`).toBe(true);
  console.log(
    `${c.name}${e.maxBindingBytes === SPLIT_LIMIT ? ` (split under ${SPLIT_LIMIT} bytes)` : ''}: losses ${losses.map((l, k) => `${l.toFixed(6)} (torch ${c.losses[k]!.toFixed(6)})`).join(', ')}; worst |diff| / rms: ` +
      `weight change ${worst.delta.relative.toExponential(1)}, momentum ${worst.momentum.relative.toExponential(1)}, ` +
      `running stats ${worst.buffers.relative.toExponential(1)}; worst error / allowed ${Object.entries(worst).map(([k, w]) => `${k} ${w.ratio.toFixed(2)}`).join(', ')}; ` +
      `${c.frozen.length} frozen tensors bit-identical`,
  );
  optimizer.dispose();
}

describe('two SGD steps against PyTorch', () => {
  for (const c of fixture.cases) {
    it(`${c.name}: losses, weight updates, momentum buffers and running statistics; frozen tensors bit-identical`, async () => {
      await stepsAgainstTorch(c, engine());
    });
  }

  it(`fine-tune-all split under a ${SPLIT_LIMIT / 1024} KiB binding limit: the same step, the same checks`, async () => {
    const e = small();
    // Views bound at an offset show the chunker at work (activations, weights and optimiser state split).
    let views = 0;
    const original = e.dispatch.bind(e);
    const spy = vi.spyOn(e, 'dispatch').mockImplementation((spec: KernelSpec, buffers, ...rest) => {
      if (buffers.some((b) => b instanceof Tensor && b.offset > 0)) views++;
      original(spec, buffers, ...rest);
    });
    try {
      await stepsAgainstTorch(fixture.cases.find((c) => c.name === 'fine-tune-all')!, e);
    } finally {
      spy.mockRestore();
    }
    expect(views).toBeGreaterThan(1000);
  });
});

describe('freezing skips the backbone', () => {
  /** One step at 32x32, batch 2; the kernels it dispatches, split into forward and backward, with the shapes each writes. */
  async function stepKernels(m: ResNet18Module) {
    const e = engine();
    const calls: Array<{ name: string; writes: number[][] }> = [];
    const original = e.dispatch.bind(e);
    const spy = vi.spyOn(e, 'dispatch').mockImplementation((spec: KernelSpec, buffers, ...rest) => {
      const kinds = spec.bindings.filter((b) => b !== 'uniform');
      const writes = buffers.flatMap((b, i) => (kinds[i] === 'write' && b instanceof Tensor ? [[...b.shape]] : []));
      calls.push({ name: spec.name, writes });
      original(spec, buffers, ...rest);
    });
    const x = constant(e.tensor(seededImages(9, [2, 3, 32, 32]), [2, 3, 32, 32]));
    const target = e.tensor(Int32Array.of(1, 4), [2]);
    const tape = new Tape(e);
    try {
      const loss = tape.crossEntropy(m.forward(tape, x), target);
      const forward = calls.splice(0);
      const recorded = tape.recordedOps;
      tape.backward(loss);
      const backward = calls.splice(0);
      await e.flush();
      return { forward, backward, recorded };
    } finally {
      spy.mockRestore();
      tape.dispose();
      x.dispose();
      target.dispose();
    }
  }

  it('feature extraction: no backward kernel touches the backbone, and its forward saves nothing', async () => {
    const m = prepared(MODES['feature-extraction']!);
    const { forward, backward, recorded } = await stepKernels(m);
    expect(recorded).toBe(2); // fc and the loss
    expect(backward.map((c) => c.name).filter((n) => !['linearBackward', 'reduce.columns', 'transposeAxes'].includes(n))).toEqual([]);
    expect(backward.some((c) => c.writes.some((s) => s.length === 4))).toBe(false); // no image-shaped gradient at all
    // Forward: every batch norm folded into its convolution (once, kept for the next steps), the
    // residual adds and ReLUs in the convolutions' epilogues, no pooling indices kept.
    expect(forward.filter((c) => c.name.startsWith('batch_norm') || c.name === 'pool.max_pool_indices')).toEqual([]);
    const tally: Record<string, number> = {};
    for (const { name } of forward) tally[name] = (tally[name] ?? 0) + 1;
    expect(tally).toEqual({
      fold_batch_norm: 20,
      'gemm.pad': 1,
      im2col: 20,
      conv2d: 20,
      'pool.max_pool': 1,
      'pool.global_avg_pool': 1,
      linear: 1,
      'cross_entropy.weight_sum': 1,
      'cross_entropy.rows_grad': 1,
      'cross_entropy.reduce': 1,
    });
    expect((await stepKernels(m)).forward.filter((c) => c.name === 'fold_batch_norm')).toEqual([]);
    for (const [name, p] of m.namedParameters()) expect(p.grad === undefined, name).toBe(!name.startsWith('fc.'));
  });

  it('fine-tuning layer4: no backward kernel below layer4, and no input gradient into it', async () => {
    const m = prepared(MODES['fine-tune-layer4']!);
    const { forward, backward } = await stepKernels(m);
    // At 32x32, layer3's output (layer4's input) is [2, 256, 2, 2]. Of activation-shaped tensors
    // ([batch, ...]), backward writes layer4's own gradients (512 channels) and nothing of a stage
    // below it (all of which have fewer channels): no gradient of layer3's output, which only
    // layer4's input gradient would produce.
    const imageShaped = backward.flatMap((c) => c.writes.filter((s) => s.length === 4 && s[0] === 2).map((s) => `${c.name} [${s.join(', ')}]`));
    expect(imageShaped.some((w) => w.endsWith('[2, 512, 1, 1]'))).toBe(true);
    expect(imageShaped.filter((w) => !w.endsWith('[2, 512, 1, 1]'))).toEqual([]);
    expect(backward.map((c) => c.name).filter((n) => n.startsWith('pool.') && n !== 'pool.global_avg_pool_backward')).toEqual([]);
    // Forward: the frozen stages ran folded (only layer4's 5 batch norms in training mode).
    expect(forward.filter((c) => c.name === 'pool.max_pool_indices')).toEqual([]);
    expect(forward.filter((c) => c.name === 'batch_norm.normalize')).toHaveLength(5);
    for (const [name, p] of m.namedParameters()) expect(p.grad === undefined, name).toBe(!/^(layer4|fc)\./.test(name));
  });

  it('a frozen step allocates nothing new after the first, folded weights included', async () => {
    const e = engine();
    const m = prepared(MODES['feature-extraction']!);
    const optimizer = new SGD(trainableParameters(m), { lr: 0.01, momentum: 0.9 });
    const x = constant(e.tensor(seededImages(10, [2, 3, 32, 32]), [2, 3, 32, 32]));
    const target = e.tensor(Int32Array.of(0, 2), [2]);
    const step = async () => {
      const tape = new Tape(e);
      const loss = tape.crossEntropy(m.forward(tape, x), target);
      optimizer.zeroGrad();
      tape.backward(loss);
      optimizer.step();
      await loss.value.toArray();
      tape.dispose();
    };
    await step();
    const after1 = e.stats();
    for (let k = 0; k < 2; k++) await step();
    expect(e.stats().bytesInUse).toBe(after1.bytesInUse);
    expect(e.stats().bytesAllocated).toBe(after1.bytesAllocated);
    optimizer.dispose();
    x.dispose();
    target.dispose();
    for (const m of shared.values()) m.model.dispose();
    shared.clear();
  });
});
