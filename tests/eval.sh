#!/bin/sh
# eval.sh BUILD — `lowp eval`: the zoo's PyTorch top-1 (correct count on the 10,000 test images)
# reproduced exactly by every model (LOWP_FAST=1: the MLP only), the config and short forms,
# --json, and bad-input errors.
B=${1:-build}
LOWP=$B/lowp
FM=/usr/share/datasets/fashion-mnist
pass=0; fail=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

correct_of() { grep '"correct"' "models/$1.json" | grep -oE '[0-9]+'; }

# value * samples, rounded: the number of correct predictions
count_of() { awk -F'[:,}]' '{for (i = 1; i <= NF; i++) { if ($i ~ /"value"/) v = $(i+1); if ($i ~ /"samples"/) n = $(i+1) } } END { printf "%d\n", v * n + 0.5 }' "$1"; }

zoo_case() {
    m=$1; shift
    if [ ! -f "models/$m.onnx" ] || [ ! -f "models/$m.json" ]; then echo "FAIL zoo_$m: models/$m.onnx or its .json is missing"; fail=$((fail + 1)); return; fi
    if ! "$LOWP" eval "models/$m.onnx" "$@" --json -q >"$tmp/$m.json" 2>"$tmp/$m.err"; then
        bad "zoo_$m" "$(cat "$tmp/$m.err")"; return
    fi
    want=$(correct_of "$m"); got=$(count_of "$tmp/$m.json")
    if [ "$got" = "$want" ]; then ok "zoo_$m"; else bad "zoo_$m" "correct $got, PyTorch $want"; fi
}

if [ -d "$FM" ]; then
    # the short form and the example config on the MLP: PyTorch's exact count
    zoo_case mlp --dataset "FashionMNIST:$FM" --transform Rescale,Normalize=0.2860/0.3530 --metric topk=1
    if "$LOWP" eval models/mlp.onnx --config examples/mlp.yaml -q --json >"$tmp/c.json" 2>"$tmp/c.err" &&
       [ "$(count_of "$tmp/c.json")" = "$(correct_of mlp)" ]; then ok config_mlp; else bad config_mlp "$(cat "$tmp/c.json" "$tmp/c.err")"; fi
    if [ "${LOWP_FAST:-0}" != 1 ]; then
        for m in resnet_s mobilenetv2_s vit_s; do
            zoo_case "$m" --config "examples/$m.yaml" -b 200
        done
    fi
    # --json has exactly the four keys
    if grep -qE '^\{"metric":"topk","value":0\.[0-9]+,"samples":10000,"seconds":[0-9.e-]+\}$' "$tmp/mlp.json"; then
        ok json_shape; else bad json_shape "$(cat "$tmp/mlp.json")"; fi
    # text output: metric, samples, seconds; progress lines on a non-terminal stderr
    "$LOWP" eval models/mlp.onnx --dataset "FashionMNIST:$FM" --transform Rescale,Normalize=0.2860/0.3530 \
        --limit 300 -b 64 >"$tmp/out.txt" 2>"$tmp/err.txt"
    if grep -q '^metric   topk = ' "$tmp/out.txt" && grep -q '^samples  300$' "$tmp/out.txt" &&
       grep -q '^seconds ' "$tmp/out.txt" && grep -q '^eval: 300/300 samples (100%)' "$tmp/err.txt"; then
        ok text_output; else bad text_output "$(cat "$tmp/out.txt" "$tmp/err.txt")"; fi
    # a sample that does not fit the model: names the dataset and sample, exit 2, no output
    "$LOWP" eval models/mlp.onnx --dataset "FashionMNIST:$FM" --transform Rescale,Transpose=1,2,0 -q \
        >"$tmp/o" 2>"$tmp/e"; rc=$?
    if [ $rc = 2 ] && grep -q "sample 0: input 0 is float32\[64,28,28,1\]" "$tmp/e" && grep -q "input 'input'" "$tmp/e" &&
       [ ! -s "$tmp/o" ]; then ok shape_mismatch; else bad shape_mismatch "rc $rc: $(cat "$tmp/e")"; fi
else
    echo "FAIL zoo_mlp: $FM is missing (make deps installs dataset-fashion-mnist)"; fail=$((fail + 1))
fi

# bad input: one clear error naming the file, non-zero exit, nothing on stdout
expect_fail() {
    name=$1; want=$2; shift 2
    "$LOWP" eval "$@" -q >"$tmp/o" 2>"$tmp/e"; rc=$?
    if [ $rc != 0 ] && grep -qF -- "$want" "$tmp/e" && [ ! -s "$tmp/o" ] && [ "$(wc -l <"$tmp/e")" -le 2 ]; then
        ok "$name"; else bad "$name" "rc $rc, stderr: $(cat "$tmp/e")"; fi
}
mkdir -p "$tmp/fm"
expect_fail missing_dataset "$tmp/fm/t10k-images-idx3-ubyte: no such file" models/mlp.onnx --dataset "FashionMNIST:$tmp/fm"
printf '\0\0\10\3\0\0\0\2\0\0\0\2\0\0\0\2abcd' >"$tmp/fm/t10k-images-idx3-ubyte"
printf '\0\0\10\1\0\0\0\3\1\2\3' >"$tmp/fm/t10k-labels-idx1-ubyte"
expect_fail label_count "t10k-labels-idx1-ubyte has 3 labels but $tmp/fm/t10k-images-idx3-ubyte has 2 images" \
    models/mlp.onnx --dataset "FashionMNIST:$tmp/fm"
printf '\0\0\10\1\0\0\0\2\1\2' >"$tmp/fm/t10k-labels-idx1-ubyte"
{ printf '\0\0\10\3\0\0\0\2\0\0\0\34\0\0\0\34'; head -c 800 /dev/zero; } >"$tmp/fm/t10k-images-idx3-ubyte"
expect_fail truncated "sample 1: $tmp/fm/t10k-images-idx3-ubyte: file is truncated" \
    models/mlp.onnx --dataset "FashionMNIST:$tmp/fm" -b 1
mkdir -p "$tmp/img/a"; printf '\377\330\377\340junk' >"$tmp/img/a/x.jpg"
expect_fail bad_image "sample 0: $tmp/img/a/x.jpg: cannot decode JPEG" models/mlp.onnx --dataset "ImageFolder:$tmp/img"
printf 'model:\n  name: m\nevaluation:\n  accuracy:\n    metric:\n      top5x: 5\n' >"$tmp/bad.yaml"
expect_fail bad_config "$tmp/bad.yaml: evaluation.accuracy.metric: unknown metric 'top5x' at line 6" models/mlp.onnx --config "$tmp/bad.yaml"
expect_fail no_config "$tmp/none.yaml: cannot open" models/mlp.onnx --config "$tmp/none.yaml"
expect_fail unknown_transform "unknown transform 'Rescal'" models/mlp.onnx --dataset "dummy:[4,1,28,28]" --transform Rescal
expect_fail compare_label "give the FP32 model with --reference" models/mlp.onnx --dataset "dummy:[4,1,28,28]" --metric MSE:compare_label=false
expect_fail usage "give --config FILE.yaml or --dataset SPEC" models/mlp.onnx

# compare_label: false against the model itself: MSE 0 on dummy data with labels
if out=$("$LOWP" eval models/mlp.onnx --dataset "dummy:[8,1,28,28]" --metric MSE:compare_label=false \
        --reference models/mlp.onnx --json -q 2>&1) && echo "$out" | grep -q '"value":0,'; then
    ok compare_label_reference; else bad compare_label_reference "$out"; fi

echo "eval.sh: $pass passed, $fail failed"
[ "$fail" = 0 ]
