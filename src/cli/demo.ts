// The quick-start demo: a small CNN forward pass (Fashion-MNIST-sized input) on the GPU, checked
// against the CPU reference, with the adapter, every layer's shape and the timings printed.
import { Engine } from '../runtime/engine.js';
import type { Tensor } from '../runtime/tensor.js';
import { conv2d } from '../ops/conv.js';
import { linear } from '../ops/gemm.js';
import { maxPool2d } from '../ops/pool.js';
import { softmax } from '../ops/softmax.js';
import { conv2dRef } from '../reference/conv.js';
import { linearRef } from '../reference/gemm.js';
import { maxPool2dRef } from '../reference/pool.js';
import { softmaxRef } from '../reference/softmax.js';
import { host, type HostTensor } from '../reference/host-tensor.js';
import { seededUniform } from '../data/random.js';

export interface DemoOptions {
  batch: number;
  runs: number;
  log: (line: string) => void;
}

interface Layer {
  name: string;
  gpu: (x: Tensor) => Tensor;
  cpu: (x: HostTensor) => HostTensor;
}

function param(engine: Engine, shape: number[], fanIn: number, seed: number): { gpu: Tensor; cpu: HostTensor } {
  const bound = 1 / Math.sqrt(fanIn); // PyTorch's default init range for conv and linear layers
  const data = seededUniform(shape.reduce((a, b) => a * b, 1), seed, -bound, bound);
  return { gpu: engine.tensor(data, shape), cpu: host(data, shape) };
}

/** The textbook Fashion-MNIST CNN's forward pass (without batch norm and dropout, which are identities here). */
function buildLayers(engine: Engine): { layers: Layer[]; params: Tensor[] } {
  const w1 = param(engine, [32, 1, 3, 3], 9, 1);
  const b1 = param(engine, [32], 9, 2);
  const w2 = param(engine, [64, 32, 3, 3], 288, 3);
  const b2 = param(engine, [64], 288, 4);
  const w3 = param(engine, [600, 2304], 2304, 5);
  const b3 = param(engine, [600], 2304, 6);
  const w4 = param(engine, [10, 600], 600, 7);
  const b4 = param(engine, [10], 600, 8);
  const pool = { kernelSize: 2 };
  const layers: Layer[] = [
    { name: 'conv 1→32 3x3 pad 1 + ReLU', gpu: (x) => conv2d(x, w1.gpu, b1.gpu, { padding: 1, relu: true }), cpu: (x) => relu(conv2dRef(x, w1.cpu, b1.cpu, { padding: 1 })) },
    { name: 'max pool 2', gpu: (x) => maxPool2d(x, pool), cpu: (x) => maxPool2dRef(x, pool) },
    { name: 'conv 32→64 3x3 + ReLU', gpu: (x) => conv2d(x, w2.gpu, b2.gpu, { relu: true }), cpu: (x) => relu(conv2dRef(x, w2.cpu, b2.cpu, {})) },
    { name: 'max pool 2', gpu: (x) => maxPool2d(x, pool), cpu: (x) => maxPool2dRef(x, pool) },
    { name: 'flatten', gpu: (x) => x.flatten(1), cpu: (x) => ({ shape: [x.shape[0]!, x.data.length / x.shape[0]!], data: x.data }) },
    { name: 'linear 2304→600 + ReLU', gpu: (x) => linear(x, w3.gpu, b3.gpu, { relu: true }), cpu: (x) => relu(linearRef(x, w3.cpu, b3.cpu)) },
    { name: 'linear 600→10', gpu: (x) => linear(x, w4.gpu, b4.gpu), cpu: (x) => linearRef(x, w4.cpu, b4.cpu) },
    { name: 'softmax', gpu: (x) => softmax(x, 1), cpu: (x) => softmaxRef(x, 1) },
  ];
  return { layers, params: [w1, b1, w2, b2, w3, b3, w4, b4].map((p) => p.gpu) };
}

function relu(x: HostTensor): HostTensor {
  return { shape: x.shape, data: x.data.map((v) => Math.max(v, 0)) };
}

function forward(layers: Layer[], input: Tensor, onLayer?: (name: string, out: Tensor) => void): Tensor {
  let x = input;
  for (const layer of layers) {
    const y = layer.gpu(x);
    if (x !== input) x.dispose();
    onLayer?.(layer.name, y);
    x = y;
  }
  return x;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const { log, batch } = options;
  const engine = await Engine.create();
  try {
    log(`adapter: ${engine.adapterName}`);
    const { layers, params } = buildLayers(engine);
    const inputData = seededUniform(batch * 28 * 28, 42, 0, 1);
    const input = engine.tensor(inputData, [batch, 1, 28, 28]);
    log(`input: [${input.shape.join(', ')}]`);

    let t0 = performance.now();
    const first = forward(layers, input, (name, y) => log(`  ${name.padEnd(28)} → [${y.shape.join(', ')}]`));
    const probs = await first.toArray();
    const firstMs = performance.now() - t0;
    first.dispose();

    const times: number[] = [];
    for (let i = 0; i < options.runs; i++) {
      t0 = performance.now();
      const out = forward(layers, input);
      await engine.sync();
      times.push(performance.now() - t0);
      out.dispose();
    }

    let ref = host(inputData, [batch, 1, 28, 28]);
    for (const layer of layers) ref = layer.cpu(ref);
    let maxErr = 0;
    probs.forEach((p, i) => (maxErr = Math.max(maxErr, Math.abs(p - ref.data[i]!))));
    const top = Array.from({ length: batch }, (_, n) => {
      const row = Array.from(probs.subarray(n * 10, n * 10 + 10));
      return row.indexOf(Math.max(...row));
    });

    log(`first run (pipelines compiled): ${firstMs.toFixed(1)} ms`);
    log(`warm run: median ${median(times).toFixed(2)} ms over ${options.runs} runs (${((batch * 1000) / median(times)).toFixed(0)} images/s)`);
    log(`predicted classes (random weights): ${top.join(' ')}`);
    log(`max |GPU − CPU reference| over the softmax output: ${maxErr.toExponential(2)}`);
    log(`GPU memory: ${(engine.stats().bytesAllocated / 1024 / 1024).toFixed(1)} MiB allocated, ${engine.stats().pipelines} pipelines cached`);
    input.dispose();
    for (const p of params) p.dispose();
    if (maxErr > 1e-4) throw new Error(`demo: GPU and CPU reference disagree (max error ${maxErr})`);
  } finally {
    engine.dispose();
  }
}
