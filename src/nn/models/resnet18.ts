// ResNet18 (torchvision's topology and state_dict names) as a graph for inference, and a loader
// for its weights from a safetensors file (as exported from PyTorch: num_batches_tracked included).
import { Graph, type GraphNode } from '../../graph/graph.js';
import { GraphExecutor } from '../../graph/executor.js';
import { foldBatchNormOnHost } from '../../graph/fold.js';
import { decodeSafetensors, toFloat32, type Dtype } from '../../io/safetensors.js';
import type { Engine } from '../../runtime/engine.js';
import { Tensor, describeValue, shapeString, type Shape } from '../../runtime/tensor.js';

export interface ResNet18Options {
  /** Rows of fc (default 1000, ImageNet's classes). */
  numClasses?: number;
  /**
   * The weights come with every batch norm folded into its convolution (foldResNet18BatchNorms):
   * a bias per convolution (`conv1.bias`, `layer2.0.downsample.0.bias`, ...) and no batch norm
   * tensors. Default false: torchvision's state_dict as it is.
   */
  foldedBatchNorms?: boolean;
}

/** Weights by state_dict name: a Map or a plain object. */
export type StateDict<T> = ReadonlyMap<string, T> | Readonly<Record<string, T>>;

/** [stage name, channels, stride of its first block] for torchvision's resnet18 (BasicBlock x [2, 2, 2, 2]). */
const STAGES: ReadonlyArray<readonly [string, number, number]> = [
  ['layer1', 64, 1],
  ['layer2', 128, 2],
  ['layer3', 256, 2],
  ['layer4', 512, 2],
];
const BLOCKS_PER_STAGE = 2;
const BN_TENSORS = ['weight', 'bias', 'running_mean', 'running_var'];

/** Every float tensor of torchvision's resnet18 state_dict with its shape, in state_dict order. */
export function resnet18StateShapes(options: ResNet18Options = {}): Map<string, number[]> {
  const numClasses = options.numClasses ?? 1000;
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`ResNet18: numClasses must be a positive integer, got ${numClasses}`);
  const shapes = new Map<string, number[]>();
  const bn = (prefix: string, c: number) => BN_TENSORS.forEach((t) => shapes.set(`${prefix}.${t}`, [c]));
  shapes.set('conv1.weight', [64, 3, 7, 7]);
  bn('bn1', 64);
  let inChannels = 64;
  for (const [stage, channels, stride] of STAGES) {
    for (let b = 0; b < BLOCKS_PER_STAGE; b++) {
      const prefix = `${stage}.${b}`;
      const cin = b === 0 ? inChannels : channels;
      shapes.set(`${prefix}.conv1.weight`, [channels, cin, 3, 3]);
      bn(`${prefix}.bn1`, channels);
      shapes.set(`${prefix}.conv2.weight`, [channels, channels, 3, 3]);
      bn(`${prefix}.bn2`, channels);
      if (b === 0 && (stride !== 1 || cin !== channels)) {
        shapes.set(`${prefix}.downsample.0.weight`, [channels, cin, 1, 1]);
        bn(`${prefix}.downsample.1`, channels);
      }
    }
    inChannels = channels;
  }
  shapes.set('fc.weight', [numClasses, 512]);
  shapes.set('fc.bias', [numClasses]);
  if (!options.foldedBatchNorms) return shapes;
  const folded = new Map<string, number[]>();
  for (const [name, shape] of shapes) {
    if (batchNormTensor(name)) continue;
    folded.set(name, shape);
    if (shape.length === 4) folded.set(name.replace(/weight$/, 'bias'), [shape[0]!]);
  }
  return folded;
}

/** The batch norm after a convolution: conv1 -> bn1, layer1.0.conv2 -> layer1.0.bn2, downsample.0 -> downsample.1. */
function batchNormAfter(conv: string): string {
  return conv.endsWith('downsample.0') ? conv.replace(/0$/, '1') : conv.replace(/conv(\d)$/, 'bn$1');
}

function batchNormTensor(name: string): boolean {
  return /(^|\.)(bn\d|downsample\.1)\./.test(name);
}

export class StateDictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateDictError';
  }
}

function entriesOf<T>(dict: StateDict<T>): Array<[string, T]> {
  return dict instanceof Map ? [...dict] : Object.entries(dict as Readonly<Record<string, T>>);
}

/** PyTorch's batch norm step counter: in every exported state_dict, meaningless for inference. */
function isBatchCounter(name: string, expected: ReadonlyMap<string, unknown>): boolean {
  return name.endsWith('.num_batches_tracked') && expected.has(name.replace(/num_batches_tracked$/, 'running_mean'));
}

