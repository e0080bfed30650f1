import { describe, expect, it } from 'vitest';
import { parameter, type Variable } from '../src/autograd/variable.js';
import { Adam, AdamW, type AdamOptions } from '../src/optim/adam.js';
import type { OptimizerState } from '../src/optim/optimizer.js';
import { scheduledLr } from '../src/optim/schedule.js';
import { SGD, type SGDOptions } from '../src/optim/sgd.js';
import { adamStateRef, adamStepRef, sgdStepRef } from '../src/reference/optim.js';
import { assertClose, random, useEngine } from './helpers.js';

const engine = useEngine();

/**
 * Optimiser updates are elementwise, but a few steps compound float32 rounding (Adam divides by
 * sqrt(v) + eps, which amplifies relative error in small v), so: rtol 1e-5, atol 1e-6 per step.
 */
const UPDATE = (steps: number) => ({ rtol: 1e-5 * steps, atol: 1e-6 * steps });

/** Parameters of awkward sizes (1, not a multiple of the workgroup, bigger than one workgroup). */
const SHAPES = [[1], [7, 3], [300]];

function makeParams(seed: number): Variable[] {
  return SHAPES.map((shape, i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return parameter(engine().tensor(random(n, seed + i), shape), `p${i}`);
  });
}

/** Gives every parameter a fresh gradient for step `s` (as a backward pass would: owned by .grad). */
function setGrads(ps: Variable[], seed: number, s: number): Float32Array[] {
  return ps.map((p, i) => {
    const g = random(p.value.size, seed * 100 + s * 10 + i, -2, 2);
    p.clearGrad();
    p.grad = engine().tensor(g, p.value.shape);
    return g;
  });
}

/** Reads one after the other: concurrent reads may submit out of order while a pipeline compiles. */
async function values(ps: Variable[]): Promise<Float64Array[]> {
  const out: Float64Array[] = [];
  for (const p of ps) out.push(Float64Array.from(await p.value.toArray()));
  return out;
}

describe('SGD against the reference', () => {
  const cases: SGDOptions[] = [
    { lr: 0.1 },
    { lr: 0.05, weightDecay: 0.01 },
    { lr: 0.1, momentum: 0.9 },
    { lr: 0.1, momentum: 0.9, dampening: 0.3, weightDecay: 0.001 },
    { lr: 0.02, momentum: 0.8, nesterov: true, weightDecay: 0.1 },
  ];
  for (const options of cases) {
    it(JSON.stringify(options), async () => {
      const ps = makeParams(1);
      const want = await values(ps);
      const buffers: Array<Float64Array | undefined> = ps.map(() => undefined);
      const opt = new SGD(ps, options);
      const steps = 4;
      for (let s = 0; s < steps; s++) {
        const grads = setGrads(ps, 1, s);
        opt.step();
        ps.forEach((_, i) => (buffers[i] = sgdStepRef(want[i]!, grads[i]!, buffers[i], options)));
      }
      const got = await values(ps);
      ps.forEach((_, i) => assertClose(got[i]!, want[i]!, UPDATE(steps), `param ${i}`));
      if (options.momentum) {
        const state = opt.stateDict().state;
        for (let i = 0; i < ps.length; i++) {
          const buf = state[`state.${i}.momentum_buffer`];
          if (typeof buf === 'number' || !buf) throw new Error('momentum buffer missing');
          assertClose(await buf.toArray(), buffers[i]!, UPDATE(steps), `momentum buffer ${i}`);
        }
      }
      opt.dispose();
      for (const p of ps) p.dispose();
    });
  }
});

