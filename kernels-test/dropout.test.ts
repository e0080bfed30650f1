import { describe, expect, it } from 'vitest';
import { dropout, dropoutMask } from '../src/ops/dropout.js';
import { host } from '../src/reference/host-tensor.js';
import { dropoutRef, keepsElement } from '../src/reference/dropout.js';
import { philox4x32 } from '../src/reference/philox.js';
import { ELEMENTWISE, assertClose, random, useEngine } from './helpers.js';

const engine = useEngine();

const kept = (mask: ArrayLike<number>) => Array.from(mask, (v) => (v !== 0 ? 1 : 0));
const differences = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).filter((v, i) => (v !== 0) !== (b[i] !== 0)).length;

describe('Philox4x32-10 reference', () => {
  it('reproduces the Random123 known-answer vectors', () => {
    const hex = (words: number[]) => words.map((w) => w.toString(16).padStart(8, '0')).join(' ');
    expect(hex(philox4x32([0, 0, 0, 0], [0, 0]))).toBe('6627e8d5 e169c58d bc57ac4c 9b00dbd8');
    const ones = 0xffffffff;
    expect(hex(philox4x32([ones, ones, ones, ones], [ones, ones]))).toBe('408f276d 41c83b0e a20bc7c6 6d5451fd');
    expect(hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]))).toBe(
      'd16cfe09 94fdcceb 5001e420 24126ea1',
    );
  });
});

describe('dropout against the reference', () => {
  const cases = [
    { shape: [7, 13, 11], p: 0.3, seed: 1234, offset: 0 }, // 1001 elements: a partial last block
    { shape: [2, 3, 5], p: 0.5, seed: 0, offset: 7 },
    { shape: [3], p: 0.9, seed: 2 ** 40 + 7, offset: 2 ** 33 + 3 }, // seed and offset past 32 bits
    { shape: [64, 65], p: 0.05, seed: 99, offset: 1 },
  ];
  for (const { shape, p, seed, offset } of cases) {
    it(`[${shape.join(', ')}] p ${p}, seed ${seed}, offset ${offset}: the mask equals the TypeScript Philox exactly`, async () => {
      const e = engine();
      const n = shape.reduce((a, b) => a * b, 1);
      const data = random(n, seed % 1000, -2, 2);
      const x = e.tensor(data, shape);
      const options = { p, seed, offset };
      const mask = dropoutMask(e, shape, options);
      const y = dropout(x, options);
      expect(mask.shape).toEqual(shape);
      const ref = dropoutRef(host(data, shape), options);
      const gotMask = await mask.toArray();
      expect(kept(gotMask)).toEqual(kept(ref.mask.data));
      assertClose(gotMask, ref.mask.data, ELEMENTWISE, 'mask');
      assertClose(await y.toArray(), ref.output.data, ELEMENTWISE, 'dropout output');
      for (const t of [x, mask, y]) t.dispose();
    });
  }

  it('keeps a fraction near 1 - p of 100k elements, with kept values scaled by 1 / (1 - p)', async () => {
    const e = engine();
    const n = 100_000;
    const x = e.tensor(new Float32Array(n).fill(1), [n]);
    for (const p of [0.1, 0.5, 0.8]) {
      const y = await dropout(x, { p, seed: 42 }).toArray();
      const keptCount = y.filter((v) => v !== 0).length;
      // five standard deviations of a binomial fraction
      expect(Math.abs(keptCount / n - (1 - p))).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n));
      expect(y.every((v) => v === 0 || v === Math.fround(1 / (1 - p)))).toBe(true);
    }
    x.dispose();
  });

  it('gives the same mask for the same seed and offset, and a different one otherwise', async () => {
    const e = engine();
    const shape = [50, 40];
    const options = { p: 0.5, seed: 7, offset: 3 };
    const a = await dropoutMask(e, shape, options).toArray();
    const b = await dropoutMask(e, shape, options).toArray();
    const otherSeed = await dropoutMask(e, shape, { ...options, seed: 8 }).toArray();
    const otherOffset = await dropoutMask(e, shape, { ...options, offset: 4 }).toArray();
    expect(b).toEqual(a);
    // independent masks disagree on about half the elements
    expect(differences(a, otherSeed)).toBeGreaterThan(800);
    expect(differences(a, otherOffset)).toBeGreaterThan(800);
    expect(differences(otherSeed, otherOffset)).toBeGreaterThan(800);
  });

  it('draws past a grid folded into two dimensions', async () => {
    const e = engine();
    const n = 65535 * 64 * 4 + 1000; // more Philox blocks than one grid dimension covers
    const mask = dropoutMask(e, [n], { p: 0.5, seed: 5, offset: 0 });
    const tail = 2000; // read back only the end, drawn by the second row of workgroups
    const got = new Float32Array(await e.readBuffer(mask, tail * 4, (n - tail) * 4));
    mask.dispose();
    const want = Array.from({ length: tail }, (_, k) => (keepsElement(n - tail + k, { p: 0.5, seed: 5 }) ? 1 : 0));
    expect(kept(got)).toEqual(want);
  });
});

