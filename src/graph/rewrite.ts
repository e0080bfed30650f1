// Inference rewrites, derived from the ops' declarations (src/ops/registry.ts), in two passes.
// 1. Epilogues: a node whose op can absorb what follows it takes, in this order,
//      node -> [batchNorm] -> [add(., skip)] -> [relu]
//    the batch norm folded into its weight and bias (foldsBatchNorm: once, on the host when its
//    constants are host values, else on the GPU; see fold.ts), the skip tensor as its residual
//    operand (residualOperand) and the ReLU in its epilogue (reluOption). So conv -> bn -> add ->
//    relu becomes one convolution, linear -> relu one linear, add -> relu one add. This is the one
//    place that decides to fold.
// 2. Fusion rules (an op's `fuses`: batchNorm -> relu -> maxPool2d is batchNormReluMaxPool2d,
//    relu -> maxPool2d is reluMaxPool2d) on what the first pass left, longest chain first, where
//    the fused op accepts the chain's operands (known once the input shapes are: a plan's compile);
//    the same rules Sequential applies to its modules.
// A node is only absorbed when its result has no other reader and is not a graph output, so the
// rewritten graph computes exactly the same outputs.
import { fusionRules, getOp, type GraphTraits, type Op } from '../ops/registry.js';
import { Tensor } from '../runtime/tensor.js';
import { foldBatchNorm, foldBatchNormOnHost, type BatchNormParams, type Folded } from './fold.js';
import { Graph, inputsOf, type ConstantValue, type GraphNode, type HostConstant, type NodeDef } from './graph.js';
import { inferShapes, type InputShapes } from './shapes.js';

export interface RewriteCounts {
  /** Batch norms folded into the op before them. */
  foldedBatchNorms: number;
  /** Of those, the ones folded on the host (their constants were host values). */
  foldedOnHost: number;
  /** Residual adds done in an op's epilogue. */
  fusedAdds: number;
  /** ReLUs done in the epilogue of the op before them. */
  fusedRelus: number;
  /** Chains replaced by one op by a fusion rule. */
  fusedChains: number;
}

export interface RewrittenGraph {
  graph: Graph;
  counts: RewriteCounts;
  /** Tensors the rewrite created (weights and biases folded on the GPU): the caller disposes them. */
  owned: Tensor[];
}

/** For each node, the nodes that read it (a node read twice by one consumer appears twice). */
function readersOf(graph: Graph): GraphNode[][] {
  const readers: GraphNode[][] = graph.nodes.map(() => []);
  for (const node of graph.nodes) for (const input of inputsOf(node)) readers[input.id]!.push(node);
  return readers;
}

/** A node with what it absorbs after it; `last` is the node whose place the fused node takes. */
interface Chain {
  head: GraphNode;
  traits: GraphTraits;
  batchNorm?: GraphNode;
  skip?: GraphNode;
  relu: boolean;
  last: GraphNode;
}

const traitsOf = (node: GraphNode): GraphTraits | undefined => (node.op === 'input' || node.op === 'constant' ? undefined : getOp(node.op).graph);
const isConstant = (n: GraphNode | undefined) => n === undefined || n.op === 'constant';

/** Counts of a graph nothing was done to. */
export const NO_REWRITES: Readonly<RewriteCounts> = Object.freeze({ foldedBatchNorms: 0, foldedOnHost: 0, fusedAdds: 0, fusedRelus: 0, fusedChains: 0 });

export interface RewriteOptions {
  /** Fuse residual adds and ReLUs into epilogues (default true); false folds batch norms only. */
  fuse?: boolean;
  /** The input shapes, when known: chains are then fused by the fusion rules too (see fuseChains). */
  inputShapes?: InputShapes;
}

/**
 * Rewrites `graph` for inference. A fold on the GPU records the fold kernel on the weights' engine
 * (like any op, so it precedes everything recorded after it) and returns the folded tensors in
 * `owned`; a fold on the host gives host constants. Run shape inference on the original graph
 * first: the rewrite assumes operands agree.
 */
export function rewriteForInference(graph: Graph, options: RewriteOptions = {}): RewrittenGraph {
  const fuse = options.fuse ?? true;
  const counts: RewriteCounts = { ...NO_REWRITES };
  const owned: Tensor[] = [];
  const epilogues = epiloguePass(graph, fuse, counts, owned);
  if (!fuse || !options.inputShapes) return { graph: epilogues, counts, owned };
  const chains = fuseChains(epilogues, options.inputShapes);
  counts.fusedChains = chains.fused;
  return { graph: chains.graph, counts, owned };
}

