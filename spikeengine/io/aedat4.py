"""AEDAT 4.0 (iniVation DV) recordings: a streaming reader, a small writer, and the packet codec.

Layout
------
A file starts with the version line ``#!AER-DAT4.0\\r\\n``, then a size-prefixed IOHeader
flatbuffer (i32 little-endian size, then the table, file identifier ``IOHE``):

* ``compression`` (int32 enum): 0 none, 1 LZ4, 2 LZ4_HIGH, 3 ZSTD, 4 ZSTD_HIGH (LZ4 *frame* and
  Zstandard *frame* formats; the HIGH variants only change the writer's level);
* ``dataTablePosition`` (int64): byte offset of the FileDataTable at the end of the file,
  -1 when the writer did not finish it;
* ``infoNode`` (string): DV's XML description of the streams, ``<dv><node name="outInfo">``
  with one ``<node name="ID">`` per stream holding ``typeIdentifier`` (EVTS, FRME, IMUS,
  TRIG, ...) and an ``info`` node with ``sizeX``/``sizeY``/``source``/``tsOffset``.

Packets follow: ``streamId`` (i32 LE), ``size`` (i32 LE), then ``size`` bytes of the
(compressed) flatbuffer. Decompressed, every packet is a *size-prefixed* flatbuffer whose file
identifier names its type; an events packet (``EVTS``) is the table ``EventPacket { elements:
[Event] }`` with the 16-byte struct ``Event { t: int64, x: int16, y: int16, on: bool }`` (3
padding bytes). Timestamps are absolute Unix microseconds. Packets stop at
``dataTablePosition`` (the table itself is only an index and is not needed when reading
sequentially); with -1 they run to the end of the file.

This module keeps only the first events stream (lowest stream id); frames, IMU samples and
triggers are skipped without being decompressed. The same codec serves the network framing
of DV's "Output to network/UNIX socket" modules (:mod:`spikeengine.io.live`), which is this
layout without the version line and without a data table.

The flatbuffers are parsed here directly (root offset, vtable, vector): no ``flatbuffers``
dependency. LZ4 and Zstandard packets need the ``lz4`` / ``zstandard`` packages.
"""

import os
import struct
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import numpy as np

from ..errors import InputFormatError, ParameterError
from . import register
from .events import BLOCK_EVENTS, EVENT_DTYPE, EventReader

#: the version line that opens every AEDAT 4.0 file
MAGIC = b"#!AER-DAT4.0\r\n"
#: IOHeader ``compression`` enum, by value
COMPRESSIONS = ("NONE", "LZ4", "LZ4_HIGH", "ZSTD", "ZSTD_HIGH")
#: the on-disk ``Event`` flatbuffer struct (16 bytes: t, x, y, on, 3 padding bytes)
RAW_EVENT_DTYPE = np.dtype({"names": ["t", "x", "y", "on"], "formats": ["<i8", "<i2", "<i2", "u1"],
                            "offsets": [0, 8, 10, 12], "itemsize": 16})
#: packet header: stream id, payload size (both int32 little-endian)
PACKET_HEADER = struct.Struct("<ii")
#: largest packet payload accepted from a stream whose length is unknown (a socket)
MAX_PACKET_BYTES = 1 << 30
#: events per packet when this module writes or serves events
PACKET_EVENTS = 4096


class FlatbufferError(ValueError):
    """A flatbuffer offset or length points outside its buffer (raised by the codec helpers)."""


# ---------------------------------------------------------------------------------------------
# flatbuffer helpers (little-endian; positions are indices into ``buf``)

def _u32(buf, pos):
    if pos < 0 or pos + 4 > len(buf):
        raise FlatbufferError(f"offset {pos} outside the {len(buf)}-byte buffer")
    return int.from_bytes(buf[pos:pos + 4], "little")


def _table(buf, root_pos, identifier=None):
    """Position of the root table whose uoffset sits at ``root_pos``; checks the identifier after it."""
    if identifier is not None and bytes(buf[root_pos + 4:root_pos + 8]) != identifier:
        got = bytes(buf[root_pos + 4:root_pos + 8])
        raise FlatbufferError(f"file identifier {got!r}, expected {identifier!r}")
    return root_pos + _u32(buf, root_pos)


