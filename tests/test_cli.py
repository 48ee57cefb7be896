"""The command line: --version, config, demo (the README's main job) and exit codes."""

import json
import subprocess
import sys

import pytest

import spikeengine as se
from spikeengine.cli import main


def test_version_names_backend(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"spikeengine {se.__version__} (backend: ")


def test_config_lists_every_backend(capsys):
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    for name in ("cython", "numba", "python"):
        assert f"{name}:" in out
    assert "active backend:" in out


def test_demo_json_summary_is_consistent(capsys):
    assert main(["demo", "--duration", "60", "--backend", "python", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    pops = summary["populations"]
    assert pops["retina"]["spikes"] == summary["events"]  # every generated event enters as one input spike
    assert pops["conv"]["spikes"] > 0
    assert summary["counters"]["spikes"] == sum(p["spikes"] for p in pops.values())


def test_usage_and_error_exit_codes(capsys):
    assert main([]) == 2
    assert main(["demo", "--duration", "-5", "--backend", "python"]) == 3
    assert "duration" in capsys.readouterr().err


def test_console_script_runs_demo():
    out = subprocess.run([sys.executable, "-m", "spikeengine.cli", "demo", "--duration", "20", "--backend", "python"],
                         capture_output=True, text=True, check=True).stdout
    assert "retina" in out and "readout" in out and "synaptic events" in out


def test_demo_writes_energy_report(tmp_path, capsys):
    path = tmp_path / "energy.json"
    assert main(["demo", "--duration", "40", "--backend", "python", "--json", "--energy-report", str(path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    report = json.loads(path.read_text())
    assert report["format"] == "spikeengine-energy-report"
    assert report["counts"]["spikes"] == summary["counters"]["spikes"]
    assert report["counts"]["synops"] == summary["counters"]["synaptic_events"]
    assert report["energy_complexity"] == summary["energy"]["energy_complexity"]
    # the network's own activity: conv + readout spikes, each neuron once per 0.1 ms bin
    own = summary["populations"]["conv"]["spikes"] + summary["populations"]["readout"]["spikes"]
    assert 0 < report["energy_complexity"]["network"]["energy_total"] <= own


def test_unwritable_energy_report_is_a_clear_error(tmp_path, capsys):
    target = tmp_path / "missing" / "energy.json"
    assert main(["demo", "--duration", "5", "--backend", "python", "--energy-report", str(target)]) == 1
    err = capsys.readouterr().err
    assert "cannot write" in err and "energy.json" in err
    assert not (tmp_path / "missing").exists()
