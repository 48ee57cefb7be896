"""NEST side of the spikeengine benchmark, plus a precise-model reference runner.

This module has three roles:

* :func:`network_spec` builds the plain, simulator-independent description of
  the benchmark networks (Brunel 2000 delta network, Vogels-Abbott CUBA).  The
  Brian2 side (``brian2_side.py``) and the spikeengine driver use the same
  description, so every simulator builds the same network (same sizes,
  parameters, fixed in-degrees, delays and initial membrane potentials).
* :func:`run_nest` builds and simulates such a network in NEST and returns the
  timing / activity summary dictionary used by the benchmark table.
* :func:`run_nest_precise` runs a small, fully explicit network with NEST's
  precise-spike-timing models; the test suite uses it as a cross-check.

NEST is imported inside the functions only, so the module is importable on a
machine without NEST.  Run as a script to benchmark one configuration in its
own process (so that the peak RSS belongs to this simulator only)::

    python benchmarks/nest_side.py --net brunel --N 10000 --regime ai --T 1000 --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np

#: Brunel regimes: (eta, g). 'ai' (asynchronous irregular, ~20 Hz at N = 10000) and 'low' (~1 Hz) were
#: chosen by measurement (see benchmarks/README.md); 'nest' is NEST's brunel_delta_nest example (~43 Hz).
BRUNEL_REGIMES = {"ai": (1.7, 6.0), "low": (0.88, 6.0), "nest": (2.0, 5.0)}


#: STDP on excitatory->excitatory synapses of the Brunel network (``--stdp``): NEST's stdp_synapse with its
#: default (multiplicative) parameters and Wmax = 2 J, so the weights start at Wmax / 2
STDP_EE = {"model": "stdp_synapse", "params": {"lambda": 0.01, "alpha": 1.0, "mu_plus": 1.0, "mu_minus": 1.0,
                                               "tau_plus": 20.0}, "Wmax_over_J": 2.0, "tau_minus": 20.0}


def network_spec(net, N, regime="ai", seed=12345, precise=False, stdp=False):
    """Return the plain description of a benchmark network.

    Parameters
    ----------
    net : {'brunel', 'cuba'}
        Network family.
    N : int
        Total number of neurons (80 % excitatory).
    regime : {'ai', 'low'}, optional
        Activity regime of the Brunel network (ignored for CUBA).
    seed : int, optional
        Seed for the initial membrane potentials (and for the simulators'
        own random number generators).
    precise : bool, optional
        Request NEST's precise-spike-timing models (``*_ps``).
    stdp : bool, optional
        Brunel only: make the excitatory->excitatory synapses plastic (:data:`STDP_EE`).

    Returns
    -------
    dict
        Plain description: population sizes, fixed in-degrees, neuron and
        synapse parameters in NEST units (mV, ms, pF, pA), the external drive
        and the initial membrane potentials ``V_m0`` (list of float).

    Notes
    -----
    Brunel (2000) model A, as in NEST's ``examples/brunel_delta_nest.py``:
    delta synapses of ``J`` mV (inhibitory ``-g J``), delay 1.5 ms, fixed
    in-degrees ``CE = 0.1 NE`` and ``CI = 0.1 NI`` (multapses and autapses
    allowed, as NEST's default), and an independent Poisson train of rate
    ``eta * nu_th * CE`` and weight ``J`` into each neuron.  All neurons
    start at ``V_m = 0``.

    CUBA (Brette et al. 2007, benchmark 2, as Brian2's ``CUBA.py``):
    exponential current synapses, the Brian2 voltage jumps ``we`` and ``wi``
    converted to currents ``w = jump * C_m / tau_m`` pA, fixed in-degrees
    ``0.02 NE`` and ``0.02 NI``, delay 1.0 ms for every synapse and initial
    potentials uniform in ``[V_reset, V_th)``.
    """
    N = int(N)
    NE = int(round(0.8 * N))
    NI = N - NE
    rng = np.random.default_rng(seed)
    if net == "brunel":
        eta, g = BRUNEL_REGIMES[regime]
        J = 0.1
        tau_m, V_th = 20.0, 20.0
        CE = int(0.1 * NE)
        CI = int(0.1 * NI)
        nu_th = V_th / (J * CE * tau_m)  # in 1/ms
        ext_rate_hz = 1000.0 * eta * nu_th * CE
        neuron = {
            "C_m": 1.0,
            "tau_m": tau_m,
            "t_ref": 2.0,
            "E_L": 0.0,
            "V_reset": 10.0,
            "V_th": V_th,
        }
        return {
            "net": "brunel",
            "regime": regime,
            "N": N,
            "NE": NE,
            "NI": NI,
            "CE": CE,
            "CI": CI,
            "eta": eta,
            "g": g,
            "model": "iaf_psc_delta_ps" if precise else "iaf_psc_delta",
            "neuron": neuron,
            "J_ex": J,
            "J_in": -g * J,
            "delay": 1.5,
            "ext_rate_hz": ext_rate_hz,
            "ext_weight": J,
            "V_m0": [0.0] * N,
            "seed": seed,
            "stdp": (dict(STDP_EE, params=dict(STDP_EE["params"], Wmax=STDP_EE["Wmax_over_J"] * J))
                     if stdp else None),
        }
    if stdp:
        raise ValueError("stdp=True is defined for the Brunel network only")
    if net == "cuba":
        tau_m, C_m = 20.0, 250.0
        V_th, V_reset = -50.0, -60.0
        we_mV = 60.0 * 0.27 / 10.0
        wi_mV = -20.0 * 4.5 / 10.0
        neuron = {
            "C_m": C_m,
            "tau_m": tau_m,
            "t_ref": 5.0,
            "E_L": -49.0,
            "V_reset": V_reset,
            "V_th": V_th,
            "tau_syn_ex": 5.0,
            "tau_syn_in": 10.0,
        }
        V_m0 = V_reset + rng.random(N) * (V_th - V_reset)
        return {
            "net": "cuba",
            "regime": "free",
            "N": N,
            "NE": NE,
            "NI": NI,
            "CE": int(round(0.02 * NE)),
            "CI": int(round(0.02 * NI)),
            "model": "iaf_psc_exp_ps" if precise else "iaf_psc_exp",
            "neuron": neuron,
            "we_mV": we_mV,
            "wi_mV": wi_mV,
            "J_ex": we_mV * C_m / tau_m,
            "J_in": wi_mV * C_m / tau_m,
            "delay": 1.0,
            "ext_rate_hz": 0.0,
            "ext_weight": 0.0,
            "V_m0": V_m0.tolist(),
            "seed": seed,
        }
    raise ValueError(f"unknown network {net!r}")


def _import_nest():
    """Import NEST quietly (no banner, errors only).

    Returns
    -------
    module
        The ``nest`` module.
    """
    os.environ.setdefault("PYNEST_QUIET", "1")
    import nest

    if hasattr(nest, "VerbosityLevel"):
        nest.verbosity = nest.VerbosityLevel.ERROR
    else:  # NEST < 3.10
        nest.set_verbosity("M_ERROR")
    return nest


def peak_rss_mb():
    """Return the peak resident set size of this process in MiB.

    Returns
    -------
    float
        ``ru_maxrss`` of the calling process (Linux reports KiB).
    """
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def summarize(spec, T, n_exc_spikes, n_inh_spikes, wall_s, build_s, rss_mb):
    """Assemble the benchmark result dictionary.

    Parameters
    ----------
    spec : dict
        Network description from :func:`network_spec`.
    T : float
        Simulated time in ms.
    n_exc_spikes, n_inh_spikes : int
        Spikes emitted by the excitatory / inhibitory population.
    wall_s, build_s : float
        Simulation-only and construction wall-clock times in seconds.
    rss_mb : float
        Peak resident set size in MiB.

    Returns
    -------
    dict
        Keys ``sim_ms``, ``wall_s``, ``build_s``, ``n_spikes``, ``rate_hz``,
        ``syn_events``, ``peak_rss_mb``.  ``syn_events`` is the number of
        recurrent spikes times the mean fan-out of the emitting population
        (``N * CE / NE`` for excitatory, ``N * CI / NI`` for inhibitory
        neurons); external Poisson input is not counted.
    """
    N, NE, NI = spec["N"], spec["NE"], spec["NI"]
    fan_e = N * spec["CE"] / NE
    fan_i = N * spec["CI"] / NI if NI else 0.0
    n = int(n_exc_spikes + n_inh_spikes)
    return {
        "sim_ms": float(T),
        "wall_s": float(wall_s),
        "build_s": float(build_s),
        "n_spikes": n,
        "rate_hz": n / N / (T / 1000.0),
        "syn_events": float(n_exc_spikes * fan_e + n_inh_spikes * fan_i),
        "peak_rss_mb": float(rss_mb),
    }


def run_nest(spec, T=1000.0, resolution=0.1, threads=1):
    """Build and simulate a benchmark network in NEST.

    Parameters
    ----------
    spec : dict
        Network description from :func:`network_spec`.
    T : float, optional
        Simulated time in ms.
    resolution : float, optional
        NEST time step in ms.
    threads : int, optional
        Number of NEST threads (the benchmark uses 1).

    Returns
    -------
    dict
        Result dictionary, see :func:`summarize`; additionally ``simulator``,
        ``model`` and ``n_synapses``.
    """
    nest = _import_nest()
    t0 = time.perf_counter()
    nest.ResetKernel()
    nest.SetKernelStatus(
        {
            "resolution": resolution,
            "local_num_threads": threads,
            "rng_seed": int(spec["seed"]) % (2**31 - 1) + 1,
            "print_time": False,
        }
    )
    model = spec["model"]
    neurons = nest.Create(model, spec["N"], params=spec["neuron"])
    neurons.set(V_m=list(spec["V_m0"]))
    exc = neurons[: spec["NE"]]
    inh = neurons[spec["NE"] :]
    d = spec["delay"]
    if spec.get("stdp"):
        st = spec["stdp"]
        exc.set(tau_minus=st["tau_minus"])
        nest.CopyModel(st["model"], "stdp_ee", st["params"])
        nest.Connect(
            exc,
            exc,
            {"rule": "fixed_indegree", "indegree": spec["CE"]},
            {"synapse_model": "stdp_ee", "weight": spec["J_ex"], "delay": d},
        )
        nest.Connect(
            exc,
            inh,
            {"rule": "fixed_indegree", "indegree": spec["CE"]},
            {"synapse_model": "static_synapse", "weight": spec["J_ex"], "delay": d},
        )
    else:
        nest.Connect(
            exc,
            neurons,
            {"rule": "fixed_indegree", "indegree": spec["CE"]},
            {"synapse_model": "static_synapse", "weight": spec["J_ex"], "delay": d},
        )
    nest.Connect(
        inh,
        neurons,
        {"rule": "fixed_indegree", "indegree": spec["CI"]},
        {"synapse_model": "static_synapse", "weight": spec["J_in"], "delay": d},
    )
    if spec["ext_rate_hz"] > 0:
        gen_model = "poisson_generator_ps" if model.endswith("_ps") else "poisson_generator"
        noise = nest.Create(gen_model, params={"rate": spec["ext_rate_hz"]})
        nest.Connect(
            noise,
            neurons,
            "all_to_all",
            {"weight": spec["ext_weight"], "delay": d},
        )
    rec_e = nest.Create("spike_recorder")
    rec_i = nest.Create("spike_recorder")
    nest.Connect(exc, rec_e)
    nest.Connect(inh, rec_i)
    nest.Prepare()
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    nest.Run(T)
    wall_s = time.perf_counter() - t0
    nest.Cleanup()
    # recurrent synapses only: minus generator and recorder connections
    n_syn = nest.GetKernelStatus("num_connections") - spec["N"]
    if spec["ext_rate_hz"] > 0:
        n_syn -= spec["N"]
    out = summarize(
        spec,
        T,
        rec_e.get("n_events"),
        rec_i.get("n_events"),
        wall_s,
        build_s,
        peak_rss_mb(),
    )
    out.update(
        {
            "simulator": "nest",
            "model": model,
            "n_synapses": int(n_syn),
            "nest_version": nest.__version__,
        }
    )
    return out


def run_nest_precise(spec):
    """Simulate an explicit small network with a NEST precise model.

    Parameters
    ----------
    spec : dict
        Keys:

        ``model``
            ``'iaf_psc_delta_ps'`` or ``'iaf_psc_exp_ps'``.
        ``params``
            Neuron parameters (NEST names), applied to every neuron.
        ``n``
            Number of neurons.
        ``V_m0``
            Initial membrane potential per neuron (array-like, length ``n``).
        ``sources``, ``targets``, ``weights``, ``delays``
            Recurrent synapses, local indices ``0 .. n-1``.  Delays must be
            multiples of ``resolution`` (NEST rounds them otherwise).
        ``ext_times``
            Sequence of ``n`` arrays of (off-grid) spike times; neuron ``i``
            gets its own ``spike_generator`` with ``precise_times=True``.
            Times must be > 0 (NEST drops times <= 0 ms).
        ``ext_weight``, ``ext_delay``
            Weight and delay of the external connections; the spikes arrive
            at exactly ``t + ext_delay``.
        ``T``
            Simulated time in ms.
        ``resolution``
            NEST resolution in ms (optional, default 0.1).

    Returns
    -------
    times : numpy.ndarray
        Spike times (ms, float64, NEST's ``step * h - offset``).
    ids : numpy.ndarray
        Local neuron indices (int64) of the spikes.  Both arrays are sorted
        by ``(time, id)``.
    """
    nest = _import_nest()
    nest.ResetKernel()
    nest.SetKernelStatus(
        {
            "resolution": float(spec.get("resolution", 0.1)),
            "local_num_threads": 1,
            "print_time": False,
        }
    )
    n = int(spec["n"])
    neurons = nest.Create(spec["model"], n, params=dict(spec.get("params", {})))
    neurons.set(V_m=[float(v) for v in np.asarray(spec["V_m0"], dtype=float)])
    first = neurons[0].global_id
    src = np.asarray(spec.get("sources", []), dtype=np.int64)
    if src.size:
        tgt = np.asarray(spec["targets"], dtype=np.int64)
        nest.Connect(
            (src + first).tolist(),
            (tgt + first).tolist(),
            "one_to_one",
            {
                "synapse_model": "static_synapse",
                "weight": np.asarray(spec["weights"], dtype=float),
                "delay": np.asarray(spec["delays"], dtype=float),
            },
        )
    ext_times = spec.get("ext_times")
    if ext_times is not None:
        for i, ts in enumerate(ext_times):
            ts = np.sort(np.asarray(ts, dtype=float))
            if ts.size == 0:
                continue
            gen = nest.Create(
                "spike_generator",
                params={"spike_times": ts.tolist(), "precise_times": True},
            )
            nest.Connect(
                gen,
                neurons[i],
                syn_spec={
                    "weight": float(spec["ext_weight"]),
                    "delay": float(spec["ext_delay"]),
                },
            )
    rec = nest.Create("spike_recorder")
    nest.Connect(neurons, rec)
    nest.Simulate(float(spec["T"]))
    ev = rec.get("events")
    times = np.asarray(ev["times"], dtype=np.float64)
    ids = np.asarray(ev["senders"], dtype=np.int64) - first
    order = np.lexsort((ids, times))
    return times[order], ids[order]


def main(argv=None):
    """Command-line entry point: benchmark one network in NEST.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--net", choices=["brunel", "cuba"], default="brunel")
    p.add_argument("--N", type=int, default=10000)
    p.add_argument("--regime", choices=sorted(BRUNEL_REGIMES), default="ai")
    p.add_argument("--T", type=float, default=1000.0, help="simulated ms")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--resolution", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--precise", action="store_true", help="use *_ps models")
    p.add_argument("--stdp", action="store_true", help="Brunel: STDP on excitatory->excitatory synapses")
    p.add_argument("--eta", type=float, help="override eta (Brunel)")
    p.add_argument("--g", type=float, help="override g (Brunel)")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    a = p.parse_args(argv)
    spec = network_spec(a.net, a.N, a.regime, a.seed, a.precise, a.stdp)
    if a.net == "brunel" and (a.eta is not None or a.g is not None):
        eta = spec["eta"] if a.eta is None else a.eta
        g = spec["g"] if a.g is None else a.g
        spec["ext_rate_hz"] *= eta / spec["eta"]
        spec.update(eta=eta, g=g, J_in=-g * spec["J_ex"], regime="custom")
    res = run_nest(spec, a.T, a.resolution, a.threads)
    res.update({"net": a.net, "N": a.N, "regime": spec["regime"], "stdp": bool(a.stdp)})
    if a.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k:>12s}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
