"""Energy-complexity counters, NeuroBench-compatible metrics and energy estimates.

The kernels count while they simulate (exact integers, identical on every backend):
updates per neuron, deliveries per synapse group, Poisson-drive events, and the
neurons of every population that spiked at least once in each time bin
``[k w, (k + 1) w)`` (``w`` = ``Network(bin_width=...)``). Everything here is
derived from those counts after the run; see ``docs/energy.md`` for the
definitions and the sources of every per-operation cost.

Examples
--------
>>> import spikeengine as se
>>> net = se.Network(bin_width=1.0)
>>> src = net.spike_source([[0.0, 2.0], [0.0]], name="in")
>>> out = net.population(1, se.LIF(V_th=-69.0, E_L=-70.0, V_m=-70.0, V_reset=-70.0), name="out")
>>> _ = net.connect(src, out, weight=0.6, delay=1.0)
>>> net.run(5.0)
>>> r = net.energy_report()
>>> r.active_counts(inputs=True)[1].tolist()
[2, 1, 1, 0, 0]
>>> r.energy_sima(inputs=False), r.synops, r.activation_sparsity
(1, 3, 0.8)
"""

import json
import math

import numpy as np

from . import dtypes as dt
from ._atomic import atomic_write_text
from .errors import ParameterError

# ---------------------------------------------------------------- cost profiles
_COST_FIELDS = ("ac", "mac", "sop", "neuron_update", "synaptic_update")
_PJ = 1e-12


class EnergyProfile:
    """Energy per operation of a hardware target, in joules, each with its source.

    Parameters
    ----------
    name : str
    ac, mac : float, optional
        Accumulate (a spike arriving at a synapse: weight added) and multiply-accumulate
        (a real-valued input times a weight) energies, J. Used with the effective
        AC/MAC counts (digital CMOS estimates).
    sop : float, optional
        Energy per synaptic operation on neuromorphic hardware, J (used when ``ac`` is not given).
    neuron_update : float, optional
        Energy per neuron state update, J.
    synaptic_update : float, optional
        Energy per plastic weight update, J.
    clocked : bool
        True for hardware that updates every neuron at every step (Loihi, TrueNorth):
        neuron updates are then counted as a clock-driven engine at the bin width does.
    sources : dict, optional
        Citation per cost field.

    Examples
    --------
    >>> p = EnergyProfile("mine", ac=1e-12, mac=5e-12)
    >>> p.ac, p.clocked
    (1e-12, False)
    """

    def __init__(self, name, ac=None, mac=None, sop=None, neuron_update=None, synaptic_update=None, clocked=False,
                 sources=None):
        self.name = str(name)
        for field, v in zip(_COST_FIELDS, (ac, mac, sop, neuron_update, synaptic_update)):
            if v is not None:
                if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                        or not math.isfinite(v) or v < 0:
                    raise ParameterError(f"energy profile {self.name!r}: {field} = {v!r} must be a finite "
                                         "number of joules >= 0")
                v = float(v)
            setattr(self, field, v)
        if self.ac is None and self.sop is None:
            raise ParameterError(f"energy profile {self.name!r}: give a synaptic cost, 'ac' (with 'mac') or 'sop'")
        self.clocked = bool(clocked)
        self.sources = dict(sources or {})

    def to_dict(self):
        """Plain-dict form (costs in joules), as written into reports."""
        d = {"name": self.name, "clocked": self.clocked}
        d.update({f: getattr(self, f) for f in _COST_FIELDS if getattr(self, f) is not None})
        if self.sources:
            d["sources"] = dict(self.sources)
        return d

    def __repr__(self):
        costs = ", ".join(f"{f}={getattr(self, f) / _PJ:g} pJ" for f in _COST_FIELDS if getattr(self, f) is not None)
        return f"<EnergyProfile {self.name!r}: {costs}>"


_HOROWITZ = ("M. Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014: "
             "45 nm CMOS, 0.9 V, FP32 add 0.9 pJ, FP32 mult 3.7 pJ (MAC = 4.6 pJ); as used for SNN/ANN "
             "comparisons by Yin, Corradi & Bohte, Nature Machine Intelligence 3 (2021)")
