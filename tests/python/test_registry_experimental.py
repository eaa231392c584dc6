"""test_registry_experimental.py — Python datasets, transforms and metrics registered in
lowp's registries are used by name from YAML (by the C tuner); their exceptions become lowp
errors naming them; LPOT 1.x scripts through lowp.experimental: Quantization with an
eval_func receiving an onnx.ModelProto, with eval_dataloader + common.Metric, with the YAML's
evaluation; common.DataLoader over __getitem__ datasets and iterables; Benchmark."""
import numpy as np
import onnx
import pytest

import fmnist
import lowp
from lowp.experimental import Benchmark, Quantization, common


@lowp.register_dataset("PyFashion")
class PyFashion:
    def __init__(self, train=False, count=200):
        self.x = fmnist.images(train, count) * 0.3530 + 0.2860  # undo the normalization: PyNorm redoes it
        self.y = fmnist.labels(train, count)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        if i == 9999:
            raise IndexError("sample 9999 is cursed")
        return self.x[i], self.y[i]


@lowp.register_transform("PyNorm")
class PyNorm:
    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, sample):
        x, y = sample
        return ((x - self.mean) / self.std).astype(np.float32), y


@lowp.register_metric("PyAcc")
class PyAcc:
    higher_is_better = True

    def __init__(self, scale=1.0):
        self.scale = scale
        self.reset()

    def reset(self):
        self.right = self.n = 0

    def update(self, preds, labels):
        self.right += int((preds.argmax(1) == labels).sum())
        self.n += len(labels)

    def result(self):
        return self.scale * self.right / self.n


YAML = """
version: 1.0
model: {name: mlp, framework: onnxrt_qdq, path: models/mlp.onnx}
quantization:
  approach: post_training_static_quant
  calibration:
    sampling_size: 100
    dataloader:
      batch_size: 50
      dataset: {PyFashion: {train: true, count: 100}}
      transform: {PyNorm: {mean: 0.2860, std: 0.3530}}
evaluation:
  accuracy:
    metric: {PyAcc: {scale: 100}}
    dataloader:
      batch_size: 100
      dataset: {PyFashion: {count: 300}}
      transform: {PyNorm: {mean: 0.2860, std: 0.3530}}
tuning:
  accuracy_criterion: {relative: 0.01}
  workspace: {path: WS}
"""


def test_python_components_by_name_in_yaml(tmp_path, test_set):
    x, y = test_set
    _, s = lowp.tune("models/mlp.onnx", config=YAML.replace("WS", str(tmp_path)))
    expect = 100 * float((lowp.Session("models/mlp.onnx").run(x)["logits"].argmax(1) == y).mean())
    assert abs(s.baseline - expect) < 1e-9  # scale from YAML reached the metric; data and transform match
    assert s.met


def test_python_component_errors(tmp_path):
    bad = YAML.replace("count: 300", "count: 300, nope: 1").replace("WS", str(tmp_path))
    with pytest.raises(lowp.Error, match="nope"):
        lowp.tune("models/mlp.onnx", config=bad)
    with pytest.raises(lowp.Error, match="cursed"):
        ds = lowp.tuning.dataloader_from_spec("PyFashion:count=10000")
        try:
            from lowp import _lib
            import ctypes
            s, n = _lib.Sample(), ctypes.c_int64()
            for _ in range(10000):
                _lib.check(_lib.lib.lowp_dataloader_next(ds, ctypes.byref(s), ctypes.byref(n)))
        finally:
            _lib.lib.lowp_sample_clear(ctypes.byref(s))
            _lib.lib.lowp_dataloader_free(ds)


class Pairs:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


CONF = """
version: 1.0
model: {name: mlp, framework: onnxrt_qdq}
quantization: {approach: post_training_static_quant, calibration: {sampling_size: 100}}
tuning: {accuracy_criterion: {relative: 0.01}, workspace: {path: WS}}
"""


@pytest.fixture
def conf(tmp_path):
    p = tmp_path / "conf.yaml"
    p.write_text(CONF.replace("WS", str(tmp_path / "ws")))
    return str(p)


def test_lpot_eval_func_gets_modelproto(conf, test_set, tmp_path):
    x, y = test_set
    got = []

    def eval_func(model):  # as LPOT's ONNX examples: a ModelProto, run by any runtime
        got.append(type(model))
        sess = lowp.Session(model.SerializeToString())
        return float((sess.run(x)["logits"].argmax(1) == y).mean())

    quantizer = Quantization(conf)
    quantizer.model = common.Model(onnx.load("models/mlp.onnx"))
    quantizer.calib_dataloader = common.DataLoader(Pairs(fmnist.images(True, 100), fmnist.labels(True, 100)),
                                                   batch_size=50)
    quantizer.eval_func = eval_func
    q_model = quantizer()
    assert got and all(t is onnx.ModelProto for t in got)
    q_model.save(tmp_path / "q.onnx")
    assert "QuantizeLinear" in lowp.load(tmp_path / "q.onnx").info()["ops"]
    assert isinstance(q_model.model, onnx.ModelProto)


def test_lpot_eval_dataloader_and_metric(conf, test_set):
    x, y = test_set
    quantizer = Quantization(conf)
    quantizer.model = "models/mlp.onnx"
    quantizer.calib_dataloader = common.DataLoader(iter([(fmnist.images(True, 100)[i], 0) for i in range(100)]),
                                                   batch_size=50)  # a one-shot iterator of items
    quantizer.eval_dataloader = common.DataLoader(Pairs(x, y), batch_size=64)  # a partial last batch
    quantizer.metric = common.Metric(PyAcc, scale=1.0)
    q_model = quantizer()
    assert q_model is not None and quantizer.summary.met
    assert abs(quantizer.summary.baseline - float((lowp.Session("models/mlp.onnx").run(x)["logits"].argmax(1) == y)
                                                  .mean())) < 1e-12


def test_lpot_not_met_returns_none(conf, test_set):
    x, y = test_set
    quantizer = Quantization(conf)
    quantizer.model = "models/mlp.onnx"
    quantizer.calib_dataloader = common.DataLoader(Pairs(fmnist.images(True, 100), fmnist.labels(True, 100)), 50)
    quantizer.eval_func = lambda m: 1.0 if len(m.graph.node) < 8 else 0.5  # only FP32 (6 nodes) scores 1
    quantizer.tune_options = {"max_trials": 2}
    assert quantizer() is None and not quantizer.summary.met


def test_dataloader_batches():
    dl = common.DataLoader(Pairs(np.arange(10.0), np.arange(10)), batch_size=4)
    batches = list(dl)
    assert [b[0].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and len(dl) == 3
    dl = common.DataLoader(Pairs(np.arange(10.0), np.arange(10)), batch_size=4, last_batch="discard")
    assert len(list(dl)) == 2 == len(dl)
    assert list(dl)[0][1].tolist() == [0, 1, 2, 3]


def test_benchmark(conf, test_set):
    x, y = test_set
    b = Benchmark(conf)
    b.model = common.Model("models/mlp.onnx")
    b.b_dataloader = common.DataLoader(Pairs(x[:40], y[:40]), batch_size=4)
    acc, batch, times = b("performance")["performance"]
    assert acc is None and batch == 4 and len(times) == 10 - 5  # 5 warm-up batches
    b.metric = common.Metric(PyAcc)
    acc, _, _ = b("accuracy")["accuracy"]
    assert abs(acc - float((lowp.Session("models/mlp.onnx").run(x[:40])["logits"].argmax(1) == y[:40]).mean())) < 1e-12
