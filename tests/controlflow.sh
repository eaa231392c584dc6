#!/bin/sh
# controlflow.sh BUILD — If, Loop and Scan end to end: every model of tools/make_controlflow.py,
# every input case, run by lowp (default kernels and LOWP_KERNELS=reference) and by ONNX Runtime,
# outputs compared; lowp info lists the subgraphs.
SUITE=controlflow
. "$(dirname "$0")/lib.sh"
if [ ! -d bench/node_modules/onnxruntime-node ]; then
    (cd bench && npm install --silent --ignore-scripts >/dev/null 2>&1) || fail ort-install "cannot install onnxruntime-node"
fi
/usr/bin/python3 tools/make_controlflow.py "$T/m" >/dev/null || { fail generate "make_controlflow.py failed"; finish; exit 1; }

# same NAME DIR_A DIR_B — every .npy in DIR_B has an equal twin in DIR_A. Float tolerance: both
# runtimes compute in float32 but may order sums differently (MatMul, ReduceSum): 1e-5 relative.
same() {
    /usr/bin/python3 - "$2" "$3" <<'EOF' >"$T/cmp" 2>&1 && ok "$1" || fail "$1" "$(cat "$T/cmp")"
import glob, os, sys
import numpy as np
a, b = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(os.path.join(b, "*.npy")))
assert files, "no outputs in " + b
for f in files:
    x, y = np.load(os.path.join(a, os.path.basename(f))), np.load(f)
    assert x.shape == y.shape and x.dtype == y.dtype, "%s: %s %s vs %s %s" % (os.path.basename(f), x.dtype, x.shape, y.dtype, y.shape)
    assert np.allclose(x, y, rtol=1e-5, atol=1e-6), "%s: max diff %g" % (os.path.basename(f), np.abs(x - y).max())
EOF
}

for model in "$T"/m/*.onnx; do
    name=$(basename "$model" .onnx)
    lowp info "$model"
    expect "$name info" 0 && has "$name info lists subgraphs" "$T/out" "subgraphs"
    for case in $(ls "$T/m/" | sed -n "s/^$name\.\([^.]*\)\..*\.npy$/\1/p" | sort -u); do
        args=""; oargs=""
        for f in "$T/m/$name.$case".*.npy; do
            input=$(basename "$f" .npy | sed "s/^$name\.$case\.//")
            args="$args -i $input=$f"; oargs="$oargs $input=$f"
        done
        node tests/ort_run_all.js "$model" "$T/ort.$name.$case" $oargs 2>"$T/ort.err" ||
            { fail "$name/$case ort" "$(cat "$T/ort.err")"; continue; }
        lowp run "$model" $args -o "$T/lowp.$name.$case"
        expect "$name/$case run" 0 && same "$name/$case lowp = onnxruntime" "$T/lowp.$name.$case" "$T/ort.$name.$case"
        LOWP_KERNELS=reference "$LOWP" run "$model" $args -o "$T/ref.$name.$case" >/dev/null 2>"$T/err" &&
            same "$name/$case reference kernels = onnxruntime" "$T/ref.$name.$case" "$T/ort.$name.$case" ||
            fail "$name/$case reference run" "$(cat "$T/err")"
    done
done
finish
