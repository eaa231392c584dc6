# Trains lowp's small Fashion-MNIST model zoo and exports it to ONNX plus reference outputs in models/.
import argparse
import gzip
import json
import math
import os
import time

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = "/usr/share/datasets/fashion-mnist"
OUT_DIR = os.path.join(ROOT, "models")
MEAN, STD = 0.2860, 0.3530
OPSET = 13
BATCH = 128


# ---------------------------------------------------------------- data

def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def normalize(pixels):
    """uint8 (N,28,28) pixels -> float32 (N,1,28,28): Rescale 1/255, then Normalize(MEAN, STD)."""
    x = pixels.astype(np.float32)[:, None] * np.float32(1.0 / 255.0)
    return (x - np.float32(MEAN)) / np.float32(STD)


def load_split(prefix):
    images = read_idx(os.path.join(DATA_DIR, prefix + "-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(DATA_DIR, prefix + "-labels-idx1-ubyte.gz"))
    return torch.from_numpy(normalize(images)), torch.from_numpy(labels.astype(np.int64))


# ---------------------------------------------------------------- models

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


def resnet_s():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        BasicBlock(16, 16, 1),
        BasicBlock(16, 32, 2),
        BasicBlock(32, 64, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.body = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.body(x)
        return x + y if self.use_res else y


def mobilenetv2_s():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
        InvertedResidual(16, 16, 1, 1),   # expansion 1 in the first block, as in MobileNetV2
        InvertedResidual(16, 24, 2, 4),   # 14x14
        InvertedResidual(24, 24, 1, 4),
        InvertedResidual(24, 32, 2, 4),   # 7x7
        InvertedResidual(32, 32, 1, 4),
        nn.Conv2d(32, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))


def mlp():
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 256), nn.ReLU(),
        nn.Linear(256, 128), nn.ReLU(),
        nn.Linear(128, 10))


class Attention(nn.Module):
    """Multi-head self-attention written out with Linear/MatMul/Softmax (exports cleanly)."""

    def __init__(self, dim, heads, tokens):
        super().__init__()
        self.heads, self.head_dim, self.tokens = heads, dim // heads, tokens
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def split(self, x):  # (B,T,C) -> (B,H,T,D); static shape keeps Reshape constant in ONNX
        return x.reshape(-1, self.tokens, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x):
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        att = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim)), dim=-1)
        y = torch.matmul(att, v).transpose(1, 2).reshape(-1, self.tokens, self.heads * self.head_dim)
        return self.proj(y)


