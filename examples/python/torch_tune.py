#!/usr/bin/python3
"""torch_tune.py — example (a): a PyTorch model trained here, quantized to INT8 by lowp.tune
with a Python evaluation function scoring a metric lowp does not have built in (macro-F1).

    /usr/bin/python3 examples/python/torch_tune.py      (about 10 s; Debian's python3-torch)

No ONNX file is handled by hand: lowp exports the module (torch.onnx, dynamic batch) with the
first calibration batch as its example input.
"""
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402

import lowp  # noqa: E402  (PYTHONPATH=python in the source tree, or `make install`)

torch.manual_seed(0)
torch.set_num_threads(1)

# ---- train a small CNN on 2000 Fashion-MNIST images (a few seconds) ----
x_train = torch.from_numpy(fmnist.images(True, 2000))
y_train = torch.from_numpy(fmnist.labels(True, 2000))
model = torch.nn.Sequential(
    torch.nn.Conv2d(1, 8, 3, stride=2), torch.nn.ReLU(),
    torch.nn.Conv2d(8, 16, 3, stride=2), torch.nn.ReLU(),
    torch.nn.Flatten(), torch.nn.Linear(16 * 6 * 6, 10))
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
for epoch in range(4):
    for i in range(0, len(x_train), 100):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x_train[i:i + 100]), y_train[i:i + 100])
        loss.backward()
        opt.step()
print(f"trained: last batch loss {loss.item():.3f}")

# ---- a metric lowp lacks: macro-averaged F1 on 500 test images ----
x_test, y_test = fmnist.images(False, 500), fmnist.labels(False, 500)


def macro_f1(session):
    pred = session.run(x_test)["output"].argmax(1)
    f1 = []
    for c in range(10):
        tp = np.sum((pred == c) & (y_test == c))
        fp = np.sum((pred == c) & (y_test != c))
        fn = np.sum((pred != c) & (y_test == c))
        f1.append(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(f1))


# ---- tune: the fastest INT8 recipe within 1 % of the FP32 macro-F1 ----
calib = [fmnist.images(True, 100, start=2000 + i) for i in range(0, 200, 100)]
workspace = tempfile.mkdtemp(prefix="lowp_torch_")
q_model, summary = lowp.tune(model, eval_func=macro_f1, calib=calib, tolerance=0.01,
                             workspace=workspace, progress=True)
print(summary)
print(f"macro-F1 {summary.baseline:.4f} (FP32) -> {summary.best:.4f} (tuned), "
      f"{summary.n_int8} int8 ops, {summary.speedup:.2f}x faster (batch 1)")
q_model.save(os.path.join(workspace, "cnn.int8.onnx"))
assert summary.met and summary.baseline > 0.6, "the tuned model should meet the target"
