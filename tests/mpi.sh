#!/bin/sh
# mpi.sh BUILD — distributed runs under Open MPI's mpirun on this machine (--oversubscribe: more
# ranks than cores), each against one process: `lowp eval` at 2 and 3 ranks (3: uneven shards,
# and a rank with no batch) prints the single-process value bit for bit for every kind of metric;
# `lowp quantize` writes the same bytes (every calibration algorithm, bias correction; a first
# batch of zeros makes the ranks agree on histogram bases afresh); `lowp tune` writes the same
# history and model; a rank killed mid-tune ends the run with a message and a history that
# --resume finishes with another number of ranks, as one process would; errors on one rank reach
# every rank; parallel trials on rank groups (2 + 1 ranks) and the strategies that propose points
# together (random, exhaustive, bayesian's batches, the tiers of basic, auto and mse_v2) choose as
# one process does. See docs/distributed.md.
SUITE=mpi
. "$(dirname "$0")/lib.sh"
FM=/usr/share/datasets/fashion-mnist

if ! command -v mpirun >/dev/null 2>&1; then
    fail mpirun "mpirun is missing (make deps installs openmpi-bin)"; finish; exit
fi
# root in containers; ASan: Open MPI's own allocations outlive the run
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
case "${ASAN_OPTIONS:-}" in *detect_leaks=1*) export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" ;; esac
# tunes that never pass climb auto's whole recovery ladder: block reconstruction's rung trains
# (400 steps per block by default); 20 keep it to seconds -- the cases compare one process with
# several ranks, not accuracies
export LOWP_RECON_STEPS=20
# mpi NP ARGS... — `mpirun -np NP lowp ARGS`, stdout in $T/out, stderr in $T/err, status in $rc
mpi() {
    np=$1; shift
    timeout 120 mpirun -np "$np" --oversubscribe --bind-to none -x LOWP_RECON_STEPS "$LOWP" "$@" >"$T/out" 2>"$T/err"; rc=$?
}
# the JSON line without its timing
strip() { sed -E 's/"seconds":[0-9.e+-]+,?//' "$1"; }

DATA="--dataset FashionMNIST:$FM --transform Rescale,Normalize=0.2860/0.3530"
if [ ! -d "$FM" ]; then
    fail data "$FM is missing (make deps installs dataset-fashion-mnist)"; finish; exit
fi

# an INT8 model whose outputs differ from FP32's, for compare_label: false metrics
"$LOWP" quantize models/mlp.onnx -o "$T/int8.onnx" --calib "FashionMNIST:$FM" --transform Rescale,Normalize=0.2860/0.3530 --samples 64 -q >"$T/q.out" 2>&1 ||
    fail quantize_for_reference "$(cat "$T/q.out")"

# eval_case NAME ARGS...: one process, then 2 and 3 ranks: the same JSON but for the seconds
eval_case() {
    name=$1; shift
    if ! "$LOWP" eval "$@" --json -q >"$T/one.json" 2>"$T/one.err"; then
        fail "eval_$name" "one process: $(cat "$T/one.err")"; return
    fi
    strip "$T/one.json" >"$T/one.txt"
    for np in 2 3; do
        mpi "$np" eval "$@" --json -q
        strip "$T/out" >"$T/n.txt"
        if [ "$rc" != 0 ]; then fail "eval_${name}_np$np" "exit $rc: $(head -c 400 "$T/err")"; continue; fi
        if cmp -s "$T/one.txt" "$T/n.txt"; then ok "eval_${name}_np$np"
        else fail "eval_${name}_np$np" "$(cat "$T/n.txt") != one process $(cat "$T/one.txt")"; fi
    done
}
# 1000 samples in batches of 64: 16 batches, the last of 40 (3 ranks: 5, 5 and 6 batches)
eval_case topk models/mlp.onnx $DATA --metric topk=1 -b 64 --limit 1000
eval_case top5 "$T/int8.onnx" $DATA --metric topk=5 -b 64 --limit 1000
eval_case accuracy models/mlp.onnx $DATA --metric Accuracy -b 64 --limit 1000
eval_case f1 "$T/int8.onnx" $DATA --metric F1:average=macro -b 64 --limit 1000
eval_case loss "$T/int8.onnx" $DATA --metric Loss -b 64 --limit 1000
for m in MAE MSE RMSE; do
    eval_case "$m" "$T/int8.onnx" $DATA --metric "$m:compare_label=false" --reference models/mlp.onnx -b 64 --limit 1000
