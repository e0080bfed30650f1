// The Fashion-MNIST commands: `train` (one model, with progress, per-epoch evaluation, atomic
// checkpoints, a PNG of the curves and the final report), `evaluate` (a saved checkpoint on the
// test split) and `compare` (DNN and CNN trained alike, side by side).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FASHION_CLASSES, batchCount, firstN, type FashionMnistSplits, type LabelledImages } from '../data/fashion-mnist.js';
import { loadFashionMnist } from '../data/fashion-mnist-node.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { optimizerStateFromSafetensors, optimizerStateToSafetensors, tensorsFromSafetensors, tensorsToSafetensors } from '../io/checkpoint.js';
import { decodeSafetensors, type SafetensorsContents } from '../io/safetensors.js';
import { LR_SCHEDULES, type LrSchedule } from '../optim/schedule.js';
import { Engine } from '../runtime/engine.js';
import {
  FashionTrainer,
  MODEL_KINDS,
  MODEL_TITLES,
  createModel,
  evaluateModel,
  parameterCount,
  type FashionModel,
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
  model: join(outDir, `fashion-${kind}.safetensors`),
  optimizer: join(outDir, `fashion-${kind}.optim.safetensors`),
  plot: join(outDir, `fashion-${kind}.png`),
});

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

/** Reads a model checkpoint file written by `train`. */
async function readCheckpoint(path: string): Promise<SafetensorsContents> {
  return decodeSafetensors(new Uint8Array(await readFile(path)), path);
}

