#!/bin/sh
# seeds.sh BUILD — the randomized kernel tests on other draws than the one seed make test runs
# them with (LOWP_TEST_SEED=N, tests/test.h): fixed extra seeds, and for the randomized programs
# below one seed derived from the day (UTC), a new draw each
# day -- printed, so that
# a failure reruns as `LOWP_TEST_SEED=N BUILD/tests/PROG`. Under ASan only the day's seeds.
# The fixed seeds include draws that once failed: test_kernels 234 (a one-element MatMul's
# cancellation), test_kernels_int8 23, 35, 112, 114 (grouped INT8 convolutions off by oneDNN's
# weight compensation) and 1, 4, 9, 12, 70 (1-D / one-point / grouped ConvIntegers that fell back
# or came out wrong; docs/engine.md, "ConvInteger"). The wide sweep (docs/engine.md, "Tests"):
#   for s in $(seq 0 299); do LOWP_TEST_SEED=$s build/tests/test_kernels_int8 >/dev/null 2>&1 || echo $s; done
SUITE=seeds
. "$(dirname "$0")/lib.sh"

day=$(date -u +%Y%m%d)
daily=$((day % 1000003 + 1000))
echo "  the day's seed: $daily (from $day)"
asan=false
ldd "$BUILD/tests/test_kernels" 2>/dev/null | grep -q libasan && asan=true

# seed PROG SEED [ARGS] — PROG on SEED; a failure shows its first FAIL lines
seed() {
    prog=$1 s=$2
    shift 2
    LOWP_TEST_SEED=$s "$BUILD/tests/$prog" "$@" >"$T/out" 2>&1
    rc=$?
    if [ "$rc" = 0 ] && grep -q ' 0 failed' "$T/out"; then
        ok "$prog seed $s"
    else
        fail "$prog seed $s" "exit $rc: $(grep '^FAIL' "$T/out" | head -n 3 | tr '\n' ' ')"
    fi
}

$asan || { seed test_kernels 1; seed test_kernels 2; seed test_kernels 234; seed test_kernels_rnn 1; }
seed test_kernels $daily
seed test_kernels_rnn $daily
seed test_kernels_int8 $daily
seed test_conv1d $daily
# the own kernels (binary broadcast, reductions, Pad modes); seeds 2 and 4 drew the
# rank-broadcast batch splits that cut the wrong axis (engine/split.c)
$asan || { seed test_kernels_own 2; seed test_kernels_own 4; }
seed test_kernels_own $daily
# random STFT ConvIntegers over frames (dynamic INT8's one-input-channel convolutions)
seed test_dynamic_int8 $daily
if ! $asan; then
    for s in 2 23 35 112 114 1 4 9 12 70; do seed test_kernels_int8 $s; done
    seed test_fusion_random 7 -n 100 # (100 chains per leader and mode)
fi
finish
