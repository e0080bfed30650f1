// Sparse ops for graph convolutional networks, kernels in shaders/spmm.wgsl, gcn_norm.wgsl and
// readout.wgsl:
//   spmm                 out = A x (+ bias) for a CSR matrix A and a dense x (torch.sparse.mm);
//   edgeWeightsToSlots   per-edge weights (COO order) into a CSR's slot order;
//   gcnNorm              D^-1/2 A D^-1/2 of a CSR graph's slot weights (PyG's gcn_norm);
//   readout              one vector per graph: sum, mean or max over its nodes (PyG's global pools).
// All differentiable, all deterministic (gathers only). A CSR's index operands are int32 tensors
// built once per graph on the host (sparseMatrix): rowPtr and colIdx, and the transpose
// (tRowPtr, tColIdx, tSlot = the original slot of each transposed slot) that the gradients walk.
// Kernels check every index they read and write NaN rather than read outside a tensor, but a
// wrong CSR is only refused up front by sparseMatrix (the ops see shapes, not values).
import { transposeCsr, type Csr } from '../data/graphs/csr.js';
import { validateBatchIndex } from '../data/graphs/batch.js';
import { type ReadoutReduce } from '../reference/graph.js';
import { edgeWeightsToSlotsRef, gcnNormSlotsRef, readoutOperandsRef, spmmOperandsRef } from '../reference/sparse.js';
import { grid1d, limitName, type Engine } from '../runtime/engine.js';
import type { BindingKind, KernelSpec } from '../runtime/kernel.js';
import { shapeString, type Shape, type Tensor } from '../runtime/tensor.js';
import { params } from '../runtime/uniforms.js';
import { fail } from './check.js';
import { sumRows } from './reduce.js';
import { defineOp, narrow, type Checked, type Gradients } from './registry.js';

export type { ReadoutReduce };

// ---- the CSR operands --------------------------------------------------------------------------

/** A CSR matrix's structure on the GPU, with its transpose; values travel separately. */
export interface SparseMatrix {
  readonly numRows: number;
  readonly numCols: number;
  readonly nnz: number;
  /** [numRows + 1] */
  readonly rowPtr: Tensor<'int32'>;
  /** [nnz] */
  readonly colIdx: Tensor<'int32'>;
  /** [numCols + 1]: the transpose's rows (A's columns). */
  readonly tRowPtr: Tensor<'int32'>;
  /** [nnz]: the transpose's columns (A's rows). */
  readonly tColIdx: Tensor<'int32'>;
  /** [nnz]: the slot of A each slot of the transpose is (so both share one values tensor). */
  readonly tSlot: Tensor<'int32'>;
  dispose(): void;
}

/** Throws unless `csr` is a well-formed CSR matrix (what the kernels assume of their index operands). */
export function validateCsr(csr: Csr, where: string): void {
  const { numRows, numCols, rowPtr, colIdx } = csr;
  for (const [what, n] of [['row', numRows], ['column', numCols]] as const) {
    if (!Number.isInteger(n) || n < 0) fail(where, `expected a non-negative integer ${what} count, got ${n}`);
  }
  if (!(rowPtr instanceof Int32Array) || !(colIdx instanceof Int32Array)) fail(where, 'expected rowPtr and colIdx as Int32Arrays');
  if (rowPtr.length !== numRows + 1) fail(where, `expected rowPtr of ${numRows + 1} entries (rows + 1), got ${rowPtr.length}`);
  const nnz = colIdx.length;
  if (rowPtr[0] !== 0 || rowPtr[numRows] !== nnz) fail(where, `expected rowPtr to run from 0 to nnz = ${nnz}, got ${rowPtr[0]} to ${rowPtr[numRows]}`);
  for (let r = 0; r < numRows; r++) {
    if (rowPtr[r + 1]! < rowPtr[r]!) fail(where, `rowPtr decreases at row ${r} (${rowPtr[r]} then ${rowPtr[r + 1]})`);
  }
  for (let s = 0; s < nnz; s++) {
    const c = colIdx[s]!;
    if (c < 0 || c >= numCols) fail(where, `slot ${s} has column ${c}, expected 0 <= column < ${numCols}`);
  }
}

