// The training CLI's pieces: progress line formatting and redraw policy, report math and tables,
// and a short real training run (its curves are drawn by src/figure, tested in figure.test.ts).
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProgressBar, formatBar, formatDuration, formatProgress } from '../src/cli/progress.js';
import {
  argmaxRows,
  confusionMatrix,
  formatComparison,
  formatConfusionMatrix,
  formatPerClass,
  formatReport,
  matrixAccuracy,
  perClassAccuracy,
} from '../src/cli/report.js';
import { evaluateCheckpoint, trainFashion, trainSettings, type FashionInfo } from '../src/cli/train-fashion.js';
import { FASHION_CLASSES } from '../src/data/fashion-mnist.js';
import { loadFashionMnist } from '../src/data/fashion-mnist-node.js';
import { decodeImage } from '../src/io/image-node.js';
import { encodeSafetensors } from '../src/io/safetensors.js';
import { decodeTrainingCheckpoint } from '../src/io/training-checkpoint.js';
import { useEngine } from './helpers.js';

const engine = useEngine();

describe('progress line', () => {
  it('formats durations, bars and the whole line', () => {
    expect([formatDuration(0), formatDuration(83.4), formatDuration(3725), formatDuration(undefined), formatDuration(Infinity)]).toEqual([
      '0:00',
      '1:23',
      '1:02:05',
      '--:--',
      '--:--',
    ]);
    expect(formatBar(0, 10)).toBe('[          ]');
    expect(formatBar(0.5, 10)).toBe('[=====>    ]');
    expect(formatBar(1, 10)).toBe('[==========]');
    expect(formatProgress({ epoch: 2, epochs: 5, step: 120, steps: 600, loss: 0.43214, accuracy: 0.8421, samplesPerSecond: 1234.4, etaSeconds: 83 }, 10)).toBe(
      'epoch 2/5  [==>       ]  120/600  loss 0.4321  acc  84.2%   1234 samples/s  ETA 1:23',
    );
    expect(formatProgress({ epoch: 1, epochs: 1, step: 0, steps: 60 }, 4)).toBe('epoch 1/1  [    ]   0/60  loss   -     acc   -    - samples/s  ETA --:--');
  });

  it('prints plain lines every N steps when not a terminal', () => {
    const lines: string[] = [];
    const bar = new ProgressBar({ write: (s) => lines.push(s), isTTY: false }, { everySteps: 4 });
    for (let step = 1; step <= 10; step++) bar.update({ epoch: 1, epochs: 1, step, steps: 10, loss: 1 / step });
    bar.finish();
    expect(lines.map((l) => l.slice(0, 30))).toEqual([
      formatProgress({ epoch: 1, epochs: 1, step: 4, steps: 10 }).slice(0, 30) + '',
      formatProgress({ epoch: 1, epochs: 1, step: 8, steps: 10 }).slice(0, 30),
      formatProgress({ epoch: 1, epochs: 1, step: 10, steps: 10 }).slice(0, 30),
    ]);
    expect(lines.every((l) => l.endsWith('\n') && !l.includes('\r'))).toBe(true);
    expect(lines[0]).toContain('loss 0.2500');
  });

  it('redraws in place on a terminal, throttled, and ends the line', () => {
    const out: string[] = [];
    let now = 0;
    const bar = new ProgressBar({ write: (s) => out.push(s), isTTY: true }, { minIntervalMs: 100, now: () => now });
    for (let step = 1; step <= 10; step++) {
      now += 30;
      bar.update({ epoch: 1, epochs: 1, step, steps: 10 });
    }
    // Draws at t=30, then every >= 100 ms (t=150, 270), and always at the last step (t=300).
    expect(out.length).toBe(4);
    expect(out.every((s) => s.startsWith('\r') && s.endsWith('\x1b[K'))).toBe(true);
    expect(out[3]).toContain('10/10');
    bar.log('saved checkpoint');
    expect(out.slice(4)).toEqual(['\r\x1b[K', 'saved checkpoint\n']);
    bar.update({ epoch: 1, epochs: 1, step: 10, steps: 10 });
    bar.finish();
    expect(out.at(-1)).toBe('\n');
  });
});

