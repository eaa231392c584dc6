#!/usr/bin/python3
"""ort_dynamic.py IN.onnx OUT.onnx — an FP32 model's convolutions quantized the way ONNX Runtime's
`quantize_dynamic(..., weight_type=QuantType.QUInt8)` writes them, for benchmarking lowp on a
user's ORT-quantized file without ONNX Runtime's Python package (there is none in Debian).

Every Conv with constant weights becomes
    DynamicQuantizeLinear(x) -> ConvInteger(x_q, w_q, x_zp, w_zp) -> Cast(float)
      -> Mul(x_scale * w_scale) [-> Add(bias)]
with u8 weights quantized asymmetrically per tensor over [min(w, 0), max(w, 0)] (zero points
anywhere in 0..255, so many w - w_zp fall outside int8 -- what lowp's weight correction is
for), one DynamicQuantizeLinear per quantized tensor, as ONNX Runtime's quantizer reuses them.
Depthwise and grouped convolutions are quantized too (ONNX Runtime's quantizer does not skip
them). Other ops are left as they are. Deterministic."""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def quantize_u8(w):
    """ONNX Runtime's asymmetric u8 per-tensor weight quantization: (w_q, scale, zero point)."""
    rmin, rmax = min(float(w.min()), 0.0), max(float(w.max()), 0.0)
    scale = (rmax - rmin) / 255.0 if rmax > rmin else 1.0
    zp = int(np.clip(round(-rmin / scale), 0, 255))
    q = np.clip(np.rint(w / scale) + zp, 0, 255).astype(np.uint8)
    return q, np.float32(scale), np.uint8(zp)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.splitlines()[0])
    m = onnx.load(sys.argv[1])
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    nodes, added, dql = [], [], {}
    count = 0
    for n in g.node:
        if n.op_type != "Conv" or len(n.input) < 2 or n.input[1] not in inits:
            nodes.append(n)
            continue
        count += 1
        x, name = n.input[0], n.name or f"conv{count}"
        if x not in dql:  # one DynamicQuantizeLinear per tensor
            dql[x] = (x + "_quantized", x + "_scale", x + "_zero_point")
            nodes.append(helper.make_node("DynamicQuantizeLinear", [x], list(dql[x]), name=x + "_QuantizeLinear"))
        xq, xs, xz = dql[x]
        w = numpy_helper.to_array(inits[n.input[1]]).astype(np.float32)
        q, ws, wz = quantize_u8(w)
        wq, wsn, wzn = n.input[1] + "_quantized", n.input[1] + "_scale", n.input[1] + "_zero_point"
        if wq not in {t.name for t in added}:  # (a weight two convolutions share: quantized once)
            added += [numpy_helper.from_array(q, wq), numpy_helper.from_array(np.array(ws, np.float32), wsn),
                      numpy_helper.from_array(np.array(wz, np.uint8), wzn)]
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        out = n.output[0]
        nodes.append(helper.make_node("ConvInteger", [xq, wq, xz, wzn], [out + "_output_quantized"],
                                      name=name + "_quant", **attrs))
        nodes.append(helper.make_node("Cast", [out + "_output_quantized"], [out + "_output_quantized_cast"],
                                      to=TensorProto.FLOAT, name=name + "_cast"))
        nodes.append(helper.make_node("Mul", [xs, wsn], [name + "_scales_mul"], name=name + "_scales_mul"))
        has_bias = len(n.input) > 2 and n.input[2]
        nodes.append(helper.make_node("Mul", [out + "_output_quantized_cast", name + "_scales_mul"],
                                      [out + "_scaled" if has_bias else out], name=name + "_output_scale_mul"))
        if has_bias and n.input[2] + "_reshaped" not in {t.name for t in added}:
            b = numpy_helper.to_array(inits[n.input[2]]).astype(np.float32)
            bn = n.input[2] + "_reshaped"
            added.append(numpy_helper.from_array(b.reshape([-1] + [1] * (w.ndim - 2)), bn))
        if has_bias:
            bn = n.input[2] + "_reshaped"
            nodes.append(helper.make_node("Add", [out + "_scaled", bn], [out], name=name + "_bias_add"))
    used = {i for n in nodes for i in n.input}
    keep = [t for t in g.initializer if t.name in used]
    del g.node[:]
    g.node.extend(nodes)
    del g.initializer[:]
    g.initializer.extend(keep + added)
    if not any(o.domain in ("", "ai.onnx") and o.version >= 11 for o in m.opset_import):
        sys.exit("ort_dynamic: the model's opset is below 11 (DynamicQuantizeLinear)")
    onnx.checker.check_model(m)
    onnx.save(m, sys.argv[2])
    print(f"ort_dynamic: {count} Conv -> ConvInteger ({len(dql)} DynamicQuantizeLinear) in {sys.argv[2]}")


if __name__ == "__main__":
    main()
