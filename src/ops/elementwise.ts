import { grid1d } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import type { Tensor } from '../runtime/tensor.js';
import { params } from '../runtime/uniforms.js';
import { expectSameEngine, expectSameShape, fail } from './check.js';

const WG = 256;
const OPS = { relu: 0, add: 1, add_relu: 2, relu_backward: 3, mul: 4, scale: 5, accumulate: 6 } as const;
type Op = keyof typeof OPS;

function kernel(op: Op): KernelSpec {
  return { name: op, shader: 'elementwise', defines: { OP: OPS[op], WG }, bindings: ['uniform', 'read', 'read', 'write'] };
}

function dispatch(op: Op, a: Tensor, b: Tensor, out: Tensor, s = 0): void {
  a.engine.dispatch(kernel(op), [a, b, out], grid1d(out.size, WG), params().u32(out.size).f32(s));
}

function run(op: Op, a: Tensor, b: Tensor, s = 0): Tensor {
  const out = a.engine.empty(a.shape);
  dispatch(op, a, b, out, s);
  return out;
}

/** max(x, 0), elementwise; NaN stays NaN (as in PyTorch). */
export function relu(x: Tensor): Tensor {
  expectSameEngine('relu', x);
  return run('relu', x, x);
}

/** a + b for tensors of the same shape (optionally followed by ReLU, fused). */
export function add(a: Tensor, b: Tensor, options: { relu?: boolean } = {}): Tensor {
  expectSameEngine('add', a, b);
  expectSameShape('add', a, b);
  return run(options.relu ? 'add_relu' : 'add', a, b);
}

/**
 * The gradient of relu: 0 where x <= 0, else gradOut, NaN included (PyTorch's threshold_backward).
 * x is relu's input; its output is <= 0 (or NaN) at exactly the same places, so either may be passed.
 */
export function reluBackward(gradOut: Tensor, x: Tensor): Tensor {
  expectSameEngine('reluBackward', gradOut, x);
  expectSameShape('reluBackward', gradOut, x);
  return run('relu_backward', gradOut, x);
}

/** a * b for tensors of the same shape. */
export function mul(a: Tensor, b: Tensor): Tensor {
  expectSameEngine('mul', a, b);
  expectSameShape('mul', a, b);
  return run('mul', a, b);
}

/** x * s for a number s. */
export function scale(x: Tensor, s: number): Tensor {
  expectSameEngine('scale', x);
  if (typeof s !== 'number' || !Number.isFinite(s)) fail('scale', `the factor must be a finite number, got ${String(s)}`);
  return run('scale', x, x, s);
}

/**
 * acc += x in place (gradient accumulation): recorded like any op, so it is ordered after the
 * kernels that wrote x and acc. acc and x must be different tensors of the same shape.
 */
export function addInPlace(acc: Tensor, x: Tensor): void {
  expectSameEngine('addInPlace', acc, x);
  expectSameShape('addInPlace', acc, x);
  if (acc.buffer === x.buffer) fail('addInPlace', 'acc and x share storage; use scale(x, 2) to double a tensor');
  dispatch('accumulate', x, x, acc);
}

/** The same as addInPlace (the name the training code may prefer). */
export const accumulate = addInPlace;
