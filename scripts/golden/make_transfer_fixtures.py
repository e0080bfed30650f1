#!/usr/bin/python3
"""PyTorch reference for transfer learning with ResNet18 in webgpu-cnn: two SGD steps per mode.

Run with Debian's Python (python3-torch, python3-torchvision), from the repository root:

    /usr/bin/python3 scripts/golden/make_transfer_fixtures.py

It writes kernels-test/fixtures/transfer/transfer-steps.json (in a subfolder: the files directly
in kernels-test/fixtures/ are per-op golden cases, all read by kernels-test/fixtures.ts).

The model is torchvision.models.resnet18(num_classes=5) with the seeded weights of
scripts/export_resnet18.py (src/nn/models/seeded-weights.ts makes the same float32 values), so
the "new fc" is the generator's fc.weight / fc.bias for 5 classes. Inputs are the generator's
seeded images (not stored: both sides regenerate them), batch 4 at 48x48: small, to keep the
test fast on lavapipe, yet layer4 still works at 2x2, so its batch statistics average 16 values
(at 32x32 it works at 1x1 over 4 values, the gradients through those batch norms are
ill-conditioned, and float32 gradient errors grow about tenfold). Each case takes two SGD steps
(lr 0.01, momentum 0.9, weight_decay 1e-4; the first step fills the momentum buffers, the second
uses them), one batch each, and records:
  - the loss of each step (mean cross-entropy);
  - for every trained parameter: summaries of (value after - value before) and of its momentum
    buffer; for every batch-norm buffer that changes: a summary of its value after.
Frozen tensors are listed by name only: PyTorch leaves them exactly unchanged, and the
TypeScript test checks that ours are bit-identical to the values loaded.
A summary is {n, idx, values, sum, sumAbs, sumSq}: the values at fixed indices (first, last and
evenly spread) and float64 sums, which a test can compare robustly without storing 11M numbers.

The cases:
  fine-tune-all       every parameter trained, the whole model in training mode (batch statistics,
                      running statistics updated);
  fine-tune-layer4    layer4 and fc trained; conv1, bn1, layer1-3 frozen (requires_grad False)
                      with their batch norms in eval mode (running statistics, not updated);
  feature-extraction  only fc trained; the whole backbone frozen and in eval mode.

The reference runs in float64 from the float32 weights and inputs, so a mismatch measures our
float32 error alone; the float32 PyTorch run's largest deviation from it is printed beside, as the
scale of float32 rounding.
"""

import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from export_resnet18 import seeded_images, seeded_state, write_file  # noqa: E402

OUT = os.path.join(ROOT, "kernels-test", "fixtures", "transfer", "transfer-steps.json")
WEIGHT_SEED = 1
NUM_CLASSES = 5
SHAPE = [4, 3, 48, 48]
BATCHES = [(51, [3, 0, 4, 1]), (52, [2, 4, 0, 3])]  # (image seed, labels) per step
SGD = {"lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4}
SAMPLES = 6
CASES = {  # case -> the top-level modules that train (the others are frozen, batch norms in eval mode)
    "fine-tune-all": None,
    "fine-tune-layer4": ["layer4", "fc"],
    "feature-extraction": ["fc"],
}

torch.set_num_threads(1)  # the same bits on every run


def sample_indices(n):
    """First, last and evenly spread indices (stored with the values, so the test needs no rule)."""
    picks = {0, n - 1}
    for k in range(1, SAMPLES - 1):
        picks.add((k * n) // (SAMPLES - 1) + k % 3)
    return sorted(i for i in picks if 0 <= i < n)


def summary(t):
    a = t.detach().reshape(-1).double().numpy()
    idx = sample_indices(a.size)
    return {
        "n": int(a.size),
        "idx": idx,
        "values": [float(a[i]) for i in idx],
        "sum": float(a.sum()),
        "sumAbs": float(np.abs(a).sum()),
        "sumSq": float((a * a).sum()),
    }


def build(dtype, trained):
    model = seeded_state(torchvision.models.resnet18(weights=None, num_classes=NUM_CLASSES), WEIGHT_SEED).to(dtype)
    model.train()
    if trained is not None:
        for name, child in model.named_children():
            if name not in trained:
                child.requires_grad_(False)
                child.eval()
    return model


def run_case(dtype, trained):
    model = build(dtype, trained)
    before = {n: t.detach().clone() for n, t in model.state_dict().items()}
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, **SGD)
    losses = []
    for seed, labels in BATCHES:
        x = torch.from_numpy(seeded_images(seed, SHAPE)).to(dtype)
        loss = F.cross_entropy(model(x), torch.tensor(labels))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return model, before, opt, losses


def main():
    cases = []
    for name, trained in CASES.items():
        model, before, opt, losses = run_case(torch.float64, trained)
        single, _, _, losses32 = run_case(torch.float32, trained)
        params, buffers = {}, {}
        for pname, p in model.named_parameters():
            if not p.requires_grad:
                continue
            params[pname] = {"delta": summary(p.detach() - before[pname]), "momentum": summary(opt.state[p]["momentum_buffer"])}
        for bname, b in model.named_buffers():
            if b.is_floating_point() and not torch.equal(b, before[bname]):
                buffers[bname] = summary(b)
        frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
        frozen += [n for n, b in model.named_buffers() if b.is_floating_point() and n not in buffers]
        state32 = single.state_dict()
        deviation = max(float((state32[n].double() - t).abs().max()) for n, t in model.state_dict().items() if t.is_floating_point())
        print(
            f"{name}: losses {[round(v, 6) for v in losses]} (float32 torch {[round(v, 6) for v in losses32]}), "
            f"{len(params)} trained parameters, {len(buffers)} updated buffers, {len(frozen)} frozen tensors; "
            f"float32 torch vs float64 state max |diff| {deviation:.2e}"
        )
        cases.append({"name": name, "trained": trained or "all", "losses": losses, "params": params, "buffers": buffers, "frozen": frozen})
    data = {
        "meta": {
            "generator": "scripts/golden/make_transfer_fixtures.py",
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "model": f"torchvision.models.resnet18(weights=None, num_classes={NUM_CLASSES}), seeded weights, float64",
        },
        "weightSeed": WEIGHT_SEED,
        "numClasses": NUM_CLASSES,
        "shape": SHAPE,
        "batches": [{"imageSeed": s, "labels": labels} for s, labels in BATCHES],
        "sgd": {"lr": SGD["lr"], "momentum": SGD["momentum"], "weightDecay": SGD["weight_decay"]},
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    text = json.dumps(data, separators=(",", ":"))
    write_file(OUT, (text + "\n").encode("utf-8"))
    print(f"{os.path.relpath(OUT, ROOT)}: {len(text) // 1024} KiB")


if __name__ == "__main__":
    sys.exit(main())
