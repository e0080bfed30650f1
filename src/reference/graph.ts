// Graph convolution from the definitions, in float64: the sparse x dense product over CSR, PyTorch
// Geometric's GCNConv, and the per-graph readout, each with its backward pass.
import { adjacencyCsr, type Csr } from '../data/graphs/csr.js';
import { gcnNorm, invSqrtDegree } from '../data/graphs/gcn-norm.js';
import { validateBatchIndex } from '../data/graphs/batch.js';
import type { Graph } from '../data/graphs/graph.js';
import { hostZeros, type HostTensor } from './host-tensor.js';
import { linearBackwardRef } from './linear-backward.js';
import { linearRef } from './gemm.js';
import { sumRowsRef } from './reduce.js';

function checkMatrix(t: HostTensor, rows: number | undefined, cols: number | undefined, what: string, where: string): void {
  const [r, c] = t.shape;
  if (t.shape.length !== 2 || (rows !== undefined && r !== rows) || (cols !== undefined && c !== cols)) {
    const expected = `[${rows ?? 'rows'}, ${cols ?? 'columns'}]`;
    throw new Error(`${where}: expected ${what} ${expected}, got [${t.shape.join(', ')}]`);
  }
}

/** out = A x for a CSR matrix A [R, C] and a dense x [C, F]: out[r] = sum over slots s of row r of values[s] x[colIdx[s]]. */
export function spmmRef(a: Csr, x: HostTensor): HostTensor {
  checkMatrix(x, a.numCols, undefined, 'a dense operand', 'spmmRef');
  const features = x.shape[1]!;
  const out = hostZeros([a.numRows, features]);
  for (let r = 0; r < a.numRows; r++) {
    for (let s = a.rowPtr[r]!; s < a.rowPtr[r + 1]!; s++) {
      const w = a.values[s]!;
      const from = a.colIdx[s]! * features;
      for (let f = 0; f < features; f++) out.data[r * features + f]! += w * x.data[from + f]!;
    }
  }
  return out;
}

export interface SpmmGradientsRef {
  /** d/dx = A^T gradOut [C, F]. */
  gradX: HostTensor;
  /** d/dvalues [nnz], in slot order: gradValues[s] = gradOut[row of s] . x[colIdx[s]]. */
  gradValues: Float64Array;
}

export function spmmBackwardRef(gradOut: HostTensor, a: Csr, x: HostTensor): SpmmGradientsRef {
  checkMatrix(x, a.numCols, undefined, 'a dense operand', 'spmmBackwardRef');
  const features = x.shape[1]!;
  checkMatrix(gradOut, a.numRows, features, 'gradOut', 'spmmBackwardRef');
  const gradX = hostZeros(x.shape);
  const gradValues = new Float64Array(a.values.length);
  for (let r = 0; r < a.numRows; r++) {
    for (let s = a.rowPtr[r]!; s < a.rowPtr[r + 1]!; s++) {
      const w = a.values[s]!;
      const c = a.colIdx[s]!;
      let dot = 0;
      for (let f = 0; f < features; f++) {
        const g = gradOut.data[r * features + f]!;
        gradX.data[c * features + f]! += w * g;
        dot += g * x.data[c * features + f]!;
      }
      gradValues[s] = dot;
    }
  }
  return { gradX, gradValues };
}

export interface GcnConvRefOptions {
  /** Normalise symmetrically (gcnNorm); default true. */
  normalize?: boolean;
  /** Add the remaining self-loops; default = normalize. PyG refuses loops without normalisation. */
  addSelfLoops?: boolean;
}

/** The edges messages travel along and their weights, as GCNConv builds them (see gcn-norm.ts). */
function propagation(graph: Graph, options: GcnConvRefOptions, where: string) {
  const normalize = options.normalize ?? true;
  const addSelfLoops = options.addSelfLoops ?? normalize;
  if (addSelfLoops && !normalize) {
    throw new Error(`${where}: addSelfLoops needs normalize (PyG's GCNConv adds self-loops only while normalising)`);
  }
  const norm = gcnNorm(graph, { addSelfLoops }, where);
  const values = normalize ? norm.norm : norm.weight;
  const a = adjacencyCsr({ numNodes: graph.numNodes, edgeIndex: norm.edgeIndex }, values, where);
  return { normalize, norm, a };
}

