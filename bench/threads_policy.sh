#!/bin/sh
# threads_policy.sh — lowp's thread policy (batch split, tiny plans on one thread; see
# docs/engine.md "Threads") against the plain OpenMP plan it replaced, on the same binary:
# "before" runs with LOWP_BATCH_SPLIT=0 LOWP_THREAD_MIN_WORK=0, "after" with the defaults,
# interleaved over rounds; prints p50/p90/p99 per round and the medians.
#
#   bench/threads_policy.sh BUILD MODEL.onnx[:BATCH] ... [--threads N] [--rounds R] [--iters N]
#
# Example: bench/threads_policy.sh build bench/out/real/mobilenetv2.fp32.onnx:16 \
#              bench/out/real/wakeword-hey-jarvis.fp32.onnx --threads 2 --rounds 3
set -eu
[ $# -ge 2 ] || { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
BUILD=$1
shift
THREADS=2 ROUNDS=3 ITERS=50 MODELS=""
while [ $# -gt 0 ]; do
    case $1 in
    --threads) THREADS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --iters) ITERS=$2; shift 2 ;;
    -*) echo "threads_policy.sh: unknown option $1" >&2; exit 2 ;;
    *) MODELS="$MODELS $1"; shift ;;
    esac
done
LOWP=$BUILD/lowp
[ -x "$LOWP" ] || { echo "threads_policy.sh: no $LOWP (build first)" >&2; exit 1; }
PY=/usr/bin/python3
echo "threads $THREADS, $ROUNDS rounds of $ITERS runs; $(uptime | sed 's/.*load/load/')"
for spec in $MODELS; do
    file=${spec%%:*}
    batch=1 bopt=""
    if [ "$file" != "$spec" ]; then batch=${spec##*:} bopt="--batch $batch"; fi
    out=$(mktemp)
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        for mode in before after; do
            if [ $mode = before ]; then env="LOWP_BATCH_SPLIT=0 LOWP_THREAD_MIN_WORK=0"; else env=""; fi
            # shellcheck disable=SC2086 (env and bopt are word lists)
            env $env "$LOWP" bench "$file" $bopt --threads "$THREADS" --iters "$ITERS" --warmup 3 -q --json |
                $PY -c 'import json,sys; d=json.load(sys.stdin)["latency_ms"]; print(sys.argv[1], d["p50"], d["p90"], d["p99"])' $mode >>"$out"
        done
        r=$((r + 1))
    done
    $PY - "$out" "$(basename "$file")" "$batch" <<'EOF'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1])]
print(f"{sys.argv[2]} batch {sys.argv[3]}")
for mode in ("before", "after"):
    r = [[float(x) for x in row[1:]] for row in rows if row[0] == mode]
    each = "  ".join(f"{a:.3f}/{b:.3f}/{c:.3f}" for a, b, c in r)
    med = [st.median(col) for col in zip(*r)]
    print(f"  {mode:6s} p50/p90/p99 ms per round: {each}   median {med[0]:.3f}/{med[1]:.3f}/{med[2]:.3f}")
EOF
    rm -f "$out"
done
echo "end: $(uptime | sed 's/.*load/load/')"