_LOIHI = ("M. Davies et al., 'Loihi: a neuromorphic manycore processor with on-chip learning', IEEE Micro 38(1) "
          "(2018), Table 2 as widely quoted (minimum synaptic spike op 23.6 pJ, synaptic update 120 pJ, "
          "neuron update 52 pJ); not re-checked against the paper here")
_TRUENORTH = ("P. A. Merolla et al., 'A million spiking-neuron integrated circuit with a scalable communication "
              "network and interface', Science 345:668 (2014): 26 pJ per synaptic event")

#: built-in profiles (names accepted wherever a profile is asked for)
PROFILES = {
    "horowitz45nm_fp32": EnergyProfile("horowitz45nm_fp32", ac=0.9 * _PJ, mac=4.6 * _PJ,
                                       sources={"ac": _HOROWITZ, "mac": _HOROWITZ}),
    "loihi2018": EnergyProfile("loihi2018", sop=23.6 * _PJ, neuron_update=52.0 * _PJ, synaptic_update=120.0 * _PJ,
                               clocked=True, sources={"sop": _LOIHI, "neuron_update": _LOIHI,
                                                      "synaptic_update": _LOIHI}),
    "truenorth2014": EnergyProfile("truenorth2014", sop=26.0 * _PJ, clocked=True, sources={"sop": _TRUENORTH}),
}


def get_profile(profile):
    """An :class:`EnergyProfile` from a name in :data:`PROFILES`, a dict of costs, or a profile.

    Examples
    --------
    >>> get_profile("truenorth2014").sop
    2.6e-11
    >>> get_profile({"name": "x", "sop": 1e-11}).sop
    1e-11
    """
    if isinstance(profile, EnergyProfile):
        return profile
    if isinstance(profile, str):
        if profile not in PROFILES:
            raise ParameterError(f"unknown energy profile {profile!r}; known: {', '.join(sorted(PROFILES))} "
                                 "(or pass a dict / EnergyProfile of your own)")
        return PROFILES[profile]
    if isinstance(profile, dict):
        d = dict(profile)
        unknown = set(d) - set(_COST_FIELDS) - {"name", "clocked", "sources"}
        if unknown:
            raise ParameterError(f"energy profile: unknown field(s) {sorted(unknown)}; expected name, "
                                 f"{', '.join(_COST_FIELDS)}, clocked, sources")
        return EnergyProfile(d.pop("name", "user"), **d)
    raise ParameterError(f"energy profile must be a name, a dict or an EnergyProfile, got {type(profile).__name__}")


#: operations per neuron update, as NeuroBench counts them (its 'Leaky' = 4 for both resets); the others
#: count the multiply/add/compare steps of the same discrete update with their extra state variables
NEURON_OPS = {"LIF": 4, "LeakyIntegrator": 3, "LIFExp": 8, "ALIF": 7, "IF": 3, "Parrot": 1}


# ---------------------------------------------------------------- the report
def _group_locator(sim):
    """A function (global sources, delays) -> delay-group index of each synapse, for ``sim``'s CSR.

    The group keys are built once and shared by every projection's lookup.
    """
    gd = sim.g_delay
    if gd.size == 0 or np.all(gd == gd[0]):  # one delay: one group per source
        return lambda sources, delays: sim.g_ptr[sources]
    u = np.unique(gd)
    gkey = sim.g_src.astype(np.int64) * u.size + np.searchsorted(u, gd)
    return lambda sources, delays: np.searchsorted(gkey, np.asarray(sources, np.int64) * u.size
                                                   + np.searchsorted(u, delays))


