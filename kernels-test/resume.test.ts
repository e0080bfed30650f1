// Exact resume: k steps, a checkpoint, a fresh model, optimiser and loader restored from it, and k
// more steps give the same losses and the same final state as 2k steps straight (bit for bit),
// across an epoch boundary (the shuffle order and the augmentation draws continue where they
// stopped). Also: what a checkpoint holds, and the errors for files that are not good ones.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransferSession, makeOptimizer } from '../src/cli/transfer.js';
import { openImageFolder } from '../src/data/image-folder-node.js';
import { ImageFolderLoader } from '../src/data/image-folder.js';
import { readImage } from '../src/io/image-node.js';
import { writeFileAtomic } from '../src/io/atomic-write.js';
import { readTensors } from '../src/io/checkpoint.js';
import { encodePng } from '../src/io/image-node.js';
import { decodeSafetensors, encodeSafetensors } from '../src/io/safetensors.js';
import {
  TRAINING_CHECKPOINT_FORMAT,
  decodeTrainingCheckpoint,
  encodeTrainingCheckpoint,
  restoreTrainingCheckpoint,
} from '../src/io/training-checkpoint.js';
import { Rng } from '../src/nn/init.js';
import { Dropout, ReLU } from '../src/nn/layers.js';
import { Linear } from '../src/nn/linear.js';
import { resnet18Module } from '../src/nn/models/resnet18-module.js';
import { Sequential } from '../src/nn/sequential.js';
import { freezeForTransfer, prepareTransfer, trainableParameters } from '../src/nn/transfer.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { random, useEngine } from './helpers.js';

const engine = useEngine();

/** Two classes of small PNGs: a bright disc or a bright bar on a dark ground, sizes varying. */
async function writeShapesFolder(root: string, perClass: number): Promise<void> {
  for (const [c, name] of ['bar', 'disc'].entries()) {
    for (let i = 0; i < perClass; i++) {
      const [width, height] = [36 + 4 * (i % 3), 34 + 2 * (i % 4)];
      const noise = random(width * height, 100 * c + i, 0, 40);
      const data = new Uint8Array(width * height * 4);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const [dx, dy] = [x - width / 2, y - height / 2];
          const on = name === 'disc' ? dx * dx + dy * dy < (height / 3) ** 2 : Math.abs(dy) < height / 8;
          const v = (on ? 200 : 20) + noise[y * width + x]!;
          data.set([v, on ? 255 - v / 2 : v, 30 + 10 * c, 255], (y * width + x) * 4);
        }
      }
      await writeFileAtomic(join(root, name, `${i}.png`), encodePng({ width, height, data }));
    }
  }
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'resume-'));
  // 10 a class: 8 train + 2 validation each, so 16 training images = 4 batches of 4 per epoch.
  await writeShapesFolder(join(root, 'shapes'), 10);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const SEED = 7;
const BATCH = 4;
const K = 3;

/** A fresh session: fine-tuning layer3+ (frozen stem..layer2 with pinned batch norms), Adam. */
async function freshSession(initSeed: number, restore?: Uint8Array): Promise<TransferSession> {
  const e = engine();
  const folder = await openImageFolder(e, join(root, 'shapes'), { batchSize: BATCH, size: 32, seed: SEED, validationFraction: 0.2 });
  const model = resnet18Module(e, { numClasses: 2, seed: initSeed });
  if (restore) freezeForTransfer(model, 'fine-tune', 'layer3+');
  else prepareTransfer(model, { mode: 'fine-tune', unfreeze: 'layer3+', numClasses: 2, seed: initSeed });
  const optimizer = makeOptimizer('adam', trainableParameters(model), 1e-3);
  const session = new TransferSession(e, model, optimizer, folder.train);
  if (restore) {
    const checkpoint = decodeTrainingCheckpoint(restore, 'test checkpoint');
    restoreTrainingCheckpoint(e, checkpoint, model, optimizer);
    session.position = checkpoint.position;
  }
  return session;
}

