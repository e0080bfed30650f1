// One fusion mechanism: the fusion rules declared in the op registry (an op's `fuses`) are applied
// by the graph rewrite to nodes and by Sequential to its modules' ops, with the values of the
// unfused ops; a training step of the Fashion CNN runs the same fused kernels as before the rules
// were shared (pinned list), and hooks or a subclass with its own forward pass keep modules apart.
import { describe, expect, it, vi } from 'vitest';
import { Tape } from '../src/autograd/tape.js';
import { constant, type Variable } from '../src/autograd/variable.js';
import { Graph } from '../src/graph/graph.js';
import { compileGraph } from '../src/graph/plan.js';
import { MaxPool2d, ReLU } from '../src/nn/layers.js';
import { fashionCnn } from '../src/nn/models/fashion.js';
import { BatchNorm1d, BatchNorm2d } from '../src/nn/norm.js';
import { Sequential } from '../src/nn/sequential.js';
import { batchNormReluMaxPool2dOp } from '../src/ops/norm.js';
import { fusionRules } from '../src/ops/registry.js';
import type { KernelSpec } from '../src/runtime/kernel.js';
import { EXACT, assertClose, random, useEngine } from './helpers.js';

const engine = useEngine();

/** The kernel names dispatched while `fn` runs. */
function kernelsOf<T>(fn: () => T): { result: T; names: string[] } {
  const e = engine();
  const names: string[] = [];
  const original = e.dispatch.bind(e);
  const spy = vi.spyOn(e, 'dispatch').mockImplementation((spec: KernelSpec, ...rest) => {
    names.push(spec.name);
    original(spec, ...rest);
  });
  try {
    return { result: fn(), names };
  } finally {
    spy.mockRestore();
  }
}

