// The sparse ops of src/ops/sparse.ts from their operands, in float64: the CSR given as index
// tensors (rowPtr, colIdx as host tensors of integers), built on the definitions in graph.ts.
import type { Csr } from '../data/graphs/csr.js';
import { invSqrtDegree } from '../data/graphs/gcn-norm.js';
import { readoutRef, spmmRef, type ReadoutReduce } from './graph.js';
import { hostZeros, type HostTensor } from './host-tensor.js';

/** A CSR matrix [rows, cols] from index operands; its values default to NaN (set them before use). */
export function csrFromOperands(rowPtr: HostTensor, colIdx: HostTensor, numCols: number, values?: HostTensor): Csr {
  const nnz = colIdx.data.length;
  return {
    numRows: rowPtr.data.length - 1,
    numCols,
    rowPtr: Int32Array.from(rowPtr.data),
    colIdx: Int32Array.from(colIdx.data),
    values: values ? Float64Array.from(values.data) : new Float64Array(nnz).fill(NaN),
    entry: Int32Array.from({ length: nnz }, (_, s) => s),
  };
}

/** spmm's reference: A x (+ bias), A's slots (rowPtr, colIdx) weighted by values. */
export function spmmOperandsRef(x: HostTensor, values: HostTensor, rowPtr: HostTensor, colIdx: HostTensor, bias?: HostTensor): HostTensor {
  const out = spmmRef(csrFromOperands(rowPtr, colIdx, x.shape[0]!, values), x);
  if (bias) {
    const f = x.shape[1]!;
    for (let i = 0; i < out.data.length; i++) out.data[i]! += bias.data[i % f]!;
  }
  return out;
}

/** edgeWeightsToSlots' reference: slot s takes edgeWeight[slotEntry[s]], or 1 where slotEntry[s] is -1. */
export function edgeWeightsToSlotsRef(edgeWeight: HostTensor, slotEntry: HostTensor): HostTensor {
  const out = hostZeros([slotEntry.data.length]);
  slotEntry.data.forEach((e, s) => {
    out.data[s] = e === -1 ? 1 : e >= 0 && e < edgeWeight.data.length ? edgeWeight.data[e]! : NaN;
  });
  return out;
}

/**
 * gcnNorm's reference on a square CSR whose rows are targets: deg[i] = sum of row i's weights,
 * norm[s] = deg[col]^-1/2 * weight[s] * deg[row]^-1/2 (with gcn_norm's inf -> 0).
 */
export function gcnNormSlotsRef(weight: HostTensor, rowPtr: HostTensor, colIdx: HostTensor): HostTensor {
  const a = csrFromOperands(rowPtr, colIdx, rowPtr.data.length - 1, weight);
  const degree = new Float64Array(a.numRows);
  for (let r = 0; r < a.numRows; r++) for (let s = a.rowPtr[r]!; s < a.rowPtr[r + 1]!; s++) degree[r]! += a.values[s]!;
  const scale = invSqrtDegree(degree);
  const out = hostZeros([a.values.length]);
  for (let r = 0; r < a.numRows; r++) {
    for (let s = a.rowPtr[r]!; s < a.rowPtr[r + 1]!; s++) out.data[s] = scale[a.colIdx[s]!]! * a.values[s]! * scale[r]!;
  }
  return out;
}

/** readout's reference from its operands (the node-to-graph index decides; ptr only sizes it). */
export function readoutOperandsRef(x: HostTensor, batch: HostTensor, graphPtr: HostTensor, reduce: ReadoutReduce): HostTensor {
  return readoutRef(x, Int32Array.from(batch.data), graphPtr.data.length - 1, reduce);
}
