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


#: NEST synapse models that :func:`from_nest` translates
NEST_MODELS = tuple(_NEST_PAIR) + ("stdp_triplet_synapse",)


def from_nest(model, params=None):
    """The rule equivalent to a NEST 3.10 synapse model with NEST's parameter names.

    Parameters
    ----------
    model : str
        ``"stdp_synapse"``, ``"stdp_nn_symm_synapse"``, ``"stdp_nn_restr_synapse"``,
        ``"stdp_nn_pre_centered_synapse"`` or ``"stdp_triplet_synapse"``.
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
    raise ParameterError(f"from_nest: unknown or unsupported NEST synapse model {model!r}; supported: "
                         f"{', '.join(NEST_MODELS)}")


__all__ = ["PlasticityRule", "STDP", "TripletSTDP", "from_nest", "NEST_MODELS"]
