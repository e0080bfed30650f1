import { parameter, type Variable } from '../autograd/variable.js';
import { batchNormOp, groupNormOp, layerNormOp } from '../ops/norm.js';
import type { Engine } from '../runtime/engine.js';
import type { Tensor } from '../runtime/tensor.js';
import { OpModule, type OpCall } from './module.js';

export interface BatchNormModuleOptions {
  eps?: number;
  momentum?: number;
  /** Learnable weight (ones) and bias (zeros); default true. */
  affine?: boolean;
  /** Keep running statistics (zeros and ones) for evaluation; default true. */
  trackRunningStats?: boolean;
}

/**
 * Batch normalisation over dimension 1. Training mode normalises with the batch statistics and
 * updates the running ones in place; evaluation mode uses the running ones (or the batch's, when
 * they are not tracked), as nn.BatchNorm does.
 */
abstract class BatchNormBase extends OpModule {
  readonly weight: Variable | undefined;
  readonly bias: Variable | undefined;
  readonly runningMean: Tensor | undefined;
  readonly runningVar: Tensor | undefined;
  readonly eps: number;
  readonly momentum: number;

  constructor(
    engine: Engine,
    readonly numFeatures: number,
    options: BatchNormModuleOptions,
  ) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures < 1) throw new Error(`${this.constructor.name}: num_features must be a positive integer, got ${numFeatures}`);
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum ?? 0.1;
    const ones = () => engine.tensor(new Float32Array(numFeatures).fill(1), [numFeatures]);
    if (options.affine ?? true) {
      this.weight = this.registerParameter('weight', parameter(ones()));
      this.bias = this.registerParameter('bias', parameter(engine.zeros([numFeatures])));
    }
    if (options.trackRunningStats ?? true) {
      this.runningMean = this.registerBuffer('running_mean', engine.zeros([numFeatures]));
      this.runningVar = this.registerBuffer('running_var', ones());
    }
  }

  /** The input ranks this module accepts, and how PyTorch words the error. */
  protected abstract readonly ranks: readonly number[];
  protected abstract readonly expected: string;

  /** PyTorch keeps a step counter this engine does not need: a loaded one is accepted and ignored. */
  protected override ignoredStateKeys(): readonly string[] {
    return ['num_batches_tracked'];
  }

  /** Whether this forward pass normalises with the batch's statistics (and updates the running ones). */
  get usesBatchStatistics(): boolean {
    return this.training || this.runningMean === undefined;
  }

  opCall(x: Variable): OpCall {
    if (!this.ranks.includes(x.shape.length)) {
      throw new Error(`${this.constructor.name}: expected ${this.expected} input (got ${x.shape.length}D input)`);
    }
    const options = { training: this.usesBatchStatistics, momentum: this.momentum, eps: this.eps };
    return { op: batchNormOp, operands: [x, this.runningMean, this.runningVar, this.weight, this.bias], options };
  }
}

/** nn.BatchNorm1d: input [N, C] or [N, C, L]. */
export class BatchNorm1d extends BatchNormBase {
  protected readonly ranks = [2, 3];
  protected readonly expected = '2D or 3D';

  constructor(engine: Engine, numFeatures: number, options: BatchNormModuleOptions = {}) {
    super(engine, numFeatures, options);
  }
}

/** nn.BatchNorm2d: input [N, C, H, W]. */
export class BatchNorm2d extends BatchNormBase {
  protected readonly ranks = [4];
  protected readonly expected = '4D';

  constructor(engine: Engine, numFeatures: number, options: BatchNormModuleOptions = {}) {
    super(engine, numFeatures, options);
  }
}

export interface GroupNormModuleOptions {
  eps?: number;
  /** Learnable per-channel weight (ones) and bias (zeros); default true. */
  affine?: boolean;
}

/**
 * nn.GroupNorm: the channels of x [N, C, *] in numGroups groups, each (sample, group) normalised
 * with its own statistics (the same in training and evaluation), then scaled and shifted per channel.
 */
export class GroupNorm extends OpModule {
  readonly weight: Variable | undefined;
  readonly bias: Variable | undefined;
  readonly eps: number;

  constructor(
    engine: Engine,
    readonly numGroups: number,
    readonly numChannels: number,
    options: GroupNormModuleOptions = {},
  ) {
    super();
    if (!Number.isInteger(numGroups) || numGroups < 1) throw new Error(`GroupNorm: num_groups must be a positive integer, got ${numGroups}`);
    if (!Number.isInteger(numChannels) || numChannels < 1) throw new Error(`GroupNorm: num_channels must be a positive integer, got ${numChannels}`);
    if (numChannels % numGroups !== 0) throw new Error(`GroupNorm: num_channels must be divisible by num_groups, got ${numChannels} channels and ${numGroups} groups`);
    this.eps = options.eps ?? 1e-5;
    if (options.affine ?? true) {
      this.weight = this.registerParameter('weight', parameter(engine.tensor(new Float32Array(numChannels).fill(1), [numChannels])));
      this.bias = this.registerParameter('bias', parameter(engine.zeros([numChannels])));
    }
  }

  opCall(x: Variable): OpCall {
    return { op: groupNormOp, operands: [x, this.weight, this.bias], options: { numGroups: this.numGroups, eps: this.eps } };
  }
}

export interface LayerNormModuleOptions {
  eps?: number;
  /** Learnable elementwise weight (ones) and bias (zeros) shaped normalizedShape; default true. */
  elementwiseAffine?: boolean;
}

/** nn.LayerNorm: each run of the input's trailing normalizedShape dimensions normalised on its own. */
export class LayerNorm extends OpModule {
  readonly normalizedShape: readonly number[];
  readonly weight: Variable | undefined;
  readonly bias: Variable | undefined;
  readonly eps: number;

  constructor(engine: Engine, normalizedShape: number | readonly number[], options: LayerNormModuleOptions = {}) {
    super();
    const dims = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    if (dims.length === 0 || dims.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new Error(`LayerNorm: normalized_shape must be an integer >= 0 or a non-empty list of them, got ${JSON.stringify(normalizedShape)}`);
    }
    this.normalizedShape = dims;
    this.eps = options.eps ?? 1e-5;
    if (options.elementwiseAffine ?? true) {
      const size = dims.reduce((a, b) => a * b, 1);
      this.weight = this.registerParameter('weight', parameter(engine.tensor(new Float32Array(size).fill(1), dims)));
      this.bias = this.registerParameter('bias', parameter(engine.zeros(dims)));
    }
  }

  opCall(x: Variable): OpCall {
    return { op: layerNormOp, operands: [x, this.weight, this.bias], options: { normalizedShape: this.normalizedShape, eps: this.eps } };
  }
}
