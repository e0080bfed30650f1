// Seeded stochastic-block-model graphs for node classification at any size: nodes split evenly
// into communities (the classes), undirected edges drawn mostly inside communities, and features
// that are the community's mean vector plus Gaussian noise.
//
// The edge count is fixed (the G(n, m) flavour of the model): `edges` distinct pairs, no self-loops,
// each a fraction `homophily` of the time inside a community (u uniform, v uniform in u's
// community) and otherwise between two (v uniform in a uniformly chosen other community). With
// equal community sizes every inside pair is equally likely, and so is every outside pair; the
// classic parameters follow as p_in / p_out = homophily (C - 1) / (1 - homophily). Pairs are drawn
// directly and duplicates redrawn, so the cost is O(edges), not O(nodes^2): 100k nodes, 1M edges
// and 64 features take about 1.5 s of one core (0.5 s of it the features).
import { epochSeed, permutation, seededRandom } from '../shuffle.js';
import { toUndirected, type NodeDataset } from './graph.js';

export interface StochasticBlockModelOptions {
  nodes: number;
  /** Communities = classes (at least 2, each of at least 2 nodes). */
  communities: number;
  /** Undirected edges to draw; each is stored in both directions, so edgeIndex has 2 * edges columns. */
  edges: number;
  /** The fraction of edges inside a community (edge homophily), in [0, 1]; default 0.8. */
  homophily?: number;
  /** Feature dimension. */
  features: number;
  /** Standard deviation of the noise added to the community means (drawn from N(0, 1)); default 1. */
  noise?: number;
  seed: number;
}

export interface StochasticBlockModel extends NodeDataset {
  communities: number;
  /** [2, 2 * edges]: every edge in both directions, coalesced. */
  edgeIndex: Int32Array;
  /** [communities, features]: the community means the features were drawn around. */
  means: Float32Array;
}

export function stochasticBlockModel(options: StochasticBlockModelOptions): StochasticBlockModel {
  const { nodes, communities, edges, homophily = 0.8, features, noise = 1, seed } = options;
  const fail = (what: string): never => {
    throw new Error(`stochasticBlockModel: ${what}`);
  };
  if (!Number.isInteger(communities) || communities < 2) fail(`expected at least 2 communities, got ${communities}`);
  if (!Number.isInteger(nodes) || nodes < 2 * communities) fail(`expected an integer of at least 2 nodes per community (${2 * communities}), got ${nodes} nodes`);
  if (!Number.isInteger(edges) || edges < 0) fail(`expected a non-negative integer edge count, got ${edges}`);
  if (!(homophily >= 0 && homophily <= 1)) fail(`expected homophily in [0, 1], got ${homophily}`);
  if (!Number.isInteger(features) || features < 1) fail(`expected a positive integer feature count, got ${features}`);
  if (!(noise >= 0 && Number.isFinite(noise))) fail(`expected a finite non-negative noise level, got ${noise}`);

  // Community c holds the nodes order[c], order[c + C], ...: sizes differ by at most one.
  const order = permutation(nodes, epochSeed(seed, 0));
  const community = new Int32Array(nodes);
  const members: Int32Array[] = [];
  for (let c = 0; c < communities; c++) {
    members.push(Int32Array.from({ length: Math.ceil((nodes - c) / communities) }, (_, k) => order[c + k * communities]!));
    for (const node of members[c]!) community[node] = c;
  }
  // Redrawing duplicates stays cheap while each kind of pair is at most half taken.
  const insidePairs = members.reduce((sum, m) => sum + (m.length * (m.length - 1)) / 2, 0);
  const outsidePairs = (nodes * (nodes - 1)) / 2 - insidePairs;
  for (const [kind, expected, capacity] of [
    ['inside communities', homophily * edges, insidePairs],
    ['between communities', (1 - homophily) * edges, outsidePairs],
  ] as const) {
    if (expected > capacity / 2) {
      fail(`${edges} edges with homophily ${homophily} put about ${Math.round(expected)} edges ${kind}, more than half of the ${capacity} pairs there; ask for fewer edges or more nodes`);
    }
  }

  const random = seededRandom(epochSeed(seed, 1));
  const pick = (n: number): number => Math.floor(random() * n);
  const taken = new PairSet(edges);
  const edgeIndex = new Int32Array(2 * edges);
  for (let e = 0; e < edges; ) {
    const u = pick(nodes);
    const cu = community[u]!;
    let c = cu;
    if (random() >= homophily) {
      c = pick(communities - 1);
      if (c >= cu) c++;
    }
    const group = members[c]!;
    const v = group[pick(group.length)]!;
    if (v === u || !taken.add(u, v)) continue;
    edgeIndex[e] = u;
    edgeIndex[edges + e] = v;
    e++;
  }

  const gaussian = gaussianStream(epochSeed(seed, 2));
  const means = Float32Array.from({ length: communities * features }, gaussian);
  const x = new Float32Array(nodes * features);
  for (let i = 0; i < nodes; i++) {
    const mean = community[i]! * features;
    for (let f = 0; f < features; f++) x[i * features + f] = means[mean + f]! + noise * gaussian();
  }
  return {
    numNodes: nodes,
    edgeIndex: toUndirected(nodes, edgeIndex, 'stochasticBlockModel'),
    numFeatures: features,
    features: x,
    labels: community,
    classNames: Object.freeze(Array.from({ length: communities }, (_, c) => `community ${c}`)),
    communities,
    means,
  };
}

/** Standard normal numbers from a seeded uniform stream (Box-Muller, both values used). */
function gaussianStream(seed: number): () => number {
  const uniform = seededRandom(seed);
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const radius = Math.sqrt(-2 * Math.log(1 - uniform())); // 1 - u is in (0, 1]: log is finite
    const angle = 2 * Math.PI * uniform();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
}

/** A set of unordered node pairs: open addressing with linear probing, sized for `capacity` pairs. */
class PairSet {
  private readonly first: Int32Array;
  private readonly second: Int32Array;
  private readonly mask: number;

  constructor(capacity: number) {
    let size = 16;
    while (size < 2 * capacity) size *= 2; // at most half full
    this.first = new Int32Array(size).fill(-1);
    this.second = new Int32Array(size);
    this.mask = size - 1;
  }

  /** Adds {u, v}; false when it was already there. */
  add(u: number, v: number): boolean {
    const a = Math.min(u, v);
    const b = Math.max(u, v);
    let h = Math.imul(a, 0x9e3779b1) ^ b; // a murmur3-style mix, so the low bits depend on all of a and b
    h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
    let slot = (h ^ (h >>> 13)) & this.mask;
    for (;;) {
      if (this.first[slot] === -1) {
        this.first[slot] = a;
        this.second[slot] = b;
        return true;
      }
      if (this.first[slot] === a && this.second[slot] === b) return false;
      slot = (slot + 1) & this.mask;
    }
  }
}
