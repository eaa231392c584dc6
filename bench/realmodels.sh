#!/bin/sh
# realmodels.sh [BUILD] [realmodels.py options...] — lowp vs ONNX Runtime on pretrained real-world
# models (tests/realworld.sh's) plus ResNet-50, MobileNetV2 and BERT-base: FP32, INT8 on the same
# file, INT8 vs FP32; batch 1 / 1 thread and batch 16 / 2 threads. The table behind
# docs/performance.md ("Real models"); everything it makes stays in bench/out/real (gitignored).
# Takes tens of minutes (IS-Net runs at 1024x1024); --only NAME,NAME picks models.
set -e
cd "$(dirname "$0")/.."
BUILD=${1:-build}
[ $# -gt 0 ] && shift
[ -x "$BUILD/lowp" ] || { echo "realmodels: $BUILD/lowp is not built (make)" >&2; exit 2; }
if [ ! -d bench/node_modules/onnxruntime-node ]; then
    (cd bench && npm install --silent --ignore-scripts >/dev/null 2>&1) || { echo "realmodels: npm install failed" >&2; exit 2; }
fi
exec /usr/bin/python3 bench/realmodels.py --lowp "$BUILD/lowp" "$@"