class EncoderLayer(nn.Module):
    def __init__(self, dim, heads, mlp_dim, tokens):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(dim), Attention(dim, heads, tokens)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class ViT(nn.Module):
    def __init__(self, dim=64, patch=7, heads=4, mlp_dim=128, depth=2):
        super().__init__()
        self.dim, self.patches = dim, (28 // patch) ** 2
        tokens = self.patches + 1
        self.patch_embed = nn.Conv2d(1, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        self.layers = nn.Sequential(*[EncoderLayer(dim, heads, mlp_dim, tokens) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        x = self.patch_embed(x).reshape(-1, self.dim, self.patches).transpose(1, 2)  # (B,16,dim)
        # Prepend the class token as a zero row plus a constant (cls + pos) table: same maths as
        # cat([cls.expand(B,..), x]) + pos, but exports as one Pad + Add with no batch-size Shape ops.
        x = F.pad(x, (0, 0, 1, 0)) + (self.pos_embed + F.pad(self.cls_token, (0, 0, 0, self.patches)))
        x = self.layers(x)
        return self.head(self.norm(x[:, 0]))


def vit_s():
    return ViT()


# name -> (constructor, default epochs, peak learning rate)
ZOO = {
    "resnet_s": (resnet_s, 3, 3e-3),
    "mobilenetv2_s": (mobilenetv2_s, 3, 3e-3),
    "mlp": (mlp, 4, 2e-3),
    "vit_s": (vit_s, 4, 2e-3),
}


# ---------------------------------------------------------------- train / eval

@torch.no_grad()
def predict(model, x, batch=1000):
    model.eval()
    return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])


def train(model, train_x, train_y, test_x, test_y, epochs, lr):
    # channels_last makes CPU (depthwise) convolutions several times faster; undone before export.
    model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(train_x) / BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    gen = torch.Generator().manual_seed(0)
    for epoch in range(1, epochs + 1):
        t0 = time.time()
        model.train()
        order = torch.randperm(len(train_x), generator=gen)
        loss_sum, correct = 0.0, 0
        for i in range(0, len(order), BATCH):
            idx = order[i:i + BATCH]
            x, y = train_x[idx].contiguous(memory_format=torch.channels_last), train_y[idx]
            out = model(x)
            loss = F.cross_entropy(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
            correct += (out.argmax(1) == y).sum().item()
        test_acc = (predict(model, test_x).argmax(1) == test_y).float().mean().item()
        print(f"  epoch {epoch}/{epochs}: loss {loss_sum / len(order):.4f} "
              f"train acc {correct / len(order):.4f} test acc {test_acc:.4f} ({time.time() - t0:.1f}s)",
              flush=True)
    model.to(memory_format=torch.contiguous_format)


# ---------------------------------------------------------------- export

def eval_const_node(node, ins):
    """numpy evaluation of the few ops that appear in constant-only subgraphs."""
    a = {at.name: onnx.helper.get_attribute_value(at) for at in node.attribute}
    op = node.op_type
    if op == "Constant":
        return numpy_helper.to_array(a["value"])
    if op == "ConstantOfShape":
        value = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
        return np.full(ins[0].astype(np.int64), value[0], value.dtype)
    if op == "Concat":
        return np.concatenate(ins, axis=a["axis"])
    if op == "Reshape":
        return ins[0].reshape([d if d != 0 else ins[0].shape[k] for k, d in enumerate(ins[1])])
    if op == "Slice":
        starts, ends = ins[1], ins[2]
        axes = ins[3] if len(ins) > 3 else range(len(starts))
        steps = ins[4] if len(ins) > 4 else [1] * len(starts)
        index = [slice(None)] * ins[0].ndim
        for start, end, axis, step in zip(starts, ends, axes, steps):
            index[axis] = slice(int(start), int(end), int(step))
        return ins[0][tuple(index)]
    if op == "Transpose":
        return ins[0].transpose(a.get("perm"))
    if op == "Cast":
        return ins[0].astype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[a["to"]])
    if op == "Pad":
        pads, k = ins[1], ins[0].ndim
        value = ins[2] if len(ins) > 2 else 0
        return np.pad(ins[0], list(zip(pads[:k], pads[k:])), constant_values=value)
    if op == "Add":
        return ins[0] + ins[1]
    if op == "Identity":  # torch.onnx emits these for deduplicated (identical) initializers
        return ins[0]
    return None


def fold_constants(model):
    """Replace nodes whose inputs are all constant by initializers. torch 1.13 leaves F.pad's pads
    computation (a Slice with step -1) unfolded, and emits Clip bounds and Reshape shapes as Constant nodes."""
    graph = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    keep = []
    for node in graph.node:
        ins = [consts.get(name) for name in node.input if name]
        value = eval_const_node(node, ins) if all(i is not None for i in ins) else None
        if value is None:
            keep.append(node)
        else:
            consts[node.output[0]] = np.asarray(value)
    used = {name for node in keep for name in node.input} | {out.name for out in graph.output}
    old_inits = {t.name: t for t in graph.initializer}
    inits = [old_inits[name] if name in old_inits else numpy_helper.from_array(value, name)
             for name, value in consts.items() if name in used]
    del graph.node[:]
    graph.node.extend(keep)
    del graph.initializer[:]
    graph.initializer.extend(inits)
    value_info = [vi for vi in graph.value_info if vi.name not in consts]
    del graph.value_info[:]
    graph.value_info.extend(value_info)
    return model


def export(model, path):
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, opset_version=OPSET,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True)
    return finish_onnx(path)


def finish_onnx(path):
    graph = fold_constants(onnx.load(path))
    onnx.checker.check_model(graph)
    onnx.save(graph, path)
    return sorted({node.op_type for node in graph.graph.node})


def write_readme(summaries):
    if any("BatchNormalization" in s["ops"] for s in summaries):
        bn_note = "- Some graphs keep BatchNormalization nodes (see the ops column)."
    else:
        bn_note = ("- No graph contains BatchNormalization: in eval mode with constant folding, torch.onnx folds\n"
                   "  each BatchNorm into the preceding Conv's weight and bias.")
    lines = [
        "# lowp model zoo (Fashion-MNIST)",
        "",
        "Small float32 models trained on Fashion-MNIST and exported to ONNX (opset 13) with",
        "`torch.onnx.export(..., do_constant_folding=True)` in eval mode; input `input` (N,1,28,28),",
        "output `logits` (N,10), batch dimension dynamic.",
        "",
        "Preprocessing is done by the caller, outside the model: `x = (pixel/255 - 0.2860) / 0.3530`.",
        "",
        "| model | params | top-1 (PyTorch, 10k test) | epochs | train time | .onnx size | ONNX ops |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in summaries:
        lines.append(f"| `{s['name']}` | {s['params']:,} | {s['top1']:.4f} | {s['epochs']} | {s['train_seconds']:.0f} s "
                     f"| {s['bytes'] / 1024:.0f} KiB | {', '.join(s['ops'])} |")
    lines += [
        "",
        "Files per model: `<name>.onnx`, `<name>.json` (metadata, top-1 and correct count),",
        "`<name>.pred.npy` (int64 (10000,) PyTorch argmax on the test set, in file order) and",
        "`<name>.fixed_batch_logits.npy` (float32 (8,10) PyTorch logits on `fixed_batch_input.npy`,",
        "the first 8 test images, normalized). All `.npy` files are format v1.0.",
        "",
        "Notes on the exported graphs:",
        "",
        bn_note,
        "- After export, nodes whose inputs are all constant are evaluated and stored as initializers",
        "  (`fold_constants` in the script): torch 1.13 leaves `F.pad`'s pads computation (ConstantOfShape,",
        "  Concat, Slice with step -1, Cast, ...) unfolded and emits Clip bounds / Reshape shapes as",
        "  `Constant` nodes. So no graph has Constant nodes; every Reshape shape, Pad pads and Clip",
        "  min/max is an initializer.",
        "- `nn.ReLU6` exports as `Clip` (min 0, max 6); `nn.Linear` on 2-D input exports as `Gemm`,",
        "  on 3-D input (ViT) as `MatMul` + `Add`.",
        "- `nn.LayerNorm` at opset 13 is decomposed (ReduceMean, Sub, Pow, Add, Sqrt, Div, Mul);",
        "  `nn.GELU` becomes the Erf form (Div, Erf, Add, Mul).",
        "- ViT's class token is prepended as a zero row (`Pad`, pads [0,1,0,0,0,0]) plus one folded",
        "  (cls + position) table (`Add`), avoiding batch-dependent Shape/Expand ops; `x[:, 0]` exports",
        "  as `Gather`; attention is batched 4-D `MatMul` (B,4,17,16) and `Softmax` on the last axis.",
        "",
        "Regenerate (deterministic given the fixed seeds; about 10 minutes on 2 idle CPU cores, far longer",
        "on a busy machine; train times in the table are wall-clock from the last run):",
        "",
        "    /usr/bin/python3 tools/make_zoo.py",
        "",
        "Options: `--only NAME` (one model; README rows for the others are kept from their .json files),",
        "`--epochs N` (override every model's epoch count).",
        "",
    ]
    with open(os.path.join(OUT_DIR, "README.md"), "w") as f:
        f.write("\n".join(lines))


def build(name, epochs, data):
    make, default_epochs, lr = ZOO[name]
    epochs = epochs or default_epochs
    train_x, train_y, test_x, test_y = data
    torch.manual_seed(0)
    np.random.seed(0)
    model = make()
    params = sum(p.numel() for p in model.parameters())
    print(f"{name}: {params:,} params, {epochs} epochs", flush=True)
    t0 = time.time()
    train(model, train_x, train_y, test_x, test_y, epochs, lr)
    train_seconds = time.time() - t0

    pred = predict(model, test_x).argmax(1)
    correct = int((pred == test_y).sum())
    base = os.path.join(OUT_DIR, name)
    ops = export(model, base + ".onnx")
    np.save(base + ".pred.npy", pred.numpy().astype(np.int64))
    np.save(base + ".fixed_batch_logits.npy", predict(model, test_x[:8]).numpy().astype(np.float32))
    meta = {"name": name, "top1": correct / len(test_y), "correct": correct, "params": params,
            "epochs": epochs, "preprocess": {"scale": 1 / 255, "mean": MEAN, "std": STD},
            "opset": OPSET, "input": "input", "output": "logits",
            "train_seconds": round(train_seconds, 1), "ops": ops}
    with open(base + ".json", "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"{name}: top-1 {meta['top1']:.4f} ({correct}/10000), {os.path.getsize(base + '.onnx'):,} bytes, "
          f"ops {' '.join(ops)}, trained in {train_seconds:.0f}s", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=sorted(ZOO), help="build just this model")
    parser.add_argument("--epochs", type=int, help="override every model's epoch count")
    args = parser.parse_args()

    torch.set_num_threads(2)
    torch.manual_seed(0)
    np.random.seed(0)
    os.makedirs(OUT_DIR, exist_ok=True)
    train_x, train_y = load_split("train")
    test_x, test_y = load_split("t10k")
    np.save(os.path.join(OUT_DIR, "fixed_batch_input.npy"), test_x[:8].numpy())

    for name in [args.only] if args.only else list(ZOO):
        build(name, args.epochs, (train_x, train_y, test_x, test_y))

    summaries = []
    for name in ZOO:
        base = os.path.join(OUT_DIR, name)
        if os.path.exists(base + ".json"):
            with open(base + ".json") as f:
                s = json.load(f)
            s["bytes"] = os.path.getsize(base + ".onnx")
            summaries.append(s)
    write_readme(summaries)


if __name__ == "__main__":
    main()
