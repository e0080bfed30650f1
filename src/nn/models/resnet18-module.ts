// ResNet18 as a trainable Module, the one definition of the network: torchvision's topology,
// parameter and buffer names (conv1, bn1, layer1.0.conv1, ..., layer2.0.downsample.0/1, fc) and
// initialisation, run on an autograd Tape. Its inference graph (resnet18.ts) and its state dict's
// names and shapes are derived from it. Batch norms can be pinned to their running statistics (a
// frozen backbone's, see src/nn/transfer.ts), and a block whose every parameter is frozen and
// whose input needs no gradient runs as inference does: its traced graph, rewritten (batch norm
// folded into the convolution, the residual add and ReLU in the GEMM's epilogue), nothing recorded.
import type { Tape } from '../../autograd/tape.js';
import { HashStream } from '../../data/random.js';
import { parameter, type Variable } from '../../autograd/variable.js';
import { conv2dOp } from '../../ops/conv.js';
import type { Engine } from '../../runtime/engine.js';
import type { Tensor } from '../../runtime/tensor.js';
import type { ConvAttributes } from '../../ops/conv-args.js';
import { FrozenGraph } from '../frozen.js';
import { Rng } from '../init.js';
import { AdaptiveAvgPool2d, MaxPool2d } from '../layers.js';
import { Linear } from '../linear.js';
import { Module, OpModule, type LoadStateDictOptions, type LoadStateDictResult, type OpCall, type StateDict } from '../module.js';
import { BatchNorm2d } from '../norm.js';
import { Sequential } from '../sequential.js';
import { decodeSafetensors, toFloat32, type Dtype } from '../../io/safetensors.js';
import { META_ENGINE } from '../meta.js';
import { checkStateDict, listed, stateShapes, StateDictError, type HostTensor, type HostWeights } from './state-dict.js';

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

  override get usesBatchStatistics(): boolean {
    return !this.pinned && super.usesBatchStatistics;
  }

  /** Whether this forward pass uses the running statistics (evaluation mode or pinned). */
  get usesRunningStats(): boolean {
    return !this.usesBatchStatistics;
  }
}

/**
 * Samples of N(0, std^2) as float32, Box-Muller over the HashStream named after the layer (a pure
 * function of name, seed and index, and fast: a ResNet18 holds 11M convolution weights).
 */
function seededNormal(name: string, seed: number, n: number, std: number): Float32Array {
  return new HashStream(`${name}.normal`, seed).normal(n, std);
}

/**
 * nn.Conv2d without bias, initialised as torchvision's ResNet does:
 * kaiming_normal_(mode='fan_out', nonlinearity='relu'), std = sqrt(2 / (out * kH * kW)).
 * Parameter: weight [out, in, k, k].
 */
export class ResNetConv2d extends OpModule {
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

  opCall(x: Variable): OpCall {
    return { op: conv2dOp, operands: [x, this.weight], options: { ...this.options } };
  }
}

/**
 * The stem, relu(bn1(conv1(x))): a module of its own so that it can run as its graph when frozen.
 * ResNet18Module registers conv1 and bn1 itself (torchvision's names); the stem only uses them.
 */
class ResNetStem extends Module {
  readonly frozen = new FrozenGraph(this);

  constructor(
    readonly conv1: ResNetConv2d,
    readonly bn1: ResNetBatchNorm2d,
  ) {
    super();
    this.registerModule('conv1', conv1);
    this.registerModule('bn1', bn1);
  }

