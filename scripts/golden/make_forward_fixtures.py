#!/usr/bin/python3
"""PyTorch golden values for every forward op of webgpu-cnn.

Run it with Debian's own Python, the one that sees Debian's python3-torch (the first `python3` on
PATH may not), from the repository root:

    bash scripts/setup.sh --torch          # once: installs python3-torch
    /usr/bin/python3 scripts/golden/make_forward_fixtures.py

It rewrites kernels-test/fixtures/<family>.json; the files are committed, so the tests
(kernels-test/golden.test.ts) need no Python. The output is deterministic: every case seeds
torch from a checksum of its own name, so adding a case leaves the others unchanged.

Each case records
  name      unique, "<family>/<what is awkward about it>"
  op        the webgpu-cnn op the test calls (conv2d, maxPool2d, crossEntropy, ...)
  torch     the PyTorch call that produced the outputs, for people reading a failure
  inputs    named tensors {shape, data}; class indices for crossEntropy are stored as floats
  options   the op's options, spelled as in the TypeScript API (camelCase)
  outputs   named tensors: "out", and for batch norm with running statistics their values after
            the call (updated in place by training, unchanged by eval)
  k         the reduction length behind each output value (kernels-test/helpers.ts picks the
            tolerance from it: reduction(k)), or null for exact ops (ELEMENTWISE tolerance)

Inputs are float32. Ops that do arithmetic are evaluated by PyTorch in float64 on those float32
inputs and rounded once to float32, so a golden value is the correctly rounded exact result and a
mismatch measures our error alone; the float32 evaluation is checked against it as a sanity check.
Selection ops (max pooling, nearest resizing, relu) are evaluated in float32, because PyTorch's
nearest-neighbour index rule depends on float32 rounding of the scale.
Numbers are written with the shortest decimal that round-trips through float32; infinities and
NaN (not JSON numbers) as the strings "Infinity", "-Infinity" and "NaN".
"""

import json
import math
import os
import struct
import sys
import warnings
import zlib

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT_DIR = os.path.join(ROOT, "kernels-test", "fixtures")

torch.set_num_threads(1)  # single-threaded reductions: the same bits on every run
# PyTorch notes that an even kernel under padding="same" costs a padded copy; that is the point of the case.
warnings.filterwarnings("ignore", message="Using padding=.same. with even kernel")


# ---- encoding ------------------------------------------------------------------------------


def f32_number(v):
    """The shortest decimal that reads back as the same float32 (a JSON number or a string)."""
    v = np.float32(v)
    if np.isnan(v):
        return "NaN"
    if np.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    x = float(np.format_float_scientific(v, unique=True, trim="-"))
    # JSON readers parse to float64 first; make sure float64 -> float32 gives the same bits back.
    assert struct.pack("<f", x) == struct.pack("<f", v), (v, x)
    if x == int(x) and abs(x) < 2**53 and not (x == 0 and math.copysign(1.0, x) < 0):
        return int(x)
    return x


def encode(t):
    t = t.detach().to(torch.float32).contiguous()
    return {"shape": list(t.shape), "data": [f32_number(v) for v in t.reshape(-1).numpy()]}


# ---- cases ---------------------------------------------------------------------------------

FAMILIES = {}


def seed_for(name):
    torch.manual_seed(zlib.crc32(name.encode()))


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float32)


