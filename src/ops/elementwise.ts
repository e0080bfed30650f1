import { grid1d } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import type { Shape, Tensor } from '../runtime/tensor.js';
import { runSplit } from '../runtime/split.js';
import { params } from '../runtime/uniforms.js';
import { addRef, mulRef, reluRef, scaleRef } from '../reference/elementwise.js';
import { expectSameEngine, expectSameShape, fail } from './check.js';
import { defineOp, type Checked, type Gradients } from './registry.js';

const WG = 256;
const OPS = { relu: 0, add: 1, add_relu: 2, relu_backward: 3, mul: 4, scale: 5, accumulate: 6 } as const;
type Op = keyof typeof OPS;

function kernel(op: Op): KernelSpec {
  return { name: op, shader: 'elementwise', defines: { OP: OPS[op], WG }, bindings: ['uniform', 'read', 'read', 'write'] };
}

function dispatch(op: Op, a: Tensor, b: Tensor, out: Tensor, s = 0): void {
  a.engine.dispatch(kernel(op), [a, b, out], grid1d(out.size, WG), params().u32(out.size).f32(s));
}

/** The op's name in errors. */
const NAMES: Record<Op, string> = { relu: 'relu', add: 'add', add_relu: 'add', relu_backward: 'reluBackward', mul: 'mul', scale: 'scale', accumulate: 'addInPlace' };

/** Elementwise kernels split into runs of elements past the binding limit. */
const elementsOf = (t: Tensor) => [{ name: 'element', size: t.size }] as const;

function run(op: Op, a: Tensor, b: Tensor, s = 0): Tensor {
  const operands = [{ name: 'a', input: a, per: [1] }, { name: 'b', input: b, per: [1] }, { name: 'out', output: a.shape, per: [1] }] as const;
  return runSplit(a.engine, { op: NAMES[op], axes: elementsOf(a), operands }, ([av, bv, out]) => dispatch(op, av!, bv!, out!, s))[0]!;
}

/** A copy of t in its own buffer. */
export function copyOf(t: Tensor): Tensor {
  const out = t.engine.empty(t.shape);
  if (t.size > 0) t.engine.copy(t, out, t.size * 4);
  return out;
}

/**
 * One gradient for every operand in `needs` (an add, a fused residual): the first takes `g` itself
 * when `owned` (a tensor the rule made), else a view of it (g is the tape's gradOut, passed through);
 * the others get copies. An owned g nobody took is freed.
 */
export function sameGradient(g: Tensor, owned: boolean, needs: readonly boolean[]): Gradients {
  let taken = false;
  const grads = needs.map((need) => {
    if (!need) return undefined;
    const mine = taken ? copyOf(g) : owned ? g : g.reshape(g.shape);
    taken = true;
    return mine;
  });
  if (owned && !taken) g.dispose();
  return grads;
}

/** Checks that two operands have one shape (the output's). */
function sameShapes(op: string, [a, b]: ReadonlyArray<Shape | undefined>): Checked {
  expectSameShape(op, { shape: a! }, { shape: b! });
  return { shape: a! };
}

export const reluOp = defineOp<Record<string, never>, Checked>({
  name: 'relu',
  operands: [{ name: 'x' }],
  check: ([x]) => ({ shape: x! }),
  forward: ([x]) => run('relu', x!, x!),
  // relu's output is positive exactly where its input is, and NaN where it is NaN: it serves as the mask.
  backward: ({ gradOut, output }) => [reluBackward(gradOut, output)],
  reference: ([x]) => reluRef(x!),
});

/** max(x, 0), elementwise; NaN stays NaN. */
export function relu(x: Tensor): Tensor {
  return reluOp.run([x], {});
}

export interface AddOptions {
  /** Apply ReLU to the sum, fused. */
  relu?: boolean;
}

export const addOp = defineOp<AddOptions, Checked>({
  name: 'add',
  operands: [{ name: 'a' }, { name: 'b' }],
  check: (shapes) => sameShapes('add', shapes),
  forward: ([a, b], _c, options) => run(options.relu ? 'add_relu' : 'add', a!, b!),
  backward: ({ gradOut, output, needs, options }) =>
    options.relu ? sameGradient(reluBackward(gradOut, output), true, needs) : sameGradient(gradOut, false, needs),
  reference: ([a, b], options) => (options.relu ? reluRef(addRef(a!, b!)) : addRef(a!, b!)),
  graph: { reluOption: 'relu' },
});

/** a + b for tensors of the same shape (optionally followed by ReLU, fused). */
export function add(a: Tensor, b: Tensor, options: AddOptions = {}): Tensor {
  return addOp.run([a, b], options);
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

export const mulOp = defineOp<Record<string, never>, Checked>({
  name: 'mul',
  operands: [{ name: 'a' }, { name: 'b' }],
  check: (shapes) => sameShapes('mul', shapes),
  forward: ([a, b]) => run('mul', a!, b!),
  backward: ({ gradOut, inputs: [a, b], needs }) => [needs[0] ? run('mul', gradOut, b!) : undefined, needs[1] ? run('mul', gradOut, a!) : undefined],
  reference: ([a, b]) => mulRef(a!, b!),
});

/** a * b for tensors of the same shape. */
export function mul(a: Tensor, b: Tensor): Tensor {
  return mulOp.run([a, b], {});
}

export interface ScaleOptions {
  /** The factor, a finite number. */
  factor: number;
}

export const scaleOp = defineOp<ScaleOptions, Checked>({
  name: 'scale',
  operands: [{ name: 'x' }],
  check: ([x], { factor }) => {
    if (typeof factor !== 'number' || !Number.isFinite(factor)) fail('scale', `the factor must be a finite number, got ${String(factor)}`);
    return { shape: x! };
  },
  forward: ([x], _c, { factor }) => run('scale', x!, x!, factor),
  backward: ({ gradOut, options }) => [run('scale', gradOut, gradOut, options.factor)],
  reference: ([x], { factor }) => scaleRef(x!, factor),
});

/** x * s for a number s. */
export function scale(x: Tensor, s: number): Tensor {
  return scaleOp.run([x], { factor: s });
}

/**
 * acc += x in place (gradient accumulation): recorded like any op, so it is ordered after the
 * kernels that wrote x and acc. acc and x must be different tensors of the same shape.
 */
export function addInPlace(acc: Tensor, x: Tensor): void {
  expectSameEngine('addInPlace', acc, x);
  expectSameShape('addInPlace', acc, x);
  if (acc.sharesBuffer(x)) fail('addInPlace', 'acc and x share storage; use scale(x, 2) to double a tensor');
  const operands = [{ name: 'x', input: x, per: [1] }, { name: 'acc', inPlace: acc, per: [1] }] as const;
  runSplit(x.engine, { op: 'addInPlace', axes: elementsOf(x), operands }, ([xv, accv]) => dispatch('accumulate', xv!, xv!, accv!));
}

/** The same as addInPlace (the name the training code may prefer). */
export const accumulate = addInPlace;
