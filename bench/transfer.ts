// Transfer-learning training steps with ResNet18, ours beside TensorFlow.js's WebGPU backend on the
// same adapter in the same process: one step = forward, cross-entropy, backward, SGD with momentum,
// at batch 8, for feature extraction (frozen backbone, new fc) and full fine-tuning, at 112x112 and
// 224x224. Both sides start from the same seeded weights (src/nn/models/seeded-weights.ts) and the
// same new fc, and see the same batch; their first-step losses are printed side by side.
//
//   npx tsx bench/transfer.ts [--sizes 112,224] [--modes fine-tune,feature-extraction]
//                             [--reps 3] [--warmup 1] [--tfjs-reps 1] [--tfjs-skip fine-tune:224] [--batch 8]
//                             [--no-tfjs] [--json out.json]
//
// tfjs's fine-tuning step at 224x224 is skipped by default: on the 2-core lavapipe machine one
// such step (its first, compiling, plus a timed one) takes several minutes (~24 s a step at
// 112x112, about four times the work at 224x224). `--tfjs-skip none` runs it.
//
// Full fine-tuning at batch 64, 224x224, the case that passes the 128 MiB storage-binding limit
// (the stem's output is 205 MB; the runtime splits it and every op reading it by images), takes
// minutes a step on lavapipe and is no default case:
//   npx tsx bench/transfer.ts --sizes 224 --modes fine-tune --batch 64 --no-tfjs --reps 1 --warmup 0
//
// Timing, per case: our first step (compiling our pipelines), `--warmup` untimed steps, `--reps`
// timed steps; tfjs's first step and `--tfjs-reps` timed ones; then ours again (`--warmup`
// untimed, `--reps` timed), so that load from other processes changing during tfjs's long steps
// weighs on both medians. Not alternated step by step: a tfjs step takes 5-20 times as long as
// ours, and a step of ours right after one of tfjs's ran several times slower in trials. The
// ratio is of the medians. A step's time runs from recording it to its loss read back on
// the CPU (ours: one submission; tfjs: optimizer.minimize, then await loss.data()). Inputs are
// on the GPU already.
import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type * as TfCore from '@tensorflow/tfjs-core';
import { Tape } from '../src/autograd/tape.js';
import { constant, type Variable } from '../src/autograd/variable.js';
import { nodeGpu } from '../src/gpu/node-gpu.js';
import { resnet18Module, type ResNet18Module } from '../src/nn/models/resnet18-module.js';
import { seededImages, seededResNet18Weights, type SeededTensor } from '../src/nn/models/seeded-weights.js';
import { prepareTransfer, trainableParameters, type TransferMode } from '../src/nn/transfer.js';
import { SGD } from '../src/optim/sgd.js';
import { Engine } from '../src/runtime/engine.js';
import { loadTfjs, registerTfjsGradients, type Tf, type TfjsPeer } from './tfjs-peer.js';
import { summarise, type Summary } from './timing.js';
import { integerOption } from './args.js';

const CLASSES = 10;
const LR = 0.01;
const MOMENTUM = 0.9;
const BN_EPS = 1e-5;
const BN_MOMENTUM = 0.1;
const WEIGHT_SEED = 1;
const FC_SEED = 7;

// ---- tfjs's trainable ResNet18 ---------------------------------------------------------------

/** OIHW -> HWIO (tfjs's filter layout). */
function toHwio(w: SeededTensor): Float32Array {
  const [o, i, h, k] = w.shape as [number, number, number, number];
  const out = new Float32Array(w.data.length);
  for (let oo = 0; oo < o; oo++) {
    for (let ii = 0; ii < i; ii++) {
      for (let y = 0; y < h; y++) for (let x = 0; x < k; x++) out[((y * k + x) * i + ii) * o + oo] = w.data[((oo * i + ii) * h + y) * k + x]!;
    }
  }
  return out;
}

/** NCHW -> NHWC. */
function toNhwc(data: Float32Array, [n, c, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n!; b++) {
    for (let ch = 0; ch < c!; ch++) for (let i = 0; i < h! * w!; i++) out[(b * h! * w! + i) * c! + ch] = data[(b * c! + ch) * h! * w! + i]!;
  }
  return out;
}

interface TfBatchNorm {
  gamma: TfCore.Variable;
  beta: TfCore.Variable;
  mean: TfCore.Tensor1D;
  variance: TfCore.Tensor1D;
  /** Trained: batch statistics and running-statistics updates; else the running statistics. */
  train: boolean;
}

