import { describe, expect, it } from 'vitest';
import { foldBatchNorm } from '../src/graph/fold.js';
import { Graph, type GraphNode } from '../src/graph/graph.js';
import { GraphExecutor } from '../src/graph/executor.js';
import { compileGraph } from '../src/graph/plan.js';
import { inferShapes } from '../src/graph/shapes.js';
import { conv2d } from '../src/ops/conv.js';
import { add, relu } from '../src/ops/elementwise.js';
import { linear } from '../src/ops/gemm.js';
import { batchNorm } from '../src/ops/norm.js';
import { adaptiveAvgPool2d, avgPool2d, maxPool2d } from '../src/ops/pool.js';
import { interpolate } from '../src/ops/resize.js';
import { softmax } from '../src/ops/softmax.js';
import { conv2dRef } from '../src/reference/conv.js';
import { addRef, reluRef } from '../src/reference/elementwise.js';
import { linearRef } from '../src/reference/gemm.js';
import { host, type HostTensor } from '../src/reference/host-tensor.js';
import { batchNormRef } from '../src/reference/norm.js';
import { adaptiveAvgPool2dRef, avgPool2dRef, maxPool2dRef } from '../src/reference/pool.js';
import { interpolateRef } from '../src/reference/resize.js';
import { softmaxRef } from '../src/reference/softmax.js';
import { bucketSize } from '../src/runtime/buffer-pool.js';
import type { Engine } from '../src/runtime/engine.js';
import { numel, type Tensor } from '../src/runtime/tensor.js';
import { assertClose, random, reduction, useEngine } from './helpers.js';

const engine = useEngine();

/** Weights of the test network, on the host (for the reference) and on the GPU (for the graph). */
interface Param {
  host: HostTensor;
  gpu: Tensor;
}

function param(e: Engine, shape: number[], seed: number, lo = -1, hi = 1): Param {
  const data = random(numel(shape), seed, lo, hi);
  return { host: host(data, shape), gpu: e.tensor(data, shape) };
}

interface BnParams {
  mean: Param;
  variance: Param;
  weight?: Param;
  bias?: Param;
}

function bnParams(e: Engine, c: number, seed: number, affine = true): BnParams {
  return {
    mean: param(e, [c], seed, -0.5, 0.5),
    variance: param(e, [c], seed + 1, 0.5, 2),
    weight: affine ? param(e, [c], seed + 2, 0.5, 1.5) : undefined,
    bias: affine ? param(e, [c], seed + 3, -0.5, 0.5) : undefined,
  };
}

/**
 * A small residual network touching every node kind: interpolate, conv + bn + relu, a residual
 * block (conv + bn + add + relu), a downsampling block whose skip is itself a conv + bn (affine-free
 * batch norm, conv without bias), max / avg / adaptive pooling, flatten, linear, softmax.
 */
