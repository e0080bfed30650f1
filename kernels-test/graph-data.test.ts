// Graph data on the host: the karate club and graph atlas loaders (against independent structural
// checks), the Planetoid/Cora text parser and every refusal, the stochastic block model, CSR
// conversion and gcn_norm against dense float64 matrices, batching, validation, splits.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { batchGraphs, validateBatchIndex } from '../src/data/graphs/batch.js';
import { adjacencyCsr, cooToCsr, csrRowIndex, transposeCsr, type Csr } from '../src/data/graphs/csr.js';
import { gcnNorm } from '../src/data/graphs/gcn-norm.js';
import { ATLAS_PROPERTIES, graphAtlas } from '../src/data/graphs/graph-atlas.js';
import { toUndirected, undirectedEdgeIndex, validateFeatures, validateGraph, type Graph } from '../src/data/graphs/graph.js';
import { karateClub } from '../src/data/graphs/karate-club.js';
import { parsePlanetoid } from '../src/data/graphs/planetoid.js';
import { readPlanetoid } from '../src/data/graphs/planetoid-node.js';
import { stochasticBlockModel } from '../src/data/graphs/sbm.js';
import { randomSplit } from '../src/data/graphs/split.js';
import { seededRandom } from '../src/data/shuffle.js';
import { FIXTURE_DIR } from './fixtures.js';
import { FLOAT64, assertClose } from './helpers.js';

const GRAPH_FIXTURES = join(FIXTURE_DIR, 'graphs');

/** The (source, target) pairs of an edge index, in order. */
function pairs(edgeIndex: Int32Array): [number, number][] {
  const e = edgeIndex.length / 2;
  return Array.from({ length: e }, (_, k) => [edgeIndex[k]!, edgeIndex[e + k]!]);
}

/** Checks the loaders' convention: both directions of every edge, sorted by (source, target), no duplicates. */
function expectCoalescedUndirected(g: Graph): void {
  const e = g.edgeIndex.length / 2;
  const key = (k: number) => g.edgeIndex[k]! * g.numNodes + g.edgeIndex[e + k]!;
  const keys = new Set<number>();
  for (let k = 0; k < e; k++) {
    if (k > 0 && !(key(k) > key(k - 1))) throw new Error(`edge ${k} is out of order or repeated`);
    keys.add(key(k));
  }
  for (let k = 0; k < e; k++) {
    if (!keys.has(g.edgeIndex[e + k]! * g.numNodes + g.edgeIndex[k]!)) throw new Error(`edge ${k} has no reverse`);
  }
}

/** Typed arrays compared element by element (toEqual is slow on large ones). */
function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

describe("Zachary's karate club", () => {
  const club = karateClub();

  it('has 34 members, 78 friendships in both directions and two factions of 17', () => {
    expect(club.numNodes).toBe(34);
    expect(club.edgeIndex.length).toBe(2 * 156);
    expectCoalescedUndirected(club);
    expect(pairs(club.edgeIndex).some(([u, v]) => u === v)).toBe(false);
    expect(Array.from(club.labels).filter((l) => l === 0).length).toBe(17);
    expect(Array.from(club.labels).filter((l) => l === 1).length).toBe(17);
    expect(club.classNames).toEqual(['Mr. Hi', 'Officer']);
    expect(Array.from(club.trainNodes)).toEqual([0, 33]);
    expect([club.labels[0], club.labels[33]]).toEqual([0, 1]);
  });

  it("matches networkx's degrees and interaction weights", () => {
    const degree = new Int32Array(34);
    for (const [, v] of pairs(club.edgeIndex)) degree[v]!++;
    expect([degree[0], degree[33]]).toEqual([16, 17]);
    const weight = new Map(pairs(club.edgeIndex).map(([u, v], e) => [`${u},${v}`, club.interactions[e]!]));
    expect([weight.get('0,1'), weight.get('1,0'), weight.get('32,33'), weight.get('33,32')]).toEqual([4, 4, 5, 5]);
  });

  it('gives each member a one-hot feature', () => {
    expect(club.numFeatures).toBe(34);
    expect(same(club.features, Float32Array.from({ length: 34 * 34 }, (_, k) => (k % 35 === 0 ? 1 : 0)))).toBe(true);
  });
});

