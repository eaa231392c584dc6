"""lowp.experimental — LPOT 1.x's Python API over lowp, so LPOT scripts run unchanged:

    from lowp.experimental import Quantization, Benchmark, common
    quantizer = Quantization("conf.yaml")
    quantizer.model = common.Model("model.onnx")
    quantizer.calib_dataloader = common.DataLoader(dataset, batch_size=50)
    quantizer.eval_func = eval_func            # or eval_dataloader + metric, or the YAML's
    q_model = quantizer()
    q_model.save("model.int8.onnx")

An eval_func gets what LPOT's ONNX examples expect: an onnx.ModelProto of the candidate (when
the `onnx` package is importable), which the function may run in any runtime; set
`quantizer.eval_func_input = "session"` to receive a lowp.Session instead (faster: no
serialization). The tuning itself is lowp's (docs/tuning.md).
"""
import ctypes
import sys
import time

import numpy as np

from .. import _lib, core
from .. import tuning as _tune
from ..registry import register_dataset, register_metric, register_transform
from . import common

__all__ = ["Quantization", "Benchmark", "common"]


def _check_config(conf):
    if conf is None:
        return
    cfg = ctypes.c_void_p()
    _lib.check(_lib.lib.lowp_config_load(_lib.enc(conf), ctypes.byref(cfg)))
    path = _lib.lib.lowp_config_model_path(cfg)
    _lib.lib.lowp_config_free(cfg)
    return path.decode() if path else None


def _onnx_importable():
    try:
        import onnx  # noqa: F401
        return True
    except ImportError:
        return False


class _PostMetric:
    """Applies a common.Postprocess to (preds, labels) before the metric."""

    def __init__(self, metric, post):
        self.metric, self.post = metric, post
        self.higher_is_better = getattr(metric, "higher_is_better", True)
        self.name = getattr(metric, "name", type(metric).__name__)

    def reset(self):
        self.metric.reset()

    def update(self, preds, labels):
        preds, labels = self.post((preds, labels))
        self.metric.update(preds, labels)

    def result(self):
        return self.metric.result()


class _ConfigMetric(_tune._BuiltinMetric):
    """The YAML's evaluation.accuracy.metric, used with a Python eval_dataloader."""

    def __init__(self, conf):
        cfg = ctypes.c_void_p()
        _lib.check(_lib.lib.lowp_config_load(_lib.enc(conf), ctypes.byref(cfg)))
        try:
            h = ctypes.c_void_p()
            _lib.check(_lib.lib.lowp_config_metric(cfg, ctypes.byref(h)))
        finally:
            _lib.lib.lowp_config_free(cfg)
        self._h = h
        self.higher_is_better = bool(_lib.lib.lowp_metric_higher_is_better(h))
        self.name = _lib.lib.lowp_metric_name(h).decode()


class _Component:
    """What Quantization and Benchmark share: the config, the model, the dataloaders and the
    metric."""

    def __init__(self, conf_fname=None):
        self.conf = conf_fname
        self._model_path = _check_config(conf_fname)
        self._model = None
        self.metric_obj = None
        self.postprocess = None

    @property
    def model(self):
        return self._model

    @model.setter
    def model(self, m):
        self._model = m if isinstance(m, common.Model) or m is None else common.Model(m)

    @property
    def metric(self):
        return self.metric_obj

    @metric.setter
    def metric(self, m):
        self.metric_obj = m

    def _metric(self):
        m = self.metric_obj
        if m is None:
            if self.conf is None:
                raise ValueError("give a metric (quantizer.metric = common.Metric(cls)) or a YAML with "
                                 "evaluation.accuracy.metric")
            m = _ConfigMetric(self.conf)
        elif isinstance(m, common.Metric):
            m = m.instance()
        elif isinstance(m, str):
            m = _tune._BuiltinMetric(m)
        if self.postprocess is not None:
            post = self.postprocess
            post = post.postprocess_cls(**post.kwargs) if isinstance(post, common.Postprocess) else post
            m = _PostMetric(m, post)
        return m

    def _lowp_model(self):
        if self._model is None:
            if not self._model_path:
                raise ValueError("no model: set .model (common.Model(...)) or model.path in the YAML")
            self._model = common.Model(self._model_path)
        return self._model


