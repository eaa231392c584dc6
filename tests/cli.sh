#!/bin/sh
# cli.sh BUILD — tests of the lowp program: help and usage errors, exit codes, info, run.
# Prints "ok NAME" / "FAIL NAME: why" / "skip NAME: why" per case and a final
# "cli.sh: N passed, N failed" line; exits non-zero on any failure. Skipped cases (a zoo model
# or /usr/bin/python3 with numpy missing) count as neither.
SUITE=cli
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3          # Debian's python3 with numpy (the one on PATH may lack it)
MLP="$ROOT/models/mlp.onnx"
BATCH="$ROOT/models/fixed_batch_input.npy"
GOLD="$ROOT/models/mlp.fixed_batch_logits.npy"

# exists NAME FILE
exists() { [ -f "$2" ] && return 0; fail "$1" "$2 was not written"; return 1; }
# pycheck NAME SCRIPT ARGS... — runs a python check (script on stdin is not used: SCRIPT is code).
pycheck() {
    name=$1; code=$2; shift 2
    "$PY" -c "$code" "$@" >"$T/py" 2>&1 && return 0
    fail "$name" "$(tail -n 2 "$T/py" | tr '\n' ' ')"
    return 1
}
have_mlp() { [ -f "$MLP" ] && [ -f "$BATCH" ] && return 0; skip "$1" "$MLP or $BATCH absent"; return 1; }
have_numpy() { "$PY" -c 'import numpy' 2>/dev/null && return 0; skip "$1" "$PY with numpy absent"; return 1; }
have_onnx() { "$PY" -c 'import onnx' 2>/dev/null && return 0; skip "$1" "$PY with onnx absent"; return 1; }

if [ ! -x "$LOWP" ]; then
    echo "FAIL cli.sh: $LOWP is not built"
    echo "cli.sh: 0 passed, 1 failed"
    exit 1
fi

# ---- version, help, usage errors ----

lowp --version
expect version 0 && matches version "$T/out" '^lowp [0-9]+\.[0-9]+\.[0-9]+$' && ok version

lowp help
expect help 0 && has help "$T/out" "usage: lowp" && has help "$T/out" "info" &&
    has help "$T/out" "run" && ok help

# Every command in the table answers `lowp CMD --help` and `lowp help CMD` with its usage.
lowp help
cmds=$(sed -n 's/^  \([a-z][a-z0-9_-]*\) .*/\1/p' "$T/out" | grep -v '^help$')
bad=""
for c in $cmds; do
    lowp "$c" --help
    { [ "$rc" = 0 ] && grep -q "usage: lowp $c" "$T/out"; } || bad="$bad $c(--help:$rc)"
    lowp help "$c"
    { [ "$rc" = 0 ] && grep -q "usage: lowp $c" "$T/out"; } || bad="$bad $c(help:$rc)"
done
[ -n "$cmds" ] && [ -z "$bad" ] && ok command_help || fail command_help "commands '$cmds':$bad"

lowp help help
expect help_help 0 && has help_help "$T/out" "usage: lowp help [COMMAND]" && ok help_help

lowp
expect no_arguments 1 && has no_arguments "$T/err" "usage: lowp" && ok no_arguments

lowp frobnicate
expect unknown_command 1 && has unknown_command "$T/err" "unknown command 'frobnicate'" &&
    has unknown_command "$T/err" "see 'lowp help'" && ok unknown_command

lowp help frobnicate
expect help_unknown_command 1 && ok help_unknown_command

lowp info --bogus "$MLP"
expect unknown_flag 1 && has unknown_flag "$T/err" "--bogus" &&
    has unknown_flag "$T/err" "see 'lowp help info'" && [ "$(wc -l <"$T/err")" -eq 2 ] &&
    ok unknown_flag

lowp info
expect info_missing_model 1 && has info_missing_model "$T/err" "see 'lowp help info'" &&
    ok info_missing_model

lowp run
expect run_missing_model 1 && has run_missing_model "$T/err" "see 'lowp help run'" &&
    ok run_missing_model

lowp run "$MLP" -i
expect run_option_without_value 1 && has run_option_without_value "$T/err" "-i" &&
    ok run_option_without_value

lowp run "$MLP" --threads many
expect run_bad_threads 1 && has run_bad_threads "$T/err" "--threads" && ok run_bad_threads

lowp info "$MLP" "$MLP"
expect info_two_models 1 && ok info_two_models

