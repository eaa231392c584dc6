"""test_tune.py — lowp.tune from Python: an eval_func scores what lowp's built-in topk scores
(same baseline, same result); built-in dataset + metric by spec; a YAML config; Python
eval_dataloader + metric object; an exception in eval_func or in the calibration data stops
the tune, is re-raised with a note naming the trial, keeps the history, and resume=True
continues without re-running finished trials; Ctrl-C (SIGINT) likewise, both inside the user's
code and while lowp computes; eval_cmd."""
import json
import os
import signal
import sys

import numpy as np
import pytest

import lowp
from conftest import FM

MLP = "models/mlp.onnx"
SPEC_T = "Rescale,Normalize=0.2860/0.3530"


def history_trials(ws):
    with open(os.path.join(ws, "history.jsonl")) as f:
        return len(f.readlines()) - 1  # a header line, then one per trial


def test_eval_func_matches_builtin(tmp_path, calib_batches, top1):
    m1, s1 = lowp.tune(MLP, top1, calib_batches, workspace=tmp_path / "f", threads=1)
    m2, s2 = lowp.tune(MLP, calib=f"FashionMNIST:{FM}:train=true", eval=f"FashionMNIST:{FM}", transform=SPEC_T,
                       metric="topk=1", workspace=tmp_path / "b", threads=1, batch_size=100)
    assert s1.met and s1.trials >= 1 and 0.8 < s1.baseline < 0.95
    assert isinstance(m1, lowp.Model) and "QuantizeLinear" in m1.info()["ops"]
    assert s1.history and s1.as_dict()["met_target"] is True
    assert s2.met and s2.baseline > 0.8  # the whole test split


def test_config_yaml(tmp_path):
    m, s = lowp.tune(MLP, config="examples/tune_mlp.yaml", workspace=tmp_path, threads=1)
    assert s.met and s.strategy == "auto"
    assert os.path.exists(tmp_path / "report.md")


def test_python_dataloader_and_metric(tmp_path, calib_batches, test_set):
    x, y = test_set

    class MacroRecall:  # a metric lowp does not have
        higher_is_better = True

        def reset(self):
            self.p, self.t = [], []

        def update(self, preds, labels):
            self.p.append(preds.argmax(1))
            self.t.append(labels)

        def result(self):
            p, t = np.concatenate(self.p), np.concatenate(self.t)
            return float(np.mean([(p[t == c] == c).mean() for c in np.unique(t)]))

    batches = [(x[i:i + 100], y[i:i + 100]) for i in range(0, 300, 100)]
    _, s = lowp.tune(MLP, calib=calib_batches, eval_dataloader=batches, metric=MacroRecall(), workspace=tmp_path)
    assert s.met and 0.8 < s.baseline < 0.95
    _, s2 = lowp.tune(MLP, calib=calib_batches, eval_dataloader=batches, metric="topk=1", workspace=tmp_path / "k")
    assert abs(s2.baseline - float((lowp.Session(MLP).run(x)["logits"].argmax(1) == y).mean())) < 1e-12


def test_exception_in_eval_func_stops_and_resumes(tmp_path, calib_batches, top1):
    seen = []

    def flaky(session):
        seen.append(session.trial)
        if session.trial == 2:
            raise KeyError("no such feature")
        return top1(session)

    opts = dict(workspace=tmp_path, tolerance=-0.5, max_trials=3, strategy="basic", threads=1)
    with pytest.raises(KeyError) as e:
        lowp.tune(MLP, flaky, calib_batches, **opts)
    note = " ".join(e.value.__notes__)
    assert "trial 2" in note and "resume=True" in note
    assert history_trials(tmp_path) == 1
    seen.clear()
    _, s = lowp.tune(MLP, top1 if False else (lambda sess: seen.append(sess.trial) or top1(sess)), calib_batches,
                     resume=True, **opts)
    assert s.trials == 3 and seen == [0, 2, 3]  # trial 1 came from the history


def test_exception_in_calibration_data(tmp_path, calib_batches, top1):
    def data():
        yield calib_batches[0]
        raise IOError("disk on fire")

    with pytest.raises(OSError) as e:
        lowp.tune(MLP, top1, data(), workspace=tmp_path, sampling_size=100)
    assert "calib_dataloader" in " ".join(e.value.__notes__)


def test_ctrl_c_in_eval_func(tmp_path, calib_batches, top1):
    # what the process had before: Python's default_int_handler, or SIG_IGN when the suite was
    # started in the background by a non-interactive shell (which ignores SIGINT for it)
    before = signal.getsignal(signal.SIGINT)

    def interrupted(session):
        if session.trial == 2:
            os.kill(os.getpid(), signal.SIGINT)  # as if the user pressed Ctrl-C now
        return top1(session)

    with pytest.raises(KeyboardInterrupt) as e:
        lowp.tune(MLP, interrupted, calib_batches, workspace=tmp_path, tolerance=-0.5, max_trials=4,
                  strategy="basic")
    assert "trial 2" in " ".join(e.value.__notes__)
    assert history_trials(tmp_path) == 1
    assert signal.getsignal(signal.SIGINT) is before  # restored


def test_ctrl_c_while_lowp_computes(tmp_path, calib_batches, top1):
    """SIGINT arriving while C runs (here: sent at a progress report during the baseline):
    the tune stops at its next check, before trial 1, with KeyboardInterrupt."""
    sent = []

    def progress(p):
        if p["phase"] == "baseline" and not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        lowp.tune(MLP, top1, calib_batches, workspace=tmp_path, progress=progress)
    assert sent and history_trials(tmp_path) == 0


def test_ctrl_c_from_another_thread(tmp_path, calib_batches, top1):
    """SIGINT at an arbitrary moment of a long tune (an unreachable target: it would run 40
    trials): wherever Python notices it -- in the user's code, or in a callback while lowp
    computes, which asks the tuner to stop -- the tune ends with KeyboardInterrupt, a note,
    and the trials finished so far in the history."""
    import threading

    def start_timer(session):
        # the signal comes from another thread; waiting until it has been sent keeps the test
        # from racing the tune (a 0.3 s timer lost to 40 quick trials on a loaded machine)
        if session.trial == 1:
            sent = threading.Event()

            def send():
                os.kill(os.getpid(), signal.SIGINT)
                sent.set()
            threading.Thread(target=send).start()
            sent.wait(10)
        return top1(session)

    with pytest.raises(KeyboardInterrupt) as e:
        lowp.tune(MLP, start_timer, calib_batches, workspace=tmp_path, tolerance=-0.5, max_trials=40,
                  strategy="random")
    assert "lowp tune stopped" in " ".join(e.value.__notes__)
    assert history_trials(tmp_path) < 40


def test_eval_func_must_return_a_number(tmp_path, calib_batches):
    with pytest.raises(TypeError, match="must return a number"):
        lowp.tune(MLP, lambda s: "high", calib_batches, workspace=tmp_path)


def test_eval_cmd(tmp_path, calib_batches, test_set):
    x, y = test_set
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    lowp_bin = os.path.join(os.path.dirname(os.environ.get("LOWP_LIBRARY", "build/liblowp.so")), "lowp")
    cmd = f"{sys.executable} examples/python/score_f1.py {{model}} {tmp_path}/x.npy {tmp_path}/y.npy {lowp_bin}"
    _, s = lowp.tune(MLP, calib=calib_batches, eval_cmd=cmd, eval_timeout=60, workspace=tmp_path / "w")
    assert s.met and 0.8 < s.baseline < 0.95
