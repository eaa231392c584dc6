#!/bin/sh
# calib_memory.sh [BUILD] — peak RSS of `lowp quantize` calibrating resnet_s on 100, 1,000 and
# 5,000 Fashion-MNIST images: calibration keeps fixed-size statistics, so memory must not grow
# with samples (target: 1,000 samples <= 1.1x of 100). Prints one line per run and the ratio.
BUILD=${1:-build}
D=FashionMNIST:/usr/share/datasets/fashion-mnist:train=true
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for n in 100 1000 5000; do
    /usr/bin/time -f "%M" -o "$OUT/rss.$n" "$BUILD/lowp" quantize models/resnet_s.onnx -o "$OUT/q.onnx" \
        --calib "$D" --transform Rescale,Normalize=0.2860/0.3530 --samples $n -q >/dev/null || exit 1
    echo "samples $n: peak RSS $(cat "$OUT/rss.$n") KB"
done
awk -v a="$(cat "$OUT/rss.100")" -v b="$(cat "$OUT/rss.1000")" 'BEGIN { printf "ratio 1000/100: %.3f (target <= 1.1)\n", b / a }'
