// Seeded shuffling for data loaders: the same (seed, epoch) gives the same order on every machine,
// and an epoch's order does not depend on how many epochs ran before it (so a resumed run
// replays the same batches). The generator is Mulberry32 (./random.ts).
import { Mulberry32, mixSeed } from './random.js';

/** Uniform numbers in [0, 1) from Mulberry32, as a function (for callers that take one). */
export function seededRandom(seed: number): () => number {
  const generator = new Mulberry32(seed);
  return () => generator.next();
}

/** One well-spread 32-bit seed per (seed, epoch). */
export function epochSeed(seed: number, epoch: number): number {
  return mixSeed(seed, epoch);
}

/** A uniformly random permutation of 0..n-1 (Fisher–Yates over Mulberry32). */
export function permutation(n: number, seed: number): Uint32Array {
  return new Mulberry32(seed).permutation(n);
}
