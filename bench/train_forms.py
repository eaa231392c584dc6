#!/usr/bin/python3
"""train_forms.py OUT.onnx — a small classifier made of the ops the training engine used to run
on its reference loops (a ConvTranspose, a broadcasting MatMul, Gemm's other forms), for
`TRAIN_BENCH_PROFILE=1 build/bench/train_bench OUT.onnx 64`, with and without
LOWP_KERNELS=reference (docs/training.md, "Speed"):

  x (N, 1, 28, 28) Conv 16 3x3 stride 2, Relu      -> (N, 16, 14, 14)
  ConvTranspose 4 4x4 stride 2 pads 1, Relu        -> (N, 4, 28, 28)
  MatMul W1 (4, 28, 64)                            -> (N, 4, 28, 64)  W1 broadcast over N
  Relu, Reshape (N, 7168), Transpose               -> (7168, N)
  Gemm transA=1, W2 (7168, 128), alpha 0.5, C2 (1, 128) beta 2, Relu -> (N, 128)
  Gemm transB=1, W3 (10, 128), C3 (1, 1)           -> (N, 10)  (C not a bias of 10 values)
Random weights (seed 0); the values do not change the time."""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    rng = np.random.default_rng(0)

    def w(name, *shape):
        fan = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        return numpy_helper.from_array((rng.standard_normal(shape) / np.sqrt(fan)).astype(np.float32), name)

    inits = [w("Wc", 16, 1, 3, 3), w("Wt", 16, 4, 4, 4), w("bt", 4), w("W1", 4, 28, 64), w("W2", 4 * 28 * 64, 128),
             w("C2", 1, 128), w("W3", 10, 128), w("C3", 1, 1),
             numpy_helper.from_array(np.array([-1, 4 * 28 * 64], dtype=np.int64), "flat")]
    nodes = [
        helper.make_node("Conv", ["x", "Wc"], ["c"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["rc"]),
        helper.make_node("ConvTranspose", ["rc", "Wt", "bt"], ["t"], kernel_shape=[4, 4], strides=[2, 2],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["t"], ["rt"]),
        helper.make_node("MatMul", ["rt", "W1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["r1"]),
        helper.make_node("Reshape", ["r1", "flat"], ["f1"]),
        helper.make_node("Transpose", ["f1"], ["t1"], perm=[1, 0]),
        helper.make_node("Gemm", ["t1", "W2", "C2"], ["h2"], transA=1, alpha=0.5, beta=2.0),
        helper.make_node("Relu", ["h2"], ["r2"]),
        helper.make_node("Gemm", ["r2", "W3", "C3"], ["y"], transB=1),
    ]
    g = helper.make_graph(nodes, "train_forms",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 28, 28])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(m)
    onnx.save(m, sys.argv[1])


if __name__ == "__main__":
    main()
