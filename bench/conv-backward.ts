// Backward passes beside the forward pass at the same shapes: milliseconds and GFLOPS of the
// forward op, the input gradient and the weight gradient, for conv2d (the Fashion-MNIST CNN's
// layers at batch 100, ResNet18 layers at batch 8) and linear (the Fashion-MNIST DNN's and CNN's
// layers at batch 100). All three passes are counted as the forward's FLOPs (2 N O OH OW C/groups
// KH KW for a convolution, 2 rows in out for linear): each does exactly that many multiply-adds
// (a stride-1 'valid' convolution's input gradient through the transposed route does more, and
// is measured at the forward's count all the same). A benchmark, never a test.
//
//   npx tsx bench/conv-backward.ts [--reps N] [--only WORD] [--routes]
//
// --routes adds the conv input and weight gradients through each of their routes, forced, and
// the forward pass forced to the implicit GEMM (the default may pick Winograd, fewer real FLOPs).
// `CPU ms` is the process's CPU time per pass: on a CPU adapter (lavapipe runs in-process) it
// counts the work done whatever else loads the machine, a steadier comparison than wall time.
// The passes of a case alternate (forward, gradInput, gradWeight, forward, ...), so a burst of
// load from elsewhere hits them all alike; medians are printed, with half the interquartile range.
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { conv2dBackward } from '../src/ops/conv-backward.js';
import { conv2d, type ConvOptions } from '../src/ops/conv.js';
import { linear } from '../src/ops/gemm.js';
import { linearBackward } from '../src/ops/linear-backward.js';
import { nodeGpu } from '../src/gpu/node-gpu.js';
import { Engine } from '../src/runtime/engine.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { summarise } from './timing.js';
import { seededUniform } from '../src/data/random.js';

interface ConvCase {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  options: ConvOptions;
}

const CONVS: ConvCase[] = [
  { name: 'fashion conv1 1->32 3x3 pad 1 @28, batch 100', x: [100, 1, 28, 28], w: [32, 1, 3, 3], options: { padding: 1 } },
  { name: 'fashion conv2 32->64 3x3 @14, batch 100', x: [100, 32, 14, 14], w: [64, 32, 3, 3], options: {} },
  { name: 'resnet18 64->64 3x3 pad 1 @56, batch 8', x: [8, 64, 56, 56], w: [64, 64, 3, 3], options: { padding: 1 } },
  { name: 'resnet18 64->128 3x3 stride 2 pad 1 @56, batch 8', x: [8, 64, 56, 56], w: [128, 64, 3, 3], options: { stride: 2, padding: 1 } },
];

/** [rows, in, out]. */
const LINEARS: Array<[string, number, number, number]> = [
  ['fashion dnn fc1 784->256, batch 100', 100, 784, 256],
  ['fashion dnn fc2 256->128, batch 100', 100, 256, 128],
  ['fashion cnn fc1 2304->600, batch 100', 100, 2304, 600],
  ['fashion cnn fc2 600->120, batch 100', 100, 600, 120],
];

type Pass = [name: string, run: () => Tensor | undefined];

function random(n: number, seed: number, scale = 1): Float32Array {
  return seededUniform(n, seed, -scale, scale);
}

const { values } = parseArgs({ options: { reps: { type: 'string' }, only: { type: 'string' }, routes: { type: 'boolean' } } });
const reps = Number(values.reps ?? 7);
const engine = await Engine.create({ gpu: await nodeGpu() });

