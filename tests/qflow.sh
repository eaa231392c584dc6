#!/bin/sh
# qflow.sh BUILD — INT8 that flows through data movement, end to end: lowp's static QDQ export
# of a small model with a convolutional front (Pad, Slice between convolutions), heads split
# and merged as in attention (Transpose, Reshape, Unsqueeze/Squeeze between matrix products)
# gives every data movement op its input's quantization (a DequantizeLinear before, a
# QuantizeLinear of the same scale and zero point after); ONNX Runtime runs the export and
# agrees with lowp; lowp runs it with no quantize step but the input's and the Softmax's.
SUITE=qflow
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
need_ort

"$PY" - "$T" <<'PYEOF' >"$T/log" 2>&1 || { fail "make model" "$(tail -n 3 "$T/log")"; finish; exit; }
import sys, numpy as np, onnx
from onnx import helper as h, TensorProto as TP, numpy_helper as nh
T = sys.argv[1]
rng = np.random.default_rng(5)
inits, nodes = [], []
def const(name, a):
    inits.append(nh.from_array(np.asarray(a), name)); return name
def node(op, ins, out, **kw):
    nodes.append(h.make_node(op, ins, [out], name=out + "_n", **kw)); return out
def w(shape, fan):
    return (rng.uniform(-1, 1, shape) / np.sqrt(fan)).astype(np.float32)
# conv front: x (1, 8, 12, 12)
c1 = node("Relu", [node("Conv", ["x", const("w1", w((16, 8, 3, 3), 72)), const("b1", w((16,), 4))], "c1",
                        pads=[1, 1, 1, 1])], "r1")
