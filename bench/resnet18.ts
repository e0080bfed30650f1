// ResNet18 inference, ours beside TensorFlow.js's WebGPU backend on the same adapter in the same
// process, with the same seeded weights (src/nn/models/seeded-weights.ts) and inputs. Run through
// bench/run.ts (`npx tsx bench/run.ts --only resnet18`); see bench/README.md.
import type * as TfCore from '@tensorflow/tfjs-core';
import { compileGraph, type Plan } from '../src/graph/index.js';
import { foldResNet18BatchNorms, resnet18FromArrays, type HostTensor } from '../src/nn/models/resnet18.js';
import { seededImages, seededResNet18Weights } from '../src/nn/models/seeded-weights.js';
import type { Engine } from '../src/runtime/engine.js';
import type { TfjsPeer, Tf } from './tfjs-peer.js';
import { paired, type PairedResult, type Workload } from './timing.js';

// ---- tfjs's ResNet18 -----------------------------------------------------------------------

/** OIHW -> HWIO (tfjs's filter layout). */
function oihwToHwio(w: HostTensor): Float32Array {
  const [o, i, h, k] = w.shape as [number, number, number, number];
  const out = new Float32Array(w.data.length);
  for (let oo = 0; oo < o; oo++) {
    for (let ii = 0; ii < i; ii++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < k; x++) out[((y * k + x) * i + ii) * o + oo] = w.data[((oo * i + ii) * h + y) * k + x]!;
      }
    }
  }
  return out;
}

interface FoldedConv {
  filter: TfCore.Tensor4D;
  bias: TfCore.Tensor1D;
  stride: number;
  pad: number;
}

/**
 * tfjs's ResNet18 over the weights with their batch norms folded in (foldResNet18BatchNorms, the
 * same host-side fold ours loads), bias and ReLU fused into tf.fused.conv2d, as a converted
 * TensorFlow model runs. NHWC.
 */
export class TfjsResNet18 {
  private readonly convs = new Map<string, FoldedConv>();
  private readonly fcWeight: TfCore.Tensor2D;
  private readonly fcBias: TfCore.Tensor1D;

  constructor(
    private readonly tf: Tf,
    weights: ReadonlyMap<string, HostTensor>,
  ) {
    const get = (name: string): HostTensor => {
      const t = weights.get(name);
      if (!t) throw new Error(`tfjs ResNet18: no weight '${name}'`);
      return t;
    };
    const conv = (name: string, stride: number, pad: number): void => {
      const w = get(`${name}.weight`);
      const [o, i, h, k] = w.shape as [number, number, number, number];
      this.convs.set(name, { filter: tf.tensor4d(oihwToHwio(w), [h, k, i, o]), bias: tf.tensor1d(get(`${name}.bias`).data), stride, pad });
    };
    conv('conv1', 2, 3);
    for (let stage = 1; stage <= 4; stage++) {
      for (let block = 0; block < 2; block++) {
        const p = `layer${stage}.${block}`;
        const stride = stage > 1 && block === 0 ? 2 : 1;
        conv(`${p}.conv1`, stride, 1);
        conv(`${p}.conv2`, 1, 1);
        if (weights.has(`${p}.downsample.0.weight`)) conv(`${p}.downsample.0`, stride, 0);
      }
    }
    const fc = get('fc.weight');
    const [classes, features] = fc.shape as [number, number];
    const transposed = new Float32Array(fc.data.length);
    for (let c = 0; c < classes; c++) for (let f = 0; f < features; f++) transposed[f * classes + c] = fc.data[c * features + f]!;
    this.fcWeight = tf.tensor2d(transposed, [features, classes]);
    this.fcBias = tf.tensor1d(get('fc.bias').data);
  }

  private conv(name: string, x: TfCore.Tensor4D, relu: boolean): TfCore.Tensor4D {
    const c = this.convs.get(name)!;
    const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [c.pad, c.pad], [c.pad, c.pad], [0, 0]];
    return this.tf.fused.conv2d({ x, filter: c.filter, strides: c.stride, pad, bias: c.bias, activation: relu ? 'relu' : 'linear' });
  }

  /** Logits [N, classes] for images [N, H, W, 3]. */
  forward(images: TfCore.Tensor4D): TfCore.Tensor2D {
    return this.tf.tidy(() => this.head(this.features(images)));
  }

  /** layer4's output [N, H/32, W/32, 512] for images [N, H, W, 3]. */
  features(images: TfCore.Tensor4D): TfCore.Tensor4D {
    const tf = this.tf;
    return tf.tidy(() => {
      let x = this.conv('conv1', images, true);
      x = tf.maxPool(x, 3, 2, [[0, 0], [1, 1], [1, 1], [0, 0]]);
      for (let stage = 1; stage <= 4; stage++) {
        for (let block = 0; block < 2; block++) {
          const p = `layer${stage}.${block}`;
          const shortcut = this.convs.has(`${p}.downsample.0`) ? this.conv(`${p}.downsample.0`, x, false) : x;
          const h = this.conv(`${p}.conv2`, this.conv(`${p}.conv1`, x, true), false);
          x = tf.relu(tf.add<TfCore.Tensor4D>(h, shortcut));
        }
      }
      return x;
    });
  }

  /** Logits from layer4's output: global average pool, fc. */
  head(features: TfCore.Tensor4D): TfCore.Tensor2D {
    const tf = this.tf;
    return tf.tidy(() => tf.fused.matMul({ a: tf.mean(features, [1, 2]) as TfCore.Tensor2D, b: this.fcWeight, bias: this.fcBias }) as TfCore.Tensor2D);
  }

  dispose(): void {
    for (const c of this.convs.values()) {
      c.filter.dispose();
      c.bias.dispose();
    }
    this.fcWeight.dispose();
    this.fcBias.dispose();
  }
}

