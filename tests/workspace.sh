#!/bin/sh
# workspace.sh BUILD — a tuning workspace under attack: history files in every state a kill or a
# full disk can leave (empty, header cut short, header only, last line cut short, hostile lines),
# real SIGKILLs at random moments of a tune, two tunes on one workspace at once, a workspace
# path near PATH_MAX, temporaries of dead processes left next to outputs, and an op_wise that
# keeps every op FP32 (tune and quantize). Every hostile input is built here.
SUITE=workspace
. "$(dirname "$0")/lib.sh"
FM=/usr/share/datasets/fashion-mnist
if [ ! -d "$FM" ]; then
    skip workspace.sh "no Fashion-MNIST"; finish; exit
fi
DATA="--calib FashionMNIST:$FM:train=true --eval FashionMNIST:$FM -T Rescale,Normalize=0.2860/0.3530"
# An impossible target (exit 3) so that every run does all its trials; 6 trials of the MLP.
ARGS="models/mlp.onnx $DATA --tolerance=-50% -n 100 -s random --max-trials 6 --seed 11 -q"
tune() { ws=$1; shift; "$LOWP" tune $ARGS -w "$ws" -o "$ws/out.onnx" "$@" >"$T/out" 2>"$T/err"; rc=$?; }
trials() { n=$(grep -c '"trial"' "$1" 2>/dev/null); echo "${n:-0}"; }
strip() { LC_ALL=C sed -E 's/"(seconds|latency_ms)":[^,}]*,?//g' "$1"; }

# the reference: an uninterrupted run
tune "$T/ref"
if expect reference 3 && [ "$(trials "$T/ref/history.jsonl")" = 6 ]; then ok reference; fi
REF="$T/ref/history.jsonl"

# same_as_ref NAME WS [REFERENCE_WS] — the resumed workspace ends like the uninterrupted run
same_as_ref() {
    r=${3:-$T/ref}
    if [ "$(strip "$r/history.jsonl")" = "$(strip "$2/history.jsonl" | grep -aE '^\{"(trial|lowp_tune_history)".*\}$')" ] &&
       cmp -s "$r/best_recipe.json" "$2/best_recipe.json"; then
        return 0
    fi
    strip "$r/history.jsonl" >"$T/a"; strip "$2/history.jsonl" >"$T/b"
    fail "$1" "history differs from the uninterrupted run: $(diff "$T/a" "$T/b" 2>&1 | head -c 300)"
    return 1
}

# every state a kill or a full disk can leave the history in, then --resume (twice: the
# resumed file must itself resume)
head -n 1 "$REF" >"$T/header"
head -n 4 "$REF" >"$T/four"
make_state() { # NAME -> $T/st_NAME/history.jsonl
    d="$T/st_$1"; mkdir -p "$d"; h="$d/history.jsonl"
    case $1 in
    empty) : >"$h" ;;
    header_cut) head -c 30 "$T/header" >"$h" ;;
    header_no_newline) tr -d '\n' <"$T/header" >"$h" ;;
    header_only) cp "$T/header" "$h" ;;
    last_line_cut) cp "$T/four" "$h"; sed -n 5p "$REF" | head -c 40 >>"$h" ;;
    last_line_no_newline) cp "$T/four" "$h"; sed -n 5p "$REF" | tr -d '\n' >>"$h" ;;
    hostile_lines) { cat "$T/four"; printf '[1]: 2\n{[1]: 2, "key": "x"}\n? {a: 1}\n: 2\n*alias\n---\n\0\n{"key": {"a": 1}}\n'; } >"$h" ;;
    esac
}
for state in empty header_cut header_no_newline header_only last_line_cut last_line_no_newline hostile_lines; do
    make_state $state
    tune "$T/st_$state" --resume
    rc1=$rc
    tune "$T/st_$state" --resume
    if [ "$rc1" = 3 ] && expect "resume_$state" 3 && same_as_ref "resume_$state" "$T/st_$state"; then
        ok "resume_$state"
    elif [ "$rc1" != 3 ]; then
        fail "resume_$state" "first resume exit $rc1: $(head -c 300 "$T/err")"
    fi
done

# a complete first line that is not a header: someone else's file, refused (not overwritten)
mkdir -p "$T/foreign"; printf '[1]: 2\n' >"$T/foreign/history.jsonl"
tune "$T/foreign" --resume
if expect foreign_history_refused 2 && has foreign_history_refused "$T/err" "history.jsonl: line 1: not a lowp tuning history" &&
   [ "$(cat "$T/foreign/history.jsonl")" = "[1]: 2" ]; then
    ok foreign_history_refused
fi

