"""test_abi.py — the ctypes mirrors of include/lowp.h's structs list the header's fields in
the header's order (a field added or moved in C fails here, not as memory corruption), and
every prototype the package declares exists in the library."""
import os
import re

import pytest

from lowp import _lib

HEADER = open(os.path.join(os.path.dirname(__file__), "..", "..", "include", "lowp.h")).read()

MIRRORS = {"lowp_session_options": _lib.SessionOptions, "lowp_sample": _lib.Sample,
           "lowp_tune_progress": _lib.TuneProgress, "lowp_tune_options": _lib.TuneOptions,
           "lowp_tune_summary": _lib.TuneSummary, "lowp_eval_request": _lib.EvalRequest,
           "lowp_evaluator": _lib.Evaluator, "lowp_batch_source": _lib.BatchSource,
           "lowp_param_spec": _lib.ParamSpec, "lowp_dataset_vtable": _lib.DatasetVtable,
           "lowp_transform_vtable": _lib.TransformVtable, "lowp_metric_vtable": _lib.MetricVtable,
           "lowp_dataloader_options": _lib.DataloaderOptions, "lowp_comm": _lib.Comm}


def header_fields(name):
    m = re.search(r"typedef struct %s \{(.*?)\n\} %s;" % (name, name), HEADER, re.S)
    assert m, f"struct {name} not found in lowp.h"
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    fields = []
    for decl in body.split(";"):
        decl = " ".join(decl.split())
        if not decl:
            continue
        fp = re.search(r"\(\s*\*\s*(\w+)\s*\)\s*\(", decl)  # a function pointer
        if fp:
            fields.append(fp.group(1))
            continue
        for part in decl.split(","):  # "int n_int8, n_bf16, n_fp32" and "int64_t done, total"
            part = re.sub(r"\[.*?\]", "", part).strip()
            fields.append(re.findall(r"\w+", part)[-1])
    return fields


@pytest.mark.parametrize("name", sorted(MIRRORS))
def test_struct_mirrors_header(name):
    mine = [f for f, _ in MIRRORS[name]._fields_ if not f.startswith("_")]
    assert mine == header_fields(name)


def test_prototypes_exist():
    for name, _, _ in _lib._PROTOS:
        assert hasattr(_lib.lib, name), name
