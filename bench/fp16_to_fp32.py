#!/usr/bin/python3
"""fp16_to_fp32.py IN.onnx OUT.onnx -- a float16 ONNX model as float32, for timing FP32 side by
side (ONNX Runtime runs a float16 model on the CPU through casts or slow kernels; lowp widens
such models itself, docs/engine.md). Initializers, Constant values, Cast targets, inputs,
outputs and value_info of type float16 become float32; nothing else changes."""
import sys

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

F16, F32 = TensorProto.FLOAT16, TensorProto.FLOAT


def widen_tensor(t):
    if t.data_type != F16:
        return t
    w = numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float32), t.name)
    t.CopyFrom(w)
    return t


def widen_graph(g):
    for t in g.initializer:
        widen_tensor(t)
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        tt = vi.type.tensor_type
        if tt.elem_type == F16:
            tt.elem_type = F32
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                widen_tensor(a.t)
            elif a.type == onnx.AttributeProto.GRAPH:
                widen_graph(a.g)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for sg in a.graphs:
                    widen_graph(sg)
            elif n.op_type == "Cast" and a.name == "to" and a.i == F16:
                a.i = F32


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    m = onnx.load(sys.argv[1])
    widen_graph(m.graph)
    onnx.save(m, sys.argv[2])


if __name__ == "__main__":
    main()
