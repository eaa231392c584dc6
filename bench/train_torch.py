# train_torch.py — PyTorch's side of bench/train_bench.sh: a training step (forward, cross
# entropy, backward, SGD with momentum) of a zoo model at a batch size, timed per step.
"""Run with Debian's Python (it has torch): /usr/bin/python3 bench/train_torch.py MODEL.onnx
--batch 64 --threads 1 --warmup 3 --iters 20. The module is the one bench/torch_bench.py builds
(the zoo architecture with the ONNX file's weights, checked against its golden logits). Prints
one JSON line: {"runtime": "pytorch", "step_ms": [...], "median_ms": M}."""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_bench  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args()
    import torch
    import torch.nn as nn
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    model, shape = torch_bench.load(args.model, torch, nn)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(args.batch, *shape)
    y = torch.randint(0, 10, (args.batch,))
    times = []
    for i in range(args.warmup + args.iters):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if i >= args.warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({"runtime": "pytorch", "step_ms": times, "median_ms": statistics.median(times)}))


if __name__ == "__main__":
    main()
