"""Clocked and event-driven neurons in one network (docs/clocked.md).

An event-driven excitatory population ``E`` (exact ``iaf_psc_exp``, NEST's ``iaf_psc_exp_ps``) drives a
clocked inhibitory population ``I`` (NEST's grid-based ``iaf_psc_delta`` at dt = 0.1 ms), which inhibits
``E`` back. Poisson sources drive both. Spikes cross between the two clocks as events with their delays:
``E`` spikes at any time, ``I`` spikes on the grid.

Run::

    python examples/clocked_mixed.py                 # 500 ms, prints rates, the schedule, the energy report
    python examples/clocked_mixed.py --plot mixed.png  # and a raster (needs matplotlib)
"""

import argparse

import numpy as np

import spikeengine as se


def build(seed=1, n_e=400, n_i=100, dt=0.1):
    net = se.Network(seed=seed)
    drive = net.poisson_source(200, rate=40.0, name="drive")
    E = net.population(n_e, se.LIFExp(E_L=-65.0, V_m=-65.0, V_reset=-70.0, V_th=-50.0, tau_m=20.0, C_m=250.0,
                                      tau_syn_ex=2.0, tau_syn_in=5.0, t_ref=2.0), name="E")
    I = net.population(n_i, se.Clocked("iaf_psc_delta", dt=dt, params=dict(  # noqa: E741 - the usual name
        E_L=-65.0, V_m=-65.0, V_reset=-70.0, V_th=-52.0, tau_m=10.0, C_m=250.0, t_ref=1.0)), name="I")
    net.connect(drive, E, {"rule": "fixed_indegree", "indegree": 20}, weight=400.0, delay=1.0)
    net.connect(drive, I, {"rule": "fixed_indegree", "indegree": 20}, weight=1.2, delay=1.0)
    net.connect(E, E, {"rule": "fixed_indegree", "indegree": 40}, weight=60.0, delay=1.5)
    net.connect(E, I, {"rule": "fixed_indegree", "indegree": 40}, weight=0.8, delay=1.0)
    net.connect(I, E, {"rule": "fixed_indegree", "indegree": 20}, weight=-300.0, delay=1.0)
    for p in (E, I):
        p.record("spikes")
    return net, E, I


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=500.0, help="ms (a multiple of dt)")
    ap.add_argument("--plot", metavar="PNG", help="save a raster plot")
    args = ap.parse_args(argv)
    net, E, I = build()  # noqa: E741
    net.run(args.duration, progress=False)
    clock = net.clock
    first = "clocked populations" if clock["first"] == "clocked" else "event-driven core"
    print(f"schedule: the {first} first, {clock['chunk']:.1f} ms at a time (the smallest delay between the "
          "event-driven and the clocked neurons is 1.0 ms)")
    out = {}
    for p in (E, I):
        t, i = p.spikes
        rate = t.size / p.size / (args.duration / 1000.0)
        on_grid = bool(np.all(np.abs(t / 0.1 - np.rint(t / 0.1)) < 1e-6))
        print(f"{p.name}: {p.size} x {p.model!r}\n   {t.size} spikes, {rate:.1f} Hz, all on the 0.1 ms grid: {on_grid}")
        out[p.name] = {"spikes": int(t.size), "rate_hz": rate, "on_grid": on_grid}
    print(net.energy_report())
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 4))
        for p, c, off in ((E, "tab:blue", 0), (I, "tab:red", E.size)):
            t, i = p.spikes
            ax.plot(t, i + off, ".", ms=1.5, color=c, label=f"{p.name} ({'clocked' if off else 'event-driven'})")
        ax.set_xlabel("time (ms)")
        ax.set_ylabel("neuron")
        ax.legend(loc="upper right", markerscale=6)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"raster written to {args.plot}")
    return out


if __name__ == "__main__":
    main()
