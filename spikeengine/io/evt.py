"""Prophesee ``.raw`` recordings: EVT 2.0 and EVT 3.0 streaming readers.

A ``.raw`` file is a text header of lines starting with ``%`` (``% evt 3.0``,
``% format EVT3;height=720;width=1280``, ``% geometry 1280x720``, ``% plugin_name ...``,
``% system_ID ...``, ``% end``) followed by little-endian words: 32-bit for EVT 2.0,
16-bit for EVT 3.0. Both encodings are stateful (a time base is sent once and refined per
event), so the decoders are word-by-word state machines compiled with numba. Each call
decodes part of a block of words into preallocated output arrays and leaves its state (time
high, loop counter, current row, vector base, polarity...) in a small int64 array, so that
decoding continues exactly across blocks of any size: the reader streams a multi-gigabyte
file in bounded memory.

Time semantics follow Prophesee OpenEB's HAL decoders (``evt2_decoder.h``,
``evt3_decoder.h``):

* words before the first EVT_TIME_HIGH are skipped (their time is unknown); their CD event
  count is kept in ``reader.meta["events_before_first_time_high"]`` and a warning is issued;
* EVT 2.0: ``t = time_high << 6 | t_low`` (34 bits); a TIME_HIGH lower than the previous one
  by at least ``MaxTimestamp - 10000`` us counts as a wrap (+2**34 us);
* EVT 3.0: EVT_TIME_LOW only overwrites the low 12 bits of the time; EVT_TIME_HIGH sets bits
  12-23 (and clears the low bits when it changes); the loop counter (+2**24 us) is
  incremented when the new time high is lower than the previous one by at least 2048
  (half the 12-bit range). A decreasing TIME_LOW is NOT a carry (the +4096 us that
  expelliarmus 1.1.12 and faery 0.7.1 add there is a known bug, expelliarmus issue #19).

Coordinates are raw (no flips); ``p`` is 1 for ON (CD_ON / polarity bit set), 0 for OFF.
Events outside the sensor size are an error (OpenEB drops them silently).

Examples
--------
A tiny EVT 3.0 stream: time high, time low, row, one single event and a 12-bit vector.

>>> import os, tempfile
>>> import numpy as np
>>> from spikeengine.io import read_events
>>> words = np.array([0x8001, 0x6010, 0x0005, 0x2803, 0x3008, 0x4005], "<u2")
>>> path = os.path.join(tempfile.mkdtemp(), "tiny.raw")
>>> with open(path, "wb") as f:
...     _ = f.write(b"% evt 3.0\\n% format EVT3;height=8;width=32\\n% end\\n" + words.tobytes())
>>> ev = read_events(path)
>>> ev.format, ev.sensor_size, len(ev)
('evt3', (32, 8), 3)
>>> ev.t.tolist(), ev.x.tolist(), ev.y.tolist(), ev.p.tolist()
([4112, 4112, 4112], [3, 8, 10], [5, 5, 5], [1, 0, 0])
"""

import os
import re
import warnings

import numpy as np

from ..errors import ParameterError
from . import register
from .events import BLOCK_EVENTS, EVENT_DTYPE, EventReader

# --------------------------------------------------------------------------------------------
# sensor sizes implied by the header (for headers without a format/geometry line)
# --------------------------------------------------------------------------------------------

#: (width, height) by HAL plugin name; OpenEB ``raw_constants.h`` plugins_map, plus the
#: IMX636 / GenX320 plugin names of later OpenEB releases.
PLUGIN_SENSOR_SIZE = {
    "hal_plugin_gen3_fx3": (640, 480),
    "hal_plugin_gen31_fx3": (640, 480),
    "hal_plugin_gen31_evk2": (640, 480),
    "hal_plugin_gen31_evk3": (640, 480),
    "hal_plugin_gen4_fx3": (1280, 720),
    "hal_plugin_gen4_evk2": (1280, 720),
    "hal_plugin_gen41_evk2": (1280, 720),
    "hal_plugin_gen41_evk3": (1280, 720),
    "hal_plugin_imx636_evk3": (1280, 720),
    "hal_plugin_imx636_evk4": (1280, 720),
    "hal_plugin_genx320_evk3": (320, 320),
}

