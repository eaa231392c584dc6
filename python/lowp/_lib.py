"""_lib.py — liblowp.so through ctypes: finding the library, the C structs the package uses
(mirrors of include/lowp.h, checked against the header by tests/python/test_abi.py), the
prototypes, and the one error check.

ctypes calls release the GIL for the duration of every foreign call, so other Python threads
run while lowp computes; callbacks from C (evaluators, progress, data) take it back.
"""
import ctypes
import ctypes.util
import os

# ---- finding liblowp.so ----


def _candidates():
    env = os.environ.get("LOWP_LIBRARY")
    if env:
        yield env
    try:  # written by `make install` next to this file
        from . import _install
        yield _install.LIBRARY
    except ImportError:
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    # the build tree: python/lowp/ -> ../../$BUILD/liblowp.so
    repo = os.path.dirname(os.path.dirname(here))
    yield os.path.join(repo, os.environ.get("LOWP_BUILD", "build"), "liblowp.so")
    found = ctypes.util.find_library("lowp")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        if not path:
            continue
        if os.path.sep in path and not os.path.exists(path):
            tried.append(path + " (missing)")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"{path} ({e})")
    raise ImportError("lowp: cannot find liblowp.so; build it with `make` or set LOWP_LIBRARY "
                      "(tried: " + "; ".join(tried) + ")")


lib, LIBRARY_PATH = _load()
_libc = ctypes.CDLL(None)
_libc.free.argtypes = [ctypes.c_void_p]
_libc.free.restype = None

# ---- types ----

c_int, c_double, c_int64, c_size_t = ctypes.c_int, ctypes.c_double, ctypes.c_int64, ctypes.c_size_t
c_char_p, c_void_p, POINTER = ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER
status = c_int
MAX_DIMS = 8
SAMPLE_MAX = 8

LOWP_OK = 0
LOWP_ERR_INVALID_ARGUMENT = 1
LOWP_ERR_CANCELLED = 8

# lowp_dtype codes (ONNX TensorProto) <-> NumPy dtype names
DTYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
          9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64"}
CODES = {v: k for k, v in DTYPES.items()}


class SessionOptions(ctypes.Structure):
    _fields_ = [("threads", c_int), ("optimize", c_int), ("precision", c_int)]


class Sample(ctypes.Structure):
    _fields_ = [("n_inputs", c_int), ("inputs", c_void_p * SAMPLE_MAX),
                ("n_labels", c_int), ("labels", c_void_p * SAMPLE_MAX)]


class TuneProgress(ctypes.Structure):
    _fields_ = [("phase", c_char_p), ("trial", c_int), ("max_trials", c_int), ("done", c_int64),
                ("total", c_int64), ("baseline", c_double), ("target", c_double),
                ("accuracy", c_double), ("best", c_double), ("met", c_int), ("finished", c_int),
                ("elapsed", c_double), ("eta", c_double), ("note", c_char_p), ("passed", c_int),
                ("higher_is_better", c_int), ("trial_seconds", c_double), ("budget_bound", c_int)]


PROGRESS_FN = ctypes.CFUNCTYPE(None, c_void_p, POINTER(TuneProgress))


class TuneOptions(ctypes.Structure):
    _fields_ = [("strategy", c_char_p), ("approach", c_char_p), ("relative", c_int),
                ("tolerance", c_double), ("higher_is_better", c_int), ("objective", c_char_p),
                ("timeout", c_double), ("max_trials", c_int), ("seed", c_int64),
                ("workspace", c_char_p), ("output", c_char_p), ("resume", c_int),
                ("resume_from", c_char_p), ("n_sampling_sizes", c_int),
                ("sampling_sizes", c_int64 * 8), ("threads", c_int), ("config", c_void_p),
                ("progress", PROGRESS_FN), ("progress_user", c_void_p), ("performance_only", c_int),
                ("qoperator", c_int), ("tensorboard", c_int), ("comm", c_void_p),
                ("ranks_per_trial", c_int), ("trial_batch", c_int),
                ("_reserve", ctypes.c_char * 248)]  # room for fields appended in C later