describe('Adam and AdamW against the reference', () => {
  const cases: Array<{ name: string; options: AdamOptions; decoupled: boolean }> = [
    { name: 'Adam defaults', options: {}, decoupled: false },
    { name: 'Adam lr 0.01 betas (0.8, 0.99) eps 1e-6 weightDecay 0.1', options: { lr: 0.01, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.1 }, decoupled: false },
    { name: 'AdamW defaults (weightDecay 1e-2)', options: {}, decoupled: true },
    { name: 'AdamW lr 0.05 weightDecay 0.3', options: { lr: 0.05, weightDecay: 0.3 }, decoupled: true },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const ps = makeParams(2);
      const want = await values(ps);
      const states = ps.map((p) => adamStateRef(p.value.size));
      const opt = c.decoupled ? new AdamW(ps, c.options) : new Adam(ps, c.options);
      const steps = 5;
      for (let s = 0; s < steps; s++) {
        const grads = setGrads(ps, 2, s);
        opt.step();
        ps.forEach((_, i) => adamStepRef(want[i]!, grads[i]!, states[i]!, { ...c.options, decoupled: c.decoupled }));
      }
      expect(engine().pending).toBeGreaterThan(0); // recorded, not yet submitted
      const got = await values(ps);
      ps.forEach((_, i) => assertClose(got[i]!, want[i]!, UPDATE(steps), `param ${i}`));
      const state = opt.stateDict().state;
      for (let i = 0; i < ps.length; i++) {
        expect(state[`state.${i}.step`]).toBe(steps);
        const m = state[`state.${i}.exp_avg`];
        const v = state[`state.${i}.exp_avg_sq`];
        if (typeof m === 'number' || typeof v === 'number' || !m || !v) throw new Error('Adam moments missing');
        assertClose(await m.toArray(), states[i]!.expAvg, UPDATE(steps), `exp_avg ${i}`);
        assertClose(await v.toArray(), states[i]!.expAvgSq, UPDATE(steps), `exp_avg_sq ${i}`);
      }
      opt.dispose();
      for (const p of ps) p.dispose();
    });
  }

  it('skips parameters without a gradient: their step count does not advance', async () => {
    const ps = makeParams(3);
    const before = await values(ps);
    const opt = new Adam(ps, { lr: 0.1 });
    setGrads(ps, 3, 0);
    ps[1]!.clearGrad();
    opt.step();
    const after = await values(ps);
    expect(after[1]).toEqual(before[1]);
    expect(after[0]).not.toEqual(before[0]);
    const state = opt.stateDict().state;
    expect(state['state.0.step']).toBe(1);
    expect(state['state.1.step']).toBe(0);
    expect(state['state.1.exp_avg']).toBeUndefined();
    opt.dispose();
    for (const p of ps) p.dispose();
  });

  it('a frozen parameter (requiresGrad false) is never updated', async () => {
    const ps = makeParams(4);
    setGrads(ps, 4, 0);
    ps[2]!.requiresGrad = false; // freezing drops the gradient
    expect(ps[2]!.grad).toBeUndefined();
    const before = await values(ps);
    const opt = new AdamW(ps);
    opt.step();
    expect((await values(ps))[2]).toEqual(before[2]);
    opt.dispose();
    for (const p of ps) p.dispose();
  });
});

describe('zeroGrad', () => {
  it('drops the gradients by default, zeroes them in place with setToNone false', async () => {
    const ps = makeParams(5);
    setGrads(ps, 5, 0);
    const opt = new SGD(ps, { lr: 0.1 });
    const kept = ps[0]!.grad!;
    opt.zeroGrad(false);
    expect(ps[0]!.grad).toBe(kept);
    for (const p of ps) expect(Array.from(await p.grad!.toArray())).toEqual(new Array(p.value.size).fill(0));
    opt.zeroGrad();
    for (const p of ps) expect(p.grad).toBeUndefined();
    expect(kept.isDisposed).toBe(true);
    for (const p of ps) p.dispose();
  });
});

describe('state dict', () => {
  it('Adam resumes from a checkpoint exactly as if it had not stopped', async () => {
    const a = makeParams(6);
    const b = makeParams(6);
    const optA = new Adam(a, { lr: 0.01 });
    for (let s = 0; s < 3; s++) {
      setGrads(a, 6, s);
      optA.step();
    }
    // b starts from a's parameters and a's optimiser state, then both take two more steps.
    a.forEach((p, i) => engine().copy(p.value, b[i]!.value, p.value.size * 4));
    const optB = new Adam(b, { lr: 0.5, betas: [0.5, 0.5] });
    optB.loadStateDict(optA.stateDict());
    expect(optB.lr).toBe(0.01);
    for (let s = 3; s < 5; s++) {
      setGrads(a, 6, s);
      setGrads(b, 6, s);
      optA.step();
      optB.step();
    }
    const [va, vb] = [await values(a), await values(b)];
    va.forEach((v, i) => expect(vb[i]).toEqual(v));
    expect(optB.stateDict().state['state.2.step']).toBe(5);
    for (const o of [optA, optB]) o.dispose();
    for (const p of [...a, ...b]) p.dispose();
  });

  it('SGD with momentum round-trips its buffers', async () => {
    const ps = makeParams(7);
    const opt = new SGD(ps, { lr: 0.1, momentum: 0.9 });
    setGrads(ps, 7, 0);
    opt.step();
    const other = new SGD(ps, { lr: 0.1, momentum: 0.9 });
    other.loadStateDict(opt.stateDict());
    const s = other.stateDict().state;
    const buf = s['state.1.momentum_buffer'];
    const src = opt.stateDict().state['state.1.momentum_buffer'];
    if (typeof buf === 'number' || typeof src === 'number' || !buf || !src) throw new Error('momentum buffer missing');
    expect(buf).not.toBe(src); // copied into its own buffer
    expect(await buf.toArray()).toEqual(await src.toArray());
    for (const o of [opt, other]) o.dispose();
    for (const p of ps) p.dispose();
  });

  it('refuses unknown keys, wrong shapes and partial state', () => {
    const ps = makeParams(8);
    const opt = new Adam(ps);
    setGrads(ps, 8, 0);
    opt.step();
    const good = opt.stateDict().state;
    const other = new Adam(ps);
    const dict = (state: OptimizerState) => ({ type: 'Adam', state });
    expect(() => other.loadStateDict(dict({ ...good, 'state.0.momentum_buffer': 1 }))).toThrow("Adam: unexpected optimizer state entry 'state.0.momentum_buffer'");
    expect(() => other.loadStateDict(dict({ ...good, 'state.9.step': 1 }))).toThrow("Adam: unexpected optimizer state entry 'state.9.step'");
    expect(() => other.loadStateDict(dict({ ...good, 'state.0.exp_avg': good['state.1.exp_avg']! }))).toThrow(
      "Adam: state 'state.0.exp_avg' has shape [7, 3] but parameter 0 has shape [1]",
    );
    const partial = { ...good };
    delete partial['state.2.exp_avg_sq'];
    expect(() => other.loadStateDict(dict(partial))).toThrow("Adam: missing optimizer state entry 'state.2.exp_avg_sq'");
    const noLr = { ...good };
    delete noLr['param_groups.0.lr'];
    expect(() => other.loadStateDict(dict(noLr))).toThrow("Adam: missing optimizer state entry 'param_groups.0.lr'");
    expect(() => other.loadStateDict(dict({ ...good, 'state.0.step': 1.5 }))).toThrow("Adam: state entry 'state.0.step' must be an integer >= 0, got 1.5");
    // The tag names the optimiser that wrote the state: AdamW's state is not Adam's.
    expect(() => other.loadStateDict({ type: 'AdamW', state: good })).toThrow('Adam: expected a state dict of Adam, got one of AdamW');
    expect(other.stateDict().state['state.0.step']).toBe(0); // nothing changed by the failed loads
    for (const o of [opt, other]) o.dispose();
    for (const p of ps) p.dispose();
  });
});

