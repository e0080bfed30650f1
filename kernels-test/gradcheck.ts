// Finite-difference checks for the reference backward functions: each is compared with central
// differences of the matching reference forward, all in float64, so a wrong derivation shows up
// as a large error while rounding stays far below the tolerance.
import { FINITE_DIFFERENCE, assertClose, type Tolerance } from './helpers.js';

/**
 * Central differences (f(v + eps) - f(v - eps)) / 2 eps of a scalar function with respect to each
 * entry of `values`, which `f` reads: each entry is perturbed in place and then restored.
 */
export function finiteDifferences(f: () => number, values: Float64Array, eps = 1e-6): Float64Array {
  const grad = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    values[i] = v + eps;
    const up = f();
    values[i] = v - eps;
    const down = f();
    values[i] = v;
    grad[i] = (up - down) / (2 * eps);
  }
  return grad;
}

/** sum(a * b): a vector-valued forward projected on an upstream gradient gives a scalar whose
 * gradient is exactly what a backward function computes from that upstream gradient. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`dot: lengths differ (${a.length} and ${b.length})`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}


/** Checks `analytic` against finite differences of `f` with respect to `values`. */
export function checkGradient(
  analytic: ArrayLike<number>,
  f: () => number,
  values: Float64Array,
  what: string,
  tol: Tolerance = FINITE_DIFFERENCE,
): void {
  assertClose(analytic, finiteDifferences(f, values), tol, `${what} (finite differences)`);
}
