// Between modules and graphs, both ways. traceModule runs a module's forward pass on a tracer, a
// Tape whose `apply` builds a graph node ({ op, inputs, options }) instead of running the op: the
// input is a graph input, parameters and buffers become graph constants named as in the state
// dict, every result is a placeholder with the shape the op's own check gives. So a module is the
// one definition of its network, and its inference graph (with the graph's rewrites) is derived.
// runGraph goes the other way: a graph's nodes applied on a tape, as eager ops.
import { OpError, fail } from '../ops/check.js';
import { getOp, type AnyTensor, type Checked, type Op } from '../ops/registry.js';
import { Graph, constantShape, isLeaf, type ConstantValue, type GraphNode } from '../graph/graph.js';
import type { Engine } from '../runtime/engine.js';
import { Tensor, shapeString, type Shape } from '../runtime/tensor.js';
import { Tape } from './tape.js';
import { constant, Variable, type Placeholder } from './variable.js';

/** What can be traced: a module (src/nn/module.ts), as far as the tracer needs one. */
export interface Traceable {
  call(tape: Tape, x: Variable): Variable;
  stateDict(): ReadonlyMap<string, Tensor>;
  namedModules(): Array<[string, Traceable]>;
}

export interface TraceOptions {
  /** Name of the graph output (default 'output'). */
  output?: string;
  /**
   * Values for constants by state dict name, used instead of the module's own tensors (e.g. the
   * weights of a file for a module built on the meta engine, src/nn/meta.ts): GPU tensors or host
   * values, shaped as the module's.
   */
  constants?: ReadonlyMap<string, ConstantValue>;
}

export class TraceError extends Error {
  constructor(message: string) {
    super(`traceModule: ${message}`);
    this.name = 'TraceError';
  }
}

/** A trace refused because an op runs in training mode (it would update state or draw new randomness on every run). */
export class TrainingModeError extends TraceError {}

/** A traced variable's content: the node that computes it and its shape. */
class TracedValue implements Placeholder {
  constructor(
    readonly tracer: GraphTracer,
    readonly node: GraphNode,
    readonly shape: Shape,
  ) {}

  get description(): string {
    return `the output of graph node '${this.node.name}' (${this.node.op})`;
  }
}

/** The tracer has no device: nothing it does runs. */
const NO_ENGINE = new Proxy({} as Engine, {
  get(_target, key) {
    if (typeof key === 'symbol' || key === 'then') return undefined;
    throw new TraceError(`the tracer runs no ops (it has no engine): '${String(key)}' was used`);
  },
});

const hasChildren = (m: Traceable) => m.namedModules().length > 1;

/** A Tape that builds a graph: records nothing, runs nothing, needs no gradient. */
export class GraphTracer extends Tape {
  readonly graph = new Graph();
  private readonly shapes = new Map<GraphNode, Shape>();
  private readonly constants = new Map<Tensor, GraphNode>();
  private readonly stateNames = new Map<Tensor, string>();
  private readonly moduleNames: Map<Traceable, string>;
  /** The modules whose forward pass is running, innermost last. */
  private readonly scopes: Traceable[] = [];

  constructor(
    module: Traceable,
    private readonly substitutes: ReadonlyMap<string, ConstantValue> = new Map(),
  ) {
    super(NO_ENGINE, { grad: false });
    const state = module.stateDict();
    for (const [name, t] of state) this.stateNames.set(t, name);
    for (const [name, value] of substitutes) {
      const own = state.get(name);
      if (!own) throw new TraceError(`constants name '${name}', which is not a parameter or buffer of the module`);
      if (shapeString(value.shape) !== shapeString(own.shape)) throw new TraceError(`constant '${name}' has shape ${shapeString(value.shape)}, the module's ${shapeString(own.shape)}`);
    }
    this.moduleNames = new Map(module.namedModules().map(([name, m]) => [m, name]));
  }

  override get isTracing(): boolean {
    return true;
  }

  override enterModule(module: object): () => void {
    this.scopes.push(module as Traceable);
    return () => void this.scopes.pop();
  }

  /** The graph input, as a traced variable of the given shape. */
  input(name: string, shape: Shape): Variable {
    const node = this.graph.input(name);
    this.shapes.set(node, [...shape]);
    return new Variable(new TracedValue(this, node, [...shape]));
  }

  /** Marks a traced variable as a graph output. */
  output(name: string, v: Variable): void {
    this.graph.output(name, this.nodeOf(v, 'output', name));
  }