/** The index arrays of a SparseMatrix, on the host: the CSR's and its transpose's. */
export interface CsrIndices {
  rowPtr: Int32Array;
  colIdx: Int32Array;
  tRowPtr: Int32Array;
  tColIdx: Int32Array;
  tSlot: Int32Array;
}

/** A CSR's index arrays with its transpose's (checked first). */
export function csrIndices(csr: Csr, where = 'csrIndices'): CsrIndices {
  validateCsr(csr, where);
  // The transpose of the slots' own indices: its `entry` is then the original slot of each slot.
  const t = transposeCsr({ ...csr, entry: Int32Array.from({ length: csr.colIdx.length }, (_, s) => s) });
  return { rowPtr: csr.rowPtr, colIdx: csr.colIdx, tRowPtr: t.rowPtr, tColIdx: t.colIdx, tSlot: t.entry };
}

/** Uploads a CSR's structure and its transpose (checked first); the caller disposes it. */
export function sparseMatrix(engine: Engine, csr: Csr): SparseMatrix {
  const indices = csrIndices(csr, 'sparseMatrix');
  const tensors = {
    rowPtr: engine.tensor(indices.rowPtr),
    colIdx: engine.tensor(indices.colIdx),
    tRowPtr: engine.tensor(indices.tRowPtr),
    tColIdx: engine.tensor(indices.tColIdx),
    tSlot: engine.tensor(indices.tSlot),
  };
  return {
    numRows: csr.numRows,
    numCols: csr.numCols,
    nnz: csr.colIdx.length,
    ...tensors,
    dispose: () => Object.values(tensors).forEach((x) => x.dispose()),
  };
}

/** The five index operands of a SparseMatrix, in the order the ops take them. */
export function csrOperands(a: SparseMatrix): [Tensor<'int32'>, Tensor<'int32'>, Tensor<'int32'>, Tensor<'int32'>, Tensor<'int32'>] {
  return [a.rowPtr, a.colIdx, a.tRowPtr, a.tColIdx, a.tSlot];
}

const CSR_OPERANDS = [
  { name: 'rowPtr', dtype: 'int32' },
  { name: 'colIdx', dtype: 'int32' },
  { name: 'tRowPtr', dtype: 'int32' },
  { name: 'tColIdx', dtype: 'int32' },
  { name: 'tSlot', dtype: 'int32' },
] as const;

function expectVector(op: string, what: string, shape: Shape | undefined, length?: number): number {
  if (!shape || shape.length !== 1 || (length !== undefined && shape[0] !== length)) {
    fail(op, `expected ${what} of shape [${length ?? 'n'}], got ${shape ? shapeString(shape) : 'nothing'}`);
  }
  return shape[0]!;
}

/**
 * Checks the index operands of a CSR [rows, cols] with nnz slots (shapes only): returns rows.
 * `cols` is what the other operands say the column count is.
 */
function checkCsrShapes(op: string, [rowPtr, colIdx, tRowPtr, tColIdx, tSlot]: ReadonlyArray<Shape | undefined>, nnz: number, cols: number): number {
  const rows = expectVector(op, 'rowPtr (rows + 1)', rowPtr) - 1;
  if (rows < 0) fail(op, 'expected rowPtr of at least one entry (rows + 1), got shape [0]');
  expectVector(op, `colIdx (one per slot: ${nnz})`, colIdx, nnz);
  expectVector(op, `tRowPtr (columns + 1 = ${cols + 1})`, tRowPtr, cols + 1);
  expectVector(op, `tColIdx (one per slot: ${nnz})`, tColIdx, nnz);
  expectVector(op, `tSlot (one per slot: ${nnz})`, tSlot, nnz);
  return rows;
}

