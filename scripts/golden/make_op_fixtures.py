#!/usr/bin/env python3
"""PyTorch golden values for every conformance case of the op registry.

Reads the cases that scripts/golden/export-op-cases.ts writes (the exact float32 values of every
tensor, the PyTorch expression, which operands require a gradient, the upstream gradient and the
NaN / infinity variant) on stdin, evaluates each expression in float64 with torch.nn.functional,
and writes kernels-test/fixtures/ops/<op>.json: per case the output, the operands it updates in
place, the gradients and the output of the non-finite variant, rounded to float32. Run with
Debian's python3-torch:

    npm run golden:ops
    # = npx tsx scripts/golden/export-op-cases.ts | /usr/bin/python3 scripts/golden/make_op_fixtures.py

Every file is rewritten from scratch, so a case removed from the TypeScript side disappears here.
"""

import json
import math
import os
import struct
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT_DIR = os.path.join(ROOT, "kernels-test", "fixtures", "ops")

torch.set_num_threads(1)  # single-threaded reductions: the same bits on every run
warnings.filterwarnings("ignore", message="Using padding=.same. with even kernel")


def decode_number(v):
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[v] if isinstance(v, str) else v


def tensor(spec, data=None):
    values = [decode_number(v) for v in (data if data is not None else spec["data"])]
    # The values are float32 numbers: through float32 first, then widened exactly.
    t = torch.tensor(np.array(values, dtype=np.float32), dtype=torch.float32).to(torch.float64)
    return t.reshape(spec["shape"])


def f32_number(v):
    """The shortest decimal that reads back as the same float32 (a JSON number or a string)."""
    v = np.float32(v)
    if np.isnan(v):
        return "NaN"
    if np.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    x = float(np.format_float_scientific(v, unique=True, trim="-"))
    assert struct.pack("<f", x) == struct.pack("<f", v), (v, x)
    if x == int(x) and abs(x) < 2**53 and not (x == 0 and math.copysign(1.0, x) < 0):
        return int(x)
    return x


def encode(t):
    t = t.detach().to(torch.float32).contiguous()
    return {"shape": list(t.shape), "data": [f32_number(v) for v in t.reshape(-1).numpy()]}


def evaluate(case, grad, replace=None):
    """Runs the case's expression on fresh tensors; returns (output, tensors by name)."""
    tensors = {}
    for name, spec in case["inputs"].items():
        data = replace["data"] if replace and replace["operand"] == name else None
        t = tensor(spec, data)
        if name in grad:
            t.requires_grad_(True)
        tensors[name] = t
    out = eval(case["torch"], {"torch": torch, "F": F}, dict(tensors))
    return out, tensors


def fixture(case):
    grad = case["grad"]
    out, tensors = evaluate(case, grad)
    result = {"digest": case["digest"], "out": encode(out)}
    result["updated"] = {name: encode(tensors[name]) for name in case["updates"]}
    if grad:
        if case["gradOut"] is None:
            out.backward()
        else:
            out.backward(tensor(case["gradOut"]))
        result["gradients"] = {name: encode(tensors[name].grad) for name in grad}
    if case["nonFinite"] is not None:
        with torch.no_grad():
            bad, _ = evaluate(case, [], case["nonFinite"])
        result["nonFinite"] = encode(bad)
    return result


def main():
    cases = json.load(sys.stdin)["cases"]
    by_op = {}
    for case in cases:
        by_op.setdefault(case["op"], {})[case["name"]] = fixture(case)
    os.makedirs(OUT_DIR, exist_ok=True)
    for name in os.listdir(OUT_DIR):
        if name.endswith(".json"):
            os.remove(os.path.join(OUT_DIR, name))
    for op, fixtures in sorted(by_op.items()):
        path = os.path.join(OUT_DIR, f"{op}.json")
        with open(path + ".tmp", "w") as f:
            json.dump({"op": op, "torch": torch.__version__, "cases": fixtures}, f, separators=(",", ":"))
            f.write("\n")
        os.replace(path + ".tmp", path)
    print(f"wrote {len(cases)} cases of {len(by_op)} ops to {os.path.relpath(OUT_DIR, ROOT)}")


if __name__ == "__main__":
    main()