async function stateOf(session: TransferSession): Promise<Map<string, Float32Array>> {
  const named = [...session.model.stateDict(), ...Object.entries(session.optimizer.stateDict().state).filter((e): e is [string, Tensor] => typeof e[1] !== 'number')];
  const data = await readTensors(
    engine(),
    named.map(([, t]) => t),
  );
  return new Map(named.map(([name], i) => [name, data[i]!]));
}

function dispose(session: TransferSession): void {
  session.optimizer.dispose();
  session.model.dispose();
}

describe('exact resume', () => {
  it(`${K} steps + checkpoint + resume + ${K} steps = ${2 * K} steps straight, bit for bit`, async () => {
    const straight = await freshSession(3);
    expect(straight.stepsPerEpoch).toBe(4);
    await straight.train(2 * K);
    const straightLosses = straight.history.steps.map((s) => s.loss);
    const straightState = await stateOf(straight);
    expect(straight.position).toEqual({ epoch: 1, batch: 2, step: 6 });
    dispose(straight);

    const first = await freshSession(3);
    await first.train(K);
    expect(first.position).toEqual({ epoch: 0, batch: 3, step: 3 });
    const bytes = await encodeTrainingCheckpoint(first.model, first.optimizer, { position: first.position, seed: SEED, info: { note: 'resume test' } });
    const firstLosses = first.history.steps.map((s) => s.loss);
    dispose(first);

    // Built with other initial weights: everything that matters must come from the checkpoint.
    const resumed = await freshSession(99, bytes);
    expect(resumed.position).toEqual({ epoch: 0, batch: 3, step: 3 });
    await resumed.train(2 * K);
    const resumedLosses = [...firstLosses, ...resumed.history.steps.map((s) => s.loss)];
    const resumedState = await stateOf(resumed);
    dispose(resumed);

    expect(resumedLosses).toEqual(straightLosses);
    expect(new Set(straightLosses).size).toBe(2 * K); // the steps really differ
    expect([...resumedState.keys()]).toEqual([...straightState.keys()]);
    const differing = [...straightState].filter(([name, values]) => !values.every((v, i) => Object.is(v, resumedState.get(name)![i])));
    expect(differing.map(([name]) => name)).toEqual([]);
    // The trained state did move away from the checkpoint (running statistics and weights).
    const atCheckpoint = decodeTrainingCheckpoint(bytes).model;
    for (const name of ['layer4.1.bn2.running_mean', 'fc.weight', 'layer3.0.conv1.weight']) {
      expect(Array.from(atCheckpoint.get(name)!.data as Float32Array)).not.toEqual(Array.from(straightState.get(name)!));
    }
    // Frozen parts are bit-identical to the checkpoint's.
    for (const name of ['conv1.weight', 'layer2.1.bn2.running_var']) {
      expect(Array.from(atCheckpoint.get(name)!.data as Float32Array)).toEqual(Array.from(straightState.get(name)!));
    }
  }, 120_000);
});

describe('an epoch whose last batch would hold one image', () => {
  it('fine-tunes through it: the loader leaves that image out instead of batch norm failing on one value per channel', async () => {
    const e = engine();
    const folder = await openImageFolder(e, join(root, 'shapes'), { batchSize: BATCH, size: 32, seed: SEED, validationFraction: 0.2 });
    // 9 of the 16 training images: batches of 4, 4 and 1. At 32x32 layer4 is 1x1, so a batch of
    // one leaves its batch norms one value per channel.
    const loader = new ImageFolderLoader(e, { ...folder.train.index, samples: folder.train.index.samples.slice(0, 9) }, readImage, folder.train.options);
    const model = resnet18Module(e, { numClasses: 2, seed: 3 });
    prepareTransfer(model, { mode: 'fine-tune', unfreeze: 'layer3+', numClasses: 2, seed: 3 });
    const session = new TransferSession(e, model, makeOptimizer('adam', trainableParameters(model), 1e-3), loader);
    try {
      expect(session.stepsPerEpoch).toBe(2);
      await session.train(2 * session.stepsPerEpoch);
      expect(session.history.steps.map((s) => s.size)).toEqual([4, 4, 4, 4]);
      expect(session.position).toEqual({ epoch: 2, batch: 0, step: 4 });
    } finally {
      dispose(session);
    }
  }, 60_000);
});