done
# two batches over three ranks: one rank scores nothing
eval_case empty_shard models/mlp.onnx $DATA --metric Loss -b 64 --limit 100
# the text form is printed once (rank 0)
mpi 2 eval models/mlp.onnx $DATA --limit 200 -b 50
if [ "$rc" = 0 ] && [ "$(grep -c '^metric   topk' "$T/out")" = 1 ] && grep -q '^samples  200$' "$T/out"; then
    ok eval_text_once; else fail eval_text_once "exit $rc: $(cat "$T/out" "$T/err" | head -c 400)"; fi

# a failure on one rank only (a bad label in the second half) fails every rank with its message
mkdir -p "$T/bad"
python_ok=1
/usr/bin/python3 - "$T/bad" <<'PY' || python_ok=0
import sys, numpy as np
d = sys.argv[1]
np.save(d + "/x.npy", np.zeros((100, 1, 28, 28), np.float32))
y = np.zeros(100, np.int64); y[90] = 42       # not one of the 10 classes: refused, sample 90
np.save(d + "/y.npy", y)
PY
if [ "$python_ok" = 1 ]; then
    mpi 2 eval models/mlp.onnx --dataset "Npy:$T/bad/x.npy:$T/bad/y.npy" -b 10 -q
    if [ "$rc" = 2 ] && grep -q "rank 1: .*sample 90" "$T/err" && [ "$(grep -c 'sample 90' "$T/err")" = 1 ]; then
        ok eval_error_from_one_rank; else fail eval_error_from_one_rank "exit $rc: $(head -c 600 "$T/err")"; fi
fi