#: (width, height) by ``system_ID``; OpenEB ``device_system_id.h`` and the system_id_map of
#: its RAW-header parser (Gen3/Gen3.1 640x480, Gen4/Gen4.1/IMX636 1280x720, GenX320 320x320).
SYSTEM_ID_SENSOR_SIZE = {
    0x15: (640, 480),  # CCAM3_GEN3
    0x17: (640, 480),  # CCAM4_GEN3
    0x97: (640, 480),  # CCAM4_GEN3_EVK
    0x19: (640, 480),  # CCAM4_GEN3_REV_B
    0x99: (640, 480),  # CCAM4_GEN3_REV_B_EVK
    0x1D: (640, 480),  # CCAM4_GEN3_REV_B_EVK_BRIDGE
    0x21: (640, 480),  # VISIONCAM_GEN3
    0xA1: (640, 480),  # VISIONCAM_GEN3_EVK
    0x1C: (640, 480),  # CCAM3_GEN31
    0x22: (640, 480),  # VISIONCAM_GEN31
    0xA2: (640, 480),  # VISIONCAM_GEN31_EVK
    0x23: (640, 480),  # CCAM5_GEN31 (= EVK3_GEN31_EVT2)
    0x28: (640, 480),  # EVK3_GEN31_EVT3
    0x29: (640, 480),  # EVK2_GEN31
    0x1A: (1280, 720),  # CCAM3_GEN4
    0x1E: (1280, 720),  # CCAM5_GEN4
    0x2E: (1280, 720),  # CCAM5_GEN4_FIXED_FRAME
    0x1F: (1280, 720),  # EVK2_GEN4
    0x27: (1280, 720),  # EVK2_GEN41
    0x30: (1280, 720),  # EVK3_GEN41
    0x31: (1280, 720),  # EVK3_IMX636
    0x32: (1280, 720),  # EVK2_IMX636
    0x3A: (1280, 720),  # RDK2_IMX636
    0x42: (1280, 720),  # EVK2_IMX636_ESP
    0x3B: (320, 320),  # EVK3_GENX320_MP
    0x40: (320, 320),  # EVK3_GENX320
}

#: plugins whose cameras only stream EVT 2.0 (lets the sniff accept a header without version)
_EVT2_ONLY_PLUGINS = ("hal_plugin_gen3_fx3", "hal_plugin_gen31_fx3", "hal_plugin_gen31_evk2")

_VERSIONS = {"2": "2.0", "2.0": "2.0", "evt2": "2.0", "3": "3.0", "3.0": "3.0", "evt3": "3.0",
             "2.1": "2.1", "evt21": "2.1", "evt2.1": "2.1"}
_FORMAT_VERSION = {"EVT2": "2.0", "EVT3": "3.0", "EVT21": "2.1"}

#: longest header accepted (a '%' header without end beyond this is an error)
MAX_HEADER_BYTES = 1 << 20

# --------------------------------------------------------------------------------------------
# numba decoders
# --------------------------------------------------------------------------------------------

# EVT 2.0 state slots (int64 array)
_E2_BASE_SET = 0  # 1 once the first EVT_TIME_HIGH was seen
_E2_BASE = 1  # current time base in us (time_high << 6, loops included)
_E2_SHIFT = 2  # loop offset in us (multiple of 2**34)
_E2_SKIPPED = 3  # CD events before the first EVT_TIME_HIGH
_E2_LOOPS = 4  # number of time-high wraps
_E2_NSTATE = 5

_E2_MAX_TIMESTAMP = ((1 << 28) - 1) << 6
_E2_TIME_LOOP = _E2_MAX_TIMESTAMP + (1 << 6)  # 2**34 us
_E2_LOOP_THRESHOLD = 10000

# EVT 3.0 state slots
_E3_BASE_SET = 0  # 1 once the first EVT_TIME_HIGH was seen
_E3_LOOP = 1  # number of 24-bit wraps of (time_high << 12)
_E3_HIGH = 2  # time bits 12-23
_E3_LOW = 3  # time bits 0-11
_E3_Y = 4  # current row (EVT_ADDR_Y)
_E3_BASE_X = 5  # VECT_BASE_X (advanced by 12 / 8 after each vector)
_E3_POL = 6  # polarity of VECT_BASE_X
_E3_ROW = 7  # -1: no EVT_ADDR_Y yet, 1: CD row (type 0x0), 0: non-CD row (type 0x1)
_E3_SKIPPED = 8  # CD events before the first EVT_TIME_HIGH
_E3_NO_ROW = 9  # CD events after the first time high but before any EVT_ADDR_Y
_E3_NSTATE = 10

