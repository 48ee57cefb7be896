"""Quick start: a small E/I network with exact spike times; optional raster plot.

Run: python examples/quickstart.py [--plot raster.png]
"""

import argparse

import spikeengine as se


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--plot", metavar="PNG", help="save a raster plot (needs matplotlib)")
    ap.add_argument("--duration", type=float, default=500.0)
    args = ap.parse_args(argv)

    net = se.Network(seed=42)
    cell = dict(E_L=0.0, V_m=0.0, V_th=20.0, V_reset=10.0, tau_m=20.0, C_m=1.0, t_ref=2.0)
    exc = net.population(800, se.LIF(**cell), name="E")
    inh = net.population(200, se.LIF(**cell), name="I")
    for pop in (exc, inh):
        net.connect(exc, pop, {"rule": "fixed_indegree", "indegree": 80}, weight=0.1, delay=1.5)
        net.connect(inh, pop, {"rule": "fixed_indegree", "indegree": 20}, weight=-0.5,
                    delay=lambda n, rng: rng.uniform(1.0, 2.0, n))
        pop.add_poisson_input(rate=16000.0, weight=0.1)
    exc.record("spikes")
    exc.record("V_m", interval=0.5, ids=[0, 1, 2])
    net.run(args.duration, progress=True)
    times, ids = exc.spikes
    print(f"E rate {exc.rate():.1f} Hz, {len(times)} spikes, backend {net.backend}")
    print("first spikes (ms):", ", ".join(f"{t:.6f}" for t in times[:5]))
    print("counters:", net.counters)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        t, v, vid = exc.get_data("V_m")
        fig, (a1, a2) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
        a1.plot(times, ids, ",k")
        a1.set_ylabel("E neuron")
        a2.plot(t, v)
        a2.set_xlabel("time (ms)")
        a2.set_ylabel("V_m (mV)")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print("saved", args.plot)


if __name__ == "__main__":
    main()
