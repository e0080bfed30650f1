// Intermediate gradients: Variable.retainGrad and gradient hooks, module forward and backward
// hooks (what Grad-CAM reads), and the fused paths that step aside for a hooked module.
import { describe, expect, it } from 'vitest';
import { Tape } from '../src/autograd/tape.js';
import { Variable, constant, parameter } from '../src/autograd/variable.js';
import { fashionCnn } from '../src/nn/models/fashion.js';
import { host } from '../src/reference/host-tensor.js';
import { linearRef } from '../src/reference/gemm.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { ELEMENTWISE, assertClose, gradient, random, useEngine } from './helpers.js';

const engine = useEngine();

describe('retainGrad and gradient hooks', () => {
  it("keeps an intermediate's gradient: d/dh of sum(g * relu(h)) is g where h > 0", async () => {
    const e = engine();
    const [x, w] = [parameter(e.tensor(random(12, 1), [3, 4])), parameter(e.tensor(random(20, 2), [5, 4]))];
    const g = random(15, 3);
    const tape = new Tape(e);
    const h = tape.linear(x, w);
    h.retainGrad();
    const y = tape.relu(h);
    const seed = e.tensor(g, [3, 5]);
    tape.backward(y, seed);
    const hv = linearRef(host(await x.value.toArray(), [3, 4]), host(await w.value.toArray(), [5, 4])).data;
    const want = Array.from(g, (v, i) => (hv[i]! > 0 ? v : 0));
    assertClose(await h.grad!.toArray(), want, ELEMENTWISE, 'h.grad');
    expect(y.grad).toBeUndefined(); // not retained
    tape.dispose();
    for (const t of [h, x, w]) t.dispose();
    seed.dispose();
  });

  it('calls a hook once, with the sum of every consumer\'s share', async () => {
    const e = engine();
    const x = parameter(e.tensor(random(6, 4), [6]));
    const tape = new Tape(e);
    const h = tape.scale(x, 3);
    const seen: Float32Array[] = [];
    const pending: Array<Promise<Float32Array>> = [];
    h.registerHook((grad: Tensor) => pending.push(grad.toArray()));
    const y = tape.add(tape.mul(h, h), h); // dy/dh = 2h + 1
    const seed = e.tensor(new Float32Array(6).fill(1), [6]);
    tape.backward(y, seed);
    seen.push(...(await Promise.all(pending)));
    expect(seen).toHaveLength(1);
    const hv = await h.value.toArray();
    assertClose(seen[0]!, Array.from(hv, (v) => 2 * v + 1), gradient(2), 'the hook saw the whole gradient');
    tape.dispose();
    x.dispose();
    seed.dispose();
  });

  it('refuses hooks where PyTorch does', () => {
    const e = engine();
    const data = constant(e.tensor([1, 2], [2]));
    expect(() => data.retainGrad()).toThrow("cannot register a hook on a variable that doesn't require a gradient");
    expect(() => parameter(e.tensor([1], [1])).registerHook(() => {})).toThrow(/leaf accumulates its gradient/);
    data.dispose();
  });
});

describe('module hooks', () => {
  it("a forward hook sees a layer's activation; a backward hook its gradient; unhooked runs agree", async () => {
    const e = engine();
    const model = fashionCnn(e, { seed: 3 });
    model.eval();
    const images = e.tensor(random(2 * 784, 5), [2, 1, 28, 28]);
    const logits = async (): Promise<Float32Array> => {
      const tape = new Tape(e, { grad: false });
      const out = await model.call(tape, constant(images)).value.toArray();
      tape.dispose();
      return out;
    };
    const plain = await logits();

    const relu = model.namedModules().find(([name]) => name === 'layer2.2')![1];
    let activation: Variable | undefined;
    let gradOutput: Promise<Float32Array> | undefined;
    const removeForward = relu.registerForwardHook((_m, _input, output) => {
      activation = output;
    });
    const removeBackward = relu.registerBackwardHook((_m, grad) => {
      gradOutput = grad.toArray();
    });
    // The hooked ReLU sits in a BatchNorm2d, ReLU, MaxPool2d block that Sequential otherwise fuses:
    // with a hook it runs unfused, with the same result.
    expect(await logits()).toEqual(plain);
    expect(activation?.shape).toEqual([2, 64, 12, 12]);

    const tape = new Tape(e);
    const score = tape.crossEntropy(model.call(tape, constant(images)), e.tensor(Int32Array.of(1, 7), [2]), { reduction: 'sum' });
    tape.backward(score);
    const grad = await gradOutput!;
    expect(grad.length).toBe(2 * 64 * 12 * 12);
    expect(grad.some((v) => v !== 0)).toBe(true);
    tape.dispose();
    removeForward();
    removeBackward();
    expect(relu.hasHooks).toBe(false);
    for (const p of model.parameters()) p.clearGrad();
    model.dispose();
    images.dispose();
  });

  it('a forward hook returning a leaf stops the backward pass there: no weight below it gets a gradient', async () => {
    const e = engine();
    const model = fashionCnn(e, { seed: 4 });
    model.eval();
    const images = e.tensor(random(784, 6), [1, 1, 28, 28]);
    const conv = model.namedModules().find(([name]) => name === 'layer2.0')![1];
    let leaf: Variable | undefined;
    conv.registerForwardHook((_m, _input, output) => {
      leaf = new Variable(output.value, { requiresGrad: true });
      return leaf;
    });
    const tape = new Tape(e);
    const score = tape.crossEntropy(model.call(tape, constant(images)), e.tensor(Int32Array.of(2), [1]));
    tape.backward(score);
    expect(leaf!.grad?.shape).toEqual([1, 64, 12, 12]);
    const gradded = model.namedParameters().filter(([, p]) => p.grad).map(([name]) => name);
    expect(gradded.every((name) => !name.startsWith('layer1.') && name !== 'layer2.0.weight' && name !== 'layer2.0.bias')).toBe(true);
    expect(gradded).toContain('fc3.weight');
    leaf!.clearGrad();
    tape.dispose();
    model.dispose();
    images.dispose();
  });
});
