"""common.py — LPOT 1.x's `experimental.common`: Model, DataLoader, Metric, Postprocess.

Written against LPOT 1.x's documented behaviour (not its code): a DataLoader batches a user
dataset (any object with __getitem__/__len__, or any iterable) by stacking items, which are
(input, label) pairs; a Model wraps whatever names a model (a path, an onnx.ModelProto, a
lowp.Model, a torch.nn.Module with example inputs).
"""
import numpy as np

from .. import core

__all__ = ["Model", "DataLoader", "Metric", "Postprocess"]


class Model:
    """A model for Quantization/Benchmark: Model(path | onnx.ModelProto | lowp.Model |
    torch.nn.Module, example_inputs=None). `.model` is an onnx.ModelProto when the `onnx`
    package is importable (as LPOT's ONNX models give), `.lowp` the lowp.Model; save(path)
    writes ONNX."""

    def __init__(self, root, example_inputs=None, **kwargs):
        if isinstance(root, Model):
            root = root.lowp
        self.from_onnx = not core._is_torch_module(root)
        self.lowp = core.load(root, example_inputs=example_inputs)
        self._onnx = root if type(root).__name__ == "ModelProto" else None

    @property
    def model(self):
        if self._onnx is None:
            try:
                self._onnx = self.lowp.to_onnx()
            except ImportError:
                return self.lowp
        return self._onnx

    def save(self, path):
        self.lowp.save(path)

    def __repr__(self):
        return f"<lowp.experimental.common.Model {self.lowp!r}>"


def _stack(items):
    first = items[0]
    if isinstance(first, dict):
        return {k: np.stack([np.asarray(core._numpy(i[k])) for i in items]) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_stack([i[k] for i in items]) for k in range(len(first)))
    return np.stack([np.asarray(core._numpy(i)) for i in items])


class DataLoader:
    """Batches of a dataset: DataLoader(dataset, batch_size=1, last_batch='rollover',
    collate_fn=None, shuffle=False, seed=1978). Items are (input, label) pairs (or inputs
    alone); a batch is (stacked inputs, stacked labels). last_batch='discard' drops a partial
    last batch. Iterating again starts over (a one-shot iterable is read once and kept)."""

    def __init__(self, dataset, batch_size=1, last_batch="rollover", collate_fn=None, sampler=None,
                 batch_sampler=None, shuffle=False, seed=1978, **kwargs):
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.last_batch = last_batch
        self.collate_fn = collate_fn or _stack
        self.shuffle = shuffle
        self.seed = seed
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {batch_size}")
        self._cache = None

    def _items(self):
        ds = self.dataset
        if hasattr(ds, "__getitem__") and hasattr(ds, "__len__"):
            order = np.arange(len(ds))
            if self.shuffle:
                np.random.default_rng(self.seed).shuffle(order)
            return (ds[int(i)] for i in order)
        if iter(ds) is ds:  # a one-shot iterator: keep what was read
            if self._cache is None:
                self._cache = list(ds)
            return iter(self._cache)
        return iter(ds)

    def __iter__(self):
        batch = []
        for item in self._items():
            batch.append(item)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and self.last_batch != "discard":
            yield self.collate_fn(batch)

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.last_batch == "discard" else -(-n // self.batch_size)


class Metric:
    """A user metric class for Quantization.metric: Metric(metric_cls, name='user_metric',
    **kwargs) instantiates metric_cls(**kwargs); the class has update(preds, labels), result(),
    reset() and optionally higher_is_better."""

    def __init__(self, metric_cls, name="user_metric", **kwargs):
        self.metric_cls, self.name, self.kwargs = metric_cls, name, kwargs

    def instance(self):
        m = self.metric_cls(**self.kwargs)
        if not hasattr(m, "name"):
            try:
                m.name = self.name
            except AttributeError:
                pass
        return m


class Postprocess:
    """Postprocess(cls, name, **kwargs): a transform applied to (outputs, labels) before the
    metric, as LPOT's."""

    def __init__(self, postprocess_cls, name="user_postprocess", **kwargs):
        self.postprocess_cls, self.name, self.kwargs = postprocess_cls, name, kwargs
