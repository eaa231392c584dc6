#!/usr/bin/python3
"""qop_models.py OUTDIR — integer-op models for holding lowp against ONNX Runtime (tests/qops.sh).

Writes, per case NAME: NAME.onnx (one float input X, one float output) and NAME.in.npy. The
cases are what ONNX Runtime's quantizer emits, with shapes and options drawn from a seeded
generator:
  convint_*  DynamicQuantizeLinear -> ConvInteger -> Cast -> Mul(x_scale * w_scale) -> Add(bias)
             [-> Relu] (quantize_dynamic's convolution), weights u8 asymmetric (zero points that
             put some w - zw outside int8, as in IS-Net) or s8, per tensor or per channel,
             strides, pads, dilations, groups, depthwise, 1-D/2-D;
  mmint_*    the same around MatMulInteger;
  qlinear_*  the com.microsoft QOperator ops between QuantizeLinear of the input and
             DequantizeLinear of the output: QLinearAdd/Mul (a constant second operand,
             broadcast), QLinearConcat, QLinearGlobalAveragePool (channels first/last),
             QLinearSigmoid, QLinearLeakyRelu, QGemm (8-bit or float out, transB, alpha, C),
             u8 and s8; they write NAME.tol: one step of the output's scale, as ONNX Runtime
             may round a value at a .5 boundary the other way (it rescales in one multiply);
  dqmm_*     DynamicQuantizeMatMul, and MatMulIntegerToFloat after DynamicQuantizeLinear;
  qlinearconv_*, qlinearmatmul_*  the standard QOperator ops between QuantizeLinear and
             DequantizeLinear (groups, depthwise, bias, u8/s8, per-channel weights, a second
             convolution reading the first's 8 bits, activation x activation), output
             ranges from a float reference; NAME.tol as above (bounds carried through two
             convolutions where there are two);
  dql_*      DynamicQuantizeLinear alone on ~100k values (split over threads by the oneDNN
             backend: NAME.threads asks for a 2-thread run with the same bytes).
Deterministic: same seed, same files."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)]


def save(outdir, name, nodes, inits, x, out_shape, tol=None, out_type=TensorProto.FLOAT):
    """NAME.onnx and NAME.in.npy; NAME.tol (an absolute tolerance) when given."""
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("out", out_type, out_shape)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=OPSET, producer_name="qop_models")
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(outdir, name + ".onnx"))
    np.save(os.path.join(outdir, name + ".in.npy"), x)
    if tol is not None:
        with open(os.path.join(outdir, name + ".tol"), "w") as f:
            f.write(f"{tol}\n")


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
    gkind = str(rng.choice(["1", "1", "1", "2", "dw"]))
    group = {"1": 1, "2": 2, "dw": int(rng.integers(2, 9))}[gkind]
    C = group * (1 if gkind == "dw" else int(rng.integers(1, 9)))
    M = group * (1 if gkind == "dw" else int(rng.integers(1, 9)))
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
    name = f"convint_{i:02d}_{kind}{'_pc' if per_channel else ''}{'_dw' if C == M == group > 1 else ''}"
    save(outdir, name, nodes, inits, x, out)


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
    save(outdir, name, nodes, inits, x, out_shape, tol=float(sy) * 1.0001)


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
    save(outdir, name, nodes, inits, x, [M, N], tol=float(sy) * 1.0001 if quantized else None)


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


def np_conv(x, w, strides, pads, dil, group):
    """Float reference convolution (N, C, spatial...) x (M, C/group, k...), 1-D or 2-D, for
    choosing output quantization ranges."""
    nsp = x.ndim - 2
    if nsp == 1:
        y = np_conv(x[:, :, None, :], w[:, :, None, :], [1] + strides, [0, pads[0], 0, pads[1]], [1] + dil, group)
        return y[:, :, 0, :]
    xp = np.pad(x, [(0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])])
    N, C, H, W = xp.shape
    M, cg, kh, kw = w.shape
    oh = (H - dil[0] * (kh - 1) - 1) // strides[0] + 1
    ow = (W - dil[1] * (kw - 1) - 1) // strides[1] + 1
    y = np.zeros((N, M, oh, ow))
    mg = M // group
    for m in range(M):
        g = m // mg
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, g * cg:(g + 1) * cg, i * dil[0]:i * dil[0] + strides[0] * (oh - 1) + 1:strides[0],
                           j * dil[1]:j * dil[1] + strides[1] * (ow - 1) + 1:strides[1]]
                y[:, m] += np.tensordot(patch, w[m, :, i, j], axes=([1], [0]))
    return y


def out_qparams(rng, dt, y, relu=False):
    """Output scale and zero point covering y's range (u8: from 0 when `relu`, so the clamp at
    the zero point is the ReLU QOperator files fold in; s8 symmetric)."""
    lo, hi = float(y.min()), float(y.max())
    lo, hi = min(lo, -1e-3), max(hi, 1e-3)
    if relu and dt == "u8":
        lo = 0.0
    return qparams(rng, dt, lo * float(rng.uniform(0.8, 1.0)), hi * float(rng.uniform(0.8, 1.0)))


def conv_weights(rng, shape, wkind, per_channel):
    """QLinearConv/QLinearMatMul weights: s8 symmetric (per tensor or channel) or u8
    asymmetric per tensor (w - zw beyond int8 for some)."""
    m = shape[0]
    if wkind == "u8":
        w = rng.integers(0, 256, size=shape).astype(np.uint8)
        return w, np.uint8(rng.integers(100, 160)), np.float32(rng.uniform(0.002, 0.02))
    w = rng.integers(-127, 128, size=shape).astype(np.int8)
    if per_channel:
        return w, np.zeros((m,), np.int8), rng.uniform(0.002, 0.02, size=(m,)).astype(np.float32)
    return w, np.int8(0), np.float32(rng.uniform(0.002, 0.02))


def deq(q, s, z, axis=0):
    shape = [1] * q.ndim
    if np.ndim(s) == 1:
        shape[axis] = -1
    return (q.astype(np.float64) - np.reshape(z, shape).astype(np.float64)) * np.reshape(s, shape)


def qlinearconv_case(rng, outdir, i):
    """QuantizeLinear -> QLinearConv [-> QLinearConv 1x1] -> DequantizeLinear: groups,
    depthwise, strides, pads, dilations, bias or none, u8/s8 activations, s8 per-channel / u8
    per-tensor weights, a ReLU folded into the output zero point."""
    nsp = int(rng.integers(1, 3))
    gkind = str(rng.choice(["1", "1", "2", "dw"]))
    group = 1 if gkind == "1" else 2
    C = group * int(rng.integers(1, 6))
    M = group * int(rng.integers(1, 6))
    if gkind == "dw":
        C = M = group = int(rng.integers(2, 9))
    k = [int(rng.integers(1, 4)) for _ in range(nsp)]
    strides = [int(rng.integers(1, 3)) for _ in range(nsp)]
    dil = [int(rng.integers(1, 3)) for _ in range(nsp)]
    pads = [int(rng.integers(0, k[j])) for j in range(nsp)] * 2
    size = [int(rng.integers(k[j] * dil[j], 12)) for j in range(nsp)]
    xdt = str(rng.choice(["u8", "u8", "s8"]))
    wkind = "s8" if xdt == "s8" else str(rng.choice(["s8", "s8", "u8"]))
    per_channel = wkind == "s8" and bool(rng.integers(0, 2))
    x = rng.uniform(-1.0, 2.0, size=[int(rng.integers(1, 3)), C] + size).astype(np.float32)
    sx, zx = qparams(rng, xdt, -1.0, 2.0)
    w, zw, sw = conv_weights(rng, [M, C // group] + k, wkind, per_channel)
    bias = rng.integers(-3000, 3000, size=M).astype(np.int32) if rng.integers(0, 3) else None
    xr = deq(quant(x, sx, zx), sx, zx)
    wr = deq(w, sw, zw)
    y = np_conv(xr, wr, strides, pads, dil, group)
    if bias is not None:
        y += (bias.astype(np.float64) * np.broadcast_to(sx * sw, (M,))).reshape([1, M] + [1] * nsp)
    relu = bool(rng.integers(0, 3) == 0)
    sy, zy = out_qparams(rng, xdt, y, relu)
    inits = {"sx": sx, "zx": zx, "w": w, "sw": sw, "zw": zw, "sy": sy, "zy": zy}
    ins = ["xq", "sx", "zx", "w", "sw", "zw", "sy", "zy"]
    if bias is not None:
        inits["b"] = bias
        ins.append("b")
    nodes = [helper.make_node("QuantizeLinear", ["X", "sx", "zx"], ["xq"]),
             helper.make_node("QLinearConv", ins, ["yq"], kernel_shape=k, strides=strides, dilations=dil, pads=pads,
                              group=group)]
    out = list(y.shape)
    tol = float(sy) * 1.0001
    if rng.integers(0, 2):  # a second, 1x1 convolution reading the first's 8 bits
        M2 = int(rng.integers(1, 7))
        w2, zw2, sw2 = conv_weights(rng, [M2, M] + [1] * nsp, "s8", bool(rng.integers(0, 2)))
        y1 = deq(quant(y, sy, zy), sy, zy)
        y2 = np_conv(y1, deq(w2, sw2, zw2), [1] * nsp, [0] * (2 * nsp), [1] * nsp, 1)
        sy2, zy2 = out_qparams(rng, xdt, y2)
        inits.update({"w2": w2, "sw2": sw2, "zw2": zw2, "sy2": sy2, "zy2": zy2})
        nodes.append(helper.make_node("QLinearConv", ["yq", "sy", "zy", "w2", "sw2", "zw2", "sy2", "zy2"], ["y2q"],
                                      kernel_shape=[1] * nsp))
        nodes.append(helper.make_node("DequantizeLinear", ["y2q", "sy2", "zy2"], ["out"]))
        out = list(y2.shape)
        # an intermediate element one step (sy) off moves each output by at most
        # sy * max_c sum |w2[c]|, plus the output's own rounding step
        l1 = float(np.abs(deq(w2, sw2, zw2)).reshape(M2, -1).sum(axis=1).max())
        tol = float(sy2) * (1 + np.ceil(float(sy) * l1 / float(sy2))) * 1.0001
    else:
        nodes.append(helper.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["out"]))
    name = f"qlinearconv_{i:02d}_{xdt}{wkind}{'_pc' if per_channel else ''}{'_dw' if gkind == 'dw' else ''}"
    save(outdir, name, nodes, inits, x, out, tol=tol)


def qlinearmatmul_case(rng, outdir, i):
    """QuantizeLinear -> QLinearMatMul (constant B per tensor / per column, or the input's own
    transpose quantized s8: activation x activation) -> DequantizeLinear."""
    K, N = int(rng.integers(1, 40)), int(rng.integers(1, 30))
    rows = [int(rng.integers(1, 3)), int(rng.integers(1, 7))]
    xdt = str(rng.choice(["u8", "s8"]))
    x = rng.uniform(-1.0, 2.0, size=rows + [K]).astype(np.float32)
    sx, zx = qparams(rng, xdt, -1.0, 2.0)
    xr = deq(quant(x, sx, zx), sx, zx)
    nodes = [helper.make_node("QuantizeLinear", ["X", "sx", "zx"], ["xq"])]
    inits = {"sx": sx, "zx": zx}
    if i % 3 == 2:  # activation x activation: X (rows, K) times its transpose (K, rows[-1])
        sb, zb = qparams(rng, "s8", -1.0, 2.0)
        nodes += [helper.make_node("Transpose", ["X"], ["xt"], perm=[0, 2, 1]),
                  helper.make_node("QuantizeLinear", ["xt", "sb", "zb"], ["bq"])]
        inits.update({"sb": sb, "zb": zb})
        y = xr @ deq(quant(np.transpose(x, (0, 2, 1)), sb, zb), sb, zb)
        kind = "act"
    else:
        wkind = "s8" if xdt == "s8" else str(rng.choice(["s8", "u8"]))
        per_col = wkind == "s8" and bool(rng.integers(0, 2))
        w, zw, sw = conv_weights(rng, [N, K], wkind, per_col)
        inits.update({"bq": np.ascontiguousarray(w.T), "sb": sw, "zb": zw})
        y = xr @ deq(w, sw, zw).T
        kind = wkind + ("_pc" if per_col else "")
    sy, zy = out_qparams(rng, xdt, y)
    inits.update({"sy": sy, "zy": zy})
    nodes += [helper.make_node("QLinearMatMul", ["xq", "sx", "zx", "bq", "sb", "zb", "sy", "zy"], ["yq"]),
              helper.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["out"])]
    name = f"qlinearmatmul_{i:02d}_{xdt}_{kind}"
    save(outdir, name, nodes, inits, x, list(y.shape), tol=float(sy) * 1.0001)


def dql_case(rng, outdir, i):
    """DynamicQuantizeLinear alone on a tensor big enough for the oneDNN backend to split it
    over threads (NAME.threads: tests/qops.sh runs it with 2 threads too and wants the same
    bytes); sizes not a multiple of 8, the range on either side of 0."""
    shape = [1, int(rng.integers(3, 9)), int(rng.integers(90, 130)), int(rng.integers(90, 130))]
    lo, hi = sorted(rng.uniform(-3, 3, size=2))
    x = rng.uniform(min(lo, -0.1), max(hi, 0.1), size=shape).astype(np.float32)
    nodes = [helper.make_node("DynamicQuantizeLinear", ["X"], ["out", "s", "z"])]
    name = f"dql_{i:02d}"
    save(outdir, name, nodes, {}, x, shape, out_type=TensorProto.UINT8)
    open(os.path.join(outdir, name + ".threads"), "w").close()


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
    for i in range(16):
        qlinearconv_case(rng, outdir, i)
    for i in range(9):
        qlinearmatmul_case(rng, outdir, i)
    for i in range(2):
        dql_case(rng, outdir, i)


if __name__ == "__main__":
    main()