interface TfConv {
  filter: TfCore.Variable;
  stride: number;
  pad: number;
}

/**
 * ResNet18 written with tfjs-core ops (NHWC), weights as tf.variable. Frozen stages normalise with
 * their running statistics and are left out of the optimiser's variable list, so tfjs computes no
 * gradient for them (tf.variableGrads only walks the tape from the listed variables to the loss).
 */
class TfjsTrainableResNet18 {
  private readonly convs = new Map<string, TfConv>();
  private readonly norms = new Map<string, TfBatchNorm>();
  private readonly fcWeight: TfCore.Variable;
  private readonly fcBias: TfCore.Variable;
  readonly trainable: TfCore.Variable[] = [];
  /** Batch statistics of the last step's trained batch norms, for the running-statistics update. */
  private batchStats: Array<{ bn: TfBatchNorm; mean: TfCore.Tensor; variance: TfCore.Tensor; count: number }> = [];

  constructor(
    private readonly tf: Tf,
    weights: ReadonlyMap<string, SeededTensor>,
    fc: { weight: Float32Array; bias: Float32Array },
    trainBackbone: boolean,
  ) {
    const get = (name: string) => weights.get(name)!;
    const conv = (name: string, stride: number, pad: number) => {
      const w = get(`${name}.weight`);
      const [o, i, h, k] = w.shape as [number, number, number, number];
      const filter = tf.variable(tf.tensor4d(toHwio(w), [h, k, i, o]), trainBackbone, name);
      if (trainBackbone) this.trainable.push(filter);
      this.convs.set(name, { filter, stride, pad });
    };
    const bn = (name: string) => {
      const v = (s: string) => get(`${name}.${s}`).data;
      const gamma = tf.variable(tf.tensor1d(v('weight')), trainBackbone, `${name}.weight`);
      const beta = tf.variable(tf.tensor1d(v('bias')), trainBackbone, `${name}.bias`);
      if (trainBackbone) this.trainable.push(gamma, beta);
      this.norms.set(name, { gamma, beta, mean: tf.tensor1d(v('running_mean')), variance: tf.tensor1d(v('running_var')), train: trainBackbone });
    };
    conv('conv1', 2, 3);
    bn('bn1');
    for (let stage = 1; stage <= 4; stage++) {
      for (let block = 0; block < 2; block++) {
        const p = `layer${stage}.${block}`;
        const stride = stage > 1 && block === 0 ? 2 : 1;
        conv(`${p}.conv1`, stride, 1);
        bn(`${p}.bn1`);
        conv(`${p}.conv2`, 1, 1);
        bn(`${p}.bn2`);
        if (stage > 1 && block === 0) {
          conv(`${p}.downsample.0`, stride, 0);
          bn(`${p}.downsample.1`);
        }
      }
    }
    const features = 512;
    const transposed = new Float32Array(fc.weight.length);
    for (let c = 0; c < CLASSES; c++) for (let f = 0; f < features; f++) transposed[f * CLASSES + c] = fc.weight[c * features + f]!;
    this.fcWeight = tf.variable(tf.tensor2d(transposed, [features, CLASSES]), true, 'fc.weight');
    this.fcBias = tf.variable(tf.tensor1d(fc.bias), true, 'fc.bias');
    this.trainable.push(this.fcWeight, this.fcBias);
  }

  private convBn(x: TfCore.Tensor4D, name: string, bnName: string, relu: boolean): TfCore.Tensor4D {
    const tf = this.tf;
    const c = this.convs.get(name)!;
    const y = tf.conv2d(x, c.filter as TfCore.Tensor4D, c.stride, [[0, 0], [c.pad, c.pad], [c.pad, c.pad], [0, 0]]);
    const bn = this.norms.get(bnName)!;
    let out: TfCore.Tensor4D;
    if (bn.train) {
      const { mean, variance } = tf.moments(y, [0, 1, 2]);
      this.batchStats.push({ bn, mean: tf.keep(mean), variance: tf.keep(variance), count: y.shape[0] * y.shape[1] * y.shape[2] });
      out = tf.batchNorm(y, mean, variance, bn.beta, bn.gamma, BN_EPS) as TfCore.Tensor4D;
    } else {
      out = tf.batchNorm(y, bn.mean, bn.variance, bn.beta, bn.gamma, BN_EPS) as TfCore.Tensor4D;
    }
    return relu ? tf.relu(out) : out;
  }

