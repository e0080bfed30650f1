// `transfer-demo`: transfer learning end to end without downloading ImageNet weights. ResNet18 is
// first pretrained here on one half of Fashion-MNIST (classes 0-4: T-shirt/top, Trouser, Pullover,
// Dress, Coat), then moved to the other half (classes 5-9: Sandal, Shirt, Sneaker, Bag, Ankle boot)
// three ways, the same number of steps on the same batches each: feature extraction (new fc on
// the frozen pretrained backbone), fine-tuning (pretrained backbone trained too) and from scratch
// (random weights). The 28x28 grey images go through the same GPU augmentation as an image
// folder's (RandomResizedCrop + flip, or resize, to 3-channel size x size), served from memory.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FASHION_CLASSES, FASHION_MEAN, FASHION_STD, IMAGE_SIDE, PIXELS, type LabelledImages } from '../data/fashion-mnist.js';
import { loadFashionMnist } from '../data/fashion-mnist-node.js';
import { ImageFolderLoader, type ImageFolderIndex, type ImageFolderSample, type ImageReader } from '../data/image-folder.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { encodeSafetensors, type SafeTensor } from '../io/safetensors.js';
import { readTensors } from '../io/checkpoint.js';
import type { RgbaImage } from '../ops/preprocess.js';
import { resnet18Module, type ResNet18Module } from '../nn/models/resnet18-module.js';
import type { HostTensor } from '../nn/models/resnet18.js';
import { prepareTransfer, trainableParameters, type TransferMode, type Unfreeze } from '../nn/transfer.js';
import type { Engine } from '../runtime/engine.js';
import { COLORS } from '../figure/style.js';
import { writePredictionGrid } from './prediction-grid.js';
import { ProgressBar } from './progress.js';
import { formatConfusionMatrix, pct, perClassAccuracy } from './report.js';
import {
  evaluate,
  makeOptimizer,
  parameterCounts,
  predictionExamples,
  pretrainedResNet18,
  TransferSession,
  readWeightsFile,
  type CommandIO,
  type Validation,
} from './transfer.js';
import { DEMO_DEFAULTS } from './transfer-usage.js';
import { positiveInt, positiveNumber } from './options.js';
import { writeFigure } from './figure-file.js';
import { trainingCurves } from './training-curves.js';

export interface DemoSettings {
  size: number;
  batchSize: number;
  pretrainSteps: number;
  /** Training images per class for pretraining (classes 0-4). */
  pretrainPerClass: number;
  /** Steps of each transfer run. */
  steps: number;
  /** Training images per class for the transfer runs (classes 5-9). */
  trainPerClass: number;
  /** Validation images per class, from Fashion-MNIST's test split. */
  valPerClass: number;
  /** Validate the transfer runs every this many steps (for the curves). */
  evalEvery: number;
  /** Adam's learning rate for pretraining and for training from scratch. */
  lr: number;
  /** Adam's learning rate for feature extraction (only the new fc trains). */
  headLr: number;
  /** Adam's learning rate for fine-tuning the pretrained network. */
  fineTuneLr: number;
  unfreeze: Exclude<Unfreeze, 'fc'>;
  /** Skip pretraining: weights saved by an earlier run (DIR/pretrained.safetensors). */
  pretrained: string | null;
  seed: number;
  outDir: string;
}

const SOURCE_CLASSES = [0, 1, 2, 3, 4];
const TARGET_CLASSES = [5, 6, 7, 8, 9];
const EVAL_BATCH = 100;
const MEAN: [number, number, number] = [FASHION_MEAN, FASHION_MEAN, FASHION_MEAN];
const STD: [number, number, number] = [FASHION_STD, FASHION_STD, FASHION_STD];
/** Milder than torchvision's (0.08, 1): a 28-pixel image has little to spare. */
const CROP_SCALE: [number, number] = [0.6, 1];

