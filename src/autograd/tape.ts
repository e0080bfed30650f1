// Differentiable ops: each runs the forward op on the GPU and, when some input requires a
// gradient, records how to go back with the backward kernels. An op none of whose inputs requires
// a gradient (data, frozen parameters) records nothing and does no extra forward work (no pooling
// indices, no saved batch statistics).
import {
  adaptiveAvgPool2dBackward,
  adaptiveAvgPool2d,
  avgPool2d,
  avgPool2dBackward,
  maxPool2d,
  maxPool2dBackward,
  maxPool2dFused,
  maxPool2dWithIndices,
  reluMaxPool2dBackward,
} from '../ops/pool.js';
import type { AvgPoolOptions, MaxPoolOptions } from '../ops/pool.js';
import { dropout, dropoutBackward, dropoutMask, type DropoutOptions } from '../ops/dropout.js';
import { add, mul, relu, reluBackward } from '../ops/elementwise.js';
import { linear, matmul } from '../ops/gemm.js';
import { conv2d, type ConvOptions } from '../ops/conv.js';
import { conv2dBackward } from '../ops/conv-backward.js';
import { linearBackward } from '../ops/linear-backward.js';
import { crossEntropy, crossEntropyWithGrad, type CrossEntropyOptions } from '../ops/loss.js';
import { batchNorm, batchNormBackward, batchNormCoefficients, batchNormEvalBackward, batchNormTrain } from '../ops/norm.js';
import { sumPerChannel } from '../ops/reduce.js';
import { logSoftmax, logSoftmaxBackward, softmax, softmaxBackward } from '../ops/softmax.js';
import type { Tensor } from '../runtime/tensor.js';
import { Recorder } from './recorder.js';
import type { Variable } from './variable.js';

export interface TapeBatchNormOptions {
  /** Batch statistics (and running-statistics update) when true, running statistics when false. */
  training: boolean;
  momentum?: number;
  eps?: number;
}

/** A pass-through gradient: a view of gradOut with the input's shape (no kernel, no copy). */
function passThrough(gradOut: Tensor, shape: readonly number[]): Tensor {
  return gradOut.reshape(shape);
}

/** A copy of gradOut in its own buffer (for a second input receiving the same gradient). */
function copyOf(gradOut: Tensor): Tensor {
  const out = gradOut.engine.empty(gradOut.shape);
  if (gradOut.size > 0) gradOut.engine.copy(gradOut.buffer, out.buffer, gradOut.size * 4);
  return out;
}

/**
 * The gradients of F.batch_norm for the `want`ed inputs: through the batch statistics (saveMean and
 * saveInvStd, from training mode), or with the running statistics as constants (evaluation).
 */
function batchNormGradients(
  g: Tensor,
  x: Tensor,
  runningMean: Tensor | undefined,
  runningVar: Tensor | undefined,
  weight: Tensor | undefined,
  options: TapeBatchNormOptions,
  want: { input: boolean; weight: boolean; bias: boolean },
  saveMean?: Tensor,
  saveInvStd?: Tensor,
): LayerGradients {
  if (options.training) return batchNormBackward(g, x, weight, saveMean!, saveInvStd!, want);
  const eps = options.eps ?? 1e-5;
  const grads: LayerGradients = {};
  if (want.input) grads.gradInput = batchNormEvalBackward(g, runningVar!, weight, eps);
  if (want.bias) grads.gradBias = sumPerChannel(g);
  if (want.weight) {
    // d/dweight = sum over N and space of g * xhat, xhat = (x - mean) / sqrt(var + eps).
    const xhat = batchNorm(x, runningMean, runningVar, undefined, undefined, { training: false, eps });
    const prod = mul(g, xhat);
    grads.gradWeight = sumPerChannel(prod);
    xhat.dispose();
    prod.dispose();
  }
  return grads;
}

interface LayerGradients {
  gradInput?: Tensor;
  gradWeight?: Tensor;
  gradBias?: Tensor;
}

/**
 * The inputs of a layer op with an optional weight and bias, in recording order [x, weight?,
 * bias?], and the translations between the tape's per-input lists and the backward kernels'
 * { input, weight, bias } form.
 */
