#!/bin/sh
# seeds.sh BUILD — the randomized kernel tests on other draws than the one seed make test runs
# them with (LOWP_TEST_SEED=N, tests/test.h): fixed extra seeds, and for test_kernels and
# test_kernels_rnn one seed derived from the day (UTC), a new draw each day -- printed, so that
# a failure reruns as `LOWP_TEST_SEED=N BUILD/tests/PROG`. Under ASan only the day's seeds.
# test_kernels_int8 takes fixed seeds only: on other draws its 1-D and some 2-D ConvIntegers
# fall back to the reference kernels (oneDNN has only reference primitives there), which its
# step check fails. The wide sweep (docs/engine.md, "Tests"):
#   for s in $(seq 1 300); do LOWP_TEST_SEED=$s build/tests/test_kernels | grep ^FAIL; done
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

$asan || { seed test_kernels 1; seed test_kernels 2; seed test_kernels_rnn 1; }
seed test_kernels $daily
seed test_kernels_rnn $daily
$asan || { seed test_kernels_int8 2; seed test_fusion_random 7 -n 100; } # (100 chains per leader and mode)
finish