function listed(names: string[], limit = 12): string {
  const shown = names.slice(0, limit).join(', ');
  return names.length > limit ? `${shown} and ${names.length - limit} more` : shown;
}

/**
 * Checks that `weights` holds exactly the `expected` tensors (name -> shape), num_batches_tracked
 * counters aside. Throws one StateDictError naming every missing, unexpected and mis-shaped tensor.
 */
export function checkStateDict(model: string, weights: StateDict<{ readonly shape: Shape }>, expected: ReadonlyMap<string, Shape>): void {
  const found = new Map(entriesOf(weights));
  const missing = [...expected.keys()].filter((n) => !found.has(n));
  const unexpected = [...found.keys()].filter((n) => !expected.has(n) && !isBatchCounter(n, expected));
  const misshaped: string[] = [];
  for (const [name, shape] of expected) {
    const got = found.get(name)?.shape;
    if (got && (got.length !== shape.length || got.some((d, i) => d !== shape[i]))) {
      misshaped.push(`${name} (expected ${shapeString(shape)}, got ${shapeString(got)})`);
    }
  }
  const problems: string[] = [];
  const count = (n: number, what: string) => `${n} ${what} tensor${n === 1 ? '' : 's'}`;
  if (missing.length > 0) problems.push(`${count(missing.length, 'missing')}: ${listed(missing)}`);
  if (unexpected.length > 0) problems.push(`${count(unexpected.length, 'unexpected')}: ${listed(unexpected)}`);
  if (misshaped.length > 0) problems.push(`${count(misshaped.length, 'mis-shaped')}: ${listed(misshaped)}`);
  if (problems.length > 0) throw new StateDictError(`${model} state dict: ${problems.join('; ')}`);
}

const BN_EPS = 1e-5;

/**
 * ResNet18's inference graph over GPU weights named as torchvision's state_dict (or its folded
 * form, options.foldedBatchNorms): input 'image' [N, 3, H, W] (ImageNet-normalised), output
 * 'logits' [N, numClasses]. The weights are borrowed: keep them alive while the graph is in use.
 */
export function resnet18Graph(weights: StateDict<Tensor>, options: ResNet18Options = {}): Graph {
  const expected = resnet18StateShapes(options);
  checkStateDict('ResNet18', weights, expected);
  const tensors = new Map(entriesOf(weights));
  const g = new Graph();
  const constant = (name: string) => g.constant(name, tensors.get(name)!);
  // A convolution and the batch norm after it (already in its weights and bias when folded).
  const convBn = (x: GraphNode, name: string, stride: number, padding: number) => {
    if (options.foldedBatchNorms) return g.conv2d(x, constant(`${name}.weight`), constant(`${name}.bias`), { stride, padding }, name);
    const bn = batchNormAfter(name);
    const y = g.conv2d(x, constant(`${name}.weight`), undefined, { stride, padding }, name);
    return g.batchNorm(y, constant(`${bn}.running_mean`), constant(`${bn}.running_var`), constant(`${bn}.weight`), constant(`${bn}.bias`), { eps: BN_EPS }, bn);
  };

  const image = g.input('image');
  let h = g.relu(convBn(image, 'conv1', 2, 3), 'relu');
  h = g.maxPool2d(h, { kernelSize: 3, stride: 2, padding: 1 }, 'maxpool');
  for (const [stage, , stride] of STAGES) {
    for (let b = 0; b < BLOCKS_PER_STAGE; b++) {
      const p = `${stage}.${b}`;
      const s = b === 0 ? stride : 1;
      // BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + identity), identity downsampled when the shape changes.
      const inner = g.relu(convBn(h, `${p}.conv1`, s, 1), `${p}.relu1`);
      const out = convBn(inner, `${p}.conv2`, 1, 1);
      const identity = expected.has(`${p}.downsample.0.weight`) ? convBn(h, `${p}.downsample.0`, s, 0) : h;
      h = g.relu(g.add(out, identity, `${p}.add`), `${p}.relu2`);
    }
  }
  const features = g.flatten(g.adaptiveAvgPool2d(h, 1, 'avgpool'), 1, -1, 'flatten');
  g.output('logits', g.linear(features, constant('fc.weight'), constant('fc.bias'), 'fc'));
  return g;
}

/** ResNet18 ready to classify: its weights on the GPU and a plan per input shape. */
export class ResNet18 {
  readonly executor: GraphExecutor;
  readonly numClasses: number;
  private disposed = false;

  /** Takes ownership of `weights` (disposed with the model). */
  constructor(
    readonly engine: Engine,
    private readonly weights: Map<string, Tensor>,
    options: ResNet18Options = {},
  ) {
    this.numClasses = options.numClasses ?? 1000;
    this.executor = new GraphExecutor(engine, resnet18Graph(weights, options));
  }

