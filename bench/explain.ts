// Grad-CAM of ResNet18 at 224x224, batch 1, ours beside TensorFlow.js's WebGPU backend on the same
// adapter in the same process, and beside our plain inference of the same image.
//
//   npx tsx bench/explain.ts [--reps 10] [--warmup 2] [--size 224] [--budget 120] [--json out.json]
//
// The three workloads, each from a Float32Array image on the CPU to its result read back:
//   ours Grad-CAM   gradCam(ResNet18Module, image, { layer: 'layer4', classIndex }) (src/nn/explain):
//                   the forward pass (frozen blocks folded, as inference runs them), a backward pass
//                   from the class score to layer4's output, the channel weights, the weighted sum,
//                   ReLU, bilinear upsampling to 224x224 and the min-max normalisation, all on the
//                   GPU in one submission; the 224x224 heat map read back.
//   tfjs Grad-CAM   the same computation with tfjs ops: layer4's output of the same folded network
//                   (bench/resnet18.ts's TfjsResNet18), tf.grad of the class score through the head
//                   with respect to it, mean over space, weighted sum, relu, resizeBilinear (half-pixel
//                   centres, as align_corners=False), min-max; the heat map read back with data().
//   ours inference  the compiled ResNet18 plan (bench/resnet18.ts's measurement): logits read back.
// Both Grad-CAMs explain the same class (the image's top class, found first). Pairs alternate
// (ours, tfjs) and (ours Grad-CAM, ours inference); medians and per-pair ratios are reported, with
// the largest difference between the two heat maps. Targets (issue 12): ours at least 8x faster
// than tfjs, and at most 2.5x our plain inference.
import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type * as TfCore from '@tensorflow/tfjs-core';
import { nodeGpu } from '../src/gpu/node-gpu.js';
import { gradCam } from '../src/nn/explain/index.js';
import { resnet18Module } from '../src/nn/models/resnet18-module.js';
import { foldResNet18BatchNorms, resnet18FromArrays } from '../src/nn/models/resnet18.js';
import { seededImages, seededResNet18Weights } from '../src/nn/models/seeded-weights.js';
import { Engine } from '../src/runtime/engine.js';
import { nchwToNhwc, TfjsResNet18 } from './resnet18.js';
import { loadTfjs, registerTfjsGradients, type TfjsPeer } from './tfjs-peer.js';
import { paired, summarise, timeOnce, type PairedResult, type Workload } from './timing.js';
import { integerOption } from './args.js';

const LAYER = 'layer4';

const USAGE = `usage: npx tsx bench/explain.ts [options]
  --reps N      timed pairs per comparison (default 10)
  --warmup N    untimed runs per side first (default 2)
  --size N      input side (default 224)
  --budget S    stop adding pairs to a comparison after S seconds (default 120; at least 3 pairs)
  --json FILE   also write every sample as JSON`;

/** tfjs's Grad-CAM of class `c` at layer4 for images [1, H, W, 3]: the heat map [1, H, W, 1]. */
function tfjsGradCam(tf: TfjsPeer['tf'], model: TfjsResNet18, images: TfCore.Tensor4D, c: number): TfCore.Tensor {
  return tf.tidy(() => {
    const activations = model.features(images);
    const score = (a: TfCore.Tensor): TfCore.Scalar => tf.sum(tf.gather(model.head(a as TfCore.Tensor4D), [c], 1));
    const gradient = tf.grad(score)(activations);
    const weights = tf.mean(gradient, [1, 2], true);
    const cam = tf.relu(tf.sum(tf.mul(activations, weights), 3, true)) as TfCore.Tensor4D;
    const [h, w] = [images.shape[1], images.shape[2]];
    const up = tf.image.resizeBilinear(cam, [h, w], false, true);
    const lo = tf.min(up, [1, 2, 3], true);
    const range = tf.sub(tf.max(up, [1, 2, 3], true), lo);
    return tf.where(tf.equal(range, 0), tf.zerosLike(up), tf.div(tf.sub(up, lo), range));
  });
}

