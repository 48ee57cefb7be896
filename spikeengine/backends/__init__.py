"""Kernel backends: ``python`` (reference), ``numba`` (jit twin), ``cython`` (compiled)."""