# quantize: the same model bytes, calibrated by 1 and by 2 or 3 ranks (200 samples in batches of
# 32: 7 batches, 3 ranks: 2, 2 and 3)
CAL="--calib FashionMNIST:$FM:train=true --transform Rescale,Normalize=0.2860/0.3530 --samples 200 -b 32"
for algo in minmax:2 kl:3 percentile:3 mse:2; do
    np=${algo#*:}; algo=${algo%:*}
    extra=""
    [ "$algo" = kl ] && extra="--bias-correction --act-sym"
    if ! "$LOWP" quantize models/resnet_s.onnx -o "$T/q1.onnx" $CAL --algo "$algo" $extra -q >/dev/null 2>"$T/q1.err"; then
        fail "quantize_$algo" "$(cat "$T/q1.err")"; continue
    fi
    for np in $np; do
        mpi "$np" quantize models/resnet_s.onnx -o "$T/q$np.onnx" $CAL --algo "$algo" $extra -q
        if [ "$rc" = 0 ] && cmp -s "$T/q1.onnx" "$T/q$np.onnx"; then ok "quantize_${algo}_np$np"
        else fail "quantize_${algo}_np$np" "exit $rc, models differ: $(head -c 300 "$T/err")"; fi
    done
done
# every tensor all zeros in the first batch: no histogram base is known from it, the ranks find
# theirs apart, disagree, and calibrate again from the agreed ones
if /usr/bin/python3 - "$T/bad" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(5)
x = rng.standard_normal((96, 1, 28, 28)).astype(np.float32)
x[:32] = 0
np.save(sys.argv[1] + "/z.npy", x)
PY
then
    ZCAL="--calib Npy:$T/bad/z.npy --samples 96 -b 32 --algo kl"
    "$LOWP" quantize models/mlp.onnx -o "$T/z1.onnx" $ZCAL -q >/dev/null 2>"$T/z1.err"
    mpi 3 quantize models/mlp.onnx -o "$T/z3.onnx" $ZCAL -q
    if [ "$rc" = 0 ] && cmp -s "$T/z1.onnx" "$T/z3.onnx"; then ok quantize_rebase_np3
    else fail quantize_rebase_np3 "exit $rc: $(head -c 300 "$T/err" "$T/z1.err")"; fi
fi

# tune: the same history (but timings) and the same model from 1, 2 and 3 ranks (random announces
# its points: the ranks evaluate them in parallel, one each)
TUNE="tune models/mlp.onnx --calib FashionMNIST:$FM:train=true --eval FashionMNIST:$FM -T Rescale,Normalize=0.2860/0.3530
      --tolerance 0.3% -s random --max-trials 5 --seed 3 --limit 1000 -b 64 -q"
# history_same A B: the trial lines of two histories agree but for seconds and latency
history_same() {
    /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
def trials(p):
    return [{k: v for k, v in json.loads(l).items() if k not in ("seconds", "latency_ms")}
            for l in open(p) if l.startswith('{"trial"')]
a, b = trials(sys.argv[1]), trials(sys.argv[2])
print(f"{len(a)} and {len(b)} trials")
sys.exit(0 if a == b and a else 1)
PY
}
if "$LOWP" $TUNE -w "$T/t1" -o "$T/t1/out.onnx" >/dev/null 2>"$T/t1.err"; rc1=$?; [ $rc1 = 0 ] || [ $rc1 = 3 ]; then
    for np in 2 3; do
        mpi "$np" $TUNE -w "$T/t$np" -o "$T/t$np/out.onnx"
        if [ "$rc" = "$rc1" ] && msg=$(history_same "$T/t1/history.jsonl" "$T/t$np/history.jsonl") &&
           cmp -s "$T/t1/out.onnx" "$T/t$np/out.onnx" && [ -f "$T/t$np/report.md" ]; then ok "tune_np$np ($msg)"
        else fail "tune_np$np" "exit $rc (one process: $rc1), $msg: $(head -c 300 "$T/err")"; fi
    done
    # rank 1 dies (SIGKILL, by its own hand: LOWP_TEST_KILL, so that the moment does not depend
    # on the machine's load) once it has recorded two trials: every rank stops, rank 0 says what
    # is kept; --resume with two ranks ends as the uninterrupted single process did
    LOWP_TEST_KILL=1:2 timeout 120 mpirun -np 3 --oversubscribe --bind-to none -x LOWP_TEST_KILL "$LOWP" $TUNE \
        -w "$T/tk" -o "$T/tk/out.onnx" >"$T/k.out" 2>"$T/k.err"; rck=$?
    kept=$(grep -c '^{"trial"' "$T/tk/history.jsonl")
    if [ "$rck" != 0 ] && grep -q "stopped by mpirun" "$T/k.err" && grep -q "rank 1 .*signal 9" "$T/k.err" &&
       grep -q "history.jsonl keeps every finished trial" "$T/k.err" && [ "$kept" -ge 2 ] && [ "$kept" -lt 5 ]; then
        ok "tune_rank_killed (exit $rck, $kept of 5 trials kept)"
    else fail tune_rank_killed "exit $rck, $kept trials: $(head -c 600 "$T/k.err")"; fi
    mpi 2 $TUNE -w "$T/tk" -o "$T/tk/out.onnx" --resume
    if [ "$rc" = "$rc1" ] && msg=$(history_same "$T/t1/history.jsonl" "$T/tk/history.jsonl") &&
       cmp -s "$T/t1/out.onnx" "$T/tk/out.onnx"; then ok "tune_resume_np2 ($msg)"
    else fail tune_resume_np2 "exit $rc, $msg: $(head -c 300 "$T/err")"; fi
    # exhaustive announces its points too: 3 ranks evaluate 3 at a time, same history and model
    EX=$(echo "$TUNE" | sed 's/-s random/-s exhaustive/')
    "$LOWP" $EX -w "$T/x1" -o "$T/x1/out.onnx" >/dev/null 2>"$T/x1.err"; rcx=$?
    mpi 3 $EX -w "$T/x3" -o "$T/x3/out.onnx"
    if [ "$rc" = "$rcx" ] && msg=$(history_same "$T/x1/history.jsonl" "$T/x3/history.jsonl") &&
       cmp -s "$T/x1/out.onnx" "$T/x3/out.onnx"; then ok "tune_exhaustive_np3 ($msg)"
    else fail tune_exhaustive_np3 "exit $rc (one process: $rcx), $msg: $(head -c 300 "$T/err" "$T/x1.err")"; fi
    # rank groups: 3 ranks, 2 per trial -> groups of 2 and 1; random's pairs of points are
    # evaluated a group each, sharded within the group of 2 (uneven shards)
    mpi 3 $(echo "$TUNE" | sed 's/ -q$//') --ranks-per-trial 2 -w "$T/g3" -o "$T/g3/out.onnx"
    if [ "$rc" = "$rc1" ] && msg=$(history_same "$T/t1/history.jsonl" "$T/g3/history.jsonl") &&
       cmp -s "$T/t1/out.onnx" "$T/g3/out.onnx" && grep -q "at once on 2 rank groups (2+1 ranks)" "$T/err"; then
        ok "tune_rank_groups_np3 ($msg)"
    else fail tune_rank_groups_np3 "exit $rc (one process: $rc1), $msg: $(head -c 600 "$T/err")"; fi
else
    fail tune_one_process "$(cat "$T/t1.err")"
fi

# strategy_case NAME NP "ONE-PROCESS ARGS" "MPI ARGS": a tune that never meets its target (it
# demands an improvement), so that it walks its tiers until the budget: one process, then NP ranks
# (MODEL: the MLP, 3 tunable ops; resnet_s's 10 give bayesian a space where batches change its
# choices)
STRICT="--calib FashionMNIST:$FM:train=true --eval FashionMNIST:$FM -T Rescale,Normalize=0.2860/0.3530
        --tolerance -0.5% --seed 3 --limit 500 -b 50"
MODEL=models/mlp.onnx
strategy_case() {
    name=$1 np=$2 one=$3 many=$4
    rm -rf "$T/s1" "$T/sn"
    "$LOWP" tune $MODEL $STRICT $one -w "$T/s1" -o "$T/s1/out.onnx" -q >/dev/null 2>"$T/s1.err"; rcs=$?
    mpi "$np" tune $MODEL $STRICT $many -w "$T/sn" -o "$T/sn/out.onnx"
    if [ "$rcs" = 3 ] && [ "$rc" = 3 ] && msg=$(history_same "$T/s1/history.jsonl" "$T/sn/history.jsonl") &&
       cmp -s "$T/s1/out.onnx" "$T/sn/out.onnx" && grep -q "points evaluated at once" "$T/err"; then
        ok "${name}_np$np ($msg)"
    else fail "${name}_np$np" "exit $rc (one process: $rcs), $msg: $(head -c 400 "$T/err" "$T/s1.err")"; fi
}
# bayesian proposes batches (kriging believer): 2 ranks propose 2 at a time by default, which one
# process does with --trial-batch 2; 3 ranks with --trial-batch 2: groups of 2 and 1
MODEL=models/resnet_s.onnx
strategy_case tune_bayesian_batch 2 "-s bayesian --max-trials 8 --trial-batch 2" "-s bayesian --max-trials 8"
strategy_case tune_bayesian_batch 3 "-s bayesian --max-trials 8 --trial-batch 2" "-s bayesian --max-trials 8 --trial-batch 2"
MODEL=models/mlp.onnx
# basic's model-wise, per-op and accumulated tiers, auto's growing fallback and mse_v2's phase A:
# their points do not depend on each other's results, so they are evaluated together
strategy_case tune_basic 3 "-s basic --max-trials 26" "-s basic --max-trials 26 --ranks-per-trial 2"
strategy_case tune_auto 2 "-s auto --max-trials 8" "-s auto --max-trials 8"
strategy_case tune_mse_v2 3 "-s mse_v2 --max-trials 8" "-s mse_v2 --max-trials 8"

# the Python package: lowp.tune(..., comm=mpi4py's COMM_WORLD) = one process. py_case NAME NP
# METRIC [KEY=VALUE...]: the tune of tune.py at one process and at NP ranks: same result, history
# and model. OrderedTop1, registered from Python, has no save/merge: the ranks' outputs and
# labels go to rank 0, which feeds them to the one metric in batch order; its value depends on
# the order of the updates (a running checksum of the labels), so only one process's order
# reproduces it.
if /usr/bin/python3 -c "import mpi4py" 2>/dev/null; then
    case "$BUILD" in /*) LIB="$BUILD/liblowp.so" ;; *) LIB="$ROOT/$BUILD/liblowp.so" ;; esac
    cat >"$T/tune.py" <<PY
import sys
import numpy as np
import lowp

@lowp.register_metric("OrderedTop1")
class OrderedTop1:
    def __init__(self):
        self.reset()
    def reset(self):
        self.right = self.total = self.h = 0
    def update(self, preds, labels):
        self.right += int((np.argmax(preds, axis=1) == labels).sum())
        self.total += len(labels)
        for y in labels.tolist():
            self.h = (self.h * 31 + int(y) + 1) % 1000003
    def result(self):
        return self.right / self.total + self.h * 1e-12

comm = None
if sys.argv[2] == "mpi":
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
notes = []   # progress (rank 0): how parallel points were evaluated
kw = dict(strategy="random", max_trials=3, progress=lambda p: p["phase"] == "parallel" and notes.append(p["note"]))
kw.update((k, int(v) if v.isdigit() else v) for k, v in (a.split("=", 1) for a in sys.argv[4:]))
fm = "FashionMNIST:$FM"
model, s = lowp.tune("models/mlp.onnx", calib=fm + ":train=true", eval=fm, transform="Rescale,Normalize=0.2860/0.3530",
                     metric=sys.argv[3], tolerance=0.003, seed=3, sampling_size=64, batch_size=64,
                     workspace=sys.argv[1], output=sys.argv[1] + "/out.onnx", comm=comm, **kw)
if not comm or comm.Get_rank() == 0:
    with open(sys.argv[1] + ".parallel", "w") as f:
        f.write("\n".join(notes))
# each rank's summary in a file of its own (mpirun may interleave the ranks' stdout mid-line)
with open(f"{sys.argv[1]}.result.{comm.Get_rank() if comm else 0}", "w") as f:
    print(repr(s.best), s.trials, s.best_trial, file=f)
PY
    python_env "$LIB"
    py_case() {
        name=$1 np=$2 metric=$3; shift 3
        rm -rf "$T/p1" "$T/pn" "$T"/p1.result.* "$T"/pn.result.* "$T/pn.parallel"
        /usr/bin/python3 "$T/tune.py" "$T/p1" one "$metric" "$@" >"$T/p1.out" 2>"$T/p1.err"; rcp=$?
        timeout 120 mpirun -np "$np" --oversubscribe --bind-to none /usr/bin/python3 "$T/tune.py" "$T/pn" mpi "$metric" "$@" \
            >"$T/pn.out" 2>"$T/pn.err"; rc=$?
        # every rank returned the summary one process did (and progress showed $expect)
        if [ $rcp = 0 ] && [ $rc = 0 ] && [ "$(ls "$T"/pn.result.* | wc -l)" = "$np" ] &&
           { [ -z "$expect" ] || grep -q "$expect" "$T/pn.parallel"; } &&
           [ "$(cat "$T"/pn.result.* | sort -u)" = "$(cat "$T/p1.result.0")" ] &&
           msg=$(history_same "$T/p1/history.jsonl" "$T/pn/history.jsonl") && cmp -s "$T/p1/out.onnx" "$T/pn/out.onnx"; then
            ok "${name}_np$np ($msg)"
        else fail "${name}_np$np" "exit $rcp/$rc: $(head -c 300 "$T/p1.err") $(head -c 300 "$T/pn.err") $(cat "$T"/p1.result.* "$T"/pn.result.*)"; fi
    }
    expect=""
    py_case python_tune 2 topk=1
    py_case python_metric_without_merge 2 OrderedTop1
    py_case python_metric_without_merge 3 OrderedTop1
    # rank groups over mpi4py's Split: groups of 2 and 1
    expect="at once on 2 rank groups (2+1 ranks)"
    py_case python_rank_groups 3 topk=1 ranks_per_trial=2
else
    fail python_tune_np2 "mpi4py is missing (python3-mpi4py)"
fi

finish
