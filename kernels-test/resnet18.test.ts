// ResNet18 on the graph executor: the state dict's names and shapes, bad weight files, and parity
// with PyTorch's logits for the same seeded weights and inputs (kernels-test/fixtures/resnet18/,
// written by scripts/golden/make_resnet18_fixtures.py).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSafetensors, type SafeTensor } from '../src/io/safetensors.js';
import { GraphExecutor } from '../src/graph/executor.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { checkStateDict, foldResNet18BatchNorms, loadResNet18, resnet18Graph, resnet18StateShapes, type ResNet18 } from '../src/nn/models/resnet18.js';
import { seededImages, seededResNet18Safetensors, seededResNet18Weights } from '../src/nn/models/seeded-weights.js';
import { useEngine } from './helpers.js';

const engine = useEngine();

interface ParityCase {
  name: string;
  inputSeed: number;
  shape: [number, number, number, number];
  logits: { shape: number[]; data: number[] };
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/resnet18/resnet18.json', import.meta.url), 'utf8')) as {
  weightSeed: number;
  /** Keyed by torchvision's state_dict names, in its order (written by PyTorch). */
  weightCrc32: Record<string, number>;
  cases: ParityCase[];
};

let seeded: Map<string, SafeTensor> | undefined;

/** The seeded weights as a safetensors file, with `edit` applied to its entries first. */
function weightFile(edit: (entries: Map<string, SafeTensor>) => void): Uint8Array {
  seeded ??= new Map([...seededResNet18Weights(fixture.weightSeed)].map(([name, t]) => [name, { dtype: 'F32', shape: t.shape, data: t.data }]));
  const entries = new Map(seeded);
  edit(entries);
  return encodeSafetensors(entries);
}

