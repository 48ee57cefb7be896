r"""Behavioural-timescale synaptic plasticity (BTSP): the weight-dependent rule "WD_D" of
Milstein et al. (2021), event-driven.

Milstein, Li, Bittner, Grienberger, Soltesz, Magee & Romani (2021), *Bidirectional synaptic
plasticity rapidly modifies hippocampal representations*, eLife 10:e73046; code at
github.com/neurosutras/BTSP. The specification is ``../shared/specs/BTSP.md``; the guide is
``docs/btsp.md``.

Equations (t in seconds for the rates, ms everywhere in the API):

.. math::

    \tau_{ET}\,\dot x_j = -x_j + u_j(t), \qquad ET_j = x_j / ET_{norm}
    \quad (\text{a presynaptic spike adds } a_{ET} \text{ to } ET_j)

    \tau_{IS}\,\dot y_i = -y_i + g_i(t), \qquad IS_i = y_i / IS_{norm}
    \quad (g_i = 1 \text{ during a plateau})

    q(s) = \frac{S(s) - S(0)}{S(1) - S(0)}, \quad S(s) = \frac{1}{1 + e^{-\beta (s - \theta)}},
    \quad \beta = 2 / \text{half width}

    \dot w_{ij} = k_+ q_+(ET_j IS_i)(1 - w_{ij}) - k_- q_-(ET_j IS_i)\, w_{ij},
    \qquad w = W / W_{max}

``mode="lapwise"`` (the authors' scheme, with which the parameters were fitted) integrates
:math:`I_\pm = \int q_\pm(ET\cdot IS)\,dt` over an update window and applies
:math:`w \leftarrow \mathrm{clip}(w + k_+ I_+ (1 - w) - k_- I_- w, 0, 1)` once, at its close;
``mode="ode"`` integrates the differential equation itself.

Public names: :class:`BTSP` (the rule's parameters), :class:`BTSPState` (the event-driven state of
one plastic projection, which updates the projection's weight array in place) and
:func:`plasticity_kernel` (ΔW against the time of an input relative to a plateau).
"""

import math

import numpy as np
from scipy.special import expit

from .errors import NetworkError, ParameterError

__all__ = ["BTSP", "BTSPState", "plasticity_kernel"]

_MODES = ("lapwise", "ode")

# ---------------------------------------------------------------------------------------------
# Quadrature rules
# ---------------------------------------------------------------------------------------------
# Gauss-Kronrod 15/7 on [-1, 1] (QUADPACK qk15): nodes, Kronrod weights, Gauss weights (0 at the
# Kronrod-only nodes).
_XK = np.array([0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
                0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
                0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
                0.207784955007898467600689403773245])
_WK = np.array([0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
                0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
                0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
                0.204432940075298892414161999234649])
_WK0 = 0.209482141084727828012999174891714
_WG = np.array([0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
                0.381830050505118944950369775488975])
_WG0 = 0.417959183673469387755102040816327
_GK_X = np.concatenate([-_XK, [0.0], _XK[::-1]])
_GK_WK = np.concatenate([_WK, [_WK0], _WK[::-1]])
_GK_WG = np.zeros(15)
_GK_WG[[1, 3, 5]] = _WG
_GK_WG[[13, 11, 9]] = _WG
_GK_WG[7] = _WG0

# Gauss-Legendre panel for the ODE propagator, with the spectral integration matrix: for values
# c_m at the nodes, (_GL_Q @ c)[k] = integral from -1 to x_k of the interpolating polynomial.
_GL_N = 10
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_GL_N)
_GL_TO_LEG = np.linalg.inv(np.polynomial.legendre.legvander(_GL_X, _GL_N - 1))    # node values -> coefficients
_GL_Q = np.stack([np.polynomial.legendre.legval(_GL_X, np.polynomial.legendre.legint(np.eye(_GL_N)[j], lbnd=-1))
                  for j in range(_GL_N)], axis=1) @ _GL_TO_LEG
_GL_TAIL = _GL_TO_LEG[-2:].T              # node values -> the two highest Legendre coefficients

_MAX_BISECTIONS = 30      # a 10 s piece down to 10 ns; smooth pieces need a few
_MAX_QUEUED = 1 << 20     # pieces queued before an early integration (bounds memory, not results)