/** Times the passes of one case alternately and prints a row per pass (the first is the baseline). */
async function measure(name: string, flops: number, passes: Pass[]): Promise<void> {
  const once = async (i: number) => {
    const cpu = process.cpuUsage();
    const start = performance.now();
    const out = passes[i]![1]();
    await engine.sync();
    const ms = performance.now() - start;
    const used = process.cpuUsage(cpu);
    out?.dispose();
    return [ms, (used.user + used.system) / 1000] as const;
  };
  const wall = passes.map(() => [] as number[]);
  const cpu = passes.map(() => [] as number[]);
  for (let i = 0; i < passes.length; i++) await once(i); // compiles the pipelines
  for (let r = 0; r < reps; r++) {
    for (let i = 0; i < passes.length; i++) {
      const [ms, used] = await once(i);
      wall[i]!.push(ms);
      cpu[i]!.push(used);
    }
  }
  const baseline = summarise(wall[0]!).median;
  passes.forEach(([pass], i) => {
    const m = summarise(wall[i]!);
    const spread = ((m.q3 - m.q1) / 2 / m.median) * 100;
    const row = [name, pass, `${m.median.toFixed(2)} ±${spread.toFixed(0)}%`, (flops / (m.median * 1e6)).toFixed(1)];
    console.log([...row, (baseline / m.median).toFixed(2), summarise(cpu[i]!).median.toFixed(1)].join(' | '));
  });
}

const numel = (d: readonly number[]) => d.reduce((a, b) => a * b, 1);
const selected = (name: string) => !values.only || name.includes(values.only);

console.log(`adapter: ${engine.adapterName}; load average ${loadavg()[0]!.toFixed(2)} at the start`);
console.log(['case', 'pass', 'ms (median ± IQR/2)', 'GFLOPS', 'vs forward per FLOP', 'CPU ms'].join(' | '));

for (const c of CONVS.filter((c) => selected(c.name))) {
  const x = engine.tensor(random(numel(c.x), 1), c.x);
  const w = engine.tensor(random(numel(c.w), 2, 0.1), c.w);
  const y = conv2d(x, w, undefined, c.options);
  const g = engine.tensor(random(y.size, 3), y.shape);
  const flops = 2 * c.x[0] * numel(y.shape.slice(1)) * numel(c.w.slice(1));
  const backward = (needs: 'input' | 'weight', options: ConvOptions = c.options) => {
    const grads = conv2dBackward(g, x, w, options, { input: needs === 'input', weight: needs === 'weight', bias: false });
    return needs === 'input' ? grads.gradInput : grads.gradWeight;
  };
  const passes: Pass[] = [
    ['forward', () => conv2d(x, w, undefined, c.options)],
    ['gradInput', () => backward('input')],
    ['gradWeight', () => backward('weight')],
  ];
  if (values.routes) {
    // The forward pass as a direct implicit GEMM (no Winograd): the backward GEMMs' peer per FLOP.
    passes.push(['forward (implicit GEMM)', () => conv2d(x, w, undefined, { ...c.options, algorithm: 'implicit' })]);
    const stride1 = c.options.stride === undefined || c.options.stride === 1;
    for (const route of stride1 ? (['transposed', 'col2im'] as const) : (['col2im'] as const)) {
      passes.push([`gradInput (${route})`, () => backward('input', { ...c.options, inputGradient: route } as ConvOptions)]);
    }
    for (const route of stride1 ? (['shifted', 'im2col'] as const) : (['im2col'] as const)) {
      passes.push([`gradWeight (${route})`, () => backward('weight', { ...c.options, weightGradient: route } as ConvOptions)]);
    }
  }
  await measure(c.name, flops, passes);
  for (const t of [x, w, y, g]) t.dispose();
}

for (const [name, rows, inF, outF] of LINEARS.filter(([name]) => selected(name))) {
  const x = engine.tensor(random(rows * inF, 4), [rows, inF]);
  const w = engine.tensor(random(outF * inF, 5, 0.1), [outF, inF]);
  const g = engine.tensor(random(rows * outF, 6), [rows, outF]);
  await measure(name, 2 * rows * inF * outF, [
    ['forward', () => linear(x, w)],
    ['gradInput', () => linearBackward(g, x, w, { input: true, weight: false, bias: false }).gradInput],
    ['gradWeight', () => linearBackward(g, x, w, { input: false, weight: true, bias: false }).gradWeight],
  ]);
  for (const t of [x, w, g]) t.dispose();
}

console.log(`load average ${loadavg()[0]!.toFixed(2)} at the end`);
engine.dispose();
