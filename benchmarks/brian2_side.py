"""Brian2 side of the spikeengine benchmark (C++ standalone, single thread).

Brian2 2.9 needs ``numpy<2`` on Python 3.11, so this script runs with the
interpreter of a separate virtual environment (see ``benchmarks/README.md``)::

    .venv-brian2/bin/python benchmarks/brian2_side.py --net brunel --N 10000 \
        --regime ai --T 1000 --json

The network description comes from :func:`nest_side.network_spec` (that module
is importable without NEST), so Brian2 builds the same network as NEST and
spikeengine.  The script prints one JSON line with the same keys as the NEST
side; ``wall_s`` is the simulation loop only (``device._last_run_time``),
``build_s`` is the network construction inside the standalone binary, and
``compile_s`` is code generation plus compilation.  ``peak_rss_mb`` is the
peak RSS of the standalone binary alone (not of the compiler or of this
Python process).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nest_side import BRUNEL_REGIMES, network_spec, summarize  # noqa: E402

#: Wrapper used as ``run_cmd_unix``: runs the standalone binary and writes the
#: binary's own peak RSS (KiB, from ``wait4``) to ``$B2_RSS_FILE``.
_RSS_WRAPPER = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[1:])\n"
    "_, st, ru = os.wait4(p.pid, 0)\n"
    "open(os.environ['B2_RSS_FILE'], 'w').write(str(ru.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(st))\n"
)


def _build_brunel(b2, spec):
    """Create the Brunel delta network in the current Brian2 device.

    Parameters
    ----------
    b2 : module
        The ``brian2`` module.
    spec : dict
        Network description from :func:`nest_side.network_spec`.

    Returns
    -------
    list
        The Brian2 objects to put into the network, and the two spike
        monitors (excitatory, inhibitory) as the last two elements.
    """
    ms, mV, Hz = b2.ms, b2.mV, b2.Hz
    p = spec["neuron"]
    ns = {
        "tau_m": p["tau_m"] * ms,
        "E_L": p["E_L"] * mV,
        "V_th": p["V_th"] * mV,
        "V_reset": p["V_reset"] * mV,
        "J_ex": spec["J_ex"] * mV,
        "J_in": spec["J_in"] * mV,
        "J_ext": spec["ext_weight"] * mV,
    }
    G = b2.NeuronGroup(
        spec["N"],
        "dv/dt = -(v - E_L) / tau_m : volt (unless refractory)",
        threshold="v >= V_th",
        reset="v = V_reset",
        refractory=p["t_ref"] * ms,
        method="exact",
        namespace=ns,
    )
    G.v = spec["V_m0"] * mV
    NE = spec["NE"]
    # Inputs during refractoriness are dropped, as in NEST's iaf_psc_delta.
    Se = b2.Synapses(
        G[:NE],
        G,
        on_pre="v_post += J_ex * int(not_refractory_post)",
        delay=spec["delay"] * ms,
        namespace=ns,
    )
    Se.connect(i=f"k for k in sample(N_pre, size={spec['CE']})")
    Si = b2.Synapses(
        G[NE:],
        G,
        on_pre="v_post += J_in * int(not_refractory_post)",
        delay=spec["delay"] * ms,
        namespace=ns,
    )
    Si.connect(i=f"k for k in sample(N_pre, size={spec['CI']})")
    # Independent Poisson train of rate ext_rate_hz per neuron (binomial
    # approximation of CE sources at eta * nu_th each, like Brian2's example).
    ext = b2.PoissonInput(
        G,
        "v",
        N=spec["CE"],
        rate=spec["ext_rate_hz"] / spec["CE"] * Hz,
        weight="J_ext * int(not_refractory)",
    )
    me = b2.SpikeMonitor(G[:NE], record=False)
    mi = b2.SpikeMonitor(G[NE:], record=False)
    return [G, Se, Si, ext, me, mi]


def _build_cuba(b2, spec):
    """Create the Vogels-Abbott CUBA network in the current Brian2 device.

    Parameters
    ----------
    b2 : module
        The ``brian2`` module.
    spec : dict
        Network description from :func:`nest_side.network_spec`.

    Returns
    -------
    list
        The Brian2 objects to put into the network, and the two spike
        monitors (excitatory, inhibitory) as the last two elements.
    """
    ms, mV = b2.ms, b2.mV
    p = spec["neuron"]
    ns = {
        "taum": p["tau_m"] * ms,
        "taue": p["tau_syn_ex"] * ms,
        "taui": p["tau_syn_in"] * ms,
        "El": p["E_L"] * mV,
        "Vt": p["V_th"] * mV,
        "Vr": p["V_reset"] * mV,
        "we": spec["we_mV"] * mV,
        "wi": spec["wi_mV"] * mV,
    }
    eqs = """
    dv/dt  = (ge + gi - (v - El)) / taum : volt (unless refractory)
    dge/dt = -ge / taue : volt
    dgi/dt = -gi / taui : volt
    """
    G = b2.NeuronGroup(
        spec["N"],
        eqs,
        threshold="v >= Vt",
        reset="v = Vr",
        refractory=p["t_ref"] * ms,
        method="exact",
        namespace=ns,
    )
    G.v = spec["V_m0"] * mV
    G.ge = 0 * mV
    G.gi = 0 * mV
    NE = spec["NE"]
    Se = b2.Synapses(G[:NE], G, on_pre="ge_post += we", delay=spec["delay"] * ms, namespace=ns)
    Se.connect(i=f"k for k in sample(N_pre, size={spec['CE']})")
    Si = b2.Synapses(G[NE:], G, on_pre="gi_post += wi", delay=spec["delay"] * ms, namespace=ns)
    Si.connect(i=f"k for k in sample(N_pre, size={spec['CI']})")
    me = b2.SpikeMonitor(G[:NE], record=False)
    mi = b2.SpikeMonitor(G[NE:], record=False)
    return [G, Se, Si, me, mi]


def run_brian2(spec, T=1000.0, dt=0.1, directory=None, keep=False):
    """Build, compile and run a benchmark network with Brian2 standalone.

    Parameters
    ----------
    spec : dict
        Network description from :func:`nest_side.network_spec`.
    T : float, optional
        Simulated time in ms.
    dt : float, optional
        Time step in ms.
    directory : str, optional
        Standalone project directory (default: a fresh temporary one).
    keep : bool, optional
        Keep the project directory after the run.

    Returns
    -------
    dict
        Result dictionary (see :func:`nest_side.summarize`) plus
        ``simulator``, ``compile_s`` and ``n_synapses``.
    """
    import brian2 as b2

    tmp = directory or tempfile.mkdtemp(prefix="b2bench_")
    rss_file = os.path.join(tmp, "peak_rss_kib.txt")
    os.environ["B2_RSS_FILE"] = rss_file
    b2.set_device("cpp_standalone", build_on_run=False, directory=tmp)
    b2.prefs.devices.cpp_standalone.openmp_threads = 0
    b2.prefs.devices.cpp_standalone.run_cmd_unix = [sys.executable, "-c", _RSS_WRAPPER, "./main"]
    b2.prefs.codegen.cpp.extra_compile_args_gcc = ["-w", "-O3", "-march=native"]
    b2.defaultclock.dt = dt * b2.ms
    b2.seed(int(spec["seed"]))
    t_start = time.perf_counter()
    objs = _build_brunel(b2, spec) if spec["net"] == "brunel" else _build_cuba(b2, spec)
    net = b2.Network(*objs)
    net.run(T * b2.ms)
    b2.device.build(directory=tmp, compile=True, run=True, with_output=False)
    total_s = time.perf_counter() - t_start
    binary_s = b2.device.timers["run_binary"]
    wall_s = float(b2.device._last_run_time)
    with open(rss_file) as f:
        rss_mb = int(f.read()) / 1024.0
    me, mi = objs[-2], objs[-1]
    n_syn = int(len(objs[1]) + len(objs[2]))
    out = summarize(spec, T, int(me.num_spikes), int(mi.num_spikes), wall_s, binary_s - wall_s, rss_mb)
    out.update(
        {
            "simulator": "brian2",
            "model": "cpp_standalone",
            "compile_s": total_s - binary_s,
            "n_synapses": n_syn,
            "brian2_version": b2.__version__,
        }
    )
    if not keep and directory is None:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(argv=None):
    """Command-line entry point: benchmark one network in Brian2.

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
    p.add_argument("--dt", type=float, default=0.1)
    p.add_argument("--dir", help="standalone project directory (kept)")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    a = p.parse_args(argv)
    spec = network_spec(a.net, a.N, a.regime, a.seed)
    res = run_brian2(spec, a.T, a.dt, directory=a.dir, keep=a.dir is not None)
    res.update({"net": a.net, "N": a.N, "regime": spec["regime"]})
    if a.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k:>12s}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
