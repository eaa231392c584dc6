#!/usr/bin/python3
"""make_lpot_fixture_gpt2.py OUT — a GPT-2-shaped language-model fixture for LPOT's gpt2 example
configuration (tests/lpot_examples.sh), which tunes against the FP32 model's own outputs
(`MSE: {compare_label: False}`) and keeps the embedding lookups FP32 (op_wise 'Gather_*'):

  OUT/model.onnx     input input_ids (N,32) int64 -> logits (N,32,64): token and position
                     embeddings (Gather_0, Gather_1, as the exported GPT-2's nodes are named),
                     a MatMul mixing each token's features, GELU-like tanh, and the tied
                     language-model head (MatMul against the token embedding's transpose).
  OUT/input_ids.npy  48 sequences of token ids (no labels: the metric compares with FP32).
  OUT/logits_mean_square.txt  the mean square of the FP32 logits over them, computed here in
                     numpy (the scale a relative criterion is measured against, docs/tuning.md).

Deterministic for a given seed.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

T, V, D = 32, 64, 24


def weights():
    rng = np.random.default_rng(11)
    wte = rng.normal(0, 0.3, (V, D)).astype(np.float32)
    wpe = rng.normal(0, 0.1, (T, D)).astype(np.float32)
    mix = (np.eye(D) + rng.normal(0, 0.2, (D, D))).astype(np.float32)
    return wte, wpe, mix


def model(path):
    wte, wpe, mix = weights()
    init = [numpy_helper.from_array(wte, "wte"), numpy_helper.from_array(wpe, "wpe"),
            numpy_helper.from_array(mix, "mlp.w"), numpy_helper.from_array(np.ascontiguousarray(wte.T), "lm_head.w"),
            numpy_helper.from_array(np.arange(T, dtype=np.int64).reshape(1, T), "position_ids")]
    n = [
        helper.make_node("Gather", ["wte", "input_ids"], ["tok"], name="Gather_0", axis=0),
        helper.make_node("Gather", ["wpe", "position_ids"], ["pos"], name="Gather_1", axis=0),
        helper.make_node("Add", ["tok", "pos"], ["h0"], name="Add_2"),
        helper.make_node("MatMul", ["h0", "mlp.w"], ["h1"], name="MatMul_3"),
        helper.make_node("Tanh", ["h1"], ["h2"], name="Tanh_4"),
        helper.make_node("Add", ["h2", "h0"], ["h3"], name="Add_5"),
        helper.make_node("MatMul", ["h3", "lm_head.w"], ["logits"], name="MatMul_6"),
    ]
    inp = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["N", T])]
    out = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", T, V])]
    g = helper.make_graph(n, "lpot_gpt2_fixture", inp, out, init)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_lpot_fixture_gpt2")
    m.ir_version = 7
    onnx.checker.check_model(m)
    onnx.save(m, path)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    model(os.path.join(out, "model.onnx"))
    rng = np.random.default_rng(3)
    ids = rng.integers(0, V, (48, T)).astype(np.int64)
    np.save(os.path.join(out, "input_ids.npy"), ids)
    wte, wpe, mix = (w.astype(np.float64) for w in weights())
    h0 = wte[ids] + wpe
    logits = (np.tanh(h0 @ mix) + h0) @ wte.T
    with open(os.path.join(out, "logits_mean_square.txt"), "w") as f:
        f.write("%.9g\n" % np.mean(logits ** 2))


if __name__ == "__main__":
    main()
