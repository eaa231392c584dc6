#!/usr/bin/python3
"""close_npy.py GOT.npy WANT.npy [--tol ABS] [--rel R] [--min-scale S] [--peer NAME] [--flat]

Whether GOT is close to WANT (the shell suites' numeric check): the largest |GOT - WANT| must
be at most ABS when --tol is given, else R times WANT's scale (max |WANT|, or S when larger;
--rel defaults to 1e-5). Shapes must match (--flat: only the number of values). Prints one line
"max |lowp - NAME| = E of scale S (tolerance T)"; exit status 0 when close, 1 otherwise."""
import argparse
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("got")
    ap.add_argument("want")
    ap.add_argument("--tol", type=float, help="absolute tolerance")
    ap.add_argument("--rel", type=float, default=1e-5, help="tolerance relative to max |WANT| (default 1e-5)")
    ap.add_argument("--min-scale", type=float, default=0.0,
                    help="the scale when max |WANT| is smaller (e.g. 1 for a probability)")
    ap.add_argument("--peer", default="onnxruntime", help="what WANT comes from, for the message")
    ap.add_argument("--flat", action="store_true", help="compare the values in order, whatever the shapes")
    a = ap.parse_args()
    got, want = np.load(a.got).astype(np.float64), np.load(a.want).astype(np.float64)
    if a.flat:
        if got.size != want.size:
            print(f"{got.size} values vs {a.peer}'s {want.size}")
            return 1
        got, want = got.ravel(), want.ravel()
    elif got.shape != want.shape:
        print(f"shape {got.shape} vs {a.peer}'s {want.shape}")
        return 1
    scale = max(float(np.abs(want).max()) if want.size else 0.0, a.min_scale, 1e-12)
    err = float(np.abs(got - want).max()) if want.size else 0.0
    tol = a.tol if a.tol is not None else a.rel * scale
    print(f"max |lowp - {a.peer}| = {err:.2g} of scale {scale:.2g} (tolerance {tol:.2g})")
    return 0 if err <= tol else 1


if __name__ == "__main__":
    sys.exit(main())