describe('fusion rules', () => {
  it('are declared in the op registry, longest chain first', () => {
    expect(fusionRules().map(({ op, rule }) => `${rule.chain.join(' -> ')} => ${op.name}`)).toEqual([
      'batchNorm -> relu -> maxPool2d => batchNormReluMaxPool2d',
      'relu -> maxPool2d => reluMaxPool2d',
    ]);
  });

  it('are applied by the graph rewrite, with the values of the ops one by one', async () => {
    const e = engine();
    const stats = [e.tensor(random(3, 1, -1, 1), [3]), e.tensor(random(3, 2, 0.5, 2), [3]), e.tensor(random(3, 3, 0.5, 1.5), [3]), e.tensor(random(3, 4), [3])];
    const g = new Graph();
    const x = g.input('x');
    const [mean, variance, weight, bias] = stats.map((t, i) => g.constant(`bn.${i}`, t));
    const pool = { kernelSize: 3, stride: 2, padding: 1 };
    g.output('a', g.maxPool2d(g.relu(g.batchNorm(x, mean!, variance!, weight, bias)), pool));
    g.output('b', g.maxPool2d(g.relu(x), { kernelSize: 2 }));
    const shape = [2, 3, 7, 6];
    const data = random(2 * 3 * 42, 5);
    const fused = await compileGraph(e, g, { x: shape });
    const plain = await compileGraph(e, g, { x: shape }, { rewrite: false });
    expect(fused.rewrites.fusedChains).toBe(2);
    expect(plain.dispatchCount - fused.dispatchCount).toBe(3); // batch norm's normalising pass, and a ReLU in each chain
    const [got, want] = [await fused.run({ x: data }), await plain.run({ x: data })];
    assertClose(got.a!, want.a!, EXACT, 'batch norm, ReLU, max pool');
    assertClose(got.b!, want.b!, EXACT, 'ReLU, max pool');
    for (const p of [fused, plain]) p.dispose();
    for (const t of stats) t.dispose();
  });

  it('are applied by Sequential: a Fashion CNN training step runs the fused kernels forward and backward', async () => {
    const e = engine();
    const model = fashionCnn(e, { seed: 1 });
    const x = constant(e.tensor(random(2 * 784, 3, 0, 1), [2, 1, 28, 28]));
    const target = e.tensor(Int32Array.of(1, 2), [2]);
    const tape = new Tape(e);
    const { result: loss, names: forward } = kernelsOf(() => tape.crossEntropy(model.call(tape, x), target));
    const { names: backward } = kernelsOf(() => tape.backward(loss));
    await e.flush();
    // Each layer's BatchNorm2d, ReLU, MaxPool2d: batch statistics, then one pooling kernel that normalises and rectifies.
    const block = ['batch_norm.partial_stats4', 'batch_norm.finalize', 'batch_norm.update_running', 'batch_norm.update_running', 'pool.max_pool_fused+norm+relu'];
    expect(forward).toEqual(['gemm.pad', 'im2col', 'conv2d', ...block, 'im2col', 'conv2d', ...block, 'linear', 'dropout.apply', 'linear', 'linear', 'cross_entropy.weight_sum', 'cross_entropy.rows_grad', 'cross_entropy.reduce']);
    // And back: the pooled gradient routed through the ReLU straight into batch norm's backward.
    expect(backward.filter((n) => n.startsWith('pool.') || n === 'relu' || n.startsWith('relu'))).toEqual(['pool.max_pool_backward_single+relu', 'pool.max_pool_backward_single+relu']);
    tape.dispose();
    x.dispose();
    target.dispose();
    model.dispose();
  });

  it('fuse only what the fused op computes alike: batch norm + ReLU + max pool on 4D input alone', async () => {
    const e = engine();
    // On [N, C, L] batch norm's channels are dim 1, a 2D pool's planes are dims before the last two.
    expect(() => batchNormReluMaxPool2dOp.check([[2, 3, 4], [3], [3]], { training: false, pool: { kernelSize: 2 } })).toThrow(
      'batchNormReluMaxPool2d: expected input of rank 4, got shape [2, 3, 4]',
    );
    const bn = new BatchNorm1d(e, 3).eval();
    e.upload(bn.runningMean!.buffer, Float32Array.of(0.5, -1, 2));
    e.upload(bn.runningVar!.buffer, Float32Array.of(1, 2, 0.5));
    const x = constant(e.tensor(random(24, 9, -2, 2), [2, 3, 4]));
    const tape = new Tape(e, { grad: false });
    const y = new Sequential(bn, new ReLU(), new MaxPool2d(2)).call(tape, x);
    const plain = new MaxPool2d(2).call(tape, tape.relu(bn.call(tape, x)));
    assertClose(await y.value.toArray(), await plain.value.toArray(), EXACT, 'BatchNorm1d, ReLU, MaxPool2d');
    // The graph rewrite fuses per compiled shape: all three for [N, C, H, W], ReLU + max pool alone
    // for [N, C, L] (saving one dispatch instead of two).
    const g = new Graph();
    const input = g.input('x');
    g.output('y', g.maxPool2d(g.relu(g.batchNorm(input, g.constant('m', bn.runningMean!), g.constant('v', bn.runningVar!))), { kernelSize: 2 }));
    for (const [shape, saved] of [[[2, 3, 4], 1], [[2, 3, 4, 4], 2]] as const) {
      const data = random(shape.reduce((a, b) => a * b, 1), 10);
      const [fused, unfused] = [await compileGraph(e, g, { x: shape }), await compileGraph(e, g, { x: shape }, { rewrite: false })];
      expect(fused.rewrites.fusedChains, `${shape}`).toBe(1);
      expect(unfused.dispatchCount - fused.dispatchCount, `${shape}`).toBe(saved);
      assertClose((await fused.run({ x: data })).y!, (await unfused.run({ x: data })).y!, EXACT, `graph on [${shape}]`);
      for (const p of [fused, unfused]) p.dispose();
    }
    tape.dispose();
    x.dispose();
    bn.dispose();
  });

  it('leave modules with hooks, or a subclass with its own forward pass, to run one by one with the same values', async () => {
    const e = engine();
    class TracedReLU extends ReLU {
      calls = 0;
      override forward(tape: Tape, x: Variable): Variable {
        this.calls += 1;
        return super.forward(tape, x);
      }
    }
    const own = new TracedReLU();
    const block = new Sequential(new BatchNorm2d(e, 3), new ReLU(), new MaxPool2d(2));
    const subclassed = new Sequential(new BatchNorm2d(e, 3), own, new MaxPool2d(2));
    for (const m of [block, subclassed]) m.eval();
    const x = constant(e.tensor(random(2 * 3 * 16, 6), [2, 3, 4, 4]));
    const tape = new Tape(e, { grad: false });
    const run = (m: Sequential) => kernelsOf(() => m.call(tape, x));
    const fused = run(block);
    expect(fused.names).toEqual(['batch_norm.eval_coefficients', 'pool.max_pool_fused+norm+relu']);
    const unhook = block.at(1)!.registerForwardHook(() => undefined);
    const hooked = run(block);
    expect(hooked.names).not.toContain('pool.max_pool_fused+norm+relu');
    unhook();
    const overridden = run(subclassed);
    expect(own.calls).toBe(1);
    const want = await fused.result.value.toArray();
    assertClose(await hooked.result.value.toArray(), want, EXACT, 'hooked');
    assertClose(await overridden.result.value.toArray(), want, EXACT, 'subclass');
    tape.dispose();
    x.dispose();
    for (const m of [block, subclassed]) m.dispose();
  });
});
