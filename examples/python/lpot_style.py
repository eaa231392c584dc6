#!/usr/bin/python3
"""lpot_style.py — example (b): an LPOT 1.x script, unchanged but for the import line
(`from lpot.experimental import ...` -> `from lowp.experimental import ...`).

    /usr/bin/python3 examples/python/lpot_style.py      (a few seconds)

Like LPOT's ONNX examples, the eval_func receives an onnx.ModelProto and runs it in a runtime
of its choice -- here lowp's own Session from the serialized bytes (ONNX Runtime's
InferenceSession(model.SerializeToString()) works the same where it is installed).
"""
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402

import lowp  # noqa: E402
from lowp.experimental import Quantization, common  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class Dataset:
    """A user dataset, LPOT style: __getitem__ gives (image, label)."""

    def __init__(self, train, n):
        self.x, self.y = fmnist.images(train, n), fmnist.labels(train, n)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


eval_set = Dataset(False, 500)


def eval_func(model):
    """What LPOT's ONNX examples write: score a ModelProto (top-1 accuracy)."""
    session = lowp.Session(model.SerializeToString())
    right = 0
    for images, labels in common.DataLoader(eval_set, batch_size=100):
        right += int((session.run(images)["logits"].argmax(1) == labels).sum())
    return right / len(eval_set)


workspace = tempfile.mkdtemp(prefix="lowp_lpot_")
conf = os.path.join(workspace, "conf.yaml")
with open(os.path.join(HERE, "lpot_style.yaml")) as f:
    text = f.read().replace("WORKSPACE", workspace)
with open(conf, "w") as f:
    f.write(text)

quantizer = Quantization(conf)
quantizer.model = common.Model(os.path.join(HERE, "..", "..", "models", "mlp.onnx"))
quantizer.calib_dataloader = common.DataLoader(Dataset(True, 200), batch_size=50)
quantizer.eval_func = eval_func
q_model = quantizer()
assert q_model is not None, "no recipe met the accuracy target"
q_model.save(os.path.join(workspace, "mlp.int8.onnx"))
print(quantizer.summary)
print("saved", os.path.join(workspace, "mlp.int8.onnx"))
