// Shared by every conformance test: one engine per test file, seeded random data, and the
// tolerance policy.
import { afterAll, beforeAll } from 'vitest';
import { CPU_PROFILE, DISCRETE_PROFILE, type DeviceProfile } from '../src/runtime/device-profile.js';
import { Engine, type EngineOptions } from '../src/runtime/engine.js';
import { checkKernelLayout } from './layout-check.js';
import { seededUniform } from '../src/data/random.js';

/**
/**
 * The discrete profile with every product on the workgroup-memory GEMM (the real one leaves
 * products under 16 rows, most of the tests' small shapes, to the portable kernel): runs every
 * route through shaders/gemm_tiled.wgsl.
 */
export const TILED_EVERYWHERE: DeviceProfile = {
  ...DISCRETE_PROFILE,
  gemm: { ...DISCRETE_PROFILE.gemm, tiled: { ...DISCRETE_PROFILE.gemm.tiled, minRows: 1 } },
};

const TEST_PROFILES: Record<string, DeviceProfile> = { cpu: CPU_PROFILE, discrete: DISCRETE_PROFILE, tiled: TILED_EVERYWHERE };

/**
 * The options a test engine is made with: kernel bindings checked against their WGSL by
 * wgsl_reflect, and the device profile `options.profile`, else the one WEBGPU_CNN_PROFILE names
 * ('cpu', 'discrete', or 'tiled': TILED_EVERYWHERE), else the adapter's.
 */
function testEngineOptions(options: EngineOptions): EngineOptions {
  const named = process.env.WEBGPU_CNN_PROFILE;
  if (named && !TEST_PROFILES[named]) throw new Error(`WEBGPU_CNN_PROFILE must be one of ${Object.keys(TEST_PROFILES).join(', ')}, got '${named}'`);
  const profile = options.profile ?? (named ? TEST_PROFILES[named] : undefined);
  return { checkKernel: checkKernelLayout, ...options, ...(profile ? { profile } : {}) };
}

/**
 * Opens one engine for the test file (or the describe block it is called in) and disposes it
 * afterwards, made with testEngineOptions: e.g. `WEBGPU_CNN_PROFILE=tiled npx vitest run
 * kernels-test/conv.test.ts` runs a file's routes on the GPU profile's GEMM. `options` may force a
 * profile or lower the binding limit (maxStorageBufferBindingSize) to make ops split small tensors.
 */
export function useEngine(options: EngineOptions = {}): () => Engine {
  let engine: Engine | undefined;
  beforeAll(async () => {
    engine = await Engine.create(testEngineOptions(options));
  });
  afterAll(() => engine?.dispose());
  return () => {
    if (!engine) throw new Error('engine not ready: call useEngine() at the top of the test file');
    return engine;
  };
}

/**
 * Engines whose binding limit is lowered to a given number of bytes, opened on first use (one per
 * limit) and disposed after the test file: the ops split small tensors under them.
 */
export function useLimitedEngines(): (maxStorageBufferBindingSize: number) => Promise<Engine> {
  const engines = new Map<number, Promise<Engine>>();
  afterAll(async () => {
    for (const e of engines.values()) (await e).dispose();
  });
  return (limit) => {
    let e = engines.get(limit);
    if (!e) engines.set(limit, (e = Engine.create(testEngineOptions({ maxStorageBufferBindingSize: limit }))));
    return e;
  };
}

/** Deterministic uniform numbers in [lo, hi) (mulberry32), so failures reproduce. */
export function random(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  return seededUniform(n, seed, lo, hi);
}

/**
 * The tolerance policy, written down once. A GPU value `a` matches the reference value `e` when
 *   |a - e| <= atol + rtol * |e|.
 * - Elementwise ops (no accumulation): rtol 1e-5, atol 1e-6.
 * - Reductions over k terms (conv, GEMM, pooling averages, norms, softmax sums): float32 rounding
 *   grows about like sqrt(k) when the order of summation differs from the reference's, so
 *   rtol 1e-4 and atol 1e-5 * sqrt(k) (inputs are O(1), as in every test here).
 * - PyTorch golden values (computed by another library, in its own order): the same rules.
 * - Gradients (backward kernels against the reference backward): see `gradient(k)` below.
 */
