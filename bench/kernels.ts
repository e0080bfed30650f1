// The kernel suite: each case builds the same computation on both sides, from the same data, in
// each side's own layout (ours NCHW / OIHW, tfjs NHWC / HWIO), and reads results back in ours
// so they can be compared.
import type * as TfCore from '@tensorflow/tfjs-core';
import type { Engine } from '../src/runtime/engine.js';
import type { Tensor } from '../src/runtime/tensor.js';
import type { Tf } from './tfjs-peer.js';
import { seededUniform } from '../src/data/random.js';

/** Our ops the suite measures, passed in by the runner (see run.ts). */
export interface OurOps {
  matmul(a: Tensor, b: Tensor): Tensor;
  conv2d(x: Tensor, weight: Tensor, bias?: Tensor, options?: { stride?: number; padding?: number }): Tensor;
  /** How conv2d's plan computes these operands: its route and tile (named in the table). */
  conv2dPlanLabel(x: Tensor, weight: Tensor, bias?: Tensor, options?: { stride?: number; padding?: number }): string;
  relu(x: Tensor): Tensor;
  add(a: Tensor, b: Tensor): Tensor;
}

/** One side of a case, with its inputs uploaded. */
export interface Side<T> {
  /** Records the op once and returns its output (not yet computed). */
  run(): T;
  /** Reads an output back, in our layout. */
  read(output: T): Promise<Float32Array>;
  release(output: T): void;
  /** Frees the inputs. */
  dispose(): void;
  /** How this side computes the case, where it has a choice (our conv2d's algorithm). */
  algorithm?: string;
}

export type Group = 'gemm' | 'conv' | 'elementwise';

export interface BenchCase {
  group: Group;
  name: string;
  /** Shapes, in words. */
  detail: string;
  /** Work per run: floating-point operations (GFLOPS) or bytes moved (GB/s, memory-bound ops). */
  work: number;
  unit: 'GFLOPS' | 'GB/s';
  /** Output element `index` (row-major, our layout) computed on the CPU in float64: a spot check of both sides. */
  expected(index: number): number;
  ours(engine: Engine, ops: OurOps): Side<Tensor>;
  tfjs(tf: Tf): Side<TfCore.Tensor>;
}

/** Deterministic uniform numbers in [-1, 1) (mulberry32), the same for both sides. */
function random(n: number, seed: number): Float32Array {
  return seededUniform(n, seed, -1, 1);
}

/** Computes a value on first use (so filtered-out cases never generate their data). */
function lazy<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

/** Reorders a row-major 4-D array: output dimension i is input dimension `order[i]`. */
function permute4(data: Float32Array, shape: readonly number[], order: readonly number[]): Float32Array {
  const inStrides = [shape[1]! * shape[2]! * shape[3]!, shape[2]! * shape[3]!, shape[3]!, 1];
  const outShape = order.map((d) => shape[d]!);
  const s = order.map((d) => inStrides[d]!);
  const out = new Float32Array(data.length);
  let o = 0;
  for (let a = 0; a < outShape[0]!; a++) {
    for (let b = 0; b < outShape[1]!; b++) {
      for (let c = 0; c < outShape[2]!; c++) {
        const base = a * s[0]! + b * s[1]! + c * s[2]!;
        for (let d = 0; d < outShape[3]!; d++) out[o++] = data[base + d * s[3]!]!;
      }
    }
  }
  return out;
}

const NCHW_TO_NHWC = [0, 2, 3, 1];
const NHWC_TO_NCHW = [0, 3, 1, 2];
const OIHW_TO_HWIO = [2, 3, 1, 0];

function oursSide(engine: Engine, inputs: Tensor[], run: () => Tensor): Side<Tensor> {
  return {
    run,
    read: (t) => engine.read(t),
    release: (t) => t.dispose(),
    dispose: () => inputs.forEach((t) => t.dispose()),
  };
}

function tfjsSide(inputs: TfCore.Tensor[], run: () => TfCore.Tensor, toOurLayout?: (t: TfCore.Tensor, data: Float32Array) => Float32Array): Side<TfCore.Tensor> {
  return {
    run,
    read: async (t) => {
      const data = (await t.data()) as Float32Array;
      return toOurLayout ? toOurLayout(t, data) : data;
    },
    release: (t) => t.dispose(),
    dispose: () => inputs.forEach((t) => t.dispose()),
  };
}

function gemmCase(m: number, k: number, n: number): BenchCase {
  const a = lazy(() => random(m * k, 1));
  const b = lazy(() => random(k * n, 2));
  return {
    group: 'gemm',
    name: m === n && n === k ? `gemm ${m}^3` : `gemm ${m}x${k}x${n}`,
    detail: `[${m},${k}]x[${k},${n}]`,
    work: 2 * m * n * k,
    unit: 'GFLOPS',
    expected: (index) => {
      const row = Math.floor(index / n);
      const col = index % n;
      let sum = 0;
      for (let i = 0; i < k; i++) sum += a()[row * k + i]! * b()[i * n + col]!;
      return sum;
    },
    ours: (engine, ops) => {
      const ta = engine.tensor(a(), [m, k]);
      const tb = engine.tensor(b(), [k, n]);
      return oursSide(engine, [ta, tb], () => ops.matmul(ta, tb));
    },
    tfjs: (tf) => {
      const ta = tf.tensor2d(a(), [m, k]);
      const tb = tf.tensor2d(b(), [k, n]);
      return tfjsSide([ta, tb], () => tf.matMul(ta, tb));
    },
  };
}