  forward(tape: Tape, x: Variable): Variable {
    return this.frozen.forward(tape, x, () => tape.relu(this.bn1.call(tape, this.conv1.call(tape, x))));
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
  /** The block as its inference graph, when nothing in it needs a gradient. */
  readonly frozen = new FrozenGraph(this);

  /** `name` ('layer2.0') and `seed` pick the random streams of its convolutions (undefined: zeros). */
  constructor(engine: Engine, name: string, seed: number | undefined, inChannels: number, channels: number, stride: number) {
    super();
    this.conv1 = this.registerModule('conv1', new ResNetConv2d(engine, `${name}.conv1`, seed, inChannels, channels, 3, stride, 1));
    this.bn1 = this.registerModule('bn1', new ResNetBatchNorm2d(engine, channels));
    this.conv2 = this.registerModule('conv2', new ResNetConv2d(engine, `${name}.conv2`, seed, channels, channels, 3, 1, 1));
    this.bn2 = this.registerModule('bn2', new ResNetBatchNorm2d(engine, channels));
    if (stride !== 1 || inChannels !== channels) {
      const conv = new ResNetConv2d(engine, `${name}.downsample.0`, seed, inChannels, channels, 1, stride, 0);
      this.downsample = this.registerModule('downsample', new Sequential(conv, new ResNetBatchNorm2d(engine, channels)));
    }
  }

  forward(tape: Tape, x: Variable): Variable {
    return this.frozen.forward(tape, x, () => {
      // torchvision's order: the residual branch, then the shortcut.
      const out = this.bn2.call(tape, this.conv2.call(tape, tape.relu(this.bn1.call(tape, this.conv1.call(tape, x)))));
      const identity = this.downsample ? this.downsample.call(tape, x) : x;
      return tape.relu(tape.add(out, identity));
    });
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
  private readonly stem: ResNetStem;

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
    this.stem = new ResNetStem(this.conv1, this.bn1);
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
    let h = this.maxpool.call(tape, this.stem.call(tape, x));
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
    return stateShapes(this.stateDict());
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
    this.stem.frozen.forget();
    for (const layer of [this.layer1, this.layer2, this.layer3, this.layer4]) {
      for (const [, block] of layer.namedChildren()) (block as BasicBlock).frozen.forget();
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

const structures = new Map<number, ResNet18Module>();

/**
 * ResNet18 built for its structure alone (on the meta engine: shapes, no data), in evaluation
 * mode: what its state dict's names and shapes and its inference graph are derived from. Shared
 * per numClasses; nothing changes it.
 */
export function resnet18Structure(numClasses = 1000): ResNet18Module {
  let model = structures.get(numClasses);
  if (!model) {
    model = new ResNet18Module(META_ENGINE, { numClasses, init: false }).eval();
    structures.set(numClasses, model);
  }
  return model;
}

/** Every float tensor of torchvision's resnet18 state_dict with its shape, in state_dict order (the module's). */
export function resnet18StateShapes(options: { numClasses?: number } = {}): Map<string, number[]> {
  return resnet18Structure(options.numClasses).stateShapes();
}

const FLOAT_DTYPES: ReadonlySet<Dtype> = new Set(['F64', 'F32', 'F16', 'BF16']);

/**
 * The float32 arrays of a safetensors file holding torchvision's resnet18 state_dict (as written
 * by scripts/export_resnet18.py), and numClasses (by default the rows of the file's fc.weight).
 * Refuses a malformed or truncated file, and missing, unexpected, mis-shaped or non-float
 * tensors, by name.
 */
export function readResNet18Weights(bytes: Uint8Array, options: { numClasses?: number; source?: string } = {}): { weights: Map<string, HostTensor>; numClasses: number } {
  const { tensors } = decodeSafetensors(bytes, options.source ?? '');
  const fc = tensors.get('fc.weight');
  const numClasses = options.numClasses ?? (fc?.shape.length === 2 ? fc.shape[0]! : 1000);
  const expected = resnet18StateShapes({ numClasses });
  checkStateDict('ResNet18', tensors, expected);
  const notFloat = [...expected.keys()].filter((n) => !FLOAT_DTYPES.has(tensors.get(n)!.dtype));
  if (notFloat.length > 0) {
    const described = notFloat.map((n) => `${n} (${tensors.get(n)!.dtype})`);
    throw new StateDictError(`ResNet18 state dict: expected floating-point tensors, got ${listed(described)}`);
  }
  const weights = new Map([...expected.keys()].map((n) => [n, { shape: tensors.get(n)!.shape, data: toFloat32(tensors.get(n)!) }]));
  return { weights, numClasses };
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
