// ResNet18 for inference: its graph traced from the trainable module (resnet18-module.ts, the one
// definition of the network), weights loaded from a safetensors file (as exported from PyTorch:
// num_batches_tracked included), batch norms folded once when the model loads.
import { traceModule } from '../../autograd/trace.js';
import { GraphExecutor } from '../../graph/executor.js';
import type { ConstantValue, Graph, GraphNode } from '../../graph/graph.js';
import { uploadHostConstants } from '../../graph/plan.js';
import { rewriteForInference } from '../../graph/rewrite.js';
import type { Engine } from '../../runtime/engine.js';
import { Tensor, describeValue, type Shape } from '../../runtime/tensor.js';
import { readResNet18Weights, resnet18Structure } from './resnet18-module.js';
import { checkStateDict, entriesOf, type HostTensor, type HostWeights, type StateDict } from './state-dict.js';

export { checkStateDict, StateDictError, type HostTensor, type HostWeights, type StateDict } from './state-dict.js';
export { readResNet18Weights, resnet18StateShapes } from './resnet18-module.js';

export interface ResNet18Options {
  /** Rows of fc (default 1000, ImageNet's classes). */
  numClasses?: number;
}

/** The example input a trace reads shapes from (any [N, 3, H >= 32, W >= 32] compiles). */
const TRACE_INPUT = { name: 'image', shape: [1, 3, 224, 224] };

/**
 * ResNet18's inference graph: ResNet18Module in evaluation mode traced into a graph whose
 * constants are `weights`, named and shaped as torchvision's state_dict (num_batches_tracked
 * counters accepted and ignored): GPU tensors (borrowed: keep them alive while the graph is in
 * use) or host values. Input 'image' [N, 3, H, W] (ImageNet-normalised), output 'logits'
 * [N, numClasses]. Compiling it folds the batch norms (rewriteForInference).
 */
export function resnet18Graph(weights: StateDict<ConstantValue>, options: ResNet18Options = {}): Graph {
  const model = resnet18Structure(options.numClasses);
  const expected = model.stateShapes();
  checkStateDict('ResNet18', weights, expected);
  const constants = new Map(entriesOf(weights).filter(([name]) => expected.has(name)));
  return traceModule(model, TRACE_INPUT, { output: 'logits', constants });
}

/**
 * The weight (and bias) of every node of a graph with parameters (convolution, linear), named
 * after the node ('layer1.0.conv1.weight', 'fc.bias'): host values, where the graph's constants
 * are on the host.
 */
function parametersOf(graph: Graph): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  const add = (name: string, n: GraphNode | undefined) => n?.host && out.set(name, n.host);
  for (const node of graph.nodes) {
    if (node.op !== 'conv2d' && node.op !== 'linear') continue;
    add(`${node.name}.weight`, node.inputs[1]);
    add(`${node.name}.bias`, node.inputs[2]);
  }
  return out;
}

/**
 * torchvision's resnet18 state_dict with every batch norm folded into the convolution before it
 * (on the host, float64: the graph's fold, src/graph/fold.ts), as an exported inference model
 * carries them: a weight and a bias per convolution, fc, and no batch norm tensors.
 */
export function foldResNet18BatchNorms(weights: HostWeights, options: ResNet18Options = {}): Map<string, HostTensor> {
  const { graph } = rewriteForInference(resnet18Graph(weights, options), { fuse: false });
  return parametersOf(graph);
}

/** ResNet18 ready to classify: its weights on the GPU and a plan per input shape. */
export class ResNet18 {
  readonly executor: GraphExecutor;
  readonly numClasses: number;
  private readonly owned: Tensor[];
  private disposed = false;

  /**
   * Folds the batch norms now (on the host for host weights, which are then uploaded folded; on
   * the GPU for GPU tensors) so the first run only compiles. Takes ownership of the GPU tensors
   * among `weights` (disposed with the model).
   */
  constructor(
    readonly engine: Engine,
    weights: StateDict<Tensor | HostTensor>,
    options: ResNet18Options = {},
  ) {
    this.numClasses = options.numClasses ?? 1000;
    const given = entriesOf(weights).flatMap(([, t]) => (t instanceof Tensor ? [t] : []));
    const folded = rewriteForInference(resnet18Graph(weights, options), { fuse: false });
    try {
      const { graph, owned } = uploadHostConstants(engine, folded.graph);
      this.owned = [...given, ...folded.owned, ...owned];
      this.executor = new GraphExecutor(engine, graph);
    } catch (err) {
      for (const t of folded.owned) t.dispose();
      throw err;
    }
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
    for (const t of this.owned) t.dispose();
  }
}

/**
 * ResNet18 from host arrays (e.g. seeded weights) named as torchvision's state_dict (extra
 * num_batches_tracked entries are ignored): batch norms folded on the host, the result uploaded.
 */
export function resnet18FromArrays(engine: Engine, weights: HostWeights, options: ResNet18Options = {}): ResNet18 {
  return new ResNet18(engine, weights, options);
}

/** ResNet18 for inference from a safetensors state_dict (readResNet18Weights, then resnet18FromArrays). */
export async function loadResNet18(engine: Engine, bytes: Uint8Array, options: ResNet18Options & { source?: string } = {}): Promise<ResNet18> {
  const { weights, numClasses } = readResNet18Weights(bytes, options);
  return resnet18FromArrays(engine, weights, { numClasses });
}