interface ConvShape {
  name: string;
  batch: number;
  inC: number;
  size: number;
  outC: number;
  kernel: number;
  stride: number;
  padding: number;
}

function convCase(c: ConvShape): BenchCase {
  const { batch, inC, size, outC, kernel, stride, padding } = c;
  const out = Math.floor((size + 2 * padding - kernel) / stride) + 1;
  const xShape = [batch, inC, size, size];
  const wShape = [outC, inC, kernel, kernel];
  const x = lazy(() => random(batch * inC * size * size, 3));
  // Scaled like a He-initialised layer, so outputs stay O(1) and differences are comparable.
  const w = lazy(() => random(outC * inC * kernel * kernel, 4).map((v) => v * Math.sqrt(6 / (inC * kernel * kernel))));
  return {
    group: 'conv',
    name: c.name,
    detail: `${inC}->${outC} ${kernel}x${kernel} s${stride} p${padding} @${size}x${size} n${batch}`,
    work: 2 * batch * outC * out * out * inC * kernel * kernel,
    unit: 'GFLOPS',
    expected: (index) => {
      const ow = index % out;
      const oh = Math.floor(index / out) % out;
      const o = Math.floor(index / (out * out)) % outC;
      const nb = Math.floor(index / (out * out * outC));
      let sum = 0;
      for (let ci = 0; ci < inC; ci++) {
        for (let ky = 0; ky < kernel; ky++) {
          const iy = oh * stride - padding + ky;
          if (iy < 0 || iy >= size) continue;
          for (let kx = 0; kx < kernel; kx++) {
            const ix = ow * stride - padding + kx;
            if (ix < 0 || ix >= size) continue;
            sum += x()[((nb * inC + ci) * size + iy) * size + ix]! * w()[((o * inC + ci) * kernel + ky) * kernel + kx]!;
          }
        }
      }
      return sum;
    },
    ours: (engine, ops) => {
      const tx = engine.tensor(x(), xShape);
      const tw = engine.tensor(w(), wShape);
      return { ...oursSide(engine, [tx, tw], () => ops.conv2d(tx, tw, undefined, { stride, padding })), algorithm: ops.conv2dPlanLabel(tx, tw, undefined, { stride, padding }) };
    },
    tfjs: (tf) => {
      const tx = tf.tensor4d(permute4(x(), xShape, NCHW_TO_NHWC), [batch, size, size, inC]);
      const tw = tf.tensor4d(permute4(w(), wShape, OIHW_TO_HWIO), [kernel, kernel, inC, outC]);
      const pad: [[number, number], [number, number], [number, number], [number, number]] = [
        [0, 0],
        [padding, padding],
        [padding, padding],
        [0, 0],
      ];
      return tfjsSide(
        [tx, tw],
        () => tf.conv2d(tx, tw, [stride, stride], pad, 'NHWC'),
        (t, data) => permute4(data, t.shape, NHWC_TO_NCHW),
      );
    },
  };
}

function elementwiseCase(op: 'relu' | 'add', n: number): BenchCase {
  const a = lazy(() => random(n, 5));
  const b = lazy(() => random(n, 6));
  const operands = op === 'relu' ? 1 : 2;
  return {
    group: 'elementwise',
    name: `${op} ${n >= 1 << 20 ? `${n / (1 << 20)}M` : n}`,
    detail: `[${n}] float32`,
    work: (operands + 1) * 4 * n,
    unit: 'GB/s',
    expected: (index) => (op === 'relu' ? Math.max(a()[index]!, 0) : a()[index]! + b()[index]!),
    ours: (engine, ops) => {
      const ta = engine.tensor(a(), [n]);
      const tb = engine.tensor(b(), [n]);
      return oursSide(engine, [ta, tb], () => (op === 'relu' ? ops.relu(ta) : ops.add(ta, tb)));
    },
    tfjs: (tf) => {
      const ta = tf.tensor1d(a());
      const tb = tf.tensor1d(b());
      return tfjsSide([ta, tb], () => (op === 'relu' ? tf.relu(ta) : tf.add(ta, tb)));
    },
  };
}

/** ResNet18's distinct convolution shapes at batch 1 (the stem and each stage's 3x3 conv). */
const RESNET18_CONVS: ConvShape[] = [
  { name: 'conv1 7x7/2', batch: 1, inC: 3, size: 224, outC: 64, kernel: 7, stride: 2, padding: 3 },
  { name: 'layer1 3x3', batch: 1, inC: 64, size: 56, outC: 64, kernel: 3, stride: 1, padding: 1 },
  { name: 'layer2 3x3', batch: 1, inC: 128, size: 28, outC: 128, kernel: 3, stride: 1, padding: 1 },
  { name: 'layer3 3x3', batch: 1, inC: 256, size: 14, outC: 256, kernel: 3, stride: 1, padding: 1 },
  { name: 'layer4 3x3', batch: 1, inC: 512, size: 7, outC: 512, kernel: 3, stride: 1, padding: 1 },
];

/** Every case, in the order they run and print. */
export function suite(): BenchCase[] {
  return [
    gemmCase(512, 512, 512),
    gemmCase(1024, 1024, 1024),
    ...RESNET18_CONVS.map(convCase),
    elementwiseCase('relu', 1 << 22),
    elementwiseCase('add', 1 << 22),
  ];
}

export const GROUPS: readonly Group[] = ['gemm', 'conv', 'elementwise'];
