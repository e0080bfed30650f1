#!/usr/bin/python3
"""PyTorch CPU beside bench/gcn.ts: the same SpMM (torch.sparse.mm) and the same full-batch 2-layer
GCN training epoch, on the graph, weights and data bench/gcn.ts exported to a directory.

    /usr/bin/python3 bench/gcn_torch.py DIR [REPS]

DIR holds meta.json ({"nodes", "features", "hidden", "classes", "nnz", "lr"}) and little-endian
arrays: rows.i32 and cols.i32 (the normalised adjacency's entries, self-loops included), values.f32,
x.f32 [nodes, features], labels.i32 [nodes], and the initial parameters w1.f32 [hidden, features],
b1.f32, w2.f32 [classes, hidden], b2.f32 (our lin.weight layout, [out, in]). Prints one JSON line:
median milliseconds per SpMM and per epoch, the first losses, the threads torch used.
"""

import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def load(d, name, dtype, shape=None):
    a = np.fromfile(os.path.join(d, name), dtype=dtype)
    return torch.from_numpy(a.reshape(shape) if shape else a)


def median_ms(fn, reps, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times)), len(times)


def main():
    # Every CPU, as lavapipe uses (torch's default counts physical cores: 1 on this 2-thread machine).
    torch.set_num_threads(os.cpu_count())
    d = sys.argv[1]
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    meta = json.load(open(os.path.join(d, "meta.json")))
    n, f, hidden, classes = meta["nodes"], meta["features"], meta["hidden"], meta["classes"]
    rows = load(d, "rows.i32", np.int32).long()
    cols = load(d, "cols.i32", np.int32).long()
    values = load(d, "values.f32", np.float32)
    x = load(d, "x.f32", np.float32, (n, f))
    labels = load(d, "labels.i32", np.int32).long()
    a = torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (n, n)).coalesce()

    spmm_ms, spmm_reps = median_ms(lambda: torch.sparse.mm(a, x), reps)

    params = {
        "w1": load(d, "w1.f32", np.float32, (hidden, f)).clone().requires_grad_(True),
        "b1": load(d, "b1.f32", np.float32).clone().requires_grad_(True),
        "w2": load(d, "w2.f32", np.float32, (classes, hidden)).clone().requires_grad_(True),
        "b2": load(d, "b2.f32", np.float32).clone().requires_grad_(True),
    }
    opt = torch.optim.Adam(params.values(), lr=meta["lr"])
    losses = []

    def epoch():
        opt.zero_grad()
        h = torch.relu(torch.sparse.mm(a, x @ params["w1"].T) + params["b1"])
        logits = torch.sparse.mm(a, h @ params["w2"].T) + params["b2"]
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())

    epoch_ms, epoch_reps = median_ms(epoch, max(3, reps // 2))
    print(json.dumps({
        "spmm_ms": spmm_ms, "spmm_reps": spmm_reps, "epoch_ms": epoch_ms, "epoch_reps": epoch_reps,
        "losses": losses[:2], "threads": torch.get_num_threads(), "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
