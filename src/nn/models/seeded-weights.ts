// Deterministic ResNet18 weights and inputs, generated identically here and in Python
// (scripts/export_resnet18.py), so parity tests, the CLI demo and the benchmark need no weight
// file: PyTorch's reference logits (kernels-test/fixtures/resnet18/) were computed from the very
// same float32 values. The generator is the HashStream (src/data/random.ts: integer hashing with
// 32-bit wrap-around), then float32 arithmetic rounded once per operation (a float32 product or
// sum is exact in float64, so Math.fround of the float64 result is the float32 result), hence
// bit-identical values on both sides.
import { HashStream } from '../../data/random.js';
import { encodeSafetensors, type SafeTensor } from '../../io/safetensors.js';
import { resnet18StateShapes } from './resnet18-module.js';

export interface SeededTensor {
  shape: number[];
  data: Float32Array;
}

/** n float32 values in [-1, 1), 24 bits each, a pure function of (name, seed, index): the HashStream. */
function signedUniform(name: string, seed: number, n: number): Float32Array {
  return new HashStream(name, seed).uniform(n, -1, 1);
}

/** float32(float32(u * scale) + offset) over the stream's values u in [-1, 1), with scale and offset rounded to float32. */
export function seededTensor(name: string, seed: number, shape: readonly number[], scale: number, offset = 0): SeededTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = signedUniform(name, seed, n);
  const s = Math.fround(scale);
  const o = Math.fround(offset);
  for (let i = 0; i < n; i++) data[i] = Math.fround(Math.fround(data[i]! * s) + o);
  return { shape: [...shape], data };
}

/** (scale, offset) of one tensor: see scripts/export_resnet18.py's docstring for the reasons. */
function parameterInit(name: string, shape: readonly number[]): [number, number] {
  if (name === 'fc.weight') return [0.045, 0];
  if (name === 'fc.bias') return [0.1, 0];
  if (name.endsWith('running_mean')) return [0.1, 0];
  if (name.endsWith('running_var')) return [0.2, 1];
  if (shape.length === 4) return [Math.sqrt(6 / (shape[1]! * shape[2]! * shape[3]!)), 0]; // He uniform
  if (name.endsWith('bn2.weight')) return [0.03, 0.3];
  if (name.endsWith('.weight')) return [0.1, 1];
  if (name.endsWith('.bias')) return [0.1, 0];
  throw new Error(`seeded weights: no initialisation for '${name}'`);
}

/**
 * Every float tensor of torchvision's ResNet18, by state_dict name and in its order (the names and
 * shapes of ResNet18Module's state dict), from the seeded generator.
 */
export function seededResNet18Weights(seed = 1, options: { numClasses?: number } = {}): Map<string, SeededTensor> {
  const weights = new Map<string, SeededTensor>();
  for (const [name, shape] of resnet18StateShapes(options)) {
    const [scale, offset] = parameterInit(name, shape);
    weights.set(name, seededTensor(name, seed, shape, scale, offset));
  }
  return weights;
}

/**
 * The seeded weights as a safetensors file laid out as PyTorch's state_dict (with each batch
 * norm's int64 num_batches_tracked, 0), the same tensors scripts/export_resnet18.py --random writes.
 */
export function seededResNet18Safetensors(seed = 1, options: { numClasses?: number } = {}): Uint8Array {
  const entries: Array<[string, SafeTensor]> = [];
  for (const [name, t] of seededResNet18Weights(seed, options)) {
    entries.push([name, { dtype: 'F32', shape: t.shape, data: t.data }]);
    if (name.endsWith('.running_var')) {
      entries.push([name.replace(/running_var$/, 'num_batches_tracked'), { dtype: 'I64', shape: [], data: new BigInt64Array(1) }]);
    }
  }
  return encodeSafetensors(entries, { format: 'pt', model: 'resnet18', source: `seeded random weights (seed ${seed})` });
}

/**
 * Image-like network inputs [N, C, H, W], values in about [-2, 2) as after ImageNet
 * normalisation: an 8x8 grid of seeded blocks per channel plus finer seeded noise.
 */
export function seededImages(seed: number, shape: readonly [number, number, number, number]): Float32Array {
  const [n, c, h, w] = shape;
  const grid = 8;
  const coarse = signedUniform('image.coarse', seed, n * c * grid * grid);
  const fine = signedUniform('image.fine', seed, n * c * h * w);
  const out = new Float32Array(n * c * h * w);
  for (let plane = 0; plane < n * c; plane++) {
    for (let y = 0; y < h; y++) {
      const row = Math.floor((y * grid) / h);
      for (let x = 0; x < w; x++) {
        const block = coarse[(plane * grid + row) * grid + Math.floor((x * grid) / w)]!;
        const i = (plane * h + y) * w + x;
        out[i] = Math.fround(Math.fround(block * 1.5) + Math.fround(fine[i]! * 0.5));
      }
    }
  }
  return out;
}
