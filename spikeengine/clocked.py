r"""Clocked populations: neurons advanced on a fixed time grid inside the event-driven engine.

Most of a spikeengine network is event-driven: a neuron is advanced exactly, and only when a spike
reaches it. Some models are defined on a clock instead: NEST's grid-based ``iaf_psc_delta`` and
``iaf_psc_exp``, and the e-prop neurons, whose eligibility traces and learning signals are per-step
quantities. A *clocked population* is advanced in steps of ``dt`` ms by a compiled step function, while
its spikes still travel as events, with per-synapse delays, to any population of the network, and the
spikes of any population reach it.

Timing (NEST's grid semantics, ``docs/clocked.md``):

* Update ``k`` of a clocked population covers ``(k dt, (k+1) dt]``; its spikes are emitted at
  ``(k+1) dt`` (NEST's spike stamp).
* A spike emitted at ``t`` (any population, on or off the grid) that arrives at ``T = t + d`` acts in
  the update that ends at ``ceil(T / dt) dt``: the first update whose end is not before it. Arrivals
  within 1e-9 ms of a grid point count as on it.
* e-prop blocks (:meth:`spikeengine.Network.eprop`) follow NEST's e-prop models: a presynaptic spike
  updates its synapses when it is emitted and acts one update later; their input delay is ``dt``.

How the two clocks are kept causal (:class:`CoSim`): the event-driven core and the clocked
populations advance in turns. Spikes of sources with explicit times are known in advance; spikes of
event-driven neurons (and Poisson sources) that reach clocked neurons with delay ``d`` are known
``d`` ahead. When every such delay is at least ``L + dt``-ish (see :meth:`CoSim._plan`), the clocked
populations go first for ``L`` ms and their spikes are queued for the core; otherwise both advance one
step at a time, the core first. Results do not depend on which schedule runs.
"""

from __future__ import annotations

import math

import numpy as np

from . import dtypes as dt
from .errors import NetworkError, ParameterError
from .models import LIF, LIFExp, NeuronModel, make_model

#: arrivals within this many ms of a grid point count as on it
GRID_TOL = 1e-9

# grid kernel parameter columns
(_G_P33, _G_P30, _G_P11E, _G_P11I, _G_P21E, _G_P21I, _G_VTH, _G_VRESET, _G_VMIN, _G_IE, _G_REF, _G_EXP,
 _G_EL) = range(13)
_G_NP = 13
# grid kernel state columns: V - E_L, refractory steps left, I_syn_ex, I_syn_in
_G_V, _G_R, _G_IEX, _G_IIN = range(4)
_G_NS = 4


def end_index(T, h):
    """Index ``e`` of the update that an arrival at ``T`` ms acts in: ``ceil(T / h)``, with arrivals within
    :data:`GRID_TOL` ms (or 4 ulp) of a grid point counted as on it.

    Examples
    --------
    >>> end_index(np.array([1.0, 1.05, 1.1 + 1e-12, 0.30000000000000004]), 0.1).tolist()
    [10, 11, 11, 3]
    """
    T = np.asarray(T, dtype=np.float64)
    x = T / h
    r = np.rint(x)
    tol = np.maximum(GRID_TOL, 4.0 * np.spacing(np.abs(T)))
    on = np.abs(T - r * h) <= tol
    return np.where(on, r, np.ceil(x)).astype(np.int64)


def propagator_32(tau_syn, tau, C, h):
    """NEST's ``propagator_32``: the effect of an exponential current on V over one step of ``h`` ms
    (with its fallback near ``tau_syn == tau``)."""
    p_lin = 1.0 / (2.0 * C * tau * tau) * h * h * (tau_syn - tau) * math.exp(-h / tau)
    p_sing = h / C * math.exp(-h / tau)
    if tau == tau_syn:
        return p_sing
    p = -tau / (C * (1.0 - tau / tau_syn)) * math.exp(-h / tau_syn) * math.expm1(h * (1.0 / tau_syn - 1.0 / tau))
    if abs(tau - tau_syn) < 0.1 and abs(p - p_sing) > 2.0 * abs(p_lin):
        return p_sing
    return p


