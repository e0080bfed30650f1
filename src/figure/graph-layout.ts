// Where to draw a graph's nodes: Fruchterman & Reingold's force-directed layout (every pair of
// nodes repels, every edge pulls its ends together, the moves shrink as the layout cools), from a
// seeded start, so the same graph and seed always give the same picture. O(nodes^2) per iteration:
// meant for drawing small graphs (the karate club's 34 nodes), not Cora.
import { seededRandom } from '../data/shuffle.js';

export interface ForceLayoutOptions {
  /** Seeds the starting positions (default 1). */
  seed?: number;
  /** Cooling steps (default 400). */
  iterations?: number;
}

/**
 * Positions [numNodes, 2] (row-major x, y), scaled into the unit square [0, 1]^2. Edges are
 * edge_index pairs [2, E] (direction does not matter; self-loops are ignored).
 */
export function forceLayout(numNodes: number, edgeIndex: Int32Array, options: ForceLayoutOptions = {}): Float64Array {
  const { seed = 1, iterations = 400 } = options;
  if (!Number.isInteger(numNodes) || numNodes < 0) throw new Error(`forceLayout: expected a non-negative integer node count, got ${numNodes}`);
  if (edgeIndex.length % 2 !== 0) throw new Error(`forceLayout: expected an edge index [2, E], got ${edgeIndex.length} values`);
  const edges = edgeIndex.length / 2;
  for (let k = 0; k < edgeIndex.length; k++) {
    if (!(edgeIndex[k]! >= 0 && edgeIndex[k]! < numNodes)) {
      throw new Error(`forceLayout: edge ${k % edges} has ${k < edges ? 'source' : 'target'} node ${edgeIndex[k]}, expected 0 <= node < ${numNodes}`);
    }
  }
  const random = seededRandom(seed);
  const pos = new Float64Array(2 * numNodes);
  for (let i = 0; i < numNodes; i++) {
    // On a circle with a little seeded jitter: no two nodes start at the same place.
    const angle = (2 * Math.PI * i) / Math.max(1, numNodes);
    pos[2 * i] = 0.5 + 0.4 * Math.cos(angle) + 0.02 * (random() - 0.5);
    pos[2 * i + 1] = 0.5 + 0.4 * Math.sin(angle) + 0.02 * (random() - 0.5);
  }
  const k = Math.sqrt(1 / Math.max(1, numNodes)); // the ideal edge length in a unit square
  const move = new Float64Array(2 * numNodes);
  for (let it = 0; it < iterations; it++) {
    move.fill(0);
    for (let i = 0; i < numNodes; i++) {
      for (let j = i + 1; j < numNodes; j++) {
        const dx = pos[2 * i]! - pos[2 * j]!;
        const dy = pos[2 * i + 1]! - pos[2 * j + 1]!;
        const d2 = Math.max(dx * dx + dy * dy, 1e-12);
        const f = (k * k) / d2; // repulsion k^2 / d, along the unit vector (dx, dy) / d
        move[2 * i]! += dx * f;
        move[2 * i + 1]! += dy * f;
        move[2 * j]! -= dx * f;
        move[2 * j + 1]! -= dy * f;
      }
    }
    for (let e = 0; e < edges; e++) {
      const [u, v] = [edgeIndex[e]!, edgeIndex[edges + e]!];
      if (u === v) continue;
      const dx = pos[2 * u]! - pos[2 * v]!;
      const dy = pos[2 * u + 1]! - pos[2 * v + 1]!;
      const f = Math.sqrt(dx * dx + dy * dy) / k; // attraction d^2 / k, along the unit vector
      move[2 * u]! -= dx * f;
      move[2 * u + 1]! -= dy * f;
      move[2 * v]! += dx * f;
      move[2 * v + 1]! += dy * f;
    }
    const temperature = 0.1 * (1 - it / iterations);
    for (let i = 0; i < numNodes; i++) {
      const [mx, my] = [move[2 * i]!, move[2 * i + 1]!];
      const length = Math.sqrt(mx * mx + my * my);
      if (length === 0) continue;
      const step = Math.min(length, temperature) / length;
      pos[2 * i]! += mx * step;
      pos[2 * i + 1]! += my * step;
    }
  }
  return fitUnitSquare(pos);
}

/** Scales and shifts points [n, 2] so their bounding box's longer side spans [0, 1], centred. */
export function fitUnitSquare(pos: Float64Array): Float64Array {
  const n = pos.length / 2;
  if (n === 0) return pos;
  let [xlo, xhi, ylo, yhi] = [Infinity, -Infinity, Infinity, -Infinity];
  for (let i = 0; i < n; i++) {
    [xlo, xhi] = [Math.min(xlo, pos[2 * i]!), Math.max(xhi, pos[2 * i]!)];
    [ylo, yhi] = [Math.min(ylo, pos[2 * i + 1]!), Math.max(yhi, pos[2 * i + 1]!)];
  }
  const span = Math.max(xhi - xlo, yhi - ylo) || 1;
  const out = new Float64Array(pos.length);
  for (let i = 0; i < n; i++) {
    out[2 * i] = 0.5 + (pos[2 * i]! - (xlo + xhi) / 2) / span;
    out[2 * i + 1] = 0.5 + (pos[2 * i + 1]! - (ylo + yhi) / 2) / span;
  }
  return out;
}