/**
 * Refuses a tensor over the binding limit (Engine.maxBindingBytes). The sparse kernels gather rows
 * of their dense operands from anywhere, so those must each fit in one binding; a split by row
 * blocks would only help the slot arrays and the output, and needs bindings at offsets.
 */
function expectBindable(op: string, engine: Engine, tensors: Record<string, Tensor<'float32' | 'int32'>>): void {
  const limit = engine.maxBindingBytes;
  for (const [name, t] of Object.entries(tensors)) {
    if (t.size * 4 > limit) {
      fail(op, `${name} ${shapeString(t.shape)} takes ${t.size * 4} bytes, over the storage-binding limit of ${limit} bytes (${limitName(engine)}); sparse ops bind each operand whole`);
    }
  }
}

// ---- spmm --------------------------------------------------------------------------------------

/** How spmm's invocations cover a [rows, width] output (see shaders/spmm.wgsl). */
export interface SpmmLayout {
  wg: number;
  lanes: number;
  rows: number;
  /** vec4 columns one lane accumulates per pass over a row's slots (vec4 kernel only; default 1). */
  chunk?: number;
}

/**
 * Rows side by side in a workgroup of 64, each row shared by as few lanes as cover its vec4 columns
 * at 8 per lane (CHUNK), so each pass over a row's slots loads its indices and values once for 8
 * vec4s of x. Measured on lavapipe (process CPU time, interleaved rounds: the machine was shared),
 * SBM 100k nodes / 1.1M slots, F = 64, relative to one row per workgroup with 16 lanes over its
 * vec4 columns: one row per invocation, one vec4 per pass 0.41-0.46; 4 lanes x 4 vec4 0.46-0.48;
 * 2 lanes x 8 vec4 0.32-0.35; 1 lane x 16 vec4 0.36. F = 16: 1 lane x 4 vec4 0.48 (4 lanes x 1:
 * 0.94). F = 2 (f32): 1 or 2 lanes per row 0.53 against 4-invocation workgroups.
 */
export function spmmLayout(width: number, vec4: boolean): SpmmLayout {
  const pow2 = (n: number) => Math.min(64, 2 ** Math.ceil(Math.log2(Math.max(1, n))));
  const chunk = vec4 ? Math.min(8, Math.max(1, width)) : 1;
  const lanes = pow2(Math.ceil(width / (vec4 ? chunk : 8)));
  const wg = 64;
  return { wg, lanes, rows: (2 * wg) / lanes, chunk };
}

function spmmKernel(vec4: boolean, layout: SpmmLayout, mode: { bias?: boolean; permuted?: boolean }): KernelSpec {
  const { bias = false, permuted = false } = mode;
  const name = `spmm.${vec4 ? 'vec4' : 'f32'}${bias ? '+bias' : ''}${permuted ? '.transposed' : ''}`;
  return {
    name,
    shader: 'spmm',
    entryPoint: vec4 ? 'spmm4' : 'spmm',
    defines: { WG: layout.wg, LANES: layout.lanes, ROWS: layout.rows, CHUNK: layout.chunk ?? 1, BIAS: bias, PERMUTED: permuted },
    bindings: ['uniform', 'read', 'read', 'read', 'read', 'write', 'read', 'read'],
  };
}

/**
 * out [rows, F] = A x (+ bias) for the CSR A given by (rowPtr, colIdx, values) and x [cols, F];
 * with `perm`, A's slot t takes values[perm[t]] (the transpose's pass).
 */