# ---------------------------------------------------------------------------------------------
# Parameter checks
# ---------------------------------------------------------------------------------------------
def _num(name, value, where="BTSP"):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ParameterError(f"{where}: {name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ParameterError(f"{where}: {name} must be finite, got {value!r}")
    return value


def _positive(name, value, unit="", where="BTSP"):
    value = _num(name, value, where)
    if value <= 0.0:
        raise ParameterError(f"{where}: {name} must be > 0{unit}, got {value!r}")
    return value


def _nonneg(name, value, unit="", where="BTSP"):
    value = _num(name, value, where)
    if value < 0.0:
        raise ParameterError(f"{where}: {name} must be >= 0{unit}, got {value!r}")
    return value


class BTSP:
    r"""Behavioural-timescale synaptic plasticity, Milstein et al. (2021) weight-dependent rule WD_D.

    The defaults are the published population ("synthetic") fit (``BTSP.md`` §1, from
    ``config/optimize_biBTSP_synthetic_WD_D_config.yaml`` of github.com/neurosutras/BTSP).
    Synaptic weights W are in the projection's own weight unit; ``w0`` is the baseline (silent-cell)
    weight in that unit, so ``W / w0`` is the paper's W, ``Wmax = w0 (1 + peak_delta_weight)`` and
    the rule acts on ``w = W / Wmax`` in [0, 1].

    Parameters
    ----------
    tau_ET : float
        Eligibility-trace time constant (authors' ``local_signal_decay``), ms. Default 1664.103.
    tau_IS : float
        Instructive-signal time constant (``global_signal_decay``), ms. Default 437.0065.
    k_pot, k_dep : float
        Rates of the potentiating and depressing processes, 1/s, >= 0. Defaults 1.109682, 0.4249387.
    f_pot_th, f_pot_half_width : float
        Threshold and half width (> 0) of the potentiation sigmoid q+ on the signal ET·IS.
        Defaults 0.4150117, 0.4541096.
    f_dep_th, f_dep_half_width : float
        The same for the depression sigmoid q-. Defaults 0.02618154, 0.09977173.
    peak_delta_weight : float
        Wmax / w0 - 1, > 0. Default 3.680311 (Wmax = 4.680311 w0).
    plateau_duration : float
        Default plateau duration, ms (also fixes the default ``IS_norm``). Default 300.
    mode : {"lapwise", "ode"}
        ``"lapwise"`` (default): the authors' scheme: I± = ∫ q±(ET·IS) dt (t in s) over each update
        window, one clipped update at the window's close. ``"ode"``: the differential equation
        itself, integrated continuously while a window is open. The parameters were fitted with
        ``"lapwise"``; ``"ode"`` gives about half the one-shot potentiation (``docs/btsp.md``).
    w0 : float
        Baseline weight in the projection's weight unit, > 0. Default 1.
    a_ET : float or None
        Increment of ET per presynaptic spike, > 0. Default ``1 / (tau_ET[s] rate_peak ET_norm)``,
        so that the mean ET of a Poisson input of rate r(t) equals the ET of the rate input r(t).
    rate_peak : float
        Rate (Hz) that maps to u = 1 for rate inputs (:meth:`BTSPState.add_pre_rates`), > 0. Default 40
        (the authors' ``input_field_peak_rate``).
    ET_norm : float
        Normalisation of the rate-driven trace, ET = x / ET_norm, > 0. Default 0.500257: the peak of
        x for one isolated traversal of a Gaussian field (sigma = 90/3/sqrt(2) cm) at 25 cm/s.
    IS_norm : float or None
        Normalisation of the instructive signal, IS = y / IS_norm, > 0. Default
        ``1 - exp(-plateau_duration / tau_IS)``: IS peaks at 1 at the end of an isolated plateau.
    eps : float
        An update window closes when IS falls below ``eps`` after the plateau ended (or at the
        neuron's next plateau onset), 0 < eps < 1. Default 1e-6 (about 6 tau_IS after the plateau).
    quad_rtol : float
        Lapwise: relative error bound of the adaptive Gauss-Kronrod (15/7) quadrature on every
        subinterval, 0 < quad_rtol <= 1e-3. Default 1e-10.
    ode_atol : float
        ODE: error bound per second on each adaptive panel of the propagator (w is in [0, 1]),
        0 < ode_atol <= 1e-3. Default 1e-12.
    exchange_dt : float
        ``mode="ode"`` in a network: while an update window is open, the simulated network sees the
        integrated weights every ``exchange_dt`` ms (default 1 ms); the integration itself is
        adaptive and does not depend on it.

    Raises
    ------
    ParameterError
        When a parameter is not a finite number or outside its meaning; the message names it.

    Examples
    --------
    >>> import spikeengine as se
    >>> from spikeengine.btsp import BTSP
    >>> rule = BTSP(w0=0.5)                      # baseline weight 0.5 (e.g. mV)
    >>> round(rule.Wmax, 6), round(rule.IS_norm, 6), round(rule.a_ET, 6)
    (2.340155, 0.49666, 0.030031)
    >>> float(rule.q_pot(0.0)), float(rule.q_pot(1.0))
    (0.0, 1.0)
    >>> BTSP(tau_IS=-1.0)
    Traceback (most recent call last):
    ...
    spikeengine.errors.ParameterError: BTSP: tau_IS must be > 0 ms, got -1.0
    """

    def __init__(self, tau_ET=1664.103, tau_IS=437.0065, k_pot=1.109682, k_dep=0.4249387,
                 f_pot_th=0.4150117, f_pot_half_width=0.4541096, f_dep_th=0.02618154,
                 f_dep_half_width=0.09977173, peak_delta_weight=3.680311, plateau_duration=300.0,
                 mode="lapwise", w0=1.0, a_ET=None, rate_peak=40.0, ET_norm=0.500257, IS_norm=None,
                 eps=1e-6, quad_rtol=1e-10, ode_atol=1e-12, exchange_dt=1.0):
        if mode not in _MODES:
            raise ParameterError(f"BTSP: mode must be 'lapwise' (the authors' once-per-window update) or 'ode' "
                                 f"(the literal equation), got {mode!r}")
        self.mode = mode
        self.tau_ET = _positive("tau_ET", tau_ET, " ms")
        self.exchange_dt = _positive("exchange_dt", exchange_dt, " ms")
        self.tau_IS = _positive("tau_IS", tau_IS, " ms")
        self.k_pot = _nonneg("k_pot", k_pot, " 1/s")
        self.k_dep = _nonneg("k_dep", k_dep, " 1/s")
        self.f_pot_th = _num("f_pot_th", f_pot_th)
        self.f_pot_half_width = _positive("f_pot_half_width", f_pot_half_width)
        self.f_dep_th = _num("f_dep_th", f_dep_th)
        self.f_dep_half_width = _positive("f_dep_half_width", f_dep_half_width)
        self.peak_delta_weight = _positive("peak_delta_weight", peak_delta_weight)
        self.plateau_duration = _positive("plateau_duration", plateau_duration, " ms")
        self.w0 = _positive("w0", w0)
        self.rate_peak = _positive("rate_peak", rate_peak, " Hz")
        self.ET_norm = _positive("ET_norm", ET_norm)
        self.a_ET = (1.0 / (self.tau_ET * 1e-3 * self.rate_peak * self.ET_norm) if a_ET is None
                     else _positive("a_ET", a_ET))
        self.IS_norm = (-math.expm1(-self.plateau_duration / self.tau_IS) if IS_norm is None
                        else _positive("IS_norm", IS_norm))
        self.eps = _positive("eps", eps)
        if self.eps >= 1.0:
            raise ParameterError(f"BTSP: eps must be < 1 (IS below which an update window closes), got {eps!r}")
        self.quad_rtol = _positive("quad_rtol", quad_rtol)
        self.ode_atol = _positive("ode_atol", ode_atol)
        for nm in ("quad_rtol", "ode_atol"):
            if getattr(self, nm) > 1e-3:
                raise ParameterError(f"BTSP: {nm} must be <= 1e-3, got {getattr(self, nm)!r}")
        self._explicit = {"a_ET": a_ET is not None, "IS_norm": IS_norm is not None}
        # sigmoid constants: q(s) = expm1(-beta s)/expm1(-beta) * S(s)/S(1), see q_pot
        self._bp = 2.0 / self.f_pot_half_width
        self._bd = 2.0 / self.f_dep_half_width
        self._cp = 1.0 / (-math.expm1(-self._bp) * float(expit(self._bp * (1.0 - self.f_pot_th))))
        self._cd = 1.0 / (-math.expm1(-self._bd) * float(expit(self._bd * (1.0 - self.f_dep_th))))
        for nm, c in (("f_pot", self._cp), ("f_dep", self._cd)):
            if not math.isfinite(c):
                raise ParameterError(f"BTSP: the sigmoid {nm} is flat on [0, 1] (S(1) = S(0) in float64); "
                                     f"{nm}_th={getattr(self, nm + '_th')!r} and "
                                     f"{nm}_half_width={getattr(self, nm + '_half_width')!r} cannot be normalised")

    @property
    def Wmax(self):
        """Maximum weight in the projection's weight unit: ``w0 * (1 + peak_delta_weight)``."""
        return self.w0 * (1.0 + self.peak_delta_weight)

    def params(self):
        """The rule's parameters as a dict (constructor names; ``a_ET``/``IS_norm`` None when derived)."""
        p = {k: getattr(self, k) for k in (
            "tau_ET", "tau_IS", "k_pot", "k_dep", "f_pot_th", "f_pot_half_width", "f_dep_th", "f_dep_half_width",
            "peak_delta_weight", "plateau_duration", "mode", "w0", "a_ET", "rate_peak", "ET_norm", "IS_norm",
            "eps", "quad_rtol", "ode_atol")}
        for k, given in self._explicit.items():
            if not given:
                p[k] = None
        return p

    def __repr__(self):
        return "BTSP(" + ", ".join(f"{k}={v!r}" for k, v in self.params().items()) + ")"

    @staticmethod
    def _q(s, beta, th, c):
        # (S(s) - S(0)) / (S(1) - S(0)) written without cancellation:
        # S(s) - S(0) = -expm1(-beta s) S(s) (1 - S(0)), hence q(s) = expm1(-beta s)/expm1(-beta) * S(s)/S(1).
        return -np.expm1(-beta * s) * expit(beta * (s - th)) * c

    def q_pot(self, s):
        """Potentiation sensitivity q+(s): the authors' scaled sigmoid, q+(0) = 0, q+(1) = 1 (s not clipped).

        Examples
        --------
        >>> from spikeengine.btsp import BTSP
        >>> round(float(BTSP().q_pot(0.5)), 6)
        0.574081
        """
        return self._q(np.asarray(s, dtype=np.float64), self._bp, self.f_pot_th, self._cp)

    def q_dep(self, s):
        """Depression sensitivity q-(s), scaled like :meth:`q_pot`.

        Examples
        --------
        >>> from spikeengine.btsp import BTSP
        >>> round(float(BTSP().q_dep(0.1)), 6)
        0.704802
        """
        return self._q(np.asarray(s, dtype=np.float64), self._bd, self.f_dep_th, self._cd)


# ---------------------------------------------------------------------------------------------
# Integration of one batch of pieces (ET and IS each a known exponential relaxation on each piece)
# ---------------------------------------------------------------------------------------------
class _Pieces:
    """Parameters of a batch of smooth pieces: on piece k, for t in [lo, hi] (ms),
    ET(t) = D + (E0 - D) exp(-(t - tE)/tau_ET) and IS(t) = G + (Y0 - G) exp(-(t - tY)/tau_IS)."""

    __slots__ = ("syn", "lo", "hi", "tE", "E0", "D", "tY", "Y0", "G")

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)


