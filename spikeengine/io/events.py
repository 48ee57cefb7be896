"""One event representation for every sensor format, and the reader base class.

Readers keep timestamps in the file's native tick (int64, never wrapped: every
reader unwraps its format's counters) and carry the tick length in microseconds;
the conversion to the engine's milliseconds happens at the edge, in
:meth:`Events.t_ms`, with an integer subtraction of the origin first, so that
absolute Unix-microsecond stamps lose no precision.
"""

import hashlib
import os

import numpy as np

from ..errors import InputFormatError, ParameterError

#: structured dtype of decoded events: native-tick time, raw coordinates (no flips), polarity.
#: For 1-D audio streams x is the channel, y the ear (0 for mono) and p the polarity bit (1 where the
#: format has none).
EVENT_DTYPE = np.dtype([("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "i1")])

#: default number of events a reader decodes per block (bounded memory while streaming)
BLOCK_EVENTS = 1 << 20


class Events:
    """Decoded events (a whole recording or one chunk of it) and their metadata.

    Parameters
    ----------
    data : ndarray of EVENT_DTYPE
        Events in file order, ``t`` in native ticks.
    tick_us : float
        Length of one tick in microseconds (1.0 for most cameras, 0.2 for some cochleas).
    sensor_size : tuple of int, optional
        (width, height) for cameras, (channels, ears) for audio streams.
    format : str, optional
        Name of the format it was decoded from.
    source : str, optional
        File path or stream address.

    Examples
    --------
    >>> import numpy as np
    >>> ev = Events.from_arrays(t=[1000, 1500, 4000], x=[1, 2, 3], y=[0, 0, 1], p=[1, 0, 1], sensor_size=(4, 2))
    >>> len(ev), ev.t_ms().tolist()
    (3, [1.0, 1.5, 4.0])
    >>> ev.t_ms(origin=1000).tolist()
    [0.0, 0.5, 3.0]
    """

    def __init__(self, data, tick_us=1.0, sensor_size=None, format=None, source=None):
        data = np.asarray(data)
        if data.dtype != EVENT_DTYPE:
            raise ParameterError(f"Events: data must have dtype {EVENT_DTYPE}, got {data.dtype}")
        if not (np.isfinite(tick_us) and tick_us > 0):
            raise ParameterError(f"Events: tick_us must be > 0, got {tick_us!r}")
        self.data = data
        self.tick_us = float(tick_us)
        self.sensor_size = None if sensor_size is None else tuple(int(s) for s in sensor_size)
        self.format = format
        self.source = source

    @classmethod
    def from_arrays(cls, t, x, y=None, p=None, **meta):
        """Events from separate t/x/y/p arrays (y and p default to 0 and 1).

        Values that do not fit the event fields (non-integer times, coordinates outside
        [0, 65535], polarities outside [-128, 127]) are an error naming the field and event.
        """
        t = np.asarray(t)
        n = t.shape[0]
        for name, v, lo, hi in (("t", t, -(2**63), 2**63 - 1), ("x", x, 0, 65535), ("y", y, 0, 65535),
                                ("p", p, -128, 127)):
            if v is None:
                continue
            v = np.asarray(v)
            if v.shape != (n,):
                raise ParameterError(f"Events: field {name!r} has shape {v.shape}, expected ({n},) like 't'")
            if n and np.issubdtype(v.dtype, np.floating) and not np.all(v == np.round(v)):
                k = int(np.argmax(v != np.round(v)))
                raise ParameterError(f"Events: field {name!r} of event {k} is {v[k].item()!r}, not an integer")
            if n and name != "t" and (v.min() < lo or v.max() > hi):
                k = int(np.argmax((v < lo) | (v > hi)))
                raise ParameterError(f"Events: field {name!r} of event {k} is {v[k].item()!r}, outside [{lo}, {hi}]")
        data = np.empty(n, EVENT_DTYPE)
        data["t"] = t
        data["x"] = x
        data["y"] = 0 if y is None else y
        data["p"] = 1 if p is None else p
        return cls(data, **meta)

    @classmethod
    def concatenate(cls, parts, like=None):
        """One Events object from several chunks (metadata of ``like`` or of the first part)."""
        parts = list(parts)
        ref = like if like is not None else (parts[0] if parts else None)
        if len(parts) == 1:
            data = parts[0].data
        elif parts:  # as bytes: numpy copies the packed 15-byte records several times faster that way
            data = np.concatenate([np.ascontiguousarray(p.data).view(np.uint8) for p in parts]).view(EVENT_DTYPE)
        else:
            data = np.empty(0, EVENT_DTYPE)
        if ref is None:
            return cls(data)
        return cls(data, ref.tick_us, ref.sensor_size, ref.format, ref.source)

    def _with(self, data):
        return Events(data, self.tick_us, self.sensor_size, self.format, self.source)

    def __len__(self):
        return int(self.data.shape[0])

    def __getitem__(self, idx):
        return self._with(self.data[idx])

    def __repr__(self):
        return (f"<Events: {len(self)} events, format {self.format}, sensor {self.sensor_size}, "
                f"tick {self.tick_us:g} us>")

    @property
    def t(self):
        return self.data["t"]

    @property
    def x(self):
        return self.data["x"]

    @property
    def y(self):
        return self.data["y"]

    @property
    def p(self):
        return self.data["p"]

    def t_ms(self, origin=0):
        """Times in ms (float64) after subtracting ``origin`` (native ticks, integer) exactly."""
        return (self.data["t"] - np.int64(origin)).astype(np.float64) * (self.tick_us / 1000.0)

    def checksum(self):
        """sha256 of t, x, y, p each cast to little-endian int64, concatenated (the MANIFEST definition)."""
        h = hashlib.sha256()
        for f in ("t", "x", "y", "p"):
            h.update(np.ascontiguousarray(self.data[f], dtype="<i8").tobytes())
        return h.hexdigest()


class EventSource:
    """Anything that yields EVENT_DTYPE blocks (file readers, live sockets): chunking, ``read()``,
    iteration and ``with``. Subclasses implement ``_blocks()`` and ``_wrap(block) -> Events``."""

    tick_us = 1.0

    def _blocks(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _wrap(self, data):  # pragma: no cover - abstract
        raise NotImplementedError

    def chunks(self, n_events=None, window_us=None):
        """Iterate in chunks of ``n_events`` events or ``window_us`` microseconds (default: as decoded).

        Time windows are [t0 + k W, t0 + (k + 1) W) from the first event's time t0; empty
        windows are skipped. Memory stays bounded by one block plus one chunk.
        """
        return rechunk(self._blocks(), self._wrap, n_events=n_events,
                       window_ticks=None if window_us is None else window_us / self.tick_us)

    def read(self):
        """Everything (the whole recording, or until a live stream ends) as one :class:`Events`."""
        return Events.concatenate([self._wrap(b) for b in self._blocks()], like=self._wrap(np.empty(0, EVENT_DTYPE)))

    def __iter__(self):
        return self.chunks()

    def close(self):
        """Release the file or socket (file readers open the file per iteration: nothing to do)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class EventReader(EventSource):
    """Base class of the file readers: header parsing in ``__init__``, blocks in :meth:`_blocks`.

    Subclasses set ``format`` and implement ``_open()`` (parse the header; set ``tick_us``,
    ``sensor_size`` when the file states it) and ``_blocks()`` (yield EVENT_DTYPE arrays of at
    most about :data:`BLOCK_EVENTS` events, in file order, native ticks, counters unwrapped).
    Errors name the file and the byte offset or event index
    (:class:`~spikeengine.errors.InputFormatError`).
    """

    format = None

    def __init__(self, path, sensor_size=None, **options):
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise InputFormatError(f"{self.path}: no such file")
        self.options = options
        self.sensor_size = None if sensor_size is None else tuple(int(s) for s in sensor_size)
        self.meta = {}
        self._open()

    def _open(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _error(self, what, offset=None):
        where = f" at byte {offset}" if offset is not None else ""
        return InputFormatError(f"{self.path}: {self.format}{where}: {what}")

    def _wrap(self, data):
        return Events(data, self.tick_us, self.sensor_size, self.format, self.path)


def rechunk(blocks, wrap, n_events=None, window_ticks=None):
    """Regroup an iterator of EVENT_DTYPE blocks into chunks by count or by time window (ticks).

    With neither given, the blocks themselves are yielded (as Events).
    """
    if n_events is not None and window_ticks is not None:
        raise ParameterError("chunks: give n_events or window_us, not both")
    if n_events is not None and (int(n_events) != n_events or n_events < 1):
        raise ParameterError(f"chunks: n_events must be an integer >= 1, got {n_events!r}")
    if window_ticks is not None and not (np.isfinite(window_ticks) and window_ticks > 0):
        raise ParameterError(f"chunks: window_us must be > 0, got {window_ticks!r} ticks")
    if n_events is None and window_ticks is None:
        for b in blocks:
            if b.shape[0]:
                yield wrap(b)
        return
    pending = []
    npend = 0
    if n_events is not None:
        n_events = int(n_events)
        for b in blocks:
            pending.append(b)
            npend += b.shape[0]
            if npend >= n_events:
                buf = np.concatenate(pending)
                k = 0
                while buf.shape[0] - k >= n_events:
                    yield wrap(buf[k:k + n_events])
                    k += n_events
                pending = [buf[k:]]
                npend = buf.shape[0] - k
        if npend:
            yield wrap(np.concatenate(pending))
        return
    t0 = None
    k_cur = None
    for b in blocks:
        if not b.shape[0]:
            continue
        if t0 is None:
            t0 = int(b["t"][0])
        k = np.floor((b["t"] - t0) / window_ticks).astype(np.int64)
        starts = np.flatnonzero(np.diff(k)) + 1
        bounds = np.concatenate([[0], starts, [b.shape[0]]])
        for a, e in zip(bounds[:-1], bounds[1:]):
            kk = int(k[a])
            if k_cur is not None and kk != k_cur and npend:
                yield wrap(np.concatenate(pending))
                pending, npend = [], 0
            k_cur = kk
            pending.append(b[a:e])
            npend += e - a
    if npend:
        yield wrap(np.concatenate(pending))
