#!/bin/sh
# fp16.sh BUILD — half-precision models (tools/make_fp16_models.py: float16 weights and ops with
# float32 or float16 interfaces, a bfloat16 one) run, are described and quantize.
#  - lowp computes half models in float32 (ir/float16.c), so its result must equal, to the bit,
#    its result on the float32 twin holding the same widened weights; a float16 output is that
#    result rounded to float16 (|diff| <= 2^-11 of the value, half an fp16 ulp, + 1e-7).
#  - ONNX Runtime may run some of the ~15 ops in float16 (rounding each result by 2^-11 ~ 5e-4
#    relative): outputs within 5e-3 of the output's scale.
#  - Quantized exports (static QDQ, static QOperator, dynamic; from the float16 weights) run in
#    lowp and in ORT; SQNR against the float32 result is printed and must be >= 30 dB (4 int8
#    layers measure 44-49 dB; a wrong scale or zero point gives < 10 dB), and ORT must agree
#    with lowp on the same file within 1e-3 of scale (u8 rounding ties may differ: one step
#    of the last layer, ~1/255 of its range, damped by the mean pool).
SUITE=fp16
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
need_ort
M=$T/m
"$PY" tools/make_fp16_models.py "$M" || { fail models "tools/make_fp16_models.py failed"; finish; exit 1; }

# compare NAME GOT REF TOL_REL [HALF] — max |got - ref| <= TOL_REL * scale (HALF: + fp16 rounding)
compare() {
    msg=$("$PY" - "$2" "$3" "$4" "${5:-}" <<'PYEOF'
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2]).astype(np.float64)
half = sys.argv[4] == "half"
a = a.astype(np.float64)
if a.shape != b.shape:
    print(f"shape {a.shape} vs {b.shape}"); sys.exit(1)
scale = max(np.abs(b).max(), 1e-12); err = np.abs(a - b)
bound = float(sys.argv[3]) * scale + (2.0 ** -11 * np.abs(b) + 1e-7 if half else 0)
print(f"max |diff| {err.max():.3g}, scale {scale:.3g}")
sys.exit(0 if np.all(err <= bound) else 1)
PYEOF
) && ok "$1 ($msg)" || fail "$1" "$msg"
}
sqnr() { # NAME GOT REF -> prints SQNR, fails below 30 dB
    msg=$("$PY" -c "
import sys, numpy as np
a, b = np.load('$2').astype(np.float64), np.load('$3').astype(np.float64)
s = 10 * np.log10((b ** 2).sum() / max(((a - b) ** 2).sum(), 1e-30))
print(f'SQNR {s:.1f} dB'); sys.exit(0 if s >= 30 else 1)") && ok "$1 ($msg)" || fail "$1" "$msg"
}
run() { # MODEL INPUT OUTDIR
    rm -rf "$3"
    "$LOWP" run "$1" -i "$2" -o "$3" >"$T/log" 2>&1 || { fail "run $(basename "$1")" "$(tail -n 1 "$T/log")"; return 1; }
}

lowp info "$M/fp16_io32.onnx"
expect info 0 && has "info says it runs, in float32" "$T/out" "runs       yes (float16/bfloat16 computed in float32" &&
    ok "info: fp16 model runs, computed in float32"

run "$M/fp32_twin.onnx" "$M/input.npy" "$T/twin"
run "$M/bf16_twin.onnx" "$M/input.npy" "$T/btwin"
run "$M/fp16_io32.onnx" "$M/input.npy" "$T/o32" && compare "fp16 model = float32 twin" "$T/o32/y.npy" "$T/twin/y.npy" 0
run "$M/fp16_io16.onnx" "$M/input16.npy" "$T/o16" && {
    "$PY" -c "import numpy as np, sys; sys.exit(np.load('$T/o16/y.npy').dtype != np.float16)" &&
        ok "fp16 interface kept (float16 output)" || fail "fp16 interface" "output is not float16"
    compare "fp16-interface model = float32 twin rounded" "$T/o16/y.npy" "$T/twin/y.npy" 0 half
}
run "$M/bf16_io32.onnx" "$M/input.npy" "$T/ob" && compare "bf16 model = float32 twin" "$T/ob/y.npy" "$T/btwin/y.npy" 0

if node tests/ort_run.js "$M/fp16_io32.onnx" "$M/input.npy" "$T/ort32.npy" 2>"$T/log"; then
    compare "onnxruntime fp16 (float32 interface)" "$T/o32/y.npy" "$T/ort32.npy" 5e-3
else
    fail "onnxruntime fp16" "$(tail -n 1 "$T/log")"
fi
if node tests/ort_run_all.js "$M/fp16_io16.onnx" "$T/ort16" x="$M/input16.npy" 2>"$T/log"; then
    compare "onnxruntime fp16 (float16 interface)" "$T/o16/y.npy" "$T/ort16/y.npy" 5e-3
else
    fail "onnxruntime fp16 io16" "$(tail -n 1 "$T/log")"
fi

# quantized from the float16 weights: static QDQ and QOperator, dynamic; each in lowp and ORT
for kind in static qoperator dynamic dynamic16; do
    src=$M/fp16_io32.onnx in=$M/input.npy
    case $kind in
    static) opt="--calib Npy:$M/calib.npy -b 1 -n 8" ;;
    qoperator) opt="--calib Npy:$M/calib.npy -b 1 -n 8 --format qoperator" ;;
    dynamic) opt=--dynamic ;;
    dynamic16) opt=--dynamic src=$M/fp16_io16.onnx in=$M/input16.npy ;;
    esac
    q=$T/q_$kind.onnx
    # (the test model's 4 ops are below dynamic INT8's size threshold: LOWP_DYNAMIC_MIN_MACS=0
    # quantizes them anyway; static quantization does not look at it)
    # shellcheck disable=SC2086
    if ! LOWP_DYNAMIC_MIN_MACS=0 "$LOWP" quantize "$src" -o "$q" $opt -q -j >"$T/sum" 2>"$T/err"; then
        fail "quantize $kind" "$(tail -n 1 "$T/err")"; continue
    fi
    grep -q '"int8_nodes":4' "$T/sum" && ok "quantize $kind: 4 int8 nodes" || fail "quantize $kind" "$(cat "$T/sum")"
    run "$q" "$in" "$T/lq" || continue
    sqnr "lowp runs the $kind export" "$T/lq/y.npy" "$T/twin/y.npy"
    if node tests/ort_run_all.js "$q" "$T/oq" x="$in" 2>"$T/log"; then
        sqnr "onnxruntime runs the $kind export" "$T/oq/y.npy" "$T/twin/y.npy"
        compare "onnxruntime = lowp on the $kind export" "$T/oq/y.npy" "$T/lq/y.npy" 1e-3 $([ $kind = dynamic16 ] && echo half)
    else
        fail "onnxruntime $kind" "$(tail -n 1 "$T/log")"
    fi
done
finish