# The option parsing the data commands share (cli.c lp_cli_model_arg, cli_data.c
# lp_cli_transform_option): each usage error exits 1 naming the fault, before any file is read.
many_t=""
k=0
while [ "$k" -lt 33 ]; do many_t="$many_t -T Rescale"; k=$((k + 1)); done
bad=""
for c in quantize train prune eval compare; do
    lowp "$c" "$MLP" --bogus
    { [ "$rc" = 1 ] && grep -q "unknown option '--bogus'" "$T/err" && grep -q "see 'lowp help $c'" "$T/err"; } ||
        bad="$bad $c:unknown:$rc"
    for o in -T -b; do
        lowp "$c" "$MLP" "$o"
        { [ "$rc" = 1 ] && grep -q "option $o needs a value" "$T/err"; } || bad="$bad $c:$o-no-value:$rc"
    done
    # shellcheck disable=SC2086 # many_t is 33 words
    lowp "$c" "$MLP" $many_t
    { [ "$rc" = 1 ] && grep -q "too many --transform options" "$T/err"; } || bad="$bad $c:33-T:$rc"
    lowp "$c" -j -q --json --quiet
    { [ "$rc" = 1 ] && ! grep -q "unknown option" "$T/err"; } || bad="$bad $c:flags:$rc"
    [ "$c" = compare ] && continue # (compares two models)
    lowp "$c" "$MLP" "$T/second.onnx"
    { [ "$rc" = 1 ] && grep -q "unexpected argument '$T/second.onnx' (one MODEL only)" "$T/err"; } ||
        bad="$bad $c:two-models:$rc"
done
[ -z "$bad" ] && ok data_command_usage || fail data_command_usage "wrong exit or message:$bad"

# ---- bad files: exit 2 with the file named ----

lowp info "$T/no such model.onnx"
expect missing_model_file 2 && has missing_model_file "$T/err" "$T/no such model.onnx" &&
    ok missing_model_file

: >"$T/empty.onnx"
lowp info "$T/empty.onnx"
expect empty_model 2 && has empty_model "$T/err" "lowp: " && ok empty_model

if [ -x "$PY" ]; then
    "$PY" -c 'import random,sys; r=random.Random(7); sys.stdout.buffer.write(bytes(r.randrange(256) for _ in range(4096)))' >"$T/random.onnx"
else
    head -c 4096 /dev/urandom >"$T/random.onnx"
fi
lowp info "$T/random.onnx"
expect corrupt_random_model 2 && has corrupt_random_model "$T/err" "$T/random.onnx" &&
    ok corrupt_random_model

if have_mlp truncated_model; then
    size=$(wc -c <"$MLP")
    bad=""
    for n in 1 100 5000 200000 $((size - 100)); do
        head -c "$n" "$MLP" >"$T/trunc.onnx"
        lowp info "$T/trunc.onnx"
        { [ "$rc" = 2 ] && grep -qF "$T/trunc.onnx" "$T/err"; } || bad="$bad $n:exit$rc"
        lowp run "$T/trunc.onnx" -i "$BATCH" -o "$T"
        [ "$rc" = 2 ] || bad="$bad run$n:exit$rc"
    done
    [ -z "$bad" ] && ok truncated_model || fail truncated_model "truncations:$bad"
fi

# ---- info ----

if have_mlp info_text; then
    lowp info "$MLP"
    expect info_text 0 && has info_text "$T/out" "pytorch" && has info_text "$T/out" "ai.onnx 13" &&
        matches info_text "$T/out" '^  input +float32 +\[batch,1,28,28\]$' &&
        matches info_text "$T/out" '^  logits +float32 +\[batch,10\]$' &&
        has info_text "$T/out" "Gemm 3, Relu 2, Flatten 1" && has info_text "$T/out" "235,146" &&
        has info_text "$T/out" "918.5 KB" && has info_text "$T/out" "unsupported ops: none" &&
        ok info_text
fi

if have_mlp info_json && have_numpy info_json; then
    lowp info "$MLP" --json
    if expect info_json 0; then
        if "$PY" - "$T/out" >"$T/py" 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["producer"]["name"] == "pytorch", d["producer"]
