#!/usr/bin/python3
"""qop_models.py OUTDIR — integer-op models for holding lowp against ONNX Runtime (tests/qops.sh).

Writes, per case NAME: NAME.onnx (one float input X, one float output) and NAME.in.npy. The
cases are what ONNX Runtime's quantizer emits, with shapes and options drawn from a seeded
generator:
  convint_*  DynamicQuantizeLinear -> ConvInteger -> Cast -> Mul(x_scale * w_scale) -> Add(bias)
             [-> Relu] (quantize_dynamic's convolution), weights u8 asymmetric (zero points that
             put some w - zw outside int8, as in IS-Net) or s8, per tensor or per channel,
             strides, pads, dilations, groups, 1-D/2-D;
  mmint_*    the same around MatMulInteger;
  qlinear_*  the com.microsoft QOperator ops between QuantizeLinear of the input and
             DequantizeLinear of the output: QLinearAdd/Mul (a constant second operand,
             broadcast), QLinearConcat, QLinearGlobalAveragePool (channels first/last),
             QLinearSigmoid, QLinearLeakyRelu, QGemm (8-bit or float out, transB, alpha, C),
             u8 and s8; they write NAME.tol: one step of the output's scale, as ONNX Runtime
             may round a value at a .5 boundary the other way (it rescales in one multiply);
  dqmm_*     DynamicQuantizeMatMul, and MatMulIntegerToFloat after DynamicQuantizeLinear.
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


def qparams(rng, dt, lo, hi):
    """Scale and zero point covering [lo, hi] in dtype dt (u8 asymmetric, s8 symmetric)."""
    if dt == "u8":
        s = np.float32((hi - lo) / 255.0)
        return s, np.uint8(np.clip(round(-lo / s), 0, 255))
    return np.float32(max(abs(lo), abs(hi)) / 127.0), np.int8(0)


def quant(x, s, z):
    info = np.iinfo(z.dtype)
    return np.clip(np.rint(x / s) + int(z), info.min, info.max).astype(z.dtype)


def qlinear_case(rng, outdir, op, i, tol_files):
    dt = str(rng.choice(["u8", "s8"]))
    shape = [int(rng.integers(1, 3)), int(rng.integers(1, 6)), int(rng.integers(1, 7)), int(rng.integers(1, 7))]
    x = rng.uniform(-2.0, 3.0, size=shape).astype(np.float32)
    sx, zx = qparams(rng, dt, -2.0, 3.0)
    nodes = [helper.make_node("QuantizeLinear", ["X", "sx", "zx"], ["xq"])]
    inits = {"sx": sx, "zx": zx}
    dom = "com.microsoft"
    sy, zy = qparams(rng, dt, float(rng.uniform(-4, -0.5)), float(rng.uniform(0.5, 5)))
    inits.update({"sy": sy, "zy": zy})
    out_shape = shape
    if op in ("QLinearAdd", "QLinearMul"):
        bshape = [d if rng.integers(0, 2) else 1 for d in shape[-int(rng.integers(1, 5)):]]
        sb, zb = qparams(rng, dt, -1.5, 1.5)
        inits.update({"bq": quant(rng.uniform(-1.5, 1.5, size=bshape).astype(np.float32), sb, zb), "sb": sb, "zb": zb})
        nodes.append(helper.make_node(op, ["xq", "sx", "zx", "bq", "sb", "zb", "sy", "zy"], ["yq"], domain=dom))
    elif op == "QLinearConcat":
        axis = int(rng.integers(-4, 4))
        cshape = list(shape)
        cshape[axis] = int(rng.integers(1, 4))
        sc, zc = qparams(rng, dt, -1.0, 4.0)
        inits.update({"cq": quant(rng.uniform(-1, 4, size=cshape).astype(np.float32), sc, zc), "sc": sc, "zc": zc})
        nodes.append(helper.make_node(op, ["sy", "zy", "xq", "sx", "zx", "cq", "sc", "zc", "xq", "sx", "zx"], ["yq"],
                                      domain=dom, axis=axis))
        out_shape = list(shape)
        out_shape[axis] = 2 * shape[axis] + cshape[axis]
    elif op == "QLinearGlobalAveragePool":
        last = int(rng.integers(0, 2))
        nodes.append(helper.make_node(op, ["xq", "sx", "zx", "sy", "zy"], ["yq"], domain=dom, channels_last=last))
        out_shape = [shape[0], 1, 1, shape[3]] if last else [shape[0], shape[1], 1, 1]
    elif op == "QLinearSigmoid":
        sy, zy = qparams(rng, dt, 0.0, 1.0)
        inits.update({"sy": sy, "zy": zy})
        nodes.append(helper.make_node(op, ["xq", "sx", "zx", "sy", "zy"], ["yq"], domain=dom))
    elif op == "QLinearLeakyRelu":
        nodes.append(helper.make_node(op, ["xq", "sx", "zx", "sy", "zy"], ["yq"], domain=dom,
                                      alpha=float(rng.uniform(0.01, 0.5))))
    nodes.append(helper.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["out"]))
    name = f"qlinear_{op[7:].lower()}_{i:02d}_{dt}"
    save(outdir, name, nodes, inits, x, out_shape)
    with open(os.path.join(outdir, name + ".tol"), "w") as f:
        f.write(f"{float(sy) * 1.0001}\n")


def qgemm_case(rng, outdir, i):
    M, K, N = int(rng.integers(1, 9)), int(rng.integers(1, 40)), int(rng.integers(1, 20))
    tb, quantized, per_col = int(rng.integers(0, 2)), bool(rng.integers(0, 2)), bool(rng.integers(0, 2))
    alpha = float(rng.choice([1.0, rng.uniform(0.5, 2.0)]))
    x = rng.uniform(-1.0, 2.0, size=[M, K]).astype(np.float32)
    sx, zx = qparams(rng, "u8", -1.0, 2.0)
    w = rng.integers(-127, 128, size=[N, K] if tb else [K, N]).astype(np.int8)
    sw = rng.uniform(0.002, 0.02, size=(N,) if per_col else ()).astype(np.float32)
    zw = np.zeros((N,) if per_col else (), np.int8)
    c = rng.integers(-3000, 3000, size=N).astype(np.int32)
    inits = {"sx": sx, "zx": zx, "w": w, "sw": sw, "zw": zw, "c": c}
    ins = ["xq", "sx", "zx", "w", "sw", "zw", "c"]
    nodes = [helper.make_node("QuantizeLinear", ["X", "sx", "zx"], ["xq"])]
    if quantized:
        sy, zy = qparams(rng, "u8", -3.0, 6.0)
        inits.update({"sy": sy, "zy": zy})
        nodes.append(helper.make_node("QGemm", ins + ["sy", "zy"], ["yq"], domain="com.microsoft", alpha=alpha,
                                      transB=tb))
        nodes.append(helper.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["out"]))
    else:
        nodes.append(helper.make_node("QGemm", ins, ["out"], domain="com.microsoft", alpha=alpha, transB=tb))
    name = f"qlinear_qgemm_{i:02d}{'_q' if quantized else '_f'}"
    save(outdir, name, nodes, inits, x, [M, N])
    if quantized:
        with open(os.path.join(outdir, name + ".tol"), "w") as f:
            f.write(f"{float(sy) * 1.0001}\n")


def dqmm_case(rng, outdir, i):
    K, N = int(rng.integers(1, 40)), int(rng.integers(1, 30))
    rows = [int(rng.integers(1, 3)), int(rng.integers(1, 7))]
    kind = str(rng.choice(["u8fit", "s8"]))
    w, zw, ws = int_weights(rng, [N, K], kind, bool(rng.integers(0, 2)), zp_per_channel=False)
    inits = {"w": np.ascontiguousarray(w.T), "ws": ws, "zw": zw, "bias": rng.uniform(-1, 1, size=N).astype(np.float32)}
    x = rng.uniform(-1.0, 2.0, size=rows + [K]).astype(np.float32)
    if i % 2 == 0:
        nodes = [helper.make_node("DynamicQuantizeMatMul", ["X", "w", "ws", "zw", "bias"], ["out"],
                                  domain="com.microsoft")]
        name = f"dqmm_dynamic_{i:02d}_{kind}"
    else:
        nodes = [helper.make_node("DynamicQuantizeLinear", ["X"], ["xq", "xs", "xz"]),
                 helper.make_node("MatMulIntegerToFloat", ["xq", "w", "xs", "ws", "xz", "zw", "bias"], ["out"],
                                  domain="com.microsoft")]
        name = f"dqmm_itf_{i:02d}_{kind}"
    save(outdir, name, nodes, inits, x, rows + [N])


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(20261207)
    for i in range(24):
        convint_case(rng, outdir, i)
    for i in range(6):
        mmint_case(rng, outdir, i)
    ops = ["QLinearAdd", "QLinearMul", "QLinearConcat", "QLinearGlobalAveragePool", "QLinearSigmoid",
           "QLinearLeakyRelu"]
    for i in range(18):
        qlinear_case(rng, outdir, ops[i % len(ops)], i, True)
    for i in range(6):
        qgemm_case(rng, outdir, i)
    for i in range(8):
        dqmm_case(rng, outdir, i)


if __name__ == "__main__":
    main()
