// The small reductions that turn gradients and activations into explanation maps (Grad-CAM
// heatmaps, gradient saliency; src/nn/explain): per-sample min-max normalisation and the channel
// maximum of absolute values. Kernels in shaders/attribution.wgsl. Neither is differentiable: they
// make pictures, not training signals.
import { grid1d } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import { runSplit } from '../runtime/split.js';
import { shapeString, type Shape, type Tensor } from '../runtime/tensor.js';
import { params } from '../runtime/uniforms.js';
import { channelAbsMaxRef, minMaxNormalizeRef } from '../reference/attribution.js';
import { fail } from './check.js';
import { defineOp, type Checked } from './registry.js';

const WG = 64;

function kernel(entryPoint: 'min_max_normalize' | 'channel_abs_max'): KernelSpec {
  return { name: `attribution.${entryPoint}`, shader: 'attribution', entryPoint, defines: { WG }, bindings: ['uniform', 'read', 'write'] };
}

const product = (ds: readonly number[]) => ds.reduce((a, b) => a * b, 1);

function expectSamples(op: string, x: Shape, what: string): void {
  if (x.length < 2) fail(op, `expected ${what} of rank 2 or more ([N, ...]), got shape ${shapeString(x)}`);
  if (x.some((d) => d === 0)) fail(op, `expected a non-empty ${what}, got shape ${shapeString(x)}`);
}

export const minMaxNormalizeOp = defineOp<Record<string, never>, Checked>({
  name: 'minMaxNormalize',
  operands: [{ name: 'x' }],
  check: ([x]) => {
    expectSamples('minMaxNormalize', x!, 'input');
    return { shape: x! };
  },
  forward: ([x], { shape }) => {
    const len = product(shape.slice(1));
    // Past the binding limit, by samples (each normalised by its own extremes).
    const split = {
      op: 'minMaxNormalize',
      axes: [{ name: 'sample', size: shape[0]! }] as const,
      operands: [
        { name: 'x', input: x!, per: [len] as const },
        { name: 'output', output: shape, per: [len] as const },
      ],
    };
    return runSplit(x!.engine, split, ([input, out], c) => {
      x!.engine.dispatch(kernel('min_max_normalize'), [input!, out!], grid1d(c.a, 1), params().u32(c.a, len, 1));
    })[0]!;
  },
  reference: ([x]) => minMaxNormalizeRef(x!),
});

/**
 * Scales each sample of x [N, ...] (everything at one index of dimension 0) to [0, 1]:
 * (x - min) / (max - min) over the sample, 0 for a constant sample; a sample holding NaN comes
 * out NaN. Grad-CAM's per-image normalisation.
 */
export function minMaxNormalize(x: Tensor): Tensor {
  return minMaxNormalizeOp.run([x], {});
}

export const channelAbsMaxOp = defineOp<Record<string, never>, Checked>({
  name: 'channelAbsMax',
  operands: [{ name: 'x' }],
  check: ([x]) => {
    expectSamples('channelAbsMax', x!, 'input');
    return { shape: [x![0]!, 1, ...x!.slice(2)] };
  },
  forward: ([x], { shape }) => {
    const [samples, channels] = [x!.shape[0]!, x!.shape[1]!];
    const inner = product(shape.slice(2));
    // Past the binding limit, by samples.
    const split = {
      op: 'channelAbsMax',
      axes: [{ name: 'sample', size: samples }] as const,
      operands: [
        { name: 'x', input: x!, per: [channels * inner] as const },
        { name: 'output', output: shape, per: [inner] as const },
      ],
    };
    return runSplit(x!.engine, split, ([input, out], c) => {
      x!.engine.dispatch(kernel('channel_abs_max'), [input!, out!], grid1d(c.a * inner, WG), params().u32(c.a, channels, inner));
    })[0]!;
  },
  reference: ([x]) => channelAbsMaxRef(x!),
});

/**
 * max over dimension 1 of |x|, kept as a dimension of size 1: [N, C, ...] -> [N, 1, ...]
 * (x.abs().amax(dim=1, keepdim=True)); NaN wins. A gradient saliency map from d score / d input.
 */
export function channelAbsMax(x: Tensor): Tensor {
  return channelAbsMaxOp.run([x], {});
}