class Clocked(NeuronModel):
    r"""A neuron model advanced on a clock of ``dt`` ms (NEST's grid-based models).

    ``Clocked("iaf_psc_delta", dt=0.1)`` is NEST's ``iaf_psc_delta`` (not ``_ps``): the membrane is
    integrated exactly over each step, inputs act at the end of the step they arrive in, spikes are
    emitted on the grid. ``"iaf_psc_exp"`` likewise. Parameters, units and defaults are those of
    :class:`~spikeengine.LIF` / :class:`~spikeengine.LIFExp`.

    .. math:: V_{k+1} = P_{33} V_k + P_{30} I_e + \textstyle\sum w \quad (\text{iaf\_psc\_delta})

    Parameters
    ----------
    model : str, NeuronModel class or instance
        ``"iaf_psc_delta"`` / :class:`~spikeengine.LIF`, or ``"iaf_psc_exp"`` / :class:`~spikeengine.LIFExp`.
    dt : float
        The clock, ms (> 0). Every clocked population of a network uses the same ``dt``.
    params : dict, optional
        Parameters of ``model`` when it is a name or class.

    Notes
    -----
    Not supported on the clock (a clear error): the adaptive threshold (``beta > 0``) and
    ``reset="subtract"``. ``t_ref`` must be a multiple of ``dt``. Input during the refractory period is
    discarded (NEST's default ``refractory_input=False``).

    Examples
    --------
    >>> import spikeengine as se
    >>> net = se.Network()
    >>> src = net.spike_source([[1.0, 2.0, 3.0]])
    >>> cell = net.population(1, se.Clocked("iaf_psc_delta", dt=0.1, params={"E_L": 0.0, "V_m": 0.0,
    ...                                      "V_reset": 0.0, "V_th": 1.5, "C_m": 1.0}))
    >>> _ = net.connect(src, cell, weight=1.0, delay=1.0)
    >>> cell.record("spikes")
    >>> net.run(10.0)
    >>> cell.spikes[0].tolist()
    [3.0]
    """

    clocked = True
    kind = dt.KIND_SOURCE  # the event core only queues its spikes
    spiking = True

    def __init__(self, model="iaf_psc_delta", dt=0.1, params=None):
        inner = make_model(model, params)
        if type(inner) not in (LIF, LIFExp):
            raise ParameterError(f"Clocked: model {type(inner).__name__} has no clocked form; use iaf_psc_delta "
                                 "(LIF) or iaf_psc_exp (LIFExp)")
        if isinstance(dt, bool) or not isinstance(dt, (int, float, np.integer, np.floating)) or not (
                math.isfinite(dt) and dt > 0):
            raise ParameterError(f"Clocked: dt must be a finite number of ms > 0, got {dt!r}")
        self.model = inner
        self.state_vars = ("V_m", "I_syn_ex", "I_syn_in") if isinstance(inner, LIFExp) else ("V_m",)
        self.dt = float(dt)
        self.params = inner.params
        self.defaults = inner.defaults
        self.units = inner.units
        self.weight_unit = inner.weight_unit
        self.nest_name = inner.nest_name

    def __repr__(self):
        return f"Clocked({self.model!r}, dt={self.dt})"

    def arrays(self, n, label=None):
        """Validated per-neuron parameters of the inner model, with the clocked restrictions checked."""
        name = label or "Clocked"
        a = self.model.arrays(n, label)
        if self.params.get("reset", "value") != "value":
            raise ParameterError(f"{name}: reset='subtract' is not available on the clock (NEST's grid models "
                                 "reset to V_reset)")
        if (a["beta"] != 0).any():
            i = int(np.flatnonzero(a["beta"] != 0)[0])
            raise ParameterError(f"{name}: the adaptive threshold (beta = {float(a['beta'][i])!r} at neuron {i}) "
                                 "is not available on the clock; use an event-driven LIF")
        steps = a["t_ref"] / self.dt
        off = np.abs(steps - np.rint(steps)) > 1e-9 * np.maximum(1.0, steps)
        if off.any():
            i = int(np.flatnonzero(off)[0])
            raise ParameterError(f"{name}: t_ref = {float(a['t_ref'][i])!r} ms (neuron {i}) is not a multiple of "
                                 f"dt = {self.dt} ms")
        return a

    def fill(self, P, S, rows, label=None):
        """Validate only: the event core sees a clocked neuron as a spike source."""
        self.arrays(len(rows), label)

    def grid_arrays(self, n, label=None):
        """Kernel parameters ``(n, 13)`` and initial state ``(n, 4)`` (voltages relative to ``E_L``)."""
        a = self.arrays(n, label)
        h = self.dt
        P = np.zeros((n, _G_NP))
        S = np.zeros((n, _G_NS))
        tm, c, el = a["tau_m"], a["C_m"], a["E_L"]
        P[:, _G_P33] = np.exp(-h / tm)
        P[:, _G_P30] = -tm / c * np.expm1(-h / tm)
        P[:, _G_VTH] = a["V_th"] - el
        P[:, _G_VRESET] = a["V_reset"] - el
        P[:, _G_VMIN] = a["V_min"] - el
        P[:, _G_IE] = a["I_e"]
        P[:, _G_REF] = np.rint(a["t_ref"] / h)
        P[:, _G_EL] = el
        S[:, _G_V] = a["V_m"] - el
        if isinstance(self.model, LIFExp):
            P[:, _G_EXP] = 1.0
            P[:, _G_P11E] = np.exp(-h / a["tau_syn_ex"])
            P[:, _G_P11I] = np.exp(-h / a["tau_syn_in"])
            P[:, _G_P21E] = [propagator_32(ts, t, cc, h) for ts, t, cc in zip(a["tau_syn_ex"], tm, c)]
            P[:, _G_P21I] = [propagator_32(ts, t, cc, h) for ts, t, cc in zip(a["tau_syn_in"], tm, c)]
            S[:, _G_IEX] = a["I_syn_ex"]
            S[:, _G_IIN] = a["I_syn_in"]
        return P, S


