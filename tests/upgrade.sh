#!/bin/sh
# upgrade.sh BUILD — `lowp upgrade` (ir/upgrade.c: ONNX opset 7-12 -> 13) on generated models:
# for every op the upgrader rewrites, random small models at the old opsets (onnx.helper, random
# shapes, axes, attribute values, seeded), upgraded by lowp; onnx.checker must accept the result
# at opset 13, and ONNX Runtime must give the same output on the original and the upgraded model,
# bit for bit (the same arithmetic in the same runtime: Softmax's 2-D coercion rewritten as
# Flatten -> Softmax(-1) -> Reshape reduces the same contiguous rows); lowp itself runs the upgraded model
# and agrees with ORT within 1e-5 of the output's scale (different kernels, float32). Then what
# the upgrader cannot convert is refused naming the node, and hostile attribute values are
# errors, not crashes.
SUITE=upgrade
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

need_ort || { finish; exit; }

$PY - "$T" <<'PYEOF' || fail generate "cannot generate the models"
import sys, numpy as np, onnx
from onnx import helper as h, TensorProto as TP, numpy_helper as nh
out = sys.argv[1]
cases = []

def model(name, opset, nodes, x_shape, y_shape, inits=(), seed=0, x=None):
    g = h.make_graph(nodes, name, [h.make_tensor_value_info("x", TP.FLOAT, x_shape)],
                     [h.make_tensor_value_info("y", TP.FLOAT, y_shape)], list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)], producer_name="upgrade.sh")
    m.ir_version = 4 if opset < 10 else 6
    m = onnx.shape_inference.infer_shapes(m)  # the output types the old opset gives
    path = f"{out}/{name}.onnx"
    onnx.save(m, path)
    rng = np.random.default_rng(seed)
    np.save(f"{out}/{name}.in.npy", x if x is not None else rng.standard_normal(x_shape).astype(np.float32))
    cases.append(name)

