#!/bin/sh
# demo.sh BUILD — lowp's main job: tune the zoo's ResNet-style CNN on Fashion-MNIST to INT8 with
# at most 1 % relative accuracy loss, then show FP32 vs tuned accuracy, speed-up, size and where
# the model and the report are. Accuracy is measured on all 10,000 test images; calibration uses
# 300 training images. A few seconds on 2 cores.
set -e
BUILD=${1:-build}
LOWP="$BUILD/lowp"
OUT="$BUILD/demo"
mkdir -p "$OUT"
echo "== lowp tune examples/tune_resnet_s.yaml (models/resnet_s.onnx, Fashion-MNIST, tolerance 1 % relative)"
echo "   evaluation: the 10,000 test images; calibration: 300 training images"
echo
rc=0
"$LOWP" tune examples/tune_resnet_s.yaml --sampling-size 300 \
    -w "$OUT/workspace" -o "$OUT/resnet_s.int8.onnx" || rc=$?
echo
if [ $rc = 0 ]; then
    echo "== the tuned model on the same 10,000 images, evaluated on its own"
    "$LOWP" eval "$OUT/resnet_s.int8.onnx" --config examples/tune_resnet_s.yaml -q
    echo
    echo "model:   $OUT/resnet_s.int8.onnx (standard ONNX QDQ; ONNX Runtime loads it)"
    echo "report:  $OUT/workspace/report.md, $OUT/workspace/report.html; every trial: $OUT/workspace/history.jsonl"
elif [ $rc = 3 ]; then
    echo "no recipe met the target; the most accurate model found is $OUT/resnet_s.int8.onnx"
else
    exit $rc
fi
