#!/usr/bin/python3
"""rnn_models.py OUTDIR — recurrent models for holding lowp's RNN/GRU/LSTM against ONNX Runtime
and PyTorch (tests/rnn.sh).

Writes, per case NAME: NAME.onnx (one float input X; the output to compare is named "out"),
NAME.in.npy, for the PyTorch exports NAME.torch.npy (what PyTorch computed), and for layout-1
nodes NAME.twin: the same computation in layout 0 between Transposes, for ONNX Runtime. Two families:
  op_*     one RNN/GRU/LSTM node built with onnx.helper, every option drawn from a seeded
           generator (direction, layout, bias, initial states, peepholes, sequence_lens,
           clip, activation lists with alpha/beta, input_forget, linear_before_reset); the
           node's outputs Y, Y_h (, Y_c) are flattened and concatenated into one output so
           that tests/ort_run.js (single output) sees all of them;
  torch_*  torch.nn.LSTM / GRU / RNN modules (multi-layer, bidirectional, batch_first)
           exported by torch.onnx.export (opset 14).
Deterministic: same seed, same files."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
# activation name -> (alphas, betas) it takes; the values drawn keep the functions tame
ACTS = {"Relu": (0, 0), "Tanh": (0, 0), "Sigmoid": (0, 0), "Affine": (1, 1), "LeakyRelu": (1, 0),
        "ThresholdedRelu": (1, 0), "ScaledTanh": (1, 1), "HardSigmoid": (1, 1), "Elu": (1, 0),
        "Softsign": (0, 0), "Softplus": (0, 0)}
# activations that keep a gate in [0, 1] (f) and that squash a candidate (g, h)
GATE_ACTS = ["Sigmoid", "HardSigmoid"]
SQUASH_ACTS = ["Tanh", "ScaledTanh", "Softsign", "Sigmoid", "Affine", "LeakyRelu", "Elu", "Relu",
               "ThresholdedRelu", "Softplus"]


def op_case(rng, kind, direction, layout):
    """One node with random options; returns (model, X, twin): twin is None for layout 0, else
    the same computation as a layout-0 node between Transposes (ONNX Runtime's CPU kernels
    refuse layout 1)."""
    D = 2 if direction == "bidirectional" else 1
    G = GATES[kind]
    T, B, I, H = int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(1, 6)), int(rng.integers(1, 6))
    attrs = {"hidden_size": H, "direction": direction}

    def rand(*shape):
        return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)

    vals = {"W": rand(D, G * H, I), "R": rand(D, G * H, H)}
    use = {k: bool(rng.integers(0, 2)) for k in ("B", "seq", "h0", "c0", "P")}
    if use["B"]:
        vals["B"] = rand(D, 2 * G * H)
    if use["seq"]:
        # lengths in [1, T] (ONNX Runtime refuses 0), at least one full row
        lens = rng.integers(1, T + 1, size=B).astype(np.int32)
        lens[int(rng.integers(0, B))] = T
        vals["seq"] = lens
    if use["h0"]:
        vals["h0"] = rand(D, B, H)          # layout 0; transposed for layout 1
    if kind == "LSTM" and use["c0"]:
        vals["c0"] = rand(D, B, H)
    if kind == "LSTM" and use["P"]:
        vals["P"] = rand(D, 3 * H)

    if rng.integers(0, 3) == 0:
        attrs["clip"] = float(rng.uniform(0.5, 3.0))
    if rng.integers(0, 2) == 0:
        n_fn = {"RNN": 1, "GRU": 2, "LSTM": 3}[kind]
        acts, alphas, betas = [], [], []
        for _ in range(D):
            for j in range(n_fn):
                gate = kind != "RNN" and j == 0
                a = str(rng.choice(GATE_ACTS if gate else SQUASH_ACTS))
                acts.append(a)
                na, nb = ACTS[a]
                alphas += [float(rng.uniform(0.1, 0.9))] * na
                betas += [float(rng.uniform(0.1, 0.9))] * nb
        attrs["activations"] = acts
        if alphas:
            attrs["activation_alpha"] = alphas
        if betas:
            attrs["activation_beta"] = betas
    if kind == "LSTM" and rng.integers(0, 2) == 0:
        attrs["input_forget"] = 1
    if kind == "GRU":
        attrs["linear_before_reset"] = int(rng.integers(0, 2))
    x = rand(T, B, I)

    def build(node_layout, transposed):
        """The model with the node in `node_layout`; `transposed`: X and the outputs are batch-first
        around it (layout 1 semantics) -- by the node itself or by Transposes."""
        inits, nodes = [], []
        names = ["X", "W", "R", "B", "seq", "h0"] + (["c0", "P"] if kind == "LSTM" else [])
        inputs = []
        for nm in names:
            if nm == "X":
                inputs.append("X" if node_layout == int(transposed) else "X_t")
                continue
            if nm not in vals:
                inputs.append("")
                continue
            v = vals[nm]
            if nm in ("h0", "c0") and node_layout:
                v = np.ascontiguousarray(v.transpose(1, 0, 2))
            inits.append(numpy_helper.from_array(v, nm))
            inputs.append(nm)
        while inputs[-1] == "":
            inputs.pop()
        if inputs[0] == "X_t":
            nodes.append(helper.make_node("Transpose", ["X"], ["X_t"], perm=[1, 0, 2]))
        outs = ["Y", "Y_h"] + (["Y_c"] if kind == "LSTM" else [])
        twin = transposed and not node_layout
        node_outs = [o + "_n" if twin else o for o in outs]
        nodes.append(helper.make_node(kind, inputs, node_outs, name="rnn", layout=node_layout, **attrs))
        if twin:
            for o in outs:
                perm = [2, 0, 1, 3] if o == "Y" else [1, 0, 2]
                nodes.append(helper.make_node("Transpose", [o + "_n"], [o], perm=perm))
        inits.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat"))
        for o in outs:
            nodes.append(helper.make_node("Reshape", [o, "flat"], [o + "_flat"]))
        nodes.append(helper.make_node("Concat", [o + "_flat" for o in outs], ["out"], axis=0))
        xshape = [B, T, I] if transposed else [T, B, I]
        graph = helper.make_graph(nodes, "rnn", [helper.make_tensor_value_info("X", TensorProto.FLOAT, xshape)],
                                  [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n"])], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
        model.ir_version = 7
        onnx.checker.check_model(model)
        return model

    if not layout:
        return build(0, False), x, None
    return build(1, True), np.ascontiguousarray(x.transpose(1, 0, 2)), build(0, True)


def torch_cases(out):
    import torch
    torch.manual_seed(0)
    mods = {
        "torch_lstm": (torch.nn.LSTM(8, 16, num_layers=2, bidirectional=True), (5, 2, 8)),
        "torch_lstm_bf": (torch.nn.LSTM(6, 12, batch_first=True), (3, 7, 6)),
        "torch_gru": (torch.nn.GRU(8, 16, num_layers=2, bidirectional=True), (5, 2, 8)),
        "torch_rnn_relu": (torch.nn.RNN(8, 10, nonlinearity="relu", bidirectional=True), (6, 3, 8)),
    }
    for name, (mod, shape) in mods.items():
        mod.eval()
        x = torch.randn(*shape)
        with torch.no_grad():
            y = mod(x)[0]
        path = os.path.join(out, name + ".onnx")
        torch.onnx.export(mod, (x,), path, input_names=["X"], output_names=["out"], opset_version=14)
        np.save(os.path.join(out, name + ".in.npy"), x.numpy())
        np.save(os.path.join(out, name + ".torch.npy"), y.numpy())

    class Head(torch.nn.Module):
        """A batch-first LSTM with a Linear head on every step: quantization keeps the LSTM
        float (static) or makes it DynamicQuantizeLSTM (dynamic) and quantizes the head."""
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(6, 12, batch_first=True)
            self.head = torch.nn.Linear(12, 4)

        def forward(self, x):
            return self.head(self.lstm(x)[0])

    mod = Head().eval()
    x = torch.randn(3, 7, 6)
    with torch.no_grad():
        y = mod(x)
    torch.onnx.export(mod, (x,), os.path.join(out, "torch_lstm_head.onnx"), input_names=["X"], output_names=["out"],
                      dynamic_axes={"X": {0: "batch"}, "out": {0: "batch"}}, opset_version=14)
    np.save(os.path.join(out, "torch_lstm_head.in.npy"), x.numpy())
    np.save(os.path.join(out, "torch_lstm_head.torch.npy"), y.numpy())


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: rnn_models.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(11)
    for kind in ("RNN", "GRU", "LSTM"):
        for direction in ("forward", "reverse", "bidirectional"):
            for layout in (0, 1):
                for rep in range(2):
                    name = f"op_{kind.lower()}_{direction}_l{layout}_{rep}"
                    model, x, twin = op_case(rng, kind, direction, layout)
                    onnx.save(model, os.path.join(out, name + ".onnx"))
                    if twin is not None:
                        onnx.save(twin, os.path.join(out, name + ".twin"))
                    np.save(os.path.join(out, name + ".in.npy"), x)
    torch_cases(out)


if __name__ == "__main__":
    main()
