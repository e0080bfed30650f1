// Transfer learning with ResNet18 from the command line: `transfer-train` adapts ResNet18 to an
// image folder by feature extraction or fine-tuning, with GPU augmentation, a progress line, a
// validation report each epoch, a PNG of the curves, a prediction grid and a checkpoint of the
// whole training state that `--resume` continues from exactly. The training session and the
// evaluation here are shared with `transfer-demo` (transfer-demo.ts).
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { Tape } from '../autograd/tape.js';
import { constant, type Variable } from '../autograd/variable.js';
import { ImageFolderError, type ImageBatch, type ImageFolderIndex, type ImageFolderLoader, type ImageReader } from '../data/image-folder.js';
import { openImageFolder } from '../data/image-folder-node.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { readImage } from '../io/image-node.js';
import { decodeSafetensors, toFloat32 } from '../io/safetensors.js';
import { readSafetensorsFile } from '../io/safetensors-file.js';
import {
  decodeTrainingCheckpoint,
  encodeTrainingCheckpoint,
  isTrainingCheckpoint,
  restoreTrainingCheckpoint,
  type TrainingCheckpoint,
  type TrainingPosition,
} from '../io/training-checkpoint.js';
import { resnet18Module, type ResNet18Module } from '../nn/models/resnet18-module.js';
import type { HostTensor } from '../nn/models/resnet18.js';
import { freezeForTransfer, prepareTransfer, resolveTransfer, trainableParameters, TRANSFER_MODES, UNFREEZE_CHOICES, type TransferMode, type Unfreeze } from '../nn/transfer.js';
import { Adam } from '../optim/adam.js';
import type { Optimizer } from '../optim/optimizer.js';
import { SGD } from '../optim/sgd.js';
import { Engine } from '../runtime/engine.js';
import { crossEntropyOf } from './fashion-trainer.js';
import { COLORS } from '../figure/style.js';
import type { Figure } from '../figure/svg.js';
import { writeFigure } from './figure-file.js';
import { writePredictionGrid, type Prediction } from './prediction-grid.js';
import { ProgressBar, type CommandIO } from './progress.js';
import { argmaxRows, confusionMatrix, formatConfusionMatrix, formatPerClass, matrixAccuracy, pct } from './report.js';
import { trainingCurves } from './training-curves.js';
import { TRANSFER_DEFAULTS } from './transfer-usage.js';
import { choice, positiveInt, positiveNumber } from './options.js';

export type { CommandIO };

// ---- the training session --------------------------------------------------------------------

/** One training step's figures. */
export interface StepRecord {
  /** Fractional epoch at the end of the step (1.5: half-way through the second epoch). */
  epoch: number;
  /** The batch's mean loss and accuracy (training mode). */
  loss: number;
  accuracy: number;
  /** Images in the batch. */
  size: number;
}

export interface EpochRecord {
  /** Counted from 1. */
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  validationLoss: number;
  validationAccuracy: number;
  /** Training time of the epoch (without validation and checkpointing). */
  seconds: number;
}

export interface TransferHistory {
  steps: StepRecord[];
  epochs: EpochRecord[];
}

export interface TrainOptions {
  /** Stop at the end of the epoch in progress even if `until` is not reached. */
  stopAtEpochEnd?: boolean;
  /** Called after every step (awaited: it may write a checkpoint). */
  onStep?: (record: StepRecord) => void | Promise<void>;
}

/**
 * A model, its optimiser and a training loader, with the position reached (epoch, batch within
 * it, steps in all) and the per-step history. A step uploads and augments the batch on the GPU,
 * runs forward, cross-entropy, backward and the optimiser as one submission, and reads back the
 * loss and the logits (a few bytes; the next batch is decoded meanwhile by the loader).
 */
export class TransferSession {
  position: TrainingPosition = { epoch: 0, batch: 0, step: 0 };
  history: TransferHistory = { steps: [], epochs: [] };
  /** Seconds spent in training steps (batch wait included) since the session was made. */
  trainSeconds = 0;

