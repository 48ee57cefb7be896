"""NEST 3.10 side of the STDP comparisons, and a pure-Python oracle of NEST's STDP rules.

Two things live here:

* :func:`run_nest_stdp` (one synapse) and :func:`run_nest_stdp_many` (independent synapses in one
  kernel) run NEST for an STDP protocol and return the weight-recorder output. NEST is imported inside
  the functions only, so this module imports (and :func:`reference_weights` works) without NEST.
* :func:`reference_weights` re-implements, in plain Python floats and in NEST's order of operations,
  the update rules of ``stdp_synapse``, ``stdp_nn_symm_synapse``, ``stdp_nn_restr_synapse``,
  ``stdp_nn_pre_centered_synapse``, ``stdp_triplet_synapse`` and ``stdp_dopamine_synapse``. It
  reproduces NEST's weight-recorder output to 1e-12 relative (measured: to the last bit for the pair
  and triplet rules) and is a second oracle for the engine.

Protocol (``../shared/specs/STDP.md``)
--------------------------------------
``spike_generator -> parrot_neuron`` (pre) and ``spike_generator -> parrot_neuron`` (post), then
pre parrot -> post parrot with the plastic synapse on ``receptor_type=1``: a parrot ignores input on
receptor 1, so the plastic synapse never makes the post parrot fire. A ``weight_recorder`` is attached
to the synapse model (``CopyModel``). ``stdp_dopamine_synapse`` additionally gets a
``volume_transmitter`` fed by a dopamine parrot driven by a third spike_generator. Resolution 0.1 ms,
one thread, ``ResetKernel`` on every call. ``tau_minus`` and ``tau_minus_triplet`` are parameters of
the *post neuron* in NEST; they are accepted in the same ``params`` dict as the synapse parameters
(as ``spikeengine.plasticity.from_nest`` accepts them) and set on the post parrot.

Conventions confirmed numerically on NEST 3.10.0
------------------------------------------------
* **Generator -> parrot delay.** A ``spike_generator`` spike at ``t`` makes the parrot fire at
  ``t + d_gen``. The generators here connect with ``d_gen = 0.1 ms`` (one step) and get the requested
  times shifted by ``-0.1 ms``, so the parrots fire *exactly* at the requested times (checked against
  spike recorders on every call; requested times must therefore be >= 0.2 ms).
* **weight_recorder time stamp = pre spike time.** The recorder stamps an update with the stamp of
  the spike event that the synapse transmits, i.e. the pre parrot's spike time ``t_pre``: not
  ``t_pre + delay``, not the delivery time. Verified with delays 0.1, 1.0 and 2.5 ms for every model;
  the conversion to t_pre is therefore the identity (``WR_STAMP_OFFSET = 0``), and every call checks
  that synapse k reports exactly one update per pre spike, at the pre spike times.
* **Every pre spike gives one record**, also when the weight does not change. The weight recorded is
  the weight *after* the update of that pre spike (post-after-pre pairs are applied only at the next
  pre spike, so a final far-off 'flush' pre spike is needed to see them).
* **Dopamine.** The dopamine spike reaches the synapses when the volume transmitter receives it,
  i.e. at ``t_dopa_neuron + dopa_delay``. With the 0.1 ms generator connections the kernel's
  ``min_delay`` is one step, so the volume transmitter (``deliver_interval`` 1) calls
  ``trigger_update_weight`` on every synapse every 0.1 ms; the weights seen at pre spikes equal those
  of an event-driven integration to ~1e-14 relative (``reference_weights(..., dopa_triggers=True)``
  replays the per-step triggers and matches to the last bits).
* **Time representation.** NEST holds times as integer tics (1000 per ms) and converts with
  ``tics * 0.001``, so a grid time is not always the double nearest to ``k / 10`` (62 of 394 Poisson
  spike times differ in the last bit). :func:`grid_times` returns NEST's doubles; with them (and the
  delay as ``steps * 0.1``) the oracle is bitwise equal to NEST; with ``k / 10`` it is off by ~1e-14.
* STDP.md C1-C7 hold as written, with these precisions: the facilitation interval is
  ``t_last - d < t_post <= t_pre - d`` up to eps = 1e-6 ms (``get_history``); depression reads the
  latest post spike with ``t_post < t_pre - d - eps``. ``facilitate``/``depress`` are applied even
  with a zero trace (``stdp_synapse`` at the first pre spike), which only re-rounds ``w/Wmax*Wmax``.
  The ``stdp_triplet_synapse`` default ``Aplus`` is **5e-10** in NEST 3.10 (not 5e-3), and its
  ``tau_x`` is called ``tau_plus_triplet``. ``stdp_nn_restr`` depression needs a post spike in
  ``(t_last - d, t_pre - d]`` but then pairs with the latest post spike strictly before
  ``t_pre - d``, which is an older one when the only post spike of the interval sits exactly at
  ``t_pre - d``.
"""

