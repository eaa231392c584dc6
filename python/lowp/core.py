"""core.py — the Pythonic, NumPy-native lowp API: Model, Session, quantize, compare, bench.

Everything goes through include/lowp.h (via _lib); arrays cross the boundary without copies
where lowp allows (C-contiguous inputs of the model's dtype are wrapped, outputs are handed to
NumPy as views of lowp's buffers that free them when the array dies).
"""
import ctypes
import io
import json
import os
import tempfile
import time

import numpy as np

from . import _lib
from ._lib import Error, check, enc, lib, take_string

c_void_p, byref = ctypes.c_void_p, ctypes.byref

__all__ = ["Error", "Model", "Session", "load", "quantize", "compare", "bench", "version"]


def version():
    return lib.lowp_version().decode()


# ---- tensors ----

class _TensorOwner:
    """Keeps a lowp tensor alive under a NumPy array that views its data."""
    __slots__ = ("__array_interface__", "_t")

    def __init__(self, t):
        self._t = t
        nd = lib.lowp_tensor_ndim(t)
        dims = lib.lowp_tensor_dims(t)
        code = lib.lowp_tensor_dtype(t)
        name = _lib.DTYPES.get(code)
        if name is None:
            lib.lowp_tensor_free(t)
            self._t = None
            raise Error(_lib.LOWP_ERR_INVALID_ARGUMENT, f"an output of dtype code {code} has no NumPy type")
        shape = tuple(dims[i] for i in range(nd))
        self.__array_interface__ = {"shape": shape, "typestr": np.dtype(name).str,
                                    "data": (lib.lowp_tensor_data(t) or 0, False), "version": 3}

    def __del__(self):
        if self._t:
            lib.lowp_tensor_free(self._t)
            self._t = None


def array_from_tensor(t):
    """A NumPy array over lowp tensor `t` (owned: freed with the array)."""
    owner = _TensorOwner(t)
    if 0 in owner.__array_interface__["shape"]:
        return np.zeros(owner.__array_interface__["shape"], dtype=owner.__array_interface__["typestr"])
    return np.asarray(owner)


_CODE_OF_DTYPE = {np.dtype(name): code for code, name in _lib.DTYPES.items()}


def _code_of(arr):
    code = _CODE_OF_DTYPE.get(arr.dtype)
    if code is None:
        raise Error(_lib.LOWP_ERR_INVALID_ARGUMENT, f"arrays of dtype {arr.dtype} are not supported by lowp")
    return code


_DIMS = [ctypes.c_int64 * n for n in range(_lib.MAX_DIMS + 1)]
_c_char, _addressof = ctypes.c_char, ctypes.addressof


def _tensor(make, arr):
    nd = arr.ndim
    if not arr.size:
        data = None
    elif arr.flags.writeable:  # the cheapest way ctypes offers to an array's address
        data = _addressof(_c_char.from_buffer(arr))
    else:
        data = arr.ctypes.data
    t = c_void_p()
    dims = (_DIMS[nd] if nd <= _lib.MAX_DIMS else ctypes.c_int64 * nd)(*arr.shape)  # lowp rejects rank > 8
    st = make(_CODE_OF_DTYPE.get(arr.dtype) or _code_of(arr), nd, dims, data, byref(t))
    if st:
        check(st)
    return t


_wrap = lib.lowp_tensor_wrap


def wrap_array(arr):
    """A lowp tensor viewing `arr` (which must stay alive and C-contiguous while it is used)."""
    return _tensor(lib.lowp_tensor_wrap, arr)


def tensor_from_array(arr):
    """A new lowp tensor holding a copy of `arr` (for lowp to own, e.g. in a sample)."""
    return _tensor(lib.lowp_tensor_create, np.asarray(arr, order="C"))  # (ascontiguousarray makes 0-d arrays 1-d)


# ---- models ----

