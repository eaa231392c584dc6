#!/bin/sh
# run_tests.sh BUILD — runs every test program in BUILD/tests and every tests/*.sh suite (not
# tests/lib.sh, the suites' shared helpers), adds up their "N passed, N failed" lines, prints
# the total last and fails on any failure.
BUILD=${1:-build}
passed=0; failed=0; broken=""
log=$(mktemp)
run() {
    name=$1; shift
    "$@" >"$log" 2>&1; rc=$?
    grep -v '^ok ' "$log" | tail -n 40
    line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
    f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
    if [ -z "$p" ]; then
        echo "FAIL $name: no summary line (exit $rc)"; failed=$((failed + 1)); return
    fi
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        echo "FAIL $name: exit status $rc"; failed=$((failed + 1))
    fi
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run "$(basename "$t")" "$t"
done
for s in tests/*.sh; do
    [ -f "$s" ] || continue
    [ "$s" = tests/lib.sh ] && continue   # sourced by the suites, not one itself
    run "$(basename "$s")" sh "$s" "$BUILD"
done
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