function testNet(e: Engine) {
  const p = {
    w1: param(e, [8, 4, 3, 3], 11, -0.4, 0.4),
    b1: param(e, [8], 12),
    bn1: bnParams(e, 8, 13),
    w2: param(e, [8, 8, 3, 3], 21, -0.3, 0.3),
    bn2: bnParams(e, 8, 23),
    w3: param(e, [6, 8, 1, 1], 31, -0.5, 0.5),
    bn3: bnParams(e, 6, 33, false),
    w4: param(e, [6, 8, 3, 3], 41, -0.3, 0.3),
    b4: param(e, [6], 42),
    bn4: bnParams(e, 6, 43),
    fcw: param(e, [5, 6], 51),
    fcb: param(e, [5], 52),
  };
  const conv3x3 = { padding: 1, algorithm: 'implicit' as const };
  const build = () => {
    const g = new Graph();
    const c = (name: string, t: Param | undefined) => (t ? g.constant(name, t.gpu) : undefined);
    const bn = (x: GraphNode, name: string, s: BnParams) =>
      g.batchNorm(x, c(`${name}.running_mean`, s.mean)!, c(`${name}.running_var`, s.variance)!, c(`${name}.weight`, s.weight), c(`${name}.bias`, s.bias));
    const x = g.input('x');
    const up = g.interpolate(x, { size: [9, 9], mode: 'bilinear' }, 'up');
    const h1 = g.relu(bn(g.conv2d(up, c('conv1.weight', p.w1)!, c('conv1.bias', p.b1), conv3x3), 'bn1', p.bn1), 'relu1');
    const h2 = g.relu(g.add(bn(g.conv2d(h1, c('conv2.weight', p.w2)!, undefined, conv3x3), 'bn2', p.bn2), h1), 'relu2');
    const d = bn(g.conv2d(h2, c('down.weight', p.w3)!, undefined, { stride: 2, algorithm: 'implicit' }), 'down_bn', p.bn3);
    const m = bn(g.conv2d(h2, c('conv4.weight', p.w4)!, c('conv4.bias', p.b4), { ...conv3x3, stride: 2 }), 'bn4', p.bn4);
    const h3 = g.relu(g.add(d, m), 'relu3');
    const pooled = g.avgPool2d(g.maxPool2d(h3, { kernelSize: 3, stride: 2, padding: 1 }), { kernelSize: 2, stride: 1 });
    const features = g.flatten(g.adaptiveAvgPool2d(pooled, 1), 1);
    const logits = g.linear(features, c('fc.weight', p.fcw)!, c('fc.bias', p.fcb));
    g.output('logits', logits);
    g.output('probs', g.softmax(logits, 1));
    return g;
  };

  /** The same network op by op on the GPU, each op eager. */
  const eager = (xData: Float32Array, shape: number[]) => {
    const owned: Tensor[] = [];
    const keep = (t: Tensor) => (owned.push(t), t);
    const bn = (t: Tensor, s: BnParams) => keep(batchNorm(t, s.mean.gpu, s.variance.gpu, s.weight?.gpu, s.bias?.gpu, { training: false }));
    const x = keep(e.tensor(xData, shape));
    const up = keep(interpolate(x, { size: [9, 9], mode: 'bilinear' }));
    const h1 = keep(relu(bn(keep(conv2d(up, p.w1.gpu, p.b1.gpu, conv3x3)), p.bn1)));
    const h2 = keep(relu(keep(add(bn(keep(conv2d(h1, p.w2.gpu, undefined, conv3x3)), p.bn2), h1))));
    const d = bn(keep(conv2d(h2, p.w3.gpu, undefined, { stride: 2 })), p.bn3);
    const m = bn(keep(conv2d(h2, p.w4.gpu, p.b4.gpu, { ...conv3x3, stride: 2 })), p.bn4);
    const h3 = keep(relu(keep(add(d, m))));
    const pooled = keep(avgPool2d(keep(maxPool2d(h3, { kernelSize: 3, stride: 2, padding: 1 })), { kernelSize: 2, stride: 1 }));
    const features = keep(keep(adaptiveAvgPool2d(pooled, 1)).flatten(1));
    const logits = keep(linear(features, p.fcw.gpu, p.fcb.gpu));
    const probs = keep(softmax(logits, 1));
    return { logits, probs, dispose: () => owned.forEach((t) => t.dispose()) };
  };

  /** The CPU reference of the same network, in float64. */
  const reference = (xData: Float32Array, shape: number[]) => {
    const bn = (t: HostTensor, s: BnParams) => batchNormRef(t, s.mean.host, s.variance.host, s.weight?.host, s.bias?.host, { training: false }).output;
    const up = interpolateRef(host(xData, shape), { size: [9, 9], mode: 'bilinear' });
    const h1 = reluRef(bn(conv2dRef(up, p.w1.host, p.b1.host, { padding: 1 }), p.bn1));
    const h2 = reluRef(addRef(bn(conv2dRef(h1, p.w2.host, undefined, { padding: 1 }), p.bn2), h1));
    const d = bn(conv2dRef(h2, p.w3.host, undefined, { stride: 2 }), p.bn3);
    const m = bn(conv2dRef(h2, p.w4.host, p.b4.host, { padding: 1, stride: 2 }), p.bn4);
    const h3 = reluRef(addRef(d, m));
    const pooled = avgPool2dRef(maxPool2dRef(h3, { kernelSize: 3, stride: 2, padding: 1 }), { kernelSize: 2, stride: 1 });
    const gap = adaptiveAvgPool2dRef(pooled, 1);
    const features = { shape: [gap.shape[0]!, gap.shape[1]!], data: gap.data };
    const logits = linearRef(features, p.fcw.host, p.fcb.host);
    return { logits, probs: softmaxRef(logits, 1) };
  };

  const dispose = () => {
    for (const v of Object.values(p)) {
      if ('gpu' in v) v.gpu.dispose();
      else for (const s of Object.values(v)) s?.gpu.dispose();
    }
  };
  return { build, eager, reference, dispose };
}