  override apply<O, C extends Checked>(op: Op<O, C>, operands: ReadonlyArray<Variable | AnyTensor | undefined>, options: O): Variable {
    const where = this.scopeName() || 'the module';
    if ((options as { training?: unknown }).training === true) {
      throw new TrainingModeError(
        `in ${where}: ${op.name}: runs in training mode, which a graph cannot hold (it would update running statistics or draw new masks on every run); trace the module in evaluation mode (module.eval())`,
      );
    }
    try {
      if (operands.length > op.operands.length) fail(op.name, `expected at most ${op.operands.length} operands, got ${operands.length}`);
      const inputs = op.operands.map((operand, i) => {
        const v = operands[i];
        if (v === undefined) {
          if (!operand.optional) fail(op.name, `expected ${operand.name}, got undefined`);
          return undefined;
        }
        return this.nodeOf(v, op.name, operand.name);
      });
      const { shape } = op.check(
        inputs.map((n) => n && this.shapes.get(n)),
        options,
      );
      const node = this.graph.node(op.name, inputs, options as object, this.nodeName(op.name));
      this.shapes.set(node, shape);
      return new Variable(new TracedValue(this, node, shape));
    } catch (err) {
      if (err instanceof TraceError) throw err;
      throw new TraceError(`in ${where}: ${(err as Error).message}`);
    }
  }

  override backward(): never {
    throw new TraceError('a traced forward pass has no backward pass (the tracer records no gradients)');
  }

  private nodeOf(v: Variable | AnyTensor, op: string, operand: string): GraphNode {
    if (v instanceof Variable) {
      const p = v.placeholder;
      if (p === undefined) return this.constantNode(v.value, op, operand);
      if (!(p instanceof TracedValue) || p.tracer !== this) fail(op, `${operand} is ${p.description} of another trace`);
      return p.node;
    }
    if (v instanceof Tensor) return this.constantNode(v as Tensor, op, operand);
    fail(op, `expected ${operand} to be a Variable or a Tensor, got ${String(v)}`);
  }

  /** The graph constant of one of the module's parameters or buffers (one node per tensor). */
  private constantNode(t: Tensor, op: string, operand: string): GraphNode {
    let node = this.constants.get(t);
    if (node) return node;
    const name = this.stateNames.get(t);
    if (name === undefined) {
      fail(op, `${operand} ${shapeString(t.shape)} is not a parameter or buffer of the traced module (a graph's constants are the module's state)`);
    }
    node = this.graph.constant(name, this.substitutes.get(name) ?? t);
    this.constants.set(t, node);
    this.shapes.set(node, constantShape(node));
    return node;
  }

  /** The dotted name of the module whose forward pass is running ('' at the top). */
  private scopeName(): string {
    const module = this.scopes.at(-1);
    return module ? (this.moduleNames.get(module) ?? '') : '';
  }

  /**
   * A node is named after the module that made it: a module without children ('layer1.0.conv1')
   * by its own name, an op written in a composite module's forward pass as '<module>.<op>'
   * ('layer1.0.relu'); the graph numbers repeats ('layer1.0.relu_2').
   */
  private nodeName(op: string): string {
    const module = this.scopes.at(-1);
    const scope = this.scopeName();
    if (module && scope && !hasChildren(module)) return scope;
    return scope ? `${scope}.${op}` : op;
  }
}

/**
 * The graph of `module`'s forward pass (as it is now: its mode and its frozen or pinned layers)
 * from `input` ({ name, shape }: an example shape, which module code may read and every op checks;
 * the graph holds no shape and compiles for any input its ops accept) to one output. Parameters
 * and buffers become constants named by their state dict names, the module's own tensors
 * (borrowed) unless `constants` gives others. Ops in training mode (batch norm updating running
 * statistics, dropout) are refused: put the module in evaluation mode first.
 */
export function traceModule(module: Traceable, input: { name: string; shape: Shape }, options: TraceOptions = {}): Graph {
  const tracer = new GraphTracer(module, options.constants);
  const y = module.call(tracer, tracer.input(input.name, input.shape));
  tracer.output(options.output ?? 'output', y);
  return tracer.graph;
}

/**
 * Applies `graph`'s nodes on `tape` as eager ops, from variables for its inputs (by name) to its
 * outputs (by name). What the tape records, and what it frees on dispose, is as for any op it
 * applies; the graph's constants enter as constants (no gradient) and must be on the GPU.
 */
export function runGraph(tape: Tape, graph: Graph, inputs: Readonly<Record<string, Variable>>): Record<string, Variable> {
  const values = new Map<GraphNode, Variable>();
  for (const node of graph.nodes) {
    if (node.op === 'input') {
      const v = inputs[node.name];
      if (!v) throw new OpError('runGraph', `no variable given for input '${node.name}'`);
      values.set(node, v);
    } else if (node.op === 'constant') {
      if (!node.tensor) throw new OpError('runGraph', `constant '${node.name}' is on the host: prepare the graph first`);
      values.set(node, constant(node.tensor, node.name));
    } else if (!isLeaf(node)) {
      values.set(node, tape.apply(getOp(node.op), node.inputs.map((n) => n && values.get(n)), node.options));
    }
  }
  const out: Record<string, Variable> = {};
  for (const [name, node] of graph.outputs) out[name] = values.get(node)!;
  return out;
}