def grid_steps(e0, n, P, S, ring, x_e, x_i, x_w, c_ptr, c_tgt, c_w, c_d, o_e, o_i, s_e, s_j, s_v, s_out):
    """Advance the grid neurons by the ``n`` updates ending at ``e0 + 1 .. e0 + n`` (in steps).

    ``ring[e % R, j, 0/1]`` holds the excitatory / inhibitory input of neuron ``j`` acting in update ``e``
    (``iaf_psc_delta`` uses column 0 for both signs, NEST's single buffer); ``x_e, x_i, x_w`` are the
    arrivals from outside, sorted by ``x_e`` (update index, all in range); ``c_*`` the CSR of the
    synapses between grid neurons (delay ``c_d`` in updates, >= 1). Spikes go to ``o_e, o_i``; returns
    ``(updates done, spikes written)``: fewer than ``n`` updates when the output is full. After the updates
    listed in ``s_e`` (sorted), row ``k`` of ``s_out`` gets state column ``s_v[c]`` of neuron ``s_j[c]``
    (``V_m`` with ``E_L`` added back).
    """
    R = ring.shape[0]
    N = P.shape[0]
    p = 0
    nx = x_e.shape[0]
    nout = 0
    cap = o_e.shape[0]
    ps = 0
    ns = s_e.shape[0]
    for s in range(n):
        if nout + N > cap:
            return s, nout
        e = e0 + 1 + s
        slot = e % R
        while p < nx and x_e[p] == e:
            j = x_i[p]
            w = x_w[p]
            if w < 0.0 and P[j, _G_EXP] != 0.0:
                ring[slot, j, 1] += w
            else:
                ring[slot, j, 0] += w
            p += 1
        for j in range(N):
            wex = ring[slot, j, 0]
            win = ring[slot, j, 1]
            ring[slot, j, 0] = 0.0
            ring[slot, j, 1] = 0.0
            v = S[j, _G_V]
            if P[j, _G_EXP] == 0.0:  # iaf_psc_delta
                if S[j, _G_R] == 0.0:
                    v = P[j, _G_P30] * P[j, _G_IE] + P[j, _G_P33] * v + wex
                    if v < P[j, _G_VMIN]:
                        v = P[j, _G_VMIN]
                else:
                    S[j, _G_R] -= 1.0
            else:  # iaf_psc_exp
                if S[j, _G_R] == 0.0:
                    v = (v * P[j, _G_P33] + S[j, _G_IEX] * P[j, _G_P21E] + S[j, _G_IIN] * P[j, _G_P21I]
                         + P[j, _G_IE] * P[j, _G_P30])
                    if v < P[j, _G_VMIN]:
                        v = P[j, _G_VMIN]
                else:
                    S[j, _G_R] -= 1.0
                S[j, _G_IEX] = S[j, _G_IEX] * P[j, _G_P11E] + wex
                S[j, _G_IIN] = S[j, _G_IIN] * P[j, _G_P11I] + win
            if v >= P[j, _G_VTH]:
                S[j, _G_R] = P[j, _G_REF]
                v = P[j, _G_VRESET]
                o_e[nout] = e
                o_i[nout] = j
                nout += 1
                for k in range(c_ptr[j], c_ptr[j + 1]):
                    q = c_tgt[k]
                    w = c_w[k]
                    sl = (e + c_d[k]) % R
                    if w < 0.0 and P[q, _G_EXP] != 0.0:
                        ring[sl, q, 1] += w
                    else:
                        ring[sl, q, 0] += w
            S[j, _G_V] = v
        while ps < ns and s_e[ps] == e:
            for c in range(s_j.shape[0]):
                j = s_j[c]
                if s_v[c] == _G_V:
                    s_out[ps, c] = S[j, _G_V] + P[j, _G_EL]
                else:
                    s_out[ps, c] = S[j, s_v[c]]
            ps += 1
    return n, nout


_JITTED = {}


def step_function(backend):
    """The grid step function for ``backend``: the Python reference, or its Numba twin."""
    if backend == "python":
        return grid_steps
    if "grid" not in _JITTED:
        import numba

        _JITTED["grid"] = numba.njit(cache=True)(grid_steps)
    return _JITTED["grid"]


def _label(pop):
    return f"population {pop.name!r}"


def refuse_clocked(net, what, grid_ok=False):
    """Raise :class:`NetworkError` if ``net`` has clocked populations (not representable in ``what`` yet);
    ``grid_ok``: :class:`Clocked` grid models are (e-prop blocks are not)."""
    for p in net.populations:
        if getattr(p.model, "clocked", False) and not (grid_ok and isinstance(p.model, Clocked)):
            raise NetworkError(f"the clocked population {p.name!r} ({p.model!r}) cannot be exported to {what} yet; "
                               "network files and graphs hold event-driven populations only")


