// Graphs in PyTorch Geometric's coordinate (COO) form, and the checks every graph function runs
// before it touches one. The conventions, shared by every loader and op:
// - nodes are 0..numNodes-1; a node may have no edges (isolated) and a graph may have no edges;
// - edgeIndex is PyG's edge_index [2, E] as one row-major Int32Array: sources in [0, E), targets
//   in [E, 2E); messages flow source -> target (PyG's flow 'source_to_target'), so a node
//   aggregates over its incoming edges;
// - an undirected graph lists every edge in both directions, and the loaders return it coalesced
//   (sorted by source, then target, no duplicates), as PyG's to_undirected does.

export interface Graph {
  numNodes: number;
  /** edge_index [2, E], row-major: edgeIndex[e] is edge e's source, edgeIndex[E + e] its target. */
  edgeIndex: Int32Array;
  /** Optional weight per edge [E] (PyG's edge_weight); absent means 1 for every edge. */
  edgeWeight?: ArrayLike<number>;
}

/** A graph whose nodes carry features and a class each: the input of node classification. */
export interface NodeDataset extends Graph {
  numFeatures: number;
  /** [numNodes, numFeatures], row-major. */
  features: Float32Array;
  /** [numNodes]: each node's class, an index into classNames. */
  labels: Int32Array;
  classNames: readonly string[];
}

/** The number of (directed) edges E of an edge index [2, E]. */
export function edgeCount(graph: Pick<Graph, 'edgeIndex'>): number {
  return graph.edgeIndex.length / 2;
}

/**
 * Throws an error naming `where` unless `graph` is well formed: a non-negative integer node count,
 * an Int32Array edge index of shape [2, E] whose entries all lie in [0, numNodes), and, when
 * present, one weight per edge. Edges, self-loops and isolated nodes are all optional.
 */
export function validateGraph(graph: Graph, where: string): void {
  const { numNodes, edgeIndex, edgeWeight } = graph;
  if (!Number.isInteger(numNodes) || numNodes < 0) {
    throw new Error(`${where}: expected a non-negative integer node count, got ${numNodes}`);
  }
  if (!(edgeIndex instanceof Int32Array)) {
    throw new Error(`${where}: expected the edge index as an Int32Array [2, E], got ${describe(edgeIndex)}`);
  }
  if (edgeIndex.length % 2 !== 0) {
    throw new Error(`${where}: expected an edge index of shape [2, E] (an even number of values), got ${edgeIndex.length} values`);
  }
  const edges = edgeIndex.length / 2;
  for (let k = 0; k < edgeIndex.length; k++) {
    const node = edgeIndex[k]!;
    if (node >= 0 && node < numNodes) continue;
    const [row, e] = k < edges ? ['source', k] : ['target', k - edges];
    const problem = node < 0 ? 'is negative' : `is out of range for ${numNodes} node${numNodes === 1 ? '' : 's'}`;
    throw new Error(`${where}: edge ${e} has ${row} node ${node}, which ${problem} (expected 0 <= node < ${numNodes})`);
  }
  if (edgeWeight !== undefined && edgeWeight.length !== edges) {
    throw new Error(`${where}: expected one edge weight per edge (${edges}), got ${edgeWeight.length}`);
  }
}

/** Throws unless `features` holds a [numNodes, numFeatures] row-major matrix. */
export function validateFeatures(features: ArrayLike<number>, numNodes: number, numFeatures: number, where: string): void {
  if (!Number.isInteger(numFeatures) || numFeatures < 0) {
    throw new Error(`${where}: expected a non-negative integer feature count, got ${numFeatures}`);
  }
  if (features.length !== numNodes * numFeatures) {
    throw new Error(
      `${where}: expected node features [${numNodes}, ${numFeatures}] (${numNodes * numFeatures} values), got ${features.length} values`,
    );
  }
}

/**
 * The same graph with every edge in both directions, sorted by (source, target) with duplicates
 * removed (PyG's to_undirected without edge attributes). Self-loops are kept, once each.
 */
export function toUndirected(numNodes: number, edgeIndex: Int32Array, where = 'toUndirected'): Int32Array {
  validateGraph({ numNodes, edgeIndex }, where);
  const edges = edgeIndex.length / 2;
  const sources = new Int32Array(2 * edges);
  const targets = new Int32Array(2 * edges);
  for (let e = 0; e < edges; e++) {
    const u = edgeIndex[e]!;
    const v = edgeIndex[edges + e]!;
    sources[2 * e] = u;
    targets[2 * e] = v;
    sources[2 * e + 1] = v;
    targets[2 * e + 1] = u;
  }
  return coalesce(numNodes, sources, targets);
}

/** Edge index [2, E'] of the distinct (source, target) pairs, sorted by source then target. */
function coalesce(numNodes: number, sources: Int32Array, targets: Int32Array): Int32Array {
  const order = sortByRowThenColumn(numNodes, numNodes, sources, targets);
  let kept = 0;
  for (let k = 0; k < order.length; k++) {
    const e = order[k]!;
    const last = kept > 0 ? order[kept - 1]! : -1; // the last pair kept (compacted in place)
    if (last < 0 || sources[last] !== sources[e] || targets[last] !== targets[e]) order[kept++] = e;
  }
  const out = new Int32Array(2 * kept);
  for (let k = 0; k < kept; k++) {
    out[k] = sources[order[k]!]!;
    out[kept + k] = targets[order[k]!]!;
  }
  return out;
}

/**
 * The entries' order sorted by row, then column, stably (equal pairs keep their input order):
 * two counting-sort passes, O(entries + rows + columns).
 */
export function sortByRowThenColumn(numRows: number, numCols: number, rows: Int32Array, cols: Int32Array): Int32Array {
  const byColumn = countingSort(cols, numCols, identity(rows.length));
  return countingSort(rows, numRows, byColumn);
}

function identity(n: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return order;
}

/** Stable counting sort of the entries listed in `order` by key[entry] in [0, keys). */
function countingSort(key: Int32Array, keys: number, order: Int32Array): Int32Array {
  const start = new Int32Array(keys + 1);
  for (let k = 0; k < order.length; k++) start[key[order[k]!]! + 1]!++;
  for (let k = 0; k < keys; k++) start[k + 1]! += start[k]!;
  const sorted = new Int32Array(order.length);
  for (let k = 0; k < order.length; k++) {
    const e = order[k]!;
    sorted[start[key[e]!]!++] = e;
  }
  return sorted;
}

/** The undirected, coalesced edge index (see toUndirected) of flat [u0, v0, u1, v1, ...] pairs. */
export function undirectedEdgeIndex(numNodes: number, pairs: ArrayLike<number>, where: string): Int32Array {
  if (pairs.length % 2 !== 0) throw new Error(`${where}: expected (u, v) pairs, got ${pairs.length} values`);
  const edges = pairs.length / 2;
  const edgeIndex = new Int32Array(pairs.length);
  for (let e = 0; e < edges; e++) {
    edgeIndex[e] = pairs[2 * e]!;
    edgeIndex[edges + e] = pairs[2 * e + 1]!;
  }
  return toUndirected(numNodes, edgeIndex, where);
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return typeof v;
}