// Longest chain of sums feeding one logit, for the tolerance: three 3x3 convs of 8 channels deep.
const NET_TOL = reduction(72 * 3);

describe('compiled plans', () => {
  it('match the eager ops and the CPU reference, with and without the inference rewrites', async () => {
    const e = engine();
    const net = testNet(e);
    const shape = [2, 4, 7, 7];
    const x = random(numel(shape), 7);
    const g = net.build();
    const fused = await compileGraph(e, g, { x: shape });
    const plain = await compileGraph(e, g, { x: shape }, { rewrite: false });
    expect(fused.rewrites).toEqual({ foldedBatchNorms: 4, foldedOnHost: 0, fusedAdds: 2, fusedRelus: 3, fusedChains: 0 });
    expect(plain.rewrites).toEqual({ foldedBatchNorms: 0, foldedOnHost: 0, fusedAdds: 0, fusedRelus: 0, fusedChains: 0 });
    expect(fused.outputShapes).toEqual({ logits: [2, 5], probs: [2, 5] });
    // Each fold removes batch norm's two dispatches, each fused add or ReLU one.
    expect(plain.dispatchCount - fused.dispatchCount).toBe(4 * 2 + 2 + 3);

    const want = net.reference(x, shape);
    const eager = net.eager(x, shape);
    const eagerLogits = await eager.logits.toArray();
    const eagerProbs = await eager.probs.toArray();
    eager.dispose();
    for (const [name, plan] of [['rewritten', fused], ['plain', plain]] as const) {
      const got = await plan.run({ x });
      assertClose(got.logits!, want.logits.data, NET_TOL, `${name} plan logits vs reference`);
      assertClose(got.probs!, want.probs.data, NET_TOL, `${name} plan probs vs reference`);
      assertClose(got.logits!, eagerLogits, NET_TOL, `${name} plan logits vs eager ops`);
      assertClose(got.probs!, eagerProbs, NET_TOL, `${name} plan probs vs eager ops`);
    }
    // A second input through the same plan.
    const x2 = random(numel(shape), 8);
    assertClose((await fused.run({ x: x2 })).logits!, net.reference(x2, shape).logits.data, NET_TOL, 'second run');
    fused.dispose();
    plain.dispose();
    net.dispose();
  });

  it('fuse conv + batch norm + residual add + relu into one dispatch', async () => {
    const e = engine();
    const w = param(e, [8, 4, 3, 3], 61, -0.4, 0.4);
    const b = param(e, [8], 62);
    const s = bnParams(e, 8, 63);
    const g = new Graph();
    const x = g.input('x');
    const skip = g.input('skip');
    const conv = g.conv2d(x, g.constant('c.weight', w.gpu), g.constant('c.bias', b.gpu), { padding: 1, algorithm: 'implicit' });
    const normed = g.batchNorm(conv, g.constant('bn.mean', s.mean.gpu), g.constant('bn.var', s.variance.gpu), g.constant('bn.w', s.weight!.gpu), g.constant('bn.b', s.bias!.gpu));
    g.output('y', g.relu(g.add(skip, normed)));
    const shapes = { x: [3, 4, 5, 6], skip: [3, 8, 5, 6] };
    const fused = await compileGraph(e, g, shapes);
    const plain = await compileGraph(e, g, shapes, { rewrite: false });
    expect(fused.dispatchCount).toBe(1);
    expect(plain.dispatchCount).toBe(5); // conv, two for batch norm, add, relu

    const xd = random(numel(shapes.x), 64);
    const sd = random(numel(shapes.skip), 65);
    const bnOut = batchNormRef(conv2dRef(host(xd, shapes.x), w.host, b.host, { padding: 1 }), s.mean.host, s.variance.host, s.weight!.host, s.bias!.host, {
      training: false,
    }).output;
    const want = reluRef(addRef(host(sd, shapes.skip), bnOut));
    assertClose((await fused.run({ x: xd, skip: sd })).y!, want.data, reduction(36), 'fused');
    assertClose((await plain.run({ x: xd, skip: sd })).y!, want.data, reduction(36), 'plain');
    fused.dispose();
    plain.dispose();
    for (const t of [w, b, s.mean, s.variance, s.weight!, s.bias!]) t.gpu.dispose();
  });

  it('absorb a node only when nothing else reads its result', async () => {
    const e = engine();
    const w = param(e, [4, 4, 1, 1], 71);
    const s = bnParams(e, 4, 72);
    const shape = [1, 4, 3, 3];
    const xd = random(36, 73);
    const convOut = conv2dRef(host(xd, shape), w.host);
    const bnOut = batchNormRef(convOut, s.mean.host, s.variance.host, undefined, undefined, { training: false }).output;
    const y = reluRef(addRef(bnOut, host(xd, shape)));
    // Which intermediate is also an output: the conv's (nothing folds into it), or the batch norm's
    // (it folds into the conv, but the add cannot join: its operand must stay visible).
    for (const [wanted, counts] of [
      ['conv', { foldedBatchNorms: 0, foldedOnHost: 0, fusedAdds: 0, fusedRelus: 1, fusedChains: 0 }],
      ['normed', { foldedBatchNorms: 1, foldedOnHost: 0, fusedAdds: 0, fusedRelus: 1, fusedChains: 0 }],
    ] as const) {
      const g = new Graph();
      const x = g.input('x');
      const conv = g.conv2d(x, g.constant('w', w.gpu));
      const normed = g.batchNorm(conv, g.constant('m', s.mean.gpu), g.constant('v', s.variance.gpu));
      g.output(wanted, wanted === 'conv' ? conv : normed);
      g.output('y', g.relu(g.add(normed, x)));
      const plan = await compileGraph(e, g, { x: shape });
      expect(plan.rewrites).toEqual(counts);
      const got = await plan.run({ x: xd });
      assertClose(got[wanted]!, (wanted === 'conv' ? convOut : bnOut).data, reduction(4), wanted);
      assertClose(got.y!, y.data, reduction(4), `y with ${wanted} as an output`);
      plan.dispose();
    }
    for (const t of [w, s.mean, s.variance]) t.gpu.dispose();
  });

  it('reuse buffers by liveness: a chain of ten relus needs three buffers', async () => {
    const e = engine();
    const g = new Graph();
    let h = g.input('x');
    for (let i = 0; i < 10; i++) h = g.relu(h);
    g.output('y', h);
    const plan = await compileGraph(e, g, { x: [1000] });
    // The input, and two buffers the relus alternate between.
    expect(plan.peakBytes).toBe(3 * bucketSize(4000));
    const xd = random(1000, 81);
    assertClose((await plan.run({ x: xd })).y!, Array.from(xd, (v) => Math.max(v, 0)), { rtol: 0, atol: 0 }, 'relu chain');
    plan.dispose();
  });
});

