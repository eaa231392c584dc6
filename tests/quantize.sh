#!/bin/sh
# quantize.sh BUILD — lowp quantize / compare end to end on the zoo: accuracy of the INT8 model
# within 1 % relative of FP32 (the issue's target for resnet_s and mlp), ONNX Runtime loads
# every export (QDQ, QOperator, dynamic) and its top-1 is within 0.2 % of lowp's own INT8 result,
# determinism, options and errors. 2,000 test images keep it fast: 0.2 % is 4 images.
BUILD=${1:-build}
LOWP="$BUILD/lowp"
D=FashionMNIST:/usr/share/datasets/fashion-mnist
T=Rescale,Normalize=0.2860/0.3530
N=2000
pass=0; fail=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
if [ ! -d bench/node_modules/onnxruntime-node ]; then
    (cd bench && npm install --silent --ignore-scripts >/dev/null 2>&1) || bad ort-install "cannot install onnxruntime-node"
fi

correct() { # MODEL -> number of correct predictions on the first $N test images, by lowp
    "$LOWP" eval "$1" --dataset "$D" --transform "$T" -n $N -q -j | sed -E 's/.*"value":([0-9.]+).*/\1/' |
        awk -v n=$N '{ printf "%d\n", $1 * n + 0.5 }'
}
ort_correct() { node tests/ort_eval.js "$1" $N 2>"$TMP/ort.err" | sed -E 's/correct ([0-9]+).*/\1/'; }
within() { # A B LIMIT -> true when |A - B| <= LIMIT
    [ -n "$1" ] && [ -n "$2" ] && [ $(( $1 > $2 ? $1 - $2 : $2 - $1 )) -le "$3" ]
}

for m in resnet_s mlp; do
    fp=$(correct models/$m.onnx)
    if "$LOWP" quantize models/$m.onnx -o "$TMP/$m.qdq.onnx" --calib "$D:train=true" --transform "$T" --samples 300 -q -j \
        >"$TMP/sum.json" 2>"$TMP/err"; then
        grep -q '"int8_nodes":[1-9]' "$TMP/sum.json" && grep -q '"calibration_samples":300' "$TMP/sum.json" &&
            ok "$m quantize summary" || bad "$m quantize summary" "$(cat "$TMP/sum.json")"
    else
        bad "$m quantize" "$(tail -n 1 "$TMP/err")"; continue
    fi
    q=$(correct "$TMP/$m.qdq.onnx")
    # within 1 % relative of FP32
    [ -n "$q" ] && [ "$q" -ge $(( fp * 99 / 100 )) ] && ok "$m int8 accuracy $q vs fp32 $fp of $N" ||
        bad "$m int8 accuracy" "int8 $q vs fp32 $fp of $N"
    o=$(ort_correct "$TMP/$m.qdq.onnx")
    within "$o" "$q" 4 && ok "$m onnxruntime runs the QDQ export ($o vs lowp $q)" ||
        bad "$m onnxruntime QDQ" "ort '$o' vs lowp '$q' $(cat "$TMP/ort.err")"
done

# QOperator export of resnet_s: QLinearConv in the file, ONNX Runtime agrees with lowp
if "$LOWP" quantize models/resnet_s.onnx -o "$TMP/r.qop.onnx" --calib "$D:train=true" --transform "$T" --samples 300 \
    --format qoperator -q >/dev/null 2>"$TMP/err"; then
    "$LOWP" info "$TMP/r.qop.onnx" | grep -q QLinearConv && ok "qoperator has QLinearConv" || bad "qoperator" "no QLinearConv"
    q=$(correct "$TMP/r.qop.onnx"); o=$(ort_correct "$TMP/r.qop.onnx")
    within "$o" "$q" 4 && ok "onnxruntime runs the QOperator export ($o vs lowp $q)" || bad "qoperator ort" "ort '$o' vs lowp '$q'"
else
    bad "qoperator quantize" "$(tail -n 1 "$TMP/err")"
fi

