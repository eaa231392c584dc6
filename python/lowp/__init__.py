"""lowp — accuracy-driven low-precision optimization of neural networks, from Python.

    import lowp
    model = lowp.load("model.onnx")                 # or bytes, onnx.ModelProto, torch.nn.Module
    s = lowp.Session(model, threads=1)
    out = s.run({"input": x})                       # {name: ndarray}
    q = lowp.quantize(model, calib=batches)         # static INT8 from any iterable of feeds
    best, summary = lowp.tune(model, eval_func=my_metric, calib=batches, tolerance=0.01)

A thin layer over liblowp's C API (include/lowp.h) through ctypes: lowp computes with the GIL
released. Errors raise lowp.Error with lowp's message and status. The LPOT 1.x-style API is in
lowp.experimental. See docs/python.md.
"""
from ._lib import LIBRARY_PATH, Error
from .core import Model, Session, bench, compare, load, quantize, version
from .registry import register_dataset, register_metric, register_transform
from .tuning import TuneSummary, evaluate, tune

__version__ = version()
__all__ = ["Error", "Model", "Session", "TuneSummary", "bench", "compare", "evaluate", "load", "quantize",
           "register_dataset", "register_metric", "register_transform", "tune", "version", "LIBRARY_PATH"]
