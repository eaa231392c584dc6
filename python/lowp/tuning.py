"""tune.py — lowp.tune: accuracy-driven tuning from Python, scored by your own function, by
lowp's built-in datasets and metrics, by a YAML configuration, or by an external command.

The tuner is lowp's (src/tune): strategies, history, resume and reports are the same whatever
scores the candidates. A Python exception in eval_func or in a dataloader, and Ctrl-C, stop the
tune cleanly: the trials finished so far stay in WORKSPACE/history.jsonl (resume=True
continues), and the exception is re-raised with a note naming the trial.
"""
import ctypes
import json
import os
import signal
import sys
import threading

import numpy as np

from . import _lib
from ._lib import Error, check, enc, lib, take_string
from .core import Model, Session, _first_inputs, _is_torch_module, _numpy, _typed_inputs, as_feed_list, load, tensor_from_array

c_void_p, byref = ctypes.c_void_p, ctypes.byref

__all__ = ["tune", "TuneSummary", "evaluate"]

_APPROACHES = {"static": "post_training_static_quant", "dynamic": "post_training_dynamic_quant",
               "auto": "post_training_auto_quant"}


class TuneSummary:
    """What lowp.tune found: `model` (the tuned lowp.Model), `baseline`, `target`, `best`,
    `relative_loss`, `met`, `trials`, `best_trial`, latencies and sizes, op counts by
    precision, `strategy`, `output` (the model's path), `workspace`, `history` (the trials as
    dicts, read from history.jsonl) and `as_dict()` (what `lowp tune --json` prints)."""

    def __init__(self, s, text):
        self._dict = json.loads(text)
        for name, _ in _lib.TuneSummary._fields_:
            if not name.startswith("_"):
                v = getattr(s, name)
                setattr(self, name, v.decode() if isinstance(v, bytes) else v)
        # a rank > 0 of a distributed tune on another machine has no copy of the output (rank 0 writes it)
        self.model = load(self.output) if self.output and os.path.exists(self.output) else None

    def as_dict(self):
        return dict(self._dict)

    @property
    def history(self):
        out = []
        with open(os.path.join(self.workspace, "history.jsonl")) as f:
            for line in f:
                d = json.loads(line)
                if "trial" in d or "index" in d:
                    out.append(d)
        return out

    def __repr__(self):
        return (f"<lowp.TuneSummary {'met' if self.met else 'NOT met'}: {self.baseline:.4f} -> {self.best:.4f} "
                f"(target {self.target:.4f}), {self.trials} trials, x{self.speedup:.2f} faster, {self.output}>")


class _Stop:
    """The first Python exception raised inside a callback (eval_func, a dataloader, Ctrl-C),
    kept to be re-raised once lowp has stopped."""

    def __init__(self):
        self.exc = None
        self.tuner = None
        self.in_user = 0  # > 0 while the user's Python code runs (Ctrl-C raises there)

    def record(self, exc, where):
        if self.exc is None:
            self.exc = exc
        msg = f"{where} raised {type(exc).__name__}: {exc}" if str(exc) else f"{where} raised {type(exc).__name__}"
        if isinstance(exc, KeyboardInterrupt):
            msg = "interrupted (Ctrl-C)"
        lib.lowp_set_error(_lib.LOWP_ERR_CANCELLED, msg.encode("utf-8", "replace")[:1000])
        if self.tuner:
            lib.lowp_tuner_cancel(self.tuner)
        return _lib.LOWP_ERR_CANCELLED


class _Replay:
    """Makes a one-shot iterator (a generator) readable several times: items are kept as they
    are read (calibration reads its data once per sampling size)."""

    def __init__(self, it):
        self._it, self._seen, self._done = it, [], False

    def __iter__(self):
        i = 0
        while True:
            if i < len(self._seen):
                yield self._seen[i]
            elif self._done:
                return
            else:
                try:
                    item = next(self._it)
                except StopIteration:
                    self._done = True
                    return
                self._seen.append(item)
                yield item
            i += 1


def replayable(data):
    return _Replay(data) if iter(data) is data else data


class _Keep:
    """Holds what C keeps pointers to (callbacks, strings) for the life of a run."""

    def __init__(self):
        self.items = []
        self.subs = {}  # handle -> a communicator split from the caller's (rank groups)

    def __call__(self, x):
        self.items.append(x)
        return x


