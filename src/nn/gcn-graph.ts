// A graph on the GPU for graph convolutions, built once and reused every epoch: the CSR of its
// edges (and the transpose its gradients walk), with and without the self-loops GCNConv adds,
// the maps that carry per-edge weights into slot order, and the normalised adjacency of the
// graph's own weights, computed on the GPU the first time a layer asks for it. A batch of graphs
// for graph classification is one block-diagonal GcnGraph plus its ReadoutIndex (graphBatch).
import type { Tape } from '../autograd/tape.js';
import { constant, type Variable } from '../autograd/variable.js';
import { batchGraphs } from '../data/graphs/batch.js';
import { edgeCount, validateGraph, type Graph } from '../data/graphs/graph.js';
import { propagationCsr } from '../data/graphs/propagation.js';
import { fail } from '../ops/check.js';
import { csrOperands, edgeWeightsToSlots, edgeWeightsToSlotsOp, gcnNorm, gcnNormOp, readoutIndex, sparseMatrix, type ReadoutIndex, type SparseMatrix } from '../ops/sparse.js';
import type { Engine } from '../runtime/engine.js';
import { shapeString, type Tensor } from '../runtime/tensor.js';

/** The propagation structure for one choice of self-loops. */
export interface GcnStructure {
  /** Rows are targets, columns sources. */
  readonly matrix: SparseMatrix;
  /** [slots]: the input edge each slot's weight comes from, -1 for an added self-loop. */
  readonly slotEntry: Tensor<'int32'>;
  /** [E]: each input edge's slot. */
  readonly edgePosition: Tensor<'int32'>;
}

export interface PropagationOptions {
  /** D^-1/2 A D^-1/2 (default true). */
  normalize: boolean;
  /** Add the remaining self-loops first (PyG's add_self_loops); only with normalize. */
  addSelfLoops: boolean;
}

export class GcnGraph {
  readonly numNodes: number;
  readonly numEdges: number;
  private readonly edgeIndex: Int32Array;
  /** The graph's own edge weights, uploaded once ([E]); absent: every edge weighs 1. */
  private readonly weight: Tensor | undefined;
  private readonly structures = new Map<boolean, GcnStructure>();
  private readonly constants = new Map<string, Tensor>();
  private disposed = false;

  private constructor(
    readonly engine: Engine,
    graph: Graph,
  ) {
    this.numNodes = graph.numNodes;
    this.numEdges = edgeCount(graph);
    this.edgeIndex = Int32Array.from(graph.edgeIndex);
    this.weight = graph.edgeWeight === undefined ? undefined : engine.tensor(Float32Array.from(graph.edgeWeight), [this.numEdges]);
  }

  /**
   * Checks the graph (node count, an int32 edge index [2, E] inside [0, numNodes), one weight per
   * edge) and keeps it; GPU structures are built when a layer first needs them.
   */
  static create(engine: Engine, graph: Graph): GcnGraph {
    validateGraph(graph, 'GcnGraph');
    return new GcnGraph(engine, graph);
  }

  private checkAlive(): void {
    if (this.disposed) fail('GcnGraph', 'used after dispose()');
  }

  /** The CSR with (addSelfLoops) or without the self-loops, built on first use. */
  structure(addSelfLoops: boolean): GcnStructure {
    this.checkAlive();
    let s = this.structures.get(addSelfLoops);
    if (!s) {
      const { csr, slotEntry, edgePosition } = propagationCsr({ numNodes: this.numNodes, edgeIndex: this.edgeIndex }, addSelfLoops, 'GcnGraph');
      s = { matrix: sparseMatrix(this.engine, csr), slotEntry: this.engine.tensor(slotEntry), edgePosition: this.engine.tensor(edgePosition) };
      this.structures.set(addSelfLoops, s);
    }
    return s;
  }

  /**
   * The value of each slot of structure(addSelfLoops) for a GCNConv: the edge weights, normalised
   * (gcnNorm) when asked. With `edgeWeight` (a Variable [E], e.g. learned) they are computed on
   * the tape, differentiably; without, from the graph's own weights (or ones), computed on the
   * GPU once and reused.
   */
  values(tape: Tape, options: PropagationOptions, edgeWeight?: Variable): Variable {
    const { normalize, addSelfLoops } = options;
    const s = this.structure(addSelfLoops);
    if (edgeWeight !== undefined) {
      if (edgeWeight.shape.length !== 1 || edgeWeight.shape[0] !== this.numEdges) {
        fail('GCNConv', `expected edgeWeight of shape [${this.numEdges}] (one per edge), got ${shapeString(edgeWeight.shape)}`);
      }
      const w = tape.apply(edgeWeightsToSlotsOp, [edgeWeight, s.slotEntry, s.edgePosition], {});
      return normalize ? tape.apply(gcnNormOp, [w, ...csrOperands(s.matrix)], {}) : w;
    }
    const key = `${normalize}/${addSelfLoops}`;
    let values = this.constants.get(key);
    if (!values) {
      const w = this.weight ? edgeWeightsToSlots(this.weight, s.slotEntry, s.edgePosition) : this.engine.tensor(new Float32Array(s.matrix.nnz).fill(1));
      values = normalize ? gcnNorm(s.matrix, w) : w;
      if (values !== w) w.dispose();
      this.constants.set(key, values);
    }
    return constant(values);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const s of this.structures.values()) {
      s.matrix.dispose();
      s.slotEntry.dispose();
      s.edgePosition.dispose();
    }
    for (const t of this.constants.values()) t.dispose();
    this.weight?.dispose();
    this.structures.clear();
    this.constants.clear();
  }
}

/** Several graphs as one block-diagonal GcnGraph, with the index a readout groups them by. */
export interface GraphBatch {
  graph: GcnGraph;
  readout: ReadoutIndex;
  numGraphs: number;
  /** [numGraphs + 1]: graph g's nodes in the batch are ptr[g] .. ptr[g + 1] - 1. */
  ptr: Int32Array;
  dispose(): void;
}

/** Batches `graphs` (PyG's DataLoader collation: batchGraphs) and uploads the result. */
export function graphBatch(engine: Engine, graphs: readonly Graph[]): GraphBatch {
  const batched = batchGraphs(graphs, 'graphBatch');
  const graph = GcnGraph.create(engine, batched);
  const readout = readoutIndex(engine, batched.batch, batched.numGraphs);
  return {
    graph,
    readout,
    numGraphs: batched.numGraphs,
    ptr: batched.ptr,
    dispose: () => {
      graph.dispose();
      readout.dispose();
    },
  };
}