_E3_MAX_PER_WORD = 12  # most events one word can produce (VECT_12)

_ERR_X = 1
_RECORD_BYTES = np.dtype(f"V{EVENT_DTYPE.itemsize}")
_ERR_Y = 2


def _decode_evt2(words, i0, out_t, out_x, out_y, out_p, n0, cap, width, height, state):
    """Decode EVT 2.0 words ``words[i0:]`` into the outputs from index ``n0``.

    Stops at the end of ``words``, when the outputs hold ``cap`` events, or at an event
    outside ``width`` x ``height``. ``state`` (int64, see the ``_E2_*`` slots) is updated in
    place. Returns ``(i, n, err, value)``: the next word to decode, the number of events in
    the outputs, 0 or an error code (1: x, 2: y out of range; ``i`` is then the offending
    word and ``n`` the index of the offending event) and the offending value.
    """
    base_set = state[_E2_BASE_SET]
    base = state[_E2_BASE]
    shift = state[_E2_SHIFT]
    skipped = state[_E2_SKIPPED]
    loops = state[_E2_LOOPS]
    n = n0
    i = i0
    nw = words.shape[0]
    err = 0
    value = 0
    while i < nw:
        w = np.int64(words[i])
        typ = w >> 28
        if typ <= 1:  # CD_OFF / CD_ON
            if base_set == 0:
                skipped += 1
            else:
                if n >= cap:
                    break
                x = (w >> 11) & 0x7FF
                y = w & 0x7FF
                if x >= width:
                    err = _ERR_X
                    value = x
                    break
                if y >= height:
                    err = _ERR_Y
                    value = y
                    break
                out_t[n] = base + ((w >> 22) & 0x3F)
                out_x[n] = x
                out_y[n] = y
                out_p[n] = typ
                n += 1
        elif typ == 0x8:  # EVT_TIME_HIGH
            th = (w & 0x0FFFFFFF) << 6
            if base_set == 0:
                base_set = 1
                base = th
            else:
                th += shift
                if th < base and base - th >= _E2_MAX_TIMESTAMP - _E2_LOOP_THRESHOLD:
                    shift += _E2_TIME_LOOP
                    th += _E2_TIME_LOOP
                    loops += 1
                base = th
        # 0xA EXT_TRIGGER, 0xE OTHERS, 0xF CONTINUED and reserved types: no CD event
        i += 1
    state[_E2_BASE_SET] = base_set
    state[_E2_BASE] = base
    state[_E2_SHIFT] = shift
    state[_E2_SKIPPED] = skipped
    state[_E2_LOOPS] = loops
    return i, n, err, value