from __future__ import annotations

import bisect
import math
import os

import numpy as np

#: simulation resolution (ms) and the spike_generator -> parrot delay (one step)
RESOLUTION = 0.1
GEN_DELAY = 0.1
#: NEST's time base: a time is an integer number of tics, converted to ms as tics * 0.001
TICS_PER_STEP = 100
MS_PER_TIC = 1.0 / 1000.0
MS_PER_STEP = TICS_PER_STEP / 1000.0
#: NEST compares spike times with this tolerance (ConnectionManager::get_stdp_eps)
STDP_EPS = 1e-6
#: weight_recorder time - t_pre (measured; see the module docstring)
WR_STAMP_OFFSET = 0.0

MODELS = ("stdp_synapse", "stdp_nn_symm_synapse", "stdp_nn_restr_synapse", "stdp_nn_pre_centered_synapse",
          "stdp_triplet_synapse", "stdp_dopamine_synapse")
#: parameters that NEST keeps on the post-synaptic neuron
POST_NEURON_PARAMS = ("tau_minus", "tau_minus_triplet")
#: NEST 3.10 defaults (synapse + post-neuron parameters), checked against nest.GetDefaults by the tests
_PAIR_DEFAULTS = {"lambda": 0.01, "alpha": 1.0, "mu_plus": 1.0, "mu_minus": 1.0, "Wmax": 100.0, "tau_plus": 20.0,
                  "tau_minus": 20.0}
NEST_DEFAULTS = {
    "stdp_synapse": dict(_PAIR_DEFAULTS),
    "stdp_nn_symm_synapse": dict(_PAIR_DEFAULTS),
    "stdp_nn_restr_synapse": dict(_PAIR_DEFAULTS),
    "stdp_nn_pre_centered_synapse": dict(_PAIR_DEFAULTS),
    "stdp_triplet_synapse": {"tau_plus": 16.8, "tau_plus_triplet": 101.0, "Aplus": 5e-10, "Aminus": 7e-3,
                             "Aplus_triplet": 6.2e-3, "Aminus_triplet": 2.3e-4, "Wmax": 100.0, "tau_minus": 20.0,
                             "tau_minus_triplet": 110.0},
    "stdp_dopamine_synapse": {"A_plus": 1.0, "A_minus": 1.5, "tau_plus": 20.0, "tau_c": 1000.0, "tau_n": 200.0,
                              "b": 0.0, "Wmin": 0.0, "Wmax": 200.0, "tau_minus": 20.0},
}