def _field(buf, table, index):
    """Absolute position of field ``index`` of ``table``, or None when absent (default value)."""
    vtable = table - int.from_bytes(buf[table:table + 4], "little", signed=True) if table + 4 <= len(buf) else -1
    if vtable < 0 or vtable + 4 > len(buf):
        raise FlatbufferError(f"table at {table}: vtable offset outside the buffer")
    vt_size = int.from_bytes(buf[vtable:vtable + 2], "little")
    slot = 4 + 2 * index
    if slot + 2 > vt_size:
        return None
    if vtable + slot + 2 > len(buf):
        raise FlatbufferError(f"vtable at {vtable} runs past the buffer")
    off = int.from_bytes(buf[vtable + slot:vtable + slot + 2], "little")
    return None if off == 0 else table + off


def _vector(buf, pos, itemsize):
    """(start, length) of the vector referenced by the uoffset at ``pos``."""
    vec = pos + _u32(buf, pos)
    n = _u32(buf, vec)
    if vec + 4 + n * itemsize > len(buf):
        raise FlatbufferError(f"vector of {n} x {itemsize} bytes at {vec} runs past the {len(buf)}-byte buffer")
    return vec + 4, n


def _scalar(buf, pos, fmt, default):
    if pos is None:
        return default
    if pos + struct.calcsize(fmt) > len(buf):
        raise FlatbufferError(f"scalar at {pos} outside the buffer")
    return struct.unpack_from(fmt, buf, pos)[0]


# ---------------------------------------------------------------------------------------------
# compression

def _lz4():
    try:
        import lz4.frame
    except ImportError as exc:  # pragma: no cover - lz4 is a dependency
        raise InputFormatError("aedat4: LZ4-compressed packets need the 'lz4' package (pip install lz4)") from exc
    return lz4.frame


def _zstd():
    try:
        import zstandard
    except ImportError as exc:  # pragma: no cover - zstandard is a dependency
        raise InputFormatError("aedat4: ZSTD-compressed packets need the 'zstandard' package "
                               "(pip install zstandard)") from exc
    return zstandard


def compression_code(name):
    """IOHeader enum value of a compression name (``"none"``, ``"lz4"``, ``"lz4_high"``, ``"zstd"``, ...)."""
    if isinstance(name, (int, np.integer)) and 0 <= int(name) < len(COMPRESSIONS):
        return int(name)
    key = str(name).upper().replace("-", "_")
    if key not in COMPRESSIONS:
        raise ParameterError(f"aedat4: unknown compression {name!r}; known: "
                             f"{', '.join(c.lower() for c in COMPRESSIONS)}")
    return COMPRESSIONS.index(key)


def decompress(payload, compression):
    """Decompress one packet payload (``compression``: IOHeader enum value)."""
    if compression == 0:
        return payload
    if compression in (1, 2):
        return _lz4().decompress(bytes(payload))
    if compression in (3, 4):
        # a decompressobj also handles frames that do not record their content size
        return _zstd().ZstdDecompressor().decompressobj().decompress(bytes(payload))
    raise FlatbufferError(f"unknown compression type {compression}")


def compress(payload, compression):
    """Compress one packet payload the way DV does (LZ4 / Zstandard frames)."""
    if compression == 0:
        return bytes(payload)
    if compression in (1, 2):
        return _lz4().compress(bytes(payload), compression_level=0 if compression == 1 else 9)
    if compression in (3, 4):
        return _zstd().ZstdCompressor(level=3 if compression == 3 else 19).compress(bytes(payload))
    raise ParameterError(f"aedat4: unknown compression type {compression}")


# ---------------------------------------------------------------------------------------------
# IOHeader, info node, event packets

