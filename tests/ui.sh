#!/bin/sh
# ui.sh BUILD — `lowp ui` in a real browser: headless Debian chromium driven by puppeteer-core
# (tests/ui/ui_test.js; installed here into tests/ui/node_modules without install scripts when
# missing) over a workspace root holding a CLI tune, plus raw HTTP requests that must be refused
# (no token, '..' and outside paths, foreign Host, cross-site POSTs, oversize bodies and headers).
# Screenshots of each page go to BUILD/ui-screens/.
SUITE=ui
. tests/lib.sh

if [ ! -x /usr/bin/chromium ]; then fail chromium "no /usr/bin/chromium (tools/deps.sh installs it)"; finish; exit; fi
if [ ! -d tests/ui/node_modules/puppeteer-core ]; then
    (cd tests/ui && npm install --silent --ignore-scripts --no-audit --no-fund >/dev/null 2>&1) ||
        { fail puppeteer-install "npm install puppeteer-core failed"; finish; exit; }
fi

# A workspace root with one finished CLI tune (the MLP on 300 test images: well under a second)
WS="$T/runs"; mkdir -p "$WS"
FM=/usr/share/datasets/fashion-mnist
lowp tune "$ROOT/models/mlp.onnx" --calib "FashionMNIST:$FM:train=true" --eval "FashionMNIST:$FM" \
    --transform Rescale,Normalize=0.2860/0.3530 --sampling-size 100 -n 300 --tolerance 1% -w "$WS/t1" -q
expect cli-tune 0 && ok cli-tune
ln -s /etc "$WS/escape"     # a symlink out of the root: must not be followed

"$LOWP" ui -w "$WS" -m "$ROOT/models" -d "$FM" -p 0 >"$T/ui.out" 2>"$T/ui.err" &
UI_PID=$!
trap 'kill $UI_PID 2>/dev/null; rm -rf "$T"' EXIT
URL=""
for i in $(seq 1 50); do
    URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*/?token=[0-9a-f]*' "$T/ui.out" 2>/dev/null)
    [ -n "$URL" ] && break
    sleep 0.1
done
if [ -z "$URL" ]; then
    fail ui-start "no URL printed: $(cat "$T/ui.err")"
else
    ok ui-start
    node tests/ui/ui_test.js "$URL" "$ROOT/$BUILD/ui-screens" "$WS" >"$T/node.out" 2>&1
    grep -E '^(ok|FAIL) ' "$T/node.out" | grep -v '^ok ' || true
    passed=$((passed + $(grep -c '^ok ' "$T/node.out")))
    failed=$((failed + $(grep -c '^FAIL ' "$T/node.out")))
    grep -q '^ui_test.js: ' "$T/node.out" || fail ui-driver "did not finish: $(tail -5 "$T/node.out")"
fi
# The CLI resumes a workspace the dashboard's job wrote: the job's own command line plus --resume
# replays every trial from the history and runs none again.
CMD="$ROOT/$BUILD/ui-screens/formtune.cmd"
if [ -f "$CMD" ] && [ -f "$WS/formtune/history.jsonl" ]; then
    before=$(wc -l < "$WS/formtune/history.jsonl")
    eval "\"$LOWP\" $(sed 's/^lowp //' "$CMD") --resume -q" >"$T/out" 2>"$T/err"; rc=$?
    after=$(wc -l < "$WS/formtune/history.jsonl")
    if { [ "$rc" = 0 ] || [ "$rc" = 3 ]; } && [ "$before" = "$after" ] && grep -q '"trials": 6' "$T/out"; then ok cli-resumes-ui-job
    else fail cli-resumes-ui-job "exit $rc, history $before -> $after lines: $(head -c 300 "$T/err")"; fi
else
    fail cli-resumes-ui-job "the form's tune left no command line or history"
fi

kill $UI_PID 2>/dev/null
wait $UI_PID 2>/dev/null
rc=$?
[ "$rc" = 0 ] && ok ui-stop || fail ui-stop "lowp ui exited $rc on SIGTERM: $(tail -3 "$T/ui.err")"
finish
