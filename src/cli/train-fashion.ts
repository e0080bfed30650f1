// The Fashion-MNIST commands: `train` (one model, with progress, per-epoch evaluation, a
// checkpoint per epoch, a PNG of the curves and the final report), `evaluate` (a saved checkpoint
// on the test split) and `compare` (DNN and CNN trained alike, side by side). A checkpoint is one
// training-checkpoint file (src/io/training-checkpoint.ts: model, Adam state, position, dropout
// counters, settings and history), replaced atomically, so a crash at any moment leaves either the
// previous epoch's checkpoint or the new one, and `--resume` continues exactly where it stopped.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FASHION_CLASSES, batchCount, firstN, type FashionMnistSplits, type LabelledImages } from '../data/fashion-mnist.js';
import { loadFashionMnist } from '../data/fashion-mnist-node.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { decodeSafetensors } from '../io/safetensors.js';
import { readSafetensorsFile } from '../io/safetensors-file.js';
import {
  decodeTrainingCheckpoint,
  encodeTrainingCheckpoint,
  isTrainingCheckpoint,
  restoreTrainingCheckpoint,
  uploadTensors,
  type TrainingCheckpoint,
} from '../io/training-checkpoint.js';
import { LR_SCHEDULES, type LrSchedule } from '../optim/schedule.js';
import { Engine } from '../runtime/engine.js';
import {
  FashionTrainer,
  MODEL_KINDS,
  MODEL_TITLES,
  createModel,
  evaluateModel,
  parameterCount,
  type ModelKind,
  type TrainingHistory,
} from './fashion-trainer.js';
import { DEFAULTS } from './fashion-usage.js';
import { choice, positiveInt, positiveIntOrAll, positiveNumber } from './options.js';
import { COLORS } from '../figure/style.js';
import { writeFigure } from './figure-file.js';
import { ProgressBar, type CommandIO } from './progress.js';
import { formatComparison, formatReport, matrixAccuracy, pct, type ComparisonEntry, type Evaluation } from './report.js';
import { trainingCurves, type CurveRun } from './training-curves.js';

export interface TrainSettings {
  epochs: number;
  batchSize: number;
  lr: number;
  schedule: LrSchedule;
  seed: number;
  /** Train on the first N training images (class-balanced); all 60,000 when unset. */
  limitTrain?: number;
  /** Evaluate on the first N test images (class-balanced); all 10,000 when unset. */
  limitTest?: number;
  outDir: string;
  /** Steps between readbacks of the loss (progress line and curves). */
  readEvery: number;
  evalBatchSize: number;
}

export type { CommandIO };

export interface TrainOutcome {
  kind: ModelKind;
  evaluation: Evaluation;
  history: TrainingHistory;
  parameters: number;
  trainSeconds: number;
  samplesPerSecond: number;
  trainSamples: number;
  checkpoint: string;
  plot: string;
}

export const checkpointPaths = (outDir: string, kind: ModelKind) => ({
  checkpoint: join(outDir, `fashion-${kind}.safetensors`),
  plot: join(outDir, `fashion-${kind}.png`),
});

/** The settings that shape a run's trajectory: resuming with others would change it silently. */
export interface RunSettings {
  epochs: number;
  batchSize: number;
  lr: number;
  schedule: LrSchedule;
  seed: number;
  /** --limit-train as given (undefined: all). */
  limitTrain: number | undefined;
  /** The training images that limit selected. */
  trainImages: number;
}

export interface ResumeOptions {
  /** Carry on from the checkpoint in the output folder. */
  resume?: boolean;
  /** Resume even with other settings than the checkpoint was trained with (see RunSettings). */
  overrideHyperparameters?: boolean;
}

/** What a `train` checkpoint holds besides the training state. */
export interface FashionInfo {
  command: 'train';
  model: ModelKind;
  settings: RunSettings;
  testAccuracy: number;
  history: TrainingHistory;
}

function selectData(data: FashionMnistSplits, s: Pick<TrainSettings, 'limitTrain' | 'limitTest'>): { train: LabelledImages; test: LabelledImages } {
  return {
    train: s.limitTrain === undefined ? data.train : firstN(data.train, s.limitTrain),
    test: s.limitTest === undefined ? data.test : firstN(data.test, s.limitTest),
  };
}

/** One run's curves: per-step training figures (weighted by batch size) and the per-epoch test. */
function curveRun(name: string, history: TrainingHistory, colors: CurveRun['colors']): CurveRun {
  // Steps resumed from a checkpoint written before steps recorded their size count as full batches.
  const full = Math.max(1, ...history.steps.map((r) => r.size ?? 0));
  return {
    name,
    colors,
    steps: history.steps.map((r) => ({ x: r.epoch, loss: r.loss, accuracy: r.accuracy, size: r.size ?? full })),
    evaluations: history.epochs.map((e) => ({ x: e.epoch, loss: e.testLoss, accuracy: e.testAccuracy })),
  };
}


