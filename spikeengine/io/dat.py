"""Prophesee / Chronocam DAT reader (``.dat``): '% ' header lines, then fixed-size records.

Layout
------
ASCII header lines starting with ``% `` (``% Data file containing Event2D events.``,
``% Version 2``, ``% Date ...``, optional ``% Height H`` / ``% Width W``). When there is
at least one header line, two bytes follow: the event type (0 = Event2D, 12 = EventCD) and
the event size in bytes (8). Each record is a little-endian u32 timestamp (us) and a u32
data word:

* version >= 2: ``x`` = bits 0-13, ``y`` = bits 14-27, ``p`` = bits 28-31;
* version < 2 (also when the header has no ``% Version`` line, as Prophesee's
  ``load_atis_data.m`` does): ``x`` = bits 0-8, ``y`` = bits 9-16, ``p`` = bit 17.

The u32 timestamps are unwrapped across the file into int64 (a decrease of more than 2**31
us is a wrap). Without a geometry in the header the sensor size defaults to 304 x 240 (the
Gen1 ATIS of the DAT era, e.g. N-CARS); pass ``sensor_size=`` for other sensors.
"""

import os
import re

import numpy as np

from ..errors import ParameterError
from . import register
from .aedat2 import unwrap_counter
from .events import BLOCK_EVENTS, EVENT_DTYPE, EventReader

#: sensor size used when the header states none (Prophesee/Chronocam Gen1 ATIS)
DEFAULT_SENSOR_SIZE = (304, 240)
#: event types with the 2-D change-detection layout (0 = Event2D, 12 = EventCD)
CD_TYPES = (0, 12)

_MAX_LINE = 1 << 16


def _sniff(head, path):
    if head.startswith(b"% Data file"):
        return True
    return os.path.splitext(str(path))[1].lower() == ".dat" and head.startswith(b"%") and b"% Version" in head