def parse_io_header(buf):
    """Decode an IOHeader table (the bytes after its size prefix).

    Returns
    -------
    dict
        ``compression`` (enum value), ``data_table_position`` (int, -1 if absent),
        ``info_node`` (str).
    """
    table = _table(buf, 0, b"IOHE")
    compression = _scalar(buf, _field(buf, table, 0), "<i", 0)
    dtp = _scalar(buf, _field(buf, table, 1), "<q", -1)
    pos = _field(buf, table, 2)
    info = ""
    if pos is not None:
        start, n = _vector(buf, pos, 1)
        info = bytes(buf[start:start + n]).decode("utf-8", errors="replace")
    return {"compression": int(compression), "data_table_position": int(dtp), "info_node": info}


def encode_io_header(info_node, compression=0, data_table_position=-1):
    """A size-prefixed IOHeader flatbuffer (the bytes after the version line), as DV writes it.

    Examples
    --------
    >>> raw = encode_io_header("<dv/>", compression=1)
    >>> parse_io_header(raw[4:])
    {'compression': 1, 'data_table_position': -1, 'info_node': '<dv/>'}
    """
    text = info_node.encode("utf-8")
    # prefixed coordinates: 0 size | 4 root | 8 "IOHE" | 12 vtable (10 B) + 2 pad | 24 table
    # table: 24 soffset, 28 compression, 32 infoNode uoffset, 36 pad, 40 dataTablePosition | 48 string
    vtable = struct.pack("<5H", 10, 24, 4, 16, 8)
    body = (struct.pack("<I", 20) + b"IOHE" + vtable + b"\0\0"
            + struct.pack("<iiIiq", 12, int(compression), 16, 0, int(data_table_position))
            + struct.pack("<I", len(text)) + text + b"\0")
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<I", len(body)) + body


def parse_info_node(text):
    """Streams described by a DV info node: a list of dicts sorted by stream id.

    Each dict has ``id``, ``type`` (typeIdentifier), ``name`` (originalOutputName),
    ``compression`` (text), ``size`` ((sizeX, sizeY) or None), ``source``, ``ts_offset``.
    """
    root = ET.fromstring(text.strip().strip("\0"))
    out = root.find("node[@name='outInfo']")
    if out is None:
        out = root[0] if len(root) else root
    streams = []
    for node in out.findall("node"):
        try:
            sid = int(node.get("name"))
        except (TypeError, ValueError):
            continue
        attrs = {a.get("key"): (a.text or "") for a in node.findall("attr")}
        info_node = node.find("node[@name='info']")
        info = {} if info_node is None else {a.get("key"): (a.text or "") for a in info_node.findall("attr")}
        size = None
        if info.get("sizeX", "").strip().isdigit() and info.get("sizeY", "").strip().isdigit():
            size = (int(info["sizeX"]), int(info["sizeY"]))
        ts = info.get("tsOffset", "").strip()
        streams.append({"id": sid, "type": attrs.get("typeIdentifier", ""), "name": attrs.get("originalOutputName", ""),
                        "compression": attrs.get("compression", ""), "size": size, "source": info.get("source"),
                        "ts_offset": int(ts) if ts.lstrip("-").isdigit() else None})
    return sorted(streams, key=lambda s: s["id"])


def info_node_xml(streams, compression=0):
    """DV-style info node XML for ``streams`` (dicts as returned by :func:`parse_info_node`)."""
    ctext = COMPRESSIONS[compression]
    lines = ['<dv version="2.0">', '    <node name="outInfo" path="/mainloop/output/outInfo/">']
    for s in streams:
        sid = int(s["id"])
        base = f"/mainloop/output/outInfo/{sid}/"
        lines.append(f'        <node name="{sid}" path="{base}">')
        lines.append(f'            <attr key="compression" type="string">{ctext}</attr>')
        lines.append('            <attr key="originalModuleName" type="string">spikeengine</attr>')
        name, kind = escape(s.get("name") or "events"), escape(s.get("type") or "EVTS")
        lines.append(f'            <attr key="originalOutputName" type="string">{name}</attr>')
        lines.append(f'            <attr key="typeIdentifier" type="string">{kind}</attr>')
        lines.append(f'            <node name="info" path="{base}info/">')
        if s.get("size"):
            lines.append(f'                <attr key="sizeX" type="int">{int(s["size"][0])}</attr>')
            lines.append(f'                <attr key="sizeY" type="int">{int(s["size"][1])}</attr>')
        camera = escape(s.get("source") or "spikeengine")
        lines.append(f'                <attr key="source" type="string">{camera}</attr>')
        if s.get("ts_offset") is not None:
            lines.append(f'                <attr key="tsOffset" type="long">{int(s["ts_offset"])}</attr>')
        lines += ["            </node>", "        </node>"]
    lines += ["    </node>", "</dv>"]
    return "\n".join(lines) + "\n"


