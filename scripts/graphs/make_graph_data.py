#!/usr/bin/python3
"""Graph datasets for webgpu-cnn, taken from networkx so that nothing is downloaded at run time.

Run it with Debian's own Python, from the repository root:

    apt-get install -y python3-networkx       # once
    /usr/bin/python3 scripts/graphs/make_graph_data.py

It rewrites two files, which are committed (src/data/graphs/karate-club.ts and graph-atlas.ts
import them, so the package ships them and neither tests nor users need Python):

  src/data/graphs/karate-club.json
      Zachary's karate club (networkx.karate_club_graph()): 34 members, 78 friendships, the
      faction each member joined after the split (the 'club' node attribute).
        numNodes    34
        classNames  ["Mr. Hi", "Officer"]; labels[i] indexes it
        edges       78 [u, v] pairs with u < v, sorted (each undirected edge once)
        weights     networkx's 'weight' edge attribute (the number of contexts the two members
                    interacted in), aligned with edges

  src/data/graphs/graph-atlas.json
      networkx's graph atlas (networkx.graph_atlas_g(), "An Atlas of Graphs" by Read & Wilson):
      every graph with 0 to 7 nodes up to isomorphism, 1,253 in all. Atlas graph 0 has no nodes:
      it has no node to read out and its properties are vacuous (networkx refuses to say whether
      the null graph is connected), so it is left out and 1,252 graphs remain, atlas indices 1 to
      1252 in order (graph i of the file is atlas graph i + firstAtlasIndex).
        numNodes    node count per graph
        edges       per graph, a flat list u0, v0, u1, v1, ... with u < v, sorted
        labels      {property: [0 or 1 per graph]}, each a structural property networkx computes:
          hasBridge   nx.has_bridges: some edge lies on no cycle. The default task: nearly balanced
                      (684 without, 568 with: majority 54.6%) and learnable by a GCN + readout
                      (in 561 of the 568 graphs a bridge ends in a node of degree 1).
          connected   nx.is_connected (256 disconnected, 996 connected: majority 79.6%; 208 of
                      the 256 disconnected graphs have an isolated node).
          hasCycle    not nx.is_forest (79 forests, 1,173 with a cycle: majority 93.7%, too
                      unbalanced to show much, kept because it is the textbook example).
        classNames  {property: [name of class 0, name of class 1]}

Node ids are small integers, so every index fits int32. The output is deterministic, one record
per line, written atomically (a temporary file renamed over the old one).
"""

import json
import os

import networkx as nx

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT_DIR = os.path.join(ROOT, "src", "data", "graphs")

FIRST_ATLAS_INDEX = 1  # atlas graph 0 is the null graph (no nodes): see above

PROPERTIES = {
    "hasBridge": (nx.has_bridges, ["no bridge", "has a bridge"]),
    "connected": (nx.is_connected, ["disconnected", "connected"]),
    "hasCycle": (lambda g: not nx.is_forest(g), ["forest", "has a cycle"]),
}
# The class balance the docstring and the TypeScript tests state; checked on every run.
EXPECTED_COUNTS = {"hasBridge": [684, 568], "connected": [256, 996], "hasCycle": [79, 1173]}


def sorted_edges(g):
    return sorted((min(u, v), max(u, v)) for u, v in g.edges())


def write_text(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
    print(f"{os.path.relpath(path, ROOT)}: {len(text) // 1024} KiB")


def meta(source):
    return {"generator": "scripts/graphs/make_graph_data.py", "networkx": nx.__version__, "source": source}


def karate_club():
    g = nx.karate_club_graph()
    n = g.number_of_nodes()
    assert list(g.nodes()) == list(range(n)), "karate club nodes are not 0..n-1"
    class_names = ["Mr. Hi", "Officer"]
    labels = [class_names.index(g.nodes[i]["club"]) for i in range(n)]
    edges = sorted_edges(g)
    weights = [g.edges[u, v].get("weight", 1) for u, v in edges]
    assert (n, len(edges)) == (34, 78), (n, len(edges))
    assert labels.count(0) == 17 and labels.count(1) == 17, labels
    assert labels[0] == 0 and labels[33] == 1, "node 0 is Mr. Hi, node 33 the officer"
    fields = {
        "meta": meta("networkx.karate_club_graph()"),
        "numNodes": n,
        "classNames": class_names,
        "labels": labels,
        "edges": [list(e) for e in edges],
        "weights": weights,
    }
    text = "{\n" + ",\n".join(f"{json.dumps(k)}:{json.dumps(v, separators=(',', ':'))}" for k, v in fields.items()) + "\n}\n"
    write_text(os.path.join(OUT_DIR, "karate-club.json"), text)


def graph_atlas():
    atlas = nx.graph_atlas_g()
    assert len(atlas) == 1253 and atlas[0].number_of_nodes() == 0, "unexpected atlas"
    graphs = atlas[FIRST_ATLAS_INDEX:]
    for g in graphs:
        assert list(g.nodes()) == list(range(g.number_of_nodes()))
    labels = {name: [int(bool(test(g))) for g in graphs] for name, (test, _) in PROPERTIES.items()}
    for name, values in labels.items():
        counts = [values.count(0), values.count(1)]
        assert counts == EXPECTED_COUNTS[name], f"{name}: class counts {counts}, expected {EXPECTED_COUNTS[name]}"
        print(f"atlas {name}: {counts[0]} {PROPERTIES[name][1][0]!r}, {counts[1]} {PROPERTIES[name][1][1]!r}")
    head = {
        "meta": meta("networkx.graph_atlas_g()[1:]"),
        "firstAtlasIndex": FIRST_ATLAS_INDEX,
        "classNames": {name: names for name, (_, names) in PROPERTIES.items()},
        "numNodes": [g.number_of_nodes() for g in graphs],
        "labels": labels,
    }
    lines = [f"{json.dumps(k)}:{json.dumps(v, separators=(',', ':'))}" for k, v in head.items()]
    edge_lines = [json.dumps([x for e in sorted_edges(g) for x in e], separators=(",", ":")) for g in graphs]
    text = "{\n" + ",\n".join(lines) + ',\n"edges":[\n' + ",\n".join(edge_lines) + "\n]}\n"
    write_text(os.path.join(OUT_DIR, "graph-atlas.json"), text)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    karate_club()
    graph_atlas()


if __name__ == "__main__":
    main()
