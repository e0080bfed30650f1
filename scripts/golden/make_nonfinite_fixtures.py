#!/usr/bin/python3
"""PyTorch's answers where NaN and infinities meet the ops, and its float32 error on batch norm
statistics of data whose mean dwarfs its spread: kernels-test/fixtures/nonfinite/values.json,
read by kernels-test/nonfinite.test.ts.

Run it with Debian's own Python (the one with python3-torch), from the repository root:

    /usr/bin/python3 scripts/golden/make_nonfinite_fixtures.py

Everything is evaluated in float32, as a user's float32 tensors would be: NaN and infinity
positions are PyTorch's own, and finite values are compared with a tolerance. Tensors are written
as make_op_fixtures.py writes them (shortest float32 decimals; "NaN", "Infinity",
"-Infinity" as strings).

Sections
  relu          relu and its gradient on special values (the gradient passes where x is NaN:
                PyTorch's threshold_backward zeroes only where x <= 0)
  maxPool       max_pool2d with NaN and infinities: values, indices (NaN wins: the last NaN of
                the window in scan order) and the gradient; the same for max_pool2d(relu(x))
  softmax       rows holding NaN, +inf, -inf, mixes, all -inf, at lengths 3, 64, 65 and 300,
                along the last dimension; the test also runs them transposed along dim 0 (this
                script checks that PyTorch gives the transposed answer there). With each, an
                upstream gradient and the input gradients of softmax and log_softmax.
  crossEntropy  logits rows with NaN and infinities (targets on and off them, ignored or not),
                with reductions, label smoothing and class weights, for 3 classes (one
                invocation per row) and 72 (a workgroup per row): the loss and d loss / d logits
  batchNormLargeMean
                the data's generator (a 32-bit LCG any language reproduces exactly), and PyTorch
                float32's error against float64 on the same float32 data: the output, the saved
                mean and inverse std, the running mean and variance after one update
"""

import json
import math
import os
import sys
import zlib

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_op_fixtures import encode  # noqa: E402  (the same number encoding)

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "kernels-test", "fixtures", "nonfinite", "values.json")

NAN, INF = math.nan, math.inf
torch.set_num_threads(1)


def seed_for(name):
    torch.manual_seed(zlib.crc32(name.encode()))


def coarse_randn(*shape):
    """Normal values rounded to multiples of 1/16: short to write, ordinary to compute with."""
    return torch.round(torch.randn(*shape) * 16) / 16


def same_answer(a, b, what):
    """The same NaN and infinity positions, finite values within float32 rounding."""
    assert torch.equal(torch.isnan(a), torch.isnan(b)), f"{what}: NaN positions differ"
    assert torch.equal(torch.isposinf(a), torch.isposinf(b)), f"{what}: +inf positions differ"
    assert torch.equal(torch.isneginf(a), torch.isneginf(b)), f"{what}: -inf positions differ"
    finite = torch.isfinite(a)
    assert torch.allclose(a[finite], b[finite], rtol=1e-5, atol=1e-6), f"{what}: finite values differ"


# ---- relu and max pooling ---------------------------------------------------------------------


def relu_section():
    x = torch.tensor([NAN, -1.0, 2.0, INF, -INF, 0.0, -0.0, 1e-30, -NAN], requires_grad=True)
    y = F.relu(x)
    g = torch.arange(1.0, 10.0)
    y.backward(g)
    return {"x": encode(x), "out": encode(y), "gradOut": encode(g), "grad": encode(x.grad)}


def max_pool_section():
    # One plane, 2x2 windows with stride 2 (non-overlapping) and 3x3 with stride 1 (overlapping).
    x = torch.tensor(
        [[[[1.0, NAN, 3.0, 2.0, -INF, -INF],
           [0.0, 5.0, NAN, INF, -INF, -INF],
           [INF, -1.0, 4.0, 4.0, 7.0, NAN],
           [2.0, 3.0, -2.0, 0.5, -INF, 1.0]]]]
    )
    cases = []
    for name, kwargs in (("k2s2", {"kernel_size": 2, "stride": 2}), ("k3s1", {"kernel_size": 3, "stride": 1})):
        xi = x.clone().requires_grad_()
        out, indices = F.max_pool2d(xi, return_indices=True, **kwargs)
        g = torch.arange(1.0, out.numel() + 1.0).reshape(out.shape)
        out.backward(g)
        # max_pool2d(relu(x)): what maxPool2dFused computes, and the gradient through both.
        xr = x.clone().requires_grad_()
        relu_out, relu_indices = F.max_pool2d(F.relu(xr), return_indices=True, **kwargs)
        relu_out.backward(g)
        cases.append({
            "name": name,
            "options": {"kernelSize": kwargs["kernel_size"], "stride": kwargs["stride"]},
            "x": encode(x),
            "out": encode(out),
            "indices": encode(indices.to(torch.float32)),
            "gradOut": encode(g),
            "grad": encode(xi.grad),
            "reluOut": encode(relu_out),
            "reluIndices": encode(relu_indices.to(torch.float32)),
            "reluGrad": encode(xr.grad),
        })
    return cases


