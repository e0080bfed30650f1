import { describe, expect, it, vi } from 'vitest';
import { numericGradients, tapeGradients, type GradCheckFunction, type GradCheckInput } from '../src/autograd/gradcheck.js';
import { Tape } from '../src/autograd/tape.js';
import { Variable, constant, parameter } from '../src/autograd/variable.js';
import type { KernelSpec } from '../src/runtime/kernel.js';
import { host } from '../src/reference/host-tensor.js';
import { reluBackwardRef, reluRef } from '../src/reference/elementwise.js';
import { batchNormBackwardRef, batchNormRef } from '../src/reference/norm.js';
import { avgPool2dBackwardRef, avgPool2dRef, maxPool2dBackwardRef, maxPool2dWithIndicesRef } from '../src/reference/pool.js';
import { logSoftmaxBackwardRef, logSoftmaxRef } from '../src/reference/softmax.js';
import { crossEntropyBackwardRef } from '../src/reference/loss.js';
import { conv2dRef } from '../src/reference/conv.js';
import { conv2dBackwardRef } from '../src/reference/conv-backward.js';
import { linearRef } from '../src/reference/gemm.js';
import { linearBackwardRef } from '../src/reference/linear-backward.js';
import { FLOAT32_FINITE_DIFFERENCE, assertClose, random, reduction, useEngine } from './helpers.js';

const engine = useEngine();

/** Against the float64 CPU reference chain: the forward reductions' policy for the longest reduction k on the path. */
const referenceTolerance = reduction;

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Values in [lo, hi) kept at least `gap` away from zero (no relu kink within the FD step). */
function awayFromZero(n: number, seed: number, gap = 0.05, lo = -1, hi = 1): Float32Array {
  return random(n, seed, lo, hi).map((v) => (Math.abs(v) < gap ? (v < 0 ? -gap : gap) * 2 : v));
}