describe('dropout special cases', () => {
  it('returns a copy of x when not training or p is 0, and x * 0 for p = 1 (signed zeros, as PyTorch)', async () => {
    const e = engine();
    const data = random(300, 3, -1, 1);
    const x = e.tensor(data, [3, 100]);
    for (const options of [{ p: 0, seed: 1 }, { p: 0.5, seed: 1, training: false }]) {
      const y = dropout(x, options);
      expect(y.buffer).not.toBe(x.buffer);
      expect(y.shape).toEqual([3, 100]);
      expect(await y.toArray()).toEqual(data);
      y.dispose();
      expect(await x.toArray()).toEqual(data); // the copy is its own storage
    }
    const zeros = await dropout(x, { p: 1, seed: 1 }).toArray();
    expect(zeros.every((v, i) => Object.is(v, data[i]! * 0))).toBe(true);
    expect(Array.from(await dropoutMask(e, [10], { p: 1, seed: 1 }).toArray())).toEqual(Array(10).fill(0));
    expect(Array.from(await dropoutMask(e, [10], { p: 0.5, seed: 1, training: false }).toArray())).toEqual(Array(10).fill(1));
    expect(Array.from(await dropoutMask(e, [10], { p: 0, seed: 1 }).toArray())).toEqual(Array(10).fill(1));
    x.dispose();
  });

  it('refuses bad arguments with PyTorch’s messages', () => {
    const e = engine();
    const x = e.tensor([1, 2, 3], [3]);
    expect(() => dropout(x, { p: 1.5, seed: 1 })).toThrow('dropout: dropout probability has to be between 0 and 1, but got 1.5');
    expect(() => dropout(x, { p: -0.1, seed: 1 })).toThrow('dropout: dropout probability has to be between 0 and 1, but got -0.1');
    expect(() => dropout(x, { p: NaN, seed: 1 })).toThrow('dropout: dropout probability has to be between 0 and 1, but got NaN');
    expect(() => dropoutMask(e, [3], { p: 2, seed: 1 })).toThrow('dropout: dropout probability has to be between 0 and 1, but got 2');
    expect(() => dropout(x, { seed: -1 })).toThrow('dropout: seed must be an integer in [0, 2^53), got -1');
    expect(() => dropout(x, { seed: 1.5 })).toThrow('dropout: seed must be an integer in [0, 2^53), got 1.5');
    expect(() => dropout(x, { seed: 1, offset: -2 })).toThrow('dropout: offset must be an integer in [0, 2^53), got -2');
    expect(() => dropoutMask(e, [2, -1], { seed: 1 })).toThrow(/invalid shape \[2, -1\]/);
    x.dispose();
    expect(() => dropout(x, { seed: 1 })).toThrow('dropout: x [3] was used after dispose()');
  });
});
