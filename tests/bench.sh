#!/bin/sh
# bench.sh BUILD — tests of `lowp bench` on models/mlp.onnx: the JSON report and its invariants,
# --batch, -i, usage errors, a missing model, multi-instance mode.
# Prints "ok NAME" / "FAIL NAME: why" / "skip NAME: why" per case and a final
# "bench.sh: N passed, N failed" line; exits non-zero on any failure. Timings are checked for
# consistency only (p50 <= p90 <= p99, throughput ~ batch / latency), never against targets.
SUITE=bench
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3   # only the json module is needed
MLP="$ROOT/models/mlp.onnx"
BATCH="$ROOT/models/fixed_batch_input.npy"
QUICK="--warmup 2 --iters 20 --quiet"

# jcheck NAME CODE — runs python CODE with `r` = the JSON in $T/out; a failed assert fails NAME.
jcheck() {
    "$PY" -c "
import json, sys
r = json.load(open(sys.argv[1]))
def near(a, b, f): return b / f <= a <= b * f
$2
" "$T/out" >"$T/py" 2>&1 && return 0
    fail "$1" "$(tail -n 3 "$T/py" | tr '\n' ' ')"
    return 1
}

# The invariants of every report: fields present, percentiles ordered, throughput consistent
# with the latencies (the timed loop's wall time also holds the freeing of outputs, hence the
# generous factor).
SANE='
for k in ("model", "batch", "threads", "precision", "warmup", "iterations", "instances",
          "inputs", "latency_ms", "throughput", "peak_rss_bytes", "arena_bytes", "per_instance"):
    assert k in r, "missing key " + k
l = r["latency_ms"]
for k in ("p50", "p90", "p99", "mean", "min", "max"):
    assert isinstance(l[k], (int, float)) and l[k] > 0, (k, l[k])
assert l["min"] <= l["p50"] <= l["p90"] <= l["p99"] <= l["max"], l
assert r["peak_rss_bytes"] > 1 << 20, r["peak_rss_bytes"]
assert r["arena_bytes"] is None or r["arena_bytes"] >= 0
assert r["precision"] == "fp32"
assert len(r["per_instance"]) == r["instances"]
tput = sum(r["batch"] * 1000.0 / i["latency_ms"]["mean"] for i in r["per_instance"])
assert near(r["throughput"], tput, 3), (r["throughput"], tput)
'

if [ ! -x "$LOWP" ]; then
    echo "FAIL bench.sh: $LOWP is not built"
    echo "bench.sh: 0 passed, 1 failed"
    exit 1
fi
if [ ! -f "$MLP" ]; then
    echo "skip bench.sh: $MLP absent"
    echo "bench.sh: 0 passed, 0 failed"
    exit 0
fi

# ---- reports ----

lowp bench "$MLP" --json $QUICK
expect json 0 && jcheck json "$SANE
assert r['batch'] == 1 and r['iterations'] == 20 and r['warmup'] == 2 and r['instances'] == 1
assert r['inputs'][0]['name'] == 'input' and r['inputs'][0]['shape'] == [1, 1, 28, 28]
assert r['inputs'][0]['source'] == 'random'
assert r['threads'] >= 1" && ok json

lowp bench "$MLP" --json --batch 16 --threads 1 $QUICK
expect batch 0 && jcheck batch "$SANE
assert r['batch'] == 16 and r['threads'] == 1
assert r['inputs'][0]['shape'] == [16, 1, 28, 28]" && ok batch

lowp bench "$MLP" --json --shape input=4,1,28,28 $QUICK
expect shape 0 && jcheck shape "$SANE
assert r['batch'] == 4 and r['inputs'][0]['shape'] == [4, 1, 28, 28]" && ok shape

if [ -f "$BATCH" ]; then
    lowp bench "$MLP" --json -i "input=$BATCH" $QUICK
    expect input_file 0 && jcheck input_file "$SANE
assert r['batch'] == 8 and r['inputs'][0]['shape'] == [8, 1, 28, 28]
assert r['inputs'][0]['source'].endswith('fixed_batch_input.npy')" && ok input_file
else
    skip input_file "$BATCH absent"
fi

