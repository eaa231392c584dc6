"""test_core.py — load/save (path, bytes, ModelProto), info, Session.run against the zoo's
reference logits (no copy of a C-contiguous input of the right dtype, conversions otherwise,
zero-copy outputs), errors as lowp.Error with status and message, quantize (static from lists
and generators, dynamic), compare, bench."""
import os

import numpy as np
import onnx
import pytest

import lowp
from lowp import core

MLP = "models/mlp.onnx"


def reference():
    return np.load("models/fixed_batch_input.npy"), np.load("models/mlp.fixed_batch_logits.npy")


def test_load_path_bytes_proto_and_save(tmp_path):
    x, ref = reference()
    a = lowp.load(MLP)
    b = lowp.load(open(MLP, "rb").read())
    c = lowp.load(onnx.load(MLP))
    for m in (a, b, c):
        assert m.input_names == ["input"] and m.output_names == ["logits"]
        # 5e-6: the MLP's logits are O(10); FP32 reassociation across kernels, not quantization
        np.testing.assert_allclose(lowp.Session(m).run(x)["logits"], ref, atol=5e-5)
    a.save(tmp_path / "copy.onnx")
    assert lowp.load(tmp_path / "copy.onnx").to_bytes() == a.to_bytes()
    assert onnx.load_model_from_string(a.to_bytes()).graph.input[0].name == "input"


def test_info():
    i = lowp.load(MLP).info()
    assert i["inputs"][0] == {"name": "input", "dtype": "float32", "shape": ["batch", 1, 28, 28]}
    assert i["ops"]["Gemm"] == 3


def test_run_no_copy_for_contiguous_input(monkeypatch):
    x, ref = reference()
    s = lowp.Session(MLP, threads=1)
    wrapped = []
    real = core._tensor
    monkeypatch.setattr(core, "_tensor", lambda make, a: (make is core._wrap and wrapped.append(a)) or real(make, a))
    out = s.run({"input": x})
    assert wrapped[0] is x                       # the caller's array itself, not a copy
    y = out["logits"]
    assert not y.flags.owndata and y.shape == (8, 10)   # a view of lowp's buffer
    np.testing.assert_allclose(y, ref, atol=5e-5)
    # float64 and non-contiguous inputs are converted
    s.run({"input": x.astype(np.float64)})
    assert wrapped[-1].dtype == np.float32
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    np.testing.assert_allclose(s.run([xt])["logits"], ref, atol=5e-5)
    # outputs outlive the session and each other
    del s
    assert np.isfinite(y).all()


def test_errors_carry_status_and_message(tmp_path):
    with pytest.raises(lowp.Error) as e:
        lowp.load(tmp_path / "missing.onnx")
    assert e.value.status == 2 and "missing.onnx" in e.value.message
    s = lowp.Session(MLP)
    with pytest.raises(lowp.Error) as e:
        s.run({"input": np.zeros((2, 1, 5, 28), np.float32)})
    assert e.value.status_name == "shape mismatch" and "input 'input'" in str(e.value)
    with pytest.raises(lowp.Error, match="no input named 'wrong'"):
        s.run({"wrong": np.zeros((1, 1, 28, 28), np.float32)})
    with pytest.raises(lowp.Error):
        lowp.load(b"not a model")


def test_quantize_static_dynamic_compare(calib_batches, test_set, tmp_path):
    x, y = test_set
    fp32 = lowp.Session(MLP).run(x)["logits"]
    q = lowp.quantize(MLP, calib=calib_batches)
    assert q.info()["ops"]["QuantizeLinear"] >= 3
    qy = lowp.Session(q).run(x)["logits"]
    # INT8 changes few top-1 decisions on this MLP (measured 0.3 %; 2 % leaves room for noise)
    assert (qy.argmax(1) != fp32.argmax(1)).mean() < 0.02
    # a generator gives the same calibration as a list
    q2 = lowp.quantize(MLP, calib=(b for b in calib_batches))
    assert q2.to_bytes() == q.to_bytes()
    # samples= stops early: the first batch only
    q3 = lowp.quantize(MLP, calib=calib_batches, samples=50)
    assert q3.to_bytes() == lowp.quantize(MLP, calib=calib_batches[:1]).to_bytes()
    d = lowp.quantize(MLP, approach="dynamic")
    assert "DynamicQuantizeLinear" in d.info()["ops"]
    layers = lowp.compare(MLP, q, [x[:32]], tensorboard=tmp_path / "tb")
    assert layers and {"node", "sqnr_db", "kind"} <= set(layers[0])
    # one event file per run (their content: tests/tensorboard.sh reads them back)
    for run in ("fp32", "quantized"):
        files = os.listdir(tmp_path / "tb" / run)
        assert len(files) == 1 and files[0].startswith("events.out.tfevents.")
    finite = [l["sqnr_db"] for l in layers if l["sqnr_db"] is not None]  # JSON null: an infinite SQNR
    assert finite and finite == sorted(finite)
    with pytest.raises(ValueError):
        lowp.quantize(MLP)  # static without data


def test_recipe_dict():
    x = np.random.default_rng(1).standard_normal((20, 1, 28, 28)).astype(np.float32)
    node = lowp.load(MLP).capability()[-1]["node"]
    q = lowp.quantize(MLP, calib=[x], recipe={"activation.algorithm": "kl", "op_wise": {node: "fp32"}})
    assert q.info()["ops"]["QuantizeLinear"] < lowp.quantize(MLP, calib=[x]).info()["ops"]["QuantizeLinear"]
    with pytest.raises(lowp.Error):
        lowp.quantize(MLP, calib=[x], recipe={"no.such.key": 1})


def test_bench():
    r = lowp.bench(MLP, iters=20, warmup=2)
    assert r["iters"] == 20 and 0 < r["p50_ms"] <= r["p99_ms"]
