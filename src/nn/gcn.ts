// Graph convolutional networks with PyTorch Geometric's semantics and parameter names:
//   GCNConv          Kipf & Welling's layer: out = Â (x lin.weight^T) + bias, Â = D^-1/2 (A + I) D^-1/2;
//   GCN              two GCNConv layers for node classification (ReLU and dropout between);
//   GraphClassifier  GCNConv layers, a readout per graph, a Linear classifier.
// A graph module's input is node features plus the graph they live on: `callGraph(tape, x, input)`
// (which runs the module's hooks, as `call` does).
import type { Tape } from '../autograd/tape.js';
import { parameter, type Variable } from '../autograd/variable.js';
import { fail } from '../ops/check.js';
import { csrOperands, readoutOp, spmmOp, type ReadoutIndex, type ReadoutReduce } from '../ops/sparse.js';
import type { Engine } from '../runtime/engine.js';
import { shapeString } from '../runtime/tensor.js';
import type { GcnGraph } from './gcn-graph.js';
import { defaultRng, type Rng } from './init.js';
import { Dropout } from './layers.js';
import { Linear } from './linear.js';
import { Module } from './module.js';

/** What a graph module runs on besides the node features. */
export interface GraphInput {
  graph: GcnGraph;
  /** Per-edge weights [E] that a gradient may flow into (default: the graph's own, or ones). */
  edgeWeight?: Variable;
  /** Which graph each node belongs to (graph classification). */
  readout?: ReadoutIndex;
}

/** A module whose forward pass needs a graph: call it with callGraph. */
export abstract class GraphModule extends Module {
  private input: GraphInput | undefined;

  abstract forwardGraph(tape: Tape, x: Variable, input: GraphInput): Variable;

  /** Runs the module on node features x and its graph, then its hooks (as `call` does). */
  callGraph(tape: Tape, x: Variable, input: GraphInput): Variable {
    const outer = this.input;
    this.input = input;
    try {
      return this.call(tape, x);
    } finally {
      this.input = outer;
    }
  }

  forward(tape: Tape, x: Variable): Variable {
    if (!this.input) fail(this.constructor.name, 'needs a graph: call it with callGraph(tape, x, { graph })');
    return this.forwardGraph(tape, x, this.input);
  }
}

/**
 * PyG's glorot: uniform in +-sqrt(6 / (fan_in + fan_out)) for a weight [out, in], the
 * initialisation GCNConv's lin.weight gets.
 */
export function glorotUniform(shape: readonly [number, number], rng: Rng): Float32Array {
  const [out, inF] = shape;
  const bound = out + inF > 0 ? Math.sqrt(6 / (out + inF)) : 0;
  return rng.uniform(out * inF, -bound, bound);
}

/** A bias-free linear map holding GCNConv's `lin.weight` [out, in]. */
class GraphLinear extends Module {
  readonly weight: Variable;

  constructor(engine: Engine, inChannels: number, outChannels: number, rng: Rng) {
    super();
    this.weight = this.registerParameter('weight', parameter(engine.tensor(glorotUniform([outChannels, inChannels], rng), [outChannels, inChannels])));
  }

  forward(tape: Tape, x: Variable): Variable {
    return tape.linear(x, this.weight);
  }
}

export interface GCNConvOptions {
  /** Add a learned bias [out] after propagating (default true; initialised to 0). */
  bias?: boolean;
  /** Normalise symmetrically (default true). */
  normalize?: boolean;
  /** Add the remaining self-loops (default: normalize; PyG refuses them without normalize). */
  addSelfLoops?: boolean;
  /** Initialisation draws from this generator (default: the global one, see manualSeed). */
  rng?: Rng;
}

/**
 * PyG's GCNConv(in_channels, out_channels, bias, normalize, add_self_loops): H = x lin.weight^T,
 * then out[i] = sum over edges j -> i (and i's self-loop) of norm(j, i) H[j], plus bias, where
 * norm(j, i) = w(j, i) / sqrt(deg(j) deg(i)) and deg counts the weight into a node. Messages flow
 * source -> target; an isolated node keeps (a scaled copy of) its own features.
 */
export class GCNConv extends GraphModule {
  readonly lin: GraphLinear;
  readonly bias: Variable | undefined;
  readonly normalize: boolean;
  readonly addSelfLoops: boolean;

