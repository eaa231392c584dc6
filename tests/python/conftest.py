"""conftest.py — the lowp package from this tree (python/), over $LOWP_LIBRARY (set by
tests/python.sh to the build's liblowp.so), and the small data the tests share."""
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "examples", "python"))
os.chdir(ROOT)

import fmnist  # noqa: E402

FM = "/usr/share/datasets/fashion-mnist"


@pytest.fixture(scope="session")
def test_set():
    """300 test images and labels (normalized like the zoo models' training)."""
    return fmnist.images(False, 300), fmnist.labels(False, 300)


@pytest.fixture(scope="session")
def calib_batches():
    """100 training images in two batches of 50."""
    x = fmnist.images(True, 100)
    return [x[:50], x[50:]]


@pytest.fixture
def top1(test_set):
    x, y = test_set

    def score(session):
        return float((session.run(x)["logits"].argmax(1) == y).mean())
    return score
