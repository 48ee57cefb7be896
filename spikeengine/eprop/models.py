r"""e-prop neuron models: parameter classes with NEST 3.10's names, defaults and units.

Units: time in ms, voltage in mV, current in pA, capacitance in pF, ``f_target`` in Hz.
Voltages are relative to ``E_L`` inside the engine (NEST stores ``v = V_m - E_L`` too).
Each parameter is a scalar shared by the population (as a NEST ``Create(model, n, params)``).

:class:`EpropIAF` (NEST ``eprop_iaf``; ``eprop_iaf_bsshslm_2020`` in the ``bsshslm_2020`` scheme)
    .. math:: v^t = \alpha v^{t-1} + \sum_i W_{ji} s_i^t + P_i I^{t-1}, \quad
              z^t = H(v^t - v_{th}) \ (r = 0), \quad v \to v - v_{th} \text{ at a spike}

    with :math:`\alpha = e^{-\Delta t / \tau_m}` and :math:`P_i = \tau_m / C_m (1 - \alpha)`.
:class:`EpropIAFAdapt` (NEST ``eprop_iaf_adapt`` / ``eprop_iaf_adapt_bsshslm_2020``)
    as :class:`EpropIAF` with the adaptive threshold
    :math:`a^t = \rho a^{t-1} + z^{t-1}`, :math:`A^t = v_{th} + \beta a^t`, :math:`\rho = e^{-\Delta t/\tau_a}`.
:class:`EpropReadout` (NEST ``eprop_readout`` / ``eprop_readout_bsshslm_2020``)
    .. math:: v_k^t = \kappa_{out} v_k^{t-1} + \sum_j W^{out}_{kj} z_j^{t-1} + P_i I^{t-1}, \quad y_k^t = v_k^t + E_L
"""

from __future__ import annotations

import math

from ..errors import ParameterError
from .surrogates import SURROGATES, surrogate_code

_INF = math.inf


def merge_params(name, defaults, params):
    """``defaults`` updated with ``params``; unknown names raise, naming the class and the known ones."""
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ParameterError(f"{name}: unknown parameter(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(defaults))}")
    p = dict(defaults)
    p.update(params)
    return p


class _EpropModel:
    """A set of named scalar parameters with NEST's defaults; unknown names and bad values raise."""

    nest_name = ""
    nest_name_bsshslm = ""
    defaults: dict = {}
    units: dict = {}
    positive = ("C_m", "tau_m")
    non_negative = ("t_ref",)

    def __init__(self, **params):
        name = type(self).__name__
        p = merge_params(name, self.defaults, params)
        for k, v in p.items():
            if isinstance(self.defaults[k], bool):
                if not isinstance(v, (bool, int)):
                    raise ParameterError(f"{name}: parameter {k!r} must be a bool (got {v!r})")
                p[k] = bool(v)
            elif isinstance(self.defaults[k], str):
                if not isinstance(v, str):
                    raise ParameterError(f"{name}: parameter {k!r} must be a string (got {v!r})")
            else:
                try:
                    p[k] = float(v)
                except (TypeError, ValueError):
                    raise ParameterError(f"{name}: parameter {k!r} must be a number (got {v!r})") from None
                if math.isnan(p[k]):
                    raise ParameterError(f"{name}: parameter {k!r} is NaN")
        for k in self.positive:
            if k in p and not p[k] > 0:
                raise ParameterError(f"{name}: parameter {k!r} must be > 0 (got {p[k]!r})")
        for k in self.non_negative:
            if k in p and not p[k] >= 0:
                raise ParameterError(f"{name}: parameter {k!r} must be >= 0 (got {p[k]!r})")
        if "surrogate_gradient_function" in p:
            surrogate_code(p["surrogate_gradient_function"], f"{name}.surrogate_gradient_function")
            if not p["surrogate_gradient_width"] > 0:
                raise ParameterError(f"{name}: parameter 'surrogate_gradient_width' must be > 0 "
                                     f"(got {p['surrogate_gradient_width']!r})")
        for k in ("kappa", "kappa_reg"):
            if k in p and not 0.0 <= p[k] <= 1.0:
                raise ParameterError(f"{name}: parameter {k!r} must lie in [0, 1] (got {p[k]!r})")
        if "eprop_isi_trace_cutoff" in p and not p["eprop_isi_trace_cutoff"] >= 0:
            raise ParameterError(f"{name}: parameter 'eprop_isi_trace_cutoff' must be >= 0 "
                                 f"(got {p['eprop_isi_trace_cutoff']!r})")
        self.params = p

    def __getitem__(self, key):
        return self.params[key]

    def __repr__(self):
        changed = {k: v for k, v in self.params.items() if v != self.defaults[k]}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def to_nest(self):
        """The parameters as a NEST status dictionary (same names and units).

        Examples
        --------
        >>> EpropReadout(tau_m=30.0).to_nest()["tau_m"]
        30.0
        """
        return dict(self.params)


