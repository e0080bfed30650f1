// The Fashion-MNIST CNN's training step (upload the batch, forward, cross-entropy, backward, Adam)
// at batch 100, ours beside TensorFlow.js's WebGPU backend on the same adapter in the same process,
// plus a breakdown of where our step's time goes. Run through bench/run.ts
// (`npx tsx bench/run.ts --only training`).
//
// Both sides train the same network from the same initial weights on the same images:
//   ours: src/nn/models/fashion.ts's FashionCNN on the Tape, Adam (src/optim), as the CLI trains it;
//   tfjs: the same layers in tfjs-core ops (NHWC): tf.variable weights, tf.conv2d + bias,
//     tf.moments + tf.batchNorm with the running statistics updated, tf.relu, tf.maxPool,
//     tf.matMul + bias, tf.dropout, tf.losses.softmaxCrossEntropy, tf.train.adam(...).minimize.
// A step uploads the batch (images and labels) on both sides; the wait submits and waits for the
// GPU, reading nothing back (the CLI reads the loss only every N steps).
import { createRequire } from 'node:module';
import type * as TfCore from '@tensorflow/tfjs-core';
import { Tape } from '../src/autograd/tape.js';
import { constant, type Variable } from '../src/autograd/variable.js';
import { fashionCnn, type FashionCNN } from '../src/nn/models/fashion.js';
import { seededImages } from '../src/nn/models/seeded-weights.js';
import { Adam } from '../src/optim/adam.js';
import type { Engine, Recording } from '../src/runtime/engine.js';
import type { Tensor } from '../src/runtime/tensor.js';
import type { Tf, TfjsPeer } from './tfjs-peer.js';
import { paired, summarise, type PairedResult, type Summary, type Workload } from './timing.js';

const CLASSES = 10;
const SIDE = 28;
const LR = 1e-3;
const BN_EPS = 1e-5;
const BN_MOMENTUM = 0.1;
const DROPOUT = 0.25;
/** Training images per epoch (the epoch time is this over samples per second). */
const EPOCH_SAMPLES = 60_000;

export interface TrainingBenchOptions {
  reps: number;
  warmup: number;
  budgetSeconds: number;
  /** Batch size, default 100. */
  batch?: number;
  /** Run the breakdown of our step (phases and kernels), default true. */
  profile?: boolean;
  log?: (line: string) => void;
}

interface Batch {
  /** [N, 1, 28, 28]; with one channel NCHW and NHWC are the same bytes. */
  images: Float32Array;
  labels: Int32Array;
}

function syntheticBatch(n: number): Batch {
  const images = seededImages(7, [n, 1, SIDE, SIDE]);
  return { images, labels: Int32Array.from({ length: n }, (_, i) => (i * 7 + 3) % CLASSES) };
}

// ---- ours ----------------------------------------------------------------------------------

class OurTrainer {
  readonly model: FashionCNN;
  readonly optimizer: Adam;

  constructor(
    readonly engine: Engine,
    readonly batch: Batch,
  ) {
    this.model = fashionCnn(engine, { seed: 0 });
    this.optimizer = new Adam(this.model.parameters(), { lr: LR, eps: 1e-8 });
  }

  private upload(): { x: Variable; target: Tensor<'int32'> } {
    const n = this.batch.labels.length;
    return { x: constant(this.engine.tensor(this.batch.images, [n, 1, SIDE, SIDE])), target: this.engine.tensor(Int32Array.from(this.batch.labels), [n]) };
  }

  /** Records one training step (nothing is submitted); returns the loss, which the caller frees. */
  step(): Tensor {
    const { x, target } = this.upload();
    const tape = new Tape(this.engine);
    try {
      const loss = tape.keep(tape.crossEntropy(this.model.forward(tape, x), target));
      this.optimizer.zeroGrad();
      tape.backward(loss);
      this.optimizer.step();
      return loss.value;
    } finally {
      tape.dispose();
      x.value.dispose();
      target.dispose();
    }
  }

