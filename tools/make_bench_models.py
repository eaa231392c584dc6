# Exports the benchmark models (ResNet-50, MobileNetV2, a BERT-base-sized encoder) to bench/models/ with their torch weights and a reference output.
"""Run with Debian's Python (it has torch): /usr/bin/python3 tools/make_bench_models.py

For each model NAME it writes, into bench/models/ (gitignored, regenerated on demand):
  NAME.onnx            opset 13, dynamic batch dim, BatchNorm folded by the exporter
  NAME.pt              the torch state_dict (bench/torch_bench.py loads it: same weights)
  NAME.ref_input.npy   a fixed batch-1 input, and
  NAME.ref_output.npy  torch's output on it (to check that lowp and ONNX Runtime agree)
  NAME.json            metadata (input/output names and shapes, parameter count)

Weights are random with fixed seeds: the files are identical run to run on one machine.

  resnet50  torchvision's ResNet-50 architecture; input "input" (N,3,224,224) float32, output
            "logits" (N,1000). BatchNorm running statistics are set by a few train-mode passes
            over random images, so that activations stay in a realistic range.
  mobilenetv2  torchvision's MobileNetV2 architecture; input "input" (N,3,224,224), output
            "logits" (N,1000); BatchNorm settled as for resnet50 (bench/realmodels.py).
  bert      a BERT-base-sized encoder written out in torch: 12 post-LN layers, hidden 768,
            12 heads, FFN 3072 with GELU (erf form), LayerNorm eps 1e-12, sequence 128, no
            attention mask. Input "embeddings" (N,128,768) float32: the summed word + position +
            token-type embeddings, before BERT's embedding LayerNorm (which the model applies).
            The token-id lookup is left out on purpose: it is a Gather that costs nothing next to
            the encoder, and a float input keeps every runtime's input path identical.
            Output "hidden" (N,128,768), the last layer's sequence output (no pooler).
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "bench", "models")
OPSET = 13


# ---------------------------------------------------------------- ResNet-50

def resnet50():
    import torchvision
    return torchvision.models.resnet50(weights=None)


def mobilenetv2():
    import torchvision
    return torchvision.models.mobilenet_v2(weights=None)


def settle_batchnorm(model, shape, batches=4, seed=1):
    """Sets BatchNorm running stats from train-mode passes over random inputs (no weight update)."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None   # cumulative average over the batches
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(*shape, generator=gen))
    model.eval()


# ---------------------------------------------------------------- BERT-base encoder

class SelfAttention(nn.Module):
    def __init__(self, hidden, heads, seq):
        super().__init__()
        self.heads, self.head_dim, self.seq = heads, hidden // heads, seq
        self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))
        self.out = nn.Linear(hidden, hidden)

    def split(self, x):  # (B,S,H*D) -> (B,H,S,D); -1 for the batch keeps the Reshape constant
        return x.reshape(-1, self.seq, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.head_dim)
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
        return self.out(ctx.transpose(1, 2).reshape(-1, self.seq, self.heads * self.head_dim))


class BertLayer(nn.Module):
    """BERT's post-LN layer: x = LN(x + Attn(x)); x = LN(x + FFN(x))."""

    def __init__(self, hidden, heads, ffn, seq, eps):
        super().__init__()
        self.attn = SelfAttention(hidden, heads, seq)
        self.ln1 = nn.LayerNorm(hidden, eps=eps)
        self.ffn_in, self.ffn_out = nn.Linear(hidden, ffn), nn.Linear(ffn, hidden)
        self.ln2 = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x):
        x = self.ln1(x + self.attn(x))
        return self.ln2(x + self.ffn_out(F.gelu(self.ffn_in(x))))


class BertEncoder(nn.Module):
    def __init__(self, layers=12, hidden=768, heads=12, ffn=3072, seq=128, eps=1e-12):
        super().__init__()
        self.emb_ln = nn.LayerNorm(hidden, eps=eps)
        self.layers = nn.Sequential(*[BertLayer(hidden, heads, ffn, seq, eps) for _ in range(layers)])

    def forward(self, embeddings):
        return self.layers(self.emb_ln(embeddings))


def bert():
    model = BertEncoder()
    # BERT's initializer: N(0, 0.02) weights; biases and LayerNorm affine made slightly random
    # too, so that no layer is a copy of another and no parameter is trivially constant.
    for name, p in model.named_parameters():
        with torch.no_grad():
            if name.endswith("weight") and p.dim() == 2:
                p.normal_(0.0, 0.02)
            elif "ln" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.05 * torch.randn_like(p))
            else:
                p.normal_(0.0, 0.02)
    return model


# ---------------------------------------------------------------- export

# name -> (constructor, input name, per-sample input shape, output name, BatchNorm settling)
MODELS = {
    "resnet50": (resnet50, "input", (3, 224, 224), "logits", True),
    "mobilenetv2": (mobilenetv2, "input", (3, 224, 224), "logits", True),
    "bert": (bert, "embeddings", (128, 768), "hidden", False),
}


def build(name, seed=0):
    """The torch module of a bench model with the weights in bench/models/NAME.pt if present,
    else freshly made from the fixed seed. Used by bench/torch_bench.py as well."""
    ctor, _, shape, _, settle = MODELS[name]
    torch.manual_seed(seed)
    model = ctor()
    path = os.path.join(OUT_DIR, name + ".pt")
    if os.path.exists(path):
        model.load_state_dict(torch.load(path))
    elif settle:
        settle_batchnorm(model, (8,) + shape)
    return model.eval()


def export(name):
    ctor, in_name, shape, out_name, settle = MODELS[name]
    torch.manual_seed(0)
    model = ctor()
    if settle:
        settle_batchnorm(model, (8,) + shape)
    model.eval()
    os.makedirs(OUT_DIR, exist_ok=True)
    base = os.path.join(OUT_DIR, name)
    torch.save(model.state_dict(), base + ".pt.tmp")
    os.replace(base + ".pt.tmp", base + ".pt")

    x = torch.randn((1,) + shape, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y = model(x)
    np.save(base + ".ref_input.npy", x.numpy())
    np.save(base + ".ref_output.npy", y.numpy())

    tmp = base + ".onnx.tmp"
    torch.onnx.export(model, x, tmp, opset_version=OPSET, do_constant_folding=True,
                      input_names=[in_name], output_names=[out_name],
                      dynamic_axes={in_name: {0: "batch"}, out_name: {0: "batch"}})
    os.replace(tmp, base + ".onnx")

    import onnx
    m = onnx.load(base + ".onnx")
    ops = sorted({n.op_type for n in m.graph.node})
    meta = {
        "name": name, "opset": OPSET, "input": in_name, "input_shape": ["batch", *shape],
        "output": out_name, "output_shape": ["batch", *y.shape[1:]],
        "params": sum(p.numel() for p in model.parameters()), "ops": ops,
        "torch": torch.__version__,
    }
    with open(base + ".json", "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    size = os.path.getsize(base + ".onnx") / 2**20
    print(f"{name}: {meta['params']:,} params, {size:.1f} MiB, ops {', '.join(ops)}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=sorted(MODELS), action="append",
                    help="export only this model (repeatable)")
    ap.add_argument("--force", action="store_true", help="re-export models that exist already")
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for name in args.only or list(MODELS):
        if not args.force and os.path.exists(os.path.join(OUT_DIR, name + ".onnx")) \
                and os.path.exists(os.path.join(OUT_DIR, name + ".pt")):
            print(f"{name}: bench/models/{name}.onnx exists (--force re-exports)")
            continue
        export(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
