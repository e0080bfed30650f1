// Training and evaluating the Fashion-MNIST models on the GPU. A training step (upload the batch,
// forward, cross-entropy, backward, Adam) is recorded and submitted as one command buffer; the
// loss and the logits are not read each step but copied on the GPU into a log buffer that is read
// every `readEvery` steps (for the progress line, the curves and the running accuracy). Evaluation
// runs in eval mode without recording gradients and reads all the logits back once.
import { Tape } from '../autograd/tape.js';
import { constant } from '../autograd/variable.js';
import { NUM_CLASSES, batchCount, batches, type LabelledImages } from '../data/fashion-mnist.js';
import { fashionCnn, fashionDnn } from '../nn/models/fashion.js';
import type { Module } from '../nn/module.js';
import { Adam } from '../optim/adam.js';
import { scheduledLr, type LrSchedule } from '../optim/schedule.js';
import type { Engine } from '../runtime/engine.js';
import { argmaxRows, confusionMatrix, type Evaluation } from './report.js';

export type ModelKind = 'cnn' | 'dnn';
export const MODEL_KINDS: readonly ModelKind[] = ['cnn', 'dnn'];
export const MODEL_TITLES: Record<ModelKind, string> = { cnn: 'CNN', dnn: 'DNN' };

/** The models trained here (src/nn Modules). */
export type FashionModel = Module;

export function createModel(kind: ModelKind, engine: Engine, seed: number): FashionModel {
  return kind === 'cnn' ? fashionCnn(engine, { seed }) : fashionDnn(engine, { seed });
}

export function parameterCount(model: FashionModel): number {
  return model.parameters().reduce((n, p) => n + p.value.size, 0);
}

/** One training step's figures (read back in groups of `readEvery` steps). */
export interface StepRecord {
  /** Fractional epoch at the end of the step (1.5 = half-way through the second epoch). */
  epoch: number;
  /** The batch's mean loss and accuracy (training mode: dropout on). */
  loss: number;
  accuracy: number;
  /** Images in the batch (an epoch's last batch may be smaller): the weight of its figures in curves and means. */
  size: number;
}

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  testLoss: number;
  testAccuracy: number;
  trainSeconds: number;
  samplesPerSecond: number;
}

export interface TrainingHistory {
  steps: StepRecord[];
  epochs: EpochRecord[];
}

export interface EpochProgress {
  step: number;
  steps: number;
  /** Running mean over the epoch so far (of what has been read back). */
  loss?: number;
  accuracy?: number;
  samplesPerSecond?: number;
  seconds: number;
}

export interface TrainerOptions {
  lr: number;
  /** How the rate moves over the run ('cosine': from lr to 0 over `epochs` epochs). */
  schedule: LrSchedule;
  /** The run's length in epochs (the cosine schedule's span). */
  epochs: number;
  batchSize: number;
  seed: number;
  /** Steps between readbacks of the logged losses and logits. */
  readEvery: number;
  /** Batch size for evaluation (no gradients, so it can be larger). */
  evalBatchSize: number;
}

/** Mean cross-entropy of logits [n, C] against labels, in float64 on the CPU. */
export function crossEntropyOf(logits: Float32Array, labels: ArrayLike<number>, classes: number): number {
  let total = 0;
  for (let r = 0; r < labels.length; r++) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[r * classes + c]!);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(logits[r * classes + c]! - max);
    total += max + Math.log(sum) - logits[r * classes + labels[r]!]!;
  }
  return total / labels.length;
}

export class FashionTrainer {
  readonly model: FashionModel;
  readonly optimizer: Adam;
  /** Training steps taken so far, across epochs (saved in checkpoints). */
  steps = 0;

  constructor(
    readonly engine: Engine,
    readonly kind: ModelKind,
    readonly options: TrainerOptions,
  ) {
    this.model = createModel(kind, engine, options.seed);
    this.optimizer = new Adam(this.model.parameters(), { lr: options.lr });
  }