assert d["opsets"] == {"ai.onnx": 13}, d["opsets"]
assert d["inputs"] == [{"name": "input", "dtype": "float32", "shape": ["batch", 1, 28, 28]}], d["inputs"]
assert d["outputs"] == [{"name": "logits", "dtype": "float32", "shape": ["batch", 10]}], d["outputs"]
assert d["ops"] == {"Gemm": 3, "Relu": 2, "Flatten": 1}, d["ops"]
assert list(d["ops"]) == ["Gemm", "Relu", "Flatten"], list(d["ops"])
assert d["node_count"] == 6, d["node_count"]
assert d["parameters"] == {"count": 235146, "bytes": 940584}, d["parameters"]
assert d["unsupported_ops"] == [], d["unsupported_ops"]
EOF
        then ok info_json; else fail info_json "$(tail -n 2 "$T/py" | tr '\n' ' ')"; fi
    fi
fi

# A model with an op lowp lacks, an odd output name and an unknown dim, built with onnx.
if have_onnx odd_model; then
    "$PY" - "$T/odd.onnx" <<'EOF'
import sys
from onnx import helper, TensorProto, save
x = helper.make_tensor_value_info("x:0", TensorProto.FLOAT, ["n", None, 3])
y = helper.make_tensor_value_info("out/a:0", TensorProto.FLOAT, None)
z = helper.make_tensor_value_info("z\"q", TensorProto.FLOAT, None)
nodes = [helper.make_node("Relu", ["x:0"], ["out/a:0"]),
         helper.make_node("FancyOp", ["x:0"], ["z\"q"], domain="com.example")]
g = helper.make_graph(nodes, "odd\tgraph", [x], [y, z])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.example", 1)])
save(m, sys.argv[1])
EOF
    lowp info "$T/odd.onnx"
    expect unsupported_op_listed 0 &&
        has unsupported_op_listed "$T/out" "unsupported ops (1): com.example:FancyOp" &&
        matches unsupported_op_listed "$T/out" '^  x:0 +float32 +\[n,\?,3\]$' && ok unsupported_op_listed
    lowp info --json "$T/odd.onnx"
    if expect info_json_escaping 0; then
        if "$PY" - "$T/out" >"$T/py" 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["graph"] == "odd\tgraph", d["graph"]
assert d["inputs"][0]["shape"] == ["n", None, 3], d["inputs"]
assert [o["name"] for o in d["outputs"]] == ["out/a:0", "z\"q"], d["outputs"]
assert d["outputs"][0]["shape"] is None, d["outputs"][0]
assert d["unsupported_ops"] == ["com.example:FancyOp"], d["unsupported_ops"]
assert d["opsets"] == {"ai.onnx": 13, "com.example": 1}, d["opsets"]
EOF
        then ok info_json_escaping; else fail info_json_escaping "$(tail -n 2 "$T/py" | tr '\n' ' ')"; fi
    fi

    # Output names become file names with '/' and ':' replaced (a Relu-only model runs).
    "$PY" - "$T/relu.onnx" "$T/x3.npy" <<'EOF'
import sys
import numpy as np
from onnx import helper, TensorProto, save
x = helper.make_tensor_value_info("x:0", TensorProto.FLOAT, [2, 3])
y = helper.make_tensor_value_info("out/a:0", TensorProto.FLOAT, [2, 3])
g = helper.make_graph([helper.make_node("Relu", ["x:0"], ["out/a:0"])], "g", [x], [y])
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), sys.argv[1])
np.save(sys.argv[2], np.array([[-1, 2, -3], [4, -5, 6]], np.float32))
EOF
    lowp run "$T/relu.onnx" -i "x:0=$T/x3.npy" -o "$T/relu out"
    expect output_name_sanitized 0 && exists output_name_sanitized "$T/relu out/out_a_0.npy" &&
        has output_name_sanitized "$T/out" "out/a:0" &&
        pycheck output_name_sanitized "import numpy as np,sys; a=np.load(sys.argv[1]); assert (a==[[0,2,0],[4,0,6]]).all(), a" \
            "$T/relu out/out_a_0.npy" && ok output_name_sanitized
fi

# ---- run ----

if have_mlp run_mlp && have_numpy run_mlp && [ -f "$GOLD" ]; then
    lowp run "$MLP" -i "$BATCH" -o "$T/o1"
    if expect run_mlp 0 && has run_mlp "$T/out" "logits" && has run_mlp "$T/out" "float32 [8,10]" &&
        has run_mlp "$T/out" "$T/o1/logits.npy"; then
        if "$PY" - "$T/o1/logits.npy" "$GOLD" >"$T/py" 2>&1 <<'EOF'
