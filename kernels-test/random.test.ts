// The seeded generator family (src/data/random.ts): each generator's stream is pinned to the
// values it gave before the family was unified (fixtures, data orders and recorded runs depend on
// them), and the conversions every generator shares behave. CPU only.
import { describe, expect, it } from 'vitest';
import { epochSeed, permutation, seededRandom } from '../src/data/shuffle.js';
import { HashStream, Mulberry32, Xoshiro128, seededUniform, type RandomGenerator } from '../src/data/random.js';
import { Rng, kaimingUniform } from '../src/nn/init.js';

/** FNV-style hash of float32 bits: pins a long stream in one number. */
function bitsHash(values: Float32Array): number {
  let h = 0;
  for (const v of new Uint32Array(values.buffer, values.byteOffset, values.length)) h = (Math.imul(h, 31) + v) >>> 0;
  return h;
}

describe('the streams stay as they were', () => {
  it('Mulberry32: data order and test data', () => {
    const r = seededRandom(7);
    expect([r(), r(), r(), r()]).toEqual([0.011704753153026104, 0.06195825757458806, 0.97690763277933, 0.6990287057124078]);
    expect(Array.from(seededUniform(4, 11, -2, 3))).toEqual([0.5579352378845215, 0.6497320532798767, 1.0405927896499634, 0.9507881999015808]);
    expect(epochSeed(21, 3)).toBe(696757391);
    expect(Array.from(permutation(10, 5))).toEqual([5, 3, 7, 8, 2, 0, 4, 1, 9, 6]);
  });

  it('Xoshiro128 (nn/init.ts Rng): words, 53-bit doubles, seeds past 32 bits', () => {
    const g = new Rng(3);
    expect([g.nextU32(), g.nextU32(), g.nextU32()]).toEqual([3088717543, 2765602889, 1645471685]);
    expect(g.next()).toBe(0.9948857677131503);
    expect(Array.from(new Rng(2 ** 40 + 5).uniform(3, -1, 1))).toEqual([-0.4775364398956299, -0.46035048365592957, -0.8665745258331299]);
    expect(() => new Rng(-1)).toThrow('Xoshiro128: seed must be an integer in [0, 2^53), got -1');
  });

  it('HashStream: the seeded ResNet18 weights and the module initialisation', () => {
    expect(Array.from(new HashStream('layer1.0.conv1.weight', 1).uniform(4, -1, 1))).toEqual([
      -0.8260051012039185, 0.2957214117050171, 0.19955074787139893, 0.8305798768997192,
    ]);
    // ResNet18Module's kaiming_normal_ draws: Box-Muller over the stream named '<layer>.normal'.
    expect(Array.from(new HashStream('conv1.normal', 0).normal(5, 0.05))).toEqual([
      0.011014415882527828, -0.002465290017426014, -0.010680356062948704, 0.026266969740390778, 0.0067827133461833,
    ]);
    expect(bitsHash(new HashStream('layer2.0.conv2.normal', 3).normal(147456, 0.04))).toBe(4095269352);
    expect(() => new HashStream('x', 2 ** 32)).toThrow('HashStream: seed must be an integer in [0, 2^32), got 4294967296');
  });
});

describe('what every generator shares', () => {
  const generators: Array<[string, () => RandomGenerator]> = [
    ['Mulberry32', () => new Mulberry32(5)],
    ['Xoshiro128', () => new Xoshiro128(5)],
    ['HashStream', () => new HashStream('x', 5)],
  ];

  for (const [name, make] of generators) {
    it(`${name}: uniform in range with mean and variance of U(lo, hi), normal with N(0, std^2)'s moments, permutations`, () => {
      const u = make().uniform(50_000, -2, 6);
      const mean = u.reduce((s, v) => s + v, 0) / u.length;
      const variance = u.reduce((s, v) => s + (v - mean) ** 2, 0) / u.length;
      expect(Math.min(...u)).toBeGreaterThanOrEqual(-2);
      expect(Math.max(...u)).toBeLessThan(6);
      expect(Math.abs(mean - 2)).toBeLessThan(0.05); // 4 sigma of the mean: 4 * 8 / sqrt(12 * 50000)
      expect(Math.abs(variance / (64 / 12) - 1)).toBeLessThan(0.03);
      const z = make().normal(50_001, 3);
      const zMean = z.reduce((s, v) => s + v, 0) / z.length;
      const zVar = z.reduce((s, v) => s + (v - zMean) ** 2, 0) / z.length;
      const kurtosis = z.reduce((s, v) => s + (v - zMean) ** 4, 0) / z.length / zVar ** 2;
      expect(Math.abs(zMean)).toBeLessThan(0.06);
      expect(Math.abs(zVar / 9 - 1)).toBeLessThan(0.03);
      expect(Math.abs(kurtosis - 3)).toBeLessThan(0.1);
      expect(z.every(Number.isFinite)).toBe(true);
      const p = make().permutation(1000);
      expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
      expect(make().permutation(1000)).toEqual(p);
    });
  }

  it('a seed gives the same weights on every call, another seed others', () => {
    expect(kaimingUniform([4, 3], new Rng(9))).toEqual(kaimingUniform([4, 3], new Rng(9)));
    expect(kaimingUniform([4, 3], new Rng(10))).not.toEqual(kaimingUniform([4, 3], new Rng(9)));
  });
});