  constructor(
    readonly engine: Engine,
    readonly model: ResNet18Module,
    readonly optimizer: Optimizer,
    readonly loader: ImageFolderLoader,
  ) {
    if (loader.length === 0) throw new ImageFolderError(`${loader.index.root}: too few images for one batch of ${loader.options.batchSize}`);
  }

  get stepsPerEpoch(): number {
    return this.loader.length;
  }

  /** Trains until `until` steps have been taken in all (or the epoch ends, with stopAtEpochEnd). */
  async train(until: number, options: TrainOptions = {}): Promise<void> {
    this.model.train();
    while (this.position.step < until) {
      const { epoch, batch: start } = this.position;
      let stop = false;
      let started = performance.now();
      for await (const batch of this.loader.batches(epoch, start)) {
        const { loss, correct } = await this.step(batch);
        const size = batch.labels.length;
        const done = this.position.batch + 1;
        const ended = done === this.stepsPerEpoch;
        this.position = { epoch: ended ? epoch + 1 : epoch, batch: ended ? 0 : done, step: this.position.step + 1 };
        const record: StepRecord = { epoch: epoch + done / this.stepsPerEpoch, loss, accuracy: correct / size, size };
        this.history.steps.push(record);
        this.trainSeconds += (performance.now() - started) / 1000;
        await options.onStep?.(record);
        started = performance.now();
        stop = this.position.step >= until || (ended && options.stopAtEpochEnd === true);
        if (stop) break;
      }
      if (stop) break;
    }
  }

  private async step(batch: ImageBatch): Promise<{ loss: number; correct: number }> {
    const { engine, model, optimizer } = this;
    const classes = model.numClasses;
    const n = batch.labels.length;
    const log = engine.empty([1 + n * classes], 'transfer.log');
    try {
      const tape = new Tape(engine);
      try {
        const logits = model.call(tape, constant(batch.input));
        const loss = tape.crossEntropy(logits, batch.target);
        optimizer.zeroGrad();
        tape.backward(loss);
        optimizer.step();
        engine.copy(loss.value, log, 4);
        engine.copy(logits.value, log, n * classes * 4, 0, 4);
      } finally {
        tape.dispose();
        batch.dispose();
      }
      const data = new Float32Array(await engine.readBuffer(log, (1 + n * classes) * 4));
      const loss = data[0]!;
      if (!Number.isFinite(loss)) throw new Error(`training diverged: the loss is ${loss} at step ${this.position.step + 1} (try a lower --lr)`);
      const predicted = argmaxRows(data.subarray(1), classes);
      let correct = 0;
      for (let i = 0; i < n; i++) if (predicted[i] === batch.labels[i]) correct++;
      return { loss, correct };
    } finally {
      log.dispose();
    }
  }

  /** Mean loss and accuracy over the steps of epoch `epoch` (from 1) in the history. */
  epochMeans(epoch: number): { loss: number; accuracy: number } {
    const steps = this.history.steps.slice((epoch - 1) * this.stepsPerEpoch, epoch * this.stepsPerEpoch);
    const images = steps.reduce((n, s) => n + s.size, 0);
    return {
      loss: steps.reduce((sum, s) => sum + s.loss * s.size, 0) / images,
      accuracy: steps.reduce((sum, s) => sum + s.accuracy * s.size, 0) / images,
    };
  }
}

export interface Validation {
  /** counts[actual][predicted]. */
  matrix: number[][];
  loss: number;
  accuracy: number;
  /** Per sample of the loader's index, in order. */
  predicted: Uint8Array | Uint16Array;
  seconds: number;
}

