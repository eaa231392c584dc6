#!/bin/sh
# eval.sh BUILD — `lowp eval`: the zoo's PyTorch top-1 (correct count on the 10,000 test images)
# reproduced exactly by every model (LOWP_FAST=1: the MLP only), the config and short forms,
# --json, and bad-input errors.
SUITE=eval
. "$(dirname "$0")/lib.sh"
FM=/usr/share/datasets/fashion-mnist

correct_of() { grep '"correct"' "models/$1.json" | grep -oE '[0-9]+'; }

# value * samples, rounded: the number of correct predictions
count_of() { awk -F'[:,}]' '{for (i = 1; i <= NF; i++) { if ($i ~ /"value"/) v = $(i+1); if ($i ~ /"samples"/) n = $(i+1) } } END { printf "%d\n", v * n + 0.5 }' "$1"; }

zoo_case() {
    m=$1; shift
    if [ ! -f "models/$m.onnx" ] || [ ! -f "models/$m.json" ]; then fail "zoo_$m" "models/$m.onnx or its .json is missing"; return; fi
    if ! "$LOWP" eval "models/$m.onnx" "$@" --json -q >"$T/$m.json" 2>"$T/$m.err"; then
        fail "zoo_$m" "$(cat "$T/$m.err")"; return
    fi
    want=$(correct_of "$m"); got=$(count_of "$T/$m.json")
    if [ "$got" = "$want" ]; then ok "zoo_$m"; else fail "zoo_$m" "correct $got, PyTorch $want"; fi
}

if [ -d "$FM" ]; then
    # the short form and the example config on the MLP: PyTorch's exact count
    zoo_case mlp --dataset "FashionMNIST:$FM" --transform Rescale,Normalize=0.2860/0.3530 --metric topk=1
    if "$LOWP" eval models/mlp.onnx --config examples/mlp.yaml -q --json >"$T/c.json" 2>"$T/c.err" &&
       [ "$(count_of "$T/c.json")" = "$(correct_of mlp)" ]; then ok config_mlp; else fail config_mlp "$(cat "$T/c.json" "$T/c.err")"; fi
    if [ "${LOWP_FAST:-0}" != 1 ]; then
        for m in resnet_s mobilenetv2_s vit_s; do
            zoo_case "$m" --config "examples/$m.yaml" -b 200
        done
    fi
    # --json has exactly these keys (threads: 0 is the library default)
    if grep -qE '^\{"metric":"topk","value":0\.[0-9]+,"samples":10000,"seconds":[0-9.e-]+,"threads":[0-9]+\}$' "$T/mlp.json"; then
        ok json_shape; else fail json_shape "$(cat "$T/mlp.json")"; fi
    # text output: metric, samples, seconds; progress lines on a non-terminal stderr
    "$LOWP" eval models/mlp.onnx --dataset "FashionMNIST:$FM" --transform Rescale,Normalize=0.2860/0.3530 \
        --limit 300 -b 64 >"$T/out.txt" 2>"$T/err.txt"
    if grep -q '^metric   topk = ' "$T/out.txt" && grep -q '^samples  300$' "$T/out.txt" &&
       grep -q '^seconds ' "$T/out.txt" && grep -q '^eval: 300/300 samples (100%)' "$T/err.txt"; then
        ok text_output; else fail text_output "$(cat "$T/out.txt" "$T/err.txt")"; fi
    # a sample that does not fit the model: names the dataset and sample, exit 2, no output
    "$LOWP" eval models/mlp.onnx --dataset "FashionMNIST:$FM" --transform Rescale,Transpose=1,2,0 -q \
        >"$T/o" 2>"$T/e"; rc=$?
    if [ $rc = 2 ] && grep -q "sample 0: input 0 is float32\[64,28,28,1\]" "$T/e" && grep -q "input 'input'" "$T/e" &&
       [ ! -s "$T/o" ]; then ok shape_mismatch; else fail shape_mismatch "rc $rc: $(cat "$T/e")"; fi
else
    fail zoo_mlp "$FM is missing (make deps installs dataset-fashion-mnist)"
fi

