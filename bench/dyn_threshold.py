#!/usr/bin/python3
"""dyn_threshold.py [--lowp build/lowp] [--rounds 3] -- where lowp's dynamic INT8 starts to pay.

One-op models (a 1x1 Conv of C to M channels over L positions, a MatMul of K to N columns over
R rows, a depthwise Conv k 5), FP32 and lowp's dynamic export of each
(`lowp quantize --dynamic`, LOWP_DYNAMIC_MIN_MACS=0 so that every one is quantized), run by
`lowp bench` on one thread side by side (rounds interleaved, median of the p50s). The table
gives each op's multiply-adds per input element (src/quant/quantize.c,
lp_dynamic_macs_per_input) and FP32 / INT8 time: above 1 the dynamic form pays. The threshold
DYNAMIC_MIN_MACS in quantize.c comes from it (docs/quantization.md)."""
import argparse
import json
import os
import statistics
import subprocess
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def conv_model(path, n, c, m, length, k=1, group=1):
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((m, c // group, k)) * 0.1).astype(np.float32)
    b = (rng.standard_normal(m) * 0.1).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], group=group, pads=[k // 2, k // 2])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, c, length])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, m, length])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


def matmul_model(path, r, k, n):
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((k, n)) * 0.1).astype(np.float32)
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [r, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [r, n])],
                          [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


def p50(lowp, path, iters):
    r = subprocess.run([lowp, "bench", path, "--threads", "1", "--iters", str(iters), "--warmup", "20", "--json",
                        "-q"], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)["latency_ms"]["p50"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lowp", default=os.path.join(ROOT, "build", "lowp"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="", help="cases whose label starts with this")
    ap.add_argument("--per-channel", action="store_true", help="export with --per-channel")
    a = ap.parse_args()
    cases = []  # (label, macs per input element, maker)
    for c, m in [(64, 16), (64, 32), (64, 64), (64, 128), (64, 256), (128, 512)]:
        for n, length in [(1, 8), (16, 8), (1, 256), (16, 256)]:
            cases.append((f"conv1x1 {c}->{m} N{n} L{length}", m, lambda p, n=n, c=c, m=m, L=length: conv_model(p, n, c, m, L)))
    for n, length in [(1, 8), (16, 256)]:
        cases.append((f"conv dw 64 k5 N{n} L{length}", 5, lambda p, n=n, L=length: conv_model(p, n, 64, 64, L, 5, 64)))
    for k, n in [(256, 32), (256, 64), (256, 128), (256, 256), (768, 768)]:
        for r in (1, 16, 128):
            cases.append((f"matmul {k}->{n} R{r}", n, lambda p, r=r, k=k, n=n: matmul_model(p, r, k, n)))
    env = dict(os.environ, LOWP_DYNAMIC_MIN_MACS="0")
    print(f"load average {os.getloadavg()[0]:.1f}; {a.rounds} interleaved rounds; lowp bench --threads 1, p50 ms")
    print("| op | MACs / input element | FP32 ms | dynamic INT8 ms | FP32 / INT8 |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as d:
        for label, macs, make in cases:
            if not label.startswith(a.only):
                continue
            f, q = os.path.join(d, "f.onnx"), os.path.join(d, "q.onnx")
            make(f)
            subprocess.run([a.lowp, "quantize", f, "-o", q, "--dynamic", "-q"] + (["--per-channel"] if a.per_channel else []), env=env, check=True,
                           capture_output=True)
            tf, tq = [], []
            for _ in range(a.rounds):
                tf.append(p50(a.lowp, f, 300))
                tq.append(p50(a.lowp, q, 300))
            mf, mq = statistics.median(tf), statistics.median(tq)
            print(f"| {label} | {macs} | {mf:.4f} | {mq:.4f} | {mf / mq:.2f} |", flush=True)
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
