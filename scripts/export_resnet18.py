#!/usr/bin/python3
"""Export torchvision's ResNet18 to a safetensors file that webgpu-cnn's `infer` loads as it is.

Where the pretrained weights can be downloaded (torchvision fetches them on first use):

    /usr/bin/python3 scripts/export_resnet18.py --out resnet18.safetensors

Without a network (this repository's CI), seeded random weights instead: the same deterministic
generator as src/nn/models/seeded-weights.ts, so the file holds exactly the values the TypeScript
side generates for the same seed:

    /usr/bin/python3 scripts/export_resnet18.py --random --seed 1 --out /tmp/r18.safetensors

The file holds the model's whole state_dict under torchvision's names (conv1.weight,
layer2.0.downsample.1.running_var, fc.bias, ...), float32 tensors plus each batch norm's int64
num_batches_tracked, as PyTorch saves them. It is written by a small writer below (the format is
an 8-byte header length, a JSON header and the raw little-endian data), so only Debian's
python3-torch and python3-torchvision are needed, not the safetensors package.

The generator (also imported by scripts/golden/make_resnet18_fixtures.py):
  bits(name, seed, i) = fmix32(i * 0x9e3779b9 + fmix32(fnv1a32(name) ^ seed * 0x9e3779b9)), all mod 2^32
  u = ((bits >> 8) - 2^23) / 2^23                        a float32 in [-1, 1), exact
  value = float32(float32(u * scale) + offset)           scale, offset float32; float32 arithmetic
with fmix32 MurmurHash3's finaliser and fnv1a32 over the name's UTF-8 bytes. Per tensor:
  convolution weights     scale sqrt(6 / fan_in) (He uniform), offset 0
  batch norm weight       scale 0.1, offset 1; but each block's bn2 (the end of the residual
                          branch) scale 0.03, offset 0.3, so activations stay O(1) through the
                          residual sums (measured: std 1-1.5 after every stage)
  batch norm bias, running_mean   scale 0.1;  running_var  scale 0.2, offset 1 (in [0.8, 1.2))
  fc.weight               scale 0.045;  fc.bias  scale 0.1 (logits of std ~1)
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np

MASK = 0xFFFFFFFF
GOLDEN = 0x9E3779B9


# ---- the seeded generator --------------------------------------------------------------------


def _fmix32(h):
    """MurmurHash3's 32-bit finaliser on a uint64 array (or scalar) holding 32-bit values."""
    m = np.uint64(MASK)
    h = h ^ (h >> np.uint64(16))
    h = (h * np.uint64(0x85EBCA6B)) & m
    h = h ^ (h >> np.uint64(13))
    h = (h * np.uint64(0xC2B2AE35)) & m
    return h ^ (h >> np.uint64(16))


def _fnv1a32(name):
    h = 0x811C9DC5
    for b in name.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & MASK
    return h


def seeded_uniform(name, seed, n):
    """n float32 values in [-1, 1), a pure function of (name, seed, index)."""
    key = _fmix32(np.uint64(_fnv1a32(name) ^ ((seed * GOLDEN) & MASK)))
    i = np.arange(n, dtype=np.uint64)
    bits = _fmix32((i * np.uint64(GOLDEN) + key) & np.uint64(MASK))
    k = (bits >> np.uint64(8)).astype(np.int64) - (1 << 23)
    return (k.astype(np.float32) / np.float32(1 << 23)).astype(np.float32)


def seeded_tensor(name, seed, shape, scale, offset=0.0):
    u = seeded_uniform(name, seed, int(np.prod(shape, dtype=np.int64)))
    v = u * np.float32(scale)  # float32 * float32: rounded once, as Math.fround(u * scale)
    v = v + np.float32(offset)
    return v.astype(np.float32).reshape(shape)


def parameter_init(name, shape):
    """(scale, offset) of one ResNet18 tensor; see the module docstring."""
    if name == "fc.weight":
        return 0.045, 0.0
    if name == "fc.bias":
        return 0.1, 0.0
    if name.endswith("running_mean"):
        return 0.1, 0.0
    if name.endswith("running_var"):
        return 0.2, 1.0
    if len(shape) == 4:  # convolution weights, OIHW
        fan_in = shape[1] * shape[2] * shape[3]
        return math.sqrt(6.0 / fan_in), 0.0
    if name.endswith("bn2.weight"):
        return 0.03, 0.3
    if name.endswith(".weight"):  # batch norm (bn1, bn2 handled above, downsample.1)
        return 0.1, 1.0
    if name.endswith(".bias"):
        return 0.1, 0.0
    raise ValueError(f"no seeded initialisation for {name} {shape}")


def seeded_state(model, seed):
    """Sets every float tensor of a torchvision ResNet18's state_dict from the generator."""
    import torch

    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue  # num_batches_tracked
            shape = tuple(t.shape)
            scale, offset = parameter_init(name, shape)
            t.copy_(torch.from_numpy(seeded_tensor(name, seed, shape, scale, offset)))
    return model


def seeded_images(seed, shape):
    """Image-like network inputs [N, C, H, W] (values in about [-2, 2), as after ImageNet
    normalisation): an 8x8 grid of seeded blocks per channel plus finer seeded noise."""
    n, c, h, w = shape
    grid = 8
    coarse = seeded_uniform("image.coarse", seed, n * c * grid * grid).reshape(n, c, grid, grid)
    fine = seeded_uniform("image.fine", seed, n * c * h * w).reshape(n, c, h, w)
    rows = (np.arange(h) * grid) // h
    cols = (np.arange(w) * grid) // w
    blocks = coarse[:, :, rows][:, :, :, cols]
    return (blocks * np.float32(1.5) + fine * np.float32(0.5)).astype(np.float32)


# ---- safetensors ---------------------------------------------------------------------------

DTYPES = {"float32": "F32", "float64": "F64", "float16": "F16", "int64": "I64", "int32": "I32", "uint8": "U8"}


def encode_safetensors(state, metadata=None):
    """The bytes of a safetensors file holding torch tensors or numpy arrays, in the order given."""
    header = {}
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, t in state.items():
        a = t.detach().cpu().contiguous().numpy() if hasattr(t, "detach") else np.ascontiguousarray(t)
        dtype = DTYPES.get(a.dtype.name)
        if dtype is None:
            raise ValueError(f"{name}: dtype {a.dtype} is not written by this exporter")
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as the reference writer does
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def write_file(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


# ---- command line --------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the .safetensors file to write")
    parser.add_argument("--random", action="store_true", help="seeded random weights instead of the pretrained IMAGENET1K_V1")
    parser.add_argument("--seed", type=int, default=1, help="generator seed for --random (default 1)")
    args = parser.parse_args()

    import torch
    import torchvision

    if args.random:
        if not 0 <= args.seed <= MASK:
            parser.error("--seed must be in [0, 2^32)")
        model = seeded_state(torchvision.models.resnet18(weights=None, num_classes=1000), args.seed)
        source = f"seeded random weights (scripts/export_resnet18.py --random --seed {args.seed})"
    else:
        model = torchvision.models.resnet18(weights="IMAGENET1K_V1")
        source = "torchvision resnet18 IMAGENET1K_V1"
    model.eval()
    state = model.state_dict()
    data = encode_safetensors(state, {"format": "pt", "model": "resnet18", "source": source, "torch": torch.__version__})
    write_file(args.out, data)
    params = sum(t.numel() for t in state.values() if t.is_floating_point())
    print(f"wrote {args.out}: {len(state)} tensors, {params:,} float values, {len(data):,} bytes ({source})")


if __name__ == "__main__":
    sys.exit(main())
