"""N-MNIST / N-Caltech101 ``.bin`` and SLAYER ``.bs2`` reader (headerless 40-bit records).

Layout
------
No header. Each event is 5 bytes: ``x`` (u8), ``y`` (u8), then 24 big-endian bits whose
bit 23 is the polarity and bits 22-0 the timestamp in microseconds.

Overflow markers
----------------
Records with ``y == 240`` are timestamp-overflow markers in Garrick Orchard's reference
reader (``Read_Ndataset.m`` / event-Python ``eventvision.py``), and tonic's
``read_mnist_file`` keeps that rule: each marker adds 2**13 us to the times of itself and
of every later record, and markers are dropped from the output. This reader does the same
by default (``overflow_markers=True``), carrying the marker count across blocks, so it
reproduces tonic exactly. SLAYER's ``read2Dspikes`` has no such rule (markers would be
returned as events with y = 240); ``overflow_markers=False`` gives that behaviour (then
any marker lies outside a 34 x 34 sensor and is reported as an error unless a larger
``sensor_size`` is given). None of the shared sample files contains a marker, so both
rules give the same result on them. The 23-bit timestamps are not otherwise unwrapped
(N-MNIST and N-Caltech101 samples last ~0.3 s, far below the 8.4 s range).

The sensor size defaults to 34 x 34 (N-MNIST); pass ``sensor_size=`` for N-Caltech101
(whose samples vary in size, up to 240 x 180 after the saccade crop).
"""

import os

import numpy as np

from ..errors import ParameterError
from . import register
from .events import BLOCK_EVENTS, EVENT_DTYPE, EventReader

#: N-MNIST sensor size (width, height)
NMNIST_SENSOR_SIZE = (34, 34)
#: time added by each overflow marker (tonic / event-Python rule), us
OVERFLOW_INCREMENT = 1 << 13
#: y value that marks an overflow record
OVERFLOW_Y = 240


@register("nmnist", extensions=(".bin", ".bs2"), sniff=None)
class NmnistReader(EventReader):
    """Streaming reader of N-MNIST / N-Caltech101 ``.bin`` files (SLAYER ``.bs2``).

    Other Parameters
    ----------------
    Passed as keyword options to :func:`~spikeengine.io.read_events` / :func:`~spikeengine.io.iter_events`.

    overflow_markers : bool, optional
        Treat ``y == 240`` records as +2**13 us overflow markers (tonic / event-Python rule,
        default True); False decodes them as ordinary events (SLAYER).
    block_events : int, optional
        Records decoded per block (default :data:`~spikeengine.io.events.BLOCK_EVENTS`).

    Examples
    --------
    >>> import os, tempfile
    >>> recs = bytes([7, 15, 0x80, 0x02, 0x8E,   # x=7, y=15, p=1, t=654
    ...               0, 240, 0x00, 0x00, 0x00,   # overflow marker: +8192 us from here on
    ...               19, 18, 0x00, 0x0B, 0xB7])  # x=19, y=18, p=0, t=2999 (+8192)
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.bin")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(recs)
    >>> from spikeengine.io import read_events
    >>> ev = read_events(path)
    >>> ev.format, ev.sensor_size, ev.t.tolist(), ev.x.tolist(), ev.y.tolist(), ev.p.tolist()
    ('nmnist', (34, 34), [654, 11191], [7, 19], [15, 18], [1, 0])
    """

    def _open(self):
        opts = dict(self.options)
        self.overflow_markers = bool(opts.pop("overflow_markers", True))
        self.block_events = int(opts.pop("block_events", BLOCK_EVENTS))
        if opts:
            raise ParameterError(f"nmnist: unknown option(s) {sorted(opts)}; known: overflow_markers, block_events")
        if self.block_events < 1:
            raise ParameterError(f"nmnist: block_events must be >= 1, got {self.block_events}")
        size = os.path.getsize(self.path)
        self.n_records, rest = divmod(size, 5)
        if rest:
            raise self._error(f"truncated file: {size} bytes is not a multiple of the 5-byte record; {rest} trailing "
                              f"byte(s) of an incomplete record {self.n_records}", self.n_records * 5)
        if self.sensor_size is None:
            self.sensor_size = NMNIST_SENSOR_SIZE
        self.meta = {"n_records": self.n_records, "overflow_markers": self.overflow_markers}

    def _blocks(self):
        w, h = self.sensor_size[:2]
        n_markers = 0
        n_out = 0
        with open(self.path, "rb") as f:
            done = 0
            while done < self.n_records:
                cnt = min(self.block_events, self.n_records - done)
                buf = f.read(cnt * 5)
                if len(buf) != cnt * 5:
                    raise self._error("file shrank while being read", done * 5 + len(buf))
                raw = np.frombuffer(buf, dtype=np.uint8).reshape(cnt, 5)
                x = raw[:, 0]
                y = raw[:, 1]
                b2 = raw[:, 2].astype(np.int64)
                t = ((b2 & 0x7F) << 16) | (raw[:, 3].astype(np.int64) << 8) | raw[:, 4]
                rec_idx = None
                if self.overflow_markers:
                    marker = y == OVERFLOW_Y
                    if marker.any():
                        cum = np.cumsum(marker, dtype=np.int64) + n_markers
                        t = t + cum * OVERFLOW_INCREMENT
                        n_markers = int(cum[-1])
                        keep = ~marker
                        rec_idx = np.flatnonzero(keep)
                        x, y, b2, t = x[keep], y[keep], b2[keep], t[keep]
                    elif n_markers:
                        t = t + n_markers * OVERFLOW_INCREMENT
                out = np.empty(x.shape[0], EVENT_DTYPE)
                out["t"] = t
                out["x"] = x
                out["y"] = y
                out["p"] = b2 >> 7
                if x.shape[0] and (x.max() >= w or y.max() >= h):
                    i = int(np.argmax((x >= w) | (y >= h)))
                    r = done + (i if rec_idx is None else int(rec_idx[i]))
                    raise self._error(f"event {n_out + i} (x={int(x[i])}, y={int(y[i])}) lies outside the sensor "
                                      f"size {self.sensor_size}; pass sensor_size= (e.g. for N-Caltech101)", r * 5)
                n_out += out.shape[0]
                done += cnt
                yield out