  /**
   * One epoch over `train`, shuffled by (seed, epoch). `epoch` counts from 1. Calls `onProgress`
   * after every step (with the figures of the last readback).
   */
  async trainEpoch(train: LabelledImages, epoch: number, onProgress?: (p: EpochProgress) => void, onRecord?: (r: StepRecord) => void): Promise<{ loss: number; accuracy: number; seconds: number; samplesPerSecond: number }> {
    const { engine, model, optimizer } = this;
    const { batchSize, readEvery } = this.options;
    const steps = batchCount(train.count, batchSize);
    // Log buffer: the logits of `readEvery` steps, then their `readEvery` losses.
    const logitsFloats = readEvery * batchSize * NUM_CLASSES;
    const log = engine.empty([logitsFloats + readEvery], 'train.log');
    let pending: Array<{ labels: Uint8Array; size: number }> = [];
    let lossSum = 0;
    let correct = 0;
    let seen = 0;
    const start = performance.now();
    model.train();

    const readLog = async (step: number): Promise<void> => {
      const data = new Float32Array(await engine.readBuffer(log, (logitsFloats + readEvery) * 4));
      const firstStep = step - pending.length + 1;
      pending.forEach((p, slot) => {
        const logits = data.subarray(slot * batchSize * NUM_CLASSES, (slot * batchSize + p.size) * NUM_CLASSES);
        const predicted = argmaxRows(logits, NUM_CLASSES);
        let batchCorrect = 0;
        for (let i = 0; i < p.size; i++) if (predicted[i] === p.labels[i]) batchCorrect++;
        const loss = data[logitsFloats + slot]!;
        if (!Number.isFinite(loss)) throw new Error(`training diverged: the loss is ${loss} at epoch ${epoch}, step ${firstStep + slot}`);
        lossSum += loss * p.size;
        correct += batchCorrect;
        seen += p.size;
        onRecord?.({ epoch: epoch - 1 + (firstStep + slot) / steps, loss, accuracy: batchCorrect / p.size, size: p.size });
      });
      pending = [];
    };

    try {
      let step = 0;
      for (const batch of batches(train, { batchSize, seed: this.options.seed, epoch })) {
        const x = constant(engine.tensor(batch.images, batch.shape));
        const target = engine.tensor(batch.targets, [batch.size]);
        const tape = new Tape(engine);
        try {
          const logits = model.call(tape, x);
          const loss = tape.crossEntropy(logits, target);
          optimizer.zeroGrad();
          tape.backward(loss);
          optimizer.lr = scheduledLr(this.options.schedule, this.options.lr, this.steps, this.options.epochs * steps);
          optimizer.step();
          const slot = pending.length;
          engine.copy(logits.value, log, batch.size * NUM_CLASSES * 4, 0, slot * batchSize * NUM_CLASSES * 4);
          engine.copy(loss.value, log, 4, 0, (logitsFloats + slot) * 4);
          pending.push({ labels: batch.labels, size: batch.size });
        } finally {
          tape.dispose();
          x.value.dispose();
          target.dispose();
        }
        await engine.flush();
        step++;
        this.steps++;
        if (pending.length === readEvery || step === steps) await readLog(step);
        const seconds = (performance.now() - start) / 1000;
        onProgress?.({
          step,
          steps,
          loss: seen > 0 ? lossSum / seen : undefined,
          accuracy: seen > 0 ? correct / seen : undefined,
          samplesPerSecond: seen > 0 ? seen / seconds : undefined,
          seconds,
        });
      }
    } finally {
      log.dispose();
    }
    const seconds = (performance.now() - start) / 1000;
    return { loss: lossSum / seen, accuracy: correct / seen, seconds, samplesPerSecond: seen / seconds };
  }

  /** Accuracy, loss and confusion matrix over `set`, in eval mode, without gradients. */
  async evaluate(set: LabelledImages): Promise<Evaluation> {
    return evaluateModel(this.engine, this.model, set, this.options.evalBatchSize);
  }
}

/** Runs `model` over `set` in eval mode (no tape recording), reading all logits back once. */
export async function evaluateModel(engine: Engine, model: FashionModel, set: LabelledImages, batchSize: number): Promise<Evaluation> {
  model.eval();
  const all = engine.empty([set.count, NUM_CLASSES], 'eval.logits');
  try {
    let offset = 0;
    for (const batch of batches(set, { batchSize })) {
      const x = constant(engine.tensor(batch.images, batch.shape));
      const tape = new Tape(engine, { grad: false });
      try {
        const logits = model.call(tape, x);
        engine.copy(logits.value, all, batch.size * NUM_CLASSES * 4, 0, offset * NUM_CLASSES * 4);
      } finally {
        tape.dispose();
        x.value.dispose();
      }
      offset += batch.size;
      // Submit every few batches so the uploads' staging memory does not pile up.
      if (engine.pending > 200) await engine.flush();
    }
    const logits = await all.toArray();
    const predicted = argmaxRows(logits, NUM_CLASSES);
    return { matrix: confusionMatrix(predicted, set.labels, NUM_CLASSES), loss: crossEntropyOf(logits, set.labels, NUM_CLASSES) };
  } finally {
    all.dispose();
    model.train();
  }
}