def _signal(rule, P, idx, t):
    """ET·IS at times t (shape (m, k), ms) for pieces idx."""
    D = P.D[idx, None]
    G = P.G[idx, None]
    et = D + (P.E0[idx, None] - D) * np.exp((P.tE[idx, None] - t) / rule.tau_ET)
    is_ = G + (P.Y0[idx, None] - G) * np.exp((P.tY[idx, None] - t) / rule.tau_IS)
    return et * is_


def _gk_integrals(rule, P):
    """I+ and I- (seconds) of every piece, by adaptive Gauss-Kronrod 15/7, vectorised over pieces.
    Returns (I_pot, I_dep, evaluations, accepted subintervals)."""
    m = P.lo.size
    ip = np.zeros(m)
    im = np.zeros(m)
    idx = np.arange(m)
    a, b = P.lo.copy(), P.hi.copy()
    evals = accepted = 0
    rtol = rule.quad_rtol
    for depth in range(_MAX_BISECTIONS + 1):
        if idx.size == 0:
            break
        c = 0.5 * (a + b)
        h = 0.5 * (b - a)
        s = _signal(rule, P, idx, c[:, None] + h[:, None] * _GK_X)
        fp = rule.q_pot(s)
        fm = rule.q_dep(s)
        hs = h * 1e-3
        # row sums (not BLAS): a piece's result must not depend on the batch it is integrated in
        kp, gp = hs * (fp * _GK_WK).sum(axis=1), hs * (fp * _GK_WG).sum(axis=1)
        km, gm = hs * (fm * _GK_WK).sum(axis=1), hs * (fm * _GK_WG).sum(axis=1)
        evals += s.size
        floor = 1e-16 * hs
        ok = (np.abs(kp - gp) <= rtol * np.abs(kp) + floor) & (np.abs(km - gm) <= rtol * np.abs(km) + floor)
        if depth == _MAX_BISECTIONS:
            ok[:] = True
        np.add.at(ip, idx[ok], kp[ok])
        np.add.at(im, idx[ok], km[ok])
        accepted += int(ok.sum())
        bad = ~ok
        idx = np.concatenate([idx[bad], idx[bad]])
        a, b = np.concatenate([a[bad], c[bad]]), np.concatenate([c[bad], b[bad]])
    return ip, im, evals, accepted


def _gl_panel(rule, P, idx, a, b):
    """Propagator of dw/dt = A(1 - w) - B w over [a, b] for pieces idx: w(b) = exp(-C) w(a) + psi, and the
    size of the last two Legendre coefficients of A and A + B on the panel (1/s), which bounds the error
    of their polynomial interpolation, hence of C and psi per second."""
    h = 0.5 * (b - a)
    s = _signal(rule, P, idx, (0.5 * (a + b))[:, None] + h[:, None] * _GL_X)
    A = rule.k_pot * rule.q_pot(s)
    c = A + rule.k_dep * rule.q_dep(s)
    hs = h * 1e-3
    cn = hs[:, None] * (c @ _GL_Q.T)          # integral of A + B from a to each node, s-units
    ce = hs * (c @ _GL_W)                     # ... to b
    psi = hs * ((A * np.exp(cn - ce[:, None])) @ _GL_W)
    tail = np.abs(c @ _GL_TAIL).sum(axis=1) + np.abs(A @ _GL_TAIL).sum(axis=1)
    return ce, psi, tail, s.size


def _ode_panels(rule, P):
    """Adaptive Gauss-Legendre panels of every piece: a panel is accepted when the Legendre tail of its
    integrands is below ``ode_atol`` (the error of C and psi then stays below ode_atol per second),
    else it is halved. Returns (piece index, panel start, C, psi, evaluations) of the accepted panels."""
    idx = np.arange(P.lo.size)
    a, b = P.lo.copy(), P.hi.copy()
    out_i, out_a, out_c, out_p = [], [], [], []
    evals = 0
    for depth in range(_MAX_BISECTIONS + 1):
        if idx.size == 0:
            break
        c, p, tail, n = _gl_panel(rule, P, idx, a, b)
        evals += n
        ok = tail <= rule.ode_atol
        if depth == _MAX_BISECTIONS:
            ok[:] = True
        out_i.append(idx[ok])
        out_a.append(a[ok])
        out_c.append(c[ok])
        out_p.append(p[ok])
        bad = ~ok
        mid = 0.5 * (a + b)
        idx = np.concatenate([idx[bad], idx[bad]])
        a, b = np.concatenate([a[bad], mid[bad]]), np.concatenate([mid[bad], b[bad]])
    return (np.concatenate(out_i), np.concatenate(out_a), np.concatenate(out_c), np.concatenate(out_p), evals)