class _Domain:
    """A set of clocked neurons advanced together (one step function).

    ``lookahead``: how many updates beyond the one being computed its input must be known (0 for the grid
    models, 1 for e-prop, whose synapses act at the presynaptic spike).
    """

    lookahead = 0
    name = "clocked"

    def __init__(self, h):
        self.h = h
        self.done = 0  # updates done: the last one ended at done * h
        self.pend = []  # arrivals from outside: (e, local index, weight) arrays
        self.updates = 0
        self.arrivals = 0

    def add(self, e, idx, w):
        if e.size:
            self.pend.append((e, idx, w))
            self.arrivals += e.size

    def take(self, e_max):
        """The pending arrivals with update index <= ``e_max``, stably sorted by it (delivery order kept)."""
        if not self.pend:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        e = np.concatenate([p[0] for p in self.pend])
        i = np.concatenate([p[1] for p in self.pend])
        w = np.concatenate([p[2] for p in self.pend])
        m = e <= e_max
        self.pend = [(e[~m], i[~m], w[~m])] if not m.all() else []
        e, i, w = e[m], i[m], w[m]
        order = np.argsort(e, kind="stable")
        return e[order], i[order], w[order]

    def reset(self, keep_weights):
        self.done = 0
        self.pend = []
        self.updates = 0
        self.arrivals = 0


