// Gradient checking (in the spirit of torch.autograd.gradcheck): gradients from the tape against
// central finite differences of the same function's GPU forward pass. The checked objective is
// sum(output * weights(output size)) (random weights exercise every output), or the output itself
// when it is a scalar and no weights are given (the backward pass then starts from the implicit
// seed of 1).
import type { Engine } from '../runtime/engine.js';
import type { Tensor } from '../runtime/tensor.js';
import { Tape } from './tape.js';
import { Variable } from './variable.js';

export interface GradCheckInput {
  data: Float32Array;
  shape: number[];
  /** Default true. */
  requiresGrad?: boolean;
}

/** The function under test: builds its output from the inputs (as Variables, in order) on a tape. */
export type GradCheckFunction = (tape: Tape, inputs: Variable[]) => Variable;

/** The weights of the outputs in the objective, given the output's size (must be deterministic). */
export type OutputWeights = (size: number) => Float32Array;

function objective(output: Float32Array, weights: OutputWeights | undefined): number {
  if (!weights) return output[0]!;
  const w = weights(output.length);
  let sum = 0;
  for (let i = 0; i < output.length; i++) sum += output[i]! * w[i]!;
  return sum;
}

/** The tape's gradient of the objective for each input (undefined where no gradient is required). */
export async function tapeGradients(
  engine: Engine,
  f: GradCheckFunction,
  inputs: readonly GradCheckInput[],
  weights?: OutputWeights,
): Promise<Array<Float32Array | undefined>> {
  const vars = inputs.map((x) => new Variable(engine.tensor(x.data, x.shape), { requiresGrad: x.requiresGrad ?? true }));
  const tape = new Tape(engine);
  let seed: Tensor | undefined;
  try {
    const y = f(tape, vars);
    seed = weights ? engine.tensor(weights(y.value.size), y.shape) : undefined;
    tape.backward(y, seed);
    const grads: Array<Float32Array | undefined> = [];
    for (const v of vars) grads.push(v.grad ? await v.grad.toArray() : undefined);
    return grads;
  } finally {
    seed?.dispose();
    tape.dispose();
    for (const v of vars) v.dispose();
  }
}

/**
 * Central differences (f(x + eps) - f(x - eps)) / 2eps of the objective, element by element, for
 * each input that requires a gradient. Every perturbed forward pass is recorded first (on tapes
 * that record nothing) and their outputs are read back together: one submission.
 */
export async function numericGradients(
  engine: Engine,
  f: GradCheckFunction,
  inputs: readonly GradCheckInput[],
  options: { eps?: number; weights?: OutputWeights } = {},
): Promise<Array<Float64Array | undefined>> {
  const eps = options.eps ?? 1e-2;
  const outputs: Tensor[] = [];
  const run = (which: number, element: number, delta: number) => {
    const tape = new Tape(engine, { grad: false });
    const vars = inputs.map((x, k) => {
      const data = k === which ? Float32Array.from(x.data) : x.data;
      if (k === which) data[element] = data[element]! + delta;
      return new Variable(engine.tensor(data, x.shape));
    });
    outputs.push(tape.keep(f(tape, vars)).value);
    tape.dispose();
    for (const v of vars) v.dispose();
  };
  inputs.forEach((x, k) => {
    if (x.requiresGrad === false) return;
    for (let j = 0; j < x.data.length; j++) {
      run(k, j, eps);
      run(k, j, -eps);
    }
  });
  // All outputs are gathered into one buffer on the GPU and read back once.
  const total = outputs.reduce((n, t) => n + t.size, 0);
  const all = engine.empty([total]);
  let at = 0;
  for (const t of outputs) {
    if (t.size > 0) engine.copy(t, all, t.size * 4, 0, at * 4);
    at += t.size;
    t.dispose();
  }
  const data = total > 0 ? await all.toArray() : new Float32Array(0);
  all.dispose();
  const values: number[] = [];
  at = 0;
  for (const t of outputs) {
    values.push(objective(data.subarray(at, at + t.size), options.weights));
    at += t.size;
  }
  let next = 0;
  return inputs.map((x) => {
    if (x.requiresGrad === false) return undefined;
    const g = new Float64Array(x.data.length);
    for (let j = 0; j < g.length; j++, next += 2) g[j] = (values[next]! - values[next + 1]!) / (2 * eps);
    return g;
  });
}