/** An in-memory image folder: the first `perClass` images of each of `classes` (relabelled 0..). */
export function fashionFolder(set: LabelledImages, classes: readonly number[], perClass: number, name: string): { index: ImageFolderIndex; read: ImageReader } {
  const taken = new Map(classes.map((c) => [c, 0]));
  const samples: ImageFolderSample[] = [];
  for (let k = 0; k < set.count; k++) {
    const c = set.labels[k]!;
    const n = taken.get(c);
    if (n === undefined || n >= perClass) continue;
    taken.set(c, n + 1);
    samples.push({ path: `${name}/${k}`, label: classes.indexOf(c) });
  }
  for (const [c, n] of taken) if (n < perClass) throw new Error(`transfer-demo: ${name} has ${n} images of class ${c}, fewer than the ${perClass} asked for`);
  samples.sort((a, b) => a.label - b.label);
  const read = async (path: string): Promise<RgbaImage> => {
    const k = Number(path.slice(path.lastIndexOf('/') + 1));
    const grey = set.images.subarray(k * PIXELS, (k + 1) * PIXELS);
    const data = new Uint8Array(PIXELS * 4);
    for (let p = 0; p < PIXELS; p++) data.set([grey[p]!, grey[p]!, grey[p]!, 255], p * 4);
    return { width: IMAGE_SIDE, height: IMAGE_SIDE, data };
  };
  return { index: { root: name, classes: classes.map((c) => FASHION_CLASSES[c]!), samples }, read };
}

interface Loaders {
  train: ImageFolderLoader;
  validation: ImageFolderLoader;
  validationRead: ImageReader;
}

function loaders(engine: Engine, data: { train: LabelledImages; test: LabelledImages }, classes: number[], s: DemoSettings, trainPerClass: number, name: string): Loaders {
  const train = fashionFolder(data.train, classes, trainPerClass, `${name}-train`);
  const validation = fashionFolder(data.test, classes, s.valPerClass, `${name}-validation`);
  const common = { size: s.size, mean: MEAN, std: STD, seed: s.seed };
  return {
    train: new ImageFolderLoader(engine, train.index, train.read, { ...common, batchSize: s.batchSize, mode: 'train', scale: CROP_SCALE }),
    validation: new ImageFolderLoader(engine, validation.index, validation.read, { ...common, batchSize: EVAL_BATCH, mode: 'eval', resizeTo: s.size }),
    validationRead: validation.read,
  };
}

/** Trains a session to `steps` steps with a progress line, validating every `evalEvery` steps. */
async function trainWithProgress(
  session: TransferSession,
  steps: number,
  io: CommandIO,
  validate?: { loader: ImageFolderLoader; every: number; onResult: (step: number, v: Validation) => void },
): Promise<void> {
  const bar = new ProgressBar(io.progress, { everySteps: Math.max(1, Math.round(steps / 8)) });
  const epochs = Math.ceil(steps / session.stepsPerEpoch);
  while (session.position.step < steps) {
    const until = validate ? Math.min(steps, session.position.step + validate.every) : steps;
    await session.train(until, {
      onStep: () => {
        const { step } = session.position;
        const recent = session.history.steps.slice(-session.stepsPerEpoch);
        const images = recent.reduce((n, r) => n + r.size, 0);
        bar.update({
          epoch: Math.min(epochs, Math.ceil(step / session.stepsPerEpoch)),
          epochs,
          step,
          steps,
          loss: recent.reduce((sum, r) => sum + r.loss * r.size, 0) / images,
          accuracy: recent.reduce((sum, r) => sum + r.accuracy * r.size, 0) / images,
          samplesPerSecond: session.history.steps.reduce((n, r) => n + r.size, 0) / session.trainSeconds,
          etaSeconds: ((steps - step) * session.trainSeconds) / step,
        });
      },
    });
    if (validate) validate.onResult(session.position.step, await evaluate(session.engine, session.model, validate.loader));
  }
  bar.finish();
}