class EnergyReport:
    """Counts and metrics of one run (since the last reset), with an energy estimate.

    Build it with :meth:`spikeengine.Network.energy_report`. Counts are exact integers;
    per-sample metrics (NeuroBench's normalisation) divide by ``samples``.

    Attributes
    ----------
    duration : float
        Simulated time, ms.
    bin_width : float
        Activity-bin width, ms; also the step of every clock-driven comparison.
    n_bins : int
        Bins covering the run, ceil(duration / bin_width).
    samples : int
    populations : list of dict
        name, size, model, input (True for spike / Poisson sources), spikes, updates,
        synops_out, effective_synops_out.
    projections : list of dict
        name, pre, post, synapses, synops, effective_synops, dense_weights (pre x post),
        zero_weights (absent or zero pairs), weight_updates, trace_updates.
    """

    def __init__(self):
        self.profile = None

    # ---------------------------------------------------------- construction
    @classmethod
    def from_simulator(cls, sim, profile="horowitz45nm_fp32", samples=1):
        """Collect the counts of ``sim`` (a :class:`spikeengine.simulator.Simulator`)."""
        if sim.bin_width <= 0:
            raise ParameterError("energy_report: this network was built with counters=False; build it with "
                                 "Network(counters=True) to count")
        if isinstance(samples, bool) or int(samples) != samples or samples < 1:
            raise ParameterError(f"energy_report: samples must be an integer >= 1, got {samples!r}")
        net = sim.net
        r = cls()
        r.duration = float(sim.t)
        r.bin_width = float(sim.bin_width)
        r.n_bins = max(0, math.ceil(r.duration / r.bin_width - 1e-9))
        r.samples = int(samples)
        r.backend = sim.backend.name
        c = sim.ctr
        r.spikes = int(c[dt.C_SPK])
        cnt = sim.counters()  # with the work of clocked populations
        r.synops = cnt["synaptic_events"]
        r.drive_events = int(c[dt.C_KICK])
        r.neuron_updates = cnt["neuron_updates"]
        steps = {}  # clocked populations: one update per neuron and step
        if sim.cosim is not None:
            for pop in net.populations:
                if getattr(pop.model, "clocked", False):
                    steps[pop.name] = sim.cosim.updates_of(pop)
        bins, counts = sim.active_table()
        r._bins, r._counts = bins.copy(), counts.copy()

        r.populations = []
        for pop in net.populations:
            sl = slice(pop.first, pop.first + pop.size)
            model = None if pop.model is None else type(pop.model).__name__
            r.populations.append({
                "name": pop.name, "size": pop.size, "model": model, "input": pop.source is not None,
                "spikes": int(sim.nspk[sl].sum()), "updates": steps.get(pop.name, int(sim.nupd[sl].sum())),
                "synops_out": 0, "effective_synops_out": 0})
        index = {pop.name: k for k, pop in enumerate(net.populations)}
        r.projections = []
        locate = _group_locator(sim)
        clocked = {id(q) for q in sim.cosim.projections} if sim.cosim is not None else set()
        for p in net.projections:
            if id(p) in clocked:  # delivered by the clocked domains: once per presynaptic spike
                grp = np.empty(0, np.int64)
                uses = sim.nspk[np.asarray(p.sources, np.int64) + p.pre.first]
            elif p.is_plastic:  # plastic synapses have delay groups of their own
                grp = np.searchsorted(sim.g_syn, sim._csr[id(p)], side="right") - 1
                uses = sim.g_cnt[grp]
            else:
                grp = locate(np.asarray(p.sources, np.int64) + p.pre.first, p.delays)
                uses = sim.g_cnt[grp]
            w = np.broadcast_to(np.asarray(p.weights, np.float64), uses.shape)
            nz = w != 0
            if len(p):  # the dense matrix NeuroBench sees: multapses summed per (pre, post) pair
                key = np.asarray(p.sources, np.int64) * p.post.size + np.asarray(p.targets, np.int64)
                uk, inv = np.unique(key, return_inverse=True)
                pair_w = np.zeros(uk.size)
                np.add.at(pair_w, inv, w)
                nonzero_pairs = int(np.count_nonzero(pair_w))
            else:
                nonzero_pairs = 0
            dense = p.pre.size * p.post.size
            proj = {"name": p.name, "pre": p.pre.name, "post": p.post.name, "synapses": len(p),
                    "synops": int(uses.sum()), "effective_synops": int(uses[nz].sum()),
                    "dense_weights": dense, "zero_weights": dense - nonzero_pairs,
                    "weight_updates": int(uses.sum()) if p.is_plastic else 0,
                    "trace_updates": int(sim.g_cnt[np.unique(grp)].sum()) if p.is_plastic else 0}
            r.projections.append(proj)
            pp = r.populations[index[p.pre.name]]
            pp["synops_out"] += proj["synops"]
            pp["effective_synops_out"] += proj["effective_synops"]
        r.footprint = {
            "synapses": int(sim.syn_tgt.nbytes + sim.syn_w.nbytes),
            "delay_groups": int(sim.g_src.nbytes + sim.g_delay.nbytes + sim.g_syn.nbytes + sim.g_ptr.nbytes),
            "neuron_parameters": int(sim.P.nbytes + sim.kinds.nbytes),
            "neuron_state": int(sim.S.nbytes + sim.rng.nbytes + sim.nspk.nbytes),
            "event_queue": int(sim.h_t.nbytes + sim.h_g.nbytes),
            "input_drive": int(sum(a.nbytes for a in (sim.d_ptr, sim.d_rate, sim.d_dt, sim.d_w, sim.d_next,
                                                      sim.d_rng))),
            "source_spikes": int(sim.src_t.nbytes + sim.src_id.nbytes),
            "plasticity_traces": int(sim.plasticity_bytes()),
            "counters": int(sim.nupd.nbytes + sim.g_cnt.nbytes + sim.lbin.nbytes + sim.npop.nbytes),
        }
        r.footprint["total"] = sum(r.footprint.values())
        r.profile = get_profile(profile)
        return r

    # ------------------------------------------------------- Šíma's energy
    def _columns(self, inputs, population):
        if population is not None:
            names = [p["name"] for p in self.populations]
            if population not in names:
                raise ParameterError(f"energy report: no population named {population!r}; have {names}")
            return [names.index(population)]
        return [k for k, p in enumerate(self.populations) if inputs or not p["input"]]

    def active_counts(self, inputs=False, population=None):
        """Active neurons per bin over the whole run: (bin start times in ms, counts).

        Parameters
        ----------
        inputs : bool
            Count the input populations (spike and Poisson sources) too.
        population : str, optional
            Only this population.
        """
        cols = self._columns(inputs, population)
        n = self.n_bins
        if self._bins.size:
            n = max(n, int(self._bins[-1]) + 1)
        out = np.zeros(n, np.int64)
        if self._bins.size:
            out[self._bins] = self._counts[:, cols].sum(axis=1)
        return np.arange(n) * self.bin_width, out

    def energy_sima(self, inputs=False, population=None):
        """Šíma's energy: the maximum over bins of the number of active neurons."""
        cols = self._columns(inputs, population)
        return int(self._counts[:, cols].sum(axis=1).max()) if self._bins.size else 0

    def energy_total(self, inputs=False, population=None):
        """Sum over bins of the active neurons (spikes, a neuron's repeats within one bin counted once)."""
        cols = self._columns(inputs, population)
        return int(self._counts[:, cols].sum())

    def energy_mean(self, inputs=False, population=None):
        """Mean over the run's bins of the active neurons."""
        return self.energy_total(inputs, population) / self.n_bins if self.n_bins else 0.0

    # ------------------------------------------------------ NeuroBench metrics
    @property
    def network_neurons(self):
        """Neurons outside the input populations."""
        return sum(p["size"] for p in self.populations if not p["input"])

    @property
    def effective_acs(self):
        """Effective accumulates per sample: delivered spikes times non-zero fan-out, plus drive events."""
        return (sum(p["effective_synops"] for p in self.projections) + self.drive_events) / self.samples

    @property
    def effective_macs(self):
        """Effective multiply-accumulates per sample: 0, every input here is a spike (currents are not synaptic)."""
        return 0.0

    @property
    def dense_sops(self):
        """Dense synaptic operations per sample: every weight-matrix entry at every step (bin)."""
        return sum(p["dense_weights"] for p in self.projections) * self.n_bins / self.samples

    @property
    def activation_sparsity(self):
        """1 - (neuron-steps with a spike) / (neurons x steps), over the network's own neurons."""
        n = self.network_neurons * self.n_bins
        return 1.0 - self.energy_total(inputs=False) / n if n else 0.0

    @property
    def connection_sparsity(self):
        """Zero or absent weights / all pre x post pairs, over all projections."""
        dense = sum(p["dense_weights"] for p in self.projections)
        return sum(p["zero_weights"] for p in self.projections) / dense if dense else 0.0

    @property
    def membrane_updates(self):
        """Neuron state updates performed per sample (the engine's lazy advances)."""
        return self.neuron_updates / self.samples

    @property
    def clocked_updates(self):
        """Neuron updates a clock-driven engine at the bin width would do, per sample."""
        return self.network_neurons * self.n_bins / self.samples

    @property
    def neuron_ops(self):
        """Membrane updates times operations per update (:data:`NEURON_OPS`), per sample."""
        return sum(p["updates"] * NEURON_OPS.get(p["model"], 4) for p in self.populations
                   if not p["input"]) / self.samples

    def neurobench(self):
        """The NeuroBench-compatible metrics as a dict (per sample where NeuroBench normalises)."""
        return {"effective_acs": self.effective_acs, "effective_macs": self.effective_macs,
                "dense_sops": self.dense_sops, "activation_sparsity": self.activation_sparsity,
                "connection_sparsity": self.connection_sparsity, "footprint_bytes": self.footprint["total"],
                "membrane_updates": self.membrane_updates, "neuron_ops": self.neuron_ops}

    # -------------------------------------------------------- energy estimate
    def estimate(self, profile=None):
        """Energy of the run under a cost profile, next to a dense clock-driven equivalent.

        Returns a dict of joules: ``synaptic``, ``neuron``, ``plasticity``, ``total``,
        ``per_inference``, ``per_second`` (per simulated second, i.e. watts), and
        ``dense_equivalent`` (every weight at every step as a MAC, or an SOP where the
        profile has no MAC cost, plus a neuron update per neuron and step where the
        profile prices updates), with ``ratio`` = dense_equivalent / total.
        """
        pr = self.profile if profile is None else get_profile(profile)
        s = self.samples
        if pr.ac is not None:
            syn = self.effective_acs * s * pr.ac + self.effective_macs * s * (pr.mac or 0.0)
        else:
            syn = (self.synops + self.drive_events) * pr.sop
        upd = self.clocked_updates * s if pr.clocked else self.neuron_updates
        neuron = upd * (pr.neuron_update or 0.0)
        plastic = sum(p["weight_updates"] for p in self.projections) * (pr.synaptic_update or 0.0)
        total = syn + neuron + plastic
        per_op = pr.mac if pr.mac is not None else (pr.sop if pr.sop is not None else pr.ac)
        dense = self.dense_sops * s * per_op + self.clocked_updates * s * (pr.neuron_update or 0.0)
        seconds = self.duration / 1000.0
        return {"profile": pr.name, "synaptic": syn, "neuron": neuron, "plasticity": plastic, "total": total,
                "per_inference": total / s, "per_second": total / seconds if seconds > 0 else 0.0,
                "dense_equivalent": dense, "ratio": dense / total if total > 0 else math.inf}

    # ------------------------------------------------------------- outputs
    def to_dict(self):
        """Everything as JSON-ready built-in types (activity bins sparse: only bins with spikes)."""
        net_cols = [k for k, p in enumerate(self.populations) if not p["input"]]
        return {
            "format": "spikeengine-energy-report", "version": 1,
            "duration_ms": self.duration, "bin_width_ms": self.bin_width, "n_bins": self.n_bins,
            "samples": self.samples, "backend": self.backend,
            "counts": {"spikes": self.spikes, "synops": self.synops, "drive_events": self.drive_events,
                       "neuron_updates": self.neuron_updates, "clocked_neuron_updates": self.clocked_updates
                       * self.samples},
            "energy_complexity": {
                scope: {"energy_sima": self.energy_sima(inputs=inc), "energy_total": self.energy_total(inputs=inc),
                        "energy_mean": self.energy_mean(inputs=inc)}
                for scope, inc in (("network", False), ("with_inputs", True))},
            "activity_bins": {"bin": self._bins.tolist(),
                              "network": self._counts[:, net_cols].sum(axis=1).tolist(),
                              "per_population": {p["name"]: self._counts[:, k].tolist()
                                                 for k, p in enumerate(self.populations)}},
            "populations": self.populations, "projections": self.projections,
            "neurobench": self.neurobench(), "footprint_bytes": self.footprint,
            "profile": self.profile.to_dict(), "estimate": self.estimate(),
        }

    def to_json(self, path):
        """Write :meth:`to_dict` as JSON to ``path`` (atomically: temporary file, then rename)."""
        d = self.to_dict()
        if math.isinf(d["estimate"]["ratio"]):
            d["estimate"]["ratio"] = None
        atomic_write_text(path, json.dumps(d, indent=1) + "\n")

    def summary(self):
        """A few lines of text: counts, Šíma's energy, NeuroBench metrics, the estimate."""
        e = self.estimate()
        lines = [
            f"energy report: {self.duration:g} ms, bins of {self.bin_width:g} ms, backend {self.backend}",
            f"  spikes {self.spikes}, synaptic ops {self.synops} (+{self.drive_events} drive events), "
            f"neuron updates {self.neuron_updates} (a {self.bin_width:g} ms clock: {int(self.clocked_updates)})",
            f"  Sima energy (max active per bin): {self.energy_sima()} network, "
            f"{self.energy_sima(inputs=True)} with inputs; mean {self.energy_mean():.3g}",
            f"  NeuroBench: effective ACs {self.effective_acs:.6g}, dense SOPs {self.dense_sops:.6g}, activation "
            f"sparsity {self.activation_sparsity:.4f}, connection sparsity {self.connection_sparsity:.4f}, "
            f"footprint {self.footprint['total']} B",
            f"  estimate ({e['profile']}): {e['total']:.3g} J ({e['per_second']:.3g} W), dense clock-driven "
            f"equivalent {e['dense_equivalent']:.3g} J ({e['ratio']:.3g}x)",
        ]
        return "\n".join(lines)

    def __str__(self):
        return self.summary()

    def __repr__(self):
        return f"<EnergyReport: {self.duration:g} ms, {self.spikes} spikes, {self.synops} synops>"

    def plot(self, path=None, profiles=("horowitz45nm_fp32", "loihi2018", "truenorth2014")):
        """Active neurons over time, spikes and SynOps per population, energy per profile.

        Needs matplotlib (``pip install spikeengine[plot]``). Saves to ``path`` when given;
        returns the figure.
        """
        try:
            import matplotlib

            if path is not None:
                matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ParameterError("EnergyReport.plot needs matplotlib: pip install 'spikeengine[plot]'") from exc
        fig, ax = plt.subplots(1, 3, figsize=(14, 3.8))
        t, a_net = self.active_counts(inputs=False)
        _, a_all = self.active_counts(inputs=True)
        ax[0].step(t, a_all, where="post", label="with inputs", color="0.6")
        ax[0].step(t, a_net, where="post", label="network")
        ax[0].set(xlabel="time (ms)", ylabel=f"active neurons per {self.bin_width:g} ms",
                  title=f"Sima energy {self.energy_sima()} (network)")
        ax[0].legend()
        names = [p["name"] for p in self.populations]
        x = np.arange(len(names))
        ax[1].bar(x - 0.2, [p["spikes"] for p in self.populations], 0.4, label="spikes")
        ax[1].bar(x + 0.2, [p["synops_out"] for p in self.populations], 0.4, label="SynOps (outgoing)")
        ax[1].set_xticks(x, names, rotation=30)
        ax[1].set_yscale("symlog")
        ax[1].legend()
        ax[1].set_title("per population")
        est = [self.estimate(p) for p in profiles]
        xs = np.arange(len(est))
        ax[2].bar(xs - 0.2, [e["total"] for e in est], 0.4, label="this run")
        ax[2].bar(xs + 0.2, [e["dense_equivalent"] for e in est], 0.4, label="dense clock-driven")
        ax[2].set_xticks(xs, [e["profile"] for e in est], rotation=15)
        ax[2].set_yscale("log")
        ax[2].set_ylabel("J")
        ax[2].legend()
        ax[2].set_title("energy estimate")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
        return fig


def max_over_runs(reports, inputs=False):
    """Šíma's energy complexity over a batch of runs: the maximum of their per-run values.

    Examples
    --------
    >>> max_over_runs([])
    0
    """
    return max((r.energy_sima(inputs=inputs) for r in reports), default=0)


__all__ = ["EnergyProfile", "EnergyReport", "PROFILES", "NEURON_OPS", "get_profile", "max_over_runs"]
