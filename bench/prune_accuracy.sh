#!/bin/sh
# prune_accuracy.sh [BUILD] [CASE...] — issue 15's pruning accuracy targets on the zoo's resnet_s
# (FP32 top-1 0.9113 on Fashion-MNIST's 10,000 test images): each case prunes with
# `lowp prune`, fine-tunes with lowp's training engine on the 60,000 training images and
# scores the full test set. Target: within 1 % of FP32 (>= 0.9013, one point absolute).
#
#   channel       50 % of the conv channels removed (physically), then fine-tuned
#   nm            2:4 along every layer's reduction axis, then fine-tuned
#   unstructured  80 % of every weight, pruned gradually over the first 3 of 10 epochs (LPOT's
#                 pruning section with pruning.train: the sparsity raised every 50 batches),
#                 then fine-tuned at 80 %; Adam 3e-3 (cosine) with distillation from the FP32
#                 model (temperature 2, half and half with the labels)
#
# Default: all three, one after the other (each takes tens of minutes on a shared 2-core
# machine: ~0.4 s per batch of 64 for the channel-pruned model, ~0.8 s for the others).
# Knobs (environment): CHANNEL_EPOCHS (3), NM_EPOCHS (1), LR (0.01), DISTILL (unset:
# cross-entropy; a temperature: distillation from the FP32 model), ITERATIONS (unset: whole
# epochs of 938 batches; N: at most N batches an epoch); for unstructured: UNSTRUCTURED_EPOCHS
# (10), GRADUAL_EPOCHS (3: the sparsity reaches 80 % at the end of that epoch), U_OPTIM (Adam;
# or SGD, momentum 0.9), U_LR (0.003), U_DISTILL (2; 0: cross-entropy only).
# Prints the load first and, per case, the command, the top-1 before and after and the
# latency the prune command measured (channel: also `lowp bench` at batch 1 and 64).
BUILD=${1:-build}
[ $# -gt 0 ] && shift
CASES=${*:-channel nm unstructured}
LOWP="$BUILD/lowp"
FM=/usr/share/datasets/fashion-mnist
OUT=${OUT:-$(mktemp -d)}
LR=${LR:-0.01}
KD=${DISTILL:+--distill $DISTILL}
IT=${ITERATIONS:+--iterations $ITERATIONS}
TRAIN="--train FashionMNIST:$FM:train=true -T Rescale,Normalize=0.2860/0.3530 --eval FashionMNIST:$FM"
[ -d "$FM" ] || { echo "no Fashion-MNIST at $FM" >&2; exit 1; }
echo "# $(date -u +%Y-%m-%dT%H:%MZ)  $(uptime | sed 's/.*load/load/')  $(nproc --all) cores; files in $OUT"

run() { # NAME ARGS...: the command, its top-1 line and latency line
    name=$1
    shift
    echo "## $name: $LOWP prune models/resnet_s.onnx -o $OUT/$name.onnx $* $IT"
    t0=$(date +%s)
    if "$LOWP" prune models/resnet_s.onnx -o "$OUT/$name.onnx" "$@" $IT >"$OUT/$name.log" 2>"$OUT/$name.err"; then
        grep -E "^(top-1|latency|parameters)" "$OUT/$name.log"
        grep "lowp train: epoch" "$OUT/$name.err"
        echo "# $name: $(($(date +%s) - t0)) s, $(uptime | sed 's/.*load/load/')"
    else
        echo "# $name failed:"
        tail -3 "$OUT/$name.err"
    fi
}

for c in $CASES; do
    case $c in
    channel)
        run channel --pattern channel --sparsity 0.5 $TRAIN --epochs "${CHANNEL_EPOCHS:-3}" --lr "$LR" $KD
        for b in 1 64; do
            for f in models/resnet_s.onnx "$OUT/channel.onnx"; do
                printf "# lowp bench batch %-3s %-40s p50 " $b "$(basename "$f")"
                "$LOWP" bench "$f" --batch $b --threads 1 --iters 30 --json 2>/dev/null | tr -d ' \n' |
                    sed -nE 's/.*"latency_ms":\{"p50":([0-9.e+-]+).*/\1 ms\n/p'
            done
        done
        ;;
    nm)
        run nm --pattern 2:4 $TRAIN --epochs "${NM_EPOCHS:-1}" --lr "$LR" $KD
        ;;
    unstructured)
        e=${UNSTRUCTURED_EPOCHS:-10}
        kd=${U_DISTILL:-2}
        crit="CrossEntropyLoss: {}"
        [ "$kd" != 0 ] && crit="KnowledgeDistillationLoss: {temperature: $kd, loss_weights: [0.5, 0.5]}"
        opt="Adam: {learning_rate: ${U_LR:-0.003}}"
        [ "${U_OPTIM:-Adam}" = SGD ] && opt="SGD: {learning_rate: ${U_LR:-0.01}, momentum: 0.9}"
        cat >"$OUT/unstructured.yaml" <<EOF
model: {name: resnet_s}
pruning:
  approach:
    weight_compression:
      initial_sparsity: 0.0
      target_sparsity: 0.8
      start_epoch: 0
      end_epoch: ${GRADUAL_EPOCHS:-3}
      pruners:
        - !Pruner {prune_type: basic_magnitude, method: per_tensor}
  train:
    start_epoch: 0
    end_epoch: $e
    frequency: 50
    dataloader:
      batch_size: 64
      dataset: {FashionMNIST: {root: $FM, train: true}}
      transform: {Rescale: {}, Normalize: {mean: [0.2860], std: [0.3530]}}
    optimizer: {$opt}
    criterion: {$crit}
EOF
        echo "# $OUT/unstructured.yaml:" && sed 's/^/#   /' "$OUT/unstructured.yaml"
        run unstructured --config "$OUT/unstructured.yaml" --eval FashionMNIST:$FM -T Rescale,Normalize=0.2860/0.3530
        ;;
    *)
        echo "unknown case '$c' (channel, nm, unstructured)" >&2
        exit 1
        ;;
    esac
done
