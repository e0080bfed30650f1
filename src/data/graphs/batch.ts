// Several graphs as one: the block-diagonal union PyTorch Geometric's DataLoader builds, with each
// graph's nodes renumbered after the previous graphs' and a node-to-graph index for the readout.
import { edgeCount, validateGraph, type Graph } from './graph.js';

export interface BatchedGraph {
  numNodes: number;
  /** [2, E]: graph g's edges in order, its node ids shifted by ptr[g]. */
  edgeIndex: Int32Array;
  /** [E]: the graphs' edge weights concatenated; present only when every graph has weights. */
  edgeWeight?: Float64Array;
  numGraphs: number;
  /** [numNodes]: the graph each node belongs to (PyG's `batch`), non-decreasing. */
  batch: Int32Array;
  /** [numGraphs + 1]: graph g's nodes are ptr[g] .. ptr[g + 1] - 1 (PyG's `ptr`). */
  ptr: Int32Array;
}

/** The block-diagonal union of `graphs` (a graph may have no nodes or no edges). */
export function batchGraphs(graphs: readonly Graph[], where = 'batchGraphs'): BatchedGraph {
  graphs.forEach((g, i) => validateGraph(g, `${where}: graph ${i}`));
  const weighted = graphs.filter((g) => g.edgeWeight !== undefined).length;
  if (weighted !== 0 && weighted !== graphs.length) {
    throw new Error(`${where}: ${weighted} of ${graphs.length} graphs have edge weights; give all of them weights or none`);
  }
  const numGraphs = graphs.length;
  const ptr = new Int32Array(numGraphs + 1);
  let totalEdges = 0;
  graphs.forEach((g, i) => {
    ptr[i + 1] = ptr[i]! + g.numNodes;
    totalEdges += edgeCount(g);
  });
  const numNodes = ptr[numGraphs]!;
  const batch = new Int32Array(numNodes);
  const edgeIndex = new Int32Array(2 * totalEdges);
  const edgeWeight = weighted > 0 ? new Float64Array(totalEdges) : undefined;
  let e0 = 0;
  graphs.forEach((g, i) => {
    const offset = ptr[i]!;
    batch.fill(i, offset, ptr[i + 1]!);
    const edges = edgeCount(g);
    for (let e = 0; e < edges; e++) {
      edgeIndex[e0 + e] = g.edgeIndex[e]! + offset;
      edgeIndex[totalEdges + e0 + e] = g.edgeIndex[edges + e]! + offset;
      if (edgeWeight) edgeWeight[e0 + e] = g.edgeWeight![e]!;
    }
    e0 += edges;
  });
  return { numNodes, edgeIndex, ...(edgeWeight ? { edgeWeight } : {}), numGraphs, batch, ptr };
}

/**
 * Throws unless `batch` assigns each of `numNodes` nodes a graph in [0, numGraphs) (any order: a
 * readout does not need the nodes grouped).
 */
export function validateBatchIndex(batch: Int32Array, numNodes: number, numGraphs: number, where: string): void {
  if (!Number.isInteger(numGraphs) || numGraphs < 0) throw new Error(`${where}: expected a non-negative integer graph count, got ${numGraphs}`);
  if (!(batch instanceof Int32Array)) throw new Error(`${where}: expected the node-to-graph index as an Int32Array`);
  if (batch.length !== numNodes) throw new Error(`${where}: expected a node-to-graph index of ${numNodes} entries (one per node), got ${batch.length}`);
  for (let i = 0; i < batch.length; i++) {
    const g = batch[i]!;
    if (g < 0 || g >= numGraphs) throw new Error(`${where}: node ${i} is assigned to graph ${g}, expected 0 <= graph < ${numGraphs}`);
  }
}
