// The trainable ResNet18 module: torchvision's state_dict names and shapes, its initialisation,
// loading a torchvision export, and its forward pass against PyTorch's logits for the seeded
// weights (kernels-test/fixtures/resnet18/, written by scripts/golden/make_resnet18_fixtures.py),
// both on the training path (batch norm as its own op) and on the frozen path (folded).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Tape } from '../src/autograd/tape.js';
import { constant } from '../src/autograd/variable.js';
import { encodeSafetensors, type SafeTensor } from '../src/io/safetensors.js';
import { loadResNet18Module, resnet18Module, ResNetConv2d, type ResNet18Module } from '../src/nn/models/resnet18-module.js';
import { resnet18StateShapes } from '../src/nn/models/resnet18.js';
import { seededImages, seededResNet18Safetensors, seededResNet18Weights } from '../src/nn/models/seeded-weights.js';
import { useEngine } from './helpers.js';

const engine = useEngine();

const fixture = JSON.parse(readFileSync(new URL('./fixtures/resnet18/resnet18.json', import.meta.url), 'utf8')) as {
  weightSeed: number;
  cases: Array<{ name: string; inputSeed: number; shape: [number, number, number, number]; logits: { data: number[] } }>;
};

async function logits(model: ResNet18Module, images: Float32Array, shape: number[], grad: boolean): Promise<Float32Array> {
  const e = engine();
  const x = constant(e.tensor(images, shape));
  const tape = new Tape(e, { grad });
  try {
    return await model.forward(tape, x).value.toArray();
  } finally {
    tape.dispose();
    x.dispose();
  }
}