function recordSpmm(rowPtr: Tensor<'int32'>, colIdx: Tensor<'int32'>, values: Tensor, x: Tensor, bias?: Tensor, perm?: Tensor<'int32'>, layoutOverride?: SpmmLayout): Tensor {
  const engine = x.engine;
  const rows = rowPtr.size - 1;
  const [cols, f] = x.shape as [number, number];
  const out = engine.empty([rows, f]);
  if (rows * f === 0) return out;
  const vec4 = f % 4 === 0;
  const width = vec4 ? f / 4 : f;
  const layout = layoutOverride ?? spmmLayout(width, vec4);
  const kernel = spmmKernel(vec4, layout, { bias: bias !== undefined, permuted: perm !== undefined });
  // Bindings of vec4s hold at least one: an x without columns (nothing to read: every slot's
  // column is out of range) and the unused bias binding get a small stand-in.
  const stand = x.size >= 4 ? undefined : engine.zeros([4]);
  const xBound = stand ?? x;
  engine.dispatch(kernel, [rowPtr, colIdx, values, xBound, out, bias ?? xBound, perm ?? colIdx], grid1d(Math.ceil(rows / layout.rows), 1), params().u32(rows, cols, width, colIdx.size));
  stand?.dispose();
  return out;
}

const VALUES_GRAD_WG = 32;
const VALUES_GRAD_ROWS = 4;

/** grad_values [nnz]: per slot s of row r, dot(gradOut[r], x[colIdx[s]]). */
function recordValuesGrad(rowPtr: Tensor<'int32'>, colIdx: Tensor<'int32'>, gradOut: Tensor, x: Tensor): Tensor {
  const engine = x.engine;
  const rows = rowPtr.size - 1;
  const [cols, f] = x.shape as [number, number];
  const out = engine.empty([colIdx.size]);
  if (colIdx.size === 0) return out;
  if (f === 0) return engine.zeros([colIdx.size]);
  const vec4 = f % 4 === 0;
  const kernel: KernelSpec = {
    name: `spmm.values_grad${vec4 ? '4' : ''}`,
    shader: 'spmm',
    entryPoint: vec4 ? 'values_grad4' : 'values_grad',
    defines: { WG: VALUES_GRAD_WG, LANES: 1, ROWS: VALUES_GRAD_ROWS, CHUNK: 1, BIAS: false, PERMUTED: false },
    bindings: ['uniform', 'read', 'read', 'read', 'read', 'write'],
  };
  engine.dispatch(kernel, [rowPtr, colIdx, gradOut, x, out], grid1d(Math.ceil(rows / VALUES_GRAD_ROWS), 1), params().u32(rows, cols, vec4 ? f / 4 : f, colIdx.size));
  return out;
}

export interface SpmmOptions {
  /** Pins the kernel layout (for tuning and tests); default spmmLayout(width, vec4). */
  layout?: SpmmLayout;
}

interface SpmmChecked extends Checked {
  rows: number;
}

export const spmmOp = defineOp<SpmmOptions, SpmmChecked>({
  name: 'spmm',
  operands: [{ name: 'x' }, { name: 'values' }, ...CSR_OPERANDS, { name: 'bias', optional: true }],
  check: ([x, values, ...rest], options) => {
    const op = 'spmm';
    if (!x || x.length !== 2) fail(op, `expected x of shape [columns, features], got ${x ? shapeString(x) : 'nothing'}`);
    const [cols, f] = x;
    const nnz = expectVector(op, 'values (one per slot)', values);
    const rows = checkCsrShapes(op, rest.slice(0, 5), nnz, cols!);
    if (rest[5]) expectVector(op, `bias (one per feature: ${f})`, rest[5], f);
    if (options.layout !== undefined) checkLayout(op, options.layout);
    return { shape: [rows, f!], rows };
  },
  forward: ([x, values, rowPtr, colIdx, , , , bias], _checked, options) => {
    expectBindable('spmm', x!.engine, { x: x!, values: values!, colIdx: narrow(colIdx, 'int32') });
    return recordSpmm(narrow(rowPtr, 'int32'), narrow(colIdx, 'int32'), values!, x!, bias, undefined, options.layout);
  },
  backward: ({ gradOut, inputs: [x, values, rowPtr, colIdx, tRowPtr, tColIdx, tSlot], needs, options }): Gradients => [
    needs[0] ? recordSpmm(narrow(tRowPtr, 'int32'), narrow(tColIdx, 'int32'), values!, gradOut, undefined, narrow(tSlot, 'int32'), options.layout) : undefined,
    needs[1] ? recordValuesGrad(narrow(rowPtr, 'int32'), narrow(colIdx, 'int32'), gradOut, x!) : undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    needs[7] ? sumRows(gradOut) : undefined,
  ],
  reference: ([x, values, rowPtr, colIdx, , , , bias]) => spmmOperandsRef(x!, values!, rowPtr!, colIdx!, bias),
});