/** Runs `model` over every batch of an evaluation loader in eval mode, without gradients. */
export async function evaluate(engine: Engine, model: ResNet18Module, loader: ImageFolderLoader): Promise<Validation> {
  const start = performance.now();
  const classes = model.numClasses;
  const count = loader.index.samples.length;
  const labels = loader.index.samples.map((s) => s.label);
  model.eval();
  const all = engine.empty([count, classes], 'transfer.eval');
  try {
    for await (const batch of loader.batches(0)) {
      const tape = new Tape(engine, { grad: false });
      try {
        const logits = model.call(tape, constant(batch.input));
        // Unshuffled: the batch holds consecutive samples from its first index on.
        engine.copy(logits.value, all, batch.labels.length * classes * 4, 0, batch.indices[0]! * classes * 4);
      } finally {
        tape.dispose();
        batch.dispose();
      }
      await engine.flush();
    }
    const logits = await all.toArray();
    const predicted = argmaxRows(logits, classes);
    const matrix = confusionMatrix(predicted, labels, classes);
    return { matrix, loss: crossEntropyOf(logits, labels, classes), accuracy: matrixAccuracy(matrix), predicted, seconds: (performance.now() - start) / 1000 };
  } finally {
    all.dispose();
    model.train();
  }
}

/** `count` samples spread evenly over the index (every class shows up), with their predictions. */
export async function predictionExamples(index: ImageFolderIndex, predicted: ArrayLike<number>, count: number, read: ImageReader): Promise<Prediction[]> {
  const n = index.samples.length;
  const k = Math.min(count, n);
  const picks = Array.from({ length: k }, (_, i) => Math.floor(((i + 0.5) * n) / k));
  return Promise.all(
    picks.map(async (p) => ({ image: await read(index.samples[p]!.path), predicted: predicted[p]!, actual: index.samples[p]!.label })),
  );
}

// ---- models and optimisers -------------------------------------------------------------------

export type OptimizerKind = 'sgd' | 'adam';
export const OPTIMIZER_KINDS: readonly OptimizerKind[] = ['sgd', 'adam'];

export function makeOptimizer(kind: OptimizerKind, params: Variable[], lr: number): Optimizer {
  return kind === 'sgd' ? new SGD(params, { lr, momentum: TRANSFER_DEFAULTS.momentum }) : new Adam(params, { lr });
}

/**
 * The model tensors of a weights file: a torchvision resnet18 state dict in safetensors, or a
 * training checkpoint (its `model.*` tensors).
 */
export async function readWeightsFile(path: string): Promise<Map<string, HostTensor>> {
  const bytes = await readSafetensorsFile(path, 'weights file');
  const contents = decodeSafetensors(bytes, path);
  const tensors = isTrainingCheckpoint(contents.metadata) ? decodeTrainingCheckpoint(bytes, path).model : contents.tensors;
  const out = new Map<string, HostTensor>();
  for (const [name, t] of tensors) out.set(name, { shape: t.shape, data: toFloat32(t) });
  return out;
}

/** ResNet18 with pretrained weights (its fc as many classes as the weights have). */
export function pretrainedResNet18(engine: Engine, weights: ReadonlyMap<string, HostTensor>, source: string): ResNet18Module {
  const fc = weights.get('fc.weight');
  if (!fc || fc.shape.length !== 2 || fc.shape[1] !== 512) {
    throw new Error(`${source}: not ResNet18 weights (expected an 'fc.weight' of shape [classes, 512], got ${fc ? `[${fc.shape.join(', ')}]` : 'none'})`);
  }
  const model = resnet18Module(engine, { numClasses: fc.shape[0]! });
  try {
    model.loadWeights(weights);
  } catch (err) {
    model.dispose();
    throw new Error(`${source}: ${(err as Error).message}`);
  }
  return model;
}

/** Total and trainable parameter counts. */
export function parameterCounts(model: ResNet18Module): { total: number; trainable: number } {
  const params = model.parameters();
  return { total: params.reduce((n, p) => n + p.value.size, 0), trainable: trainableParameters(model).reduce((n, p) => n + p.value.size, 0) };
}

// ---- pictures --------------------------------------------------------------------------------

function curves(history: TransferHistory, title: string): Figure {
  return trainingCurves(
    [
      {
        name: 'ResNet18',
        colors: [COLORS.blue, COLORS.orange],
        steps: history.steps.map((r) => ({ x: r.epoch, loss: r.loss, accuracy: r.accuracy, size: r.size })),
        evaluations: history.epochs.map((e) => ({ x: e.epoch, loss: e.validationLoss, accuracy: e.validationAccuracy })),
      },
    ],
    { title, xLabel: 'Epoch', heldOut: 'validation' },
  );
}

