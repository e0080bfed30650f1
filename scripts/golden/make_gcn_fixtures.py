#!/usr/bin/python3
"""PyTorch golden values for graph convolutional networks in webgpu-cnn.

PyTorch Geometric is not available here, so its semantics are written out below with plain torch
(gcn_norm, add_remaining_self_loops, GCNConv, global_*_pool), propagating through a dense
aggregation matrix and checked against torch.sparse.mm on the same entries. Run it with Debian's
own Python (python3-torch), from the repository root:

    /usr/bin/python3 scripts/golden/make_gcn_fixtures.py

It writes (committed, so the tests need no Python; read by kernels-test/graph-reference.test.ts):

  kernels-test/fixtures/gcn/gcn-conv.json
      PyG's GCNConv(in, out, bias, normalize, add_self_loops) on small graphs, forward and backward.
      One case per line:
        name        "gcnConv/<what is awkward about it>"
        graph       numNodes and edgeIndex (PyG's edge_index [2, E], row-major, sources first);
                    a batched case also lists its components (each graph's own numNodes and
                    edgeIndex), which batching (src/data/graphs/batch.ts) must turn into edgeIndex
        options     {normalize, addSelfLoops, bias} as the TypeScript API spells them
        inputs      x [N, in], "lin.weight" [out, in], "bias" [out] (when bias), "edgeWeight" [E]
                    (absent: every edge weighs 1), "gradOut" [N, out] the upstream gradient
        outputs     {"out": [N, out]}
        gradients   d(sum(out * gradOut)) / d(input) for x, lin.weight, bias (when bias) and
                    edgeWeight (for the implicit ones when the case has none)

  kernels-test/fixtures/gcn/readout.json
      global_add_pool / global_mean_pool / global_max_pool: x [N, F] and a node-to-graph index
      `batch` [N] (sorted or not) into numGraphs graphs, one of them empty. Fields: name, reduce,
      numGraphs, inputs {x, batch, gradOut}, outputs {out}, gradients {x}. An empty graph reads
      out 0. max splits the gradient evenly among tied maxima and propagates NaN, as torch.amax
      does; it is computed per graph with amax, because PyG's CPU path (scatter_reduce 'amax'
      into zeros, include_self=False) in torch 1.13 counts the initial zero as a tie wherever a
      maximum is exactly 0 (checked below to agree everywhere else).

  kernels-test/fixtures/gcn/karate-adam.json
      Kipf & Welling's semi-supervised karate club: a 2-layer GCN (GCNConv(34, 16), ReLU,
      GCNConv(16, 2)) on one-hot node features (the identity), cross-entropy on one labelled node
      per faction (node 0, Mr. Hi; node 33, the officer), 5 steps of Adam (lr 0.01, weight decay
      5e-4 on every parameter, no dropout). The graph is src/data/graphs/karate-club.json, made
      undirected and coalesced as the TypeScript loader does (its edgeIndex is stored to check
      that). Stored: the initial parameters (PyG's initialisation, glorot weights and zero biases,
      drawn from torch.manual_seed(KARATE_SEED)), the loss at each step before its update, the
      loss after the fifth update, and the parameters after it.

Everything is evaluated in float64 from float32 inputs and rounded once to float32 on output (the
correctly rounded value); losses are float64. The same computation in float32 is run beside it as
a sanity check. Numbers are written as in make_forward_fixtures.py (NaN and infinities as strings).
"""

import json
import math
import os
import sys
import zlib

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

from make_forward_fixtures import encode  # noqa: E402

OUT_DIR = os.path.join(ROOT, "kernels-test", "fixtures", "gcn")
KARATE_JSON = os.path.join(ROOT, "src", "data", "graphs", "karate-club.json")
KARATE_SEED = 13
HIDDEN = 16
STEPS = 5
LR = 0.01
WEIGHT_DECAY = 5e-4

torch.set_num_threads(1)  # the same bits on every run
INF = float("inf")
NAN = float("nan")


def seed_for(name):
    torch.manual_seed(zlib.crc32(name.encode()))


def ints(t):
    return [int(v) for v in t.reshape(-1).tolist()]


