"""The nouns users know: :class:`Network`, :class:`Population`, :class:`Projection`.

A network is built in Python (validated here), compiled once into flat arrays
(:mod:`spikeengine.simulator`) and run by a kernel backend.
"""

import math

import numpy as np

from .connectors import FixedInDegree, FixedProbability, FromArrays, make_connector
from .errors import NetworkError, ParameterError
from .models import make_model

_INF = math.inf


def _label(pop):
    return f"population {pop.name!r}"


def _per_unit(value, n, what):
    """``value`` as a float64 array of length ``n`` (a scalar is repeated)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise ParameterError(f"{what} has shape {arr.shape}; expected a scalar or ({n},)")
    return arr.copy()


class Population:
    """A group of neurons sharing a model (per-neuron parameter values allowed).

    Created by :meth:`Network.population`, :meth:`Network.spike_source` or
    :meth:`Network.poisson_source`; not directly.

    Attributes
    ----------
    name : str
    size : int
    model : NeuronModel or None
        None for spike sources.
    first : int
        Global index of the first neuron (populations occupy consecutive indices).
    """

    def __init__(self, net, name, size, model, first, source=None):
        self.net = net
        self.name = name
        self.size = int(size)
        self.model = model
        self.first = first
        self.source = source  # ('array', times list) | ('poisson', rates)
        self.poisson_inputs = []
        self._record_spikes = False
        self._samplers = []

    def __len__(self):
        return self.size

    def __repr__(self):
        what = self.source[0] if self.source else type(self.model).__name__
        return f"<Population {self.name!r}: {self.size} x {what}>"

    @property
    def is_source(self):
        """True for spike sources (explicit times or Poisson)."""
        return self.source is not None

    # ---------------------------------------------------------------- inputs
    def add_poisson_input(self, rate, weight, dt=None):
        """Drive every neuron with its own Poisson spike train (Brian2 ``PoissonInput``).

        The kicks are generated lazily per neuron inside the kernel, never queued,
        from a random stream keyed by (network seed, neuron, drive).

        Parameters
        ----------
        rate : float or array
            Total rate of the train per neuron, Hz (e.g. ``C_ext * nu_ext``).
        weight : float or array
            Jump per kick, in the model's weight unit (mV for delta, pA for current synapses).
        dt : float, optional
            None (default): a continuous Poisson process, kicks at exact random times.
            A step in ms: at every ``k * dt`` (k >= 1) each neuron receives
            ``m ~ Poisson(rate * dt)`` kicks at once (one input of ``m * weight``), which
            is what NEST's ``poisson_generator`` at resolution ``dt`` and Brian2's
            ``PoissonInput`` deliver. Needs ``rate * dt <= 30``. Grid kicks are summed
            with other inputs arriving at the same instant.

        Examples
        --------
        >>> import spikeengine as se
        >>> net = se.Network(seed=1)
        >>> pop = net.population(10, se.LIF(E_L=0.0, V_m=0.0, V_th=20.0, V_reset=10.0, C_m=1.0, tau_m=20.0))
        >>> pop.add_poisson_input(rate=20000.0, weight=0.1)
        """
        self.net._check_mutable()
        from .dtypes import KIND_PARROT

        if self.is_source or self.model.kind == KIND_PARROT:
            raise NetworkError(f"{_label(self)}: Poisson input needs an integrating neuron model")
        if getattr(self.model, "clocked", False):
            raise NetworkError(f"clocked {_label(self)}: per-neuron Poisson drives are event-driven; connect a "
                               "net.poisson_source(...) to it instead")
        rate = _per_unit(rate, self.size, f"{_label(self)}: Poisson input rate")
        weight = _per_unit(weight, self.size, f"{_label(self)}: Poisson input weight")
        if not np.all(np.isfinite(rate)) or (rate < 0).any():
            raise ParameterError(f"{_label(self)}: Poisson input rate must be finite and >= 0 Hz")
        if not np.all(np.isfinite(weight)):
            raise ParameterError(f"{_label(self)}: Poisson input weight must be finite")
        if dt is not None:
            if not (isinstance(dt, (int, float, np.floating)) and math.isfinite(dt) and dt > 0):
                raise ParameterError(f"{_label(self)}: Poisson input dt must be None or a step > 0 ms, got {dt!r}")
            if (rate * dt / 1000.0).max(initial=0.0) > 30.0:
                raise ParameterError(f"{_label(self)}: Poisson input rate * dt = {(rate * dt / 1000.0).max():g} "
                                     "kicks per step exceeds 30; use a smaller dt or the continuous input")
        self.poisson_inputs.append((rate, weight, 0.0 if dt is None else float(dt)))

    # ------------------------------------------------------------- recording
    def record(self, what="spikes", interval=None, times=None, ids=None):
        """Record spikes, or sample a state variable.

        Parameters
        ----------
        what : str
            ``"spikes"`` or a state variable (``"V_m"``, ``"I_syn_ex"``, ``"I_syn_in"``, ``"a"``).
        interval : float, optional
            Sampling interval in ms (samples at 0, interval, 2*interval, ...).
        times : array, optional
            Explicit sample times in ms (instead of ``interval``).
        ids : array of int, optional
            Local indices of the neurons to sample (default: all).

        Notes
        -----
        A sample at ``t`` is the state just before any event at exactly ``t``.

        Examples
        --------
        >>> import spikeengine as se
        >>> net = se.Network()
        >>> pop = net.population(2, se.LIF())
        >>> pop.record("spikes"); pop.record("V_m", interval=1.0)
        """
        from .dtypes import VAR_CODES

        self.net._check_mutable()
        if what == "spikes":
            self._record_spikes = True
            return
        if self.is_source or what not in VAR_CODES or what not in self.model.state_vars:
            allowed = () if self.is_source else self.model.state_vars
            if getattr(self.model, "clocked", False) and not allowed:
                raise ParameterError(f"clocked {_label(self)}: cannot record {what!r}; it records spikes only (an "
                                     "e-prop block's readouts and voltages are in block.last_run)")
            raise ParameterError(f"{_label(self)}: cannot record {what!r}; recordable: spikes, {', '.join(allowed)}")
        if (interval is None) == (times is None):
            raise ParameterError(f"{_label(self)}: give exactly one of interval or times to record {what!r}")
        if interval is not None and not (interval > 0 and math.isfinite(interval)):
            raise ParameterError(f"{_label(self)}: recording interval must be > 0 ms, got {interval!r}")
        if times is not None:
            times = np.asarray(times, dtype=np.float64).ravel()
            if not np.all(np.isfinite(times)) or (times < 0).any() or (np.diff(times) <= 0).any():
                raise ParameterError(f"{_label(self)}: sample times must be finite, >= 0 and increasing")
        ids = np.arange(self.size) if ids is None else np.asarray(ids, dtype=np.int64).ravel()
        if ids.size and (ids.min() < 0 or ids.max() >= self.size):
            raise ParameterError(f"{_label(self)}: sample ids out of range [0, {self.size})")
        self._samplers.append({"var": what, "interval": interval, "times": times, "ids": ids})

    @property
    def spikes(self):
        """Recorded spikes as ``(times, ids)``: ms and local indices, sorted by (time, id)."""
        return self.net._sim.spikes_of(self)

    def get_data(self, what="V_m"):
        """Sampled state: ``(times, values, ids)`` with ``values[k, c]`` for neuron ``ids[c]``.

        Examples
        --------
        >>> import spikeengine as se
        >>> net = se.Network()
        >>> pop = net.population(1, se.LIF(I_e=0.0))
        >>> pop.record("V_m", interval=1.0)
        >>> net.run(3.0)
        >>> pop.get_data("V_m")[1][:, 0].tolist()
        [-70.0, -70.0, -70.0]
        """
        return self.net._sim.samples_of(self, what)

    @property
    def spike_counts(self):
        """Spikes emitted per neuron since the last reset (int64 array)."""
        return self.net._sim.counts_of(self)

    def rate(self):
        """Mean firing rate of the population over the simulated time, in Hz."""
        t = self.net.t
        return float(self.spike_counts.sum()) / self.size / (t / 1000.0) if t > 0 and self.size else 0.0


class Projection:
    """Synapses from one population to another, with per-synapse weight and delay.

    Attributes
    ----------
    pre, post : Population
    sources, targets : ndarray of int
        Local indices of each synapse's source and target.
    delays : ndarray of float
        Per-synapse delays, ms.
    plasticity : PlasticityRule or None
        The rule changing the weights on spike events (``connect(..., plasticity=...)``).
    """

    def __init__(self, pre, post, sources, targets, weights, delays, name, plasticity=None):
        self.pre = pre
        self.post = post
        self.sources = sources
        self.targets = targets
        self._weights = weights
        self.delays = delays
        self.name = name
        self.plasticity = plasticity
        self._wrec = None  # weight recording: None, {"mode": "events"} or {"mode": "samples", ...}
        self._plateaus = []  # BTSP: (times, ids[, durations]) as given to add_plateaus
        self._gate = None  # BTSP: dendritic-threshold plateaus from a top-down population (plateaus_from)

    def __len__(self):
        return self.sources.size

    def __repr__(self):
        rule = f", {type(self.plasticity).__name__}" if self.plasticity is not None else ""
        return f"<Projection {self.name!r}: {self.pre.name} -> {self.post.name}, {len(self)} synapses{rule}>"

    @property
    def is_plastic(self):
        """True when a plasticity rule changes this projection's weights."""
        return self.plasticity is not None

    @property
    def weights(self):
        """Per-synapse weights: for a plastic projection after a run, the current (learned) values.

        Setting them replaces the weights (also the values :meth:`Network.reset` returns to); after a
        run only plastic projections can be changed.
        """
        sim = self.pre.net._sim
        if self.plasticity is not None and sim is not None:
            return sim.weights_of(self)
        return self._weights

    @weights.setter
    def weights(self, value):
        label = f"projection {self.name!r}"
        arr = _syn_values(value, len(self), "weight", label, None)
        if self.plasticity is not None and hasattr(self.plasticity, "check_weights"):
            self.plasticity.check_weights(arr, label)
        sim = self.pre.net._sim
        if sim is not None:
            if self.plasticity is None:
                raise NetworkError(f"{label}: the weights of a static projection are fixed once the network has "
                                   "been simulated (make it plastic, or build a new Network)")
            sim.set_weights(self, arr)
        self._weights = np.array(arr, dtype=np.float64)

    def add_plateaus(self, times, ids, durations=None):
        """BTSP: plateau potentials (the instructive events) of postsynaptic neurons of this projection.

        Parameters
        ----------
        times : array of float
            Plateau onsets, ms (increasing per neuron, not before the current time).
        ids : array of int
            Local index of the postsynaptic neuron of each plateau.
        durations : float or array, optional
            Plateau durations, ms (default: the rule's ``plateau_duration``, 300 ms).

        Examples
        --------
        >>> import numpy as np
        >>> import spikeengine as se
        >>> net = se.Network()
        >>> burst = lambda a: np.arange(a, a + 1000.0, 25.0)   # 1 s at 40 Hz
        >>> inp = net.spike_source([burst(0.0), burst(8000.0)], name="inputs")
        >>> ca1 = net.population(1, se.LIF(), name="ca1")
        >>> proj = net.connect(inp, ca1, "all_to_all", weight=1.0, plasticity=se.BTSP())
        >>> proj.add_plateaus([1000.0], [0])    # a plateau right after input 0's burst
        >>> net.run(10000.0)
        >>> proj.weights.round(2).tolist()      # input 0 potentiated; input 1, seconds later, untouched
        [2.17, 1.0]
        """
        from .btsp import BTSP

        label = f"projection {self.name!r}"
        if not isinstance(self.plasticity, BTSP):
            raise ParameterError(f"{label}: plateaus drive BTSP; this projection's rule is {self.plasticity!r}")
        times = np.asarray(times, dtype=np.float64).ravel()
        ids = np.asarray(ids, dtype=np.int64).ravel()
        if times.shape != ids.shape:
            raise ParameterError(f"{label}: add_plateaus got {times.size} times and {ids.size} ids")
        if ids.size and (ids.min() < 0 or ids.max() >= self.post.size):
            bad = int(ids[(ids < 0) | (ids >= self.post.size)][0])
            raise ParameterError(f"{label}: plateau neuron {bad} out of range [0, {self.post.size}) of population "
                                 f"{self.post.name!r}")
        if not np.all(np.isfinite(times)) or (times < 0).any():
            i = int(np.flatnonzero(~(np.isfinite(times) & (times >= 0)))[0])
            raise ParameterError(f"{label}: plateau time {float(times[i])!r} (times[{i}], neuron {int(ids[i])}) "
                                 "must be finite and >= 0 ms")
        last = {}
        for tt, ii, *_ in self._plateaus:
            for a, b in zip(tt, ii):
                last[int(b)] = max(last.get(int(b), -np.inf), float(a))
        for i, (a, b) in enumerate(zip(times, ids)):
            if a <= last.get(int(b), -np.inf):
                raise ParameterError(f"{label}: plateau onsets of neuron {int(b)} must increase: {float(a)!r} ms "
                                     f"(times[{i}]) is not after {last[int(b)]!r} ms")
            last[int(b)] = float(a)
        sim = self.pre.net._sim
        if sim is not None:
            try:
                sim.add_plateaus(self, times, ids, durations)
            except ParameterError as err:
                raise ParameterError(f"{label}: {err}") from None
        self._plateaus.append((times, ids) if durations is None else (times, ids, durations))

    def plateaus_from(self, topdown, rule="one_to_one", weight=1.0, delay=1.0, threshold=1.0, tau=20.0,
                      pause=500.0):
        """BTSP: plateaus from a dendritic threshold on a top-down input (the multi-layer gating of
        Galloni et al. 2025).

        Spikes of ``topdown`` reach a dendritic compartment of each postsynaptic neuron (not its soma)
        through the connectivity ``rule`` with ``weight`` and ``delay``. The dendritic state D decays
        with ``tau`` and sums the weights of the spikes arriving together; when D reaches ``threshold``
        the neuron starts a plateau (the rule's ``plateau_duration``), unless one is running or ended
        less than ``pause`` ms ago.

        Parameters
        ----------
        topdown : Population
            The top-down (instructive) population, e.g. a teacher spike source or a higher layer.
        rule : str, dict or Connector
            Connectivity topdown -> this projection's targets (as in :meth:`Network.connect`).
        weight : float or array
            Dendritic weight per top-down synapse.
        delay : float
            Top-down delay, ms (> 0).
        threshold, tau, pause : float
            Dendritic threshold, its decay time constant (ms) and the pause after a plateau (ms).

        Examples
        --------
        >>> import numpy as np
        >>> import spikeengine as se
        >>> net = se.Network()
        >>> inp = net.spike_source([np.arange(0.0, 1000.0, 25.0)], name="inputs")
        >>> ca1 = net.population(1, se.LIF(), name="ca1")
        >>> teacher = net.spike_source([[990.0, 995.0]], name="teacher")
        >>> proj = net.connect(inp, ca1, weight=1.0, plasticity=se.BTSP())
        >>> proj.plateaus_from(teacher, weight=0.6, threshold=1.0)   # two spikes in 5 ms: one plateau
        >>> net.run(10000.0)
        >>> proj.plateau_onsets().tolist(), round(float(proj.weights[0]), 2)
        ([996.0], 2.17)
        """
        from .btsp import BTSP

        self.pre.net._check_mutable()
        label = f"projection {self.name!r}"
        if not isinstance(self.plasticity, BTSP):
            raise ParameterError(f"{label}: plateaus drive BTSP; this projection's rule is {self.plasticity!r}")
        if not isinstance(topdown, Population) or topdown.net is not self.pre.net:
            raise NetworkError(f"{label}: plateaus_from needs a population of this network, got {topdown!r}")
        for nm, v, lo in (("threshold", threshold, None), ("tau", tau, 0.0), ("pause", pause, -1.0),
                          ("delay", delay, 0.0)):
            ok = isinstance(v, (int, float, np.integer, np.floating)) and math.isfinite(v)
            if not ok or (lo is not None and not v > lo) or (nm == "pause" and v < 0):
                raise ParameterError(f"{label}: plateaus_from {nm} must be a finite number"
                                     f"{'' if lo is None else ' > 0' if nm != 'pause' else ' >= 0'}, got {v!r}")
        conn = make_connector(rule)
        rng = np.random.default_rng(np.random.SeedSequence([self.pre.net.seed, 3, len(self.pre.net.projections)]))
        s, t = conn.pairs(topdown.size, self.post.size, rng, f"{label} top-down")
        w = _syn_values(weight, s.size, "weight", f"{label} top-down", rng)
        order = np.argsort(s, kind="stable")  # synapses by source: a spike's synapses are one slice
        self._gate = {"pop": topdown, "sources": s[order], "targets": t[order],
                      "weights": np.array(w, np.float64)[order], "delay": float(delay),
                      "threshold": float(threshold), "tau": float(tau), "pause": float(pause)}

    def plateau_onsets(self):
        """BTSP: every plateau onset so far, ms (given ones and those from a dendritic threshold), sorted."""
        sim = self.pre.net._sim
        if sim is None or id(self) not in getattr(sim, "_btsp", {}):
            return np.sort(np.concatenate([pl[0] for pl in self._plateaus])) if self._plateaus else np.empty(0)
        return sim.plateau_onsets_of(self)

    def record_weights(self, interval=None, ids=None):
        """Record the weights: every update (like NEST's ``weight_recorder``) or sampled.

        Parameters
        ----------
        interval : float, optional
            None (default): every weight update, as (presynaptic spike time, synapse, new weight)
            events (:meth:`weight_history`). A step in ms: the weights of ``ids`` sampled at 0,
            interval, 2 interval, ... (:meth:`weight_samples`); a sample at ``t`` is the value
            just before the events at ``t``.
        ids : array of int, optional
            Synapses (indices into this projection) to sample; default all.

        Examples
        --------
        >>> import spikeengine as se
        >>> net = se.Network()
        >>> pre = net.spike_source([[1.0, 30.0]]); post = net.spike_source([[5.0]])
        >>> proj = net.connect(pre, post, "one_to_one", weight=10.0, plasticity=se.STDP(mu_plus=0.0, mu_minus=0.0))
        >>> proj.record_weights()
        >>> net.run(50.0)
        >>> times, syn, w = proj.weight_history()
        >>> times.tolist(), syn.tolist(), (w - 10.0).round(4).tolist()  # +exp(-5/20) - exp(-24/20) at t = 30
        ([1.0, 30.0], [0, 0], [0.0, 0.4776])
        """
        self.pre.net._check_mutable()
        label = f"projection {self.name!r}"
        if self.plasticity is None:
            raise ParameterError(f"{label}: only plastic projections change their weights; nothing to record")
        if interval is None:
            if ids is not None:
                raise ParameterError(f"{label}: ids select synapses of sampled recordings; give an interval too")
            self._wrec = {"mode": "events"}
            return
        if not (isinstance(interval, (int, float, np.integer, np.floating)) and math.isfinite(interval)
                and interval > 0):
            raise ParameterError(f"{label}: weight recording interval must be a number of ms > 0, got {interval!r}")
        ids = np.arange(len(self)) if ids is None else np.asarray(ids, dtype=np.int64).ravel()
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            bad = int(ids[(ids < 0) | (ids >= len(self))][0])
            raise ParameterError(f"{label}: synapse id {bad} out of range [0, {len(self)})")
        self._wrec = {"mode": "samples", "interval": float(interval), "ids": ids}

    def weight_history(self):
        """Every recorded weight update: ``(times, synapses, weights)``.

        ``times`` are the presynaptic spike times (ms) whose arrival caused the update, ``synapses``
        indices into this projection, ``weights`` the values after the update, in the order applied.
        """
        if self._wrec is None or self._wrec["mode"] != "events":
            raise ParameterError(f"projection {self.name!r}: weight updates were not recorded "
                                 "(call record_weights() before running)")
        sim = self.pre.net._sim
        if sim is None:
            return np.empty(0), np.empty(0, np.int64), np.empty(0)
        return sim.weight_events_of(self)

    def weight_samples(self):
        """Sampled weights: ``(times, values[n_times, n_ids], ids)``."""
        if self._wrec is None or self._wrec["mode"] != "samples":
            raise ParameterError(f"projection {self.name!r}: weights were not sampled "
                                 "(call record_weights(interval=...) before running)")
        sim = self.pre.net._sim
        ids = self._wrec["ids"]
        if sim is None:
            return np.empty(0), np.empty((0, ids.size)), ids.copy()
        return sim.weight_samples_of(self)


