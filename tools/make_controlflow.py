#!/usr/bin/python3
"""make_controlflow.py OUTDIR — small ONNX models with If, Loop and Scan, and their inputs.

Writes OUTDIR/<name>.onnx and, per run case, OUTDIR/<name>.<case>.<input>.npy. The models cover
what control flow means in ONNX: an If whose condition is a constant, one that depends on data,
one that depends on an input the way Silero VAD's sample-rate branches do (Equal(sr, 16000)),
one decided by shape arithmetic; nested Ifs reading a value two scopes up; subgraph-local
initializers and outer-scope initializers and intermediates; a Loop with loop-carried values
and scan outputs (fixed trip count, and a data-dependent condition); Scan forward and reverse
along different axes. tests/controlflow.sh runs every case in lowp and in ONNX Runtime and
compares. Deterministic (fixed seed).

    /usr/bin/python3 tools/make_controlflow.py /tmp/cf
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto as TP
from onnx import helper as h
from onnx import numpy_helper as nh

OUT = sys.argv[1] if len(sys.argv) > 1 else "cf"
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20261207)


def init(name, arr):
    return nh.from_array(np.asarray(arr), name)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def vi(name, elem, shape):
    return h.make_tensor_value_info(name, elem, shape)


def save(name, graph, cases, opset=13):
    model = h.make_model(graph, producer_name="lowp-controlflow-test",
                         opset_imports=[h.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, name + ".onnx"))
    for case, feeds in cases.items():
        for k, v in feeds.items():
            np.save(os.path.join(OUT, "%s.%s.%s.npy" % (name, case, k)), v)


# ---- If with a constant condition: then reads an outer initializer and the outer input ----
then_g = h.make_graph([h.make_node("Relu", ["x"], ["r"]), h.make_node("Add", ["r", "w"], ["t_out"])],
                      "then", [], [vi("t_out", TP.FLOAT, [2, 3])])
else_g = h.make_graph([h.make_node("Neg", ["x"], ["e_out"])], "else", [], [vi("e_out", TP.FLOAT, [2, 3])])
g = h.make_graph(
    [h.make_node("Constant", [], ["c"], value=h.make_tensor("cv", TP.BOOL, [], [True])),
     h.make_node("If", ["c"], ["y0"], then_branch=then_g, else_branch=else_g),
     h.make_node("Mul", ["y0", "x"], ["y"])],
    "if_const", [vi("x", TP.FLOAT, [2, 3])], [vi("y", TP.FLOAT, [2, 3])], [init("w", f32(2, 3))])
save("if_const", g, {"a": {"x": f32(2, 3)}})

# ---- If on data: a branch-local initializer, an outer intermediate, two outputs ----
then_g = h.make_graph([h.make_node("Mul", ["h", "k"], ["t0"]), h.make_node("Sigmoid", ["t0"], ["t1"])],
                      "then", [], [vi("t0", TP.FLOAT, [2, 3]), vi("t1", TP.FLOAT, [2, 3])],
                      [init("k", f32(2, 3))])
else_g = h.make_graph([h.make_node("Sub", ["h", "w"], ["e0"]), h.make_node("Tanh", ["e0"], ["e1"])],
                      "else", [], [vi("e0", TP.FLOAT, [2, 3]), vi("e1", TP.FLOAT, [2, 3])])
g = h.make_graph(
    [h.make_node("Exp", ["x"], ["h"]),
     h.make_node("If", ["c"], ["a", "b"], then_branch=then_g, else_branch=else_g),
     h.make_node("Add", ["a", "b"], ["y"])],
    "if_data", [vi("x", TP.FLOAT, [2, 3]), vi("c", TP.BOOL, [])], [vi("y", TP.FLOAT, [2, 3])],
    [init("w", f32(2, 3))])
x = f32(2, 3)
save("if_data", g, {"t": {"x": x, "c": np.array(True)}, "f": {"x": x, "c": np.array(False)}})

# ---- Silero-like: If(Equal(sr, 16000)) around a MatMul + Relu stack, different weights ----
def branch(name, k):
    return h.make_graph(
        [h.make_node("MatMul", ["x", "W" + name], ["m"]), h.make_node("Add", ["m", "B" + name], ["a"]),
         h.make_node("Relu", ["a"], ["r"]), h.make_node("MatMul", ["r", "V" + name], [name + "_out"])],
        name, [], [vi(name + "_out", TP.FLOAT, ["N", 4])],
        [init("W" + name, f32(16, 32) * k), init("B" + name, f32(32)), init("V" + name, f32(32, 4))])


g = h.make_graph(
    [h.make_node("Constant", [], ["sr16k"], value=h.make_tensor("v", TP.INT64, [], [16000])),
     h.make_node("Equal", ["sr", "sr16k"], ["is16k"]),
     h.make_node("If", ["is16k"], ["o"], then_branch=branch("b16k", 1.0), else_branch=branch("b8k", 0.5)),
     h.make_node("Sigmoid", ["o"], ["y"])],
    "if_sr", [vi("x", TP.FLOAT, ["N", 16]), vi("sr", TP.INT64, [])], [vi("y", TP.FLOAT, ["N", 4])])
x = f32(3, 16)
save("if_sr", g, {"s16": {"x": x, "sr": np.array(16000, np.int64)},
                  "s8": {"x": x, "sr": np.array(8000, np.int64)}})

# ---- If decided by shape arithmetic: batch == 1 squeezes, else identity (Silero's pattern) ----
then_g = h.make_graph([h.make_node("Mul", ["x", "two"], ["t"])], "then", [], [vi("t", TP.FLOAT, None)],
                      [init("two", np.float32(2))])
else_g = h.make_graph([h.make_node("Identity", ["x"], ["e"])], "else", [], [vi("e", TP.FLOAT, None)])
g = h.make_graph(
    [h.make_node("Shape", ["x"], ["s"]),
     h.make_node("Gather", ["s", "zero"], ["n"], axis=0),
     h.make_node("Equal", ["n", "one"], ["is1"]),
     h.make_node("If", ["is1"], ["z"], then_branch=then_g, else_branch=else_g),
     h.make_node("Relu", ["z"], ["y"])],
    "if_shape", [vi("x", TP.FLOAT, ["N", 5])], [vi("y", TP.FLOAT, ["N", 5])],
    [init("zero", np.int64(0)), init("one", np.int64(1))])
save("if_shape", g, {"n1": {"x": f32(1, 5)}, "n3": {"x": f32(3, 5)}})

# ---- nested If: the inner branch reads x and w from two scopes up ----
inner_then = h.make_graph([h.make_node("Add", ["x", "w"], ["it"])], "inner_then", [], [vi("it", TP.FLOAT, [2, 3])])
inner_else = h.make_graph([h.make_node("Mul", ["x", "hx"], ["ie"])], "inner_else", [], [vi("ie", TP.FLOAT, [2, 3])])
outer_then = h.make_graph(
    [h.make_node("Abs", ["x"], ["hx"]),
     h.make_node("If", ["c2"], ["ot"], then_branch=inner_then, else_branch=inner_else)],
    "outer_then", [], [vi("ot", TP.FLOAT, [2, 3])])
outer_else = h.make_graph([h.make_node("Identity", ["x"], ["oe"])], "outer_else", [], [vi("oe", TP.FLOAT, [2, 3])])
g = h.make_graph(
    [h.make_node("If", ["c1"], ["y"], then_branch=outer_then, else_branch=outer_else)],
    "nested_if", [vi("x", TP.FLOAT, [2, 3]), vi("c1", TP.BOOL, []), vi("c2", TP.BOOL, [])],
    [vi("y", TP.FLOAT, [2, 3])], [init("w", f32(2, 3))])
x = f32(2, 3)
cases = {}
for a in (True, False):
    for b in (True, False):
        cases["%d%d" % (a, b)] = {"x": x, "c1": np.array(a), "c2": np.array(b)}
save("nested_if", g, cases)

# ---- Loop: a fixed trip count M, one loop-carried value, one scan output, an outer weight ----
body = h.make_graph(
    [h.make_node("Identity", ["cond_in"], ["cond_out"]),
     h.make_node("Cast", ["i"], ["fi"], to=TP.FLOAT),
     h.make_node("Mul", ["fi", "w"], ["step"]),
     h.make_node("Add", ["acc", "step"], ["acc_out"]),
     h.make_node("Mul", ["acc_out", "two"], ["scan_out"])],
    "body", [vi("i", TP.INT64, []), vi("cond_in", TP.BOOL, []), vi("acc", TP.FLOAT, [3])],
    [vi("cond_out", TP.BOOL, []), vi("acc_out", TP.FLOAT, [3]), vi("scan_out", TP.FLOAT, [3])],
    [init("two", np.float32(2))])
g = h.make_graph(
    [h.make_node("Loop", ["M", "", "x"], ["final", "scans"], body=body)],
    "loop", [vi("M", TP.INT64, []), vi("x", TP.FLOAT, [3])],
    [vi("final", TP.FLOAT, [3]), vi("scans", TP.FLOAT, [None, 3])], [init("w", f32(3))])
save("loop", g, {"m4": {"M": np.array(4, np.int64), "x": f32(3)},
                 "m0": {"M": np.array(0, np.int64), "x": f32(3)}})

# ---- Loop with a data-dependent condition: double until the sum passes a limit ----
body = h.make_graph(
    [h.make_node("Mul", ["v", "two"], ["v_out"]),
     h.make_node("ReduceSum", ["v_out"], ["s"], keepdims=0),
     h.make_node("Less", ["s", "limit"], ["cond_out"]),
     h.make_node("Identity", ["v_out"], ["trace"])],
    "body", [vi("i", TP.INT64, []), vi("cond_in", TP.BOOL, []), vi("v", TP.FLOAT, [2])],
    [vi("cond_out", TP.BOOL, []), vi("v_out", TP.FLOAT, [2]), vi("trace", TP.FLOAT, [2])],
    [init("two", np.float32(2))])
g = h.make_graph(
    [h.make_node("Loop", ["M", "c", "x"], ["final", "trace_all"], body=body)],
    "loop_cond", [vi("x", TP.FLOAT, [2]), vi("c", TP.BOOL, [])],
    [vi("final", TP.FLOAT, [2]), vi("trace_all", TP.FLOAT, [None, 2])],
    [init("M", np.int64(100)), init("limit", np.float32(50))])
save("loop_cond", g, {"a": {"x": np.array([1.0, 0.5], np.float32), "c": np.array(True)},
                      "skip": {"x": np.array([1.0, 0.5], np.float32), "c": np.array(False)}})

# ---- Scan (opset 11): running sum forward along axis 0, and reverse along axis 1 ----
body = h.make_graph(
    [h.make_node("Add", ["s", "xt"], ["s_out"]), h.make_node("Mul", ["s_out", "w"], ["y_t"])],
    "body", [vi("s", TP.FLOAT, [2]), vi("xt", TP.FLOAT, [2])],
    [vi("s_out", TP.FLOAT, [2]), vi("y_t", TP.FLOAT, [2])])
g = h.make_graph(
    [h.make_node("Scan", ["s0", "xs"], ["s_final", "ys"], body=body, num_scan_inputs=1)],
    "scan", [vi("s0", TP.FLOAT, [2]), vi("xs", TP.FLOAT, [5, 2])],
    [vi("s_final", TP.FLOAT, [2]), vi("ys", TP.FLOAT, [5, 2])], [init("w", f32(2))])
save("scan", g, {"a": {"s0": f32(2), "xs": f32(5, 2)}}, opset=11)
g = h.make_graph(
    [h.make_node("Scan", ["s0", "xs"], ["s_final", "ys"], body=body, num_scan_inputs=1,
                 scan_input_axes=[1], scan_input_directions=[1], scan_output_axes=[1],
                 scan_output_directions=[1])],
    "scan_rev", [vi("s0", TP.FLOAT, [2]), vi("xs", TP.FLOAT, [2, 4])],
    [vi("s_final", TP.FLOAT, [2]), vi("ys", TP.FLOAT, [2, 4])], [init("w", f32(2))])
save("scan_rev", g, {"a": {"s0": f32(2), "xs": f32(2, 4)}}, opset=11)

# ---- weighted ops inside bodies, for static quantization (one float input each, a leading
# batch dimension, so that calibration data batches as usual) ----
# Loop with a constant trip count: MatMul on the carried state with an outer weight, a Gemm
# with a body-local weight producing a scan output
body = h.make_graph(
    [h.make_node("Identity", ["cond_in"], ["cond_out"]),
     h.make_node("MatMul", ["hc", "W"], ["hm"]),
     h.make_node("Add", ["hm", "B"], ["ha"]),
     h.make_node("Tanh", ["ha"], ["h_out"]),
     h.make_node("Gemm", ["h_out", "G"], ["y_t"])],
    "body", [vi("i", TP.INT64, []), vi("cond_in", TP.BOOL, []), vi("hc", TP.FLOAT, ["N", 8])],
    [vi("cond_out", TP.BOOL, []), vi("h_out", TP.FLOAT, ["N", 8]), vi("y_t", TP.FLOAT, ["N", 4])],
    [init("G", f32(8, 4) * 0.5)])
g = h.make_graph(
    [h.make_node("Loop", ["M", "", "x"], ["hf", "ys"], body=body)],
    "loop_mm", [vi("x", TP.FLOAT, ["N", 8])],
    [vi("hf", TP.FLOAT, ["N", 8]), vi("ys", TP.FLOAT, [3, "N", 4])],
    [init("M", np.int64(3)), init("W", f32(8, 8) * 0.4), init("B", f32(8) * 0.1)])
save("loop_mm", g, {"a": {"x": f32(2, 8)}})

# Scan along axis 1 (an RNN cell): the slice and the state each through a MatMul (body-local
# and outer weights); the initial state from a MatMul of the main graph
body = h.make_graph(
    [h.make_node("MatMul", ["xt", "Wx"], ["a"]), h.make_node("MatMul", ["s", "Wh"], ["b"]),
     h.make_node("Add", ["a", "b"], ["ab"]), h.make_node("Tanh", ["ab"], ["s_out"]),
     h.make_node("Identity", ["s_out"], ["y_t"])],
    "body", [vi("s", TP.FLOAT, ["N", 8]), vi("xt", TP.FLOAT, ["N", 6])],
    [vi("s_out", TP.FLOAT, ["N", 8]), vi("y_t", TP.FLOAT, ["N", 8])],
    [init("Wx", f32(6, 8) * 0.4)])
g = h.make_graph(
    [h.make_node("ReduceMean", ["x"], ["xm"], axes=[1], keepdims=0),
     h.make_node("MatMul", ["xm", "Ws"], ["s0"]),
     h.make_node("Scan", ["s0", "x"], ["s_final", "ys"], body=body, num_scan_inputs=1,
                 scan_input_axes=[1], scan_output_axes=[1])],
    "scan_mm", [vi("x", TP.FLOAT, ["N", 5, 6])],
    [vi("s_final", TP.FLOAT, ["N", 8]), vi("ys", TP.FLOAT, ["N", 5, 8])],
    [init("Ws", f32(6, 8) * 0.4), init("Wh", f32(8, 8) * 0.3)])
save("scan_mm", g, {"a": {"x": f32(2, 5, 6)}})

# If on data (the input's mean): a Conv with a branch-local weight, or one with an outer weight
# on a branch-local activation
then_g = h.make_graph([h.make_node("Conv", ["x", "Kt", "Bt"], ["ct"]), h.make_node("Relu", ["ct"], ["t_out"])],
                      "then", [], [vi("t_out", TP.FLOAT, ["N", 4, 6, 6])],
                      [init("Kt", f32(4, 3, 3, 3) * 0.3), init("Bt", f32(4) * 0.1)])
else_g = h.make_graph([h.make_node("Neg", ["x"], ["xn"]), h.make_node("Conv", ["xn", "Ke"], ["ce"]),
                       h.make_node("Sigmoid", ["ce"], ["e_out"])],
                      "else", [], [vi("e_out", TP.FLOAT, ["N", 4, 6, 6])])
g = h.make_graph(
    [h.make_node("ReduceMean", ["x"], ["m"], keepdims=0),
     h.make_node("Greater", ["m", "zero"], ["pos"]),
     h.make_node("If", ["pos"], ["y"], then_branch=then_g, else_branch=else_g)],
    "if_conv", [vi("x", TP.FLOAT, ["N", 3, 8, 8])], [vi("y", TP.FLOAT, ["N", 4, 6, 6])],
    [init("zero", np.float32(0)), init("Ke", f32(4, 3, 3, 3) * 0.3)])
save("if_conv", g, {"pos": {"x": f32(2, 3, 8, 8) + 0.5}, "neg": {"x": f32(2, 3, 8, 8) - 0.5}})

# the same outer input and weight quantized in the main graph and in both branches of an If:
# the names the quantizer makes in the branches must not shadow the main graph's
then_g = h.make_graph([h.make_node("MatMul", ["x", "W"], ["st"])], "then", [], [vi("st", TP.FLOAT, ["N", 8])])
else_g = h.make_graph([h.make_node("MatMul", ["hs", "W"], ["se"])], "else", [], [vi("se", TP.FLOAT, ["N", 8])])
g = h.make_graph(
    [h.make_node("MatMul", ["x", "W"], ["hs"]),
     h.make_node("ReduceMean", ["hs"], ["m"], keepdims=0),
     h.make_node("Greater", ["m", "zero"], ["pos"]),
     h.make_node("If", ["pos"], ["y"], then_branch=then_g, else_branch=else_g)],
    "if_shared", [vi("x", TP.FLOAT, ["N", 8])], [vi("y", TP.FLOAT, ["N", 8])],
    [init("zero", np.float32(0)), init("W", np.eye(8, dtype=np.float32) + f32(8, 8) * 0.1)])
save("if_shared", g, {"pos": {"x": f32(2, 8) + 0.5}, "neg": {"x": f32(2, 8) - 0.5}})

# calibration data: 16 samples each (if_conv, if_shared: half of them positive)
np.save(os.path.join(OUT, "calib.loop_mm.npy"), f32(16, 8))
np.save(os.path.join(OUT, "calib.scan_mm.npy"), f32(16, 5, 6))
np.save(os.path.join(OUT, "calib.if_shared.npy"),
        np.concatenate([f32(8, 8) + 0.5, f32(8, 8) - 0.5]).astype(np.float32))
calib = np.concatenate([f32(8, 3, 8, 8) + 0.5, f32(8, 3, 8, 8) - 0.5]).astype(np.float32)
np.save(os.path.join(OUT, "calib.if_conv.npy"), calib)
np.save(os.path.join(OUT, "calib_pos.if_conv.npy"), calib[:8])