describe('report', () => {
  const predicted = [0, 1, 1, 2, 2, 2, 0];
  const actual = [0, 1, 2, 2, 2, 0, 0];

  it('computes argmax, the confusion matrix and accuracies', () => {
    expect(Array.from(argmaxRows([0.1, 0.7, 0.2, 3, -1, 3, -5, -4, -6], 3))).toEqual([1, 0, 1]);
    expect(() => argmaxRows([1, 2, 3, 4], 3)).toThrow('argmaxRows: 4 values do not form rows of 3');
    const m = confusionMatrix(predicted, actual, 3);
    expect(m).toEqual([
      [2, 0, 1],
      [0, 1, 0],
      [0, 1, 2],
    ]);
    expect(matrixAccuracy(m)).toBeCloseTo(5 / 7, 12);
    expect(perClassAccuracy(m)).toEqual([2 / 3, 1, 2 / 3]);
    expect(perClassAccuracy([[0, 0], [1, 1]])[0]).toBeNaN();
    expect(() => confusionMatrix([3], [0], 3)).toThrow('confusionMatrix: sample 0 has target 0 and prediction 3, expected classes 0..2');
  });

  it('prints per-class accuracy and the confusion matrix as aligned tables', () => {
    const m = confusionMatrix(predicted, actual, 3);
    const names = ['T-shirt/top', 'Trouser', 'Pullover'];
    expect(formatPerClass(m, names).split('\n')).toEqual([
      'class        samples  correct  accuracy',
      'T-shirt/top        3        2    66.67%',
      'Trouser            1        1   100.00%',
      'Pullover           3        2    66.67%',
    ]);
    expect(formatConfusionMatrix(m, names).split('\n')).toEqual([
      'true \\ predicted    0    1    2',
      '0 T-shirt/top       2    0    1',
      '1 Trouser           0    1    0',
      '2 Pullover          0    1    2',
    ]);
    const report = formatReport('CNN', { matrix: m, loss: 0.5 }, names);
    expect(report.split('\n')[0]).toBe('CNN: test accuracy 71.43% (5/7), test loss 0.5000');
  });

  it('puts two models side by side', () => {
    const m = confusionMatrix(predicted, actual, 3);
    const text = formatComparison(
      [
        { name: 'DNN', evaluation: { matrix: m }, parameters: 235146, trainSeconds: 12.34, samplesPerSecond: 4000, epochs: 1, trainSamples: 6000 },
        { name: 'CNN', evaluation: { matrix: [[3, 0, 0], [0, 1, 0], [0, 0, 3]], loss: 0.1 }, parameters: 1475338, trainSeconds: 60, samplesPerSecond: 800, epochs: 1, trainSamples: 6000 },
      ],
      FASHION_CLASSES.slice(0, 3),
    );
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^ +DNN +CNN$/);
    expect(lines[1]).toMatch(/^test accuracy +71\.43% +100\.00%$/);
    expect(lines[3]).toMatch(/^parameters +235,146 +1,475,338$/);
    expect(lines[5]).toMatch(/^train time +12\.3 s +60\.0 s$/);
    expect(text).toMatch(/\nPullover +66\.7% +100\.0%/);
  });
});