def _is_torch_module(obj):
    mod = type(obj).__module__ or ""
    if not mod.startswith("torch") and "torch" not in {c.__module__.split(".")[0] for c in type(obj).__mro__}:
        return False
    try:
        import torch
    except ImportError:
        return False
    return isinstance(obj, torch.nn.Module)


class Model:
    """An ONNX model held by lowp. Build one with lowp.load (a path, bytes, an
    onnx.ModelProto, or a torch.nn.Module with example inputs)."""

    def __init__(self, handle, path=None):
        self._h = handle
        self.path = path
        self._info = None

    @classmethod
    def _borrowed(cls, handle):
        m = cls(handle)
        m._borrowed_handle = True
        return m

    def __del__(self):
        if getattr(self, "_h", None) and not getattr(self, "_borrowed_handle", False):
            lib.lowp_model_free(self._h)
            self._h = None

    @property
    def handle(self):
        if not self._h:
            raise Error(_lib.LOWP_ERR_INVALID_ARGUMENT,
                        "this model was lent for one evaluation and is gone (keep the result of "
                        "model.to_bytes() or model.save() instead)")
        return self._h

    def save(self, path):
        """Writes the model as ONNX (to a temporary name, then renamed over `path`)."""
        check(lib.lowp_model_save(self.handle, enc(os.fspath(path))))

    def to_bytes(self):
        """The model as ONNX bytes."""
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "model.onnx")
            self.save(p)
            with open(p, "rb") as f:
                return f.read()

    def to_onnx(self):
        """The model as an onnx.ModelProto (needs the `onnx` package)."""
        import onnx
        return onnx.load_model_from_string(self.to_bytes())

    @property
    def input_names(self):
        return [lib.lowp_model_input_name(self.handle, i).decode()
                for i in range(lib.lowp_model_input_count(self.handle))]

    @property
    def output_names(self):
        return [lib.lowp_model_output_name(self.handle, i).decode()
                for i in range(lib.lowp_model_output_count(self.handle))]

    def info(self):
        """lowp info as a dict: inputs/outputs (dtype, shape with symbolic dims as strings),
        op histogram, parameter count and bytes, opsets, producer."""
        if self._info is None:
            out = c_void_p()
            check(lib.lowp_model_info_json(self.handle, byref(out)))
            self._info = json.loads(take_string(out))
        return self._info

    def capability(self):
        """The tunable nodes: [{"node", "op_type", "int8", "bf16"}, ...]."""
        out = c_void_p()
        check(lib.lowp_model_capability(self.handle, byref(out)))
        return json.loads(take_string(out))

    def __repr__(self):
        try:
            i = self.info()
            ins = ", ".join(f"{x['name']}: {x['dtype']}{x['shape']}" for x in i["inputs"])
            return f"<lowp.Model {self.path or ''} ({ins}) {i.get('node_count', '?')} nodes>"
        except Error:
            return "<lowp.Model (gone)>"


def _from_torch(module, example_inputs, input_names=None, output_names=None, dynamic_batch=True):
    """Exports a torch.nn.Module with torch.onnx (opset 13, dynamic batch) into a Model."""
    import torch
    if example_inputs is None:
        raise Error(_lib.LOWP_ERR_INVALID_ARGUMENT,
                    "a torch.nn.Module needs example inputs (example_inputs=tensor or tuple) to be exported to ONNX")
    if isinstance(example_inputs, dict):
        input_names = input_names or list(example_inputs)
        example_inputs = tuple(example_inputs.values())
    if not isinstance(example_inputs, (tuple, list)):
        example_inputs = (example_inputs,)
    example_inputs = tuple(torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
                           for x in example_inputs)
    input_names = list(input_names or (["input"] if len(example_inputs) == 1
                                       else [f"input_{i}" for i in range(len(example_inputs))]))
    was_training = module.training
    module.eval()
    with torch.no_grad():
        probe = module(*example_inputs)
    n_out = len(probe) if isinstance(probe, (tuple, list)) else 1
    output_names = list(output_names or (["output"] if n_out == 1 else [f"output_{i}" for i in range(n_out)]))
    axes = {n: {0: "batch"} for n in input_names + output_names} if dynamic_batch else None
    buf = io.BytesIO()
    try:
        with torch.no_grad():
            torch.onnx.export(module, example_inputs, buf, input_names=input_names, output_names=output_names,
                              dynamic_axes=axes, opset_version=13, do_constant_folding=True)
    finally:
        module.train(was_training)
    return load(buf.getvalue())


