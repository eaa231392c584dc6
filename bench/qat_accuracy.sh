#!/bin/sh
# qat_accuracy.sh [BUILD] [MODEL...] — issue 15's QAT target: 4-bit weights / 8-bit activations
# (per channel) on the zoo's resnet_s and mobilenetv2_s, "QAT within 0.5 % of FP32". Each model
# is quantized (W4A8, per-channel symmetric weights, plain rounding), fine-tuned with
# `lowp train --weight-bits 4` on Fashion-MNIST's 60,000 training images and scored on the full
# 10,000-image test set: FP32, W4 plain rounding (the PTQ model training starts from) and QAT.
# Target: the QAT model's top-1 at most 0.5 % below FP32's, relative ((fp32 - qat) / fp32 <=
# 0.005; resnet_s 0.9113 -> >= 0.9068, mobilenetv2_s 0.9090 -> >= 0.9045).
#
# MODEL: resnet_s, mobilenetv2_s (default: both, one after the other: each run takes tens of
# minutes on a shared 2-core machine). One thread per run (OMP_NUM_THREADS=1 unless set).
# Knobs (environment): EPOCHS (1), OPTIM (SGD, momentum 0.9; or Adam), LR (1e-3), SCHEDULE
# (cosine), BATCH (64), ITERATIONS (unset: whole epochs of 938 batches), SAMPLES (unset: all
# 60,000 per epoch), CALIB (300 calibration images), DISTILL (unset: cross-entropy; a
# temperature: distillation from the FP32 model), LEARN_SCALE (unset; 1: LSQ scales), BITS (4),
# EXTRA (more `lowp train` options, verbatim).
# Prints the load first and, per model, the command, its accuracy line, the relative loss, the
# verdict, the time and the load at the end.
BUILD=${1:-build}
[ $# -gt 0 ] && shift
MODELS=${*:-resnet_s mobilenetv2_s}
LOWP="$BUILD/lowp"
FM=/usr/share/datasets/fashion-mnist
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT" || exit 1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
[ -d "$FM" ] || { echo "no Fashion-MNIST at $FM" >&2; exit 1; }
[ -x "$LOWP" ] || { echo "no $LOWP (make -j2 first)" >&2; exit 1; }
OPTS="--optimizer ${OPTIM:-SGD} --lr ${LR:-1e-3} --schedule ${SCHEDULE:-cosine} -e ${EPOCHS:-1} -b ${BATCH:-64}"
OPTS="$OPTS -n ${CALIB:-300} --weight-bits ${BITS:-4}${ITERATIONS:+ --iterations $ITERATIONS}${SAMPLES:+ --samples $SAMPLES}"
OPTS="$OPTS${DISTILL:+ --distill $DISTILL}${LEARN_SCALE:+ --learn-scale} ${EXTRA:-}"
echo "# $(date -u +%Y-%m-%dT%H:%MZ)  $(uptime | sed 's/.*load/load/')  $(nproc --all) cores, OMP_NUM_THREADS=$OMP_NUM_THREADS; files in $OUT"

for m in $MODELS; do
    case $m in
    resnet_s | mobilenetv2_s) ;;
    *)
        echo "unknown model '$m' (resnet_s, mobilenetv2_s)" >&2
        exit 1
        ;;
    esac
    cmd="$LOWP train models/$m.onnx -o $OUT/$m.qat.onnx --ptq-output $OUT/$m.w4.onnx \
--data FashionMNIST:$FM:train=true --eval FashionMNIST:$FM:train=false -T Rescale,Normalize=0.2860/0.3530 $OPTS -j"
    echo "## $m: $cmd"
    t0=$(date +%s)
    # shellcheck disable=SC2086 # $cmd is split into words on purpose
    if $cmd >"$OUT/$m.json" 2>"$OUT/$m.err"; then
        grep "lowp train: epoch" "$OUT/$m.err"
        cat "$OUT/$m.json"
        tr -d ' \n' <"$OUT/$m.json" | sed -nE 's/.*"fp32":([0-9.e+-]+),"ptq":([0-9.e+-]+),"qat":([0-9.e+-]+).*/\1 \2 \3/p' |
            awk -v bits="${BITS:-4}" '{ l = ($1 - $3) / $1 * 100; lp = ($1 - $2) / $1 * 100
                printf "# FP32 %.4f  W%d nearest %.4f (%.2f %% below)  QAT %.4f (%.2f %% below FP32): target (<= 0.5 %%) %s\n",
                    $1, bits, $2, lp, $3, l, l <= 0.5 ? "met" : "missed" }'
        echo "# $m: $(($(date +%s) - t0)) s, $(uptime | sed 's/.*load/load/')"
    else
        echo "# $m failed:"
        tail -3 "$OUT/$m.err"
    fi
done