describe('folding batch norm into a convolution', () => {
  it('computes the folded weight and bias on the GPU, with or without the optional operands', async () => {
    const e = engine();
    const w = param(e, [5, 3, 2, 3], 91);
    const b = param(e, [5], 92);
    for (const [withBias, affine] of [[true, true], [false, false]]) {
      const s = bnParams(e, 5, 93, affine);
      const eps = 1e-3;
      const folded = foldBatchNorm(w.gpu, withBias ? b.gpu : undefined, { mean: s.mean.gpu, variance: s.variance.gpu, weight: s.weight?.gpu, bias: s.bias?.gpu, eps });
      const gotW = await folded.weight.toArray();
      const gotB = await folded.bias.toArray();
      const wantW = new Float64Array(w.host.data.length);
      const wantB = new Float64Array(5);
      for (let o = 0; o < 5; o++) {
        const scale = (s.weight?.host.data[o] ?? 1) / Math.sqrt(s.variance.host.data[o]! + eps);
        for (let k = 0; k < 18; k++) wantW[o * 18 + k] = w.host.data[o * 18 + k]! * scale;
        wantB[o] = ((withBias ? b.host.data[o]! : 0) - s.mean.host.data[o]!) * scale + (s.bias?.host.data[o] ?? 0);
      }
      assertClose(gotW, wantW, { rtol: 1e-5, atol: 1e-6 }, 'folded weight');
      assertClose(gotB, wantB, { rtol: 1e-5, atol: 1e-6 }, 'folded bias');
      folded.weight.dispose();
      folded.bias.dispose();
      for (const t of Object.values(s)) t?.gpu.dispose();
    }
    const bad = e.tensor([1, 2, 3], [3]);
    expect(() => foldBatchNorm(w.gpu, undefined, { mean: bad, variance: bad, eps: 1e-5 })).toThrow(
      'foldBatchNorm: running mean should have shape [5] (one value per output channel of weight [5, 3, 2, 3]), got [3]',
    );
    bad.dispose();
    w.gpu.dispose();
    b.gpu.dispose();
  });
});

