r"""Weight optimizers of NEST 3.10's e-prop synapses (``weight_optimizer``), EPROP.md §6.

Every synapse owns an optimizer state: the accumulated gradient ``cum``, the optimization step
``opt_step`` (starts at 1) and, for Adam, the moments ``m``, ``v`` and the powers
:math:`\beta_1^n`, :math:`\beta_2^n`. A call ``OPT(idx, g, w)`` does::

    cum += g
    cur = 1 + idx // batch_size
    if opt_step < cur:
        cum /= batch_size
        GD:   w -= eta * cum; cum = 0; opt_step = cur
        Adam: while opt_step < cur:        # skipped steps are taken with zero gradient
                  b1n *= beta_1; b2n *= beta_2
                  a = eta * sqrt(1 - b2n) / (1 - b1n)
                  m = beta_1 m + (1 - beta_1) cum;  v = beta_2 v + (1 - beta_2) cum**2
                  w -= a * m / (sqrt(v) + epsilon);  cum = 0;  opt_step += 1
        w = clip(w, Wmin, Wmax)

``idx`` is a time step in the event-based scheme (so ``batch_size`` counts steps) and the
update-interval index in the ``bsshslm_2020`` scheme (``batch_size`` counts intervals, i.e. trials).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ParameterError
from .models import merge_params

GD, ADAM = 0, 1


class _Optimizer:
    kind = -1
    nest_type = ""
    defaults: dict = {}

    def __init__(self, **params):
        name = type(self).__name__
        p = merge_params(name, self.defaults, params)
        for k, v in p.items():
            if k == "optimize_each_step":
                p[k] = bool(v)
                continue
            if k == "batch_size":
                if int(v) != v or int(v) < 1:
                    raise ParameterError(f"{name}: batch_size must be an integer >= 1 (got {v!r})")
                p[k] = int(v)
                continue
            try:
                p[k] = float(v)
            except (TypeError, ValueError):
                raise ParameterError(f"{name}: parameter {k!r} must be a number (got {v!r})") from None
            if math.isnan(p[k]):
                raise ParameterError(f"{name}: parameter {k!r} is NaN")
        if p["eta"] < 0:
            raise ParameterError(f"{name}: eta must be >= 0 (got {p['eta']!r})")
        if not p["Wmin"] <= p["Wmax"]:
            raise ParameterError(f"{name}: Wmin <= Wmax required (got Wmin={p['Wmin']!r}, Wmax={p['Wmax']!r})")
        self.params = p

    def __getitem__(self, key):
        return self.params[key]

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.params.items())})"

    def to_nest(self):
        """The NEST ``optimizer`` dictionary of ``eprop_synapse``.

        Examples
        --------
        >>> GradientDescent(eta=0.01).to_nest()["type"]
        'gradient_descent'
        """
        d = {"type": self.nest_type}
        d.update(self.params)
        return d

    def packed(self):
        """Parameters as a float64 vector for the kernels:
        (kind, eta, batch_size, beta_1, beta_2, epsilon, Wmin, Wmax, optimize_each_step)."""
        p = self.params
        return np.array([self.kind, p["eta"], p["batch_size"], p.get("beta_1", 0.0), p.get("beta_2", 0.0),
                         p.get("epsilon", 0.0), p["Wmin"], p["Wmax"], float(p["optimize_each_step"])])

    def new_state(self, shape):
        """Fresh per-synapse state arrays for a weight matrix of ``shape``."""
        return OptimizerState(shape)

    def step(self, state, index, idx, gradient, weight):
        """Apply one optimizer call to synapse ``index`` of ``state``; return the new weight.

        The scalar reference implementation of the kernels (same arithmetic, same order).

        Examples
        --------
        >>> opt = GradientDescent(eta=0.5, Wmin=-1.0, Wmax=1.0)
        >>> st = opt.new_state((1,))
        >>> opt.step(st, 0, idx=3, gradient=0.25, weight=0.5)
        0.375
        """
        from ._kernels import opt_apply

        return opt_apply(self.packed(), idx, gradient, weight, state.cum.reshape(-1), state.step.reshape(-1),
                         state.m.reshape(-1), state.v.reshape(-1), state.b1.reshape(-1), state.b2.reshape(-1),
                         int(np.ravel_multi_index(np.atleast_1d(index), state.cum.shape)) if state.cum.ndim > 1
                         else int(index))


class GradientDescent(_Optimizer):
    """Plain gradient descent (NEST ``"gradient_descent"``): ``w -= eta * mean gradient of the batch``.

    Parameters: ``eta`` 1e-4, ``batch_size`` 1, ``optimize_each_step`` True, ``Wmin`` -100, ``Wmax`` 100.

    Examples
    --------
    >>> opt = GradientDescent(eta=0.1, batch_size=2)
    >>> st = opt.new_state((1,))
    >>> opt.step(st, 0, idx=0, gradient=1.0, weight=0.0)   # idx 0: still inside batch 1
    0.0
    >>> opt.step(st, 0, idx=2, gradient=3.0, weight=0.0)   # batch 2 starts: apply mean (1 + 3) / 2
    -0.2
    """

    kind = GD
    nest_type = "gradient_descent"
    defaults = {"eta": 1e-4, "batch_size": 1, "optimize_each_step": True, "Wmin": -100.0, "Wmax": 100.0}


class Adam(_Optimizer):
    """Adam as in NEST / TF-Keras (constant epsilon; NEST ``"adam"``).

    Parameters: ``eta`` 1e-4, ``batch_size`` 1, ``beta_1`` 0.9, ``beta_2`` 0.999, ``epsilon`` 1e-7,
    ``optimize_each_step`` True, ``Wmin`` -100, ``Wmax`` 100. Steps without a computed gradient are taken
    as zero-gradient Adam steps, so the weight keeps moving with the first moment (as NEST).

    Examples
    --------
    >>> opt = Adam(eta=0.01)
    >>> st = opt.new_state((1,))
    >>> round(opt.step(st, 0, idx=1, gradient=2.0, weight=1.0), 9)  # first step: eta * g / (|g| + eps')
    0.990000016
    """

    kind = ADAM
    nest_type = "adam"
    defaults = {"eta": 1e-4, "batch_size": 1, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
                "optimize_each_step": True, "Wmin": -100.0, "Wmax": 100.0}

    def __init__(self, **params):
        super().__init__(**params)
        for k in ("beta_1", "beta_2"):
            if not 0.0 <= self.params[k] < 1.0:
                raise ParameterError(f"Adam: {k} must lie in [0, 1) (got {self.params[k]!r})")
        if not self.params["epsilon"] >= 0:
            raise ParameterError(f"Adam: epsilon must be >= 0 (got {self.params['epsilon']!r})")


class OptimizerState:
    """Per-synapse optimizer state (arrays of the weight matrix's shape)."""

    def __init__(self, shape):
        self.cum = np.zeros(shape)
        self.step = np.ones(shape, dtype=np.int64)
        self.m = np.zeros(shape)
        self.v = np.zeros(shape)
        self.b1 = np.ones(shape)
        self.b2 = np.ones(shape)


def make_optimizer(opt):
    """Return an optimizer instance from an instance, ``None`` (NEST's default GD) or a NEST dict."""
    if opt is None:
        return GradientDescent()
    if isinstance(opt, _Optimizer):
        return opt
    if isinstance(opt, dict):
        d = dict(opt)
        t = d.pop("type", "gradient_descent")
        if t == "gradient_descent":
            return GradientDescent(**d)
        if t == "adam":
            return Adam(**d)
        raise ParameterError(f"optimizer: unknown type {t!r}; choose 'gradient_descent' or 'adam'")
    raise ParameterError(f"optimizer: expected GradientDescent, Adam or a dict, got {type(opt).__name__}")
