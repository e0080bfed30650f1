#!/usr/bin/python3
"""PyTorch reference data for ResNet18 in webgpu-cnn: parity logits, a real torch export, class names.

Run with Debian's Python (python3-torch, python3-torchvision), from the repository root:

    /usr/bin/python3 scripts/golden/make_resnet18_fixtures.py

It writes
  kernels-test/fixtures/resnet18/resnet18.json
      torchvision.models.resnet18(num_classes=1000) in eval mode with seeded weights (the
      generator of scripts/export_resnet18.py, which src/nn/models/seeded-weights.ts implements
      too, so no 46 MB weight file is committed), and its logits for seeded inputs at batch 1 and
      2, 224x224, and batch 2 at 64x64 (a faster case). Inputs are not stored: both sides
      regenerate them. And "images": whole-pipeline cases for the `infer` CLI: seeded RGBA images
      (saved as PNG by the test) preprocessed as torchvision's evaluation transform does, then
      classified: the top-5 classes and softmax probabilities. Also a CRC-32 of every weight tensor's and input's float32 bytes, so a test
      can prove that the TypeScript generator makes bit-identical values.
      The fixtures sit in a subfolder because kernels-test/fixtures/*.json are the per-op golden
      cases (kernels-test/fixtures.ts reads every file there).
  kernels-test/fixtures/resnet18/tiny-torch.safetensors (+ its tensors in resnet18.json)
      a small conv + batch norm + linear model's state_dict (float32 and int64 tensors, as PyTorch
      keeps them) in the safetensors format, to prove our reader loads a PyTorch export.
  kernels-test/fixtures/resnet18/preprocess.json
      torchvision's evaluation preprocessing (Resize + CenterCrop + ToTensor + Normalize with
      F.interpolate's bilinear filter, antialiased or not) of small seeded RGBA images, for
      src/ops/preprocess.ts. The pixels are regenerated from the same generator (byte =
      floor((u + 1) * 128)), not stored.
  src/data/imagenet-classes.json
      torchvision's ImageNet-1k category names, index = class.

Logits are computed in float64 from the float32 weights and inputs and rounded once to float32:
the correctly rounded result, so a parity mismatch measures our error alone. The float32
evaluation is printed beside it as a sanity check of the scale of float32 rounding.
"""

import json
import os
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models._meta import _IMAGENET_CATEGORIES

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from export_resnet18 import encode_safetensors, seeded_images, seeded_state, seeded_uniform, write_file  # noqa: E402

FIXTURE_DIR = os.path.join(ROOT, "kernels-test", "fixtures", "resnet18")
WEIGHT_SEED = 1
CASES = [  # name, input seed, [N, C, H, W]
    ("batch1-224", 11, [1, 3, 224, 224]),
    ("batch2-224", 12, [2, 3, 224, 224]),
    ("batch2-64", 13, [2, 3, 64, 64]),
]

torch.set_num_threads(1)  # the same bits on every run


def f32_list(a):
    """float32 values as the shortest decimals that read back as the same float32."""
    a = np.asarray(a, dtype=np.float32).reshape(-1)
    out = []
    for v in a:
        x = float(np.format_float_scientific(v, unique=True, trim="-"))
        assert np.float32(x) == v
        out.append(int(x) if x == int(x) and abs(x) < 2**31 else x)
    return out


def crc32_f32(a):
    return zlib.crc32(np.ascontiguousarray(a, dtype="<f4").tobytes())


def parity_cases(model):
    model64 = torchvision.models.resnet18(weights=None, num_classes=1000)
    model64.load_state_dict(model.state_dict())
    model64 = model64.double().eval()
    cases = []
    for name, seed, shape in CASES:
        x = seeded_images(seed, shape)
        with torch.no_grad():
            exact = model64(torch.from_numpy(x).double()).numpy().astype(np.float32)
            single = model(torch.from_numpy(x)).numpy()
        err = float(np.abs(single - exact).max())
        per_image_std = [float(s) for s in exact.std(axis=1)]
        spread = float((exact - exact.mean(axis=0)).std()) if shape[0] > 1 else 0.0
        print(
            f"{name}: logits std per image {', '.join(f'{s:.3f}' for s in per_image_std)}, "
            f"max |logit| {float(np.abs(exact).max()):.3f}, between images std {spread:.3f}, "
            f"top-1 {exact.argmax(axis=1).tolist()}, float32 torch vs float64 max err {err:.2e}"
        )
        cases.append(
            {
                "name": name,
                "inputSeed": seed,
                "shape": shape,
                "inputCrc32": crc32_f32(x),
                "logits": {"shape": list(exact.shape), "data": f32_list(exact)},
                "float32TorchMaxErr": err,
            }
        )
    return cases


IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
PREPROCESS_CASES = [  # name, seed, width, height, options (as src/ops/preprocess.ts spells them)
    ("crop-landscape-antialias", 21, 37, 23, {"size": 16}),  # resize 23 -> 18 (16 * 8 / 7), crop 16
    ("crop-portrait-odd-margin", 22, 19, 45, {"size": [10, 12], "resizeTo": 13}),  # odd margins round half to even
    ("crop-upscale", 23, 9, 6, {"size": 12, "resizeTo": 13}),
    ("stretch-antialias", 24, 37, 23, {"size": [7, 9], "fit": "stretch"}),
    ("stretch-no-antialias", 25, 37, 23, {"size": [7, 9], "fit": "stretch", "antialias": False}),
    ("stretch-upscale-custom-norm", 26, 5, 7, {"size": [11, 8], "fit": "stretch", "mean": [0.5, 0.25, 0], "std": [0.5, 2, 1]}),
    ("identity", 27, 6, 5, {"size": [5, 6], "fit": "stretch"}),
]


def seeded_rgba(seed, width, height):
    u = seeded_uniform("rgba", seed, width * height * 4)
    return np.floor((u.astype(np.float64) + 1) * 128).astype(np.uint8).reshape(height, width, 4)


def torchvision_geometry(width, height, o):
    """torchvision's Resize(int) + CenterCrop sizes, written out as torchvision computes them."""
    size = o["size"]
    out_h, out_w = (size, size) if isinstance(size, int) else size
    if o.get("fit") == "stretch":
        return out_h, out_w, 0, 0, out_h, out_w
    short = o.get("resizeTo", round(min(out_h, out_w) * 8 / 7))
    if height <= width:
        rh, rw = short, int(short * width / height)
    else:
        rh, rw = int(short * height / width), short
    return rh, rw, int(round((rh - out_h) / 2.0)), int(round((rw - out_w) / 2.0)), out_h, out_w


def preprocess_cases():
    cases = []
    for name, seed, width, height, o in PREPROCESS_CASES:
        y = preprocess(seeded_rgba(seed, width, height), o)
        rh, rw, top, left, out_h, out_w = torchvision_geometry(width, height, o)
        aa = o.get("antialias", True)
        call = f"F.interpolate(rgb / 255, size=({rh}, {rw}), mode='bilinear', antialias={aa})[:, :, {top}:{top + out_h}, {left}:{left + out_w}], normalised"
        cases.append({"name": name, "seed": seed, "width": width, "height": height, "options": o, "torch": call, "out": {"shape": list(y.shape), "data": f32_list(y.numpy())}})
    return cases


IMAGE_CASES = [  # name, seed, width, height, options (the CLI's --size)
    ("landscape-224", 31, 96, 64, {"size": 224}),
    ("portrait-224", 32, 50, 81, {"size": 224}),
    ("small-64", 33, 90, 70, {"size": 64}),
]


def preprocess(rgba, o):
    """torchvision's Resize + CenterCrop + ToTensor + Normalize, in float64: [3, H, W]."""
    height, width = rgba.shape[:2]
    x = torch.from_numpy(rgba[:, :, :3].astype(np.float64) / 255).permute(2, 0, 1)[None]
    rh, rw, top, left, out_h, out_w = torchvision_geometry(width, height, o)
    y = F.interpolate(x, size=(rh, rw), mode="bilinear", align_corners=False, antialias=o.get("antialias", True))
    y = y[:, :, top : top + out_h, left : left + out_w]
    mean = torch.tensor(o.get("mean", IMAGENET_MEAN), dtype=torch.float64)[:, None, None]
    std = torch.tensor(o.get("std", IMAGENET_STD), dtype=torch.float64)[:, None, None]
    return ((y - mean) / std)[0]


