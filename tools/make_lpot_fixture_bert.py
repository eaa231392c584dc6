#!/usr/bin/python3
"""make_lpot_fixture_bert.py OUT — a SQuAD-shaped question-answering fixture for LPOT's BERT
SQuAD example configuration (tests/lpot_examples.sh), with BERT's three inputs and two outputs:

  OUT/model.onnx     inputs input_ids, input_mask, segment_ids (N,64) int64 -> start_logits,
                     end_logits (N,64): a token embedding (Gather), a MatMul mixing in the
                     neighbouring tokens (so quantization error matters), and a MatMul head per
                     logit. It "answers" the span that opens with token 7 and closes with
                     token 8 in the context (segment 1); padding (mask 0) scores -1e4.
  OUT/*.npy          40 questions: input_ids, input_mask, segment_ids, and the gold spans
                     start_positions / end_positions (40,2): the answer, and a second gold
                     answer (one token shorter) for every other question, -1 marking none.

Deterministic for a given seed.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

L, V, D = 64, 32, 16


def model(path):
    rng = np.random.default_rng(5)
    emb = rng.normal(0, 0.05, (V, D)).astype(np.float32)
    emb[7, 0] = 3.0          # the answer's opening token
    emb[8, 1] = 3.0          # its closing token
    mix = np.eye(D, dtype=np.float32) + rng.normal(0, 0.02, (D, D)).astype(np.float32)
    head = np.zeros((D, 2), np.float32)
    head[0, 0] = 2.0
    head[1, 1] = 2.0
    head += rng.normal(0, 0.02, (D, 2)).astype(np.float32)
    init = [numpy_helper.from_array(emb, "word_embeddings"), numpy_helper.from_array(mix, "mix.w"),
            numpy_helper.from_array(head, "qa_outputs.w"),
            numpy_helper.from_array(np.array([1.0], np.float32), "one"),
            numpy_helper.from_array(np.array([1e4], np.float32), "big"),
            numpy_helper.from_array(np.array([1, 1], np.int64), "split")]
    n = [
        helper.make_node("Gather", ["word_embeddings", "input_ids"], ["e"], name="Gather_embed", axis=0),
        helper.make_node("MatMul", ["e", "mix.w"], ["h"], name="MatMul_mix"),
        helper.make_node("Relu", ["h"], ["hr"], name="Relu_1"),
        helper.make_node("MatMul", ["hr", "qa_outputs.w"], ["logits"], name="MatMul_qa"),   # (N,L,2)
        helper.make_node("Split", ["logits", "split"], ["s3", "e3"], name="Split_qa", axis=2),
        helper.make_node("Squeeze", ["s3", "ax2"], ["s"], name="Squeeze_s"),
        helper.make_node("Squeeze", ["e3", "ax2"], ["e_"], name="Squeeze_e"),
        # padding and the question (segment 0) cannot hold the answer: -1e4 there
        helper.make_node("Cast", ["input_mask"], ["maskf"], name="Cast_mask", to=TensorProto.FLOAT),
        helper.make_node("Cast", ["segment_ids"], ["segf"], name="Cast_seg", to=TensorProto.FLOAT),
        helper.make_node("Mul", ["maskf", "segf"], ["ok"], name="Mul_ok"),
        helper.make_node("Sub", ["ok", "one"], ["notok"], name="Sub_ok"),
        helper.make_node("Mul", ["notok", "big"], ["penalty"], name="Mul_penalty"),
        helper.make_node("Add", ["s", "penalty"], ["start_logits"], name="Add_start"),
        helper.make_node("Add", ["e_", "penalty"], ["end_logits"], name="Add_end"),
    ]
    init.append(numpy_helper.from_array(np.array([2], np.int64), "ax2"))
    ids = [helper.make_tensor_value_info(k, TensorProto.INT64, ["N", L])
           for k in ("input_ids", "input_mask", "segment_ids")]
    outs = [helper.make_tensor_value_info(k, TensorProto.FLOAT, ["N", L]) for k in ("start_logits", "end_logits")]
    g = helper.make_graph(n, "lpot_bert_fixture", ids, outs, init)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_lpot_fixture_bert")
    m.ir_version = 7
    onnx.checker.check_model(m)
    onnx.save(m, path)


def data(out, n, seed):
    rng = np.random.default_rng(seed)
    ids = np.zeros((n, L), np.int64)
    mask = np.zeros((n, L), np.int64)
    seg = np.zeros((n, L), np.int64)
    start = np.full((n, 2), -1, np.int64)
    end = np.full((n, 2), -1, np.int64)
    for i in range(n):
        q = int(rng.integers(4, 10))                # [CLS] question [SEP]
        c = int(rng.integers(20, L - q - 3))         # context [SEP]
        ids[i, 0] = 1
        ids[i, 1:1 + q] = rng.integers(10, V, q)
        ids[i, 1 + q] = 2
        ctx = rng.integers(10, V, c)
        a_len = int(rng.integers(2, 6))
        a0 = int(rng.integers(0, c - a_len))
        ctx[a0] = 7
        ctx[a0 + a_len - 1] = 8
        ids[i, 2 + q:2 + q + c] = ctx
        ids[i, 2 + q + c] = 2
        mask[i, :3 + q + c] = 1
        seg[i, 2 + q:3 + q + c] = 1
        start[i, 0], end[i, 0] = 2 + q + a0, 2 + q + a0 + a_len - 1
        if i % 2:                                   # a second, shorter gold answer
            start[i, 1], end[i, 1] = start[i, 0], end[i, 0] - 1
    for name, a in (("input_ids", ids), ("input_mask", mask), ("segment_ids", seg),
                    ("start_positions", start), ("end_positions", end)):
        np.save(os.path.join(out, name + ".npy"), a)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    data(out, 40, 3)
    model(os.path.join(out, "model.onnx"))


if __name__ == "__main__":
    main()
