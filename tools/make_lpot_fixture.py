#!/usr/bin/python3
"""make_lpot_fixture.py OUT — an ImageNet-shaped fixture for running LPOT's ONNX Runtime
image-recognition example configuration as written (tests/lpot_examples.sh):

  OUT/model.onnx       input 'input' [N,3,224,224] -> 'output' [N,3]: a 1x1 convolution, ReLU,
                       global average pooling and a Gemm named 'Gemm_174_MatMul' (the node the
                       example's op_wise keeps in FP32) scoring which colour channel dominates
  OUT/images/*.png     colour images of varied sizes (shorter side 230..300), each dominated by
                       one channel (its label), with a gradient and noise so that resizing and
                       cropping matter
  OUT/images/val_map.txt  'file label' lines (ImagenetRaw's default list)

Deterministic for a given seed. PNG written with zlib (no imaging library needed).
"""
import os
import struct
import sys
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def png(path, rgb):
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def model(path):
    rng = np.random.default_rng(7)
    # conv: 8 features, the first 3 pass each colour channel through (scaled), the rest mix
    w = rng.normal(0, 0.1, (8, 3, 1, 1)).astype(np.float32)
    w[:3, :, 0, 0] = np.eye(3, dtype=np.float32) * 2.0
    b = np.zeros(8, np.float32)
    g = np.zeros((3, 8), np.float32)
    g[:, :3] = np.eye(3) * 4.0
    g[:, 3:] = rng.normal(0, 0.05, (3, 5))
    nodes = [
        helper.make_node("Conv", ["input", "conv.w", "conv.b"], ["c"], name="Conv_0"),
        helper.make_node("Relu", ["c"], ["r"], name="Relu_1"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="GlobalAveragePool_2"),
        helper.make_node("Flatten", ["p"], ["f"], name="Flatten_3"),
        helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["output"], name="Gemm_174_MatMul", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "lpot_fixture",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(w, "conv.w"), numpy_helper.from_array(b, "conv.b"),
         numpy_helper.from_array(g, "fc.w"), numpy_helper.from_array(np.zeros(3, np.float32), "fc.b")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_lpot_fixture")
    m.ir_version = 7
    onnx.checker.check_model(m)
    onnx.save(m, path)


def images(folder, n, seed):
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    lines = []
    for i in range(n):
        h, w = int(rng.integers(230, 301)), int(rng.integers(230, 301))
        label = i % 3
        base = rng.uniform(40, 90, 3)
        base[label] += rng.uniform(50, 120)
        y, x = np.mgrid[0:h, 0:w]
        img = base[None, None, :] + 30 * np.sin(x / 17.0)[..., None] * np.cos(y / 23.0)[..., None]
        img += rng.normal(0, 8, (h, w, 3))
        name = f"img_{i:03d}.png"
        png(os.path.join(folder, name), np.clip(img, 0, 255).astype(np.uint8))
        lines.append(f"{name} {label}\n")
    with open(os.path.join(folder, "val_map.txt"), "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    model(os.path.join(out, "model.onnx"))
    images(os.path.join(out, "images"), 24, 11)
