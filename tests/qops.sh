#!/bin/sh
# qops.sh BUILD — lowp's integer and quantized ops (ConvInteger, MatMulInteger, and the
# com.microsoft ops ONNX Runtime's quantizer emits) against ONNX Runtime, on the models
# tools/qop_models.py generates with seeded random shapes and options, each run by lowp's
# default kernels (oneDNN where it claims the nodes) and by the reference kernels; the two are
# also compared with each other, and the default plan's profile (lowp bench --profile --json)
# must show no step on the reference kernel.
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

# close NAME GOT WANT [TOL [PEER]] — GOT within TOL (absolute), else 1e-5 of WANT's scale;
# WANT comes from PEER (default onnxruntime)
close() {
    msg=$($PY tools/close_npy.py "$2" "$3" ${4:+--tol "$4"} --peer "${5:-onnxruntime}") && ok "$1 ($msg)" || fail "$1" "$msg"
}

for model in "$T"/m/*.onnx; do
    name=$(basename "$model" .onnx)
    in="$T/m/$name.in.npy"
    if ! node tests/ort_run.js "$model" "$in" "$T/ort.npy" >"$T/log" 2>&1; then
        fail "$name" "onnxruntime: $(tail -n 1 "$T/log")"; continue
    fi
    for kernels in default reference; do
        env_=; [ $kernels = reference ] && env_=LOWP_KERNELS=reference
        run_model "$T/run" "$model" "$in" $env_ || { fail "$name/$kernels" "lowp run: $(tail -n 1 "$T/log")"; continue; }
        tol=; [ -f "$T/m/$name.tol" ] && tol=$(cat "$T/m/$name.tol")
        close "$name/$kernels" "$T/run/out.npy" "$T/ort.npy" "$tol"
        cp "$T/run/out.npy" "$T/$kernels.npy"
    done
    # split over threads: the same bytes as one thread
    if [ -f "$T/m/$name.threads" ] && [ -f "$T/default.npy" ]; then
        rm -rf "$T/run"; mkdir -p "$T/run"
        if "$LOWP" run "$model" -i "$in" -o "$T/run" --threads 2 >"$T/log" 2>&1; then
            close "$name/2 threads" "$T/run/out.npy" "$T/default.npy" 0 "lowp 1 thread"
        else
            fail "$name/2 threads" "lowp run: $(tail -n 1 "$T/log")"
        fi
    fi
    # the oneDNN path against lowp's own reference kernels (same bound: they too may round a
    # tie the other way)
    [ -f "$T/default.npy" ] && [ -f "$T/reference.npy" ] && close "$name/default vs reference" "$T/default.npy" "$T/reference.npy" "$tol" "lowp reference"
    rm -f "$T/default.npy" "$T/reference.npy"
    # every step of the default plan runs on oneDNN (or lowp's own code inside that backend):
    # no reference kernel and no reference fallback
    if "$LOWP" bench "$model" -i "$in" --profile --json --warmup 0 --iters 1 -q >"$T/prof.json" 2>"$T/log"; then
        msg=$($PY -c '
import json, sys
steps = json.load(open(sys.argv[1]))["profile"]["steps"]
bad = [s["ops"] + " (" + ", ".join(s["nodes"]) + ")" for s in steps
       if s["kernel"] == "reference" or "reference" in s.get("impl", "")]
print(f"{len(steps)} steps, on the reference kernel: " + ("; ".join(bad) or "none"))
sys.exit(1 if bad else 0)' "$T/prof.json")
        rc=$?
        [ $rc = 0 ] && ok "$name/profile ($msg)" || fail "$name/profile" "$msg"
    else
        fail "$name/profile" "lowp bench: $(tail -n 1 "$T/log")"
    fi
done
finish