class TuneSummary(ctypes.Structure):
    _fields_ = [("baseline", c_double), ("target", c_double), ("best", c_double),
                ("relative_loss", c_double), ("met", c_int), ("trials", c_int),
                ("best_trial", c_int), ("baseline_latency_ms", c_double),
                ("best_latency_ms", c_double), ("speedup", c_double),
                ("baseline_bytes", c_int64), ("best_bytes", c_int64), ("n_int8", c_int),
                ("n_bf16", c_int), ("n_fp32", c_int), ("seconds", c_double),
                ("strategy", c_char_p), ("output", c_char_p), ("workspace", c_char_p),
                ("_reserve", ctypes.c_char * 256)]


class EvalRequest(ctypes.Structure):
    _fields_ = [("model", c_void_p), ("session", c_void_p), ("trial", c_int), ("note", c_char_p),
                ("workspace", c_char_p), ("cancelled", POINTER(c_int))]


EVAL_FN = ctypes.CFUNCTYPE(status, c_void_p, POINTER(EvalRequest), POINTER(c_double))
FREE_FN = ctypes.CFUNCTYPE(None, c_void_p)


class Evaluator(ctypes.Structure):
    _fields_ = [("fn", EVAL_FN), ("user", c_void_p), ("free", FREE_FN), ("name", c_char_p),
                ("higher_is_better", c_int), ("_reserve", ctypes.c_char * 64)]


NEXT_FN = ctypes.CFUNCTYPE(status, c_void_p, POINTER(Sample), POINTER(c_int64))
RESET_FN = ctypes.CFUNCTYPE(None, c_void_p)


class BatchSource(ctypes.Structure):
    _fields_ = [("next", NEXT_FN), ("reset", RESET_FN), ("free", FREE_FN), ("user", c_void_p),
                ("length", c_int64), ("description", c_char_p), ("_reserve", ctypes.c_char * 64)]


class DataloaderOptions(ctypes.Structure):
    _fields_ = [("batch_size", c_int), ("shuffle", c_int), ("seed", ctypes.c_uint64),
                ("max_samples", c_int64), ("drop_last", c_int), ("_reserve", ctypes.c_char * 64)]


class ParamSpec(ctypes.Structure):
    _fields_ = [("name", c_char_p), ("type", c_int), ("required", c_int), ("positional", c_int)]


DS_OPEN = ctypes.CFUNCTYPE(status, c_void_p, POINTER(c_void_p), POINTER(c_int64))
DS_GET = ctypes.CFUNCTYPE(status, c_void_p, c_int64, POINTER(Sample))
DS_CLOSE = ctypes.CFUNCTYPE(None, c_void_p)


class DatasetVtable(ctypes.Structure):
    _fields_ = [("name", c_char_p), ("params", POINTER(ParamSpec)), ("open", DS_OPEN),
                ("get", DS_GET), ("close", DS_CLOSE), ("describe", c_void_p)]


TF_CREATE = ctypes.CFUNCTYPE(status, c_void_p, POINTER(c_void_p))
TF_APPLY = ctypes.CFUNCTYPE(status, c_void_p, POINTER(Sample), POINTER(ctypes.c_uint64))


class TransformVtable(ctypes.Structure):
    _fields_ = [("name", c_char_p), ("params", POINTER(ParamSpec)), ("create", TF_CREATE),
                ("apply", TF_APPLY), ("free", FREE_FN)]


M_CREATE = ctypes.CFUNCTYPE(status, c_void_p, POINTER(c_void_p))
M_UPDATE = ctypes.CFUNCTYPE(status, c_void_p, c_int, POINTER(c_void_p), c_int, POINTER(c_void_p))
M_RESULT = ctypes.CFUNCTYPE(status, c_void_p, POINTER(c_double))
COMM_GATHER = ctypes.CFUNCTYPE(status, c_void_p, c_void_p, c_size_t, c_int, POINTER(c_void_p), POINTER(c_size_t))
COMM_BCAST = ctypes.CFUNCTYPE(status, c_void_p, POINTER(c_void_p), POINTER(c_size_t), c_int)


class Comm(ctypes.Structure):
    pass


COMM_SPLIT = ctypes.CFUNCTYPE(status, c_void_p, c_int, POINTER(Comm))
Comm._fields_ = [("rank", c_int), ("size", c_int), ("gather", COMM_GATHER), ("bcast", COMM_BCAST),
                 ("user", c_void_p), ("split", COMM_SPLIT), ("release", FREE_FN)]


