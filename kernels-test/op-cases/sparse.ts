// Sparse ops (src/ops/sparse.ts) on small graphs with what makes graphs awkward: an isolated node,
// a node with only outgoing edges (degree 0), a self-loop, a duplicate entry, an empty graph,
// rectangular matrices, unsorted node-to-graph indices; scalar and vec4 feature widths and every
// spmm layout. The CSR index operands are built on the host as sparseMatrix builds them; the
// PyTorch expressions rebuild the same matrices from them (gather + index_add, which is
// torch.sparse.mm's arithmetic without its dense fallback, so an infinity only reaches the rows
// whose slots hold it). k: the longest row (or graph) summed.
import { cooToCsr } from '../../src/data/graphs/csr.js';
import { propagationCsr } from '../../src/data/graphs/propagation.js';
import { csrIndices, type SpmmLayout } from '../../src/ops/sparse.js';
import type { OpCase, TensorSpec } from './case.js';

const ints = (values: ArrayLike<number>): TensorSpec => ({ shape: [values.length], values: Array.from(values) });

/** Edge pairs [source, target] as PyG's edge_index [2, E]. */
function edgeIndex(pairs: ReadonlyArray<readonly [number, number]>): Int32Array {
  return Int32Array.from([...pairs.map(([s]) => s), ...pairs.map(([, t]) => t)]);
}

/** The CSR [rows, cols] of COO entries (row, col) and its transpose, as case operands. */
function csrInputs(rows: number, cols: number, entries: ReadonlyArray<readonly [number, number]>): { inputs: Record<string, TensorSpec>; nnz: number; k: number } {
  const csr = cooToCsr(rows, cols, Int32Array.from(entries, ([r]) => r), Int32Array.from(entries, ([, c]) => c));
  const idx = csrIndices(csr);
  let k = 1;
  for (let r = 0; r < rows; r++) k = Math.max(k, csr.rowPtr[r + 1]! - csr.rowPtr[r]!);
  return {
    inputs: { rowPtr: ints(idx.rowPtr), colIdx: ints(idx.colIdx), tRowPtr: ints(idx.tRowPtr), tColIdx: ints(idx.tColIdx), tSlot: ints(idx.tSlot) },
    nnz: entries.length,
    k,
  };
}

// The rows of each slot, from rowPtr (torch side).
const ROWS = 'torch.repeat_interleave(torch.arange(rowPtr.numel() - 1), rowPtr.long().diff())';

function spmmCase(name: string, rows: number, cols: number, features: number, entries: ReadonlyArray<readonly [number, number]>, o: { bias?: boolean; layout?: SpmmLayout } = {}): OpCase {
  const { inputs, nnz, k } = csrInputs(rows, cols, entries);
  return {
    op: 'spmm',
    name,
    inputs: {
      x: { shape: [cols, features] },
      values: { shape: [nnz], range: [-1.5, 1.5] },
      ...inputs,
      ...(o.bias ? { bias: { shape: [features] } } : {}),
    },
    options: o.layout ? { layout: o.layout } : {},
    torch: `torch.zeros(rowPtr.numel() - 1, x.shape[1], dtype=torch.float64).index_add(0, ${ROWS}, values[:, None] * x[colIdx.long()])${o.bias ? ' + bias' : ''}`,
    k,
  };
}

// 6 nodes: 0-1-2 a triangle, 2-3, node 4 isolated, node 5 with a self-loop and a duplicate entry
// (5 -> 3 listed twice), as aggregation entries (target row, source column).
const SMALL: Array<[number, number]> = [
  [1, 0], [0, 1], [2, 1], [1, 2], [0, 2], [2, 0], [3, 2], [2, 3], [5, 5], [3, 5], [3, 5],
];

/** A ring of n nodes with chords: rows of different lengths, every row non-empty. */
function ring(n: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    out.push([i, (i + 1) % n], [(i + 1) % n, i]);
    if (i % 3 === 0) out.push([i, (i * 7 + 5) % n]);
  }
  return out;
}

function gcnNormCase(name: string, numNodes: number, pairs: ReadonlyArray<readonly [number, number]>, addSelfLoops: boolean): OpCase {
  const { csr } = propagationCsr({ numNodes, edgeIndex: edgeIndex(pairs) }, addSelfLoops);
  const idx = csrIndices(csr);
  let k = 1;
  for (let r = 0; r < numNodes; r++) k = Math.max(k, csr.rowPtr[r + 1]! - csr.rowPtr[r]!);
  return {
    op: 'gcnNorm',
    name,
    inputs: {
      weight: { shape: [idx.colIdx.length], range: [0.25, 1.75] },
      rowPtr: ints(idx.rowPtr),
      colIdx: ints(idx.colIdx),
      tRowPtr: ints(idx.tRowPtr),
      tColIdx: ints(idx.tColIdx),
      tSlot: ints(idx.tSlot),
    },
    // deg = index_add of the weights into their rows; dis = deg^-1/2 with inf -> 0 (PyG's gcn_norm).
    torch:
      `(lambda n, rows, cols, w: (lambda dis: dis[cols] * w * dis[rows])((lambda d: d.masked_fill(d == float('inf'), 0))(` +
      `torch.zeros(n, dtype=torch.float64).index_add(0, rows, w).pow(-0.5))))(rowPtr.numel() - 1, ${ROWS}, colIdx.long(), weight)`,
    k,
  };
}