# real SIGKILLs at random moments (a bounded number), resuming after each, then to the end
W="$T/killed"; kills=0; seed=$$
i=0
while [ $i -lt 8 ]; do
    i=$((i + 1))
    delay=$(awk -v s="$seed" -v i="$i" 'BEGIN { srand(s + i); printf "%.2f", rand() * 1.5 }')
    "$LOWP" tune $ARGS -w "$W" -o "$W/out.onnx" --resume >/dev/null 2>"$T/kill.err" &
    pid=$!
    sleep "$delay"
    kill -9 $pid 2>/dev/null && kills=$((kills + 1))
    wait $pid 2>/dev/null
done
tune "$W" --resume
if expect "random_kills($kills)" 3 && same_as_ref "random_kills($kills)" "$W"; then ok "random_kills($kills)"; fi

# a full disk at every point of a tune, simulated with a file-size limit (writes fail with EFBIG
# as they would with ENOSPC): 0 blocks fails the header, then each run gets a little further
# (history lines, then the model); then a resume without the limit ends like an uninterrupted
# run. The data are .npy files (the gzip'ed IDX reader's temporary copy would hit the limit first).
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    /usr/bin/python3 - "$T" <<'PY'
import gzip, sys, numpy as np
fm, t = '/usr/share/datasets/fashion-mnist', sys.argv[1]
x = np.frombuffer(gzip.open(fm + '/t10k-images-idx3-ubyte.gz').read()[16:], np.uint8)[:200 * 784]
y = np.frombuffer(gzip.open(fm + '/t10k-labels-idx1-ubyte.gz').read()[8:], np.uint8)[:200]
np.save(t + '/x.npy', ((x.reshape(200, 1, 28, 28) / 255.0 - 0.2860) / 0.3530).astype(np.float32))
np.save(t + '/y.npy', y.astype(np.int64))
PY
    NARGS="models/mlp.onnx --calib Npy:$T/x.npy --eval Npy:$T/x.npy:labels=$T/y.npy --metric topk=1 --tolerance=-50% -n 100 -s random --max-trials 6 --seed 11 -q"
    "$LOWP" tune $NARGS -w "$T/npref" -o "$T/npref/out.onnx" >/dev/null 2>&1
    W="$T/full"; rcs=""; why=""
    for blocks in 0 1 2 3 4 8; do
        # stderr through a pipe: a file would be under the limit too
        err=$( (trap '' XFSZ; ulimit -f $blocks; exec "$LOWP" tune $NARGS -w "$W" -o "$W/out.onnx" --resume 2>&1 >/dev/null); echo "exit $?")
        rcs="$rcs${err##*exit }"
        case $err in *"cannot write: File too large"*) ;; *) why="$why [$blocks: $(echo "$err" | head -c 150)]" ;; esac
    done
    "$LOWP" tune $NARGS -w "$W" -o "$W/out.onnx" --resume >/dev/null 2>"$T/err"; rc=$?
    if expect full_disk 3 && same_as_ref full_disk "$W" "$T/npref"; then
        if [ "$rcs" = 222222 ] && [ -z "$why" ] && ! ls "$W" | grep -q '\.tmp\.'; then
            ok full_disk
        else
            fail full_disk "limited runs exited $rcs;$why; files: $(ls "$W" | tr '\n' ' ')"
        fi
    fi
else
    skip full_disk "/usr/bin/python3 with numpy absent"
fi

# two tunes on one workspace: the second is refused while the first runs, naming it; the
# first's history is whole. The first is held at its second trial (its scorer waits for
# $T/release, at most 60 s) until both other tunes have tried, so a fast machine cannot finish
# it before they start. Its scores (FP32 0.90, trials 0.5) never meet the target: 40 trials.
W="$T/locked"
cat >"$T/hold.sh" <<SH
#!/bin/sh
if [ "\$LOWP_TRIAL" = 2 ]; then
    i=0; while [ ! -e "$T/release" ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i + 1)); done
fi
[ "\$LOWP_TRIAL" = 0 ] && echo 0.90 || echo 0.5
SH
chmod +x "$T/hold.sh"
"$LOWP" tune models/mlp.onnx --calib FashionMNIST:$FM:train=true -T Rescale,Normalize=0.2860/0.3530 \
    --eval-cmd "$T/hold.sh {model}" --tolerance=-50% -n 100 -s random --max-trials 40 --seed 5 -q \
    -w "$W" -o "$W/out.onnx" >/dev/null 2>"$T/first.err" &
