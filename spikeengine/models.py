r"""Neuron and source models, with NEST's parameter names and units.

Units: time in ms, voltage in mV, current in pA, capacitance in pF, rates in Hz.
Every parameter may be a scalar or an array with one value per neuron.

Models
------
:class:`LIF` (alias ``iaf_psc_delta``)
    .. math:: \tau_m \dot V = -(V - E_L) + \tau_m I_e / C_m, \qquad V \to V + w \text{ at an input}

    Weights in mV. Spikes when ``V >= V_th``; with ``beta > 0`` the threshold adapts
    (``V_th + beta * a``, ``a`` decays with ``tau_a`` and jumps by 1 at each spike: the
    ALIF of Bellec et al. 2018).
:class:`LIFExp` (alias ``iaf_psc_exp``)
    .. math:: \tau_m \dot V = -(V - E_L) + \tau_m (I_{ex} + I_{in} + I_e)/C_m, \quad
              \tau_{ex} \dot I_{ex} = -I_{ex}

    Weights in pA: ``w >= 0`` adds to ``I_syn_ex``, ``w < 0`` to ``I_syn_in`` (as NEST).
:class:`IF`
    Non-leaky integrate-and-fire (NIR ``IF``), ``C_m dV/dt = I_e``, weights in mV,
    reset to ``V_reset`` or by subtraction of the threshold.
:class:`ALIF`
    :class:`LIF` with adaptation switched on by default.
:class:`LeakyIntegrator`
    Non-spiking :class:`LIF` (threshold at +inf), for readouts (NIR ``LI``).
:class:`Parrot`
    Re-emits every spike it receives (NEST ``parrot_neuron``).
"""

import math

import numpy as np

from . import dtypes as dt
from .errors import ParameterError

_INF = math.inf


def _as_param(model, name, value, n):
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    elif arr.shape != (n,):
        raise ParameterError(f"{model}: parameter {name!r} has shape {arr.shape}; expected a scalar or ({n},)")
    if np.isnan(arr).any():
        raise ParameterError(f"{model}: parameter {name!r} is NaN at index {int(np.flatnonzero(np.isnan(arr))[0])}")
    return arr


def _require(model, name, arr, ok, what):
    bad = np.flatnonzero(~ok)
    if bad.size:
        i = int(bad[0])
        raise ParameterError(f"{model}: parameter {name!r} must be {what} (got {float(arr[i])!r} at neuron {i})")


class NeuronModel:
    """Base class: a set of named parameters with defaults, units and checks.

    Subclasses define ``kind``, ``defaults`` (name -> default) and ``units``.
    """

    kind = None
    defaults = {}
    units = {}
    nest_name = None
    weight_unit = "mV"
    state_vars = ("V_m",)
    spiking = True

    def __init__(self, **params):
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            known = ", ".join(sorted(self.defaults))
            raise ParameterError(f"{type(self).__name__}: unknown parameter(s) {', '.join(unknown)}; known: {known}")
        self.params = dict(self.defaults)
        self.params.update(params)
        if "reset" in self.params and self.params["reset"] not in ("value", "subtract"):
            raise ParameterError(f"{type(self).__name__}: reset must be 'value' or 'subtract', "
                                 f"got {self.params['reset']!r}")

    def __repr__(self):
        changed = {k: v for k, v in self.params.items() if not np.array_equal(v, self.defaults[k])}
        inner = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"{type(self).__name__}({inner})"

    # ------------------------------------------------------------------ arrays
    def arrays(self, n, label=None):
        """Validated float64 arrays of every numeric parameter, one value per neuron."""
        name = label or type(self).__name__
        out = {}
        for k, v in self.params.items():
            if k == "reset":
                continue
            out[k] = _as_param(name, k, v, n)
        self.check(name, out)
        return out

    def check(self, name, a):
        """Raise :class:`ParameterError` for values outside their meaning."""

    def fill(self, P, S, rows, label=None):
        """Write parameter rows ``P[rows]`` and initial state ``S[rows]``."""
        raise NotImplementedError