def _ranges(starts, counts):
    """Concatenation of arange(s, s + n) for every (s, n)."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.cumsum(counts) - counts
    return np.repeat(np.asarray(starts, dtype=np.int64) - offs, counts) + np.arange(total, dtype=np.int64)


def _ranks(keys):
    """Rank of every element among the elements with the same key, in array order."""
    n = keys.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(k[1:], k[:-1], out=new[1:])
    first = np.flatnonzero(new)
    r = np.arange(n) - np.repeat(first, np.diff(np.append(first, n)))
    out = np.empty(n, dtype=np.int64)
    out[order] = r
    return out


def _rank_blocks(rank):
    """Indices sorted by rank (stable) and the block boundaries of each rank."""
    order = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[order], np.arange(int(rank.max()) + 2) if rank.size else [0])
    return order, bounds


# ---------------------------------------------------------------------------------------------
# The event-driven state of one plastic projection
# ---------------------------------------------------------------------------------------------
class BTSPState:
    r"""Event-driven BTSP state of one plastic projection; updates its weight array in place.

    State: one eligibility trace per *presynaptic* neuron (ET, exact exponential decay between
    events, +``a_ET`` per spike, exact relaxation towards ``u / ET_norm`` under a piecewise-constant
    rate u), one instructive signal per *postsynaptic* neuron (IS, gate 1 during a plateau:
    ``IS = G + (IS0 - G) exp(-dt / tau_IS)`` with G = 1/IS_norm or 0), and, while an update window
    of the target is open, per-synapse integrals (lapwise) or the weight itself (ode).

    An update window of post neuron i opens at each plateau onset and closes at i's next onset or
    when IS_i falls below ``eps`` after the plateau (a closed form). ``ET·IS`` is smooth between
    the events of its own pre and post neurons; each smooth piece is integrated on its own (adaptive
    Gauss-Kronrod 15/7 for I±, adaptive Gauss-Legendre propagator panels for the ODE), vectorised
    over synapses. A presynaptic event touches synapse state only where the target's window is
    open; a window close updates all synapses onto the neuron (O(fan-in)).

    Simultaneous events are taken in the order: window closes, plateau ends, plateau onsets,
    presynaptic spikes and rate changes (the order has no effect on any integral). In lapwise mode
    the pieces are cut only at events and integrated in the same batches, so the weights do not
    depend on how a run is split into :meth:`advance` calls (measured: identical to the bit); in
    ode mode :meth:`advance` also cuts at its target time and the results agree to the
    integration tolerance (measured: 5e-15).

    Parameters
    ----------
    rule : BTSP
        The rule.
    n_pre, n_post : int
        Sizes of the pre- and postsynaptic populations.
    sources, targets : array of int
        Pre and post index of every synapse.
    weights : numpy.ndarray of float64
        The synapses' weights (same length), in the rule's weight unit (``w0`` = baseline), within
        ``[0, rule.Wmax]``. Kept by reference and **updated in place**.
    t0 : float
        Start time, ms. Default 0.
    record : bool
        Keep one record per window close in :attr:`updates` (time, post neuron, synapses, weights
        before and after, and in lapwise mode I+ and I- in seconds). Default False.

    Attributes
    ----------
    updates : list of dict
        The window-close records (``record=True``).

    Examples
    --------
    One input firing at 40 Hz (the rule's ``rate_peak``) for the second before a plateau at 1 s,
    baseline weight 1:

    >>> import numpy as np
    >>> from spikeengine.btsp import BTSP, BTSPState
    >>> w = np.array([1.0])
    >>> st = BTSPState(BTSP(), 1, 1, [0], [0], w)
    >>> st.add_pre_spikes(np.arange(0.0, 1000.0, 25.0), np.zeros(40, dtype=int))
    >>> st.add_plateaus([1000.0], [0])
    >>> round(st.next_update_time(), 3)     # the window closes when IS < eps: 1300 + tau_IS ln(1/eps)
    7337.468
    >>> st.advance(10000.0)
    >>> round(float(w[0]), 6)
    2.166268
    >>> st.counters["plateaus"], st.counters["et_increments"], st.counters["synapse_updates"]
    (1, 40, 1)
    """

    def __init__(self, rule, n_pre, n_post, sources, targets, weights, *, t0=0.0, record=False):
        if not isinstance(rule, BTSP):
            raise ParameterError(f"BTSPState: rule must be a spikeengine.btsp.BTSP, got {type(rule).__name__}")
        self.rule = rule
        self.n_pre = self._count("n_pre", n_pre)
        self.n_post = self._count("n_post", n_post)
        self.sources = self._index_array("sources", sources, self.n_pre, "n_pre")
        self.targets = self._index_array("targets", targets, self.n_post, "n_post")
        n = self.sources.size
        if self.targets.size != n:
            raise NetworkError(f"BTSPState: sources has {n} synapses but targets has {self.targets.size}")
        if not isinstance(weights, np.ndarray) or weights.dtype != np.float64 or weights.ndim != 1:
            raise NetworkError("BTSPState: weights must be a 1-D float64 numpy array (it is updated in place), got "
                               + (f"dtype {weights.dtype}, shape {weights.shape}" if isinstance(weights, np.ndarray)
                                  else type(weights).__name__))
        if weights.size != n:
            raise NetworkError(f"BTSPState: weights has {weights.size} entries for {n} synapses")
        if not weights.flags.writeable:
            raise NetworkError("BTSPState: weights is read-only; it must be the projection's writable weight array")
        bad = np.flatnonzero(~((weights >= 0.0) & (weights <= rule.Wmax * (1.0 + 1e-12))))
        if bad.size:
            i = int(bad[0])
            raise NetworkError(f"BTSPState: weight of synapse {i} is {float(weights[i])!r}, outside [0, Wmax] = "
                               f"[0, {rule.Wmax!r}] (Wmax = w0 (1 + peak_delta_weight))")
        self.weights = weights
        t0 = self._time("t0", t0)
        if t0 < 0.0:
            raise ParameterError(f"BTSPState: t0 must be >= 0 ms, got {t0!r}")
        self._t = t0
        self.record = bool(record)
        self.updates = []
        # synapses grouped by target and by source (CSR)
        self._by_tgt = np.argsort(self.targets, kind="stable")
        self._tgt_ptr = np.concatenate([[0], np.cumsum(np.bincount(self.targets, minlength=self.n_post))])
        self._by_src = np.argsort(self.sources, kind="stable")
        self._src_ptr = np.concatenate([[0], np.cumsum(np.bincount(self.sources, minlength=self.n_pre))])
        # presynaptic traces: ET = D + (x - D) exp(-(t - tx)/tau_ET)
        self._x = np.zeros(self.n_pre)
        self._tx = np.full(self.n_pre, t0)
        self._D = np.zeros(self.n_pre)
        # postsynaptic signals: IS = G + (y - G) exp(-(t - ty)/tau_IS); gate on until gate_end
        self._y = np.zeros(self.n_post)
        self._ty = np.full(self.n_post, t0)
        self._G = np.zeros(self.n_post)
        self._gate_end = np.full(self.n_post, np.inf)   # inf: gate off
        self._open = np.zeros(self.n_post, dtype=bool)
        self._close = np.full(self.n_post, np.inf)      # close time of the open window (IS < eps)
        self._last_onset = np.full(self.n_post, -np.inf)
        # per-synapse window state
        self._ip = np.zeros(n)
        self._im = np.zeros(n)
        self._tint = np.zeros(n)
        self._w_open = np.zeros(n)      # weights at window open (records)
        self._touched = np.zeros(n, dtype=bool)
        # pending events
        self._pe_t = np.zeros(0)
        self._pe_j = np.zeros(0, dtype=np.int64)
        self._pe_v = np.zeros(0)        # NaN: spike; else the new ET drive D
        self._po_t = np.zeros(0)
        self._po_i = np.zeros(0, dtype=np.int64)
        self._po_d = np.zeros(0)
        self._queue = []                # pieces waiting for integration, with their ET and IS formulas
        self._queued = 0
        self._n_open = 0
        self._counters = dict(plateaus=0, windows_closed=0, synapse_visits=0, synapse_updates=0, et_increments=0,
                              rate_changes=0, pieces=0, quad_evals=0, quad_intervals=0)

    # -- validation helpers --------------------------------------------------------------------
    @staticmethod
    def _count(name, v):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 0:
            raise NetworkError(f"BTSPState: {name} must be a non-negative integer, got {v!r}")
        return int(v)

    @staticmethod
    def _int_indices(a, n, err, prefix, name, what, bound=None):
        """``a`` as int64 indices in [0, n) (integral floats accepted); ``err`` raised naming ``name``
        (``bound``: the out-of-range wording, default "is not a <what> index in [0, n)")."""
        i = np.asarray(a).reshape(-1) if np.ndim(a) <= 1 else None
        if i is None:
            raise err(f"{prefix}: {name} must be 1-D, got shape {np.shape(a)}")
        if i.size and i.dtype.kind not in "iu":
            if i.dtype.kind == "f" and np.all(np.isfinite(i)) and np.all(i == np.round(i)):
                i = i.astype(np.int64)
            else:
                raise err(f"{prefix}: {name} must be integer {what + ' ' if what else ''}indices, got dtype {i.dtype}")
        i = i.astype(np.int64)
        bad = np.flatnonzero((i < 0) | (i >= n))
        if bad.size:
            k = int(bad[0])
            raise err(f"{prefix}: {name}[{k}] = {int(i[k])} " + (bound or f"is not a {what} index in [0, {n})"))
        return i

    @classmethod
    def _index_array(cls, name, a, n, nname):
        return cls._int_indices(a, n, NetworkError, "BTSPState", name, "", bound=f"is outside [0, {nname}={n})")

    @staticmethod
    def _time(name, v):
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ParameterError(f"BTSPState: {name} must be a time in ms, got {v!r}") from None
        if not math.isfinite(v):
            raise ParameterError(f"BTSPState: {name} must be finite, got {v!r}")
        return v

    def _times(self, where, name, times):
        t = np.asarray(times, dtype=np.float64).reshape(-1) if np.ndim(times) <= 1 else None
        if t is None:
            raise ParameterError(f"BTSPState.{where}: {name} must be 1-D, got shape {np.shape(times)}")
        bad = np.flatnonzero(~np.isfinite(t))
        if bad.size:
            k = int(bad[0])
            raise ParameterError(f"BTSPState.{where}: {name}[{k}] is {float(t[k])!r}; times must be finite (ms)")
        return t

    def _ids(self, where, name, ids, n, what):
        return self._int_indices(ids, n, ParameterError, f"BTSPState.{where}", name, what)

    # -- inputs ----------------------------------------------------------------------------------
    @property
    def t(self):
        """Current time (ms): every event up to it has been processed."""
        return self._t

    @property
    def counters(self):
        """Work counters (a copy): ``plateaus`` (onsets processed), ``windows_closed``,
        ``synapse_visits`` (synapses onto a neuron at each window close: the O(fan-in) cost),
        ``synapse_updates`` (of those, the ones with ET·IS > 0 in the window, i.e. whose weight the
        rule changed), ``et_increments`` (presynaptic spikes: O(1) each), ``rate_changes``,
        ``pieces`` (smooth pieces integrated), ``quad_evals`` (integrand evaluations per synapse),
        ``quad_intervals`` (accepted quadrature subintervals / ODE panels)."""
        return dict(self._counters)

    def _merge_pre(self, t, j, v):
        if t.size == 0:
            return
        tt = np.concatenate([self._pe_t, t])
        order = np.argsort(tt, kind="stable")
        self._pe_t = tt[order]
        self._pe_j = np.concatenate([self._pe_j, j])[order]
        self._pe_v = np.concatenate([self._pe_v, v])[order]

    def add_pre_spikes(self, times, ids):
        """Queue presynaptic spikes.

        Parameters
        ----------
        times : array of float
            Spike times, ms, sorted (non-decreasing), not earlier than :attr:`t`.
        ids : array of int
            Presynaptic neuron of each spike, in ``[0, n_pre)``.

        Examples
        --------
        >>> import numpy as np
        >>> from spikeengine.btsp import BTSP, BTSPState
        >>> import spikeengine as se
        >>> st = BTSPState(BTSP(a_ET=0.2), 2, 1, [0, 1], [0, 0], np.ones(2))
        >>> st.add_pre_spikes([1.0, 2.0], [0, 1])
        >>> st.advance(2.0)
        >>> st.eligibility().round(6).tolist()
        [0.19988, 0.2]
        >>> try:
        ...     st.add_pre_spikes([0.5], [0])
        ... except se.ParameterError as err:
        ...     print(err)
        BTSPState.add_pre_spikes: times[0] = 0.5 ms is earlier than the state's current time 2.0 ms
        """
        t = self._times("add_pre_spikes", "times", times)
        j = self._ids("add_pre_spikes", "ids", ids, self.n_pre, "presynaptic neuron")
        if j.size != t.size:
            raise ParameterError(f"BTSPState.add_pre_spikes: times has {t.size} entries but ids has {j.size}")
        if t.size:
            bad = np.flatnonzero(np.diff(t) < 0)
            if bad.size:
                k = int(bad[0]) + 1
                raise ParameterError(f"BTSPState.add_pre_spikes: times must be sorted: times[{k}] = {float(t[k])!r} ms "
                                     f"follows {float(t[k - 1])!r} ms")
            if t[0] < self._t:
                raise ParameterError(f"BTSPState.add_pre_spikes: times[0] = {float(t[0])!r} ms is earlier than the "
                                     f"state's current time {self._t!r} ms")
        self._merge_pre(t, j, np.full(t.size, np.nan))

    def add_pre_rates(self, t_grid, rates, ids=None):
        r"""Drive presynaptic traces with piecewise-constant rates.

        ``rates[k]`` (Hz) holds on ``[t_grid[k], t_grid[k+1])`` and the last row holds after
        ``t_grid[-1]`` (end with a row of zeros to stop). With u = rate / ``rate_peak``, the trace
        follows :math:`\tau_{ET}\dot{ET} = -ET + u/ET_{norm}` exactly:
        ``ET(t) = u/ET_norm + (ET(t_k) - u/ET_norm) exp(-(t - t_k)/tau_ET)`` on each step, so the only
        approximation is the piecewise-constant rate itself (sample the rate at the interval
        midpoints for second-order accuracy). Rate drive and spikes may be combined.

        Parameters
        ----------
        t_grid : array of float
            Strictly increasing times, ms, the first not earlier than :attr:`t`.
        rates : array of float, shape (len(t_grid), len(ids))
            Non-negative rates, Hz.
        ids : array of int, optional
            The presynaptic neurons the columns refer to (default: all, in order).

        Examples
        --------
        >>> import numpy as np
        >>> from spikeengine.btsp import BTSP, BTSPState
        >>> rule = BTSP()
        >>> st = BTSPState(rule, 1, 1, [0], [0], np.ones(1))
        >>> st.add_pre_rates([0.0, 1000.0], [[40.0], [0.0]])   # rate_peak for 1 s, then silence
        >>> st.advance(1000.0)
        >>> round(float(st.eligibility()[0]), 6)            # (1 - exp(-1000/1664.103)) / 0.500257
        0.902927
        """
        where = "add_pre_rates"
        tg = self._times(where, "t_grid", t_grid)
        j = np.arange(self.n_pre) if ids is None else self._ids(where, "ids", ids, self.n_pre, "presynaptic neuron")
        if ids is not None and np.unique(j).size != j.size:
            raise ParameterError(f"BTSPState.{where}: ids must not repeat a neuron")
        r = np.asarray(rates, dtype=np.float64)
        if r.ndim == 1 and j.size == 1:
            r = r[:, None]
        if r.shape != (tg.size, j.size):
            raise ParameterError(f"BTSPState.{where}: rates has shape {r.shape}; expected (len(t_grid), len(ids)) = "
                                 f"({tg.size}, {j.size})")
        if tg.size == 0 or j.size == 0:
            return
        bad = np.flatnonzero(np.diff(tg) <= 0)
        if bad.size:
            k = int(bad[0]) + 1
            raise ParameterError(f"BTSPState.{where}: t_grid must be strictly increasing: t_grid[{k}] = "
                                 f"{float(tg[k])!r} ms follows {float(tg[k - 1])!r} ms")
        if tg[0] < self._t:
            raise ParameterError(f"BTSPState.{where}: t_grid[0] = {float(tg[0])!r} ms is earlier than the state's "
                                 f"current time {self._t!r} ms")
        bad = np.argwhere(~(np.isfinite(r) & (r >= 0)))
        if bad.size:
            k, c = (int(x) for x in bad[0])
            raise ParameterError(f"BTSPState.{where}: rates[{k}, {c}] = {float(r[k, c])!r} Hz (neuron {int(j[c])}); "
                                 "rates must be finite and >= 0")
        drive = r * (1.0 / (self.rule.rate_peak * self.rule.ET_norm))
        change = np.ones_like(drive, dtype=bool)
        change[1:] = drive[1:] != drive[:-1]
        k, c = np.nonzero(change)            # row-major: time order
        self._merge_pre(tg[k], j[c], drive[k, c])

    def add_plateaus(self, times, ids, durations=None):
        """Queue plateau potentials (the instructive events) of postsynaptic neurons.

        May be called once for all plateaus before the run, or incrementally; onsets of one neuron
        must increase (also across calls) and none may precede :attr:`t`. Overlapping plateaus of
        one neuron merge: the gate stays on until the latest end, and the new onset closes the
        window of the previous one and opens its own.

        Parameters
        ----------
        times : array of float
            Onsets, ms, non-negative, increasing per neuron.
        ids : array of int
            Postsynaptic neuron of each plateau, in ``[0, n_post)``.
        durations : float or array of float, optional
            Plateau durations, ms, > 0 (default ``rule.plateau_duration``).

        Examples
        --------
        >>> import numpy as np
        >>> from spikeengine.btsp import BTSP, BTSPState
        >>> import spikeengine as se
        >>> st = BTSPState(BTSP(), 1, 2, [0], [1], np.ones(1))
        >>> st.add_plateaus([500.0, 100.0], [1, 0])      # sorted per neuron: fine
        >>> try:
        ...     st.add_plateaus([300.0], [1])
        ... except se.ParameterError as err:
        ...     print(err)
        BTSPState.add_plateaus: plateau onsets of post neuron 1 must increase: 300.0 ms (times[0]) is not after 500.0 ms
        """
        where = "add_plateaus"
        t = self._times(where, "times", times)
        i = self._ids(where, "ids", ids, self.n_post, "postsynaptic neuron")
        if i.size != t.size:
            raise ParameterError(f"BTSPState.{where}: times has {t.size} entries but ids has {i.size}")
        if durations is None:
            d = np.full(t.size, self.rule.plateau_duration)
        else:
            d = np.asarray(durations, dtype=np.float64)
            d = np.full(t.size, float(d)) if d.ndim == 0 else d.reshape(-1)
            if d.size != t.size:
                raise ParameterError(f"BTSPState.{where}: durations has {d.size} entries but times has {t.size}")
            bad = np.flatnonzero(~(np.isfinite(d) & (d > 0)))
            if bad.size:
                k = int(bad[0])
                raise ParameterError(f"BTSPState.{where}: durations[{k}] = {float(d[k])!r} ms (post neuron "
                                     f"{int(i[k])}); plateau durations must be finite and > 0")
        if t.size == 0:
            return
        bad = np.flatnonzero(t < 0)
        if bad.size:
            k = int(bad[0])
            raise ParameterError(f"BTSPState.{where}: plateau onset {float(t[k])!r} ms of post neuron {int(i[k])} "
                                 f"(times[{k}]) is negative")
        bad = np.flatnonzero(t < self._t)
        if bad.size:
            k = int(bad[0])
            raise ParameterError(f"BTSPState.{where}: plateau onset {float(t[k])!r} ms of post neuron {int(i[k])} "
                                 f"(times[{k}]) is earlier than the state's current time {self._t!r} ms")
        order = np.argsort(i, kind="stable")
        io, to = i[order], t[order]
        first = np.concatenate([[True], io[1:] != io[:-1]])
        prev = np.where(first, self._last_onset[io], np.concatenate([[-np.inf], to[:-1]]))
        bad = np.flatnonzero(to <= prev)
        if bad.size:
            k = int(bad[0])
            raise ParameterError(f"BTSPState.{where}: plateau onsets of post neuron {int(io[k])} must increase: "
                                 f"{float(to[k])!r} ms (times[{int(order[k])}]) is not after {float(prev[k])!r} ms")
        np.maximum.at(self._last_onset, i, t)
        tt = np.concatenate([self._po_t, t])
        ii = np.concatenate([self._po_i, i])
        order = np.lexsort((ii, tt))
        self._po_t, self._po_i = tt[order], ii[order]
        self._po_d = np.concatenate([self._po_d, d])[order]

    # -- state read-out ------------------------------------------------------------------------
    def eligibility(self):
        """ET of every presynaptic neuron at :attr:`t` (normalised units)."""
        return self._D + (self._x - self._D) * np.exp((self._tx - self._t) / self.rule.tau_ET)

    def instructive(self):
        """IS of every postsynaptic neuron at :attr:`t` (normalised units)."""
        return self._is_at(np.arange(self.n_post), self._t)

    @property
    def window_open(self):
        """Whether each postsynaptic neuron has an open update window at :attr:`t` (a copy)."""
        return self._open.copy()

    def _is_at(self, i, t):
        G = self._G[i]
        return G + (self._y[i] - G) * np.exp((self._ty[i] - t) / self.rule.tau_IS)

    def _close_after(self, is_onset, onset, gate_end):
        """Close time of a window opened at `onset` with IS(onset) = is_onset, gate on until gate_end."""
        tau = self.rule.tau_IS
        g = 1.0 / self.rule.IS_norm
        is_end = g + (is_onset - g) * np.exp((onset - gate_end) / tau)
        with np.errstate(divide="ignore"):
            extra = tau * np.log(is_end / self.rule.eps)
        return gate_end + np.maximum(extra, 0.0)

    def next_update_time(self):
        """Earliest time at which the weights change, given the plateaus queued so far (ms).

        lapwise: the next window close (a window closes at the neuron's next onset or when IS < eps);
        ode: :attr:`t` while a window is open (the weights change continuously), else the next
        plateau onset; ``inf`` when nothing is pending. No weight changes before this time, so a
        simulator may run its network up to it without consulting the rule.

        Examples
        --------
        >>> import numpy as np
        >>> from spikeengine.btsp import BTSP, BTSPState
        >>> st = BTSPState(BTSP(), 1, 1, [0], [0], np.ones(1))
        >>> st.next_update_time()
        inf
        >>> st.add_plateaus([100.0, 2000.0], [0, 0])
        >>> st.next_update_time()       # the second onset closes the first window
        2000.0
        """
        if self.rule.mode == "ode":
            if self._n_open:
                return self._t
            return float(self._po_t[0]) if self._po_t.size else math.inf
        best = math.inf
        pend_first = {}
        if self._po_t.size:
            # first and second pending onset of each neuron
            uniq, first = np.unique(self._po_i, return_index=True)
            rest = np.ones(self._po_i.size, dtype=bool)
            rest[first] = False
            nxt = np.full(self.n_post, np.inf)
            u2, f2 = np.unique(self._po_i[rest], return_index=True)
            nxt[u2] = self._po_t[rest][f2]
            pend_first = dict(uniq=uniq, t=self._po_t[first], d=self._po_d[first], nxt=nxt)
        if self._n_open:
            o = np.flatnonzero(self._open)
            c = self._close[o].copy()
            if pend_first:
                f = np.full(self.n_post, np.inf)
                f[pend_first["uniq"]] = pend_first["t"]
                c = np.minimum(c, f[o])
            best = float(c.min())
        if pend_first:
            # windows that pending onsets will open (on neurons whose open window they do not close first)
            i, to, d = pend_first["uniq"], pend_first["t"], pend_first["d"]
            ge = self._gate_end[i]                         # inf: gate off now
            on = to < ge                                   # gate off now, or still on at the onset
            # IS at the onset: directly, or at the end of the current plateau and decaying from there
            t_eval = np.where(on, to, ge)
            is_on = self._is_at(i, t_eval) * np.exp((t_eval - to) / self.rule.tau_IS)
            new_end = np.where(on & (ge < np.inf), np.maximum(ge, to + d), to + d)
            close = np.minimum(self._close_after(is_on, to, new_end), pend_first["nxt"][i])
            best = min(best, float(close.min()))
        return best

    # -- the event loop ------------------------------------------------------------------------
    def advance(self, t):
        """Process every event up to time t (ms) and apply the weight updates that are due.

        lapwise: windows that close at or before t update their synapses; ode: afterwards the
        weights are the solution of the ODE at t. t must not be earlier than :attr:`t`; results do
        not depend on how a run is split into calls.

        Examples
        --------
        >>> import numpy as np
        >>> from spikeengine.btsp import BTSP, BTSPState
        >>> w = np.ones(1)
        >>> st = BTSPState(BTSP(mode="ode"), 1, 1, [0], [0], w)
        >>> st.add_pre_spikes(np.arange(0.0, 1000.0, 25.0), np.zeros(40, dtype=int))
        >>> st.add_plateaus([1000.0], [0])
        >>> for t in (1100.0, 1300.0, 8000.0):
        ...     st.advance(t)
        ...     print(t, round(float(w[0]), 6))
        1100.0 1.03556
        1300.0 1.436381
        8000.0 1.632703
        """
        t = self._time("advance: t", t)
        if t < self._t:
            raise ParameterError(f"BTSPState.advance: t = {t!r} ms is earlier than the state's current time "
                                 f"{self._t!r} ms")
        while True:
            tp = self._next_post_event()
            if tp > t:
                break
            self._span(tp, inclusive=False)
            self._t = tp
            self._post_events(tp)
        self._span(t, inclusive=True)
        self._t = t
        if self.rule.mode == "ode" and self._n_open:
            self._cut(np.flatnonzero(self._open), t)
            self._flush()

    def _next_post_event(self):
        tp = float(self._po_t[0]) if self._po_t.size else math.inf
        if self.n_post:
            tp = min(tp, float(self._gate_end.min()), float(self._close.min()))
        return tp

    def _queue_pieces(self, syn, lo, hi, tE, E0, D):
        """Queue the pieces [lo, hi] of synapses syn (ET formula tE, E0, D), with the IS formula of their
        targets now in force: no postsynaptic event of a target lies inside its piece, since every
        such event cuts the target's synapses first."""
        keep = (hi > lo) & ((E0 != 0.0) | (D != 0.0))       # ET identically 0: nothing to integrate
        if not keep.all():
            syn, lo, hi, tE, E0, D = syn[keep], lo[keep], hi[keep], tE[keep], E0[keep], D[keep]
        if syn.size:
            i = self.targets[syn]
            self._queue.append((syn, lo, hi, tE, E0, D, self._ty[i], self._y[i], self._G[i]))
            self._queued += syn.size
            if self._queued > _MAX_QUEUED:
                self._flush()

    def _update_traces(self, ev_t, ev_j, ev_v):
        """Apply presynaptic events (time-sorted) to the traces; return, per event, the trace formula
        (tE, E0, D) in force just before it, i.e. on the piece the event ends."""
        rule = self.rule
        spike = np.isnan(ev_v)
        n_sp = int(np.count_nonzero(spike))
        self._counters["et_increments"] += n_sp
        self._counters["rate_changes"] += ev_t.size - n_sp
        x, tx, D = self._x, self._tx, self._D
        if ev_t.size <= 16:                       # a few events (short advance steps): plain Python is faster
            rec = np.empty((3, ev_t.size))
            a_et, tau = rule.a_ET, rule.tau_ET
            for k, (te, j, v) in enumerate(zip(ev_t.tolist(), ev_j.tolist(), ev_v.tolist())):
                x0, t0, d0 = float(x[j]), float(tx[j]), float(D[j])
                rec[0, k], rec[1, k], rec[2, k] = t0, x0, d0
                xb = d0 + (x0 - d0) * float(np.exp((t0 - te) / tau))   # np.exp: as the array path
                if v != v:                        # NaN: a spike
                    x[j] = xb + a_et
                else:
                    x[j] = xb
                    D[j] = v
                tx[j] = te
            return rec[0], rec[1], rec[2]
        order = np.argsort(ev_j, kind="stable")
        k = ev_j[order]
        if not np.any(k[1:] == k[:-1]):
            blocks = [order]                      # one event per neuron: a single vectorised step
        else:
            rank_order, bounds = _rank_blocks(_ranks(ev_j))
            blocks = [rank_order[bounds[r]:bounds[r + 1]] for r in range(bounds.size - 1)]
        rec_tE = np.empty(ev_t.size)
        rec_E0 = np.empty(ev_t.size)
        rec_D = np.empty(ev_t.size)
        for e in blocks:
            jj = ev_j[e]
            te = ev_t[e]
            x0, t0, d0 = x[jj], tx[jj], D[jj]
            rec_tE[e], rec_E0[e], rec_D[e] = t0, x0, d0
            xb = d0 + (x0 - d0) * np.exp((t0 - te) / rule.tau_ET)
            sp = spike[e]
            x[jj] = np.where(sp, xb + rule.a_ET, xb)
            D[jj] = np.where(sp, d0, ev_v[e])
            tx[jj] = te
        return rec_tE, rec_E0, rec_D

    def _span(self, T1, inclusive):
        """Presynaptic events in [t, T1) (or [t, T1]); no postsynaptic event lies inside. Each event of
        neuron j ends a piece of every open synapse of j, which is queued."""
        n = int(np.searchsorted(self._pe_t, T1, side="right" if inclusive else "left"))
        if n == 0:
            return
        ev_t, ev_j, ev_v = self._pe_t[:n], self._pe_j[:n], self._pe_v[:n]
        self._pe_t, self._pe_j, self._pe_v = self._pe_t[n:], self._pe_j[n:], self._pe_v[n:]
        rec_tE, rec_E0, rec_D = self._update_traces(ev_t, ev_j, ev_v)
        if not self._n_open:
            return
        cnt = self._src_ptr[ev_j + 1] - self._src_ptr[ev_j]
        syn = self._by_src[_ranges(self._src_ptr[ev_j], cnt)]
        rep = np.repeat(np.arange(n), cnt)
        is_open = self._open[self.targets[syn]]
        if not is_open.any():
            return
        syn, rep = syn[is_open], rep[is_open]
        hi, tE = ev_t[rep], rec_tE[rep]
        lo = np.maximum(self._tint[syn], tE)
        np.maximum.at(self._tint, syn, hi)
        self._queue_pieces(syn, lo, hi, tE, rec_E0[rep], rec_D[rep])

    def _cut(self, neurons, tp):
        """Queue the pieces up to tp of the synapses onto `neurons` (open windows), before their IS changes."""
        syn = self._by_tgt[_ranges(self._tgt_ptr[neurons], self._tgt_ptr[neurons + 1] - self._tgt_ptr[neurons])]
        if syn.size:
            js = self.sources[syn]
            lo = np.maximum(self._tint[syn], self._tx[js])
            self._tint[syn] = tp
            self._queue_pieces(syn, lo, np.full(syn.size, tp), self._tx[js], self._x[js], self._D[js])

    def _flush(self):
        """Integrate the queued pieces: lapwise into I+ and I-, ode into the weights (in time order)."""
        if not self._queue:
            return
        q = self._queue
        syn, lo, hi, tE, E0, D, tY, Y0, G = (np.concatenate(p) if len(q) > 1 else p[0] for p in zip(*q))
        self._queue = []
        self._queued = 0
        P = _Pieces(syn=syn, lo=lo, hi=hi, tE=tE, E0=E0, D=D, tY=tY, Y0=Y0, G=G)
        rule = self.rule
        self._counters["pieces"] += int(syn.size)
        self._touched[syn] = True
        if rule.mode == "lapwise":
            ip, im, evals, acc = _gk_integrals(rule, P)
            np.add.at(self._ip, syn, ip)
            np.add.at(self._im, syn, im)
        else:
            k, a, c, psi, evals = _ode_panels(rule, P)
            acc = k.size
            ps = syn[k]
            order = np.lexsort((a, ps))                  # time order per synapse
            ps, c, psi = ps[order], c[order], psi[order]
            np.add.at(self._ip, ps, c)                   # ode: the integral of A + B (for the counters)
            uniq, loc = np.unique(ps, return_inverse=True)
            wmax = rule.Wmax
            w = self.weights[uniq] / wmax
            rorder, bounds = _rank_blocks(_ranks(loc))
            for r in range(bounds.size - 1):
                e = rorder[bounds[r]:bounds[r + 1]]
                li = loc[e]
                w[li] = np.exp(-c[e]) * w[li] + psi[e]
            self.weights[uniq] = np.clip(w, 0.0, 1.0) * wmax
        self._counters["quad_evals"] += int(evals)
        self._counters["quad_intervals"] += int(acc)

    def _post_events(self, tp):
        """Window closes, plateau ends and onsets at exactly tp, in that order."""
        n_on = int(np.searchsorted(self._po_t, tp, side="right"))
        on_i, on_d = self._po_i[:n_on], self._po_d[:n_on]
        self._po_t, self._po_i, self._po_d = self._po_t[n_on:], self._po_i[n_on:], self._po_d[n_on:]
        closing = np.flatnonzero(self._open & (self._close <= tp))
        if on_i.size:
            closing = np.union1d(closing, on_i[self._open[on_i]])
        ends = np.flatnonzero(self._gate_end <= tp)
        cut = np.union1d(closing, ends[self._open[ends]])
        if cut.size:
            self._cut(cut, tp)
        if closing.size:
            self._flush()
            self._close_windows(closing, tp)
        if ends.size:
            self._y[ends] = self._is_at(ends, tp)
            self._ty[ends] = tp
            self._G[ends] = 0.0
            self._gate_end[ends] = np.inf
        if on_i.size:
            self._open_windows(on_i, on_d, tp)

    def _close_windows(self, idx, tp):
        rule = self.rule
        syn = self._by_tgt[_ranges(self._tgt_ptr[idx], self._tgt_ptr[idx + 1] - self._tgt_ptr[idx])]
        self._counters["windows_closed"] += int(idx.size)
        self._counters["synapse_visits"] += int(syn.size)
        self._counters["synapse_updates"] += int(np.count_nonzero((self._ip[syn] > 0) | (self._im[syn] > 0)))
        if rule.mode == "lapwise" and syn.size:
            wmax = rule.Wmax
            w = self.weights[syn] / wmax
            ip, im = self._ip[syn], self._im[syn]
            new = np.clip(w + rule.k_pot * ip * (1.0 - w) - rule.k_dep * im * w, 0.0, 1.0)
            changed = self._touched[syn]
            self.weights[syn[changed]] = new[changed] * wmax
        if self.record:
            ptr = np.concatenate([[0], np.cumsum(self._tgt_ptr[idx + 1] - self._tgt_ptr[idx])])
            for k, i in enumerate(idx):
                s = syn[ptr[k]:ptr[k + 1]]
                rec = dict(time=tp, post=int(i), synapses=s.copy(), w_before=self._w_open[s].copy(),
                           w_after=self.weights[s].copy())
                if rule.mode == "lapwise":
                    rec.update(I_pot=self._ip[s].copy(), I_dep=self._im[s].copy())
                self.updates.append(rec)
        self._ip[syn] = 0.0
        self._im[syn] = 0.0
        self._touched[syn] = False
        self._open[idx] = False
        self._n_open -= int(idx.size)
        self._close[idx] = np.inf

    def _open_windows(self, idx, dur, tp):
        is_on = self._is_at(idx, tp)
        ge = self._gate_end[idx]
        new_end = np.where(ge < np.inf, np.maximum(ge, tp + dur), tp + dur)
        self._y[idx] = is_on
        self._ty[idx] = tp
        self._G[idx] = 1.0 / self.rule.IS_norm
        self._gate_end[idx] = new_end
        self._close[idx] = self._close_after(is_on, tp, new_end)
        self._open[idx] = True
        self._n_open += int(idx.size)
        syn = self._by_tgt[_ranges(self._tgt_ptr[idx], self._tgt_ptr[idx + 1] - self._tgt_ptr[idx])]
        self._tint[syn] = tp
        self._ip[syn] = 0.0
        self._im[syn] = 0.0
        if self.record:
            self._w_open[syn] = self.weights[syn]
        self._counters["plateaus"] += int(idx.size)


# ---------------------------------------------------------------------------------------------
# The plasticity kernel
# ---------------------------------------------------------------------------------------------
def plasticity_kernel(rule, offsets_ms, w_init=1.0, *, speed=25.0, field_width=90.0, previous_laps=0,
                      track_length=187.0, dt=10.0, plateau_duration=None, return_state=False):
    """ΔW (in units of w0) of single inputs against the time of their place field relative to a plateau.

    The authors' protocol (``BTSP.md`` §1): each input is a rate input whose field is a Gaussian
    ``exp(-((x - c)/sigma)^2)`` with ``sigma = field_width / 3 / sqrt(2)`` cm, traversed at
    ``speed`` cm/s with peak rate ``rule.rate_peak``; input k's field centre is passed at
    ``offsets_ms[k]`` relative to the onset of one plateau (``plateau_duration``, default the
    rule's). The rate is sampled at the midpoints of a ``dt`` grid (ET is exact for the
    piecewise-constant rate; dt = 10 ms is the authors' ``down_dt``). Every input has its own
    synapse onto one postsynaptic neuron, and :class:`BTSPState` is run until the window closes, in
    the rule's mode.

    ``previous_laps=0`` gives the kernel of one isolated traversal. ``previous_laps=n`` also lets
    each input be traversed n times before, one lap (``track_length / speed``) apart, as on the
    authors' circular track (their runs have one lap before the induction lap: ``previous_laps=1``
    reproduces their one-shot peak).

    Parameters
    ----------
    rule : BTSP
        The rule (its mode is used).
    offsets_ms : array of float
        Time of each input's field centre relative to plateau onset, ms.
    w_init : float
        Initial weight in units of w0 (default 1, the silent-cell baseline); must be in
        ``[0, 1 + peak_delta_weight]``.
    speed, field_width, track_length : float
        cm/s, cm, cm (defaults 25, 90, 187).
    previous_laps : int
        Earlier traversals of each field (default 0).
    dt : float
        Rate grid step, ms (default 10).
    plateau_duration : float, optional
        Plateau duration, ms.
    return_state : bool
        Also return the :class:`BTSPState` (for its counters).

    Returns
    -------
    numpy.ndarray
        ΔW / w0 per offset (and the state when ``return_state``).

    Examples
    --------
    >>> import numpy as np
    >>> from spikeengine.btsp import BTSP, plasticity_kernel
    >>> dw = plasticity_kernel(BTSP(), [-3000.0, -200.0, 0.0, 2000.0])
    >>> dw.round(3).tolist()
    [0.137, 1.813, 1.742, -0.016]
    """
    if not isinstance(rule, BTSP):
        raise ParameterError(f"plasticity_kernel: rule must be a spikeengine.btsp.BTSP, got {type(rule).__name__}")
    off = np.asarray(offsets_ms, dtype=np.float64).reshape(-1)
    if off.size == 0 or not np.all(np.isfinite(off)):
        raise ParameterError("plasticity_kernel: offsets_ms must be a non-empty array of finite times (ms)")
    pk = "plasticity_kernel"
    speed = _positive("speed", speed, " cm/s", pk)
    field_width = _positive("field_width", field_width, " cm", pk)
    track_length = _positive("track_length", track_length, " cm", pk)
    dt = _positive("dt", dt, " ms", pk)
    if isinstance(previous_laps, (bool, np.bool_)) or int(previous_laps) != previous_laps or previous_laps < 0:
        raise ParameterError(f"plasticity_kernel: previous_laps must be a non-negative integer, got {previous_laps!r}")
    previous_laps = int(previous_laps)
    dur = rule.plateau_duration if plateau_duration is None else _positive("plateau_duration", plateau_duration,
                                                                            " ms", pk)
    w_init = _nonneg("w_init", w_init, "", pk)
    if w_init > 1.0 + rule.peak_delta_weight:
        raise ParameterError(f"plasticity_kernel: w_init must be <= 1 + peak_delta_weight = "
                             f"{1.0 + rule.peak_delta_weight!r} (units of w0), got {w_init!r}")
    sigma_t = field_width / 3.0 / math.sqrt(2.0) / speed * 1000.0          # ms
    lap = track_length / speed * 1000.0
    passes = off[:, None] - lap * np.arange(previous_laps + 1)[None, :]      # (n, laps)
    t_first = float(passes.min()) - 6.0 * sigma_t                            # exp(-36): silent before
    onset = -t_first                                                         # shift: the grid starts at 0
    is_end = -math.expm1(-dur / rule.tau_IS) / rule.IS_norm
    t_end = onset + dur + rule.tau_IS * max(math.log(is_end / rule.eps), 0.0) + dt
    grid = np.arange(0.0, t_end, dt)
    mid = grid + 0.5 * dt
    rates = np.zeros((grid.size, off.size))
    for k in range(previous_laps + 1):
        rates += np.exp(-(((mid[:, None] - onset) - passes[None, :, k]) / sigma_t) ** 2)
    rates *= rule.rate_peak
    n = off.size
    w = np.full(n, w_init * rule.w0)
    st = BTSPState(rule, n, 1, np.arange(n), np.zeros(n, dtype=np.int64), w)
    st.add_pre_rates(grid, rates)
    st.add_plateaus([onset], [0], [dur])
    st.advance(t_end)
    dw = (w - w_init * rule.w0) / rule.w0
    return (dw, st) if return_state else dw