  /** One step with a wait after each phase: wall ms of [upload + forward + loss, backward, Adam]. */
  async phasedStep(): Promise<[number, number, number]> {
    const e = this.engine;
    const t0 = performance.now();
    const { x, target } = this.upload();
    const tape = new Tape(e);
    try {
      const loss = tape.crossEntropy(this.model.forward(tape, x), target);
      await e.sync();
      const t1 = performance.now();
      this.optimizer.zeroGrad();
      tape.backward(loss);
      await e.sync();
      const t2 = performance.now();
      this.optimizer.step();
      await e.sync();
      return [t1 - t0, t2 - t1, performance.now() - t2];
    } finally {
      tape.dispose();
      x.value.dispose();
      target.dispose();
    }
  }

  /** Captures one step's three phases as separate recordings (for replaying them, or parts of them, alone). */
  capturePhases(): { phases: Array<[Phase, Recording]>; release: () => void } {
    const e = this.engine;
    const tape = new Tape(e);
    let inputs: { x: Variable; target: Tensor<'int32'> } | undefined;
    const forward = e.capture(() => {
      inputs = this.upload();
      return tape.crossEntropy(this.model.forward(tape, inputs.x), inputs.target);
    });
    const backward = e.capture(() => {
      this.optimizer.zeroGrad();
      tape.backward(forward.value);
    });
    const update = e.capture(() => this.optimizer.step());
    const recordings: Array<[Phase, Recording]> = [['forward', forward.recording], ['backward', backward.recording], ['adam', update.recording]];
    return {
      phases: recordings,
      release: () => {
        // Tensors made inside a capture go back to that recording's pool, so free them first.
        tape.dispose();
        inputs?.x.value.dispose();
        inputs?.target.dispose();
        this.optimizer.zeroGrad();
        for (const [, r] of recordings) r.dispose();
      },
    };
  }

  dispose(): void {
    this.optimizer.dispose();
    this.model.dispose();
  }
}

// ---- tfjs ----------------------------------------------------------------------------------

/** Our OIHW conv weight as tfjs's HWIO filter. */
function hwio(data: Float32Array, [o, i, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let a = 0; a < o!; a++) for (let b = 0; b < i!; b++) for (let y = 0; y < h!; y++) for (let x = 0; x < w!; x++) out[((y * w! + x) * i! + b) * o! + a] = data[((a * i! + b) * h! + y) * w! + x]!;
  return out;
}

/**
 * Our Linear weight [out, in] as tfjs's [in, out] matrix. `nchw` = [C, H, W] of an NCHW input that
 * was flattened: tfjs flattens NHWC, so the input rows are permuted to match.
 */
function inOut(data: Float32Array, [outF, inF]: readonly number[], nchw?: readonly [number, number, number]): Float32Array {
  const out = new Float32Array(data.length);
  for (let o = 0; o < outF!; o++) {
    for (let i = 0; i < inF!; i++) {
      let row = i;
      if (nchw) {
        const [c, h, w] = nchw;
        const ch = Math.floor(i / (h * w));
        const pos = i % (h * w);
        row = pos * c + ch;
      }
      out[row * outF! + o] = data[o * inF! + i]!;
    }
  }
  return out;
}

/** The same CNN in tfjs-core ops, NHWC, trained with tf.train.adam. */
class TfjsTrainer {
  private readonly trainable: TfCore.Variable[] = [];
  private readonly vars = new Map<string, TfCore.Variable>();
  private readonly optimizer: TfCore.AdamOptimizer;
  dropout = DROPOUT;