// Directed: node 3 has only outgoing edges (no weight comes in: degree 0 without self-loops).
const DIRECTED: Array<[number, number]> = [[0, 1], [1, 2], [2, 0], [3, 0], [3, 4], [4, 1], [1, 4], [2, 2]];

function edgeWeightsCase(name: string, numNodes: number, pairs: ReadonlyArray<readonly [number, number]>, addSelfLoops: boolean): OpCase {
  const { slotEntry, edgePosition } = propagationCsr({ numNodes, edgeIndex: edgeIndex(pairs) }, addSelfLoops);
  return {
    op: 'edgeWeightsToSlots',
    name,
    inputs: { edgeWeight: { shape: [pairs.length], range: [0.25, 1.75] }, slotEntry: ints(slotEntry), edgePosition: ints(edgePosition) },
    torch: 'torch.where(slotEntry >= 0, edgeWeight[slotEntry.long().clamp(min=0)], torch.ones((), dtype=torch.float64))',
  };
}

function readoutCase(name: string, batch: readonly number[], numGraphs: number, features: number, reduce: 'sum' | 'mean' | 'max'): OpCase {
  const graphPtr = new Int32Array(numGraphs + 1);
  for (const g of batch) graphPtr[g + 1]!++;
  for (let g = 0; g < numGraphs; g++) graphPtr[g + 1]! += graphPtr[g]!;
  const next = graphPtr.slice(0, numGraphs);
  const nodeIds = new Int32Array(batch.length);
  batch.forEach((g, i) => (nodeIds[next[g]!++] = i));
  const sum = 'torch.zeros(graphPtr.numel() - 1, x.shape[1], dtype=torch.float64).index_add(0, batch.long(), x)';
  const torch = {
    sum,
    mean: `${sum} / graphPtr.diff().clamp(min=1)[:, None]`,
    // Each graph's max over its own nodes (the others masked with -inf); an empty graph reads 0.
    max:
      `torch.where(graphPtr.diff()[:, None] > 0, torch.where(batch.long()[None, :, None] == torch.arange(graphPtr.numel() - 1)[:, None, None], ` +
      `x[None], torch.tensor(float('-inf'), dtype=torch.float64)).amax(1), torch.zeros((), dtype=torch.float64))`,
  }[reduce];
  let k = 1;
  for (let g = 0; g < numGraphs; g++) k = Math.max(k, graphPtr[g + 1]! - graphPtr[g]!);
  return {
    op: 'readout',
    name: `${name}_${reduce}`,
    inputs: { x: { shape: [batch.length, features], range: [-2, 2] }, batch: ints(batch), graphPtr: ints(graphPtr), nodeIds: ints(nodeIds) },
    options: { reduce },
    torch,
    k,
  };
}

const many = Array.from({ length: 150 }, (_, i) => Math.floor(i / 2) + (i % 7 === 0 ? 1 : 0)).map((g) => Math.min(g, 69));

export const cases: OpCase[] = [
  spmmCase('small_f3_bias', 6, 6, 3, SMALL, { bias: true }),
  spmmCase('small_f8_vec4', 6, 6, 8, SMALL),
  spmmCase('rectangular_4x7_f5', 4, 7, 5, [[0, 6], [0, 1], [2, 3], [2, 0], [2, 6], [3, 5]], { bias: true }),
  spmmCase('rectangular_5x3_f4_empty_rows', 5, 3, 4, [[1, 0], [1, 2], [4, 1]], { bias: true }),
  spmmCase('no_edges_f4_bias', 3, 3, 4, [], { bias: true }),
  spmmCase('ring20_f12_rows_per_workgroup', 20, 20, 12, ring(20)),
  spmmCase('ring20_f6_rows_per_invocation', 20, 20, 6, ring(20), { bias: true, layout: { wg: 16, lanes: 1, rows: 16 } }),
  spmmCase('ring20_f12_four_rows_side_by_side', 20, 20, 12, ring(20), { layout: { wg: 16, lanes: 4, rows: 8 } }),
  spmmCase('ring20_f12_chunks_past_the_end', 20, 20, 12, ring(20), { bias: true, layout: { wg: 16, lanes: 2, rows: 16, chunk: 2 } }),
  spmmCase('ring20_f70_wide', 20, 20, 70, ring(20)),
  gcnNormCase('undirected_with_self_loops', 6, [[0, 1], [1, 0], [1, 2], [2, 1], [0, 2], [2, 0], [2, 3], [3, 2]], true),
  gcnNormCase('directed_source_only_node', 5, DIRECTED, false),
  gcnNormCase('directed_with_self_loops', 5, DIRECTED, true),
  edgeWeightsCase('self_loops_added_and_kept', 5, DIRECTED, true),
  edgeWeightsCase('no_self_loops', 5, DIRECTED, false),
  ...(['sum', 'mean', 'max'] as const).flatMap((reduce) => [
    readoutCase('sorted_with_an_empty_graph_f3', [0, 0, 0, 1, 1, 3, 3], 4, 3, reduce),
    readoutCase('unsorted_f8', [1, 0, 2, 0, 1, 2, 1, 0], 3, 8, reduce),
    readoutCase('70_graphs_f2', many, 70, 2, reduce),
  ]),
];