lowp bench "$MLP" $QUICK
expect human 0 && has human "$T/out" "p50" && has human "$T/out" "p99" &&
    has human "$T/out" "samples/s" && has human "$T/out" "peak RSS" && ok human

# Progress goes to stderr only: with --json, stdout stays one JSON object.
lowp bench "$MLP" --json --warmup 1 --iters 5
expect progress_stdout 0 && jcheck progress_stdout "$SANE" && ok progress_stdout

# ---- --profile: the per-step profile's structure (its timings are checked against each other
# by tests/test_profile.c, never against targets) ----

RESNET_S="$ROOT/models/resnet_s.onnx"
PROFILE='
p = r["profile"]
for k in ("runs", "n_steps", "run_ms", "steps_ms", "reorders", "reorder_ms", "steps", "by_op"):
    assert k in p, "missing key " + k
assert p["runs"] == r["iterations"], (p["runs"], r["iterations"])
steps = p["steps"]
assert len(steps) == p["n_steps"] > 0
assert sorted(s["step"] for s in steps) == list(range(p["n_steps"]))
ms = [s["ms"] for s in steps]
assert ms == sorted(ms, reverse=True), "steps not sorted by time"
for s in steps:
    for k in ("ms", "share", "kernel", "primitive", "impl", "reorders", "reorder_ms", "ops", "nodes"):
        assert k in s, "step misses " + k
    assert s["ms"] >= 0 and 0 <= s["reorder_ms"] and s["reorders"] >= 0
    assert abs(s["share"] - s["ms"] / p["run_ms"]) < 1e-9
    assert s["kernel"] in ("dnnl", "dnnl_rnn", "reference", "view", "control"), s["kernel"]
    assert len(s["nodes"]) == len(s["ops"].split("+")) >= 1
# the totals are the sums of the per-step medians (to rounding)
assert abs(sum(ms) - p["steps_ms"]) <= 1e-9 * max(1, p["steps_ms"])
assert sum(s["reorders"] for s in steps) == p["reorders"]
assert abs(sum(s["reorder_ms"] for s in steps) - p["reorder_ms"]) <= 1e-9 * max(1, p["reorder_ms"])
# by_op regroups the same steps
assert sum(o["steps"] for o in p["by_op"]) == p["n_steps"]
assert abs(sum(o["ms"] for o in p["by_op"]) - p["steps_ms"]) <= 1e-9 * max(1, p["steps_ms"])
assert sum(o["reorders"] for o in p["by_op"]) == p["reorders"]
'
lowp bench "$RESNET_S" --profile --json $QUICK
expect profile_json 0 && jcheck profile_json "$SANE$PROFILE
kinds = {s['primitive'] for s in p['steps'] if s['kernel'] == 'dnnl'}
assert any('convolution' in k for k in kinds), kinds
assert all(s['impl'] for s in p['steps'] if s['kernel'] == 'dnnl'), 'a oneDNN step without its implementation'
assert p['reorders'] > 0, 'resnet_s reorders at its Winograd conv and pooling'" && ok profile_json

LOWP_KERNELS=reference lowp bench "$MLP" --profile --json $QUICK
expect profile_reference 0 && jcheck profile_reference "$SANE$PROFILE
assert {s['primitive'] for s in p['steps']} <= {'reference', 'view'}, p['steps']
assert p['reorders'] == 0" && ok profile_reference

lowp bench "$RESNET_S" --profile $QUICK
expect profile_text 0 && has profile_text "$T/out" "profiled runs" && has profile_text "$T/out" "convolution" &&
    has profile_text "$T/out" "op (leading the step)" && ok profile_text

lowp bench "$MLP" --profile --instances 2 --cores-per-instance 1 $QUICK
expect profile_instances 1 && has profile_instances "$T/err" "--profile" && ok profile_instances

# ---- usage and input errors ----

bad=""
for args in "--bogus" "--batch 0" "--batch x" "--iters 0" "--warmup -1" "--threads x" \
            "--precision fp16" "--shape nosuch=1,2" "--shape input" "--instances 0" \
            "--cores-per-instance 2 --threads 1" "-i nosuch=$BATCH" "--iters"; do
    # shellcheck disable=SC2086
    lowp bench "$MLP" $args
    [ "$rc" = 1 ] && grep -q "lowp bench:" "$T/err" || bad="$bad [$args: exit $rc]"
