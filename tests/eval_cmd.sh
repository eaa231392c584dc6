#!/bin/sh
# eval_cmd.sh BUILD — `lowp tune/eval --eval-cmd`: the external scorer example (macro-F1 via
# `lowp run` + NumPy) tunes the MLP; a scorer that fails on a trial stops the tune naming the
# trial with its stderr tail, the history keeps the finished trials and --resume continues
# from them; a non-numeric answer and a time-out (whole process group killed) are errors;
# `lowp eval --eval-cmd` prints the program's number; usage errors.
SUITE=eval_cmd
. "$(dirname "$0")/lib.sh"
FM=/usr/share/datasets/fashion-mnist
if [ ! -d "$FM" ] || ! /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    skip eval_cmd.sh "no Fashion-MNIST or NumPy"; finish; exit
fi
CAL="--calib FashionMNIST:$FM:train=true -T Rescale,Normalize=0.2860/0.3530"

# example (c): an external scorer, end to end
if sh examples/python/tune_eval_cmd.sh "$LOWP" "$T/ex" >"$T/ex.out" 2>"$T/ex.err" &&
   has example "$T/ex.out" "target met" && [ -s "$T/ex/mlp.int8.onnx" ] && has example "$T/ex/report.md" "eval-cmd"; then
    ok example_tune_eval_cmd
else
    fail example_tune_eval_cmd "$(tail -3 "$T/ex.err")"
fi

# a scorer: "fail" on trial $FAIL_AT (stderr tail shown), else a score falling with the trial
cat >"$T/scorer.sh" <<'SH'
#!/bin/sh
test -s "$1" || { echo "no model at $1" >&2; exit 9; }
echo "scoring trial $LOWP_TRIAL" >&2
if [ "$LOWP_TRIAL" = "${FAIL_AT:-none}" ]; then echo "CUDA out of memory (pretend)" >&2; exit 4; fi
echo "intermediate output"
echo "0.$((90 - LOWP_TRIAL))"
SH
chmod +x "$T/scorer.sh"

# the score never reaches an impossible target: trials go on to --max-trials; trial 3 fails
FAIL_AT=3 lowp tune models/mlp.onnx $CAL --eval-cmd "$T/scorer.sh {model}" --tolerance -10% --max-trials 4 \
    -s basic -w "$T/stop" -q
if expect fail_stops 2 && has fail_stops "$T/err" "trial 3" && has fail_stops "$T/err" "exit status 4" &&
   has fail_stops "$T/err" "CUDA out of memory (pretend)" && has fail_stops "$T/err" "trial_3.onnx" &&
   [ "$(wc -l <"$T/stop/history.jsonl")" = 3 ]; then
    ok fail_stops_with_trial_and_stderr
fi
# resume: trials 1-2 from the history, 3-4 run now
lowp tune models/mlp.onnx $CAL --eval-cmd "$T/scorer.sh {model}" --tolerance -10% --max-trials 4 \
    -s basic -w "$T/stop" --resume --json -q
if expect resume 3 && has resume "$T/out" '"trials": 4' && [ "$(wc -l <"$T/stop/history.jsonl")" = 5 ]; then
    ok resume_after_failure
fi

# lower is better: the falling score improves, so trial 1 passes at once
lowp tune models/mlp.onnx $CAL --eval-cmd "$T/scorer.sh" --lower-is-better -w "$T/low" --json -q
if expect lower_is_better 0 && has lower_is_better "$T/out" '"trials": 1'; then
    ok lower_is_better
fi

# a non-numeric last line
printf '#!/bin/sh\necho 0.5\necho "accuracy: 0.9"\n' >"$T/words.sh"
chmod +x "$T/words.sh"
lowp tune models/mlp.onnx $CAL --eval-cmd "$T/words.sh {model}" -w "$T/words" -q
if expect non_numeric 2 && has non_numeric "$T/err" "FP32 baseline" && has non_numeric "$T/err" "'accuracy: 0.9'"; then
    ok non_numeric
fi

# a time-out kills the program's whole group (the backgrounded child would leave a marker)
cat >"$T/slow.sh" <<SH
#!/bin/sh
echo "warming up" >&2
(sleep 4; touch "$T/survivor") &
sleep 60
echo 1
SH
chmod +x "$T/slow.sh"
start=$(date +%s)
lowp eval models/mlp.onnx --eval-cmd "$T/slow.sh {model}" --eval-timeout 1
took=$(($(date +%s) - start))
sleep 5
if expect timeout 2 && has timeout "$T/err" "longer than 1 s" && has timeout "$T/err" "warming up" &&
   [ "$took" -lt 10 ] && [ ! -e "$T/survivor" ]; then
    ok timeout_kills_group
elif [ -e "$T/survivor" ]; then
    fail timeout_kills_group "a process of the timed-out group survived"
fi

# Ctrl-C (SIGINT) while the scorer of trial 1 runs: its group is killed, lowp exits 130 with the
# baseline... and no trial in the history, and says --resume continues
cat >"$T/slow1.sh" <<SH
#!/bin/sh
[ "\$LOWP_TRIAL" = 0 ] && { echo 0.9; exit 0; }
(sleep 6; touch "$T/survivor1") &
sleep 60
echo 0.9
SH
chmod +x "$T/slow1.sh"
"$LOWP" tune models/mlp.onnx $CAL --eval-cmd "$T/slow1.sh {model}" -w "$T/int" -q >"$T/out" 2>"$T/err" &
pid=$!
i=0
while [ $i -lt 100 ] && [ ! -e "$T/int/candidates/trial_1.onnx" ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.5
kill -INT $pid
start=$(date +%s)
wait $pid
rc=$?
took=$(($(date +%s) - start))
sleep 7
if expect interrupt 130 && has interrupt "$T/err" "--resume" && has interrupt "$T/err" "interrupted" &&
   [ "$took" -lt 5 ] && [ ! -e "$T/survivor1" ] && [ "$(wc -l <"$T/int/history.jsonl")" = 1 ]; then
    ok ctrl_c_stops_scorer
elif [ -e "$T/survivor1" ]; then
    fail ctrl_c_stops_scorer "the scorer's group survived"
else
    fail ctrl_c_stops_scorer "took ${took}s, history $(wc -l <"$T/int/history.jsonl") lines"
fi

# lowp eval --eval-cmd, text and JSON
lowp eval models/mlp.onnx --eval-cmd "$T/scorer.sh {model}" --json
if expect eval_json 0 && has eval_json "$T/out" '"value": 0.9'; then
    ok eval_json
fi
# a path with a space and a quote reaches the program intact
mkdir -p "$T/a b'c" && cp models/mlp.onnx "$T/a b'c/m.onnx"
lowp eval "$T/a b'c/m.onnx" --eval-cmd "$T/scorer.sh {model}"
if expect eval_text 0 && has eval_text "$T/out" "eval-cmd = 0.9"; then
    ok eval_text
fi

# usage errors
lowp tune models/mlp.onnx $CAL --eval FashionMNIST:$FM --eval-cmd "true"
expect both_eval 1 && has both_eval "$T/err" "give one" && ok usage_both
lowp eval models/mlp.onnx --eval-cmd "$T/scorer.sh" --eval-timeout -3
expect bad_timeout 1 && ok usage_timeout
lowp tune models/mlp.onnx $CAL --eval FashionMNIST:$FM --eval-timeout 5
expect timeout_alone 1 && ok usage_timeout_alone
finish