/** NCHW -> NHWC. */
export function nchwToNhwc(data: Float32Array, [n, c, h, w]: readonly [number, number, number, number]): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      for (let i = 0; i < h * w; i++) out[(b * h * w + i) * c + ch] = data[(b * c + ch) * h * w + i]!;
    }
  }
  return out;
}

// ---- the benchmark -------------------------------------------------------------------------

export interface ResNet18BenchOptions {
  reps: number;
  warmup: number;
  budgetSeconds: number;
  /** Batch sizes to run, default [1, 8]. */
  batches?: number[];
  /** Input height and width, default 224. */
  size?: number;
  log?: (line: string) => void;
}

export interface ResNet18BenchResult {
  batch: number;
  size: number;
  /** Compile (shape inference, rewrites with batch-norm folding on the GPU, capture, pipelines) + the first run, ms. */
  firstOurs: number;
  /** The compile alone, ms. */
  compileOurs: number;
  /** tfjs's first forward pass (compiling its shaders) with the readback, ms. */
  firstTfjs: number;
  timing: PairedResult;
  /** Plan.peakBytes: activation buffers after liveness reuse. */
  peakBytesOurs: number;
  /** tfjs's buffer pool after its warm runs (weights included): backend.memory().numBytesAllocatedInGPU. */
  bytesTfjs: number;
  /** Largest |ours - tfjs| over the logits. */
  maxAbsDiff: number;
  /** Largest |logit|, the scale maxAbsDiff reads against. */
  maxAbs: number;
  dispatches: number;
}

