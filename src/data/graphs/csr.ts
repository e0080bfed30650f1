// Compressed sparse rows: the layout the sparse x dense product walks, one row per output row.
// Built on the host from COO entries in O(entries + rows + columns) by two stable counting sorts.
import { validateGraph, sortByRowThenColumn, type Graph } from './graph.js';

export interface Csr {
  numRows: number;
  numCols: number;
  /** [numRows + 1]: row r holds the slots rowPtr[r] .. rowPtr[r + 1] - 1. */
  rowPtr: Int32Array;
  /** [nnz]: the column of each slot; within a row, ascending (duplicates in COO order). */
  colIdx: Int32Array;
  /** [nnz]: the value of each slot. */
  values: Float64Array;
  /**
   * [nnz]: the COO entry each slot came from, so per-entry data (edge weights, their gradients)
   * can be moved between COO order and slot order. Duplicates are kept as separate slots (a
   * product sums them, as torch.sparse sums the duplicates it coalesces).
   */
  entry: Int32Array;
}

/**
 * CSR of the COO matrix with entries (rowIndex[k], colIndex[k]) = values[k] (1 when absent).
 * Indices must lie in [0, numRows) and [0, numCols).
 */
export function cooToCsr(
  numRows: number,
  numCols: number,
  rowIndex: Int32Array,
  colIndex: Int32Array,
  values?: ArrayLike<number>,
  where = 'cooToCsr',
): Csr {
  for (const [what, n] of [['row', numRows], ['column', numCols]] as const) {
    if (!Number.isInteger(n) || n < 0) throw new Error(`${where}: expected a non-negative integer ${what} count, got ${n}`);
  }
  const nnz = rowIndex.length;
  if (colIndex.length !== nnz) throw new Error(`${where}: ${nnz} row indices but ${colIndex.length} column indices`);
  if (values !== undefined && values.length !== nnz) throw new Error(`${where}: ${nnz} entries but ${values.length} values`);
  for (const [what, index, n] of [['row', rowIndex, numRows], ['column', colIndex, numCols]] as const) {
    for (let k = 0; k < nnz; k++) {
      const i = index[k]!;
      if (i < 0 || i >= n) throw new Error(`${where}: entry ${k} has ${what} ${i}, expected 0 <= ${what} < ${n}`);
    }
  }
  const entry = sortByRowThenColumn(numRows, numCols, rowIndex, colIndex);
  const rowPtr = new Int32Array(numRows + 1);
  for (let k = 0; k < nnz; k++) rowPtr[rowIndex[k]! + 1]!++;
  for (let r = 0; r < numRows; r++) rowPtr[r + 1]! += rowPtr[r]!;
  const colIdx = new Int32Array(nnz);
  const slotValues = new Float64Array(nnz);
  for (let s = 0; s < nnz; s++) {
    const k = entry[s]!;
    colIdx[s] = colIndex[k]!;
    slotValues[s] = values === undefined ? 1 : values[k]!;
  }
  return { numRows, numCols, rowPtr, colIdx, values: slotValues, entry };
}

/** The row index of every slot (the inverse of rowPtr's compression). */
export function csrRowIndex(csr: Csr): Int32Array {
  const rows = new Int32Array(csr.colIdx.length);
  for (let r = 0; r < csr.numRows; r++) rows.fill(r, csr.rowPtr[r]!, csr.rowPtr[r + 1]!);
  return rows;
}

/** The transpose, still in CSR; its `entry` refers to the same COO entries as the input's. */
export function transposeCsr(csr: Csr): Csr {
  const t = cooToCsr(csr.numCols, csr.numRows, csr.colIdx, csrRowIndex(csr), csr.values, 'transposeCsr');
  return { ...t, entry: t.entry.map((slot) => csr.entry[slot]!) };
}

/**
 * The aggregation matrix of a graph: row i lists the edges into node i (targets are rows, sources
 * columns), so the product A X gives out[i] = sum over edges j -> i of weight * X[j], PyG's
 * message passing with flow 'source_to_target'. `values` (per edge, COO order) defaults to the
 * graph's edge weights, then to ones.
 */
export function adjacencyCsr(graph: Graph, values: ArrayLike<number> | undefined = graph.edgeWeight, where = 'adjacencyCsr'): Csr {
  validateGraph({ ...graph, edgeWeight: values }, where);
  const edges = graph.edgeIndex.length / 2;
  const sources = graph.edgeIndex.subarray(0, edges);
  const targets = graph.edgeIndex.subarray(edges);
  return cooToCsr(graph.numNodes, graph.numNodes, targets, sources, values, where);
}