/** Distinct values: a shuffled ramp, so max pooling has no ties within the FD step. */
function distinct(n: number, seed: number, spacing = 0.05): Float32Array {
  const order = Array.from(random(n, seed), (v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Float32Array(n);
  order.forEach(([, i], rank) => (out[i] = (rank - n / 2) * spacing));
  return out;
}

function input(shape: number[], data: Float32Array, requiresGrad = true): GradCheckInput {
  return { shape, data, requiresGrad };
}

/** Random weights of the outputs in the checked objective sum(output * weights). */
const OUTPUT_WEIGHTS = (n: number) => random(n, 1234, -1, 1);

/** Checks the tape's gradients against finite differences; returns them for further checks. */
async function gradCheck(what: string, f: GradCheckFunction, inputs: GradCheckInput[], scalar = false): Promise<Array<Float32Array | undefined>> {
  const e = engine();
  const weights = scalar ? undefined : OUTPUT_WEIGHTS;
  const analytic = await tapeGradients(e, f, inputs, weights);
  const numeric = await numericGradients(e, f, inputs, { weights });
  inputs.forEach((x, i) => {
    if (x.requiresGrad === false) {
      expect(analytic[i], `${what}: input ${i} requires no gradient`).toBeUndefined();
      return;
    }
    assertClose(analytic[i]!, numeric[i]!, FLOAT32_FINITE_DIFFERENCE, `${what}: gradient of input ${i}`);
  });
  return analytic;
}

describe('gradients against finite differences', () => {
  it('linear: input, weight and bias (batched [..., in] input)', async () => {
    const f: GradCheckFunction = (t, [x, w, b]) => t.linear(x!, w!, b);
    await gradCheck('linear', f, [input([2, 3, 7], random(42, 50)), input([5, 7], random(35, 51)), input([5], random(5, 52))]);
    await gradCheck('linear without bias, weight frozen', (t, [x, w]) => t.linear(x!, w!), [input([4, 3], random(12, 53)), input([2, 3], random(6, 54), false)]);
  });

  it('conv2d: stride, padding, dilation, groups; and the fused ReLU', async () => {
    const f: GradCheckFunction = (t, [x, w, b]) => t.conv2d(x!, w!, b, { stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2 });
    await gradCheck('conv2d', f, [input([1, 4, 5, 4], random(80, 55)), input([4, 2, 3, 2], random(48, 56)), input([4], random(4, 57))]);
    const fused: GradCheckFunction = (t, [x, w, b]) => t.conv2d(x!, w!, b, { padding: 1, relu: true });
    // Small weights and biases of +-0.5 and more keep this tiny problem's pre-activations away
    // from ReLU's kink (a pre-activation within the FD step of 0 would fail the comparison).
    await gradCheck('conv2d + relu', fused, [input([1, 2, 4, 3], random(24, 58)), input([3, 2, 3, 3], random(54, 59, -0.3, 0.3)), input([3], Float32Array.from([0.5, -0.5, 0.7]))]);
  });

  it('relu and add, with a variable used twice (accumulation inside the graph)', async () => {
    const shape = [2, 3, 4];
    await gradCheck('add(relu(x), x)', (t, [x]) => t.add(t.relu(x!), x!), [input(shape, awayFromZero(24, 1))]);
    await gradCheck('add(x, x)', (t, [x]) => t.add(x!, x!), [input(shape, awayFromZero(24, 2))]);
    await gradCheck(
      'add(relu(add(a, b)), b) with a frozen',
      (t, [a, b]) => t.add(t.relu(t.add(a!, b!)), b!),
      [input(shape, awayFromZero(24, 3), false), input(shape, random(24, 4, -0.01, 0.01))],
    );
  });

  it('overlapping max pooling, relu, average pooling, flatten, log-softmax', async () => {
    const shape = [1, 3, 7, 6];
    const f: GradCheckFunction = (t, [x]) => {
      const p = t.maxPool2d(x!, { kernelSize: 3, stride: 2, padding: 1 });
      const a = t.avgPool2d(t.relu(p), { kernelSize: [2, 3], stride: [1, 2], padding: [1, 1], countIncludePad: false });
      return t.logSoftmax(t.flatten(a, 1), 1);
    };
    await gradCheck('pooling chain', f, [input(shape, distinct(size(shape), 5))]);
  });

  it('adaptive average pooling and softmax along the first dimension', async () => {
    const shape = [3, 2, 4, 5];
    const f: GradCheckFunction = (t, [x]) => t.softmax(t.adaptiveAvgPool2d(x!, [2, 3]), 0);
    await gradCheck('adaptiveAvgPool2d -> softmax(dim 0)', f, [input(shape, random(size(shape), 6))]);
  });

  it('batch norm in training mode: input, weight and bias, through the batch statistics', async () => {
    const shape = [3, 5, 2, 3];
    const f: GradCheckFunction = (t, [x, w, b]) => t.relu(t.batchNorm(x!, undefined, undefined, w, b, { training: true }));
    await gradCheck('batchNorm(train) -> relu', f, [
      input(shape, random(size(shape), 7, -2, 2)),
      input([5], random(5, 8, 0.5, 1.5)),
      input([5], random(5, 9, -0.5, 0.5)),
    ]);
  });

  it('batch norm in evaluation mode: running statistics are constants', async () => {
    const shape = [2, 3, 4];
    const e = engine();
    const runningMean = e.tensor(random(3, 10, -0.5, 0.5), [3]);
    const runningVar = e.tensor(random(3, 11, 0.5, 2), [3]);
    const f: GradCheckFunction = (t, [x, w, b]) => t.batchNorm(x!, runningMean, runningVar, w, b, { training: false, eps: 1e-3 });
    await gradCheck('batchNorm(eval)', f, [input(shape, random(24, 12)), input([3], random(3, 13, 0.5, 1.5)), input([3], random(3, 14))]);
    runningMean.dispose();
    runningVar.dispose();
  });

  it('dropout: the backward pass draws the forward mask again', async () => {
    const shape = [4, 17];
    const f: GradCheckFunction = (t, [x]) => t.dropout(x!, { p: 0.3, seed: 42, offset: 7 });
    const [g] = await gradCheck('dropout', f, [input(shape, random(68, 15))]);
    const zeros = g!.filter((v) => v === 0).length;
    expect(zeros).toBeGreaterThan(5); // some elements really were dropped
    expect(zeros).toBeLessThan(45);
  });

  describe('cross-entropy', () => {
    const target = [2, 0, 4, 1, 4];
    const withTarget = (options: Parameters<Tape['crossEntropy']>[2], f: (t: Tape, x: Variable) => Variable) =>
      ((t, [x]) => {
        const tgt = t.engine.tensor(Int32Array.from(target), [5]);
        const loss = t.crossEntropy(f(t, x!), tgt, options);
        tgt.dispose();
        return loss;
      }) as GradCheckFunction;

    it('mean, from the implicit seed (the fused gradient is handed over)', async () => {
      const f = withTarget({ labelSmoothing: 0.1 }, (t, x) => t.relu(x));
      await gradCheck('crossEntropy(mean)', f, [input([5, 6], awayFromZero(30, 16, 0.05, -2, 2))], true);
    });

    it("'none' with an upstream gradient (scaled per row on the GPU)", async () => {
      const f = withTarget({ reduction: 'none' }, (_, x) => x);
      await gradCheck('crossEntropy(none)', f, [input([5, 6], random(30, 17, -2, 2))]);
    });

    it("'sum' of two losses: a scalar upstream gradient through add", async () => {
      const f: GradCheckFunction = (t, [x]) => {
        const tgt = t.engine.tensor(Int32Array.from(target), [5]);
        const l1 = t.crossEntropy(x!, tgt, { reduction: 'sum' });
        const l2 = t.crossEntropy(t.relu(x!), tgt);
        tgt.dispose();
        return t.add(l1, l2);
      };
      await gradCheck('crossEntropy(sum) + crossEntropy(mean)', f, [input([5, 6], awayFromZero(30, 18, 0.05, -2, 2))], true);
    });
  });
});

describe('gradients against the CPU reference chain', () => {
  it('maxPool2d -> relu -> avgPool2d -> logSoftmax', async () => {
    const shape = [2, 3, 6, 5];
    const data = random(size(shape), 20, -2, 2);
    const pool = { kernelSize: 2, stride: 1 };
    const avg = { kernelSize: 2, padding: 1, ceilMode: true };
    const f: GradCheckFunction = (t, [x]) => t.logSoftmax(t.avgPool2d(t.relu(t.maxPool2d(x!, pool)), avg), 3);
    // The reference chain, forward then backward.
    const x = host(data, shape);
    const { output: p, indices } = maxPool2dWithIndicesRef(x, pool);
    const r = reluRef(p);
    const a = avgPool2dRef(r, avg);
    const y = logSoftmaxRef(a, 3);
    const weights = random(size(y.shape), 1234, -1, 1);
    const gy = host(weights, y.shape);
    const ga = logSoftmaxBackwardRef(gy, y, 3);
    const gr = avgPool2dBackwardRef(ga, r.shape, avg);
    const gp = reluBackwardRef(gr, p);
    const gx = maxPool2dBackwardRef(gp, indices, shape);
    const [got] = await tapeGradients(engine(), f, [input(shape, data)], () => weights);
    assertClose(got!, gx.data, referenceTolerance(9), 'gradient of x');
  });

  it('conv2d -> relu -> flatten -> linear -> crossEntropy (every parameter)', async () => {
    const conv = { stride: 2, padding: 1, groups: 1 };
    const xs = [3, 2, 5, 4];
    const [wcShape, wlShape] = [[4, 2, 3, 3], [5, 4 * 3 * 2]];
    const data = {
      x: random(size(xs), 24),
      wc: random(size(wcShape), 25, -0.4, 0.4),
      bc: random(4, 26, -0.2, 0.2),
      wl: random(size(wlShape), 27, -0.3, 0.3),
      bl: random(5, 28, -0.2, 0.2),
    };
    const target = [4, 0, 2];
    const f: GradCheckFunction = (t, [x, wc, bc, wl, bl]) => {
      const tgt = t.engine.tensor(Int32Array.from(target), [3]);
      const h = t.flatten(t.relu(t.conv2d(x!, wc!, bc, conv)), 1);
      const loss = t.crossEntropy(t.linear(h, wl!, bl), tgt, { labelSmoothing: 0.05 });
      tgt.dispose();
      return loss;
    };
    const hx = host(data.x, xs);
    const [hwc, hbc, hwl, hbl] = [host(data.wc, wcShape), host(data.bc, [4]), host(data.wl, wlShape), host(data.bl, [5])];
    const c = conv2dRef(hx, hwc, hbc, conv);
    const r = reluRef(c);
    const h = host(r.data, [3, 24]);
    const logits = linearRef(h, hwl, hbl);
    const gLogits = crossEntropyBackwardRef(logits, host(target, [3]), { labelSmoothing: 0.05 });
    const gl = linearBackwardRef(gLogits, h, hwl);
    const gc = conv2dBackwardRef(reluBackwardRef(host(gl.gradInput.data, r.shape), c), hx, hwc, conv);
    const got = await tapeGradients(engine(), f, [input(xs, data.x), input(wcShape, data.wc), input([4], data.bc), input(wlShape, data.wl), input([5], data.bl)]);
    const tol = referenceTolerance(24);
    assertClose(got[0]!, gc.gradInput.data, tol, 'gradient of x');
    assertClose(got[1]!, gc.gradWeight.data, tol, 'gradient of the conv weight');
    assertClose(got[2]!, gc.gradBias.data, tol, 'gradient of the conv bias');
    assertClose(got[3]!, gl.gradWeight.data, tol, 'gradient of the linear weight');
    assertClose(got[4]!, gl.gradBias.data, tol, 'gradient of the linear bias');
  });

  it('batchNorm(train) -> relu -> crossEntropy', async () => {
    const shape = [6, 4];
    const data = random(24, 21, -3, 3);
    const weight = random(4, 22, 0.5, 1.5);
    const bias = random(4, 23, -0.5, 0.5);
    const target = [3, 1, 0, 2, 2, 1];
    const f: GradCheckFunction = (t, [x, w, b]) => {
      const tgt = t.engine.tensor(Int32Array.from(target), [6]);
      const loss = t.crossEntropy(t.relu(t.batchNorm(x!, undefined, undefined, w, b, { training: true })), tgt);
      tgt.dispose();
      return loss;
    };
    const hx = host(data, shape);
    const [hw, hb] = [host(weight, [4]), host(bias, [4])];
    const bn = batchNormRef(hx, undefined, undefined, hw, hb, { training: true });
    const r = reluRef(bn.output);
    const gr = crossEntropyBackwardRef(r, host(target, [6]));
    const gbn = reluBackwardRef(gr, bn.output);
    const want = batchNormBackwardRef(gbn, hx, hw);
    const got = await tapeGradients(engine(), f, [input(shape, data), input([4], weight), input([4], bias)]);
    const tol = referenceTolerance(6);
    assertClose(got[0]!, want.gradInput.data, tol, 'gradient of x');
    assertClose(got[1]!, want.gradWeight.data, tol, 'gradient of weight');
    assertClose(got[2]!, want.gradBias.data, tol, 'gradient of bias');
  });
});

describe('tape semantics', () => {
  const leaf = (shape: number[], seed: number, requiresGrad = true) => new Variable(engine().tensor(random(size(shape), seed), shape), { requiresGrad });

  it('accumulates into .grad across backward passes, as PyTorch does', async () => {
    const e = engine();
    const x = leaf([3, 4], 30);
    const g = e.tensor(random(12, 31), [3, 4]);
    for (let k = 0; k < 2; k++) {
      const tape = new Tape(e);
      tape.backward(tape.add(x, x), g);
      tape.dispose();
    }
    const want = Array.from(await g.toArray(), (v) => 4 * v);
    assertClose(await x.grad!.toArray(), want, { rtol: 1e-6, atol: 0 }, 'x.grad');
    x.dispose();
    g.dispose();
  });

  it('refuses a second backward, a non-scalar loss without a gradient, and a loss needing no gradient', () => {
    const e = engine();
    const x = leaf([2, 2], 32);
    const c = leaf([2, 2], 33, false);
    const tape = new Tape(e);
    const y = tape.relu(x);
    expect(() => tape.backward(y)).toThrow('backward: grad can be implicitly created only for scalar outputs, got a loss of shape [2, 2]');
    expect(() => tape.backward(tape.relu(c))).toThrow('backward: element 0 of tensors does not require grad and does not have a grad_fn');
    const g = e.zeros([2]);
    expect(() => tape.backward(y, g)).toThrow('backward: gradient of shape [2] does not match the loss [2, 2]');
    g.dispose();
    const ones = e.tensor([1, 1, 1, 1], [2, 2]);
    tape.backward(y, ones);
    expect(() => tape.backward(y, ones)).toThrow('backward: trying to backward through the graph a second time');
    const other = new Tape(e);
    expect(() => other.relu(y)).toThrow('relu: x was produced by another tape');
    tape.dispose();
    expect(() => tape.relu(x)).toThrow('relu: the tape was used after dispose()');
    expect(() => (y.requiresGrad = false)).toThrow('requiresGrad can only be changed on leaf variables');
    for (const t of [x, c]) t.dispose();
    ones.dispose();
    other.dispose();
  });

  it('a tape without gradients records nothing', () => {
    const x = leaf([4], 34);
    const tape = new Tape(engine(), { grad: false });
    const y = tape.relu(tape.add(x, x));
    expect(tape.recordedOps).toBe(0);
    expect(y.requiresGrad).toBe(false);
    tape.dispose();
    x.dispose();
  });

  it('frozen branches are neither recorded nor differentiated', async () => {
    const e = engine();
    const x = leaf([4, 3, 5], 35, false); // data
    const [w1, b1] = [leaf([3], 36, false), leaf([3], 37, false)]; // frozen
    const [w2, b2] = [leaf([3], 38), leaf([3], 39)]; // trainable
    const names: string[] = [];
    const original = e.dispatch.bind(e);
    const spy = vi.spyOn(e, 'dispatch').mockImplementation((spec: KernelSpec, ...rest) => {
      names.push(spec.name);
      original(spec, ...rest);
    });
    const tape = new Tape(e);
    const frozen = tape.relu(tape.batchNorm(x, undefined, undefined, w1, b1, { training: true }));
    const trained = tape.batchNorm(x, undefined, undefined, w2, b2, { training: true });
    const y = tape.add(frozen, trained);
    expect(frozen.requiresGrad).toBe(false);
    expect(tape.recordedOps).toBe(2); // the trainable batch norm and the add
    names.length = 0;
    const g = e.tensor(random(60, 40), [4, 3, 5]);
    tape.backward(y, g);
    spy.mockRestore();
    // One batch-norm backward (weight and bias only: x needs no gradient), nothing for the frozen branch.
    expect(names.filter((n) => n.startsWith('batch_norm.backward_partial'))).toHaveLength(1);
    expect(names).not.toContain('batch_norm.backward_input');
    expect(names).not.toContain('relu_backward');
    expect(w1.grad).toBeUndefined();
    expect(b1.grad).toBeUndefined();
    expect(x.grad).toBeUndefined();
    expect(w2.grad?.shape).toEqual([3]);
    expect(b2.grad?.shape).toEqual([3]);
    // The bias gradient of batch norm is the per-channel sum of the upstream gradient.
    const gs = await g.toArray();
    const want = [0, 1, 2].map((c) => [0, 1, 2, 3].reduce((s, n) => s + [0, 1, 2, 3, 4].reduce((t, k) => t + gs[(n * 3 + c) * 5 + k]!, 0), 0));
    assertClose(await b2.grad!.toArray(), want, referenceTolerance(20), 'b2.grad');
    tape.dispose();
    for (const t of [x, w1, b1, w2, b2]) t.dispose();
    g.dispose();
  });

  it('frees every intermediate: dispose returns the pool to where it was', async () => {
    const e = engine();
    const x = leaf([2, 3, 6, 6], 41);
    const w = parameter(e.tensor(random(3, 42, 0.5, 1.5), [3]));
    const target = e.tensor(Int32Array.of(1, 5), [2]);
    const step = () => {
      const tape = new Tape(e);
      const h = tape.maxPool2d(tape.relu(tape.batchNorm(x, undefined, undefined, w, undefined, { training: true })), { kernelSize: 2 });
      const loss = tape.crossEntropy(tape.flatten(tape.adaptiveAvgPool2d(h, 2), 1), target);
      tape.backward(loss);
      tape.dispose();
      x.clearGrad();
      w.clearGrad();
    };
    step();
    await e.flush();
    const before = e.stats();
    for (let k = 0; k < 3; k++) step();
    await e.flush();
    expect(e.stats().bytesInUse).toBe(before.bytesInUse);
    expect(e.stats().bytesAllocated).toBe(before.bytesAllocated);
    for (const t of [x, w]) t.dispose();
    target.dispose();
  });

  it('keep() hands a result to the caller', async () => {
    const e = engine();
    const x = constant(e.tensor([-1, 2], [2]));
    const tape = new Tape(e);
    const y = tape.keep(tape.relu(x));
    tape.dispose();
    expect(Array.from(await y.value.toArray())).toEqual([0, 2]);
    expect(() => tape.keep(y)).toThrow('keep: the variable was not created by this tape');
    y.dispose();
    x.dispose();
  });
});
