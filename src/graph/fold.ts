// Batch norm folded into the convolution before it, computed on the GPU (shaders/fold.wgsl):
// conv(x, w, b) followed by inference batch norm equals conv(x, w * s, (b - mean) * s + beta)
// with s = gamma / sqrt(var + eps) per output channel.
import { grid1d } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import { shapeString, type Tensor } from '../runtime/tensor.js';
import { params } from '../runtime/uniforms.js';
import { expectSameEngine, fail } from '../ops/check.js';

const WG = 256;

const FOLD: KernelSpec = {
  name: 'fold_batch_norm',
  shader: 'fold',
  defines: { WG },
  bindings: ['uniform', 'read', 'read', 'read', 'read', 'read', 'read', 'write', 'write'],
};

/** An inference batch norm's operands: running statistics, optional affine weight (gamma) and bias (beta). */
export interface BatchNormParams {
  mean: Tensor;
  variance: Tensor;
  weight?: Tensor;
  bias?: Tensor;
  eps: number;
}

/**
 * The weight and bias of the convolution that does `weight` / `bias` followed by the batch norm.
 * Returns new tensors (the caller owns them); the dispatch is recorded on the engine like any op.
 */
export function foldBatchNorm(weight: Tensor, bias: Tensor | undefined, bn: BatchNormParams): { weight: Tensor; bias: Tensor } {
  const op = 'foldBatchNorm';
  expectSameEngine(op, weight, bias, bn.mean, bn.variance, bn.weight, bn.bias);
  if (weight.rank < 2) fail(op, `expected a convolution weight [out, in / groups, ...kernel], got ${shapeString(weight.shape)}`);
  const outChannels = weight.shape[0]!;
  const perChannel = weight.size / Math.max(outChannels, 1);
  const operands: Array<[string, Tensor | undefined]> = [
    ['conv bias', bias],
    ['running mean', bn.mean],
    ['running var', bn.variance],
    ['batch norm weight', bn.weight],
    ['batch norm bias', bn.bias],
  ];
  for (const [name, t] of operands) {
    if (t && (t.rank !== 1 || t.shape[0] !== outChannels)) {
      fail(op, `${name} should have shape [${outChannels}] (one value per output channel of weight ${shapeString(weight.shape)}), got ${shapeString(t.shape)}`);
    }
  }
  if (!Number.isFinite(bn.eps) || bn.eps < 0) fail(op, `eps must be a finite number >= 0, got ${bn.eps}`);
  const engine = weight.engine;
  const folded = { weight: engine.empty(weight.shape), bias: engine.empty([outChannels]) };
  if (outChannels === 0) return folded;
  const flags = (bias ? 1 : 0) | (bn.weight ? 2 : 0) | (bn.bias ? 4 : 0);
  // Absent operands are bound to a tensor that is read by no invocation (flags say which).
  const stand = bn.mean;
  const buffers = [weight, bias ?? stand, bn.mean, bn.variance, bn.weight ?? stand, bn.bias ?? stand, folded.weight, folded.bias];
  const u = params().u32(outChannels, perChannel, flags).f32(bn.eps);
  engine.dispatch(FOLD, buffers, grid1d(outChannels, 1, engine.limits.maxComputeWorkgroupsPerDimension), u);
  return folded;
}