describe('shape inference', () => {
  it('gives every node its shape', () => {
    const e = engine();
    const w = e.zeros([6, 3, 3, 3]);
    const g = new Graph();
    const x = g.input('x');
    const c = g.conv2d(x, g.constant('w', w), undefined, { stride: 2 });
    const f = g.flatten(g.maxPool2d(c, { kernelSize: 2, ceilMode: true }), 1);
    g.output('f', f);
    const shapes = inferShapes(g, { x: [2, 3, 11, 11] });
    expect(shapes[c.id]).toEqual([2, 6, 5, 5]);
    expect(shapes[f.id]).toEqual([2, 6 * 3 * 3]);
    w.dispose();
  });

  it("fails with the op's own message, naming the node", async () => {
    const e = engine();
    const w = e.zeros([8, 3, 3, 3]);
    const fc = e.zeros([10, 20]);
    const g = new Graph();
    const x = g.input('image');
    const c = g.conv2d(x, g.constant('stem.weight', w), undefined, { padding: 1 });
    g.output('y', g.linear(g.flatten(c, 1), g.constant('fc.weight', fc)));
    await expect(compileGraph(e, g, { image: [1, 4, 8, 8] })).rejects.toThrow(
      "graph node 'stem' (conv2d) on input [1, 4, 8, 8] from 'image': conv2d: expected input with 3 channels (weight [8, 3, 3, 3], groups 1), got input [1, 4, 8, 8]",
    );
    await expect(compileGraph(e, g, { image: [1, 3, 8, 8] })).rejects.toThrow(
      "graph node 'fc' (linear) on input [1, 512] from 'flatten_3': linear: expected input with 20 features (weight [10, 20]), got input [1, 512]",
    );
    await expect(compileGraph(e, g, {})).rejects.toThrow("graph: no shape given for input 'image'");
    await expect(compileGraph(e, g, { image: [1, 3, 8, 8], label: [1] })).rejects.toThrow(/shapes given for 'label', which the graph has no input of/);

    const g2 = new Graph();
    const a = g2.input('a');
    const b = g2.input('b');
    g2.output('s', g2.add(g2.maxPool2d(a, { kernelSize: 2 }, 'pool'), b, 'sum'));
    expect(() => inferShapes(g2, { a: [1, 2, 6, 6], b: [1, 2, 6, 6] })).toThrow(
      "graph node 'sum' (add) on inputs [1, 2, 3, 3] from 'pool' and [1, 2, 6, 6] from 'b': add: shapes must match, got [1, 2, 3, 3] and [1, 2, 6, 6]",
    );
    expect(() => inferShapes(g2, { a: [1, 2, 1, 1], b: [1, 2, 1, 1] })).toThrow(
      /graph node 'pool' \(maxPool2d\) on input \[1, 2, 1, 1\] from 'a': maxPool2d: output size is too small/,
    );
    w.dispose();
    fc.dispose();
  });

  it('refuses nodes from another graph and duplicate names', () => {
    const e = engine();
    const g = new Graph();
    const other = new Graph();
    const x = g.input('x');
    expect(() => other.relu(x)).toThrow(/refers to a node that is not part of this graph/);
    expect(() => g.input('x')).toThrow(/already an input named 'x'/);
    g.output('y', x);
    expect(() => g.output('y', x)).toThrow(/already an output named 'y'/);
    const t = e.zeros([2]);
    t.dispose();
    expect(() => g.constant('gone', t)).toThrow(/constant 'gone' \[2\] was disposed/);
  });
});

