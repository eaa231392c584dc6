#!/bin/sh
# tune_eval_cmd.sh [LOWP] [WORKDIR] — example (c): `lowp tune --eval-cmd` with an external
# scorer. score_f1.py scores each candidate model by macro-F1 (a metric lowp lacks) on 300
# Fashion-MNIST test images, running it with `lowp run`; lowp searches recipes as usual.
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
LOWP=${1:-lowp}
W=${2:-./lowp_workspace/eval_cmd}
mkdir -p "$W"
# the scorer's data: 300 test images and labels as .npy
/usr/bin/python3 -c "
import sys; sys.path.insert(0, '$HERE'); import numpy as np, fmnist
np.save('$W/x.npy', fmnist.images(False, 300)); np.save('$W/y.npy', fmnist.labels(False, 300))"
"$LOWP" tune "$HERE/../../models/mlp.onnx" \
    --calib FashionMNIST:/usr/share/datasets/fashion-mnist:train=true -T Rescale,Normalize=0.2860/0.3530 \
    --eval-cmd "/usr/bin/python3 '$HERE/score_f1.py' {model} '$W/x.npy' '$W/y.npy' '$LOWP'" \
    --eval-timeout 120 --tolerance 2% -w "$W" -o "$W/mlp.int8.onnx"
