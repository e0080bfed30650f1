import { grid1d, type Engine } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import { numel, shapeString, type Shape, type Tensor } from '../runtime/tensor.js';
import { runSplit, type Split } from '../runtime/split.js';
import { params } from '../runtime/uniforms.js';
import { expectSameEngine, fail } from './check.js';
import { dropoutRef } from '../reference/dropout.js';
import { copyOf, mul } from './elementwise.js';
import { defineOp, type Checked } from './registry.js';

export interface DropoutOptions {
  /** Probability of dropping an element (default 0.5). */
  p?: number;
  /** When false, dropout is the identity (default true). */
  training?: boolean;
  /** Selects the random stream; an integer in [0, 2^53). */
  seed: number;
  /** Counter offset: calls with the same seed and different offsets draw independent masks. */
  offset?: number;
}

const OP = 'dropout';
const WG = 64;

function kernel(entry: 'apply' | 'mask'): KernelSpec {
  return { name: `dropout.${entry}`, shader: 'dropout', entryPoint: entry, defines: { WG }, bindings: ['uniform', 'read', 'write'] };
}

function checkOptions(options: DropoutOptions): { p: number; training: boolean; seed: number; offset: number } {
  const { p = 0.5, training = true, seed, offset = 0 } = options;
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) fail(OP, `dropout probability has to be between 0 and 1, but got ${p}`);
  if (!Number.isSafeInteger(seed) || seed < 0) fail(OP, `seed must be an integer in [0, 2^53), got ${seed}`);
  if (!Number.isSafeInteger(offset) || offset < 0) fail(OP, `offset must be an integer in [0, 2^53), got ${offset}`);
  if (typeof training !== 'boolean') fail(OP, `training must be true or false, got ${String(training)}`);
  return { p, training, seed, offset };
}

/**
 * Draws the keep decisions with Philox4x32-10 (see shaders/dropout.wgsl for the stream layout:
 * one Philox block per four consecutive elements, key from the seed, counter from the block index
 * and the offset) and writes kept ? x * 1/(1-p) : 0, or the mask itself when `x` is undefined.
 */
function draw(engine: Engine, x: Tensor | undefined, shape: Shape, p: number, seed: number, offset: number): Tensor {
  // u = (word >> 8) * 2^-24 < p  <=>  (word >> 8) < ceil(p * 2^24), an exact integer comparison.
  const threshold = Math.ceil(p * 2 ** 24);
  const scale = p === 1 ? 0 : 1 / (1 - p);
  const lo = (v: number) => v % 2 ** 32;
  const hi = (v: number) => Math.floor(v / 2 ** 32);
  // Past the binding limit, by runs of elements (aligned views start every 64: whole Philox quads).
  const split: Split = {
    op: OP,
    axes: [{ name: 'element', size: numel(shape) }],
    operands: [...(x ? [{ name: 'x', input: x, per: [1] as const }] : []), { name: 'output', output: shape, per: [1] }],
  };
  // The mask kernel reads no input, but its layout has one.
  const unused = x ? undefined : engine.empty([1]);
  const [out] = runSplit(engine, split, (bound, c) => {
    if (c.a0 % 4 !== 0) throw new Error(`${OP}: internal error: a run of elements starts inside a Philox quad (${c.a0})`);
    const uniforms = params().u32(c.a, threshold, lo(seed), hi(seed), lo(offset), hi(offset)).f32(scale).u32(c.a0 / 4);
    const groups = grid1d(Math.ceil(c.a / 4), WG);
    if (x) engine.dispatch(kernel('apply'), [bound[0]!, bound[1]!], groups, uniforms);
    else engine.dispatch(kernel('mask'), [unused!, bound[0]!], groups, uniforms);
  });
  unused?.dispose();
  return out!;
}

export const dropoutOp = defineOp<DropoutOptions, Checked>({
  name: OP,
  operands: [{ name: 'x' }],
  check: ([x], options) => {
    checkOptions(options);
    return { shape: x! };
  },
  forward: ([x], _c, options) => {
    const { p, training, seed, offset } = checkOptions(options);
    if (!training || p === 0) return copyOf(x!);
    return draw(x!.engine, x!, x!.shape, p, seed, offset);
  },
  // The mask is not stored: it is drawn again from the same seed and offset.
  backward: ({ gradOut, inputs: [x], options }) => {
    const { p, training } = checkOptions(options);
    if (!training || p === 0) return [gradOut.reshape(x!.shape)];
    const mask = dropoutMask(x!.engine, x!.shape, options);
    const dx = dropoutBackward(gradOut, mask);
    mask.dispose();
    return [dx];
  },
  reference: ([x], options) => dropoutRef(x!, options).output,
});

/**
 * Inverted dropout (torch.nn.functional.dropout): each element is dropped (0) with probability p
 * and kept ones are scaled by 1 / (1 - p). Reproducible: the result depends only on the values,
 * seed and offset. When not training, or p is 0, returns a copy of x; p = 1 gives zeros.
 * The same options give the same mask as dropoutMask, for the backward pass.
 */
export function dropout(x: Tensor, options: DropoutOptions): Tensor {
  return dropoutOp.run([x], options);
}

/** The mask dropout(x, options) multiplies by: 1 / (1 - p) where kept, 0 where dropped (all 1 when not training). */
export function dropoutMask(engine: Engine, shape: Shape, options: DropoutOptions): Tensor {
  const { p, training, seed, offset } = checkOptions(options);
  return draw(engine, undefined, shape, training ? p : 0, seed, offset);
}

/**
 * The gradient of dropout: gradOut * mask, with the mask dropoutMask gave for the forward pass's
 * options. (Without a stored mask, dropout(gradOut, sameOptions) gives the same values for finite
 * gradients: the mask depends only on the seed, offset and element index.)
 */
export function dropoutBackward(gradOut: Tensor, mask: Tensor): Tensor {
  const op = 'dropoutBackward';
  expectSameEngine(op, gradOut, mask);
  if (gradOut.rank !== mask.rank || gradOut.shape.some((d, i) => d !== mask.shape[i])) {
    fail(op, `gradOut ${shapeString(gradOut.shape)} and mask ${shapeString(mask.shape)} should have the same shape`);
  }
  return mul(gradOut, mask);
}
