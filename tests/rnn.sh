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
        rm -rf "$T/run"; mkdir -p "$T/run"
        if [ $kernels = reference ]; then
            LOWP_KERNELS=reference "$LOWP" run "$model" -i "$in" -o "$T/run" >"$T/log" 2>&1
        else
            "$LOWP" run "$model" -i "$in" -o "$T/run" >"$T/log" 2>&1
        fi || { fail "$name/$kernels" "lowp run: $(tail -n 1 "$T/log")"; continue; }
        got="$T/run/out.npy"
        close "$name/$kernels vs ort" "$got" "$T/ort.npy" onnxruntime
        [ -f "$T/m/$name.torch.npy" ] && close "$name/$kernels vs torch" "$got" "$T/m/$name.torch.npy" torch
    done
done
# Dynamic quantization: an LSTM becomes com.microsoft's DynamicQuantizeLSTM (int8 W and R), which
# ONNX Runtime and lowp both run; a GRU stays float32. Fidelity against PyTorch's float32 output:
# 8-bit symmetric weights alone give ~50 dB (measured 53 dB in lowp, which keeps activations in
# float; 48 dB in ONNX Runtime, which also quantizes X and h to 8 bits per step); 35 dB leaves a
# margin for the seeds and shapes here.
sqnr() { # NAME GOT WANT
    msg=$($PY - "$2" "$3" <<'PYEOF'
import sys, numpy as np
a, b = np.load(sys.argv[1]).astype(np.float64).ravel(), np.load(sys.argv[2]).astype(np.float64).ravel()
s = 10 * np.log10((b ** 2).sum() / max(((a - b) ** 2).sum(), 1e-30))
print(f"SQNR {s:.1f} dB vs torch float32"); sys.exit(0 if s >= 35 else 1)
PYEOF
) && ok "$1 ($msg)" || fail "$1" "$msg"
}
for name in torch_lstm torch_lstm_bf torch_gru; do
    m="$T/m/$name.onnx"; q="$T/$name.dyn.onnx"; in="$T/m/$name.in.npy"
    lowp quantize "$m" --dynamic -o "$q"
    case $name in # nothing to quantize in a GRU model: exit status 4 and a warning saying so
    *lstm*) expect "$name/quantize" 0 || continue ;;
    *) expect "$name/quantize" 4 && has "$name/quantize warns" "$T/err" "is not quantized" || continue ;;
    esac
    n_dq=$($PY -c "import onnx, sys; print(sum(n.op_type == 'DynamicQuantizeLSTM' and n.domain == 'com.microsoft' for n in onnx.load(sys.argv[1]).graph.node))" "$q")
    case $name in
    *lstm*) [ "$n_dq" -gt 0 ] && ok "$name/DynamicQuantizeLSTM ($n_dq nodes)" || fail "$name/DynamicQuantizeLSTM" "none in the output" ;;
    *) [ "$n_dq" = 0 ] && has "$name/stays float" "$T/out" "0 int8" && ok "$name/stays float" ;;
    esac
    rm -rf "$T/run"; mkdir -p "$T/run"
    "$LOWP" run "$q" -i "$in" -o "$T/run" >"$T/log" 2>&1 || { fail "$name/dynamic lowp" "$(tail -n 1 "$T/log")"; continue; }
    cp "$T/run/out.npy" "$T/lowp_dyn.npy"
    node tests/ort_run.js "$q" "$in" "$T/ort_dyn.npy" >"$T/log" 2>&1 || { fail "$name/dynamic ort" "$(tail -n 1 "$T/log")"; continue; }
    sqnr "$name/dynamic lowp" "$T/lowp_dyn.npy" "$T/m/$name.torch.npy"
    sqnr "$name/dynamic onnxruntime" "$T/ort_dyn.npy" "$T/m/$name.torch.npy"
done
finish
