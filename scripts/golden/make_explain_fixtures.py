#!/usr/bin/python3
"""PyTorch reference values for src/nn/explain: feature maps and Grad-CAM heat maps.

Run with Debian's Python (python3-torch, python3-torchvision), from the repository root:

    /usr/bin/python3 scripts/golden/make_explain_fixtures.py

It writes kernels-test/fixtures/explain/explain.json with, for two models,
  - the Fashion-MNIST CNN (src/nn/models/fashion.ts; its PyTorch twin below, same state-dict
    names) with seeded weights (fashion_init below; kernels-test/explain.test.ts makes the same
    values with src/nn/models/seeded-weights.ts's generator) on a seeded batch of 2 images 28x28,
    at layers `layer1` and `layer2` (the two stages' pooled outputs);
  - torchvision's resnet18 with scripts/export_resnet18.py's seeded weights (seed 1) on one seeded
    image 64x64, at layers `layer3.1.conv2` and `layer4`;
the logits, per layer its output (a forward hook) and the Grad-CAM heat map of given classes
(the layer's output from register_forward_hook, the gradient of the class scores with respect to
it from register_full_backward_hook; channel weights = the gradient's spatial mean; heat map =
relu(sum of weighted channels), F.interpolate(bilinear, align_corners=False) to the input size,
then (x - min) / (max - min) per image, 0 where max == min); for the Fashion CNN also the gradient
of the class scores with respect to the input (gradient saliency).

Everything runs in float64 from the float32 weights and inputs and is rounded once to float32,
stored as little-endian float32 bytes in base64 (exact, and a third of the size of decimals).
Inputs and weights are not stored: the test regenerates them.
"""

import base64
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from export_resnet18 import seeded_images, seeded_state, seeded_tensor, write_file  # noqa: E402

OUT = os.path.join(ROOT, "kernels-test", "fixtures", "explain", "explain.json")

torch.set_num_threads(1)  # the same bits on every run


class FashionCNN(nn.Module):
    """The textbook Fashion-MNIST CNN, with src/nn/models/fashion.ts's names."""

    def __init__(self):
        super().__init__()
        self.layer1 = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2, 2))
        self.layer2 = nn.Sequential(nn.Conv2d(32, 64, 3), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2))
        self.fc1 = nn.Linear(64 * 6 * 6, 600)
        self.drop = nn.Dropout(0.25)
        self.fc2 = nn.Linear(600, 120)
        self.fc3 = nn.Linear(120, 10)

    def forward(self, x):
        out = self.layer2(self.layer1(x))
        out = self.drop(self.fc1(out.flatten(1)))
        return self.fc3(self.fc2(out))


def fashion_init(name, shape):
    """(scale, offset) of one Fashion CNN tensor for the seeded generator."""
    if name.endswith("running_mean"):
        return 0.1, 0.0
    if name.endswith("running_var"):
        return 0.2, 1.0
    if len(shape) >= 2:  # convolution and linear weights: He uniform
        return math.sqrt(6.0 / int(np.prod(shape[1:]))), 0.0
    if name.endswith(".weight"):  # batch norm
        return 0.1, 1.0
    return 0.1, 0.0  # biases


def seeded_fashion(seed):
    model = FashionCNN()
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                scale, offset = fashion_init(name, tuple(t.shape))
                t.copy_(torch.from_numpy(seeded_tensor(name, seed, tuple(t.shape), scale, offset)))
    return model


def b64(t):
    a = t.detach().to(torch.float32).contiguous().numpy().astype("<f4")
    return {"shape": list(a.shape), "f32": base64.b64encode(a.tobytes()).decode("ascii")}


def explain(model, x, layers, classes, saliency):
    """Logits, per layer its output and the Grad-CAM heat maps of `classes` (one per image), and
    with `saliency` the gradient of the class scores with respect to the input."""
    model = model.double().eval()
    x = x.double()
    modules = dict(model.named_modules())
    out = {}
    for name in layers:
        saved = {}
        module = modules[name]
        h1 = module.register_forward_hook(lambda m, i, o: saved.__setitem__("act", o))
        h2 = module.register_full_backward_hook(lambda m, gi, go: saved.__setitem__("grad", go[0]))
        try:
            logits = model(x.clone().requires_grad_(True))  # a leaf needing a gradient, so every hook fires
            score = logits[torch.arange(len(classes)), torch.tensor(classes)].sum()
            score.backward()
        finally:
            h1.remove()
            h2.remove()
        act, grad = saved["act"].detach(), saved["grad"].detach()
        weights = grad.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * act).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)
        lo = cam.amin(dim=(1, 2, 3), keepdim=True)
        hi = cam.amax(dim=(1, 2, 3), keepdim=True)
        heat = torch.where(hi == lo, torch.zeros_like(cam), (cam - lo) / (hi - lo))
        out[name] = {"features": b64(act), "gradcam": b64(heat)}
        print(f"  {name}: output {list(act.shape)}, heat map range per image "
              f"{[round(float(v), 4) for v in heat.amax(dim=(1, 2, 3))]}, cam max {[float(v) for v in hi.flatten()]}")
    leaf = x.clone().requires_grad_(True)
    logits = model(leaf)
    result = {"logits": b64(logits), "classIndex": classes, "layers": out}
    if saliency:
        logits[torch.arange(len(classes)), torch.tensor(classes)].sum().backward()
        result["inputGradient"] = b64(leaf.grad)
    return result


def main():
    fashion_seed, fashion_input_seed = 3, 21
    fashion_shape = [2, 1, 28, 28]
    print("Fashion CNN")
    fashion = explain(
        seeded_fashion(fashion_seed),
        torch.from_numpy(seeded_images(fashion_input_seed, fashion_shape)),
        ["layer1", "layer2"],
        [3, 5],
        saliency=True,
    )
    resnet_seed, resnet_input_seed = 1, 22
    resnet_shape = [1, 3, 64, 64]
    print("ResNet18")
    resnet = seeded_state(torchvision.models.resnet18(weights=None, num_classes=1000), resnet_seed)
    resnet18 = explain(resnet, torch.from_numpy(seeded_images(resnet_input_seed, resnet_shape)), ["layer3.1.conv2", "layer4"], [445], saliency=False)
    fixture = {
        "torch": torch.__version__,
        "fashionCnn": {"weightSeed": fashion_seed, "inputSeed": fashion_input_seed, "inputShape": fashion_shape, **fashion},
        "resnet18": {"weightSeed": resnet_seed, "inputSeed": resnet_input_seed, "inputShape": resnet_shape, **resnet18},
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    write_file(OUT, (json.dumps(fixture, indent=1) + "\n").encode("utf-8"))
    print(f"wrote {os.path.relpath(OUT, ROOT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