# dynamic quantization of the MLP: no calibration, MatMulInteger, ONNX Runtime agrees
if "$LOWP" quantize models/mlp.onnx -o "$TMP/mlp.dyn.onnx" --dynamic -q >/dev/null 2>"$TMP/err"; then
    "$LOWP" info "$TMP/mlp.dyn.onnx" | grep -q MatMulInteger && ok "dynamic has MatMulInteger" || bad "dynamic" "no MatMulInteger"
    q=$(correct "$TMP/mlp.dyn.onnx"); o=$(ort_correct "$TMP/mlp.dyn.onnx"); fp=$(correct models/mlp.onnx)
    [ -n "$q" ] && [ "$q" -ge $(( fp * 99 / 100 )) ] && ok "dynamic accuracy $q vs fp32 $fp" || bad "dynamic accuracy" "$q vs $fp"
    within "$o" "$q" 4 && ok "onnxruntime runs the dynamic export ($o vs lowp $q)" || bad "dynamic ort" "ort '$o' vs lowp '$q'"
else
    bad "dynamic quantize" "$(tail -n 1 "$TMP/err")"
fi

# determinism: the same data and recipe give the same bytes; a saved recipe reproduces the model
"$LOWP" quantize models/resnet_s.onnx -o "$TMP/a.onnx" --calib "$D:train=true" --transform "$T" --samples 64 \
    --algo kl --save-recipe "$TMP/r.json" -q >/dev/null 2>&1
"$LOWP" quantize models/resnet_s.onnx -o "$TMP/b.onnx" --calib "$D:train=true" --transform "$T" --samples 64 \
    --recipe "$TMP/r.json" -q >/dev/null 2>&1
cmp -s "$TMP/a.onnx" "$TMP/b.onnx" && grep -q '"kl"' "$TMP/r.json" && ok "deterministic, recipe round trip" ||
    bad "determinism" "outputs differ or recipe lacks kl"

# options: --list, --exclude-op, --per-tensor
"$LOWP" quantize models/resnet_s.onnx --list | grep -q "Conv.*int8" && ok "--list" || bad "--list" "no Conv rows"
"$LOWP" quantize models/resnet_s.onnx -o "$TMP/x.onnx" --calib "$D:train=true" --transform "$T" --samples 32 \
    --exclude-op Conv -q -j >"$TMP/x.json" 2>/dev/null
grep -q '"int8_nodes":1,' "$TMP/x.json" && ok "--exclude-op Conv leaves only the Gemm int8" || bad "--exclude-op" "$(cat "$TMP/x.json")"

# compare: per-layer table, JSON and HTML
if "$LOWP" compare models/resnet_s.onnx "$TMP/resnet_s.qdq.onnx" --dataset "$D" --transform "$T" -n 16 -j -q \
    --html "$TMP/c.html" >"$TMP/c.json" 2>"$TMP/err"; then
    grep -q '"sqnr_db"' "$TMP/c.json" && grep -Eq '"kind": ?"weight"' "$TMP/c.json" && grep -q '<svg' "$TMP/c.html" &&
        ok "compare json + html" || bad "compare output" "missing fields"
else
    bad "compare" "$(tail -n 1 "$TMP/err")"
fi

# errors: usage (exit 1) and bad input (exit 2, naming what is wrong)
"$LOWP" quantize models/resnet_s.onnx >/dev/null 2>&1; [ $? = 1 ] && ok "missing -o is a usage error" || bad "missing -o" "exit $?"
"$LOWP" quantize models/resnet_s.onnx -o "$TMP/y.onnx" >/dev/null 2>&1; [ $? = 1 ] && ok "static without data is a usage error" ||
    bad "no data" "exit $?"
"$LOWP" quantize models/resnet_s.onnx -o "$TMP/y.onnx" --dynamic --algo median 2>"$TMP/err" >/dev/null
[ $? = 2 ] && grep -q median "$TMP/err" && ok "unknown algorithm named" || bad "unknown algorithm" "$(cat "$TMP/err")"
"$LOWP" quantize models/resnet_s.onnx -o "$TMP/y.onnx" --dynamic --exclude nosuchnode 2>"$TMP/err" >/dev/null
[ $? = 2 ] && grep -q nosuchnode "$TMP/err" && ok "unknown node named" || bad "unknown node" "$(cat "$TMP/err")"
[ ! -e "$TMP/y.onnx" ] && ok "nothing written on failure" || bad "half-written" "$TMP/y.onnx exists"

echo "quantize.sh: $pass passed, $fail failed"
[ "$fail" = 0 ]
