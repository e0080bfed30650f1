// ResNet18 as a trainable Module: torchvision's topology, parameter and buffer names
// (conv1, bn1, layer1.0.conv1, ..., layer2.0.downsample.0/1, fc) and initialisation, run on an
// autograd Tape. Batch norms can be pinned to their running statistics (a frozen backbone's, see
// src/nn/transfer.ts), and a block whose every parameter is frozen and whose input needs no
// gradient runs as inference does: batch norm folded into the convolution, the residual add and
// ReLU in the GEMM's epilogue, nothing recorded.
import type { Tape } from '../../autograd/tape.js';
import { constant, parameter, type Variable } from '../../autograd/variable.js';
import { foldBatchNorm } from '../../graph/fold.js';
import type { Engine } from '../../runtime/engine.js';
import type { Tensor } from '../../runtime/tensor.js';
import type { ConvAttributes } from '../../ops/conv-args.js';
import { Rng } from '../init.js';
import { AdaptiveAvgPool2d, MaxPool2d } from '../layers.js';
import { Linear } from '../linear.js';
import { Module, type LoadStateDictOptions, type LoadStateDictResult, type StateDict } from '../module.js';
import { BatchNorm2d } from '../norm.js';
import { Sequential } from '../sequential.js';
import { seededUniform } from './seeded-weights.js';
import { checkStateDict, readResNet18Weights, resnet18StateShapes, StateDictError, type HostWeights } from './resnet18.js';

export interface ResNet18ModuleOptions {
  /** Rows of fc (default 1000, ImageNet's classes). */
  numClasses?: number;
  /** Seeds the initial weights (default 0). */
  seed?: number;
  /**
   * false leaves the convolution weights at zero instead of drawing them (11M values): for a
   * model whose weights are loaded right after (loadWeights, loadStateDict). Default true.
   */
  init?: boolean;
}

/** Stage name, channels, stride of its first block: torchvision's resnet18 (BasicBlock x [2, 2, 2, 2]). */
const STAGES = [
  ['layer1', 64, 1],
  ['layer2', 128, 2],
  ['layer3', 256, 2],
  ['layer4', 512, 2],
] as const;

/** The stages in forward order: the stem (conv1 + bn1), the four residual stages, the classifier. */
export type ResNetStage = 'stem' | 'layer1' | 'layer2' | 'layer3' | 'layer4' | 'fc';
export const RESNET_STAGES: readonly ResNetStage[] = ['stem', 'layer1', 'layer2', 'layer3', 'layer4', 'fc'];

/**
 * BatchNorm2d that can be pinned to its running statistics: pinned, it normalises with them and
 * leaves them alone in training mode too (a frozen backbone's batch norm), without changing the
 * module's `training` flag, so model.train() cannot unpin it.
 */
export class ResNetBatchNorm2d extends BatchNorm2d {
  pinned = false;

  /** Whether this forward pass uses the running statistics (evaluation mode or pinned). */
  get usesRunningStats(): boolean {
    return this.pinned || !this.training;
  }

  override forward(tape: Tape, x: Variable): Variable {
    if (!this.pinned) return super.forward(tape, x);
    if (x.shape.length !== 4) throw new Error(`BatchNorm2d: expected 4D input (got ${x.shape.length}D input)`);
    return tape.batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias, { training: false, eps: this.eps });
  }
}

/**
 * Samples of N(0, std^2) as float32: Box-Muller over the seeded hash generator of
 * seeded-weights.ts (a pure function of name, seed and index, and fast: a ResNet18 holds 11M
 * convolution weights).
 */
function seededNormal(name: string, seed: number, n: number, std: number): Float32Array {
  const u = seededUniform(`${name}.normal`, seed, 2 * Math.ceil(n / 2));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    // (u + 1) / 2 is in [0, 1); one minus it is in (0, 1], where the logarithm is finite.
    const radius = std * Math.sqrt(-2 * Math.log(1 - (u[i]! + 1) / 2));
    const angle = Math.PI * (u[i + 1]! + 1);
    out[i] = radius * Math.cos(angle);
    if (i + 1 < n) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}

/**
 * nn.Conv2d without bias, initialised as torchvision's ResNet does:
 * kaiming_normal_(mode='fan_out', nonlinearity='relu'), std = sqrt(2 / (out * kH * kW)).
 * Parameter: weight [out, in, k, k].
 */
export class ResNetConv2d extends Module {
  readonly weight: Variable;
  readonly options: ConvAttributes;

