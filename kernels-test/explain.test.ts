// src/nn/explain: feature maps, Grad-CAM and gradient saliency against PyTorch (hooks and
// F.interpolate: scripts/golden/make_explain_fixtures.py) for the Fashion CNN and a seeded ResNet18;
// Grad-CAM finding the evidence on a task where it is known (a small CNN trained in seconds);
// class probabilities; the pictures; and the refusals.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tape } from '../src/autograd/tape.js';
import { constant } from '../src/autograd/variable.js';
import {
  classProbabilities,
  featureMapPictures,
  featureMaps,
  gradCam,
  heatmapPicture,
  layerNames,
  readFeatureMapPictures,
  readHeatmaps,
  saliency,
  toImageData,
} from '../src/nn/explain/index.js';
import { Conv2d } from '../src/nn/conv.js';
import { AdaptiveAvgPool2d, Flatten, ReLU } from '../src/nn/layers.js';
import { Linear } from '../src/nn/linear.js';
import { fashionCnn, fashionDnn, type FashionCNN } from '../src/nn/models/fashion.js';
import { resnet18Module, type ResNet18Module } from '../src/nn/models/resnet18-module.js';
import { seededImages, seededResNet18Weights, seededTensor } from '../src/nn/models/seeded-weights.js';
import { Sequential } from '../src/nn/sequential.js';
import { Adam } from '../src/optim/adam.js';
import type { Engine } from '../src/runtime/engine.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { FIXTURE_DIR } from './fixtures.js';
import { random, useEngine } from './helpers.js';

const engine = useEngine();

// ---- the PyTorch fixtures ----------------------------------------------------------------------

interface F32 {
  shape: number[];
  f32: string;
}
interface ModelFixture {
  weightSeed: number;
  inputSeed: number;
  inputShape: [number, number, number, number];
  logits: F32;
  classIndex: number[];
  layers: Record<string, { features: F32; gradcam: F32 }>;
  inputGradient?: F32;
}
const fixture = JSON.parse(readFileSync(join(FIXTURE_DIR, 'explain', 'explain.json'), 'utf8')) as { fashionCnn: ModelFixture; resnet18: ModelFixture };