  /** Mean cross-entropy of the logits for images [N, H, W, 3] against one-hot labels. */
  loss(images: TfCore.Tensor4D, oneHot: TfCore.Tensor2D): TfCore.Scalar {
    const tf = this.tf;
    let x = this.convBn(images, 'conv1', 'bn1', true);
    x = tf.maxPool(x, 3, 2, [[0, 0], [1, 1], [1, 1], [0, 0]] as unknown as number);
    for (let stage = 1; stage <= 4; stage++) {
      for (let block = 0; block < 2; block++) {
        const p = `layer${stage}.${block}`;
        const shortcut = this.convs.has(`${p}.downsample.0`) ? this.convBn(x, `${p}.downsample.0`, `${p}.downsample.1`, false) : x;
        const h = this.convBn(this.convBn(x, `${p}.conv1`, `${p}.bn1`, true), `${p}.conv2`, `${p}.bn2`, false);
        x = tf.relu(tf.add(h, shortcut)) as TfCore.Tensor4D;
      }
    }
    const pooled = tf.mean(x, [1, 2]) as TfCore.Tensor2D;
    const logits = tf.add(tf.matMul(pooled, this.fcWeight as TfCore.Tensor2D), this.fcBias);
    return tf.losses.softmaxCrossEntropy(oneHot, logits) as TfCore.Scalar;
  }

  /** PyTorch's running-statistics update (unbiased variance) from the last step's batch statistics. */
  updateRunningStats(): void {
    const tf = this.tf;
    for (const { bn, mean, variance, count } of this.batchStats) {
      const [oldMean, oldVar] = [bn.mean, bn.variance];
      bn.mean = tf.tidy(() => tf.add(tf.mul(oldMean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
      bn.variance = tf.tidy(() => tf.add(tf.mul(oldVar, 1 - BN_MOMENTUM), tf.mul(variance, (BN_MOMENTUM * count) / (count - 1))));
      for (const t of [oldMean, oldVar, mean, variance]) t.dispose();
    }
    this.batchStats = [];
  }

  dispose(): void {
    for (const c of this.convs.values()) c.filter.dispose();
    for (const n of this.norms.values()) for (const t of [n.gamma, n.beta, n.mean, n.variance]) t.dispose();
    this.fcWeight.dispose();
    this.fcBias.dispose();
  }
}

// ---- the two sides ---------------------------------------------------------------------------

interface Side {
  /** Records one training step and resolves with its loss once read back. */
  step(): Promise<number>;
  dispose(): void;
}

interface Config {
  mode: TransferMode;
  size: number;
  batch: number;
}

const label = (c: Config) => `${c.mode === 'fine-tune' ? 'fine-tune all' : 'feature extraction'} ${c.size}x${c.size}`;

function batchData(c: Config): { images: Float32Array; labels: number[] } {
  const images = seededImages(2000 + c.size, [c.batch, 3, c.size, c.size]);
  return { images, labels: Array.from({ length: c.batch }, (_, i) => (i * 7 + 3) % CLASSES) };
}

async function ourSide(engine: Engine, c: Config, weights: Map<string, SeededTensor>): Promise<{ side: Side; model: ResNet18Module }> {
  const model = resnet18Module(engine, { seed: WEIGHT_SEED });
  model.loadWeights(weights);
  prepareTransfer(model, { mode: c.mode, unfreeze: c.mode === 'fine-tune' ? 'all' : undefined, numClasses: CLASSES, seed: FC_SEED });
  model.train();
  const optimizer = new SGD(trainableParameters(model), { lr: LR, momentum: MOMENTUM });
  const { images, labels } = batchData(c);
  const x: Variable = constant(engine.tensor(images, [c.batch, 3, c.size, c.size]));
  const target = engine.tensor(Int32Array.from(labels), [c.batch]);
  await engine.sync();
  const side: Side = {
    async step() {
      const tape = new Tape(engine);
      try {
        const loss = tape.crossEntropy(model.forward(tape, x), target);
        optimizer.zeroGrad();
        tape.backward(loss);
        optimizer.step();
        return (await loss.value.toArray())[0]!;
      } finally {
        tape.dispose();
      }
    },
    dispose() {
      optimizer.dispose();
      model.dispose();
      x.dispose();
      target.dispose();
    },
  };
  return { side, model };
}

function tfjsSide(peer: TfjsPeer, c: Config, weights: Map<string, SeededTensor>, fc: { weight: Float32Array; bias: Float32Array }): Side {
  const { tf } = peer;
  const model = new TfjsTrainableResNet18(tf, weights, fc, c.mode === 'fine-tune');
  const optimizer = tf.train.momentum(LR, MOMENTUM);
  const { images, labels } = batchData(c);
  const x = tf.tensor4d(toNhwc(images, [c.batch, 3, c.size, c.size]), [c.batch, c.size, c.size, 3]);
  const oneHot = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), CLASSES), 'float32')) as TfCore.Tensor2D;
  return {
    async step() {
      const loss = optimizer.minimize(() => model.loss(x, oneHot), true, model.trainable)!;
      model.updateRunningStats();
      const value = (await loss.data())[0]!;
      loss.dispose();
      return value;
    },
    dispose() {
      model.dispose();
      optimizer.dispose();
      x.dispose();
      oneHot.dispose();
    },
  };
}