/** The model's state dict as host arrays (one readback) and as torchvision-named safetensors. */
async function exportWeights(engine: Engine, model: ResNet18Module): Promise<{ weights: Map<string, HostTensor>; bytes: Uint8Array }> {
  const named = [...model.stateDict()];
  const data = await readTensors(
    engine,
    named.map(([, t]) => t),
  );
  const weights = new Map<string, HostTensor>(named.map(([name, t], i) => [name, { shape: [...t.shape], data: data[i]! }]));
  const tensors = named.map(([name, t], i): [string, SafeTensor] => [name, { dtype: 'F32', shape: [...t.shape], data: data[i]! }]);
  return { weights, bytes: encodeSafetensors(tensors, { format: 'pt', note: 'ResNet18 pretrained by transfer-demo on Fashion-MNIST classes 0-4' }) };
}

interface RunSpec {
  name: string;
  /** For the figure's title. */
  short: string;
  mode: TransferMode;
  unfreeze: Unfreeze;
  pretrained: boolean;
  lr: number;
  color: string;
}

export interface DemoRun {
  name: string;
  validation: Validation;
  /** Validation accuracy after each `evalEvery` steps. */
  curve: Array<{ step: number; accuracy: number }>;
  /** Per training step: the batch's mean loss and its images. */
  losses: Array<{ loss: number; size: number }>;
  trainable: number;
  seconds: number;
  imagesPerSecond: number;
}

export interface DemoOutcome {
  pretrainAccuracy: number | undefined;
  runs: DemoRun[];
  curves: string;
  predictions: string;
  pretrained: string;
}

/** The three runs side by side: headline figures, then accuracy per class. */
export function formatDemoTable(runs: readonly DemoRun[], classNames: readonly string[], steps: number, batch: number): string {
  const label = Math.max(...classNames.map((n) => n.length), 'trainable parameters'.length);
  const col = Math.max(14, ...runs.map((r) => r.name.length + 2));
  const row = (title: string, values: string[]): string => `${title.padEnd(label)}${values.map((v) => v.padStart(col)).join('')}`.trimEnd();
  const perClass = runs.map((r) => perClassAccuracy(r.validation.matrix));
  return [
    row('', runs.map((r) => r.name)),
    row('validation accuracy', runs.map((r) => pct(r.validation.accuracy))),
    row('validation loss', runs.map((r) => r.validation.loss.toFixed(4))),
    row('trainable parameters', runs.map((r) => r.trainable.toLocaleString('en-US'))),
    row('steps x batch', runs.map(() => `${steps} x ${batch}`)),
    row('train time', runs.map((r) => `${r.seconds.toFixed(1)} s`)),
    row('train images/s', runs.map((r) => r.imagesPerSecond.toFixed(1))),
    '',
    row('per-class accuracy', runs.map(() => '')),
    ...classNames.map((n, c) => row(n, perClass.map((acc) => pct(acc[c]!, 1)))),
  ].join('\n');
}