function decode(t: F32): { shape: number[]; data: Float32Array } {
  const bytes = Buffer.from(t.f32, 'base64');
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  expect(data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
  return { shape: t.shape, data };
}

/** Within 1e-4 of PyTorch, relative to the values' scale where they are larger than 1. */
async function expectMatches(actual: Tensor, expected: F32, what: string): Promise<void> {
  const e = decode(expected);
  expect([...actual.shape], what).toEqual(e.shape);
  const a = await actual.toArray();
  let worst = 0;
  let at = 0;
  for (let i = 0; i < a.length; i++) {
    const err = Math.abs(a[i]! - e.data[i]!) / Math.max(1, Math.abs(e.data[i]!));
    if (!(err <= worst)) [worst, at] = [err, i];
  }
  expect(worst, `${what}: worst at ${at}: got ${a[at]}, PyTorch ${e.data[at]}`).toBeLessThanOrEqual(1e-4);
}

/** The seeded Fashion CNN of make_explain_fixtures.py (its fashion_init). */
function seededFashionCnn(e: Engine, seed: number): FashionCNN {
  const model = fashionCnn(e);
  const state = new Map<string, Tensor>();
  for (const [name, t] of model.stateDict()) {
    const [scale, offset] = name.endsWith('running_mean')
      ? [0.1, 0]
      : name.endsWith('running_var')
        ? [0.2, 1]
        : t.rank >= 2
          ? [Math.sqrt(6 / (t.size / t.shape[0]!)), 0]
          : name.endsWith('.weight')
            ? [0.1, 1]
            : [0.1, 0];
    state.set(name, e.tensor(seededTensor(name, seed, t.shape, scale, offset).data, t.shape));
  }
  model.loadStateDict(state);
  for (const t of state.values()) t.dispose();
  return model;
}

function seededResNet(e: Engine, seed: number): ResNet18Module {
  const model = resnet18Module(e, { init: false });
  model.loadWeights(seededResNet18Weights(seed));
  return model;
}

describe('against PyTorch (forward and backward hooks, F.interpolate)', () => {
  for (const kind of ['fashionCnn', 'resnet18'] as const) {
    it(`${kind}: feature maps, Grad-CAM at two layers, logits${kind === 'fashionCnn' ? ', input gradient' : ''}`, async () => {
      const f = fixture[kind];
      const e = engine();
      const model = kind === 'fashionCnn' ? seededFashionCnn(e, f.weightSeed) : seededResNet(e, f.weightSeed);
      const input = e.tensor(seededImages(f.inputSeed, f.inputShape), f.inputShape);
      try {
        const layers = Object.keys(f.layers);
        const maps = featureMaps(model, input, layers);
        for (const layer of layers) await expectMatches(maps.get(layer)!, f.layers[layer]!.features, `${kind} ${layer} features`);
        for (const t of maps.values()) t.dispose();
        for (const layer of layers) {
          const cam = await gradCam(model, input, { layer, classIndex: f.classIndex });
          expect(cam.classIndex).toEqual(f.classIndex);
          await expectMatches(cam.heatmap, f.layers[layer]!.gradcam, `${kind} ${layer} Grad-CAM`);
          await expectMatches(cam.logits, f.logits, `${kind} logits`);
          cam.dispose();
        }
        if (f.inputGradient) {
          const s = await saliency(model, input, { classIndex: f.classIndex });
          await expectMatches(s.gradient, f.inputGradient, `${kind} input gradient`);
          const gradient = decode(f.inputGradient).data;
          const map = await s.map.toArray();
          // One channel: the map is |gradient|.
          expect(Array.from(map)).toEqual(Array.from(await s.gradient.toArray(), Math.abs));
          expect(map.length).toBe(gradient.length);
          s.dispose();
        }
        // Nothing left behind but the model's own tensors.
        expect(model.parameters().every((p) => p.grad === undefined && p.requiresGrad)).toBe(true);
      } finally {
        input.dispose();
        model.dispose();
      }
    });
  }
});

// ---- Grad-CAM finds the evidence where it is known ---------------------------------------------

const SIDE = 20;
const PATCH = 5;

/**
 * Noise images with a 5x5 patch of stripes at a random place, horizontal for class 0 and vertical
 * for class 1, and a 5x5 checkerboard as bright elsewhere in every image, which tells nothing:
 * only the stripes decide the class.
 */
function stripeTask(count: number, seed: number): { images: Float32Array; labels: Int32Array; patches: Array<[number, number]> } {
  const u = random(count * (SIDE * SIDE + 64), seed, 0, 1);
  let k = 0;
  const place = (): number => Math.floor(u[k++]! * (SIDE - PATCH + 1));
  const images = new Float32Array(count * SIDE * SIDE);
  const labels = new Int32Array(count);
  const patches: Array<[number, number]> = [];
  for (let n = 0; n < count; n++) {
    const image = images.subarray(n * SIDE * SIDE, (n + 1) * SIDE * SIDE);
    const label = u[k++]! < 0.5 ? 0 : 1;
    const [top, left] = [place(), place()];
    let [dTop, dLeft] = [place(), place()];
    while (Math.abs(dTop - top) < PATCH && Math.abs(dLeft - left) < PATCH) [dTop, dLeft] = [place(), place()];
    for (let p = 0; p < SIDE * SIDE; p++) image[p] = 0.3 * u[k++]!;
    for (let y = 0; y < PATCH; y++) {
      for (let x = 0; x < PATCH; x++) {
        image[(top + y) * SIDE + left + x] = (label === 0 ? y : x) % 2 === 0 ? 1 : 0;
        image[(dTop + y) * SIDE + dLeft + x] = (x + y) % 2 === 0 ? 1 : 0;
      }
    }
    labels[n] = label;
    patches.push([top, left]);
  }
  return { images, labels, patches };
}

describe('Grad-CAM localises', () => {
  it('puts the peak inside the patch that decides the class, not on an as bright distractor, on a CNN trained for it', async () => {
    const e = engine();
    // conv, relu, conv, relu ('3': 20x20 maps), global average pool, linear.
    const model = new Sequential(new Conv2d(e, 1, 8, 3, { padding: 1 }), new ReLU(), new Conv2d(e, 8, 16, 3, { padding: 1 }), new ReLU(), new AdaptiveAvgPool2d(1), new Flatten(), new Linear(e, 16, 2));
    const optimizer = new Adam(model.parameters(), { lr: 0.01 });
    const batch = 32;
    for (let step = 0; step < 100; step++) {
      const { images, labels } = stripeTask(batch, 1000 + step);
      const x = e.tensor(images, [batch, 1, SIDE, SIDE]);
      const target = e.tensor(labels, [batch]);
      const tape = new Tape(e);
      const loss = tape.crossEntropy(model.call(tape, constant(x)), target);
      optimizer.zeroGrad();
      tape.backward(loss);
      optimizer.step();
      tape.dispose();
      x.dispose();
      target.dispose();
    }
    const test = stripeTask(40, 7);
    const x = e.tensor(test.images, [40, 1, SIDE, SIDE]);
    try {
      const cam = await gradCam(model, x, { layer: '3', classIndex: Array.from(test.labels) });
      const logits = await cam.logits.toArray();
      const heat = await readHeatmaps(cam.heatmap);
      cam.dispose();
      let correct = 0;
      let inside = 0;
      heat.forEach((map, n) => {
        if ((logits[2 * n + 1]! > logits[2 * n]! ? 1 : 0) === test.labels[n]) correct++;
        let peak = 0;
        for (let p = 1; p < map.values.length; p++) if (map.values[p]! > map.values[peak]!) peak = p;
        const [y, x0] = [Math.floor(peak / SIDE), peak % SIDE];
        const [top, left] = test.patches[n]!;
        if (y >= top && y < top + PATCH && x0 >= left && x0 < left + PATCH) inside++;
        expect(map.values[peak]).toBe(1);
      });
      expect(correct).toBeGreaterThanOrEqual(38); // the task is learnt
      expect(inside).toBe(40); // and every heat map peaks inside the patch
    } finally {
      x.dispose();
      optimizer.dispose();
      model.dispose();
    }
  });
});

// ---- hooks, modes, probabilities, pictures, refusals -------------------------------------------

describe('the explain API', () => {
  it('sees layers inside fused paths: a ReLU fused with its max pool, a ResNet18 downsample', async () => {
    const e = engine();
    const cnn = seededFashionCnn(e, 3);
    const image = e.tensor(seededImages(5, [1, 1, 28, 28]), [1, 1, 28, 28]);
    const resnet = seededResNet(e, 1);
    const rgb = e.tensor(seededImages(6, [1, 3, 32, 32]), [1, 3, 32, 32]);
    try {
      // layer1 is conv, batch norm, ReLU, max pool: the last three run as one op unless hooked.
      const maps = featureMaps(cnn, image, ['layer1.1', 'layer1.2', 'layer1']);
      const [bn, relu] = await Promise.all([maps.get('layer1.1')!.toArray(), maps.get('layer1.2')!.toArray()]);
      expect(Array.from(relu)).toEqual(Array.from(bn, (v) => Math.max(v, 0)));
      expect(maps.get('layer1')!.shape).toEqual([1, 32, 14, 14]);
      for (const t of maps.values()) t.dispose();
      // ResNet18's shortcut pair runs folded unless hooked; hooked as a whole it runs as its module.
      const shortcut = featureMaps(resnet, rgb, ['layer2.0.downsample', 'layer2.0.downsample.1']);
      expect(Array.from(await shortcut.get('layer2.0.downsample')!.toArray())).toEqual(Array.from(await shortcut.get('layer2.0.downsample.1')!.toArray()));
      for (const t of shortcut.values()) t.dispose();
      // Hooks leave the model's output alone: Grad-CAM's logits are plain inference's.
      const tape = new Tape(e, { grad: false });
      resnet.eval();
      const plain = await resnet.call(tape, constant(rgb)).value.toArray();
      tape.dispose();
      const cam = await gradCam(resnet, rgb, { layer: 'layer3.0.conv1' });
      const logits = await cam.logits.toArray();
      let worst = 0;
      for (let i = 0; i < plain.length; i++) worst = Math.max(worst, Math.abs(plain[i]! - logits[i]!));
      expect(worst).toBeLessThan(1e-4);
      // Without a class, each image's top class is explained.
      expect(cam.classIndex).toEqual([plain.indexOf(Math.max(...plain))]);
      cam.dispose();
      // Every hook is removed afterwards.
      expect(resnet.namedModules().some(([, m]) => m.hasHooks) || cnn.namedModules().some(([, m]) => m.hasHooks)).toBe(false);
    } finally {
      for (const t of [image, rgb]) t.dispose();
      cnn.dispose();
      resnet.dispose();
    }
  });

  it('puts training mode, frozen parameters and gradients back as they were', async () => {
    const e = engine();
    const model = seededFashionCnn(e, 3);
    const input = e.tensor(seededImages(5, [2, 1, 28, 28]), [2, 1, 28, 28]);
    try {
      model.train();
      model.fc3.requiresGrad(false);
      const grad = e.tensor(new Float32Array(600 * 120).fill(0.5), [120, 600]);
      model.fc2.weight.grad = grad;
      const before = model.parameters().map((p) => p.requiresGrad);
      const s = await saliency(model, input, { classIndex: 1 });
      s.dispose();
      (await gradCam(model, input, { layer: 'layer2.0', classIndex: [0, 9] })).dispose();
      expect(model.namedModules().every(([, m]) => m.training)).toBe(true);
      expect(model.parameters().map((p) => p.requiresGrad)).toEqual(before);
      expect(model.fc2.weight.grad).toBe(grad);
      expect(model.parameters().filter((p) => p !== model.fc2.weight).every((p) => p.grad === undefined)).toBe(true);
      // Evaluation mode while explaining: dropout off, so two runs agree.
      const a = await gradCam(model, input, { layer: 'layer2', classIndex: 2 });
      const b = await gradCam(model, input, { layer: 'layer2', classIndex: 2 });
      expect(Array.from(await a.heatmap.toArray())).toEqual(Array.from(await b.heatmap.toArray()));
      a.dispose();
      b.dispose();
    } finally {
      input.dispose();
      model.dispose();
    }
  });

  it('gives probabilities, log-probabilities and the top classes by name', async () => {
    const e = engine();
    const values = Float32Array.of(1, 3, 0, -2, 2, 2, 0, 1);
    const logits = e.tensor(values, [2, 4]);
    try {
      const [first, second] = await classProbabilities(logits, ['ant', 'bee', 'cat', 'dog'], { top: 3 });
      const exps = [1, 3, 0, -2].map((v) => Math.exp(v));
      const sum = exps.reduce((a, b) => a + b, 0);
      exps.forEach((v, i) => {
        expect(first!.probabilities[i]).toBeCloseTo(v / sum, 6);
        expect(first!.logProbabilities[i]).toBeCloseTo(Math.log(v / sum), 5);
      });
      expect(first!.top.map((c) => c.name)).toEqual(['bee', 'ant', 'cat']);
      expect(second!.top.map((c) => c.index)).toEqual([0, 1, 3]); // a tie goes to the lower index
      expect((await classProbabilities(logits))[0]!.top[0]!.name).toBe('class 1');
      await expect(classProbabilities(logits, ['a', 'b'])).rejects.toThrow('classProbabilities: 2 class names for 4 classes');
    } finally {
      logits.dispose();
    }
  });

  it('makes pictures: each feature map normalised to its own range, heat maps in a perceptual colour map', async () => {
    const maps = Float32Array.of(0, 1, 2, 3, /* channel 1 */ -5, -5, -5, 5);
    // From the GPU: image 1 of a batch of 2.
    const batch = engine().tensor(Float32Array.of(9, 9, 9, 9, 9, 9, 9, 9, ...maps), [2, 2, 2, 2]);
    const read = await readFeatureMapPictures(batch, 1);
    batch.dispose();
    expect(read.map((p) => p.image.data)).toEqual(featureMapPictures(maps, [2, 2, 2]).map((p) => p.image.data));
    await expect(readFeatureMapPictures(batch, 2)).rejects.toThrow('readFeatureMapPictures: image index 2 is out of range for 2 images');
    expect(() => toImageData(read[0]!.image)).toThrow('toImageData: ImageData is not available here');
    const pictures = featureMapPictures(maps, [2, 2, 2]);
    expect(pictures.map((p) => Array.from(p.image.data.filter((_, i) => i % 4 === 0)))).toEqual([
      [0, 85, 170, 255],
      [0, 0, 0, 255],
    ]);
    expect(featureMapPictures(maps, [2, 2, 2], { order: 'active', limit: 1 })[0]!.channel).toBe(0);
    // A fully connected layer's 5 features: one near-square map, padding shown as not-a-number.
    expect(featureMapPictures(Float32Array.of(1, 2, 3, 4, 5), [5])[0]!.image).toMatchObject({ width: 3, height: 2 });
    const heat = heatmapPicture({ width: 2, height: 1, values: [0, 1] });
    expect(Array.from(heat.data)).toEqual([0, 0, 4, 255, 252, 255, 164, 255]); // inferno's ends
  });

  it('refuses unknown layers (listing the valid ones), classes out of range and layers without maps', async () => {
    const e = engine();
    const cnn = seededFashionCnn(e, 3);
    const dnn = fashionDnn(e);
    const input = e.tensor(seededImages(5, [2, 1, 28, 28]), [2, 1, 28, 28]);
    const inUse = e.stats().bytesInUse;
    try {
      expect(layerNames(cnn)).toEqual([
        'layer1', 'layer1.0', 'layer1.1', 'layer1.2', 'layer1.3', 'layer2', 'layer2.0', 'layer2.1', 'layer2.2', 'layer2.3', 'fc1', 'drop', 'fc2', 'fc3',
      ]);
      expect(() => featureMaps(cnn, input, ['layer3'])).toThrow(
        'featureMaps: unknown layer "layer3"; the FashionCNN\'s layers are: layer1, layer1.0, layer1.1, layer1.2, layer1.3, layer2, layer2.0, layer2.1, layer2.2, layer2.3, fc1, drop, fc2, fc3',
      );
      await expect(gradCam(cnn, input, { layer: 'conv9' })).rejects.toThrow('gradCam: unknown layer "conv9"; the FashionCNN\'s layers are: layer1,');
      await expect(gradCam(cnn, input, { layer: 'layer2', classIndex: 10 })).rejects.toThrow('gradCam: classIndex 10 is out of range: the model has 10 classes (0 to 9)');
      await expect(gradCam(cnn, input, { layer: 'layer2', classIndex: [1] })).rejects.toThrow('gradCam: expected 2 class indices (one per image), got 1');
      await expect(saliency(cnn, input, { classIndex: -1 })).rejects.toThrow('saliency: classIndex -1 is out of range');
      await expect(gradCam(dnn, input, { layer: 'fc1' })).rejects.toThrow(
        "gradCam: layer 'fc1' outputs [2, 256]; Grad-CAM needs a layer with maps [N, C, h, w]",
      );
      // The DNN still has feature maps (its units) and a saliency map.
      const units = featureMaps(dnn, input, ['fc1']);
      expect(units.get('fc1')!.shape).toEqual([2, 256]);
      units.get('fc1')!.dispose();
      const s = await saliency(dnn, input);
      expect(s.map.shape).toEqual([2, 1, 28, 28]);
      s.dispose();
      // Nothing is left on the GPU that was not there before.
      await e.sync();
      expect(e.stats().bytesInUse).toBe(inUse);
    } finally {
      input.dispose();
      cnn.dispose();
      dnn.dispose();
    }
  });
});