/**
 * Trains one model: per epoch a progress line, an evaluation on the test split, an atomic
 * checkpoint and the curves' PNG; then the report. With `resume`, carries on from the checkpoint
 * in `outDir` (same model and settings, or other settings with `overrideHyperparameters`) after
 * the epoch it saved.
 */
export async function trainFashion(
  engine: Engine,
  data: FashionMnistSplits,
  kind: ModelKind,
  s: TrainSettings,
  io: CommandIO,
  options: ResumeOptions = {},
): Promise<TrainOutcome> {
  const trainer = new FashionTrainer(engine, kind, {
    lr: s.lr,
    schedule: s.schedule,
    epochs: s.epochs,
    batchSize: s.batchSize,
    seed: s.seed,
    readEvery: s.readEvery,
    evalBatchSize: s.evalBatchSize,
  });
  try {
    return await trainEpochs(trainer, data, s, io, options);
  } finally {
    trainer.model.dispose();
    trainer.optimizer.dispose();
  }
}

/** The settings compared on resuming, as the flags that set them; epochs only under the cosine schedule, whose span they are. */
function settingFlags(r: RunSettings): Array<[flag: string, value: string]> {
  const out: Array<[string, string]> = [
    ['--batch', String(r.batchSize)],
    ['--lr', String(r.lr)],
    ['--schedule', r.schedule],
    ['--seed', String(r.seed)],
    ['--limit-train', String(r.limitTrain ?? 'all')],
  ];
  if (r.schedule === 'cosine') out.push(['--epochs', String(r.epochs)]);
  return out;
}

/**
 * The settings of `now` that differ from those `saved` was trained with (the training images by
 * their count, whatever --limit-train said). More epochs extend a run, except under the cosine
 * schedule.
 */
function changedSettings(saved: RunSettings, now: RunSettings): Array<{ flag: string; was: string; now: string }> {
  const before = new Map(settingFlags(saved));
  return settingFlags(now)
    .filter(([flag, value]) => (flag === '--limit-train' ? now.trainImages !== saved.trainImages : before.has(flag) && before.get(flag) !== value))
    .map(([flag, value]) => ({ flag, was: before.get(flag)!, now: value }));
}

/** Decodes and checks a checkpoint `train` wrote (for `kind`, when given). */
function decodeFashionCheckpoint(bytes: Uint8Array, path: string, kind: ModelKind | undefined): TrainingCheckpoint<FashionInfo> {
  const checkpoint = decodeTrainingCheckpoint<FashionInfo>(bytes, path);
  const info = checkpoint.info;
  if (info?.command !== 'train' || !MODEL_KINDS.includes(info.model) || typeof info.settings !== 'object' || !Array.isArray(info.history?.steps) || !Array.isArray(info.history?.epochs)) {
    throw new Error(`${path}: not a checkpoint written by train (its 'info' lacks the model, settings or history)`);
  }
  if (kind !== undefined && info.model !== kind) throw new Error(`${path} holds a ${info.model} model, not ${kind}`);
  return checkpoint;
}

/** An older version's checkpoint: the model's state dict alone (metadata 'model', 'epoch'), its optimiser state in a second file. */
const isTwoFileCheckpoint = (metadata: Record<string, string>): boolean => !isTrainingCheckpoint(metadata) && MODEL_KINDS.includes(metadata['model'] as ModelKind);

