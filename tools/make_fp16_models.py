#!/usr/bin/python3
"""make_fp16_models.py OUTDIR — small half-precision models as exporters write them, for
tests/fp16.sh: a conv net (Conv, Relu, MaxPool, residual Add, Resize, LeakyRelu, a Mul by a
constant, Sigmoid, GlobalAveragePool, Flatten, Gemm, a Shape -> Cast -> Div branch) built
with onnx.helper in three forms sharing one set of weights:

  fp16_io32.onnx   float16 weights and ops, float32 inputs/outputs through Casts at the edges
                   (what onnxconverter's float16 conversion with keep_io_types writes: IS-Net)
  fp16_io16.onnx   the same with float16 inputs/outputs
  bf16_io32.onnx   bfloat16 weights and ops (ONNX Runtime's CPU kernels refuse most of them)
  fp32_twin.onnx   float32 throughout with the float16 weights widened: what lowp must compute
                   for fp16_*.onnx (it computes half models in float32)
  bf16_twin.onnx   the same for the bfloat16 weights
plus input.npy (float32), input16.npy (float16) and calib.npy (8 float32 samples)."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(1234)
N, C, H, W = 1, 3, 24, 24


def weights():
    def he(*shape):
        fan = int(np.prod(shape[1:]))
        return rng.standard_normal(shape) * np.sqrt(2.0 / fan)
    return {
        "w1": he(8, 3, 3, 3), "b1": rng.standard_normal(8) * 0.1,
        "w2": he(8, 8, 3, 3), "b2": rng.standard_normal(8) * 0.1,
        "w3": he(16, 8, 1, 1), "b3": rng.standard_normal(16) * 0.1,
        "k": np.array(0.75), "two": np.array(2.0),
        "fc": he(10, 16), "fcb": rng.standard_normal(10) * 0.1,
    }


WTS = weights()


def build(name, dtype, io_dtype):
    """The net with weights stored as `dtype` (T.FLOAT16/BFLOAT16/FLOAT) and interface io_dtype."""
    np_t = {T.FLOAT16: np.float16, T.FLOAT: np.float32}

    def init(key):
        a = WTS[key]
        if dtype == T.BFLOAT16:
            t = h.make_tensor(key, T.BFLOAT16, a.shape, [float(v) for v in bf16_round(a).ravel()])
            return t
        return nh.from_array(np.asarray(a).astype(np_t[dtype]), key)

    nodes = []
    x = "x"
    if io_dtype != dtype:
        nodes.append(h.make_node("Cast", ["x"], ["x_c"], to=dtype, name="input_cast"))
        x = "x_c"
    nodes += [
        h.make_node("Conv", [x, "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c1"], ["r1"]),
        h.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        h.make_node("Add", ["c2", "p1"], ["a2"]),
        h.make_node("LeakyRelu", ["a2"], ["l2"], alpha=0.15),
        h.make_node("Resize", ["l2", "", "scales"], ["u2"], mode="nearest"),
        h.make_node("Conv", ["u2", "w3", "b3"], ["c3"]),
        h.make_node("Mul", ["c3", "k"], ["m3"]),
        h.make_node("Sigmoid", ["m3"], ["s3"]),
        # a shape-derived scalar through Cast to the half type, as exporters write it
        h.make_node("Shape", ["s3"], ["shp"]),
        h.make_node("Gather", ["shp", "one"], ["ch"], axis=0),
        h.make_node("Cast", ["ch"], ["chf"], to=dtype),
        h.make_node("Div", ["chf", "two"], ["half_ch"]),
        h.make_node("Div", ["s3", "half_ch"], ["d3"]),
        h.make_node("GlobalAveragePool", ["d3"], ["g"]),
        h.make_node("Flatten", ["g"], ["f"]),
        h.make_node("Gemm", ["f", "fc", "fcb"], ["y0"], transB=1),
    ]
    if io_dtype != dtype:
        nodes.append(h.make_node("Cast", ["y0"], ["y"], to=io_dtype, name="output_cast"))
    else:
        nodes.append(h.make_node("Identity", ["y0"], ["y"]))
    inits = [init(k) for k in ("w1", "b1", "w2", "b2", "w3", "b3", "k", "two", "fc", "fcb")]
    inits += [nh.from_array(np.array([1, 1, 2, 2], np.float32), "scales"), nh.from_array(np.array(1, np.int64), "one")]
    g = h.make_graph(nodes, name, [h.make_tensor_value_info("x", io_dtype, [N, C, H, W])],
                     [h.make_tensor_value_info("y", io_dtype, [N, 10])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)], producer_name="make_fp16_models.py")
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(OUT, name + ".onnx"))


def bf16_round(a):
    """Round-to-nearest-even to bfloat16, as float32 values."""
    u = np.atleast_1d(np.asarray(a, np.float32)).view(np.uint32).astype(np.uint64)
    one, sixteen = np.uint64(1), np.uint64(16)
    u = ((u + np.uint64(0x7FFF) + ((u >> sixteen) & one)) >> sixteen) << sixteen
    return u.astype(np.uint32).view(np.float32).reshape(np.shape(a))


build("fp16_io32", T.FLOAT16, T.FLOAT)
build("fp16_io16", T.FLOAT16, T.FLOAT16)
build("bf16_io32", T.BFLOAT16, T.FLOAT)
half = {k: np.asarray(v).astype(np.float16).astype(np.float64) for k, v in WTS.items()}
bf = {k: bf16_round(v).astype(np.float64) for k, v in WTS.items()}
for twin, vals in (("fp32_twin", half), ("bf16_twin", bf)):
    WTS, saved = vals, WTS
    build(twin, T.FLOAT, T.FLOAT)
    WTS = saved
# a structured image: stripes, a checkerboard and a blob, values in [-1, 1]
y, x = np.mgrid[0:H, 0:W]
img = np.stack([np.sin(x / 2.5) * np.cos(y / 3.5), ((x // 6 + y // 6) % 2) * 2.0 - 1, np.exp(-((x - 12) ** 2 + (y - 9) ** 2) / 40.0)])
# the float32 input holds float16 values, so the float32-interface and float16-interface
# models see the same numbers
inp = img[None].astype(np.float16).astype(np.float32)
np.save(os.path.join(OUT, "input.npy"), inp)
np.save(os.path.join(OUT, "input16.npy"), inp.astype(np.float16))
calib = np.stack([np.roll(img, s, axis=2) * (0.5 + s / 8) for s in range(8)]).astype(np.float16).astype(np.float32)
np.save(os.path.join(OUT, "calib.npy"), calib)
