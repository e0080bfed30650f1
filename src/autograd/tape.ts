// The Tape's typed methods: one line each over Recorder.apply, which runs any registered op and
// records its backward rule (src/ops/registry.ts). `tape.apply(op, operands, options)` does the
// same for any op, a new one included.
import { conv1dOp, conv2dOp, conv3dOp, type ConvOptions } from '../ops/conv.js';
import { dropoutOp, type DropoutOptions } from '../ops/dropout.js';
import { addOp, mulOp, reluOp, scaleOp } from '../ops/elementwise.js';
import { linearOp, matmulOp, type MatmulAttributes } from '../ops/gemm.js';
import { crossEntropyOp, type CrossEntropyOptions } from '../ops/loss.js';
import { batchNormOp, batchNormReluMaxPool2dOp, type BatchNormOptions } from '../ops/norm.js';
import { adaptiveAvgPool2dOp, avgPool2dOp, maxPool1dOp, maxPool2dOp, reluMaxPool2dOp, type AvgPoolOptions, type MaxPoolOptions } from '../ops/pool.js';
import { interpolateOp, type InterpolateOptions } from '../ops/resize.js';
import { logSoftmaxOp, softmaxOp } from '../ops/softmax.js';
import { flattenOp } from '../ops/view.js';
import type { Tensor } from '../runtime/tensor.js';
import { Recorder } from './recorder.js';
import type { Variable } from './variable.js';

/** F.batch_norm's options on the tape: batch statistics (and running-statistics update) when training. */
export type TapeBatchNormOptions = BatchNormOptions;

/** A convolution's operands and options: the residual (a Variable, shaped like the output) is an operand. */
export interface TapeConvOptions extends Omit<ConvOptions, 'residual'> {
  residual?: Variable;
}

/**
 * Records differentiable calls for reverse-mode autodiff. Methods mirror the ops
 * (torch.nn.functional semantics) and return Variables; `backward(loss)` accumulates gradients
 * into the leaves; `dispose()` frees everything the tape made. One tape per training step:
 *
 *   const tape = new Tape(engine);
 *   const loss = tape.crossEntropy(model.call(tape, constant(images)), labels);
 *   optimizer.zeroGrad(); tape.backward(loss); optimizer.step();
 *   if (wanted) console.log((await loss.value.toArray())[0]);
 *   tape.dispose();
 */
export class Tape extends Recorder {
  /** F.linear: x [..., in] times weight [out, in] transposed, plus bias [out]. */
  linear(x: Variable, weight: Variable, bias?: Variable, options: { relu?: boolean } = {}): Variable {
    return this.apply(linearOp, [x, weight, bias], options);
  }

  /** torch.matmul(op(a), op(b)) (+ bias, ReLU), batched as matmul. */
  matmul(a: Variable, b: Variable, options: MatmulAttributes & { bias?: Variable } = {}): Variable {
    const { bias, ...attributes } = options;
    return this.apply(matmulOp, [a, b, bias], attributes);
  }

  conv1d(x: Variable, weight: Variable, bias?: Variable, options: TapeConvOptions = {}): Variable {
    const { residual, ...attributes } = options;
    return this.apply(conv1dOp, [x, weight, bias, residual], attributes);
  }

  /**
   * F.conv2d: x [N, C, H, W] (or [C, H, W]), weight [O, C / groups, kH, kW], bias [O]; the fused
   * residual and ReLU are differentiated too.
   */
  conv2d(x: Variable, weight: Variable, bias?: Variable, options: TapeConvOptions = {}): Variable {
    const { residual, ...attributes } = options;
    return this.apply(conv2dOp, [x, weight, bias, residual], attributes);
  }

  conv3d(x: Variable, weight: Variable, bias?: Variable, options: TapeConvOptions = {}): Variable {
    const { residual, ...attributes } = options;
    return this.apply(conv3dOp, [x, weight, bias, residual], attributes);
  }

  relu(x: Variable): Variable {
    return this.apply(reluOp, [x], {});
  }

  /** a + b (same shapes); the gradient passes through to both. */
  add(a: Variable, b: Variable, options: { relu?: boolean } = {}): Variable {
    return this.apply(addOp, [a, b], options);
  }

  mul(a: Variable, b: Variable): Variable {
    return this.apply(mulOp, [a, b], {});
  }

  scale(x: Variable, factor: number): Variable {
    return this.apply(scaleOp, [x], { factor });
  }

  /** torch.flatten(x, startDim, endDim): a view, and so is its gradient. */
  flatten(x: Variable, startDim = 0, endDim = -1): Variable {
    return this.apply(flattenOp, [x], { startDim, endDim });
  }

  maxPool1d(x: Variable, options: MaxPoolOptions): Variable {
    return this.apply(maxPool1dOp, [x], options);
  }

  maxPool2d(x: Variable, options: MaxPoolOptions): Variable {
    return this.apply(maxPool2dOp, [x], options);
  }

  avgPool2d(x: Variable, options: AvgPoolOptions): Variable {
    return this.apply(avgPool2dOp, [x], options);
  }

  adaptiveAvgPool2d(x: Variable, outputSize: number | [number, number]): Variable {
    return this.apply(adaptiveAvgPool2dOp, [x], { outputSize });
  }

  interpolate(x: Variable, options: InterpolateOptions): Variable {
    return this.apply(interpolateOp, [x], options);
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
    return this.apply(batchNormOp, [x, runningMean, runningVar, weight, bias], options);
  }

  /** maxPool2d(relu(x)) as one op, with the same values and gradients as the two. */
  reluMaxPool2d(x: Variable, options: MaxPoolOptions): Variable {
    return this.apply(reluMaxPool2dOp, [x], options);
  }

  /** maxPool2d(relu(batchNorm(x))) as one op, with the same values, statistics and gradients as the three. */
  batchNormReluMaxPool2d(
    x: Variable,
    runningMean: Tensor | undefined,
    runningVar: Tensor | undefined,
    weight: Variable | undefined,
    bias: Variable | undefined,
    options: TapeBatchNormOptions,
    pool: MaxPoolOptions,
  ): Variable {
    return this.apply(batchNormReluMaxPool2dOp, [x, runningMean, runningVar, weight, bias], { ...options, pool });
  }

  /**
   * F.dropout with a reproducible Philox mask (seed, offset). The mask is not stored: the
   * backward pass draws it again from the same seed and offset.
   */
  dropout(x: Variable, options: DropoutOptions): Variable {
    return this.apply(dropoutOp, [x], options);
  }

  softmax(x: Variable, dim: number): Variable {
    return this.apply(softmaxOp, [x], { dim });
  }

  logSoftmax(x: Variable, dim: number): Variable {
    return this.apply(logSoftmaxOp, [x], { dim });
  }

  /**
   * F.cross_entropy of logits [N, C] against class indices [N]. When recorded, one fused kernel
   * gives the loss and its gradient; a backward pass seeded at this loss hands that gradient over.
   */
  crossEntropy(logits: Variable, target: Tensor<'int32'>, options: CrossEntropyOptions = {}): Variable {
    const { weight, ...attributes } = options;
    return this.apply(crossEntropyOp, [logits, target, weight], attributes);
  }
}
