"""Spoken digit: a FLAC recording through the cochlea front end into a small spiking network.

The sound (48 kHz, a spoken digit of the Heidelberg Digits kind) goes through a 64-channel
gammatone filterbank with LIF encoding (:func:`spikeengine.io.cochlea.audio_to_spikes`); each
channel becomes one spike source (times converted to ms at the edge), and 16 "band" LIF neurons
pool 4 adjacent channels each, with lateral inhibition between bands. Prints the spike counts per
channel group and per band; ``--plot PNG`` saves a raster plot (needs matplotlib).

Run: python examples/spoken_digit.py [--audio FILE] [--method lif|send_on_delta] [--plot raster.png]
"""

import argparse
import os
import time

import numpy as np

import spikeengine as se
from spikeengine.io.cochlea import audio_to_spikes, erb_space

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_AUDIO = os.path.join(HERE, "..", "..", "shared", "data", "events", "audio_spoken_digit_48k_lauscher.flac")


def spike_trains(ev, channels):
    """One strictly increasing spike train (ms) per channel (same-time events of a channel merged)."""
    t_ms = ev.t_ms()
    trains = []
    for c in range(channels):
        trains.append(np.unique(t_ms[ev.x == c]))
    return trains


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--audio", default=DEFAULT_AUDIO, help="WAV/FLAC file (default: the shared spoken digit)")
    ap.add_argument("--method", default="lif", choices=["lif", "send_on_delta"])
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--plot", metavar="PNG", help="save a raster plot (needs matplotlib)")
    args = ap.parse_args(argv)
    if not os.path.exists(args.audio):
        raise SystemExit(f"audio file not found: {args.audio} (pass --audio FILE)")

    ch = args.channels
    f_min, f_max = 50.0, 8000.0
    t0 = time.perf_counter()
    ev = audio_to_spikes(args.audio, channels=ch, f_min=f_min, f_max=f_max, method=args.method,
                         **({"delta": 0.1} if args.method == "send_on_delta" else {}))
    enc_s = time.perf_counter() - t0
    duration = float(ev.t_ms().max()) + 50.0 if len(ev) else 100.0
    print(f"{os.path.basename(args.audio)}: {len(ev)} cochlea spikes ({args.method}, {ch} channels, "
          f"{f_min:g}-{f_max:g} Hz, tick {ev.tick_us:.4g} us) in {enc_s:.2f} s")

    net = se.Network(seed=1)
    cochlea = net.spike_source(spike_trains(ev, ch), name="cochlea")
    n_bands = max(1, ch // 4)
    cell = se.LIF(E_L=-65.0, V_m=-65.0, V_th=-55.0, V_reset=-65.0, tau_m=10.0, C_m=1.0, t_ref=2.0)
    bands = net.population(n_bands, cell, name="bands")
    src = np.arange(ch)
    net.connect(cochlea, bands, se.FromArrays(src, np.minimum(src * n_bands // ch, n_bands - 1)), weight=4.0,
                delay=1.0, name="cochlea->bands")
    net.connect(bands, bands, {"rule": "pairwise_bernoulli", "p": 1.0, "allow_autapses": False}, weight=-2.0,
                delay=1.0, name="lateral inhibition")
    cochlea.record("spikes")
    bands.record("spikes")
    t1 = time.perf_counter()
    net.run(duration)
    sim_s = time.perf_counter() - t1

    cf = erb_space(ch, f_min, f_max)
    counts = np.bincount(ev.x, minlength=ch)
    band_counts = bands.spike_counts
    group = max(1, ch // 8)
    print(f"{'channels':>10}{'centre Hz':>18}{'cochlea':>9}{'band spikes':>13}")
    for g in range(0, ch, group):
        b0, b1 = g * n_bands // ch, (g + group) * n_bands // ch
        print(f"{g:>4}-{min(g + group, ch) - 1:<5}{cf[g]:>8.0f}-{cf[min(g + group, ch) - 1]:<9.0f}"
              f"{int(counts[g:g + group].sum()):>9}{int(band_counts[b0:b1].sum()):>13}")
    bt, bi = bands.spikes
    print(f"bands: {len(bt)} spikes, rate {bands.rate():.1f} Hz; simulated {duration:.0f} ms in {sim_s:.2f} s "
          f"(backend {net.backend})")

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ct, ci = cochlea.spikes
        fig, (a1, a2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        a1.plot(ct, ci, "|k", markersize=3)
        a1.set_ylabel("cochlea channel (low -> high Hz)")
        a2.plot(bt, bi, "|r", markersize=4)
        a2.set_ylabel("band neuron")
        a2.set_xlabel("time (ms)")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print("saved", args.plot)


if __name__ == "__main__":
    main()