  constructor(
    private readonly tf: Tf,
    weights: ReadonlyMap<string, { data: Float32Array; shape: readonly number[] }>,
    private readonly batch: Batch,
  ) {
    const add = (name: string, data: Float32Array, shape: number[], trainable = true) => {
      const v = tf.variable(tf.tensor(data, shape), trainable, `fashion_cnn/${name}`);
      this.vars.set(name, v);
      if (trainable) this.trainable.push(v);
    };
    const get = (name: string) => {
      const t = weights.get(name);
      if (!t) throw new Error(`tfjs CNN: no weight '${name}'`);
      return t;
    };
    for (const [conv, bn] of [['layer1.0', 'layer1.1'], ['layer2.0', 'layer2.1']] as const) {
      const w = get(`${conv}.weight`);
      const [o, i, h, k] = w.shape as [number, number, number, number];
      add(`${conv}.weight`, hwio(w.data, w.shape), [h, k, i, o]);
      add(`${conv}.bias`, get(`${conv}.bias`).data, [o]);
      add(`${bn}.weight`, get(`${bn}.weight`).data, [o]);
      add(`${bn}.bias`, get(`${bn}.bias`).data, [o]);
      add(`${bn}.running_mean`, get(`${bn}.running_mean`).data, [o], false);
      add(`${bn}.running_var`, get(`${bn}.running_var`).data, [o], false);
    }
    for (const fc of ['fc1', 'fc2', 'fc3']) {
      const w = get(`${fc}.weight`);
      const [outF, inF] = w.shape as [number, number];
      add(`${fc}.weight`, inOut(w.data, w.shape, fc === 'fc1' ? [64, 6, 6] : undefined), [inF, outF]);
      add(`${fc}.bias`, get(`${fc}.bias`).data, [outF]);
    }
    this.optimizer = tf.train.adam(LR, 0.9, 0.999, 1e-8);
  }

  private v(name: string): TfCore.Variable {
    return this.vars.get(name)!;
  }

