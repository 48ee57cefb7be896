"""Numba twin of the reference kernels.

The twin is not a second copy of the algorithm: every function listed in
:data:`spikeengine.backends.python.KERNEL_FUNCTIONS` is rebuilt from the reference
function's own code object, with globals in which the other kernel functions are
replaced by their jit-compiled versions, and compiled with ``numba.njit``. The
reference and this backend therefore run the same statements; they can only
differ where Numba's arithmetic differs from CPython's (it does not for the
operations used: IEEE float64, libm ``exp``/``log``, wrapping uint64).
"""

import types

import numba

from . import python as _ref

#: functions that allocate arrays (or hold arrays returned by one) need Numba's reference counting;
#: all others are compiled without it: array arguments are borrowed for the duration of the call,
#: and the atomic incref/decref pairs Numba would otherwise emit cost ~35 ns per call.
_NEEDS_NRT = ("grow", "advance_emit", "take_samples", "run")

_ns = dict(vars(_ref))
for _name in _ref.KERNEL_FUNCTIONS:
    _f = getattr(_ref, _name)
    _g = types.FunctionType(_f.__code__, _ns, _f.__name__, _f.__defaults__)
    _opts = {} if _name in _NEEDS_NRT else {"_nrt": False}
    _ns[_name] = numba.njit(cache=False, nogil=True, error_model="numpy", **_opts)(_g)

run = _ns["run"]
first_crossing = _ns["first_crossing"]
uniform = _ns["uniform"]