export interface Tolerance {
  rtol: number;
  atol: number;
}

export const ELEMENTWISE: Tolerance = { rtol: 1e-5, atol: 1e-6 };

/** Bit for bit: copies, selections (pooling's maxima, dropout's masks), integer results. */
export const EXACT: Tolerance = { rtol: 0, atol: 0 };

/** Two float64 computations of the same value by different routes (the CPU references). */
export const FLOAT64: Tolerance = { rtol: 1e-12, atol: 1e-15 };

/**
 * Central finite differences of a float64 function (eps 1e-6) against its analytic gradient: the
 * truncation error is ~eps^2 * f''' (1e-12 here) and the rounding ~1e-16 * |f| / eps (1e-10 * |f|
 * for the O(1)..O(100) objectives checked), so 1e-6 relative plus 1e-7 absolute leaves a wide
 * margin while a wrong term (an error of O(1e-2) or more) fails.
 */
export const FINITE_DIFFERENCE: Tolerance = { rtol: 1e-6, atol: 1e-7 };

/**
 * Central finite differences of the float32 GPU forward pass (eps 1e-2): the difference quotient
 * carries rounding of ~1e-7 * |f| / eps and a truncation error of ~eps^2 * f''', so rtol 1e-2 and
 * atol 2e-3 on O(1) inputs, away from kinks (relu at 0, ties in max pooling).
 */
export const FLOAT32_FINITE_DIFFERENCE: Tolerance = { rtol: 1e-2, atol: 2e-3 };

export function reduction(k: number): Tolerance {
  return { rtol: 1e-4, atol: 1e-5 * Math.sqrt(Math.max(1, k)) };
}

/** Compares element by element; on failure the message names the worst element and its error. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, what = 'result'): void {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: got ${actual.length} values, expected ${expected.length}`);
  }
  let worst = -1;
  let worstExcess = -Infinity;
  let worstErr = 0;
  let bad = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const sameSpecial = (Number.isNaN(a) && Number.isNaN(e)) || (a === e && !Number.isFinite(e));
    const err = sameSpecial ? 0 : Math.abs(a - e);
    const excess = Number.isNaN(err) ? Infinity : err - (tol.atol + tol.rtol * Math.abs(e));
    if (excess > 0) bad++;
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
      worstErr = err;
    }
  }
  if (bad > 0) {
    throw new Error(
      `${what}: ${bad} of ${actual.length} values out of tolerance (rtol ${tol.rtol}, atol ${tol.atol.toExponential(2)}); ` +
        `worst at index ${worst}: got ${actual[worst]}, expected ${expected[worst]}, error ${worstErr.toExponential(3)}`,
    );
  }
}

/**
 * Gradients: a GPU backward kernel against the float64 reference backward, k being the longest
 * reduction feeding one gradient element (values per channel for batch norm, the row length for
 * softmax, the classes for cross-entropy, the summed products for a weight gradient; 1 when there
 * is none): rtol 1e-4 and atol 3e-5 * sqrt(k), three times the forward's absolute allowance.
 * Why looser: a gradient is computed from float32 forward results (a softmax output, saved batch
 * statistics), so their rounding enters too, and its formulas cancel (batch norm's
 * g - mean(g) - xhat * mean(g * xhat), softmax's g - sum(g * y)): the error follows the size of
 * the terms, not of the (smaller) result, which only an absolute allowance can cover. Measured on
 * this suite's kernels the worst error was under 1/10 of the forward's reduction(k) tolerance
 * (batch norm with a channel mean of 1000), so this leaves a wide margin, while a wrong formula (a
 * missing term, an off-by-one count) still fails by orders of magnitude on the small shapes that
 * every family is tested at.
 * Gradients that are exact in float32 (relu, dropout, products) use ELEMENTWISE.
 */
export function gradient(k: number): Tolerance {
  return { rtol: 1e-4, atol: 3e-5 * Math.sqrt(Math.max(1, k)) };
}

/** gradient(1): elementwise gradients with rounding (a scale, an inverse square root). */
export const GRADIENT: Tolerance = gradient(1);
