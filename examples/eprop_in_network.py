"""e-prop inside an event-driven network: NEST's sine-wave task as a clocked block (docs/clocked.md).

The task and network of ``eprop_sine_wave.py`` (NEST 3.10's ``eprop_supervised_regression_sine-waves``),
but the e-prop network is a clocked block of a :class:`spikeengine.Network`:

* its 100 inputs are a stream source, fed one iteration at a time (``net.feed``), as a sensor would be;
* its 100 recurrent ``eprop_iaf`` neurons are a clocked population (1 ms clock) whose spikes are events:
  here they also drive an event-driven ``iaf_psc_exp`` population ("observers", exact integration) with
  a 2 ms delay;
* learning is online while ``net.run`` advances, with the targets given by ``block.set_targets``.

The losses are those of the stand-alone :class:`~spikeengine.eprop.EpropNetwork` bit for bit (``--check``
runs both). Run::

    python examples/eprop_in_network.py --iterations 200
    python examples/eprop_in_network.py --quick --check      # 20 inputs, 20 neurons, 200-step sequences
"""

import argparse
import importlib.util
import json
import os
import time

import numpy as np

import spikeengine as se

HERE = os.path.dirname(os.path.abspath(__file__))


def _sine_example():
    spec = importlib.util.spec_from_file_location("eprop_sine_wave", os.path.join(HERE, "eprop_sine_wave.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build(n_in, n_rec, steps, seed=1):
    """The Network: stream inputs -> e-prop block -> event-driven observers. Returns (net, inp, block, obs,
    pattern, target)."""
    ep, pattern, target = _sine_example().build(n_in, n_rec, steps, seed)
    net = se.Network(seed=seed)
    inp = net.stream_source(n_in, name="inputs")
    blk = net.eprop(ep, inputs=inp, name="sine")
    obs = net.population(20, se.LIFExp(E_L=0.0, V_m=0.0, V_reset=0.0, V_th=10.0, C_m=100.0, tau_m=10.0,
                                       tau_syn_ex=2.0, tau_syn_in=2.0, t_ref=2.0), name="observers")
    net.connect(blk.rec, obs, {"rule": "fixed_indegree", "indegree": 10}, weight=100.0, delay=2.0)
    blk.rec.record("spikes")
    obs.record("spikes")
    return net, inp, blk, obs, pattern, target


def iterations(pattern, target, n):
    """NEST's timeline (as ``eprop_sine_wave.samples``): (input spike times ms, ids, targets, window) per run."""
    steps = len(target)
    samples = _sine_example().samples(pattern, target)
    for m in range(n):
        raster, tgt, window = next(samples)
        rows, ids = np.nonzero(raster)
        yield (rows + m * steps + 1) * 1.0, ids, tgt, window, raster  # raster row r: the spike at (r + 1) ms


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=None, help="default 200 (quick: 5)")
    ap.add_argument("--quick", action="store_true", help="20 inputs, 20 neurons, 200-step sequences")
    ap.add_argument("--check", action="store_true", help="also run the stand-alone EpropNetwork and compare")
    ap.add_argument("--progress-every", type=int, default=20)
    ap.add_argument("--plot", metavar="PNG", help="loss curve and a raster of the last iteration (matplotlib)")
    args = ap.parse_args(argv)
    n_in, n_rec, steps = (20, 20, 200) if args.quick else (100, 100, 1000)
    n_iter = args.iterations or (5 if args.quick else 200)
    net, inp, blk, obs, pattern, target = build(n_in, n_rec, steps)
    print(f"e-prop sine wave inside a Network: {n_in} streamed inputs -> {n_rec} clocked eprop_iaf -> 1 readout; "
          f"recurrent spikes -> {obs.size} event-driven observers; {n_iter} iterations of {steps} ms")
    losses, t0 = [], time.perf_counter()
    ref = _sine_example().build(n_in, n_rec, steps)[0] if args.check else None
    ref_losses = []
    for m, (times, ids, tgt, window, raster) in enumerate(iterations(pattern, target, n_iter)):
        net.feed(inp, times, ids)
        blk.set_targets(tgt, learning_window=window)
        net.run(float(steps))
        losses.append(blk.last_run.loss)
        if ref is not None:
            ref_losses.append(ref.run(raster, tgt, learning_window=window).loss)
        if (m + 1) % args.progress_every == 0 or m + 1 == n_iter:
            print(f"  iteration {m + 1:5d}: loss {losses[-1]:.4f}")
    wall = time.perf_counter() - t0
    rt, _ = blk.rec.spikes
    ot, _ = obs.spikes
    summary = {"iterations": n_iter, "loss_first": losses[0], "loss_final": losses[-1], "loss_min": min(losses),
               "seconds_per_iteration": round(wall / n_iter, 4), "recurrent_spikes": int(rt.size),
               "observer_spikes": int(ot.size)}
    print(f"loss {losses[0]:.4g} -> {losses[-1]:.4g} (min {min(losses):.4g}); {summary['seconds_per_iteration']} s "
          f"per iteration; {rt.size} recurrent spikes (on the 1 ms grid), {ot.size} observer spikes (exact times)")
    if ref is not None:
        same = ref_losses == losses
        summary["same_as_standalone"] = same
        print(f"stand-alone EpropNetwork: losses {'identical' if same else 'DIFFERENT'}")
    print("summary: " + json.dumps(summary))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (a1, a2) = plt.subplots(2, 1, figsize=(7, 6))
        a1.plot(np.arange(1, n_iter + 1), losses)
        a1.set_xlabel("iteration")
        a1.set_ylabel("loss")
        a1.set_yscale("log")
        t0_last = (n_iter - 1) * steps
        for pop, c, off in ((blk.rec, "tab:blue", 0), (obs, "tab:red", n_rec)):
            t, i = pop.spikes
            m = t > t0_last
            a2.plot(t[m], i[m] + off, ".", ms=2, color=c, label=pop.name)
        a2.set_xlabel("time (ms)")
        a2.legend(loc="upper right", markerscale=5)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"plot: {args.plot}")
    return summary


if __name__ == "__main__":
    main()
