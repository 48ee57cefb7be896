"""Live event sources: AEDAT 4 network streams (iniVation DV) and UDP event datagrams.

Both yield the same :class:`~spikeengine.io.Events` chunks as the file readers (``t`` in
microseconds, raw x/y, polarity), one per received packet or datagram, and both support
``chunks(n_events=..., window_us=...)``. A source that receives nothing for ``timeout``
seconds raises :class:`StreamTimeout` (an :class:`~spikeengine.errors.InputFormatError` and a
:class:`TimeoutError`) naming the address, instead of hanging.

AEDAT 4 over TCP / UNIX sockets
-------------------------------
DV's "Output to network (TCP)" / "Output to UNIX socket" modules and dv-processing's
``dv::io::NetworkWriter`` send, to every client that connects: the IOHeader flatbuffer with
its i32 little-endian size prefix but *without* the ``#!AER-DAT4.0`` version line (in
dv-processing the version line is written only by ``WriteOnlyFile`` and checked only by
``ReadOnlyFile``; the network reader and writer start at the header), its infoNode listing the
one stream of the output module; then packets exactly as in a file (``streamId`` i32,
``size`` i32, compressed size-prefixed flatbuffer); no data table. The stream ends when the
server closes the connection. :class:`Aedat4Client` reads that framing (a version line, if a
server sends one, is skipped), and :class:`Aedat4Server` / :func:`serve_aedat4` produce it
from a recording. The packet codec is :mod:`spikeengine.io.aedat4`'s.

UDP datagrams
-------------
:class:`UdpEventSource` receives datagrams of packed little-endian events in faery's
``t64_x16_y16_on8`` layout (t int64, x uint16, y uint16, on uint8: 13 bytes per event, no
header), as ``faery ... .to_udp(...)`` sends them. Drop policy: a datagram whose length is not
a multiple of 13 is dropped whole and counted in ``dropped_datagrams``; events outside a given
``sensor_size`` are dropped and counted in ``dropped_events``. UDP itself may lose or reorder
datagrams; nothing here can detect that.
"""

import os
import socket
import stat
import threading
import time

import numpy as np

from ..errors import InputFormatError, ParameterError
from .aedat4 import (
    COMPRESSIONS,
    PACKET_EVENTS,
    PACKET_HEADER,
    EventPacketDecoder,
    compression_code,
    encode_events_packets,
    encode_io_header,
    events_stream,
    info_node_xml,
    iter_packets,
    raw_to_events,
    read_io_header,
)
from .events import Events, EventSource


class StreamTimeout(InputFormatError, TimeoutError):
    """A live source received nothing for longer than its ``timeout``."""


def _parse_address(address):
    """(family, sockaddr, label) of a (host, port) tuple, ``tcp://host:port``, or a UNIX socket path."""
    if isinstance(address, (tuple, list)):
        if len(address) < 2:
            raise ParameterError(f"address must be (host, port) or a UNIX socket path, got {address!r}")
        host, port = str(address[0]), int(address[1])
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        label = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        return family, (host, port) + tuple(address[2:]), f"tcp://{label}"
    if isinstance(address, (str, os.PathLike)):
        text = os.fspath(address)
        if text.startswith("tcp://"):
            host, _, port = text[6:].rpartition(":")
            if not port.isdigit():
                raise ParameterError(f"address {text!r}: expected tcp://host:port")
            return _parse_address((host.strip("[]"), int(port)))
        if text.startswith("unix://"):
            text = text[7:]
        if not hasattr(socket, "AF_UNIX"):  # pragma: no cover - Windows
            raise ParameterError("UNIX sockets are not available on this platform; give (host, port)")
        return socket.AF_UNIX, text, f"unix://{text}"
    raise ParameterError(f"address must be (host, port) or a UNIX socket path, got {address!r}")