# ---- PyTorch Geometric's semantics in plain torch -------------------------------------------


def to_undirected(edge_index, num_nodes):
    """torch_geometric.utils.to_undirected without attributes: both directions, sorted by (row, col), unique."""
    both = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    key = torch.unique(both[0] * num_nodes + both[1])  # sorted
    return torch.stack([key // num_nodes, key % num_nodes])


def add_remaining_self_loops(edge_index, edge_weight, num_nodes):
    """torch_geometric.utils.add_remaining_self_loops with fill value 1: the non-loop edges, then one
    loop per node weighted 1 or by the input's own loop at that node."""
    mask = edge_index[0] != edge_index[1]
    loop_index = torch.arange(num_nodes).unsqueeze(0).repeat(2, 1)
    loop_weight = torch.ones(num_nodes, dtype=edge_weight.dtype)
    inv = ~mask
    loop_weight[edge_index[0][inv]] = edge_weight[inv]
    return torch.cat([edge_index[:, mask], loop_index], dim=1), torch.cat([edge_weight[mask], loop_weight])


def gcn_norm(edge_index, edge_weight, num_nodes, add_self_loops):
    """torch_geometric.nn.conv.gcn_conv.gcn_norm (improved=False, flow='source_to_target')."""
    if add_self_loops:
        edge_index, edge_weight = add_remaining_self_loops(edge_index, edge_weight, num_nodes)
    row, col = edge_index
    deg = torch.zeros(num_nodes, dtype=edge_weight.dtype).index_add(0, col, edge_weight)
    dis = deg.pow(-0.5)
    dis = dis.masked_fill(dis == INF, 0)
    return edge_index, dis[row] * edge_weight * dis[col]


def propagate(edge_index, weight, h):
    """out[i] = sum over edges j -> i of weight * h[j]: a dense aggregation matrix, checked against torch.sparse.mm."""
    n = h.shape[0]
    a = torch.zeros(n, n, dtype=h.dtype).index_put((edge_index[1], edge_index[0]), weight, accumulate=True)
    out = a @ h
    sparse = torch.sparse_coo_tensor(torch.stack([edge_index[1], edge_index[0]]), weight.detach(), (n, n))
    check = torch.sparse.mm(sparse, h.detach())
    tol = 1e-12 if h.dtype == torch.float64 else 1e-5
    assert torch.allclose(out.detach(), check, rtol=tol, atol=tol, equal_nan=True), "dense and sparse propagation differ"
    return out


def gcn_conv(x, edge_index, edge_weight, weight, bias, normalize, add_self_loops):
    """torch_geometric.nn.GCNConv.forward: lin (no bias), gcn_norm when normalising, propagate, + bias."""
    if edge_weight is None:
        edge_weight = torch.ones(edge_index.shape[1], dtype=x.dtype)
    if normalize:
        edge_index, edge_weight = gcn_norm(edge_index, edge_weight, x.shape[0], add_self_loops)
    out = propagate(edge_index, edge_weight, x @ weight.T)
    return out if bias is None else out + bias


def readout(x, batch, num_graphs, reduce):
    """global_{add,mean,max}_pool: sum, mean (0 for an empty graph), max via amax per graph (0 when empty)."""
    if reduce == "max":
        rows = []
        for g in range(num_graphs):
            members = x[batch == g]
            rows.append(members.amax(0) if members.shape[0] else x.new_zeros(x.shape[1]))
        return torch.stack(rows)
    total = torch.zeros(num_graphs, x.shape[1], dtype=x.dtype).index_add(0, batch, x)
    if reduce == "sum":
        return total
    count = torch.zeros(num_graphs, dtype=x.dtype).index_add(0, batch, torch.ones_like(batch, dtype=x.dtype))
    return total / count.clamp(min=1).unsqueeze(1)


def scatter_max_like_pyg(x, batch, num_graphs):
    index = batch.unsqueeze(1).expand_as(x)
    return x.new_zeros(num_graphs, x.shape[1]).scatter_reduce(0, index, x, reduce="amax", include_self=False)


# ---- GCNConv cases -------------------------------------------------------------------------

CASES = {"gcn-conv": [], "readout": []}


def differentiate(inputs, requires, run):
    """Forward in float64 and float32; the float64 outputs and gradients of sum(out * gradOut)."""
    results = {}
    for dtype in (torch.float64, torch.float32):
        ts = {n: t.clone().to(dtype).requires_grad_(n in requires) for n, t in inputs.items() if n != "gradOut"}
        out = run(**ts)
        out.backward(inputs["gradOut"].to(dtype))
        results[dtype] = (out.detach(), {n: ts[n].grad for n in requires})
    (out, grads), (out32, grads32) = results[torch.float64], results[torch.float32]
    for a, b in [(out, out32)] + [(grads[n], grads32[n]) for n in requires]:
        ok = torch.allclose(a, b.double(), rtol=1e-4, atol=1e-4, equal_nan=True)
        assert ok, "float32 and float64 evaluations differ"
    return out, grads


def gcn_case(name, num_nodes, edge_index, in_f, out_f, bias, normalize, add_self_loops, weighted, components=None):
    full = f"gcnConv/{name}"
    seed_for(full)
    e = edge_index.shape[1]
    inputs = {
        "x": torch.randn(num_nodes, in_f),
        "lin.weight": torch.randn(out_f, in_f) * 0.5,
        "bias": torch.randn(out_f) if bias else None,
        "edgeWeight": (torch.rand(e) * 1.5 + 0.25) if weighted else torch.ones(e),
        "gradOut": torch.randn(num_nodes, out_f),
    }
    inputs = {n: t for n, t in inputs.items() if t is not None}
    requires = [n for n in inputs if n != "gradOut"]

    def run(x, edgeWeight, bias=None, **kw):
        return gcn_conv(x, edge_index, edgeWeight, kw["lin.weight"], bias, normalize, add_self_loops)

    out, grads = differentiate(inputs, requires, run)
    stored_inputs = {n: encode(t) for n, t in inputs.items() if weighted or n != "edgeWeight"}
    call = f"GCNConv({in_f}, {out_f}, bias={bias}, normalize={normalize}, add_self_loops={add_self_loops})(x, edge_index"
    call += ", edge_weight)" if weighted else ")"
    case = {
        "name": full,
        "torch": call,
        "graph": {"numNodes": num_nodes, "edgeIndex": ints(edge_index)},
        "options": {"normalize": normalize, "addSelfLoops": add_self_loops, "bias": bias},
        "inputs": stored_inputs,
        "outputs": {"out": encode(out)},
        "gradients": {n: encode(g) for n, g in grads.items()},
    }
    if components is not None:
        case["graph"]["components"] = [{"numNodes": n, "edgeIndex": ints(ei)} for n, ei in components]
    CASES["gcn-conv"].append(case)
    return out


def edges(pairs):
    return torch.tensor(pairs, dtype=torch.long).T.contiguous()


def gcn_cases():
    # Node 4 has no edges: with self-loops it keeps only its own (scaled) features; without, it
    # has degree 0, so deg^-1/2 is masked to 0 and it reads out the bias alone.
    isolated = to_undirected(edges([(0, 1), (1, 2), (0, 2), (2, 3)]), 5)
    gcn_case("isolated-node", 5, isolated, 3, 4, bias=True, normalize=True, add_self_loops=True, weighted=True)
    gcn_case("isolated-node-no-self-loops", 5, isolated, 3, 4, bias=True, normalize=True, add_self_loops=False, weighted=True)
    # Directed edges without duplicates, made symmetric; node 2 cites itself, so its loop keeps
    # its own weight instead of the fill value 1 (add_remaining_self_loops).
    directed = edges([(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3), (1, 4), (2, 2)])
    symmetric = to_undirected(directed, 6)
    gcn_case("directed-made-symmetric-with-a-loop", 6, symmetric, 4, 3, bias=False, normalize=True, add_self_loops=True, weighted=True)
    gcn_case("unweighted", 6, symmetric, 4, 3, bias=True, normalize=True, add_self_loops=True, weighted=False)
    gcn_case("not-normalized", 6, symmetric, 4, 3, bias=True, normalize=False, add_self_loops=False, weighted=True)
    # Directed edges left directed: in- and out-degrees differ, so the normalisation is not symmetric.
    gcn_case("directed", 6, directed, 3, 2, bias=True, normalize=True, add_self_loops=True, weighted=True)
    # Node 1 lists two self-loops: the last one's weight is kept (PyTorch's index assignment on the
    # CPU) and both receive that loop's gradient (the backward of index assignment gathers).
    loops = edges([(0, 1), (1, 1), (1, 0), (1, 1), (2, 1)])
    gcn_case("duplicate-self-loops", 3, loops, 2, 2, bias=True, normalize=True, add_self_loops=True, weighted=True)

    # Three graphs as one block-diagonal graph: a triangle, a path of 4, a single node.
    components = [(3, to_undirected(edges([(0, 1), (1, 2), (2, 0)]), 3)), (4, to_undirected(edges([(0, 1), (1, 2), (2, 3)]), 4)), (1, torch.zeros(2, 0, dtype=torch.long))]
    offsets = [0, 3, 7]
    batched = torch.cat([ei + off for (_, ei), off in zip(components, offsets)], dim=1)
    out = gcn_case("batched", 8, batched, 3, 4, bias=True, normalize=True, add_self_loops=True, weighted=False, components=components)
    # Block-diagonal: each graph's rows are the layer applied to that graph alone.
    stored = CASES["gcn-conv"][-1]["inputs"]
    x, w, b = (torch.tensor(stored[n]["data"], dtype=torch.float32).double().reshape(stored[n]["shape"]) for n in ("x", "lin.weight", "bias"))
    for (n, ei), off in zip(components, offsets):
        alone = gcn_conv(x[off:off + n], ei, None, w, b, True, True)
        assert torch.allclose(alone, out[off:off + n], rtol=1e-12, atol=1e-12), "batched graphs interact"


# ---- readout cases -------------------------------------------------------------------------


def readout_cases():
    specs = [
        # sorted index, graph 3 empty, exact ties for the max in feature 1 of graph 0
        ("sorted-with-an-empty-graph", [0, 0, 0, 1, 1, 2, 2], 4, None),
        ("unsorted", [1, 0, 2, 0, 1, 2, 1, 0], 3, None),
        # NaN in graph 0, +inf in graph 1, -inf in every node of graph 2 for feature 0
        ("special-values", [0, 0, 1, 1, 2, 2], 3, [(0, 1, NAN), (2, 0, INF), (4, 0, -INF), (5, 0, -INF)]),
    ]
    for spec_name, batch_list, num_graphs, specials in specs:
        for reduce in ("sum", "mean", "max"):
            full = f"readout/{spec_name}-{reduce}"
            seed_for(full)
            batch = torch.tensor(batch_list, dtype=torch.long)
            x = torch.randn(len(batch_list), 3)
            if spec_name.startswith("sorted"):
                x[0, 1] = x[2, 1] = x[:3, 1].abs().max() + 1  # a two-way tie for graph 0's max
            for i, f, v in specials or []:
                x[i, f] = v
            inputs = {"x": x, "gradOut": torch.randn(num_graphs, 3)}
            out, grads = differentiate(inputs, ["x"], lambda x: readout(x, batch, num_graphs, reduce))
            if reduce == "max":  # PyG's scatter path agrees wherever no maximum is exactly 0
                pyg = scatter_max_like_pyg(x.double(), batch, num_graphs)
                assert torch.equal(pyg.isnan(), out.isnan()) and torch.equal(pyg.nan_to_num(), out.nan_to_num()), full
            CASES["readout"].append({
                "name": full,
                "torch": f"global_{ {'sum': 'add', 'mean': 'mean', 'max': 'max'}[reduce] }_pool(x, batch, size={num_graphs})",
                "reduce": reduce,
                "numGraphs": num_graphs,
                "inputs": {"x": encode(x), "batch": {"shape": [len(batch_list)], "data": batch_list}, "gradOut": encode(inputs["gradOut"])},
                "outputs": {"out": encode(out)},
                "gradients": {"x": encode(grads["x"])},
            })


# ---- karate club: 5 Adam steps -------------------------------------------------------------


def glorot(out_f, in_f):
    a = math.sqrt(6.0 / (in_f + out_f))
    return (torch.rand(out_f, in_f) * 2 - 1) * a


def karate_initial_state():
    torch.manual_seed(KARATE_SEED)
    n = 34
    return {
        "conv1.lin.weight": glorot(HIDDEN, n),
        "conv1.bias": torch.zeros(HIDDEN),
        "conv2.lin.weight": glorot(2, HIDDEN),
        "conv2.bias": torch.zeros(2),
    }


def karate_train(state, edge_index, labels, dtype):
    params = {k: v.clone().to(dtype).requires_grad_(True) for k, v in state.items()}
    opt = torch.optim.Adam(params.values(), lr=LR, weight_decay=WEIGHT_DECAY)
    x = torch.eye(34, dtype=dtype)
    train = torch.tensor([0, 33])

    def forward():
        h = torch.relu(gcn_conv(x, edge_index, None, params["conv1.lin.weight"], params["conv1.bias"], True, True))
        return gcn_conv(h, edge_index, None, params["conv2.lin.weight"], params["conv2.bias"], True, True)

    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = F.cross_entropy(forward()[train], labels[train])
        losses.append(loss.item())
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = F.cross_entropy(forward()[train], labels[train]).item()
    return losses, final, {k: v.detach() for k, v in params.items()}


def karate_fixture():
    with open(KARATE_JSON) as f:
        data = json.load(f)
    edge_index = to_undirected(torch.tensor(data["edges"], dtype=torch.long).T, data["numNodes"])
    labels = torch.tensor(data["labels"], dtype=torch.long)
    state = karate_initial_state()
    losses, final, after = karate_train(state, edge_index, labels, torch.float64)
    losses32, final32, after32 = karate_train(state, edge_index, labels, torch.float32)
    drift = max((after[k] - after32[k].double()).abs().max().item() for k in after)
    print(f"karate: losses {['%.6f' % v for v in losses]} then {final:.6f}; float32 torch: max loss diff "
          f"{max(abs(a - b) for a, b in zip(losses + [final], losses32 + [final32])):.2e}, weights {drift:.2e}")
    return {
        "meta": {"generator": "scripts/golden/make_gcn_fixtures.py", "torch": torch.__version__},
        "model": {"layers": ["GCNConv(34, %d)" % HIDDEN, "ReLU", "GCNConv(%d, 2)" % HIDDEN], "hidden": HIDDEN,
                  "features": "identity [34, 34]", "normalize": True, "addSelfLoops": True, "bias": True},
        "optimizer": {"name": "Adam", "lr": LR, "betas": [0.9, 0.999], "eps": 1e-8, "weightDecay": WEIGHT_DECAY, "steps": STEPS},
        "initSeed": KARATE_SEED,
        "trainNodes": [0, 33],
        "trainLabels": [int(labels[0]), int(labels[33])],
        "edgeIndex": ints(edge_index),
        "init": {k: encode(v) for k, v in state.items()},
        "losses": losses,
        "finalLoss": final,
        "after": {k: encode(v) for k, v in after.items()},
        "float32Torch": {"losses": losses32, "finalLoss": final32, "maxWeightDrift": drift},
    }


# ---- writing -------------------------------------------------------------------------------


def write_text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
    print(f"{os.path.relpath(path, ROOT)}: {len(text) // 1024} KiB")


def main():
    gcn_cases()
    readout_cases()
    meta = {"generator": "scripts/golden/make_gcn_fixtures.py", "torch": torch.__version__}
    for family, cases in CASES.items():
        names = [c["name"] for c in cases]
        assert len(names) == len(set(names)), "case names must be unique"
        lines = [json.dumps(c, separators=(",", ":"), allow_nan=False) for c in cases]
        write_text(os.path.join(OUT_DIR, f"{family}.json"), '{"meta":' + json.dumps(meta) + ',"cases":[\n' + ",\n".join(lines) + "\n]}\n")
    text = json.dumps(karate_fixture(), separators=(",", ":"), allow_nan=False) + "\n"
    write_text(os.path.join(OUT_DIR, "karate-adam.json"), text)


if __name__ == "__main__":
    main()