describe('ResNet18 state dict', () => {
  it("has torchvision's names, order and shapes (the module's state dict)", () => {
    const shapes = resnet18StateShapes();
    // PyTorch's own state_dict, names in order (the fixture's float tensors).
    expect([...shapes.keys()]).toEqual(Object.keys(fixture.weightCrc32));
    expect([...shapes.values()].reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0)).toBe(11_689_512 + 9_600); // torchvision's parameters + running statistics
    expect(shapes.get('conv1.weight')).toEqual([64, 3, 7, 7]);
    expect(shapes.get('layer2.0.downsample.0.weight')).toEqual([128, 64, 1, 1]);
    expect(shapes.get('layer3.1.bn2.running_var')).toEqual([256]);
    expect(shapes.get('layer4.1.conv2.weight')).toEqual([512, 512, 3, 3]);
    expect(resnet18StateShapes({ numClasses: 10 }).get('fc.weight')).toEqual([10, 512]);
  });

  it('is traced from ResNet18Module: the graph holds its ops, named after its modules', () => {
    const g = resnet18Graph(new Map([...resnet18StateShapes()].map(([n, shape]) => [n, { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) }])));
    const count = (op: string) => g.nodes.filter((n) => n.op === op).length;
    expect([count('conv2d'), count('batchNorm'), count('relu'), count('add'), count('maxPool2d'), count('adaptiveAvgPool2d'), count('flatten'), count('linear')]).toEqual([20, 20, 17, 8, 1, 1, 1, 1]);
    expect(g.nodes.filter((n) => n.op === 'conv2d').map((n) => n.name).slice(0, 6)).toEqual(['conv1', 'layer1.0.conv1', 'layer1.0.conv2', 'layer1.1.conv1', 'layer1.1.conv2', 'layer2.0.conv1']);
    expect(g.nodes.find((n) => n.name === 'layer2.0.downsample.0')).toMatchObject({ op: 'conv2d', options: { stride: 2, padding: 0 } });
    expect(g.nodes.find((n) => n.name === 'bn1')).toMatchObject({ op: 'batchNorm', options: { training: false, eps: 1e-5 } });
    expect(g.inputs.map((n) => n.name)).toEqual(['image']);
    expect([...g.outputs.keys()]).toEqual(['logits']);
  });

  it('folds every batch norm into its convolution on the host', () => {
    const weights = seededResNet18Weights(fixture.weightSeed);
    const folded = foldResNet18BatchNorms(weights);
    // 20 convolutions, each with a new bias, and fc; no batch norm tensors.
    const convolutions = [...resnet18StateShapes().keys()].filter((n) => /conv\d\.weight$|downsample\.0\.weight$/.test(n));
    expect([...folded.keys()]).toEqual([...convolutions.flatMap((n) => [n, n.replace(/weight$/, 'bias')]), 'fc.weight', 'fc.bias']);
    expect(folded.size).toBe(20 * 2 + 2);
    expect(folded.get('layer2.0.downsample.0.bias')!.shape).toEqual([128]);
    expect([...folded.keys()].some((n) => /bn|downsample\.1|running/.test(n))).toBe(false);
    // One channel by the formula, in float64.
    const w = weights.get('layer3.1.conv2.weight')!;
    const [gamma, beta, mean, variance] = ['weight', 'bias', 'running_mean', 'running_var'].map((t) => weights.get(`layer3.1.bn2.${t}`)!.data);
    const o = 17;
    const per = 256 * 9;
    const scale = gamma![o]! / Math.sqrt(variance![o]! + 1e-5);
    expect(folded.get('layer3.1.conv2.weight')!.data[o * per + 5]).toBeCloseTo(w.data[o * per + 5]! * scale, 6);
    expect(folded.get('layer3.1.conv2.bias')!.data[o]).toBeCloseTo(beta![o]! - mean![o]! * scale, 6);
    weights.delete('layer1.1.bn1.running_var');
    expect(() => foldResNet18BatchNorms(weights)).toThrow('ResNet18 state dict: 1 missing tensor: layer1.1.bn1.running_var');
  });

  it('names every missing, unexpected and mis-shaped tensor', () => {
    const shapes = resnet18StateShapes();
    const weights = new Map([...shapes].map(([n, s]) => [n, { shape: s }]));
    weights.delete('layer3.1.bn2.running_var');
    weights.delete('fc.bias');
    weights.set('layer4.2.conv1.weight', { shape: [512, 512, 3, 3] });
    weights.set('conv1.weight', { shape: [64, 1, 7, 7] });
    weights.set('bn1.num_batches_tracked', { shape: [] }); // PyTorch's counter: accepted
    expect(() => checkStateDict('ResNet18', weights, shapes)).toThrow(
      'ResNet18 state dict: 2 missing tensors: layer3.1.bn2.running_var, fc.bias; 1 unexpected tensor: layer4.2.conv1.weight; ' +
        '1 mis-shaped tensor: conv1.weight (expected [64, 3, 7, 7], got [64, 1, 7, 7])',
    );
    const record = Object.fromEntries([...shapes].map(([n, s]) => [n, { shape: s }]));
    expect(() => checkStateDict('ResNet18', record, shapes)).not.toThrow();
    expect(() => resnet18Graph({})).toThrow(/ResNet18 state dict: 102 missing tensors: conv1\.weight, bn1\.weight, .* and 90 more$/);
  });

  it('refuses bad weight files by name, before uploading anything', async () => {
    const e = engine();
    const before = e.stats().bytesAllocated;
    const misshaped = weightFile((m) => m.set('fc.bias', { dtype: 'F32', shape: [999], data: new Float32Array(999) }));
    await expect(loadResNet18(e, misshaped)).rejects.toThrow('ResNet18 state dict: 1 mis-shaped tensor: fc.bias (expected [1000], got [999])');
    const missing = weightFile((m) => m.delete('layer2.0.downsample.1.running_mean'));
    await expect(loadResNet18(e, missing)).rejects.toThrow('ResNet18 state dict: 1 missing tensor: layer2.0.downsample.1.running_mean');
    const integer = weightFile((m) => m.set('bn1.running_var', { dtype: 'I64', shape: [64], data: new BigInt64Array(64) }));
    await expect(loadResNet18(e, integer)).rejects.toThrow('ResNet18 state dict: expected floating-point tensors, got bn1.running_var (I64)');
    await expect(loadResNet18(e, misshaped.subarray(0, misshaped.length - 10), { source: 'resnet18.safetensors' })).rejects.toThrow(
      /safetensors \(resnet18\.safetensors\): .*truncated/,
    );
    expect(e.stats().bytesAllocated).toBe(before);
  });
});