  /**
   * Logits [N, numClasses] (row-major) for ImageNet-normalised images [N, 3, H, W]: host values of
   * that shape, or a GPU tensor (kept on the GPU; keep it alive until this resolves). The first
   * call for a shape compiles its plan; later calls with the same shape reuse it.
   */
  async classify(images: Tensor): Promise<Float32Array>;
  async classify(images: Float32Array, shape: readonly [number, number, number, number] | Shape): Promise<Float32Array>;
  async classify(images: Float32Array | Tensor, shape?: Shape): Promise<Float32Array> {
    if (this.disposed) throw new Error('ResNet18 used after dispose()');
    if (!(images instanceof Tensor || images instanceof Float32Array)) {
      const hint = ArrayBuffer.isView(images) ? ' (convert it with Float32Array.from)' : '';
      throw new Error(`ResNet18.classify: expected a Tensor or a Float32Array with its shape, got ${describeValue(images)}${hint}`);
    }
    if (images instanceof Float32Array && !Array.isArray(shape)) throw new Error(`ResNet18.classify: a Float32Array needs its shape [N, 3, H, W], got ${describeValue(shape)}`);
    const image = images instanceof Float32Array ? { data: images, shape: shape! } : images;
    const out = await this.executor.run({ image });
    return out.logits!;
  }

  /** Frees the plans and the weights. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.executor.dispose();
    for (const t of this.weights.values()) t.dispose();
  }
}

/** One host array with its shape. */
export interface HostTensor {
  readonly shape: Shape;
  readonly data: Float32Array;
}

/** Host arrays for `resnet18FromArrays`: any float32 data with its shape, by state_dict name. */
export type HostWeights = StateDict<HostTensor>;

/**
 * torchvision's resnet18 state_dict with every batch norm folded into the convolution before it,
 * on the host in float64 (the graph's fold, src/graph/fold.ts), as an exported inference model carries them: half the weights to upload, and nothing
 * to fold on the GPU when the model first runs. The graph's own fold rewrite does the same for
 * any graph; this is the cheaper place for weights that are still on the host.
 */
export function foldResNet18BatchNorms(weights: HostWeights, options: { numClasses?: number } = {}): Map<string, HostTensor> {
  const expected = resnet18StateShapes({ numClasses: options.numClasses });
  checkStateDict('ResNet18', weights, expected);
  const found = new Map(entriesOf(weights));
  const folded = new Map<string, HostTensor>();
  for (const [name, shape] of expected) {
    if (batchNormTensor(name)) continue;
    const w = found.get(name)!;
    if (shape.length !== 4) {
      folded.set(name, w);
      continue;
    }
    const conv = name.replace(/\.weight$/, '');
    const bn = batchNormAfter(conv);
    const [weight, bias, mean, variance] = ['weight', 'bias', 'running_mean', 'running_var'].map((t) => found.get(`${bn}.${t}`)!);
    const f = foldBatchNormOnHost({ shape, data: w.data }, undefined, { mean: mean!, variance: variance!, weight, bias, eps: BN_EPS });
    folded.set(name, f.weight);
    folded.set(`${conv}.bias`, f.bias);
  }
  return folded;
}

/**
 * ResNet18 from host arrays (e.g. seeded weights): checked against torchvision's names and shapes
 * (extra num_batches_tracked entries are ignored), its batch norms folded on the host (unless
 * options.foldedBatchNorms says they already are), uploaded, and wrapped in a ResNet18.
 */
export function resnet18FromArrays(engine: Engine, weights: HostWeights, options: ResNet18Options = {}): ResNet18 {
  const numClasses = options.numClasses;
  let folded: ReadonlyMap<string, HostTensor>;
  if (options.foldedBatchNorms) {
    checkStateDict('ResNet18 (batch norms folded)', weights, resnet18StateShapes(options));
    folded = new Map(entriesOf(weights));
  } else {
    folded = foldResNet18BatchNorms(weights, { numClasses });
  }
  const tensors = new Map<string, Tensor>();
  for (const name of resnet18StateShapes({ numClasses, foldedBatchNorms: true }).keys()) {
    const t = folded.get(name)!;
    tensors.set(name, engine.tensor(t.data, t.shape));
  }
  return new ResNet18(engine, tensors, { numClasses, foldedBatchNorms: true });
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

/** ResNet18 for inference from a safetensors state_dict (readResNet18Weights, then resnet18FromArrays). */
export async function loadResNet18(engine: Engine, bytes: Uint8Array, options: ResNet18Options & { source?: string } = {}): Promise<ResNet18> {
  const { weights, numClasses } = readResNet18Weights(bytes, options);
  return resnet18FromArrays(engine, weights, { numClasses });
}