// ---- the benchmark ---------------------------------------------------------------------------

interface Result {
  config: Config;
  firstOurs: number;
  firstTfjs: number;
  ours: number[];
  tfjs: number[];
  lossOurs: number;
  lossTfjs: number;
}

async function timed(side: Side): Promise<{ ms: number; loss: number }> {
  const start = performance.now();
  const loss = await side.step();
  return { ms: performance.now() - start, loss };
}

async function benchConfig(engine: Engine, peer: TfjsPeer | undefined, c: Config, o: { reps: number; warmup: number; tfjsReps: number }, log: (s: string) => void): Promise<Result> {
  const weights = seededResNet18Weights(WEIGHT_SEED);
  const { side: ours, model } = await ourSide(engine, c, weights);
  const fc = { weight: await model.fc.weight.value.toArray(), bias: await model.fc.bias!.value.toArray() };
  const theirs = peer ? tfjsSide(peer, c, weights, fc) : undefined;
  const steps = async (side: Side, n: number, who: string): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      out.push((await timed(side)).ms);
      log(`  ${label(c)}: ${who} step ${i + 1}: ${out[i]!.toFixed(0)} ms`);
    }
    return out;
  };
  try {
    const firstOurs = await timed(ours);
    log(`  ${label(c)}: our first step ${firstOurs.ms.toFixed(0)} ms (loss ${firstOurs.loss.toFixed(5)})`);
    for (let i = 0; i < o.warmup; i++) await ours.step();
    const oursTimed = await steps(ours, o.reps, 'our');
    const firstTfjs = theirs ? await timed(theirs) : { ms: NaN, loss: NaN };
    if (theirs) log(`  ${label(c)}: tfjs first step ${firstTfjs.ms.toFixed(0)} ms (loss ${firstTfjs.loss.toFixed(5)})`);
    const tfjsTimed = theirs ? await steps(theirs, o.tfjsReps, 'tfjs') : [];
    if (theirs) {
      // Ours again after tfjs's minutes, so that a change of load from other processes during
      // them shifts both sides' medians alike.
      for (let i = 0; i < o.warmup; i++) await ours.step();
      oursTimed.push(...(await steps(ours, o.reps, 'our')));
    }
    return { config: c, firstOurs: firstOurs.ms, firstTfjs: firstTfjs.ms, ours: oursTimed, tfjs: tfjsTimed, lossOurs: firstOurs.loss, lossTfjs: firstTfjs.loss };
  } finally {
    ours.dispose();
    theirs?.dispose();
    await engine.sync();
    if (peer) await peer.sync();
  }
}

function fmt(s: Summary | undefined, digits = 0): string {
  if (!s || Number.isNaN(s.median)) return '-';
  const spread = s.median > 0 ? ((s.q3 - s.q1) / 2 / s.median) * 100 : 0;
  return `${s.median.toFixed(digits)} ±${spread.toFixed(0)}%`;
}

