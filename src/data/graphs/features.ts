// Node features as PyTorch Geometric's transforms make them: OneHotDegree for graphs without
// features (the graph atlas), NormalizeFeatures for bag-of-words rows (Planetoid).
import { validateFeatures, validateGraph, type Graph } from './graph.js';

/**
 * PyG's OneHotDegree(maxDegree): [numNodes, maxDegree + 1], node i's row one-hot at its degree
 * (the edges it is the source of; an undirected graph lists each edge both ways). Refuses a
 * degree above maxDegree rather than cutting it off.
 */
export function oneHotDegree(graph: Graph, maxDegree: number, where = 'oneHotDegree'): Float32Array {
  validateGraph(graph, where);
  if (!Number.isInteger(maxDegree) || maxDegree < 0) throw new Error(`${where}: expected a non-negative integer maxDegree, got ${maxDegree}`);
  const degree = new Int32Array(graph.numNodes);
  for (let e = 0; e < graph.edgeIndex.length / 2; e++) degree[graph.edgeIndex[e]!]!++;
  const out = new Float32Array(graph.numNodes * (maxDegree + 1));
  degree.forEach((d, i) => {
    if (d > maxDegree) throw new Error(`${where}: node ${i} has degree ${d}, more than maxDegree ${maxDegree}`);
    out[i * (maxDegree + 1) + d] = 1;
  });
  return out;
}

/**
 * PyG's NormalizeFeatures for non-negative features (bag-of-words): each row divided by its sum,
 * clamped to at least 1 (so an empty row stays 0).
 */
export function normalizeRows(features: Float32Array, numNodes: number, numFeatures: number, where = 'normalizeRows'): Float32Array {
  validateFeatures(features, numNodes, numFeatures, where);
  const out = Float32Array.from(features);
  for (let i = 0; i < numNodes; i++) {
    let sum = 0;
    for (let f = 0; f < numFeatures; f++) sum += out[i * numFeatures + f]!;
    const divisor = Math.max(sum, 1);
    for (let f = 0; f < numFeatures; f++) out[i * numFeatures + f]! /= divisor;
  }
  return out;
}