class _LeakyBase(NeuronModel):
    units = {"E_L": "mV", "C_m": "pF", "tau_m": "ms", "t_ref": "ms", "V_th": "mV", "V_reset": "mV",
             "I_e": "pA", "V_m": "mV", "V_min": "mV", "tau_a": "ms", "beta": "mV", "a": "1"}

    def check(self, name, a):
        _require(name, "tau_m", a["tau_m"], np.isfinite(a["tau_m"]) & (a["tau_m"] > 0), "finite and > 0 ms")
        _require(name, "C_m", a["C_m"], np.isfinite(a["C_m"]) & (a["C_m"] > 0), "finite and > 0 pF")
        _require(name, "t_ref", a["t_ref"], np.isfinite(a["t_ref"]) & (a["t_ref"] >= 0), "finite and >= 0 ms")
        for k in ("E_L", "I_e", "V_m", "V_reset"):
            _require(name, k, a[k], np.isfinite(a[k]), "finite")
        _require(name, "V_th", a["V_th"], a["V_th"] > -_INF, "> -inf")
        if "tau_a" in a:
            _require(name, "tau_a", a["tau_a"], np.isfinite(a["tau_a"]) & (a["tau_a"] > 0), "finite and > 0 ms")
            _require(name, "beta", a["beta"], np.isfinite(a["beta"]) & (a["beta"] >= 0), "finite and >= 0 mV")
            _require(name, "a", a["a"], np.isfinite(a["a"]) & (a["a"] >= 0), "finite and >= 0")
        if self.spiking and self.params.get("reset", "value") == "value":
            _require(name, "V_reset", a["V_reset"], a["V_reset"] < a["V_th"], "< V_th")
        if "V_min" in a:
            _require(name, "V_min", a["V_min"], a["V_min"] <= a["V_reset"], "<= V_reset")

    def _fill_common(self, P, S, rows, a):
        P[rows, dt.P_TAU_M] = a["tau_m"]
        P[rows, dt.P_C_M] = a["C_m"]
        P[rows, dt.P_E_L] = a["E_L"]
        P[rows, dt.P_I_E] = a["I_e"]
        P[rows, dt.P_V_TH] = a["V_th"]
        P[rows, dt.P_V_RESET] = a["V_reset"]
        P[rows, dt.P_T_REF] = a["t_ref"]
        P[rows, dt.P_V_MIN] = a.get("V_min", -_INF)
        P[rows, dt.P_TAU_A] = a.get("tau_a", 1.0)
        P[rows, dt.P_BETA] = a.get("beta", 0.0)
        P[rows, dt.P_RESET_SUB] = 1.0 if self.params.get("reset", "value") == "subtract" else 0.0
        P[rows, dt.P_V_INF] = a["E_L"] + a["I_e"] * a["tau_m"] / a["C_m"]
        S[rows, dt.S_V] = a["V_m"]
        S[rows, dt.S_A] = a.get("a", 0.0)
        S[rows, dt.S_REF] = -_INF


class LIF(_LeakyBase):
    """Leaky integrate-and-fire with delta synapses (NEST ``iaf_psc_delta`` / ``iaf_psc_delta_ps``).

    Parameters (all optional; NEST defaults)
    ----------------------------------------
    E_L=-70 mV, C_m=250 pF, tau_m=10 ms, t_ref=2 ms, V_th=-55 mV, V_reset=-70 mV,
    I_e=0 pA, V_m=-70 mV (initial), V_min=-inf mV, reset='value' or 'subtract',
    tau_a=200 ms, beta=0 mV, a=0 (adaptive threshold V_th + beta*a).

    Examples
    --------
    >>> import spikeengine as se
    >>> se.LIF(tau_m=20.0, V_th=20.0, V_reset=10.0, E_L=0.0, V_m=0.0, C_m=1.0).params["tau_m"]
    20.0
    """

    kind = dt.KIND_LIF
    nest_name = "iaf_psc_delta"
    defaults = {"E_L": -70.0, "C_m": 250.0, "tau_m": 10.0, "t_ref": 2.0, "V_th": -55.0, "V_reset": -70.0,
                "I_e": 0.0, "V_m": -70.0, "V_min": -_INF, "reset": "value", "tau_a": 200.0, "beta": 0.0, "a": 0.0}
    state_vars = ("V_m", "a")

    def fill(self, P, S, rows, label=None):
        a = self.arrays(len(rows), label)
        self._fill_common(P, S, rows, a)


class ALIF(LIF):
    """Adaptive-threshold LIF (Bellec et al. 2018): :class:`LIF` with ``beta=1.8``, ``tau_a=700``.

    Threshold ``V_th + beta * a``; ``a`` jumps by 1 at each spike and decays with ``tau_a``.

    Examples
    --------
    >>> import spikeengine as se
    >>> se.ALIF().params["beta"]
    1.8
    """

    defaults = dict(LIF.defaults, beta=1.8, tau_a=700.0)
    nest_name = None