  /** `name` (the state_dict prefix) and `seed` pick this layer's random stream; seed undefined: zeros. */
  constructor(engine: Engine, name: string, seed: number | undefined, inChannels: number, outChannels: number, kernel: number, stride: number, padding: number) {
    super();
    const shape = [outChannels, inChannels, kernel, kernel];
    const std = Math.sqrt(2 / (outChannels * kernel * kernel));
    const init = seed === undefined ? engine.zeros(shape) : engine.tensor(seededNormal(name, seed, outChannels * inChannels * kernel * kernel, std), shape);
    this.weight = this.registerParameter('weight', parameter(init));
    this.options = { stride, padding };
  }

  forward(tape: Tape, x: Variable): Variable {
    return tape.conv2d(x, this.weight, undefined, this.options);
  }
}

/** Whether x carries a gradient on this tape. */
const wantsGrad = (tape: Tape, x: Variable) => tape.gradEnabled && x.requiresGrad;

/**
 * A convolution and the batch norm after it. While the batch norm uses its running statistics and
 * no gradient is wanted (frozen weights, or a tape that records nothing), they run as one
 * convolution with the batch norm folded into its weights, the residual add and ReLU in its
 * epilogue. Folded weights of frozen parameters are kept for the next steps (no optimiser can
 * change a parameter without a gradient); they are dropped whenever the pair runs unfrozen or the
 * model's weights are loaded (ResNet18Module.clearFoldCache). Trainable weights on a recording-free
 * tape (evaluation between steps) are folded afresh each time.
 */
class ConvBn {
  private folded: { weight: Variable; bias: Variable } | undefined;

  constructor(
    readonly conv: ResNetConv2d,
    readonly bn: ResNetBatchNorm2d,
  ) {}

  private get frozen(): boolean {
    return !this.conv.weight.requiresGrad && !this.bn.weight!.requiresGrad && !this.bn.bias!.requiresGrad;
  }

  /** Whether this pair runs as inference on the tape. */
  isFrozenOn(tape: Tape): boolean {
    const hooked = this.conv.hasHooks || this.bn.hasHooks;
    return this.bn.usesRunningStats && (this.frozen || !tape.gradEnabled) && !hooked;
  }

  /** bn(conv(x)) recorded on the tape as two ops (the training path). */
  forward(tape: Tape, x: Variable): Variable {
    this.forget();
    return this.bn.call(tape, this.conv.call(tape, x));
  }

  /** relu?(bn(conv(x)) + residual?) as one folded convolution, recording nothing. */
  frozenForward(tape: Tape, x: Variable, relu: boolean, residual?: Variable): Variable {
    const keep = this.frozen;
    if (!keep) this.forget();
    const folded = this.folded ?? this.fold();
    if (keep) this.folded = folded;
    try {
      return tape.conv2d(x, folded.weight, folded.bias, { ...this.conv.options, relu, residual });
    } finally {
      // Freed once recorded: the pool hands the buffers only to work recorded after this.
      if (!keep) for (const v of [folded.weight, folded.bias]) v.dispose();
    }
  }

  private fold(): { weight: Variable; bias: Variable } {
    const { weight, bias } = foldBatchNorm(this.conv.weight.value, undefined, {
      mean: this.bn.runningMean!,
      variance: this.bn.runningVar!,
      weight: this.bn.weight!.value,
      bias: this.bn.bias!.value,
      eps: this.bn.eps,
    });
    return { weight: constant(weight), bias: constant(bias) };
  }

  forget(): void {
    this.folded?.weight.dispose();
    this.folded?.bias.dispose();
    this.folded = undefined;
  }
}

/** torchvision's BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)). */
export class BasicBlock extends Module {
  readonly conv1: ResNetConv2d;
  readonly bn1: ResNetBatchNorm2d;
  readonly conv2: ResNetConv2d;
  readonly bn2: ResNetBatchNorm2d;
  /** 1x1 convolution + batch norm on the shortcut where the shape changes (downsample.0 / .1). */
  readonly downsample: Sequential | undefined;
  private readonly pairs: { first: ConvBn; second: ConvBn; shortcut?: ConvBn };