def _decode_evt3(words, i0, out_t, out_x, out_y, out_p, n0, cap, width, height, state):
    """Decode EVT 3.0 words ``words[i0:]`` into the outputs from index ``n0``.

    Same contract as :func:`_decode_evt2` (state slots ``_E3_*``); a word is only decoded
    when the outputs have room for the 12 events a VECT_12 word can produce, so ``cap``
    must be at least 12.
    """
    base_set = state[_E3_BASE_SET]
    loop = state[_E3_LOOP]
    high = state[_E3_HIGH]
    low = state[_E3_LOW]
    y = state[_E3_Y]
    base_x = state[_E3_BASE_X]
    pol = state[_E3_POL]
    row = state[_E3_ROW]
    skipped = state[_E3_SKIPPED]
    no_row = state[_E3_NO_ROW]
    n = n0
    i = i0
    nw = words.shape[0]
    err = 0
    value = 0
    while i < nw:
        w = np.int64(words[i])
        typ = w >> 12
        if base_set == 0:
            # OpenEB: nothing is decoded before the first EVT_TIME_HIGH
            if typ == 0x8:
                base_set = 1
                high = w & 0xFFF
                low = 0
                loop = 0
            elif typ == 0x2:
                skipped += 1
            elif typ == 0x4:
                m = w & 0xFFF
                while m:
                    skipped += m & 1
                    m >>= 1
            elif typ == 0x5:
                m = w & 0xFF
                while m:
                    skipped += m & 1
                    m >>= 1
            i += 1
            continue
        if n + _E3_MAX_PER_WORD > cap:
            break
        if typ == 0x2:  # EVT_ADDR_X: one event
            if row == 1:
                x = w & 0x7FF
                if x >= width:
                    err = _ERR_X
                    value = x
                    break
                if y >= height:
                    err = _ERR_Y
                    value = y
                    break
                out_t[n] = (loop << 24) | (high << 12) | low
                out_x[n] = x
                out_y[n] = y
                out_p[n] = (w >> 11) & 1
                n += 1
            elif row < 0:
                no_row += 1
        elif typ == 0x4 or typ == 0x5:  # VECT_12 / VECT_8
            if typ == 0x4:
                m = w & 0xFFF
                size = 12
            else:
                m = w & 0xFF
                size = 8
            if row == 1:
                if m != 0 and y >= height:
                    err = _ERR_Y
                    value = y
                    break
                t = (loop << 24) | (high << 12) | low
                k = 0
                while m:
                    if m & 1:
                        x = base_x + k
                        if x >= width:
                            err = _ERR_X
                            value = x
                            break
                        out_t[n] = t
                        out_x[n] = x
                        out_y[n] = y
                        out_p[n] = pol
                        n += 1
                    m >>= 1
                    k += 1
                if err != 0:
                    break
            elif row < 0:
                while m:
                    no_row += m & 1
                    m >>= 1
            base_x += size
        elif typ == 0x6:  # EVT_TIME_LOW: only the low 12 bits change
            low = w & 0xFFF
        elif typ == 0x8:  # EVT_TIME_HIGH
            th = w & 0xFFF
            if high >= 2048 + th:  # OpenEB: the 24-bit time base wrapped
                loop += 1
            if th != high:
                low = 0
            high = th
        elif typ == 0x0:  # EVT_ADDR_Y (bit 11: system type, ignored)
            y = w & 0x7FF
            row = 1
        elif typ == 0x1:  # ADDR_Y of a non-CD (EM) row: following addresses are no CD events
            y = w & 0x7FF
            row = 0
        elif typ == 0x3:  # VECT_BASE_X
            base_x = w & 0x7FF
            pol = (w >> 11) & 1
        # 0x7 / 0xF CONTINUED, 0xA EXT_TRIGGER, 0xE OTHERS, reserved types: no CD event
        i += 1
    state[_E3_BASE_SET] = base_set
    state[_E3_LOOP] = loop
    state[_E3_HIGH] = high
    state[_E3_LOW] = low
    state[_E3_Y] = y
    state[_E3_BASE_X] = base_x
    state[_E3_POL] = pol
    state[_E3_ROW] = row
    state[_E3_SKIPPED] = skipped
    state[_E3_NO_ROW] = no_row
    return i, n, err, value


# --------------------------------------------------------------------------------------------
# header
# --------------------------------------------------------------------------------------------

_TEXT_LINE = re.compile(rb"^%[\x20-\x7e\t\r\x80-\xff]*$")


_JIT = {}


def _compiled(version):
    """The numba-compiled decoder of ``version`` (compiled at first use, so that importing the
    readers, e.g. to detect a format, does not load numba)."""
    if version not in _JIT:
        import numba

        fn = _decode_evt2 if version == "evt2" else _decode_evt3
        _JIT[version] = numba.njit(cache=False, nogil=True)(fn)
    return _JIT[version]


def _parse_header(buf, at_eof):
    """Split the '%' header off ``buf``.

    Returns ``(lines, data_start, status)`` where ``status`` is ``"ok"``, ``"need_more"``
    (a header line is not finished in ``buf`` and more bytes exist) or ``"unterminated"``
    (the last header line runs to the end of the file). A line starting with '%' that is
    not text is data (the first data word may begin with byte 0x25).
    """
    lines = []
    pos = 0
    n = len(buf)
    while pos < n and buf[pos:pos + 1] == b"%":
        nl = buf.find(b"\n", pos)
        if nl < 0:
            chunk = buf[pos:]
            if not _TEXT_LINE.match(chunk):
                break
            return lines, pos, ("unterminated" if at_eof else "need_more")
        line = buf[pos:nl]
        if not _TEXT_LINE.match(line):
            break
        text = line.decode("utf-8", "replace").rstrip("\r")
        lines.append(text)
        pos = nl + 1
        if text.strip() == "% end":
            break
    return lines, pos, "ok"