function table(results: readonly Result[]): string {
  const header = ['case', 'batch', 'ours ms/step', 'ours img/s', 'tfjs ms/step', 'tfjs img/s', 'tfjs/ours', 'steps', 'first ours', 'first tfjs', 'loss ours', 'loss tfjs'];
  const rows = results.map((r) => {
    const [o, t] = [summarise(r.ours), r.tfjs.length > 0 ? summarise(r.tfjs) : undefined];
    return [
      label(r.config),
      String(r.config.batch),
      fmt(o),
      ((r.config.batch * 1000) / o.median).toFixed(2),
      fmt(t),
      t ? ((r.config.batch * 1000) / t.median).toFixed(3) : '-',
      t ? `${(t.median / o.median).toFixed(1)}x` : '-',
      `${r.ours.length}/${r.tfjs.length}`,
      r.firstOurs.toFixed(0),
      Number.isNaN(r.firstTfjs) ? '-' : r.firstTfjs.toFixed(0),
      r.lossOurs.toFixed(5),
      Number.isNaN(r.lossTfjs) ? '-' : r.lossTfjs.toFixed(5),
    ];
  });
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const USAGE = `usage: npx tsx bench/transfer.ts [options]
  --sizes LIST    input sizes (default 112,224)
  --modes LIST    fine-tune, feature-extraction (default both)
  --batch N       batch size (default 8)
  --reps N        our timed steps per case, before tfjs's and again after (default 3)
  --warmup N      our untimed steps after the first (default 1)
  --tfjs-reps N   tfjs's timed steps per case after its first (default 1; a tfjs fine-tuning step
                  at 224x224 takes minutes on lavapipe)
  --tfjs-skip L   cases tfjs leaves out, as mode:size (default fine-tune:224; 'none' for none)
  --no-tfjs       ours only
  --json FILE     also write every sample as JSON`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string' },
      modes: { type: 'string' },
      batch: { type: 'string' },
      reps: { type: 'string' },
      warmup: { type: 'string' },
      'tfjs-reps': { type: 'string' },
      'tfjs-skip': { type: 'string' },
      'no-tfjs': { type: 'boolean' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const int = integerOption(USAGE);
  const sizes = (values.sizes ?? '112,224').split(',').map((s) => int('sizes', s.trim(), 0, 32));
  const modes = (values.modes ?? 'fine-tune,feature-extraction').split(',').map((s) => s.trim());
  for (const m of modes) if (m !== 'fine-tune' && m !== 'feature-extraction') throw new Error(`--modes: unknown mode '${m}'\n${USAGE}`);
  const batch = int('batch', values.batch, 8, 1);
  const reps = int('reps', values.reps, 3, 1);
  const warmup = int('warmup', values.warmup, 1, 0);
  const tfjsReps = int('tfjs-reps', values['tfjs-reps'], 1, 0);
  const skipList = values['tfjs-skip'] ?? 'fine-tune:224';
  const tfjsSkip = new Set(skipList === 'none' ? [] : skipList.split(',').map((s) => s.trim()));

  const gpu = await nodeGpu();
  const engine = await Engine.create({ gpu });
  const peer = values['no-tfjs'] ? undefined : await loadTfjs(gpu);
  if (peer) await registerTfjsGradients();
  const loadBefore = loadavg()[0]!;
  const log = (s: string) => console.error(s);
  const results: Result[] = [];
  try {
    for (const size of sizes) {
      for (const mode of modes as TransferMode[]) {
        const withTfjs = tfjsSkip.has(`${mode}:${size}`) ? undefined : peer;
        results.push(await benchConfig(engine, withTfjs, { mode, size, batch }, { reps, warmup, tfjsReps }, log));
      }
    }
  } finally {
    engine.dispose();
  }
  console.log(`adapter:  ${engine.adapterName}${peer ? ` (tfjs ${peer.version}: ${peer.adapter}, same GPU object)` : ''}`);
  console.log(`machine:  ${availableParallelism()} CPUs; 1-min load average ${loadBefore.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at end`);
  console.log(`step:     ResNet18, SGD lr ${LR} momentum ${MOMENTUM}, ${CLASSES} classes, batch norms of trained stages in training mode`);
  console.log('');
  console.log(table(results));
  console.log('');
  console.log('ms/step: median (± half the interquartile range) from recording a step to its loss on the CPU; img/s = batch / median;');
  console.log('tfjs/ours: ratio of the medians (>1: ours faster); steps: timed steps ours/tfjs after each side\'s first');
  console.log('(compiling) step and our warm-up; loss: each side\'s first-step loss (same weights, batch and new fc: equal');
  console.log('losses say both computed the same step).');
  if (peer && tfjsSkip.size > 0) console.log(`tfjs skipped (--tfjs-skip): ${[...tfjsSkip].join(', ')}`);
  if (values.json) writeFileSync(values.json, JSON.stringify({ adapter: engine.adapterName, tfjs: peer?.version, loadBefore, results }, null, 2));
}

await main();
