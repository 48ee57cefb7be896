"""Backend registry: cython > numba > python, ``SPIKEENGINE_BACKEND`` overrides.

A fallback (a faster backend was wanted but is unavailable) is logged once as a
warning with the reason; :func:`spikeengine.show_config` reports the choice.
"""

import os
import warnings

import numpy as np

from .errors import BackendError

ORDER = ("cython", "numba", "python")
_cache = {}
_why = {}
_warned = set()


class Backend:
    """A loaded backend: ``name`` and its kernel ``run`` function."""

    def __init__(self, name, module):
        self.name = name
        self.module = module

    def run(self, *args):
        """Run the kernel (see :func:`spikeengine.backends.python.run`)."""
        if self.name == "python":
            with np.errstate(over="ignore"):
                return self.module.run(*args)
        return self.module.run(*args)

    def __repr__(self):
        return f"<Backend {self.name}>"


def _load(name):
    if name in _cache:
        return _cache[name]
    try:
        if name == "cython":
            if os.environ.get("SPIKEENGINE_NO_EXTENSIONS", "") not in ("", "0"):
                raise ImportError("disabled by SPIKEENGINE_NO_EXTENSIONS=1")
            from ._kernels import engine as mod
        elif name == "numba":
            from .backends import numba as mod
        elif name == "python":
            from .backends import python as mod
        else:
            raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(ORDER)}")
    except ImportError as exc:
        _why[name] = f"{type(exc).__name__}: {exc}"
        _cache[name] = None
        return None
    _cache[name] = Backend(name, mod)
    return _cache[name]


def requested():
    """Backend named by the argument or ``SPIKEENGINE_BACKEND`` (None: automatic)."""
    name = os.environ.get("SPIKEENGINE_BACKEND", "").strip().lower()
    return name or None


def get_backend(name=None):
    """Return the :class:`Backend` to use.

    Parameters
    ----------
    name : str, optional
        ``"cython"``, ``"numba"`` or ``"python"``. Default: ``SPIKEENGINE_BACKEND``,
        else the first available in that order.

    Examples
    --------
    >>> get_backend("python").name
    'python'
    """
    name = name or requested()
    if name is not None:
        if name not in ORDER:
            raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(ORDER)}")
        be = _load(name)
        if be is None:
            raise BackendError(f"backend {name!r} is not available ({_why[name]})")
        return be
    for cand in ORDER:
        be = _load(cand)
        if be is not None:
            if cand != ORDER[0] and cand not in _warned:
                _warned.add(cand)
                first = ORDER[0]
                warnings.warn(f"spikeengine: compiled kernels unavailable ({_why.get(first, '?')}); "
                              f"using the {cand} backend", RuntimeWarning, stacklevel=3)
            return be
    raise BackendError("no backend available")  # pragma: no cover - python always loads


def describe():
    """Dict: active backend, and for every backend whether it loads and why not."""
    active = get_backend()
    info = {"active": active.name, "requested": requested()}
    for name in ORDER:
        be = _load(name)
        info[name] = "available" if be is not None else f"unavailable ({_why.get(name)})"
    return info
