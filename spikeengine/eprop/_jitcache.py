"""Keep Numba's on-disk cache of the e-prop kernels consistent across their source files.

Numba keys a cached function on the modification stamp of the file that defines it only. The
kernels of :mod:`._event` and :mod:`._bsshslm` compile in functions of :mod:`._kernels`, so an edit
of ``_kernels.py`` alone would leave them loading stale machine code (wrong results, or a crash
when a signature changed). Before any kernel is compiled or loaded, :func:`check` hashes the three
sources and, when the hash differs from the one recorded next to the cache, deletes the cached
e-prop kernels so that they are compiled afresh.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_SOURCES = ("_kernels.py", "_event.py", "_bsshslm.py")
_STAMP = "eprop_kernels.sha256"


def check() -> None:
    """Drop the cached e-prop kernels when any of their source files changed (no-op otherwise)."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in _SOURCES:
        try:
            h.update((here / name).read_bytes())
        except OSError:
            return
    digest = h.hexdigest()
    cache = here / "__pycache__"
    stamp = cache / _STAMP
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass
    try:
        cache.mkdir(exist_ok=True)
        for name in _SOURCES:
            for f in cache.glob(name[:-3] + ".*.nb[ic]"):
                f.unlink()
        tmp = cache / (_STAMP + f".{os.getpid()}.tmp")
        tmp.write_text(digest)
        os.replace(tmp, stamp)
    except OSError:
        pass  # a read-only installation: Numba then caches elsewhere or not at all
