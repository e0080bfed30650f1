// The graph IR that models build (or that tracing a module's forward pass builds, see
// src/autograd/trace.ts): named inputs, constants (weights on the GPU, or on the host until the
// graph is prepared), op nodes { op, inputs, options } of any registered op (src/ops/registry.ts),
// and named outputs. Nodes are created in dependency order (a node only refers to nodes built
// before it), so creation order is a valid execution order.
import type { AvgPoolOptions, MaxPoolOptions } from '../ops/pool.js';
import type { ConvAttributes } from '../ops/conv-args.js';
import '../ops/index.js'; // registers every op the graph may name
import { getOp } from '../ops/registry.js';
import type { InterpolateOptions } from '../ops/resize.js';
import { numel, shapeString, Tensor, type Shape } from '../runtime/tensor.js';

/** conv2d's options in a graph (the residual operand is an input of the node, not an option). */
export type GraphConvOptions = ConvAttributes;

/** Names that are not registered ops: the graph's own leaves. */
export type LeafOp = 'input' | 'constant';

/**
 * A constant's values on the host (weights read from a file): the graph's preparation
 * (prepareGraph, GraphExecutor) folds batch norms into them on the host and uploads the result
 * once.
 */
export interface HostConstant {
  readonly shape: Shape;
  readonly data: Float32Array;
}

/** A constant's value: a GPU tensor (borrowed) or host values. */
export type ConstantValue = Tensor | HostConstant;

/** A node: what it computes (an op over the nodes it reads, with options), its id and a name used in errors. */
export interface GraphNode {
  readonly id: number;
  readonly name: string;
  /** A registered op's name, or 'input' / 'constant'. */
  readonly op: string;
  /** Per operand of the op: the node it reads, or undefined for an absent optional operand. */
  readonly inputs: ReadonlyArray<GraphNode | undefined>;
  readonly options: Readonly<Record<string, unknown>>;
  /** A constant's tensor, when it is on the GPU. */
  readonly tensor?: Tensor;
  /** A constant's values, when they are on the host. */
  readonly host?: HostConstant;
}

/** A node before it joins a graph. */
export type NodeDef = Omit<GraphNode, 'id' | 'name'>;

/** The nodes a node reads, in operand order, absent operands left out. */
export function inputsOf(node: NodeDef): GraphNode[] {
  return node.inputs.filter((n): n is GraphNode => n !== undefined);
}

export const isLeaf = (node: NodeDef): boolean => node.op === 'input' || node.op === 'constant';

/** A constant node's shape, wherever its values are. */
export function constantShape(node: NodeDef): Shape {
  const shape = node.tensor?.shape ?? node.host?.shape;
  if (node.op !== 'constant' || !shape) throw new GraphError(`graph: '${node.op}' node is not a constant`);
  return shape;
}

export class GraphError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GraphError';
  }
}

/** Strips a parameter suffix: 'layer1.0.conv1.weight' names the node 'layer1.0.conv1'. */
function ownerOf(constantName: string): string {
  return constantName.replace(/\.(weight|running_mean)$/, '');
}

/**
 * A dataflow graph of ops. Build it with the methods below (each returns the new node), mark the
 * results with `output`, then compile it for input shapes (`compileGraph`, `GraphExecutor`).
 * Every method takes an optional node name last (used in errors; unique names are made by
 * appending a counter). Constants are borrowed: they must outlive every plan compiled from the graph.
 */
export class Graph {
  private readonly list: GraphNode[] = [];
  private readonly outputMap = new Map<string, GraphNode>();
  private readonly names = new Set<string>();

  get nodes(): readonly GraphNode[] {
    return this.list;
  }

  /** Output names and the nodes they read, in the order they were declared. */
  get outputs(): ReadonlyMap<string, GraphNode> {
    return this.outputMap;
  }

  get inputs(): GraphNode[] {
    return this.list.filter((n) => n.op === 'input');
  }

  input(name: string): GraphNode {
    if (this.list.some((n) => n.op === 'input' && n.name === name)) throw new GraphError(`graph: there is already an input named '${name}'`);
    if (this.names.has(name)) throw new GraphError(`graph: input name '${name}' is already used by another node`);
    return this.addNode({ op: 'input', inputs: [], options: {} }, name);
  }

