# lib.sh — what the shell suites that drive the lowp program share. Source it after setting
# SUITE (e.g. "cli"); it reads BUILD from $1, sets ROOT, LOWP and a temporary folder $T
# (removed on exit), and defines the per-case helpers. A suite ends with `finish`.
BUILD=${1:-build}
ROOT=$(pwd)
case "$BUILD" in /*) LOWP="$BUILD/lowp" ;; *) LOWP="$ROOT/$BUILD/lowp" ;; esac
T=$(mktemp -d "${TMPDIR:-/tmp}/lowp_$SUITE.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM # stop the suite; the EXIT trap cleans up
passed=0; failed=0

ok() { echo "ok $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
skip() { echo "skip $1: $2"; }

# lowp ARGS... — runs the program, stdout in $T/out, stderr in $T/err, status in $rc.
lowp() { "$LOWP" "$@" >"$T/out" 2>"$T/err"; rc=$?; }
# expect NAME STATUS — fails NAME (returning 1) unless the last run exited with STATUS.
expect() {
    [ "$rc" = "$2" ] && return 0
    fail "$1" "exit $rc, want $2; stderr: $(head -c 300 "$T/err" | tr '\n' ' ')"
    return 1
}
# has NAME FILE TEXT — fails NAME (returning 1) unless FILE contains TEXT (fixed string).
has() {
    grep -qF -- "$3" "$2" && return 0
    fail "$1" "$(basename "$2") lacks '$3': $(head -c 300 "$2" | tr '\n' ' ')"
    return 1
}
# matches NAME FILE REGEX — like has, with an extended regular expression.
matches() {
    grep -qE -- "$3" "$2" && return 0
    fail "$1" "$(basename "$2") has no line matching '$3': $(head -c 400 "$2" | tr '\n' '|')"
    return 1
}

# need_ort — installs ONNX Runtime (the peer, npm's onnxruntime-node, no install scripts) into
# bench/node_modules when it is missing; fails the case ort-install when npm cannot.
need_ort() {
    [ -d bench/node_modules/onnxruntime-node ] && return 0
    (cd bench && npm install --silent --ignore-scripts >/dev/null 2>&1) && return 0
    fail ort-install "cannot install onnxruntime-node"
    return 1
}
# run_model OUT MODEL IN [NAME=VALUE] — `lowp run MODEL -i IN -o OUT` into a fresh folder OUT,
# with the environment variable NAME=VALUE when given (LOWP_KERNELS=reference, ...); the
# program's output in $T/log, its status returned.
run_model() {
    rm -rf "$1"; mkdir -p "$1"
    env ${4:+"$4"} "$LOWP" run "$2" -i "$3" -o "$1" >"$T/log" 2>&1
}
# ort_correct MODEL N — how many of the first N Fashion-MNIST test images ONNX Runtime classifies
# right with MODEL (tests/ort_eval.js); nothing when it cannot run (its stderr in $T/ort.err).
ort_correct() { node tests/ort_eval.js "$1" "$2" 2>"$T/ort.err" | sed -n 's/^correct \([0-9]*\).*/\1/p'; }
# ort_agrees NAME MODEL N ACC D — ONNX Runtime's count on MODEL (ort_correct) is within D images
# of ACC * N, lowp's accuracy ACC on the same N images (the caller says why D: INT8 rounding in
# either runtime's kernels can flip a near tie). Installs ONNX Runtime first (need_ort).
ort_agrees() {
    need_ort || return 0
    ort_n=$(ort_correct "$2" "$3")
    ort_want=$(awk -v a="$4" -v n="$3" 'BEGIN { printf "%d", a * n + 0.5 }')
    if [ -n "$ort_n" ] && [ $((ort_n > ort_want ? ort_n - ort_want : ort_want - ort_n)) -le "$5" ]; then
        ok "$1"
    else
        fail "$1" "ORT ${ort_n:-failed: $(head -c 300 "$T/ort.err")} of $3, lowp $ort_want"
    fi
}

# python_env LIB — exports what /usr/bin/python3 needs to load lowp's Python package over the
# library LIB. An ASan build of the library needs the ASan runtime loaded first (libstdc++ too:
# ASan must intercept __cxa_throw, which torch uses, from the start), and the interpreter's and
# torch's own never-freed allocations must not be reported as leaks (appended: ASan reads its
# options left to right, and make test-asan sets detect_leaks=1).
python_env() {
    if ldd "$1" | grep -q libasan; then
        export LD_PRELOAD="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libstdc++.so)"
        export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
    fi
    export LOWP_LIBRARY="$1" PYTHONPATH="$ROOT/python" PYTHONDONTWRITEBYTECODE=1
}

# The closing "SUITE.sh: N passed, N failed" line; the status is non-zero on any failure.
finish() {
    echo "$SUITE.sh: $passed passed, $failed failed"
    [ "$failed" = 0 ]
}