def case(family, name, op, torch_call, inputs, options, run, k, exact=False, f32_atol=1e-4):
    """Evaluates `run(**inputs)` (returning {output name: tensor}) and records the case.

    `inputs` are float32 tensors (or None for an absent optional input). Unless `exact`, the
    outputs are computed from float64 copies and compared with a float32 evaluation.
    """
    full = f"{family}/{name}"

    def evaluate(dtype):
        # Fresh copies: batch norm updates its running statistics in place.
        return run(**{n: (None if t is None else t.clone().to(dtype)) for n, t in inputs.items()})

    outs = evaluate(torch.float32 if exact else torch.float64)
    if not exact:
        outs32 = evaluate(torch.float32)
        for n, t in outs.items():
            a, b = t.to(torch.float64), outs32[n].to(torch.float64)
            finite = torch.isfinite(a)
            assert torch.equal(finite, torch.isfinite(b)), f"{full}: {n} float32/float64 disagree on infinities"
            err = (a[finite] - b[finite]).abs().max().item() if finite.any() else 0.0
            scale = max(1.0, a[finite].abs().max().item() if finite.any() else 1.0)
            assert err <= f32_atol * scale, f"{full}: {n} float32 and float64 differ by {err}"
    FAMILIES.setdefault(family, []).append(
        {
            "name": full,
            "op": op,
            "torch": torch_call,
            "inputs": {n: encode(t) for n, t in inputs.items() if t is not None},
            "options": options,
            "outputs": {n: encode(t) for n, t in outs.items()},
            "k": k,
        }
    )


# -- convolution --


def conv_case(name, op, x_shape, w_shape, bias, options, torch_kwargs, relu=False):
    full = f"conv/{name}"
    seed_for(full)
    x = randn(*x_shape)
    w = randn(*w_shape) * (1.0 / math.sqrt(math.prod(w_shape[1:])))
    b = randn(w_shape[0]) if bias else None
    fn = {"conv1d": F.conv1d, "conv2d": F.conv2d, "conv3d": F.conv3d}[op]
    k = math.prod(w_shape[1:])
    opts = dict(options)
    if relu:
        opts["relu"] = True

    def run(x, weight, bias):
        y = fn(x, weight, bias, **torch_kwargs)
        return {"out": F.relu(y) if relu else y}

    kw = ", ".join(f"{key}={val!r}" for key, val in torch_kwargs.items())
    call = f"F.{op}(x, weight, {'bias' if bias else 'None'}{', ' + kw if kw else ''})" + (" then F.relu" if relu else "")
    case("conv", name, op, call, {"x": x, "weight": w, "bias": b}, opts, run, k)


def conv_cases():
    conv_case("2d_bias_batch2", "conv2d", (2, 3, 7, 6), (5, 3, 3, 3), True, {}, {})
    conv_case("2d_stride2_pad1", "conv2d", (1, 3, 9, 9), (4, 3, 3, 3), True,
              {"stride": 2, "padding": 1}, {"stride": 2, "padding": 1})
    conv_case("2d_dilation2_pad2", "conv2d", (1, 2, 9, 8), (3, 2, 3, 3), False,
              {"dilation": 2, "padding": 2}, {"dilation": 2, "padding": 2})
    conv_case("2d_groups2_pad1", "conv2d", (1, 4, 6, 6), (6, 2, 3, 3), True,
              {"groups": 2, "padding": 1}, {"groups": 2, "padding": 1})
    conv_case("2d_depthwise_x2_stride2", "conv2d", (2, 3, 7, 7), (6, 1, 3, 3), True,
              {"groups": 3, "stride": 2, "padding": 1}, {"groups": 3, "stride": 2, "padding": 1})
    conv_case("2d_nonsquare_kernel_stride_pad", "conv2d", (1, 3, 8, 7), (5, 3, 2, 4), True,
              {"stride": [2, 1], "padding": [1, 2]}, {"stride": (2, 1), "padding": (1, 2)})
    conv_case("2d_same_dilation2", "conv2d", (1, 3, 7, 6), (4, 3, 3, 3), True,
              {"padding": "same", "dilation": 2}, {"padding": "same", "dilation": 2})
    # An even kernel under 'same' pads one more on the bottom/right than on the top/left.
    conv_case("2d_same_even_kernel", "conv2d", (1, 2, 6, 5), (3, 2, 2, 4), False,
              {"padding": "same"}, {"padding": "same"})
    conv_case("2d_valid_relu", "conv2d", (1, 3, 6, 6), (4, 3, 3, 3), True,
              {"padding": "valid"}, {"padding": "valid"}, relu=True)
    conv_case("2d_pointwise_1x1", "conv2d", (2, 5, 4, 3), (7, 5, 1, 1), True, {}, {})
    conv_case("2d_stride3_pad2", "conv2d", (1, 3, 8, 8), (2, 3, 3, 3), False,
              {"stride": 3, "padding": 2}, {"stride": 3, "padding": 2})
    conv_case("1d_stride2_pad1_bias", "conv1d", (2, 3, 11), (4, 3, 3), True,
              {"stride": 2, "padding": 1}, {"stride": 2, "padding": 1})
    conv_case("1d_groups2_dilation2_same", "conv1d", (1, 4, 10), (6, 2, 3), False,
              {"groups": 2, "dilation": 2, "padding": "same"}, {"groups": 2, "dilation": 2, "padding": "same"})
    conv_case("3d_pad1_bias", "conv3d", (1, 2, 4, 5, 4), (3, 2, 3, 3, 3), True,
              {"padding": 1}, {"padding": 1})
    conv_case("3d_stride_nonsquare", "conv3d", (2, 3, 5, 6, 5), (2, 3, 2, 3, 3), False,
              {"stride": [2, 2, 1], "padding": [0, 1, 1]}, {"stride": (2, 2, 1), "padding": (0, 1, 1)})