def _header_fields(lines):
    """dict key -> value of '% key value' lines (the first occurrence wins)."""
    fields = {}
    for line in lines:
        body = line[1:].strip()
        if not body or body == "end":
            continue
        parts = body.split(None, 1)
        fields.setdefault(parts[0], parts[1].strip() if len(parts) > 1 else "")
    return fields


def _parse_format(value):
    """'EVT3;height=720;width=1280' -> ('EVT3', {'height': '720', 'width': '1280'})."""
    parts = [p.strip() for p in value.split(";")]
    opts = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            opts[k.strip().lower()] = v.strip()
    return parts[0].upper(), opts


def _header_version(fields):
    """Event-type version stated by the header ('2.0', '3.0', '2.1', another string or None)."""
    evt = fields.get("evt")
    fmt = None
    if "format" in fields:
        name, _ = _parse_format(fields["format"])
        fmt = _FORMAT_VERSION.get(name, name)
    if evt is not None:
        evt = _VERSIONS.get(evt.strip().lower(), evt.strip())
    return evt, fmt


def _is_dat_header(lines):
    return any(line.startswith("% Data file containing") for line in lines)


def _sniff_version(head):
    """Version ('2.0'/'3.0') a .raw header declares, or the one its plugin implies, else None."""
    if not head.startswith(b"% "):
        return None
    lines, _pos, _status = _parse_header(head, at_eof=True)
    if not lines or _is_dat_header(lines):
        return None
    fields = _header_fields(lines)
    evt, fmt = _header_version(fields)
    if evt is not None or fmt is not None:
        return evt if evt is not None else fmt
    if fields.get("plugin_name", "") in _EVT2_ONLY_PLUGINS:
        return "2.0"
    return None


def _sniff_evt2(head, path):
    return _sniff_version(head) == "2.0"


def _sniff_evt3(head, path):
    return _sniff_version(head) == "3.0"


# --------------------------------------------------------------------------------------------
# readers
# --------------------------------------------------------------------------------------------


