r"""Surrogate gradients (pseudo-derivatives) of the spike with respect to the membrane voltage.

The four functions of NEST 3.10 (``surrogate_gradient_function``), written as NEST's *code* computes
them (EPROP.md §1.4, §9 items 2-3), with ``h`` = ``surrogate_gradient_height``, ``w`` =
``surrogate_gradient_width`` and :math:`\psi = 0` while the neuron is refractory (``r > 0``):

.. math::

   \text{piecewise\_linear}: \quad & h \max(0, 1 - |v - v_{th}| / w) \\
   \text{exponential}: \quad & h \exp(-|v - v_{th}| / w) \\
   \text{fast\_sigmoid\_derivative}: \quad & h (1 + |v - v_{th}| / w)^{-2} \\
   \text{arctan\_derivative}: \quad & h / (1 + ((v - v_{th}) / w)^2)

Bellec et al.'s pseudo-derivative :math:`\gamma / v_{th} \max(0, 1 - |v - v_{th}| / v_{th})` is
``piecewise_linear`` with ``h = gamma / V_th`` and ``w = V_th``.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError

#: the names NEST accepts, in NEST's order; the index is the code used by the kernels
SURROGATES = ("piecewise_linear", "exponential", "fast_sigmoid_derivative", "arctan_derivative")


def surrogate_code(name, owner="surrogate_gradient_function"):
    """Return the integer code of a surrogate-gradient name; raise :class:`ParameterError` if unknown.

    Examples
    --------
    >>> surrogate_code("exponential")
    1
    """
    if name not in SURROGATES:
        raise ParameterError(f"{owner}: unknown surrogate gradient {name!r}; choose one of {', '.join(SURROGATES)}")
    return SURROGATES.index(name)


def surrogate_gradient(name, v, v_th, height=0.3, width=1.0, r=0):
    """Evaluate a surrogate gradient, elementwise (NumPy broadcasting).

    Parameters
    ----------
    name : str
        One of :data:`SURROGATES`.
    v : array_like
        Membrane voltage relative to ``E_L`` (mV).
    v_th : array_like
        Threshold relative to ``E_L`` (mV); for the adaptive neuron the adaptive threshold.
    height, width : float or array_like
        ``surrogate_gradient_height`` and ``surrogate_gradient_width`` (mV).
    r : int or array_like
        Refractory counter; the gradient is 0 where ``r > 0``.

    Returns
    -------
    numpy.ndarray
        :math:`\\psi`, the same shape as the broadcast inputs.

    Examples
    --------
    >>> float(surrogate_gradient("piecewise_linear", 0.9, 1.0, height=0.3, width=1.0))
    0.27
    >>> float(surrogate_gradient("fast_sigmoid_derivative", 2.0, 1.0, height=1.0, width=1.0))
    0.25
    >>> float(surrogate_gradient("exponential", 1.0, 1.0, height=0.5, r=1))
    0.0
    """
    code = surrogate_code(name)
    x = np.asarray(v, dtype=np.float64) - np.asarray(v_th, dtype=np.float64)
    h = np.asarray(height, dtype=np.float64)
    w = np.asarray(width, dtype=np.float64)
    if code == 0:
        psi = h * np.maximum(0.0, 1.0 - np.abs(x) / w)
    elif code == 1:
        psi = h * np.exp(-np.abs(x) / w)
    elif code == 2:
        psi = h * (1.0 + np.abs(x) / w) ** -2.0
    else:
        psi = h / (1.0 + (x / w) ** 2.0)
    return np.where(np.asarray(r) > 0, 0.0, psi)
