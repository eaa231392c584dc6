#!/bin/sh
# train_bench.sh [BUILD] [MODEL] [BATCH] [ROUNDS] — a training step of MODEL (default
# models/resnet_s.onnx) at BATCH (64) in lowp (bench/train_bench.c: the training tape with its
# oneDNN fast paths; TRAIN_BENCH_PROFILE=1 adds a per-node table on stderr) and in Debian's
# PyTorch (bench/train_torch.py: the same architecture and weights), ROUNDS (5) interleaved
# rounds of 20 timed steps each, one thread each. Prints per-round medians, the median of the
# rounds and the ratio lowp / PyTorch (below 1: lowp is faster).
# A benchmark, not a test: run it on a quiet machine and say how loaded it was (uptime).
set -e
cd "$(dirname "$0")/.."
BUILD=${1:-build}
MODEL=${2:-models/resnet_s.onnx}
BATCH=${3:-64}
ROUNDS=${4:-5}
make -s BUILD="$BUILD" "$BUILD/bench/train_bench"
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) CPUs online"
echo "model:   $MODEL, batch $BATCH, 1 thread, $ROUNDS rounds x 20 steps (3 warm-up)"
lowp_meds="" torch_meds=""
r=1
while [ $r -le "$ROUNDS" ]; do
    # one thread as the header says: without OMP_NUM_THREADS the OpenMP runtime takes every CPU
    # (and, on a loaded machine, oversubscribed threads wait for each other at every primitive)
    l=$(OMP_NUM_THREADS=1 "$BUILD/bench/train_bench" "$MODEL" "$BATCH" 3 20 | sed -n 's/.*"median_ms": \([0-9.]*\).*/\1/p')
    p=$(OMP_NUM_THREADS=1 /usr/bin/python3 bench/train_torch.py "$MODEL" --batch "$BATCH" --threads 1 |
        sed -n 's/.*"median_ms": \([0-9.]*\).*/\1/p')
    echo "round $r: lowp $l ms, pytorch $p ms"
    lowp_meds="$lowp_meds $l" torch_meds="$torch_meds $p"
    r=$((r + 1))
done
median() { printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
L=$(median "$lowp_meds") P=$(median "$torch_meds")
echo "median step: lowp $L ms, pytorch $P ms, ratio lowp/pytorch $(awk -v l="$L" -v p="$P" 'BEGIN { printf "%.2f", l / p }')"
