"""AEDAT 1.0 / 2.0 (jAER) reader: '#' header lines, then big-endian address + timestamp words.

Layout
------
The file starts with ASCII lines beginning with ``#`` (the first one is ``#!AER-DAT2.0``
or ``#!AER-DAT1.0``); the data begin at the first byte of the first line that does not
start with ``#``. Each record is a big-endian address and a big-endian 32-bit timestamp
(AEDAT 2.0: u32 address, 8 bytes; AEDAT 1.0: u16 address, 6 bytes).

The address layout depends on the sensor, named by the ``# AEChip:`` header line (or the
``chip=`` option):

* DAVIS (DAVIS240, DAVIS346, DAVIS640, DAVIS128): a word is a DVS event only when bit 31
  (APS) and bit 10 (IMU / special) are both 0; ``x = (a >> 12) & 0x3FF``,
  ``y = (a >> 22) & 0x1FF``, ``p = (a >> 11) & 1``. APS and IMU words are skipped.
* DVS128 (Tmpdiff128): ``x = (a >> 8) & 0x7F``, ``y = (a >> 1) & 0x7F``, ``p = a & 1``;
  words with bit 15 set (external-input / special events) are skipped.

Coordinates are raw (jAER's origin is bottom-left; no flip). Timestamps are 32-bit
microsecond counters that wrap (after 35.8 min as int32, 71.6 min as u32): they are
read as u32 and unwrapped across the whole file into int64 (a decrease of more than
2**31 ticks is a wrap), so a signed counter crossing 2**31 stays monotonic too.
"""

import re

import numpy as np

from ..errors import ParameterError
from . import register
from .events import BLOCK_EVENTS, EVENT_DTYPE, EventReader

#: (lower-case substring of the AEChip class name, address layout, (width, height)); first match wins
CHIPS = (
    ("davis240", "davis", (240, 180)),
    ("davis346", "davis", (346, 260)),
    ("davis640", "davis", (640, 480)),
    ("davis128", "davis", (128, 128)),
    ("dvs128", "dvs128", (128, 128)),
    ("tmpdiff128", "dvs128", (128, 128)),
    ("davis", "davis", None),
)

_MAX_LINE = 1 << 20  # longest header line accepted (bytes)
_WRAP = 1 << 32


def _sniff(head, path):
    return head.startswith(b"#!AER-DAT1") or head.startswith(b"#!AER-DAT2")


def chip_layout(name):
    """Address layout and sensor size for a jAER chip class name (or ``"davis"``/``"dvs128"``).

    Returns ``(layout, (width, height) or None)``, or ``None`` for an unknown chip.

    Examples
    --------
    >>> chip_layout("eu.seebetter.ini.chips.davis.DAVIS240C")
    ('davis', (240, 180))
    >>> chip_layout("ch.unizh.ini.jaer.chip.retina.DVS128")
    ('dvs128', (128, 128))
    >>> chip_layout("SomethingElse") is None
    True
    """
    low = name.lower()
    for key, layout, size in CHIPS:
        if key in low:
            return layout, size
    return None