import sys
import numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert a.dtype == np.float32 and a.shape == (8, 10), (a.dtype, a.shape)
err = np.abs(a - b).max()
assert err <= 1e-4 * max(1.0, np.abs(b).max()), "max abs error %g" % err
assert (a.argmax(1) == b.argmax(1)).all()
EOF
        then ok run_mlp; else fail run_mlp "$(tail -n 2 "$T/py" | tr '\n' ' ')"; fi
    fi
fi

if have_mlp run_named_input; then
    # no -o: the outputs land in the current folder
    mkdir -p "$T/cwd"
    (cd "$T/cwd" && lowp run "$MLP" --input="input=$BATCH" --threads 2 --print; exit $rc); rc=$?
    expect run_named_input 0 && exists run_named_input "$T/cwd/logits.npy" &&
        has run_named_input "$T/out" "./logits.npy" &&
        matches run_named_input "$T/out" '^  \[-?[0-9.]+(e[-+][0-9]+)?, ' && ok run_named_input
fi

if have_mlp run_missing_input; then
    lowp run "$MLP" -o "$T"
    expect run_missing_input 2 && has run_missing_input "$T/err" "input" && ok run_missing_input
fi

if have_mlp run_unknown_input_name; then
    lowp run "$MLP" -i "nosuch=$BATCH" -o "$T"
    expect run_unknown_input_name 2 && has run_unknown_input_name "$T/err" "nosuch" &&
        ok run_unknown_input_name
fi

if have_mlp run_missing_npy; then
    lowp run "$MLP" -i "$T/absent.npy" -o "$T"
    expect run_missing_npy 2 && has run_missing_npy "$T/err" "$T/absent.npy" && ok run_missing_npy
fi

if have_mlp run_malformed_npy; then
    printf '\223NUMPY\001\000\020\000{"descr": <f4}  ' >"$T/bad.npy"
    lowp run "$MLP" -i "$T/bad.npy" -o "$T"
    expect run_malformed_npy 2 && has run_malformed_npy "$T/err" "$T/bad.npy" && ok run_malformed_npy
    head -c 1000 "$BATCH" >"$T/short.npy"
    lowp run "$MLP" -i "$T/short.npy" -o "$T"
    expect run_truncated_npy 2 && has run_truncated_npy "$T/err" "truncated" && ok run_truncated_npy
fi

if have_mlp run_wrong_shape && have_numpy run_wrong_shape; then
    "$PY" -c 'import numpy as np,sys; np.save(sys.argv[1], np.zeros((8,1,28,27), np.float32))' "$T/wrong.npy"
    lowp run "$MLP" -i "input=$T/wrong.npy" -o "$T"
    expect run_wrong_shape 2 && has run_wrong_shape "$T/err" "input" && ok run_wrong_shape
    "$PY" -c 'import numpy as np,sys; np.save(sys.argv[1], np.zeros((8,1,28,28), np.int64))' "$T/wrongtype.npy"
    lowp run "$MLP" -i "input=$T/wrongtype.npy" -o "$T"
    expect run_wrong_dtype 2 && has run_wrong_dtype "$T/err" "input" && ok run_wrong_dtype
fi

# a wrong input name lists the model's inputs (run goes through the library, bench checks itself)
if have_mlp wrong_input_name; then
    lowp run "$MLP" -i "nope=$BATCH" -o "$T"
    expect wrong_input_name 2 && has wrong_input_name "$T/err" "no input named 'nope' (its inputs: 'input')" &&
        lowp bench "$MLP" -i "nope=$BATCH" &&
        expect wrong_input_name 1 && has wrong_input_name "$T/err" "no input named 'nope' (its inputs: 'input')" &&
        ok wrong_input_name
fi

if have_mlp run_input_twice; then
    lowp run "$MLP" -i "$BATCH" -i "input=$BATCH" -o "$T"
    expect run_input_twice 1 && has run_input_twice "$T/err" "twice" && ok run_input_twice
fi

if have_mlp run_outdir_is_a_file; then
    : >"$T/afile"
    lowp run "$MLP" -i "$BATCH" -o "$T/afile"
    expect run_outdir_is_a_file 2 && has run_outdir_is_a_file "$T/err" "$T/afile" &&
        ok run_outdir_is_a_file
fi

finish