def _batch_source(data, model, stop, what, keep):
    """A lowp dataloader over a Python iterable of feeds (or (inputs, label) pairs)."""
    data = replayable(data)
    names = model.input_names
    state = {"it": None, "read": 0}

    def next_cb(user, sample_p, count_p):
        try:
            if stop.exc is not None:
                return stop.record(stop.exc, what)
            if state["it"] is None:
                state["it"] = iter(data)
            stop.in_user += 1
            try:
                item = next(state["it"])
            except StopIteration:
                count_p[0] = 0
                return 0
            finally:
                stop.in_user -= 1
            xs, label = as_feed_list(item, names)
            arrs = _typed_inputs(model, xs)
            s = sample_p.contents
            for i, a in enumerate(arrs):
                s.inputs[i] = tensor_from_array(a).value
                s.n_inputs = i + 1
            if label is not None:
                s.labels[0] = tensor_from_array(np.asarray(_numpy(label))).value
                s.n_labels = 1
            count_p[0] = int(arrs[0].shape[0]) if arrs[0].ndim else 1
            state["read"] += 1
            return 0
        except BaseException as e:  # noqa: B902 -- Ctrl-C included: stop lowp, re-raise later
            return stop.record(e, f"{what} (item {state['read']})")

    def reset_cb(user):
        state["it"] = None

    src = _lib.BatchSource(next=keep(_lib.NEXT_FN(next_cb)), reset=keep(_lib.RESET_FN(reset_cb)),
                           free=_lib.FREE_FN(), user=None, length=0, description=keep(what.encode()))
    dl = c_void_p()
    check(lib.lowp_dataloader_create_from_source(byref(src), byref(dl)))
    return dl


def dataloader_from_spec(spec, transform=None, batch_size=100, max_samples=0):
    """A lowp dataloader from the CLI's short forms: spec "FashionMNIST:/path:train=true",
    transform "Rescale,Normalize=0.2860/0.3530" (or a list of such items)."""
    name_p, params = c_void_p(), c_void_p()
    check(lib.lowp_params_parse_spec(b"dataset", spec.encode(), byref(name_p), byref(params)))
    name = take_string(name_p)
    ds, tf = c_void_p(), c_void_p()
    try:
        check(lib.lowp_dataset_open(name.encode(), params, byref(ds)))
    finally:
        lib.lowp_params_free(params)
    check(lib.lowp_transform_create(byref(tf)))
    items = transform.split(",") if isinstance(transform, str) else list(transform or [])
    try:
        for item in (i.strip() for i in items):
            if not item:
                continue
            tname, tparams = c_void_p(), c_void_p()
            check(lib.lowp_params_parse_spec(b"transform", item.encode(), byref(tname), byref(tparams)))
            try:
                check(lib.lowp_transform_append(tf, take_string(tname).encode(), tparams))
            finally:
                lib.lowp_params_free(tparams)
    except Exception:
        lib.lowp_transform_free(tf)
        lib.lowp_dataset_free(ds)
        raise
    o = lib.lowp_dataloader_options_default()
    o.batch_size = int(batch_size)
    o.max_samples = int(max_samples or 0)
    dl = c_void_p()
    check(lib.lowp_dataloader_create(ds, tf, byref(o), byref(dl)))
    return dl


def _metric_handle(spec):
    name_p, params = c_void_p(), c_void_p()
    check(lib.lowp_params_parse_spec(b"metric", spec.encode(), byref(name_p), byref(params)))
    m = c_void_p()
    try:
        check(lib.lowp_metric_create(take_string(name_p).encode(), params, byref(m)))
    finally:
        lib.lowp_params_free(params)
    return m