export async function transferDemo(engine: Engine, s: DemoSettings, io: CommandIO): Promise<DemoOutcome> {
  const t0 = performance.now();
  const data = await loadFashionMnist();
  io.log(`Fashion-MNIST loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s; images upscaled to 3-channel ${s.size}x${s.size}`);
  const paths = { pretrained: join(s.outDir, 'pretrained.safetensors'), curves: join(s.outDir, 'curves.png'), predictions: join(s.outDir, 'predictions.png') };

  // 1. Pretraining on classes 0-4 (or weights from an earlier run).
  let weights: Map<string, HostTensor>;
  let pretrainAccuracy: number | undefined;
  if (s.pretrained !== null) {
    weights = await readWeightsFile(s.pretrained);
    paths.pretrained = s.pretrained;
    io.log(`pretrained weights from ${s.pretrained}`);
  } else {
    const source = loaders(engine, data, SOURCE_CLASSES, s, s.pretrainPerClass, 'classes-0-4');
    io.log(
      `[1/4] pretraining ResNet18 from random weights on classes 0-4 (${SOURCE_CLASSES.map((c) => FASHION_CLASSES[c]).join(', ')}): ` +
        `${s.pretrainSteps} steps of ${s.batchSize} from ${source.train.index.samples.length} images, Adam lr ${s.lr}`,
    );
    const model = resnet18Module(engine, { numClasses: SOURCE_CLASSES.length, seed: s.seed });
    const optimizer = makeOptimizer('adam', trainableParameters(model), s.lr);
    try {
      const session = new TransferSession(engine, model, optimizer, source.train);
      await trainWithProgress(session, s.pretrainSteps, io);
      const v = await evaluate(engine, model, source.validation);
      pretrainAccuracy = v.accuracy;
      io.log(`pretrained: validation accuracy on classes 0-4 ${pct(v.accuracy)} (${source.validation.index.samples.length} test images; ${session.trainSeconds.toFixed(1)} s)`);
      const exported = await exportWeights(engine, model);
      weights = exported.weights;
      await writeFileAtomic(paths.pretrained, exported.bytes);
      io.log(`saved ${paths.pretrained} (torchvision names: usable as transfer-train --weights)`);
    } finally {
      optimizer.dispose();
      model.dispose();
    }
  }

  // 2. Three ways onto classes 5-9, the same steps on the same batches.
  const target = loaders(engine, data, TARGET_CLASSES, s, s.trainPerClass, 'classes-5-9');
  const classNames = target.train.classes;
  const specs: RunSpec[] = [
    { name: 'feature extraction', short: 'feature extraction', mode: 'feature-extraction', unfreeze: 'fc', pretrained: true, lr: s.headLr, color: COLORS.blue },
    { name: `fine-tuning (${s.unfreeze})`, short: 'fine-tuning', mode: 'fine-tune', unfreeze: s.unfreeze, pretrained: true, lr: s.fineTuneLr, color: COLORS.green },
    { name: 'from scratch', short: 'from scratch', mode: 'fine-tune', unfreeze: 'all', pretrained: false, lr: s.lr, color: COLORS.red },
  ];
  const runs: DemoRun[] = [];
  let predictions: Validation | undefined;
  for (const [i, spec] of specs.entries()) {
    io.log(
      `[${i + (s.pretrained === null ? 2 : 1)}/${s.pretrained === null ? 4 : 3}] ${spec.name} on classes 5-9 (${classNames.join(', ')}): ` +
        `${s.steps} steps of ${s.batchSize} from ${target.train.index.samples.length} images, Adam lr ${spec.lr}`,
    );
    const model = spec.pretrained ? pretrainedResNet18(engine, weights, paths.pretrained) : resnet18Module(engine, { numClasses: SOURCE_CLASSES.length, seed: s.seed });
    const optimizer = (() => {
      try {
        prepareTransfer(model, { mode: spec.mode, unfreeze: spec.unfreeze, numClasses: TARGET_CLASSES.length, seed: s.seed });
        return makeOptimizer('adam', trainableParameters(model), spec.lr);
      } catch (err) {
        model.dispose();
        throw err;
      }
    })();
    try {
      const session = new TransferSession(engine, model, optimizer, target.train);
      const curve: DemoRun['curve'] = [];
      let last: Validation | undefined;
      await trainWithProgress(session, s.steps, io, {
        loader: target.validation,
        every: s.evalEvery,
        onResult: (step, v) => {
          curve.push({ step, accuracy: v.accuracy });
          last = v;
        },
      });
      const images = session.history.steps.reduce((n, r) => n + r.size, 0);
      runs.push({
        name: spec.name,
        validation: last!,
        curve,
        losses: session.history.steps.map((r) => ({ loss: r.loss, size: r.size })),
        trainable: parameterCounts(model).trainable,
        seconds: session.trainSeconds,
        imagesPerSecond: images / session.trainSeconds,
      });
      io.log(`${spec.name}: validation accuracy ${pct(last!.accuracy)} after ${s.steps} steps (${session.trainSeconds.toFixed(1)} s)`);
      if (spec.mode === 'fine-tune' && spec.pretrained) predictions = last;
    } finally {
      optimizer.dispose();
      model.dispose();
    }
  }

  io.log('');
  io.log(`Transfer to Fashion-MNIST classes 5-9, ${target.validation.index.samples.length} validation images (the test split), ${s.size}x${s.size}:`);
  io.log(formatDemoTable(runs, classNames, s.steps, s.batchSize));
  io.log('');
  io.log(`fine-tuning's confusion matrix (rows: true class, columns: predicted class)`);
  io.log(formatConfusionMatrix(predictions!.matrix, classNames));

  const title = `Fashion-MNIST classes 5-9 after ${s.steps} steps: ${runs.map((r, i) => `${specs[i]!.short} ${pct(r.validation.accuracy, 1)}`).join(', ')}`;
  await writeFigure(
    paths.curves,
    trainingCurves(
      runs.map((r, i) => ({
        name: r.name,
        colors: [specs[i]!.color, specs[i]!.color],
        steps: r.losses.map((l, step) => ({ x: step + 1, loss: l.loss, size: l.size })),
        evaluations: r.curve.map((p) => ({ x: p.step, accuracy: p.accuracy })),
      })),
      { title, xLabel: 'Step', heldOut: 'validation' },
    ),
  );
  const examples = await predictionExamples(target.validation.index, predictions!.predicted, 20, target.validationRead);
  await writePredictionGrid(paths.predictions, examples, { classNames, columns: 5, thumbnail: 64 });
  io.log(`saved ${paths.curves} and ${paths.predictions} (fine-tuning's predictions); total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  return { pretrainAccuracy, runs, ...paths };
}

// ---- command line ----------------------------------------------------------------------------

const DEMO_OPTIONS = {
  'pretrain-steps': { type: 'string' },
  steps: { type: 'string' },
  batch: { type: 'string' },
  size: { type: 'string' },
  'train-per-class': { type: 'string' },
  'pretrain-per-class': { type: 'string' },
  'val-per-class': { type: 'string' },
  'eval-every': { type: 'string' },
  lr: { type: 'string' },
  'head-lr': { type: 'string' },
  'fine-tune-lr': { type: 'string' },
  unfreeze: { type: 'string' },
  pretrained: { type: 'string' },
  seed: { type: 'string' },
  out: { type: 'string' },
} as const;

export function parseDemoArgs(args: string[]): DemoSettings {
  const { values: v } = parseArgs({ args, options: DEMO_OPTIONS, strict: true, allowPositionals: false });
  type Name = keyof typeof DEMO_OPTIONS;
  const int = (name: Name, fallback: number, max = Infinity) => positiveInt(name, v[name] as string | undefined, fallback, max);
  const num = (name: Name, fallback: number) => positiveNumber(name, v[name] as string | undefined, fallback);
  const unfreeze = v.unfreeze ?? DEMO_DEFAULTS.unfreeze;
  if (!['layer4', 'layer3+', 'all'].includes(unfreeze)) throw new Error(`--unfreeze must be one of layer4, layer3+, all (what fine-tuning trains besides fc), got '${unfreeze}'`);
  const size = int('size', DEMO_DEFAULTS.size);
  if (size < 32) throw new Error(`--size must be at least 32 (ResNet18 shrinks its input 32 times), got ${size}`);
  const seed = v.seed === undefined ? DEMO_DEFAULTS.seed : Number(v.seed);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new Error(`--seed must be an integer in [0, 2^32), got '${v.seed}'`);
  const steps = int('steps', DEMO_DEFAULTS.steps);
  return {
    size,
    batchSize: int('batch', DEMO_DEFAULTS.batchSize),
    pretrainSteps: int('pretrain-steps', DEMO_DEFAULTS.pretrainSteps),
    pretrainPerClass: int('pretrain-per-class', DEMO_DEFAULTS.pretrainPerClass, 6000),
    steps,
    trainPerClass: int('train-per-class', DEMO_DEFAULTS.trainPerClass, 6000),
    valPerClass: int('val-per-class', DEMO_DEFAULTS.valPerClass, 1000),
    evalEvery: Math.min(steps, int('eval-every', DEMO_DEFAULTS.evalEvery)),
    lr: num('lr', DEMO_DEFAULTS.lr),
    headLr: num('head-lr', DEMO_DEFAULTS.headLr),
    fineTuneLr: num('fine-tune-lr', DEMO_DEFAULTS.fineTuneLr),
    unfreeze: unfreeze as DemoSettings['unfreeze'],
    pretrained: v.pretrained ?? null,
    seed,
    outDir: v.out ?? DEMO_DEFAULTS.outDir,
  };
}
