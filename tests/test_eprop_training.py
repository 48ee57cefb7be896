"""The e-prop training loop, checkpoints, input validation, the SHD reader and the e-prop examples."""

import json
import os
import runpy
import subprocess
import sys

import numpy as np
import pytest

from spikeengine.eprop import (
    Adam,
    EpropIAF,
    EpropNetwork,
    EpropReadout,
    GradientDescent,
    History,
    ShdDataset,
    evaluate,
    load_checkpoint,
    load_network,
    restore_checkpoint,
    save_checkpoint,
    spike_raster,
    train,
)
from spikeengine.errors import InputFormatError, NetworkError, ParameterError

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
EX = os.path.join(ROOT, "examples")
SHD = os.path.join(ROOT, "..", "shared", "data", "events", "audio_shd_layout_from_lauscher_reference.h5")


def _example(name):
    return runpy.run_path(os.path.join(EX, name), run_name="example")


def _sine(n=20, steps=200):
    ex = _example("eprop_sine_wave.py")
    net, pattern, target = ex["build"](n, n, steps, 1)
    gen = ex["samples"](pattern, target)
    return net, [next(gen) for _ in range(2)]


def _weights(net):
    return [net.W_in.copy(), net.W_rec.copy(), net.W_out.copy(), net.B.copy()]


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


# ------------------------------------------------------------------------------------------ learning
def test_loss_decreases_on_sine_regression():
    """NEST's sine-wave network (first loss: NEST's 107.7) with a 100x learning rate: the loss falls."""
    net, data = _sine(100, 1000)
    assert train(net, data[:1], progress=False).loss[0] == pytest.approx(107.7, abs=0.05)
    net, data = _sine(100, 1000)
    net.optimizer = GradientDescent(eta=1e-4 * 0.03 ** 2 * 100, optimize_each_step=False)
    seen = []
    h = train(net, [data[0]] + [data[1]] * 7, iterations=8, progress=seen.append, progress_every=4)
    assert h.iteration == list(range(1, 9))
    assert h.loss[-1] < 0.8 * h.loss[0]
    assert all(a is None for a in h.accuracy)
    assert [s["iteration"] for s in seen] == [1, 4, 8] and seen[-1]["eta"] == 0.0
    assert seen[-1]["loss"] == h.loss[-1] and seen[0]["elapsed"] > 0


def test_progress_line_and_history_json(tmp_path, capsys):
    net, data = _sine()
    h = train(net, data, iterations=2, progress=True, progress_every=1)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[1].startswith("[eprop] iter 2/2  loss ") and "ETA" in err[1]
    p = tmp_path / "h.json"
    h.to_json(p)
    h2 = History.from_json(p)
    assert h2.loss == h.loss and json.loads(p.read_text())["iteration"] == [1, 2]
    assert History.from_json(h.to_json()).elapsed == h.elapsed


# ------------------------------------------------------------------------------------------ checkpoints
def _ea_net(batch=2):
    ex = _example("eprop_evidence_accumulation.py")
    net, rng = ex["build"](n_reg=4, n_ad=4, steps=ex["QUICK_STEPS"], batch_size=batch)
    spikes, labels = ex["generate_trials"](rng, 8, net.n_in, ex["QUICK_STEPS"])
    return net, [(spikes[k], int(labels[k])) for k in range(8)]


@pytest.mark.parametrize("case", ["event_adam", "bsshslm"])
def test_checkpoint_resume_is_bit_identical(tmp_path, case):
    if case == "event_adam":
        def make():
            net, data = _sine()
            net.optimizer = Adam(eta=1e-3, batch_size=1)
            return net, [data[0], data[1], data[1], data[1]]
        batch = 1
    else:
        def make():
            return _ea_net()
        batch = 2
    # uninterrupted: 4 iterations
    net_a, data = make()
    h_a = train(net_a, data, iterations=4, batch_size=batch, progress=False)
    # interrupted after 2 iterations, checkpointed, rebuilt from the file, resumed for 2
    net_b, data_b = make()
    path = tmp_path / "ck.npz"
    train(net_b, data_b, iterations=2, batch_size=batch, progress=False, checkpoint_every=2,
          checkpoint_path=str(path))
    del net_b
    net_c = load_network(path)
    ck = load_checkpoint(path)
    assert ck["version"] == 1 and len(ck["history"]) == 2 and ck["config"]["scheme"] == net_a.scheme
    h_c = train(net_c, data_b, iterations=2, batch_size=batch, progress=False, history=ck["history"])
    assert _same(_weights(net_a), _weights(net_c))
    assert h_c.loss == h_a.loss and h_c.iteration == [1, 2, 3, 4] and net_c.t == net_a.t
    # restore into an existing network of the same configuration works the same way
    net_d, _ = make()
    restore_checkpoint(net_d, path)
    train(net_d, data_b, iterations=2, batch_size=batch, progress=False, history=load_checkpoint(path)["history"])
    assert _same(_weights(net_a), _weights(net_d))