describe('command-line settings', () => {
  it('parses options with defaults and refuses bad values', () => {
    const d = trainSettings({});
    expect(d).toMatchObject({ epochs: 1, batchSize: 32, lr: 1e-3, schedule: 'cosine', seed: 1, outDir: 'runs' });
    expect(trainSettings({ schedule: 'constant' }).schedule).toBe('constant');
    expect(() => trainSettings({ schedule: 'linear' })).toThrow("--schedule must be one of constant, cosine, got 'linear'");
    expect(trainSettings({ 'limit-train': 'all', epochs: '5', lr: '3e-4', seed: '0' })).toMatchObject({ limitTrain: undefined, epochs: 5, lr: 3e-4, seed: 0 });
    expect(() => trainSettings({ epochs: '0' })).toThrow("--epochs must be a positive integer, got '0'");
    expect(() => trainSettings({ 'limit-train': 'some' })).toThrow("--limit-train must be a positive integer or 'all', got 'some'");
    expect(() => trainSettings({ lr: '-1' })).toThrow("--lr must be a positive number, got '-1'");
    expect(() => trainSettings({ seed: '1.5' })).toThrow("--seed must be an integer >= 0, got '1.5'");
  });
});

describe('training on Fashion-MNIST (real, short)', () => {
  it('trains the DNN 2 x 150 steps (resuming from its checkpoint), well above chance on held-out images', async () => {
    const data = await loadFashionMnist();
    const dir = await mkdtemp(join(tmpdir(), 'fashion-'));
    try {
      const progress: string[] = [];
      const lines: string[] = [];
      const io = { progress: { write: (s: string) => progress.push(s), isTTY: false }, log: (l: string) => lines.push(l) };
      // A constant rate: the resumed run extends the first (a cosine schedule spans the run it is given).
      const settings = { epochs: 1, batchSize: 32, lr: 1e-3, schedule: 'constant' as const, seed: 1, limitTrain: 4800, limitTest: 1000, outDir: dir, readEvery: 10, evalBatchSize: 500 };

      const first = await trainFashion(engine(), data, 'dnn', settings, io);
      expect(first.history.steps.length).toBe(150);
      expect(first.parameters).toBe(784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
      const firstAccuracy = matrixAccuracy(first.evaluation.matrix);
      expect(firstAccuracy).toBeGreaterThan(0.65); // chance is 0.1
      expect(progress.some((l) => l.startsWith('epoch 1/1') && l.includes('150/150'))).toBe(true);

      // A second epoch from the saved model and Adam state.
      const second = await trainFashion(engine(), data, 'dnn', { ...settings, epochs: 2 }, io, { resume: true });
      expect(second.history.epochs.map((e) => e.epoch)).toEqual([1, 2]);
      expect(second.history.steps.length).toBe(300);
      const accuracy = matrixAccuracy(second.evaluation.matrix);
      expect(accuracy).toBeGreaterThan(0.72);
      const [e1, e2] = second.history.epochs;
      expect(e2!.trainLoss).toBeLessThan(e1!.trainLoss);
      expect(lines.join('\n')).toContain('resuming DNN');
      expect(lines.join('\n')).toContain('confusion matrix (rows: true class, columns: predicted class)');

      // One checkpoint file per save (model, Adam state, position, RNG, settings), nothing else.
      expect((await readdir(dir)).sort()).toEqual(['fashion-dnn.png', 'fashion-dnn.safetensors']);
      const ckpt = decodeTrainingCheckpoint<FashionInfo>(new Uint8Array(await readFile(second.checkpoint)), second.checkpoint);
      expect([...ckpt.model.keys()].sort()).toEqual(['fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight', 'fc3.bias', 'fc3.weight']);
      expect(ckpt.model.get('fc1.weight')!.shape).toEqual([256, 784]);
      expect(ckpt.optimizer.type).toBe('Adam');
      expect(ckpt.position).toEqual({ epoch: 2, batch: 0, step: 300 });
      expect(ckpt.seed).toBe(1);
      expect(ckpt.modules).toEqual({ drop: { type: 'Dropout', state: { calls: 300 } } });
      expect(ckpt.description).toEqual({ kind: 'fashion-dnn', classNames: FASHION_CLASSES });
      expect(ckpt.info).toMatchObject({ command: 'train', model: 'dnn', settings: { epochs: 2, batchSize: 32, lr: 1e-3, schedule: 'constant', seed: 1, trainImages: 4800 } });
      expect(ckpt.info.testAccuracy).toBeCloseTo(accuracy, 6);
      // The curves: a PNG, and every step recorded with its batch's size (the curves' weights).
      expect(decodeImage(await readFile(second.plot), second.plot).format).toBe('png');
      expect(second.history.steps.every((r) => r.size === 32)).toBe(true);

      // `evaluate` on the checkpoint reproduces the final evaluation exactly.
      const evaluation = await evaluateCheckpoint(engine(), data, second.checkpoint, undefined, { limitTest: 1000, evalBatchSize: 250 }, io);
      expect(evaluation.matrix).toEqual(second.evaluation.matrix);
      await expect(evaluateCheckpoint(engine(), data, second.checkpoint, 'cnn', { limitTest: 10, evalBatchSize: 10 }, io)).rejects.toThrow(
        `${second.checkpoint} holds a dnn model, not cnn`,
      );

      // Resuming with other hyperparameters is refused, naming the stored ones...
      await expect(trainFashion(engine(), data, 'dnn', { ...settings, epochs: 3, lr: 2e-3, batchSize: 64 }, io, { resume: true })).rejects.toThrow(
        `${second.checkpoint} was trained with --batch 32 --lr 0.001 --schedule constant --seed 1 --limit-train 4800; resuming with --batch 64 --lr 0.002 ` +
          'would change the run: give the values it was trained with, or --override-hyperparameters to continue with the new ones',
      );
      await expect(trainFashion(engine(), data, 'dnn', { ...settings, epochs: 3, limitTrain: 3200 }, io, { resume: true })).rejects.toThrow(/resuming with --limit-train 3200 would change the run/);
      // ...unless overridden (here it then finds nothing left to train: the checks passed).
      lines.length = 0;
      await expect(trainFashion(engine(), data, 'dnn', { ...settings, epochs: 2, lr: 2e-3 }, io, { resume: true, overrideHyperparameters: true })).rejects.toThrow(
        'nothing to train: the checkpoint already holds epoch 2 of 2',
      );
      expect(lines).toContain(`${second.checkpoint}: continuing with changed hyperparameters: --lr 0.001 -> 0.002`);

      // A checkpoint of an older version (model and optimiser in two files): evaluate still reads
      // its model file; resume refuses it clearly.
      const legacy = join(dir, 'legacy');
      await mkdir(legacy);
      const legacyModel = encodeSafetensors([...ckpt.model], { format: 'pt', model: 'dnn', epoch: '2' });
      await writeFile(join(legacy, 'fashion-dnn.safetensors'), legacyModel);
      await writeFile(join(legacy, 'fashion-dnn.optim.safetensors'), encodeSafetensors({}, { optimizer_numbers: '{}', epoch: '2' }));
      const legacyEvaluation = await evaluateCheckpoint(engine(), data, join(legacy, 'fashion-dnn.safetensors'), undefined, { limitTest: 1000, evalBatchSize: 250 }, io);
      expect(legacyEvaluation.matrix).toEqual(second.evaluation.matrix);
      await expect(trainFashion(engine(), data, 'dnn', { ...settings, epochs: 3, outDir: legacy }, io, { resume: true })).rejects.toThrow(
        `${join(legacy, 'fashion-dnn.safetensors')} was written by an older version (model and optimizer state in two files) and cannot be resumed; ` +
          '`evaluate` still reads it. Train again without --resume',
      );
      await expect(trainFashion(engine(), data, 'dnn', { ...settings, outDir: join(dir, 'nothing') }, io, { resume: true })).rejects.toThrow(
        `${join(dir, 'nothing', 'fashion-dnn.safetensors')}: cannot read the checkpoint: no such file (train without --resume first)`,
      );
      // Nothing left on the GPU but the pool's free buffers.
      expect(engine().stats().bytesInUse).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
