// GroupNorm and LayerNorm beyond the registry-driven test (kernels-test/ops.test.ts checks the
// ops' values and gradients): the modules' parameters, state dicts and use in a Sequential on a
// Tape, the ops as graph nodes, empty inputs, and the argument errors, word for word.
import { describe, expect, it } from 'vitest';
import { Tape } from '../src/autograd/tape.js';
import { Variable, constant } from '../src/autograd/variable.js';
import { Graph } from '../src/graph/graph.js';
import { compileGraph } from '../src/graph/plan.js';
import { GroupNorm, LayerNorm } from '../src/nn/norm.js';
import { Sequential } from '../src/nn/sequential.js';
import { groupNorm, layerNorm } from '../src/ops/norm.js';
import { host, type HostTensor } from '../src/reference/host-tensor.js';
import { groupNormRef, layerNormRef } from '../src/reference/norm.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { finiteDifferences } from './gradcheck.js';
import { assertClose, gradient, random, reduction, useEngine, useLimitedEngines } from './helpers.js';

const engine = useEngine();
const limited = useLimitedEngines();

const shapes = (m: GroupNorm | LayerNorm) => m.namedParameters().map(([name, v]) => [name, [...v.shape]]);

describe('GroupNorm and LayerNorm modules', () => {
  it("have PyTorch's parameter names, shapes and initial values (ones and zeros)", async () => {
    const e = engine();
    const gn = new GroupNorm(e, 3, 6);
    const ln = new LayerNorm(e, [2, 3]);
    const ln1 = new LayerNorm(e, 4, { eps: 1e-3 });
    expect(shapes(gn)).toEqual([['weight', [6]], ['bias', [6]]]);
    expect(shapes(ln)).toEqual([['weight', [2, 3]], ['bias', [2, 3]]]);
    expect(shapes(ln1)).toEqual([['weight', [4]], ['bias', [4]]]);
    expect([gn.eps, ln.eps, ln1.eps]).toEqual([1e-5, 1e-5, 1e-3]);
    expect(ln1.normalizedShape).toEqual([4]);
    expect([...(await gn.weight!.value.toArray())]).toEqual([1, 1, 1, 1, 1, 1]);
    expect([...(await gn.bias!.value.toArray())]).toEqual([0, 0, 0, 0, 0, 0]);
    expect([...(await ln.weight!.value.toArray())]).toEqual([1, 1, 1, 1, 1, 1]);
    expect([...(await ln.bias!.value.toArray())]).toEqual([0, 0, 0, 0, 0, 0]);
    const plain = [new GroupNorm(e, 2, 4, { affine: false }), new LayerNorm(e, [3], { elementwiseAffine: false })];
    for (const m of plain) expect([...m.stateDict().keys()]).toEqual([]);
    for (const m of [gn, ln, ln1, ...plain]) m.dispose();
  });

  it('round-trip their state dicts: a loaded copy computes the same as the float64 reference', async () => {
    const e = engine();
    const shape = [2, 4, 3, 5];
    const xs = random(120, 1, -2, 3);
    const x = e.tensor(xs, shape);
    const cases = [
      { make: () => new GroupNorm(e, 2, 4), ref: (w: HostTensor, b: HostTensor) => groupNormRef(host(xs, shape), w, b, { numGroups: 2 }) },
      { make: () => new LayerNorm(e, [3, 5]), ref: (w: HostTensor, b: HostTensor) => layerNormRef(host(xs, shape), w, b, { normalizedShape: [3, 5] }) },
    ];
    for (const [i, { make, ref }] of cases.entries()) {
      const [source, copy] = [make(), make()];
      const affineShape = source.weight!.shape;
      const [ws, bs] = [random(source.weight!.value.size, 10 + i, 0.5, 1.5), random(source.weight!.value.size, 20 + i)];
      const [weight, bias] = [e.tensor(ws, affineShape), e.tensor(bs, affineShape)];
      expect(source.loadStateDict(new Map([['weight', weight], ['bias', bias]]))).toEqual({ missingKeys: [], unexpectedKeys: [] });
      expect(copy.loadStateDict(source.stateDict())).toEqual({ missingKeys: [], unexpectedKeys: [] });
      const [a, b] = [await output(source, x), await output(copy, x)];
      expect(b).toEqual(a);
      assertClose(a, ref(host(ws, affineShape), host(bs, affineShape)).data, reduction(2 * 15), `${source.constructor.name} after loadStateDict`);
      for (const t of [source, copy, weight, bias]) t.dispose();
    }
    x.dispose();
  });

  it('train inside a Sequential on a Tape: every parameter gets the gradient of the composed references', async () => {
    const e = engine();
    const shape = [2, 4, 3, 5];
    const xs = random(120, 3, -2, 3);
    const seedValues = random(120, 4);
    const model = new Sequential(new GroupNorm(e, 2, 4), new LayerNorm(e, [3, 5]));
    const init = model.namedParameters().map(([name, v], i) => {
      const size = v.value.size;
      const values = name.endsWith('weight') ? random(size, 30 + i, 0.5, 1.5) : random(size, 30 + i);
      return [name, e.tensor(values, v.shape)] as const;
    });
    model.loadStateDict(new Map(init));
    const params = Object.fromEntries(await Promise.all(init.map(async ([name, t]) => [name, Float64Array.from(await t.toArray())] as const)));
    // sum(seed * layerNorm(groupNorm(x))), all in float64, reading the current parameter values.
    const objective = () => {
      const p = (name: string, s: number[]) => ({ shape: s, data: params[name]! });
      const h = groupNormRef(host(xs, shape), p('0.weight', [4]), p('0.bias', [4]), { numGroups: 2 });
      const y = layerNormRef(h, p('1.weight', [3, 5]), p('1.bias', [3, 5]), { normalizedShape: [3, 5] }).data;
      return y.reduce((sum, v, i) => sum + v * seedValues[i]!, 0);
    };

    const tape = new Tape(e);
    const x = constant(e.tensor(xs, shape));
    const seed = e.tensor(seedValues, shape);
    const y = model.call(tape, x);
    tape.backward(y, seed);
    for (const [name, v] of model.namedParameters()) {
      expect(v.grad, name).toBeDefined();
      assertClose(await v.grad!.toArray(), finiteDifferences(objective, params[name]!), gradient(2 * 15), `d/d${name}`);
    }
    tape.dispose();
    for (const t of [x, seed, model, ...init.map(([, t]) => t)]) t.dispose();
  });

  it('run as graph nodes, compiled into a plan, as they run eagerly', async () => {
    const e = engine();
    const x = random(2 * 4 * 15, 5, -2, 3);
    const [w1, b1, w2, b2] = [e.tensor(random(4, 6, 0.5, 1.5), [4]), e.tensor(random(4, 7), [4]), e.tensor(random(15, 8, 0.5, 1.5), [3, 5]), e.tensor(random(15, 9), [3, 5])];
    const g = new Graph();
    const h = g.node('groupNorm', [g.input('x'), g.constant('w1', w1), g.constant('b1', b1)], { numGroups: 2 });
    g.output('y', g.node('layerNorm', [h, g.constant('w2', w2), g.constant('b2', b2)], { normalizedShape: [3, 5] }));
    const plan = await compileGraph(e, g, { x: [2, 4, 3, 5] });
    const got = (await plan.run({ x })).y!;
    const xt = e.tensor(x, [2, 4, 3, 5]);
    const hidden = groupNorm(xt, 2, w1, b1);
    const eager = layerNorm(hidden, [3, 5], w2, b2);
    expect([...got]).toEqual([...(await eager.toArray())]);
    plan.dispose();
    for (const t of [w1, b1, w2, b2, xt, hidden, eager]) t.dispose();
  });

  it('take empty inputs: an empty output, zero gradients for the parameters', async () => {
    const e = engine();
    for (const [model, shape] of [
      [new GroupNorm(e, 2, 4), [0, 4, 3]],
      [new LayerNorm(e, [4, 0]), [2, 4, 0]],
    ] as const) {
      const tape = new Tape(e);
      const x = new Variable(e.zeros(shape), { requiresGrad: true });
      const y = model.call(tape, x);
      expect([...y.shape]).toEqual(shape);
      tape.backward(y, e.zeros(shape));
      expect([...x.grad!.shape]).toEqual(shape);
      for (const [name, v] of model.namedParameters()) expect([...(await v.grad!.toArray())], name).toEqual(new Array(v.value.size).fill(0));
      tape.dispose();
      x.dispose();
      model.dispose();
    }
  });

  it('refuse bad arguments with errors naming the op, what it expected and what it got', async () => {
    const e = engine();
    expect(() => new GroupNorm(e, 4, 6)).toThrow('GroupNorm: num_channels must be divisible by num_groups, got 6 channels and 4 groups');
    expect(() => new GroupNorm(e, 0, 6)).toThrow('GroupNorm: num_groups must be a positive integer, got 0');
    expect(() => new GroupNorm(e, 2, 2.5)).toThrow('GroupNorm: num_channels must be a positive integer, got 2.5');
    expect(() => new LayerNorm(e, [])).toThrow('LayerNorm: normalized_shape must be an integer >= 0 or a non-empty list of them, got []');
    expect(() => new LayerNorm(e, [3, -1])).toThrow('LayerNorm: normalized_shape must be an integer >= 0 or a non-empty list of them, got [3,-1]');

    const x = e.zeros([2, 6, 5]);
    const [c5, c6] = [e.zeros([5]), e.zeros([6])];
    const flat = e.zeros([6]);
    expect(() => groupNorm(flat, 2)).toThrow('groupNorm: expected input of rank 2 or more ([N, C, *]), got shape [6]');
    expect(() => groupNorm(x, 0)).toThrow('groupNorm: numGroups must be a positive integer, got 0');
    expect(() => groupNorm(x, 4)).toThrow('groupNorm: expected the channels (dimension 1) to be divisible by numGroups = 4, got input [2, 6, 5]');
    expect(() => groupNorm(x, 2, c5)).toThrow('groupNorm: weight should have shape [6] (one value per channel of input [2, 6, 5]), got [5]');
    expect(() => groupNorm(x, 2, c6, c5)).toThrow('groupNorm: bias should have shape [6] (one value per channel of input [2, 6, 5]), got [5]');
    expect(() => groupNorm(x, 2, c6, c6, { eps: -1 })).toThrow('groupNorm: eps must be a finite number >= 0, got -1');
    expect(() => layerNorm(x, [6])).toThrow('layerNorm: expected input of shape [*, 6] (normalizedShape [6]), got [2, 6, 5]');
    expect(() => layerNorm(x, [1, 2, 6, 5])).toThrow('layerNorm: expected input of shape [*, 1, 2, 6, 5] (normalizedShape [1, 2, 6, 5]), got [2, 6, 5]');
    expect(() => layerNorm(x, [])).toThrow('layerNorm: normalizedShape must be an integer >= 0 or a non-empty list of them, got []');
    expect(() => layerNorm(x, 5, c6)).toThrow('layerNorm: weight should have the shape of normalizedShape [5], got [6]');
    expect(() => layerNorm(x, [6, 5], undefined, c5)).toThrow('layerNorm: bias should have the shape of normalizedShape [6, 5], got [5]');
    expect(() => layerNorm(x, 5, undefined, undefined, { eps: NaN })).toThrow('layerNorm: eps must be a finite number >= 0, got NaN');

    // Past the binding limit (lowered here) the runtime splits by samples; one sample too big alone
    // is refused before anything is allocated or recorded.
    const s = await limited(256);
    const wide = s.zeros([2, 6, 20]);
    const long = s.zeros([3, 80]);
    const before = { pending: s.pending, inUse: s.pool.stats().bytesInUse };
    const refusal = 'over the storage-binding limit of 256 bytes (lowered by EngineOptions.maxStorageBufferBindingSize), and cannot be split further';
    expect(() => groupNorm(wide, 2)).toThrow(`groupNorm: one sample needs a binding of 480 bytes (x; x [2, 6, 20]), ${refusal}`);
    expect(() => layerNorm(long, 80)).toThrow(`layerNorm: one sample needs a binding of 320 bytes (x; x [3, 80]), ${refusal}`);
    expect({ pending: s.pending, inUse: s.pool.stats().bytesInUse }).toEqual(before);
    for (const t of [wide, long]) t.dispose();

    // Through a module, the op names the mismatch (a GroupNorm for 4 channels given 6).
    const tape = new Tape(e);
    const gn = new GroupNorm(e, 2, 4);
    expect(() => gn.call(tape, constant(x))).toThrow('groupNorm: weight should have shape [6] (one value per channel of input [2, 6, 5]), got [4]');
    tape.dispose();
    for (const t of [x, c5, c6, flat, gn]) t.dispose();
  });
});

async function output(m: GroupNorm | LayerNorm, x: Tensor): Promise<Float32Array> {
  const tape = new Tape(engine(), { grad: false });
  try {
    return await m.call(tape, constant(x)).value.toArray();
  } finally {
    tape.dispose();
  }
}
