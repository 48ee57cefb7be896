"""Plasticity rules that run on spike events: STDP (pair, nearest-neighbour, triplet).

A rule is attached to a projection with ``net.connect(..., plasticity=rule)``; its synapses then
keep float64 weights that the kernel changes on spike events, in all three backends. The
conventions are NEST 3.10's (``docs/plasticity.md``): the whole synaptic delay is dendritic, a
weight changes only when a presynaptic spike reaches the synapse (facilitation by the
postsynaptic spikes since the previous presynaptic spike, then depression), so a NEST result is
reproduced number for number. ``delay="axonal"`` is the other convention on offer.

Parameter names and defaults are NEST's (``stdp_synapse``, ``stdp_nn_symm_synapse``,
``stdp_nn_restr_synapse``, ``stdp_nn_pre_centered_synapse``, ``stdp_triplet_synapse``);
``tau_minus`` and ``tau_minus_triplet``, which NEST keeps on the postsynaptic neuron, are given
with the rule and must agree between all plastic projections onto one population.
"""

import math

import numpy as np

from . import dtypes as dt
from .errors import ParameterError

_PAIRINGS = {"all": dt.RULE_STDP, "nn_symm": dt.RULE_NN_SYMM, "nn_restr": dt.RULE_NN_RESTR,
             "nn_pre_centered": dt.RULE_NN_PRE}
_NEST_PAIR = {"stdp_synapse": "all", "stdp_nn_symm_synapse": "nn_symm", "stdp_nn_restr_synapse": "nn_restr",
              "stdp_nn_pre_centered_synapse": "nn_pre_centered"}
_DELAYS = {"dendritic": 1.0, "axonal": 0.0}