class _PropheseeRawReader(EventReader):
    """Common header parsing and block loop of the EVT 2.0 / 3.0 readers.

    Other Parameters
    ----------------
    version : str, optional
        Event-type version ('2.0'/'3.0', also 'evt2'/'evt3'), overriding the header's
        ``% evt`` / ``% format`` line (for mislabelled files or headers without it).

    Attributes
    ----------
    block_words : int
        Words read from the file per block (bounded memory; any value >= 1 decodes the same).
    block_events : int
        Capacity of one yielded block, in events (at least 12 for EVT 3.0).
    state : ndarray of int64
        Decoder state after the last block (``_E2_*`` / ``_E3_*`` slots).
    """

    version = None  # the version this class decodes when the header does not say
    word_bytes = None
    block_words = BLOCK_EVENTS
    block_events = BLOCK_EVENTS

    def _open(self):
        self.tick_us = 1.0
        opts = dict(self.options)
        forced = opts.pop("version", None)
        if opts:
            raise ParameterError(f"{self.format} reader: unknown option(s) {sorted(opts)}; known: version")
        size = os.path.getsize(self.path)
        with open(self.path, "rb") as f:
            n_read = 65536
            while True:
                buf = f.read(n_read)
                at_eof = len(buf) >= size or len(buf) < n_read
                lines, start, status = _parse_header(buf, at_eof)
                if status == "ok":
                    break
                if status == "unterminated":
                    raise self._error("missing header end: the '%' header line at the end of the file has no "
                                      "newline (truncated header, or no event data)", len(buf))
                if n_read >= MAX_HEADER_BYTES:
                    raise self._error(f"missing header end: '%' header lines go on for more than "
                                      f"{MAX_HEADER_BYTES} bytes", n_read)
                f.seek(0)
                n_read *= 4
        if not lines:
            raise self._error("no '%' header: not a Prophesee .raw file (pass sensor_size= and format= only for "
                              "files with a header)", 0)
        if _is_dat_header(lines):
            raise self._error("this is a Prophesee .dat file ('% Data file containing ...'), not a .raw", 0)
        fields = _header_fields(lines)
        self.data_start = start
        self.meta = {"header_lines": lines, "header": fields, "data_start": start}

        # event-type version: version= > '% evt' / '% format' > this reader's own
        evt, fmt = _header_version(fields)
        if evt is not None and fmt is not None and evt != fmt:
            raise self._error(f"header contradicts itself: '% evt {fields['evt']}' vs '% format {fields['format']}'")
        stated = evt if evt is not None else fmt
        if forced is not None:
            key = str(forced).strip().lower()
            if key not in _VERSIONS:
                raise ParameterError(f"{self.format} reader: version={forced!r}; use '2.0' or '3.0'")
            version = _VERSIONS[key]
        else:
            version = stated if stated is not None else self.version
        if version == "2.1":
            raise self._error("EVT 2.1 (64-bit vectorised words) is not supported; this reader decodes EVT 2.0 and 3.0")
        if version not in ("2.0", "3.0"):
            raise self._error(f"unknown event-type version {version!r} in the header")
        if forced is None and version != self.version:
            raise self._error(f"the header says EVT {version} but the {self.format!r} reader was chosen; use "
                              f"format='evt{version[0]}' (or version= to force a decoding)")
        if version != self.version:  # version= forced the other encoding
            self.format = "evt2" if version == "2.0" else "evt3"
        self.version = version
        self.word_bytes = 4 if version == "2.0" else 2
        self.meta["evt_version"] = version

        # sensor size: argument > format line > geometry line > plugin_name > system_ID
        size_src = None
        found = None
        if "format" in fields:
            _name, fopts = _parse_format(fields["format"])
            if "width" in fopts and "height" in fopts:
                try:
                    found, size_src = (int(fopts["width"]), int(fopts["height"])), "format"
                except ValueError as exc:
                    raise self._error(f"bad size in '% format {fields['format']}'") from exc
        if found is None and "geometry" in fields:
            m = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", fields["geometry"])
            if not m:
                raise self._error(f"bad '% geometry {fields['geometry']}' line (expected WxH)")
            found, size_src = (int(m.group(1)), int(m.group(2))), "geometry"
        plugin = fields.get("plugin_name", "")
        if found is None and plugin in PLUGIN_SENSOR_SIZE:
            found, size_src = PLUGIN_SENSOR_SIZE[plugin], "plugin_name"
        integrator = fields.get("integrator_name", fields.get("camera_integrator_name", "Prophesee"))
        if found is None and "system_ID" in fields and integrator == "Prophesee":
            try:
                sid = int(fields["system_ID"], 0)
            except ValueError:
                sid = None
            if sid in SYSTEM_ID_SENSOR_SIZE:
                found, size_src = SYSTEM_ID_SENSOR_SIZE[sid], "system_ID"
        if self.sensor_size is not None:
            self.sensor_size = tuple(self.sensor_size)[:2]
            size_src = "argument"
        elif found is not None:
            self.sensor_size = found
        else:
            raise self._error(f"the header states no sensor size (no '% format ...;width=;height=' or '% geometry' "
                              f"line; plugin_name {plugin or '-'!r} and system_ID {fields.get('system_ID', '-')!r} "
                              f"are not in the known-sensor table); pass sensor_size=(width, height)")
        if len(self.sensor_size) < 2 or min(self.sensor_size[:2]) < 1 or max(self.sensor_size[:2]) > 2048:
            raise ParameterError(f"{self.format}: sensor_size {self.sensor_size} must be (width, height) in 1..2048")
        self.meta["sensor_size_source"] = size_src
        self.meta["header_sensor_size"] = found

    def _new_state(self):
        if self.version == "2.0":
            return np.zeros(_E2_NSTATE, np.int64)
        state = np.zeros(_E3_NSTATE, np.int64)
        state[_E3_ROW] = -1
        return state

    def _blocks(self):
        evt2 = self.version == "2.0"
        decode = _compiled("evt2" if evt2 else "evt3")
        ws = self.word_bytes
        dtype = "<u4" if evt2 else "<u2"
        per_word = 1 if evt2 else _E3_MAX_PER_WORD
        block_words = int(self.block_words)
        cap = int(self.block_events)
        if block_words < 1 or cap < per_word:
            raise ParameterError(f"{self.format}: block_words must be >= 1 and block_events >= {per_word}")
        width, height = self.sensor_size[:2]
        state = self._new_state()
        self.state = state
        file_size = os.path.getsize(self.path)

        def new_out(pos):  # no larger than the rest of the file can fill (exact bound for EVT 2.0)
            return np.empty(min(cap, (file_size - pos) // ws + per_word), EVENT_DTYPE)

        offset = self.data_start
        out = new_out(offset)
        n = 0
        emitted = 0
        with open(self.path, "rb") as f:
            f.seek(offset)
            while True:
                raw = f.read(block_words * ws)
                nw = len(raw) // ws
                words = np.frombuffer(raw, dtype, count=nw)
                i = 0
                while i < nw:
                    i, n, err, value = decode(words, i, out["t"], out["x"], out["y"], out["p"], n, out.shape[0],
                                              width, height, state)
                    if err:
                        axis = "x" if err == _ERR_X else "y"
                        if n:  # deliver every event before the bad one, then fail
                            yield out[:n]
                        raise self._error(f"event {emitted + n} has {axis} = {value} outside the sensor size "
                                          f"{(width, height)} (pass sensor_size= if the header is wrong)",
                                          offset + i * ws)
                    if i < nw:  # output full
                        yield out[:n]
                        emitted += n
                        out = new_out(offset + i * ws)
                        n = 0
                rest = len(raw) - nw * ws
                if rest:
                    if n:  # deliver every whole event, then fail
                        yield out[:n]
                    raise self._error(f"truncated file: {rest} trailing byte(s) do not make a whole {ws}-byte "
                                      f"EVT {self.version} word (after {emitted + n} events)", offset + nw * ws)
                offset += len(raw)
                if len(raw) < block_words * ws:
                    break
        if n:
            # a small last block is copied to free the buffer (as raw bytes: a packed-record copy is slow)
            yield out[:n] if 2 * n >= out.shape[0] else out[:n].view(_RECORD_BYTES).copy().view(EVENT_DTYPE)
        skipped = int(state[_E2_SKIPPED] if evt2 else state[_E3_SKIPPED])
        self.meta["events_before_first_time_high"] = skipped
        if not evt2:
            self.meta["events_without_row"] = int(state[_E3_NO_ROW])
        if skipped:
            warnings.warn(f"{self.path}: {skipped} CD event(s) before the first EVT_TIME_HIGH were skipped (their "
                          f"time is unknown; OpenEB skips them too)", stacklevel=2)


@register("evt2", extensions=(".raw",), sniff=_sniff_evt2)
class Evt2Reader(_PropheseeRawReader):
    """Prophesee EVT 2.0 ``.raw`` reader (32-bit words, 34-bit us times, unwrapped).

    Parameters
    ----------
    path : str or path-like
    sensor_size : tuple, optional
        (width, height); needed when the header has no format/geometry line and its
        plugin_name/system_ID is not in :data:`PLUGIN_SENSOR_SIZE` / :data:`SYSTEM_ID_SENSOR_SIZE`.
    version : str, optional
        Override the header's event-type version.
    """

    version = "2.0"


@register("evt3", extensions=(".raw",), sniff=_sniff_evt3)
class Evt3Reader(_PropheseeRawReader):
    """Prophesee EVT 3.0 ``.raw`` reader (16-bit stateful words; OpenEB time semantics).

    Parameters
    ----------
    path : str or path-like
    sensor_size : tuple, optional
        (width, height); needed when the header has no format/geometry line and its
        plugin_name/system_ID is not in :data:`PLUGIN_SENSOR_SIZE` / :data:`SYSTEM_ID_SENSOR_SIZE`.
    version : str, optional
        Override the header's event-type version.
    """

    version = "3.0"


__all__ = ["Evt2Reader", "Evt3Reader", "PLUGIN_SENSOR_SIZE", "SYSTEM_ID_SENSOR_SIZE"]
