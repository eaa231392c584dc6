#!/bin/sh
# python.sh BUILD — the `lowp` Python package (python/lowp) over BUILD/liblowp.so: pytest from
# Debian runs tests/python/ (core API, tuning with Python evaluation, Ctrl-C, registries, the
# LPOT-style lowp.experimental, PyTorch modules, the ctypes mirrors of lowp.h's structs) and
# the examples in examples/python/; the closing line adds up pytest's counts.
SUITE=python
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
case "$BUILD" in /*) LIB="$BUILD/liblowp.so" ;; *) LIB="$ROOT/$BUILD/liblowp.so" ;; esac
if ! $PY -c 'import numpy, pytest' 2>/dev/null; then
    skip python.sh "no python3-numpy or python3-pytest"; finish; exit
fi
if [ ! -f "$LIB" ]; then
    fail python.sh "no $LIB"; finish; exit
fi
python_env "$LIB"
$PY -m pytest -q -p no:cacheprovider --basetemp="$T/pytest" tests/python >"$T/pytest.out" 2>&1
rc=$?
tail -n 30 "$T/pytest.out" | grep -vE '^\.+' | grep -v '^$'
line=$(tail -n 1 "$T/pytest.out")
p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
f=$(echo "$line" | grep -oE '[0-9]+ (failed|errors?)' | awk '{ n += $1 } END { print n + 0 }')
passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
if [ "$rc" != 0 ] && [ "${f:-0}" = 0 ]; then
    fail pytest "exit $rc: $line"
fi

# `make install` puts a package that works from anywhere (not for the ASan build: its runtime)
if [ -z "$LD_PRELOAD" ] && command -v make >/dev/null; then
    if make -s install BUILD="$BUILD" PREFIX="$T/prefix" >"$T/install.out" 2>&1 &&
       (cd "$T" && env -u PYTHONPATH -u LOWP_LIBRARY PYTHONPATH="$(ls -d "$T"/prefix/lib/python3*/dist-packages)" \
            $PY -c 'import lowp, numpy as np, sys
s = lowp.Session(sys.argv[1]); assert s.run(np.zeros((2, 1, 28, 28), np.float32))["logits"].shape == (2, 10)
assert lowp.LIBRARY_PATH.startswith(sys.argv[2]), lowp.LIBRARY_PATH' "$ROOT/models/mlp.onnx" "$T/prefix") >>"$T/install.out" 2>&1; then
        ok make_install_package
    else
        fail make_install_package "$(tail -n 5 "$T/install.out" | tr '\n' ' ')"
    fi
fi

# the examples, as a user runs them (each prints what it checks and fails loudly)
for ex in examples/python/*.py; do
    case "$ex" in */fmnist.py|*/score_f1.py) continue ;; esac
    name=$(basename "$ex" .py)
    if (cd "$T" && TMPDIR="$T" LOWP="$(dirname "$LIB")/lowp" $PY "$ROOT/$ex" >"$T/$name.out" 2>&1); then
        ok "example_$name"
    else
        fail "example_$name" "$(tail -n 5 "$T/$name.out" | tr '\n' ' ')"
    fi
done
finish