function layerInputs(x: Variable, weight: Variable | undefined, bias: Variable | undefined) {
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  const w = weight ? 1 : -1;
  const b = bias ? inputs.length - 1 : -1;
  return {
    inputs,
    needsOf: (needs: readonly boolean[]) => ({ input: needs[0]!, weight: w >= 0 && needs[w]!, bias: b >= 0 && needs[b]! }),
    inOrder: (grads: LayerGradients): Array<Tensor | undefined> => {
      const out: Array<Tensor | undefined> = inputs.map(() => undefined);
      out[0] = grads.gradInput;
      if (w >= 0) out[w] = grads.gradWeight;
      if (b >= 0) out[b] = grads.gradBias;
      return out;
    },
  };
}

/**
 * Records differentiable calls for reverse-mode autodiff. Methods mirror the ops
 * (torch.nn.functional semantics) and return Variables; `backward(loss)` accumulates gradients
 * into the leaves; `dispose()` frees everything the tape made. One tape per training step:
 *
 *   const tape = new Tape(engine);
 *   const loss = tape.crossEntropy(model.forward(tape, constant(images)), labels);
 *   optimizer.zeroGrad(); tape.backward(loss); optimizer.step();
 *   if (wanted) console.log((await loss.value.toArray())[0]);
 *   tape.dispose();
 */
export class Tape extends Recorder {
  /** F.linear: x [..., in] times weight [out, in] transposed, plus bias [out]. */
  linear(x: Variable, weight: Variable, bias?: Variable): Variable {
    const { inputs, needsOf, inOrder } = layerInputs(x, weight, bias);
    const recorded = this.begin('linear', inputs);
    const y = linear(x.value, weight.value, bias?.value);
    if (!recorded) return this.plain(y);
    return this.record('linear', inputs, y, {
      backward: (g, needs) => inOrder(linearBackward(g, x.value, weight.value, needsOf(needs))),
    });
  }

  /**
   * F.conv2d: x [N, C, H, W] (or [C, H, W]), weight [O, C / groups, kH, kW], bias [O]; with
   * options.relu the ReLU fused into the convolution is differentiated too.
   */
  conv2d(x: Variable, weight: Variable, bias: Variable | undefined, options: ConvOptions = {}): Variable {
    const { inputs, needsOf, inOrder } = layerInputs(x, weight, bias);
    const recorded = this.begin('conv2d', inputs);
    const y = conv2d(x.value, weight.value, bias?.value, options);
    if (!recorded) return this.plain(y);
    return this.record('conv2d', inputs, y, {
      backward: (g, needs) => {
        const { relu: fused, ...geometry } = options;
        const gy = fused ? reluBackward(g, y) : g;
        const grads = conv2dBackward(gy, x.value, weight.value, geometry, needsOf(needs));
        if (gy !== g) gy.dispose();
        return inOrder(grads);
      },
    });
  }

  relu(x: Variable): Variable {
    const recorded = this.begin('relu', [x]);
    const y = relu(x.value);
    if (!recorded) return this.plain(y);
    // relu's output is positive exactly where its input is: the output serves as the mask.
    return this.record('relu', [x], y, { backward: (g) => [reluBackward(g, y)] });
  }

  /** a + b (same shapes); the gradient passes through to both. */
  add(a: Variable, b: Variable): Variable {
    const recorded = this.begin('add', [a, b]);
    const y = add(a.value, b.value);
    if (!recorded) return this.plain(y);
    return this.record('add', [a, b], y, {
      backward: (g, needs) => {
        const first = needs[0] ? passThrough(g, a.shape) : undefined;
        return [first, needs[1] ? (first ? copyOf(g) : passThrough(g, b.shape)) : undefined];
      },
    });
  }

  /** torch.flatten(x, startDim, endDim): a view, and so is its gradient. */
  flatten(x: Variable, startDim = 0, endDim = -1): Variable {
    const recorded = this.begin('flatten', [x]);
    const y = x.value.flatten(startDim, endDim);
    if (!recorded) return this.plain(y);
    return this.record('flatten', [x], y, { backward: (g) => [passThrough(g, x.shape)] });
  }

