#!/bin/sh
# qops.sh BUILD — lowp's integer and quantized ops (ConvInteger, MatMulInteger, and the
# com.microsoft ops ONNX Runtime's quantizer emits) against ONNX Runtime, on the models
# tools/qop_models.py generates with seeded random shapes and options, each run by lowp's
# default kernels (oneDNN where it claims the nodes) and by the reference kernels.
# Tolerance: 1e-5 of the output's scale, or where the generator wrote NAME.tol (ops with 8-bit
# results) that absolute bound: one step of the output's scale. Both sides compute the same integers exactly
# (int32 accumulation of u8/s8 products) and differ only in float32 rounding after them:
# the cast of a sum beyond 2^24, the order of the scale Mul and bias Add, and in lowp's
# oneDNN path a weight correction added in float (a sum of two terms each within 1 ulp, whose
# cancellation is bounded by the few weights outside int8): ~1e-7 of scale measured.
SUITE=qops
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

need_ort
$PY tools/qop_models.py "$T/m" >"$T/gen.log" 2>&1 || { fail generate "$(tail -n 1 "$T/gen.log")"; finish; exit; }

# close NAME GOT WANT [TOL] — GOT within TOL (absolute), else 1e-5 of WANT's scale
close() {
    msg=$($PY - "$2" "$3" "${4:-}" <<'PYEOF'
import sys, numpy as np
a, b = np.load(sys.argv[1]).astype(np.float64), np.load(sys.argv[2]).astype(np.float64)
if a.shape != b.shape:
    print(f"shape {a.shape} vs onnxruntime's {b.shape}"); sys.exit(1)
scale = max(np.abs(b).max(), 1e-12); err = np.abs(a - b).max()
tol = float(sys.argv[3]) if sys.argv[3] else 1e-5 * scale
print(f"max |lowp - onnxruntime| = {err:.2g} of scale {scale:.2g} (tolerance {tol:.2g})")
sys.exit(0 if err <= tol else 1)
PYEOF
) && ok "$1 ($msg)" || fail "$1" "$msg"
}

for model in "$T"/m/*.onnx; do
    name=$(basename "$model" .onnx)
    in="$T/m/$name.in.npy"
    if ! node tests/ort_run.js "$model" "$in" "$T/ort.npy" >"$T/log" 2>&1; then
        fail "$name" "onnxruntime: $(tail -n 1 "$T/log")"; continue
    fi
    for kernels in default reference; do
        rm -rf "$T/run"; mkdir -p "$T/run"
        if [ $kernels = reference ]; then
            LOWP_KERNELS=reference "$LOWP" run "$model" -i "$in" -o "$T/run" >"$T/log" 2>&1
        else
            "$LOWP" run "$model" -i "$in" -o "$T/run" >"$T/log" 2>&1
        fi || { fail "$name/$kernels" "lowp run: $(tail -n 1 "$T/log")"; continue; }
        tol=; [ -f "$T/m/$name.tol" ] && tol=$(cat "$T/m/$name.tol")
        close "$name/$kernels" "$T/run/out.npy" "$T/ort.npy" "$tol"
    done
done
finish
