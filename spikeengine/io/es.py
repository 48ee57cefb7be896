"""Event Stream (``.es``, version 2.x) reader: byte-oriented, delta-time encoded.

Layout
------
``Event Stream`` (12 ASCII bytes), the version (major, minor, patch bytes; major must be
2), a type byte (0 generic, 1 DVS, 2 ATIS, 3 asynchronous display, 4 color) and, for the
camera types, width and height as u16 little-endian. Then a byte stream decoded by a
state machine (as in neuromorphic-paris ``event_stream`` and faery, which agree):

* DVS (type 1). In the idle state a byte ``0xFF`` is an overflow (t += 127 us), ``0xFE``
  a reset (ignored); any other byte ``b`` starts an event: t += b >> 1, polarity = b & 1,
  followed by x (u16 LE) and y (u16 LE): 5 bytes per event.
* ATIS (type 2). In the idle state a byte with its 6 high bits set is an overflow
  (t += 63 * (b & 3); ``0xFC`` is a reset); any other byte starts an event:
  t += b >> 2, and the 2-bit code b & 3 is 0 = OFF change, 2 = ON change (bit 0 clear:
  change detection) or 1/3 = exposure-measurement start/end; then x, y as above.

Times are cumulative microseconds from 0 (no wrap). y is returned as stored (the
origin convention of the recording; no flip). Generic, display and color streams are
not supported (a clear error). The decoder is a plain-Python byte loop compiled with
``numba.njit`` (at the first use) that works block by block: it returns its state (time,
event count) and stops before an event split by the block end, whose bytes (at most 4) the
reader carries to the front of the next block, so memory stays bounded.
"""

import os

import numpy as np

from ..errors import ParameterError
from . import register
from .events import BLOCK_EVENTS, EVENT_DTYPE, EventReader

MAGIC = b"Event Stream"
#: type byte -> name
TYPES = {0: "generic", 1: "dvs", 2: "atis", 3: "display", 4: "color"}

# error codes returned by the decoder
_OK, _ERR_X, _ERR_Y = 0, 1, 2


def _sniff(head, path):
    return head.startswith(MAGIC)


def decode_es_block(buf, base, kind, keep_all, width, height, state, out):
    """Decode the complete DVS (kind 1) or ATIS (kind 2) Event Stream events of a block of bytes.

    Plain Python (the reader compiles it with ``numba.njit``). ``state`` (int64[2]: time
    in us, events decoded so far) is read and updated, so the next block continues where
    this one stopped. Decoding stops before an event whose 5 bytes are not all in ``buf``;
    the caller carries those bytes (at most 4) over to the front of the next block.
    ``base`` is the file offset of ``buf[0]``. For ATIS, exposure events (code bit 0 set)
    are skipped unless ``keep_all`` (then p is the raw 2-bit code; else p = code >> 1).

    Returns ``(n, used, err, value)``: events written to ``out`` (EVENT_DTYPE), bytes
    consumed, an error code (0 ok, 1 x >= width, 2 y >= height; then the faulty event
    starts at ``buf[used]``) and the faulty coordinate.

    Examples
    --------
    >>> st = np.zeros(2, np.int64)
    >>> out = np.zeros(4, EVENT_DTYPE)
    >>> buf = np.array([0xFF, 0x05, 3, 0, 2, 0,  0x0A, 1], dtype=np.uint8)  # overflow, an event, 2 bytes of the next
    >>> decode_es_block(buf, 20, 1, False, 8, 8, st, out)
    (1, 6, 0, 0)
    >>> out[0].tolist(), int(st[0]), int(st[1])  # (t, x, y, p); time and count so far
    ((129, 3, 2, 1), 129, 1)
    """
    t = state[0]
    count = state[1]
    n = 0
    i = 0
    size = buf.shape[0]
    err = 0
    val = 0
    while i < size:
        b = np.int64(buf[i])
        if kind == 1:
            if b == 0xFF:  # overflow
                t += 127
                i += 1
                continue
            if b == 0xFE:  # reset
                i += 1
                continue
            dt = b >> 1
            code = b & 1
        else:
            if (b & 0xFC) == 0xFC:  # overflow (0xFC: reset)
                t += 63 * (b & 3)
                i += 1
                continue
            dt = b >> 2
            code = b & 3
        if i + 5 > size:
            break
        x = np.int64(buf[i + 1]) | (np.int64(buf[i + 2]) << 8)
        y = np.int64(buf[i + 3]) | (np.int64(buf[i + 4]) << 8)
        if x >= width:
            err = 1
            val = x
            break
        if y >= height:
            err = 2
            val = y
            break
        t += dt
        if kind == 1 or keep_all or (code & 1) == 0:
            r = out[n]
            r["t"] = t
            r["x"] = x
            r["y"] = y
            r["p"] = code if (kind == 1 or keep_all) else code >> 1
            n += 1
        count += 1
        i += 5
    state[0] = t
    state[1] = count
    return n, i, err, val


_JIT = None


def _decoder():
    """The njit-compiled :func:`decode_es_block` (compiled at the first call; pure Python without numba)."""
    global _JIT
    if _JIT is None:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is a dependency
            _JIT = decode_es_block
        else:
            _JIT = numba.njit(cache=False, nogil=True)(decode_es_block)
    return _JIT