/** Restores model, optimiser, dropout counters and step count from the checkpoint; returns the history and the epochs done. */
async function resumeFrom(trainer: FashionTrainer, path: string, now: RunSettings, io: CommandIO, override: boolean): Promise<{ history: TrainingHistory; epoch: number }> {
  let bytes: Uint8Array;
  try {
    bytes = await readSafetensorsFile(path, 'checkpoint');
  } catch (err) {
    throw (err as Error).message.endsWith('no such file') ? new Error(`${(err as Error).message} (train without --resume first)`) : err;
  }
  if (isTwoFileCheckpoint(decodeSafetensors(bytes, path).metadata)) {
    throw new Error(`${path} was written by an older version (model and optimizer state in two files) and cannot be resumed; \`evaluate\` still reads it. Train again without --resume`);
  }
  const checkpoint = decodeFashionCheckpoint(bytes, path, trainer.kind);
  const saved = checkpoint.info.settings;
  const changes = changedSettings(saved, now);
  if (changes.length > 0) {
    if (!override) {
      throw new Error(
        `${path} was trained with ${settingFlags(saved).map((f) => f.join(' ')).join(' ')}; resuming with ${changes.map((c) => `${c.flag} ${c.now}`).join(' ')} ` +
          'would change the run: give the values it was trained with, or --override-hyperparameters to continue with the new ones',
      );
    }
    io.log(`${path}: continuing with changed hyperparameters: ${changes.map((c) => `${c.flag} ${c.was} -> ${c.now}`).join(', ')}`);
  }
  if (checkpoint.position.batch !== 0) throw new Error(`${path}: train checkpoints are written at epoch ends, this one is at batch ${checkpoint.position.batch}`);
  restoreTrainingCheckpoint(trainer.engine, checkpoint, trainer.model, trainer.optimizer, path);
  trainer.steps = checkpoint.position.step;
  return { history: checkpoint.info.history, epoch: checkpoint.position.epoch };
}

async function trainEpochs(trainer: FashionTrainer, data: FashionMnistSplits, s: TrainSettings, io: CommandIO, options: ResumeOptions): Promise<TrainOutcome> {
  const { kind } = trainer;
  const { train, test } = selectData(data, s);
  const paths = checkpointPaths(s.outDir, kind);
  const parameters = parameterCount(trainer.model);
  const settings: RunSettings = { epochs: s.epochs, batchSize: s.batchSize, lr: s.lr, schedule: s.schedule, seed: s.seed, limitTrain: s.limitTrain, trainImages: train.count };
  let history: TrainingHistory = { steps: [], epochs: [] };
  let firstEpoch = 1;
  if (options.resume) {
    const restored = await resumeFrom(trainer, paths.checkpoint, settings, io, options.overrideHyperparameters ?? false);
    history = restored.history;
    firstEpoch = restored.epoch + 1;
    io.log(`resuming ${MODEL_TITLES[kind]} from ${paths.checkpoint} after epoch ${restored.epoch}`);
  }
  io.log(
    `${MODEL_TITLES[kind]}: ${parameters.toLocaleString('en-US')} parameters; ${train.count} training and ${test.count} test images; ` +
      `${s.epochs} epoch${s.epochs === 1 ? '' : 's'}, batch ${s.batchSize}, Adam lr ${s.lr} (${s.schedule}), seed ${s.seed}`,
  );
  // Without a terminal: about ten progress lines per epoch, at readback steps (when figures change).
  const stepsPerEpoch = batchCount(train.count, s.batchSize);
  const bar = new ProgressBar(io.progress, { everySteps: s.readEvery * Math.max(1, Math.round(stepsPerEpoch / 10 / s.readEvery)) });
  let trainSeconds = history.epochs.reduce((t, e) => t + e.trainSeconds, 0);
  let evaluation: Evaluation | undefined;
  for (let epoch = firstEpoch; epoch <= s.epochs; epoch++) {
    const result = await trainer.trainEpoch(
      train,
      epoch,
      (p) => {
        const stepsPerSecond = p.step / Math.max(p.seconds, 1e-9);
        const remaining = p.steps - p.step + (s.epochs - epoch) * p.steps;
        bar.update({ epoch, epochs: s.epochs, step: p.step, steps: p.steps, loss: p.loss, accuracy: p.accuracy, samplesPerSecond: p.samplesPerSecond, etaSeconds: remaining / stepsPerSecond });
      },
      (record) => history.steps.push(record),
    );
    bar.finish();
    trainSeconds += result.seconds;
    const evalStart = performance.now();
    evaluation = await trainer.evaluate(test);
    const testAccuracy = matrixAccuracy(evaluation.matrix);
    history.epochs.push({
      epoch,
      trainLoss: result.loss,
      trainAccuracy: result.accuracy,
      testLoss: evaluation.loss!,
      testAccuracy,
      trainSeconds: result.seconds,
      samplesPerSecond: result.samplesPerSecond,
    });
    io.log(
      `epoch ${epoch}: train loss ${result.loss.toFixed(4)}, train accuracy ${pct(result.accuracy)}, test loss ${evaluation.loss!.toFixed(4)}, ` +
        `test accuracy ${pct(testAccuracy)} (${result.seconds.toFixed(1)} s, ${result.samplesPerSecond.toFixed(0)} samples/s; evaluation ${((performance.now() - evalStart) / 1000).toFixed(1)} s)`,
    );
    // Six significant digits are plenty for curves and keep the header small.
    const rounded = JSON.parse(JSON.stringify(history, (_, v: unknown) => (typeof v === 'number' ? Number(v.toPrecision(6)) : v))) as TrainingHistory;
    const info: FashionInfo = { command: 'train', model: kind, settings, testAccuracy, history: rounded };
    const bytes = await encodeTrainingCheckpoint(trainer.model, trainer.optimizer, {
      position: { epoch, batch: 0, step: trainer.steps },
      seed: s.seed,
      info,
      description: { kind: `fashion-${kind}`, classNames: FASHION_CLASSES },
    });
    await writeFileAtomic(paths.checkpoint, bytes);
    await writeFigure(
      paths.plot,
      trainingCurves([curveRun(MODEL_TITLES[kind], history, [COLORS.blue, COLORS.orange])], {
        title: `Fashion-MNIST ${MODEL_TITLES[kind]}: ${epoch} epoch${epoch === 1 ? '' : 's'} × ${train.count.toLocaleString('en-US')} images, test accuracy ${pct(testAccuracy)}`,
        xLabel: 'Epoch',
        heldOut: 'test',
      }),
    );
    io.log(`saved ${paths.checkpoint} and ${paths.plot}`);
  }
  const last = history.epochs.at(-1);
  if (!last || !evaluation) throw new Error(`nothing to train: the checkpoint already holds epoch ${firstEpoch - 1} of ${s.epochs}`);
  io.log('');
  io.log(formatReport(`${MODEL_TITLES[kind]} after ${last.epoch} epoch${last.epoch === 1 ? '' : 's'}`, evaluation, FASHION_CLASSES));
  const samples = history.epochs.length * train.count;
  const outcome: TrainOutcome = {
    kind,
    evaluation,
    history,
    parameters,
    trainSeconds,
    samplesPerSecond: samples / trainSeconds,
    trainSamples: train.count,
    checkpoint: paths.checkpoint,
    plot: paths.plot,
  };
  return outcome;
}

