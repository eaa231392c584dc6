#!/usr/bin/python3
"""python_overhead.py BUILD [MODEL ...] — what calling lowp from Python costs: the median
latency of lowp.Session.run (batch 1, 1 thread, the same random input each time) against
`lowp bench` on the same model, in the same process conditions. Prints one row per model
with both medians, the difference in microseconds and the ratio; the goal (issue 12) is
within 10 % or 10 us. Medians of 3 rounds of 2000 runs each, rounds interleaved, so a burst
of load on the shared machine hits both sides alike.

    /usr/bin/python3 bench/python_overhead.py build models/mlp.onnx models/resnet_s.onnx
"""
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
os.environ.setdefault("LOWP_LIBRARY", os.path.join(BUILD, "liblowp.so"))
sys.path.insert(0, os.path.join(ROOT, "python"))
import lowp  # noqa: E402

MODELS = sys.argv[2:] or [os.path.join(ROOT, "models", "mlp.onnx")]
ITERS, ROUNDS = 2000, 3


def cli_p50(model):
    out = subprocess.run([os.path.join(BUILD, "lowp"), "bench", model, "--iters", str(ITERS), "--warmup", "50",
                          "--threads", "1", "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["latency_ms"]["p50"] * 1000


def python_p50(session, feeds):
    for _ in range(50):
        session.run(feeds)
    t = np.empty(ITERS)
    for i in range(ITERS):
        t0 = time.perf_counter()
        session.run(feeds)
        t[i] = time.perf_counter() - t0
    return float(np.median(t)) * 1e6


print(f"{'model':<20} {'lowp bench us':>14} {'Session.run us':>15} {'diff us':>8} {'ratio':>6}")
for model in MODELS:
    s = lowp.Session(model, threads=1)
    rng = np.random.default_rng(1978)
    feeds = {}
    for x in s.model.info()["inputs"]:
        shape = [d if isinstance(d, int) and d >= 0 else 1 for d in x["shape"]]
        feeds[x["name"]] = rng.standard_normal(shape).astype(x["dtype"])
    c, p = [], []
    for _ in range(ROUNDS):
        c.append(cli_p50(model))
        p.append(python_p50(s, feeds))
    c, p = float(np.median(c)), float(np.median(p))
    print(f"{os.path.basename(model):<20} {c:>14.2f} {p:>15.2f} {p - c:>8.2f} {p / c:>6.2f}")