def decode_event_packet(buf):
    """The raw ``Event`` structs (RAW_EVENT_DTYPE view) of a decompressed, size-prefixed EVTS packet.

    Examples
    --------
    >>> from spikeengine.io.events import Events
    >>> ev = Events.from_arrays(t=[10, 12], x=[3, 4], y=[1, 2], p=[1, 0])
    >>> raw = decode_event_packet(encode_event_packet(ev.data))
    >>> raw["t"].tolist(), raw["x"].tolist(), raw["on"].tolist()
    ([10, 12], [3, 4], [1, 0])
    """
    if len(buf) < 12:
        raise FlatbufferError(f"packet of {len(buf)} bytes is shorter than a flatbuffer header")
    size = _u32(buf, 0)
    if size + 4 > len(buf):
        raise FlatbufferError(f"size prefix {size} exceeds the {len(buf) - 4} decompressed bytes")
    table = _table(buf, 4, b"EVTS")
    pos = _field(buf, table, 0)
    if pos is None:
        return np.empty(0, RAW_EVENT_DTYPE)
    start, n = _vector(buf, pos, RAW_EVENT_DTYPE.itemsize)
    return np.frombuffer(buf, RAW_EVENT_DTYPE, count=n, offset=start)


def encode_event_packet(data):
    """A size-prefixed EVTS flatbuffer (uncompressed) holding ``data`` (EVENT_DTYPE array)."""
    data = np.asarray(data)
    n = data.shape[0]
    raw = np.zeros(n, RAW_EVENT_DTYPE)
    raw["t"] = data["t"]
    raw["x"] = data["x"].astype(np.int16)
    raw["y"] = data["y"].astype(np.int16)
    raw["on"] = data["p"] > 0
    # prefixed coordinates: 0 size | 4 root | 8 "EVTS" | 12 pad | 14 vtable (6 B) | 20 table | 28 vector
    head = struct.pack("<I4s2x3HiII", 16, b"EVTS", 6, 8, 4, 6, 4, n)
    return struct.pack("<I", len(head) + raw.nbytes) + head + raw.tobytes()


def raw_to_events(raw, out=None):
    """EVENT_DTYPE copy of raw ``Event`` structs (p = 1 for ON, 0 for OFF), into ``out`` when given."""
    if out is None:
        out = np.empty(raw.shape[0], EVENT_DTYPE)
    out["t"] = raw["t"]
    out["x"] = raw["x"]
    out["y"] = raw["y"]
    out["p"] = raw["on"] != 0
    return out


# ---------------------------------------------------------------------------------------------
# shared stream machinery (files and sockets): ``read(n)`` returns n bytes, fewer only at the end

def read_io_header(read, error, magic_required=True):
    """Read the (optional) version line and the IOHeader from ``read``.

    Parameters
    ----------
    read : callable
        ``read(n) -> bytes``; fewer than n bytes only at the end of the stream.
    error : callable
        ``error(message, byte_offset) -> Exception``.
    magic_required : bool
        Files need ``#!AER-DAT4.0\\r\\n``; network streams start at the header size (a version
        line is tolerated).

    Returns
    -------
    header : dict
        :func:`parse_io_header`'s fields plus ``streams`` (:func:`parse_info_node`) and
        ``first_packet`` (byte offset of the first packet).
    """
    offset = 0
    head = read(4)
    if head == MAGIC[:4]:
        rest = read(len(MAGIC) - 4)
        if head + rest != MAGIC:
            raise error(f"bad version line {head + rest!r}, expected {MAGIC!r}", 0)
        offset = len(MAGIC)
        head = read(4)
    elif magic_required:
        raise error(f"bad version line {head + read(len(MAGIC) - 4)!r}, expected {MAGIC!r}", 0)
    if len(head) < 4:
        raise error("truncated: the stream ends before the IOHeader size", offset)
    size = int.from_bytes(head, "little", signed=True)
    if size <= 0 or size > MAX_PACKET_BYTES:
        raise error(f"bad IOHeader size {size}", offset)
    buf = read(size)
    if len(buf) < size:
        raise error(f"truncated IOHeader: {size} bytes declared, {len(buf)} present", offset)
    try:
        header = parse_io_header(buf)
    except FlatbufferError as exc:
        raise error(f"corrupt IOHeader: {exc}", offset) from None
    if not 0 <= header["compression"] < len(COMPRESSIONS):
        raise error(f"unknown compression type {header['compression']} in the IOHeader", offset)
    try:
        header["streams"] = parse_info_node(header["info_node"]) if header["info_node"].strip() else []
    except ET.ParseError as exc:
        raise error(f"unreadable infoNode XML in the IOHeader: {exc}", offset) from None
    header["first_packet"] = offset + 4 + size
    return header


