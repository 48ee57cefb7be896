"""Decode throughput of every reader on the shared sample recordings (events/s).

For each file in ../shared/data/events (MANIFEST.json lists the formats and options),
decodes it ``--repeat`` times with ``spikeengine.io.iter_events`` (streaming, the
blocks as the readers produce them) and with ``read_events`` (one array), after one
warm-up read (numba-compiled decoders compile then), and prints the best rate.

Run: python benchmarks/decode_throughput.py [--repeat 7]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "events")

#: options for the files whose format is not in the file (NAS: from the file name convention)
OPTIONS = {
    "audio_nas_mono_32ch_onoff_addr2b_ts0.2us_pynavis.aedat":
        {"format": "nas", "address_bytes": 2, "tick_us": 0.2, "channels": 32, "ears": 1},
    "audio_nas_stereo_64ch_onoff_addr4b_ts1us_enun_pynavis.aedat":
        {"format": "nas", "address_bytes": 4, "tick_us": 1.0, "channels": 64, "ears": 2},
    "audio_nas_mono_64ch_onoff_addr2b_ts0.2us_130Hz_pynavis.aedat":
        {"format": "nas", "address_bytes": 2, "tick_us": 0.2, "channels": 64, "ears": 1},
}
SKIP = (".flac", ".npz", ".json", ".md")


def best_rate(fn, repeat):
    best = None
    n = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = fn()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return n, n / best if best > 0 else float("inf")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    from spikeengine.io import iter_events, open_events, read_events

    if not os.path.isdir(DATA):
        print(f"no sample data at {DATA}")
        return 1
    print(f"{'file':<62}{'format':>8}{'events':>10}{'stream Mev/s':>14}{'read Mev/s':>12}")
    for name in sorted(os.listdir(DATA)):
        if name.endswith(SKIP):
            continue
        path = os.path.join(DATA, name)
        opts = dict(OPTIONS.get(name, {}))
        fmt = opts.pop("format", None)
        reader = open_events(path, format=fmt, **opts)
        read_events(path, format=fmt, **opts)  # warm-up (numba compiles)
        n, stream = best_rate(lambda p=path, f=fmt, o=opts: sum(len(c) for c in iter_events(p, format=f, **o)),
                              args.repeat)
        _, whole = best_rate(lambda p=path, f=fmt, o=opts: len(read_events(p, format=f, **o)), args.repeat)
        print(f"{name:<62}{reader.format:>8}{n:>10}{stream / 1e6:>14.1f}{whole / 1e6:>12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
