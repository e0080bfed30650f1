// Inference rewrites. A convolution followed by batch norm, a residual add and a ReLU
//   conv -> [batchNorm] -> [add(., skip)] -> [relu]
// becomes one conv2d node: the batch norm folded into its weight and bias (on the GPU, once), the
// skip tensor added and the ReLU applied in the GEMM's epilogue. An add or linear followed by a
// ReLU takes the ReLU too. A node is only absorbed when its result has no other reader and is not
// a graph output, so the rewritten graph computes exactly the same outputs.
import type { Tensor } from '../runtime/tensor.js';
import { foldBatchNorm } from './fold.js';
import { Graph, inputsOf, type GraphNode, type NodeDef } from './graph.js';

export interface RewriteCounts {
  /** Batch norms folded into the convolution before them. */
  foldedBatchNorms: number;
  /** Residual adds done in a convolution's epilogue. */
  fusedAdds: number;
  /** ReLUs done in the epilogue of the op before them (conv, add or linear). */
  fusedRelus: number;
}

export interface RewrittenGraph {
  graph: Graph;
  counts: RewriteCounts;
  /** Tensors the rewrite created (folded weights and biases): the caller disposes them. */
  owned: Tensor[];
}

/** For each node, the nodes that read it (a node read twice by one consumer appears twice). */
function readersOf(graph: Graph): GraphNode[][] {
  const readers: GraphNode[][] = graph.nodes.map(() => []);
  for (const node of graph.nodes) for (const input of inputsOf(node)) readers[input.id]!.push(node);
  return readers;
}

/** A conv2d with what it absorbs after it; `last` is the node whose place the fused conv takes. */
interface ConvChain {
  conv: Extract<GraphNode, { op: 'conv2d' }>;
  batchNorm?: Extract<GraphNode, { op: 'batchNorm' }>;
  skip?: GraphNode;
  relu: boolean;
  last: GraphNode;
  absorbed: GraphNode[];
}

/**
 * Rewrites `graph` for inference. Folding records the fold kernel on the weights' engine (like
 * any op, so it precedes everything recorded after it); the folded tensors are returned in
 * `owned`. Run shape inference on the original graph first: the rewrite assumes operands agree.
 */
