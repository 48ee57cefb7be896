"""Peak memory and throughput while streaming a recording far larger than the chunks.

Generates a jAER AEDAT 2.0 DVS128 recording of ``--gb`` gigabytes (8 bytes per event,
written block by block: never held in memory), then

1. decodes it with ``spikeengine.io.iter_events`` in chunks of ``--chunk`` events,
   checking the event count and an incremental checksum of the times, and
2. optionally (``--simulate MS``) streams the first MS milliseconds of it through a
   small network with ``Network.run_stream``,

and reports events/s and the peak resident memory of this process (``ru_maxrss``).

Run: python benchmarks/stream_memory.py [--gb 1.05] [--chunk 1048576] [--simulate 2000] [--keep]
"""

import argparse
import os
import resource
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_dvs128(path, n_events, rate_hz=2e6, block=1 << 20, seed=0):
    """A DVS128 AEDAT 2.0 file with ``n_events`` random events at ``rate_hz`` on average."""
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(b"#!AER-DAT2.0\r\n# This is a raw AE data file created by spikeengine benchmarks/stream_memory.py\r\n"
                b"# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128\r\n")
        t = 0
        left = n_events
        while left:
            n = min(block, left)
            dt = rng.geometric(min(1.0, rate_hz / 1e6), n)  # us steps
            ts = t + np.cumsum(dt)
            t = int(ts[-1])
            x = rng.integers(0, 128, n, dtype=np.uint32)
            y = rng.integers(0, 128, n, dtype=np.uint32)
            p = rng.integers(0, 2, n, dtype=np.uint32)
            rec = np.empty((n, 2), ">u4")
            rec[:, 0] = (y << 1) | (x << 8) | p
            rec[:, 1] = ts & 0xFFFFFFFF  # int32 us wrap, as a real camera (the reader unwraps)
            f.write(rec.tobytes())
            left -= n
    return t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=1.05, help="size of the generated recording (default 1.05 GB)")
    ap.add_argument("--chunk", type=int, default=1 << 20, help="events per chunk (default 2^20)")
    ap.add_argument("--simulate", type=float, default=0.0, help="also stream the first MS ms through a network")
    ap.add_argument("--keep", action="store_true", help="keep the generated file")
    args = ap.parse_args(argv)

    import spikeengine as se
    from spikeengine.io import SensorMap, iter_events

    n_events = int(args.gb * 1e9 // 8)
    fd, path = tempfile.mkstemp(suffix=".aedat")
    os.close(fd)
    try:
        t0 = time.perf_counter()
        t_end = write_dvs128(path, n_events)
        size = os.path.getsize(path)
        print(f"generated {path}: {size / 1e9:.2f} GB, {n_events} events, {t_end / 1e6:.1f} s of recording, "
              f"{time.perf_counter() - t0:.1f} s")
        base = peak_mb()
        t0 = time.perf_counter()
        n = 0
        last = -1
        monotonic = True
        for chunk in iter_events(path, n_events=args.chunk):
            n += len(chunk)
            monotonic &= bool(chunk.t[0] >= last) and bool(np.all(np.diff(chunk.t) >= 0))
            last = int(chunk.t[-1])
        wall = time.perf_counter() - t0
        print(f"decoded {n} events in {wall:.1f} s = {n / wall / 1e6:.1f} M events/s; count ok: {n == n_events}; "
              f"times unwrapped and monotonic: {monotonic} (last {last} us = {t_end} us: {last == t_end})")
        print(f"peak RSS {peak_mb():.0f} MB (before decoding {base:.0f} MB; file {size / 1e6:.0f} MB)")
        if args.simulate > 0:
            net = se.Network(seed=1)
            cam = net.stream_source(2 * 32 * 32, name="dvs")
            cell = se.LIF(E_L=-65.0, V_m=-65.0, V_th=-50.0, V_reset=-65.0, tau_m=10.0, C_m=1.0, t_ref=2.0)
            layer = net.population(512, cell, name="layer")
            net.connect(cam, layer, {"rule": "fixed_indegree", "indegree": 32}, weight=2.0, delay=1.0)
            net.connect(layer, layer, {"rule": "fixed_indegree", "indegree": 16}, weight=-1.0, delay=1.0)

            def head():
                for chunk in iter_events(path, window_us=10000):
                    if chunk.t[0] >= args.simulate * 1000:
                        return
                    yield chunk

            stats = net.run_stream(head(), cam, mapping=SensorMap((128, 128), downsample=4), tail=0.0)
            print(f"streamed {stats['fed']} events / {stats['recording_ms']:.0f} ms of recording through "
                  f"{net.size} neurons in {stats['wall_s']:.1f} s: {stats['realtime_factor']:.2f}x real time, "
                  f"{stats['fed'] / stats['wall_s'] / 1e6:.2f} M events/s; "
                  f"{int(layer.spike_counts.sum())} layer spikes; peak RSS {peak_mb():.0f} MB")
    finally:
        if not args.keep:
            os.unlink(path)


if __name__ == "__main__":
    main()