/** The one node that reads `n`, when `n` has exactly one reader and is not an output (for each n of graph). */
function soleReaders(graph: Graph): (n: GraphNode) => GraphNode | undefined {
  const readers = readersOf(graph);
  const outputs = new Set(graph.outputs.values());
  return (n) => {
    const r = readers[n.id]!;
    return r.length === 1 && !outputs.has(n) ? r[0] : undefined;
  };
}

/**
 * Rebuilds `graph` in order: a node in `replaced` becomes what `emit` makes of it (reading the
 * new graph's nodes through `map`), a node in `absorbed` disappears, every other node is copied.
 */
function rebuild(graph: Graph, absorbed: ReadonlySet<GraphNode>, replaced: ReadonlySet<GraphNode>, emit: (out: Graph, node: GraphNode, map: (n: GraphNode) => GraphNode) => GraphNode): Graph {
  const out = new Graph();
  const mapped: GraphNode[] = [];
  const map = (n: GraphNode): GraphNode => mapped[n.id]!;
  for (const node of graph.nodes) {
    if (replaced.has(node)) mapped[node.id] = emit(out, node, map);
    else if (!absorbed.has(node)) mapped[node.id] = out.addNode(remap(node, map), node.name);
  }
  for (const [name, node] of graph.outputs) out.output(name, map(node));
  return out;
}

/** Pass 1: batch norms, residual adds and ReLUs into the op before them (adds and ReLUs when `fuse`). */
function epiloguePass(graph: Graph, fuse: boolean, counts: RewriteCounts, owned: Tensor[]): Graph {
  const soleReader = soleReaders(graph);

  // Find the chains first (on the original graph), then rebuild in order. A node joins at most
  // one chain: of two convolutions meeting at an add, the first in order takes it and the other
  // chain stops before it (its result is then the skip).
  const chainEndingAt = new Map<GraphNode, Chain>();
  const absorbed = new Set<GraphNode>();
  const free = (n: GraphNode | undefined) => (n && !absorbed.has(n) && !chainEndingAt.has(n) ? n : undefined);
  for (const node of graph.nodes) {
    const traits = traitsOf(node);
    if (!traits || !free(node)) continue;
    const { reluOption, residualOperand, foldsBatchNorm } = traits;
    if ((reluOption && node.options[reluOption]) || (residualOperand !== undefined && node.inputs[residualOperand])) continue;
    const chain: Chain = { head: node, traits, relu: false, last: node };
    const members: GraphNode[] = [];
    const extend = (next: GraphNode) => {
      members.push(chain.last);
      chain.last = next;
    };
    let next = free(soleReader(node));
    if (
      foldsBatchNorm &&
      next?.op === 'batchNorm' &&
      next.options.training === false &&
      next.inputs[0] === node &&
      isConstant(node.inputs[foldsBatchNorm.weight]) &&
      isConstant(node.inputs[foldsBatchNorm.bias]) &&
      next.inputs.slice(1).every(isConstant)
    ) {
      chain.batchNorm = next;
      extend(next);
      next = free(soleReader(next));
    }
    if (fuse && residualOperand !== undefined && next?.op === 'add' && !next.options.relu && next.inputs[0] !== next.inputs[1]) {
      chain.skip = next.inputs[0] === chain.last ? next.inputs[1] : next.inputs[0];
      extend(next);
      next = free(soleReader(next));
    }
    if (fuse && reluOption && next?.op === 'relu') {
      chain.relu = true;
      extend(next);
    }
    if (chain.last === node) continue;
    for (const n of members) absorbed.add(n);
    chainEndingAt.set(chain.last, chain);
  }

  return rebuild(graph, absorbed, new Set(chainEndingAt.keys()), (out, node, map) => emitChain(out, chainEndingAt.get(node)!, map, counts, owned));
}

/**
 * Pass 2: chains of ops replaced by the op whose fusion rule names them, where that op accepts
 * the chain's operands for these input shapes (batch norm + ReLU + max pool takes 4D input only);
 * returns the graph and the number of chains fused.
 */