# ---- softmax ------------------------------------------------------------------------------


def special_rows(length):
    """Finite normal rows, each but the first given NaN or infinities somewhere."""
    first, mid, last = 0, length // 2, length - 1
    x = coarse_randn(11, length)
    x[1, first] = NAN
    x[2, last] = NAN
    x[3, first] = INF
    x[4, mid] = INF
    x[5, first] = -INF
    x[5, mid] = -INF
    x[6, :] = -INF
    x[7, :] = -INF
    x[7, last] = 1.5
    x[8, first] = INF
    x[8, last] = -INF
    x[9, first] = -INF
    x[9, mid] = NAN
    x[10, first] = INF
    x[10, last] = INF
    return x


def softmax_section():
    cases = []
    for length in (3, 64, 65, 300):
        name = f"rows_of_{length}"
        seed_for(f"nonfinite/softmax/{name}")
        x = special_rows(length)
        g = coarse_randn(*x.shape)
        entry = {"name": name, "x": encode(x), "gradOut": encode(g)}
        for key, fn in (("softmax", F.softmax), ("logSoftmax", F.log_softmax)):
            xi = x.clone().requires_grad_()
            y = fn(xi, dim=-1)
            y.backward(g)
            # Along dim 0 of the transposed tensor PyTorch takes another code path: the same answer.
            xt = x.t().contiguous().requires_grad_()
            yt = fn(xt, dim=0)
            yt.backward(g.t().contiguous())
            same_answer(yt.t(), y.detach(), f"{name} {key} dim 0")
            same_answer(xt.grad.t(), xi.grad, f"{name} {key} gradient dim 0")
            entry[key] = encode(y)
            entry[f"{key}Grad"] = encode(xi.grad)
        cases.append(entry)
    return cases


# ---- cross-entropy ------------------------------------------------------------------------


def ce_rows(classes):
    """Logits rows and targets: (row changes, target) with -100 the default ignore index."""
    last = classes - 1
    return [
        ({}, 1),                             # finite
        ({0: NAN}, 1),                       # a NaN first logit
        ({0: NAN}, -100),                    # ... in an ignored row: loss 0, gradient NaN
        ({last: INF}, 0),                    # +inf on another class
        ({0: -INF}, 0),                      # -inf on the target: loss inf
        ({2: -INF}, 1),                      # -inf elsewhere: finite
        ({c: -INF for c in range(classes)}, 0),  # all -inf
        ({c: -INF for c in range(classes)}, -100),
        ({0: INF}, -100),                    # +inf, ignored
        ({}, -100),                          # finite, ignored
        ({1: INF, last: -INF}, 1),           # +inf on the target
    ]