def load(source, example_inputs=None, **torch_options):
    """A Model from a path, ONNX bytes, an onnx.ModelProto, a lowp Model (returned as is) or a
    torch.nn.Module (exported through torch.onnx with a dynamic batch dimension; give
    `example_inputs`, a tensor/array or a tuple of them)."""
    if isinstance(source, Model):
        return source
    if isinstance(source, (str, os.PathLike)):
        h = c_void_p()
        check(lib.lowp_model_load(enc(os.fspath(source)), byref(h)))
        return Model(h, os.fspath(source))
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        h = c_void_p()
        check(lib.lowp_model_load_from_memory(data, len(data), None, byref(h)))
        return Model(h)
    if type(source).__name__ == "ModelProto" and hasattr(source, "SerializeToString"):
        return load(source.SerializeToString())
    if _is_torch_module(source):
        return _from_torch(source, example_inputs, **torch_options)
    raise TypeError(f"lowp.load: cannot make a model from {type(source).__name__} (give a path, bytes, an "
                    "onnx.ModelProto or a torch.nn.Module with example_inputs)")


# ---- sessions ----

_PRECISIONS = {None: 0, "fp32": 1, "float32": 1, "bf16": 16, "bfloat16": 16}


def _session_options(threads, precision, optimize=True):
    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be 'fp32' or 'bf16', not {precision!r}")
    o = lib.lowp_session_options_default()
    o.threads = int(threads or 0)
    o.precision = _PRECISIONS[precision]
    o.optimize = 1 if optimize else 0
    return o