/** Loads a checkpoint's tensors into `model` (strictly: every key must match). */
function loadInto(engine: Engine, model: FashionModel, contents: SafetensorsContents): void {
  const tensors = tensorsFromSafetensors(engine, contents);
  try {
    model.loadStateDict(tensors, { strict: true });
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

function modelFromMetadata(path: string, metadata: Record<string, string>): ModelKind {
  const kind = metadata['model'];
  if (!MODEL_KINDS.includes(kind as ModelKind)) throw new Error(`${path}: the checkpoint does not say which model it holds (metadata 'model' is ${JSON.stringify(kind)})`);
  return kind as ModelKind;
}

/**
 * Trains one model: per epoch a progress line, an evaluation on the test split, an atomic
 * checkpoint (model + optimiser) and the curves' PNG; then the report. With `resume`, carries on
 * from the checkpoint in `outDir` (same model, same settings) after the epoch it saved.
 */
export async function trainFashion(engine: Engine, data: FashionMnistSplits, kind: ModelKind, s: TrainSettings, io: CommandIO, resume = false): Promise<TrainOutcome> {
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
    return await trainEpochs(trainer, data, s, io, resume);
  } finally {
    trainer.model.dispose();
    trainer.optimizer.dispose();
  }
}

/** Restores model, optimiser, step count and history from the checkpoint pair; returns the history. */
async function resumeFrom(trainer: FashionTrainer, paths: ReturnType<typeof checkpointPaths>): Promise<{ history: TrainingHistory; epoch: number }> {
  const { engine, kind } = trainer;
  const model = await readCheckpoint(paths.model);
  const metadata = model.metadata;
  if (modelFromMetadata(paths.model, metadata) !== kind) throw new Error(`${paths.model} holds a ${metadata['model']} model, not ${kind}`);
  const optimizerBytes = new Uint8Array(await readFile(paths.optimizer));
  const optimizerEpoch = decodeSafetensors(optimizerBytes, paths.optimizer).metadata['epoch'];
  if (optimizerEpoch !== metadata['epoch']) {
    throw new Error(`${paths.optimizer} is from epoch ${optimizerEpoch} but ${paths.model} from epoch ${metadata['epoch']}: cannot resume from a mismatched pair`);
  }
  const epoch = Number(metadata['epoch']);
  const history = JSON.parse(metadata['history'] ?? 'null') as TrainingHistory | null;
  if (!Number.isInteger(epoch) || epoch < 1 || !history || !Array.isArray(history.steps) || !Array.isArray(history.epochs)) {
    throw new Error(`${paths.model}: the metadata lacks a valid 'epoch' and 'history' (not written by train?)`);
  }
  loadInto(engine, trainer.model, model);
  const state = optimizerStateFromSafetensors(engine, optimizerBytes, paths.optimizer);
  try {
    trainer.optimizer.loadStateDict(state);
  } finally {
    for (const v of Object.values(state)) if (typeof v !== 'number') v.dispose();
  }
  trainer.steps = Number(metadata['steps'] ?? 0);
  return { history, epoch };
}

async function trainEpochs(trainer: FashionTrainer, data: FashionMnistSplits, s: TrainSettings, io: CommandIO, resume: boolean): Promise<TrainOutcome> {
  const { kind } = trainer;
  const { train, test } = selectData(data, s);
  const paths = checkpointPaths(s.outDir, kind);
  const parameters = parameterCount(trainer.model);
  let history: TrainingHistory = { steps: [], epochs: [] };
  let firstEpoch = 1;
  if (resume) {
    const restored = await resumeFrom(trainer, paths);
    history = restored.history;
    firstEpoch = restored.epoch + 1;
    io.log(`resuming ${MODEL_TITLES[kind]} from ${paths.model} after epoch ${restored.epoch}`);
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
    const metadata = {
      format: 'pt',
      model: kind,
      epoch: String(epoch),
      steps: String(trainer.steps),
      seed: String(s.seed),
      lr: String(s.lr),
      schedule: s.schedule,
      batch_size: String(s.batchSize),
      train_samples: String(train.count),
      test_accuracy: testAccuracy.toFixed(6),
      // Six significant digits are plenty for curves and keep the header small.
      history: JSON.stringify(history, (_, v: unknown) => (typeof v === 'number' ? Number(v.toPrecision(6)) : v)),
    };
    // Each file is replaced atomically; both carry the epoch, and --resume refuses a pair whose
    // epochs differ (a crash between the two writes).
    await writeFileAtomic(paths.optimizer, await optimizerStateToSafetensors(trainer.optimizer.stateDict(), { model: kind, epoch: String(epoch) }));
    await writeFileAtomic(paths.model, await tensorsToSafetensors(trainer.model.stateDict(), metadata));
    await writeFigure(
      paths.plot,
      trainingCurves([curveRun(MODEL_TITLES[kind], history, [COLORS.blue, COLORS.orange])], {
        title: `Fashion-MNIST ${MODEL_TITLES[kind]}: ${epoch} epoch${epoch === 1 ? '' : 's'} × ${train.count.toLocaleString('en-US')} images, test accuracy ${pct(testAccuracy)}`,
        xLabel: 'Epoch',
        heldOut: 'test',
      }),
    );
    io.log(`saved ${paths.model} (+ .optim.safetensors) and ${paths.plot}`);
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
    checkpoint: paths.model,
    plot: paths.plot,
  };
  return outcome;
}

/** Loads a checkpoint written by `train` and reports on the test split. */
export async function evaluateCheckpoint(engine: Engine, data: FashionMnistSplits, path: string, kind: ModelKind | undefined, s: Pick<TrainSettings, 'limitTest' | 'evalBatchSize'>, io: CommandIO): Promise<Evaluation> {
  const contents = await readCheckpoint(path);
  const metadata = contents.metadata;
  const saved = modelFromMetadata(path, metadata);
  if (kind !== undefined && kind !== saved) throw new Error(`${path} holds a ${saved} model, not ${kind}`);
  const model = createModel(saved, engine, 0);
  try {
    loadInto(engine, model, contents);
    const { test } = selectData(data, { limitTest: s.limitTest });
    const evaluation = await evaluateModel(engine, model, test, s.evalBatchSize);
    io.log(formatReport(`${MODEL_TITLES[saved]} from ${path} (epoch ${metadata['epoch'] ?? '?'})`, evaluation, FASHION_CLASSES));
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
    if (values.model !== undefined || values.resume) throw new Error('compare trains both models from scratch: --model and --resume do not apply');
    await withEngineAndData(io, (engine, data) => compareModels(engine, data, settings, io));
  } else {
    const kind = choice('model', values.model, MODEL_KINDS) ?? 'cnn';
    await withEngineAndData(io, (engine, data) => trainFashion(engine, data, kind, settings, io, values.resume ?? false));
  }
}
