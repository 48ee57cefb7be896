"""A DVS recording streamed through a small convolution-like network, chunk by chunk.

The recording is read in 10 ms windows (any format ``spikeengine.io.read_events``
knows: AEDAT 2/4, EVT 2/3 .raw, DAT, N-MNIST .bin, .es, ...), mapped to input neurons
with ``SensorMap`` (downsampling, polarities split), and fed into the network while
it runs; memory does not grow with the recording. Prints the real-time factor and the
spike counts, and saves a raster plot with ``--plot``.

Run: python examples/stream_dvs.py [RECORDING] [--downsample 4] [--plot raster.png]
(default: the DAVIS240C sample of ../shared/data/events, or a generated moving bar)
"""

import argparse
import os

import numpy as np

import spikeengine as se
from spikeengine.io import Events, SensorMap, open_events

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, "..", "..", "shared", "data", "events", "aedat2_davis240c_imu_translboxes.aedat")


def build(n_inputs, mapping, seed=0):
    """Input stream population -> 3x3-pooled LIF layer with lateral inhibition -> 10 readout neurons."""
    net = se.Network(seed=seed)
    cam = net.stream_source(n_inputs, name="dvs")
    _, h, w = mapping.shape
    cell = se.LIF(E_L=-65.0, V_m=-65.0, V_th=-55.0, V_reset=-65.0, tau_m=10.0, C_m=1.0, t_ref=2.0)
    hw, ww = (h + 2) // 3, (w + 2) // 3
    layer = net.population(2 * hw * ww, cell, name="layer")
    src, tgt = [], []
    for p in range(2):
        for y in range(h):
            for x in range(w):
                src.append((p * h + y) * w + x)
                tgt.append((p * hw + y // 3) * ww + x // 3)
    net.connect(cam, layer, se.FromArrays(np.array(src), np.array(tgt)), weight=3.0, delay=1.0, name="pool")
    net.connect(layer, layer, {"rule": "fixed_indegree", "indegree": 8, "allow_autapses": False}, weight=-2.0,
                delay=1.0, name="inhibition")
    readout = net.population(10, cell, name="readout")
    net.connect(layer, readout, {"rule": "fixed_indegree", "indegree": 40}, weight=1.5, delay=2.0)
    for pop in (layer, readout):
        pop.record("spikes")
    return net, cam, layer, readout


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recording", nargs="?", default=None)
    ap.add_argument("--format", default=None, help="override the format detection")
    ap.add_argument("--sensor-size", type=int, nargs=2, default=None, metavar=("W", "H"))
    ap.add_argument("--downsample", type=int, default=4)
    ap.add_argument("--window-us", type=float, default=10000.0, help="chunk length, us (default 10 ms)")
    ap.add_argument("--plot", metavar="PNG", help="save a raster plot (needs matplotlib)")
    args = ap.parse_args(argv)

    path = args.recording or (DEFAULT if os.path.exists(DEFAULT) else None)
    if path is None:
        from spikeengine.demo import moving_bar_events

        ev = moving_bar_events(size=64, duration_ms=500.0)
        stream = Events.from_arrays(ev["t"], ev["x"], ev["y"], ev["p"], sensor_size=(64, 64), source="moving bar")
        size, name = (64, 64), "a generated moving bar (64x64)"
        chunks = [stream[k:k + 5000] for k in range(0, len(stream), 5000)]
    else:
        reader = open_events(path, format=args.format,
                             sensor_size=tuple(args.sensor_size) if args.sensor_size else None)
        size, name = reader.sensor_size, os.path.basename(path)
        chunks = reader.chunks(window_us=args.window_us)
    mapping = SensorMap(size, downsample=args.downsample)
    net, cam, layer, readout = build(mapping.size, mapping)
    stats = net.run_stream(chunks, cam, mapping=mapping, progress=True)
    print(f"{name}: {stats['events']} events, {stats['recording_ms']:.0f} ms of recording, {stats['chunks']} chunks")
    print(f"network: {cam.size} inputs ({mapping.shape[2]}x{mapping.shape[1]}x2), {layer.size} layer, "
          f"{readout.size} readout neurons; backend {net.backend}")
    print(f"simulated {stats['simulated_ms']:.0f} ms in {stats['wall_s']:.2f} s wall: "
          f"{stats['realtime_factor']:.1f}x faster than real time, {stats['fed'] / stats['wall_s'] / 1e6:.2f} M input "
          "events/s")
    print(f"spikes: layer {int(layer.spike_counts.sum())}, readout {readout.spike_counts.tolist()}")
    r = net.energy_report()
    print(f"Sima energy {r.energy_sima()} (bins of {r.bin_width:g} ms), synaptic ops {r.synops}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
        for a, pop in zip(ax, (layer, readout)):
            t, i = pop.spikes
            a.plot(t, i, ",k" if pop is layer else ".k")
            a.set_ylabel(pop.name)
        ax[1].set_xlabel("time (ms)")
        fig.tight_layout()
        fig.savefig(args.plot)
        print(f"wrote {args.plot}")
    return stats


if __name__ == "__main__":
    main()