/**
 * Loads a checkpoint written by `train` and reports on the test split. Also reads the model file
 * of an older version's two-file checkpoint (a state dict with metadata 'model' and 'epoch').
 */
export async function evaluateCheckpoint(engine: Engine, data: FashionMnistSplits, path: string, kind: ModelKind | undefined, s: Pick<TrainSettings, 'limitTest' | 'evalBatchSize'>, io: CommandIO): Promise<Evaluation> {
  const bytes = await readSafetensorsFile(path, 'checkpoint');
  const contents = decodeSafetensors(bytes, path);
  let saved: ModelKind;
  let epoch: string;
  let tensors: typeof contents.tensors;
  if (isTwoFileCheckpoint(contents.metadata)) {
    saved = contents.metadata['model'] as ModelKind;
    if (kind !== undefined && saved !== kind) throw new Error(`${path} holds a ${saved} model, not ${kind}`);
    [epoch, tensors] = [contents.metadata['epoch'] ?? '?', contents.tensors];
  } else {
    const checkpoint = decodeFashionCheckpoint(bytes, path, kind);
    [saved, epoch, tensors] = [checkpoint.info.model, String(checkpoint.position.epoch), checkpoint.model];
  }
  const model = createModel(saved, engine, 0);
  try {
    const uploaded = uploadTensors(engine, tensors);
    try {
      model.loadStateDict(uploaded, { strict: true });
    } finally {
      for (const t of uploaded.values()) t.dispose();
    }
    const { test } = selectData(data, { limitTest: s.limitTest });
    const evaluation = await evaluateModel(engine, model, test, s.evalBatchSize);
    io.log(formatReport(`${MODEL_TITLES[saved]} from ${path} (epoch ${epoch})`, evaluation, FASHION_CLASSES));
    return evaluation;
  } finally {
    model.dispose();
  }
}

/** Trains the DNN and then the CNN with the same settings and prints them side by side. */
export async function compareModels(engine: Engine, data: FashionMnistSplits, s: TrainSettings, io: CommandIO): Promise<TrainOutcome[]> {
  const outcomes: TrainOutcome[] = [];
  for (const kind of ['dnn', 'cnn'] as const) {
    outcomes.push(await trainFashion(engine, data, kind, s, io));
    io.log('');
  }
  const entries: ComparisonEntry[] = outcomes.map((o) => ({
    name: MODEL_TITLES[o.kind],
    evaluation: o.evaluation,
    parameters: o.parameters,
    trainSeconds: o.trainSeconds,
    samplesPerSecond: o.samplesPerSecond,
    epochs: o.history.epochs.length,
    trainSamples: o.trainSamples,
  }));
  io.log(formatComparison(entries, FASHION_CLASSES));
  const plot = join(s.outDir, 'fashion-compare.png');
  await writeFigure(
    plot,
    trainingCurves(
      outcomes.map((o) => curveRun(MODEL_TITLES[o.kind], o.history, o.kind === 'dnn' ? [COLORS.purple, COLORS.red] : [COLORS.blue, COLORS.orange])),
      { title: `Fashion-MNIST: ${outcomes.map((o) => `${MODEL_TITLES[o.kind]} ${pct(matrixAccuracy(o.evaluation.matrix))}`).join(' vs ')} test accuracy`, xLabel: 'Epoch', heldOut: 'test' },
    ),
  );
  io.log(`saved ${plot}`);
  return outcomes;
}

