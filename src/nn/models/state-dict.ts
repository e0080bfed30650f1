// Checking state dicts by name and shape (a torchvision export, seeded weights, GPU tensors)
// against what a model holds, with one error naming every problem.
import { shapeString, type Shape } from '../../runtime/tensor.js';

/** Weights by state_dict name: a Map or a plain object. */
export type StateDict<T> = ReadonlyMap<string, T> | Readonly<Record<string, T>>;

/** One host array with its shape. */
export interface HostTensor {
  readonly shape: Shape;
  readonly data: Float32Array;
}

/** Host arrays by state_dict name. */
export type HostWeights = StateDict<HostTensor>;

export class StateDictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateDictError';
  }
}

export function entriesOf<T>(dict: StateDict<T>): Array<[string, T]> {
  return dict instanceof Map ? [...dict] : Object.entries(dict as Readonly<Record<string, T>>);
}

/** PyTorch's batch norm step counter: in every exported state_dict, meaningless for inference. */
function isBatchCounter(name: string, expected: ReadonlyMap<string, unknown>): boolean {
  return name.endsWith('.num_batches_tracked') && expected.has(name.replace(/num_batches_tracked$/, 'running_mean'));
}

/** Names for an error message: the first `limit`, then how many more. */
export function listed(names: string[], limit = 12): string {
  const shown = names.slice(0, limit).join(', ');
  return names.length > limit ? `${shown} and ${names.length - limit} more` : shown;
}

/**
 * Checks that `weights` holds exactly the `expected` tensors (name -> shape), num_batches_tracked
 * counters aside. Throws one StateDictError naming every missing, unexpected and mis-shaped tensor.
 */
export function checkStateDict(model: string, weights: StateDict<{ readonly shape: Shape }>, expected: ReadonlyMap<string, Shape>): void {
  const found = new Map(entriesOf(weights));
  const missing = [...expected.keys()].filter((n) => !found.has(n));
  const unexpected = [...found.keys()].filter((n) => !expected.has(n) && !isBatchCounter(n, expected));
  const misshaped: string[] = [];
  for (const [name, shape] of expected) {
    const got = found.get(name)?.shape;
    if (got && (got.length !== shape.length || got.some((d, i) => d !== shape[i]))) {
      misshaped.push(`${name} (expected ${shapeString(shape)}, got ${shapeString(got)})`);
    }
  }
  const problems: string[] = [];
  const count = (n: number, what: string) => `${n} ${what} tensor${n === 1 ? '' : 's'}`;
  if (missing.length > 0) problems.push(`${count(missing.length, 'missing')}: ${listed(missing)}`);
  if (unexpected.length > 0) problems.push(`${count(unexpected.length, 'unexpected')}: ${listed(unexpected)}`);
  if (misshaped.length > 0) problems.push(`${count(misshaped.length, 'mis-shaped')}: ${listed(misshaped)}`);
  if (problems.length > 0) throw new StateDictError(`${model} state dict: ${problems.join('; ')}`);
}

/** The shape of every tensor of a model's state dict, by name, in its order. */
export function stateShapes(state: ReadonlyMap<string, { readonly shape: Shape }>): Map<string, number[]> {
  return new Map([...state].map(([name, t]) => [name, [...t.shape]]));
}