  maxPool2d(x: Variable, options: MaxPoolOptions): Variable {
    if (!this.begin('maxPool2d', [x])) return this.plain(maxPool2d(x.value, options));
    const { output, indices } = maxPool2dWithIndices(x.value, options);
    return this.record('maxPool2d', [x], output, {
      backward: (g) => [maxPool2dBackward(g, indices, x.shape, options)],
      saved: [indices],
    });
  }

  avgPool2d(x: Variable, options: AvgPoolOptions): Variable {
    const recorded = this.begin('avgPool2d', [x]);
    const y = avgPool2d(x.value, options);
    if (!recorded) return this.plain(y);
    return this.record('avgPool2d', [x], y, { backward: (g) => [avgPool2dBackward(g, x.shape, options)] });
  }

  adaptiveAvgPool2d(x: Variable, outputSize: number | [number, number]): Variable {
    const recorded = this.begin('adaptiveAvgPool2d', [x]);
    const y = adaptiveAvgPool2d(x.value, outputSize);
    if (!recorded) return this.plain(y);
    return this.record('adaptiveAvgPool2d', [x], y, { backward: (g) => [adaptiveAvgPool2dBackward(g, x.shape)] });
  }

  /**
   * F.batch_norm. Training normalises with the batch statistics (updating the running ones in
   * place) and differentiates through them; evaluation uses the running statistics as constants.
   */
  batchNorm(
    x: Variable,
    runningMean: Tensor | undefined,
    runningVar: Tensor | undefined,
    weight: Variable | undefined,
    bias: Variable | undefined,
    options: TapeBatchNormOptions,
  ): Variable {
    const { inputs, needsOf, inOrder } = layerInputs(x, weight, bias);
    const recorded = this.begin('batchNorm', inputs);
    const [w, b] = [weight?.value, bias?.value];
    if (!recorded) return this.plain(batchNorm(x.value, runningMean, runningVar, w, b, options));
    if (options.training) {
      const { output, saveMean, saveInvStd } = batchNormTrain(x.value, runningMean, runningVar, w, b, options);
      return this.record('batchNorm', inputs, output, {
        backward: (g, needs) => inOrder(batchNormGradients(g, x.value, runningMean, runningVar, w, options, needsOf(needs), saveMean, saveInvStd)),
        saved: [saveMean, saveInvStd],
      });
    }
    const output = batchNorm(x.value, runningMean, runningVar, w, b, options);
    return this.record('batchNorm', inputs, output, {
      backward: (g, needs) => inOrder(batchNormGradients(g, x.value, runningMean, runningVar, w, options, needsOf(needs))),
    });
  }

  /**
   * maxPool2d(relu(x)) as one op: the same values and gradients as tape.relu then tape.maxPool2d
   * (PyTorch's), without writing relu(x) or running separate relu passes.
   */
  reluMaxPool2d(x: Variable, options: MaxPoolOptions): Variable {
    const recorded = this.begin('reluMaxPool2d', [x]);
    const { output, indices } = maxPool2dFused(x.value, options, { relu: true });
    if (!recorded) {
      indices.dispose();
      return this.plain(output);
    }
    return this.record('reluMaxPool2d', [x], output, {
      backward: (g) => [reluMaxPool2dBackward(g, indices, output, x.shape, options)],
      saved: [indices],
    });
  }