  /** conv + bias, batch norm with batch statistics (updating the running ones), relu, 2x2 max pool. */
  private block(x: TfCore.Tensor4D, conv: string, bn: string, pad: 'same' | 'valid'): TfCore.Tensor4D {
    const tf = this.tf;
    const h = tf.add(tf.conv2d(x, this.v(`${conv}.weight`) as unknown as TfCore.Tensor4D, 1, pad), this.v(`${conv}.bias`)) as TfCore.Tensor4D;
    const { mean, variance } = tf.moments(h, [0, 1, 2]);
    const count = h.shape[0] * h.shape[1] * h.shape[2];
    const [rm, rv] = [this.v(`${bn}.running_mean`), this.v(`${bn}.running_var`)];
    rm.assign(tf.add(tf.mul(rm, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
    rv.assign(tf.add(tf.mul(rv, 1 - BN_MOMENTUM), tf.mul(variance, (BN_MOMENTUM * count) / (count - 1))));
    const y = tf.batchNorm(h, mean, variance, this.v(`${bn}.bias`), this.v(`${bn}.weight`), BN_EPS) as TfCore.Tensor4D;
    return tf.maxPool(tf.relu(y), 2, 2, 'valid') as TfCore.Tensor4D;
  }

  private loss(x: TfCore.Tensor4D, oneHot: TfCore.Tensor2D): TfCore.Scalar {
    const tf = this.tf;
    const features = this.block(this.block(x, 'layer1.0', 'layer1.1', 'same'), 'layer2.0', 'layer2.1', 'valid');
    const dense = (h: TfCore.Tensor2D, fc: string) => tf.add(tf.matMul(h, this.v(`${fc}.weight`) as unknown as TfCore.Tensor2D), this.v(`${fc}.bias`)) as TfCore.Tensor2D;
    let h = dense(tf.reshape(features, [x.shape[0], -1]) as TfCore.Tensor2D, 'fc1');
    if (this.dropout > 0) h = tf.dropout(h, this.dropout) as TfCore.Tensor2D;
    const logits = dense(dense(h, 'fc2'), 'fc3');
    return tf.losses.softmaxCrossEntropy(oneHot, logits) as TfCore.Scalar;
  }

  /** Records one training step; returns the loss when asked (the caller frees it). */
  step(returnLoss = false): TfCore.Scalar | null {
    const tf = this.tf;
    const n = this.batch.labels.length;
    const x = tf.tensor4d(this.batch.images, [n, SIDE, SIDE, 1]);
    const labels = tf.tensor1d(this.batch.labels, 'int32');
    const oneHot = tf.oneHot(labels, CLASSES) as TfCore.Tensor2D;
    try {
      return this.optimizer.minimize(() => this.loss(x, oneHot), returnLoss, this.trainable);
    } finally {
      x.dispose();
      labels.dispose();
      oneHot.dispose();
    }
  }

  dispose(): void {
    this.optimizer.dispose();
    for (const v of this.vars.values()) v.dispose();
  }
}

/**
 * tfjs-core's gradient functions are registered by the @tensorflow/tfjs bundle, not by tfjs-core's
 * Node entry, and its per-file ESM modules use extensionless imports that Node cannot load. So
 * register_all_gradients is bundled with esbuild and imported: its own copy of tfjs-core's ops
 * works on the same engine, because tfjs keeps its engine and registries in one global namespace
 * (and Tensor's instanceof checks accept tensors of any copy) precisely so that copies interoperate.
 */
export async function registerTfjsGradients(): Promise<void> {
  const { build } = await import('esbuild');
  const entry = createRequire(import.meta.url).resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  const bundled = await build({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'node', write: false, logLevel: 'silent' });
  const code = bundled.outputFiles[0]!.text;
  await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
}

// ---- the benchmark -------------------------------------------------------------------------

export type Phase = 'forward' | 'backward' | 'adam';

export interface KernelTime {
  phase: Phase;
  kernel: string;
  dispatches: number;
  ms: number;
}

export interface TrainingBreakdown {
  /** Live steps with a wait after each phase (recording on the CPU included), medians, ms. */
  live: Record<Phase, Summary>;
  /** CPU time to record one whole step (nothing submitted), ms. */
  record: Summary;
  /** The captured phases replayed (GPU work and one submit each, no recording on the CPU), medians, ms. */
  replayed: Record<Phase, Summary>;
  /** Every dispatch replayed alone (and repeated), summed per phase, kernel name and workgroup grid, ms per step. */
  kernels: KernelTime[];
  dispatches: Record<Phase, number>;
}

export interface TrainingBenchResult {
  batch: number;
  timing: PairedResult;
  /** First step of each side (pipeline compiles and uploads included), ms. */
  firstOurs: number;
  firstTfjs: number;
  /** Losses of two steps with dropout off on both sides: the agreement check. */
  agreement: { ours: [number, number]; tfjs: [number, number] };
  breakdown?: TrainingBreakdown;
}

/** Appends `commands` (some of a recording's) to what is submitted next. */
function replayCommands(engine: Engine, commands: ReturnType<Recording['commands']>): void {
  // Engine.replay reads only recording.commands(); this diagnostic replays a subset of them.
  engine.replay({ commands: () => commands } as unknown as Recording);
}

async function timeMs(fn: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

async function breakdown(engine: Engine, ours: OurTrainer, reps: number, log: (s: string) => void): Promise<TrainingBreakdown> {
  log('  training: breakdown of our step (phases with waits between them)');
  const live: Array<[number, number, number]> = [];
  for (let i = 0; i < reps; i++) live.push(await ours.phasedStep());
  const record: number[] = [];
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    const loss = ours.step();
    record.push(performance.now() - start);
    await engine.sync();
    loss.dispose();
  }
  const { phases, release } = ours.capturePhases();
  try {
    const replayed = {} as Record<Phase, Summary>;
    const dispatches = {} as Record<Phase, number>;
    for (const [phase, recording] of phases) {
      engine.replay(recording);
      await engine.sync(); // compiled and warm
      const samples: number[] = [];
      for (let i = 0; i < reps; i++) {
        samples.push(await timeMs(async () => {
          engine.replay(recording);
          await engine.sync();
        }));
      }
      replayed[phase] = summarise(samples);
      dispatches[phase] = recording.dispatchCount;
    }
    log('  training: timing each kernel alone');
    // Each command repeated `copies` times in one submission: the per-submit cost is shared out.
    const copies = 4;
    const times = new Map<string, KernelTime>();
    for (const [phase, recording] of phases) {
      for (const command of recording.commands()) {
        const trials: number[] = [];
        for (let t = 0; t < 3; t++) {
          trials.push(await timeMs(async () => {
            replayCommands(engine, Array(copies).fill(command));
            await engine.sync();
          }) / copies);
        }
        // One row per kernel and grid: the grid tells the layers apart (one name can serve several).
        const kernel = command.kind === 'dispatch' ? `${command.spec.name} [${command.groups.join('x')}]` : 'copy (uploads, views)';
        const key = `${phase} ${kernel}`;
        const entry = times.get(key) ?? { phase, kernel, dispatches: 0, ms: 0 };
        entry.dispatches += command.kind === 'dispatch' ? 1 : 0;
        entry.ms += summarise(trials).median;
        times.set(key, entry);
      }
    }
    const column = (k: number) => summarise(live.map((s) => s[k]!));
    return {
      live: { forward: column(0), backward: column(1), adam: column(2) },
      record: summarise(record),
      replayed,
      kernels: [...times.values()].sort((a, b) => b.ms - a.ms),
      dispatches,
    };
  } finally {
    release();
    await engine.sync();
  }
}

export async function runTrainingBench(engine: Engine, peer: TfjsPeer, options: TrainingBenchOptions): Promise<TrainingBenchResult> {
  const log = options.log ?? (() => {});
  await registerTfjsGradients();
  const n = options.batch ?? 100;
  const batch = syntheticBatch(n);
  const ours = new OurTrainer(engine, batch);
  const weights = new Map<string, { data: Float32Array; shape: readonly number[] }>();
  for (const [name, t] of ours.model.stateDict()) weights.set(name, { data: await t.toArray(), shape: t.shape });
  const theirs = new TfjsTrainer(peer.tf, weights, batch);
  try {
    log(`  training batch ${n}: agreement steps (dropout off on both sides)`);
    ours.model.drop.train(false);
    theirs.dropout = 0;
    const agreement = { ours: [0, 0] as [number, number], tfjs: [0, 0] as [number, number] };
    const firstStarted = performance.now();
    for (let i = 0; i < 2; i++) {
      const loss = ours.step();
      agreement.ours[i] = (await loss.toArray())[0]!;
      loss.dispose();
    }
    const firstOurs = performance.now() - firstStarted; // two steps, the first compiling
    const tfStarted = performance.now();
    for (let i = 0; i < 2; i++) {
      const loss = theirs.step(true)!;
      agreement.tfjs[i] = ((await loss.data()) as Float32Array)[0]!;
      loss.dispose();
    }
    const firstTfjs = performance.now() - tfStarted;
    ours.model.drop.train(true);
    theirs.dropout = DROPOUT;
    log(`  training: losses ours ${agreement.ours.map((v) => v.toFixed(5)).join(', ')}, tfjs ${agreement.tfjs.map((v) => v.toFixed(5)).join(', ')}; timing pairs`);

    const a: Workload<Tensor> = { record: () => ours.step(), finish: () => engine.sync(), release: (loss) => loss.dispose() };
    const b: Workload<TfCore.Scalar | null> = { record: () => theirs.step(), finish: () => peer.sync(), release: () => {} };
    const timing = await paired(a, b, { reps: options.reps, warmup: options.warmup, repeat: 1, budgetSeconds: options.budgetSeconds, minReps: Math.min(5, options.reps) });
    log(`  training: ours ${timing.a.median.toFixed(0)} ms, tfjs ${timing.b.median.toFixed(0)} ms, tfjs/ours ${timing.ratio.median.toFixed(2)}`);
    const result: TrainingBenchResult = { batch: n, timing, firstOurs, firstTfjs, agreement };
    if (options.profile ?? true) result.breakdown = await breakdown(engine, ours, Math.max(3, Math.min(options.reps, 7)), log);
    return result;
  } finally {
    theirs.dispose();
    ours.dispose();
    await engine.sync();
    await peer.sync();
  }
}

// ---- the report ----------------------------------------------------------------------------

function spread(s: Summary): string {
  return `±${(s.median > 0 ? ((s.q3 - s.q1) / 2 / s.median) * 100 : 0).toFixed(0)}%`;
}

function ms(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

function epoch(msPerStep: number, batch: number): string {
  const seconds = (EPOCH_SAMPLES / batch) * (msPerStep / 1000);
  return seconds >= 120 ? `${(seconds / 60).toFixed(1)} min` : `${seconds.toFixed(0)} s`;
}

export function formatTrainingReport(r: TrainingBenchResult, top = 20): string {
  const { timing, batch } = r;
  const perSecond = (v: number) => ((batch * 1000) / v).toFixed(0);
  const lines = [
    table([
      ['Fashion-MNIST CNN training step', 'batch', 'ms/step', 'samples/s', 'epoch (60k)', 'pairs', 'first 2 steps'],
      ['ours', String(batch), `${ms(timing.a.median)} ${spread(timing.a)}`, perSecond(timing.a.median), epoch(timing.a.median, batch), `${timing.samplesA.length}${timing.truncated ? '*' : ''}`, ms(r.firstOurs)],
      ['tfjs', String(batch), `${ms(timing.b.median)} ${spread(timing.b)}`, perSecond(timing.b.median), epoch(timing.b.median, batch), `${timing.samplesB.length}${timing.truncated ? '*' : ''}`, ms(r.firstTfjs)],
    ]),
    '',
    `tfjs/ours = ${timing.ratio.median.toFixed(2)} ${spread(timing.ratio)} (median of per-pair ratios; the target is 8).`,
    `agreement (dropout off, same weights and batch): step losses ours ${r.agreement.ours.map((v) => v.toFixed(5)).join(', ')}; ` +
      `tfjs ${r.agreement.tfjs.map((v) => v.toFixed(5)).join(', ')}.`,
  ];
  const b = r.breakdown;
  if (b) {
    const phases: Phase[] = ['forward', 'backward', 'adam'];
    const kernelSum = (p: Phase) => b.kernels.filter((k) => k.phase === p).reduce((s, k) => s + k.ms, 0);
    lines.push('', 'Where our step goes:');
    lines.push(table([
      ['phase', 'live ms', 'replayed ms', 'sum of kernels ms', 'dispatches'],
      ...phases.map((p) => [p === 'forward' ? 'upload + forward + loss' : p, `${ms(b.live[p].median)} ${spread(b.live[p])}`, `${ms(b.replayed[p].median)} ${spread(b.replayed[p])}`, ms(kernelSum(p)), String(b.dispatches[p])]),
      ['total', ms(phases.reduce((s, p) => s + b.live[p].median, 0)), ms(phases.reduce((s, p) => s + b.replayed[p].median, 0)), ms(phases.reduce((s, p) => s + kernelSum(p), 0)), String(phases.reduce((s, p) => s + b.dispatches[p], 0))],
    ]));
    lines.push(`CPU time to record one whole step (tape, argument checks, bind groups; before the submit): ${ms(b.record.median)} ms ${spread(b.record)}.`);
    const total = b.kernels.reduce((s, k) => s + k.ms, 0);
    const shown = b.kernels.slice(0, top);
    const rest = b.kernels.slice(top);
    lines.push('', `Top kernels (each dispatch replayed alone, summed per phase, kernel and grid; ${b.kernels.length} rows, ${rest.length} not shown):`);
    lines.push(table([
      ['phase', 'kernel', 'dispatches', 'ms/step', 'share'],
      ...shown.map((k) => [k.phase, k.kernel, String(k.dispatches), ms(k.ms), `${((k.ms / total) * 100).toFixed(1)}%`]),
      ['', 'the rest', String(rest.reduce((s, k) => s + k.dispatches, 0)), ms(rest.reduce((s, k) => s + k.ms, 0)), `${((rest.reduce((s, k) => s + k.ms, 0) / total) * 100).toFixed(1)}%`],
    ]));
  }
  return lines.join('\n');
}

export const TRAINING_NOTES = [
  'training: one step = upload the batch (images, labels), forward, cross-entropy, backward, Adam, then submit and wait for',
  'the GPU (ours: engine.sync(); tfjs: its pass closed, submitted, onSubmittedWorkDone), no readback. ms/step = median,',
  '± half the interquartile range; samples/s = batch / median; epoch = 60,000 samples at that rate. Pairs alternate ours,',
  'tfjs. "first 2 steps" = the two agreement steps (dropout off), the first compiling every pipeline. tfjs draws its',
  'dropout mask on the CPU (tf.dropout -> randomUniform) and uploads it; ours draws it on the GPU (Philox).',
  'Breakdown (ours only): "live" = a step with a wait after each phase (CPU recording included, three submits);',
  '"replayed" = the phase captured once (Engine.capture) and replayed, i.e. GPU work and one submit, no CPU recording;',
  '"sum of kernels" = every command of the phase replayed alone (4 copies per submit, median of 3), summed. Kernel rows',
  'are KernelSpec name + workgroup grid (the grid tells layers apart), summed over the dispatches that share both.',
].join('\n');