def nest_available():
    """Return True when ``import nest`` can work here (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("nest") is not None


def grid_times(times, name="spike train", t_min=2 * RESOLUTION):
    """Validate a spike train for the NEST protocol and return it as NEST represents it.

    Parameters
    ----------
    times : array_like
        Spike times (ms), sorted.
    name : str, optional
        Used in error messages.
    t_min : float, optional
        Earliest allowed time (ms); the generator fires ``GEN_DELAY`` earlier and must fire at > 0.

    Returns
    -------
    numpy.ndarray
        float64 times as NEST's ``Time::get_ms`` gives them: ``(100 k) * 0.001`` for grid step ``k``
        (not always the double nearest to ``k / 10``; the last bit matters for bitwise agreement).

    Raises
    ------
    ValueError
        If a time is off the 0.1 ms grid (STDP.md C9), two spikes share a grid time, the train is not
        increasing or a time is earlier than ``t_min``.
    """
    t = np.asarray(times, dtype=np.float64).ravel()
    steps = np.rint(t / RESOLUTION)
    if t.size and np.max(np.abs(steps * RESOLUTION - t)) > 1e-9:
        raise ValueError(f"{name}: times must lie on the {RESOLUTION} ms grid (STDP.md C9)")
    if t.size > 1 and np.any(np.diff(steps) < 1):
        raise ValueError(f"{name}: times must be strictly increasing, at most one spike per grid time")
    if t.size and t[0] < t_min - 1e-9:
        raise ValueError(f"{name}: first time {t[0]} ms is earlier than {t_min} ms")
    return _ms(steps)


def _ms(steps):
    """Grid steps -> ms exactly as NEST's ``Time::get_ms`` computes it: tics * MS_PER_TIC (1000 tics per ms)."""
    return (np.asarray(steps, dtype=np.float64) * TICS_PER_STEP) * MS_PER_TIC


def split_params(model, params, post_params=None):
    """Split a NEST-named parameter dict into synapse and post-neuron parameters.

    Parameters
    ----------
    model : str
        NEST synapse model name.
    params : dict
        Synapse parameters, optionally with ``tau_minus`` / ``tau_minus_triplet``.
    post_params : dict, optional
        Extra post-neuron parameters (win over those in ``params``).

    Returns
    -------
    syn : dict
        Synapse parameters.
    post : dict
        Post-neuron parameters.
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {MODELS}")
    syn = {k: float(v) for k, v in (params or {}).items() if k not in POST_NEURON_PARAMS}
    post = {k: float(v) for k, v in (params or {}).items() if k in POST_NEURON_PARAMS}
    post.update({k: float(v) for k, v in (post_params or {}).items()})
    unknown = set(syn) - set(NEST_DEFAULTS[model])
    if unknown:
        raise ValueError(f"{model}: unknown parameters {sorted(unknown)}")
    return syn, post


def full_params(model, params, post_params=None):
    """Return NEST's defaults for ``model`` updated with ``params`` (and ``post_params``), as one dict."""
    syn, post = split_params(model, params, post_params)
    out = dict(NEST_DEFAULTS[model])
    out.update(syn)
    out.update(post)
    return out


def _import_nest():
    os.environ.setdefault("PYNEST_QUIET", "1")  # no banner
    import nest

    try:
        nest.verbosity = nest.VerbosityLevel.ERROR  # NEST >= 3.9; set_verbosity warns there
    except AttributeError:  # pragma: no cover - older NEST
        nest.set_verbosity("M_ERROR")
    return nest


