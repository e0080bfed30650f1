// The graph IR that models build: named inputs, constants (weights already on the GPU), op nodes
// carrying the ops' own option objects, and named outputs. Nodes are created in dependency order
// (a node only refers to nodes built before it), so creation order is a valid execution order.
import type { ConvOptions } from '../ops/conv-args.js';
import type { InterpolateOptions } from '../ops/resize.js';
import type { AvgPoolOptions, MaxPoolOptions } from '../ops/pool.js';
import { shapeString, Tensor } from '../runtime/tensor.js';

/** conv2d's options in a graph (the residual operand is an input of the node, not an option). */
export type GraphConvOptions = Omit<ConvOptions, 'residual'>;

/** What a node computes, with the nodes it reads. */
export type NodeDef =
  | { op: 'input' }
  | { op: 'constant'; tensor: Tensor }
  | { op: 'conv2d'; x: GraphNode; weight: GraphNode; bias?: GraphNode; residual?: GraphNode; options: GraphConvOptions }
  | { op: 'batchNorm'; x: GraphNode; mean: GraphNode; variance: GraphNode; weight?: GraphNode; bias?: GraphNode; eps: number }
  | { op: 'relu'; x: GraphNode }
  | { op: 'add'; a: GraphNode; b: GraphNode; relu: boolean }
  | { op: 'maxPool2d'; x: GraphNode; options: MaxPoolOptions }
  | { op: 'avgPool2d'; x: GraphNode; options: AvgPoolOptions }
  | { op: 'adaptiveAvgPool2d'; x: GraphNode; outputSize: number | [number, number] }
  | { op: 'flatten'; x: GraphNode; startDim: number; endDim: number }
  | { op: 'linear'; x: GraphNode; weight: GraphNode; bias?: GraphNode; relu: boolean }
  | { op: 'softmax'; x: GraphNode; dim: number }
  | { op: 'interpolate'; x: GraphNode; options: InterpolateOptions };

export type OpName = NodeDef['op'];

/** A node: its definition plus an id (its place in the graph) and a name used in errors. */
export type GraphNode = NodeDef & { readonly id: number; readonly name: string };

/** The nodes a node reads, in a fixed order. */
export function inputsOf(node: NodeDef): GraphNode[] {
  const all: Array<GraphNode | undefined> = [];
  switch (node.op) {
    case 'input':
    case 'constant':
      break;
    case 'conv2d':
      all.push(node.x, node.weight, node.bias, node.residual);
      break;
    case 'batchNorm':
      all.push(node.x, node.mean, node.variance, node.weight, node.bias);
      break;
    case 'add':
      all.push(node.a, node.b);
      break;
    case 'linear':
      all.push(node.x, node.weight, node.bias);
      break;
    default:
      all.push(node.x);
  }
  return all.filter((n): n is GraphNode => n !== undefined);
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
    return this.addNode({ op: 'input' }, name);
  }

  constant(name: string, tensor: Tensor): GraphNode {
    if (!(tensor instanceof Tensor)) throw new GraphError(`graph: constant '${name}' must be a Tensor`);
    if (tensor.isDisposed) throw new GraphError(`graph: constant '${name}' ${shapeString(tensor.shape)} was disposed`);
    return this.addNode({ op: 'constant', tensor }, name);
  }

  conv2d(x: GraphNode, weight: GraphNode, bias?: GraphNode, options: GraphConvOptions = {}, name?: string): GraphNode {
    return this.addNode({ op: 'conv2d', x, weight, bias, options: { ...options } }, name ?? this.derivedName('conv2d', weight));
  }

  /** Inference batch norm with running statistics (torch's eval mode); weight and bias are optional. */
  batchNorm(x: GraphNode, mean: GraphNode, variance: GraphNode, weight?: GraphNode, bias?: GraphNode, options: { eps?: number } = {}, name?: string): GraphNode {
    return this.addNode({ op: 'batchNorm', x, mean, variance, weight, bias, eps: options.eps ?? 1e-5 }, name ?? this.derivedName('batchNorm', mean));
  }

  relu(x: GraphNode, name?: string): GraphNode {
    return this.addNode({ op: 'relu', x }, name);
  }

  add(a: GraphNode, b: GraphNode, name?: string): GraphNode {
    return this.addNode({ op: 'add', a, b, relu: false }, name);
  }

  maxPool2d(x: GraphNode, options: MaxPoolOptions, name?: string): GraphNode {
    return this.addNode({ op: 'maxPool2d', x, options: { ...options } }, name);
  }

  avgPool2d(x: GraphNode, options: AvgPoolOptions, name?: string): GraphNode {
    return this.addNode({ op: 'avgPool2d', x, options: { ...options } }, name);
  }

  adaptiveAvgPool2d(x: GraphNode, outputSize: number | [number, number], name?: string): GraphNode {
    return this.addNode({ op: 'adaptiveAvgPool2d', x, outputSize }, name);
  }

  flatten(x: GraphNode, startDim = 0, endDim = -1, name?: string): GraphNode {
    return this.addNode({ op: 'flatten', x, startDim, endDim }, name);
  }

  linear(x: GraphNode, weight: GraphNode, bias?: GraphNode, name?: string): GraphNode {
    return this.addNode({ op: 'linear', x, weight, bias, relu: false }, name ?? this.derivedName('linear', weight));
  }

  softmax(x: GraphNode, dim: number, name?: string): GraphNode {
    return this.addNode({ op: 'softmax', x, dim }, name);
  }

  interpolate(x: GraphNode, options: InterpolateOptions, name?: string): GraphNode {
    return this.addNode({ op: 'interpolate', x, options: { ...options } }, name);
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
    for (const input of inputsOf(def)) this.expectOwn(input, `node '${base}' (${def.op})`);
    const unique = this.uniqueName(base);
    const node = { ...def, id: this.list.length, name: unique } as GraphNode;
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

  private derivedName(op: OpName, param: GraphNode): string {
    return param.op === 'constant' ? ownerOf(param.name) : `${op}_${this.list.length}`;
  }

  private expectOwn(node: GraphNode | undefined, where: string): void {
    if (!node || this.list[node.id] !== node) {
      throw new GraphError(`graph: ${where} refers to a node that is not part of this graph`);
    }
  }
}
