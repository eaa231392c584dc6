"""registry.py — Python datasets, transforms and metrics in lowp's registries, so a YAML
configuration (and the tuner reading it) uses them by name like the built-ins.

    @lowp.register_dataset("MyImages")
    class MyImages:
        def __init__(self, root, train=False): ...
        def __len__(self): ...
        def __getitem__(self, i): return image_array, label

The constructor's keyword parameters are the YAML keys (those without a default are required;
values arrive as YAML gives them: numbers, booleans, strings, lists). A transform is a class
whose instances are called on a sample `(inputs, label)` and return the new one (LPOT's
protocol); a metric has update(preds, labels), result(), reset() and may set the class
attribute `higher_is_better`. Registration lasts for the process; a name can be taken once.
"""
import ctypes
import inspect

import numpy as np

from . import _lib
from ._lib import check, lib
from .core import array_from_tensor, tensor_from_array

c_void_p = ctypes.c_void_p

__all__ = ["register_dataset", "register_transform", "register_metric"]

_alive = []     # vtables, specs, names and callbacks: lowp keeps pointers to them until exit
_objects = {}   # state handle -> Python object
_next_handle = [1]


def _new_state(obj):
    h = _next_handle[0]
    _next_handle[0] += 1
    _objects[h] = obj
    return h


def _free_state(state):
    _objects.pop(state, None)


def _creator(cls, names, what):
    """A vtable `create`: an instance of `cls` from the params, kept under a new state handle."""
    def create(params, state_p):
        try:
            state_p[0] = _new_state(cls(**_kwargs(params, names)))
            return 0
        except BaseException as e:  # noqa: B902 -- any failure becomes lowp's error
            return _fail(what, e)
    return create


