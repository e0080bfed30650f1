// Finite-difference checks for the reference backward functions: each is compared with central
// differences of the matching reference forward, all in float64, so a wrong derivation shows up
// as a large error while rounding stays far below the tolerance.
import { assertClose, type Tolerance } from './helpers.js';

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

/**
 * Finite differences against an analytic gradient, both float64. With eps = 1e-6 the central
 * difference's truncation error is ~eps^2 * f''' (1e-12 here) and its rounding error
 * ~1e-16 * |f| / eps (1e-10 * |f|; the scalars checked are O(1)..O(100)), so 1e-6 relative plus
 * 1e-7 absolute leaves a wide margin while a wrong term (an error of O(1e-2) or more) fails.
 */
export const FINITE_DIFFERENCE: Tolerance = { rtol: 1e-6, atol: 1e-7 };

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