/** Each node's component (a root node), by union-find over [u, v] edges; independent of networkx. */
function components(numNodes: number, edges: [number, number][]): Int32Array {
  const parent = Int32Array.from({ length: numNodes }, (_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  for (const [u, v] of edges) parent[find(u)] = find(v);
  return parent.map((_, i) => find(i));
}

/** Whether removing some edge disconnects its two ends. */
function hasBridge(numNodes: number, edges: [number, number][]): boolean {
  return edges.some(([u, v], k) => {
    const roots = components(numNodes, edges.filter((_, j) => j !== k));
    return roots[u] !== roots[v];
  });
}

describe('graph atlas', () => {
  it('holds the 1,252 atlas graphs with 1 to 7 nodes, with the documented class balance', () => {
    const atlas = graphAtlas();
    expect(atlas.property).toBe('hasBridge');
    expect(atlas.graphs.length).toBe(1252);
    expect(Array.from(atlas.atlasIndex.subarray(0, 3))).toEqual([1, 2, 3]);
    expect(atlas.atlasIndex[1251]).toBe(1252);
    const bySize = new Map<number, number>();
    for (const g of atlas.graphs) bySize.set(g.numNodes, (bySize.get(g.numNodes) ?? 0) + 1);
    expect(Object.fromEntries(bySize)).toEqual({ 1: 1, 2: 2, 3: 4, 4: 11, 5: 34, 6: 156, 7: 1044 });
    // One graph per size has no edges; the last one is the complete graph K7.
    expect(atlas.graphs.filter((g) => g.edgeIndex.length === 0).length).toBe(7);
    expect(atlas.graphs[1251]!.edgeIndex.length).toBe(2 * 42);
    const counts = (p: (typeof ATLAS_PROPERTIES)[number]) => {
      const labels = graphAtlas(p).labels;
      return [labels.length - labels.reduce((a, b) => a + b, 0), labels.reduce((a, b) => a + b, 0)];
    };
    expect(counts('hasBridge')).toEqual([684, 568]);
    expect(counts('connected')).toEqual([256, 996]);
    expect(counts('hasCycle')).toEqual([79, 1173]);
    expect(graphAtlas('connected').classNames).toEqual(['disconnected', 'connected']);
  });

  it("labels agree with the properties recomputed here (networkx's, independently)", () => {
    const { graphs } = graphAtlas();
    const labels = Object.fromEntries(ATLAS_PROPERTIES.map((p) => [p, graphAtlas(p).labels]));
    const wrong: string[] = [];
    graphs.forEach((g, i) => {
      expectCoalescedUndirected(g);
      const edges = pairs(g.edgeIndex).filter(([u, v]) => u < v);
      const componentCount = new Set(components(g.numNodes, edges)).size;
      const expected = {
        connected: componentCount === 1,
        hasCycle: edges.length > g.numNodes - componentCount, // a forest has N - components edges
        hasBridge: hasBridge(g.numNodes, edges),
      };
      for (const p of ATLAS_PROPERTIES) if (labels[p]![i] !== (expected[p] ? 1 : 0)) wrong.push(`atlas graph ${i + 1}: ${p}`);
    });
    expect(wrong).toEqual([]);
  });

  it('refuses an unknown property', () => {
    expect(errorOf(() => graphAtlas('planar' as 'hasBridge'))).toBe(
      'graphAtlas: unknown property "planar", expected one of hasBridge, connected, hasCycle',
    );
  });
});

describe('Planetoid / Cora text format', () => {
  it('reads the files: features, sorted class names, undirected deduplicated citations', async () => {
    const dir = join(GRAPH_FIXTURES, 'tiny');
    const data = await readPlanetoid(dir);
    expect(data.ids).toEqual(['31336', '1061127', '1106406', '13195', 'bradshaw97', '37879']);
    expect(data.numNodes).toBe(6);
    expect(data.numFeatures).toBe(4);
    expect(Array.from(data.features)).toEqual([0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1]);
    expect(data.classNames).toEqual(['Neural_Networks', 'Reinforcement_Learning', 'Rule_Learning']);
    expect(Array.from(data.labels)).toEqual([0, 2, 1, 1, 0, 2]);
    // Citations 0-1 (three times, both ways), 0-4, 2-3, 5-1 and a self-citation of paper 3.
    expect(pairs(data.edgeIndex)).toEqual([[0, 1], [0, 4], [1, 0], [1, 5], [2, 3], [3, 2], [3, 3], [4, 0], [5, 1]]);
    // The stem, or either file, names the same dataset.
    for (const path of [join(dir, 'tiny'), join(dir, 'tiny.content'), join(dir, 'tiny.cites')]) {
      expect((await readPlanetoid(path)).edgeIndex).toEqual(data.edgeIndex);
    }
  });

  it('refuses bad files, naming the file and line', async () => {
    const parse = (content: string, cites: string) => errorOf(() => parsePlanetoid(content, cites, { content: 'x.content', cites: 'x.cites' }));
    const good = 'a\t1\t0\tC1\nb\t0\t1\tC2\n';
    expect(parse(good, 'a\tb\nb\tz\n')).toBe('x.cites:2: paper "z" does not appear in x.content');
    expect(parse('a\t1\t0\tC1\n\nb\t0\tC2\n', 'a\tb\n')).toBe('x.content:3: expected 2 word attributes (as on line 1), got 1');
    expect(parse('a\t1\t0\tC1\nb\t0\t1\tC2\na\t1\t1\tC2\n', 'a\tb\n')).toBe('x.content:3: paper "a" is listed twice (first on line 1)');
    expect(parse('', 'a\tb\n')).toBe('x.content: no papers (the file is empty)');
    expect(parse(' \n\n', 'a\tb\n')).toBe('x.content: no papers (the file is empty)');
    expect(parse(good, '\n')).toBe('x.cites: no citations (the file is empty)');
    expect(parse('a\t1\tyes\tC1\n', 'a\ta\n')).toBe('x.content:1: word attribute 2 is "yes", expected a number');
    expect(parse('a\t1\t1e999\tC1\n', 'a\ta\n')).toBe('x.content:1: word attribute 2 is "1e999", expected a number');
    expect(parse('a\tC1\n', 'a\ta\n')).toBe("x.content:1: expected '<paper id> <word attribute>+ <class label>', got 2 fields");
    expect(parse(good, 'a\tb\na\tb\tc\n')).toBe("x.cites:2: expected '<cited paper id> <citing paper id>', got 3 fields");
    // Windows line ends, spaces and decimal attributes are fine.
    const loose = parsePlanetoid('a 0.5 -2e-1 C1\r\nb .25 3 C2\r\n', 'a b\r\n');
    expect(Array.from(loose.features)).toEqual([0.5, -0.2, 0.25, 3].map(Math.fround));

    const bad = join(GRAPH_FIXTURES, 'unknown-id');
    await expect(readPlanetoid(bad)).rejects.toThrow(`${join(bad, 'papers.cites')}:2: paper "3" does not appear in ${join(bad, 'papers.content')}`);
    await expect(readPlanetoid(join(bad, 'missing'))).rejects.toThrow(`readPlanetoid: cannot read ${join(bad, 'missing.content')}: no such file`);
    await expect(readPlanetoid(GRAPH_FIXTURES)).rejects.toThrow(`readPlanetoid: expected one <name>.content file in ${GRAPH_FIXTURES}, found none`);
  });
});

describe('stochastic block model', () => {
  const options = { nodes: 2000, communities: 4, edges: 12000, homophily: 0.8, features: 8, noise: 1, seed: 5 };
  const g = stochasticBlockModel(options);

  it('draws the requested edges once each, both directions, no self-loops', () => {
    expect(g.numNodes).toBe(2000);
    expect(g.edgeIndex.length).toBe(2 * 24000);
    expectCoalescedUndirected(g);
    expect(g.edgeIndex.subarray(0, 24000).some((u, e) => u === g.edgeIndex[24000 + e])).toBe(false);
    validateGraph(g, 'test');
  });

  it('splits nodes evenly and keeps the requested fraction of edges inside communities', () => {
    const sizes = [0, 0, 0, 0];
    for (const c of g.labels) sizes[c]!++;
    expect(sizes).toEqual([500, 500, 500, 500]);
    const inside = pairs(g.edgeIndex).filter(([u, v]) => g.labels[u] === g.labels[v]).length / (2 * 12000);
    expect(Math.abs(inside - 0.8)).toBeLessThan(0.015); // binomial sd: 0.004
  });

  it('draws features around the community means', () => {
    const F = 8;
    const mean = new Float64Array(4 * F);
    for (let i = 0; i < g.numNodes; i++) for (let f = 0; f < F; f++) mean[g.labels[i]! * F + f]! += g.features[i * F + f]! / 500;
    assertClose(mean, g.means, { rtol: 0, atol: 0.2 }, 'class means'); // sd of a mean of 500: 0.045
    let correct = 0; // nearest community mean
    for (let i = 0; i < g.numNodes; i++) {
      let best = -1;
      let bestDistance = Infinity;
      for (let c = 0; c < 4; c++) {
        let d = 0;
        for (let f = 0; f < F; f++) d += (g.features[i * F + f]! - g.means[c * F + f]!) ** 2;
        if (d < bestDistance) [best, bestDistance] = [c, d];
      }
      if (best === g.labels[i]) correct++;
    }
    expect(correct / g.numNodes).toBeGreaterThan(0.8);
  });

  it('is a function of its seed', () => {
    const again = stochasticBlockModel(options);
    expect(same(again.edgeIndex, g.edgeIndex) && same(again.features, g.features) && same(again.labels, g.labels)).toBe(true);
    const other = stochasticBlockModel({ ...options, seed: 6 });
    expect(same(other.edgeIndex, g.edgeIndex)).toBe(false);
    expect(same(other.labels, g.labels)).toBe(false);
  });

  it('refuses impossible requests', () => {
    const sbm = (o: Partial<typeof options>) => errorOf(() => stochasticBlockModel({ ...options, ...o }));
    expect(sbm({ communities: 1 })).toBe('stochasticBlockModel: expected at least 2 communities, got 1');
    expect(sbm({ nodes: 7 })).toBe('stochasticBlockModel: expected an integer of at least 2 nodes per community (8), got 7 nodes');
    expect(sbm({ homophily: 1.5 })).toBe('stochasticBlockModel: expected homophily in [0, 1], got 1.5');
    expect(sbm({ nodes: 40, edges: 200, homophily: 1 })).toBe(
      'stochasticBlockModel: 200 edges with homophily 1 put about 200 edges inside communities, more than half of the 180 pairs there; ask for fewer edges or more nodes',
    );
    expect(sbm({ features: 0 })).toBe('stochasticBlockModel: expected a positive integer feature count, got 0');
  });
});

/** Dense [rows, cols] float64 matrix of COO entries, duplicates summed. */
function denseOf(rows: number, cols: number, r: ArrayLike<number>, c: ArrayLike<number>, v: ArrayLike<number>): Float64Array {
  const d = new Float64Array(rows * cols);
  for (let k = 0; k < r.length; k++) d[r[k]! * cols + c[k]!]! += v[k]!;
  return d;
}

function denseOfCsr(a: Csr): Float64Array {
  return denseOf(a.numRows, a.numCols, csrRowIndex(a), a.colIdx, a.values);
}

/** A random COO matrix with duplicate entries. */
function randomCoo(rows: number, cols: number, nnz: number, seed: number) {
  const random = seededRandom(seed);
  const r = Int32Array.from({ length: nnz }, () => Math.floor(random() * rows));
  const c = Int32Array.from({ length: nnz }, () => Math.floor(random() * cols));
  r[1] = r[0]!;
  c[1] = c[0]!; // a duplicate
  const v = Float64Array.from({ length: nnz }, () => random() * 2 - 1);
  return { r, c, v };
}

describe('CSR', () => {
  it('holds the same matrix as the COO entries, rows compressed, columns sorted, entries traced', () => {
    const { r, c, v } = randomCoo(7, 5, 30, 1);
    const a = cooToCsr(7, 5, r, c, v);
    assertClose(denseOfCsr(a), denseOf(7, 5, r, c, v), FLOAT64, 'CSR as dense');
    expect(a.rowPtr[0]).toBe(0);
    expect(a.rowPtr[7]).toBe(30);
    for (let row = 0; row < 7; row++) {
      for (let s = a.rowPtr[row]! + 1; s < a.rowPtr[row + 1]!; s++) expect(a.colIdx[s]! >= a.colIdx[s - 1]!).toBe(true);
    }
    for (let s = 0; s < 30; s++) {
      expect(c[a.entry[s]!]).toBe(a.colIdx[s]);
      expect(a.values[s]).toBe(v[a.entry[s]!]);
    }
    expect(new Set(a.entry).size).toBe(30);
  });

  it('transposes, keeping the entries traced', () => {
    const { r, c, v } = randomCoo(6, 4, 20, 2);
    const a = cooToCsr(6, 4, r, c, v);
    const t = transposeCsr(a);
    assertClose(denseOfCsr(t), denseOf(4, 6, c, r, v), FLOAT64, 'transpose as dense');
    for (let s = 0; s < 20; s++) expect(t.values[s]).toBe(v[t.entry[s]!]);
  });

  it('puts the edges into node i on row i (aggregation flows source -> target)', () => {
    const graph = { numNodes: 4, edgeIndex: Int32Array.of(0, 1, 2, 3, 3, 3, 0, 1), edgeWeight: [1, 2, 3, 4] }; // 0->3, 1->3, 2->0, 3->1
    const a = adjacencyCsr(graph);
    expect(Array.from(a.rowPtr)).toEqual([0, 1, 2, 2, 4]);
    expect(Array.from(a.colIdx)).toEqual([2, 3, 0, 1]);
    expect(Array.from(a.values)).toEqual([3, 4, 1, 2]);
    expect(Array.from(adjacencyCsr({ numNodes: 3, edgeIndex: new Int32Array(0) }).rowPtr)).toEqual([0, 0, 0, 0]);
  });

  it('refuses entries outside the matrix', () => {
    expect(errorOf(() => cooToCsr(2, 2, Int32Array.of(0, 2), Int32Array.of(0, 0)))).toBe('cooToCsr: entry 1 has row 2, expected 0 <= row < 2');
    expect(errorOf(() => cooToCsr(2, 2, Int32Array.of(0), Int32Array.of(-1)))).toBe('cooToCsr: entry 0 has column -1, expected 0 <= column < 2');
    expect(errorOf(() => cooToCsr(2, 2, Int32Array.of(0), Int32Array.of(0), [1, 2]))).toBe('cooToCsr: 1 entries but 2 values');
  });
});

/** D^-1/2 (A + I) D^-1/2 written densely from PyG's definition (A[target, source] = weight). */
function denseGcnNorm(g: Graph, addSelfLoops: boolean): Float64Array {
  const n = g.numNodes;
  const e = g.edgeIndex.length / 2;
  const a = new Float64Array(n * n);
  const loop = new Float64Array(n).fill(1);
  for (let k = 0; k < e; k++) {
    const [s, t, w] = [g.edgeIndex[k]!, g.edgeIndex[e + k]!, g.edgeWeight?.[k] ?? 1];
    if (addSelfLoops && s === t) loop[s] = w; // the input's own loop replaces the fill value
    else a[t * n + s]! += w;
  }
  if (addSelfLoops) for (let i = 0; i < n; i++) a[i * n + i]! += loop[i]!;
  const scale = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let deg = 0;
    for (let j = 0; j < n; j++) deg += a[i * n + j]!;
    scale[i] = deg === 0 ? 0 : 1 / Math.sqrt(deg);
  }
  return a.map((v, k) => scale[Math.floor(k / n)]! * v * scale[k % n]!);
}

function denseOfNorm(g: Graph, addSelfLoops: boolean): Float64Array {
  const norm = gcnNorm(g, { addSelfLoops });
  return denseOfCsr(adjacencyCsr({ numNodes: g.numNodes, edgeIndex: norm.edgeIndex }, norm.norm));
}

describe('gcnNorm', () => {
  const isolated: Graph = { numNodes: 5, edgeIndex: undirectedEdgeIndex(5, [0, 1, 1, 2, 0, 2, 2, 3], 'test') }; // node 4 alone
  const random = seededRandom(3);
  // Directed, weighted, a self-loop at node 2 (e2), node 6 isolated.
  const weighted: Graph = {
    numNodes: 7,
    edgeIndex: Int32Array.of(0, 1, 2, 2, 3, 4, 5, 1, /* targets */ 1, 2, 2, 0, 4, 5, 0, 3),
    edgeWeight: Float64Array.from({ length: 8 }, () => 0.25 + random()),
  };

  it('matches the dense definition: isolated nodes, existing loops, directed and weighted edges, no edges', () => {
    const none: Graph = { numNodes: 3, edgeIndex: new Int32Array(0) };
    for (const g of [isolated, weighted, none]) {
      for (const loops of [true, false]) assertClose(denseOfNorm(g, loops), denseGcnNorm(g, loops), FLOAT64, `gcnNorm (loops ${loops})`);
    }
    // An isolated node keeps its self-loop alone, with weight 1; without loops its row is empty.
    expect(denseOfNorm(isolated, true)[4 * 5 + 4]).toBe(1);
    expect(denseOfNorm(isolated, false).subarray(20).every((v) => v === 0)).toBe(true);
    expect(denseOfNorm(none, true)).toEqual(Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1));
  });

  it("lists the non-loop edges first, then one loop per node carrying the input loop's weight", () => {
    const norm = gcnNorm(weighted);
    expect(norm.edgeIndex.length).toBe(2 * (7 + 7));
    expect(Array.from(norm.position)).toEqual([0, 1, 7 + 2, 2, 3, 4, 5, 6]);
    expect(norm.weight[7 + 2]).toBe(weighted.edgeWeight![2]);
    expect(norm.weight[7 + 0]).toBe(1);
    expect(gcnNorm(weighted, { addSelfLoops: false }).edgeIndex).toEqual(weighted.edgeIndex);
  });

  it('gives NaN for a negative degree, as PyTorch does', () => {
    const norm = gcnNorm({ numNodes: 2, edgeIndex: Int32Array.of(0, 1), edgeWeight: [-3] });
    expect(norm.degree[1]).toBe(-2);
    expect(Number.isNaN(norm.norm[0]!)).toBe(true);
  });
});