  constructor(
    engine: Engine,
    readonly inChannels: number,
    readonly outChannels: number,
    options: GCNConvOptions = {},
  ) {
    super();
    for (const [what, v] of [['inChannels', inChannels], ['outChannels', outChannels]] as const) {
      if (!Number.isInteger(v) || v < 1) fail('GCNConv', `${what} must be a positive integer, got ${v}`);
    }
    this.normalize = options.normalize ?? true;
    this.addSelfLoops = options.addSelfLoops ?? this.normalize;
    if (this.addSelfLoops && !this.normalize) fail('GCNConv', 'addSelfLoops needs normalize (PyG adds self-loops only while normalising)');
    const rng = options.rng ?? defaultRng();
    this.lin = this.registerModule('lin', new GraphLinear(engine, inChannels, outChannels, rng));
    this.bias = options.bias === false ? undefined : this.registerParameter('bias', parameter(engine.zeros([outChannels])));
  }

  forwardGraph(tape: Tape, x: Variable, { graph, edgeWeight }: GraphInput): Variable {
    if (x.shape.length !== 2 || x.shape[0] !== graph.numNodes || x.shape[1] !== this.inChannels) {
      fail('GCNConv', `expected node features [${graph.numNodes}, ${this.inChannels}] (nodes, inChannels), got ${shapeString(x.shape)}`);
    }
    const h = this.lin.call(tape, x);
    const values = graph.values(tape, { normalize: this.normalize, addSelfLoops: this.addSelfLoops }, edgeWeight);
    return tape.apply(spmmOp, [h, values, ...csrOperands(graph.structure(this.addSelfLoops).matrix), this.bias], {});
  }
}

export interface GCNOptions {
  /** Hidden channels (default 16, as Kipf & Welling). */
  hidden?: number;
  /** Dropout before each layer in training mode (default 0.5, as Kipf & Welling; 0 for none). */
  dropout?: number;
  rng?: Rng;
}

/** Kipf & Welling's two-layer GCN: conv2(dropout(relu(conv1(dropout(x))))), logits per node. */
export class GCN extends GraphModule {
  readonly conv1: GCNConv;
  readonly conv2: GCNConv;
  private readonly drop1: Dropout;
  private readonly drop2: Dropout;

  constructor(engine: Engine, inChannels: number, classes: number, options: GCNOptions = {}) {
    super();
    const { hidden = 16, dropout = 0.5 } = options;
    const rng = options.rng ?? defaultRng();
    this.drop1 = this.registerModule('drop1', new Dropout(dropout, { rng }));
    this.conv1 = this.registerModule('conv1', new GCNConv(engine, inChannels, hidden, { rng }));
    this.drop2 = this.registerModule('drop2', new Dropout(dropout, { rng }));
    this.conv2 = this.registerModule('conv2', new GCNConv(engine, hidden, classes, { rng }));
  }

  /** The hidden layer, relu(conv1(dropout(x))): [nodes, hidden]. */
  embed(tape: Tape, x: Variable, input: GraphInput): Variable {
    return tape.relu(this.conv1.callGraph(tape, this.drop1.call(tape, x), input));
  }

  forwardGraph(tape: Tape, x: Variable, input: GraphInput): Variable {
    return this.conv2.callGraph(tape, this.drop2.call(tape, this.embed(tape, x, input)), input);
  }
}

export interface GraphClassifierOptions {
  /** Channels of every GCNConv layer (default 32). */
  hidden?: number;
  /** GCNConv layers (default 3). */
  layers?: number;
  /** How node features become one vector per graph (default 'sum': it counts, a mean cannot). */
  readout?: ReadoutReduce;
  rng?: Rng;
}

/** Graph classification: GCNConv + ReLU layers, a readout over each graph's nodes, a Linear layer. */
export class GraphClassifier extends GraphModule {
  readonly convs: GCNConv[] = [];
  readonly lin: Linear;
  readonly reduce: ReadoutReduce;

  constructor(engine: Engine, inChannels: number, classes: number, options: GraphClassifierOptions = {}) {
    super();
    const { hidden = 32, layers = 3, readout = 'sum' } = options;
    if (!Number.isInteger(layers) || layers < 1) fail('GraphClassifier', `layers must be a positive integer, got ${layers}`);
    const rng = options.rng ?? defaultRng();
    for (let i = 0; i < layers; i++) {
      this.convs.push(this.registerModule(`conv${i + 1}`, new GCNConv(engine, i === 0 ? inChannels : hidden, hidden, { rng })));
    }
    this.lin = this.registerModule('lin', new Linear(engine, hidden, classes, { rng }));
    this.reduce = readout;
  }

  forwardGraph(tape: Tape, x: Variable, input: GraphInput): Variable {
    const index = input.readout;
    if (!index) fail('GraphClassifier', 'needs a readout index (which graph each node belongs to): use graphBatch');
    let h = x;
    for (const conv of this.convs) h = tape.relu(conv.callGraph(tape, h, input));
    const pooled = tape.apply(readoutOp, [h, index.batch, index.graphPtr, index.nodeIds], { reduce: this.reduce });
    return this.lin.call(tape, pooled);
  }
}