describe('argument errors', () => {
  it('names the optimiser and the bad value, as PyTorch does', () => {
    const ps = makeParams(9);
    expect(() => new SGD([], { lr: 0.1 })).toThrow('SGD: optimizer got an empty parameter list');
    expect(() => new SGD(ps, { lr: -1 })).toThrow('SGD: Invalid learning rate: -1');
    expect(() => new SGD(ps, { lr: 0.1, momentum: -0.5 })).toThrow('SGD: Invalid momentum value: -0.5');
    expect(() => new SGD(ps, { lr: 0.1, nesterov: true })).toThrow('SGD: Nesterov momentum requires a momentum and zero dampening');
    expect(() => new SGD(ps, { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true })).toThrow(
      'SGD: Nesterov momentum requires a momentum and zero dampening',
    );
    expect(() => new Adam(ps, { betas: [1, 0.999] })).toThrow('Adam: Invalid beta parameter at index 0: 1');
    expect(() => new Adam(ps, { betas: [0.9, -0.1] })).toThrow('Adam: Invalid beta parameter at index 1: -0.1');
    expect(() => new AdamW(ps, { eps: -1 })).toThrow('AdamW: Invalid epsilon value: -1');
    expect(() => new AdamW(ps, { weightDecay: -1 })).toThrow('AdamW: Invalid weight_decay value: -1');
    expect(() => new Adam([ps[0]!, ps[0]!])).toThrow('Adam: some parameters appear more than once');
    const opt = new Adam(ps);
    expect(() => (opt.lr = Number.NaN)).toThrow('Adam: Invalid learning rate: NaN');
    ps[0]!.grad = engine().zeros([2]);
    expect(() => opt.step()).toThrow('Adam: gradient of shape [2] does not match parameter 0 (p0) of shape [1]');
    for (const p of ps) p.dispose();
  });
});

describe('learning-rate schedules', () => {
  it("cosine annealing follows CosineAnnealingLR's closed form (eta_min 0), constant keeps the rate", () => {
    const T = 400;
    // torch: lr_t = eta_min + (base - eta_min) * (1 + cos(pi * t / T)) / 2
    expect(scheduledLr('cosine', 1e-3, 0, T)).toBe(1e-3);
    expect(scheduledLr('cosine', 1e-3, 100, T)).toBeCloseTo(1e-3 * (1 + Math.SQRT1_2) / 2, 15);
    expect(scheduledLr('cosine', 1e-3, 200, T)).toBeCloseTo(5e-4, 15);
    expect(scheduledLr('cosine', 1e-3, 400, T)).toBeCloseTo(0, 15);
    expect(scheduledLr('cosine', 1e-3, 900, T)).toBeCloseTo(0, 15); // past the end: the last rate
    expect(scheduledLr('constant', 1e-3, 200, T)).toBe(1e-3);
  });
});