export function fuseChains(graph: Graph, inputShapes: InputShapes): { graph: Graph; fused: number } {
  const rules = fusionRules();
  const shapes = inferShapes(graph, inputShapes);
  const accepts = (op: Op<unknown>, inputs: ReadonlyArray<GraphNode | undefined>, options: unknown): boolean => {
    try {
      op.check(
        inputs.map((n) => n && shapes[n.id]),
        options,
      );
      return true;
    } catch {
      return false;
    }
  };
  const soleReader = soleReaders(graph);
  const fusedAt = new Map<GraphNode, { op: Op<unknown>; members: GraphNode[]; combine: (typeof rules)[number]['rule']['combine'] }>();
  const absorbed = new Set<GraphNode>();
  for (const node of graph.nodes) {
    if (absorbed.has(node) || fusedAt.has(node)) continue;
    for (const { op, rule } of rules) {
      const members = [node];
      for (const want of rule.chain.slice(1)) {
        const last = members.at(-1)!;
        const next = soleReader(last);
        if (next?.op !== want || next.inputs[0] !== last || next.inputs.slice(1).includes(last) || absorbed.has(next) || fusedAt.has(next)) break;
        members.push(next);
      }
      if (node.op !== rule.chain[0] || members.length !== rule.chain.length) continue;
      const fused = rule.combine(members);
      if (!accepts(op, fused.inputs, fused.options)) continue;
      members.slice(0, -1).forEach((m) => absorbed.add(m));
      fusedAt.set(members.at(-1)!, { op, members, combine: rule.combine });
      break;
    }
  }
  const out = rebuild(graph, absorbed, new Set(fusedAt.keys()), (out, node, map) => {
    const { op, members, combine } = fusedAt.get(node)!;
    const { inputs, options } = combine(members.map((m) => ({ inputs: m.inputs.map((n) => n && map(n)), options: m.options })));
    return out.addNode({ op: op.name, inputs, options }, members[0]!.name);
  });
  return { graph: out, fused: fusedAt.size };
}

/** The same node reading the rewritten graph's nodes. */
function remap(node: GraphNode, map: (n: GraphNode) => GraphNode): NodeDef {
  const { id: _id, name: _name, ...def } = node;
  return { ...def, inputs: node.inputs.map((n) => n && map(n)) };
}

function emitChain(out: Graph, chain: Chain, map: (n: GraphNode) => GraphNode, counts: RewriteCounts, owned: Tensor[]): GraphNode {
  const { head, traits, batchNorm: bn } = chain;
  const inputs = head.inputs.map((n) => n && map(n));
  if (bn && traits.foldsBatchNorm) {
    const { weight, bias } = traits.foldsBatchNorm;
    const [, mean, variance, gamma, beta] = bn.inputs;
    const folded = foldConstants(head.inputs[weight]!, head.inputs[bias], { mean: mean!, variance: variance!, weight: gamma, bias: beta, eps: bn.options.eps as number }, owned);
    inputs[weight] = out.constant(`${head.name}.weight (${bn.name} folded)`, folded.weight);
    inputs[bias] = out.constant(`${head.name}.bias (${bn.name} folded)`, folded.bias);
    counts.foldedBatchNorms += 1;
    if (!(folded.weight instanceof Tensor)) counts.foldedOnHost += 1;
  }
  if (chain.skip && traits.residualOperand !== undefined) {
    while (inputs.length <= traits.residualOperand) inputs.push(undefined);
    inputs[traits.residualOperand] = map(chain.skip);
    counts.fusedAdds += 1;
  }
  const options = { ...head.options };
  if (chain.relu && traits.reluOption) {
    options[traits.reluOption] = true;
    counts.fusedRelus += 1;
  }
  return out.addNode({ op: head.op, inputs, options }, head.name);
}

/**
 * Folds a batch norm's constants into a weight and bias: on the host when every one of them is a
 * host value, else on the GPU (host values among them uploaded for the kernel, then freed).
 */
function foldConstants(weight: GraphNode, bias: GraphNode | undefined, bn: BatchNormParams<GraphNode | undefined>, owned: Tensor[]): Folded<ConstantValue> {
  const nodes = [weight, bias, bn.mean, bn.variance, bn.weight, bn.bias];
  const onHost = nodes.every((n) => n === undefined || n.host !== undefined);
  if (onHost) {
    const host = (n: GraphNode | undefined): HostConstant | undefined => n?.host;
    return foldBatchNormOnHost(host(weight)!, host(bias), { mean: host(bn.mean)!, variance: host(bn.variance)!, weight: host(bn.weight), bias: host(bn.bias), eps: bn.eps });
  }
  const engine = nodes.find((n) => n?.tensor)!.tensor!.engine;
  const uploaded: Tensor[] = [];
  const gpu = (n: GraphNode | undefined): Tensor | undefined => {
    if (!n) return undefined;
    if (n.tensor) return n.tensor;
    const t = engine.tensor(n.host!.data, n.host!.shape);
    uploaded.push(t);
    return t;
  };
  try {
    const folded = foldBatchNorm(gpu(weight)!, gpu(bias), { mean: gpu(bn.mean)!, variance: gpu(bn.variance)!, weight: gpu(bn.weight), bias: gpu(bn.bias), eps: bn.eps });
    owned.push(folded.weight, folded.bias);
    return folded;
  } finally {
    for (const t of uploaded) t.dispose(); // the pool hands their buffers only to work recorded after the fold
  }
}
