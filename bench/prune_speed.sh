#!/bin/sh
# prune_speed.sh [BUILD] [ROUNDS] — what channel pruning buys: resnet_s (and mobilenetv2_s)
# pruned by 50 % of their channels with `lowp prune --pattern channel`, timed side by side with
# the original in lowp's engine and in ONNX Runtime (when bench/node_modules is installed), at
# batch 1 and 64, one thread. Rounds are interleaved (original, pruned, original, ...) so load
# from other jobs hits both alike; each cell is the median over rounds of each run's p50.
# Prints the machine load first: on a shared machine the absolute numbers are noisy, the
# ratios less so. Target (issue 15): resnet_s >= 1.6x faster at 50 % of its channels.
BUILD=${1:-build}
ROUNDS=${2:-5}
LOWP="$BUILD/lowp"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
have_ort=false
command -v node >/dev/null 2>&1 && [ -d bench/node_modules/onnxruntime-node ] && have_ort=true
echo "# $(date -u +%Y-%m-%dT%H:%MZ)  $(uptime | sed 's/.*load/load/')  $(nproc) cores"

# p50 of one run: lowp or ort, MODEL, BATCH
p50() {
    if [ "$1" = lowp ]; then
        "$LOWP" bench "$2" --batch "$3" --threads 1 --warmup 5 --iters 30 --json 2>/dev/null
    else
        node bench/ort_bench.js "$2" --batch "$3" --threads 1 --warmup 5 --iters 30 2>/dev/null
    fi | tr -d ' \n' | sed -nE 's/.*"latency_ms":\{"p50":([0-9.e+-]+).*/\1/p'
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf "%-15s %-5s %6s %12s %12s %8s\n" model rt batch "orig ms" "pruned ms" speedup
for m in resnet_s mobilenetv2_s; do
    "$LOWP" prune "models/$m.onnx" -o "$OUT/$m.pruned.onnx" --pattern channel --sparsity 0.5 -q -b 0 >/dev/null || exit 1
    for rt in lowp ort; do
        [ $rt = ort ] && ! $have_ort && continue
        for b in 1 64; do
            : >"$OUT/a" && : >"$OUT/p"
            r=0
            while [ $r -lt "$ROUNDS" ]; do
                p50 $rt "models/$m.onnx" $b >>"$OUT/a"
                p50 $rt "$OUT/$m.pruned.onnx" $b >>"$OUT/p"
                r=$((r + 1))
            done
            a=$(median <"$OUT/a") p=$(median <"$OUT/p")
            awk -v m=$m -v rt=$rt -v b=$b -v a="$a" -v p="$p" \
                'BEGIN { printf "%-15s %-5s %6d %12.3f %12.3f %7.2fx\n", m, rt, b, a, p, a / p }'
        done
    done
done