for seed in range(2):
    r = np.random.default_rng(100 + seed)
    shape = [int(d) for d in r.integers(2, 6, size=int(r.integers(2, 5)))]
    rank = len(shape)
    # Slice-1: starts/ends/axes attributes (negative and past-the-end values included)
    axes = sorted(r.choice(rank, size=int(r.integers(1, rank + 1)), replace=False).tolist())
    starts = [int(r.integers(-shape[a], shape[a])) for a in axes]
    ends = [int(r.choice([r.integers(-shape[a], shape[a] + 1), 2**31 - 1])) for a in axes]
    n = h.make_node("Slice", ["x"], ["y"], name="slice", starts=starts, ends=ends, axes=axes)
    model(f"slice_{seed}", 9, [n], shape, None, seed=seed)
    # TopK-1: k attribute
    ax = int(r.integers(0, rank)); k = int(r.integers(1, shape[ax] + 1))
    model(f"topk_{seed}", 9, [h.make_node("TopK", ["x"], ["y", "i"], name="topk", k=k, axis=ax)], shape, None, seed=seed)
    # Clip-6: min and/or max attributes
    kw = [dict(min=-0.5, max=0.7), dict(max=0.25)][seed]
    model(f"clip_{seed}", 10, [h.make_node("Clip", ["x"], ["y"], name="clip", **kw)], shape, None, seed=seed)
    # Pad-2: pads/value attributes, each mode
    pads = [int(p) for p in r.integers(0, 3, size=2 * rank)]
    for mode in ("constant", "edge", "reflect"):
        p = pads if mode != "reflect" else [min(v, shape[i % rank] - 1) for i, v in enumerate(pads)]
        model(f"pad_{mode}_{seed}", 10, [h.make_node("Pad", ["x"], ["y"], name="pad", mode=mode, pads=p,
                                                   value=float(r.uniform(-2, 2)))], shape, None, seed=seed)
    # Squeeze / Unsqueeze (axes attribute; negative axes at opset 11)
    s1 = list(shape); ones = sorted(r.choice(rank + 1, size=2, replace=False).tolist())
    for o in ones:
        s1.insert(o, 1)
    sq = [o - len(s1) if seed else o for o in ones]
    model(f"squeeze_{seed}", 11 if seed else 9, [h.make_node("Squeeze", ["x"], ["y"], name="sq", axes=sq)], s1, None, seed=seed)
    model(f"squeeze_all_{seed}", 9, [h.make_node("Squeeze", ["x"], ["y"], name="sq")], s1, None, seed=seed)
    uq = sorted(r.choice(rank + 2, size=2, replace=False).tolist())
    model(f"unsqueeze_{seed}", 11 if seed else 9, [h.make_node("Unsqueeze", ["x"], ["y"], name="uq", axes=uq)], shape, None, seed=seed)
    # ReduceSum (axes attribute, keepdims; no axes: everything)
    ra = sorted(r.choice(rank, size=int(r.integers(1, rank + 1)), replace=False).tolist())
    model(f"reducesum_{seed}", 11, [h.make_node("ReduceSum", ["x"], ["y"], name="rs", axes=ra, keepdims=seed)], shape, None, seed=seed)
    model(f"reducesum_all_{seed}", 9, [h.make_node("ReduceSum", ["x"], ["y"], name="rs", keepdims=1 - seed)], shape, None, seed=seed)
    # Split (split attribute): every part scaled differently, then concatenated
    ax = int(r.integers(0, rank)); big = list(shape); big[ax] += 3
    cut = sorted(r.choice(np.arange(1, big[ax]), size=2, replace=False).tolist())
    parts = [cut[0], cut[1] - cut[0], big[ax] - cut[1]]
    nodes = [h.make_node("Split", ["x"], ["p0", "p1", "p2"], name="split", axis=ax, split=parts)]
    nodes += [h.make_node("Mul", [f"p{i}", f"c{i}"], [f"q{i}"]) for i in range(3)]
    nodes += [h.make_node("Concat", ["q0", "q1", "q2"], ["y"], axis=ax)]
    inits = [nh.from_array(np.array(i + 1.5, np.float32), f"c{i}") for i in range(3)]
    model(f"split_{seed}", 11 if seed else 9, nodes, big, None, inits, seed=seed)
    # Dropout-7 (mask unread) and Dropout-10 (ratio attribute, mask output)
    model(f"dropout7_{seed}", 9, [h.make_node("Dropout", ["x"], ["y", "m"], name="drop", ratio=0.3)], shape, None, seed=seed)
    model(f"dropout10_{seed}", 11, [h.make_node("Dropout", ["x"], ["y"], name="drop", ratio=0.2)], shape, None, seed=seed)
    # Softmax / LogSoftmax / Hardmax: 2-D coercion at every axis (negative ones at 11)
    for op in ("Softmax", "LogSoftmax", "Hardmax"):
        for a in range(-rank if seed else 0, rank):
            x = r.standard_normal(shape).astype(np.float32)
            if op == "Hardmax":  # distinct values: no ties whose winner is a matter of order
                x = r.permutation(np.arange(x.size, dtype=np.float32)).reshape(shape)
            model(f"{op.lower()}_a{a}_{seed}", 11 if seed else 9, [h.make_node(op, ["x"], ["y"], name="sm", axis=a)],
                  shape, None, seed=seed, x=x)
        model(f"{op.lower()}_default_{seed}", 9, [h.make_node(op, ["x"], ["y"], name="sm")], shape, None, seed=seed)
    # BatchNormalization-7 (spatial=1) on NCHW
    c = shape[1]
    inits = [nh.from_array(r.uniform(0.5, 2, c).astype(np.float32), "s"), nh.from_array(r.standard_normal(c).astype(np.float32), "b"),
             nh.from_array(r.standard_normal(c).astype(np.float32), "mu"), nh.from_array(r.uniform(0.5, 2, c).astype(np.float32), "var")]
    model(f"batchnorm7_{seed}", 7 + seed, [h.make_node("BatchNormalization", ["x", "s", "b", "mu", "var"], ["y"], name="bn",
                                                       spatial=1, epsilon=1e-3)], shape, None, inits, seed=seed)
    # Upsample-7 (scales attribute), Upsample-9 (scales input), Resize-10 (up and down)
    img = [1, int(r.integers(1, 4)), int(r.integers(2, 6)), int(r.integers(2, 6))]
    for mode in ("nearest", "linear"):
        sc = [1.0, 1.0, float(r.choice([2.0, 3.0, 1.5])), float(r.choice([2.0, 2.5, 1.0]))]
        model(f"upsample7_{mode}_{seed}", 7, [h.make_node("Upsample", ["x"], ["y"], name="up", mode=mode, scales=sc)], img, None, seed=seed)
        si = [nh.from_array(np.array(sc, np.float32), "sc")]
        model(f"upsample9_{mode}_{seed}", 9, [h.make_node("Upsample", ["x", "sc"], ["y"], name="up", mode=mode)], img, None, si, seed=seed)
        model(f"resize10_{mode}_{seed}", 10, [h.make_node("Resize", ["x", "sc"], ["y"], name="rz", mode=mode)], img, None, si, seed=seed)
        big = [1, img[1], img[2] * 3, img[3] * 4]
        sd = [nh.from_array(np.array([1, 1, float(r.choice([0.5, 0.6, 1 / 3])), float(r.choice([0.5, 0.75, 0.25]))], np.float32), "sc")]
        model(f"resize10_down_{mode}_{seed}", 10, [h.make_node("Resize", ["x", "sc"], ["y"], name="rz", mode=mode)], big, None, sd, seed=seed)
    # Scatter (deprecated in 11) -> ScatterElements
    ax = int(r.integers(0, rank)); ishape = list(shape); ishape[ax] = 1
    idx = r.integers(-shape[ax] if seed else 0, shape[ax], size=ishape).astype(np.int64)
    inits = [nh.from_array(idx, "idx"), nh.from_array(r.standard_normal(ishape).astype(np.float32), "upd")]
    model(f"scatter_{seed}", 9 + seed, [h.make_node("Scatter", ["x", "idx", "upd"], ["y"], name="sc", axis=ax)], shape, None, inits, seed=seed)
    # unchanged ops ride along: Conv, Gemm-style MatMul, Cast, MaxPool, Concat at opset 9
    w = nh.from_array(r.standard_normal([4, img[1], 3, 3]).astype(np.float32), "w")
    nodes = [h.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), h.make_node("Cast", ["c"], ["cd"], to=TP.DOUBLE),
             h.make_node("Cast", ["cd"], ["cf"], to=TP.FLOAT), h.make_node("MaxPool", ["cf"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             h.make_node("Flatten", ["p"], ["f"]), h.make_node("Gemm", ["f", "gw", "gb"], ["y"], transB=1)]
    nf = 4 * (img[2] // 2) * (img[3] // 2)
    inits = [w, nh.from_array(r.standard_normal([3, nf]).astype(np.float32), "gw"), nh.from_array(r.standard_normal(3).astype(np.float32), "gb")]
    model(f"unchanged_{seed}", 9, nodes, img, None, inits, seed=seed)
open(f"{out}/cases", "w").write("\n".join(cases) + "\n")
PYEOF

[ -f "$T/cases" ] || { finish; exit; }
# upgrade every model, then run originals and upgrades in one ORT process
set --
while read -r c; do
    if ! "$LOWP" upgrade "$T/$c.onnx" -o "$T/$c.up.onnx" -q >"$T/log" 2>&1; then
        fail "upgrade $c" "$(tail -n 1 "$T/log")"; continue
    fi
    set -- "$@" "$T/$c.onnx" "$T/$c.in.npy" "$T/$c.ort0.npy" "$T/$c.up.onnx" "$T/$c.in.npy" "$T/$c.ort1.npy"
done <"$T/cases"
node tests/ort_run.js "$@" >"$T/log" 2>&1 || fail "onnxruntime" "$(tail -n 3 "$T/log" | tr '\n' ' ')"

while read -r c; do
    [ -f "$T/$c.up.onnx" ] || continue
    rm -rf "$T/lo" && mkdir -p "$T/lo"
    "$LOWP" run "$T/$c.up.onnx" -i "$T/$c.in.npy" -o "$T/lo" >"$T/log" 2>&1 || echo "lowp run: $(tail -n 1 "$T/log")" >"$T/lo/err"
    msg=$($PY - "$T" "$c" <<'PYEOF'
import sys, os, numpy as np, onnx
t, c = sys.argv[1:]
m = onnx.load(f"{t}/{c}.up.onnx")
onnx.checker.check_model(m, full_check=True)
v = {o.domain or "ai.onnx": o.version for o in m.opset_import}
assert v.get("ai.onnx") == 13, f"opsets {v}"
bad = [n.op_type for n in m.graph.node if n.op_type in ("Upsample", "Scatter")]
assert not bad, f"deprecated ops left: {bad}"
if not (os.path.exists(f"{t}/{c}.ort0.npy") and os.path.exists(f"{t}/{c}.ort1.npy")):
    print("onnxruntime did not run it"); sys.exit(1)
a, b = np.load(f"{t}/{c}.ort0.npy"), np.load(f"{t}/{c}.ort1.npy")
if a.shape != b.shape:
    print(f"shape {b.shape}, original {a.shape}"); sys.exit(1)
if not np.array_equal(a, b):
    print(f"ORT original vs upgraded: max diff {np.abs(a.astype(np.float64) - b).max():.3g}"); sys.exit(1)
if os.path.exists(f"{t}/lo/err"):
    print(open(f"{t}/lo/err").read().strip()); sys.exit(1)
lo = np.load(f"{t}/lo/y.npy").astype(np.float64)
scale = max(np.abs(a).max(initial=0), 1e-12)
# lowp vs ORT: other kernels, float32 sums in other orders (Conv/Gemm, Softmax)
if lo.shape != a.shape or np.abs(lo - a).max(initial=0) > 1e-5 * scale:
    print(f"lowp on the upgrade vs ORT: shape {lo.shape} vs {a.shape}, max diff {np.abs(lo - a).max(initial=0) if lo.shape == a.shape else '-'}"); sys.exit(1)
print(f"opset {onnx.load(f'{t}/{c}.onnx').opset_import[0].version} -> 13, {len(m.graph.node)} nodes")
PYEOF
) && ok "$c ($msg)" || fail "$c" "$msg"
done <"$T/cases"

# refused with the node named: what has no opset-13 form
$PY - "$T" <<'PYEOF' || fail generate-bad "cannot generate the models"
import sys, numpy as np, onnx
from onnx import helper as h, TensorProto as TP, numpy_helper as nh
t = sys.argv[1]
def save(name, opset, nodes, inits=(), shape=(1, 2, 3, 4), inputs=None):
    g = h.make_graph(nodes, name, inputs or [h.make_tensor_value_info("x", TP.FLOAT, list(shape))],
                     [h.make_tensor_value_info("y", TP.FLOAT, None)], list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 4
    onnx.save(m, f"{t}/bad_{name}.onnx")
c = [nh.from_array(np.ones(4, np.float32), n) for n in ("s", "b", "mu", "var")]
save("dropout7_mask", 9, [h.make_node("Dropout", ["x"], ["d", "m"], name="dr"), h.make_node("Add", ["d", "m"], ["y"])])
save("bn_spatial0", 7, [h.make_node("BatchNormalization", ["x", "s", "b", "mu", "var"], ["y"], name="bn0", spatial=0)], c)
save("imagescaler", 8, [h.make_node("ImageScaler", ["x"], ["y"], name="isc", scale=2.0, bias=[0.0, 1.0])])
# nearest Upsample-9 whose scales are a graph input: its rounding cannot be chosen
save("upsample_runtime_scales", 9, [h.make_node("Upsample", ["x", "sc"], ["y"], name="ups")],
     inputs=[h.make_tensor_value_info("x", TP.FLOAT, [1, 1, 2, 2]), h.make_tensor_value_info("sc", TP.FLOAT, [4])])
save("resize_mixed", 10, [h.make_node("Resize", ["x", "sc"], ["y"], name="rzm")], [nh.from_array(np.array([1, 1, 2, 0.5], np.float32), "sc")])
# hostile attribute values: wrong types, missing required ones, out-of-range axes
save("slice_noends", 9, [h.make_node("Slice", ["x"], ["y"], name="sl", starts=[0])])
save("slice_float_starts", 9, [h.make_node("Slice", ["x"], ["y"], name="sl", starts=[0.5], ends=[1.0])])
save("topk_nok", 9, [h.make_node("TopK", ["x"], ["y", "i"], name="tk")])
save("topk_kfloats", 9, [h.make_node("TopK", ["x"], ["y", "i"], name="tk", k=[1.0, 2.0])])
save("clip_strmin", 10, [h.make_node("Clip", ["x"], ["y"], name="cl", min="low")])
save("pad_nopads", 10, [h.make_node("Pad", ["x"], ["y"], name="pd")])
save("pad_strvalue", 10, [h.make_node("Pad", ["x"], ["y"], name="pd", pads=[0] * 8, value="v")])
save("unsqueeze_noaxes", 9, [h.make_node("Unsqueeze", ["x"], ["y"], name="uq")])
save("softmax_axis", 9, [h.make_node("Softmax", ["x"], ["y"], name="sm", axis=7)])
save("upsample_noscales", 7, [h.make_node("Upsample", ["x"], ["y"], name="up")])
save("upsample_bilinear", 7, [h.make_node("Upsample", ["x"], ["y"], name="up", mode="cubic", scales=[1.0, 1.0, 2.0, 2.0])])
save("upsample_manyscales", 7, [h.make_node("Upsample", ["x"], ["y"], name="up", scales=[1.0] * 40)])
save("slice_twoinputs", 9, [h.make_node("Slice", ["x", "x"], ["y"], name="sl", starts=[0], ends=[1])])
save("opset6", 6, [h.make_node("Relu", ["x"], ["y"], name="r")])
PYEOF
for pair in dropout7_mask:"'dr' (Dropout): the mask of Dropout-7 is read" bn_spatial0:"'bn0' (BatchNormalization): spatial=0" imagescaler:"'isc' (ImageScaler): an experimental op" \
            upsample_runtime_scales:"'ups' (Upsample): nearest sampling with scales computed at run time" \
            resize_mixed:"'rzm' (Resize): nearest sampling that scales some axes up" \
            slice_noends:"'sl' (Slice): Slice-1 needs" slice_float_starts:"'sl' (Slice): attribute 'starts' must be" \
            topk_nok:"'tk' (TopK): TopK-1 needs" topk_kfloats:"'tk' (TopK): TopK-1 needs" \
            clip_strmin:"'cl' (Clip): attribute 'min' must be a float" pad_nopads:"'pd' (Pad): Pad-2 needs" \
            pad_strvalue:"'pd' (Pad): attribute 'value' must be a float" unsqueeze_noaxes:"'uq' (Unsqueeze): Unsqueeze needs" \
            softmax_axis:"'sm' (Softmax): axis 7 is out of range" upsample_noscales:"'up' (Upsample): Upsample-7 needs" \
            upsample_bilinear:"'up' (Upsample): mode 'cubic'" upsample_manyscales:"'up' (Upsample): Upsample-7 needs" \
            slice_twoinputs:"'sl' (Slice): takes 1 input" opset6:"lowp upgrades opsets 7 to 12"; do
    name=${pair%%:*}; want=${pair#*:}
    lowp upgrade "$T/bad_$name.onnx" -o "$T/bad_$name.up.onnx"
    expect "refuses $name" 2 && has "refuses $name" "$T/err" "$want" && {
        if [ -e "$T/bad_$name.up.onnx" ]; then fail "refuses $name" "wrote an output anyway"; else ok "refuses $name ($(tail -n 1 "$T/err" | cut -c1-110))"; fi
    }
done
# the quantizer's hook: an opset 9 Conv net is upgraded (said once) and gets per-channel weights;
# an opset 10 one the upgrade refuses is quantized as it is (per tensor); an opset 9 one it
# refuses fails naming the node
$PY - "$T" <<'PYEOF' || fail generate-q "cannot generate the models"
import sys, numpy as np, onnx
from onnx import helper as h, TensorProto as TP, numpy_helper as nh
t = sys.argv[1]; r = np.random.default_rng(7)
def save(name, opset, extra, inits=()):
    w = nh.from_array(r.standard_normal([4, 2, 3, 3]).astype(np.float32), "w")
    nodes = [h.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]), h.make_node("Relu", ["c"], ["r"], name="relu")] + extra
    g = h.make_graph(nodes, name, [h.make_tensor_value_info("x", TP.FLOAT, [1, 2, 6, 6])],
                     [h.make_tensor_value_info("y", TP.FLOAT, None)], [w] + list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)]); m.ir_version = 4
    onnx.save(m, f"{t}/q_{name}.onnx")
