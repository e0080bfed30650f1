// Zachary's karate club: 34 members of a university karate club, 78 friendships, and the faction
// each member joined when the club split (Mr. Hi's or the officer's). The data is networkx's
// karate_club_graph(), written into karate-club.json by scripts/graphs/make_graph_data.py.
import data from './karate-club.json' with { type: 'json' };
import { undirectedEdgeIndex, type NodeDataset } from './graph.js';

export interface KarateClub extends NodeDataset {
  /** [2, 156]: the 78 friendships in both directions, coalesced. */
  edgeIndex: Int32Array;
  /**
   * [156], aligned with edgeIndex: how many contexts the two members interacted in (networkx's
   * 'weight'). Not an edgeWeight: Kipf & Welling's demo, like most uses, takes the graph unweighted.
   */
  interactions: Float32Array;
  /** The identity [34, 34]: each member is its own one-hot feature, as in Kipf & Welling's demo. */
  features: Float32Array;
  /** [34]: 0 = Mr. Hi's faction, 1 = the officer's (17 each). */
  labels: Int32Array;
  /** The one labelled node per faction of the semi-supervised task: [0 (Mr. Hi), 33 (the officer)]. */
  trainNodes: Int32Array;
}

export function karateClub(): KarateClub {
  const numNodes = data.numNodes;
  const pairs = data.edges.flat();
  const edgeIndex = undirectedEdgeIndex(numNodes, pairs, 'karateClub');
  const weightOf = new Map<number, number>();
  data.edges.forEach(([u, v], e) => {
    weightOf.set(u! * numNodes + v!, data.weights[e]!);
    weightOf.set(v! * numNodes + u!, data.weights[e]!);
  });
  const edges = edgeIndex.length / 2;
  const interactions = new Float32Array(edges);
  for (let e = 0; e < edges; e++) interactions[e] = weightOf.get(edgeIndex[e]! * numNodes + edgeIndex[edges + e]!)!;
  const features = new Float32Array(numNodes * numNodes);
  for (let i = 0; i < numNodes; i++) features[i * numNodes + i] = 1;
  return {
    numNodes,
    edgeIndex,
    interactions,
    numFeatures: numNodes,
    features,
    labels: Int32Array.from(data.labels),
    classNames: Object.freeze([...data.classNames]),
    trainNodes: Int32Array.of(0, 33),
  };
}
