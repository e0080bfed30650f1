// The symmetric normalisation of a graph convolution, D^-1/2 (A + I) D^-1/2, exactly as PyTorch
// Geometric's gcn_norm computes it (improved = false, flow 'source_to_target'), in float64:
//   1. self-loops (add_remaining_self_loops, fill value 1): the non-loop edges keep their order and
//      weight; then node k gets one self-loop, weighted 1, or, when the input already had a loop
//      at k, that loop's weight (the last one listed, as PyTorch's index assignment leaves it);
//   2. deg[i] = the summed weight of the edges into i (targets), self-loop included;
//   3. norm[e] = deg[source]^-1/2 * weight[e] * deg[target]^-1/2, where 0^-1/2 = inf is replaced
//      by 0 (a node with no incoming weight contributes and receives nothing). A negative degree
//      gives NaN, as in PyTorch.
// An isolated node ends up with its self-loop alone (norm 1); a graph without edges is allowed.
import { validateGraph, type Graph } from './graph.js';

export interface GcnNormOptions {
  /** Add the remaining self-loops first (PyG's add_self_loops); default true. */
  addSelfLoops?: boolean;
}

export interface GcnNorm {
  numNodes: number;
  /** [2, E']: the input's edges (its self-loops removed when adding loops), then one loop per node. */
  edgeIndex: Int32Array;
  /** [E']: the weight of each edge before normalisation (input weights, loop weights). */
  weight: Float64Array;
  /** [E']: the normalised weight deg[source]^-1/2 * weight * deg[target]^-1/2. */
  norm: Float64Array;
  /** [N]: summed weight into each node. */
  degree: Float64Array;
  /**
   * [E]: where each input edge went in edgeIndex. An input self-loop at node k maps to k's loop
   * slot (several duplicate loops map to the same slot: each gets that slot's gradient, as in
   * PyTorch's backward of index assignment).
   */
  position: Int32Array;
}

export function gcnNorm(graph: Graph, options: GcnNormOptions = {}, where = 'gcnNorm'): GcnNorm {
  validateGraph(graph, where);
  const { numNodes, edgeIndex, edgeWeight } = graph;
  const addSelfLoops = options.addSelfLoops ?? true;
  const edges = edgeIndex.length / 2;
  const inputWeight = (e: number): number => (edgeWeight === undefined ? 1 : edgeWeight[e]!);
  const isLoop = (e: number): boolean => addSelfLoops && edgeIndex[e] === edgeIndex[edges + e];

  let kept = 0;
  for (let e = 0; e < edges; e++) if (!isLoop(e)) kept++;
  const total = kept + (addSelfLoops ? numNodes : 0);
  const out = new Int32Array(2 * total);
  const weight = new Float64Array(total);
  const position = new Int32Array(edges);
  let p = 0;
  for (let e = 0; e < edges; e++) {
    if (isLoop(e)) {
      const node = edgeIndex[e]!;
      position[e] = kept + node;
      weight[kept + node] = inputWeight(e); // a later loop at the same node overwrites: the last one wins
      continue;
    }
    out[p] = edgeIndex[e]!;
    out[total + p] = edgeIndex[edges + e]!;
    weight[p] = inputWeight(e);
    position[e] = p++;
  }
  if (addSelfLoops) {
    const hasLoop = new Uint8Array(numNodes);
    for (let e = 0; e < edges; e++) if (isLoop(e)) hasLoop[edgeIndex[e]!] = 1;
    for (let k = 0; k < numNodes; k++) {
      out[kept + k] = k;
      out[total + kept + k] = k;
      if (!hasLoop[k]) weight[kept + k] = 1;
    }
  }

  const degree = new Float64Array(numNodes);
  for (let e = 0; e < total; e++) degree[out[total + e]!]! += weight[e]!;
  const scale = invSqrtDegree(degree);
  const norm = new Float64Array(total);
  for (let e = 0; e < total; e++) norm[e] = scale[out[e]!]! * weight[e]! * scale[out[total + e]!]!;
  return { numNodes, edgeIndex: out, weight, norm, degree, position };
}

/**
 * deg^-1/2 with inf (from a zero degree) replaced by 0, as gcn_norm's masked_fill does. As
 * torch.pow, (-inf)^-1/2 is NaN (C's pow, and Math.pow, give 0).
 */
export function invSqrtDegree(degree: Float64Array): Float64Array {
  return degree.map((d) => {
    const s = d === -Infinity ? NaN : Math.pow(d, -0.5);
    return s === Infinity ? 0 : s;
  });
}
