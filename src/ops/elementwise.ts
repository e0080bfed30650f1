import { grid1d } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import type { Tensor } from '../runtime/tensor.js';
import { params } from '../runtime/uniforms.js';
import { expectSameEngine, expectSameShape } from './check.js';

const WG = 256;
const OPS = { relu: 0, add: 1, add_relu: 2 } as const;

function kernel(op: keyof typeof OPS): KernelSpec {
  return { name: op, shader: 'elementwise', defines: { OP: OPS[op], WG }, bindings: ['uniform', 'read', 'read', 'write'] };
}

function run(op: keyof typeof OPS, a: Tensor, b: Tensor): Tensor {
  const out = a.engine.empty(a.shape);
  a.engine.dispatch(kernel(op), [a, b, out], grid1d(a.size, WG), params().u32(a.size));
  return out;
}

/** max(x, 0), elementwise. */
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