def test_isolated_evaluation_does_not_change_training():
    net_a, data = _ea_net()
    train(net_a, data, iterations=3, batch_size=2, progress=False)
    net_b, data = _ea_net()
    h = train(net_b, data, iterations=3, batch_size=2, progress=False, eval_every=1, test_set=data[:2])
    assert _same(_weights(net_a), _weights(net_b)) and net_a.t == net_b.t
    assert h.test_iteration == [1, 2, 3] and all(0.0 <= e <= 1.0 for e in h.test_error)
    t = net_b.t
    r = evaluate(net_b, data[:2], isolated=False)
    assert r["n"] == 2 and net_b.t == t + 2 * net_b.update_steps


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    net, data = _sine()
    path = tmp_path / "ck.npz"
    save_checkpoint(net, path)
    before = path.read_bytes()
    train(net, data, iterations=1, progress=False)

    def broken(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(net, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ck.npz"] and path.read_bytes() == before
    with pytest.raises(ParameterError, match="JSON"):
        save_checkpoint(net, tmp_path / "x.npz", extra={"bad": object()})
    assert os.listdir(tmp_path) == ["ck.npz"]


def test_checkpoint_errors(tmp_path):
    net, _ = _sine()
    (tmp_path / "not.npz").write_bytes(b"nope")
    with pytest.raises(InputFormatError, match="not.npz"):
        load_checkpoint(tmp_path / "not.npz")
    with pytest.raises(InputFormatError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.npz")
    save_checkpoint(net, tmp_path / "a.npz")
    other, _ = _sine(n=10)
    with pytest.raises(NetworkError, match="n_in = 20; this network has n_in = 10"):
        restore_checkpoint(other, tmp_path / "a.npz")


# ------------------------------------------------------------------------------------------ validation
def _small_net(n_out=2, loss="mse"):
    return EpropNetwork(3, EpropIAF(C_m=1.0, E_L=0.0, V_th=0.03, tau_m=30.0, t_ref=0.0), EpropReadout(C_m=1.0),
                        np.full((4, 3), 0.02), np.zeros((4, 4)), np.full((n_out, 4), 0.1), np.ones((4, n_out)),
                        loss=loss)


def test_input_forms_agree():
    r = spike_raster(([0.0, 1.5, 3.0], [2, 0, 1]), 3, 5)
    assert np.array_equal(spike_raster({"times": [0.0, 1.5, 3.0], "ids": [2, 0, 1]}, 3, 5), r)
    assert np.array_equal(spike_raster([[1.5], [3.0], [0.0]], 3, 5), r)
    assert np.array_equal(spike_raster(iter([([0.0, 1.5], [2, 0]), ([3.0], [1])]), 3, 5), r)
    assert np.array_equal(spike_raster(r.astype(int), 3, 5), r)
    assert spike_raster(([0.0, 0.2], [1, 1]), 3, 2).sum() == 1  # two spikes in one step count once


@pytest.mark.parametrize("inputs, match", [
    (([1.0], [3]), r"inputs: id 3 of spike 0 is outside \[0, 3\)"),
    (([-1.0], [0]), r"inputs: spike 0 has time -1.0 ms"),
    (([np.nan], [0]), r"inputs: spike 0 has time nan"),
    (([9.0], [0]), r"inputs: spike 0 at 9.0 ms lies at or after the end"),
    (([1.0, 2.0], [0]), r"inputs: 2 spike times but 1 ids"),
    (([1.0], [0.5]), r"inputs: id 0.5 of spike 0 is not an integer"),
    ([[1.0], [2.0]], r"inputs: a list of spike trains must have one entry per input neuron: got 2, n_in = 3"),
    (np.full((5, 3), 2), r"inputs: raster\[0, 0\] = 2"),
    (np.zeros((5, 4)), r"inputs: the raster has 4 columns; expected n_in = 3"),
    (iter([(1.0, 2.0, 3.0)]), r"inputs: event-stream chunk 0 is not a \(times_ms, ids\) pair"),
])
def test_spike_raster_errors_name_the_culprit(inputs, match):
    with pytest.raises(NetworkError, match=match):
        spike_raster(inputs, 3, 5)


def test_train_errors_name_sample_and_array():
    net = _small_net()
    x = np.zeros((5, 3), dtype=bool)
    with pytest.raises(NetworkError, match=r"train: sample 1: target has shape \(5, 3\); expected \(n_steps, 2\)"):
        train(net, [(x, np.zeros((5, 2))), (x, np.zeros((5, 3)))], progress=False)
    with pytest.raises(NetworkError, match=r"train: sample 0: target\[2, 1\] is not finite"):
        t = np.zeros((5, 2))
        t[2, 1] = np.nan
        train(net, [(x, t)], progress=False)
    with pytest.raises(NetworkError, match=r"train: sample 0: label 2 is outside \[0, 2\)"):
        train(net, [(x, 2)], progress=False)
    with pytest.raises(NetworkError, match=r"train: sample 0 inputs: id 7"):
        train(net, [(([1.0], [7]), 0)], sequence_steps=5, progress=False)
    with pytest.raises(NetworkError, match=r"train: sample 0: learning window has shape \(4,\); expected \(5,\)"):
        train(net, [(x, 0, np.ones(4))], progress=False)
    with pytest.raises(NetworkError, match=r"train: sample 0: cannot tell the sample's length"):
        train(net, [(([1.0], [0]), 1)], progress=False)
    with pytest.raises(NetworkError, match=r"a sample must be \(inputs, target\)"):
        train(net, [x], progress=False)
    with pytest.raises(ParameterError, match="batch_size must be an integer >= 1"):
        train(net, [(x, 0)], batch_size=0, progress=False)
    with pytest.raises(ParameterError, match="checkpoint_every needs checkpoint_path"):
        train(net, [(x, 0)], checkpoint_every=1, progress=False)


def test_classification_accuracy_with_labels_and_windows():
    net = _small_net(loss="cross_entropy")
    rng = np.random.default_rng(3)
    x = rng.random((20, 3)) < 0.3
    w = (np.arange(20) >= 10).astype(float)
    h = train(net, [(x, 0, w), (x, 1, w)], batch_size=2, iterations=2, progress=False)
    assert h.accuracy[0] in (0.0, 0.5, 1.0) and len(h) == 2
    # a silent network has equal readouts: a tie is not a correct answer
    silent = _small_net(loss="cross_entropy")
    silent.W_in[:] = 0.0
    r = evaluate(silent, [(np.zeros((10, 3), dtype=bool), 0)])
    assert r["accuracy"] == 0.0 and r["error"] == 1.0


# ------------------------------------------------------------------------------------------ SHD
@pytest.mark.skipif(not os.path.exists(SHD), reason="shared SHD-layout file absent")
def test_shd_reader_matches_h5py():
    h5py = pytest.importorskip("h5py")
    with h5py.File(SHD, "r") as f:
        n = f["labels"].shape[0]
        labels = np.asarray(f["labels"][()]).astype(int)
        times = [np.asarray(f["spikes/times"][i], dtype=np.float64) for i in range(n)]
        units = [np.asarray(f["spikes/units"][i]).astype(int) for i in range(n)]
    with ShdDataset(SHD, n_steps=1000) as ds:
        assert len(ds) == n == 1 and ds.labels.tolist() == labels.tolist() and ds.n_channels == 700
        raster, label = ds[0]
        assert raster.shape == (1000, 700) and label == labels[0]
        t_raw, u_raw = ds.spikes(0)
        assert np.array_equal(t_raw, times[0]) and np.array_equal(u_raw, units[0])
    expect = {(int(np.floor(t * 1000.0 + 1e-9)), u) for t, u in zip(times[0], units[0]) if t < 1.0}
    assert {(int(a), int(b)) for a, b in np.argwhere(raster)} == expect
    assert int(units[0].max()) + 1 <= 700 and len(expect) > 100
    with ShdDataset(SHD, n_steps=300, n_channels=70) as ds:
        r70, _ = ds[0]
        keep = times[0] < 0.3
        assert r70.shape == (300, 70)
        assert set(np.flatnonzero(r70.any(axis=0))) == set((units[0][keep] * 70 // 700).tolist())


def test_shd_reader_errors(tmp_path):
    with pytest.raises(InputFormatError, match="no such file"):
        ShdDataset(tmp_path / "missing.h5")
    h5py = pytest.importorskip("h5py")
    p = tmp_path / "bad.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("labels", data=np.zeros(1))
    with pytest.raises(InputFormatError, match="missing dataset 'spikes/times'"):
        ShdDataset(p)


# ------------------------------------------------------------------------------------------ examples
@pytest.mark.parametrize("script", ["eprop_sine_wave.py", "eprop_evidence_accumulation.py", "eprop_shd.py"])
def test_example_runs_quick(script, tmp_path):
    cmd = [sys.executable, os.path.join(EX, script), "--quick", "--history", str(tmp_path / "h.json")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("summary: ")]
    if script == "eprop_shd.py" and not os.path.exists(SHD):
        pytest.skip("shared SHD-layout file absent")
    summary = json.loads(line[-1][len("summary: "):])
    assert summary["iterations"] >= 2 and np.isfinite(summary["loss_final"])
    assert "[eprop] iter 1/" in out.stderr
    h = History.from_json(tmp_path / "h.json")
    assert len(h) == summary["iterations"]
    if script != "eprop_sine_wave.py":
        assert h.test_error and all(0.0 <= e <= 1.0 for e in h.test_error)