export function rewriteForInference(graph: Graph): RewrittenGraph {
  const readers = readersOf(graph);
  const outputs = new Set(graph.outputs.values());
  /** The one node that reads `n`, when `n` has exactly one reader and is not an output. */
  const soleReader = (n: GraphNode): GraphNode | undefined => {
    const r = readers[n.id]!;
    return r.length === 1 && !outputs.has(n) ? r[0] : undefined;
  };
  const isConstant = (n: GraphNode | undefined) => n === undefined || n.op === 'constant';

  // Find the chains first (on the original graph), then rebuild in order. A node joins at most
  // one chain: of two convolutions meeting at an add, the first in order takes it and the other
  // chain stops before it (its result is then the skip).
  const chainEndingAt = new Map<GraphNode, ConvChain>();
  const absorbed = new Set<GraphNode>();
  const reluAfter = new Set<GraphNode>(); // add / linear nodes that take the ReLU after them
  const free = (n: GraphNode | undefined) => (n && !absorbed.has(n) && !chainEndingAt.has(n) ? n : undefined);
  for (const node of graph.nodes) {
    if (node.op !== 'conv2d' || node.residual || node.options.relu) continue;
    const chain: ConvChain = { conv: node, relu: false, last: node, absorbed: [] };
    let next = free(soleReader(node));
    if (
      next?.op === 'batchNorm' &&
      next.x === node &&
      isConstant(node.weight) &&
      isConstant(node.bias) &&
      [next.mean, next.variance, next.weight, next.bias].every(isConstant)
    ) {
      chain.batchNorm = next;
      chain.absorbed.push(chain.last);
      chain.last = next;
      next = free(soleReader(next));
    }
    if (next?.op === 'add' && !next.relu && next.a !== next.b) {
      chain.skip = next.a === chain.last ? next.b : next.a;
      chain.absorbed.push(chain.last);
      chain.last = next;
      next = free(soleReader(next));
    }
    if (next?.op === 'relu') {
      chain.relu = true;
      chain.absorbed.push(chain.last);
      chain.last = next;
    }
    if (chain.last === node) continue;
    for (const n of chain.absorbed) absorbed.add(n);
    chainEndingAt.set(chain.last, chain);
  }
  for (const node of graph.nodes) {
    if ((node.op === 'add' || node.op === 'linear') && !node.relu && free(node)) {
      if (free(soleReader(node))?.op === 'relu') {
        reluAfter.add(node);
        absorbed.add(node);
      }
    }
  }

  const counts: RewriteCounts = { foldedBatchNorms: 0, fusedAdds: 0, fusedRelus: 0 };
  const owned: Tensor[] = [];
  const out = new Graph();
  const mapped: GraphNode[] = [];
  const map = (n: GraphNode): GraphNode => mapped[n.id]!;
  const mapOpt = (n: GraphNode | undefined) => (n ? map(n) : undefined);
  const fusedRelu = new Map<GraphNode, GraphNode>(); // relu node -> the add / linear that absorbed it
  for (const node of graph.nodes) {
    const chain = chainEndingAt.get(node);
    if (chain) {
      mapped[node.id] = emitChain(out, chain, map, counts, owned);
      continue;
    }
    if (absorbed.has(node)) {
      if (reluAfter.has(node)) fusedRelu.set(soleReader(node)!, node);
      continue; // emitted with the node that absorbs it
    }
    const before = node.op === 'relu' ? fusedRelu.get(node) : undefined;
    if (before && (before.op === 'add' || before.op === 'linear')) {
      counts.fusedRelus += 1;
      const def: NodeDef =
        before.op === 'add'
          ? { op: 'add', a: map(before.a), b: map(before.b), relu: true }
          : { op: 'linear', x: map(before.x), weight: map(before.weight), bias: mapOpt(before.bias), relu: true };
      mapped[node.id] = out.addNode(def, before.name);
      continue;
    }
    mapped[node.id] = out.addNode(remap(node, map), node.name);
  }
  for (const [name, node] of graph.outputs) out.output(name, map(node));
  return { graph: out, counts, owned };
}

/** The same node reading the rewritten graph's nodes. */
function remap(node: GraphNode, map: (n: GraphNode) => GraphNode): NodeDef {
  const { id: _id, name: _name, ...def } = node;
  const copy: Record<string, unknown> = { ...def };
  for (const [key, value] of Object.entries(def)) {
    if (typeof value === 'object' && value !== null && 'id' in value && 'op' in value) copy[key] = map(value as GraphNode);
  }
  return copy as NodeDef;
}

function emitChain(
  out: Graph,
  chain: ConvChain,
  map: (n: GraphNode) => GraphNode,
  counts: RewriteCounts,
  owned: Tensor[],
): GraphNode {
  const { conv, batchNorm: bn } = chain;
  let weight = map(conv.weight);
  let bias = conv.bias && map(conv.bias);
  if (bn) {
    const constant = (n: GraphNode | undefined): Tensor | undefined => (n && n.op === 'constant' ? n.tensor : undefined);
    const folded = foldBatchNorm(constant(conv.weight)!, constant(conv.bias), {
      mean: constant(bn.mean)!,
      variance: constant(bn.variance)!,
      weight: constant(bn.weight),
      bias: constant(bn.bias),
      eps: bn.eps,
    });
    owned.push(folded.weight, folded.bias);
    weight = out.constant(`${conv.name}.weight (${bn.name} folded)`, folded.weight);
    bias = out.constant(`${conv.name}.bias (${bn.name} folded)`, folded.bias);
    counts.foldedBatchNorms += 1;
  }
  if (chain.skip) counts.fusedAdds += 1;
  if (chain.relu) counts.fusedRelus += 1;
  const def: NodeDef = {
    op: 'conv2d',
    x: map(conv.x),
    weight,
    bias,
    residual: chain.skip && map(chain.skip),
    options: { ...conv.options, relu: chain.relu },
  };
  return out.addNode(def, conv.name);
}