def _spec(cls):
    params = [p for p in inspect.signature(cls).parameters.values()
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    arr = (_lib.ParamSpec * (len(params) + 1))()
    for i, p in enumerate(params):
        name = p.name.encode()
        _alive.append(name)
        arr[i] = _lib.ParamSpec(name, 8, 1 if p.default is p.empty else 0, 1 if i == 0 else 0)  # LOWP_PARAM_ANY
    _alive.append(arr)
    return arr, [p.name for p in params]


def _scalar(text):
    low = text.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def _kwargs(params, names):
    out = {}
    for name in names:
        key = name.encode()
        if not lib.lowp_params_has(params, key):
            continue
        s = ctypes.c_char_p()
        if lib.lowp_params_get_string(params, key, None, ctypes.byref(s)) == 0 and s.value is not None:
            text = s.value.decode()
            if text.startswith("[") and text.endswith("]"):
                out[name] = [_scalar(x.strip()) for x in text[1:-1].split(",") if x.strip()]
            else:
                out[name] = _scalar(text)
            continue
        vals = (ctypes.c_double * 256)()
        n = ctypes.c_int()
        if lib.lowp_params_get_floats(params, key, 256, vals, ctypes.byref(n)) == 0:
            out[name] = [int(v) if float(v).is_integer() else v for v in vals[:n.value]]
            continue
        raise ValueError(f"parameter {name}: cannot read its value")
    return out


def _fail(what, exc):
    msg = f"{what} raised {type(exc).__name__}: {exc}"
    lib.lowp_set_error(_lib.LOWP_ERR_INVALID_ARGUMENT, msg.encode("utf-8", "replace")[:1000])
    return _lib.LOWP_ERR_INVALID_ARGUMENT


def _arrays(x):
    if isinstance(x, dict):
        return list(x.values())
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _fill(sample, inputs, label):
    from .core import _numpy
    for i, a in enumerate(_arrays(inputs)):
        sample.inputs[i] = tensor_from_array(np.asarray(_numpy(a))).value
        sample.n_inputs = i + 1
    if label is not None:
        for i, a in enumerate(_arrays(label)):
            sample.labels[i] = tensor_from_array(np.asarray(_numpy(a))).value
            sample.n_labels = i + 1


def _split(item):
    if isinstance(item, tuple) and len(item) == 2:
        return item
    return item, None


def _unpack(sample):
    ins = [array_from_tensor(sample.inputs[i]) for i in range(sample.n_inputs)]
    labs = [array_from_tensor(sample.labels[i]) for i in range(sample.n_labels)]
    for i in range(sample.n_inputs):  # now owned by the arrays
        sample.inputs[i] = None
    for i in range(sample.n_labels):
        sample.labels[i] = None
    sample.n_inputs = sample.n_labels = 0
    x = ins[0] if len(ins) == 1 else ins
    y = (labs[0] if len(labs) == 1 else labs) if labs else None
    return x, y


def register_dataset(name, cls=None):
    """Registers dataset class `cls` (instances: __len__ and __getitem__ returning (inputs,
    label)) under `name`; usable as a decorator."""
    if cls is None:
        return lambda c: register_dataset(name, c) or c
    spec, names = _spec(cls)

    def open_(params, state_p, length_p):
        try:
            obj = cls(**_kwargs(params, names))
            length_p[0] = len(obj)
            state_p[0] = _new_state(obj)
            return 0
        except BaseException as e:  # noqa: B902
            return _fail(f"dataset {name}", e)

    def get(state, index, sample_p):
        try:
            x, y = _split(_objects[state][index])
            _fill(sample_p.contents, x, y)
            return 0
        except BaseException as e:  # noqa: B902
            return _fail(f"dataset {name}[{index}]", e)

    vt = _lib.DatasetVtable(name.encode(), spec, _lib.DS_OPEN(open_), _lib.DS_GET(get), _lib.DS_CLOSE(_free_state), None)
    _alive.append(vt)
    check(lib.lowp_dataset_register(ctypes.byref(vt)))
    return cls


def register_transform(name, cls=None):
    """Registers transform class `cls` (instances called on (inputs, label), returning the new
    pair) under `name`; usable as a decorator."""
    if cls is None:
        return lambda c: register_transform(name, c) or c
    spec, names = _spec(cls)

    create = _creator(cls, names, f"transform {name}")

    def apply(state, sample_p, rng):
        try:
            s = sample_p.contents
            x, y = _split(_objects[state](_unpack(s)))
            lib.lowp_sample_clear(sample_p)
            _fill(sample_p.contents, x, y)
            return 0
        except BaseException as e:  # noqa: B902
            return _fail(f"transform {name}", e)

    vt = _lib.TransformVtable(name.encode(), spec, _lib.TF_CREATE(create), _lib.TF_APPLY(apply), _lib.FREE_FN(_free_state))
    _alive.append(vt)
    check(lib.lowp_transform_register(ctypes.byref(vt)))
    return cls


def register_metric(name, cls=None):
    """Registers metric class `cls` (update(preds, labels), result(), reset(); class attribute
    higher_is_better, default True) under `name`; usable as a decorator."""
    if cls is None:
        return lambda c: register_metric(name, c) or c
    spec, names = _spec(cls)

    create = _creator(cls, names, f"metric {name}")

    def view(ptrs, n):
        out = []
        for i in range(n):
            t = ptrs[i]
            nd = lib.lowp_tensor_ndim(t)
            dims = lib.lowp_tensor_dims(t)
            shape = tuple(dims[k] for k in range(nd))
            dt = np.dtype(_lib.DTYPES[lib.lowp_tensor_dtype(t)])
            size = int(np.prod(shape)) * dt.itemsize
            buf = (ctypes.c_char * size).from_address(lib.lowp_tensor_data(t)) if size else b""
            out.append(np.frombuffer(buf, dtype=dt).reshape(shape).copy())  # lowp keeps nothing after update
        return out[0] if len(out) == 1 else out

    def update(state, n_out, outs, n_lab, labs):
        try:
            _objects[state].update(view(outs, n_out), view(labs, n_lab))
            return 0
        except BaseException as e:  # noqa: B902
            return _fail(f"metric {name}.update", e)

    def result(state, value_p):
        try:
            value_p[0] = float(_objects[state].result())
            return 0
        except BaseException as e:  # noqa: B902
            return _fail(f"metric {name}.result", e)

    def reset(state):
        try:
            _objects[state].reset()
        except BaseException:  # noqa: B902 -- reset cannot fail in lowp's contract
            pass

    vt = _lib.MetricVtable(name.encode(), spec, 1 if getattr(cls, "higher_is_better", True) else 0,
                           _lib.M_CREATE(create), _lib.M_UPDATE(update), _lib.M_RESULT(result),
                           _lib.FREE_FN(reset), _lib.FREE_FN(_free_state))
    _alive.append(vt)
    check(lib.lowp_metric_register(ctypes.byref(vt)))
    return cls