function checkLayout(op: string, { wg, lanes, rows, chunk = 1 }: SpmmLayout): void {
  const ok = [wg, lanes, rows, chunk].every((v) => Number.isInteger(v) && v > 0) && wg % lanes === 0 && rows % (wg / lanes) === 0 && wg <= 256 && chunk <= 16;
  if (!ok) fail(op, `expected a layout with lanes dividing wg (at most 256), rows a multiple of wg / lanes and chunk in 1..16, got ${JSON.stringify({ wg, lanes, rows, chunk })}`);
}

/**
 * A x (+ bias) for the sparse matrix A [rows, cols] (structure from sparseMatrix, one value per
 * slot) and a dense x [cols, F]: out [rows, F], out[r] = sum over r's slots s of values[s] x[colIdx[s]].
 * An empty row gives 0 (or the bias). Differentiable in x, values and bias.
 */
export function spmm(a: SparseMatrix, values: Tensor, x: Tensor, bias?: Tensor, options: SpmmOptions = {}): Tensor {
  return spmmOp.run([x, values, ...csrOperands(a), bias], options);
}

// ---- edge weights into slot order ----------------------------------------------------------

const GATHER_WG = 64;

function recordGather(index: Tensor<'int32'>, src: Tensor): Tensor {
  const out = src.engine.empty([index.size]);
  const kernel: KernelSpec = {
    name: 'spmm.gather',
    shader: 'spmm',
    entryPoint: 'gather',
    defines: { WG: GATHER_WG, LANES: 1, ROWS: 1, CHUNK: 1, BIAS: false, PERMUTED: false },
    bindings: ['uniform', 'read', 'read', 'write'],
  };
  src.engine.dispatch(kernel, [index, src, out], grid1d(index.size, GATHER_WG), params().u32(index.size, src.size, 1, 0));
  return out;
}

export const edgeWeightsToSlotsOp = defineOp<Record<string, never>, Checked>({
  name: 'edgeWeightsToSlots',
  operands: [{ name: 'edgeWeight' }, { name: 'slotEntry', dtype: 'int32' }, { name: 'edgePosition', dtype: 'int32' }],
  check: ([edgeWeight, slotEntry, edgePosition]) => {
    const op = 'edgeWeightsToSlots';
    const edges = expectVector(op, 'edgeWeight (one per edge)', edgeWeight);
    const slots = expectVector(op, 'slotEntry (one per slot)', slotEntry);
    expectVector(op, `edgePosition (one per edge: ${edges})`, edgePosition, edges);
    return { shape: [slots] };
  },
  forward: ([edgeWeight, slotEntry]) => recordGather(narrow(slotEntry, 'int32'), edgeWeight!),
  // Each edge's gradient is its slot's: a self-loop listed twice gets the gradient of the one
  // loop slot both map to (PyTorch's backward of gcn_norm's index assignment).
  backward: ({ gradOut, inputs: [, , edgePosition] }) => [recordGather(narrow(edgePosition, 'int32'), gradOut), undefined, undefined],
  reference: ([edgeWeight, slotEntry]) => edgeWeightsToSlotsRef(edgeWeight!, slotEntry!),
});

/**
 * Per-edge weights [E] (COO order) into a CSR's slot order [S]: slot s takes
 * edgeWeight[slotEntry[s]], or 1 where slotEntry[s] is -1 (a self-loop added to the graph).
 * edgePosition [E] is each edge's slot, for the gradient.
 */
export function edgeWeightsToSlots(edgeWeight: Tensor, slotEntry: Tensor<'int32'>, edgePosition: Tensor<'int32'>): Tensor {
  return edgeWeightsToSlotsOp.run([edgeWeight, slotEntry, edgePosition], {});
}

