// Batch norm folded into the op before it (a convolution or a linear layer, whose weight is
// [out, ...] and bias [out]): op(x, w, b) followed by inference batch norm equals
//   op(x, w * s, (b - mean) * s + beta)   with s = gamma / sqrt(var + eps) per output channel
// (gamma 1 and beta 0 when absent, b 0 when the op has no bias). One formula, computed where the
// weights are: on the GPU (shaders/fold.wgsl, float32) for weights already there, on the host in
// float64 (rounded once to float32) for weights that pass through the host (a model read from a
// file: nothing to fold when it first runs). Both take the operands described by BatchNormParams;
// the graph rewrite (rewrite.ts) is the one place that decides to fold.
import { grid1d } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import { shapeString, type Shape, type Tensor } from '../runtime/tensor.js';
import { params } from '../runtime/uniforms.js';
import { expectSameEngine, fail } from '../ops/check.js';
import type { HostConstant } from './graph.js';

const WG = 256;

const FOLD: KernelSpec = {
  name: 'fold_batch_norm',
  shader: 'fold',
  defines: { WG },
  bindings: ['uniform', 'read', 'read', 'read', 'read', 'read', 'read', 'write', 'write'],
};

/** An inference batch norm's operands: running statistics, optional affine weight (gamma) and bias (beta). */
export interface BatchNormParams<T = Tensor> {
  mean: T;
  variance: T;
  weight?: T;
  bias?: T;
  eps: number;
}

export interface Folded<T> {
  weight: T;
  bias: T;
}

const OP = 'foldBatchNorm';

/** Checks the operands' shapes against the weight's; returns the output channels and the weights per channel. */
function checkOperands(weight: Shape, bias: Shape | undefined, bn: BatchNormParams<{ shape: Shape }>): { outChannels: number; perChannel: number } {
  if (weight.length < 2) fail(OP, `expected a weight [out, ...] (a convolution's [out, in / groups, ...kernel]), got ${shapeString(weight)}`);
  const outChannels = weight[0]!;
  const operands: Array<[string, Shape | undefined]> = [
    ['bias', bias],
    ['running mean', bn.mean.shape],
    ['running var', bn.variance.shape],
    ['batch norm weight', bn.weight?.shape],
    ['batch norm bias', bn.bias?.shape],
  ];
  for (const [name, shape] of operands) {
    if (shape && (shape.length !== 1 || shape[0] !== outChannels)) {
      fail(OP, `${name} should have shape [${outChannels}] (one value per output channel of weight ${shapeString(weight)}), got ${shapeString(shape)}`);
    }
  }
  if (!Number.isFinite(bn.eps) || bn.eps < 0) fail(OP, `eps must be a finite number >= 0, got ${bn.eps}`);
  const size = weight.reduce((a, b) => a * b, 1);
  return { outChannels, perChannel: outChannels > 0 ? size / outChannels : 0 };
}

/**
 * The folded weight and bias on the GPU: new tensors (the caller owns them); the dispatch is
 * recorded on the engine like any op.
 */
export function foldBatchNorm(weight: Tensor, bias: Tensor | undefined, bn: BatchNormParams<Tensor>): Folded<Tensor> {
  expectSameEngine(OP, weight, bias, bn.mean, bn.variance, bn.weight, bn.bias);
  const { outChannels, perChannel } = checkOperands(weight.shape, bias?.shape, bn);
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

/** The folded weight and bias on the host, in float64 rounded once to float32 (new arrays). */
export function foldBatchNormOnHost(weight: HostConstant, bias: HostConstant | undefined, bn: BatchNormParams<HostConstant>): Folded<HostConstant> {
  const { outChannels, perChannel } = checkOperands(weight.shape, bias?.shape, bn);
  const w = new Float32Array(weight.data.length);
  const b = new Float32Array(outChannels);
  for (let o = 0; o < outChannels; o++) {
    const scale = (bn.weight ? bn.weight.data[o]! : 1) / Math.sqrt(bn.variance.data[o]! + bn.eps);
    for (let k = o * perChannel; k < (o + 1) * perChannel; k++) w[k] = weight.data[k]! * scale;
    b[o] = ((bias ? bias.data[o]! : 0) - bn.mean.data[o]!) * scale + (bn.bias ? bn.bias.data[o]! : 0);
  }
  return { weight: { shape: weight.shape, data: w }, bias: { shape: [outChannels], data: b } };
}