def image_cases(model):
    model64 = torchvision.models.resnet18(weights=None, num_classes=1000)
    model64.load_state_dict(model.state_dict())
    model64 = model64.double().eval()
    cases = []
    for name, seed, width, height, o in IMAGE_CASES:
        x = preprocess(seeded_rgba(seed, width, height), o)
        x = x.to(torch.float32).to(torch.float64)  # our network input is float32
        with torch.no_grad():
            probs = torch.softmax(model64(x[None]), dim=1)[0]
        p, idx = probs.sort(descending=True)
        gaps = (p[:5] - p[1:6]).tolist()
        print(f"image {name}: top-5 {idx[:5].tolist()} probabilities {[round(v, 5) for v in p[:5].tolist()]}, smallest gap {min(gaps):.2e}")
        cases.append({"name": name, "seed": seed, "width": width, "height": height, "options": o, "top5": [[int(i), float(v)] for i, v in zip(idx[:5], p[:5])], "smallestGap": min(gaps)})
    return cases


class Tiny(nn.Module):
    """A small model whose state_dict has the kinds of tensors ResNet18's has."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


def tiny_export():
    torch.manual_seed(0)
    model = Tiny()
    model.train()
    with torch.no_grad():
        model(torch.randn(2, 3, 5, 5))  # one training step's running statistics and counter
    state = model.state_dict()
    write_file(os.path.join(FIXTURE_DIR, "tiny-torch.safetensors"), encode_safetensors(state, {"format": "pt"}))
    tensors = {}
    for name, t in state.items():
        entry = {"dtype": "I64" if t.dtype == torch.int64 else "F32", "shape": list(t.shape)}
        entry["data"] = t.reshape(-1).tolist() if t.dtype == torch.int64 else f32_list(t.numpy())
        tensors[name] = entry
    return {"file": "tiny-torch.safetensors", "torch": "Tiny(): conv 3->4 3x3, BatchNorm2d(4) after one training batch, Linear(4, 3)", "tensors": tensors}


def main():
    os.makedirs(FIXTURE_DIR, exist_ok=True)
    model = seeded_state(torchvision.models.resnet18(weights=None, num_classes=1000), WEIGHT_SEED).eval()
    weights = {name: crc32_f32(t.numpy()) for name, t in model.state_dict().items() if t.is_floating_point()}
    data = {
        "meta": {
            "generator": "scripts/golden/make_resnet18_fixtures.py",
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "model": "torchvision.models.resnet18(weights=None, num_classes=1000).eval(), evaluated in float64",
            "weights": "seeded (scripts/export_resnet18.py, src/nn/models/seeded-weights.ts)",
        },
        "weightSeed": WEIGHT_SEED,
        "weightCrc32": weights,
        "cases": parity_cases(model),
        "images": image_cases(model),
        "torchExport": tiny_export(),
    }
    path = os.path.join(FIXTURE_DIR, "resnet18.json")
    text = json.dumps(data, separators=(",", ":"))
    write_file(path, (text + "\n").encode("utf-8"))
    print(f"{os.path.relpath(path, ROOT)}: {len(text) // 1024} KiB")

    path = os.path.join(FIXTURE_DIR, "preprocess.json")
    text = json.dumps({"meta": {"generator": "scripts/golden/make_resnet18_fixtures.py", "torch": torch.__version__}, "cases": preprocess_cases()}, separators=(",", ":"))
    write_file(path, (text + "\n").encode("utf-8"))
    print(f"{os.path.relpath(path, ROOT)}: {len(text) // 1024} KiB")

    assert len(_IMAGENET_CATEGORIES) == 1000
    classes = os.path.join(ROOT, "src", "data", "imagenet-classes.json")
    lines = ",\n".join(json.dumps(c) for c in _IMAGENET_CATEGORIES)
    write_file(classes, f"[\n{lines}\n]\n".encode("utf-8"))
    print(f"{os.path.relpath(classes, ROOT)}: {len(_IMAGENET_CATEGORIES)} class names")


if __name__ == "__main__":
    sys.exit(main())