class _BuiltinMetric:
    """A lowp metric (by name) used from Python: update(preds, labels) / result() / reset()."""

    def __init__(self, spec):
        self._h = _metric_handle(spec)
        self.higher_is_better = bool(lib.lowp_metric_higher_is_better(self._h))
        self.name = lib.lowp_metric_name(self._h).decode()

    def __del__(self):
        if getattr(self, "_h", None):
            lib.lowp_metric_free(self._h)

    def reset(self):
        lib.lowp_metric_reset(self._h)

    def update(self, preds, labels):
        preds = preds if isinstance(preds, (list, tuple)) else [preds]
        labels = labels if isinstance(labels, (list, tuple)) else [labels]
        ps = [np.asarray(_numpy(p), order="C") for p in preds]
        ls = [np.asarray(_numpy(x), order="C") for x in labels]
        from .core import wrap_array
        pt = (c_void_p * len(ps))(*[wrap_array(p).value for p in ps])
        lt = (c_void_p * max(len(ls), 1))(*[wrap_array(x).value for x in ls])
        try:
            check(lib.lowp_metric_update(self._h, len(ps), pt, len(ls), lt))
        finally:
            for t in list(pt) + list(lt)[:len(ls)]:
                lib.lowp_tensor_free(t)

    def result(self):
        v = ctypes.c_double()
        check(lib.lowp_metric_result(self._h, byref(v)))
        return v.value


def evaluate(session, dataloader, metric):
    """Scores `session` (a lowp.Session, or a model) on a Python iterable of (inputs, label)
    pairs with `metric`: an object with update(preds, labels) / result() / reset() (LPOT's
    metric protocol; preds is the output array, or the list of outputs when there are several)
    or a lowp metric name ("topk=1", "MSE")."""
    if not isinstance(session, Session):
        session = Session(session)
    if isinstance(metric, str):
        metric = _BuiltinMetric(metric)
    if hasattr(metric, "reset"):
        metric.reset()
    seen = 0
    for item in dataloader:
        xs, label = as_feed_list(item, session.input_names)
        out = session.run(xs)
        preds = [out[n] for n in session.output_names]
        metric.update(preds[0] if len(preds) == 1 else preds, label)
        seen += 1
    if not seen:
        raise ValueError("evaluate: the dataloader yielded nothing")
    return float(metric.result())


def _evaluator(fn, name, higher_is_better, stop, keep, adapt=None):
    """A lowp_evaluator calling fn(candidate) -> number. `adapt(session)` makes the argument
    (default: the lent lowp.Session, whose .model is the candidate lowp.Model)."""

    def eval_cb(user, rq_p, value_p):
        try:
            if stop.exc is not None:
                return stop.record(stop.exc, name)
            rq = rq_p.contents
            model = Model._borrowed(rq.model)
            session = Session._borrowed(rq.session, model)
            session.trial = rq.trial
            stop.in_user += 1
            try:
                v = fn(adapt(session) if adapt else session)
            finally:  # lent for this call only
                stop.in_user -= 1
                session._h = None
                model._h = None
            try:
                value_p[0] = float(v)
            except (TypeError, ValueError):
                raise TypeError(f"{name} must return a number, not {type(v).__name__}") from None
            return 0
        except BaseException as e:  # noqa: B902
            return stop.record(e, name)

    return _lib.Evaluator(fn=keep(_lib.EVAL_FN(eval_cb)), user=None, free=_lib.FREE_FN(),
                          name=keep(name.encode()), higher_is_better=1 if higher_is_better else 0)


def _progress_printer(p):
    if p["finished"] and p["phase"] == "baseline":
        print(f"tune: FP32 baseline {p['baseline']:.4f}, target {p['target']:.4f}", file=sys.stderr, flush=True)
    elif p["finished"] and p["phase"] == "trial":
        print(f"tune: trial {p['trial']}/{p['max_trials']}  {p['accuracy']:.4f} vs target {p['target']:.4f}  "
              f"{'pass' if p['passed'] else 'FAIL'}  [{p['note']}]", file=sys.stderr, flush=True)


_libc = ctypes.CDLL(None)
_libc.malloc.restype, _libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]


def _malloc_copy(data):
    """`data` (bytes) in memory from C's malloc, which lowp frees."""
    p = _libc.malloc(max(len(data), 1))
    if not p:
        raise MemoryError("out of memory")
    ctypes.memmove(p, data, len(data))
    return p