class GridDomain(_Domain):
    """Every :class:`Clocked` population of a network: one ring buffer, one step function."""

    def __init__(self, h, pops, projections, backend):
        super().__init__(h)
        self.pops = pops
        self.first = {}
        Ps, Ss = [], []
        k = 0
        for pop in pops:
            P, S = pop.model.grid_arrays(pop.size, _label(pop))
            Ps.append(P)
            Ss.append(S)
            self.first[id(pop)] = k
            k += pop.size
        self.n = k
        self.P = np.concatenate(Ps) if Ps else np.zeros((0, _G_NP))
        self.S0 = np.concatenate(Ss) if Ss else np.zeros((0, _G_NS))
        self.gid = np.concatenate([np.arange(p.first, p.first + p.size) for p in pops]).astype(np.int64)
        # synapses between grid neurons, CSR by local source
        src, tgt, w, d = [], [], [], []
        for p in projections:
            src.append(np.asarray(p.sources, np.int64) + self.first[id(p.pre)])
            tgt.append(np.asarray(p.targets, np.int64) + self.first[id(p.post)])
            w.append(np.broadcast_to(np.asarray(p.weights, np.float64), (len(p),)))
            d.append(_delay_steps(p, h))
        if src:
            src, tgt, w, d = (np.concatenate(x) for x in (src, tgt, w, d))
        else:
            src, tgt, w, d = np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64)
        order = np.argsort(src, kind="stable")
        self.c_tgt, self.c_w, self.c_d = tgt[order], w[order], d[order]
        self.c_ptr = np.zeros(self.n + 1, np.int64)
        np.cumsum(np.bincount(src, minlength=self.n), out=self.c_ptr[1:])
        self.R = int(d.max()) + 1 if d.size else 1
        self.step = step_function(backend)
        # state samplers (Population.record("V_m", ...)): one column per (sampler, neuron)
        var = {"V_m": _G_V, "I_syn_ex": _G_IEX, "I_syn_in": _G_IIN}
        self.samplers, js, vs = [], [], []
        c = 0
        for pop in pops:
            for smp in pop._samplers:
                for t in ([smp["interval"]] if smp["interval"] is not None else list(smp["times"])):
                    if abs(t / h - round(t / h)) > 1e-9 * max(1.0, t / h):
                        what = "interval" if smp["interval"] is not None else "sample time"
                        raise NetworkError(f"clocked {_label(pop)}: the {what} {t!r} ms of its {smp['var']!r} "
                                           f"recording is not a multiple of dt = {h} ms")
                js.append(smp["ids"] + self.first[id(pop)])
                vs.append(np.full(smp["ids"].size, var[smp["var"]], np.int64))
                self.samplers.append((pop, smp, c, c + smp["ids"].size))
                c += smp["ids"].size
        self.s_j = np.concatenate(js).astype(np.int64) if js else np.empty(0, np.int64)
        self.s_v = np.concatenate(vs) if vs else np.empty(0, np.int64)
        self.reset(False)

    def reset(self, keep_weights):
        super().reset(keep_weights)
        self.S = self.S0.copy()
        self.ring = np.zeros((self.R, self.n, 2))
        self.smp = []  # (update indices, values) per advance

    def _sample_rows(self, e_lo, e_hi):
        """Update indices in ``[e_lo, e_hi]`` at which some sampler records (a union, sorted)."""
        rows = []
        for _pop, smp, _a, _b in self.samplers:
            if smp["interval"] is not None:
                m = max(1, round(smp["interval"] / self.h))
                rows.append(np.arange(-(-e_lo // m) * m, e_hi + 1, m, dtype=np.int64))
            else:
                e = np.rint(smp["times"] / self.h).astype(np.int64)
                rows.append(e[(e >= e_lo) & (e <= e_hi)])
        return np.unique(np.concatenate(rows)) if rows else np.empty(0, np.int64)

    def samples_of(self, pop, what):
        """``(times, values[n_times, n_ids], ids)`` of ``pop``'s ``what`` sampler."""
        from .errors import ParameterError

        for pp, smp, a, b in self.samplers:
            if pp is pop and smp["var"] == what:
                ts, vs = [], []
                for e, vals in self.smp:
                    t = e * self.h
                    if smp["interval"] is not None:
                        m = max(1, round(smp["interval"] / self.h))
                        keep = e % m == 0
                    else:
                        keep = np.isin(e, np.rint(smp["times"] / self.h).astype(np.int64))
                    ts.append(t[keep])
                    vs.append(vals[keep, a:b])
                if not ts:
                    return np.empty(0), np.empty((0, b - a)), smp["ids"].copy()
                return np.concatenate(ts), np.concatenate(vs), smp["ids"].copy()
        raise ParameterError(f"population {pop.name!r}: {what!r} was not recorded")

    def advance(self, E):
        """Run the updates ending at ``done+1 .. E``; returns their spikes as (times ms, global ids)."""
        n = E - self.done
        if n <= 0 or self.n == 0:
            self.done = max(self.done, E)
            return np.empty(0), np.empty(0, np.int64)
        x_e, x_i, x_w = self.take(E)
        if x_e.size and x_e[0] <= self.done:  # the schedule rules this out; never drop input silently
            raise NetworkError(f"clocked populations: an input arrived for update {int(x_e[0])}, which had already "
                               "run (please report this)")
        oe, oi = [], []
        cap = max(4096, 4 * self.n)
        p = 0
        s_e = np.empty(0, np.int64)
        if self.samplers:
            s_e = self._sample_rows(self.done + (0 if self.done == 0 else 1), E)
            s_out = np.full((s_e.size, self.s_j.size), np.nan)
            if s_e.size and s_e[0] == 0:  # the initial state
                for c, (j, v) in enumerate(zip(self.s_j, self.s_v)):
                    s_out[0, c] = self.S[j, v] + (self.P[j, _G_EL] if v == _G_V else 0.0)
            self.smp.append((s_e, s_out))
        ps = 1 if s_e.size and s_e[0] == 0 else 0
        while n > 0:
            o_e = np.empty(cap, np.int64)
            o_i = np.empty(cap, np.int64)
            q = np.searchsorted(x_e, self.done + n, side="right")
            qs = np.searchsorted(s_e, self.done + n, side="right")
            did, k = self.step(self.done, n, self.P, self.S, self.ring, x_e[p:q], x_i[p:q], x_w[p:q],
                               self.c_ptr, self.c_tgt, self.c_w, self.c_d, o_e, o_i,
                               s_e[ps:qs], self.s_j, self.s_v, s_out[ps:qs] if s_e.size else _NO_SAMPLES)
            oe.append(o_e[:k])
            oi.append(o_i[:k])
            self.arrivals += int((self.c_ptr[o_i[:k] + 1] - self.c_ptr[o_i[:k]]).sum())
            p = np.searchsorted(x_e, self.done + did, side="right")
            ps = np.searchsorted(s_e, self.done + did, side="right")
            self.done += did
            self.updates += did * self.n
            n -= did
            cap *= 2
        e = np.concatenate(oe)
        return e * self.h, self.gid[np.concatenate(oi)]


_NO_SAMPLES = np.zeros((0, 0))


def _delay_steps(p, h):
    """Delays of grid-to-grid projection ``p`` in updates: ``ceil(d / h)`` (>= 1), with the grid tolerance."""
    d = np.broadcast_to(np.asarray(p.delays, np.float64), (len(p),))
    return np.maximum(end_index(d, h), 1)


class EpropDomain(_Domain):
    """An :class:`EpropBlock`: its :class:`~spikeengine.eprop.EpropNetwork` advanced on the engine's clock."""

    lookahead = 1

    def __init__(self, h, block):
        super().__init__(h)
        self.block = block
        self.name = block.name
        ep = block.network
        self._w0 = (ep.W_in.copy(), ep.W_rec.copy(), ep.W_out.copy(), ep.B.copy())
        self.reset(True)

    session = None

    def end(self):
        """The Network.run is over: write the e-prop state back into the EpropNetwork."""
        if self.session is not None:
            self.session.close()
            self.session = None

    def reset(self, keep_weights):
        self.end()
        super().reset(keep_weights)
        ep = self.block.network
        if not keep_weights:
            for name, w in zip(("W_in", "W_rec", "W_out", "B"), self._w0):
                getattr(ep, name)[...] = w
        ep.reset()
        self.block._reset()

    def advance(self, E):
        """Run e-prop updates ``done .. E - 1`` (ending at ``done+1 .. E``); returns their recurrent spikes."""
        blk = self.block
        ep = blk.network
        n = E - self.done
        if n <= 0:
            return np.empty(0), np.empty(0, np.int64)
        # raster row r (the presynaptic spike step) holds the arrivals acting in update r + 1, index r + 2
        x_e, x_i, _ = self.take(E + 1)
        rows = x_e - 2 - self.done
        if rows.size and rows.min() < 0:  # cannot happen with delays >= dt (checked at compile)
            raise NetworkError(f"e-prop block {blk.name!r}: an input spike arrived after its step had run")
        raster = np.zeros((n, ep.n_in), dtype=bool)
        if rows.size:
            raster[rows, x_i] = True
        if rows.size and np.count_nonzero(raster) < rows.size:  # two spikes of one input in one step
            key = rows * ep.n_in + x_i
            u, c = np.unique(key, return_counts=True)
            if (c > 1).any():
                r, i = divmod(int(u[c > 1][0]), ep.n_in)
                raise NetworkError(f"e-prop block {blk.name!r}: input {i} delivers {int(c[c > 1][0])} spikes in step "
                                   f"{self.done + r} (t = {(self.done + r + 1) * self.h} ms); e-prop synapses take "
                                   "at most one spike per presynaptic neuron and step (NEST's grid): give the "
                                   "input neurons a refractory period >= dt, or use a smaller dt")
        targets, window = blk._targets_for(self.done, n)
        if ep.scheme == "event":  # the packed synapse state stays packed until the end of the Network.run
            from .eprop._event import EventSession
            from .eprop.network import EpropResult

            if self.session is None:
                self.session = EventSession(ep, blk.learn, blk.record_weights)
                self.session.min_cut = 256
            t0 = ep.t
            out = self.session.run(raster, targets, np.ones(n) if window is None else window)
            res = EpropResult(*out, t0, ep.dt)
        else:
            res = ep.run(raster, targets, learning_window=window, learn=blk.learn, record_weights=blk.record_weights)
        blk._results.append(res)
        self.done = E
        self.updates += n * (ep.n_rec + ep.n_out)
        return (res.spike_steps + 1) * self.h, res.spike_ids + blk.rec.first


class CoSim:
    """Runs the clocked domains of a :class:`~spikeengine.simulator.Simulator` in turn with its event core."""

    def __init__(self, sim):
        self.sim = sim
        net = sim.net
        pops = [p for p in net.populations if getattr(p.model, "clocked", False)]
        hs = {p.model.dt for p in pops}
        if len(hs) > 1:
            desc = ", ".join(f"{p.name!r}: {p.model.dt} ms" for p in pops)
            raise NetworkError(f"clocked populations use different clocks ({desc}); one network runs one clock")
        self.h = h = hs.pop()
        self.domains = []
        self.dom_of = {}  # id(population) -> (domain index, local offset)
        grid_pops = [p for p in pops if isinstance(p.model, Clocked)]
        blocks = list(getattr(net, "_blocks", []))
        grid_proj = [p for p in net.projections
                     if isinstance(p.post.model, Clocked) and isinstance(p.pre.model, Clocked)]
        for p in net.projections:
            if getattr(p.post.model, "clocked", False) and p.plasticity is not None:
                raise NetworkError(f"projection {p.name!r}: plasticity onto the clocked {_label(p.post)} is not "
                                   "available (e-prop learns inside its block, see Network.eprop)")
        if grid_pops:
            g = GridDomain(h, grid_pops, grid_proj, sim.backend.name)
            self.domains.append(g)
            for pop in grid_pops:
                self.dom_of[id(pop)] = (0, g.first[id(pop)])
        for blk in blocks:
            self.domains.append(EpropDomain(h, blk))
            self.dom_of[id(blk.rec)] = (len(self.domains) - 1, 0)
            self.dom_of[id(blk.out)] = (len(self.domains) - 1, 0)
        # synapses from outside each domain: CSR by global source
        n = sim.n
        src, tgt, w, d, dom = [], [], [], [], []
        self.projections = []
        for p in net.projections:
            if id(p.post) not in self.dom_of:
                continue
            self.projections.append(p)
            if p in grid_proj:
                continue
            di, off = self.dom_of[id(p.post)]
            if isinstance(self.domains[di], EpropDomain):
                raise NetworkError(f"projection {p.name!r}: e-prop populations take input only through their "
                                   f"block's inputs (Network.eprop(..., inputs=...)), not from connect()")
            src.append(np.asarray(p.sources, np.int64) + p.pre.first)
            tgt.append(np.asarray(p.targets, np.int64) + off)
            w.append(np.broadcast_to(np.asarray(p.weights, np.float64), (len(p),)))
            d.append(np.broadcast_to(np.asarray(p.delays, np.float64), (len(p),)))
            dom.append(np.full(len(p), di, np.int64))
        for di, dm in enumerate(self.domains):
            if isinstance(dm, EpropDomain):
                blk = dm.block
                if blk.inputs is None:
                    continue
                src.append(np.arange(blk.inputs.first, blk.inputs.first + blk.inputs.size, dtype=np.int64))
                tgt.append(np.arange(blk.inputs.size, dtype=np.int64))
                w.append(np.ones(blk.inputs.size))
                d.append(np.full(blk.inputs.size, blk.delay))
                dom.append(np.full(blk.inputs.size, di, np.int64))
        if src:
            src, tgt, w, d, dom = (np.concatenate(x) for x in (src, tgt, w, d, dom))
        else:
            src = tgt = dom = np.empty(0, np.int64)
            w = d = np.empty(0)
        order = np.argsort(src, kind="stable")
        self.x_tgt, self.x_w, self.x_d, self.x_dom = tgt[order], w[order], d[order], dom[order]
        self.x_ptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(src, minlength=n), out=self.x_ptr[1:])
        # who is routed how: 1 = sources with explicit times (known ahead, routed from the queue),
        # 3 = clocked neurons (routed as soon as their domain has run), 2 = everything else (event-driven
        # neurons and Poisson sources, routed from the core's output after each chunk)
        self.route = np.zeros(n, np.int8)
        self.dom_id = np.full(n, -1, np.int64)  # the domain of each clocked neuron
        for pop in net.populations:
            if id(pop) in self.dom_of:
                self.dom_id[pop.first:pop.first + pop.size] = self.dom_of[id(pop)][0]
        has = np.diff(self.x_ptr) > 0
        ahead = np.zeros(n, bool)
        for pop in net.populations:
            if pop.source is not None and pop.source[0] in ("array", "stream"):
                ahead[pop.first:pop.first + pop.size] = True
        self.route[has & ahead] = 1
        self.route[has & ~ahead] = 2
        self.route[has & (self.dom_id >= 0)] = 3
        self._plan()
        self.reset(True)

    def mark(self, rec):
        """Ask the core to report the spikes routed from its output."""
        rec[self.route == 2] = 1

    def _plan(self):
        """The schedule: ``self.mode`` ("clocked": the clocked populations go first, "events": the core goes
        first) and ``self.L``, the ms of each turn (a multiple of dt, ``inf``: whole runs).

        * Clocked first for ``L``: the updates ending in ``(a, a + L]`` read spikes up to ``a + L + la dt - d``
          (``la``: the domain's lookahead), which must be known at ``a``: ``L <= (floor(d / dt) - la) dt`` for
          every delay ``d`` from an event-driven neuron or Poisson source into the clock.
        * Core first for ``L``: the clocked spikes of ``(a, a + L]`` are queued after the core passed them, so
          they must not arrive anywhere before ``a + L``: ``L <= floor(d / dt) dt`` for every delay from a
          clocked neuron into the core (``L = dt`` always works: only spikes at ``a + dt`` are queued).
        * Clocked neurons reach later domains right after their own domain ran; an input from a domain that runs
          later (or the same e-prop block) bounds ``L`` in both modes like an event-driven one.
        """
        h = self.h

        def bound(d, la):
            return (math.floor((d + GRID_TOL) / h) - la) * h

        srcs = np.repeat(np.arange(self.x_ptr.size - 1), np.diff(self.x_ptr))
        cls = self.route[srcs]
        L_cf = L_ef = math.inf
        for di, dm in enumerate(self.domains):
            into = self.x_dom == di
            m = into & (cls == 2)
            if m.any():
                dmin = float(self.x_d[m].min())
                if isinstance(dm, EpropDomain) and dmin < h - GRID_TOL:
                    raise NetworkError(f"e-prop block {dm.name!r}: its input delay {dmin} ms is below dt = {h} ms")
                L_cf = min(L_cf, bound(dmin, dm.lookahead))
            back = into & (cls == 3) & (self.dom_id[srcs] >= di)
            if back.any():
                dmin = float(self.x_d[back].min())
                b = bound(dmin, dm.lookahead)
                if b < h - GRID_TOL:
                    src = int(srcs[back][np.argmin(self.x_d[back])])
                    raise NetworkError(f"clocked neuron {src} reaches the clocked domain {dm.name!r} with a delay of "
                                       f"{dmin} ms, which it needs one update earlier than the two can run in this "
                                       f"order; use a delay >= {(dm.lookahead + 1) * h} ms, or build the receiving "
                                       "block after the sending one")
                L_cf = min(L_cf, b)
                L_ef = min(L_ef, b)
        # delays from clocked neurons into the event core
        sim = self.sim
        if sim.g_src.size:
            m = self.dom_id[sim.g_src] >= 0
            if m.any():
                L_ef = min(L_ef, bound(float(sim.g_delay[m].min()), 0))
        L_cf = L_cf if L_cf >= h - GRID_TOL else 0.0
        L_ef = max(L_ef, h)
        if L_cf >= L_ef:
            self.mode, self.L = "clocked", L_cf
        else:
            self.mode, self.L = "events", L_ef

    def begin(self):
        """A ``Network.run`` call starts: the e-prop blocks start collecting its results."""
        for dm in self.domains:
            if isinstance(dm, EpropDomain):
                dm.block._results = []

    def reset(self, keep_weights):
        for dm in self.domains:
            dm.reset(keep_weights)
        self.q_until = -math.inf

    # ------------------------------------------------------------------ routing
    def _route(self, t, ids, which):
        """Turn spikes ``(t, ids)`` of routing class ``which`` into arrivals of the clocked domains."""
        if not t.size:
            return
        m = self.route[ids] == which
        if not m.any():
            return
        t, ids = t[m], ids[m]
        lo = self.x_ptr[ids]
        cnt = self.x_ptr[ids + 1] - lo
        rep = np.repeat(np.arange(ids.size), cnt)
        syn = lo[rep] + (np.arange(rep.size) - np.repeat(np.cumsum(cnt) - cnt, cnt))
        e = end_index(t[rep] + self.x_d[syn], self.h)
        dom = self.x_dom[syn]
        for di, dm in enumerate(self.domains):
            k = dom == di
            if k.any():
                dm.add(e[k], self.x_tgt[syn[k]], self.x_w[syn[k]])

    def _route_queue(self, t_end):
        """Route the queued source spikes in ``(q_until, t_end]`` (not emitted by the core yet)."""
        sim = self.sim
        if t_end <= self.q_until:
            return
        p = int(sim.ctr[dt.C_SRC])
        st = sim.src_t[p:]
        a = int(np.searchsorted(st, self.q_until, side="right"))
        q = int(np.searchsorted(st, t_end, side="right"))
        if q > a:
            self._route(st[a:q], sim.src_id[p:][a:q], 1)
        self.q_until = t_end

    def on_inject(self, times, ids):
        """Source spikes queued from outside (streams) at times already routed past: route them now."""
        times = np.asarray(times, np.float64)
        m = times <= self.q_until
        if m.any():
            self._route(times[m], np.asarray(ids, np.int64)[m], 1)

    def _advance(self, E):
        """Advance every domain to update ``E`` in order, routing each one's spikes to the others at once;
        queue them all in the core. Returns how many domains spiked."""
        ts, ids = [], []
        for dm in self.domains:
            t, i = dm.advance(E)
            if t.size:
                self._route(t, i, 3)
                ts.append(t)
                ids.append(i)
        if ts:
            self.sim.inject(np.concatenate(ts), np.concatenate(ids))
        return len(ts)

    # ------------------------------------------------------------------ running
    def check_time(self, t, what):
        k = round(t / self.h)
        if abs(t - k * self.h) > GRID_TOL * max(1.0, abs(t)):
            raise NetworkError(f"{what} = {t!r} ms is not a multiple of the clocked populations' dt = {self.h} ms; "
                               "run in multiples of dt")
        return k

    def run(self, a, b):
        """Advance the network from ``a`` to ``b`` ms (both on the grid)."""
        try:
            self._run(a, b)
        finally:
            for dm in self.domains:
                if isinstance(dm, EpropDomain):
                    dm.end()

    def _run(self, a, b):
        sim = self.sim
        ka = self.check_time(a, "the start time")
        kb = self.check_time(b, "the end time")
        h = self.h
        la = h * max((dm.lookahead for dm in self.domains), default=0)
        step = kb - ka if math.isinf(self.L) else max(1, int(math.floor(self.L / h + 1e-9)))
        k = ka
        while k < kb:
            k1 = min(k + step, kb)
            ta = a if k == ka else k * h
            tb = b if k1 == kb else k1 * h
            self._route_queue(tb + la)
            if self.mode == "clocked":
                self._advance(k1)
                t, i = sim._run_chunk(ta, tb, inclusive=True)
                self._route(t, i, 2)
            else:
                t, i = sim._run_chunk(ta, tb, inclusive=True)
                self._route(t, i, 2)
                if self._advance(k1) and k1 == kb:
                    # a run to b includes the events up to b: emit the clocked spikes of the last turn (their
                    # arrivals all lie after b: the turn is no longer than the delays out of the clock)
                    t, i = sim._run_chunk(b, b, inclusive=True)
                    self._route(t, i, 2)
            k = k1

    def samples_of(self, pop, what):
        """Sampled ``what`` of clocked population ``pop``: ``(times, values[n_times, n_ids], ids)``."""
        di, _ = self.dom_of[id(pop)]
        return self.domains[di].samples_of(pop, what)

    def updates_of(self, pop):
        """Neuron updates of clocked population ``pop`` so far (its size times the updates run)."""
        di, _ = self.dom_of[id(pop)]
        return pop.size * self.domains[di].done

    def counters(self):
        """Clocked neuron updates and synaptic events delivered to clocked neurons."""
        return sum(dm.updates for dm in self.domains), sum(dm.arrivals for dm in self.domains)
