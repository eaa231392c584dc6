"""test_torch.py — a torch.nn.Module goes wherever a model goes: lowp.load/Session with
example inputs (exported through torch.onnx with a dynamic batch: any batch size runs),
quantize and tune taking the example from the calibration data."""
import numpy as np
import pytest

import lowp

torch = pytest.importorskip("torch")


def net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 26 * 26, 10))


def test_module_runs_like_torch():
    m = net()
    x = torch.randn(2, 1, 28, 28)
    s = lowp.Session(m, example_inputs=x)
    for n in (1, 3, 7):  # the batch dimension is dynamic
        xb = torch.randn(n, 1, 28, 28)
        with torch.no_grad():
            want = m(xb).numpy()
        got = s.run(xb.numpy())["output"]
        # FP32, different summation orders: errors of a few ulps of the O(1) logits
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    assert lowp.load(m, example_inputs=x).info()["inputs"][0]["shape"][0] == "batch"
    assert m.training  # the module's mode is left as it was


def test_module_needs_example_inputs():
    with pytest.raises(lowp.Error, match="example inputs"):
        lowp.load(net())


def test_quantize_and_tune_module(tmp_path, calib_batches, test_set):
    x, y = test_set
    m = net()
    q = lowp.quantize(m, calib=calib_batches)  # example inputs: the first calibration batch
    assert "QuantizeLinear" in q.info()["ops"]
    with torch.no_grad():
        ref = m(torch.from_numpy(x)).numpy()

    def agreement(session):  # a metric lowp lacks: agreement with the torch model's decisions
        return float((session.run(x)["output"].argmax(1) == ref.argmax(1)).mean())

    best, s = lowp.tune(m, agreement, calib_batches, workspace=tmp_path, tolerance=0.02)
    assert s.baseline == 1.0 and s.met and isinstance(best, lowp.Model)