def _comm(comm, keep):
    """A lowp_comm over an mpi4py communicator (anything with Get_rank, Get_size, gather and bcast
    of Python objects): lowp's byte buffers travel as bytes objects. docs/distributed.md."""
    def gather(user, buf, n, root, all_out, sizes_out):
        try:
            parts = comm.gather(ctypes.string_at(buf, n) if n else b"", root=root)
            if comm.Get_rank() == root:
                for i, p in enumerate(parts):
                    sizes_out[i] = len(p)
                all_out[0] = _malloc_copy(b"".join(parts))
            return 0
        except BaseException as e:  # noqa: B902 -- a collective cannot be resumed: stop every rank
            print(f"lowp: rank {comm.Get_rank()}: mpi4py gather failed: {e}; aborting", file=sys.stderr, flush=True)
            comm.Abort(2)
            return _lib.LOWP_ERR_IO

    def bcast(user, buf, n, root):
        try:
            mine = comm.Get_rank() == root
            data = comm.bcast(ctypes.string_at(buf[0], n[0]) if mine and n[0] else b"", root=root)
            if not mine:
                buf[0] = _malloc_copy(data)
                n[0] = len(data)
            return 0
        except BaseException as e:  # noqa: B902
            print(f"lowp: rank {comm.Get_rank()}: mpi4py bcast failed: {e}; aborting", file=sys.stderr, flush=True)
            comm.Abort(2)
            return _lib.LOWP_ERR_IO

    def split(user, color, out):
        """The ranks of the same color (mpi4py's Split, ranked as in `comm`): lowp's rank groups."""
        try:
            sub = comm.Split(color, comm.Get_rank())
            c = _comm(sub, keep)
            handle = id(sub)
            keep.subs[handle] = sub
            c.user = handle
            ctypes.memmove(out, ctypes.addressof(c), ctypes.sizeof(c))
            return 0
        except BaseException as e:  # noqa: B902
            print(f"lowp: rank {comm.Get_rank()}: mpi4py Split failed: {e}; aborting", file=sys.stderr, flush=True)
            comm.Abort(2)
            return _lib.LOWP_ERR_IO

    def release(user):
        sub = keep.subs.pop(user, None)
        if sub is not None:
            sub.Free()

    c = _lib.Comm(rank=comm.Get_rank(), size=comm.Get_size(), gather=keep(_lib.COMM_GATHER(gather)),
                  bcast=keep(_lib.COMM_BCAST(bcast)), user=None,
                  split=keep(_lib.COMM_SPLIT(split)) if hasattr(comm, "Split") else _lib.COMM_SPLIT(),
                  release=keep(_lib.FREE_FN(release)))
    return keep(c)


def _load_config(config, keep):
    cfg = c_void_p()
    if isinstance(config, (str, os.PathLike)) and (not isinstance(config, str) or "\n" not in config):
        check(lib.lowp_config_load(enc(os.fspath(config)), byref(cfg)))
    else:
        check(lib.lowp_config_load_string(config.encode(), b"<config string>", byref(cfg)))
    return cfg