class EpropIAF(_EpropModel):
    """Leaky integrate-and-fire neuron for e-prop (NEST ``eprop_iaf``), reset by subtraction.

    Parameters (NEST names, units, defaults): ``C_m`` 250 pF, ``E_L`` -70 mV, ``I_e`` 0 pA,
    ``t_ref`` 2 ms, ``tau_m`` 10 ms, ``V_min`` -inf mV, ``V_th`` -55 mV, ``V_m`` (initial) = ``E_L``,
    ``c_reg`` 0, ``f_target`` 10 Hz, ``kappa`` 0.97, ``kappa_reg`` 0.97,
    ``eprop_isi_trace_cutoff`` inf ms, ``surrogate_gradient_function`` ``"piecewise_linear"``,
    ``surrogate_gradient_height`` 0.3, ``surrogate_gradient_width`` 1.0 mV, and for the
    ``bsshslm_2020`` scheme ``regular_spike_arrival`` True. ``V_m`` defaults to ``E_L``.

    ``kappa``, ``kappa_reg`` and ``eprop_isi_trace_cutoff`` act in the event-based scheme only;
    ``regular_spike_arrival`` in the ``bsshslm_2020`` scheme only (as in NEST).

    Examples
    --------
    >>> nrn = EpropIAF(C_m=1.0, E_L=0.0, V_th=0.03, tau_m=30.0, t_ref=0.0)
    >>> nrn["V_th"], nrn["kappa"]
    (0.03, 0.97)
    >>> EpropIAF(surrogate_gradient_function="relu")
    Traceback (most recent call last):
    ...
    spikeengine.errors.ParameterError: EpropIAF.surrogate_gradient_function: unknown surrogate gradient 'relu'; \
choose one of piecewise_linear, exponential, fast_sigmoid_derivative, arctan_derivative
    """

    nest_name = "eprop_iaf"
    nest_name_bsshslm = "eprop_iaf_bsshslm_2020"
    adaptive = False
    defaults = {
        "C_m": 250.0, "E_L": -70.0, "I_e": 0.0, "t_ref": 2.0, "tau_m": 10.0, "V_min": -_INF, "V_th": -55.0,
        "V_m": _INF,  # sentinel: E_L
        "c_reg": 0.0, "f_target": 10.0, "kappa": 0.97, "kappa_reg": 0.97, "eprop_isi_trace_cutoff": _INF,
        "surrogate_gradient_function": "piecewise_linear", "surrogate_gradient_height": 0.3,
        "surrogate_gradient_width": 1.0, "regular_spike_arrival": True,
    }
    units = {"C_m": "pF", "E_L": "mV", "I_e": "pA", "t_ref": "ms", "tau_m": "ms", "V_min": "mV", "V_th": "mV",
             "V_m": "mV", "f_target": "Hz", "eprop_isi_trace_cutoff": "ms", "surrogate_gradient_width": "mV"}
    surrogates = SURROGATES

    def to_nest(self):
        d = dict(self.params)
        if math.isinf(d["V_m"]):
            d["V_m"] = d["E_L"]
        return d


class EpropIAFAdapt(EpropIAF):
    """Adaptive LIF (ALIF) for e-prop (NEST ``eprop_iaf_adapt``).

    As :class:`EpropIAF`, plus ``adapt_beta`` 1.0 (mV per unit of adaptation), ``adapt_tau`` 10 ms and
    the initial ``adaptation`` 0.

    Examples
    --------
    >>> EpropIAFAdapt(adapt_tau=2000.0)["adapt_beta"]
    1.0
    >>> EpropIAFAdapt(adapt_tau=0.0)
    Traceback (most recent call last):
    ...
    spikeengine.errors.ParameterError: EpropIAFAdapt: parameter 'adapt_tau' must be > 0 (got 0.0)
    """

    nest_name = "eprop_iaf_adapt"
    nest_name_bsshslm = "eprop_iaf_adapt_bsshslm_2020"
    adaptive = True
    defaults = dict(EpropIAF.defaults, adapt_beta=1.0, adapt_tau=10.0, adaptation=0.0)
    units = dict(EpropIAF.units, adapt_tau="ms")
    positive = ("C_m", "tau_m", "adapt_tau")


class EpropReadout(_EpropModel):
    """Leaky readout neuron for e-prop (NEST ``eprop_readout`` / ``eprop_readout_bsshslm_2020``).

    Parameters: ``C_m`` 250 pF, ``E_L`` 0 mV, ``I_e`` 0 pA, ``tau_m`` 10 ms, ``V_min`` -inf mV,
    ``V_m`` (initial, default ``E_L``), ``eprop_isi_trace_cutoff`` inf ms (event-based scheme) and
    ``regular_spike_arrival`` True (``bsshslm_2020`` scheme). The loss is a network option.

    Examples
    --------
    >>> EpropReadout(tau_m=20.0)["E_L"]
    0.0
    >>> EpropReadout(tau_m=-1.0)
    Traceback (most recent call last):
    ...
    spikeengine.errors.ParameterError: EpropReadout: parameter 'tau_m' must be > 0 (got -1.0)
    """

    nest_name = "eprop_readout"
    nest_name_bsshslm = "eprop_readout_bsshslm_2020"
    defaults = {"C_m": 250.0, "E_L": 0.0, "I_e": 0.0, "tau_m": 10.0, "V_min": -_INF, "V_m": _INF,
                "eprop_isi_trace_cutoff": _INF, "regular_spike_arrival": True}
    units = {"C_m": "pF", "E_L": "mV", "I_e": "pA", "tau_m": "ms", "V_min": "mV", "V_m": "mV",
             "eprop_isi_trace_cutoff": "ms"}
    non_negative = ()

    def to_nest(self):
        d = dict(self.params)
        if math.isinf(d["V_m"]):
            d["V_m"] = d["E_L"]
        return d
