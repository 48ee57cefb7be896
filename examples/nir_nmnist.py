"""Run the NIR paper's Sinabs N-MNIST CNN (cnn_sinabs.nir) event-driven on real N-MNIST recordings.

The graph is imported once with :func:`spikeengine.nir_io.from_nir`; for every recording the network
is reset, the events are fed into the Input population (layout (p * 34 + y) * 34 + x, i.e.
``SensorMap((34, 34), polarity="split")``) and the output IF neurons' spike counts give the class
(argmax; ties go to the class that spiked first, then to the lowest index).

Variants (``--variant``):

* ``events``  : every event at its own time (us resolution), reset by subtraction (Sinabs default),
  layer_delay = dt (the default: one step of latency per layer);
* ``frames``  : the events of each 1 ms frame fed together at the frame's start, so that the
  IF neurons sum a frame's input before their threshold test, as the 1 ms-frame platforms do;
* ``value``   : as ``events`` but reset to v_reset (= 0);
* ``frames-value``: frames and reset to 0;
* ``same-step``: as ``events`` with layer_delay = 1e-4 dt (all layers in the same step, as Sinabs).

Usage::

    python examples/nir_nmnist.py [--data DIR] [--nir FILE] [--variant events|frames|...|all] [--limit N]
"""

import argparse
import os
import time

import numpy as np

from spikeengine.io import SensorMap, read_events
from spikeengine.nir_io import from_nir

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "shared", "data")
VARIANTS = {
    "events": dict(reset="subtract", frames=False, layer_delay=None),
    "frames": dict(reset="subtract", frames=True, layer_delay=None),
    "value": dict(reset="value", frames=False, layer_delay=None),
    "frames-value": dict(reset="value", frames=True, layer_delay=None),
    "same-step": dict(reset="subtract", frames=False, layer_delay=1e-7),
}


def read_labels(data_dir):
    """(recording path, label) pairs from ``labels.txt`` (``#sample #class`` lines)."""
    out = []
    with open(os.path.join(data_dir, "labels.txt")) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            sample, label = line.split()
            out.append((os.path.join(data_dir, f"{sample}.bs2"), int(label)))
    return out


def predict(counts, first_spike):
    """Argmax of the output spike counts; ties: the earliest first spike, then the lowest index."""
    best = np.flatnonzero(counts == counts.max())
    if best.size > 1:
        best = best[np.argsort(first_spike[best], kind="stable")]
    return int(best[0])


def run(nir_path, samples, reset="subtract", frames=False, layer_delay=None, dt=1e-3, backend=None, tail=20.0):
    """Accuracy, per-layer spike counts (summed over samples) and wall time of one variant."""
    net = from_nir(nir_path, dt=dt, time_unit="s", input_semantics="pulse", reset=reset, layer_delay=layer_delay,
                   backend=backend)
    md = net.metadata["nir_import"]
    pops = {p.name: p for p in net.populations}
    inp = pops[md["inputs"][0]]
    out = pops[md["outputs"][0]]
    layers = [p for p in net.populations if not p.is_source]
    mapping = SensorMap((34, 34), polarity="split")
    totals = {p.name: 0 for p in layers}
    correct = 0
    n_events = 0
    preds = []
    wall = time.perf_counter()
    for path, label in samples:
        net.reset()
        ev = read_events(path)
        n_events += len(ev)
        if frames:  # all events of frame k at k * dt: summed before the threshold test, as in 1 ms frames
            kept, ids = mapping(ev)
            t_ms = np.floor(kept.t_ms(int(kept.t[0])) / md["dt_ms"]) * md["dt_ms"]
            net.feed(inp, t_ms, ids)
            net.run(float(t_ms.max()) + tail)
        else:
            net.run_stream(ev, inp, mapping=mapping, tail=tail)
        counts = out.spike_counts
        t, i = out.spikes
        first = np.full(out.size, np.inf)
        for k in range(out.size):
            sel = i == k
            if sel.any():
                first[k] = t[sel][0]
        pred = predict(counts, first)
        preds.append(pred)
        correct += pred == label
        for p in layers:
            totals[p.name] += int(p.spike_counts.sum())
    wall = time.perf_counter() - wall
    return {"accuracy": correct / len(samples), "n": len(samples), "per_layer_spikes": totals,
            "input_events": n_events, "wall_s": wall, "predictions": preds, "metadata": md}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(SHARED, "nmnist_test100"))
    ap.add_argument("--nir", default=os.path.join(SHARED, "nir", "cnn_sinabs.nir"))
    ap.add_argument("--variant", default="all", choices=sorted(VARIANTS) + ["all"])
    ap.add_argument("--limit", type=int, default=None, help="first N recordings only")
    ap.add_argument("--backend", default=None)
    args = ap.parse_args(argv)
    samples = read_labels(args.data)[: args.limit]
    names = sorted(VARIANTS) if args.variant == "all" else [args.variant]
    for name in names:
        r = run(args.nir, samples, backend=args.backend, **VARIANTS[name])
        print(f"[{name}] {VARIANTS[name]}")
        print(f"  accuracy {r['accuracy'] * 100:.1f} % on {r['n']} recordings, wall {r['wall_s']:.2f} s "
              f"({r['input_events']} input events)")
        per = ", ".join(f"{k}: {v / r['n']:.0f}" for k, v in r["per_layer_spikes"].items())
        print(f"  spikes per recording by layer (NIR node): {per}")
    md = r["metadata"]
    print(f"options: dt={md['dt']} {md['time_unit']}, input {md['input_semantics']}, reset {md['reset']}, "
          f"layer_delay {md['layer_delay_ms']} ms, nir {md['nir_version']}")


if __name__ == "__main__":
    main()