function checkGcnArguments(x: HostTensor, graph: Graph, weight: HostTensor, bias: HostTensor | undefined, where: string): void {
  checkMatrix(weight, undefined, undefined, 'lin.weight', where);
  checkMatrix(x, graph.numNodes, weight.shape[1], 'node features', where);
  if (bias !== undefined && (bias.shape.length !== 1 || bias.shape[0] !== weight.shape[0])) {
    throw new Error(`${where}: expected bias [${weight.shape[0]}], got [${bias.shape.join(', ')}]`);
  }
}

/**
 * PyG's GCNConv: out = Â (x lin.weight^T) + bias with Â = D^-1/2 (A + I) D^-1/2 (gcnNorm) when
 * normalising, else Â = A weighted by the edge weights as given. x [N, in], weight [out, in],
 * bias [out]; row i of Â gathers the edges into node i.
 */
export function gcnConvRef(x: HostTensor, graph: Graph, weight: HostTensor, bias?: HostTensor, options: GcnConvRefOptions = {}): HostTensor {
  checkGcnArguments(x, graph, weight, bias, 'gcnConvRef');
  const { a } = propagation(graph, options, 'gcnConvRef');
  const out = spmmRef(a, linearRef(x, weight));
  if (bias !== undefined) {
    const outF = weight.shape[0]!;
    for (let i = 0; i < out.data.length; i++) out.data[i]! += bias.data[i % outF]!;
  }
  return out;
}

export interface GcnConvGradientsRef {
  gradX: HostTensor;
  gradWeight: HostTensor;
  /** Sum of gradOut over nodes (meaningful when the layer has a bias). */
  gradBias: HostTensor;
  /**
   * [E], in the input's edge order: the gradient for the edge weights (for the implicit weights 1
   * when the graph has none), through the normalisation when normalising. Self-loops added by the
   * layer are constants and get none.
   */
  gradEdgeWeight: Float64Array;
}

/**
 * The gradients of gcnConvRef for upstream gradOut [N, out]. With H = x W^T and
 * norm[e] = s[src] w[e] s[dst], s = deg^-1/2 (0 where deg = 0), deg[i] = sum of w over edges into i:
 *   dH = Â^T gradOut, dx = dH W, dW = dH^T x, dbias = sum over nodes of gradOut,
 *   dnorm[e] = gradOut[dst] . H[src]
 *   dw[e] = dnorm[e] s[src] s[dst] + ddeg[dst],   ddeg[k] = ds[k] * (-1/2) deg[k]^-3/2,
 *   ds[k] = sum over e with src = k of dnorm[e] w[e] s[dst] + sum over e with dst = k of dnorm[e] s[src] w[e].
 * As in PyTorch, ds is zeroed where s was masked (deg = 0); the product with deg^-3/2 = inf then
 * gives NaN there (PyTorch's pow backward does the same), which reaches an edge weight only when
 * edges enter a node whose incoming weights sum to 0.
 */
export function gcnConvBackwardRef(
  gradOut: HostTensor,
  x: HostTensor,
  graph: Graph,
  weight: HostTensor,
  options: GcnConvRefOptions = {},
): GcnConvGradientsRef {
  checkGcnArguments(x, graph, weight, undefined, 'gcnConvBackwardRef');
  checkMatrix(gradOut, graph.numNodes, weight.shape[0], 'gradOut', 'gcnConvBackwardRef');
  const { normalize, norm, a } = propagation(graph, options, 'gcnConvBackwardRef');
  const h = linearRef(x, weight);
  const { gradX: gradH, gradValues } = spmmBackwardRef(gradOut, a, h);
  const { gradInput: gradX, gradWeight } = linearBackwardRef(gradH, x, weight); // lin has no bias
  const gradBias = sumRowsRef(gradOut);

  const loopedEdges = norm.weight.length;
  const gradNorm = new Float64Array(loopedEdges);
  for (let s = 0; s < a.entry.length; s++) gradNorm[a.entry[s]!] = gradValues[s]!;
  let gradLooped = gradNorm;
  if (normalize) {
    const { edgeIndex, weight: w, degree } = norm;
    const scale = invSqrtDegree(degree);
    const src = (e: number) => edgeIndex[e]!;
    const dst = (e: number) => edgeIndex[loopedEdges + e]!;
    const gradScale = new Float64Array(graph.numNodes);
    for (let e = 0; e < loopedEdges; e++) {
      gradScale[src(e)]! += gradNorm[e]! * w[e]! * scale[dst(e)]!;
      gradScale[dst(e)]! += gradNorm[e]! * scale[src(e)]! * w[e]!;
    }
    const gradDegree = gradScale.map((g, k) => (Math.pow(degree[k]!, -0.5) === Infinity ? 0 : g) * -0.5 * Math.pow(degree[k]!, -1.5));
    gradLooped = gradNorm.map((g, e) => g * scale[src(e)]! * scale[dst(e)]! + gradDegree[dst(e)]!);
  }
  const gradEdgeWeight = Float64Array.from(norm.position, (p) => gradLooped[p]!);
  return { gradX, gradWeight, gradBias, gradEdgeWeight };
}