def _num(rule, name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ParameterError(f"{rule}: {name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ParameterError(f"{rule}: {name} must be finite, got {value!r}")
    return value


def _positive(rule, name, value):
    value = _num(rule, name, value)
    if value <= 0:
        raise ParameterError(f"{rule}: {name} must be > 0, got {value!r}")
    return value


def _nonneg(rule, name, value):
    value = _num(rule, name, value)
    if value < 0:
        raise ParameterError(f"{rule}: {name} must be >= 0, got {value!r}")
    return value


class PlasticityRule:
    """Base class of the event-driven plasticity rules (see :class:`STDP`, :class:`TripletSTDP`)."""

    #: NEST synapse model with the same rule and conventions
    nest_model = None
    rule_type = 0

    def __init__(self, delay="dendritic"):
        if delay not in _DELAYS:
            raise ParameterError(f"{self._name()}: delay must be 'dendritic' (NEST) or 'axonal', got {delay!r}")
        self.delay = delay

    def _name(self):
        return type(self).__name__

    def __repr__(self):
        keys = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{self._name()}({keys})"

    def params(self):
        """The rule's parameters as a dict (constructor names)."""
        raise NotImplementedError

    def post_taus(self):
        """(tau_minus, tau_minus_triplet) of the postsynaptic traces this rule reads."""
        return self.tau_minus, getattr(self, "tau_minus_triplet", 110.0)

    def check_weights(self, w, label):
        """Raise when a weight lies outside [0, Wmax] (or [Wmax, 0] for negative Wmax), naming the synapse."""
        wmax = self.Wmax
        x = np.asarray(w, dtype=np.float64) / wmax
        bad = ~((x >= 0.0) & (x <= 1.0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            rng = "[0, Wmax]" if wmax > 0 else "[Wmax, 0]"
            raise ParameterError(f"{label}: weight of synapse {i} is {float(np.asarray(w)[i])!r}, outside {rng} = "
                                 f"{sorted((0.0, wmax))} of {self._name()} (Wmax={wmax!r}); a plastic weight must "
                                 "have the sign of Wmax and not exceed it")

    def row(self):
        """The rule's row of the kernel's parameter table ``R[:, NR]``."""
        r = np.zeros(dt.NR)
        r[dt.R_TYPE] = self.rule_type
        r[dt.R_DDEN] = _DELAYS[self.delay]
        r[dt.R_WMAX] = self.Wmax
        r[dt.R_TAU_PLUS] = self.tau_plus
        r[dt.R_TMINV] = 1.0 / self.tau_minus
        return r


class STDP(PlasticityRule):
    """Pair-based STDP with Gütig et al. (2003) weight dependence (NEST ``stdp_synapse`` and its
    nearest-neighbour variants).

    On the normalised weight w = W / Wmax, facilitation is ``w + lambda (1 - w)^mu_plus K+`` (capped
    at 1) and depression ``w - alpha lambda w^mu_minus K-`` (floored at 0); ``mu = 0`` is additive
    and ``mu = 1`` multiplicative STDP. K+ and K- are the pre- and postsynaptic traces (time
    constants ``tau_plus`` and ``tau_minus``, ms), all-to-all or nearest-neighbour by ``pairing``.

    Parameters
    ----------
    lambda_ : float
        Learning rate (NEST ``lambda``; ``STDP(**{"lambda": x})`` works too), >= 0.
    alpha : float
        Asymmetry: ratio of depression to facilitation, >= 0.
    mu_plus, mu_minus : float
        Weight-dependence exponents in [0, 1].
    Wmax : float
        Maximum weight, non-zero; plastic weights lie between 0 and Wmax (sign of Wmax).
    tau_plus, tau_minus : float
        Pre- and postsynaptic trace time constants, ms (NEST keeps ``tau_minus`` on the post neuron).
    pairing : str
        ``"all"`` (all-to-all, ``stdp_synapse``), ``"nn_symm"``, ``"nn_restr"``, ``"nn_pre_centered"``
        (Morrison et al. 2008; ``stdp_nn_*_synapse``).
    Kplus : float
        Initial presynaptic trace (NEST ``Kplus``), >= 0.
    delay : str
        ``"dendritic"`` (default, NEST: a post spike reaches the synapse a delay later, the pre spike at
        once) or ``"axonal"`` (the pre spike reaches the synapse a delay later, the post spike at once).

    Examples
    --------
    >>> import spikeengine as se
    >>> net = se.Network()
    >>> pre = net.spike_source([[10.0, 500.0]], name="pre")
    >>> post = net.spike_source([[20.0]], name="post")
    >>> rule = se.STDP(lambda_=0.01, alpha=1.0, mu_plus=0.0, mu_minus=0.0, Wmax=100.0)
    >>> proj = net.connect(pre, post, "one_to_one", weight=50.0, delay=1.0, plasticity=rule)
    >>> net.run(600.0)
    >>> round(float(proj.weights[0]) - 50.0, 5)   # dw(+10 ms) = exp(-11/20), applied at the next pre spike
    0.57695
    """

    def __init__(self, lambda_=0.01, alpha=1.0, mu_plus=1.0, mu_minus=1.0, Wmax=100.0, tau_plus=20.0,
                 tau_minus=20.0, pairing="all", Kplus=0.0, delay="dendritic", **kw):
        name = "STDP"
        if "lambda" in kw:
            lambda_ = kw.pop("lambda")
        if kw:
            raise ParameterError(f"{name}: unknown parameter(s) {sorted(kw)}; known: lambda_ (lambda), alpha, "
                                 "mu_plus, mu_minus, Wmax, tau_plus, tau_minus, pairing, Kplus, delay")
        if pairing not in _PAIRINGS:
            raise ParameterError(f"{name}: pairing must be one of {sorted(_PAIRINGS)}, got {pairing!r}")
        super().__init__(delay)
        self.pairing = pairing
        self.rule_type = _PAIRINGS[pairing]
        self.lambda_ = _nonneg(name, "lambda", lambda_)
        self.alpha = _nonneg(name, "alpha", alpha)
        for nm, v in (("mu_plus", mu_plus), ("mu_minus", mu_minus)):
            v = _num(name, nm, v)
            if not 0.0 <= v <= 1.0:
                raise ParameterError(f"{name}: {nm} must lie in [0, 1] (0 additive, 1 multiplicative), got {v!r}")
            setattr(self, nm, v)
        self.Wmax = _num(name, "Wmax", Wmax)
        if self.Wmax == 0.0:
            raise ParameterError(f"{name}: Wmax must be non-zero, got {Wmax!r}")
        self.tau_plus = _positive(name, "tau_plus", tau_plus)
        self.tau_minus = _positive(name, "tau_minus", tau_minus)
        self.Kplus = _nonneg(name, "Kplus", Kplus)
        self.nest_model = {v: k for k, v in _NEST_PAIR.items()}[pairing]

    def params(self):
        return {"lambda_": self.lambda_, "alpha": self.alpha, "mu_plus": self.mu_plus, "mu_minus": self.mu_minus,
                "Wmax": self.Wmax, "tau_plus": self.tau_plus, "tau_minus": self.tau_minus, "pairing": self.pairing,
                "Kplus": self.Kplus, "delay": self.delay}

    def row(self):
        r = super().row()
        r[dt.R_LAMBDA] = self.lambda_
        r[dt.R_ALPHA] = self.alpha
        r[dt.R_MU_PLUS] = self.mu_plus
        r[dt.R_MU_MINUS] = self.mu_minus
        return r


class TripletSTDP(PlasticityRule):
    """Triplet STDP, all-to-all (Pfister & Gerstner 2006; NEST ``stdp_triplet_synapse``).

    At each presynaptic spike, every postsynaptic spike since the previous one facilitates by
    ``K+ (Aplus + Aplus_triplet o2)`` (o2 the slow postsynaptic trace just before that spike, time
    constant ``tau_minus_triplet``), then the weight is depressed by
    ``K- (Aminus + Aminus_triplet r2)`` (r2 the slow presynaptic trace, time constant
    ``tau_plus_triplet``, Pfister & Gerstner's tau_x; ``tau_x=`` is accepted too).
    Additive, bounded by 0 and Wmax; the weight keeps the sign of Wmax.

    Parameters
    ----------
    tau_plus, tau_plus_triplet : float
        Presynaptic trace time constants (fast r1 = K+, slow r2), ms.
    Aplus, Aminus, Aplus_triplet, Aminus_triplet : float
        Pair and triplet amplitudes, >= 0 (defaults NEST 3.10's, where Aplus is 5e-10).
    Wmax : float
        Weight bound, non-zero.
    tau_minus, tau_minus_triplet : float
        Postsynaptic trace time constants (fast o1 = K-, slow o2), ms (NEST: post-neuron parameters).
    Kplus, Kplus_triplet : float
        Initial presynaptic traces, >= 0.
    delay : str
        ``"dendritic"`` (NEST) or ``"axonal"``, as in :class:`STDP`.

    Examples
    --------
    >>> import spikeengine as se
    >>> net = se.Network()
    >>> pre = net.spike_source([[10.0, 400.0]], name="pre")
    >>> post = net.spike_source([[20.0]], name="post")
    >>> rule = se.TripletSTDP(Aplus=5e-3)
    >>> proj = net.connect(pre, post, "one_to_one", weight=1.0, delay=1.0, plasticity=rule)
    >>> net.run(500.0)
    >>> round(float(proj.weights[0]), 6)   # + 5e-3 exp(-11/16.8), no triplet term (o2 = 0 before the spike)
    1.002598
    """

    rule_type = dt.RULE_TRIPLET
    nest_model = "stdp_triplet_synapse"

    def __init__(self, tau_plus=16.8, tau_plus_triplet=101.0, Aplus=5e-10, Aminus=7e-3, Aplus_triplet=6.2e-3,
                 Aminus_triplet=2.3e-4, Wmax=100.0, tau_minus=20.0, tau_minus_triplet=110.0, Kplus=0.0,
                 Kplus_triplet=0.0, delay="dendritic", **kw):
        name = "TripletSTDP"
        if "tau_x" in kw:  # Pfister & Gerstner's name of NEST's tau_plus_triplet
            tau_plus_triplet = kw.pop("tau_x")
        if kw:
            raise ParameterError(f"{name}: unknown parameter(s) {sorted(kw)}; known: tau_plus, tau_plus_triplet "
                                 "(tau_x), Aplus, "
                                 "Aminus, Aplus_triplet, Aminus_triplet, Wmax, tau_minus, tau_minus_triplet, Kplus, "
                                 "Kplus_triplet, delay")
        super().__init__(delay)
        self.tau_plus = _positive(name, "tau_plus", tau_plus)
        self.tau_plus_triplet = _positive(name, "tau_plus_triplet", tau_plus_triplet)
        self.tau_minus = _positive(name, "tau_minus", tau_minus)
        self.tau_minus_triplet = _positive(name, "tau_minus_triplet", tau_minus_triplet)
        for nm, v in (("Aplus", Aplus), ("Aminus", Aminus), ("Aplus_triplet", Aplus_triplet),
                      ("Aminus_triplet", Aminus_triplet), ("Kplus", Kplus), ("Kplus_triplet", Kplus_triplet)):
            setattr(self, nm, _nonneg(name, nm, v))
        self.Wmax = _num(name, "Wmax", Wmax)
        if self.Wmax == 0.0:
            raise ParameterError(f"{name}: Wmax must be non-zero, got {Wmax!r}")

    def params(self):
        return {k: getattr(self, k) for k in ("tau_plus", "tau_plus_triplet", "Aplus", "Aminus", "Aplus_triplet",
                                              "Aminus_triplet", "Wmax", "tau_minus", "tau_minus_triplet", "Kplus",
                                              "Kplus_triplet", "delay")}

    def check_weights(self, w, label):
        """Triplet weights are bounded by |Wmax| and take the sign of Wmax (as NEST's copysign)."""
        x = np.abs(np.asarray(w, dtype=np.float64))
        bad = ~(x <= abs(self.Wmax))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ParameterError(f"{label}: weight of synapse {i} is {float(np.asarray(w)[i])!r}; |w| must not "
                                 f"exceed |Wmax| = {abs(self.Wmax)!r} of TripletSTDP")

    def row(self):
        r = super().row()
        r[dt.R_TAU_X] = self.tau_plus_triplet
        r[dt.R_APLUS] = self.Aplus
        r[dt.R_AMINUS] = self.Aminus
        r[dt.R_APLUS3] = self.Aplus_triplet
        r[dt.R_AMINUS3] = self.Aminus_triplet
        return r


class DopamineSTDP(PlasticityRule):
    """Dopamine-modulated (three-factor) STDP (Izhikevich 2007; NEST ``stdp_dopamine_synapse``).

    Pre/post pairings do not change the weight directly: each post spike adds ``A_plus K+`` and each
    pre spike subtracts ``A_minus K-`` to an eligibility trace ``c`` (time constant ``tau_c``), and the
    weight follows ``dw/dt = c (n - b)``, where ``n`` is the dopamine trace (time constant ``tau_n``)
    that jumps by ``1 / tau_n`` at each dopamine spike. ``w`` stays in [Wmin, Wmax]. Between events
    everything is integrated in closed form.

    Parameters
    ----------
    A_plus, A_minus : float
        Eligibility increments at post and decrements at pre spikes, >= 0.
    tau_plus, tau_minus : float
        Pre- and postsynaptic trace time constants, ms (NEST keeps ``tau_minus`` on the post neuron).
    tau_c, tau_n : float
        Eligibility- and dopamine-trace time constants, ms.
    b : float
        Dopamine baseline.
    Wmin, Wmax : float
        Weight bounds, Wmin < Wmax.
    Kplus, c, n : float
        Initial presynaptic trace, eligibility and dopamine trace (NEST's synapse state).
    dopamine : Population
        The dopamine neurons (NEST's volume transmitter collects their spikes): a
        ``net.spike_source`` with explicit times; all its spikes reach every synapse of the rule.
    dopamine_delay : float
        Delay from a dopamine spike to its arrival at the synapses, ms (>= 0).
    delay : str
        ``"dendritic"`` (NEST) or ``"axonal"``, as in :class:`STDP`.

    Notes
    -----
    As NEST between its volume transmitter's deliveries, the weight is brought up to date when a
    presynaptic spike reaches the synapse: ``proj.weights`` and the recorded weights are the values
    at the last presynaptic arrival (NEST additionally updates every synapse at each delivery
    interval, which changes its numbers only by rounding, ~1e-14).

    Examples
    --------
    >>> import spikeengine as se
    >>> net = se.Network()
    >>> pre = net.spike_source([[10.0, 300.0]], name="pre")
    >>> post = net.spike_source([[15.0]], name="post")
    >>> da = net.spike_source([[50.0]], name="dopamine")
    >>> rule = se.DopamineSTDP(dopamine=da, dopamine_delay=1.0)
    >>> proj = net.connect(pre, post, "one_to_one", weight=100.0, delay=1.0, plasticity=rule)
    >>> net.run(400.0)
    >>> bool(proj.weights[0] > 100.0)   # a pre-before-post pairing followed by dopamine potentiates
    True
    """

    rule_type = dt.RULE_DOPA
    nest_model = "stdp_dopamine_synapse"

    def __init__(self, A_plus=1.0, A_minus=1.5, tau_plus=20.0, tau_c=1000.0, tau_n=200.0, b=0.0, Wmin=0.0,
                 Wmax=200.0, tau_minus=20.0, Kplus=0.0, c=0.0, n=0.0, dopamine=None, dopamine_delay=1.0,
                 delay="dendritic", **kw):
        name = "DopamineSTDP"
        if kw:
            raise ParameterError(f"{name}: unknown parameter(s) {sorted(kw)}; known: A_plus, A_minus, tau_plus, "
                                 "tau_c, tau_n, b, Wmin, Wmax, tau_minus, Kplus, c, n, dopamine, dopamine_delay, delay")
        super().__init__(delay)
        for nm, v in (("A_plus", A_plus), ("A_minus", A_minus), ("Kplus", Kplus)):
            setattr(self, nm, _nonneg(name, nm, v))
        for nm, v in (("tau_plus", tau_plus), ("tau_c", tau_c), ("tau_n", tau_n), ("tau_minus", tau_minus)):
            setattr(self, nm, _positive(name, nm, v))
        self.b = _num(name, "b", b)
        self.c = _num(name, "c", c)
        self.n = _num(name, "n", n)
        self.Wmin = _num(name, "Wmin", Wmin)
        self.Wmax = _num(name, "Wmax", Wmax)
        if not self.Wmin < self.Wmax:
            raise ParameterError(f"{name}: Wmin must be < Wmax, got Wmin={Wmin!r}, Wmax={Wmax!r}")
        from .network import Population

        if not isinstance(dopamine, Population):
            raise ParameterError(f"{name}: dopamine must be the population of dopamine neurons (a spike source), "
                                 f"got {dopamine!r}")
        if dopamine.source is None or dopamine.source[0] != "array":
            raise ParameterError(f"{name}: dopamine population {dopamine.name!r} must be a spike_source with explicit "
                                 "spike times (dopamine from network neurons, Poisson or streamed sources is not "
                                 "supported yet)")
        self.dopamine = dopamine
        self.dopamine_delay = _nonneg(name, "dopamine_delay", dopamine_delay)

    def params(self):
        return {k: getattr(self, k) for k in ("A_plus", "A_minus", "tau_plus", "tau_c", "tau_n", "b", "Wmin", "Wmax",
                                              "tau_minus", "Kplus", "c", "n", "dopamine_delay", "delay")}

    def check_weights(self, w, label):
        """Weights must lie in [Wmin, Wmax]."""
        x = np.asarray(w, dtype=np.float64)
        bad = ~((x >= self.Wmin) & (x <= self.Wmax))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ParameterError(f"{label}: weight of synapse {i} is {float(x[i])!r}, outside [Wmin, Wmax] = "
                                 f"[{self.Wmin!r}, {self.Wmax!r}] of DopamineSTDP")

    def arrivals(self):
        """Dopamine arrival times at the synapses (sorted, unique) and their multiplicities."""
        times = [np.asarray(tr, np.float64) for tr in self.dopamine.source[1]]
        t = np.sort(np.concatenate(times)) + self.dopamine_delay if times else np.empty(0)
        if t.size == 0:
            return t, t.copy()
        u, cnt = np.unique(t, return_counts=True)
        return u, cnt.astype(np.float64)

    def row(self):
        r = super().row()
        r[dt.R_APLUS] = self.A_plus
        r[dt.R_AMINUS] = self.A_minus
        r[dt.R_TAU_C] = self.tau_c
        r[dt.R_TAU_N] = self.tau_n
        r[dt.R_B] = self.b
        r[dt.R_WMIN] = self.Wmin
        return r


#: NEST synapse models that :func:`from_nest` translates
NEST_MODELS = tuple(_NEST_PAIR) + ("stdp_triplet_synapse", "stdp_dopamine_synapse")


def from_nest(model, params=None):
    """The rule equivalent to a NEST 3.10 synapse model with NEST's parameter names.

    Parameters
    ----------
    model : str
        ``"stdp_synapse"``, ``"stdp_nn_symm_synapse"``, ``"stdp_nn_restr_synapse"``,
        ``"stdp_nn_pre_centered_synapse"``, ``"stdp_triplet_synapse"`` or ``"stdp_dopamine_synapse"``
        (with ``dopamine`` and ``dopamine_delay`` in ``params`` in place of NEST's volume transmitter).
    params : dict, optional
        NEST parameters of the synapse (``lambda``, ``alpha``, ``mu_plus``, ``Wmax``, ``Kplus``, ...)
        plus the postsynaptic neuron's ``tau_minus`` / ``tau_minus_triplet``. ``weight``, ``delay``
        and ``synapse_model`` belong to ``connect`` and are rejected here.

    Returns
    -------
    PlasticityRule

    Examples
    --------
    >>> from spikeengine.plasticity import from_nest
    >>> from_nest("stdp_synapse", {"lambda": 0.05, "mu_plus": 0.0, "tau_minus": 30.0}).lambda_
    0.05
    """
    params = dict(params or {})
    for bad in ("weight", "delay", "synapse_model", "receptor_type"):
        if bad in params:
            raise ParameterError(f"from_nest({model!r}): {bad!r} is an argument of connect(), not of the rule")
    if model in _NEST_PAIR:
        return STDP(pairing=_NEST_PAIR[model], **params)
    if model == "stdp_triplet_synapse":
        return TripletSTDP(**params)
    if model == "stdp_dopamine_synapse":
        if "vt" in params:
            raise ParameterError("from_nest('stdp_dopamine_synapse'): instead of NEST's 'vt' (volume transmitter) "
                                 "give 'dopamine' (the dopamine spike-source population) and 'dopamine_delay'")
        return DopamineSTDP(**params)
    raise ParameterError(f"from_nest: unknown or unsupported NEST synapse model {model!r}; supported: "
                         f"{', '.join(NEST_MODELS)}")


__all__ = ["PlasticityRule", "STDP", "TripletSTDP", "DopamineSTDP", "from_nest", "NEST_MODELS"]
