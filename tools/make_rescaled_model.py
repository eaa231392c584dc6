# Makes a function-preserving rescaled copy of a zoo model: for every Conv -> Relu -> Conv pair
# (the first Conv's output read only by the Relu, the Relu's only by the second Conv), output
# channel c of the first Conv (weights and bias) is multiplied by FACTOR for every STRIDE-th
# channel and the matching input channel of the second Conv divided by it. ReLU(f x) = f ReLU(x)
# for f > 0, so the FP32 function is unchanged (up to float rounding) while the activation
# between the two Convs gains outlier channels FACTOR times larger than the rest: per-tensor
# activation scales then waste nearly all their levels on them (what cross-layer equalization
# undoes). Prints the pairs rescaled.
#
# --layernorm instead rescales the affine tail of every decomposed LayerNorm (Mul by gamma,
# Add of beta) whose output only MatMuls with constant weights read (a transformer's Q/K/V and
# MLP inputs): gamma and beta channel c times FACTOR, row c of each MatMul weight divided by it
# -- the activation outliers of large transformers, which SmoothQuant migrates into weights.
#
# usage: python3 tools/make_rescaled_model.py IN.onnx OUT.onnx [--factor 200] [--stride 4] [--layernorm]
import argparse

import numpy as np
import onnx
from onnx import numpy_helper


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--factor", type=float, default=200.0)
    ap.add_argument("--stride", type=int, default=4)
    ap.add_argument("--layernorm", action="store_true")
    a = ap.parse_args()
    m = onnx.load(a.model)
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    readers = {}
    for n in g.node:
        for x in n.input:
            readers.setdefault(x, []).append(n)
    outputs = {o.name for o in g.output}

    def only_reader(v):
        r = readers.get(v, [])
        return r[0] if len(r) == 1 and v not in outputs else None

    def scale(name, f, axis):
        t = inits[name]
        w = numpy_helper.to_array(t).astype(np.float32).copy()
        idx = [slice(None)] * w.ndim
        idx[axis] = slice(0, None, a.stride)
        w[tuple(idx)] *= np.float32(f)
        t.CopyFrom(numpy_helper.from_array(w, name))

    pairs = 0
    producer = {o: n for n in g.node for o in n.output}
    for n in list(g.node) if a.layernorm else []:
        if n.op_type != "Add" or len(n.input) != 2:
            continue
        beta = next((x for x in n.input if x in inits), None)
        x = next((x for x in n.input if x not in inits), None)
        mul = producer.get(x)
        if beta is None or mul is None or mul.op_type != "Mul" or only_reader(x) is not n:
            continue
        gamma = next((y for y in mul.input if y in inits), None)
        rd = readers.get(n.output[0], [])
        if gamma is None or not rd or n.output[0] in outputs or any(
                r.op_type != "MatMul" or r.input[0] != n.output[0] or r.input[1] not in inits for r in rd):
            continue
        scale(gamma, a.factor, -1)
        scale(beta, a.factor, -1)
        for r in rd:
            scale(r.input[1], 1.0 / a.factor, 0)
        pairs += 1
        print(f"rescaled {mul.name} -> {n.name} -> " + ", ".join(r.name for r in rd))
    for n in list(g.node) if not a.layernorm else []:
        if n.op_type != "Conv" or len(n.input) < 2 or n.input[1] not in inits:
            continue
        relu = only_reader(n.output[0])
        if relu is None or relu.op_type != "Relu":
            continue
        nxt = only_reader(relu.output[0])
        if nxt is None or nxt.op_type != "Conv" or nxt.input[1] not in inits:
            continue
        group = next((at.i for at in nxt.attribute if at.name == "group"), 1)
        if group != 1:
            continue
        scale(n.input[1], a.factor, 0)
        if len(n.input) > 2 and n.input[2] in inits:
            scale(n.input[2], a.factor, 0)
        scale(nxt.input[1], 1.0 / a.factor, 1)
        pairs += 1
        print(f"rescaled {n.name} -> {relu.name} -> {nxt.name}")
    if not pairs:
        raise SystemExit("no Conv -> Relu -> Conv pair found")
    onnx.save(m, a.out)


if __name__ == "__main__":
    main()