def _syn_values(value, n, what, label, rng):
    """Per-synapse weights or delays as a float64 array of length ``n``; a scalar becomes a read-only
    broadcast view (no memory per synapse)."""
    if callable(value):
        if rng is None:
            rng = np.random.default_rng()
        value = value(n, rng)
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.broadcast_to(arr, (n,))
    elif arr.shape != (n,):
        raise NetworkError(f"{label}: {what} has shape {arr.shape}, expected a scalar or ({n},) for {n} synapses")
    bad = ~np.isfinite(arr)
    if what == "delay":
        bad |= ~(arr > 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        need = "finite and > 0 ms" if what == "delay" else "finite"
        raise NetworkError(f"{label}: {what} of synapse {i} is {float(arr[i])!r}; must be {need}")
    return arr


class Network:
    """A spiking network: populations, projections, recorders and a clock.

    Parameters
    ----------
    seed : int, optional
        Seeds connectivity draws and every random stream (Poisson sources and inputs).
        Results do not depend on the backend.
    backend : str, optional
        ``"cython"``, ``"numba"`` or ``"python"``; default: the best available
        (``SPIKEENGINE_BACKEND`` overrides).
    counters : bool
        Keep the energy-complexity counters (updates per neuron, deliveries per synapse
        group, active neurons per time bin; see :meth:`energy_report`). Default True;
        False saves their small cost (``docs/energy.md``).
    bin_width : float
        Width of the activity bins, ms (default 0.1, NEST's default resolution): Šíma's
        energy is the maximum number of neurons active in one bin, and clock-driven
        comparisons use this step.

    Examples
    --------
    >>> import spikeengine as se
    >>> net = se.Network(seed=1)
    >>> src = net.spike_source([[1.0, 2.0], [1.5]], name="in")
    >>> pop = net.population(1, se.LIF(E_L=0.0, V_m=0.0, V_th=1.0, V_reset=0.0, tau_m=10.0, C_m=1.0))
    >>> _ = net.connect(src, pop, "all_to_all", weight=0.6, delay=1.0)
    >>> pop.record("spikes")
    >>> net.run(10.0)
    >>> pop.spikes[0].round(3).tolist()
    [2.5]
    """

    def __init__(self, seed=None, backend=None, counters=True, bin_width=0.1):
        if seed is None:
            seed = 0
        if int(seed) != seed or seed < 0:
            raise ParameterError(f"seed must be a non-negative integer, got {seed!r}")
        if not isinstance(counters, (bool, np.bool_)):
            raise ParameterError(f"counters must be True or False, got {counters!r}")
        if not (isinstance(bin_width, (int, float, np.integer, np.floating)) and math.isfinite(bin_width)
                and bin_width > 0):
            raise ParameterError(f"bin_width must be a finite number of ms > 0, got {bin_width!r}")
        self.counters_enabled = bool(counters)
        self.bin_width = float(bin_width)
        self.seed = int(seed)
        self.backend_name = backend
        self.populations = []
        self.projections = []
        self._blocks = []  # e-prop blocks (Network.eprop)
        self._n = 0
        self._sim = None
        #: free-form provenance, saved with the network (e.g. the options a NIR import assumed)
        self.metadata = {}

    def __repr__(self):
        return f"<Network: {len(self.populations)} populations, {len(self.projections)} projections, t={self.t} ms>"

    # ---------------------------------------------------------------- build
    def _check_mutable(self):
        if self._sim is not None:
            raise NetworkError("the network has already been simulated; its structure is frozen "
                               "(build a new Network, or call reset() to rerun)")

    def _name(self, name, prefix):
        name = name or f"{prefix}{len(self.populations)}"
        if any(p.name == name for p in self.populations):
            raise NetworkError(f"a population named {name!r} already exists")
        return name

    def _add(self, name, size, model, source=None, prefix="pop"):
        self._check_mutable()
        if int(size) != size or size < 0:
            raise NetworkError(f"population size must be a non-negative integer, got {size!r}")
        pop = Population(self, self._name(name, prefix), int(size), model, self._n, source)
        self._n += pop.size
        self.populations.append(pop)
        return pop

    def population(self, size, model="iaf_psc_delta", params=None, name=None):
        """Add ``size`` neurons of ``model`` (a model instance, class or NEST name).

        Examples
        --------
        >>> import spikeengine as se
        >>> net = se.Network()
        >>> net.population(100, "iaf_psc_exp", {"tau_m": 20.0}, name="E")
        <Population 'E': 100 x LIFExp>
        """
        model = make_model(model, params)
        pop = self._add(name, size, model)
        from .dtypes import NP, NS

        # validate parameters now, so errors point at the population that has them
        model.fill(np.zeros((pop.size, NP)), np.zeros((pop.size, NS)), np.arange(pop.size), _label(pop))
        return pop

    def spike_source(self, spike_times, name=None):
        """Add spike sources with explicit times (NEST ``spike_generator``, PyNN ``SpikeSourceArray``).

        Parameters
        ----------
        spike_times : list of array-like
            One array of strictly increasing, finite, non-negative times (ms) per source;
            any float value (not rounded to a grid).

        Examples
        --------
        >>> import spikeengine as se
        >>> se.Network().spike_source([[0.5, 3.25], []], name="stim")
        <Population 'stim': 2 x array>
        """
        trains = []
        for i, tr in enumerate(spike_times):
            a = np.asarray(tr, dtype=np.float64).ravel()
            lab = f"spike source {name or ''} unit {i}".replace("  ", " ")
            if not np.all(np.isfinite(a)):
                raise ParameterError(f"{lab}: spike times must be finite")
            if a.size and a[0] < 0:
                raise ParameterError(f"{lab}: negative spike time {float(a[0])!r}")
            if a.size > 1 and (np.diff(a) <= 0).any():
                k = int(np.flatnonzero(np.diff(a) <= 0)[0])
                raise ParameterError(f"{lab}: spike times must be strictly increasing "
                                     f"(times[{k}] = {float(a[k])!r}, times[{k + 1}] = {float(a[k + 1])!r})")
            trains.append(a)
        return self._add(name, len(trains), None, ("array", trains), prefix="source")

    def stream_source(self, size, name=None):
        """Add ``size`` spike sources whose spikes arrive while the network runs (sensor streams).

        Feed them with :meth:`feed` or :meth:`run_stream` (a recording, an iterator of
        event chunks, or a live socket source from :mod:`spikeengine.io`).

        Examples
        --------
        >>> import spikeengine as se
        >>> net = se.Network()
        >>> cam = net.stream_source(4, name="cam")
        >>> cell = net.population(1, se.LIF(E_L=0.0, V_m=0.0, V_th=1.0, V_reset=0.0, C_m=1.0))
        >>> _ = net.connect(cam, cell, weight=0.6, delay=1.0)
        >>> cell.record("spikes")
        >>> net.feed(cam, [2.0, 2.0], [0, 3])
        2
        >>> net.run(5.0)
        >>> cell.spikes[0].tolist()
        [3.0]
        """
        if int(size) != size or size < 0:
            raise NetworkError(f"stream source size must be a non-negative integer, got {size!r}")
        return self._add(name, size, None, ("stream", None), prefix="stream")

    def feed(self, pop, times, ids, late="error"):
        """Queue spikes of stream source ``pop``: local ``ids`` at ``times`` (ms, not before :attr:`t`).

        Returns the number of spikes queued; see :func:`spikeengine.streaming.feed`.
        """
        from .streaming import feed

        return feed(self, pop, times, ids, late)

    def run_stream(self, stream, pop, mapping=None, **kw):
        """Run while feeding an event stream into ``pop`` chunk by chunk (constant memory).

        See :func:`spikeengine.streaming.run_stream` for the options; returns its statistics.
        """
        from .streaming import run_stream

        return run_stream(self, stream, pop, mapping, **kw)

    def _simulator(self):
        if self._sim is None:
            from .simulator import Simulator

            self._sim = Simulator(self)
        return self._sim

    def poisson_source(self, size, rate, name=None):
        """Add ``size`` independent Poisson spike sources (PyNN ``SpikeSourcePoisson``).

        Parameters
        ----------
        rate : float or array
            Rate per source, Hz.

        Examples
        --------
        >>> import spikeengine as se
        >>> se.Network(seed=3).poisson_source(5, rate=10.0)
        <Population 'source0': 5 x poisson>
        """
        if int(size) != size or size < 0:
            raise NetworkError(f"poisson source {name!r}: size must be a non-negative integer, got {size!r}")
        rate = _per_unit(rate, int(size), f"poisson source {name!r}: rate")
        if not np.all(np.isfinite(rate)) or (rate < 0).any():
            raise ParameterError(f"poisson source {name!r}: rates must be finite and >= 0 Hz")
        return self._add(name, size, None, ("poisson", rate), prefix="source")

    def eprop(self, network, inputs=None, delay=None, name=None):
        """Run an :class:`~spikeengine.eprop.EpropNetwork` inside this network, on its clock ``dt``.

        Its recurrent neurons become a clocked population (``block.rec``) whose spikes travel as events
        with delays to any population; neuron ``i`` of ``inputs`` (any population: spike sources, streams,
        event-driven or clocked neurons) is its input ``i``. Learning happens online while the network
        runs, with the targets given by :meth:`EpropBlock.set_targets`.

        Parameters
        ----------
        network : EpropNetwork
            The e-prop network (its weights and state are used and updated in place).
        inputs : Population, optional
            Of size ``network.n_in``; required when ``n_in > 0``.
        delay : float, optional
            Input delay in ms, >= ``dt`` (default ``dt``, as NEST requires). A spike of input ``i`` emitted at
            ``t`` is the input spike of the update that ends at ``ceil((t + delay) / dt) * dt - dt``: it
            updates the e-prop synapses then and acts on the recurrent neurons in the next update.
        name : str, optional
            Prefix of the block's populations ``<name>.rec`` and ``<name>.out`` (default ``eprop<k>``).

        Returns
        -------
        EpropBlock

        Examples
        --------
        >>> import numpy as np, spikeengine as se
        >>> from spikeengine.eprop import EpropNetwork, EpropIAF, EpropReadout
        >>> net = se.Network()
        >>> src = net.spike_source([[2.0, 4.0], [3.0]])
        >>> ep = EpropNetwork(2, EpropIAF(C_m=1.0, E_L=0.0, V_th=0.03, t_ref=0.0), EpropReadout(C_m=1.0),
        ...                   W_in=np.full((3, 2), 0.02), W_rec=np.zeros((3, 3)), W_out=np.full((1, 3), 0.1),
        ...                   B=np.ones((3, 1)))
        >>> blk = net.eprop(ep, inputs=src)
        >>> blk.rec.record("spikes")
        >>> net.run(10.0)
        >>> blk.rec.spikes[0].tolist()
        [4.0, 4.0, 4.0]
        """
        self._check_mutable()
        from .eprop.block import EpropBlock

        name = name or f"eprop{len(self._blocks)}"
        blk = EpropBlock(self, network, inputs, delay, name)
        self._blocks.append(blk)
        return blk

    def connect(self, pre, post, rule="all_to_all", weight=1.0, delay=1.0, name=None, plasticity=None):
        """Connect ``pre`` to ``post``; returns the :class:`Projection`.

        Parameters
        ----------
        pre, post : Population
        rule : str, dict or Connector
            ``"all_to_all"``, ``"one_to_one"``, ``{"rule": "fixed_indegree", "indegree": k}``,
            ``{"rule": "pairwise_bernoulli", "p": p}``, or a connector
            (:class:`~spikeengine.connectors.FromArrays`, ...).
        weight : float, array or callable
            Per-synapse weights (mV for delta synapses, pA for current synapses);
            a callable gets ``(n, rng)`` and returns ``n`` values.
        delay : float, array or callable
            Per-synapse delays in ms, > 0, any float value.
        name : str, optional
        plasticity : PlasticityRule, optional
            A rule that changes the weights on spike events (:class:`~spikeengine.STDP`,
            :class:`~spikeengine.TripletSTDP`; ``docs/plasticity.md``). The target of a plastic
            projection may be a spike source: it then only provides postsynaptic spike times (its
            input is ignored, like NEST's ``receptor_type=1`` on a parrot).

        Examples
        --------
        >>> import spikeengine as se
        >>> net = se.Network(seed=0)
        >>> a = net.population(10, se.LIF()); b = net.population(5, se.LIF())
        >>> len(net.connect(a, b, {"rule": "fixed_indegree", "indegree": 3}, weight=0.5, delay=1.5))
        15
        """
        self._check_mutable()
        for role, p in (("pre", pre), ("post", post)):
            if not isinstance(p, Population) or p.net is not self:
                raise NetworkError(f"connect: {role} must be a population of this network, got {p!r}")
        name = name or f"{pre.name}->{post.name}#{len(self.projections)}"
        label = f"projection {name!r}"
        from .btsp import BTSP
        from .plasticity import PlasticityRule

        if plasticity is not None and not isinstance(plasticity, (PlasticityRule, BTSP)):
            raise NetworkError(f"{label}: plasticity must be a rule such as se.STDP(...) or se.BTSP(...), got "
                               f"{plasticity!r}")
        if isinstance(plasticity, BTSP) and post.is_source:
            raise NetworkError(f"{label}: BTSP needs a neuron population as target (plateaus drive its weights), "
                               f"not the spike source {post.name!r}")
        if post.is_source and plasticity is None:
            raise NetworkError(f"{label}: the target {_label(post)} is a spike source and cannot receive input")
        if plasticity is not None and not post.is_source and not post.model.spiking:
            raise NetworkError(f"{label}: {type(plasticity).__name__} needs postsynaptic spikes, but the target "
                               f"{_label(post)} ({type(post.model).__name__}) never spikes")
        conn = make_connector(rule)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 1, len(self.projections)]))
        if isinstance(conn, (FixedInDegree, FixedProbability)):
            s, t = conn.pairs(pre.size, post.size, rng, label, same=pre is post)
        else:
            s, t = conn.pairs(pre.size, post.size, rng, label)
        w = _syn_values(weight, s.size, "weight", label, rng)
        d = _syn_values(delay, s.size, "delay", label, rng)
        if isinstance(plasticity, BTSP):
            w = np.array(w, dtype=np.float64)
            bad = ~((w >= 0.0) & (w <= plasticity.Wmax))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ParameterError(f"{label}: weight of synapse {i} is {float(w[i])!r}, outside [0, Wmax] = "
                                     f"[0, {plasticity.Wmax!r}] of BTSP (Wmax = (1 + peak_delta_weight) * w0)")
        elif plasticity is not None:
            plasticity.check_weights(w, label)
            w = np.array(w, dtype=np.float64)  # plastic weights: a per-synapse array of their own
        proj = Projection(pre, post, s, t, w, d, name, plasticity)
        self.projections.append(proj)
        return proj

    # ------------------------------------------------------------------ run
    @property
    def t(self):
        """Current simulation time, ms."""
        return 0.0 if self._sim is None else self._sim.t

    @property
    def clock(self):
        """The clock of the clocked populations and how it takes turns with the event-driven core, or None.

        A dict: ``dt`` (ms), ``first``: who goes first in each turn (``"clocked"`` populations or the
        ``"events"`` core) and ``chunk``: the ms of a turn (``inf``: whole runs), see ``docs/clocked.md``.
        Compiles the network.

        Examples
        --------
        >>> import spikeengine as se
        >>> net = se.Network()
        >>> src = net.poisson_source(10, rate=20.0)
        >>> g = net.population(10, se.Clocked("iaf_psc_delta", dt=0.1))
        >>> out = net.population(5, se.LIF())
        >>> _ = net.connect(src, g, weight=1.0, delay=1.5)
        >>> _ = net.connect(g, out, weight=1.0, delay=1.0)
        >>> net.clock
        {'dt': 0.1, 'first': 'clocked', 'chunk': 1.5}
        """
        cs = self._simulator().cosim
        if cs is None:
            return None
        return {"dt": cs.h, "first": cs.mode, "chunk": round(cs.L / cs.h) * cs.h if math.isfinite(cs.L) else cs.L}

    @property
    def size(self):
        """Total number of neurons and sources."""
        return self._n

    def run(self, duration, progress=False):
        """Simulate ``duration`` ms; call again to continue where the last run stopped.

        Parameters
        ----------
        duration : float
            Milliseconds, >= 0.
        progress : bool
            Show a progress bar (tqdm) for long runs.
        """
        if not (isinstance(duration, (int, float, np.floating, np.integer)) and math.isfinite(duration)
                and duration >= 0):
            raise ParameterError(f"run: duration must be a finite number of ms >= 0, got {duration!r}")
        self._simulator().run(float(duration), progress=progress)

    def reset(self, keep_weights=False):
        """Return to t = 0 with the initial state and empty recordings (same structure and seed).

        Parameters
        ----------
        keep_weights : bool
            False (default): plastic weights return to their values before the first run (or as
            last set), so a rerun repeats the last one exactly. True: keep the learned weights
            (e.g. to present the next trial to a network that learns).
        """
        if self._sim is not None:
            self._sim.reset(keep_weights=bool(keep_weights))

    @property
    def backend(self):
        """Name of the kernel backend this network runs on."""
        from ._backend import get_backend

        return get_backend(self.backend_name).name

    @property
    def counters(self):
        """Event counters since the last reset: spikes, synaptic events, neuron updates, drive events."""
        return {} if self._sim is None else self._sim.counters()

    def energy_report(self, profile="horowitz45nm_fp32", samples=1):
        """Energy-complexity counts, NeuroBench metrics and an energy estimate of the run so far.

        Parameters
        ----------
        profile : str, dict or EnergyProfile
            Per-operation costs (:data:`spikeengine.energy.PROFILES`), or a user profile.
        samples : int
            Number of inferences (samples) the run covered; per-sample metrics divide by it.

        Returns
        -------
        EnergyReport

        Examples
        --------
        >>> import spikeengine as se
        >>> net = se.Network(bin_width=1.0)
        >>> src = net.spike_source([[1.0], [1.0], [3.0]], name="in")
        >>> out = net.population(1, se.LIF(V_th=-69.0, E_L=-70.0, V_m=-70.0, V_reset=-70.0), name="out")
        >>> _ = net.connect(src, out, weight=0.8, delay=1.0)
        >>> net.run(10.0)
        >>> r = net.energy_report()
        >>> r.energy_sima(inputs=True), r.energy_sima(inputs=False), r.synops
        (2, 1, 3)
        """
        from .energy import EnergyReport

        if self._sim is None:
            raise ParameterError("energy_report: the network has not been run yet")
        return EnergyReport.from_simulator(self._sim, profile=profile, samples=samples)


__all__ = ["Network", "Population", "Projection", "FromArrays"]
