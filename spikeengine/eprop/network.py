"""A clocked e-prop network: inputs -> recurrent LIF/ALIF population -> leaky readouts, feedback B.

See :class:`EpropNetwork`, and ``docs/eprop.md`` for the conventions.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import NetworkError, ParameterError
from .models import EpropIAF, EpropReadout
from .optimizers import make_optimizer
from .surrogates import SURROGATES

SCHEMES = ("event", "bsshslm_2020")
LOSSES = ("mse", "cross_entropy")
FEEDBACK = ("random", "symmetric")
_BIG = 1 << 60  # "infinite" cutoff, in steps
#: Event scheme: at the end of a run, the pending window of a presynaptic neuron silent for this many steps is
#: integrated into its synapses (NEST's flush events, ``flush_event_send_interval``), so that the history holds
#: at most about this many steps besides the run's own (results do not depend on it).
FLUSH_STEPS = 1000


class EpropResult:
    """What one :meth:`EpropNetwork.run` produced.

    Attributes
    ----------
    readout : ndarray (n_steps, n_out)
        The readout signal per step: ``V_m`` (mV, MSE) or the softmax (cross-entropy).
    error : ndarray (n_steps, n_out)
        The error signal per step (``readout - target`` inside the learning window, else 0).
    loss : float
        MSE: ``0.5 * sum_t sum_k error**2``; cross-entropy: ``-sum_t sum_k target * log(readout)``
        over the steps of the learning window.
    spike_steps, spike_ids : ndarray
        Spikes of the recurrent neurons (absolute step, neuron index).
    weight_events : dict of ndarray or None
        With ``record_weights=True``: one row per transmitted presynaptic spike and synapse,
        ``step`` (absolute step of the spike), ``proj`` (0 in->rec, 1 rec->rec, 2 rec->out), ``pre``,
        ``post`` and ``weight`` (the weight the spike was transmitted with, after its update); this is
        NEST's weight-recorder record.
    t_start : int
        Absolute step of the first step of the run.
    """

    def __init__(self, readout, error, loss, spikes, wev, t_start, dt):
        self.readout = readout
        self.error = error
        self.loss = float(loss)
        self.spike_steps, self.spike_ids = spikes
        self.t_start = t_start
        self.dt = dt
        if wev is None:
            self.weight_events = None
        elif wev:
            cols = list(zip(*wev))
            names = ("step", "proj", "pre", "post", "weight")
            self.weight_events = {nm: np.concatenate(c) for nm, c in zip(names, cols)}
        else:
            self.weight_events = {nm: np.zeros(0) for nm in ("step", "proj", "pre", "post", "weight")}

    @property
    def spike_times(self):
        """Spike times of the recurrent neurons in ms (``step * dt``)."""
        return self.spike_steps * self.dt

    def __repr__(self):
        return f"EpropResult(steps={self.readout.shape[0]}, loss={self.loss:.6g}, spikes={self.spike_ids.size})"


class EpropNetwork:
    r"""An e-prop network as in NEST 3.10's e-prop examples (EPROP.md), clocked at ``dt``.

    ``n_in`` input neurons (spike sources), ``n_rec`` recurrent neurons (:class:`EpropIAF` /
    :class:`EpropIAFAdapt`, possibly mixed), ``n_out`` readouts (:class:`EpropReadout`); all-to-all
    e-prop synapses in->rec, rec->rec (no autapses) and rec->out with one-step delays, feedback weights
    ``B`` out->rec. All delays are one step, as NEST requires.

    Parameters
    ----------
    n_in : int
        Number of input neurons.
    rec : EpropIAF or EpropIAFAdapt or list of (model, n)
        The recurrent population: one model for all (``n_rec`` from ``W_in``), or groups of neurons in order.
    readout : EpropReadout
        The readout model (shared by the ``n_out`` readouts).
    W_in : array_like (n_rec, n_in)
        Input weights (mV; the voltage jump), ``W_in[j, i]`` is ``i -> j``.
    W_rec : array_like (n_rec, n_rec)
        Recurrent weights; the diagonal must be 0 (there are no autapses).
    W_out : array_like (n_out, n_rec)
        Readout weights.
    B : array_like (n_rec, n_out), optional
        Feedback weights (``eprop_learning_signal_connection``). Required for ``feedback="random"``;
        with ``feedback="symmetric"`` it must be omitted: ``B = W_out.T`` and it follows every change
        of ``W_out`` (not in NEST).
    optimizer : GradientDescent or Adam or dict, optional
        Shared by all e-prop synapses (NEST sets it on the synapse model); default NEST's GD.
    scheme : {"event", "bsshslm_2020"}
        ``"event"``: NEST's ``eprop_*`` models (updates at presynaptic spikes). ``"bsshslm_2020"``:
        NEST's ``*_bsshslm_2020`` models (Bellec 2020: updates once per ``update_interval``).
    loss : {"mse", "cross_entropy"}
        Cross-entropy uses a softmax over the readouts. In the ``bsshslm_2020`` scheme it is NEST's
        (normaliser one step stale); in the event scheme it is this engine's extension: the softmax of the
        current step, ``err = softmax(y^t) - y*^t``.
    feedback : {"random", "symmetric"}
    dt : float
        Resolution in ms (> 0).
    update_interval, learning_window : float, optional
        ``bsshslm_2020`` only: NEST's kernel ``eprop_update_interval`` and ``eprop_learning_window`` (ms).
    reset_neurons_on_update : bool
        ``bsshslm_2020`` only (NEST's ``eprop_reset_neurons_on_update``).
    average_gradient : bool
        ``bsshslm_2020`` only (``eprop_synapse_bsshslm_2020``'s ``average_gradient``).
    tau_m_readout : float, optional
        ``bsshslm_2020`` only: the synapse's ``tau_m_readout`` (ms); default the readout's ``tau_m``.

    Examples
    --------
    >>> import numpy as np
    >>> from spikeengine.eprop import EpropNetwork, EpropIAF, EpropReadout, GradientDescent
    >>> net = EpropNetwork(
    ...     n_in=2, rec=EpropIAF(C_m=1.0, E_L=0.0, V_th=0.03, tau_m=30.0, t_ref=0.0), readout=EpropReadout(C_m=1.0),
    ...     W_in=np.full((3, 2), 0.02), W_rec=np.zeros((3, 3)), W_out=np.full((1, 3), 0.1),
    ...     B=np.ones((3, 1)), optimizer=GradientDescent(eta=1e-3))
    >>> res = net.run([[1.0, 2.0, 5.0], [2.0, 7.0]], targets=np.full((10, 1), 0.05))
    >>> res.spike_steps.tolist()
    [3, 3, 3, 6, 6, 6, 8, 8, 8]
    >>> round(res.loss, 6)
    0.505446
    """

    def __init__(self, n_in, rec, readout, W_in, W_rec, W_out, B=None, *, optimizer=None, scheme="event",
                 loss="mse", feedback="random", dt=1.0, update_interval=None, learning_window=None,
                 reset_neurons_on_update=True, average_gradient=False, tau_m_readout=None):
        if scheme not in SCHEMES:
            raise ParameterError(f"EpropNetwork: unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
        if loss not in LOSSES:
            raise ParameterError(f"EpropNetwork: unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        if feedback not in FEEDBACK:
            raise ParameterError(f"EpropNetwork: unknown feedback {feedback!r}; choose one of {', '.join(FEEDBACK)}")
        dt = _positive("dt", dt)
        self.scheme, self.loss, self.feedback, self.dt = scheme, loss, feedback, dt
        if isinstance(n_in, bool) or int(n_in) != n_in or n_in < 0:
            raise NetworkError(f"EpropNetwork: n_in must be an integer >= 0 (got {n_in!r})")
        self.n_in = int(n_in)
        if isinstance(rec, EpropIAF):
            shape = np.shape(W_in)
            if len(shape) != 2:
                raise NetworkError(f"EpropNetwork: W_in has shape {shape}; expected (n_rec, n_in)")
            rec = [(rec, shape[0])]
        self.groups = self._groups(rec)
        self.n_rec = sum(n for _, n in self.groups)
        if not isinstance(readout, EpropReadout):
            raise NetworkError(f"EpropNetwork: readout must be an EpropReadout (got {type(readout).__name__})")
        self.readout_model = readout
        W_out = _matrix("W_out", W_out, None, self.n_rec, "(n_out, n_rec)")
        self.n_out = W_out.shape[0]
        if self.n_out < 1:
            raise NetworkError("EpropNetwork: W_out has no rows; at least one readout is required")
        if loss == "cross_entropy" and self.n_out < 2:
            raise NetworkError("EpropNetwork: loss='cross_entropy' needs at least 2 readouts (W_out has 1 row)")
        self.W_in = _matrix("W_in", W_in, self.n_rec, self.n_in, "(n_rec, n_in)")
        self.W_rec = _matrix("W_rec", W_rec, self.n_rec, self.n_rec, "(n_rec, n_rec)")
        diag = np.flatnonzero(np.diag(self.W_rec) != 0)
        if diag.size:
            d = int(diag[0])
            raise NetworkError(f"EpropNetwork: W_rec[{d}, {d}] = {float(self.W_rec[d, d])!r}; the diagonal must be 0 "
                               "(there are no autapses)")
        self.W_out = W_out
        if feedback == "symmetric":
            if B is not None:
                raise NetworkError("EpropNetwork: feedback='symmetric' sets B = W_out.T; do not pass B")
            self.B = self.W_out.T.copy()
        else:
            if B is None:
                raise NetworkError("EpropNetwork: feedback='random' needs the feedback matrix B, shape "
                                   "(n_rec, n_out)")
            self.B = _matrix("B", B, self.n_rec, self.n_out, "(n_rec, n_out)")
        self.optimizer = make_optimizer(optimizer)
        for name in ("W_in", "W_rec", "W_out"):
            w = getattr(self, name)
            lo, hi = self.optimizer["Wmin"], self.optimizer["Wmax"]
            bad = np.argwhere((w < lo) | (w > hi))
            if bad.size:
                j, i = bad[0]
                raise NetworkError(f"EpropNetwork: {name}[{j}, {i}] = {float(w[j, i])!r} lies outside the optimizer's "
                                   f"[Wmin, Wmax] = [{lo}, {hi}]")
        self.reset_neurons_on_update = bool(reset_neurons_on_update)
        self.average_gradient = bool(average_gradient)
        if scheme == "bsshslm_2020":
            T = _positive("update_interval", 1000.0 if update_interval is None else update_interval)
            W = _positive("learning_window", T if learning_window is None else learning_window)
            self.update_steps = _steps("update_interval", T, dt)
            self.window_steps = _steps("learning_window", W, dt)
            if self.window_steps > self.update_steps:
                raise ParameterError(f"EpropNetwork: learning_window ({W} ms) must not exceed update_interval ({T} ms)")
            tmr = readout["tau_m"] if tau_m_readout is None else _positive("tau_m_readout", tau_m_readout)
            self.tau_m_readout = tmr
        else:
            for nm, val in (("update_interval", update_interval), ("learning_window", learning_window),
                            ("tau_m_readout", tau_m_readout)):
                if val is not None:
                    raise ParameterError(f"EpropNetwork: {nm} applies to scheme='bsshslm_2020' only")
        self._rec_posts = [np.delete(np.arange(self.n_rec), i) for i in range(self.n_rec)]
        self._build_arrays()
        self.reset()

    # ------------------------------------------------------------------ construction helpers
    @staticmethod
    def _groups(rec):
        try:
            groups = [(m, int(n)) for m, n in rec]
        except (TypeError, ValueError):
            raise NetworkError("EpropNetwork: rec must be a list of (EpropIAF or EpropIAFAdapt, n) pairs") from None
        if not groups:
            raise NetworkError("EpropNetwork: rec is empty; at least one recurrent neuron is required")
        for g, (m, n) in enumerate(groups):
            if not isinstance(m, EpropIAF):
                raise NetworkError(f"EpropNetwork: rec group {g} has model {type(m).__name__}; expected EpropIAF "
                                   "or EpropIAFAdapt")
            if n < 1:
                raise NetworkError(f"EpropNetwork: rec group {g} has size {n}; expected >= 1")
        return groups

    def _build_arrays(self):
        dt = self.dt
        cols = {}

        def per_neuron(fn):
            return np.concatenate([np.full(n, fn(m), dtype=float) for m, n in self.groups])

        rp = cols
        rp["alpha"] = per_neuron(lambda m: math.exp(-dt / m["tau_m"]))
        rp["P_i"] = per_neuron(lambda m: m["tau_m"] / m["C_m"] * (1.0 - math.exp(-dt / m["tau_m"])))
        rp["I_e"] = per_neuron(lambda m: m["I_e"])
        rp["V_min"] = per_neuron(lambda m: m["V_min"] - m["E_L"])
        rp["V_th"] = per_neuron(lambda m: m["V_th"] - m["E_L"])
        rp["V_m"] = per_neuron(lambda m: 0.0 if math.isinf(m["V_m"]) else m["V_m"] - m["E_L"])
        rp["beta"] = per_neuron(lambda m: m["adapt_beta"] if m.adaptive else 0.0)
        rp["rho"] = per_neuron(lambda m: math.exp(-dt / m["adapt_tau"]) if m.adaptive else 0.0)
        rp["a0"] = per_neuron(lambda m: m["adaptation"] if m.adaptive else 0.0)
        rp["ref_counts"] = per_neuron(lambda m: round(m["t_ref"] / dt)).astype(np.int64)
        rp["kappa"] = per_neuron(lambda m: m["kappa"])
        rp["kappa_reg"] = per_neuron(lambda m: m["kappa_reg"])
        rp["c_reg"] = per_neuron(lambda m: m["c_reg"])
        # f_target in Hz -> spikes/ms, times dt -> spikes/step (EPROP.md §5, §9.4)
        rp["f_target_step"] = per_neuron(lambda m: m["f_target"] / 1000.0 * dt)
        rp["cut"] = per_neuron(lambda m: min(_BIG, _cut_steps(m["eprop_isi_trace_cutoff"], dt))).astype(np.int64)
        rp["zeta"] = per_neuron(lambda m: 1.0 if m["regular_spike_arrival"] else 1.0 - math.exp(-dt / m["tau_m"]))
        rp["sg_code"] = per_neuron(lambda m: SURROGATES.index(m["surrogate_gradient_function"])).astype(int)
        rp["sg_h"] = per_neuron(lambda m: m["surrogate_gradient_height"])
        rp["sg_w"] = per_neuron(lambda m: m["surrogate_gradient_width"])
        self._sg_codes = np.unique(rp["sg_code"])
        self._rec_arrays = rp
        m = self.readout_model
        n = self.n_out
        self._out_arrays = {
            "kappa": np.full(n, math.exp(-dt / m["tau_m"])),
            "P_i": np.full(n, m["tau_m"] / m["C_m"] * (1.0 - math.exp(-dt / m["tau_m"]))),
            "I_e": np.full(n, m["I_e"]), "E_L": np.full(n, m["E_L"]), "V_min": np.full(n, m["V_min"] - m["E_L"]),
            "V_m": np.full(n, 0.0 if math.isinf(m["V_m"]) else m["V_m"] - m["E_L"]),
            "cut": np.full(n, min(_BIG, _cut_steps(m["eprop_isi_trace_cutoff"], dt)), dtype=np.int64),
            "zeta": np.full(n, 1.0 if m["regular_spike_arrival"] else 1.0 - math.exp(-dt / m["tau_m"])),
        }

    def _surrogate(self, r, v, A):
        rp = self._rec_arrays
        x = v - A
        psi = np.empty_like(v)
        for code in self._sg_codes:
            sel = slice(None) if self._sg_codes.size == 1 else rp["sg_code"] == code
            h, w, xs = rp["sg_h"][sel], rp["sg_w"][sel], x[sel]
            if code == 0:
                psi[sel] = h * np.maximum(0.0, 1.0 - np.abs(xs) / w)
            elif code == 1:
                psi[sel] = h * np.exp(-np.abs(xs) / w)
            elif code == 2:
                psi[sel] = h * (1.0 + np.abs(xs) / w) ** -2.0
            else:
                psi[sel] = h / (1.0 + (xs / w) ** 2.0)
        psi[r > 0] = 0.0
        return psi

    def _opt_par(self, learn):
        par = self.optimizer.packed()
        if not learn:
            par[1] = 0.0
        return par

    # ------------------------------------------------------------------ state
    def reset(self):
        """Reset time, neuron state, traces, histories and optimizer states (weights are kept).

        Examples
        --------
        >>> import numpy as np
        >>> from spikeengine.eprop import EpropNetwork, EpropIAF, EpropReadout
        >>> net = EpropNetwork(1, [(EpropIAF(), 2)], EpropReadout(), np.zeros((2, 1)), np.zeros((2, 2)),
        ...                    np.zeros((1, 2)), np.zeros((2, 1)))
        >>> net.reset(); net.t
        0
        """
        rp, op = self._rec_arrays, self._out_arrays
        n_in, n_rec, n_out = self.n_in, self.n_rec, self.n_out
        self._state = {
            "t": 0, "v": rp["V_m"].copy(), "r": np.zeros(n_rec, dtype=np.int64), "a": rp["a0"].copy(),
            "i_in": np.zeros(n_rec), "f_av": np.zeros(n_rec), "z_prev": np.zeros(n_rec),
            "v_out": op["V_m"].copy(), "i_out": np.zeros(n_out), "arr_rec": np.zeros(n_rec),
            "arr_out": np.zeros(n_out), "t_prev_in": np.full(n_in, -1, dtype=np.int64),
            "t_prev_rec": np.full(n_rec, -1, dtype=np.int64),
            # event scheme: the step up to which each presynaptic neuron's window is integrated (flushes)
            "t_done_in": np.full(n_in, -1, dtype=np.int64), "t_done_rec": np.full(n_rec, -1, dtype=np.int64),
        }
        opt = self.optimizer
        self._syn = {}
        for p, (npost, npre) in (("in", (n_rec, n_in)), ("rec", (n_rec, n_rec)), ("out", (n_out, n_rec))):
            # pend: the pending gradient (optimize_each_step off) or weight (on) of a flushed window
            for nm in ("zpb", "zbar", "ebar", "ebar_reg", "eps", "pend"):
                self._syn[f"{p}_{nm}"] = np.zeros((npost, npre))
            s = opt.new_state((npost, npre))
            self._syn[f"{p}_opt"] = tuple(x.reshape(-1) for x in (s.cum, s.step, s.m, s.v, s.b1, s.b2))
        self._h0 = 0
        self._hist = {"psi": np.zeros((0, n_rec)), "L": np.zeros((0, n_rec)), "fr": np.zeros((0, n_rec)),
                      "err": np.zeros((0, n_out))}
        if self.scheme == "bsshslm_2020":
            from ._bsshslm import init_state

            init_state(self)

    @property
    def t(self):
        """The current absolute step (steps simulated since construction or :meth:`reset`)."""
        return self._state["t"]

    def _grow_history(self, t_end):
        """Make the history rows ``[h0, t_end)`` available; the rows from the current step on are zeroed.

        The arrays are buffers with spare capacity (doubled when full), so that a run costs no full copy.
        """
        t = self._state["t"]
        need = t_end - self._h0
        for k, a in self._hist.items():
            if a.shape[0] < need:
                b = np.zeros((max(need, 2 * a.shape[0]), a.shape[1]))
                m = min(a.shape[0], t - self._h0)
                b[:m] = a[:m]
                a = self._hist[k] = b
            elif k in ("L", "err") or self.scheme != "event":  # the event kernel writes psi and fr every step
                a[t - self._h0:need] = 0.0

    def _trim_history(self, min_cut=1):
        """Event scheme: drop the rows no pending window can read any more (in place, no reallocation).

        A presynaptic neuron pins the rows from the step its window is integrated up to (its last spike, or its
        last flush), unless the window already reached the cutoff of every target. Nothing moves unless at
        least ``min_cut`` rows can go (runs of a few steps trim in batches).
        """
        st = self._state
        keep = st["t"] - 1
        c_in = int(self._rec_arrays["cut"].max(initial=0))
        c_rec = max(c_in, int(self._out_arrays["cut"].max()))
        for tp, done, cmax in ((st["t_prev_in"], st["t_done_in"], c_in), (st["t_prev_rec"], st["t_done_rec"], c_rec)):
            pin = done[(tp >= 0) & (done - tp < cmax)]
            if pin.size:
                keep = min(keep, int(pin.min()))
        cut = keep - self._h0
        if cut >= max(min_cut, 1):
            m = max(st["t"] - keep, 0)
            for a in self._hist.values():
                a[:m] = a[cut:cut + m]
            self._h0 = keep

    def _event_flags(self):
        """Event-scheme kernel constants: ``(fast, ucut, flush, cmax_in, cmax_rec)`` (see :mod:`._kernels`)."""
        rp, op = self._rec_arrays, self._out_arrays
        cut = rp["cut"]
        ucut = int(cut[0]) if (cut == cut[0]).all() else -1
        lif = not rp["beta"].any() and not rp["rho"].any()
        same = all((rp[k] == rp[k][0]).all() for k in ("alpha", "kappa", "kappa_reg"))
        fast = bool(lif and same and ucut >= 0)
        c_in = int(cut.max())
        return fast, ucut, FLUSH_STEPS, c_in, max(c_in, int(op["cut"].max()))

    # ------------------------------------------------------------------ running
    def run(self, inputs, targets=None, *, n_steps=None, learning_window=None, learn=True, record_weights=False):
        """Simulate ``n_steps`` steps from the current state, learning online.

        Parameters
        ----------
        inputs : list of array_like, or array_like (n_steps, n_in)
            Spike times (ms, relative to the start of this run, on the ``dt`` grid, in
            ``[0, n_steps * dt)``) of each input neuron, or a 0/1 raster. The input neuron emits in the
            step of the spike; the recurrent neurons receive it one step later.
        targets : array_like (n_steps, n_out), optional
            ``y*`` per readout step (finite). ``None``: no error, no learning signal.
        n_steps : int, optional
            Required when ``targets`` is ``None`` and ``inputs`` is a list of spike times.
        learning_window : array_like (n_steps,), optional
            Event scheme: the 0/1 gate of the error per step (NEST's readout receptor 1); default 1.
        learn : bool
            ``False`` runs with ``eta = 0`` (NEST's way to test: optimizer states still advance).
        record_weights : bool
            Record NEST's weight-recorder events (see :class:`EpropResult`).

        Returns
        -------
        EpropResult

        Raises
        ------
        NetworkError, ParameterError
            Shapes that do not match the network, NaN targets, spikes off the grid or out of range.
        """
        if targets is not None:
            targets = check_targets(targets, self.n_out, "EpropNetwork.run")
            if n_steps is not None and n_steps != targets.shape[0]:
                raise NetworkError(f"EpropNetwork.run: n_steps={n_steps} but targets have {targets.shape[0]} steps")
            n_steps = targets.shape[0]
        raster = self._raster(inputs, n_steps)
        n_steps = raster.shape[0]
        if learning_window is None:
            window = np.ones(n_steps)
        else:
            if self.scheme != "event":
                raise ParameterError("EpropNetwork.run: learning_window per step applies to scheme='event'; the "
                                     "bsshslm_2020 scheme uses the network's learning_window (ms)")
            window = np.asarray(learning_window, dtype=np.float64)
            if window.shape != (n_steps,):
                raise NetworkError(f"EpropNetwork.run: learning_window has shape {window.shape}; expected "
                                   f"({n_steps},)")
            if not np.isfinite(window).all():
                raise NetworkError("EpropNetwork.run: learning_window contains NaN or inf")
        t0 = self.t
        if self.scheme == "event":
            from ._event import run_event

            out = run_event(self, raster, targets, window, record_weights, learn)
        else:
            from ._bsshslm import run_bsshslm

            out = run_bsshslm(self, raster, targets, record_weights, learn)
        return EpropResult(*out, t0, self.dt)

    def _raster(self, inputs, n_steps):
        if isinstance(inputs, np.ndarray) and inputs.ndim == 2:
            raster = inputs
            if raster.shape[1] != self.n_in:
                raise NetworkError(f"EpropNetwork.run: the input raster has {raster.shape[1]} columns; expected "
                                   f"n_in = {self.n_in}")
            if n_steps is not None and raster.shape[0] != n_steps:
                raise NetworkError(f"EpropNetwork.run: the input raster has {raster.shape[0]} steps; targets have "
                                   f"{n_steps}")
            if raster.dtype != np.bool_ and not ((raster == 0) | (raster == 1)).all():
                raise NetworkError("EpropNetwork.run: the input raster must hold 0/1 values")
            return raster.astype(bool)
        if n_steps is None:
            raise NetworkError("EpropNetwork.run: pass targets or n_steps (spike-time inputs do not fix the length)")
        try:
            trains = list(inputs)
        except TypeError:
            raise NetworkError("EpropNetwork.run: inputs must be a list of spike-time arrays or a raster") from None
        if len(trains) != self.n_in:
            raise NetworkError(f"EpropNetwork.run: inputs has {len(trains)} spike trains; expected n_in = {self.n_in}")
        raster = np.zeros((int(n_steps), self.n_in), dtype=bool)
        for i, tr in enumerate(trains):
            ts = np.asarray(tr, dtype=np.float64).reshape(-1)
            if ts.size == 0:
                continue
            if not np.isfinite(ts).all():
                raise NetworkError(f"EpropNetwork.run: input {i} has a non-finite spike time")
            k = np.rint(ts / self.dt)
            off = np.abs(k * self.dt - ts) > 1e-9 * max(1.0, self.dt)
            if off.any():
                raise NetworkError(f"EpropNetwork.run: input {i} spike at {ts[off][0]} ms is off the dt = {self.dt} "
                                   "ms grid")
            k = k.astype(np.int64)
            bad = (k < 0) | (k >= n_steps)
            if bad.any():
                raise NetworkError(f"EpropNetwork.run: input {i} spike at {ts[bad][0]} ms lies outside "
                                   f"[0, {n_steps * self.dt}) ms")
            if np.unique(k).size != k.size:
                raise NetworkError(f"EpropNetwork.run: input {i} has two spikes in one step")
            raster[k, i] = True
        return raster


def check_targets(targets, n_out, where):
    """``targets`` as a float64 ``(n_steps, n_out)`` array (a vector for one readout is a column), finite;
    :class:`NetworkError` naming ``where`` and the first bad entry otherwise."""
    tg = np.asarray(targets, dtype=np.float64)
    if tg.ndim == 1 and n_out == 1:
        tg = tg[:, None]
    if tg.ndim != 2 or tg.shape[1] != n_out:
        raise NetworkError(f"{where}: targets have shape {np.shape(targets)}; expected (n_steps, {n_out}) for the "
                           f"{n_out} readout(s)")
    bad = np.argwhere(~np.isfinite(tg))
    if bad.size:
        raise NetworkError(f"{where}: targets[{bad[0][0]}, {bad[0][1]}] is {tg[tuple(bad[0])]}; targets must be "
                           "finite")
    return tg


def _positive(name, x):
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise ParameterError(f"EpropNetwork: {name} must be a number (got {x!r})") from None
    if not x > 0 or math.isinf(x):
        raise ParameterError(f"EpropNetwork: {name} must be positive and finite (got {x!r})")
    return x


def _steps(name, ms, dt):
    k = round(ms / dt)
    if abs(k * dt - ms) > 1e-9 * dt or k < 1:
        raise ParameterError(f"EpropNetwork: {name} = {ms} ms must be a positive multiple of dt = {dt} ms")
    return int(k)


def _cut_steps(ms, dt):
    if math.isinf(ms):
        return _BIG
    return int(round(ms / dt))


def _matrix(name, w, n_rows, n_cols, what):
    try:
        a = np.array(w, dtype=np.float64)
    except (TypeError, ValueError):
        raise NetworkError(f"EpropNetwork: {name} is not a numeric matrix") from None
    if a.ndim != 2 or (n_rows is not None and a.shape[0] != n_rows) or a.shape[1] != n_cols:
        raise NetworkError(f"EpropNetwork: {name} has shape {a.shape}; expected {what} = "
                           f"({'n_out' if n_rows is None else n_rows}, {n_cols})")
    bad = np.argwhere(~np.isfinite(a))
    if bad.size:
        raise NetworkError(f"EpropNetwork: {name}[{bad[0][0]}, {bad[0][1]}] is not finite")
    return a
