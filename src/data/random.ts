// The seeded random generators, one family. Each generator makes 32-bit words (nextU32) and
// inherits the same conversions (uniform numbers, arrays, normal samples, permutations), so
// every caller draws through one API. They differ only in how they make words, because several
// streams are pinned by fixtures and recorded runs:
// - Mulberry32: 32 bits of state, fast; data order (shuffle.ts) and test data.
// - Xoshiro128: xoshiro128** with 53-bit doubles; PyTorch-style weight initialisation (nn/init.ts)
//   and dropout seeds.
// - HashStream: counter-based, word i a pure function of (name, seed, i), with 24-bit uniforms
//   exact in float32; mirrors scripts/export_resnet18.py bit for bit (seeded ResNet18 weights).
// Dropout and augmentation draw from Philox on the GPU and the CPU (src/reference/philox.ts).
// This file imports nothing, so every layer may use it.

const GOLDEN = 0x9e3779b9;

/** MurmurHash3's 32-bit finaliser: a bijection of 32-bit words that spreads every input bit. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a over the UTF-8 bytes of a string. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(text)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/** Mixes a seed and a counter (an epoch) into one well-spread 32-bit seed (a murmur3-style finaliser). */
export function mixSeed(seed: number, counter: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(counter + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

function checkSeed(generator: string, seed: number, bits: 32 | 53): void {
  const max = bits === 32 ? 2 ** 32 : 2 ** 53;
  if (!Number.isSafeInteger(seed) || seed < 0 || seed >= max) throw new Error(`${generator}: seed must be an integer in [0, 2^${bits}), got ${seed}`);
}

/** A seeded generator: 32-bit words, and everything drawn from them. */
export abstract class RandomGenerator {
  /** The next 32 random bits, as an integer in [0, 2^32). */
  abstract nextU32(): number;

  /** Uniform in [0, 1): one word / 2^32 (generators with another resolution override it). */
  next(): number {
    return this.nextU32() / 2 ** 32;
  }

  /** n float32 values lo + (hi - lo) * next(). */
  uniform(n: number, lo: number, hi: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.next();
    return out;
  }

  /**
   * n float32 samples of N(0, std^2) by Box-Muller: each pair of uniforms (u, v) gives
   * r cos(2 pi v) and r sin(2 pi v) with r = std sqrt(-2 ln(1 - u)); an odd n still draws the pair.
   */
  normal(n: number, std: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      const u = this.next();
      const v = this.next();
      // 1 - u is in (0, 1], where the logarithm is finite.
      const radius = std * Math.sqrt(-2 * Math.log(1 - u));
      const angle = 2 * Math.PI * v;
      out[i] = radius * Math.cos(angle);
      if (i + 1 < n) out[i + 1] = radius * Math.sin(angle);
    }
    return out;
  }

  /** A uniformly random permutation of 0..n-1 (Fisher–Yates, from the last position down). */
  permutation(n: number): Uint32Array {
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    return order;
  }
}

/** mulberry32: one 32-bit word of state. Seeds are taken modulo 2^32. */
export class Mulberry32 extends RandomGenerator {
  private state: number;

  constructor(seed: number) {
    super();
    this.state = seed >>> 0;
  }

  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
}

/** xoshiro128**, its four words of state filled by splitmix32 over both halves of the seed (never all zero). */
export class Xoshiro128 extends RandomGenerator {
  private readonly s = new Uint32Array(4);

  constructor(seed: number) {
    super();
    checkSeed(this.constructor.name, seed, 53);
    let x = (seed % 2 ** 32) ^ Math.imul(Math.floor(seed / 2 ** 32), GOLDEN);
    for (let i = 0; i < 4; i++) {
      x = (x + GOLDEN) | 0;
      this.s[i] = fmix32(x);
    }
  }

  nextU32(): number {
    const s = this.s;
    const rotl = (v: number, k: number) => (v << k) | (v >>> (32 - k));
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits (two words). */
  override next(): number {
    return (this.nextU32() * 2 ** 21 + (this.nextU32() >>> 11)) / 2 ** 53;
  }
}

/**
 * A counter-based stream: word i = fmix32(i * 0x9e3779b9 + key) with key = fmix32(fnv1a32(name)
 * ^ seed * 0x9e3779b9), all modulo 2^32, so any value is a pure function of (name, seed, i) and
 * numbers are reproducible in any language (scripts/export_resnet18.py makes the same ones).
 * Uniforms keep the word's top 24 bits, exact in float32.
 */
export class HashStream extends RandomGenerator {
  private readonly key: number;
  private index = 0;

  constructor(name: string, seed: number) {
    super();
    checkSeed(this.constructor.name, seed, 32);
    this.key = fmix32((fnv1a32(name) ^ Math.imul(seed, GOLDEN)) >>> 0);
  }

  nextU32(): number {
    return fmix32((Math.imul(this.index++, GOLDEN) + this.key) >>> 0);
  }

  /** Uniform in [0, 1) with 24 bits: (word >> 8) / 2^24. */
  override next(): number {
    return (this.nextU32() >>> 8) / 2 ** 24;
  }
}

/** Deterministic uniform numbers in [lo, hi) (Mulberry32): demo inputs, test data, benchmark data. */
export function seededUniform(n: number, seed: number, lo: number, hi: number): Float32Array {
  return new Mulberry32(seed).uniform(n, lo, hi);
}
