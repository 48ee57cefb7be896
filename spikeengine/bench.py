"""``spikeengine bench``: identical networks in spikeengine, NEST and Brian2, one table.

The network descriptions come from ``benchmarks/nest_side.py`` (``network_spec``)
in the repository; each simulator runs single-threaded in its own process so
that peak RSS is its own. NEST and Brian2 are skipped (with a note) when they are
not installed; Brian2 2.9 needs numpy<2 and therefore its own venv (see
``benchmarks/README.md``).

Run one side directly: ``python -m spikeengine.bench --side --net brunel --N 1000 --regime ai``.
"""

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .simulator import warm_up

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"


def _spec_module():
    if not (BENCH_DIR / "nest_side.py").exists():
        from .errors import SpikeEngineError

        raise SpikeEngineError(f"spikeengine bench needs the repository's benchmarks/ folder (looked in {BENCH_DIR})")
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    import nest_side

    return nest_side


def build_from_spec(spec, backend=None, drive="grid", counters=True):
    """Build the benchmark network ``spec`` (see ``benchmarks/nest_side.network_spec``) in spikeengine.

    ``drive="grid"``: the external Poisson input on a 0.1 ms grid, as NEST's ``poisson_generator`` and
    Brian2's ``PoissonInput`` deliver it (the identical network); ``"exact"``: a continuous Poisson process.
    ``counters``: keep the energy counters (0.1 ms activity bins), as a user's network does by default.
    """
    import spikeengine as se

    net = se.Network(seed=int(spec["seed"]), backend=backend, counters=counters)
    N, NE, CE, CI = spec["N"], spec["NE"], spec["CE"], spec["CI"]
    p = dict(spec["neuron"], V_m=np.asarray(spec["V_m0"], dtype=np.float64))
    if spec["net"] == "brunel":
        model = se.LIF(**p)
    else:
        model = se.LIFExp(**p)
    pop = net.population(N, model, name="neurons")
    rng = np.random.default_rng(int(spec["seed"]) + 1)
    src = np.concatenate([rng.integers(0, NE, (N, CE), dtype=np.int32), rng.integers(NE, N, (N, CI), dtype=np.int32)],
                         axis=1).ravel()
    tgt = np.repeat(np.arange(N, dtype=np.int32), CE + CI)
    w = np.where(src < NE, spec["J_ex"], spec["J_in"])
    if spec.get("stdp"):  # excitatory->excitatory synapses plastic, as nest_side's stdp_synapse
        st = spec["stdp"]
        rule = se.plasticity.from_nest(st["model"], dict(st["params"], tau_minus=st["tau_minus"]))
        ee = (src < NE) & (tgt < NE)
        net.connect(pop, pop, se.FromArrays(src[~ee], tgt[~ee]), weight=w[~ee], delay=spec["delay"], name="static")
        net.connect(pop, pop, se.FromArrays(src[ee], tgt[ee]), weight=w[ee], delay=spec["delay"], name="ee_stdp",
                    plasticity=rule)
    else:
        net.connect(pop, pop, se.FromArrays(src, tgt), weight=w, delay=spec["delay"], name="recurrent")
    if spec["ext_rate_hz"] > 0:
        step = 0.1 if drive == "grid" else None
        pop.add_poisson_input(rate=spec["ext_rate_hz"], weight=spec["ext_weight"], dt=step)
    pop.record("spikes")
    return net, pop