class Aedat4Client(EventSource):
    """Receive an AEDAT 4 event stream from a DV network / UNIX-socket output or a :class:`Aedat4Server`.

    Connects and reads the IOHeader on construction; iterating yields one :class:`Events`
    per events packet until the server closes the connection.

    Parameters
    ----------
    address : tuple or str
        ``(host, port)`` (or ``"tcp://host:port"``) for TCP, a file-system path for a UNIX socket.
    timeout : float
        Seconds without any byte received (also for connecting) before :class:`StreamTimeout`.
    sensor_size : tuple, optional
        (width, height) overriding the stream's ``sizeX``/``sizeY``; events outside it raise.

    Attributes
    ----------
    source : str
        The address as text (``tcp://host:port`` or ``unix://path``), used in every message.
    meta : dict
        Compression, stream ids and types, camera name from the header.
    bytes_received : int
        Byte offset reached in the stream.

    Examples
    --------
    A loopback round trip (not run as a doctest: it opens sockets)::

        from spikeengine.io import read_events
        from spikeengine.io.live import Aedat4Client, serve_aedat4
        with serve_aedat4("recording.aedat4") as server, Aedat4Client(server.address) as client:
            for chunk in client:           # Events, one per packet
                ...
    """

    def __init__(self, address, timeout=5.0, sensor_size=None):
        self.family, self.sockaddr, self.source = _parse_address(address)
        if not (timeout is None or timeout > 0):
            raise ParameterError(f"Aedat4Client: timeout must be > 0 seconds, got {timeout!r}")
        self.timeout = timeout
        self.bytes_received = 0
        self.tick_us = 1.0
        self._sock = socket.socket(self.family, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(self.sockaddr)
        except TimeoutError:
            self._sock.close()
            raise StreamTimeout(f"{self.source}: aedat4: no connection within {timeout} s") from None
        except OSError as exc:
            self._sock.close()
            raise InputFormatError(f"{self.source}: aedat4: cannot connect: {exc.strerror or exc}") from None
        try:
            header = read_io_header(self._read, self._error, magic_required=False)
            stream = events_stream(header["streams"])
            if stream is None:
                kinds = ", ".join(f"{s['id']}: {s['type']}" for s in header["streams"]) or "none"
                raise self._error(f"no events (EVTS) stream in the header (streams: {kinds})", 0)
        except BaseException:
            self.close()
            raise
        self.sensor_size = tuple(int(s) for s in sensor_size) if sensor_size is not None else stream["size"]
        self._header = header
        self._stream = stream
        self.meta = {"compression": COMPRESSIONS[header["compression"]],
                     "streams": {s["id"]: s["type"] for s in header["streams"]},
                     "events_stream": stream["id"], "camera": stream["source"], "ts_offset": stream["ts_offset"]}
        self._decoder = EventPacketDecoder(header["compression"], stream["id"], self.sensor_size, self._error)
        self._offset = header["first_packet"]

    def _error(self, what, offset=None):
        where = f" at byte {offset}" if offset is not None else ""
        return InputFormatError(f"{self.source}: aedat4 stream{where}: {what}")

    def _read(self, n):
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            try:
                k = self._sock.recv_into(view[got:], n - got)
            except TimeoutError:
                raise StreamTimeout(f"{self.source}: aedat4 stream stalled: nothing received for {self.timeout} s "
                                    f"(at byte {self.bytes_received + got})") from None
            except OSError as exc:
                raise InputFormatError(f"{self.source}: aedat4 stream at byte {self.bytes_received + got}: "
                                       f"connection error: {exc.strerror or exc}") from None
            if k == 0:
                break
            got += k
        self.bytes_received += got
        return buf if got == n else buf[:got]

    def _skip(self, n):
        left = n
        while left:
            chunk = self._read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
        return n - left

    def packets(self):
        """Yield the EVENT_DTYPE array of each events packet (possibly empty)."""
        if self._sock is None:
            return
        sid = self._stream["id"]
        # a DV stream has no data table (-1); a whole .aedat4 file sent raw (e.g. with netcat) stops at its table
        stop = self._header["data_table_position"]
        for offset, _sid, payload in iter_packets(self._read, self._offset, self._error, stop=stop,
                                                  want=lambda s: s == sid, skip=self._skip):
            self._offset = offset
            if payload is not None:
                yield self._decoder(offset, payload)
        self.close()

    def _blocks(self):
        return (b for b in self.packets() if b.shape[0])

    def _wrap(self, data):
        return Events(data, 1.0, self.sensor_size, "aedat4", self.source)

    def close(self):
        """Close the connection (iteration then ends)."""
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __repr__(self):
        return f"<Aedat4Client {self.source}, sensor {self.sensor_size}, {self._decoder.n_events} events received>"


class Aedat4Server:
    """Replay a recording over TCP or a UNIX socket in DV's AEDAT 4 network framing.

    Every client that connects gets the IOHeader (one events stream, id 0, no version line),
    then the events packets, then the connection is closed. From an ``.aedat4`` path the
    file's events packets are sent unchanged (same compression); :class:`Events` are encoded
    into packets of ``packet_events`` events.

    Parameters
    ----------
    source : str, path-like or Events
        A recording (any format :func:`~spikeengine.io.read_events` reads; ``.aedat4`` files are
        passed through packet by packet) or decoded events (``tick_us`` must be 1).
    address : tuple or str
        Where to listen: ``(host, port)`` (port 0 picks a free one) or a UNIX socket path.
    compression : str, optional
        For encoded events: ``"none"`` (default), ``"lz4"``, ``"lz4_high"``, ``"zstd"``, ``"zstd_high"``.
    packet_events : int
        Events per packet for encoded events.
    speed : float, optional
        Pace packets in recording time (1.0 = real time, 2.0 = twice as fast); None sends as
        fast as possible.

    Attributes
    ----------
    address : tuple or str
        The bound address (with the actual port), ready for :class:`Aedat4Client`.
    clients_served : int
    """

    def __init__(self, source, address=("127.0.0.1", 0), compression=None, packet_events=PACKET_EVENTS, speed=None):
        self.family, sockaddr, _ = _parse_address(address)
        if speed is not None and not speed > 0:
            raise ParameterError(f"Aedat4Server: speed must be > 0 or None, got {speed!r}")
        self.speed = speed
        self.packet_events = int(packet_events)
        self._prepare(source, compression)
        self._listener = socket.socket(self.family, socket.SOCK_STREAM)
        if self.family != socket.AF_UNIX:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        elif os.path.exists(sockaddr) and stat.S_ISSOCK(os.stat(sockaddr).st_mode):
            os.unlink(sockaddr)  # a stale socket file left by a previous server
        try:
            self._listener.bind(sockaddr)
        except OSError as exc:
            self._listener.close()
            raise ParameterError(f"Aedat4Server: cannot listen on {address!r}: {exc.strerror or exc}") from None
        self._listener.listen(8)
        self._listener.settimeout(0.05)
        bound = self._listener.getsockname()
        self.address = bound if self.family == socket.AF_UNIX else (bound[0], bound[1])
        self._unix_path = bound if self.family == socket.AF_UNIX else None
        self.clients_served = 0
        self._closed = threading.Event()
        self._thread = None
        self._handlers = []

    def _prepare(self, source, compression):
        from . import open_events

        self._reader = None
        if isinstance(source, Events):
            if source.tick_us != 1.0:
                raise ParameterError(f"Aedat4Server: events must be in microsecond ticks, got tick_us={source.tick_us}")
            self._events = source
        else:
            reader = open_events(source)
            if reader.format == "aedat4" and compression is None:
                self._reader = reader
                self._compression = reader.compression
                stream = dict(reader.stream, id=0)
                self._header = encode_io_header(info_node_xml([stream], self._compression), self._compression, -1)
                return
            self._events = reader.read()
            if self._events.tick_us != 1.0:
                raise ParameterError(f"Aedat4Server: {source}: AEDAT4 needs microsecond ticks; this recording has "
                                     f"{self._events.tick_us} us ticks")
        self._compression = compression_code("none" if compression is None else compression)
        stream = {"id": 0, "type": "EVTS", "name": "events", "size": self._events.sensor_size,
                  "source": "spikeengine", "ts_offset": 0}
        self._header = encode_io_header(info_node_xml([stream], self._compression), self._compression, -1)

    def _packets(self):
        """Yield (first event time or None, framed packet bytes)."""
        if self._reader is None:
            data = self._events.data
            for k, packet in enumerate(encode_events_packets(data, 0, self._compression, self.packet_events)):
                yield int(data["t"][k * self.packet_events]), packet
            return
        for _offset, payload in self._reader.raw_packets():
            yield None, PACKET_HEADER.pack(0, len(payload)) + payload

    def start(self):
        """Start accepting clients in a background thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="Aedat4Server", daemon=True)
            self._thread.start()
        return self

    def _serve(self):
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                break
            handler = threading.Thread(target=self._send, args=(conn,), daemon=True)
            self._handlers.append(handler)
            handler.start()

    def _send(self, conn):
        try:
            conn.settimeout(None)
            conn.sendall(self._header)
            t0 = start = None
            for t, packet in self._packets():
                if self._closed.is_set():
                    return
                if self.speed is not None and t is not None:
                    if t0 is None:
                        t0, start = t, time.monotonic()
                    wait = (t - t0) / 1e6 / self.speed - (time.monotonic() - start)
                    if wait > 0:
                        time.sleep(wait)
                conn.sendall(packet)
            self.clients_served += 1
        except OSError:
            pass  # the client went away
        finally:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def close(self):
        """Stop accepting clients, wait for the running transfers, remove a UNIX socket file."""
        self._closed.set()
        if self._thread is not None:
            self._thread.join()
        for h in self._handlers:
            h.join(timeout=5.0)
        self._listener.close()
        if self._unix_path and os.path.exists(self._unix_path):
            os.unlink(self._unix_path)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def serve_aedat4(events_or_path, address=("127.0.0.1", 0), **options):
    """Start an :class:`Aedat4Server` for ``events_or_path`` on ``address``; returns it (use ``with``).

    Parameters
    ----------
    events_or_path : Events, str or path-like
    address : tuple or str
        ``(host, port)`` or a UNIX socket path; port 0 picks a free port (see ``server.address``).
    **options
        ``compression``, ``packet_events``, ``speed`` (see :class:`Aedat4Server`).
    """
    return Aedat4Server(events_or_path, address, **options).start()


# ---------------------------------------------------------------------------------------------
# UDP

#: packed UDP event layouts, by faery's format name
UDP_FORMATS = {"t64_x16_y16_on8": np.dtype([("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("on", "u1")])}
#: events per datagram sent by :func:`send_udp_events` (1300-byte payloads fit a 1500-byte MTU)
UDP_EVENTS_PER_DATAGRAM = 100


def _udp_dtype(format):
    if format not in UDP_FORMATS:
        raise ParameterError(f"UDP format {format!r} is not supported; known: {', '.join(UDP_FORMATS)}")
    return UDP_FORMATS[format]


def encode_udp_events(events, format="t64_x16_y16_on8"):
    """Packed bytes of ``events`` (Events or EVENT_DTYPE array) in a UDP event layout.

    Examples
    --------
    >>> ev = Events.from_arrays(t=[5, 7], x=[1, 2], y=[3, 4], p=[1, 0])
    >>> raw = encode_udp_events(ev)
    >>> len(raw), decode_udp_events(raw)["t"].tolist()
    (26, [5, 7])
    """
    data = events.data if isinstance(events, Events) else np.asarray(events)
    out = np.empty(data.shape[0], _udp_dtype(format))
    out["t"] = data["t"]
    out["x"] = data["x"]
    out["y"] = data["y"]
    out["on"] = data["p"] > 0
    return out.tobytes()


def decode_udp_events(payload, format="t64_x16_y16_on8"):
    """EVENT_DTYPE array of a datagram payload (its length must be a multiple of the event size)."""
    dtype = _udp_dtype(format)
    if len(payload) % dtype.itemsize:
        raise InputFormatError(f"UDP datagram of {len(payload)} bytes is not a whole number of "
                               f"{dtype.itemsize}-byte {format} events")
    return raw_to_events(np.frombuffer(payload, dtype))


class UdpEventSource(EventSource):
    """Receive packed events from UDP datagrams (faery's ``t64_x16_y16_on8``), one :class:`Events` per datagram.

    Binds on construction, so a sender may start right after. See the module docstring for the
    drop policy.

    Parameters
    ----------
    address : tuple
        ``(host, port)`` to bind; port 0 picks a free one (see ``.address``).
    timeout : float
        Seconds without a datagram before ``on_timeout`` applies.
    format : str
        Event layout; only ``"t64_x16_y16_on8"`` (13 bytes per event).
    sensor_size : tuple, optional
        (width, height); events outside are dropped and counted.
    on_timeout : {"raise", "stop"}
        Raise :class:`StreamTimeout` (default), or end the iteration (a sender that has finished).
    recv_buffer : int
        Requested kernel receive buffer in bytes (absorbs bursts).

    Attributes
    ----------
    received_datagrams, dropped_datagrams, received_events, dropped_events : int
        Counters (the drop policy).
    """

    def __init__(self, address=("127.0.0.1", 0), timeout=1.0, format="t64_x16_y16_on8", sensor_size=None,
                 on_timeout="raise", recv_buffer=1 << 22):
        self._dtype = _udp_dtype(format)
        self.format = format
        if on_timeout not in ("raise", "stop"):
            raise ParameterError(f"UdpEventSource: on_timeout must be 'raise' or 'stop', got {on_timeout!r}")
        if not (timeout is None or timeout > 0):
            raise ParameterError(f"UdpEventSource: timeout must be > 0 seconds, got {timeout!r}")
        family, sockaddr, _ = _parse_address(address)
        if family == getattr(socket, "AF_UNIX", None):
            raise ParameterError(f"UdpEventSource: address must be (host, port), got {address!r}")
        self.timeout = timeout
        self.on_timeout = on_timeout
        self.sensor_size = None if sensor_size is None else tuple(int(s) for s in sensor_size)
        self.tick_us = 1.0
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(recv_buffer))
        except OSError:  # pragma: no cover - platform limits
            pass
        try:
            self._sock.bind(sockaddr)
        except OSError as exc:
            self._sock.close()
            raise ParameterError(f"UdpEventSource: cannot bind {address!r}: {exc.strerror or exc}") from None
        self._sock.settimeout(timeout)
        bound = self._sock.getsockname()
        self.address = (bound[0], bound[1])
        self.source = f"udp://{bound[0]}:{bound[1]}"
        self.received_datagrams = 0
        self.dropped_datagrams = 0
        self.received_events = 0
        self.dropped_events = 0

    def _blocks(self):
        size = self._dtype.itemsize
        while self._sock is not None:
            try:
                payload = self._sock.recv(65535)
            except TimeoutError:
                if self.on_timeout == "stop":
                    return
                raise StreamTimeout(f"{self.source}: no UDP datagram for {self.timeout} s "
                                    f"({self.received_datagrams} received)") from None
            except OSError:
                return  # closed
            self.received_datagrams += 1
            if len(payload) % size:
                self.dropped_datagrams += 1
                continue
            data = decode_udp_events(payload, self.format)
            if self.sensor_size is not None and data.shape[0]:
                keep = (data["x"] < self.sensor_size[0])
                if len(self.sensor_size) > 1:
                    keep &= data["y"] < self.sensor_size[1]
                if not keep.all():
                    self.dropped_events += int((~keep).sum())
                    data = data[keep]
            self.received_events += data.shape[0]
            if data.shape[0]:
                yield data

    def _wrap(self, data):
        return Events(data, 1.0, self.sensor_size, "udp", self.source)

    def close(self):
        """Release the socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def send_udp_events(events, address, events_per_datagram=UDP_EVENTS_PER_DATAGRAM, format="t64_x16_y16_on8",
                    pause=0.0):
    """Send ``events`` to ``address`` = (host, port) as UDP datagrams; returns the number of datagrams.

    ``pause`` (seconds) between datagrams lets a slow receiver keep up.
    """
    n = int(events_per_datagram)
    if n < 1:
        raise ParameterError(f"send_udp_events: events_per_datagram must be >= 1, got {events_per_datagram!r}")
    family, sockaddr, _ = _parse_address(address)
    raw = encode_udp_events(events, format)
    step = n * _udp_dtype(format).itemsize
    count = 0
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        for k in range(0, len(raw), step):
            sock.sendto(raw[k:k + step], sockaddr)
            count += 1
            if pause:
                time.sleep(pause)
    return count


__all__ = ["Aedat4Client", "Aedat4Server", "StreamTimeout", "UDP_FORMATS", "UdpEventSource",
           "decode_udp_events", "encode_udp_events", "send_udp_events", "serve_aedat4"]
