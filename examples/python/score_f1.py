#!/usr/bin/python3
"""score_f1.py — an external scorer for `lowp tune --eval-cmd` / `lowp eval --eval-cmd`.

    score_f1.py MODEL.onnx X.npy Y.npy [LOWP]

Runs MODEL on the images X.npy with `lowp run` (any runtime would do: ONNX Runtime, your
app, ...), and prints the macro-averaged F1 score of the predictions against the labels
Y.npy -- a metric lowp does not have built in -- as the LAST line of its output, which is
the --eval-cmd protocol. Diagnostics go to stderr; lowp shows their tail if this fails.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np


def macro_f1(pred, truth, classes):
    f1 = []
    for c in range(classes):
        tp = np.sum((pred == c) & (truth == c))
        fp = np.sum((pred == c) & (truth != c))
        fn = np.sum((pred != c) & (truth == c))
        f1.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0)
    return float(np.mean(f1))


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: score_f1.py MODEL.onnx X.npy Y.npy [LOWP]")
    model, x_path, y_path = sys.argv[1:4]
    lowp = sys.argv[4] if len(sys.argv) > 4 else os.environ.get("LOWP", "lowp")
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([lowp, "run", model, "-i", x_path, "-o", out, "--threads", "1"],
                       check=True, stdout=subprocess.DEVNULL)
        (name,) = os.listdir(out)
        logits = np.load(os.path.join(out, name))
    truth = np.load(y_path)
    print(f"scored {len(truth)} samples of {os.path.basename(model)}", file=sys.stderr)
    print(f"{macro_f1(logits.argmax(axis=1), truth, logits.shape[1]):.6f}")


if __name__ == "__main__":
    main()
