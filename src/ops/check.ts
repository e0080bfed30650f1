import { fail } from '../runtime/op-error.js';
import { Tensor, describeValue, shapeString, type DType, type Shape } from '../runtime/tensor.js';

export { OpError, fail } from '../runtime/op-error.js';

export function expectRank(op: string, what: string, t: Tensor | Shape, ranks: number | number[]): void {
  const shape = 'shape' in t ? t.shape : t;
  const allowed = Array.isArray(ranks) ? ranks : [ranks];
  if (!allowed.includes(shape.length)) {
    fail(op, `expected ${what} of rank ${allowed.join(' or ')}, got shape ${shapeString(shape)}`);
  }
}

/** Takes tensors or anything with a shape (the graph checks shapes before any tensor exists). */
export function expectSameShape(op: string, a: { readonly shape: Shape }, b: { readonly shape: Shape }): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    fail(op, `shapes must match, got ${shapeString(a.shape)} and ${shapeString(b.shape)}`);
  }
}

/** Refuses a required argument that is not a Tensor (undefined included). */
export function expectTensor(op: string, what: string, t: unknown): asserts t is Tensor<DType> {
  if (!(t instanceof Tensor)) fail(op, `expected a Tensor for ${what}, got ${describeValue(t)}`);
}

/** Tensors given (absent optional ones as undefined or null) must be Tensors, alive, of one engine. */
export function expectSameEngine(op: string, ...tensors: Array<Tensor<DType> | undefined>): void {
  for (const t of tensors) if (t != null && !(t instanceof Tensor)) fail(op, `expected a Tensor, got ${describeValue(t)}`);
  const first = tensors.find((t) => t)?.engine;
  for (const t of tensors) {
    if (!t) continue;
    if (t.isDisposed) fail(op, `a tensor of shape ${shapeString(t.shape)} was used after dispose()`);
    if (t.engine !== first) fail(op, 'tensors belong to different engines');
  }
}

/** Expands an int-or-tuple argument (kernel_size=3 or (3, 5)) to `n` positive-or-zero integers. */
export function tuple(op: string, name: string, v: number | readonly number[], n: number, min = 0): number[] {
  const out = typeof v === 'number' ? Array(n).fill(v) : [...v];
  if (out.length !== n || out.some((x) => !Number.isInteger(x) || x < min)) {
    fail(op, `${name} must be an integer >= ${min} or a tuple of ${n} of them, got ${JSON.stringify(v)}`);
  }
  return out;
}
