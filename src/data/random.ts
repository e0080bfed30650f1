import { seededRandom } from './shuffle.js';

/** Deterministic uniform numbers in [lo, hi) (mulberry32): demo inputs, test data, benchmark data. */
export function seededUniform(n: number, seed: number, lo: number, hi: number): Float32Array {
  const next = seededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * next();
  return out;
}
