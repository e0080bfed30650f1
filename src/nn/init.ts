// PyTorch's default initialisation schemes, drawn from a seeded generator (Xoshiro128 of the
// generator family in src/data/random.ts), so a seed gives the same weights on every platform.
import { Xoshiro128 as Rng } from '../data/random.js';

/** The generator layers initialise from: xoshiro128** (53-bit uniforms). */
export { Rng };

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