done
lowp bench
[ "$rc" = 1 ] || bad="$bad [no model: exit $rc]"
[ -z "$bad" ] && ok usage_errors || fail usage_errors "$bad"

lowp bench "$T/nosuch.onnx" $QUICK
expect missing_model 2 && has missing_model "$T/err" "nosuch.onnx" && ok missing_model

printf 'not a model' >"$T/bad.onnx"
lowp bench "$T/bad.onnx" $QUICK
expect bad_model 2 && ok bad_model

lowp bench "$MLP" --shape input=1,1,28 $QUICK
expect wrong_shape 2 && has wrong_shape "$T/err" "input" && ok wrong_shape

# bf16 runs once the engine has it, and is refused with a message until then.
lowp bench "$MLP" --precision bf16 --json $QUICK
if [ "$rc" = 0 ]; then
    jcheck bf16 "assert r['precision'] == 'bf16'" && ok bf16
else
    expect bf16 2 && has bf16 "$T/err" "bf16" && ok bf16
fi

# ---- multi-instance ----

ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
if [ "$ncpu" -ge 2 ]; then
    lowp bench "$MLP" --json --instances 2 --cores-per-instance 1 $QUICK
    expect instances 0 && jcheck instances "$SANE
assert r['instances'] == 2 and r['cores_per_instance'] == 1 and len(r['per_instance']) == 2
c0, c1 = (i['cores'] for i in r['per_instance'])
assert len(c0) == 1 and len(c1) == 1 and c0 != c1, (c0, c1)
assert all(i['threads'] == 1 and i['throughput'] > 0 for i in r['per_instance'])
assert near(r['throughput'], sum(i['throughput'] for i in r['per_instance']), 1.001)" && ok instances

    lowp bench "$MLP" --instances 2 --cores-per-instance 1 $QUICK
    expect instances_human 0 && has instances_human "$T/out" "instance 1" && ok instances_human

    # A failing instance fails the run with its status, and no instance is left waiting.
    lowp bench "$MLP" --instances 2 --shape input=1,1,28 $QUICK
    expect instances_fail 2 && ok instances_fail
else
    skip instances "one CPU online"
fi
# LPOT's benchmark mode from a configuration's evaluation.performance: warmup, iteration, configs
# and the dataloader's first batch (batch_size 4) as the input; the command line wins
sed -e 's/    iteration: 100/    iteration: 3/' -e 's/      cores_per_instance: 2/      cores_per_instance: 1/' \
    -e '/^  performance:/,/^tuning:/s/      batch_size: 1/      batch_size: 4/' examples/mlp.yaml >"$T/perf.yaml"
lowp bench "$MLP" --config "$T/perf.yaml" --json -q
expect config_mode 0 && jcheck config_mode "$SANE
assert r['iterations'] == 3 and r['warmup'] == 5 and r['instances'] == 1 and r['cores_per_instance'] == 1, r
assert r['inputs'][0]['shape'] == [4, 1, 28, 28], r['inputs']
assert r['inputs'][0]['source'] == 'evaluation.performance.dataloader, first batch', r['inputs']" && ok config_mode
lowp bench "$MLP" --config "$T/perf.yaml" --iters 2 --warmup 1 --json -q
expect config_cli_wins 0 && jcheck config_cli_wins "$SANE
assert r['iterations'] == 2 and r['warmup'] == 1, r" && ok config_cli_wins
sed 's/      num_of_instance: 1/      num_of_instance: 1\n      inter_num_of_threads: 2/' "$T/perf.yaml" >"$T/perf2.yaml"
lowp bench "$MLP" --config "$T/perf2.yaml" -q
expect config_inter_threads 2 && has config_inter_threads "$T/err" "inter_num_of_threads: lowp runs one op at a time" &&
    ok config_inter_threads

lowp bench "$MLP" --instances $((ncpu + 1)) --cores-per-instance 1 $QUICK
expect too_many_instances 1 && has too_many_instances "$T/err" "CPUs" && ok too_many_instances

finish