class LeakyIntegrator(_LeakyBase):
    """Non-spiking leaky integrator with delta inputs (readout; NIR ``LI``).

    Parameters: E_L=0 mV, C_m=1 pF, tau_m=10 ms, I_e=0 pA, V_m=0 mV.

    Examples
    --------
    >>> import spikeengine as se
    >>> se.LeakyIntegrator(tau_m=5.0).params["tau_m"]
    5.0
    """

    kind = dt.KIND_LIF
    spiking = False
    defaults = {"E_L": 0.0, "C_m": 1.0, "tau_m": 10.0, "I_e": 0.0, "V_m": 0.0}

    def check(self, name, a):
        a = dict(a, t_ref=np.zeros_like(a["tau_m"]), V_th=np.full_like(a["tau_m"], _INF),
                 V_reset=np.zeros_like(a["tau_m"]))
        super().check(name, a)

    def fill(self, P, S, rows, label=None):
        a = self.arrays(len(rows), label)
        n = len(rows)
        a.update(t_ref=np.zeros(n), V_th=np.full(n, _INF), V_reset=np.zeros(n))
        self._fill_common(P, S, rows, a)


class LIFExp(_LeakyBase):
    """Leaky integrate-and-fire with exponential current synapses (NEST ``iaf_psc_exp`` / ``_ps``).

    Parameters: as :class:`LIF` plus tau_syn_ex=2 ms, tau_syn_in=2 ms, I_syn_ex=0 pA,
    I_syn_in=0 pA (initial currents). Weights in pA; the sign selects the synapse.
    ``tau_syn_*`` must differ from ``tau_m`` (the closed form has a pole there).

    Examples
    --------
    >>> import spikeengine as se
    >>> se.LIFExp(tau_syn_ex=5.0, tau_syn_in=10.0, tau_m=20.0).params["tau_syn_in"]
    10.0
    """

    kind = dt.KIND_LIF_EXP
    nest_name = "iaf_psc_exp"
    weight_unit = "pA"
    state_vars = ("V_m", "I_syn_ex", "I_syn_in", "a")
    defaults = dict(LIF.defaults, tau_syn_ex=2.0, tau_syn_in=2.0, I_syn_ex=0.0, I_syn_in=0.0)
    units = dict(_LeakyBase.units, tau_syn_ex="ms", tau_syn_in="ms", I_syn_ex="pA", I_syn_in="pA")

    def check(self, name, a):
        super().check(name, a)
        for k in ("tau_syn_ex", "tau_syn_in"):
            _require(name, k, a[k], np.isfinite(a[k]) & (a[k] > 0), "finite and > 0 ms")
            rel = np.abs(a[k] - a["tau_m"]) / a["tau_m"]
            _require(name, k, a[k], rel > 1e-9, "different from tau_m (singular closed form)")
        _require(name, "I_syn_ex", a["I_syn_ex"], np.isfinite(a["I_syn_ex"]) & (a["I_syn_ex"] >= 0), ">= 0 pA")
        _require(name, "I_syn_in", a["I_syn_in"], np.isfinite(a["I_syn_in"]) & (a["I_syn_in"] <= 0), "<= 0 pA")

    def fill(self, P, S, rows, label=None):
        a = self.arrays(len(rows), label)
        self._fill_common(P, S, rows, a)
        tm, c = a["tau_m"], a["C_m"]
        P[rows, dt.P_TAU_EX] = a["tau_syn_ex"]
        P[rows, dt.P_TAU_IN] = a["tau_syn_in"]
        P[rows, dt.P_K_EX] = tm * a["tau_syn_ex"] / (c * (a["tau_syn_ex"] - tm))
        P[rows, dt.P_K_IN] = tm * a["tau_syn_in"] / (c * (a["tau_syn_in"] - tm))
        P[rows, dt.P_G_EX] = _bump(tm, a["tau_syn_ex"])
        P[rows, dt.P_G_IN] = _bump(tm, a["tau_syn_in"])
        P[rows, dt.P_KG_EX] = np.abs(P[rows, dt.P_K_EX]) * P[rows, dt.P_G_EX]
        S[rows, dt.S_IEX] = a["I_syn_ex"]
        S[rows, dt.S_IIN] = a["I_syn_in"]