def run_nest_stdp_many(model, params, pre_trains, post_trains, delay, w0, post_params=None, dopa_times=None,
                       dopa_delay=1.0, T=None):
    """Run independent STDP synapses (pre parrot k -> post parrot k) in one NEST kernel.

    Parameters
    ----------
    model : str
        NEST synapse model, one of :data:`MODELS`.
    params : dict
        NEST synapse parameters; ``tau_minus`` / ``tau_minus_triplet`` go to the post parrots. For
        ``stdp_dopamine_synapse`` they are common properties (set with ``CopyModel``) as NEST requires.
    pre_trains, post_trains : sequence of array_like
        One spike train per synapse (ms, on the 0.1 ms grid, >= 0.2 ms): the times at which the pre and
        post parrots fire.
    delay : float
        Synaptic delay (ms, a multiple of 0.1); in NEST it is entirely dendritic.
    w0 : float or array_like
        Initial weight(s).
    post_params : dict, optional
        More post-neuron parameters.
    dopa_times : array_like, optional
        Dopamine-neuron spike times (``stdp_dopamine_synapse`` only; shared by all synapses).
    dopa_delay : float, optional
        Delay dopamine parrot -> volume transmitter (ms); dopamine reaches the synapses at
        ``dopa_times + dopa_delay``.
    T : float, optional
        Simulated time (ms); default: last spike + delay + 1 ms.

    Returns
    -------
    dict
        ``times``, ``weights``, ``pre_spikes``, ``post_spikes``: lists (one float64 array per synapse)
        of update times (the pre spike times t_pre, see the module docstring), weights after each
        update and the parrots' recorded spike times; ``dopa_spikes`` (array) for the dopamine model;
        ``nest_version`` (str).

    Raises
    ------
    RuntimeError
        If a parrot does not fire at exactly the requested times or the weight recorder does not
        report one update per pre spike at the pre spike times.
    """
    nest = _import_nest()
    syn, post = split_params(model, params, post_params)
    n = len(pre_trains)
    if len(post_trains) != n or n == 0:
        raise ValueError("need one post train per pre train, and at least one synapse")
    pre = [grid_times(t, f"pre train {k}") for k, t in enumerate(pre_trains)]
    postt = [grid_times(t, f"post train {k}") for k, t in enumerate(post_trains)]
    d_steps = int(round(delay / RESOLUTION))
    if d_steps < 1 or abs(d_steps * RESOLUTION - delay) > 1e-9:
        raise ValueError(f"delay {delay} must be a positive multiple of {RESOLUTION} ms")
    dopa = None
    if model == "stdp_dopamine_synapse":
        dopa = grid_times([] if dopa_times is None else dopa_times, "dopamine train")
    elif dopa_times is not None:
        raise ValueError("dopa_times only apply to stdp_dopamine_synapse")
    last = max([t[-1] for t in pre + postt if t.size] + ([dopa[-1] + dopa_delay] if dopa is not None and dopa.size
                                                          else []) + [0.0])
    if T is None:
        T = math.ceil((last + delay + 1.0) / RESOLUTION) * RESOLUTION

    nest.ResetKernel()
    nest.resolution = RESOLUTION
    nest.local_num_threads = 1

    def parrots(trains, extra=None):
        gens = nest.Create("spike_generator", len(trains),
                           params=[{"spike_times": _ms(np.rint(t / RESOLUTION) - 1)} for t in trains])
        par = nest.Create("parrot_neuron", len(trains), params=extra or {})
        nest.Connect(gens, par, "one_to_one", syn_spec={"delay": GEN_DELAY})
        rec = nest.Create("spike_recorder")
        nest.Connect(par, rec)
        return par, rec

    pre_par, pre_rec = parrots(pre)
    post_par, post_rec = parrots(postt, post)
    wr = nest.Create("weight_recorder")
    model_params = {"weight_recorder": wr, **syn}
    if dopa is not None:
        vt = nest.Create("volume_transmitter")
        dpar, drec = parrots([dopa])
        nest.Connect(dpar, vt, syn_spec={"delay": float(dopa_delay)})
        model_params["volume_transmitter"] = vt
    nest.CopyModel(model, "stdp_under_test", model_params)
    w0 = np.broadcast_to(np.asarray(w0, dtype=np.float64), (n,))
    nest.Connect(pre_par, post_par, "one_to_one",
                 syn_spec={"synapse_model": "stdp_under_test", "weight": w0.copy() if n > 1 else float(w0[0]),
                           "delay": d_steps * MS_PER_STEP, "receptor_type": 1})
    nest.Simulate(float(T))

    def per_parrot(rec, par):
        ev = rec.get("events")
        ids = np.asarray(par.tolist())
        return [np.sort(np.asarray(ev["times"], dtype=np.float64)[np.asarray(ev["senders"]) == i]) for i in ids]

    pre_sp, post_sp = per_parrot(pre_rec, pre_par), per_parrot(post_rec, post_par)
    for want, got, what in ((pre, pre_sp, "pre"), (postt, post_sp, "post")):
        for k, (a, b) in enumerate(zip(want, got)):
            if a.shape != b.shape or np.any(np.abs(a - b) > 1e-9):
                raise RuntimeError(f"{what} parrot {k} did not fire at the requested times")
    ev = wr.get("events")
    senders = np.asarray(ev["senders"])
    times, weights = [], []
    for k, i in enumerate(pre_par.tolist()):
        m = senders == i
        t = np.asarray(ev["times"], dtype=np.float64)[m] - WR_STAMP_OFFSET
        order = np.argsort(t, kind="stable")
        t, w = t[order], np.asarray(ev["weights"], dtype=np.float64)[m][order]
        if t.shape != pre[k].shape or np.any(np.abs(t - pre[k]) > 1e-9):
            raise RuntimeError(f"synapse {k}: weight recorder times are not the pre spike times")
        times.append(pre[k].copy())
        weights.append(w)
    out = {"times": times, "weights": weights, "pre_spikes": pre_sp, "post_spikes": post_sp,
           "nest_version": str(nest.__version__)}
    if dopa is not None:
        dsp = per_parrot(drec, dpar)[0]
        if dsp.shape != dopa.shape or np.any(np.abs(dsp - dopa) > 1e-9):
            raise RuntimeError("dopamine parrot did not fire at the requested times")
        out["dopa_spikes"] = dsp
    return out


