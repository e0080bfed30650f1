// The seeded ResNet18 weights and inputs are bit-identical to the ones PyTorch's reference logits
// were computed from (CRC-32 of every tensor's float32 bytes, written by
// scripts/golden/make_resnet18_fixtures.py), and our safetensors reader loads a file exported
// from a PyTorch state_dict. CPU only: no GPU needed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { crc32 } from 'node:zlib';
import { decodeSafetensors, toFloat32 } from '../src/io/safetensors.js';
import { HashStream } from '../src/data/random.js';
import { resnet18StateShapes } from '../src/nn/models/resnet18-module.js';
import { seededImages, seededResNet18Safetensors, seededResNet18Weights } from '../src/nn/models/seeded-weights.js';
import { FIXTURE_DIR } from './fixtures.js';

const DIR = join(FIXTURE_DIR, 'resnet18');

interface Fixture {
  weightSeed: number;
  weightCrc32: Record<string, number>;
  cases: Array<{ name: string; inputSeed: number; shape: [number, number, number, number]; inputCrc32: number }>;
  torchExport: { file: string; tensors: Record<string, { dtype: string; shape: number[]; data: number[] }> };
}

const fixture = JSON.parse(readFileSync(join(DIR, 'resnet18.json'), 'utf8')) as Fixture;

function crcOf(data: Float32Array): number {
  return crc32(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/** The generator the weights draw from: values in [-1, 1). */
const seededUniform = (name: string, seed: number, n: number) => new HashStream(name, seed).uniform(n, -1, 1);

describe('seeded generator', () => {
  it('draws from [-1, 1) with a mean near 0 and different streams per name and seed', () => {
    const u = seededUniform('x', 1, 100_000);
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(Math.abs(u.reduce((a, b) => a + b, 0) / u.length)).toBeLessThan(0.01);
    expect(seededUniform('x', 2, 4)).not.toEqual(seededUniform('x', 1, 4));
    expect(seededUniform('y', 1, 4)).not.toEqual(seededUniform('x', 1, 4));
    expect(seededUniform('x', 1, 4)).toEqual(u.subarray(0, 4));
    expect(() => seededUniform('x', -1, 4)).toThrow('seed must be an integer in [0, 2^32), got -1');
  });

  it("makes exactly PyTorch's fixture weights: every tensor's name, shape and float32 bits", () => {
    const weights = seededResNet18Weights(fixture.weightSeed);
    expect([...weights.keys()]).toEqual(Object.keys(fixture.weightCrc32));
    const mismatched = [...weights].filter(([name, t]) => crcOf(t.data) !== fixture.weightCrc32[name]).map(([name]) => name);
    expect(mismatched).toEqual([]);
    const params = [...weights.values()].reduce((n, t) => n + t.data.length, 0);
    expect(params).toBe(11_689_512 + 9_600); // torchvision's 11.69M parameters + the running statistics
    expect(weights.get('layer2.0.downsample.0.weight')!.shape).toEqual([128, 64, 1, 1]);
  });

  it("makes exactly the fixture's inputs", () => {
    for (const c of fixture.cases) expect(crcOf(seededImages(c.inputSeed, c.shape)), c.name).toBe(c.inputCrc32);
  });

  it('lays the safetensors export out as a PyTorch state_dict', () => {
    const { tensors, metadata } = decodeSafetensors(seededResNet18Safetensors(1, { numClasses: 10 }));
    expect(metadata.format).toBe('pt');
    const floats = resnet18StateShapes({ numClasses: 10 });
    expect(tensors.size).toBe(floats.size + 20); // one num_batches_tracked per batch norm
    expect(tensors.get('fc.weight')!.shape).toEqual([10, 512]);
    expect(tensors.get('layer3.1.bn2.num_batches_tracked')).toMatchObject({ dtype: 'I64', shape: [] });
    expect(toFloat32(tensors.get('conv1.weight')!)).toEqual(seededResNet18Weights(1, { numClasses: 10 }).get('conv1.weight')!.data);
  });
});

describe('a PyTorch state_dict exported to safetensors', () => {
  it('loads with every tensor as PyTorch holds it', () => {
    const { file, tensors: expected } = fixture.torchExport;
    const { tensors, metadata } = decodeSafetensors(new Uint8Array(readFileSync(join(DIR, file))), file);
    expect(metadata).toEqual({ format: 'pt' });
    expect([...tensors.keys()]).toEqual(Object.keys(expected));
    for (const [name, want] of Object.entries(expected)) {
      const got = tensors.get(name)!;
      expect({ name, dtype: got.dtype, shape: got.shape }).toEqual({ name, dtype: want.dtype, shape: want.shape });
      // The fixture writes the shortest decimal of each float32: equal once read back as float32.
      expect(toFloat32(got), name).toEqual(Float32Array.from(want.data));
    }
    expect(tensors.get('bn.num_batches_tracked')!.data).toEqual(BigInt64Array.of(1n));
  });
});