def events_stream(streams):
    """The first events stream (``typeIdentifier`` EVTS, lowest id), or None."""
    evts = [s for s in streams if s["type"] == "EVTS"]
    return evts[0] if evts else None


def iter_packets(read, offset, error, stop=-1, total=None, want=None, skip=None):
    """Yield ``(offset, stream_id, payload)`` for each packet; ``payload`` is None when not wanted.

    Parameters
    ----------
    read, error : callable
        As in :func:`read_io_header`.
    offset : int
        Byte offset of the first packet (for messages and ``stop``).
    stop : int
        Offset where packets end (the data table), or -1: until a clean end of stream.
    total : int, optional
        Length of the whole stream when known (a file): truncation is caught before reading.
    want : callable, optional
        ``want(stream_id) -> bool``; unwanted payloads are skipped with ``skip(n)``
        (``read`` when not given).
    """
    while stop < 0 or offset < stop:
        head = read(8)
        if not head:
            if stop >= 0:
                raise error(f"truncated: the stream ends before the data table at byte {stop}", offset)
            return
        if len(head) < 8:
            raise error(f"truncated packet header ({len(head)} of 8 bytes)", offset)
        sid, size = PACKET_HEADER.unpack(head)
        if sid < 0 or size < 0:
            raise error(f"bad packet header: stream id {sid}, size {size}", offset)
        end = offset + 8 + size
        if total is not None and end > total:
            raise error(f"truncated packet: stream {sid} declares {size} payload bytes, "
                        f"only {max(total - offset - 8, 0)} present", offset)
        if total is None and size > MAX_PACKET_BYTES:
            raise error(f"bad packet size {size} (stream {sid})", offset)
        if stop >= 0 and end > stop:
            raise error(f"packet of {size} bytes (stream {sid}) runs past the data table at byte {stop}", offset)
        if want is not None and not want(sid):
            got = skip(size) if skip is not None else len(read(size))
            payload = None
        else:
            payload = read(size)
            got = len(payload)
        if got < size:
            raise error(f"truncated packet: stream {sid} declares {size} payload bytes, only {got} present", offset)
        yield offset, sid, payload
        offset = end