class Session:
    """A model compiled for running: Session(model, threads=1, precision='fp32').

    run({name: array}) -> {output name: array}. A C-contiguous input of the model's dtype is
    used in place (no copy); others are converted. Outputs are NumPy arrays over lowp's own
    buffers (no copy). A new input shape compiles a new plan (cached per shape)."""

    def __init__(self, model, threads=0, precision=None, optimize=True, example_inputs=None):
        model = load(model, example_inputs=example_inputs)
        self.model = model
        o = _session_options(threads, precision, optimize)
        h = c_void_p()
        check(lib.lowp_session_create(model.handle, byref(o), byref(h)))
        self._h = h
        self._borrowed_handle = False
        self._prepare(model)

    def _prepare(self, model):
        info = model.info()
        self.input_names = [x["name"] for x in info["inputs"]]
        self.output_names = [x["name"] for x in info["outputs"]]
        self._in_dtypes = {x["name"]: np.dtype(x["dtype"]) if x["dtype"] in _lib.CODES else None
                           for x in info["inputs"]}
        self._name_bytes = {n: n.encode() for n in self.input_names}
        n = len(self.input_names)
        self._names_c = (ctypes.c_char_p * max(n, 1))()
        self._ins_c = (c_void_p * max(n, 1))()
        self._outs_c = (c_void_p * max(len(self.output_names), 1))()
        self._out_shapes = {}  # (input names, input shapes) -> [(shape, dtype) per output]

    @classmethod
    def _borrowed(cls, handle, model):
        s = cls.__new__(cls)
        s._h = handle
        s._borrowed_handle = True
        s.model = model
        s._prepare(model)
        return s

    def __del__(self):
        if getattr(self, "_h", None) and not self._borrowed_handle:
            lib.lowp_session_free(self._h)
        self._h = None

    def _feeds(self, feeds):
        if isinstance(feeds, dict):
            return feeds
        if isinstance(feeds, (list, tuple)):
            if len(feeds) != len(self.input_names):
                raise ValueError(f"{len(feeds)} inputs given, the model has {len(self.input_names)}: "
                                 f"{self.input_names}")
            return dict(zip(self.input_names, feeds))
        if len(self.input_names) != 1:
            raise ValueError(f"the model has {len(self.input_names)} inputs {self.input_names}: give a dict")
        return {self.input_names[0]: feeds}

    def run(self, feeds, outputs=None):
        """Runs the model on `feeds` ({name: array}, or a list in input order, or one array for
        a single-input model) and returns {output name: array}."""
        if not self._h:
            raise Error(_lib.LOWP_ERR_INVALID_ARGUMENT, "this session was lent for one evaluation and is gone")
        feeds = self._feeds(feeds)
        n = len(feeds)
        keep = []  # arrays that must outlive the call
        names, ins = self._names_c, self._ins_c
        if n > len(names):
            names = (ctypes.c_char_p * n)()
            ins = (c_void_p * n)()
        try:
            shapes = []
            for i, (name, value) in enumerate(feeds.items()):
                want = self._in_dtypes.get(name)
                arr = value if type(value) is np.ndarray else np.asarray(value)
                if (want is not None and arr.dtype != want) or not arr.flags.c_contiguous:
                    arr = np.asarray(arr, dtype=want, order="C")
                keep.append(arr)
                shapes.append(arr.shape)
                nb = self._name_bytes.get(name)
                names[i] = nb if nb is not None else name.encode()
                ins[i] = _tensor(_wrap, arr)
            result = self._run_wrapped(n, names, ins, tuple(feeds), tuple(shapes))
        finally:
            for i in range(len(keep)):
                if ins[i]:
                    lib.lowp_tensor_free(ins[i])
                    ins[i] = None
        if outputs is not None:
            return {k: result[k] for k in outputs}
        return result

    def _run_wrapped(self, n, names, ins, feed_names, shapes):
        """Runs on wrapped inputs. Output shapes seen before for these input shapes: the results
        go straight into new NumPy arrays (lowp_session_run_into, no allocation in lowp);
        otherwise lowp's own output tensors become the arrays, and their shapes are noted."""
        n_out = len(self.output_names)
        outs = self._outs_c
        key = (feed_names, shapes)
        known = self._out_shapes.get(key)
        if known is not None:
            result = {}
            try:
                for k, (shape, dtype) in enumerate(known):
                    y = np.empty(shape, dtype)
                    result[self.output_names[k]] = y
                    outs[k] = _tensor(_wrap, y)
                st = lib.lowp_session_run_into(self._h, n, names, ins, n_out, outs)
            finally:
                for k in range(n_out):
                    if outs[k]:
                        lib.lowp_tensor_free(outs[k])
                        outs[k] = None
            if st == _lib.LOWP_OK:
                return result
            if st != _lib.LOWP_ERR_SHAPE:
                check(st)
            del self._out_shapes[key]  # shapes that depend on the data: ask lowp again
        check(lib.lowp_session_run(self._h, n, names, ins, n_out, outs))
        result = {}
        for k in range(n_out):
            t, outs[k] = outs[k], None
            result[self.output_names[k]] = array_from_tensor(t)
        if len(self._out_shapes) > 64:
            self._out_shapes.clear()
        self._out_shapes[key] = [(y.shape, y.dtype) for y in result.values()]
        return result

    def memory_bytes(self):
        """Bytes of the activation arena of the plan for the last input shapes."""
        v = ctypes.c_size_t()
        check(lib.lowp_session_memory_bytes(self._h, byref(v)))
        return v.value


# ---- feeds from user data ----