def run_nest_stdp(model, params, pre_times, post_times, delay, w0, post_params=None, dopa_times=None,
                  vt_params=None, T=None, dopa_delay=1.0):
    """Run one STDP synapse in NEST and return its weight-recorder output.

    Parameters
    ----------
    model : str
        NEST synapse model, one of :data:`MODELS`.
    params : dict
        NEST synapse parameters (``tau_minus`` / ``tau_minus_triplet`` go to the post parrot).
    pre_times, post_times : array_like
        Times (ms, on the 0.1 ms grid, >= 0.2 ms) at which the pre and post parrots fire.
    delay : float
        Synaptic (dendritic) delay, ms.
    w0 : float
        Initial weight.
    post_params : dict, optional
        More post-neuron parameters.
    dopa_times : array_like, optional
        Dopamine-neuron spike times (``stdp_dopamine_synapse``).
    vt_params : dict, optional
        Volume-transmitter parameters; only ``{"dopa_delay": ms}`` is understood (the
        dopamine parrot -> volume transmitter delay); ``deliver_interval`` is left at 1.
    T : float, optional
        Simulated time (ms).
    dopa_delay : float, optional
        Dopamine parrot -> volume transmitter delay (ms), default 1.

    Returns
    -------
    dict
        ``times`` (the pre spike times t_pre of the updates), ``weights`` (after each update),
        ``pre_spikes``, ``post_spikes`` (the parrots' spike times), ``dopa_spikes`` (dopamine model),
        ``nest_version``.
    """
    if vt_params:
        unknown = set(vt_params) - {"dopa_delay"}
        if unknown:
            raise ValueError(f"unsupported vt_params {sorted(unknown)}")
        dopa_delay = vt_params.get("dopa_delay", dopa_delay)
    r = run_nest_stdp_many(model, params, [pre_times], [post_times], delay, w0, post_params=post_params,
                           dopa_times=dopa_times, dopa_delay=dopa_delay, T=T)
    return {k: (v[0] if isinstance(v, list) else v) for k, v in r.items()}