  /**
   * maxPool2d(relu(batchNorm(x))) as one op, the block conv -> BatchNorm2d -> ReLU -> MaxPool2d
   * ends with: the same values, running-statistics update and gradients (for x, weight and bias)
   * as the three ops recorded one by one, but neither the normalised nor the rectified tensor is
   * written: the pooling kernel normalises and rectifies the cells it reads, and the backward pass
   * routes the pooled gradient straight into batch norm's backward.
   */
  batchNormReluMaxPool2d(
    x: Variable,
    runningMean: Tensor | undefined,
    runningVar: Tensor | undefined,
    weight: Variable | undefined,
    bias: Variable | undefined,
    options: TapeBatchNormOptions,
    pool: MaxPoolOptions,
  ): Variable {
    const { inputs, needsOf, inOrder } = layerInputs(x, weight, bias);
    const recorded = this.begin('batchNormReluMaxPool2d', inputs);
    const w = weight?.value;
    const { affine, saveMean, saveInvStd } = batchNormCoefficients(x.value, runningMean, runningVar, w, bias?.value, options);
    let pooled: { output: Tensor; indices: Tensor };
    try {
      pooled = maxPool2dFused(x.value, pool, { affine, relu: true });
    } catch (error) {
      for (const t of [affine, saveMean, saveInvStd]) t?.dispose();
      throw error;
    }
    affine.dispose();
    const { output, indices } = pooled;
    const stats = saveMean && saveInvStd ? [saveMean, saveInvStd] : [];
    if (!recorded) {
      for (const t of [indices, ...stats]) t.dispose();
      return this.plain(output);
    }
    return this.record('batchNormReluMaxPool2d', inputs, output, {
      backward: (g, needs) => {
        const gy = reluMaxPool2dBackward(g, indices, output, x.shape, pool);
        const grads = batchNormGradients(gy, x.value, runningMean, runningVar, w, options, needsOf(needs), saveMean, saveInvStd);
        gy.dispose();
        return inOrder(grads);
      },
      saved: [indices, ...stats],
    });
  }

  /**
   * F.dropout with a reproducible Philox mask (seed, offset). The mask is not stored: the
   * backward pass draws it again from the same seed and offset.
   */
  dropout(x: Variable, options: DropoutOptions): Variable {
    const recorded = this.begin('dropout', [x]);
    const y = dropout(x.value, options);
    if (!recorded) return this.plain(y);
    const identity = options.training === false || (options.p ?? 0.5) === 0;
    return this.record('dropout', [x], y, {
      backward: (g) => {
        if (identity) return [passThrough(g, x.shape)];
        const mask = dropoutMask(this.engine, x.shape, options);
        const dx = dropoutBackward(g, mask);
        mask.dispose();
        return [dx];
      },
    });
  }

  softmax(x: Variable, dim: number): Variable {
    const recorded = this.begin('softmax', [x]);
    const y = softmax(x.value, dim);
    if (!recorded) return this.plain(y);
    return this.record('softmax', [x], y, { backward: (g) => [softmaxBackward(g, y, dim)] });
  }

  logSoftmax(x: Variable, dim: number): Variable {
    const recorded = this.begin('logSoftmax', [x]);
    const y = logSoftmax(x.value, dim);
    if (!recorded) return this.plain(y);
    return this.record('logSoftmax', [x], y, { backward: (g) => [logSoftmaxBackward(g, y, dim)] });
  }

  /**
   * F.cross_entropy of logits [N, C] against class indices [N] (float32 on the GPU). When
   * recorded, one fused kernel gives the loss and its gradient; a backward pass seeded at this
   * loss hands that gradient over without another kernel.
   */
  crossEntropy(logits: Variable, target: Tensor, options: CrossEntropyOptions = {}): Variable {
    if (!this.begin('crossEntropy', [logits])) return this.plain(crossEntropy(logits.value, target, options));
    const { loss, gradLogits } = crossEntropyWithGrad(logits.value, target, options);
    const saved = [gradLogits];
    const [rows, classes] = [logits.shape[0]!, logits.shape[1]!];
    return this.record('crossEntropy', [logits], loss, {
      backwardFromOnes: () => [saved.pop()],
      backward: (g) => {
        // Scaled by an upstream gradient on the GPU: a GEMM with K = 1 broadcasts it, per row for
        // reduction 'none' ([N, C, 1] x [N, 1, 1]), over everything for a scalar loss.
        const perRow = g.rank === 1;
        const a = gradLogits.reshape(perRow ? [rows, classes, 1] : [rows * classes, 1]);
        const s = g.reshape(perRow ? [rows, 1, 1] : [1, 1]);
        const product = matmul(a, s);
        const dx = product.reshape([rows, classes]);
        for (const t of [a, s, product]) t.dispose();
        return [dx];
      },
      saved,
    });
  }
}