function spread(s: { median: number; q1: number; q3: number }): string {
  return `±${(s.median > 0 ? ((s.q3 - s.q1) / 2 / s.median) * 100 : 0).toFixed(0)}%`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { reps: { type: 'string' }, warmup: { type: 'string' }, size: { type: 'string' }, budget: { type: 'string' }, json: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const int = integerOption(USAGE);
  const reps = int('reps', values.reps, 10, 1);
  const warmup = int('warmup', values.warmup, 2, 0);
  const size = int('size', values.size, 224, 32);
  const budgetSeconds = int('budget', values.budget, 120, 1);
  const log = (s: string) => process.stderr.write(`${s}\n`);

  const loadBefore = loadavg()[0]!;
  const gpu = await nodeGpu();
  const engine = await Engine.create({ gpu });
  const peer = await loadTfjs(gpu);
  await registerTfjsGradients();
  const { tf } = peer;

  const weights = seededResNet18Weights(1);
  const folded = foldResNet18BatchNorms(weights);
  const shape: [number, number, number, number] = [1, 3, size, size];
  const image = seededImages(1001, shape);
  const nhwc = nchwToNhwc(image, shape);

  // Ours: the trainable module for Grad-CAM (its frozen blocks run folded), the plan for inference.
  const module = resnet18Module(engine, { init: false });
  module.loadWeights(weights);
  const inference = resnet18FromArrays(engine, weights);
  const plan = await inference.executor.plan({ image: shape });
  const theirs = new TfjsResNet18(tf, folded);
  await engine.sync();

  try {
    // The class both explain: the image's top class.
    const logits = (await plan.run({ image })).logits!;
    const classIndex = logits.indexOf(Math.max(...logits));

    const oursGradCam = async (): Promise<Float32Array> => {
      const x = engine.tensor(image, shape);
      const cam = await gradCam(module, x, { layer: LAYER, classIndex });
      try {
        return await cam.heatmap.toArray();
      } finally {
        cam.dispose();
        x.dispose();
      }
    };
    const tfjsRun = async (): Promise<Float32Array> => {
      const x = tf.tensor4d(nhwc, [1, size, size, 3]);
      const heat = tfjsGradCam(tf, theirs, x, classIndex);
      x.dispose();
      try {
        return (await heat.data()) as Float32Array;
      } finally {
        heat.dispose();
      }
    };
    const promised = <T>(run: () => Promise<T>): Workload<Promise<T>> => ({ record: run, finish: async (p) => void (await p), release: () => {} });

    log(`grad-cam ${size}x${size}: first runs (compiling)`);
    const firstOurs = await timeOnce(promised(oursGradCam));
    const firstTfjs = await timeOnce(promised(tfjsRun));
    const [oursHeat, tfjsHeat] = [await oursGradCam(), await tfjsRun()];
    let maxDiff = 0;
    for (let i = 0; i < oursHeat.length; i++) maxDiff = Math.max(maxDiff, Math.abs(oursHeat[i]! - tfjsHeat[i]!));
    log(`  first ours ${firstOurs.toFixed(0)} ms, first tfjs ${firstTfjs.toFixed(0)} ms; max |ours - tfjs| ${maxDiff.toExponential(1)}`);

    const options = { reps, warmup, repeat: 1, budgetSeconds, minReps: Math.min(3, reps) };
    log('  timing ours vs tfjs');
    const vsTfjs: PairedResult = await paired(promised(oursGradCam), promised(tfjsRun), options);
    log('  timing our Grad-CAM vs our inference');
    const vsInference: PairedResult = await paired(promised(oursGradCam), promised(() => plan.run({ image })), options);

    const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
    const rows = [
      ['workload', 'median ms', 'pairs'],
      [`ours Grad-CAM (${LAYER})`, `${ms(vsTfjs.a.median)} ${spread(vsTfjs.a)}`, String(vsTfjs.samplesA.length)],
      [`tfjs Grad-CAM (tf.grad)`, `${ms(vsTfjs.b.median)} ${spread(vsTfjs.b)}`, String(vsTfjs.samplesB.length)],
      ['ours Grad-CAM (2nd series)', `${ms(vsInference.a.median)} ${spread(vsInference.a)}`, String(vsInference.samplesA.length)],
      ['ours inference (plan)', `${ms(vsInference.b.median)} ${spread(vsInference.b)}`, String(vsInference.samplesB.length)],
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    const speedup = vsTfjs.ratio.median;
    const overInference = summarise(vsInference.ratios.map((r) => 1 / r)).median;
    console.log(`adapter:  ${engine.adapterName} (tfjs's device: ${peer.adapter}, same GPU object)`);
    console.log(`machine:  ${availableParallelism()} CPUs; 1-min load average ${loadBefore.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at end`);
    console.log(`peer:     TensorFlow.js ${peer.version} WebGPU backend; node ${process.versions.node}`);
    console.log(`case:     ResNet18 (seeded weights), ${size}x${size}, batch 1, Grad-CAM at ${LAYER} of class ${classIndex}; image on the CPU to result read back`);
    console.log('');
    console.log(line(rows[0]!));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const r of rows.slice(1)) console.log(line(r));
    console.log('');
    console.log(`tfjs / ours Grad-CAM (median of per-pair ratios): ${speedup.toFixed(2)}x ${spread(vsTfjs.ratio)}  (target >= 8x: ${speedup >= 8 ? 'met' : 'NOT met'})`);
    console.log(`ours Grad-CAM / ours inference (per pair):        ${overInference.toFixed(2)}x  (target <= 2.5x: ${overInference <= 2.5 ? 'met' : 'NOT met'})`);
    console.log(`first run (compiling): ours ${ms(firstOurs)} ms, tfjs ${ms(firstTfjs)} ms; max |ours - tfjs| over the heat map ${maxDiff.toExponential(1)}`);
    if (values.json) {
      writeFileSync(values.json, JSON.stringify({ size, classIndex, adapter: engine.adapterName, firstOurs, firstTfjs, maxDiff, vsTfjs, vsInference }, null, 2));
    }
  } finally {
    theirs.dispose();
    inference.dispose();
    module.dispose();
    await engine.sync();
    await peer.sync();
    engine.dispose();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);