# --------------------------------------------------------------------------- pure-Python oracle
class _PostHistory:
    """The post neuron's archive (ArchivingNode): spike times with K- and triplet K- *including* the spike."""

    def __init__(self, post, tau_minus, tau_minus_triplet):
        inv, inv3 = 1.0 / tau_minus, 1.0 / tau_minus_triplet
        self.inv = inv
        self.t, self.k, self.k3 = [], [], []
        km = k3 = 0.0
        last = -1.0
        for t in post:
            km = km * math.exp((last - t) * inv) + 1.0
            k3 = k3 * math.exp((last - t) * inv3) + 1.0
            last = t
            self.t.append(t)
            self.k.append(km)
            self.k3.append(k3)
        self.inv3 = inv3

    def interval(self, t1, t2):
        """Indices of the post spikes with t1 + eps <= t_post < t2 + eps (ArchivingNode::get_history)."""
        return range(bisect.bisect_left(self.t, t1 + STDP_EPS), bisect.bisect_left(self.t, t2 + STDP_EPS))

    def latest_before(self, t):
        """Index of the latest post spike with t - t_post > eps, or None (ArchivingNode::get_K_value)."""
        i = bisect.bisect_left(self.t, t - STDP_EPS)  # a guess; NEST's predicate decides
        i = min(i, len(self.t) - 1)
        while i + 1 < len(self.t) and t - self.t[i + 1] > STDP_EPS:
            i += 1
        while i >= 0 and not t - self.t[i] > STDP_EPS:
            i -= 1
        return None if i < 0 else i

    def k_value(self, t):
        """All-to-all K- at time t (0 before the first spike)."""
        i = self.latest_before(t)
        return 0.0 if i is None else self.k[i] * math.exp((self.t[i] - t) * self.inv)

    def nn_k_value(self, t):
        """Nearest-neighbour K- at time t (0 before the first spike)."""
        i = self.latest_before(t)
        return 0.0 if i is None else math.exp((self.t[i] - t) * self.inv)


def _facilitate(w, kplus, p):
    norm_w = (w / p["Wmax"]) + (p["lambda"] * math.pow(1.0 - (w / p["Wmax"]), p["mu_plus"]) * kplus)
    return norm_w * p["Wmax"] if norm_w < 1.0 else p["Wmax"]


def _depress(w, kminus, p):
    norm_w = (w / p["Wmax"]) - (p["alpha"] * p["lambda"] * math.pow(w / p["Wmax"], p["mu_minus"]) * kminus)
    return norm_w * p["Wmax"] if norm_w > 0.0 else 0.0


def _pair_rule(model, p, pre, hist, d, w, nest_artefact):
    out = []
    kplus, t_last = 0.0, 0.0
    for n, t in enumerate(pre):
        idx = hist.interval(t_last - d, t - d)
        if model == "stdp_synapse":
            for i in idx:
                w = _facilitate(w, kplus * math.exp((t_last - (hist.t[i] + d)) / p["tau_plus"]), p)
            w = _depress(w, hist.k_value(t - d), p)
            kplus = kplus * math.exp((t_last - t) / p["tau_plus"]) + 1.0
        elif model == "stdp_nn_symm_synapse":
            if nest_artefact or n > 0:
                for i in idx:
                    w = _facilitate(w, math.exp((t_last - (hist.t[i] + d)) / p["tau_plus"]), p)
            w = _depress(w, hist.nn_k_value(t - d), p)
        elif model == "stdp_nn_restr_synapse":
            if idx:
                if nest_artefact or n > 0:
                    w = _facilitate(w, math.exp((t_last - (hist.t[idx[0]] + d)) / p["tau_plus"]), p)
                w = _depress(w, hist.nn_k_value(t - d), p)
        elif model == "stdp_nn_pre_centered_synapse":
            if idx:
                w = _facilitate(w, kplus * math.exp((t_last - (hist.t[idx[0]] + d)) / p["tau_plus"]), p)
                kplus = 0.0
            w = _depress(w, hist.nn_k_value(t - d), p)
            kplus = kplus * math.exp((t_last - t) / p["tau_plus"]) + 1.0
        else:  # pragma: no cover
            raise ValueError(model)
        t_last = t
        out.append(w)
    return out


def _triplet_rule(p, pre, hist, d, w):
    out = []
    kplus = kplus3 = 0.0
    t_last = 0.0
    wmax = p["Wmax"]
    for t in pre:
        for i in hist.interval(t_last - d, t - d):
            ky = hist.k3[i] - 1.0  # o2 just before the post spike
            k = kplus * math.exp((t_last - (hist.t[i] + d)) / p["tau_plus"])
            new_w = abs(w) + k * (p["Aplus"] + p["Aplus_triplet"] * ky)
            w = math.copysign(new_w if new_w < abs(wmax) else wmax, wmax)
        kplus3 *= math.exp((t_last - t) / p["tau_plus_triplet"])
        new_w = abs(w) - hist.k_value(t - d) * (p["Aminus"] + p["Aminus_triplet"] * kplus3)
        w = math.copysign(new_w if new_w > 0.0 else 0.0, wmax)
        kplus3 += 1.0
        kplus = kplus * math.exp((t_last - t) / p["tau_plus"]) + 1.0
        t_last = t
        out.append(w)
    return out