M_SAVE = ctypes.CFUNCTYPE(status, c_void_p, POINTER(c_void_p), POINTER(c_size_t))
M_MERGE = ctypes.CFUNCTYPE(status, c_void_p, c_void_p, c_size_t)


class MetricVtable(ctypes.Structure):
    _fields_ = [("name", c_char_p), ("params", POINTER(ParamSpec)), ("higher_is_better", c_int),
                ("create", M_CREATE), ("update", M_UPDATE), ("result", M_RESULT),
                ("reset", FREE_FN), ("free", FREE_FN), ("save", M_SAVE), ("merge", M_MERGE)]


# ---- prototypes: (name, restype, argtypes) ----

P, PP, I64P = c_void_p, POINTER(c_void_p), POINTER(c_int64)
_PROTOS = [
    ("lowp_last_error", c_char_p, []),
    ("lowp_set_error", status, [status, c_char_p]),
    ("lowp_status_string", c_char_p, [status]),
    ("lowp_version", c_char_p, []),
    ("lowp_tensor_create", status, [c_int, c_int, I64P, P, PP]),
    ("lowp_tensor_wrap", status, [c_int, c_int, I64P, P, PP]),
    ("lowp_tensor_free", None, [P]),
    ("lowp_tensor_dtype", c_int, [P]),
    ("lowp_tensor_ndim", c_int, [P]),
    ("lowp_tensor_dims", I64P, [P]),
    ("lowp_tensor_data", P, [P]),
    ("lowp_tensor_nbytes", c_size_t, [P]),
    ("lowp_model_load", status, [c_char_p, PP]),
    ("lowp_model_load_from_memory", status, [c_char_p, c_size_t, c_char_p, PP]),
    ("lowp_model_save", status, [P, c_char_p]),
    ("lowp_model_free", None, [P]),
    ("lowp_model_input_count", c_int, [P]),
    ("lowp_model_output_count", c_int, [P]),
    ("lowp_model_input_name", c_char_p, [P, c_int]),
    ("lowp_model_output_name", c_char_p, [P, c_int]),
    ("lowp_model_info_json", status, [P, PP]),
    ("lowp_model_capability", status, [P, PP]),
    ("lowp_session_options_default", SessionOptions, []),
    ("lowp_session_create", status, [P, POINTER(SessionOptions), PP]),
    ("lowp_session_free", None, [P]),
    ("lowp_session_run", status, [P, c_int, POINTER(c_char_p), PP, c_int, PP]),
    ("lowp_session_run_into", status, [P, c_int, POINTER(c_char_p), PP, c_int, PP]),
    ("lowp_session_memory_bytes", status, [P, POINTER(c_size_t)]),
    ("lowp_sample_clear", None, [POINTER(Sample)]),
    ("lowp_params_create", status, [PP]),
    ("lowp_params_free", None, [P]),
    ("lowp_params_set", status, [P, c_char_p, c_char_p]),
    ("lowp_params_has", c_int, [P, c_char_p]),
    ("lowp_params_get_string", status, [P, c_char_p, c_char_p, POINTER(c_char_p)]),
    ("lowp_params_get_floats", status, [P, c_char_p, c_int, POINTER(c_double), POINTER(c_int)]),
    ("lowp_params_parse_spec", status, [c_char_p, c_char_p, PP, PP]),
    ("lowp_dataset_register", status, [POINTER(DatasetVtable)]),
    ("lowp_dataset_open", status, [c_char_p, P, PP]),
    ("lowp_dataset_free", None, [P]),
    ("lowp_transform_register", status, [POINTER(TransformVtable)]),
    ("lowp_transform_create", status, [PP]),
    ("lowp_transform_append", status, [P, c_char_p, P]),
    ("lowp_transform_free", None, [P]),
    ("lowp_metric_register", status, [POINTER(MetricVtable)]),
    ("lowp_metric_create", status, [c_char_p, P, PP]),
    ("lowp_metric_free", None, [P]),
    ("lowp_metric_update", status, [P, c_int, PP, c_int, PP]),
    ("lowp_metric_result", status, [P, POINTER(c_double)]),
    ("lowp_metric_reset", None, [P]),
    ("lowp_metric_higher_is_better", c_int, [P]),
    ("lowp_metric_name", c_char_p, [P]),
    ("lowp_dataloader_options_default", DataloaderOptions, []),
    ("lowp_dataloader_create", status, [P, P, POINTER(DataloaderOptions), PP]),
    ("lowp_dataloader_create_from_source", status, [POINTER(BatchSource), PP]),
    ("lowp_dataloader_free", None, [P]),
    ("lowp_dataloader_next", status, [P, POINTER(Sample), I64P]),
    ("lowp_dataloader_reset", None, [P]),
    ("lowp_config_load", status, [c_char_p, PP]),
    ("lowp_config_load_string", status, [c_char_p, c_char_p, PP]),
    ("lowp_config_free", None, [P]),
    ("lowp_config_dataloader", status, [P, c_char_p, c_int, c_int64, PP]),
    ("lowp_config_model_path", c_char_p, [P]),
    ("lowp_config_has_metric", c_int, [P]),
    ("lowp_config_metric", status, [P, PP]),
    ("lowp_config_postprocess", status, [P, PP]),
    ("lowp_calibration_create", status, [P, POINTER(SessionOptions), PP]),
    ("lowp_calibration_for_recipe", status, [P, P]),
    ("lowp_calibration_feed", status, [P, c_int, POINTER(c_char_p), PP]),
    ("lowp_calibration_samples", c_int64, [P]),
    ("lowp_calibration_free", None, [P]),
    ("lowp_recipe_create", status, [PP]),
    ("lowp_recipe_load", status, [c_char_p, PP]),
    ("lowp_recipe_set", status, [P, c_char_p, c_char_p]),
    ("lowp_recipe_set_node", status, [P, c_char_p, c_char_p]),
    ("lowp_recipe_is_dynamic", c_int, [P]),
    ("lowp_recipe_free", None, [P]),
    ("lowp_quantize", status, [P, P, P, PP]),
    ("lowp_comparison_create", status, [P, P, PP]),
    ("lowp_comparison_feed", status, [P, c_int, POINTER(c_char_p), PP]),
    ("lowp_comparison_json", status, [P, PP]),
    ("lowp_comparison_histograms_json", status, [P, PP]),
    ("lowp_comparison_tensorboard", status, [P, c_char_p, ctypes.c_int64]),
    ("lowp_comparison_free", None, [P]),
    ("lowp_tune_options_default", TuneOptions, []),
    ("lowp_tune_options_from_config", status, [P, POINTER(TuneOptions)]),
    ("lowp_tuner_create", status, [P, P, P, P, P, POINTER(TuneOptions), PP]),
    ("lowp_tuner_create_with_evaluator", status, [P, P, POINTER(Evaluator), POINTER(TuneOptions), PP]),
    ("lowp_tuner_free", None, [P]),
    ("lowp_tuner_run", status, [P, POINTER(TuneSummary)]),
    ("lowp_tuner_cancel", None, [P]),
    ("lowp_tune_summary_json", status, [POINTER(TuneSummary), PP]),
    ("lowp_evaluator_command", status, [c_char_p, c_double, c_int, POINTER(Evaluator)]),
]
for _name, _res, _args in _PROTOS:
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args


class Error(Exception):
    """A lowp call failed: `status` is lowp's status code, `status_name` its name, and the
    message is lowp's (naming the file, node or key at fault)."""

    def __init__(self, status, message):
        self.status = status
        self.status_name = lib.lowp_status_string(status).decode()
        self.message = message
        super().__init__(f"{message} [{self.status_name}]")


def check(st):
    """Raises Error carrying lowp_last_error() when `st` is not LOWP_OK."""
    if st != LOWP_OK:
        raise Error(st, (lib.lowp_last_error() or b"").decode("utf-8", "replace"))


def take_string(ptr):
    """A malloc'ed char* from lowp as str, freed."""
    try:
        return ctypes.string_at(ptr).decode("utf-8", "replace")
    finally:
        _libc.free(ptr)


def enc(s):
    return None if s is None else os.fsencode(s) if isinstance(s, os.PathLike) else s.encode()