def as_feed_list(item, input_names):
    """The model inputs (a list in input order) and labels of one item of user data: a dict
    {name: array}, an array (one input), or a pair (inputs, label) as LPOT dataloaders yield."""
    label = None
    if isinstance(item, tuple) and len(item) == 2 and len(input_names) != 2:
        item, label = item
    elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], (dict, list, tuple)):
        item, label = item
    if isinstance(item, dict):
        missing = [n for n in input_names if n not in item]
        if missing:
            raise ValueError(f"the feed lacks the model inputs {missing} (it has {list(item)})")
        xs = [item[n] for n in input_names]
    elif isinstance(item, (list, tuple)):
        xs = list(item)
    else:
        xs = [item]
    if len(xs) != len(input_names):
        raise ValueError(f"the data gives {len(xs)} inputs, the model has {len(input_names)}: {input_names}")
    return xs, label


def _numpy(x):
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _typed_inputs(model, xs):
    dtypes = [np.dtype(x["dtype"]) if x["dtype"] in _lib.CODES else None for x in model.info()["inputs"]]
    return [np.asarray(_numpy(x), dtype=d, order="C") for x, d in zip(xs, dtypes)]


def _feed_calls(model, data, what, fn):
    """Calls fn(names_c, tensors_c, n) for each item of `data` (wrapped, no copy)."""
    names = model.input_names
    names_c = (ctypes.c_char_p * len(names))(*[n.encode() for n in names])
    count = 0
    for item in data:
        xs, _ = as_feed_list(item, names)
        arrs = _typed_inputs(model, xs)
        ts = (c_void_p * len(arrs))()
        try:
            for i, a in enumerate(arrs):
                ts[i] = wrap_array(a)
            fn(names_c, ts, len(arrs))
        finally:
            for i in range(len(arrs)):
                if ts[i]:
                    lib.lowp_tensor_free(ts[i])
        count += 1
    if count == 0:
        raise ValueError(f"{what}: the data yielded nothing")
    return count


# ---- quantization and comparison ----

def _recipe(recipe):
    r = c_void_p()
    if recipe is None or isinstance(recipe, dict):
        check(lib.lowp_recipe_create(byref(r)))
        try:
            for k, v in (recipe or {}).items():
                if k == "op_wise":
                    for node, prec in v.items():
                        check(lib.lowp_recipe_set_node(r, node.encode(), str(prec).encode()))
                else:
                    v = ("true" if v else "false") if isinstance(v, bool) else str(v)
                    check(lib.lowp_recipe_set(r, k.encode(), v.encode()))
        except Exception:
            lib.lowp_recipe_free(r)
            raise
    else:
        check(lib.lowp_recipe_load(enc(os.fspath(recipe)), byref(r)))
    return r


def quantize(model, calib=None, recipe=None, approach=None, samples=None, threads=0, example_inputs=None):
    """A quantized (QDQ) copy of `model`.

    Static (the default): `calib` is any iterable of feeds (dicts {name: array}, arrays for a
    single-input model, or (inputs, label) pairs as LPOT dataloaders yield), read until
    `samples` samples (default: all). Dynamic (approach='dynamic'): no calibration data.
    `recipe`: None (lowp's default: INT8 everywhere, per-channel symmetric weights, asymmetric
    minmax activations), a dict ({"activation.algorithm": "kl", "op_wise": {"fc3": "fp32"}},
    keys as lowp_recipe_set), or a recipe JSON file (what lowp tune writes)."""
    if calib is not None and example_inputs is None and _is_torch_module(model):
        calib = list(calib)
        example_inputs = _first_inputs(calib)
    model = load(model, example_inputs=example_inputs)
    r = _recipe(recipe)
    cal = c_void_p()
    try:
        if approach in ("dynamic", "post_training_dynamic_quant"):
            check(lib.lowp_recipe_set(r, b"approach", b"post_training_dynamic_quant"))
        elif approach not in (None, "static", "post_training_static_quant"):
            raise ValueError(f"approach must be 'static' or 'dynamic', not {approach!r}")
        if not lib.lowp_recipe_is_dynamic(r):
            if calib is None:
                raise ValueError("static quantization needs calibration data: calib=<iterable of feeds> "
                                 "(or approach='dynamic')")
            o = _session_options(threads, None)
            check(lib.lowp_calibration_create(model.handle, byref(o), byref(cal)))
            # what the recipe needs beyond ranges: learned rounding's moments, the samples
            # block reconstruction trains on
            check(lib.lowp_calibration_for_recipe(cal, r))

            def feed(names_c, ts, n):
                check(lib.lowp_calibration_feed(cal, n, names_c, ts))
                if samples and lib.lowp_calibration_samples(cal) >= samples:
                    raise StopIteration

            try:
                _feed_calls(model, calib, "calibration", feed)
            except StopIteration:
                pass
        out = c_void_p()
        check(lib.lowp_quantize(model.handle, cal or None, r, byref(out)))
        return Model(out)
    finally:
        lib.lowp_recipe_free(r)
        if cal:
            lib.lowp_calibration_free(cal)


