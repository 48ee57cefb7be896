"""The example scripts run and print what they promise."""

import json
import os
import runpy

import pytest

EX = os.path.join(os.path.dirname(__file__), "..", "examples")


def _main(name):
    return runpy.run_path(os.path.join(EX, name), run_name="example")["main"]


@pytest.mark.slow  # runs the command line in a subprocess: ~45 s of Numba compilation without the extension
def test_save_and_run(tmp_path, capsys, monkeypatch):
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    monkeypatch.setenv("PYTHONPATH", root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    summary = _main("save_and_run.py")(["--dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "$ spikeengine run" in out
    s = summary["samples"][0]
    assert s["spikes"]["camera"] > 1000 and s["spikes"]["layer"] > 0
    assert sorted(os.listdir(tmp_path)) == ["bar.aedat4", "energy.json", "net.h5", "spikes.csv"]
    assert json.loads((tmp_path / "energy.json").read_text())["counts"]["spikes"] == sum(s["spikes"].values())


def test_stream_dvs(tmp_path, capsys):
    try:
        import matplotlib  # noqa: F401 - optional (the plot extra)

        plot = ["--plot", str(tmp_path / "raster.png")]
    except ImportError:
        plot = []
    stats = _main("stream_dvs.py")(plot)
    out = capsys.readouterr().out
    assert "faster than real time" in out and stats["fed"] == stats["events"] > 1000
    if plot:
        assert (tmp_path / "raster.png").stat().st_size > 1000


def test_stdp_window(tmp_path, capsys):
    try:
        import matplotlib  # noqa: F401

        plot = ["--plot", str(tmp_path / "stdp.png")]
    except ImportError:
        plot = []
    r = _main("stdp_window.py")(["--no-nest"] + plot)
    out = capsys.readouterr().out
    assert "STDP window" in out and "dw after 60 pairings" in out
    dts = list(r["dt"])
    # STDP.md's anchors: dw(+10 ms) = exp(-11/20), dw(-10 ms) = -exp(-9/20) (lambda 0.01, Wmax 100, d = 1 ms)
    assert round(r["window"][dts.index(10.0)], 5) == 0.57695 and round(r["window"][dts.index(-10.0)], 5) == -0.63763
    assert abs(r["window"] - r["window_theory"]).max() < 1e-8
    if plot:
        assert (tmp_path / "stdp.png").stat().st_size > 1000


def test_btsp_place_field(capsys):
    r = _main("btsp_place_field.py")([])
    out = capsys.readouterr().out
    assert "one-shot place field" in out
    rows = r["rows"]
    # one plateau at 120 cm makes a field just before it; the one at 45 cm moves the field there
    assert 95.0 <= rows[1]["peak_at"] <= 125.0 and 30.0 <= rows[2]["peak_at"] <= 50.0
    assert 1.5 < rows[1]["peak_smooth"] - 1.0 < 2.5 and rows[2]["w120"] < rows[1]["w120"]
    lap = r["ca1_spikes_per_lap"]
    assert lap[2] > 5 * max(lap[0], 1)  # the CA1 cell became a place cell


def test_clocked_mixed(tmp_path, capsys):
    out = _main("clocked_mixed.py")(["--duration", "200"])
    text = capsys.readouterr().out
    assert "the clocked populations first, 1.0 ms at a time" in text and "energy report" in text
    assert out["I"]["on_grid"] and not out["E"]["on_grid"]
    assert out["E"]["spikes"] > 100 and out["I"]["spikes"] > 100


def test_eprop_in_network(capsys):
    s = _main("eprop_in_network.py")(["--quick", "--check", "--iterations", "4"])
    assert s["same_as_standalone"] and s["iterations"] == 4
    assert s["recurrent_spikes"] > 100 and s["observer_spikes"] > 0
    assert "losses identical" in capsys.readouterr().out
