// networkx's graph atlas: every graph with 1 to 7 nodes up to isomorphism (1,252 graphs; the
// atlas's graph 0, which has no nodes, is left out), each labelled by a structural property that
// networkx computed. Written into graph-atlas.json by scripts/graphs/make_graph_data.py, whose
// header defines the properties and states their class balance:
//   hasBridge  684 without / 568 with a bridge (majority 54.6%), the default
//   connected  256 disconnected / 996 connected (majority 79.6%)
//   hasCycle   79 forests / 1,173 with a cycle (majority 93.7%)
import data from './graph-atlas.json' with { type: 'json' };
import { undirectedEdgeIndex, type Graph } from './graph.js';

export const ATLAS_PROPERTIES = ['hasBridge', 'connected', 'hasCycle'] as const;
export type AtlasProperty = (typeof ATLAS_PROPERTIES)[number];

export interface GraphAtlas {
  /** Each graph with its own node ids 0..n-1; edges in both directions, coalesced; no features. */
  graphs: Graph[];
  /** [graphs]: each graph's index in networkx's atlas (1 .. 1252). */
  atlasIndex: Int32Array;
  property: AtlasProperty;
  /** [graphs]: 1 where the property holds, else 0. */
  labels: Int32Array;
  /** [name of class 0, name of class 1], e.g. ['no bridge', 'has a bridge']. */
  classNames: readonly string[];
}

export function graphAtlas(property: AtlasProperty = 'hasBridge'): GraphAtlas {
  if (!ATLAS_PROPERTIES.includes(property)) {
    throw new Error(`graphAtlas: unknown property ${JSON.stringify(property)}, expected one of ${ATLAS_PROPERTIES.join(', ')}`);
  }
  const graphs = data.numNodes.map((numNodes, i) => ({
    numNodes,
    edgeIndex: undirectedEdgeIndex(numNodes, data.edges[i]!, `graphAtlas: graph ${i + data.firstAtlasIndex}`),
  }));
  return {
    graphs,
    atlasIndex: Int32Array.from(graphs, (_, i) => i + data.firstAtlasIndex),
    property,
    labels: Int32Array.from(data.labels[property]),
    classNames: Object.freeze([...data.classNames[property]]),
  };
}