# -- fully connected --


def gemm_cases():
    def linear_case(name, n, fin, fout, bias):
        full = f"gemm/{name}"
        seed_for(full)
        x, w = randn(n, fin), randn(fout, fin) / math.sqrt(fin)
        b = randn(fout) if bias else None
        case("gemm", name, "linear", f"F.linear(x, weight, {'bias' if bias else 'None'})",
             {"x": x, "weight": w, "bias": b}, {}, lambda x, weight, bias: {"out": F.linear(x, weight, bias)}, fin)

    linear_case("linear_bias", 4, 7, 5, True)
    linear_case("linear_no_bias", 3, 10, 6, False)

    def matmul_case(name, m, k, n, trans_a=False, trans_b=False, bias=False, relu=False):
        full = f"gemm/{name}"
        seed_for(full)
        a = randn(k, m) if trans_a else randn(m, k)
        b = randn(n, k) if trans_b else randn(k, n)
        bias_t = randn(n) if bias else None
        opts = {}
        if trans_a:
            opts["transA"] = True
        if trans_b:
            opts["transB"] = True
        if relu:
            opts["relu"] = True

        def run(a, b, bias):
            y = (a.t() if trans_a else a) @ (b.t() if trans_b else b)
            if bias is not None:
                y = y + bias
            return {"out": F.relu(y) if relu else y}

        call = f"{'a.t()' if trans_a else 'a'} @ {'b.t()' if trans_b else 'b'}" + (" + bias" if bias else "")
        call = f"F.relu({call})" if relu else call
        case("gemm", name, "matmul", call, {"a": a, "b": b, "bias": bias_t}, opts, run, k)

    matmul_case("matmul_5x7x6", 5, 7, 6)
    matmul_case("matmul_transB_bias", 4, 9, 5, trans_b=True, bias=True)
    matmul_case("matmul_transA_relu", 3, 8, 5, trans_a=True, relu=True)
    matmul_case("matmul_transA_transB_bias_relu", 4, 6, 7, trans_a=True, trans_b=True, bias=True, relu=True)


# -- pooling --


