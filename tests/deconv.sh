#!/bin/sh
# deconv.sh BUILD — lowp's ConvTranspose builds (docs/engine.md, "ConvTranspose") against ONNX
# Runtime on small generated models: PP-OCR det's heads (kernel = stride = 2, + Add bias
# [+ Sigmoid], 24 -> 24 and 24 -> 1 channels, batch 1 and 2), and general cases (k3 s2 p1
# output_padding 1 with a bias input and Relu; k4 s2 p1 in two groups with 16 output channels
# per group). Each runs in the default build and with LOWP_DECONV=split.
# Tolerance: 1e-5 of the output's scale -- float32 sums of at most 24*9 products per value in
# another order; measured differences are ~1e-7 of scale.
SUITE=deconv
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

need_ort
mkdir -p "$T/m"
$PY - "$T/m" >"$T/gen.log" 2>&1 <<'PYEOF' || { fail generate "$(tail -n 1 "$T/gen.log")"; finish; exit; }
import sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
out = sys.argv[1]
rng = np.random.default_rng(13)

def model(name, x_shape, w_shape, attrs, bias_input=False, add_bias=False, act=None):
    n_out = w_shape[1] * attrs.get("group", 1)
    inits = [numpy_helper.from_array(rng.uniform(-0.5, 0.5, w_shape).astype(np.float32), "w")]
    ins = ["x", "w"]
    if bias_input:
        inits.append(numpy_helper.from_array(rng.uniform(-0.5, 0.5, [n_out]).astype(np.float32), "b"))
        ins.append("b")
    nodes = [helper.make_node("ConvTranspose", ins, ["y0"], **attrs)]
    y = "y0"
    if add_bias:
        inits.append(numpy_helper.from_array(rng.uniform(-0.5, 0.5, [n_out, 1, 1]).astype(np.float32), "c"))
        nodes.append(helper.make_node("Add", [y, "c"], ["y1"])); y = "y1"
    if act:
        nodes.append(helper.make_node(act, [y], ["y2"])); y = "y2"
    nodes.append(helper.make_node("Identity", [y], ["out"]))
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", "c", "h", "w"])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, f"{out}/{name}.onnx")
    np.save(f"{out}/{name}.in.npy", rng.uniform(-1, 1, x_shape).astype(np.float32))

k2s2 = dict(kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], dilations=[1, 1], group=1)
model("paddle_up1", [1, 24, 20, 20], [24, 24, 2, 2], k2s2, add_bias=True)
model("paddle_up2", [1, 24, 40, 40], [24, 1, 2, 2], k2s2, add_bias=True, act="Sigmoid")
model("k2s2_batch2_bias", [2, 24, 12, 12], [24, 8, 2, 2], k2s2, bias_input=True, act="Relu")
model("k3s2p1op1_bias_relu", [1, 16, 15, 15], [16, 16, 3, 3],
      dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]), bias_input=True, act="Relu")
model("k4s2p1_group2", [1, 32, 9, 9], [32, 16, 4, 4],
      dict(kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1], group=2), add_bias=True)
PYEOF

# close NAME GOT WANT — GOT within 1e-5 of WANT's scale
close() {
    msg=$($PY tools/close_npy.py "$2" "$3") && ok "$1 ($msg)" || fail "$1" "$msg"
}

for model in "$T"/m/*.onnx; do
    name=$(basename "$model" .onnx)
    in="$T/m/$name.in.npy"
    if ! node tests/ort_run.js "$model" "$in" "$T/ort.npy" >"$T/log" 2>&1; then
        fail "$name" "onnxruntime: $(tail -n 1 "$T/log")"; continue
    fi
    for build in default split; do
        env_=; [ $build = split ] && env_=LOWP_DECONV=split
        run_model "$T/run" "$model" "$in" $env_ || { fail "$name/$build" "lowp run: $(tail -n 1 "$T/log")"; continue; }
        close "$name/$build" "$T/run/out.npy" "$T/ort.npy"
    done
done
finish