def tune(model, eval_func=None, calib=None, *, eval_dataloader=None, metric=None, eval=None, transform=None,
         config=None, eval_cmd=None, eval_timeout=0, tolerance=None, relative=True, higher_is_better=None,
         strategy=None, approach=None, objective=None, max_trials=None, timeout=None, seed=None,
         workspace=None, output=None, resume=False, sampling_size=None, threads=0, batch_size=100,
         progress=False, example_inputs=None, eval_name=None, comm=None, ranks_per_trial=None,
         trial_batch=None, _adapt=None):
    """Accuracy-driven quantization of `model` (a path, bytes, onnx.ModelProto, lowp.Model, or a
    torch.nn.Module: exported with `example_inputs`, else with the first calibration item).

    Scoring, the first that is given:
      eval_func(session) -> number: your function; `session` is a lowp.Session on the
          candidate (session.model is the candidate lowp.Model, session.trial its number, 0
          for the FP32 baseline). Higher is better unless higher_is_better=False.
      eval_cmd='CMD {model}': an external program (the --eval-cmd protocol, docs/cli.md).
      eval_dataloader + metric: a Python iterable of (inputs, label) pairs and a metric object
          (update/result/reset) or a lowp metric name ("topk=1").
      eval='FashionMNIST:/path' (+ transform, metric): lowp's built-in datasets and metrics.
      config='conf.yaml' (or YAML text): LPOT-style configuration, whose evaluation section
          scores when nothing above is given; its tuning and quantization sections set the
          defaults of the options below.
    Calibration (static approach): `calib` is any iterable of feeds (dicts, arrays, or (inputs,
    label) pairs) or a dataset spec string; else the config's quantization.calibration.

    Under mpirun, comm=mpi4py.MPI.COMM_WORLD runs one tune over every rank (each calls tune with
    the same arguments): lowp's datasets and metrics are split over the ranks, your eval_func
    runs on rank 0; rank 0 writes the history, reports and model, and every rank returns the
    same model and summary (docs/distributed.md). ranks_per_trial=G evaluates the points a
    strategy proposes together on groups of G ranks (default 1); trial_batch=K sets how many it
    proposes at once (default: the number of groups; bayesian's choices depend on it).

    Returns (model, summary): the tuned lowp.Model and a TuneSummary."""
    keep, stop = _Keep(), _Stop()
    cfg = _load_config(config, keep) if config is not None else None
    cal = ev = m = post = None
    tuner = c_void_p()
    old_sigint = _catch_sigint(stop)
    try:
        if calib is not None and not isinstance(calib, str):
            calib = replayable(calib)
        if _is_torch_module(model) and example_inputs is None:
            if calib is None or isinstance(calib, str):
                raise Error(_lib.LOWP_ERR_INVALID_ARGUMENT, "a torch.nn.Module needs example_inputs= (or Python "
                            "calibration data, whose first item is used)")
            example_inputs = _first_inputs(calib)
        model = load(model, example_inputs=example_inputs)
        o = lib.lowp_tune_options_default()
        if cfg:
            check(lib.lowp_tune_options_from_config(cfg, byref(o)))
        if strategy is not None:
            o.strategy = keep(strategy.encode())
        if approach is not None:
            o.approach = keep(_APPROACHES.get(approach, approach).encode())
        if tolerance is not None:
            o.tolerance = float(tolerance)
            o.relative = 1 if relative else 0
        if higher_is_better is not None:
            o.higher_is_better = 1 if higher_is_better else 0
        if objective is not None:
            o.objective = keep(objective.encode())
        if max_trials is not None:
            o.max_trials = int(max_trials)
        if timeout is not None:
            o.timeout = float(timeout)
        if seed is not None:
            o.seed = int(seed)
        if workspace is not None:
            o.workspace = keep(enc(os.fspath(workspace)))
        if output is not None:
            o.output = keep(enc(os.fspath(output)))
        if resume:
            o.resume = 1
        if sampling_size is not None:
            sizes = [sampling_size] if isinstance(sampling_size, int) else list(sampling_size)
            o.n_sampling_sizes = len(sizes)
            for i, v in enumerate(sizes[:8]):
                o.sampling_sizes[i] = int(v)
        o.threads = int(threads or 0)
        if ranks_per_trial is not None:
            o.ranks_per_trial = int(ranks_per_trial)
        if trial_batch is not None:
            o.trial_batch = int(trial_batch)
        if comm is not None and comm.Get_size() > 1:
            o.comm = ctypes.cast(ctypes.pointer(_comm(comm, keep)), c_void_p)
            if comm.Get_rank() != 0:
                progress = False  # shown once, by rank 0
        if progress:
            report = progress if callable(progress) else _progress_printer

            def progress_cb(user, p_p):
                stop.in_user += 1
                try:
                    p = p_p.contents
                    report({name: (getattr(p, name).decode("utf-8", "replace") if isinstance(getattr(p, name), bytes)
                                   else getattr(p, name) or ("" if name in ("phase", "note") else getattr(p, name)))
                            for name, _ in _lib.TuneProgress._fields_})
                except BaseException as e:  # noqa: B902
                    stop.record(e, "progress")
                finally:
                    stop.in_user -= 1
        else:
            def progress_cb(user, p_p):
                """Nothing to show; Python runs a pending Ctrl-C handler here while lowp computes."""
        o.progress = keep(_lib.PROGRESS_FN(progress_cb))

        dynamic = o.approach == b"post_training_dynamic_quant"
        max_cal = max(list(o.sampling_sizes)[:max(o.n_sampling_sizes, 1)])
        if not dynamic:
            if calib is None and cfg is None:
                raise ValueError("static quantization needs calibration data: calib=<iterable of feeds> "
                                 "(or approach='dynamic')")
            if isinstance(calib, str):
                cal = dataloader_from_spec(calib, transform, 50, max_cal)
            elif calib is not None:
                cal = _batch_source(calib, model, stop, "calib_dataloader", keep)
            else:
                cal = c_void_p()
                check(lib.lowp_config_dataloader(cfg, b"quantization.calibration", 0, max_cal, byref(cal)))

        evaluator = None
        hib = True if higher_is_better is None else bool(higher_is_better)
        if eval_func is not None:
            evaluator = _evaluator(eval_func, eval_name or "eval_func", hib, stop, keep, _adapt)
        elif eval_cmd is not None:
            evaluator = _lib.Evaluator()
            check(lib.lowp_evaluator_command(eval_cmd.encode(), float(eval_timeout or 0), 1 if hib else 0,
                                             byref(evaluator)))
        elif eval_dataloader is not None:
            if metric is None:
                raise ValueError("eval_dataloader needs a metric (an object with update/result/reset, or a lowp "
                                 "metric name such as 'topk=1')")
            met = _BuiltinMetric(metric) if isinstance(metric, str) else metric
            if higher_is_better is None:
                hib = bool(getattr(met, "higher_is_better", True))
            data = replayable(eval_dataloader)
            name = eval_name or getattr(met, "name", None) or type(met).__name__
            evaluator = _evaluator(lambda s: evaluate(s, data, met), name, hib, stop, keep)
        elif eval is not None:
            ev = dataloader_from_spec(eval, transform, batch_size)
            m = _metric_handle(metric or "topk=1")
        elif cfg is not None:
            ev, m, post = c_void_p(), c_void_p(), c_void_p()
            check(lib.lowp_config_dataloader(cfg, b"evaluation.accuracy", 0, 0, byref(ev)))
            check(lib.lowp_config_metric(cfg, byref(m)))
            check(lib.lowp_config_postprocess(cfg, byref(post)))
        else:
            raise ValueError("how should candidates be scored? give eval_func=, eval_cmd=, eval_dataloader= + "
                             "metric=, eval= (a dataset spec) or config=")

        if evaluator is not None:
            st = lib.lowp_tuner_create_with_evaluator(model.handle, cal, byref(evaluator), byref(o), byref(tuner))
        else:
            st = lib.lowp_tuner_create(model.handle, cal, ev, m, post, byref(o), byref(tuner))
        cal = ev = m = post = None  # the tuner owns them now, also when it failed
        _raise(st, stop, None)
        stop.tuner = tuner
        s = _lib.TuneSummary()
        st = lib.lowp_tuner_run(tuner, byref(s))
        _raise(st, stop, o.workspace.decode() if o.workspace else None)
        if stop.exc is not None:  # Ctrl-C after the last check: the run is complete, say so
            stop.exc.add_note(f"lowp tune stopped after it finished: the result is in {s.output.decode()}")
            raise stop.exc
        out = c_void_p()
        check(lib.lowp_tune_summary_json(byref(s), byref(out)))
        summary = TuneSummary(s, take_string(out))
        return summary.model, summary
    finally:
        for h, free in ((cal, lib.lowp_dataloader_free), (ev, lib.lowp_dataloader_free),
                        (m, lib.lowp_metric_free), (post, lib.lowp_transform_free)):
            if h:
                free(h)
        if tuner:
            lib.lowp_tuner_free(tuner)
        if cfg:
            lib.lowp_config_free(cfg)
        if old_sigint is not None:
            signal.signal(signal.SIGINT, old_sigint)


def _catch_sigint(stop):
    """Ctrl-C during a tune: inside the user's Python code it raises KeyboardInterrupt there
    (caught by the callback, which stops lowp); while lowp computes, Python runs the handler at
    the next callback, where raising would be lost -- so it records the interrupt and asks the
    tuner to stop at its next check instead. Main thread only (Python's rule for signals)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_sigint(signum, frame):
        if stop.in_user:
            raise KeyboardInterrupt
        stop.record(KeyboardInterrupt(), "Ctrl-C")

    return signal.signal(signal.SIGINT, on_sigint)


def _raise(st, stop, workspace):
    if st == _lib.LOWP_OK:
        return
    msg = (lib.lowp_last_error() or b"").decode("utf-8", "replace")
    if stop.exc is not None:
        exc = stop.exc
        where = f"; the finished trials are in {workspace}/history.jsonl: tune(..., resume=True) continues" \
            if workspace else ""
        exc.add_note(f"lowp tune stopped: {msg}{where}")
        raise exc
    raise Error(st, msg)