// ---- gcnNorm -----------------------------------------------------------------------------------

const NORM_WG = 64;
type NormEntry = 'degree' | 'normalize' | 'scale_grad_in' | 'degree_grad' | 'weight_grad';
const NORM_BINDINGS: Record<NormEntry, readonly BindingKind[]> = {
  degree: ['uniform', 'read', 'write', 'read'],
  normalize: ['uniform', 'read', 'read', 'read', 'read', 'write'],
  scale_grad_in: ['uniform', 'read', 'read', 'read', 'read', 'read', 'write'],
  degree_grad: ['uniform', 'read', 'read', 'read', 'read', 'read', 'write', 'read'],
  weight_grad: ['uniform', 'read', 'read', 'write', 'read', 'read', 'read'],
};

function normDispatch(entry: NormEntry, buffers: Array<Tensor<'float32' | 'int32'>>, rows: number, nnz: number): void {
  const kernel: KernelSpec = { name: `gcnNorm.${entry}`, shader: 'gcn_norm', entryPoint: entry, defines: { WG: NORM_WG }, bindings: NORM_BINDINGS[entry] };
  buffers[0]!.engine.dispatch(kernel, buffers, grid1d(rows, NORM_WG), params().u32(rows, nnz));
}

export const gcnNormOp = defineOp<Record<string, never>, Checked & { rows: number }>({
  name: 'gcnNorm',
  operands: [{ name: 'weight' }, ...CSR_OPERANDS],
  check: ([weight, ...csr]) => {
    const op = 'gcnNorm';
    const nnz = expectVector(op, 'weight (one per slot)', weight);
    const rowPtr = csr[0];
    const rows = rowPtr && rowPtr.length === 1 ? rowPtr[0]! - 1 : 0;
    checkCsrShapes(op, csr, nnz, rows); // square: tRowPtr has rows + 1 entries too
    return { shape: [nnz], rows };
  },
  forward: ([weight, rowPtr, colIdx], { rows }, _options, record) => {
    const engine = weight!.engine;
    const nnz = weight!.size;
    expectBindable('gcnNorm', engine, { weight: weight! });
    const rp = narrow(rowPtr, 'int32');
    const ci = narrow(colIdx, 'int32');
    const dd = engine.empty([2, rows]); // degree, then degree^-1/2
    const norm = engine.empty([nnz]);
    normDispatch('degree', [rp, dd, weight!], rows, nnz);
    normDispatch('normalize', [rp, ci, weight!, dd, norm], rows, nnz);
    if (!record) {
      dd.dispose();
      return norm;
    }
    return { output: norm, saved: { dd } };
  },
  backward: ({ gradOut, inputs: [weight, rowPtr, colIdx, tRowPtr, tColIdx, tSlot], saved, checked: { rows } }) => {
    const engine = gradOut.engine;
    const nnz = gradOut.size;
    const [rp, ci] = [narrow(rowPtr, 'int32'), narrow(colIdx, 'int32')];
    const ddeg = engine.empty([rows]);
    normDispatch('scale_grad_in', [rp, ci, weight!, narrow(saved.dd, 'float32'), gradOut, ddeg], rows, nnz);
    normDispatch('degree_grad', [narrow(tRowPtr, 'int32'), narrow(tColIdx, 'int32'), weight!, narrow(saved.dd, 'float32'), gradOut, ddeg, narrow(tSlot, 'int32')], rows, nnz);
    const gradWeight = engine.empty([nnz]);
    normDispatch('weight_grad', [rp, ci, gradWeight, narrow(saved.dd, 'float32'), gradOut, ddeg], rows, nnz);
    ddeg.dispose();
    return [gradWeight, undefined, undefined, undefined, undefined, undefined];
  },
  reference: ([weight, rowPtr, colIdx]) => gcnNormSlotsRef(weight!, rowPtr!, colIdx!),
});