describe('ResNet18Module structure', () => {
  it("holds exactly torchvision's state_dict tensors, parameters in its order", () => {
    const model = resnet18Module(engine(), { numClasses: 7, init: false });
    const expected = resnet18StateShapes({ numClasses: 7 });
    const params = model.namedParameters().map(([n, v]) => [n, v.shape]);
    const buffers = model.namedBuffers().map(([n, t]) => [n, t.shape]);
    expect(params).toEqual([...expected].filter(([n]) => !/running_(mean|var)$/.test(n)));
    expect(buffers).toEqual([...expected].filter(([n]) => /running_(mean|var)$/.test(n)));
    expect(model.parameters().reduce((s, p) => s + p.value.size, 0)).toBe(11_180_103); // torchvision: 11,176,512 + 513 * 7
    expect(model.namedChildren().map(([n]) => n)).toEqual(['conv1', 'bn1', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4', 'avgpool', 'fc']);
    expect(model.numClasses).toBe(7);
    model.dispose();
  });

  it('initialises as torchvision does, each convolution reproducibly from (its name, the seed)', async () => {
    const e = engine();
    const model = resnet18Module(e, { seed: 3, numClasses: 4 });
    const w = await model.layer2.namedParameters().find(([n]) => n === '0.conv2.weight')![1].value.toArray();
    const again = new ResNetConv2d(e, 'layer2.0.conv2', 3, 128, 128, 3, 1, 1);
    const otherSeed = new ResNetConv2d(e, 'layer2.0.conv2', 4, 128, 128, 3, 1, 1);
    expect(await again.weight.value.toArray()).toEqual(w);
    expect(await otherSeed.weight.value.toArray()).not.toEqual(w);
    // kaiming_normal_(mode='fan_out', nonlinearity='relu'): mean 0, std sqrt(2 / (128 * 3 * 3)) over 147,456 values.
    const mean = w.reduce((s, v) => s + v, 0) / w.length;
    const std = Math.sqrt(w.reduce((s, v) => s + (v - mean) ** 2, 0) / w.length);
    expect(Math.abs(mean)).toBeLessThan(1e-3);
    expect(std / Math.sqrt(2 / (128 * 9))).toBeCloseTo(1, 2);
    expect(Array.from(await model.bn1.weight!.value.toArray()).every((v) => v === 1)).toBe(true);
    expect(Array.from(await model.layer4.namedBuffers()[0]![1].toArray()).every((v) => v === 0)).toBe(true);
    // fc: nn.Linear's default, uniform within 1 / sqrt(512).
    const fc = await model.fc.weight.value.toArray();
    expect(Math.max(...fc.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(512));
    for (const m of [model, again, otherSeed]) m.dispose();
  });

  it('refuses bad options, inputs and weights with clear messages', () => {
    const e = engine();
    expect(() => resnet18Module(e, { numClasses: 0 })).toThrow('ResNet18: numClasses must be a positive integer, got 0');
    expect(() => resnet18Module(e, { seed: -1 })).toThrow('ResNet18: seed must be an integer in [0, 2^32), got -1');
    const model = resnet18Module(e, { numClasses: 3, init: false });
    const tape = new Tape(e);
    const x = constant(e.zeros([1, 1, 32, 32]));
    expect(() => model.forward(tape, x)).toThrow('ResNet18: expected images [N, 3, H, W], got [1, 1, 32, 32]');
    const weights = seededResNet18Weights(1, { numClasses: 4 });
    expect(() => model.loadWeights(weights)).toThrow('ResNet18 state dict: 2 mis-shaped tensors: fc.weight (expected [3, 512], got [4, 512]), fc.bias (expected [3], got [4])');
    tape.dispose();
    x.dispose();
    model.dispose();
  });
});

describe('ResNet18Module against PyTorch', () => {
  const c = fixture.cases.find((k) => k.name === 'batch2-64')!;

  it(`matches PyTorch's logits (${c.name}) on the training path and the folded one, whose cache follows loaded weights`, async () => {
    const e = engine();
    // A torchvision export (with its int64 num_batches_tracked counters) through the loader.
    const model = loadResNet18Module(e, seededResNet18Safetensors(fixture.weightSeed));
    expect(model.numClasses).toBe(1000);
    const images = seededImages(c.inputSeed, c.shape);
    const scale = Math.max(...c.logits.data.map(Math.abs));
    const check = (path: string, got: Float32Array) => {
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - c.logits.data[i]!));
      console.log(`${c.name} ${path}: max abs error ${worst.toExponential(2)} (largest |logit| ${scale.toFixed(2)})`);
      expect(got.length).toBe(c.logits.data.length);
      expect(worst, path).toBeLessThanOrEqual(1e-3);
    };
    model.eval();
    // Gradients wanted: batch norm (running statistics) recorded as its own op.
    check('recorded', await logits(model, images, c.shape, true));
    // No gradient wanted: every conv + batch norm folded (afresh: the weights are trainable).
    check('folded', await logits(model, images, c.shape, false));
    // Frozen: folded once and kept; loading other weights must drop the kept folds.
    model.requiresGrad(false);
    model.loadWeights(seededResNet18Weights(fixture.weightSeed + 1));
    const other = await logits(model, images, c.shape, true);
    expect(Math.max(...other.map((v, i) => Math.abs(v - c.logits.data[i]!)))).toBeGreaterThan(0.1);
    model.loadWeights(seededResNet18Weights(fixture.weightSeed));
    check('folded, frozen, after reloading', await logits(model, images, c.shape, true));
    model.dispose();
  });

  it('refuses a torchvision export with wrong or non-float tensors', () => {
    const e = engine();
    const entries = new Map<string, SafeTensor>(
      [...seededResNet18Weights(1, { numClasses: 2 })].map(([n, t]) => [n, { dtype: 'F32', shape: t.shape, data: t.data }]),
    );
    entries.set('bn1.running_mean', { dtype: 'I32', shape: [64], data: new Int32Array(64) });
    expect(() => loadResNet18Module(e, encodeSafetensors(entries))).toThrow('ResNet18 state dict: expected floating-point tensors, got bn1.running_mean (I32)');
    entries.delete('layer1.1.bn2.bias');
    expect(() => loadResNet18Module(e, encodeSafetensors(entries))).toThrow('ResNet18 state dict: 1 missing tensor: layer1.1.bn2.bias');
  });
});