class _Dopamine:
    """stdp_dopamine_synapse state and its update functions, in NEST's order of operations."""

    def __init__(self, p, w):
        self.p = p
        self.w, self.kplus, self.c, self.n = w, 0.0, 0.0, 0.0
        self.idx = 0
        self.t_last_update = 0.0
        self.taus = (p["tau_c"] + p["tau_n"]) / (p["tau_c"] * p["tau_n"])

    def update_weight(self, c0, n0, minus_dt):
        p = self.p
        self.w = self.w - c0 * (n0 / self.taus * math.expm1(self.taus * minus_dt)
                                - p["b"] * p["tau_c"] * math.expm1(minus_dt / p["tau_c"]))
        if self.w < p["Wmin"]:
            self.w = p["Wmin"]
        if self.w > p["Wmax"]:
            self.w = p["Wmax"]

    def update_dopamine(self, ds):
        minus_dt = ds[self.idx][0] - ds[self.idx + 1][0]
        self.idx += 1
        self.n = self.n * math.exp(minus_dt / self.p["tau_n"]) + ds[self.idx][1] / self.p["tau_n"]

    def process(self, ds, t0, t1):
        p = self.p
        if len(ds) > self.idx + 1 and t1 - ds[self.idx + 1][0] > -STDP_EPS:
            n0 = self.n * math.exp((ds[self.idx][0] - t0) / p["tau_n"])
            self.update_weight(self.c, n0, t0 - ds[self.idx + 1][0])
            self.update_dopamine(ds)
            while len(ds) > self.idx + 1 and t1 - ds[self.idx + 1][0] > -STDP_EPS:
                cd = self.c * math.exp((t0 - ds[self.idx][0]) / p["tau_c"])
                self.update_weight(cd, self.n, ds[self.idx][0] - ds[self.idx + 1][0])
                self.update_dopamine(ds)
            cd = self.c * math.exp((t0 - ds[self.idx][0]) / p["tau_c"])
            self.update_weight(cd, self.n, ds[self.idx][0] - t1)
        else:
            n0 = self.n * math.exp((ds[self.idx][0] - t0) / p["tau_n"])
            self.update_weight(self.c, n0, t0 - t1)
        self.c = self.c * math.exp((t0 - t1) / p["tau_c"])

    def facilitation(self, ds, hist, d, t_end, guard):
        t0 = self.t_last_update
        for i in hist.interval(self.t_last_update - d, t_end - d):
            self.process(ds, t0, hist.t[i] + d)
            t0 = hist.t[i] + d
            minus_dt = self.t_last_update - t0
            if not guard or t_end - hist.t[i] > STDP_EPS:
                self.c += self.p["A_plus"] * (self.kplus * math.exp(minus_dt / self.p["tau_plus"]))
        self.process(ds, t0, t_end)

    def send(self, ds, hist, d, t):
        self.facilitation(ds, hist, d, t, True)
        self.c -= self.p["A_minus"] * hist.k_value(t - d)
        self.kplus = self.kplus * math.exp((self.t_last_update - t) / self.p["tau_plus"]) + 1.0
        self.t_last_update = t
        return self.w

    def trigger(self, ds, hist, d, t):
        self.facilitation(ds, hist, d, t, False)
        self.n = self.n * math.exp((ds[self.idx][0] - t) / self.p["tau_n"])
        self.kplus = self.kplus * math.exp((self.t_last_update - t) / self.p["tau_plus"])
        self.t_last_update = t
        self.idx = 0


