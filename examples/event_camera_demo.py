"""The README's main job as a script: a generated event-camera stream through a small vision network.

Run: python examples/event_camera_demo.py [--duration 500] [--plot raster.png]
"""

import argparse

from spikeengine.demo import build_demo


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=float, default=500.0)
    ap.add_argument("--plot", metavar="PNG", help="save a raster of all three layers (needs matplotlib)")
    args = ap.parse_args(argv)
    net, pops, n_events = build_demo(duration_ms=args.duration)
    net.run(args.duration, progress=True)
    for pop in pops:
        print(f"{pop.name:8s} {pop.size:5d} neurons {int(pop.spike_counts.sum()):7d} spikes {pop.rate():7.2f} Hz")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(3, 1, figsize=(8, 6), sharex=True)
        for ax, pop in zip(axes, pops):
            t, i = pop.spikes
            ax.plot(t, i, ",k" if pop.size > 10 else "|k")
            ax.set_ylabel(pop.name)
        axes[-1].set_xlabel("time (ms)")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print("saved", args.plot)


if __name__ == "__main__":
    main()