  /** A constant: a GPU tensor (borrowed: it must outlive the graph's plans) or host values. */
  constant(name: string, value: ConstantValue): GraphNode {
    if (value instanceof Tensor) {
      if (value.isDisposed) throw new GraphError(`graph: constant '${name}' ${shapeString(value.shape)} was disposed`);
      return this.addNode({ op: 'constant', inputs: [], options: {}, tensor: value }, name);
    }
    const { shape, data } = (value ?? {}) as Partial<HostConstant>;
    const sized = Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d >= 0) && data instanceof Float32Array && data.length === numel(shape);
    if (!sized) throw new GraphError(`graph: constant '${name}' must be a Tensor or host values { shape, data: Float32Array } of that size`);
    return this.addNode({ op: 'constant', inputs: [], options: {}, host: { shape: [...shape], data } }, name);
  }

  /**
   * A node of any registered op: its operands in the op's order (undefined for absent optional
   * ones) and its options, as the op's function takes them.
   */
  node(op: string, inputs: ReadonlyArray<GraphNode | undefined>, options: object = {}, name?: string): GraphNode {
    return this.addNode({ op, inputs, options: { ...options } }, name);
  }

  conv2d(x: GraphNode, weight: GraphNode, bias?: GraphNode, options: GraphConvOptions = {}, name?: string): GraphNode {
    return this.node('conv2d', [x, weight, bias], options, name ?? this.derivedName('conv2d', weight));
  }

  /** Inference batch norm with running statistics (torch's eval mode); weight and bias are optional. */
  batchNorm(x: GraphNode, mean: GraphNode, variance: GraphNode, weight?: GraphNode, bias?: GraphNode, options: { eps?: number } = {}, name?: string): GraphNode {
    const attributes = { training: false, eps: options.eps ?? 1e-5 };
    return this.node('batchNorm', [x, mean, variance, weight, bias], attributes, name ?? this.derivedName('batchNorm', mean));
  }

  relu(x: GraphNode, name?: string): GraphNode {
    return this.node('relu', [x], {}, name);
  }

  add(a: GraphNode, b: GraphNode, name?: string): GraphNode {
    return this.node('add', [a, b], {}, name);
  }

  maxPool2d(x: GraphNode, options: MaxPoolOptions, name?: string): GraphNode {
    return this.node('maxPool2d', [x], options, name);
  }

  avgPool2d(x: GraphNode, options: AvgPoolOptions, name?: string): GraphNode {
    return this.node('avgPool2d', [x], options, name);
  }

  adaptiveAvgPool2d(x: GraphNode, outputSize: number | [number, number], name?: string): GraphNode {
    return this.node('adaptiveAvgPool2d', [x], { outputSize }, name);
  }

  flatten(x: GraphNode, startDim = 0, endDim = -1, name?: string): GraphNode {
    return this.node('flatten', [x], { startDim, endDim }, name);
  }

  linear(x: GraphNode, weight: GraphNode, bias?: GraphNode, name?: string): GraphNode {
    return this.node('linear', [x, weight, bias], {}, name ?? this.derivedName('linear', weight));
  }

  softmax(x: GraphNode, dim: number, name?: string): GraphNode {
    return this.node('softmax', [x], { dim }, name);
  }

  interpolate(x: GraphNode, options: InterpolateOptions, name?: string): GraphNode {
    return this.node('interpolate', [x], options, name);
  }

  output(name: string, node: GraphNode): void {
    this.expectOwn(node, `output '${name}'`);
    if (this.outputMap.has(name)) throw new GraphError(`graph: there is already an output named '${name}'`);
    this.outputMap.set(name, node);
  }

  /**
   * Adds a node as it is (the nodes it reads must belong to this graph). The rewrites build fused
   * nodes with it; models use the typed methods above.
   */
  addNode(def: NodeDef, name?: string): GraphNode {
    const base = name ?? `${def.op}_${this.list.length}`;
    if (!isLeaf(def)) checkArity(def, base);
    for (const input of inputsOf(def)) this.expectOwn(input, `node '${base}' (${def.op})`);
    const unique = this.uniqueName(base);
    const node: GraphNode = { ...def, id: this.list.length, name: unique };
    this.list.push(node);
    this.names.add(unique);
    return node;
  }

  private uniqueName(base: string): string {
    if (!this.names.has(base)) return base;
    let i = 2;
    while (this.names.has(`${base}_${i}`)) i++;
    return `${base}_${i}`;
  }

  private derivedName(op: string, param: GraphNode): string {
    return param.op === 'constant' ? ownerOf(param.name) : `${op}_${this.list.length}`;
  }

  private expectOwn(node: GraphNode | undefined, where: string): void {
    if (!node || this.list[node.id] !== node) {
      throw new GraphError(`graph: ${where} refers to a node that is not part of this graph`);
    }
  }
}

/** A node reads what its op declares: no more operands than it has, each required one present. */
function checkArity(def: NodeDef, name: string): void {
  let operands;
  try {
    operands = getOp(def.op).operands;
  } catch (err) {
    throw new GraphError(`graph: node '${name}': ${(err as Error).message}`);
  }
  if (def.inputs.length > operands.length) {
    throw new GraphError(`graph: node '${name}' (${def.op}) has ${def.inputs.length} operands, the op takes ${operands.length} (${operands.map((o) => o.name).join(', ')})`);
  }
  operands.forEach((operand, i) => {
    if (!operand.optional && def.inputs[i] === undefined) throw new GraphError(`graph: node '${name}' (${def.op}) needs its ${operand.name} operand`);
  });
}
