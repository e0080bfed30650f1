// Seeded random initialisation with PyTorch's default schemes. The generator is xoshiro128**
// seeded through splitmix32, so a seed gives the same weights on every platform.

/** A small, fast, seedable generator of uniform numbers. */
export class Rng {
  private readonly s: Uint32Array;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`Rng: seed must be an integer in [0, 2^53), got ${seed}`);
    // splitmix32 over both halves of the seed fills the four words of state (never all zero).
    let x = (seed % 2 ** 32) ^ Math.imul(Math.floor(seed / 2 ** 32), 0x9e3779b9);
    this.s = new Uint32Array(4);
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.s[i] = z ^ (z >>> 16);
    }
  }

  /** The next 32 random bits. */
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

  /** Uniform in [0, 1) with 53 random bits. */
  next(): number {
    return (this.nextU32() * 2 ** 21 + (this.nextU32() >>> 11)) / 2 ** 53;
  }

  uniform(n: number, lo: number, hi: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.next();
    return out;
  }
}

let globalRng = new Rng(0);

/** Reseeds the generator layers use when none is given (torch.manual_seed). */
export function manualSeed(seed: number): void {
  globalRng = new Rng(seed);
}

export function defaultRng(): Rng {
  return globalRng;
}

/** Inputs feeding each output of a weight [out, in, ...kernel]: in * prod(kernel) (torch's fan_in). */
export function fanIn(shape: readonly number[]): number {
  return shape.slice(1).reduce((a, b) => a * b, 1);
}

/**
 * kaiming_uniform_(weight, a = sqrt(5)), the default for Linear and Conv weights:
 * bound = gain * sqrt(3 / fan_in) with gain = sqrt(2 / (1 + a^2)), which is 1 / sqrt(fan_in).
 */
export function kaimingUniform(shape: readonly number[], rng: Rng, a = Math.sqrt(5)): Float32Array {
  const fan = fanIn(shape);
  const gain = Math.sqrt(2 / (1 + a * a));
  const bound = fan > 0 ? gain * Math.sqrt(3 / fan) : 0;
  return rng.uniform(shape.reduce((x, y) => x * y, 1), -bound, bound);
}

/** The default bias of Linear and Conv: uniform(-1 / sqrt(fan_in), 1 / sqrt(fan_in)). */
export function biasUniform(n: number, weightShape: readonly number[], rng: Rng): Float32Array {
  const fan = fanIn(weightShape);
  const bound = fan > 0 ? 1 / Math.sqrt(fan) : 0;
  return rng.uniform(n, -bound, bound);
}
