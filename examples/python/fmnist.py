"""fmnist.py — a few hundred Fashion-MNIST images as NumPy arrays, for the examples.

Reads Debian's dataset-fashion-mnist IDX files (gzip) directly: no framework needed.
images(train, n) -> float32 (n, 1, 28, 28) normalized like the zoo models' training
(Rescale to [0, 1], then (x - 0.2860) / 0.3530); labels(train, n) -> int64 (n,).
"""
import gzip
import os

import numpy as np

ROOT = os.environ.get("FASHION_MNIST", "/usr/share/datasets/fashion-mnist")
MEAN, STD = 0.2860, 0.3530


def _read(name, offset, n, size):
    with gzip.open(os.path.join(ROOT, name), "rb") as f:
        f.read(offset)
        return np.frombuffer(f.read(n * size), dtype=np.uint8)


def images(train=False, n=500, start=0):
    name = "train-images-idx3-ubyte.gz" if train else "t10k-images-idx3-ubyte.gz"
    raw = _read(name, 16, start + n, 784)[start * 784:]
    x = raw.astype(np.float32).reshape(n, 1, 28, 28) / 255.0
    return ((x - MEAN) / STD).astype(np.float32)


def labels(train=False, n=500, start=0):
    name = "train-labels-idx1-ubyte.gz" if train else "t10k-labels-idx1-ubyte.gz"
    return _read(name, 8, start + n, 1)[start:].astype(np.int64)
