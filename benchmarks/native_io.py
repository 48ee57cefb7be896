"""Save/load time and memory of the native network file (:mod:`spikeengine.native`) for large networks.

Builds ``--synapses`` random synapses (``--neurons`` LIF neurons, explicit source/target arrays,
per-synapse weights and, unless ``--scalar-delay``, per-synapse delays), then in separate
processes

1. ``save``: builds the network and writes it (time; resident memory before, and its peak during, the save),
2. ``load``: reads it back (time; peak resident memory; the network's own arrays for comparison),
3. ``info``: summarises the file without reading the synapse arrays.

Resident memory is sampled from ``/proc/self/statm`` every 2 ms by a background thread.

Run: python benchmarks/native_io.py [--synapses 10000000] [--neurons 100000] [--scalar-delay] [--keep]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE


class Peak:
    """Peak resident memory while the ``with`` block runs."""

    def __enter__(self):
        self.before = self.peak = rss()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._watch, daemon=True)
        self._t.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss())


def build(n_syn, n, scalar_delay, seed=0):
    import spikeengine as se

    rng = np.random.default_rng(seed)
    net = se.Network(seed=seed)
    pop = net.population(n, se.LIF(E_L=0.0, V_m=0.0, V_th=20.0, V_reset=10.0, C_m=1.0, tau_m=20.0), name="E")
    s = rng.integers(0, n, n_syn, dtype=np.int64)
    t = rng.integers(0, n, n_syn, dtype=np.int64)
    w = rng.normal(0.1, 0.02, n_syn)
    d = 1.5 if scalar_delay else rng.integers(10, 50, n_syn) * 0.1  # 40 distinct delays
    net.connect(pop, pop, se.FromArrays(s, t), weight=w, delay=d, name="EE")
    return net


def child(args):
    from spikeengine import native

    out = {}
    if args.mode == "save":
        net = build(args.synapses, args.neurons, args.scalar_delay)
        p = net.projections[0]
        out["network_bytes"] = int(sum(a.nbytes for a in (p.sources, p.targets, p.weights, p.delays)
                                       if a.strides != (0,)))
        t0 = time.perf_counter()
        with Peak() as pk:
            native.save(net, args.path, compression=args.compression)
        out["seconds"] = time.perf_counter() - t0
        out["rss_before"], out["rss_peak"] = pk.before, pk.peak
        out["file_bytes"] = os.path.getsize(args.path)
    elif args.mode == "load":
        t0 = time.perf_counter()
        with Peak() as pk:
            net = native.load(args.path)
        out["seconds"] = time.perf_counter() - t0
        p = net.projections[0]
        out["network_bytes"] = int(sum(a.nbytes for a in (p.sources, p.targets, p.weights, p.delays)
                                       if a.strides != (0,)))
        out["rss_before"], out["rss_peak"] = pk.before, pk.peak
    else:
        t0 = time.perf_counter()
        d = native.info(args.path)
        out["seconds"] = time.perf_counter() - t0
        out["memory_estimate"] = d["memory_bytes"]
        out["total_synapses"] = d["total_synapses"]
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synapses", type=int, default=10_000_000)
    ap.add_argument("--neurons", type=int, default=100_000)
    ap.add_argument("--scalar-delay", action="store_true")
    ap.add_argument("--compression", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the file")
    ap.add_argument("--mode", choices=["save", "load", "info"], help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.mode:
        return child(args)
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "net.h5")
    base = [sys.executable, __file__, "--synapses", str(args.synapses), "--neurons", str(args.neurons),
            "--path", path] + (["--scalar-delay"] if args.scalar_delay else [])
    if args.compression:
        base += ["--compression", args.compression]
    mb = 1 / 2**20
    print(f"{args.synapses:.3g} synapses, {args.neurons} neurons, "
          f"{'scalar' if args.scalar_delay else 'per-synapse'} delays, compression={args.compression}")
    try:
        for mode in ("save", "load", "info"):
            res = json.loads(subprocess.run(base + ["--mode", mode], check=True, capture_output=True,
                                            text=True).stdout.strip().splitlines()[-1])
            line = f"  {mode:4s}: {res['seconds']:7.2f} s"
            if "rss_peak" in res:
                line += (f", RSS before {res['rss_before'] * mb:7.0f} MiB, peak {res['rss_peak'] * mb:7.0f} MiB "
                         f"(+{(res['rss_peak'] - res['rss_before']) * mb:.0f} MiB); network arrays "
                         f"{res['network_bytes'] * mb:.0f} MiB")
            if "file_bytes" in res:
                line += f"; file {res['file_bytes'] * mb:.0f} MiB"
            if "memory_estimate" in res:
                line += f"; simulation memory estimate {res['memory_estimate'] * mb:.0f} MiB"
            print(line, flush=True)
    finally:
        if not args.keep:
            os.unlink(path) if os.path.exists(path) else None
            os.rmdir(folder)
        else:
            print(f"kept {path}")


if __name__ == "__main__":
    main()