describe('checkpoint files', () => {
  it('hold the model, the optimiser, the position and the RNG state in one safetensors file', async () => {
    const e = engine();
    const model = resnet18Module(e, { numClasses: 3, seed: 1 });
    prepareTransfer(model, { mode: 'feature-extraction', numClasses: 3, seed: 2 });
    const optimizer = makeOptimizer('sgd', trainableParameters(model), 0.01);
    try {
      const bytes = await encodeTrainingCheckpoint(model, optimizer, { position: { epoch: 2, batch: 5, step: 41 }, seed: 9, info: { hello: [1, 2] } });
      const { tensors, metadata } = decodeSafetensors(bytes);
      expect(metadata['format']).toBe(TRAINING_CHECKPOINT_FORMAT);
      expect(tensors.has('model.conv1.weight')).toBe(true);
      expect(tensors.has('model.layer1.0.bn1.running_var')).toBe(true);
      expect(tensors.get('model.fc.weight')!.shape).toEqual([3, 512]);
      const checkpoint = decodeTrainingCheckpoint(bytes);
      expect(checkpoint.position).toEqual({ epoch: 2, batch: 5, step: 41 });
      expect(checkpoint.seed).toBe(9);
      expect(checkpoint.modules).toEqual({});
      expect(checkpoint.info).toEqual({ hello: [1, 2] });
      expect(checkpoint.optimizer.type).toBe('SGD');
      expect(checkpoint.optimizer.numbers['param_groups.0.momentum']).toBe(0.9);
      expect(checkpoint.model.size).toBe(model.stateDict().size);
      // Every value survives the round trip.
      const [conv1] = await readTensors(e, [model.stateDict().get('conv1.weight')!]);
      expect(checkpoint.model.get('conv1.weight')!.data).toEqual(conv1);
    } finally {
      optimizer.dispose();
      model.dispose();
    }
  });

  it("carry the Dropout modules' mask counters", async () => {
    const e = engine();
    const build = () => new Sequential(new Linear(e, 4, 3, { rng: new Rng(1) }), new Dropout(0.5, { seed: 11 }), new Linear(e, 3, 2, { rng: new Rng(2) }), new Dropout(0.2, { seed: 12 }));
    const model = build();
    const optimizer = makeOptimizer('sgd', model.parameters(), 0.1);
    const restored = build();
    const restoredOptimizer = makeOptimizer('sgd', restored.parameters(), 0.1);
    try {
      (model.at(1) as Dropout).calls = 5;
      (model.at(3) as Dropout).calls = 2;
      const checkpoint = decodeTrainingCheckpoint(await encodeTrainingCheckpoint(model, optimizer, { position: { epoch: 0, batch: 7, step: 7 }, seed: 3 }));
      expect(checkpoint.modules).toEqual({ '1': { type: 'Dropout', state: { calls: 5 } }, '3': { type: 'Dropout', state: { calls: 2 } } });
      restoreTrainingCheckpoint(e, checkpoint, restored, restoredOptimizer);
      expect([(restored.at(1) as Dropout).calls, (restored.at(3) as Dropout).calls]).toEqual([5, 2]);
      // Each module checks its own state; a bad one changes no counter (module 1's new 9 is rolled back).
      const bad = { '1': { type: 'Dropout', state: { calls: 9 } }, '3': { type: 'Dropout', state: { calls: -1 } } };
      expect(() => restored.loadExtraStates(bad)).toThrow(`Dropout: expected extra state { type: 'Dropout', state: { calls } } with calls an integer >= 0, got {"type":"Dropout","state":{"calls":-1}}`);
      expect(() => restored.loadExtraStates({ ...checkpoint.modules, '3': { type: 'Linear', state: {} } })).toThrow('Dropout: expected extra state');
      expect([(restored.at(1) as Dropout).calls, (restored.at(3) as Dropout).calls]).toEqual([5, 2]);
      // A model without those Dropout modules cannot take the state.
      const plain = new Sequential(new Linear(e, 4, 3), new ReLU(), new Linear(e, 3, 2));
      const plainOptimizer = makeOptimizer('sgd', plain.parameters(), 0.1);
      expect(() => restoreTrainingCheckpoint(e, checkpoint, plain, plainOptimizer, 'ckpt')).toThrow("ckpt: the modules with extra state differ from the model's: '1', '3'");
      plainOptimizer.dispose();
      plain.dispose();
    } finally {
      for (const o of [optimizer, restoredOptimizer]) o.dispose();
      model.dispose();
      restored.dispose();
    }
  });

  it('refuse files that are not whole, matching training checkpoints', async () => {
    const e = engine();
    const model = resnet18Module(e, { numClasses: 2, seed: 1 });
    prepareTransfer(model, { mode: 'feature-extraction', numClasses: 2, seed: 2 });
    const sgd = makeOptimizer('sgd', trainableParameters(model), 0.01);
    const adam = makeOptimizer('adam', trainableParameters(model), 0.01);
    try {
      const bytes = await encodeTrainingCheckpoint(model, sgd, { position: { epoch: 0, batch: 1, step: 1 }, seed: 0 });
      expect(() => decodeTrainingCheckpoint(bytes.subarray(0, bytes.length - 100), 'torn.safetensors')).toThrow(/torn\.safetensors.*truncated/);
      const plain = encodeSafetensors({ w: { dtype: 'F32', shape: [1], data: Float32Array.of(1) } }, { format: 'pt' });
      expect(() => decodeTrainingCheckpoint(plain, 'weights.safetensors')).toThrow(
        `weights.safetensors: not a training checkpoint (expected metadata format '${TRAINING_CHECKPOINT_FORMAT}', found format "pt")`,
      );
      const badPosition = encodeSafetensors(
        { 'model.w': { dtype: 'F32', shape: [1], data: Float32Array.of(1) } },
        { format: TRAINING_CHECKPOINT_FORMAT, optimizer: '{"type":"SGD","numbers":{}}', modules: '{}', position: '{"epoch":-1,"batch":0,"step":0}', seed: '0', info: 'null' },
      );
      // A checkpoint of the earlier layout is refused by name, not misread.
      const v1 = encodeSafetensors({ 'model.w': { dtype: 'F32', shape: [1], data: Float32Array.of(1) } }, { format: 'webgpu-cnn.training-checkpoint.v1' });
      expect(() => decodeTrainingCheckpoint(v1, 'old.safetensors')).toThrow(
        `old.safetensors: a training checkpoint of format 'webgpu-cnn.training-checkpoint.v1', which this version does not read (it reads '${TRAINING_CHECKPOINT_FORMAT}'); start the training afresh`,
      );
      expect(() => decodeTrainingCheckpoint(badPosition, 'x')).toThrow('x: position must be { epoch, batch, step } of integers >= 0, got {"epoch":-1,"batch":0,"step":0}');
      const checkpoint = decodeTrainingCheckpoint(bytes, 'ckpt');
      expect(() => restoreTrainingCheckpoint(e, checkpoint, model, adam, 'ckpt')).toThrow('ckpt: the checkpoint holds SGD state, but training uses Adam');
      const other = resnet18Module(e, { numClasses: 5, seed: 1 });
      const otherSgd = makeOptimizer('sgd', trainableParameters(other), 0.01);
      try {
        expect(() => restoreTrainingCheckpoint(e, checkpoint, other, otherSgd, 'ckpt')).toThrow(
          /ckpt: Error\(s\) in loading state_dict for ResNet18Module:\n\tsize mismatch for fc.weight: copying a param with shape \[2, 512\] from checkpoint, the shape in current model is \[5, 512\]/,
        );
      } finally {
        otherSgd.dispose();
        other.dispose();
      }
    } finally {
      sgd.dispose();
      adam.dispose();
      model.dispose();
    }
  });
});
