"""e-prop speed benchmark: NEST's sine-wave regression example, in spikeengine and in NEST 3.10.

The network is the one of NEST's ``eprop_supervised_regression_sine-waves.py`` (NEST 3.10 examples):
100 frozen-noise inputs (``spike_generator`` -> ``parrot_neuron``, spike probability 0.05 per 1 ms step,
the same pattern every sequence), 100 ``eprop_iaf`` recurrent neurons (all-to-all, no autapses), one
``eprop_readout``, random feedback ``eprop_learning_signal_connection``, the target a superposition of four
sines (periods 1000, 500, 333 and 200 steps), sequences of 1000 steps of 1 ms, gradient descent with
``eta = 1e-4 (1 - kappa)**2`` once per spike, ``eprop_isi_trace_cutoff`` 100 ms, ``c_reg = 0.3`` and
``f_target = 10`` Hz. The initial weights, input spikes and target are drawn exactly as the example draws
them (``np.random.seed(1)``, float32 weights and spike times), and both simulators get the same float64
numbers.

Step conventions (those of ``tests/fixtures/make_eprop_fixtures.py``): engine step ``k`` is NEST's update
step ``k``. As in the example, the input pattern is shifted by one step (the generator offset), the target and
the learning window (the example's ``rate_connection_delayed`` signals) start at step 2 (the total offset),
and iteration ``m`` is steps ``[1000 m, 1000 (m + 1))`` in both simulators. The loss of an iteration is
``0.5 * sum_t window_t (y_t - y*_t)**2`` over its steps, from spikeengine's :class:`EpropResult` and from
NEST's readout multimeter (recording ``readout_signal`` and ``target_signal``, as the example does; NEST stamps
the value of step ``k`` with ``(k + 1) dt``, so one more untimed step records the last one). Not
modelled: the example's ``flush_event_send_interval`` (left at NEST's default, infinity, in both) and its
final forced update spike (it only flushes pending gradients after training).

Timing: single thread; spikeengine times :meth:`EpropNetwork.run` per iteration, and, as a second row, the
same network run as a clocked block of an event-driven ``Network`` (inputs streamed, one ``Network.run`` per
iteration; its losses must equal the stand-alone ones bit for bit) (numba kernels compiled and
cached before timing), NEST times ``nest.Run(1000)`` per iteration between one ``Prepare`` and ``Cleanup``.
NEST is imported lazily and skipped when absent.

Run::

    python benchmarks/eprop_sine.py                   # 20 iterations in each simulator
    python benchmarks/eprop_sine.py --iterations 50 --engine-iterations 200
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

N_IN, N_REC, N_OUT = 100, 100, 1
SEQ = 1000  # steps per sequence (= iteration)
DT = 1.0
OFFSET_GEN = 1  # generator signals start at step 1
TOTAL_OFFSET = 2  # + the one-step input delay


def build_spec(n_iter, seed=1):
    """The example's network as plain arrays and parameter dicts (NEST names and units).

    Parameters
    ----------
    n_iter : int
        Number of iterations (sequences of :data:`SEQ` steps).
    seed : int
        ``np.random.seed`` of the example.

    Returns
    -------
    dict
        ``rec_params``, ``out_params``, ``optimizer`` (NEST dicts), ``W_in`` (n_rec, n_in), ``W_rec``,
        ``W_out`` (n_out, n_rec), ``B`` (n_rec, n_out), ``raster`` (n_iter * SEQ, n_in) bool, ``target``
        (n_iter * SEQ, n_out) and ``window`` (n_iter * SEQ,).
    """
    np.random.seed(seed)
    rec_params = {"C_m": 1.0, "c_reg": 300.0 / SEQ, "E_L": 0.0, "eprop_isi_trace_cutoff": 100.0, "f_target": 10.0,
                  "I_e": 0.0, "kappa": 0.97, "kappa_reg": 0.97, "surrogate_gradient_function": "piecewise_linear",
                  "surrogate_gradient_height": 10.0, "surrogate_gradient_width": 1.0 / 33.3, "t_ref": 0.0,
                  "tau_m": 30.0, "V_m": 0.0, "V_th": 0.03}
    out_params = {"C_m": 1.0, "E_L": 0.0, "eprop_isi_trace_cutoff": 100.0, "I_e": 0.0, "tau_m": 30.0, "V_m": 0.0}
    scale = 1.0 - rec_params["kappa"]
    f32 = np.float32
    w_in = np.array(np.random.randn(N_IN, N_REC).T / np.sqrt(N_IN), dtype=f32)
    w_rec = np.array(np.random.randn(N_REC, N_REC).T / np.sqrt(N_REC), dtype=f32)
    np.fill_diagonal(w_rec, 0.0)
    w_out = np.array(np.random.randn(N_REC, N_OUT).T / np.sqrt(N_REC), dtype=f32) * scale
    b = np.array(np.random.randn(N_REC, N_OUT) / np.sqrt(N_REC), dtype=f32)
    w_in *= scale
    w_rec *= scale
    b *= scale
    optimizer = {"type": "gradient_descent", "batch_size": 1, "eta": 1e-4 * scale**2, "optimize_each_step": False,
                 "Wmin": -100.0, "Wmax": 100.0}
    pattern = np.random.rand(SEQ, N_IN) < 0.05  # (steps, inputs), the example's draw order
    # the example's spike times are float32 multiples of 1 ms: exact integers, so the pattern is the raster
    n = n_iter * SEQ
    raster = np.zeros((n, N_IN), dtype=bool)
    tiled = np.tile(pattern, (n_iter, 1))
    raster[OFFSET_GEN:] = tiled[:n - OFFSET_GEN]
    target_seq = _superimposed_sines(SEQ, [1000, 500, 333, 200])
    target = np.zeros((n, N_OUT))
    target[TOTAL_OFFSET:, 0] = np.tile(target_seq, n_iter)[:n - TOTAL_OFFSET]
    window = np.zeros(n)
    window[TOTAL_OFFSET:] = 1.0
    return {"rec_params": rec_params, "out_params": out_params, "optimizer": optimizer,
            "W_in": w_in.astype(np.float64), "W_rec": w_rec.astype(np.float64), "W_out": w_out.astype(np.float64),
            "B": b.astype(np.float64), "raster": raster, "target": target, "window": window, "n_iter": n_iter}


def _superimposed_sines(steps, periods):
    """The example's ``generate_superimposed_sines`` (same draws)."""
    amplitudes = np.random.uniform(low=0.5, high=2.0, size=len(periods))
    phases = np.random.uniform(low=0.0, high=2.0 * np.pi, size=len(periods))
    sines = [A * np.sin(np.linspace(phi, phi + 2.0 * np.pi * (steps // T), steps))
             for A, phi, T in zip(amplitudes, phases, periods)]
    s = sum(sines)
    s -= s[0]
    s /= max(np.abs(s).max(), 1e-6)
    return s


def iteration_losses(readout, target, window, n_iter):
    """Per-iteration ``0.5 * sum_t window_t sum_k (y - y*)**2`` from per-step signals."""
    se = 0.5 * ((readout - target) ** 2).sum(axis=1) * window
    return se.reshape(n_iter, SEQ).sum(axis=1)


def build_engine(spec):
    """The spikeengine network of ``spec``."""
    from spikeengine.eprop import EpropIAF, EpropNetwork, EpropReadout

    return EpropNetwork(N_IN, EpropIAF(**spec["rec_params"]), EpropReadout(**spec["out_params"]), spec["W_in"],
                        spec["W_rec"], spec["W_out"], spec["B"], optimizer=dict(spec["optimizer"]), dt=DT)


def run_engine(spec, n_iter):
    """Train ``n_iter`` iterations, one :meth:`~EpropNetwork.run` each; return (seconds per iteration, losses)."""
    from spikeengine.eprop import _kernels

    _kernels.warm_up()
    warm = build_engine(spec)  # compile / load the cached kernels outside the timing
    warm.run(spec["raster"][:SEQ], spec["target"][:SEQ], learning_window=spec["window"][:SEQ])
    net = build_engine(spec)
    times, losses = [], []
    for m in range(n_iter):
        sl = slice(m * SEQ, (m + 1) * SEQ)
        t0 = time.perf_counter()
        res = net.run(spec["raster"][sl], spec["target"][sl], learning_window=spec["window"][sl])
        times.append(time.perf_counter() - t0)
        losses.append(res.loss)
    return np.array(times), np.array(losses)


def run_in_network(spec, n_iter):
    """The same training with the e-prop network as a clocked block of an event-driven
    :class:`spikeengine.Network` (``Network.eprop``): inputs streamed into a stream source one iteration
    at a time, recurrent spikes as events. Returns (seconds per iteration, losses)."""
    import spikeengine as se

    def build():
        net = se.Network()
        inp = net.stream_source(N_IN, name="inputs")
        return net, inp, net.eprop(build_engine(spec), inputs=inp, name="eprop")

    def iteration(net, inp, blk, m):
        sl = slice(m * SEQ, (m + 1) * SEQ)
        rows, ids = np.nonzero(spec["raster"][sl])
        net.feed(inp, (rows + m * SEQ + 1) * DT, ids)  # raster row r: the input neuron's spike at (r + 1) dt
        blk.set_targets(spec["target"][sl], learning_window=spec["window"][sl])
        net.run(SEQ * DT)
        return blk.last_run.loss

    iteration(*build(), 0)  # compile / load the cached kernels outside the timing
    net, inp, blk = build()
    times, losses = [], []
    for m in range(n_iter):
        t0 = time.perf_counter()
        losses.append(iteration(net, inp, blk, m))
        times.append(time.perf_counter() - t0)
    return np.array(times), np.array(losses)


def run_nest(spec, n_iter):
    """The same network in NEST 3.10; return (seconds per iteration, losses), or None without NEST."""
    try:
        import nest
    except ImportError:
        return None
    nest.verbosity = nest.VerbosityLevel.FATAL
    nest.ResetKernel()
    nest.set(resolution=DT, total_num_virtual_procs=1, print_time=False)
    n = n_iter * SEQ
    gen_in = nest.Create("spike_generator", N_IN)
    parrots = nest.Create("parrot_neuron", N_IN)
    rec = nest.Create("eprop_iaf", N_REC, spec["rec_params"])
    out = nest.Create("eprop_readout", N_OUT, spec["out_params"])
    gen_target = nest.Create("step_rate_generator", N_OUT)
    gen_window = nest.Create("step_rate_generator")
    mm_out = nest.Create("multimeter", {"interval": DT, "record_from": ["readout_signal", "target_signal"]})
    sr = nest.Create("spike_recorder")
    nest.SetDefaults("eprop_synapse", {"optimizer": dict(spec["optimizer"])})
    syn = {"synapse_model": "eprop_synapse", "delay": DT}
    static = {"synapse_model": "static_synapse", "delay": DT}
    nest.Connect(gen_in, parrots, "one_to_one", static)
    nest.Connect(parrots, rec, "all_to_all", dict(syn, weight=spec["W_in"]))
    nest.Connect(rec, rec, {"rule": "all_to_all", "allow_autapses": False}, dict(syn, weight=spec["W_rec"]))
    nest.Connect(rec, out, "all_to_all", dict(syn, weight=spec["W_out"]))
    nest.Connect(out, rec, "all_to_all", {"synapse_model": "eprop_learning_signal_connection", "delay": DT,
                                         "weight": spec["B"]})
    nest.Connect(gen_target, out, "one_to_one", {"synapse_model": "rate_connection_delayed", "delay": DT,
                                                 "receptor_type": 2})
    nest.Connect(gen_window, out, "all_to_all", {"synapse_model": "rate_connection_delayed", "delay": DT,
                                                 "receptor_type": 1})
    nest.Connect(mm_out, out, "all_to_all", static)
    nest.Connect(rec, sr, "all_to_all", static)
    raster = spec["raster"][:n]
    for i in range(N_IN):
        gen_in[i].set(spike_times=(np.flatnonzero(raster[:, i]) * DT).tolist())
    # the value a generator sets for time k*dt is what the readout integrates in step k (see the fixtures)
    steps = np.arange(n) * DT
    gen_target[0].set(amplitude_times=steps[1:].tolist(), amplitude_values=spec["target"][1:n, 0].tolist())
    gen_window.set(amplitude_times=[TOTAL_OFFSET * DT], amplitude_values=[1.0])
    times = []
    nest.Prepare()
    for _ in range(n_iter):
        t0 = time.perf_counter()
        nest.Run(SEQ * DT)
        times.append(time.perf_counter() - t0)
    # the readout value of the last step is stamped n * dt: one more step (untimed) records it; without it the
    # last iteration's loss lacks its last term
    nest.Run(DT)
    nest.Cleanup()
    ev = mm_out.get("events")
    k = np.rint(np.asarray(ev["times"]) / DT).astype(int) - 1  # recorded with stamp k + 1
    readout = np.zeros((n, N_OUT))
    target = np.zeros((n, N_OUT))
    sel = (k >= 0) & (k < n)
    readout[k[sel], 0] = np.asarray(ev["readout_signal"])[sel]
    target[k[sel], 0] = np.asarray(ev["target_signal"])[sel]
    return np.array(times), iteration_losses(readout, target, spec["window"][:n], n_iter)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=20, help="iterations in NEST (default 20)")
    ap.add_argument("--engine-iterations", type=int, default=None,
                    help="iterations in spikeengine (default: --iterations)")
    ap.add_argument("--no-nest", action="store_true", help="skip NEST")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    k_nest = args.iterations
    k_eng = args.engine_iterations or args.iterations
    spec = build_spec(max(k_nest, k_eng), args.seed)
    t_eng, l_eng = run_engine(spec, k_eng)
    t_blk, l_blk = run_in_network(spec, k_eng)
    same = bool(np.array_equal(l_blk, l_eng))
    nest_out = None if args.no_nest else run_nest(spec, k_nest)
    rows = [("spikeengine", k_eng, t_eng, l_eng), ("  in Network", k_eng, t_blk, l_blk)]
    if nest_out is not None:
        rows.append(("NEST 3.10", k_nest, *nest_out))
    print(f"e-prop sine-wave regression (NEST example): {N_IN} in, {N_REC} eprop_iaf, {N_OUT} readout, "
          f"{SEQ} steps of {DT} ms per iteration, single thread")
    print(f"{'simulator':<12} {'iters':>6} {'s/iter (mean)':>14} {'s/iter (median)':>16} {'loss first':>14} "
          f"{'loss last':>14}")
    for name, k, t, lo in rows:
        print(f"{name:<12} {k:>6d} {t.mean():>14.5f} {np.median(t):>16.5f} {lo[0]:>14.8f} {lo[-1]:>14.8f}")
    out = {"iterations_engine": k_eng, "engine_s_per_iter": float(t_eng.mean()),
           "engine_s_per_iter_median": float(np.median(t_eng)), "engine_loss_first": float(l_eng[0]),
           "engine_loss_last": float(l_eng[-1]), "network_s_per_iter": float(t_blk.mean()),
           "network_losses_equal": same}
    print(f"e-prop as a clocked block of an event-driven Network: losses {'equal' if same else 'DIFFERENT'} to the "
          f"stand-alone network, {t_blk.mean() / t_eng.mean():.2f}x its time per iteration")
    if nest_out is not None:
        t_n, l_n = nest_out
        k = min(k_nest, k_eng)
        dev = float(np.max(np.abs(l_n[:k] - l_eng[:k]) / np.abs(l_n[:k])))
        ratio = float(t_n.mean() / t_eng.mean())
        ratio_blk = float(t_n.mean() / t_blk.mean())
        print(f"NEST / spikeengine time per iteration: {ratio:.1f}x (in a Network: {ratio_blk:.1f}x); max relative "
              f"loss difference over the first {k} iterations: {dev:.2e}")
        out["speedup_vs_nest_in_network"] = ratio_blk
        out.update({"iterations_nest": k_nest, "nest_s_per_iter": float(t_n.mean()),
                    "nest_s_per_iter_median": float(np.median(t_n)), "nest_loss_first": float(l_n[0]),
                    "nest_loss_last": float(l_n[-1]), "speedup_vs_nest": ratio, "max_rel_loss_diff": dev})
    else:
        print("NEST not available: skipped")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