class EventPacketDecoder:
    """Decode the events packets of one stream: decompress, parse, check coordinates.

    Parameters
    ----------
    compression : int
        IOHeader enum value.
    stream_id : int
        Stream whose packets are decoded.
    sensor_size : tuple, optional
        (width, height); events outside it raise.
    error : callable
        ``error(message, byte_offset) -> Exception``.
    """

    def __init__(self, compression, stream_id, sensor_size, error):
        self.compression = compression
        self.stream_id = stream_id
        self.sensor_size = sensor_size
        self.error = error
        #: events decoded so far (global index of the next event)
        self.n_events = 0

    def raw(self, offset, payload):
        """The checked raw ``Event`` structs (RAW_EVENT_DTYPE) of the packet at ``offset``."""
        try:
            buf = decompress(payload, self.compression)
        except InputFormatError:
            raise
        except Exception as exc:  # lz4 raises RuntimeError, zstandard ZstdError
            raise self.error(f"corrupt {COMPRESSIONS[self.compression]} data in the packet of stream "
                             f"{self.stream_id}: {exc}", offset) from None
        try:
            raw = decode_event_packet(buf)
        except FlatbufferError as exc:
            raise self.error(f"corrupt events packet (stream {self.stream_id}): {exc}", offset) from None
        if raw.shape[0]:
            self._check(raw, offset)
        self.n_events += raw.shape[0]
        return raw

    def __call__(self, offset, payload):
        """EVENT_DTYPE array of the packet at ``offset``."""
        return raw_to_events(self.raw(offset, payload))

    def _check(self, raw, offset):
        size = self.sensor_size
        for k, f in enumerate(("x", "y")):
            # one comparison: negative int16 values read as uint16 are >= 32768
            limit = min(int(size[k]), 32768) if size is not None and len(size) > k else 32768
            v = raw[f].view(np.uint16)
            bad = v >= limit
            if bad.any():
                i = int(np.argmax(bad))
                value = int(raw[f][i])
                where = f"outside the sensor size {tuple(size)}" if value >= 0 else "negative"
                raise self.error(f"event {self.n_events + i} has {f} = {value} {where}", offset)


# ---------------------------------------------------------------------------------------------
# file reader and writer

@register("aedat4", extensions=(".aedat4",), sniff=lambda head, path: head.startswith(MAGIC[:12]))
class Aedat4Reader(EventReader):
    """Streaming reader of AEDAT 4.0 files (iniVation DV): the first events stream.

    Packets are read sequentially up to the data table; only the events stream's packets are
    decompressed. Times are absolute Unix microseconds (``tick_us = 1``).

    Options
    -------
    block_events : int, optional
        Consecutive packets are merged into blocks of about this many events
        (default :data:`~spikeengine.io.events.BLOCK_EVENTS`).

    Examples
    --------
    >>> import os, tempfile
    >>> from spikeengine.io import Events, read_events
    >>> ev = Events.from_arrays(t=[1605537493718345, 1605537493718348], x=[154, 149], y=[204, 206], p=[0, 1],
    ...                         sensor_size=(320, 240))
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.aedat4")
    >>> write_aedat4(ev, path, compression="none")
    >>> back = read_events(path)
    >>> back.format, back.sensor_size, back.t.tolist(), back.x.tolist(), back.p.tolist()
    ('aedat4', (320, 240), [1605537493718345, 1605537493718348], [154, 149], [0, 1])
    """

    def _open(self):
        opts = dict(self.options)
        self.block_events = int(opts.pop("block_events", BLOCK_EVENTS))
        if opts:
            raise ParameterError(f"aedat4: unknown option(s) {sorted(opts)}; known: block_events")
        if self.block_events < 1:
            raise ParameterError(f"aedat4: block_events must be >= 1, got {self.block_events}")
        self.tick_us = 1.0
        with open(self.path, "rb") as f:
            self._file_size = os.fstat(f.fileno()).st_size
            header = read_io_header(f.read, self._error, magic_required=True)
        stream = events_stream(header["streams"])
        if stream is None:
            kinds = ", ".join(f"{s['id']}: {s['type']}" for s in header["streams"]) or "none"
            raise self._error(f"no events (EVTS) stream in the header (streams: {kinds})", len(MAGIC))
        if self.sensor_size is None and stream["size"] is not None:
            self.sensor_size = stream["size"]
        self._header = header
        #: the events stream read (a dict of :func:`parse_info_node`)
        self.stream = stream
        #: IOHeader compression enum value
        self.compression = header["compression"]
        self.meta = {"compression": COMPRESSIONS[header["compression"]],
                     "data_table_position": header["data_table_position"],
                     "streams": {s["id"]: s["type"] for s in header["streams"]},
                     "events_stream": stream["id"], "camera": stream["source"], "ts_offset": stream["ts_offset"]}

    def raw_packets(self):
        """Yield ``(byte_offset, payload)`` for each events-stream packet, payload as stored (compressed)."""
        h = self._header
        sid = self.stream["id"]
        with open(self.path, "rb") as f:
            f.seek(h["first_packet"])

            def skip(n):
                f.seek(n, os.SEEK_CUR)
                return n

            for offset, _sid, payload in iter_packets(f.read, h["first_packet"], self._error,
                                                      stop=h["data_table_position"], total=self._file_size,
                                                      want=lambda s: s == sid, skip=skip):
                if payload is not None:
                    yield offset, payload

    def packets(self):
        """Yield ``(byte_offset, EVENT_DTYPE array)`` for each packet of the events stream."""
        decoder = EventPacketDecoder(self.compression, self.stream["id"], self.sensor_size, self._error)
        for offset, payload in self.raw_packets():
            yield offset, decoder(offset, payload)

    def _blocks(self):
        # packets are decoded straight into a preallocated block (one copy per event); block sizes grow
        # geometrically from 64 Ki events up to block_events, so short files allocate little
        decoder = EventPacketDecoder(self.compression, self.stream["id"], self.sensor_size, self._error)
        block, filled, alloc = None, 0, 1 << 15
        for offset, payload in self.raw_packets():
            raw = decoder.raw(offset, payload)
            n = raw.shape[0]
            if not n:
                continue
            if block is not None and filled + n > block.shape[0]:
                yield block[:filled]
                block, filled = None, 0
            if block is None:
                alloc = min(self.block_events, 2 * alloc)
                block = np.empty(max(alloc, n), EVENT_DTYPE)
            raw_to_events(raw, block[filled:filled + n])
            filled += n
            if filled >= alloc:
                yield block[:filled]
                block, filled = None, 0
        if filled:
            yield block[:filled]


