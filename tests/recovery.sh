#!/bin/sh
# recovery.sh BUILD — the tuner's accuracy-recovery ladder on models with outlier channels made
# by tools/make_rescaled_model.py (function-preserving x200 rescales of zoo models):
#  - resnet_s with x200 channels between Conv -> Relu -> Conv: FP32 unchanged, minmax INT8
#    collapses; `lowp tune` (auto) meets 1 % with every op INT8 through cross-layer
#    equalization, and the report's recovery table says so;
#  - vit_s with x200 LayerNorm channels feeding Q/K/V and MLP MatMuls: SmoothQuant with alpha
#    chosen on calibration data recovers it, at most 2 ops left FP32;
#  - `lowp quantize --equalize` and ONNX Runtime running the equalized INT8 model.
SUITE=recovery
. "$(dirname "$0")/lib.sh"
FM=/usr/share/datasets/fashion-mnist
if [ ! -d "$FM" ] || ! /usr/bin/python3 -c 'import onnx' 2>/dev/null; then
    skip recovery.sh "no Fashion-MNIST or no python3-onnx"; finish; exit
fi
TR="-T Rescale,Normalize=0.2860/0.3530"
DATA="--calib FashionMNIST:$FM:train=true --eval FashionMNIST:$FM $TR"
N=1000 # evaluation samples: 1 % of ~0.91 is 9 images, so the 1 % target is not within noise of 0

# value of "key": number in a --json output
num() { sed -nE "s/.*\"$1\": ?([-0-9.e]+).*/\1/p" "$2" | head -1; }

/usr/bin/python3 tools/make_rescaled_model.py models/resnet_s.onnx "$T/r200.onnx" >"$T/mk.out" 2>&1 ||
    fail make_resnet "$(tail -2 "$T/mk.out")"
/usr/bin/python3 tools/make_rescaled_model.py models/vit_s.onnx "$T/v200.onnx" --layernorm >"$T/mkv.out" 2>&1 ||
    fail make_vit "$(tail -2 "$T/mkv.out")"

# FP32 unchanged by the rescale, INT8 minmax far below
lowp eval models/resnet_s.onnx -d FashionMNIST:$FM $TR -n $N -j -q; cp "$T/out" "$T/e0.json"
lowp eval "$T/r200.onnx" -d FashionMNIST:$FM $TR -n $N -j -q; cp "$T/out" "$T/e1.json"
a0=$(num value "$T/e0.json"); a1=$(num value "$T/e1.json")
if [ -n "$a0" ] && [ "$a0" = "$a1" ] && awk -v a="$a0" 'BEGIN { exit !(a > 0.8) }'; then ok rescaled_fp32_unchanged; else fail rescaled_fp32_unchanged "$a0 vs $a1"; fi
lowp quantize "$T/r200.onnx" -o "$T/plain.onnx" --calib FashionMNIST:$FM:train=true $TR -q
lowp quantize "$T/r200.onnx" -o "$T/eq.onnx" --calib FashionMNIST:$FM:train=true $TR --equalize -q
lowp eval "$T/plain.onnx" -d FashionMNIST:$FM $TR -n $N -j -q; ap=$(num value "$T/out")
lowp eval "$T/eq.onnx" -d FashionMNIST:$FM $TR -n $N -j -q; ae=$(num value "$T/out")
echo "# resnet_s x200: FP32 $a1, INT8 minmax $ap, INT8 minmax + equalization $ae ($N images)"
if awk -v f="$a1" -v p="$ap" -v e="$ae" 'BEGIN { exit !(p < f - 0.2 && e >= f * 0.99) }'; then
    ok quantize_equalize
else
    fail quantize_equalize "FP32 $a1, plain INT8 $ap, equalized INT8 $ae"
fi

# ONNX Runtime runs the equalized INT8 model and agrees with lowp
if command -v node >/dev/null 2>&1 && [ -d bench/node_modules/onnxruntime-node ]; then
    ort=$(node tests/ort_eval.js "$T/eq.onnx" $N 2>/dev/null | sed -E 's/correct ([0-9]+).*/\1/')
    want=$(awk -v a="$ae" -v n=$N 'BEGIN { printf "%d", a * n + 0.5 }')
    # ORT's and lowp's INT8 kernels may round a handful of borderline images differently
    if [ -n "$ort" ] && awk -v o="$ort" -v w="$want" 'BEGIN { d = o - w; exit !(d <= 3 && d >= -3) }'; then
        ok onnxruntime_equalized
    else
        fail onnxruntime_equalized "ORT $ort of $N, lowp $want"
    fi
fi

# the tuner: equalization first on the ladder, every op INT8, within 1 %
lowp tune "$T/r200.onnx" $DATA --tolerance 1% -n $N -w "$T/tr" -o "$T/tr/out.onnx" --json -q
if expect tune_resnet_x200 0 && has tune_resnet_x200 "$T/out" '"met_target": true' &&
   has tune_resnet_x200 "$T/out" '"fp32": 0' && has tune_resnet_x200 "$T/out" '"bf16": 0' &&
   has tune_resnet_x200 "$T/tr/report.md" '## Accuracy recovery' &&
   matches tune_resnet_x200 "$T/tr/report.md" '^\| equalization \| [0-9]+ layer pairs \| 0\.[0-9]+ \| 0\.9' &&
   has tune_resnet_x200 "$T/tr/best_recipe.json" '"equalization": true'; then
    ok tune_resnet_x200
fi

# ViT-style outliers: SmoothQuant recovers them (at most 2 ops FP32)
lowp tune "$T/v200.onnx" $DATA --tolerance 1% -n $N -w "$T/tv" -o "$T/tv/out.onnx" --json -q
fp32=$(num fp32 "$T/out")
if expect tune_vit_x200 0 && has tune_vit_x200 "$T/out" '"met_target": true' &&
   matches tune_vit_x200 "$T/tv/report.md" '^\| smooth_quant \| alpha 0\.[0-9]+ chosen on calibration data' &&
   has tune_vit_x200 "$T/tv/best_recipe.json" '"smooth_quant"'; then
    if [ -n "$fp32" ] && [ "$fp32" -le 2 ]; then ok tune_vit_x200; else fail tune_vit_x200 "$fp32 ops left FP32"; fi
fi

finish