describe('graph executor', () => {
  it('caches plans by input shape and compiles anew for another shape', async () => {
    const e = engine();
    const net = testNet(e);
    const executor = new GraphExecutor(e, net.build());
    const run = async (shape: number[], seed: number) => {
      const data = random(numel(shape), seed);
      const got = await executor.run({ x: { data, shape } });
      assertClose(got.logits!, net.reference(data, shape).logits.data, NET_TOL, `logits at ${shape}`);
    };
    await run([2, 4, 7, 7], 101);
    await run([2, 4, 7, 7], 102);
    expect(executor.compiles).toBe(1);
    const [p1, p2] = await Promise.all([executor.plan({ x: [2, 4, 7, 7] }), executor.plan({ x: [2, 4, 7, 7] })]);
    expect(p1).toBe(p2);
    await run([1, 4, 5, 6], 103);
    expect(executor.compiles).toBe(2);
    expect(executor.cachedShapes).toHaveLength(2);
    // A shape error is reported (and not cached); the executor still works afterwards.
    await expect(executor.run({ x: { data: new Float32Array(3 * 49), shape: [1, 3, 7, 7] } })).rejects.toThrow(/graph node 'conv1' \(conv2d\)/);
    expect(executor.cachedShapes).toHaveLength(2);
    await run([1, 4, 5, 6], 104);
    expect(executor.compiles).toBe(3);

    const inUse = e.stats().bytesInUse;
    const held = executor.bytesAllocated;
    expect(held).toBeGreaterThan(0);
    executor.dispose();
    expect(executor.bytesAllocated).toBe(0);
    // The folded weights went back to the engine's pool.
    expect(e.stats().bytesInUse).toBeLessThan(inUse);
    await expect(executor.run({ x: { data: new Float32Array(98 * 4), shape: [2, 4, 7, 7] } })).rejects.toThrow(/used after dispose/);
    net.dispose();
  });

  it('runs a plan 1,000 times without allocating, and frees it on dispose', async () => {
    const e = engine();
    const w = param(e, [4, 3, 3, 3], 111, -0.5, 0.5);
    const s = bnParams(e, 4, 112);
    const fcw = param(e, [3, 4], 113);
    const g = new Graph();
    const x = g.input('x');
    const h = g.relu(g.batchNorm(g.conv2d(x, g.constant('w', w.gpu), undefined, { padding: 1 }), g.constant('m', s.mean.gpu), g.constant('v', s.variance.gpu)));
    const pooled = g.flatten(g.adaptiveAvgPool2d(g.maxPool2d(h, { kernelSize: 2 }), 1), 1);
    g.output('y', g.softmax(g.linear(pooled, g.constant('fc', fcw.gpu)), 1));
    const plan = await compileGraph(e, g, { x: [1, 3, 6, 6] });
    const inUseBefore = e.stats().bytesInUse;
    const data = random(108, 114);
    const first = (await plan.run({ x: data })).y!;
    const engineBytes = e.stats().bytesAllocated;
    const planBytes = plan.bytesAllocated;
    const pending = [];
    for (let i = 1; i < 1000; i++) pending.push(plan.run({ x: data }));
    const results = await Promise.all(pending);
    expect(e.stats().bytesAllocated).toBe(engineBytes);
    expect(e.stats().bytesInUse).toBe(inUseBefore);
    expect(plan.bytesAllocated).toBe(planBytes);
    expect(results[results.length - 1]!.y).toEqual(first);
    expect(first.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);

    // Each run is one submission (inputs written, every dispatch and the readback in one encoder).
    const queue = e.device.queue;
    const submit = queue.submit;
    let submits = 0;
    queue.submit = (buffers: Iterable<GPUCommandBuffer>) => {
      submits += 1;
      submit.call(queue, buffers);
    };
    try {
      for (let i = 0; i < 5; i++) await plan.run({ x: data });
    } finally {
      queue.submit = submit;
    }
    expect(submits).toBe(5);

    expect(plan.peakBytes).toBeGreaterThan(0);
    plan.dispose();
    expect(plan.bytesAllocated).toBe(0);
    // The folded weight and bias (the plan's own) went back to the engine's pool.
    expect(e.stats().bytesInUse).toBeLessThan(inUseBefore);
    await expect(plan.run({ x: data })).rejects.toThrow(/Plan used after dispose/);
    for (const t of [w, s.mean, s.variance, fcw]) t.gpu.dispose();
  });

  it('refuses inputs of the wrong size or name', async () => {
    const e = engine();
    const g = new Graph();
    g.output('y', g.relu(g.input('x')));
    const plan = await compileGraph(e, g, { x: [2, 3] });
    await expect(plan.run({ x: new Float32Array(5) })).rejects.toThrow("plan: input 'x' was compiled for shape [2, 3] (6 values), got 5 values");
    await expect(plan.run({})).rejects.toThrow("plan: input 'x' [2, 3] needs a Float32Array or a Tensor");
    await expect(plan.run({ x: new Float32Array(6), z: new Float32Array(1) })).rejects.toThrow("plan: no input named 'z'");
    const small = e.tensor([1, 2, 3, 4, 5]);
    await expect(plan.run({ x: small })).rejects.toThrow("plan: input 'x' was compiled for shape [2, 3] (6 values), got 5 values");
    small.dispose();
    await expect(plan.run({ x: small })).rejects.toThrow("plan: input 'x' is a tensor of another engine, or disposed");
    plan.dispose();
  });

  it('takes a GPU tensor as an input, copied on the GPU', async () => {
    const e = engine();
    const g = new Graph();
    g.output('y', g.relu(g.input('x')));
    const plan = await compileGraph(e, g, { x: [2, 3] });
    const values = [-1, 2, -3, 4, -5, 6];
    const x = e.tensor(values, [2, 3]);
    expect((await plan.run({ x })).y).toEqual(new Float32Array(values.map((v) => Math.max(v, 0))));
    // Host and tensor inputs mix across runs of one plan.
    expect((await plan.run({ x: new Float32Array(6).fill(-1) })).y).toEqual(new Float32Array(6));
    expect((await plan.run({ x })).y).toEqual(new Float32Array([0, 2, 0, 4, 0, 6]));
    x.dispose();
    plan.dispose();
  });
});