def encode_events_packets(events, stream_id=0, compression=0, packet_events=PACKET_EVENTS):
    """Yield framed packets (header + compressed EVTS flatbuffer) for ``events`` (Events or array)."""
    data = events.data if hasattr(events, "data") else np.asarray(events)
    if int(packet_events) < 1:
        raise ParameterError(f"aedat4: packet_events must be >= 1, got {packet_events!r}")
    for k in range(0, data.shape[0], int(packet_events)):
        body = compress(encode_event_packet(data[k:k + int(packet_events)]), compression)
        yield PACKET_HEADER.pack(stream_id, len(body)) + body


def write_aedat4(events, path, compression="lz4", packet_events=PACKET_EVENTS, source="spikeengine"):
    """Write ``events`` (:class:`~spikeengine.io.Events`) as an AEDAT 4.0 file with one events stream.

    The header's ``dataTablePosition`` is -1 (no table; DV readers then index the packets
    themselves), so files stay valid when a writer is interrupted.

    Parameters
    ----------
    events : Events
        Times must be in microseconds (``tick_us == 1``); x/y in [0, 32767].
    path : str or path-like
    compression : str
        ``"none"``, ``"lz4"``, ``"lz4_high"``, ``"zstd"`` or ``"zstd_high"``.
    packet_events : int
        Events per packet.
    source : str
        Camera name written to the info node.
    """
    code = compression_code(compression)
    if getattr(events, "tick_us", 1.0) != 1.0:
        raise ParameterError(f"write_aedat4: events must be in microsecond ticks, got tick_us={events.tick_us}")
    data = events.data
    for f in ("x", "y"):
        if data.shape[0] and data[f].max() > 32767:
            raise ParameterError(f"write_aedat4: {f} values above 32767 do not fit AEDAT4's int16")
    stream = {"id": 0, "type": "EVTS", "name": "events", "size": events.sensor_size, "source": source,
              "ts_offset": 0}
    with open(os.fspath(path), "wb") as f:
        f.write(MAGIC)
        f.write(encode_io_header(info_node_xml([stream], code), code, -1))
        for packet in encode_events_packets(events, 0, code, packet_events):
            f.write(packet)


__all__ = ["Aedat4Reader", "COMPRESSIONS", "EventPacketDecoder", "MAGIC", "RAW_EVENT_DTYPE", "compress",
           "compression_code", "decode_event_packet", "decompress", "encode_event_packet", "encode_events_packets",
           "encode_io_header", "events_stream", "info_node_xml", "iter_packets", "parse_info_node", "parse_io_header",
           "raw_to_events", "read_io_header", "write_aedat4"]