export type ReadoutReduce = 'sum' | 'mean' | 'max';

function checkReadout(x: HostTensor, batch: Int32Array, numGraphs: number, reduce: ReadoutReduce, where: string): void {
  checkMatrix(x, undefined, undefined, 'node features', where);
  validateBatchIndex(batch, x.shape[0]!, numGraphs, where);
  if (!['sum', 'mean', 'max'].includes(reduce)) throw new Error(`${where}: expected reduce 'sum', 'mean' or 'max', got ${JSON.stringify(reduce)}`);
}

/**
 * One vector per graph from the features of its nodes, PyG's global_{add,mean,max}_pool:
 * x [N, F], batch [N] (node -> graph, any order), out [numGraphs, F]. A graph with no nodes reads
 * out 0 for every reduction (PyG's scatter fills empty segments with 0). max propagates NaN.
 */
export function readoutRef(x: HostTensor, batch: Int32Array, numGraphs: number, reduce: ReadoutReduce): HostTensor {
  checkReadout(x, batch, numGraphs, reduce, 'readoutRef');
  const features = x.shape[1]!;
  const out = hostZeros([numGraphs, features]);
  const count = new Float64Array(numGraphs);
  if (reduce === 'max') out.data.fill(-Infinity);
  for (let i = 0; i < batch.length; i++) {
    const g = batch[i]!;
    count[g]!++;
    for (let f = 0; f < features; f++) {
      const v = x.data[i * features + f]!;
      const o = g * features + f;
      if (reduce !== 'max') out.data[o]! += v;
      else if (Number.isNaN(v) || v > out.data[o]!) out.data[o] = v; // once NaN, v > NaN never holds
    }
  }
  for (let g = 0; g < numGraphs; g++) {
    for (let f = 0; f < features; f++) {
      const o = g * features + f;
      if (count[g] === 0) out.data[o] = 0;
      else if (reduce === 'mean') out.data[o]! /= count[g]!;
    }
  }
  return out;
}

/**
 * The gradient of readoutRef for gradOut [numGraphs, F]: sum copies gradOut[g] to every node of g,
 * mean divides it by g's node count, and max splits it evenly among the nodes equal to the
 * maximum, as torch.amax's backward does (a tie of k nodes gives each 1/k; a NaN maximum gives
 * NaN to every node of the graph, for that feature).
 * PyG's max pool on the CPU (scatter_reduce 'amax' into zeros, include_self=False) differs from
 * this in torch 1.13 in one case: where the maximum is exactly 0 it counts the zero it started
 * from as one more tie. That is an artefact, not a rule, and is not reproduced.
 */
export function readoutBackwardRef(gradOut: HostTensor, x: HostTensor, batch: Int32Array, numGraphs: number, reduce: ReadoutReduce): HostTensor {
  checkReadout(x, batch, numGraphs, reduce, 'readoutBackwardRef');
  const features = x.shape[1]!;
  checkMatrix(gradOut, numGraphs, features, 'gradOut', 'readoutBackwardRef');
  const grad = hostZeros(x.shape);
  const share = new Float64Array(numGraphs * features); // how many nodes each gradient is divided among
  let max: HostTensor | undefined;
  if (reduce === 'max') {
    max = readoutRef(x, batch, numGraphs, 'max');
    for (let i = 0; i < batch.length; i++) {
      for (let f = 0; f < features; f++) if (x.data[i * features + f] === max.data[batch[i]! * features + f]) share[batch[i]! * features + f]!++;
    }
  } else if (reduce === 'mean') {
    for (const g of batch) for (let f = 0; f < features; f++) share[g * features + f]!++;
  } else {
    share.fill(1);
  }
  for (let i = 0; i < batch.length; i++) {
    for (let f = 0; f < features; f++) {
      const o = batch[i]! * features + f;
      const selected = max === undefined || x.data[i * features + f] === max.data[o] ? 1 : 0;
      grad.data[i * features + f] = selected * (gradOut.data[o]! / share[o]!);
    }
  }
  return grad;
}
