#!/bin/sh
# rnn.sh BUILD — lowp's RNN, GRU and LSTM against ONNX Runtime and PyTorch on the models
# tools/rnn_models.py generates: single nodes with randomly drawn options (every direction and
# layout, sequence_lens, initial states, peepholes, clip, activation lists, input_forget,
# linear_before_reset) and PyTorch's own exports (stacked, bidirectional, batch_first), each
# run by lowp's default kernels (oneDNN where it claims the node) and by the reference kernels.
# Tolerance: 1e-5 of the output's scale -- float32 with at most a few hundred products per
# value over <= 7 steps; measured differences are ~1e-7 of scale.
SUITE=rnn
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

if [ ! -d bench/node_modules/onnxruntime-node ]; then
    (cd bench && npm install --silent --ignore-scripts >/dev/null 2>&1) || fail ort-install "cannot install onnxruntime-node"
fi
$PY tools/rnn_models.py "$T/m" >"$T/gen.log" 2>&1 || { fail generate "$(tail -n 1 "$T/gen.log")"; finish; exit; }

# close NAME GOT WANT WHAT — GOT within 1e-5 of WANT's scale
close() {
    msg=$($PY - "$2" "$3" "$4" <<'PYEOF'
import sys, numpy as np
a, b = np.load(sys.argv[1]).astype(np.float64), np.load(sys.argv[2]).astype(np.float64)
if a.size != b.size:
    print(f"{a.size} values vs {sys.argv[3]}'s {b.size}"); sys.exit(1)
a, b = a.ravel(), b.ravel()
scale = max(np.abs(b).max(), 1e-12); err = np.abs(a - b).max()
print(f"max |lowp - {sys.argv[3]}| = {err:.2g} of scale {scale:.2g}")
sys.exit(0 if err <= 1e-5 * scale else 1)
PYEOF
) && ok "$1 ($msg)" || fail "$1" "$msg"
}

for model in "$T"/m/*.onnx; do
    name=$(basename "$model" .onnx)
    in="$T/m/$name.in.npy"
    ort_model=$model
    if [ -f "$T/m/$name.twin" ]; then # layout 1: ONNX Runtime runs a layout-0 twin
        cp "$T/m/$name.twin" "$T/twin.onnx"; ort_model="$T/twin.onnx"
    fi
    if ! node tests/ort_run.js "$ort_model" "$in" "$T/ort.npy" >"$T/log" 2>&1; then
        fail "$name" "onnxruntime: $(tail -n 1 "$T/log")"; continue
    fi
    for kernels in default reference; do
        rm -rf "$T/out"; mkdir -p "$T/out"
        if [ $kernels = reference ]; then
            LOWP_KERNELS=reference "$LOWP" run "$model" -i "$in" -o "$T/out" >"$T/log" 2>&1
        else
            "$LOWP" run "$model" -i "$in" -o "$T/out" >"$T/log" 2>&1
        fi || { fail "$name/$kernels" "lowp run: $(tail -n 1 "$T/log")"; continue; }
        got="$T/out/out.npy"
        close "$name/$kernels vs ort" "$got" "$T/ort.npy" onnxruntime
        [ -f "$T/m/$name.torch.npy" ] && close "$name/$kernels vs torch" "$got" "$T/m/$name.torch.npy" torch
    done
done
finish