describe('validation', () => {
  const g = (edgeIndex: Int32Array, numNodes = 3, edgeWeight?: number[]): Graph => ({ numNodes, edgeIndex, ...(edgeWeight ? { edgeWeight } : {}) });

  it('refuses malformed graphs with the edge and the expectation', () => {
    expect(errorOf(() => validateGraph(g(Int32Array.of(0, 1, 1, 3)), 'gcnConv'))).toBe(
      'gcnConv: edge 1 has target node 3, which is out of range for 3 nodes (expected 0 <= node < 3)',
    );
    expect(errorOf(() => validateGraph(g(Int32Array.of(0, -1, 1, 2)), 'gcnConv'))).toBe(
      'gcnConv: edge 1 has source node -1, which is negative (expected 0 <= node < 3)',
    );
    expect(errorOf(() => validateGraph(g(Int32Array.of(0, 1, 2)), 'gcnConv'))).toBe(
      'gcnConv: expected an edge index of shape [2, E] (an even number of values), got 3 values',
    );
    expect(errorOf(() => validateGraph({ numNodes: 3, edgeIndex: [0, 1] as unknown as Int32Array }, 'gcnConv'))).toBe(
      'gcnConv: expected the edge index as an Int32Array [2, E], got Array',
    );
    expect(errorOf(() => validateGraph(g(Int32Array.of(0, 1), 3, [1, 2]), 'gcnConv'))).toBe(
      'gcnConv: expected one edge weight per edge (1), got 2',
    );
    expect(errorOf(() => validateGraph(g(new Int32Array(0), 2.5), 'gcnConv'))).toBe('gcnConv: expected a non-negative integer node count, got 2.5');
    expect(errorOf(() => validateFeatures(new Float32Array(7), 3, 2, 'gcnConv'))).toBe(
      'gcnConv: expected node features [3, 2] (6 values), got 7 values',
    );
    expect(errorOf(() => validateBatchIndex(Int32Array.of(0, 2), 2, 2, 'readout'))).toBe(
      'readout: node 1 is assigned to graph 2, expected 0 <= graph < 2',
    );
    expect(errorOf(() => validateBatchIndex(Int32Array.of(0), 2, 2, 'readout'))).toBe(
      'readout: expected a node-to-graph index of 2 entries (one per node), got 1',
    );
  });

  it('accepts graphs without edges, with isolated nodes and without nodes', () => {
    validateGraph(g(new Int32Array(0)), 'test');
    validateGraph(g(Int32Array.of(0, 1)), 'test');
    validateGraph(g(new Int32Array(0), 0), 'test');
    validateFeatures(new Float32Array(0), 0, 4, 'test');
  });

  it('makes graphs undirected and coalesced', () => {
    expect(pairs(toUndirected(4, Int32Array.of(2, 0, 1, 3, 0, 1, 0, 3)))).toEqual([[0, 1], [0, 2], [1, 0], [2, 0], [3, 3]]);
  });
});