/**
 * The symmetric normalisation of a graph's slot weights [S] over its square CSR A (rows are
 * targets, columns sources, self-loops included as the caller added them), as PyTorch
 * Geometric's gcn_norm: deg[i] = the weight into node i, norm[s] = deg[col]^-1/2 w[s] deg[row]^-1/2
 * with deg^-1/2 = 0 where deg = 0. Differentiable in the weights.
 */
export function gcnNorm(a: SparseMatrix, weight: Tensor): Tensor {
  return gcnNormOp.run([weight, ...csrOperands(a)], {});
}

// ---- readout -----------------------------------------------------------------------------------

/** The grouping of nodes into graphs that readout takes, on the GPU (built by readoutIndex). */
export interface ReadoutIndex {
  readonly numNodes: number;
  readonly numGraphs: number;
  /** [numNodes]: each node's graph (PyG's `batch`). */
  readonly batch: Tensor<'int32'>;
  /** [numGraphs + 1]: graph g's nodes are nodeIds[graphPtr[g] .. graphPtr[g + 1]). */
  readonly graphPtr: Tensor<'int32'>;
  /** [numNodes]: the nodes grouped by graph (0..N-1 when batch is sorted, as batchGraphs makes it). */
  readonly nodeIds: Tensor<'int32'>;
  dispose(): void;
}

/** Uploads a node-to-graph index (any order; checked first) with its grouping by graph. */
export function readoutIndex(engine: Engine, batch: Int32Array, numGraphs: number): ReadoutIndex {
  validateBatchIndex(batch, batch.length, numGraphs, 'readoutIndex');
  const graphPtr = new Int32Array(numGraphs + 1);
  for (const g of batch) graphPtr[g + 1]!++;
  for (let g = 0; g < numGraphs; g++) graphPtr[g + 1]! += graphPtr[g]!;
  const next = graphPtr.slice(0, numGraphs);
  const nodeIds = new Int32Array(batch.length);
  batch.forEach((g, i) => (nodeIds[next[g]!++] = i));
  const tensors = { batch: engine.tensor(Int32Array.from(batch)), graphPtr: engine.tensor(graphPtr), nodeIds: engine.tensor(nodeIds) };
  return { numNodes: batch.length, numGraphs, ...tensors, dispose: () => Object.values(tensors).forEach((t) => t.dispose()) };
}

export interface ReadoutOptions {
  reduce: ReadoutReduce;
}

const READOUT_WG = 64;
const REDUCE_CODE: Record<ReadoutReduce, number> = { sum: 0, mean: 1, max: 2 };

function readoutKernel(entry: string, vec4: boolean, reduce: ReadoutReduce, lanes: number, bindings: readonly BindingKind[]): KernelSpec {
  const name = `readout.${entry}${vec4 ? '4' : ''}.${reduce}`;
  return { name, shader: 'readout', entryPoint: `${entry}${vec4 ? '4' : ''}`, defines: { WG: READOUT_WG, LANES: lanes, REDUCE: REDUCE_CODE[reduce] }, bindings };
}

/** Lanes per graph: the feature columns rounded up to a power of two, at most the workgroup. */
function readoutLanes(width: number): number {
  return Math.min(READOUT_WG, 2 ** Math.ceil(Math.log2(Math.max(1, width))));
}