describe('ResNet18 parity with PyTorch', () => {
  let model: ResNet18 | undefined;
  beforeAll(async () => {
    // The file PyTorch would export (with its int64 num_batches_tracked counters), through the loader.
    model = await loadResNet18(engine(), seededResNet18Safetensors(fixture.weightSeed));
  });
  afterAll(() => model?.dispose());

  for (const c of fixture.cases) {
    it(`matches the logits within 1e-3 at ${c.name} ${JSON.stringify(c.shape)}`, async () => {
      const images = seededImages(c.inputSeed, c.shape);
      const logits = await model!.classify(images, c.shape);
      expect(logits.length).toBe(c.logits.data.length);
      let worst = 0;
      for (let i = 0; i < logits.length; i++) worst = Math.max(worst, Math.abs(logits[i]! - c.logits.data[i]!));
      const scale = Math.max(...c.logits.data.map(Math.abs));
      console.log(`${c.name}: max abs error ${worst.toExponential(2)} (largest |logit| ${scale.toFixed(2)})`);
      expect(worst).toBeLessThanOrEqual(1e-3);
    });
  }

  it('names a wrong input type instead of failing inside the graph', async () => {
    await expect(model!.classify(new Float64Array(3 * 32 * 32) as never, [1, 3, 32, 32])).rejects.toThrow(
      'ResNet18.classify: expected a Tensor or a Float32Array with its shape, got a Float64Array (convert it with Float32Array.from)',
    );
    await expect(model!.classify(new Float32Array(3 * 32 * 32) as never)).rejects.toThrow('ResNet18.classify: a Float32Array needs its shape [N, 3, H, W], got undefined');
  });

  it('compiled one plan per shape, batch norms folded at load and every add and relu fused', async () => {
    const executor = model!.executor;
    expect(executor.compiles).toBe(new Set(fixture.cases.map((c) => JSON.stringify(c.shape))).size);
    const plan = await executor.plan({ image: fixture.cases[0]!.shape });
    // No batch norm left to fold on the GPU; 8 residual adds; the stem's relu and two per block.
    expect(plan.rewrites).toEqual({ foldedBatchNorms: 0, foldedOnHost: 0, fusedAdds: 8, fusedRelus: 17, fusedChains: 0 });
    // The plan of the hand-built graph this one replaced: 63 dispatches, 19,126,272 bytes of
    // activations at 224x224, batch 1; 44 and 2,209,792 at 64x64.
    const big = await executor.plan({ image: [1, 3, 224, 224] });
    const small = await executor.plan({ image: [1, 3, 64, 64] });
    expect([big.dispatchCount, big.peakBytes, small.dispatchCount, small.peakBytes]).toEqual([63, 19_126_272, 44, 2_209_792]);
  });

  it("matches with torchvision's unfolded weights too (the graph's GPU fold rewrite)", async () => {
    const e = engine();
    const c = fixture.cases.find((k) => k.name === 'batch2-64')!;
    const weights = new Map<string, Tensor>([...seededResNet18Weights(fixture.weightSeed)].map(([n, t]) => [n, e.tensor(t.data, t.shape)]));
    const executor = new GraphExecutor(e, resnet18Graph(weights));
    try {
      const logits = (await executor.run({ image: { data: seededImages(c.inputSeed, c.shape), shape: c.shape } })).logits!;
      const worst = Math.max(...[...logits].map((v, i) => Math.abs(v - c.logits.data[i]!)));
      expect(worst).toBeLessThanOrEqual(1e-3);
      expect((await executor.plan({ image: c.shape })).rewrites).toEqual({ foldedBatchNorms: 20, foldedOnHost: 0, fusedAdds: 8, fusedRelus: 17, fusedChains: 0 });
    } finally {
      executor.dispose();
      for (const t of weights.values()) t.dispose();
    }
  });

  it('refuses images of the wrong shape with the op and node named', async () => {
    await expect(model!.classify(new Float32Array(4 * 32 * 32), [1, 4, 32, 32])).rejects.toThrow(
      /graph node 'conv1' \(conv2d\) on input \[1, 4, 32, 32\] from 'image': conv2d: expected input with 3 channels/,
    );
  });
});