describe('batching', () => {
  it('renumbers each graph after the previous ones and indexes nodes by graph', () => {
    const b = batchGraphs([
      { numNodes: 2, edgeIndex: Int32Array.of(0, 1, 1, 0) },
      { numNodes: 0, edgeIndex: new Int32Array(0) },
      { numNodes: 1, edgeIndex: new Int32Array(0) },
      { numNodes: 3, edgeIndex: Int32Array.of(0, 2, 1, 1) },
    ]);
    expect(b.numNodes).toBe(6);
    expect(b.numGraphs).toBe(4);
    expect(Array.from(b.ptr)).toEqual([0, 2, 2, 3, 6]);
    expect(Array.from(b.batch)).toEqual([0, 0, 2, 3, 3, 3]);
    expect(pairs(b.edgeIndex)).toEqual([[0, 1], [1, 0], [3, 4], [5, 4]]);
    expect(b.edgeWeight).toBeUndefined();
    const weighted = batchGraphs([
      { numNodes: 2, edgeIndex: Int32Array.of(0, 1), edgeWeight: [0.5] },
      { numNodes: 2, edgeIndex: Int32Array.of(1, 0), edgeWeight: [2] },
    ]);
    expect(Array.from(weighted.edgeWeight!)).toEqual([0.5, 2]);
    expect(batchGraphs([]).numNodes).toBe(0);
  });

  it('refuses a bad graph or a mix of weighted and unweighted graphs', () => {
    expect(errorOf(() => batchGraphs([{ numNodes: 1, edgeIndex: Int32Array.of(0, 1) }]))).toBe(
      'batchGraphs: graph 0: edge 0 has target node 1, which is out of range for 1 node (expected 0 <= node < 1)',
    );
    expect(
      errorOf(() => batchGraphs([{ numNodes: 1, edgeIndex: new Int32Array(0), edgeWeight: [] }, { numNodes: 1, edgeIndex: new Int32Array(0) }])),
    ).toBe('batchGraphs: 1 of 2 graphs have edge weights; give all of them weights or none');
  });
});

describe('random splits', () => {
  it('partitions the indices by seed', () => {
    const s = randomSplit(100, { test: 0.2, validation: 0.1 }, 7);
    expect([s.train.length, s.validation.length, s.test.length]).toEqual([70, 10, 20]);
    const all = [...s.train, ...s.validation, ...s.test].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 100 }, (_, i) => i));
    for (const part of [s.train, s.validation, s.test]) for (let k = 1; k < part.length; k++) expect(part[k]! > part[k - 1]!).toBe(true);
    expect(randomSplit(100, { test: 0.2, validation: 0.1 }, 7)).toEqual(s);
    expect(randomSplit(100, { test: 0.2, validation: 0.1 }, 8).test).not.toEqual(s.test);
    expect(errorOf(() => randomSplit(10, { test: 0.8, validation: 0.3 }, 1))).toBe(
      'randomSplit: test (0.8) and validation (0.3) fractions add up to more than 1',
    );
  });
});