def pool_cases():
    def max_case(name, op, shape, options, torch_kwargs):
        full = f"pool/{name}"
        seed_for(full)
        fn = F.max_pool1d if op == "maxPool1d" else F.max_pool2d
        kw = ", ".join(f"{key}={val!r}" for key, val in torch_kwargs.items())
        case("pool", name, op, f"F.{fn.__name__}(x, {kw})", {"x": randn(*shape)}, options,
             lambda x: {"out": fn(x, **torch_kwargs)}, None, exact=True)

    max_case("max2d_k3_s2", "maxPool2d", (1, 3, 9, 8), {"kernelSize": 3, "stride": 2},
             {"kernel_size": 3, "stride": 2})
    max_case("max2d_ceil_mode", "maxPool2d", (1, 2, 8, 7), {"kernelSize": 3, "stride": 2, "ceilMode": True},
             {"kernel_size": 3, "stride": 2, "ceil_mode": True})
    max_case("max2d_pad1_batch2", "maxPool2d", (2, 2, 7, 7), {"kernelSize": 3, "stride": 2, "padding": 1},
             {"kernel_size": 3, "stride": 2, "padding": 1})
    max_case("max2d_dilation2_pad1", "maxPool2d", (1, 2, 9, 9), {"kernelSize": 2, "stride": 1, "padding": 1, "dilation": 2},
             {"kernel_size": 2, "stride": 1, "padding": 1, "dilation": 2})
    max_case("max2d_nonsquare_ceil_pad", "maxPool2d", (1, 3, 6, 7),
             {"kernelSize": [2, 3], "stride": [2, 1], "padding": [1, 1], "ceilMode": True},
             {"kernel_size": (2, 3), "stride": (2, 1), "padding": (1, 1), "ceil_mode": True})
    max_case("max2d_default_stride", "maxPool2d", (1, 3, 7, 5), {"kernelSize": 2},
             {"kernel_size": 2})
    max_case("max1d_k3_s2_pad1", "maxPool1d", (2, 3, 10), {"kernelSize": 3, "stride": 2, "padding": 1},
             {"kernel_size": 3, "stride": 2, "padding": 1})
    max_case("max1d_ceil_dilation", "maxPool1d", (1, 2, 11), {"kernelSize": 2, "stride": 3, "dilation": 2, "ceilMode": True},
             {"kernel_size": 2, "stride": 3, "dilation": 2, "ceil_mode": True})

    def avg_case(name, shape, options, torch_kwargs):
        full = f"pool/{name}"
        seed_for(full)
        ks = torch_kwargs["kernel_size"]
        k = ks * ks if isinstance(ks, int) else math.prod(ks)
        kw = ", ".join(f"{key}={val!r}" for key, val in torch_kwargs.items())
        case("pool", name, "avgPool2d", f"F.avg_pool2d(x, {kw})", {"x": randn(*shape)}, options,
             lambda x: {"out": F.avg_pool2d(x, **torch_kwargs)}, k)

    avg_case("avg2d_k2", (1, 3, 6, 7), {"kernelSize": 2}, {"kernel_size": 2})
    avg_case("avg2d_pad1_include_pad", (1, 2, 7, 6), {"kernelSize": 3, "stride": 2, "padding": 1, "countIncludePad": True},
             {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": True})
    avg_case("avg2d_pad1_exclude_pad", (1, 2, 7, 6), {"kernelSize": 3, "stride": 2, "padding": 1, "countIncludePad": False},
             {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False})
    # With ceil_mode the last window runs past the padding; PyTorch divides by the part inside
    # input + padding when counting padding, by the part inside the input when not.
    avg_case("avg2d_ceil_include_pad", (1, 2, 8, 8),
             {"kernelSize": 3, "stride": 2, "padding": 1, "ceilMode": True, "countIncludePad": True},
             {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": True})
    avg_case("avg2d_ceil_exclude_pad", (1, 2, 8, 8),
             {"kernelSize": 3, "stride": 2, "padding": 1, "ceilMode": True, "countIncludePad": False},
             {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False})
    avg_case("avg2d_ceil_no_pad", (2, 1, 7, 7), {"kernelSize": 2, "stride": 2, "ceilMode": True},
             {"kernel_size": 2, "stride": 2, "ceil_mode": True})
    avg_case("avg2d_divisor_override", (1, 2, 6, 7),
             {"kernelSize": [2, 3], "stride": [1, 2], "padding": [1, 1], "divisorOverride": 4},
             {"kernel_size": (2, 3), "stride": (1, 2), "padding": (1, 1), "divisor_override": 4})

    def adaptive_case(name, shape, size):
        full = f"pool/{name}"
        seed_for(full)
        sizes = (size, size) if isinstance(size, int) else size
        # The largest window: ceil((i+1)*in/out) - floor(i*in/out) is at most ceil(in/out) + 1.
        k = math.prod(-(-shape[2 + d] // sizes[d]) + 1 for d in range(2))
        case("pool", name, "adaptiveAvgPool2d", f"F.adaptive_avg_pool2d(x, {size!r})", {"x": randn(*shape)},
             {"outputSize": list(size) if isinstance(size, tuple) else size},
             lambda x: {"out": F.adaptive_avg_pool2d(x, size)}, k)

    adaptive_case("adaptive_avg_1x1", (2, 5, 7, 5), 1)
    adaptive_case("adaptive_avg_3x3_overlapping", (1, 3, 7, 5), 3)
    adaptive_case("adaptive_avg_2x4_upsampling", (1, 2, 3, 3), (2, 4))


# -- resizing --


def resize_cases():
    def interp_case(name, shape, options, torch_kwargs):
        full = f"resize/{name}"
        seed_for(full)
        mode = torch_kwargs["mode"]
        kw = ", ".join(f"{key}={val!r}" for key, val in torch_kwargs.items())
        case("resize", name, "interpolate", f"F.interpolate(x, {kw})", {"x": randn(*shape)}, options,
             lambda x: {"out": F.interpolate(x, **torch_kwargs)},
             4 if mode == "bilinear" else None, exact=mode == "nearest")

    bl = {"mode": "bilinear"}
    interp_case("bilinear_size_align_false", (1, 2, 4, 5), {**bl, "size": [7, 8], "alignCorners": False},
                {**bl, "size": (7, 8), "align_corners": False})
    interp_case("bilinear_size_align_true", (1, 2, 4, 5), {**bl, "size": [7, 8], "alignCorners": True},
                {**bl, "size": (7, 8), "align_corners": True})
    interp_case("bilinear_scale2_align_false", (2, 1, 3, 4), {**bl, "scaleFactor": 2, "alignCorners": False},
                {**bl, "scale_factor": 2, "align_corners": False})
    interp_case("bilinear_scale2_align_true", (1, 2, 3, 4), {**bl, "scaleFactor": 2, "alignCorners": True},
                {**bl, "scale_factor": 2, "align_corners": True})
    # A non-integer scale factor: PyTorch maps coordinates with 1/scale_factor, not in/out size.
    interp_case("bilinear_scale1.5_align_false", (1, 2, 5, 4), {**bl, "scaleFactor": 1.5, "alignCorners": False},
                {**bl, "scale_factor": 1.5, "align_corners": False})
    interp_case("bilinear_scale_tuple", (1, 1, 4, 4), {**bl, "scaleFactor": [2, 1.5], "alignCorners": False},
                {**bl, "scale_factor": (2, 1.5), "align_corners": False})
    interp_case("bilinear_downsample_size", (1, 2, 8, 7), {**bl, "size": [3, 5], "alignCorners": False},
                {**bl, "size": (3, 5), "align_corners": False})
    nn = {"mode": "nearest"}
    interp_case("nearest_size", (1, 2, 3, 4), {**nn, "size": [7, 5]}, {**nn, "size": (7, 5)})
    interp_case("nearest_scale2", (1, 2, 3, 4), {**nn, "scaleFactor": 2}, {**nn, "scale_factor": 2})
    interp_case("nearest_scale1.5", (1, 1, 5, 4), {**nn, "scaleFactor": 1.5}, {**nn, "scale_factor": 1.5})
    interp_case("nearest_downsample_size", (1, 2, 5, 7), {**nn, "size": [2, 3]}, {**nn, "size": (2, 3)})


# -- normalisation --


def norm_cases():
    def bn_case(name, shape, training, running, affine, momentum=0.1, eps=1e-5):
        full = f"norm/{name}"
        seed_for(full)
        c = shape[1]
        x = randn(*shape) * 1.5 + 0.5
        rm = randn(c) * 0.2 if running else None
        rv = torch.rand(c) + 0.5 if running else None
        w = randn(c) if affine else None
        b = randn(c) if affine else None
        n_per_channel = math.prod(shape) // c

        def run(x, runningMean, runningVar, weight, bias):
            y = F.batch_norm(x, runningMean, runningVar, weight, bias, training=training, momentum=momentum, eps=eps)
            outs = {"out": y}
            if running:  # training updates them in place; eval must leave them as they were
                outs["runningMean"] = runningMean
                outs["runningVar"] = runningVar
            return outs

        options = {"training": training, "momentum": momentum, "eps": eps}
        call = (f"F.batch_norm(x, {'running_mean, running_var' if running else 'None, None'}, "
                f"{'weight, bias' if affine else 'None, None'}, training={training}, momentum={momentum}, eps={eps})")
        # Training reduces over the N*H*W values of a channel (twice: mean, then variance).
        case("norm", name, "batchNorm", call,
             {"x": x, "runningMean": rm, "runningVar": rv, "weight": w, "bias": b}, options, run,
             n_per_channel if training else 1)

    bn_case("batchnorm_train_running_stats", (3, 4, 3, 5), True, True, True)
    bn_case("batchnorm_train_momentum0.3_eps1e-3_no_affine", (2, 3, 4, 4), True, True, False, momentum=0.3, eps=1e-3)
    bn_case("batchnorm_train_batch1", (1, 3, 4, 5), True, True, True)
    bn_case("batchnorm_train_no_running_stats", (2, 5, 3, 3), True, False, True)
    bn_case("batchnorm_eval", (2, 5, 3, 3), False, True, True)
    bn_case("batchnorm_eval_no_affine", (1, 3, 2, 7), False, True, False, eps=1e-3)
    bn_case("batchnorm_train_2d_input", (6, 4), True, True, True)


# -- softmax --


def softmax_cases():
    def sm_case(name, op, x, dim):
        fn = F.softmax if op == "softmax" else F.log_softmax
        case("softmax", name, op, f"F.{fn.__name__}(x, dim={dim})", {"x": x}, {"dim": dim},
             lambda x: {"out": fn(x, dim=dim)}, x.shape[dim])

    def special_rows():
        x = randn(4, 9)
        x[1, 0] = -math.inf  # a -inf logit gets probability 0 (log-probability -inf)
        x[1, 5] = -math.inf
        x[2] = torch.tensor([1e30, -1e30, 0.0, 3.0, 1e30, -5.0, 2e29, 1.0, -1e29])  # exp overflows without the max
        x[3] = x[3] * 50 + 1000  # all large: naive exp is inf
        return x

    for op in ("softmax", "logSoftmax"):
        seed_for(f"softmax/{op}_dim-1_special_rows")
        sm_case(f"{op}_dim-1_special_rows", op, special_rows(), -1)
        seed_for(f"softmax/{op}_dim1_nchw")
        sm_case(f"{op}_dim1_nchw", op, randn(2, 5, 3, 2) * 3, 1)
    seed_for("softmax/softmax_dim-1_long_rows")
    sm_case("softmax_dim-1_long_rows", "softmax", randn(2, 300) * 4, -1)
    seed_for("softmax/logSoftmax_dim1_2d")
    sm_case("logSoftmax_dim1_2d", "logSoftmax", randn(3, 263) * 4, 1)


# -- loss --


def loss_cases():
    def ce_case(name, n, c, options, targets=None, weight=False, scale=2.0):
        full = f"loss/{name}"
        seed_for(full)
        logits = randn(n, c) * scale
        target = torch.randint(0, c, (n,)) if targets is None else torch.tensor(targets)
        w = torch.rand(c) + 0.25 if weight else None
        kwargs = {"reduction": options.get("reduction", "mean")}
        if "ignoreIndex" in options:
            kwargs["ignore_index"] = options["ignoreIndex"]
        if "labelSmoothing" in options:
            kwargs["label_smoothing"] = options["labelSmoothing"]

        def run(logits, target, weight):
            return {"out": F.cross_entropy(logits, target.to(torch.int64), weight=weight, **kwargs)}

        kw = ", ".join(f"{key}={val!r}" for key, val in kwargs.items())
        call = f"F.cross_entropy(logits, target, weight={'weight' if weight else 'None'}, {kw})"
        case("loss", name, "crossEntropy", call,
             {"logits": logits, "target": target.to(torch.float32), "weight": w}, options, run, n * c)

    ce_case("ce_mean", 6, 5, {"reduction": "mean"})
    ce_case("ce_sum", 6, 5, {"reduction": "sum"})
    ce_case("ce_none", 7, 3, {"reduction": "none"})
    ce_case("ce_mean_large_logits", 5, 4, {}, scale=300.0)
    ce_case("ce_ignore_index2_mean", 8, 4, {"reduction": "mean", "ignoreIndex": 2}, targets=[0, 2, 1, 2, 3, 2, 1, 0])
    ce_case("ce_default_ignore_index_none", 5, 4, {"reduction": "none"}, targets=[1, -100, 3, 0, -100])
    ce_case("ce_label_smoothing0.1_mean", 6, 5, {"reduction": "mean", "labelSmoothing": 0.1})
    ce_case("ce_label_smoothing0.2_sum", 4, 6, {"reduction": "sum", "labelSmoothing": 0.2})
    ce_case("ce_weight_mean", 7, 5, {"reduction": "mean"}, weight=True)
    ce_case("ce_weight_none", 5, 4, {"reduction": "none"}, weight=True)
    ce_case("ce_weight_smoothing_ignore_mean", 8, 5, {"reduction": "mean", "labelSmoothing": 0.15, "ignoreIndex": 4},
            targets=[4, 0, 1, 4, 2, 3, 1, 0], weight=True)


# -- elementwise --


def elementwise_cases():
    seed_for("elementwise/relu_335")
    x = randn(5, 67)
    x[0, :4] = torch.tensor([0.0, -0.0, 1e-30, -1e-30])
    case("elementwise", "relu_335", "relu", "F.relu(x)", {"x": x}, {}, lambda x: {"out": F.relu(x)}, None, exact=True)
    seed_for("elementwise/add_3x101")
    case("elementwise", "add_3x101", "add", "a + b", {"a": randn(3, 101), "b": randn(3, 101)}, {},
         lambda a, b: {"out": a + b}, None)


# ---- output --------------------------------------------------------------------------------


def write():
    os.makedirs(OUT_DIR, exist_ok=True)
    total = 0
    for family, cases in FAMILIES.items():
        path = os.path.join(OUT_DIR, f"{family}.json")
        meta = {
            "generator": "scripts/golden/make_forward_fixtures.py",
            "torch": torch.__version__,
        }
        # One case per line keeps diffs readable when a case is added or changed.
        lines = [json.dumps(c, separators=(",", ":"), allow_nan=False) for c in cases]
        text = '{"meta":' + json.dumps(meta) + ',"cases":[\n' + ",\n".join(lines) + "\n]}\n"
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
        total += len(text)
        print(f"{os.path.relpath(path, ROOT)}: {len(cases)} cases, {len(text) // 1024} KiB")
    print(f"total {sum(len(c) for c in FAMILIES.values())} cases, {total // 1024} KiB")


def main():
    conv_cases()
    gemm_cases()
    pool_cases()
    resize_cases()
    norm_cases()
    softmax_cases()
    loss_cases()
    elementwise_cases()
    names = [c["name"] for cases in FAMILIES.values() for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    write()


if __name__ == "__main__":
    sys.exit(main())
