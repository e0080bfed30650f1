// The structure a graph convolution propagates over, built once per graph on the host: the CSR of
// the graph's edges (self-loops added as PyG's add_remaining_self_loops adds them, when asked),
// with rows = targets and columns = sources, and the maps between the input's edges and the CSR's
// slots that carry per-edge weights (and their gradients) across. The weights themselves, their
// normalisation and everything else happen on the GPU (src/ops/sparse.ts).
import { adjacencyCsr, type Csr } from './csr.js';
import { gcnNorm } from './gcn-norm.js';
import { edgeCount, type Graph } from './graph.js';

export interface Propagation {
  /** [numNodes, numNodes]: row i lists the edges into node i (its values are 1; weights travel apart). */
  csr: Csr;
  /**
   * [slots]: the input edge whose weight slot s carries, or -1 for a self-loop the layer added
   * (weight 1). Where the input lists several loops at one node, the loop slot carries the last.
   */
  slotEntry: Int32Array;
  /** [E]: the slot each input edge's weight went to (a duplicate self-loop: its node's loop slot). */
  edgePosition: Int32Array;
}

export function propagationCsr(graph: Graph, addSelfLoops: boolean, where = 'propagationCsr'): Propagation {
  // gcnNorm lays out the looped edges exactly as PyG does (its float values are not used here).
  const looped = gcnNorm({ numNodes: graph.numNodes, edgeIndex: graph.edgeIndex }, { addSelfLoops }, where);
  const loopedEdges = looped.edgeIndex.length / 2;
  const entryOfLooped = new Int32Array(loopedEdges).fill(-1);
  looped.position.forEach((p, e) => (entryOfLooped[p] = e)); // in input order: the last loop wins
  const csr = adjacencyCsr({ numNodes: graph.numNodes, edgeIndex: looped.edgeIndex }, undefined, where);
  const slots = csr.entry.length;
  const slotOfLooped = new Int32Array(loopedEdges);
  const slotEntry = new Int32Array(slots);
  for (let s = 0; s < slots; s++) {
    slotOfLooped[csr.entry[s]!] = s;
    slotEntry[s] = entryOfLooped[csr.entry[s]!]!;
  }
  const edgePosition = Int32Array.from({ length: edgeCount(graph) }, (_, e) => slotOfLooped[looped.position[e]!]!);
  return { csr, slotEntry, edgePosition };
}