// ---- transfer-train --------------------------------------------------------------------------

export interface TransferSettings {
  /** The image folder. */
  data: string;
  mode: TransferMode;
  unfreeze: Unfreeze;
  /** Pretrained weights (safetensors); null trains from random weights. */
  weights: string | null;
  epochs: number;
  batchSize: number;
  size: number;
  lr: number;
  optimizer: OptimizerKind;
  seed: number;
  validationFraction: number;
  gridImages: number;
  /** Also checkpoint every this many steps within an epoch (null: at epoch ends only). */
  checkpointEvery: number | null;
  outDir: string;
}

/** What a checkpoint of `transfer-train` holds besides the training state. */
export interface TransferInfo {
  command: 'transfer-train';
  settings: TransferSettings;
  classes: string[];
  trainImages: number;
  validationImages: number;
  history: TransferHistory;
}

export type TransferRequest =
  | { kind: 'start'; settings: TransferSettings }
  | { kind: 'resume'; checkpoint: string; epochs?: number; data?: string; outDir?: string };

export interface TransferOutcome {
  classes: string[];
  history: TransferHistory;
  validation: Validation;
  checkpoint: string;
  curves: string;
  predictions: string;
}

export const transferPaths = (outDir: string) => ({
  checkpoint: join(outDir, 'checkpoint.safetensors'),
  curves: join(outDir, 'curves.png'),
  predictions: join(outDir, 'predictions.png'),
});

async function readCheckpointFile(path: string): Promise<TrainingCheckpoint<TransferInfo>> {
  const checkpoint = decodeTrainingCheckpoint<TransferInfo>(await readSafetensorsFile(path, 'checkpoint'), path);
  const info = checkpoint.info;
  if (info?.command !== 'transfer-train' || typeof info.settings !== 'object' || !Array.isArray(info.classes) || !Array.isArray(info.history?.steps)) {
    throw new Error(`${path}: not a checkpoint written by transfer-train (its 'info' lacks the settings, classes or history)`);
  }
  return checkpoint;
}

/** Checks the mode, the unfreeze choice and the weights go together. */
export function checkTransferChoice(mode: TransferMode, unfreeze: Unfreeze, weights: string | null): void {
  resolveTransfer(mode, unfreeze);
  if (weights === null && (mode !== 'fine-tune' || unfreeze !== 'all')) {
    throw new Error(
      `--mode ${mode}${mode === 'fine-tune' ? ` --unfreeze ${unfreeze}` : ''} keeps part of the network frozen, which needs pretrained --weights ` +
        '(a frozen random backbone learns nothing useful); without --weights use --mode fine-tune --unfreeze all to train from scratch',
    );
  }
}

/**
 * transfer-train: trains epoch by epoch (validation report, checkpoint, curves and prediction
 * grid after each), starting from pretrained weights or resuming a checkpoint exactly.
 */