/** The same input for both sides: ours NCHW, tfjs NHWC. */
function inputs(batch: number, size: number): { nchw: Float32Array; nhwc: Float32Array; shape: [number, number, number, number] } {
  const shape: [number, number, number, number] = [batch, 3, size, size];
  const nchw = seededImages(1000 + batch, shape);
  return { nchw, nhwc: nchwToNhwc(nchw, shape), shape };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`logits differ in size: ours ${a.length}, tfjs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
  }
  return worst;
}

/**
 * ResNet18 forward passes, each side timed from a Float32Array of images on the CPU to the logits
 * read back on the CPU (ours: Plan.run, one submission; tfjs: upload, forward, await data()).
 */
export async function runResNet18Bench(engine: Engine, peer: TfjsPeer, options: ResNet18BenchOptions): Promise<ResNet18BenchResult[]> {
  const { tf } = peer;
  const size = options.size ?? 224;
  const log = options.log ?? (() => {});
  // Both sides load the same weights with batch norms folded on the host, as a deployed model does
  // (ours: the model's graph, folded and uploaded when it loads).
  const seeded = seededResNet18Weights(1);
  const model = resnet18FromArrays(engine, seeded);
  const graph = model.executor.graph;
  const theirs = new TfjsResNet18(tf, foldResNet18BatchNorms(seeded));
  // Loading is not part of the first run: finish our weight uploads (the queue, shared with tfjs,
  // then holds nothing of ours). tfjs uploads a tensor when a kernel first reads it, so its first
  // run includes that.
  await engine.sync();
  const results: ResNet18BenchResult[] = [];
  try {
    for (const batch of options.batches ?? [1, 8]) {
      const { nchw, nhwc, shape } = inputs(batch, size);
      const tfShape: [number, number, number, number] = [batch, size, size, 3];
      log(`  resnet18 batch ${batch}: compiling and first runs`);

      const started = performance.now();
      const plan: Plan = await compileGraph(engine, graph, { image: shape });
      const compileOurs = performance.now() - started;
      try {
        const oursLogits = (await plan.run({ image: nchw })).logits!;
        const firstOurs = performance.now() - started;

        const forwardTfjs = (): TfCore.Tensor2D => {
          const x = tf.tensor4d(nhwc, tfShape);
          const y = theirs.forward(x);
          x.dispose();
          return y;
        };
        const tfjsStarted = performance.now();
        const first = forwardTfjs();
        const tfjsLogits = (await first.data()) as Float32Array;
        const firstTfjs = performance.now() - tfjsStarted;
        first.dispose();

        const ours: Workload<Promise<unknown>> = { record: () => plan.run({ image: nchw }), finish: async (p) => void (await p), release: () => {} };
        const tfjs: Workload<TfCore.Tensor> = { record: forwardTfjs, finish: async (y) => void (await y.data()), release: (y) => y.dispose() };
        log(`  resnet18 batch ${batch}: first run ours ${firstOurs.toFixed(0)} ms, tfjs ${firstTfjs.toFixed(0)} ms; timing pairs`);
        const timing = await paired(ours, tfjs, { reps: options.reps, warmup: options.warmup, repeat: 1, budgetSeconds: options.budgetSeconds, minReps: Math.min(5, options.reps) });
        const memory = peer.backend.memory() as { numBytesAllocatedInGPU?: number };
        results.push({
          batch,
          size,
          firstOurs,
          compileOurs,
          firstTfjs,
          timing,
          peakBytesOurs: plan.peakBytes,
          bytesTfjs: memory.numBytesAllocatedInGPU ?? Number.NaN,
          maxAbsDiff: maxAbsDiff(oursLogits, tfjsLogits),
          maxAbs: tfjsLogits.reduce((m, v) => Math.max(m, Math.abs(v)), 0),
          dispatches: plan.dispatchCount,
        });
        log(`  resnet18 batch ${batch}: ours ${timing.a.median.toFixed(0)} ms, tfjs ${timing.b.median.toFixed(0)} ms, tfjs/ours ${timing.ratio.median.toFixed(2)}`);
      } finally {
        plan.dispose();
      }
    }
  } finally {
    theirs.dispose();
    model.dispose();
    await engine.sync();
    await peer.sync();
  }
  return results;
}

function mib(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : '-';
}

function ms(v: number): string {
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

/** The result table, one row per batch size (aligned columns). */
export function formatResNet18Report(results: readonly ResNet18BenchResult[]): string {
  const spread = (s: { median: number; q1: number; q3: number }) => `±${(s.median > 0 ? ((s.q3 - s.q1) / 2 / s.median) * 100 : 0).toFixed(0)}%`;
  const header = [
    'model', 'batch', 'ours ms', 'ours img/s', 'tfjs ms', 'tfjs img/s', 'tfjs/ours', 'pairs',
    'first ours', '(compile)', 'first/warm', 'first tfjs', 'peak ours', 'tfjs pool', 'max|diff|',
  ];
  const rows = results.map((r) => [
    `resnet18 ${r.size}x${r.size}`,
    String(r.batch),
    `${ms(r.timing.a.median)} ${spread(r.timing.a)}`,
    ((r.batch * 1000) / r.timing.a.median).toFixed(2),
    `${ms(r.timing.b.median)} ${spread(r.timing.b)}`,
    ((r.batch * 1000) / r.timing.b.median).toFixed(2),
    `${r.timing.ratio.median.toFixed(2)} ${spread(r.timing.ratio)}`,
    `${r.timing.samplesA.length}${r.timing.truncated ? '*' : ''}`,
    ms(r.firstOurs),
    ms(r.compileOurs),
    (r.firstOurs / r.timing.a.median).toFixed(2),
    ms(r.firstTfjs),
    mib(r.peakBytesOurs),
    mib(r.bytesTfjs),
    `${r.maxAbsDiff.toExponential(1)}${r.maxAbsDiff > 1e-3 * Math.max(1, r.maxAbs) ? ' !' : ''}`,
  ]);
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export const RESNET18_NOTES = [
  'resnet18: each run goes from images in a Float32Array to logits read back (ours: Plan.run, one submission;',
  'tfjs: tf.tensor4d, forward with batch norm folded and bias+ReLU fused, await data()). ms = median per run,',
  '± half the interquartile range, after the --warmup untimed runs per side; img/s = batch / median; tfjs/ours = median',
  'of per-pair ratios (>1: ours faster).',
  'Both load the same weights with batch norms folded on the host (foldResNet18BatchNorms), as exported models carry them.',
  '"first" = the first run including compiling (ours: compileGraph, i.e. shape inference, the epilogue fusions,',
  'capture, every pipeline compiled and primed; tfjs: its shaders compile as the first forward pass meets them), with the shader cache state',
  'above (batches after the first reuse, on both sides, the pipelines an earlier batch compiled where they are the same);',
  '"(compile)" = our compileGraph alone; first/warm = our first run / our warm median. peak ours = Plan.peakBytes',
  '(activations after liveness reuse; the 46.8 MB of folded weights come on top); tfjs pool = its GPU buffer pool after the',
  'warm runs, weights included. max|diff| = largest |ours - tfjs| over the logits (! = over 1e-3).',
].join('\n');