def _first_inputs(data):
    """Example inputs for exporting a torch module: the inputs of the first data item (a pair
    (inputs, label) counts as its inputs)."""
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            item = item[0]
        return tuple(_numpy(x) for x in item) if isinstance(item, (list, tuple)) else (
            {k: _numpy(v) for k, v in item.items()} if isinstance(item, dict) else _numpy(item))
    raise ValueError("the data yielded nothing")


def compare(fp32, quantized, feeds, tensorboard=None):
    """Per-layer error of `quantized` against `fp32` on `feeds` (an iterable of feeds):
    a list of {"node", "op_type", "tensor", "kind" ("activation"/"weight"), "sqnr_db",
    "rel_error"}, worst (lowest SQNR) first. `tensorboard`: a folder to write TensorBoard
    event files to (histograms of every tensor, runs fp32/ and quantized/; docs/cli.md)."""
    fp32, quantized = load(fp32), load(quantized)
    c = c_void_p()
    check(lib.lowp_comparison_create(fp32.handle, quantized.handle, byref(c)))
    try:
        _feed_calls(fp32, feeds, "compare", lambda names_c, ts, n: check(lib.lowp_comparison_feed(c, n, names_c, ts)))
        out = c_void_p()
        check(lib.lowp_comparison_json(c, byref(out)))
        layers = json.loads(take_string(out))["layers"]
        if tensorboard is not None:
            check(lib.lowp_comparison_tensorboard(c, os.fsencode(tensorboard), 0))
        return layers
    finally:
        lib.lowp_comparison_free(c)


def bench(model, feeds=None, iters=100, warmup=10, threads=0, precision=None, batch=1):
    """Latency of Session.run from Python: {"p50_ms", "p90_ms", "p99_ms", "mean_ms", "iters",
    "batch", "throughput"}. `feeds` defaults to random data shaped like the inputs (symbolic
    dims = `batch`)."""
    s = model if isinstance(model, Session) else Session(model, threads=threads, precision=precision)
    if feeds is None:
        rng = np.random.default_rng(0)
        feeds = {}
        for x in s.model.info()["inputs"]:
            shape = [d if isinstance(d, int) and d >= 0 else batch for d in x["shape"]]
            dt = np.dtype(x["dtype"])
            feeds[x["name"]] = (rng.standard_normal(shape).astype(dt) if dt.kind == "f"
                                else np.zeros(shape, dtype=dt))
    feeds = s._feeds(feeds)
    for _ in range(warmup):
        s.run(feeds)
    times = np.empty(iters)
    for i in range(iters):
        t0 = time.perf_counter()
        s.run(feeds)
        times[i] = time.perf_counter() - t0
    ms = times * 1000
    b = next(iter(feeds.values())).shape[0] if next(iter(feeds.values())).ndim else 1
    return {"p50_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
            "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(ms.mean()), "iters": iters,
            "batch": int(b), "throughput": float(b / np.median(times))}