p = node("Pad", [c1, const("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))], "p")
c2 = node("Conv", [p, const("w2", w((16, 16, 3, 3), 144)), const("b2", w((16,), 4))], "c2")   # (1,16,12,12)
s = node("Slice", [c2, const("st", np.array([1, 0], np.int64)), const("en", np.array([11, 12], np.int64)),
                   const("ax", np.array([2, 3], np.int64)), const("sp", np.array([1, 2], np.int64))], "s")  # (1,16,10,6)
c3 = node("Conv", [s, const("w3", w((32, 16, 1, 1), 16)), const("b3", w((32,), 4))], "c3")  # (1,32,10,6)
t = node("Transpose", [c3], "t", perm=[0, 2, 3, 1])                                          # (1,10,6,32)
tok = node("Reshape", [t, const("shp", np.array([60, 32], np.int64))], "tok")                  # (60, 32)
def proj(x, name):
    return node("Add", [node("MatMul", [x, const(name + "_w", w((32, 32), 32))], name + "_mm"),
                        const(name + "_b", w((32,), 4))], name)
def heads(x, perm, name):
    r = node("Reshape", [x, const(name + "_s", np.array([1, 60, 4, 8], np.int64))], name + "_r")
    return node("Transpose", [r], name, perm=perm)
q = heads(proj(tok, "q"), [0, 2, 1, 3], "qh")
k = heads(proj(tok, "k"), [0, 2, 3, 1], "kh")
v = heads(proj(tok, "v"), [0, 2, 1, 3], "vh")
a = node("Softmax", [node("MatMul", [q, k], "sc")], "a", axis=-1)
ctx = node("Transpose", [node("MatMul", [a, v], "o")], "ctx", perm=[0, 2, 1, 3])               # (1,60,4,8)
m = node("Reshape", [ctx, const("mshp", np.array([60, 32], np.int64))], "m")
u = node("Unsqueeze", [m, const("uax", np.array([0], np.int64))], "u")                          # (1,60,32)
sq = node("Squeeze", [u, const("sax", np.array([0], np.int64))], "sq")                          # (60,32)
y = node("MatMul", [sq, const("wo", w((32, 10), 32))], "y")
g = h.make_graph(nodes, "qflow", [h.make_tensor_value_info("x", TP.FLOAT, [1, 8, 12, 12])],
                 [h.make_tensor_value_info("y", TP.FLOAT, [60, 10])], inits)
mdl = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
mdl.ir_version = 8
onnx.checker.check_model(mdl)
onnx.save(mdl, T + "/f.onnx")
np.save(T + "/calib.npy", rng.uniform(-1, 1, (8, 8, 12, 12)).astype(np.float32))
np.save(T + "/in.npy", rng.uniform(-1, 1, (1, 8, 12, 12)).astype(np.float32))
PYEOF

if "$LOWP" quantize "$T/f.onnx" -o "$T/q.onnx" --calib "Npy:$T/calib.npy" -b 1 -n 8 -q >"$T/log" 2>&1; then
    ok "quantize"
else
    fail "quantize" "$(tail -n 1 "$T/log")"; finish; exit
fi

# the export: each data movement op between a DequantizeLinear and a QuantizeLinear of the
# same parameters (scale propagation: no requantization)
"$PY" - "$T/q.onnx" <<'PYEOF' >"$T/chk" 2>&1 && ok "export: $(cat "$T/chk")" || fail "export" "$(tail -n 2 "$T/chk")"
import sys, onnx
from onnx import numpy_helper as nh
m = onnx.load(sys.argv[1]); g = m.graph
init = {i.name: nh.to_array(i) for i in g.initializer}
prod = {o: n for n in g.node for o in n.output}
readers = {}
for n in g.node:
    for i in n.input:
        readers.setdefault(i, []).append(n)
moves = [n for n in g.node if n.op_type in ("Pad", "Slice", "Transpose", "Reshape", "Unsqueeze", "Squeeze")]
for n in moves:
    d = prod.get(n.input[0]); rs = readers.get(n.output[0], [])
    assert d is not None and d.op_type == "DequantizeLinear", f"{n.name}: input not dequantized"
    assert len(rs) == 1 and rs[0].op_type == "QuantizeLinear", f"{n.name}: result not quantized alone"
    for i in (1, 2):
        assert (init[d.input[i]] == init[rs[0].input[i]]).all() and init[d.input[i]].dtype == init[rs[0].input[i]].dtype, \
            f"{n.name}: parameters differ"
assert len(moves) == 14, f"{len(moves)} data movement ops"
print(f"{len(moves)} data movement ops carry their input's scale and zero point")
PYEOF

# ONNX Runtime runs the export; lowp agrees with it. Both run the same QDQ graph and differ
# only where a value lies within rounding noise of a .5 boundary (one step of one integer,
# e.g. lowp's quantizing reorder computes x / s + zp in one operation where ONNX rounds x / s
# first), propagated through up to six products: 30 dB allows a few such flips per tensor
# (measured: equal but for float rounding, > 300 dB). Against FP32, 30 dB: eight bits give
# ~40 dB per product, six in a chain and a softmax lose a few each (measured 44 dB).
if node tests/ort_run.js "$T/q.onnx" "$T/in.npy" "$T/ort.npy" >"$T/log" 2>&1 &&
    node tests/ort_run.js "$T/f.onnx" "$T/in.npy" "$T/fp32.npy" >>"$T/log" 2>&1 &&
    "$LOWP" run "$T/q.onnx" -i "$T/in.npy" -o "$T/l" >>"$T/log" 2>&1; then
    "$PY" - "$T" <<'PYEOF' >"$T/chk" 2>&1 && ok "onnxruntime: $(cat "$T/chk")" || fail "onnxruntime" "$(tail -n 2 "$T/chk")"
import sys, numpy as np
T = sys.argv[1]
lw, ort, f = np.load(T + "/l/y.npy"), np.load(T + "/ort.npy"), np.load(T + "/fp32.npy")
snr = lambda a, ref: 10 * np.log10((ref ** 2).sum() / max(((a - ref) ** 2).sum(), 1e-30))
a, b = snr(lw, ort), snr(ort, f)
assert a >= 30, f"lowp vs ONNX Runtime on the INT8 file: {a:.1f} dB"
assert b >= 30, f"ONNX Runtime INT8 vs FP32: {b:.1f} dB"
print(f"lowp vs ORT on the INT8 file {a:.1f} dB, ORT INT8 vs FP32 {b:.1f} dB")
PYEOF
else
    fail "run" "$(tail -n 2 "$T/log")"
fi

# lowp's plan: the data movement runs on 8 bits -- the only quantize steps are the input's
# and the Softmax's, and every data movement step is a oneDNN-backend INT8 step (reorders,
# lowp's table loop, or views: the Reshapes, and the Transpose NCHW -> NHWC of a channels-last
# convolution result)
if "$LOWP" bench "$T/q.onnx" --warmup 1 --iters 1 --profile --json -q >"$T/prof.json" 2>"$T/log"; then
    "$PY" - "$T/prof.json" <<'PYEOF' >"$T/chk" 2>&1 && ok "plan: $(cat "$T/chk")" || fail "plan" "$(tail -n 2 "$T/chk")"
import sys, json
p = json.load(open(sys.argv[1]))["profile"]
ops = {o["op"]: o for o in p["by_op"]}
quant = ops.get("QuantizeLinear", {}).get("steps", 0)
assert quant == 2, f"{quant} quantize steps (want 2: the input's, the Softmax's)"
moves = [s for s in p["steps"] if s["ops"].split("+")[0] in ("Pad", "Slice", "Transpose", "Reshape", "Unsqueeze", "Squeeze")]
assert len(moves) == 14 and all("int8" in s["impl"] and s["kernel"] == "dnnl" for s in moves), \
    [(s["ops"], s["kernel"], s["impl"]) for s in moves]
print(f"{p['n_steps']} steps, {p['reorders']} reorders, {quant} quantize steps, 14 data movement steps on 8 bits")
PYEOF
else
    fail "bench" "$(tail -n 1 "$T/log")"
fi
finish
