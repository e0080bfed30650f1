// Shape inference: every node's output shape from the graph's input shapes, computed by the ops'
// own shape rules (the functions the ops themselves check their arguments with), so a bad graph
// fails with the op's message, prefixed with the node that raised it.
import { convProblem } from '../ops/conv-args.js';
import { expectSameShape } from '../ops/check.js';
import { linearShape } from '../ops/gemm.js';
import { checkBatchNormShapes } from '../ops/norm.js';
import { adaptiveAvgPool2dShape, avgPool2dShape, maxPool2dShape } from '../ops/pool.js';
import { interpolateShape } from '../ops/resize.js';
import { resolveDim } from '../ops/softmax.js';
import { flattenShape, shapeString, type Shape } from '../runtime/tensor.js';
import { GraphError, inputsOf, type Graph, type GraphNode } from './graph.js';

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

/** The output shape of one node given the shapes of the nodes it reads. */
function nodeShape(node: GraphNode, shapeOf: (n: GraphNode) => readonly number[], inputShapes: InputShapes): readonly number[] {
  const s = (n: GraphNode | undefined) => (n ? shapeOf(n) : undefined);
  const shaped = (n: GraphNode | undefined) => (n ? { shape: shapeOf(n) } : undefined);
  switch (node.op) {
    case 'input':
      return [...inputShapes[node.name]!];
    case 'constant':
      return node.tensor.shape;
    case 'conv2d': {
      const options = { ...node.options, residual: undefined };
      const outShape = convProblem('conv2d', 2, shapeOf(node.x), shapeOf(node.weight), s(node.bias), options).outShape;
      if (node.residual) expectSameShape('conv2d (residual)', { shape: outShape }, shaped(node.residual)!);
      return outShape;
    }
    case 'batchNorm': {
      const operands = { runningMean: shaped(node.mean), runningVar: shaped(node.variance), weight: shaped(node.weight), bias: shaped(node.bias) };
      checkBatchNormShapes('batchNorm', shapeOf(node.x), operands, { training: false, eps: node.eps });
      return shapeOf(node.x);
    }
    case 'relu':
      return shapeOf(node.x);
    case 'add':
      expectSameShape('add', { shape: shapeOf(node.a) }, { shape: shapeOf(node.b) });
      return shapeOf(node.a);
    case 'maxPool2d':
      return maxPool2dShape(shapeOf(node.x), node.options);
    case 'avgPool2d':
      return avgPool2dShape(shapeOf(node.x), node.options);
    case 'adaptiveAvgPool2d':
      return adaptiveAvgPool2dShape(shapeOf(node.x), node.outputSize);
    case 'flatten':
      return flattenShape(shapeOf(node.x), node.startDim, node.endDim);
    case 'linear':
      return linearShape(shapeOf(node.x), shapeOf(node.weight), s(node.bias));
    case 'softmax':
      resolveDim('softmax', node.dim, shapeOf(node.x).length);
      return shapeOf(node.x);
    case 'interpolate':
      return interpolateShape(shapeOf(node.x), node.options);
  }
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
      const reads = node.op === 'input' || node.op === 'constant' ? '' : ` on ${describeOperands(node, shapeOf)}`;
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