def _bump(tau_m, tau_s):
    """max over s >= 0 of |exp(-s/tau_s) - exp(-s/tau_m)| (at s* = ln(tau_m/tau_s) tau_m tau_s / (tau_m - tau_s)),
    enlarged by 1e-12 relative: the largest excursion of V caused by a synaptic current, per unit coefficient."""
    s = np.log(tau_m / tau_s) * tau_m * tau_s / (tau_m - tau_s)
    return np.abs(np.exp(-s / tau_s) - np.exp(-s / tau_m)) * (1.0 + 1e-12)


class IF(NeuronModel):
    """Non-leaky integrate-and-fire (NIR ``IF``): ``C_m dV/dt = I_e``, delta inputs in mV.

    Parameters: C_m=1 pF, V_th=1 mV, V_reset=0 mV, I_e=0 pA, V_m=0 mV, t_ref=0 ms,
    reset='value' or 'subtract' (subtract removes V_th, as NIR/snnTorch), V_min=-inf.

    Examples
    --------
    >>> import spikeengine as se
    >>> se.IF(reset="subtract").params["reset"]
    'subtract'
    """

    kind = dt.KIND_IF
    defaults = {"C_m": 1.0, "V_th": 1.0, "V_reset": 0.0, "I_e": 0.0, "V_m": 0.0, "t_ref": 0.0,
                "V_min": -_INF, "reset": "value"}
    units = {"C_m": "pF", "V_th": "mV", "V_reset": "mV", "I_e": "pA", "V_m": "mV", "t_ref": "ms", "V_min": "mV"}

    def check(self, name, a):
        _require(name, "C_m", a["C_m"], np.isfinite(a["C_m"]) & (a["C_m"] > 0), "finite and > 0 pF")
        _require(name, "t_ref", a["t_ref"], np.isfinite(a["t_ref"]) & (a["t_ref"] >= 0), "finite and >= 0 ms")
        for k in ("I_e", "V_m", "V_reset", "V_th"):
            _require(name, k, a[k], np.isfinite(a[k]), "finite")
        if self.params["reset"] == "value":
            _require(name, "V_reset", a["V_reset"], a["V_reset"] < a["V_th"], "< V_th")
        _require(name, "V_min", a["V_min"], a["V_min"] <= a["V_reset"], "<= V_reset")

    def fill(self, P, S, rows, label=None):
        a = self.arrays(len(rows), label)
        P[rows, dt.P_C_M] = a["C_m"]
        P[rows, dt.P_TAU_M] = _INF
        P[rows, dt.P_V_TH] = a["V_th"]
        P[rows, dt.P_V_RESET] = a["V_reset"]
        P[rows, dt.P_T_REF] = a["t_ref"]
        P[rows, dt.P_I_E] = a["I_e"]
        P[rows, dt.P_SLOPE] = a["I_e"] / a["C_m"]
        P[rows, dt.P_V_MIN] = a["V_min"]
        P[rows, dt.P_TAU_A] = 1.0
        P[rows, dt.P_RESET_SUB] = 1.0 if self.params["reset"] == "subtract" else 0.0
        S[rows, dt.S_V] = a["V_m"]
        S[rows, dt.S_REF] = -_INF


class Parrot(NeuronModel):
    """Re-emits each input spike at its arrival time (NEST ``parrot_neuron``); weights ignored.

    Examples
    --------
    >>> import spikeengine as se
    >>> se.Parrot().kind
    4
    """

    kind = dt.KIND_PARROT
    nest_name = "parrot_neuron"
    state_vars = ()

    def fill(self, P, S, rows, label=None):
        P[rows, dt.P_TAU_A] = 1.0
        P[rows, dt.P_V_TH] = _INF


#: NEST model names accepted wherever a model is expected
NEST_NAMES = {"iaf_psc_delta": LIF, "iaf_psc_delta_ps": LIF, "iaf_psc_exp": LIFExp, "iaf_psc_exp_ps": LIFExp,
              "parrot_neuron": Parrot}


def make_model(model, params=None):
    """Return a :class:`NeuronModel` from an instance, a class or a NEST model name."""
    params = params or {}
    if isinstance(model, NeuronModel):
        if params:
            raise ParameterError("give parameters either in the model instance or as params, not both")
        return model
    if isinstance(model, type) and issubclass(model, NeuronModel):
        return model(**params)
    if isinstance(model, str):
        if model not in NEST_NAMES:
            raise ParameterError(f"unknown neuron model {model!r}; known: {', '.join(sorted(NEST_NAMES))}")
        return NEST_NAMES[model](**params)
    raise ParameterError(f"not a neuron model: {model!r}")