def _dopamine_rule(p, pre, hist, d, w, arrivals, triggers, t_end):
    syn = _Dopamine(p, w)
    if not triggers:
        ds = [(0.0, 0.0)] + [(t, 1.0) for t in arrivals]
        return [syn.send(ds, hist, d, t) for t in pre]
    # replay NEST: the volume transmitter calls trigger_update_weight at the end of every step
    # (min_delay = 1 step, deliver_interval = 1), with the dopamine spikes that arrived in that step;
    # a pre spike stamped t is sent at the start of the next step, after the trigger at t.
    out = []
    arr_steps = {int(round(t / RESOLUTION)) for t in arrivals}
    pre_steps = [int(round(t / RESOLUTION)) for t in pre]
    ds = [(0.0, 0.0)]
    j = 0
    for k in range(1, int(round(t_end / RESOLUTION)) + 1):
        t = float(_ms(k))
        if k in arr_steps:
            ds.append((t, 1.0))
        syn.trigger(ds, hist, d, t)
        ds = [(t, 0.0)]
        while j < len(pre_steps) and pre_steps[j] == k:
            out.append(syn.send(ds, hist, d, t))
            j += 1
        if j == len(pre_steps):
            break
    return out


def reference_weights(model, params, pre, post, delay, w0, post_params=None, dopa_times=None, dopa_delay=1.0,
                      nest_artefact=True, dopa_triggers=False):
    """Weights after every pre spike, computed with NEST 3.10's update rules in plain Python.

    Parameters
    ----------
    model : str
        NEST synapse model, one of :data:`MODELS`.
    params : dict
        NEST parameter names (synapse parameters plus ``tau_minus`` / ``tau_minus_triplet``);
        missing ones take NEST's defaults (:data:`NEST_DEFAULTS`).
    pre, post : array_like
        Pre and post neuron spike times (ms, on the 0.1 ms grid).
    delay : float
        Synaptic delay (ms); NEST treats it as purely dendritic (STDP.md C1).
    w0 : float
        Initial weight.
    post_params : dict, optional
        More post-neuron parameters.
    dopa_times : array_like, optional
        Dopamine-neuron spike times (``stdp_dopamine_synapse``).
    dopa_delay : float, optional
        Dopamine neuron -> volume transmitter delay (ms).
    nest_artefact : bool, optional
        Reproduce NEST's phantom pre spike at t = 0 of ``stdp_nn_symm`` / ``stdp_nn_restr``
        (STDP.md C8). False gives the engine's semantics: post spikes before the first pre spike are
        not facilitated.
    dopa_triggers : bool, optional
        Replay the volume transmitter's per-step ``trigger_update_weight`` calls (bitwise closer to
        NEST; default False: one event-driven integration between pre spikes).

    Returns
    -------
    times : numpy.ndarray
        The pre spike times (one update each).
    weights : numpy.ndarray
        Weight after each update.
    """
    p = full_params(model, params, post_params)
    pre_t = [float(x) for x in grid_times(pre, "pre", t_min=0.0)]
    post_t = [float(x) for x in grid_times(post, "post", t_min=0.0)]
    d = int(round(delay / RESOLUTION)) * MS_PER_STEP  # Time::delay_steps_to_ms
    hist = _PostHistory(post_t, p["tau_minus"], p.get("tau_minus_triplet", 110.0))
    w = float(w0)
    if model == "stdp_triplet_synapse":
        out = _triplet_rule(p, pre_t, hist, d, w)
    elif model == "stdp_dopamine_synapse":
        dopa = grid_times([] if dopa_times is None else dopa_times, "dopamine", t_min=0.0)
        steps = np.rint(dopa / RESOLUTION) + int(round(dopa_delay / RESOLUTION))
        arrivals = [float(x) for x in _ms(steps)]
        t_end = pre_t[-1] if pre_t else 0.0
        out = _dopamine_rule(p, pre_t, hist, d, w, arrivals, dopa_triggers, t_end)
    else:
        out = _pair_rule(model, p, pre_t, hist, d, w, nest_artefact)
    return np.asarray(pre_t, dtype=np.float64), np.asarray(out, dtype=np.float64)