  /** `name` ('layer2.0') and `seed` pick the random streams of its convolutions (undefined: zeros). */
  constructor(engine: Engine, name: string, seed: number | undefined, inChannels: number, channels: number, stride: number) {
    super();
    this.conv1 = this.registerModule('conv1', new ResNetConv2d(engine, `${name}.conv1`, seed, inChannels, channels, 3, stride, 1));
    this.bn1 = this.registerModule('bn1', new ResNetBatchNorm2d(engine, channels));
    this.conv2 = this.registerModule('conv2', new ResNetConv2d(engine, `${name}.conv2`, seed, channels, channels, 3, 1, 1));
    this.bn2 = this.registerModule('bn2', new ResNetBatchNorm2d(engine, channels));
    this.pairs = { first: new ConvBn(this.conv1, this.bn1), second: new ConvBn(this.conv2, this.bn2) };
    if (stride !== 1 || inChannels !== channels) {
      const conv = new ResNetConv2d(engine, `${name}.downsample.0`, seed, inChannels, channels, 1, stride, 0);
      const bn = new ResNetBatchNorm2d(engine, channels);
      this.downsample = this.registerModule('downsample', new Sequential(conv, bn));
      this.pairs.shortcut = new ConvBn(conv, bn);
    }
  }

  /** True when this block's forward pass on the tape needs nothing recorded for input x. */
  isFrozenFor(tape: Tape, x: Variable): boolean {
    const { first, second, shortcut } = this.pairs;
    return !wantsGrad(tape, x) && first.isFrozenOn(tape) && second.isFrozenOn(tape) && (!shortcut || shortcut.isFrozenOn(tape));
  }

  forward(tape: Tape, x: Variable): Variable {
    const { first, second, shortcut } = this.pairs;
    if (this.isFrozenFor(tape, x)) {
      const identity = shortcut ? shortcut.frozenForward(tape, x, false) : x;
      return second.frozenForward(tape, first.frozenForward(tape, x, true), true, identity);
    }
    const inner = tape.relu(first.forward(tape, x));
    const identity = shortcut ? shortcut.forward(tape, x) : x;
    return tape.relu(tape.add(second.forward(tape, inner), identity));
  }

  /** Drops the folded weights of its frozen pairs. */
  clearFoldCache(): void {
    for (const pair of Object.values(this.pairs)) pair.forget();
  }
}

/**
 * torchvision.models.resnet18 as a trainable Module. Input [N, 3, H, W] (ImageNet-normalised;
 * any H, W >= 32 works, 224 is the pretraining size), output logits [N, numClasses].
 * namedParameters() + namedBuffers() hold exactly torchvision's state_dict tensors under the
 * same names (num_batches_tracked, a counter this engine does not keep, is accepted and ignored
 * when loading). Initialisation as torchvision's: kaiming_normal_(fan_out) convolutions, batch
 * norm weight 1 and bias 0, nn.Linear's default for fc; seeded.
 */
export class ResNet18Module extends Module {
  readonly conv1: ResNetConv2d;
  readonly bn1: ResNetBatchNorm2d;
  readonly maxpool: MaxPool2d;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly layer4: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  /** Kept outside the registered children so that it can be replaced (see replaceFc). */
  private classifier: Linear;
  private readonly stem: ConvBn;