# bad input: one clear error naming the file, non-zero exit, nothing on stdout
expect_fail() {
    name=$1; want=$2; shift 2
    "$LOWP" eval "$@" -q >"$T/o" 2>"$T/e"; rc=$?
    if [ $rc != 0 ] && grep -qF -- "$want" "$T/e" && [ ! -s "$T/o" ] && [ "$(wc -l <"$T/e")" -le 2 ]; then
        ok "$name"; else fail "$name" "rc $rc, stderr: $(cat "$T/e")"; fi
}
mkdir -p "$T/fm"
expect_fail missing_dataset "$T/fm/t10k-images-idx3-ubyte: no such file" models/mlp.onnx --dataset "FashionMNIST:$T/fm"
printf '\0\0\10\3\0\0\0\2\0\0\0\2\0\0\0\2abcd' >"$T/fm/t10k-images-idx3-ubyte"
printf '\0\0\10\1\0\0\0\3\1\2\3' >"$T/fm/t10k-labels-idx1-ubyte"
expect_fail label_count "t10k-labels-idx1-ubyte has 3 labels but $T/fm/t10k-images-idx3-ubyte has 2 images" \
    models/mlp.onnx --dataset "FashionMNIST:$T/fm"
printf '\0\0\10\1\0\0\0\2\1\2' >"$T/fm/t10k-labels-idx1-ubyte"
{ printf '\0\0\10\3\0\0\0\2\0\0\0\34\0\0\0\34'; head -c 800 /dev/zero; } >"$T/fm/t10k-images-idx3-ubyte"
expect_fail truncated "$T/fm/t10k-images-idx3-ubyte: the header declares 2 images (1584 bytes) but the file holds 816 bytes: truncated?" \
    models/mlp.onnx --dataset "FashionMNIST:$T/fm" -b 1
mkdir -p "$T/img/a"; printf '\377\330\377\340junk' >"$T/img/a/x.jpg"
expect_fail bad_image "sample 0: $T/img/a/x.jpg: cannot decode JPEG" models/mlp.onnx --dataset "ImageFolder:$T/img"
printf 'model:\n  name: m\nevaluation:\n  accuracy:\n    metric:\n      top5x: 5\n' >"$T/bad.yaml"
expect_fail bad_config "$T/bad.yaml: evaluation.accuracy.metric: unknown metric 'top5x' at line 6" models/mlp.onnx --config "$T/bad.yaml"
expect_fail no_config "$T/none.yaml: cannot open" models/mlp.onnx --config "$T/none.yaml"
expect_fail unknown_transform "unknown transform 'Rescal'" models/mlp.onnx --dataset "dummy:[4,1,28,28]" --transform Rescal
expect_fail compare_label "give the FP32 model with --reference" models/mlp.onnx --dataset "dummy:[4,1,28,28]" --metric MSE:compare_label=false
expect_fail usage "give --config FILE.yaml or --dataset SPEC" models/mlp.onnx
# evaluation.accuracy.configs: cores_per_instance sets eval's threads; several instances are refused
printf 'model:\n  name: m\nevaluation:\n  accuracy:\n    metric: {topk: 1}\n    configs: {cores_per_instance: 2}\n    dataloader: {dataset: {dummy: {shape: [2,1,28,28], label: true}}}\n' >"$T/acfg.yaml"
if "$LOWP" eval models/mlp.onnx --config "$T/acfg.yaml" --json -q 2>&1 | grep -q '"threads":2'; then
    ok accuracy_configs_threads; else fail accuracy_configs_threads "threads not taken from configs"; fi
sed 's/cores_per_instance: 2/num_of_instance: 2/' "$T/acfg.yaml" >"$T/acfg2.yaml"
expect_fail accuracy_configs_instances "evaluation.accuracy.configs.num_of_instance: lowp eval scores in one process" \
    models/mlp.onnx --config "$T/acfg2.yaml"
# model.inputs / model.outputs are checked against the model (they were accepted unchecked)
sed 's/  outputs: logits/  outputs: [logits, probs]/' examples/mlp.yaml >"$T/io.yaml"
sed 's/  inputs: input$/  inputs: image/' examples/mlp.yaml >"$T/io2.yaml"
expect_fail model_outputs "io.yaml: model.outputs: 'probs' is not an output of the model (its outputs: 'logits') at line 9" \
    models/mlp.onnx --config "$T/io.yaml"
expect_fail model_inputs "io2.yaml: model.inputs: 'image' is not an input of the model (its inputs: 'input') at line 8" \
    models/mlp.onnx --config "$T/io2.yaml"

# compare_label: false against the model itself: MSE 0 on dummy data with labels
if out=$("$LOWP" eval models/mlp.onnx --dataset "dummy:[8,1,28,28]" --metric MSE:compare_label=false \
        --reference models/mlp.onnx --json -q 2>&1) && echo "$out" | grep -q '"value":0,'; then
    ok compare_label_reference; else fail compare_label_reference "$out"; fi

finish