export const readoutOp = defineOp<ReadoutOptions, Checked & { graphs: number }>({
  name: 'readout',
  operands: [{ name: 'x' }, { name: 'batch', dtype: 'int32' }, { name: 'graphPtr', dtype: 'int32' }, { name: 'nodeIds', dtype: 'int32' }],
  check: ([x, batch, graphPtr, nodeIds], { reduce }) => {
    const op = 'readout';
    if (!['sum', 'mean', 'max'].includes(reduce)) fail(op, `expected reduce 'sum', 'mean' or 'max', got ${JSON.stringify(reduce)}`);
    if (!x || x.length !== 2) fail(op, `expected x of shape [nodes, features], got ${x ? shapeString(x) : 'nothing'}`);
    const nodes = x[0]!;
    expectVector(op, `batch (one graph per node: ${nodes})`, batch, nodes);
    const graphs = expectVector(op, 'graphPtr (graphs + 1)', graphPtr) - 1;
    if (graphs < 0) fail(op, 'expected graphPtr of at least one entry (graphs + 1), got shape [0]');
    expectVector(op, `nodeIds (the ${nodes} nodes grouped by graph)`, nodeIds, nodes);
    return { shape: [graphs, x[1]!], graphs };
  },
  forward: ([x, , graphPtr, nodeIds], { graphs }, { reduce }) => {
    const engine = x!.engine;
    expectBindable('readout', engine, { x: x! });
    const f = x!.shape[1]!;
    if (x!.shape[0] === 0) return engine.zeros([graphs, f]); // graphs without nodes read out 0
    const out = engine.empty([graphs, f]);
    if (graphs * f === 0) return out;
    const vec4 = f % 4 === 0;
    const width = vec4 ? f / 4 : f;
    const lanes = readoutLanes(width);
    const kernel = readoutKernel('readout', vec4, reduce, lanes, ['uniform', 'read', 'read', 'read', 'write']);
    engine.dispatch(kernel, [narrow(graphPtr, 'int32'), narrow(nodeIds, 'int32'), x!, out], grid1d(Math.ceil(graphs / (READOUT_WG / lanes)), 1), params().u32(graphs, x!.shape[0]!, width));
    return out;
  },
  backward: ({ gradOut, inputs: [x, batch, graphPtr, nodeIds], output, options: { reduce }, checked: { graphs } }) => {
    const engine = x!.engine;
    const [nodes, f] = x!.shape as [number, number];
    const grad = engine.empty([nodes, f]);
    if (nodes * f === 0) return [grad, undefined, undefined, undefined];
    const vec4 = f % 4 === 0;
    const width = vec4 ? f / 4 : f;
    const uniforms = params().u32(graphs, nodes, width);
    const perElement = grid1d(nodes * width, READOUT_WG);
    const [b, gp] = [narrow(batch, 'int32'), narrow(graphPtr, 'int32')];
    if (reduce !== 'max') {
      engine.dispatch(readoutKernel('backward', vec4, reduce, 1, ['uniform', 'read', 'read', 'read', 'write']), [b, gp, gradOut, grad], perElement, uniforms);
      return [grad, undefined, undefined, undefined];
    }
    const lanes = readoutLanes(width);
    const share = engine.empty([graphs, f]);
    const scaleKernel = readoutKernel('max_scale', vec4, reduce, lanes, ['uniform', 'read', 'read', 'read', 'write', 'read', 'read']);
    engine.dispatch(scaleKernel, [gp, narrow(nodeIds, 'int32'), x!, share, output, gradOut], grid1d(Math.ceil(graphs / (READOUT_WG / lanes)), 1), uniforms);
    // max_backward reads no graphPtr: binding 2 gets it as a dummy, so the bindings stay contiguous.
    const backKernel = readoutKernel('max_backward', vec4, reduce, 1, ['uniform', 'read', 'read', 'read', 'write', 'read', 'read']);
    engine.dispatch(backKernel, [b, gp, x!, grad, output, share], perElement, uniforms);
    share.dispose();
    return [grad, undefined, undefined, undefined];
  },
  reference: ([x, batch, graphPtr], { reduce }) => readoutOperandsRef(x!, batch!, graphPtr!, reduce),
});

/**
 * One vector per graph from its nodes' features x [nodes, F], as PyG's global_add_pool,
 * global_mean_pool and global_max_pool: out [graphs, F]. An empty graph reads out 0; max
 * propagates NaN. Differentiable in x (max splits the gradient evenly among tied maxima, as
 * torch.amax does).
 */
export function readout(x: Tensor, index: ReadoutIndex, reduce: ReadoutReduce): Tensor {
  return readoutOp.run([x, index.batch, index.graphPtr, index.nodeIds], { reduce });
}
