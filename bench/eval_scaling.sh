#!/bin/sh
# eval_scaling.sh [BUILD] [MODEL] [ROUNDS] — evaluation throughput of `lowp eval` at 1 rank (no
# mpirun) and at 2 ranks (mpirun -np 2), one engine thread per rank, on Fashion-MNIST's 10,000
# test images; ROUNDS interleaved rounds (default 5), medians of the wall time mpirun's whole run
# takes (MPI start-up included) and of the evaluation loop alone (the "seconds" lowp reports).
# Also checks that every run printed the same value. docs/distributed.md quotes its numbers.
set -e
cd "$(dirname "$0")/.."
BUILD=${1:-build}
MODEL=${2:-models/resnet_s.onnx}
ROUNDS=${3:-5}
FM=/usr/share/datasets/fashion-mnist
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ARGS="eval $MODEL --dataset FashionMNIST:$FM --transform Rescale,Normalize=0.2860/0.3530 -b 100 -t 1 --json -q"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
now() { date +%s.%N; }
for r in $(seq 1 "$ROUNDS"); do
    for np in 1 2; do
        t0=$(now)
        if [ "$np" = 1 ]; then "$BUILD/lowp" $ARGS >"$OUT/r.json"
        else mpirun -np 2 --oversubscribe --bind-to none "$BUILD/lowp" $ARGS >"$OUT/r.json"; fi
        t1=$(now)
        loop=$(sed -E 's/.*"seconds":([0-9.e+-]+).*/\1/' "$OUT/r.json")
        value=$(sed -E 's/.*"value":([0-9.e+-]+).*/\1/' "$OUT/r.json")
        echo "$np $(echo "$t1 - $t0" | bc -l) $loop $value" >>"$OUT/runs"
    done
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) CPUs online"
echo "model:   $MODEL, 10000 samples, batch 100, 1 thread per rank, $ROUNDS rounds (medians)"
[ "$(cut -d' ' -f4 "$OUT/runs" | sort -u | wc -l)" = 1 ] || { echo "values differ between runs:"; cat "$OUT/runs"; exit 1; }
for np in 1 2; do
    wall=$(awk -v n=$np '$1 == n {print $2}' "$OUT/runs" | median)
    loop=$(awk -v n=$np '$1 == n {print $3}' "$OUT/runs" | median)
    printf "ranks %d: wall %.2f s (%.0f samples/s), evaluation loop %.2f s (%.0f samples/s)\n" \
        "$np" "$wall" "$(echo "10000 / $wall" | bc -l)" "$loop" "$(echo "10000 / $loop" | bc -l)"
done
echo "value:   $(cut -d' ' -f4 "$OUT/runs" | head -n 1) (identical in every run)"
