#!/usr/bin/python3
"""qop_models.py OUTDIR — integer-op models for holding lowp against ONNX Runtime (tests/qops.sh).

Writes, per case NAME: NAME.onnx (one float input X, one float output) and NAME.in.npy. The
cases are what ONNX Runtime's quantizer emits, with shapes and options drawn from a seeded
generator:
  convint_*  DynamicQuantizeLinear -> ConvInteger -> Cast -> Mul(x_scale * w_scale) -> Add(bias)
             [-> Relu] (quantize_dynamic's convolution), weights u8 asymmetric (zero points that
             put some w - zw outside int8, as in IS-Net) or s8, per tensor or per channel,
             strides, pads, dilations, groups, 1-D/2-D;
  mmint_*    the same around MatMulInteger.
Deterministic: same seed, same files."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)]


def save(outdir, name, nodes, inits, x, out_shape):
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, out_shape)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=OPSET, producer_name="qop_models")
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(outdir, name + ".onnx"))
    np.save(os.path.join(outdir, name + ".in.npy"), x)


def int_weights(rng, shape, kind, per_channel, zp_per_channel=True):
    """Weights and zero points as ONNX Runtime's quantizer writes them: u8 asymmetric (zero
    point anywhere, so w - zw spans up to [-255, 255]) or s8 symmetric (zero point 0); scales
    (and zero points when zp_per_channel) per channel or per tensor."""
    m = shape[0]
    if not zp_per_channel and per_channel:
        w, zp, _ = int_weights(rng, shape, kind, False)
        return w, zp, rng.uniform(0.002, 0.02, size=(m,)).astype(np.float32)
    if kind == "u8":
        w = rng.integers(0, 256, size=shape).astype(np.uint8)
        zp = rng.integers(60, 200, size=(m,) if per_channel else ()).astype(np.uint8)
    elif kind == "u8fit":  # every w - zw inside int8
        zp = rng.integers(100, 156, size=(m,) if per_channel else ()).astype(np.uint8)
        lo = np.maximum(zp.astype(int) - 128, 0)
        hi = np.minimum(zp.astype(int) + 127, 255)
        w = np.empty(shape, np.uint8)
        for c in range(m):
            a, b = (lo[c], hi[c]) if per_channel else (int(lo), int(hi))
            w[c] = rng.integers(a, b + 1, size=shape[1:])
    else:
        w = rng.integers(-127, 128, size=shape).astype(np.int8)
        zp = np.zeros((m,) if per_channel else (), np.int8)
    scale = rng.uniform(0.002, 0.02, size=(m,) if per_channel else ()).astype(np.float32)
    return w, zp, scale


def dyn_head(nodes):
    nodes.append(helper.make_node("DynamicQuantizeLinear", ["X"], ["xq", "xs", "xz"]))


def dyn_tail(nodes, inits, acc, ws, bias_shape, bias, relu):
    """Cast -> Mul(x_scale * w_scale) -> Add(bias) [-> Relu] into "out"."""
    inits["w_scale"] = ws
    nodes.append(helper.make_node("Mul", ["xs", "w_scale"], ["s"]))
    nodes.append(helper.make_node("Cast", [acc], ["accf"], to=TensorProto.FLOAT))
    nodes.append(helper.make_node("Mul", ["accf", "s"], ["scaled"]))
    inits["bias"] = bias.reshape(bias_shape)
    nodes.append(helper.make_node("Add", ["scaled", "bias"], ["biased" if relu else "out"]))
    if relu:
        nodes.append(helper.make_node("Relu", ["biased"], ["out"]))


def convint_case(rng, outdir, i):
    nsp = int(rng.integers(1, 3))
    group = int(rng.choice([1, 1, 1, 2]))
    C = group * int(rng.integers(1, 9))
    M = group * int(rng.integers(1, 9))
    k = [int(rng.integers(1, 4)) for _ in range(nsp)]
    strides = [int(rng.integers(1, 3)) for _ in range(nsp)]
    dil = [int(rng.integers(1, 3)) for _ in range(nsp)]
    pads = [int(rng.integers(0, k[j])) for j in range(nsp)] * 2
    size = [int(rng.integers(k[j] * dil[j], 14)) for j in range(nsp)]
    kind = str(rng.choice(["u8", "u8", "u8fit", "s8"]))
    per_channel = bool(rng.integers(0, 2))  # scales; ONNX Runtime's ConvInteger takes one weight zero point
    w, zw, ws = int_weights(rng, [M, C // group] + k, kind, per_channel, zp_per_channel=False)
    x = rng.uniform(-1.0, 2.0, size=[int(rng.integers(1, 3)), C] + size).astype(np.float32)
    nodes, inits = [], {"w": w, "w_zp": zw}
    dyn_head(nodes)
    nodes.append(helper.make_node("ConvInteger", ["xq", "w", "xz", "w_zp"], ["acc"], kernel_shape=k,
                                  strides=strides, dilations=dil, pads=pads, group=group))
    out = [x.shape[0], M] + [(size[j] + 2 * pads[j] - dil[j] * (k[j] - 1) - 1) // strides[j] + 1 for j in range(nsp)]
    dyn_tail(nodes, inits, "acc", ws.reshape([M] + [1] * nsp) if per_channel else ws, [M] + [1] * nsp,
             rng.uniform(-1, 1, size=M).astype(np.float32), bool(rng.integers(0, 2)))
    save(outdir, f"convint_{i:02d}_{kind}{'_pc' if per_channel else ''}", nodes, inits, x, out)


def mmint_case(rng, outdir, i):
    K, N = int(rng.integers(1, 40)), int(rng.integers(1, 40))
    rows = [int(rng.integers(1, 4)), int(rng.integers(1, 9))]
    kind = str(rng.choice(["u8fit", "s8"]))
    w, zw, ws = int_weights(rng, [N, K], kind, False)
    nodes, inits = [], {"w": np.ascontiguousarray(w.T), "w_zp": zw}
    dyn_head(nodes)
    nodes.append(helper.make_node("MatMulInteger", ["xq", "w", "xz", "w_zp"], ["acc"]))
    x = rng.uniform(-1.0, 2.0, size=rows + [K]).astype(np.float32)
    dyn_tail(nodes, inits, "acc", ws, [N], rng.uniform(-1, 1, size=N).astype(np.float32), bool(rng.integers(0, 2)))
    save(outdir, f"mmint_{i:02d}_{kind}", nodes, inits, x, rows + [N])


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(20261207)
    for i in range(24):
        convint_case(rng, outdir, i)
    for i in range(6):
        mmint_case(rng, outdir, i)


if __name__ == "__main__":
    main()
