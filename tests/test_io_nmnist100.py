"""The 100 real N-MNIST test recordings decode exactly as tonic's independent reader does."""

import os

import numpy as np
import pytest

from spikeengine.io import iter_events, read_events

DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "nmnist_test100")
pytestmark = pytest.mark.skipif(not os.path.isdir(DIR), reason=f"real N-MNIST recordings not found at {DIR}")


def _files():
    return sorted(f for f in os.listdir(DIR) if f.endswith(".bs2")) if os.path.isdir(DIR) else []


def test_all_hundred_recordings_match_tonic():
    tonic_io = pytest.importorskip("tonic.io")
    dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
    files = _files()
    assert len(files) == 100
    total = 0
    for name in files:
        path = os.path.join(DIR, name)
        ev = read_events(path)
        ref = tonic_io.read_mnist_file(path, dtype=dtype)
        assert ev.format == "nmnist" and ev.sensor_size == (34, 34)
        for f in ("t", "x", "y", "p"):
            np.testing.assert_array_equal(ev.data[f], ref[f], err_msg=f"{name}: field {f}")
        total += len(ev)
    assert total > 100 * 1000  # about 3-5 thousand events per recording


def test_labels_and_chunked_reading():
    labels = np.loadtxt(os.path.join(DIR, "labels.txt"), dtype=int)
    assert labels.shape == (100, 2) and set(labels[:, 1]) == set(range(10))
    path = os.path.join(DIR, _files()[0])
    whole = read_events(path)
    for window in (1000.0, 33333.0):  # 1 ms frames as the NIR paper's platforms used, and saccade-scale windows
        parts = list(iter_events(path, window_us=window))
        assert sum(len(p) for p in parts) == len(whole)
        assert np.array_equal(np.concatenate([p.data for p in parts]), whole.data)
        assert all(int(p.t[-1]) - int(p.t[0]) < window for p in parts)
