#!/usr/bin/python3
"""odd_names.py MODEL OUT — writes a copy of an ONNX model whose node, initializer and
intermediate tensor names contain characters that HTML and Markdown treat specially
(< > & " ' |) and non-ASCII letters, so the reports' escaping can be checked. The graph's
inputs and outputs keep their names (data sets feed them by position and name).

    /usr/bin/python3 tools/odd_names.py models/mlp.onnx /tmp/odd.onnx
"""
import sys

import onnx

model = onnx.load(sys.argv[1])
g = model.graph
keep = {v.name for v in g.input} | {v.name for v in g.output}
names = {}


def odd(name):
    if not name or name in keep:
        return name
    if name not in names:
        names[name] = '<b>%d</b> & "q\'|\u00fc' % len(names)
    return names[name]


for t in g.initializer:
    t.name = odd(t.name)
for i, n in enumerate(g.node):
    n.name = odd(n.name or "node%d" % i)
    n.input[:] = [odd(x) for x in n.input]
    n.output[:] = [odd(x) for x in n.output]
for v in g.value_info:
    v.name = odd(v.name)
onnx.checker.check_model(model)
onnx.save(model, sys.argv[2])
