// Shape inference: every node's output shape from the graph's input shapes, computed by the ops'
// own checks (the functions the ops check their arguments with when they run), so a bad graph
// fails with the op's message, prefixed with the node that raised it.
import { getOp } from '../ops/registry.js';
import { shapeString, type Shape } from '../runtime/tensor.js';
import { GraphError, constantShape, inputsOf, isLeaf, type Graph, type GraphNode } from './graph.js';

/** Shapes of the graph's inputs, by input name. */
export type InputShapes = Readonly<Record<string, Shape>>;

/** Output shapes by node id. */
export type ShapeMap = ReadonlyArray<readonly number[] | undefined>;

/** Checks that `shapes` names exactly the graph's inputs, each with a valid shape. */
export function checkInputShapes(graph: Graph, shapes: InputShapes): void {
  const names = graph.inputs.map((n) => n.name);
  const missing = names.filter((n) => !(n in shapes));
  const unknown = Object.keys(shapes).filter((n) => !names.includes(n));
  if (missing.length > 0) throw new GraphError(`graph: no shape given for input ${missing.map((n) => `'${n}'`).join(', ')}`);
  if (unknown.length > 0) {
    throw new GraphError(`graph: shapes given for ${unknown.map((n) => `'${n}'`).join(', ')}, which the graph has no input of (inputs: ${names.join(', ')})`);
  }
  for (const name of names) {
    const shape = shapes[name]!;
    if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new GraphError(`graph: input '${name}' needs a shape of integers >= 0, got ${JSON.stringify(shape)}`);
    }
  }
}

/** The output shape of one node given the shapes of the nodes it reads: its op's own check. */
function nodeShape(node: GraphNode, shapeOf: (n: GraphNode) => readonly number[], inputShapes: InputShapes): readonly number[] {
  if (node.op === 'input') return [...inputShapes[node.name]!];
  if (node.op === 'constant') return constantShape(node);
  return getOp(node.op).check(node.inputs.map((n) => n && shapeOf(n)), node.options).shape;
}

/**
 * Every node's output shape (by node id) for these input shapes. Throws a GraphError naming the
 * first node whose op refuses its operands, followed by the op's own message, e.g.
 * "graph node 'layer1.0.conv1' (conv2d): conv2d: expected input with 64 channels ...".
 */
export function inferShapes(graph: Graph, inputShapes: InputShapes): ShapeMap {
  checkInputShapes(graph, inputShapes);
  const shapes: Array<readonly number[] | undefined> = [];
  const shapeOf = (n: GraphNode) => shapes[n.id]!;
  for (const node of graph.nodes) {
    try {
      shapes[node.id] = Object.freeze([...nodeShape(node, shapeOf, inputShapes)]);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const reads = isLeaf(node) ? '' : ` on ${describeOperands(node, shapeOf)}`;
      throw new GraphError(`graph node '${node.name}' (${node.op})${reads}: ${message}`);
    }
  }
  return shapes;
}

/** The computed operands a node read, for errors: "input [1, 4, 8, 8] from 'image'". */
function describeOperands(node: GraphNode, shapeOf: (n: GraphNode) => readonly number[]): string {
  const computed = [...new Set(inputsOf(node))].filter((n) => n.op !== 'constant');
  const parts = computed.map((n) => `${shapeString(shapeOf(n))} from '${n.name}'`);
  if (parts.length === 0) return 'constants only';
  return `${parts.length === 1 ? 'input' : 'inputs'} ${parts.join(' and ')}`;
}
