#!/bin/sh
# run_all.sh [BUILD] [compare options...] — the full side-by-side benchmark behind
# docs/performance.md: every default model in lowp (default and reference kernels), ONNX Runtime
# and PyTorch, 5 interleaved rounds, plus the ResNet-50 peak-memory comparison. Prints the
# machine, the date and the Markdown table; keeps everything in bench/out/ (gitignored).
set -e
cd "$(dirname "$0")/.."
BUILD=${1:-build}
[ $# -gt 0 ] && shift
mkdir -p bench/out
{
    echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')"
    echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) CPUs online"
    echo "lowp:    $("$BUILD/lowp" --version)"
    echo "command: bench/compare --lowp $BUILD/lowp --rounds 5 --with-reference --markdown --json bench/out/compare.json $*"
    echo
} | tee bench/out/compare.txt
bench/compare --lowp "$BUILD/lowp" --rounds 5 --with-reference --markdown \
    --json bench/out/compare.json "$@" | tee -a bench/out/compare.txt
