"""Sensor streams: event-camera and audio-spike recordings, files, iterators and sockets.

One representation (:class:`Events`: int64 native-tick times, raw x/y, polarity, with
the tick length and sensor size) and one entry point, :func:`read_events`, which
detects the format from the file's header (``format=`` overrides). Every reader
also streams: :func:`iter_events` yields chunks by event count or time window in
bounded memory. See ``docs/streams.md``.

Examples
--------
>>> import numpy as np
>>> from spikeengine.io import from_structured
>>> arr = np.zeros(3, dtype=[("x", "i2"), ("y", "i2"), ("t", "i8"), ("p", "?")])  # a tonic array
>>> arr["t"] = [10, 20, 30]
>>> ev = from_structured(arr, sensor_size=(34, 34, 2))
>>> ev.t_ms().tolist(), ev.sensor_size
([0.01, 0.02, 0.03], (34, 34))
"""

import importlib
import importlib.util
import os

import numpy as np

from ..errors import InputFormatError, ParameterError
from .events import BLOCK_EVENTS, EVENT_DTYPE, EventReader, Events, EventSource, rechunk
from .mapping import SensorMap

#: name -> (reader class, file extensions, sniff(head_bytes, path) -> bool)
FORMATS = {}

# reader modules (each registers its formats on import)
_MODULES = ("aedat2", "aedat4", "evt", "dat", "nmnist", "es", "audio")


def register(name, extensions=(), sniff=None):
    """Class decorator: make an :class:`EventReader` subclass known to :func:`read_events`."""

    def deco(cls):
        cls.format = name
        FORMATS[name] = (cls, tuple(e.lower() for e in extensions), sniff)
        return cls

    return deco


def _load_modules():
    for m in _MODULES:
        full = f"{__name__}.{m}"
        if importlib.util.find_spec(full) is not None:
            importlib.import_module(full)


def detect_format(path):
    """Name of the format of ``path``, from its header bytes (then its extension)."""
    _load_modules()
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as exc:
        raise InputFormatError(f"{path}: cannot read: {exc.strerror}") from exc
    for name, (_cls, _ext, sniff) in FORMATS.items():
        if sniff is not None and sniff(head, path):
            return name
    ext = os.path.splitext(path)[1].lower()
    by_ext = [name for name, (_c, exts, sniff) in FORMATS.items() if ext in exts and sniff is None]
    if len(by_ext) == 1:
        return by_ext[0]
    hint = f"; candidates for {ext!r}: {', '.join(by_ext)}" if by_ext else ""
    raise InputFormatError(f"{path}: unrecognised event format (first bytes {head[:16]!r}){hint}; "
                           f"pass format= one of {', '.join(sorted(FORMATS))}")


def open_events(path, format=None, sensor_size=None, **options):
    """A reader for ``path`` (format detected unless given); iterate it or call ``.read()``."""
    _load_modules()
    name = format or detect_format(path)
    if name not in FORMATS:
        raise ParameterError(f"unknown event format {name!r}; known: {', '.join(sorted(FORMATS))}")
    return FORMATS[name][0](path, sensor_size=sensor_size, **options)


def read_events(path, format=None, sensor_size=None, **options):
    """Decode a whole recording into :class:`Events` (native ticks; ``.t_ms()`` converts).

    Parameters
    ----------
    path : str or path-like
    format : str, optional
        Override the detection (see :data:`FORMATS`).
    sensor_size : tuple, optional
        (width, height), when the header does not state it or to override it.
    **options
        Format options (e.g. ``address_bytes``/``tick_us`` for headerless NAS files).
    """
    return open_events(path, format, sensor_size, **options).read()


def iter_events(path, n_events=None, window_us=None, format=None, sensor_size=None, **options):
    """Iterate a recording in chunks of ``n_events`` events or ``window_us`` microseconds."""
    return open_events(path, format, sensor_size, **options).chunks(n_events=n_events, window_us=window_us)


def from_structured(array, sensor_size=None, tick_us=1.0, format="structured"):
    """:class:`Events` from any structured array with t and x (and y, p) fields, e.g. tonic's.

    tonic sensor sizes (W, H, P) are accepted; the polarity count is dropped.
    """
    arr = np.asarray(array)
    names = arr.dtype.names or ()
    missing = [f for f in ("t", "x") if f not in names]
    if missing:
        raise InputFormatError(f"structured events: missing field(s) {missing}; have {list(names)}")
    t = arr["t"]
    if np.issubdtype(t.dtype, np.floating):
        if not np.all(np.isfinite(t)) or np.any(t != np.round(t)):
            raise InputFormatError("structured events: field 't' holds non-integer times; convert to integer "
                                   "ticks and pass tick_us (e.g. seconds -> us: t * 1e6, tick_us=1.0)")
    size = None if sensor_size is None else tuple(sensor_size)[:2]
    for f in ("x", "y"):
        if f in names and arr.shape[0]:
            v = arr[f]
            if v.min() < 0 or v.max() > 65535:
                raise InputFormatError(f"structured events: field {f!r} outside [0, 65535] "
                                       f"(event {int(np.argmax((v < 0) | (v > 65535)))})")
            k = 0 if f == "x" else 1
            if size is not None and len(size) > k and v.max() >= size[k]:
                bad = int(np.argmax(v >= size[k]))
                raise InputFormatError(f"structured events: event {bad} has {f} = {int(v[bad])} outside the "
                                       f"sensor size {size}")
    return Events.from_arrays(t.astype(np.int64), arr["x"], arr["y"] if "y" in names else None,
                              arr["p"].astype(np.int8) if "p" in names else None, tick_us=tick_us,
                              sensor_size=size, format=format)


_LIVE = ("Aedat4Client", "Aedat4Server", "serve_aedat4", "UdpEventSource", "StreamTimeout")


def __getattr__(name):
    """Live sources (sockets) load on first use: ``spikeengine.io.Aedat4Client`` etc."""
    if name in _LIVE:
        from . import live

        return getattr(live, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Aedat4Client", "Aedat4Server", "BLOCK_EVENTS", "EVENT_DTYPE", "EventReader", "EventSource", "Events",
           "FORMATS", "SensorMap", "StreamTimeout", "UdpEventSource", "detect_format", "from_structured",
           "iter_events", "open_events", "read_events", "rechunk", "register", "serve_aedat4"]