export async function transferTrain(engine: Engine, request: TransferRequest, io: CommandIO): Promise<TransferOutcome> {
  let checkpoint: TrainingCheckpoint<TransferInfo> | undefined;
  let settings: TransferSettings;
  if (request.kind === 'resume') {
    checkpoint = await readCheckpointFile(request.checkpoint);
    const saved = checkpoint.info.settings;
    settings = { ...saved, epochs: request.epochs ?? saved.epochs, data: request.data ?? saved.data, outDir: request.outDir ?? dirname(request.checkpoint) };
  } else {
    settings = request.settings;
    checkTransferChoice(settings.mode, settings.unfreeze, settings.weights);
  }
  const s = settings;
  const paths = transferPaths(s.outDir);

  const folder = await openImageFolder(engine, s.data, { batchSize: s.batchSize, size: s.size, seed: s.seed, validationFraction: s.validationFraction });
  const classes = [...folder.classes];
  if (classes.length < 2) throw new ImageFolderError(`${s.data} has one class folder ('${classes[0]}'); a classifier needs at least two`);
  const validationLoader = folder.validation;
  if (!validationLoader) throw new ImageFolderError(`${s.data}: too few images to hold out ${pct(s.validationFraction, 0)} of each class for validation`);
  const trainImages = folder.train.index.samples.length;
  const validationImages = validationLoader.index.samples.length;
  if (checkpoint) {
    const info = checkpoint.info;
    if (info.classes.join('\n') !== classes.join('\n') || info.trainImages !== trainImages) {
      throw new Error(
        `${s.data} is not the folder the checkpoint was trained on: it has classes [${classes.join(', ')}] and ${trainImages} training images, ` +
          `the checkpoint [${info.classes.join(', ')}] and ${info.trainImages}`,
      );
    }
  }

  // The model: from the checkpoint (same topology and freezing, then its state), or pretrained
  // (or random) weights with a new fc.
  let model: ResNet18Module;
  if (checkpoint) {
    model = resnet18Module(engine, { numClasses: classes.length, seed: s.seed });
    freezeForTransfer(model, s.mode, s.unfreeze);
  } else if (s.weights !== null) {
    model = pretrainedResNet18(engine, await readWeightsFile(s.weights), s.weights);
    prepareTransfer(model, { mode: s.mode, unfreeze: s.unfreeze, numClasses: classes.length, seed: s.seed });
  } else {
    model = resnet18Module(engine, { numClasses: classes.length, seed: s.seed });
    prepareTransfer(model, { mode: s.mode, unfreeze: s.unfreeze, numClasses: classes.length, seed: s.seed });
  }
  const optimizer = makeOptimizer(s.optimizer, trainableParameters(model), s.lr);
  try {
    const session = new TransferSession(engine, model, optimizer, folder.train);
    if (checkpoint) {
      restoreTrainingCheckpoint(engine, checkpoint, model, optimizer, request.kind === 'resume' ? request.checkpoint : '');
      session.position = checkpoint.position;
      session.history = checkpoint.info.history;
      io.log(`resuming from ${(request as { checkpoint: string }).checkpoint} at epoch ${checkpoint.position.epoch + 1}, batch ${checkpoint.position.batch} (step ${checkpoint.position.step})`);
    }
    const counts = parameterCounts(model);
    io.log(
      `${s.data}: ${classes.length} classes (${classes.join(', ')}); ${trainImages} training and ${validationImages} validation images at ${s.size}x${s.size}`,
    );
    if (folder.train.dropsLast) {
      io.log(
        `${trainImages} training images make ${session.stepsPerEpoch} batches of ${s.batchSize} per epoch; the last image drawn each epoch is left out ` +
          '(a batch of one gives batch norm one value per channel, which training cannot use)',
      );
    }
    io.log(
      `ResNet18 ${s.mode}${s.mode === 'fine-tune' ? ` (unfreeze ${s.unfreeze})` : ''} from ${s.weights ?? 'random weights'}: ` +
        `${counts.trainable.toLocaleString('en-US')} of ${counts.total.toLocaleString('en-US')} parameters train; ` +
        `${s.epochs} epochs, batch ${s.batchSize}, ${s.optimizer === 'sgd' ? `SGD momentum ${TRANSFER_DEFAULTS.momentum}` : 'Adam'} lr ${s.lr}, seed ${s.seed}`,
    );
    const total = s.epochs * session.stepsPerEpoch;
    if (session.position.step >= total) {
      throw new Error(`nothing to train: the checkpoint holds ${session.position.epoch} epoch(s) of ${s.epochs}; pass --epochs with more`);
    }
    const info = (): TransferInfo => ({ command: 'transfer-train', settings: s, classes, trainImages, validationImages, history: session.history });
    const save = async (): Promise<void> => {
      const description = { kind: 'resnet18-transfer' as const, classNames: classes };
      await writeFileAtomic(paths.checkpoint, await encodeTrainingCheckpoint(model, optimizer, { position: session.position, seed: s.seed, info: info(), description }));
    };

    const bar = new ProgressBar(io.progress, { everySteps: Math.max(1, Math.round(session.stepsPerEpoch / 10)) });
    let validation: Validation | undefined;
    while (session.position.step < total) {
      const epoch = session.position.epoch + 1;
      const spentBefore = session.trainSeconds;
      const stepBefore = session.position.step;
      await session.train(total, {
        stopAtEpochEnd: true,
        onStep: async () => {
          const { batch, step } = session.position;
          const done = batch === 0 ? session.stepsPerEpoch : batch;
          const seconds = session.trainSeconds - spentBefore;
          const stepsPerSecond = (step - stepBefore) / Math.max(seconds, 1e-9);
          const epochSteps = session.history.steps.slice((epoch - 1) * session.stepsPerEpoch);
          const images = epochSteps.reduce((n, r) => n + r.size, 0);
          bar.update({
            epoch,
            epochs: s.epochs,
            step: done,
            steps: session.stepsPerEpoch,
            loss: epochSteps.reduce((sum, r) => sum + r.loss * r.size, 0) / images,
            accuracy: epochSteps.reduce((sum, r) => sum + r.accuracy * r.size, 0) / images,
            samplesPerSecond: session.history.steps.slice(stepBefore).reduce((n, r) => n + r.size, 0) / Math.max(seconds, 1e-9),
            etaSeconds: (total - step) / stepsPerSecond,
          });
          if (s.checkpointEvery !== null && batch !== 0 && step % s.checkpointEvery === 0) {
            await save();
            bar.log(`saved ${paths.checkpoint} at step ${step}`);
          }
        },
      });
      bar.finish();
      const seconds = session.trainSeconds - spentBefore;
      validation = await evaluate(engine, model, validationLoader);
      const means = session.epochMeans(epoch);
      session.history.epochs.push({
        epoch,
        trainLoss: means.loss,
        trainAccuracy: means.accuracy,
        validationLoss: validation.loss,
        validationAccuracy: validation.accuracy,
        seconds,
      });
      io.log(
        `epoch ${epoch}/${s.epochs}: train loss ${means.loss.toFixed(4)}, train accuracy ${pct(means.accuracy)}; validation loss ${validation.loss.toFixed(4)}, ` +
          `validation accuracy ${pct(validation.accuracy)} (training ${seconds.toFixed(1)} s, validation ${validation.seconds.toFixed(1)} s)`,
      );
      io.log(formatPerClass(validation.matrix, classes));
      await save();
      await writeFigure(paths.curves, curves(session.history, `ResNet18 ${s.mode}: epoch ${epoch}, validation accuracy ${pct(validation.accuracy)}`));
      const examples = await predictionExamples(validationLoader.index, validation.predicted, s.gridImages, readImage);
      await writePredictionGrid(paths.predictions, examples, { classNames: classes });
      io.log(`saved ${paths.checkpoint}, ${paths.curves} and ${paths.predictions}`);
    }
    io.log('');
    io.log('validation confusion matrix (rows: true class, columns: predicted class)');
    io.log(formatConfusionMatrix(validation!.matrix, classes));
    return { classes, history: session.history, validation: validation!, ...paths };
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

// ---- command line ----------------------------------------------------------------------------

const TRAIN_OPTIONS = {
  data: { type: 'string' },
  mode: { type: 'string' },
  unfreeze: { type: 'string' },
  weights: { type: 'string' },
  resume: { type: 'string' },
  epochs: { type: 'string' },
  batch: { type: 'string' },
  size: { type: 'string' },
  lr: { type: 'string' },
  optimizer: { type: 'string' },
  seed: { type: 'string' },
  val: { type: 'string' },
  grid: { type: 'string' },
  'checkpoint-every': { type: 'string' },
  out: { type: 'string' },
} as const;

/** Parses transfer-train's arguments. */
export function parseTransferArgs(args: string[]): TransferRequest {
  const { values: v } = parseArgs({ args, options: TRAIN_OPTIONS, strict: true, allowPositionals: false });
  if (v.resume !== undefined) {
    const fixed = (['mode', 'unfreeze', 'weights', 'batch', 'size', 'lr', 'optimizer', 'seed', 'val', 'grid', 'checkpoint-every'] as const).filter((k) => v[k] !== undefined);
    if (fixed.length > 0) {
      throw new Error(`--resume continues with the checkpoint's settings: ${fixed.map((k) => `--${k}`).join(', ')} cannot be changed (only --epochs, --data and --out)`);
    }
    return { kind: 'resume', checkpoint: v.resume, epochs: v.epochs === undefined ? undefined : positiveInt('epochs', v.epochs, 0), data: v.data, outDir: v.out };
  }
  if (v.data === undefined) throw new Error('transfer-train: --data DIR is required (an image folder: one sub-folder of images per class), or --resume CHECKPOINT');
  const mode = choice('mode', v.mode, TRANSFER_MODES);
  if (mode === undefined) throw new Error(`transfer-train: --mode is required: ${TRANSFER_MODES.join(' or ')}`);
  const unfreezeChoice = choice('unfreeze', v.unfreeze, UNFREEZE_CHOICES);
  if (mode === 'feature-extraction' && unfreezeChoice !== undefined && unfreezeChoice !== 'fc') {
    throw new Error(`--unfreeze ${unfreezeChoice} needs --mode fine-tune (feature extraction trains only the new fc)`);
  }
  const unfreeze: Unfreeze = mode === 'feature-extraction' ? 'fc' : (unfreezeChoice ?? 'all');
  const size = positiveInt('size', v.size, TRANSFER_DEFAULTS.size);
  if (size < 32) throw new Error(`--size must be at least 32 (ResNet18 shrinks its input 32 times), got ${size}`);
  const seed = v.seed === undefined ? TRANSFER_DEFAULTS.seed : Number(v.seed);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new Error(`--seed must be an integer in [0, 2^32), got '${v.seed}'`);
  const validationFraction = v.val === undefined ? TRANSFER_DEFAULTS.validationFraction : Number(v.val);
  if (!(validationFraction > 0 && validationFraction < 1)) throw new Error(`--val must be a fraction between 0 and 1 (exclusive), got '${v.val}'`);
  const settings: TransferSettings = {
    data: v.data,
    mode,
    unfreeze,
    weights: v.weights ?? null,
    epochs: positiveInt('epochs', v.epochs, TRANSFER_DEFAULTS.epochs),
    batchSize: positiveInt('batch', v.batch, TRANSFER_DEFAULTS.batchSize),
    size,
    lr: positiveNumber('lr', v.lr, TRANSFER_DEFAULTS.lr),
    optimizer: choice('optimizer', v.optimizer, OPTIMIZER_KINDS) ?? TRANSFER_DEFAULTS.optimizer,
    seed,
    validationFraction,
    gridImages: positiveInt('grid', v.grid, TRANSFER_DEFAULTS.gridImages),
    checkpointEvery: v['checkpoint-every'] === undefined ? null : positiveInt('checkpoint-every', v['checkpoint-every'], 0),
    outDir: v.out ?? TRANSFER_DEFAULTS.outDir,
  };
  checkTransferChoice(settings.mode, settings.unfreeze, settings.weights);
  return { kind: 'start', settings };
}

/** Runs `transfer-train` or `transfer-demo` with its command-line arguments. */
export async function runTransferCommand(command: 'transfer-train' | 'transfer-demo', args: string[], io: CommandIO, engine?: Engine): Promise<void> {
  // Arguments are checked before the GPU is opened.
  const run =
    command === 'transfer-train'
      ? ((request) => (e: Engine) => transferTrain(e, request, io))(parseTransferArgs(args))
      : await (async () => {
          const { parseDemoArgs, transferDemo } = await import('./transfer-demo.js');
          const settings = parseDemoArgs(args);
          return (e: Engine) => transferDemo(e, settings, io);
        })();
  const own = engine ?? (await Engine.create());
  if (!engine) io.log(`adapter: ${own.adapterName}`);
  try {
    await run(own);
  } finally {
    if (!engine) own.dispose();
  }
}