def unwrap_counter(raw, state, period=_WRAP):
    """Unwrap a wrapping counter (int64 array of raw values) in place of a block, carrying ``state``.

    ``state`` is a two-item list ``[last raw value or None, offset added so far]`` that is
    updated, so consecutive blocks unwrap as one sequence. A decrease larger than half
    the period counts as one wrap.

    Examples
    --------
    >>> st = [None, 0]
    >>> unwrap_counter(np.array([10, 2**32 - 5], dtype=np.int64), st).tolist()
    [10, 4294967291]
    >>> unwrap_counter(np.array([3, 7], dtype=np.int64), st).tolist()
    [4294967299, 4294967303]
    """
    if raw.shape[0] == 0:
        return raw.astype(np.int64)
    prev = raw[0] if state[0] is None else state[0]
    wrap = np.diff(raw, prepend=np.int64(prev)) < -(period // 2)
    if not wrap.any():  # the common case: one addition
        out = raw + np.int64(state[1])
    else:
        wraps = np.cumsum(wrap, dtype=np.int64)
        out = raw + (np.int64(state[1]) + wraps * np.int64(period))
        state[1] = int(state[1]) + int(wraps[-1]) * period
    state[0] = int(raw[-1])
    return out


@register("aedat2", extensions=(".aedat",), sniff=_sniff)
class Aedat2Reader(EventReader):
    """Streaming reader of jAER AEDAT 1.0/2.0 recordings (DAVIS and DVS128 address layouts).

    Other Parameters
    ----------------
    Passed as keyword options to :func:`~spikeengine.io.read_events` / :func:`~spikeengine.io.iter_events`.

    chip : str, optional
        Overrides the ``# AEChip:`` header line: a jAER class name (``"DAVIS346B"``) or a
        layout, ``"davis"`` or ``"dvs128"`` (then give ``sensor_size`` unless the name implies it).
    block_events : int, optional
        Records decoded per block (default :data:`~spikeengine.io.events.BLOCK_EVENTS`).

    Examples
    --------
    >>> import os, tempfile
    >>> words = np.array([(0x0080B800, 100), (0x80000000, 150), (0x0080C000, 200)],
    ...                  dtype=[("a", ">u4"), ("t", ">u4")])   # DVS, APS (skipped), DVS
    >>> d = tempfile.mkdtemp()
    >>> path = os.path.join(d, "tiny.aedat")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"#!AER-DAT2.0\\r\\n# AEChip: eu.seebetter.ini.chips.davis.DAVIS240C\\r\\n")
    ...     _ = f.write(words.tobytes())
    >>> from spikeengine.io import read_events
    >>> ev = read_events(path)
    >>> ev.sensor_size, ev.t.tolist(), ev.x.tolist(), ev.y.tolist(), ev.p.tolist()
    ((240, 180), [100, 200], [11, 12], [2, 2], [1, 0])
    """

    def _open(self):
        opts = dict(self.options)
        chip_opt = opts.pop("chip", None)
        self.block_events = int(opts.pop("block_events", BLOCK_EVENTS))
        if opts:
            raise ParameterError(f"aedat2: unknown option(s) {sorted(opts)}; known: chip, block_events")
        if self.block_events < 1:
            raise ParameterError(f"aedat2: block_events must be >= 1, got {self.block_events}")
        with open(self.path, "rb") as f:
            first = f.readline(_MAX_LINE)
            m = re.match(rb"#!AER-DAT(\d+)\.(\d+)", first)
            if m is None:
                raise self._error(f"not an AEDAT 1.0/2.0 file: first line starts {first[:16]!r}, "
                                  "expected '#!AER-DAT2.0' or '#!AER-DAT1.0'", 0)
            major, minor = int(m.group(1)), int(m.group(2))
            if major not in (1, 2):
                raise self._error(f"AEDAT {major}.{minor} is not AEDAT 1.0/2.0 (use the reader of that version)", 0)
            lines = [first]
            pos = len(first)
            while True:
                line = f.readline(_MAX_LINE)
                if not line.startswith(b"#"):
                    break
                if len(line) == _MAX_LINE and not line.endswith(b"\n"):
                    raise self._error(f"corrupt header: line longer than {_MAX_LINE} bytes", pos)
                if not line.startswith(b"#<") and not line.startswith(b"#  "):  # skip the preferences XML
                    lines.append(line)
                pos += len(line)
            f.seek(0, 2)
            size = f.tell()
        self.data_start = pos
        self.version = float(f"{major}.{minor}")
        self.record_dtype = np.dtype([("a", ">u2" if major == 1 else ">u4"), ("t", ">u4")])
        rec = self.record_dtype.itemsize
        self.n_records, rest = divmod(size - pos, rec)
        if rest:
            off = pos + self.n_records * rec
            raise self._error(f"truncated file: {rest} trailing byte(s) of an incomplete {rec}-byte record "
                              f"(record {self.n_records})", off)
        text = [ln.decode("latin-1").rstrip("\r\n") for ln in lines]
        chip_line = next((t for t in text if t.startswith("# AEChip:")), None)
        chip_name = chip_line.split(":", 1)[1].strip() if chip_line else None
        for t in text:
            if "tick is" in t:
                mt = re.match(r"#\s*Timestamps tick is\s+([0-9.]+)\s*us", t)
                if mt:
                    self.tick_us = float(mt.group(1))
        name = chip_opt if chip_opt is not None else chip_name
        if name is None:
            raise self._error("the header names no '# AEChip:' sensor, so the address layout is unknown; pass "
                              "chip='davis' or chip='dvs128' (and sensor_size)", 0)
        found = chip_layout(str(name))
        if found is None:
            msg = f"unknown chip {name!r}; pass chip='davis' or chip='dvs128' (and sensor_size)"
            if chip_opt is not None:
                raise ParameterError(f"aedat2: {msg}")
            raise self._error(msg, 0)
        self.layout, chip_size = found
        if self.sensor_size is None and chip_size is not None:
            self.sensor_size = chip_size
        self.meta = {"version": self.version, "chip": chip_name, "chip_option": chip_opt, "layout": self.layout,
                     "header_bytes": pos, "n_records": self.n_records,
                     "header_lines": text[:16]}

    def _decode(self, a):
        if self.layout == "davis":
            keep = (a & np.uint32(0x80000400)) == 0
            a = a[keep]
            return keep, (a >> 12) & 0x3FF, (a >> 22) & 0x1FF, (a >> 11) & 1
        keep = (a & np.uint32(0x8000)) == 0
        a = a[keep]
        return keep, (a >> 8) & 0x7F, (a >> 1) & 0x7F, a & 1

    def _blocks(self):
        rec = self.record_dtype.itemsize
        state = [None, 0]
        n_out = 0
        with open(self.path, "rb") as f:
            f.seek(self.data_start)
            done = 0
            while done < self.n_records:
                cnt = min(self.block_events, self.n_records - done)
                raw = np.fromfile(f, dtype=self.record_dtype, count=cnt)
                if raw.shape[0] != cnt:
                    raise self._error("file shrank while being read", self.data_start + (done + raw.shape[0]) * rec)
                keep, x, y, p = self._decode(raw["a"].astype(np.uint32))
                out = np.empty(x.shape[0], EVENT_DTYPE)
                out["t"] = unwrap_counter(raw["t"][keep].astype(np.int64), state)
                out["x"] = x
                out["y"] = y
                out["p"] = p
                if self.sensor_size is not None and out.shape[0]:
                    w, h = self.sensor_size[:2]
                    if x.max() >= w or y.max() >= h:
                        bad = (x >= w) | (y >= h)
                        i = int(np.argmax(bad))
                        r = done + int(np.flatnonzero(keep)[i])
                        raise self._error(f"event {n_out + i} (x={int(x[i])}, y={int(y[i])}) lies outside the "
                                          f"sensor size {self.sensor_size}; pass sensor_size= or chip=",
                                          self.data_start + r * rec)
                n_out += out.shape[0]
                done += cnt
                yield out