  constructor(
    readonly engine: Engine,
    options: ResNet18ModuleOptions = {},
  ) {
    super();
    const numClasses = options.numClasses ?? 1000;
    if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`ResNet18: numClasses must be a positive integer, got ${numClasses}`);
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`ResNet18: seed must be an integer in [0, 2^32), got ${seed}`);
    const convSeed = options.init === false ? undefined : seed;
    this.conv1 = this.registerModule('conv1', new ResNetConv2d(engine, 'conv1', convSeed, 3, 64, 7, 2, 3));
    this.bn1 = this.registerModule('bn1', new ResNetBatchNorm2d(engine, 64));
    this.stem = new ConvBn(this.conv1, this.bn1);
    this.maxpool = this.registerModule('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 }));
    const layers: Sequential[] = [];
    let inChannels = 64;
    for (const [name, channels, stride] of STAGES) {
      const blocks = [new BasicBlock(engine, `${name}.0`, convSeed, inChannels, channels, stride), new BasicBlock(engine, `${name}.1`, convSeed, channels, channels, 1)];
      layers.push(this.registerModule(name, new Sequential(...blocks)));
      inChannels = channels;
    }
    [this.layer1, this.layer2, this.layer3, this.layer4] = layers as [Sequential, Sequential, Sequential, Sequential];
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d(1));
    this.classifier = new Linear(engine, 512, numClasses, { rng: new Rng(seed) });
  }

  /** The classifier, Linear(512, numClasses). */
  get fc(): Linear {
    return this.classifier;
  }

  get numClasses(): number {
    return this.classifier.outFeatures;
  }

  /** Installs a new classifier (Linear(512, classes) on this engine) and frees the old one. */
  replaceFc(fc: Linear): void {
    if (!(fc instanceof Linear) || fc.inFeatures !== 512) throw new Error(`ResNet18: fc must be a Linear with 512 input features, got ${fc instanceof Linear ? fc.inFeatures : typeof fc}`);
    if (fc.weight.value.engine !== this.engine) throw new Error('ResNet18: the new fc belongs to a different engine');
    if (fc === this.classifier) return;
    this.classifier.dispose();
    this.classifier = fc;
  }

  override namedChildren(): Array<[string, Module]> {
    return [...super.namedChildren(), ['fc', this.classifier]];
  }

  override namedModules(prefix = ''): Array<[string, Module]> {
    return [...super.namedModules(prefix), ...this.classifier.namedModules(prefix ? `${prefix}.fc` : 'fc')];
  }

  /** The modules of one stage (the stem is conv1 + bn1). */
  stage(name: ResNetStage): Module[] {
    switch (name) {
      case 'stem':
        return [this.conv1, this.bn1];
      case 'fc':
        return [this.classifier];
      default:
        return [this[name]];
    }
  }

  /** Everything before the classifier: [N, 3, H, W] -> pooled features [N, 512]. */
  features(tape: Tape, x: Variable): Variable {
    const frozen = !wantsGrad(tape, x) && this.stem.isFrozenOn(tape);
    let h = frozen ? this.stem.frozenForward(tape, x, true) : tape.relu(this.stem.forward(tape, x));
    h = this.maxpool.call(tape, h);
    for (const layer of [this.layer1, this.layer2, this.layer3, this.layer4]) h = layer.call(tape, h);
    return tape.flatten(this.avgpool.call(tape, h), 1);
  }

  forward(tape: Tape, x: Variable): Variable {
    if (x.shape.length !== 4 || x.shape[1] !== 3) {
      throw new Error(`ResNet18: expected images [N, 3, H, W], got [${x.shape.join(', ')}]`);
    }
    return this.classifier.call(tape, this.features(tape, x));
  }

  /** The shape of every state tensor, by torchvision's name (num_batches_tracked left out). */
  stateShapes(): Map<string, number[]> {
    return resnet18StateShapes({ numClasses: this.numClasses });
  }

  /**
   * Copies host arrays (a torchvision state_dict: seeded weights, a decoded safetensors export)
   * into the parameters and buffers. Names and shapes are checked first, all of them (extra
   * num_batches_tracked counters are accepted); nothing is written when a check fails.
   */
  loadWeights(weights: HostWeights): void {
    checkStateDict('ResNet18', weights, this.stateShapes());
    const found = weights instanceof Map ? weights : new Map(Object.entries(weights));
    const own = this.stateDict();
    for (const [name, dst] of own) {
      const n = found.get(name)!.data.length;
      if (n !== dst.size) throw new StateDictError(`ResNet18 state dict: ${name} holds ${n} values, its shape needs ${dst.size}`);
    }
    for (const [name, dst] of own) this.engine.upload(dst, found.get(name)!.data);
    this.clearFoldCache();
  }

  override loadStateDict(state: StateDict | Record<string, Tensor>, options?: LoadStateDictOptions): LoadStateDictResult {
    const result = super.loadStateDict(state, options);
    this.clearFoldCache();
    return result;
  }

  /**
   * Drops the batch-norm-folded weights that frozen layers keep between steps. Loading weights
   * (loadWeights, loadStateDict) and freezeForTransfer call it; call it after writing into frozen
   * parameters or running statistics any other way.
   */
  clearFoldCache(): void {
    this.stem.forget();
    for (const layer of [this.layer1, this.layer2, this.layer3, this.layer4]) {
      for (const [, block] of layer.namedChildren()) (block as BasicBlock).clearFoldCache();
    }
  }

  override dispose(): void {
    this.clearFoldCache();
    super.dispose();
  }
}

export function resnet18Module(engine: Engine, options: ResNet18ModuleOptions = {}): ResNet18Module {
  return new ResNet18Module(engine, options);
}

/**
 * A trainable ResNet18 with the weights of a safetensors file holding torchvision's resnet18
 * state_dict (scripts/export_resnet18.py; numClasses defaults to the rows of its fc.weight).
 * Refuses missing, unexpected, mis-shaped and non-float tensors by name.
 */
export function loadResNet18Module(engine: Engine, bytes: Uint8Array, options: ResNet18ModuleOptions & { source?: string } = {}): ResNet18Module {
  const { weights, numClasses } = readResNet18Weights(bytes, options);
  const model = new ResNet18Module(engine, { ...options, numClasses, init: false });
  model.loadWeights(weights);
  return model;
}