/** Loads the data and opens an engine for one command. */
export async function withEngineAndData<T>(io: CommandIO, run: (engine: Engine, data: FashionMnistSplits) => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const data = await loadFashionMnist();
  io.log(`Fashion-MNIST: ${data.train.count} training and ${data.test.count} test images loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const engine = await Engine.create();
  io.log(`adapter: ${engine.adapterName}`);
  try {
    return await run(engine, data);
  } finally {
    engine.dispose();
  }
}

// ---- command lines ---------------------------------------------------------------------------

const TRAIN_OPTIONS = {
  model: { type: 'string' },
  epochs: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  schedule: { type: 'string' },
  seed: { type: 'string' },
  'limit-train': { type: 'string' },
  'limit-test': { type: 'string' },
  out: { type: 'string' },
  'read-every': { type: 'string' },
  resume: { type: 'boolean' },
  'override-hyperparameters': { type: 'boolean' },
} as const;

export function trainSettings(values: Partial<Record<keyof typeof TRAIN_OPTIONS, string | boolean>>): TrainSettings {
  const str = (k: keyof typeof TRAIN_OPTIONS): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const seed = str('seed') === undefined ? DEFAULTS.seed : Number(str('seed'));
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`--seed must be an integer >= 0, got '${str('seed')}'`);
  return {
    epochs: positiveInt('epochs', str('epochs'), DEFAULTS.epochs),
    batchSize: positiveInt('batch', str('batch'), DEFAULTS.batchSize),
    lr: positiveNumber('lr', str('lr'), DEFAULTS.lr),
    schedule: choice('schedule', str('schedule'), LR_SCHEDULES) ?? DEFAULTS.schedule,
    seed,
    limitTrain: positiveIntOrAll('limit-train', str('limit-train'), DEFAULTS.limitTrain),
    limitTest: positiveIntOrAll('limit-test', str('limit-test'), DEFAULTS.limitTest),
    outDir: str('out') ?? DEFAULTS.outDir,
    readEvery: positiveInt('read-every', str('read-every'), DEFAULTS.readEvery),
    evalBatchSize: DEFAULTS.evalBatchSize,
  };
}

/** Runs `train`, `evaluate` or `compare` with its command-line arguments. */
export async function runFashionCommand(command: 'train' | 'evaluate' | 'compare', args: string[], io: CommandIO): Promise<void> {
  if (command === 'evaluate') {
    const { values } = parseArgs({ args, options: { model: { type: 'string' }, checkpoint: { type: 'string' }, 'limit-test': { type: 'string' } } });
    if (!values.checkpoint) throw new Error('evaluate: --checkpoint FILE is required (train writes runs/fashion-cnn.safetensors)');
    const kind = choice('model', values.model, MODEL_KINDS);
    const limitTest = positiveIntOrAll('limit-test', values['limit-test'], undefined);
    await withEngineAndData(io, (engine, data) => evaluateCheckpoint(engine, data, values.checkpoint!, kind, { limitTest, evalBatchSize: DEFAULTS.evalBatchSize }, io));
    return;
  }
  const { values } = parseArgs({ args, options: TRAIN_OPTIONS });
  const settings = trainSettings(values);
  if (command === 'compare') {
    if (values.model !== undefined || values.resume || values['override-hyperparameters']) {
      throw new Error('compare trains both models from scratch: --model, --resume and --override-hyperparameters do not apply');
    }
    await withEngineAndData(io, (engine, data) => compareModels(engine, data, settings, io));
  } else {
    const kind = choice('model', values.model, MODEL_KINDS) ?? 'cnn';
    if (values['override-hyperparameters'] && !values.resume) throw new Error('--override-hyperparameters applies to --resume only');
    const options = { resume: values.resume ?? false, overrideHyperparameters: values['override-hyperparameters'] ?? false };
    await withEngineAndData(io, (engine, data) => trainFashion(engine, data, kind, settings, io, options));
  }
}
