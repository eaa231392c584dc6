# torch_bench.py — times the PyTorch module behind an ONNX model and prints `lowp bench --json` fields.
"""Run with Debian's Python (it has torch): /usr/bin/python3 bench/torch_bench.py MODEL.onnx ...

PyTorch runs only models whose torch module we have, with the ONNX file's own weights:
  bench/models/NAME.onnx   from tools/make_bench_models.py (weights from bench/models/NAME.pt)
  models/NAME.onnx         the zoo of tools/make_zoo.py: the architecture with BatchNorm folded
                           away, Conv/Linear weights read from the ONNX file in execution order,
                           checked against models/NAME.fixed_batch_logits.npy before timing
Anything else exits with status 3 ("skip: ..." on stderr): bench/compare then leaves PyTorch out.

Options mirror lowp bench: --batch N --threads N --warmup N --iters N [--check IN.npy OUT.npy]
(--check: one run on IN.npy, prints the max abs difference to OUT.npy).
"""
import argparse
import json
import os
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP = 3


def skip(msg):
    print(f"skip: {msg}", file=sys.stderr)
    sys.exit(SKIP)


def max_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def zoo_module(name, onnx_path, torch, nn):
    """A zoo model with the ONNX file's weights; None if the graph does not map onto it."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import make_zoo
    import onnx
    from onnx import numpy_helper

    if name not in make_zoo.ZOO:
        return None
    model = make_zoo.ZOO[name][0]()
    # BatchNorm is folded into the convolutions in the export: drop it, give convs a bias.
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(parent, child_name, nn.Identity())
    order = []
    hooks = [m.register_forward_hook(lambda m, i, o: order.append(m) if m not in order else None)
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    for h in hooks:
        h.remove()
    leftover = [n for n, p in model.named_parameters()
                if not any(p is q for m in order for q in m.parameters())]
    if leftover:   # parameters outside Conv/Linear (ViT's tokens): not handled here
        return None

    g = onnx.load(onnx_path).graph
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    nodes = [n for n in g.node if n.op_type in ("Conv", "Gemm")]
    if len(nodes) != len(order):
        return None
    with torch.no_grad():
        for m, n in zip(order, nodes):
            w = init.get(n.input[1])
            b = init.get(n.input[2]) if len(n.input) > 2 else None
            if w is None:
                return None
            if n.op_type == "Gemm":
                attrs = {a.name: a for a in n.attribute}
                if not isinstance(m, nn.Linear):
                    return None
                if not ("transB" in attrs and attrs["transB"].i == 1):
                    w = w.T
            elif not isinstance(m, nn.Conv2d):
                return None
            if tuple(w.shape) != tuple(m.weight.shape):
                return None
            m.weight.copy_(torch.from_numpy(w.copy()))
            if b is not None:
                m.bias = nn.Parameter(torch.from_numpy(b.copy()))
            elif m.bias is not None:
                m.bias.zero_()
    return model


def load(path, torch, nn):
    name = os.path.splitext(os.path.basename(path))[0]
    folder = os.path.dirname(os.path.abspath(path))
    if folder == os.path.join(ROOT, "bench", "models"):
        sys.path.insert(0, os.path.join(ROOT, "tools"))
        import make_bench_models as mbm
        if name in mbm.MODELS and os.path.exists(os.path.join(folder, name + ".pt")):
            _, in_name, shape, _, _ = mbm.MODELS[name]
            return mbm.build(name), shape
    if folder == os.path.join(ROOT, "models"):
        import numpy as np
        model = zoo_module(name, path, torch, nn)
        if model is None:
            skip(f"{path}: the zoo module does not map onto this graph")
        x = np.load(os.path.join(folder, "fixed_batch_input.npy"))
        want = np.load(os.path.join(folder, name + ".fixed_batch_logits.npy"))
        with torch.no_grad():
            got = model(torch.from_numpy(x)).numpy()
        if not np.allclose(got, want, rtol=1e-3, atol=1e-3):
            skip(f"{path}: the rebuilt torch module disagrees with the golden logits "
                 f"(max diff {abs(got - want).max():.3g})")
        return model, (1, 28, 28)
    skip(f"{path}: no torch module for this ONNX file")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--check", nargs=2, metavar=("IN", "OUT"))
    args = ap.parse_args()

    import numpy as np
    import torch
    import torch.nn as nn
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    baseline = max_rss()
    t0 = time.perf_counter()
    model, shape = load(args.model, torch, nn)
    load_ms = (time.perf_counter() - t0) * 1e3

    if args.check:
        x, want = np.load(args.check[0]), np.load(args.check[1])
        with torch.inference_mode():
            got = model(torch.from_numpy(x)).numpy()
        print(json.dumps({"runtime": "pytorch", "max_abs_diff": float(abs(got - want).max())}))
        return 0

    gen = torch.Generator().manual_seed(1978)
    x = torch.rand((args.batch,) + tuple(shape), generator=gen) * 2 - 1
    lat, first = [], 0.0
    with torch.inference_mode():
        for it in range(args.warmup + args.iters):
            if it == args.warmup:
                wall = time.perf_counter()
            a = time.perf_counter()
            model(x)
            ms = (time.perf_counter() - a) * 1e3
            if it == 0:
                first = ms
            if it >= args.warmup:
                lat.append(ms)
        wall = time.perf_counter() - wall
    v = np.array(lat)
    pct = lambda p: float(np.percentile(v, p))
    print(json.dumps({
        "runtime": "pytorch", "version": torch.__version__, "model": args.model,
        "batch": args.batch, "threads": args.threads, "warmup": args.warmup,
        "iterations": args.iters,
        "inputs": [{"name": "input", "dtype": "float32", "shape": list(x.shape), "source": "random"}],
        "latency_ms": {"p50": pct(50), "p90": pct(90), "p99": pct(99), "mean": float(v.mean()),
                       "min": float(v.min()), "max": float(v.max()),
                       "stdev": float(v.std(ddof=1)) if len(v) > 1 else 0.0},
        "throughput": args.batch * args.iters / wall, "load_ms": load_ms, "first_run_ms": first,
        "peak_rss_bytes": max_rss(), "baseline_rss_bytes": baseline,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