sc = nh.from_array(np.array([1, 1, 2, 0.5], np.float32), "sc")
save("ok9", 9, [h.make_node("Softmax", ["r"], ["y"], name="sm")])
save("mixed10", 10, [h.make_node("Resize", ["r", "sc"], ["y"], name="rz")], [sc])
save("mixed9", 9, [h.make_node("Upsample", ["r", "sc"], ["y"], name="up")], [sc])
np.save(f"{t}/q_calib.npy", r.standard_normal([4, 2, 6, 6]).astype(np.float32))
PYEOF
lowp quantize "$T/q_ok9.onnx" -o "$T/q_ok9.int8.onnx" --calib "Npy:$T/q_calib.npy" -b 1
if expect "quantize opset 9" 0 && has "quantize opset 9" "$T/err" "upgraded the model from ONNX opset 9 to 13 for QuantizeLinear/DequantizeLinear"; then
    n=$(grep -c "upgraded the model" "$T/err")
    msg=$($PY -c "
import onnx, sys; m = onnx.load('$T/q_ok9.int8.onnx'); onnx.checker.check_model(m)
v = [o.version for o in m.opset_import if o.domain in ('', 'ai.onnx')]
pc = [n.name for n in m.graph.node if n.op_type == 'DequantizeLinear' and any(a.name == 'axis' for a in n.attribute)
      or n.op_type == 'DequantizeLinear' and [i for i in m.graph.initializer if i.name == n.input[1] and len(i.dims) == 1 and i.dims[0] > 1]]
print(f'opset {v}, per-channel DequantizeLinear: {pc}'); sys.exit(0 if v == [13] and pc else 1)") \
        && [ "$n" = 1 ] && ok "quantize opset 9: upgraded, said once, $msg" || fail "quantize opset 9" "said $n times; $msg"
fi
lowp quantize "$T/q_mixed10.onnx" -o "$T/q_mixed10.int8.onnx" --calib "Npy:$T/q_calib.npy" -b 1
expect "quantize opset 10, upgrade refused" 0 && if grep -q "upgraded" "$T/err"; then
    fail "quantize opset 10, upgrade refused" "claims an upgrade: $(cat "$T/err")"
else
    v=$($PY -c "import onnx; print(onnx.load('$T/q_mixed10.int8.onnx').opset_import[0].version)")
    [ "$v" = 10 ] && ok "quantize opset 10, upgrade refused: quantized as it is (opset $v, per tensor)" || fail "quantize opset 10" "opset $v"
fi
lowp quantize "$T/q_mixed9.onnx" -o "$T/q_mixed9.int8.onnx" --calib "Npy:$T/q_calib.npy" -b 1
expect "quantize opset 9, upgrade refused" 2 && has "quantize opset 9, upgrade refused" "$T/err" \
    "needs opset 10 or newer (13 for per-channel weights) and upgrading it to 13 failed: node 'up' (Upsample)" \
    && ok "quantize opset 9, upgrade refused: $(tail -n 1 "$T/err" | cut -c1-150)"
finish
