"""Build a network in Python, save it, and run it from the shell on an event recording.

1. builds an event-camera network (a 32x32 ON/OFF stream source -> pooled LIF layer with
   lateral inhibition -> 4 readout neurons) and saves it as ``net.h5`` (native format);
2. writes a generated recording (a moving bar) as an AEDAT 4 file, ``bar.aedat4``;
3. runs ``spikeengine run net.h5 --input bar.aedat4 --out spikes.csv --energy-report
   energy.json --json`` in a subprocess, as a user would in a shell, and prints the result.

Run: python examples/save_and_run.py [--dir OUT_DIR]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

import spikeengine as se
from spikeengine.demo import moving_bar_events
from spikeengine.files import save_network
from spikeengine.io import Events
from spikeengine.io.aedat4 import write_aedat4

SIZE = 32


def build():
    net = se.Network(seed=7, bin_width=1.0)
    cam = net.stream_source(2 * SIZE * SIZE, name="camera")
    cell = se.LIF(E_L=-65.0, V_m=-65.0, V_th=-50.0, V_reset=-65.0, tau_m=10.0, C_m=1.0, t_ref=2.0)
    layer = net.population(2 * 16 * 16, cell, name="layer")
    src, tgt = [], []
    for p in range(2):
        for y in range(SIZE):
            for x in range(SIZE):
                src.append((p * SIZE + y) * SIZE + x)
                tgt.append((p * 16 + y // 2) * 16 + x // 2)
    net.connect(cam, layer, se.FromArrays(np.array(src), np.array(tgt)), weight=6.0, delay=0.5, name="pool")
    net.connect(layer, layer, {"rule": "fixed_indegree", "indegree": 16, "allow_autapses": False}, weight=-2.0,
                delay=1.0, name="inhibition")
    readout = net.population(4, cell, name="readout")
    net.connect(layer, readout, {"rule": "fixed_indegree", "indegree": 64}, weight=4.0, delay=2.0, name="readout")
    return net


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=None, help="where to write the files (default: a temporary folder)")
    args = ap.parse_args(argv)
    out = args.dir or tempfile.mkdtemp(prefix="spikeengine-")
    os.makedirs(out, exist_ok=True)
    net_path, rec_path = os.path.join(out, "net.h5"), os.path.join(out, "bar.aedat4")
    save_network(build(), net_path)
    ev = moving_bar_events(size=SIZE, duration_ms=300.0, seed=1)
    write_aedat4(Events.from_arrays(ev["t"], ev["x"], ev["y"], ev["p"], sensor_size=(SIZE, SIZE)), rec_path)
    cmd = [sys.executable, "-m", "spikeengine.cli", "run", net_path, "--input", rec_path,
           "--out", os.path.join(out, "spikes.csv"), "--energy-report", os.path.join(out, "energy.json"), "--json"]
    print("$ spikeengine " + " ".join(cmd[3:]))
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    summary = json.loads(res.stdout)
    s = summary["samples"][0]
    print(f"{len(ev)} events in, {s['simulated_ms']:.0f} ms simulated in {s['wall_s']:.2f} s; spikes: "
          + ", ".join(f"{k} {v}" for k, v in s["spikes"].items()))
    print(f"readout spike counts: {s['output_counts']}")
    energy = json.load(open(os.path.join(out, "energy.json")))
    print(f"Sima energy {energy['energy_complexity']['network']['energy_sima']} per 1 ms bin; "
          f"synaptic ops {energy['counts']['synops']}; files in {out}")
    return summary


if __name__ == "__main__":
    main()