def run_side(net_name, N, regime, T, seed, backend, drive="grid", counters=True, stdp=False):
    """Build and run one network in this process; returns the result row (dict)."""
    spec = _spec_module().network_spec(net_name, N, regime, seed, stdp=stdp)
    warm_up(backend)  # JIT compile time is not counted
    t0 = time.perf_counter()
    net, pop = build_from_spec(spec, backend, drive, counters)
    net.run(0.0)  # compiles the network into kernel arrays
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    net.run(T)
    wall = time.perf_counter() - t1
    c = net.counters
    sim = net._sim
    return {
        "simulator": "spikeengine", "backend": net.backend, "drive": drive, "counters": counters, "net": net_name,
        "regime": spec["regime"], "N": N, "stdp": stdp,
        "n_synapses": sim.n_synapses, "sim_ms": T, "wall_s": wall, "build_s": build_s,
        "n_spikes": int(c["spikes"]), "rate_hz": c["spikes"] / N / (T / 1000.0),
        "syn_events": int(c["recurrent_synaptic_events"]), "neuron_updates": int(c["neuron_updates"]),
        "bytes_per_synapse": sim.memory_bytes() / max(sim.n_synapses, 1),
        "bytes_per_plastic_synapse": (_plastic_bytes(sim) if stdp else None),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def _plastic_bytes(sim):
    """Bytes per plastic synapse: its target and weight in the CSR arrays plus all plasticity state."""
    m = sum(len(p) for p in sim.plastic)
    per_syn = sim.syn_tgt.itemsize + sim.syn_w.itemsize
    return per_syn + sim.plasticity_bytes() / max(m, 1)


def _parse_net(tag):
    parts = tag.strip().split("-")
    if parts[0] == "brunel" and len(parts) == 4 and parts[3] == "stdp":
        return "brunel-stdp", parts[1], int(parts[2])
    if parts[0] == "brunel" and len(parts) == 3:
        return "brunel", parts[1], int(parts[2])
    if parts[0] == "cuba" and len(parts) == 2:
        return "cuba", "ai", int(parts[1])
    from .errors import ParameterError

    raise ParameterError(f"bench: cannot parse network {tag!r}; use brunel-ai-10000, brunel-low-1000, cuba-4000, "
                         "brunel-ai-10000-stdp")


def _subprocess_json(cmd, timeout=3600):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    lines = [ln for ln in out.stdout.strip().splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        return None, (out.stderr.strip().splitlines() or ["no output"])[-1]
    return json.loads(lines[-1]), None


def main(args):
    """Run the benchmark table (called by the CLI with parsed ``args``)."""
    sims = [s.strip() for s in args.simulators.split(",") if s.strip()]
    nets = [_parse_net(t) for t in args.nets.split(",") if t.strip()]
    brian_py = args.brian2_python or str(Path.cwd() / ".venv-brian2" / "bin" / "python")
    rows = []
    for kind, regime, N in nets:
        stdp = kind == "brunel-stdp"
        kind = "brunel" if stdp else kind
        tag = (f"{kind}-{regime}-{N}" if kind == "brunel" else f"cuba-{N}") + ("-stdp" if stdp else "")
        for sim in [s for s in sims for _ in range(2 if s == "spikeengine" and args.counters == "both" else 1)]:
            if sim == "spikeengine":
                ctr = args.counters if args.counters != "both" else ("off" if any(
                    r["tag"] == tag and r.get("counters") for r in rows) else "on")
                cmd = [sys.executable, "-m", "spikeengine.bench", "--side", kind, str(N), regime, str(args.duration),
                       args.backend or "auto", args.drive, ctr] + (["stdp"] if stdp else [])
            elif sim == "nest":
                cmd = [sys.executable, str(BENCH_DIR / "nest_side.py"), "--net", kind, "--N", str(N), "--T",
                       str(args.duration), "--json"] + (["--regime", regime] if kind == "brunel" else []) + (
                           ["--stdp"] if stdp else [])
            elif sim == "brian2":
                if stdp:
                    print(f"[{tag}] brian2 skipped: the STDP benchmark compares with NEST's stdp_synapse only",
                          file=sys.stderr)
                    continue
                if not os.path.exists(brian_py):
                    print(f"[{tag}] brian2 skipped: no venv python at {brian_py} (see benchmarks/README.md)",
                          file=sys.stderr)
                    continue
                cmd = [brian_py, str(BENCH_DIR / "brian2_side.py"), "--net", kind, "--N", str(N), "--T",
                       str(args.duration), "--json"] + (["--regime", regime] if kind == "brunel" else [])
            else:
                print(f"unknown simulator {sim!r} skipped", file=sys.stderr)
                continue
            print(f"[{tag}] running {sim} ...", file=sys.stderr, flush=True)
            row, err = _subprocess_json(cmd)
            if row is None:
                print(f"[{tag}] {sim} skipped: {err}", file=sys.stderr)
                continue
            row["tag"] = tag
            row.setdefault("simulator", sim)
            rows.append(row)
    _print_table(rows)
    if args.json:
        print(json.dumps(rows))
    return 0


def _print_table(rows):
    """One row per (network, simulator); '*' marks spikeengine with the continuous (exact) Poisson drive."""
    hdr = (f"{'network':<18}{'simulator':<14}{'synapses':>11}{'sim s':>7}{'wall s':>9}{'rate Hz':>9}"
           f"{'rec. syn. ev/s':>16}{'peak RSS MB':>13}{'B/syn':>7}{'vs NEST':>9}")
    print(hdr)
    print("-" * len(hdr))
    nest_wall = {r["tag"]: r["wall_s"] for r in rows if r["simulator"] == "nest"}
    for r in rows:
        ev = r["syn_events"] / r["wall_s"] if r["wall_s"] > 0 else float("nan")
        ratio = nest_wall.get(r["tag"], float("nan")) / r["wall_s"] if r["wall_s"] > 0 else float("nan")
        bps = r.get("bytes_per_synapse")
        sim = r["simulator"] + (f"/{r['backend']}" if "backend" in r else "")
        if r.get("drive") == "exact":
            sim += "*"
        if r.get("counters") is False:
            sim += "-"
        print(f"{r['tag']:<18}{sim:<14}{r.get('n_synapses', 0):>11}{r['sim_ms'] / 1000:>7.1f}{r['wall_s']:>9.3f}"
              f"{r['rate_hz']:>9.2f}{ev:>16.3g}{r['peak_rss_mb']:>13.0f}{'' if bps is None else f'{bps:.1f}':>7}"
              f"{ratio:>8.2f}x")
    for r in rows:
        if r.get("bytes_per_plastic_synapse"):
            print(f"{r['tag']}: {r['bytes_per_plastic_synapse']:.1f} bytes per plastic synapse (target, weight and "
                  "all plasticity state)")
    for tag in dict.fromkeys(r["tag"] for r in rows):
        on = [r["wall_s"] for r in rows if r["tag"] == tag and r.get("counters") is True]
        off = [r["wall_s"] for r in rows if r["tag"] == tag and r.get("counters") is False]
        if on and off:
            print(f"{tag}: energy counters cost {100.0 * (on[0] / off[0] - 1.0):+.1f} % of the simulation time "
                  f"({on[0]:.3f} s with, {off[0]:.3f} s without; '-' marks the run without counters)")


if __name__ == "__main__":
    if len(sys.argv) >= 6 and sys.argv[1] == "--side":
        kind, N, regime, T = sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
        backend = sys.argv[6] if len(sys.argv) > 6 and sys.argv[6] != "auto" else None
        drive = sys.argv[7] if len(sys.argv) > 7 else "grid"
        counters = (sys.argv[8] if len(sys.argv) > 8 else "on") == "on"
        stdp = len(sys.argv) > 9 and sys.argv[9] == "stdp"
        print(json.dumps(run_side(kind, N, regime, T, 12345, backend, drive, counters, stdp)))
    else:
        print(__doc__)
