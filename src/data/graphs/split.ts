// Seeded splits of graphs (graph classification) or nodes (node classification) into train,
// validation and test sets: the same seed gives the same split on every machine.
import { permutation } from '../shuffle.js';

export interface Split {
  /** Ascending indices of each part; together they are 0..count-1, each once. */
  train: Int32Array;
  validation: Int32Array;
  test: Int32Array;
}

export interface SplitFractions {
  test: number;
  validation?: number;
}

/**
 * Splits 0..count-1 by a seeded permutation: round(count * test) items for test, then
 * round(count * validation) for validation, the rest for training.
 */
export function randomSplit(count: number, fractions: SplitFractions, seed: number): Split {
  const { test, validation = 0 } = fractions;
  if (!Number.isInteger(count) || count < 0) throw new Error(`randomSplit: expected a non-negative integer count, got ${count}`);
  for (const [name, f] of [['test', test], ['validation', validation]] as const) {
    if (!(f >= 0 && f <= 1)) throw new Error(`randomSplit: expected a ${name} fraction in [0, 1], got ${f}`);
  }
  if (test + validation > 1) throw new Error(`randomSplit: test (${test}) and validation (${validation}) fractions add up to more than 1`);
  const order = permutation(count, seed);
  const nTest = Math.round(count * test);
  const nValidation = Math.min(Math.round(count * validation), count - nTest);
  const part = (from: number, to: number) => Int32Array.from(order.subarray(from, to)).sort();
  return { test: part(0, nTest), validation: part(nTest, nTest + nValidation), train: part(nTest + nValidation, count) };
}