@register("es", extensions=(".es",), sniff=_sniff)
class EsReader(EventReader):
    """Streaming reader of Event Stream 2.x files (DVS and ATIS types).

    Other Parameters
    ----------------
    Passed as keyword options to :func:`~spikeengine.io.read_events` / :func:`~spikeengine.io.iter_events`.

    atis_events : {"td", "all"}, optional
        ATIS streams: ``"td"`` (default) keeps the change-detection events, p = 1 for ON;
        ``"all"`` also keeps the exposure-measurement events, p = raw 2-bit code
        (0 OFF, 1 exposure start, 2 ON, 3 exposure end).
    block_bytes : int, optional
        Bytes decoded per block (default ``5 * BLOCK_EVENTS``, about BLOCK_EVENTS DVS events).
    jit : bool, optional
        Use the numba-compiled decoder (default True); False runs the same code as plain Python.

    Examples
    --------
    >>> import os, tempfile
    >>> body = bytes([0x01, 3, 0, 2, 0,  0xFF, 0x04, 4, 0, 1, 0])  # t=0 ON (3, 2); overflow; t=129 OFF (4, 1)
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.es")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"Event Stream" + bytes([2, 0, 0, 1]) + (8).to_bytes(2, "little") + (4).to_bytes(2, "little"))
    ...     _ = f.write(body)
    >>> from spikeengine.io import read_events
    >>> ev = read_events(path, jit=False)
    >>> ev.format, ev.sensor_size, ev.t.tolist(), ev.x.tolist(), ev.y.tolist(), ev.p.tolist()
    ('es', (8, 4), [0, 129], [3, 4], [2, 1], [1, 0])
    """

    def _open(self):
        opts = dict(self.options)
        atis = opts.pop("atis_events", "td")
        self.block_bytes = int(opts.pop("block_bytes", 5 * BLOCK_EVENTS))
        self.jit = bool(opts.pop("jit", True))
        if opts:
            raise ParameterError(f"es: unknown option(s) {sorted(opts)}; known: atis_events, block_bytes, jit")
        if atis not in ("td", "all"):
            raise ParameterError(f"es: atis_events must be 'td' or 'all', got {atis!r}")
        if self.block_bytes < 1:
            raise ParameterError(f"es: block_bytes must be >= 1, got {self.block_bytes}")
        self.keep_all = atis == "all"
        with open(self.path, "rb") as f:
            head = f.read(20)
        if not head.startswith(MAGIC):
            raise self._error(f"not an Event Stream file: first bytes {head[:12]!r}, expected {MAGIC!r}", 0)
        if len(head) < 16:
            raise self._error("truncated header: version and type bytes missing", len(head))
        major, minor, patch, kind = head[12], head[13], head[14], head[15]
        if major != 2:
            raise self._error(f"unsupported Event Stream version {major}.{minor}.{patch} (supported: 2.x)", 12)
        if kind not in TYPES:
            raise self._error(f"corrupt header: unknown stream type byte {kind}", 15)
        if kind not in (1, 2):
            raise self._error(f"Event Stream type {TYPES[kind]!r} is not supported (only 'dvs' and 'atis')", 15)
        if len(head) < 20:
            raise self._error("truncated header: width and height missing", len(head))
        width = int.from_bytes(head[16:18], "little")
        height = int.from_bytes(head[18:20], "little")
        self.kind = kind
        self.data_start = 20
        self.header_size = (width, height)
        if self.sensor_size is None:
            self.sensor_size = (width, height)
        self.meta = {"version": f"{major}.{minor}.{patch}", "type": TYPES[kind], "width": width, "height": height,
                     "header_bytes": 20, "atis_events": atis if kind == 2 else None}

    def _blocks(self):
        decode = _decoder() if self.jit else decode_es_block
        w, h = (int(s) for s in self.sensor_size[:2])
        state = np.zeros(2, np.int64)
        block = max(1, min(self.block_bytes, os.path.getsize(self.path) - self.data_start))
        cap = (block + 4) // 5
        buf = bytearray(block + 4)  # + room for the carried bytes of a split event
        view = memoryview(buf)
        carry = 0  # bytes of an incomplete event at the front of buf
        base = self.data_start  # file offset of buf[0]
        with open(self.path, "rb") as f:
            f.seek(self.data_start)
            while True:
                nread = f.readinto(view[carry:])
                if not nread:
                    break
                total = carry + nread
                arr = np.frombuffer(buf, dtype=np.uint8, count=total)
                out = np.empty(cap, EVENT_DTYPE)
                n, used, err, val = decode(arr, base, self.kind, self.keep_all, w, h, state, out)
                if err:
                    what, lim = ("x", w) if err == _ERR_X else ("y", h)
                    raise self._error(f"event {int(state[1])} has {what} = {int(val)} outside the sensor size "
                                      f"{self.sensor_size} ({what} must be < {lim})", base + int(used))
                out = out[:n] if 2 * n >= cap else out[:n].copy()  # no large mostly-empty buffer kept alive
                del arr
                carry = total - used
                if carry:
                    buf[:carry] = buf[used:total]
                base += used
                yield out
        if carry:
            raise self._error(f"truncated file: event {int(state[1])} is cut off at the end of the file "
                              f"({carry} of its 5 bytes present)", base)