def ce_section():
    """Per class count: one logits tensor, and variants (options, the rows they take) with PyTorch's answers."""
    cases = []
    for classes in (3, 72):
        rows = ce_rows(classes)
        seed_for(f"nonfinite/crossEntropy/{classes}")
        logits = coarse_randn(len(rows), classes)
        for i, (changes, _) in enumerate(rows):
            for c, v in changes.items():
                logits[i, c] = v
        target = torch.tensor([t for _, t in rows])
        weight = torch.round((torch.rand(classes) + 0.25) * 16) / 16
        weight[2] = 0.0  # a zero weight on a class with a -inf logit: 0 * inf
        every = list(range(len(rows)))
        # Rows whose poison is only in ignored samples: the mean stays finite.
        only_ignored = [i for i, (changes, t) in enumerate(rows) if t == -100 or not changes or 2 in changes]
        variants = []
        for name, options, extra, subsets in (
            ("none", {"reduction": "none"}, {}, [every]),
            ("mean", {"reduction": "mean"}, {}, [every, only_ignored]),
            ("sum", {"reduction": "sum"}, {}, [every, only_ignored]),
            ("smoothing_none", {"reduction": "none", "labelSmoothing": 0.1}, {"label_smoothing": 0.1}, [every]),
            ("weight_smoothing_mean", {"reduction": "mean", "labelSmoothing": 0.2}, {"label_smoothing": 0.2, "weight": weight},
             [every, only_ignored]),
            ("weight_none", {"reduction": "none"}, {"weight": weight}, [every]),
        ):
            for subset in subsets:
                lg = logits[subset].clone().requires_grad_()
                loss = F.cross_entropy(lg, target[subset], reduction=options["reduction"], **extra)
                loss.backward(torch.ones_like(loss))
                variants.append({
                    "name": f"{name}_{'all_rows' if subset is every else 'poison_only_ignored'}",
                    "rows": subset,
                    "options": options,
                    "weighted": "weight" in extra,
                    "loss": encode(loss),
                    "grad": encode(lg.grad),
                })
        cases.append({
            "classes": classes,
            "logits": encode(logits),
            "target": encode(target.to(torch.float32)),
            "weight": encode(weight),
            "variants": variants,
        })
    return cases


# ---- batch norm with a large mean ---------------------------------------------------------

LCG_A, LCG_C = 1664525, 1013904223


def lcg_uniform(seed, n):
    """u_k = s_k / 2^32 with s_{k+1} = (A s_k + C) mod 2^32, s_0 = seed: exact in any language."""
    s = seed
    out = []
    for _ in range(n):
        s = (LCG_A * s + LCG_C) % 2**32
        out.append(s / 2**32)
    return out


def batch_norm_section():
    shape = [8, 3, 32, 32]  # 8192 values per channel: two of the GPU's chunks of 4096
    offset, spread, seed = 1e4, math.sqrt(12.0), 12345  # uniform with standard deviation 1
    n = math.prod(shape)
    # offset + spread * (u - 0.5) in float64 (two roundings, the same in JavaScript), then float32.
    x = torch.tensor([offset + spread * (u - 0.5) for u in lcg_uniform(seed, n)], dtype=torch.float64)
    x = x.to(torch.float32).reshape(shape)
    channels = shape[1]
    momentum, eps = 0.1, 1e-5

    def run(dtype):
        xd = x.to(dtype)
        rm = torch.zeros(channels, dtype=dtype)
        rv = torch.ones(channels, dtype=dtype)
        out, save_mean, save_invstd = torch.native_batch_norm(xd, None, None, rm, rv, True, momentum, eps)[:3]
        return {"output": out, "saveMean": save_mean, "saveInvStd": save_invstd, "runningMean": rm, "runningVar": rv}

    exact = run(torch.float64)
    f32 = run(torch.float32)
    # Absolute error for the output and the means (the output has unit spread), relative for the rest.
    relative = {"saveInvStd", "runningVar"}
    errors = {}
    for key, want in exact.items():
        err = (f32[key].to(torch.float64) - want).abs()
        if key in relative:
            err = err / want.abs()
        errors[key] = err.max().item()
    return {
        "shape": shape,
        "generator": {"lcgA": LCG_A, "lcgC": LCG_C, "seed": seed, "offset": offset, "spread": spread},
        "momentum": momentum,
        "eps": eps,
        "runningMeanInit": 0.0,
        "runningVarInit": 1.0,
        "torchFloat32Error": errors,
        "errorKinds": {k: ("relative" if k in relative else "absolute") for k in errors},
    }


def main():
    data = {
        "meta": {"generator": "scripts/golden/make_nonfinite_fixtures.py", "torch": torch.__version__},
        "relu": relu_section(),
        "maxPool": max_pool_section(),
        "softmax": softmax_section(),
        "crossEntropy": ce_section(),
        "batchNormLargeMean": batch_norm_section(),
    }
    text = json.dumps(data, separators=(",", ":"), allow_nan=False) + "\n"
    with open(OUT + ".tmp", "w") as f:
        f.write(text)
    os.replace(OUT + ".tmp", OUT)
    print(f"{os.path.relpath(OUT, ROOT)}: {len(text) // 1024} KiB; batch norm float32 error {data['batchNormLargeMean']['torchFloat32Error']}")


if __name__ == "__main__":
    sys.exit(main())