class Quantization(_Component):
    """LPOT 1.x's Quantization: Quantization('conf.yaml'); set .model, .calib_dataloader,
    .eval_dataloader, .metric, .postprocess or .eval_func; q_model = quantizer() returns a
    common.Model (None when no recipe met the accuracy target, as LPOT; .summary tells more
    and the most accurate model is still written to the workspace)."""

    def __init__(self, conf_fname=None):
        super().__init__(conf_fname)
        self.calib_dataloader = None
        self.eval_dataloader = None
        self.eval_func = None
        self.eval_func_input = "onnx" if _onnx_importable() else "session"
        self.summary = None
        self.tune_options = {}

    def __call__(self):
        model = self._lowp_model()
        opts = dict(self.tune_options)
        if self.eval_func is not None:
            adapt = None
            if self.eval_func_input == "onnx" and model.from_onnx:
                adapt = lambda session: session.model.to_onnx()  # noqa: E731
            opts.update(eval_func=self.eval_func, _adapt=adapt)
        elif self.eval_dataloader is not None:
            opts.update(eval_dataloader=self.eval_dataloader, metric=self._metric())
        q, summary = _tune.tune(model.lowp, calib=self.calib_dataloader, config=self.conf, **opts)
        self.summary = summary
        if not summary.met:
            print(f"lowp: no recipe met the accuracy target ({summary.best:.4f} vs target {summary.target:.4f}); "
                  f"the most accurate model found is {summary.output}", file=sys.stderr)
            return None
        out = common.Model(q)
        out.from_onnx = model.from_onnx
        return out

    fit = __call__


class Benchmark(_Component):
    """LPOT 1.x's Benchmark: Benchmark('conf.yaml'); set .model and .b_dataloader (a Python
    iterable of (inputs, label) batches) and call it: benchmark('performance') ->
    {'performance': (accuracy or None, batch_size, [seconds per batch])}, benchmark('accuracy')
    likewise with the metric's value (.metric or the YAML's). Warm-up and iteration counts come
    from evaluation.<mode>.{warmup, iteration} of the YAML (defaults 5 and all batches)."""

    def __init__(self, conf_fname=None):
        super().__init__(conf_fname)
        self.b_dataloader = None
        self.threads = 1

    def _settings(self, mode):
        warmup, iteration = 5, -1
        try:
            import yaml
            with open(self.conf) as f:
                c = (yaml.safe_load(f) or {}).get("evaluation", {}).get(mode, {}) or {}
            warmup, iteration = int(c.get("warmup", warmup)), int(c.get("iteration", iteration))
        except (ImportError, OSError, TypeError, AttributeError, ValueError):
            pass
        return warmup, iteration

    def __call__(self, mode="performance"):
        if mode not in ("performance", "accuracy"):
            raise ValueError(f"mode is 'performance' or 'accuracy', not {mode!r}")
        if self.b_dataloader is None:
            raise ValueError("set .b_dataloader (batches of (inputs, label))")
        session = core.Session(self._lowp_model().lowp, threads=self.threads)
        warmup, iteration = self._settings(mode) if self.conf else (5, -1)
        metric = self._metric() if mode == "accuracy" else None
        if metric is not None:
            metric.reset()
        times, batch = [], 0
        for i, item in enumerate(self.b_dataloader):
            if 0 <= iteration <= len(times) and mode == "performance":
                break
            xs, label = core.as_feed_list(item, session.input_names)
            feeds = core._typed_inputs(session.model, xs)
            batch = batch or (feeds[0].shape[0] if feeds[0].ndim else 1)
            t0 = time.perf_counter()
            out = session.run(feeds)
            dt = time.perf_counter() - t0
            if i >= warmup or mode == "accuracy":
                times.append(dt)
            if metric is not None:
                preds = [out[n] for n in session.output_names]
                metric.update(preds[0] if len(preds) == 1 else preds, label)
        acc = float(metric.result()) if metric is not None else None
        if mode == "performance" and times:
            med = float(np.median(times))
            print(f"lowp benchmark: batch {batch}, {len(times)} batches, median {med * 1000:.3f} ms, "
                  f"{batch / med:.1f} samples/s", file=sys.stderr)
        return {mode: (acc, batch, times)}
