// Graph data for graph convolutional networks (the browser-safe part: planetoid-node.ts reads files).
export { edgeCount, toUndirected, undirectedEdgeIndex, validateFeatures, validateGraph, type Graph, type NodeDataset } from './graph.js';
export { adjacencyCsr, cooToCsr, csrRowIndex, transposeCsr, type Csr } from './csr.js';
export { gcnNorm, invSqrtDegree, type GcnNorm, type GcnNormOptions } from './gcn-norm.js';
export { batchGraphs, validateBatchIndex, type BatchedGraph } from './batch.js';
export { karateClub, type KarateClub } from './karate-club.js';
export { ATLAS_PROPERTIES, graphAtlas, type AtlasProperty, type GraphAtlas } from './graph-atlas.js';
export { parsePlanetoid, type Planetoid, type PlanetoidFileNames } from './planetoid.js';
export { stochasticBlockModel, type StochasticBlockModel, type StochasticBlockModelOptions } from './sbm.js';
export { normalizeRows, oneHotDegree } from './features.js';
export { propagationCsr, type Propagation } from './propagation.js';
export { randomSplit, type Split, type SplitFractions } from './split.js';