first=$!
i=0
while [ $i -lt 300 ] && [ "$(trials "$W/history.jsonl")" -lt 1 ]; do sleep 0.05; i=$((i + 1)); done
tune "$W"
rc2=$rc
tune "$W" --resume
rc3=$rc
touch "$T/release"
wait $first
rc1=$?
bad_lines=$(grep -cv '^{.*}$' "$W/history.jsonl")
if [ "$rc2" = 2 ] && [ "$rc3" = 2 ] && has lock "$T/err" "the workspace is in use by another tune (pid $first on " &&
   has lock "$T/err" ", started 20" && [ "$rc1" = 3 ] && [ "$(trials "$W/history.jsonl")" = 40 ] && [ "$bad_lines" = 0 ]; then
    ok lock
else
    fail lock "second exit $rc2/$rc3, first $rc1, $(trials "$W/history.jsonl") trials, $bad_lines bad lines: $(head -c 200 "$T/err")"
fi
# the lock dies with its holder: after a SIGKILL the workspace is usable at once
"$LOWP" tune $ARGS -w "$W" -o "$W/out.onnx" >/dev/null 2>&1 &
pid=$!
i=0
while [ $i -lt 300 ] && ! grep -q "pid $pid " "$W/lock" 2>/dev/null; do sleep 0.05; i=$((i + 1)); done
kill -9 $pid; wait $pid 2>/dev/null
tune "$W"
if expect lock_released_by_kill 3; then ok lock_released_by_kill; fi

# a workspace path near PATH_MAX (4096): 15 folders of 250 characters; every file lands in it
long="$T"
n250=$(printf '%0250d' 0)
while [ ${#long} -lt 3790 ]; do long="$long/$n250"; done
tune "$long"
if expect long_path 3 && [ -s "$long/history.jsonl" ] && [ -s "$long/best_recipe.json" ] && [ -s "$long/report.md" ] &&
   [ -s "$long/report.html" ] && [ -s "$long/out.onnx" ] && [ "$(trials "$long/history.jsonl")" = 6 ]; then
    ok "long_path(${#long})"
else
    fail long_path "files missing in the ${#long}-character workspace"
fi
# ... and one past it is refused with a message naming the reason
longer="$long/$n250/$n250"
tune "$longer"
if expect too_long_path 2 && has too_long_path "$T/err" "File name too long"; then ok too_long_path; fi

# temporaries of dead processes are removed at the next write of the same file; those of live
# processes and files that only look similar are left alone
W="$T/stale"; mkdir -p "$W"
sh -c 'exit 0' & dead=$!; wait $dead
for f in best_recipe.json report.md out.onnx; do
    : >"$W/$f.tmp.$dead"; : >"$W/$f.tmp.$dead.3"
done
: >"$W/report.md.tmp.$$"; : >"$W/report.md.tmp.x$dead"; : >"$W/other.tmp.$dead"
tune "$W"
left=$(ls "$W" | grep -c "\.tmp\.$dead")
if expect stale_temporaries 3 && [ "$left" = 1 ] && [ -e "$W/report.md.tmp.$$" ] && [ -e "$W/report.md.tmp.x$dead" ] &&
   [ -e "$W/other.tmp.$dead" ]; then
    ok stale_temporaries
else
    fail stale_temporaries "left: $(ls "$W" | tr '\n' ' ')"
fi
# the same for lowp quantize's output and an .npy written by lowp run
: >"$T/q.onnx.tmp.$dead"
lowp quantize models/mlp.onnx --dynamic -o "$T/q.onnx" -q
if expect stale_quantize 0 && [ ! -e "$T/q.onnx.tmp.$dead" ]; then ok stale_quantize; fi

# an op_wise keeping every op FP32: tune says there is nothing to tune and why (each strategy
# is covered by tests/test_tune.c); quantize writes the model, warns, and exits 4
sed 's|path: ./lowp_workspace/mlp|path: '"$T/fp32ws"'|; s|^  approach: post_training_static_quant|  approach: post_training_static_quant\n  op_wise:\n    ".*":\n      activation: {dtype: [fp32]}|' \
    examples/tune_mlp.yaml >"$T/fp32.yaml"
lowp tune "$T/fp32.yaml" models/mlp.onnx -n 100 -q
if expect tune_all_fp32 2 && has tune_all_fp32 "$T/err" "nothing left to tune" &&
   has tune_all_fp32 "$T/err" "by $T/fp32.yaml: quantization.op_wise '.*' (line 15)"; then
    ok tune_all_fp32
fi
lowp quantize models/mlp.onnx --config "$T/fp32.yaml" -n 20 -o "$T/fp32.onnx" -q --json
if expect quantize_all_fp32 4 && has quantize_all_fp32 "$T/err" "warning: $T/fp32.onnx is not quantized" &&
   has quantize_all_fp32 "$T/out" '"quantized":false' && [ -s "$T/fp32.onnx" ]; then
    ok quantize_all_fp32
fi

finish