@register("dat", extensions=(".dat",), sniff=_sniff)
class DatReader(EventReader):
    """Streaming reader of Prophesee DAT (CD / Event2D) recordings.

    Other Parameters
    ----------------
    Passed as keyword options to :func:`~spikeengine.io.read_events` / :func:`~spikeengine.io.iter_events`.

    block_events : int, optional
        Records decoded per block (default :data:`~spikeengine.io.events.BLOCK_EVENTS`).

    Examples
    --------
    >>> import os, tempfile
    >>> rec = np.array([(0, 25 | (8 << 14)), (35, 67 | (35 << 14) | (1 << 28))], dtype=[("t", "<u4"), ("d", "<u4")])
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.dat")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"% Data file containing Event2D events.\\n% Version 2\\n% Height 240\\n% Width 304\\n")
    ...     _ = f.write(bytes([0, 8]) + rec.tobytes())
    >>> from spikeengine.io import read_events
    >>> ev = read_events(path)
    >>> ev.format, ev.sensor_size, ev.t.tolist(), ev.x.tolist(), ev.y.tolist(), ev.p.tolist()
    ('dat', (304, 240), [0, 35], [25, 67], [8, 35], [0, 1])
    """

    def _open(self):
        opts = dict(self.options)
        self.block_events = int(opts.pop("block_events", BLOCK_EVENTS))
        if opts:
            raise ParameterError(f"dat: unknown option(s) {sorted(opts)}; known: block_events")
        if self.block_events < 1:
            raise ParameterError(f"dat: block_events must be >= 1, got {self.block_events}")
        lines = []
        with open(self.path, "rb") as f:
            pos = 0
            while True:
                line = f.readline(_MAX_LINE)
                if not line.startswith(b"% "):
                    break
                if len(line) == _MAX_LINE and not line.endswith(b"\n"):
                    raise self._error(f"corrupt header: line longer than {_MAX_LINE} bytes", pos)
                lines.append(line.decode("latin-1").rstrip("\r\n"))
                pos = f.tell()
            f.seek(pos)
            ev_type, ev_size = 0, 8
            if lines:
                tb = f.read(2)
                if len(tb) < 2:
                    raise self._error("truncated file: the event type and size bytes after the header are missing",
                                      pos)
                ev_type, ev_size = tb[0], tb[1]
                pos += 2
            f.seek(0, 2)
            size = f.tell()
        if not lines and not self.path.lower().endswith(".dat"):
            raise self._error("not a DAT file: no '% ' header line and no .dat extension", 0)
        if ev_type not in CD_TYPES:
            raise self._error(f"event type {ev_type} is not a CD/Event2D event (supported: {CD_TYPES})", pos - 2)
        if ev_size < 8:
            raise self._error(f"corrupt header: event size {ev_size} < 8 bytes", pos - 1)
        version = 0
        height = width = None
        for t in lines:
            words = t.split()
            if len(words) >= 3 and words[1] == "Version":
                try:
                    version = int(words[2])
                except ValueError:
                    raise self._error(f"corrupt header: bad version line {t!r}", 0) from None
            elif len(words) >= 3 and words[1] in ("Height", "Width") and words[2].isdigit():
                if words[1] == "Height":
                    height = int(words[2])
                else:
                    width = int(words[2])
            else:
                mg = re.match(r"%\s*geometry\s+(\d+)x(\d+)", t)
                if mg:
                    width, height = int(mg.group(1)), int(mg.group(2))
        self.version = version
        self.data_start = pos
        self.record_dtype = np.dtype({"names": ["t", "d"], "formats": ["<u4", "<u4"], "offsets": [0, 4],
                                      "itemsize": ev_size})
        self.n_records, rest = divmod(size - pos, ev_size)
        if rest:
            raise self._error(f"truncated file: {rest} trailing byte(s) of an incomplete {ev_size}-byte record "
                              f"(record {self.n_records})", pos + self.n_records * ev_size)
        size_src = "user"
        if self.sensor_size is None:
            if width is not None and height is not None:
                self.sensor_size, size_src = (width, height), "header"
            else:
                self.sensor_size, size_src = DEFAULT_SENSOR_SIZE, "default (Gen1 ATIS 304x240)"
        if version >= 2:
            self._fields = ((0, 0x3FFF), (14, 0x3FFF), (28, 0xF))
        else:
            self._fields = ((0, 0x1FF), (9, 0xFF), (17, 0x1))
        self.meta = {"version": version, "event_type": ev_type, "event_size": ev_size, "header_lines": lines,
                     "header_bytes": pos, "n_records": self.n_records, "sensor_size_source": size_src}

    def _blocks(self):
        rec = self.record_dtype.itemsize
        state = [None, 0]
        (xs, xm), (ys, ym), (ps, pm) = self._fields
        w, h = self.sensor_size[:2]
        with open(self.path, "rb") as f:
            f.seek(self.data_start)
            done = 0
            while done < self.n_records:
                cnt = min(self.block_events, self.n_records - done)
                raw = np.fromfile(f, dtype=self.record_dtype, count=cnt)
                if raw.shape[0] != cnt:
                    raise self._error("file shrank while being read", self.data_start + (done + raw.shape[0]) * rec)
                d = raw["d"]
                out = np.empty(cnt, EVENT_DTYPE)
                out["t"] = unwrap_counter(raw["t"].astype(np.int64), state)
                x = (d >> xs) & xm
                y = (d >> ys) & ym
                out["x"] = x
                out["y"] = y
                out["p"] = (d >> ps) & pm
                if x.max() >= w or y.max() >= h:
                    i = int(np.argmax((x >= w) | (y >= h)))
                    raise self._error(f"event {done + i} (x={int(x[i])}, y={int(y[i])}) lies outside the sensor "
                                      f"size {self.sensor_size}; pass sensor_size=", self.data_start + (done + i) * rec)
                done += cnt
                yield out
