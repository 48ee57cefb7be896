"""AEDAT 4.0 reader (sample recordings vs MANIFEST.json), AEDAT 4 network client/server, UDP source."""

import json
import os
import shutil
import socket
import struct
import tempfile
import threading
import time

import numpy as np
import pytest

from spikeengine.errors import InputFormatError, ParameterError
from spikeengine.io import Events, detect_format, iter_events, open_events, read_events
from spikeengine.io.aedat4 import (
    MAGIC,
    compression_code,
    encode_events_packets,
    encode_io_header,
    info_node_xml,
    parse_io_header,
    write_aedat4,
)
from spikeengine.io.live import (
    Aedat4Client,
    Aedat4Server,
    StreamTimeout,
    UdpEventSource,
    send_udp_events,
    serve_aedat4,
)

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
EVENTS_DIR = os.path.join(SHARED, "events")
SAMPLES = ["aedat4_dvxplorer_320x240_tonic_sample.aedat4", "aedat4_davis346_events_frames_aestream.aedat4"]
needs_data = pytest.mark.skipif(not os.path.isfile(os.path.join(EVENTS_DIR, "MANIFEST.json")),
                                reason=f"shared sample recordings not found in {os.path.abspath(EVENTS_DIR)}")


def manifest(name):
    with open(os.path.join(EVENTS_DIR, "MANIFEST.json")) as f:
        entries = json.load(f)["files"]
    return next(e for e in entries if e["file"] == name)


def sample(name):
    return os.path.join(EVENTS_DIR, name)


def synthetic(n=20000, size=(128, 96), seed=3):
    rng = np.random.default_rng(seed)
    t = 1_700_000_000_000_000 + np.cumsum(rng.integers(0, 5, n))
    return Events.from_arrays(t=t, x=rng.integers(0, size[0], n), y=rng.integers(0, size[1], n),
                              p=rng.integers(0, 2, n), sensor_size=size)


def packet_offsets(path):
    """(offset, stream id, size) of every packet before the data table, by plain struct parsing."""
    with open(path, "rb") as f:
        data = f.read()
    hsize = struct.unpack_from("<i", data, len(MAGIC))[0]
    dtp = parse_io_header(data[len(MAGIC) + 4:len(MAGIC) + 4 + hsize])["data_table_position"]
    end = dtp if dtp >= 0 else len(data)
    off = len(MAGIC) + 4 + hsize
    out = []
    while off + 8 <= end:
        sid, size = struct.unpack_from("<ii", data, off)
        if off + 8 + size > len(data) or size < 0:
            break
        out.append((off, sid, size))
        off += 8 + size
    return out


# ------------------------------------------------------------------------------------------------
# the sample files against the manifest


@needs_data
@pytest.mark.parametrize("name", SAMPLES)
def test_sample_matches_manifest(name):
    m = manifest(name)
    path = sample(name)
    assert detect_format(path) == "aedat4"
    ev = read_events(path)
    assert ev.format == "aedat4" and ev.tick_us == 1.0
    assert len(ev) == m["n_events"]
    assert int(ev.t[0]) == m["t_first"] and int(ev.t[-1]) == m["t_last"]
    assert int(ev.t.min()) == m["t_min"] and int(ev.t.max()) == m["t_max"]
    assert bool(np.all(np.diff(ev.t) >= 0)) == m["t_monotonic_nondecreasing"]
    assert (int(ev.x.min()), int(ev.x.max()), int(ev.y.min()), int(ev.y.max())) == \
        (m["x_min"], m["x_max"], m["y_min"], m["y_max"])
    counts = {str(k): int(v) for k, v in zip(*np.unique(ev.p, return_counts=True))}
    assert counts == m["polarity_counts"]
    assert list(ev.sensor_size) == m["sensor_size"]
    assert ev.checksum() == m["checksum_t_x_y_p_sha256"]
    first = [[int(e["t"]), int(e["x"]), int(e["y"]), int(e["p"])] for e in ev.data[:len(m["first_events_t_x_y_p"])]]
    assert first == m["first_events_t_x_y_p"]


@needs_data
@pytest.mark.parametrize("name", SAMPLES)
def test_sample_header_and_packets(name):
    m = manifest(name)
    with open_events(sample(name)) as r:
        assert r.meta["compression"] == "LZ4"
        assert r.meta["events_stream"] == 0
        assert {str(k): v for k, v in r.meta["streams"].items()}.keys() == m["streams"].keys()
        assert r.meta["camera"] == m["camera_name"]
        sizes = [d.shape[0] for _off, d in r.packets()]
    assert len(sizes) == m["cross_checks"]["n_packets_event_stream"]
    assert sum(sizes) == m["n_events"]


@needs_data
@pytest.mark.parametrize("name", SAMPLES)
def test_sample_chunked_reading(name):
    m = manifest(name)
    path = sample(name)
    parts = list(iter_events(path, n_events=7777))
    assert all(len(p) == 7777 for p in parts[:-1]) and 0 < len(parts[-1]) <= 7777
    assert Events.concatenate(parts).checksum() == m["checksum_t_x_y_p_sha256"]
    wins = list(iter_events(path, window_us=20_000))
    t0 = m["t_first"]
    for w in wins:
        k = (w.t - t0) // 20_000
        assert k.min() == k.max()
    assert Events.concatenate(wins).checksum() == m["checksum_t_x_y_p_sha256"]
    small = list(iter_events(path, block_events=1))  # one block per packet
    assert len(small) == m["cross_checks"]["n_packets_event_stream"]
    assert Events.concatenate(small).checksum() == m["checksum_t_x_y_p_sha256"]


# ------------------------------------------------------------------------------------------------
# writer round trips and damaged files


@pytest.mark.parametrize("compression", ["none", "lz4", "lz4_high", "zstd", "zstd_high"])
def test_write_read_round_trip(tmp_path, compression):
    ev = synthetic()
    path = tmp_path / f"syn_{compression}.aedat4"
    write_aedat4(ev, path, compression=compression, packet_events=3000)
    back = read_events(path)
    assert back.sensor_size == ev.sensor_size
    assert back.checksum() == ev.checksum()
    with open_events(path) as r:
        assert r.meta["compression"] == compression.upper()
        assert r.meta["data_table_position"] == -1


def test_reader_options_validated(tmp_path):
    path = tmp_path / "a.aedat4"
    write_aedat4(synthetic(100), path)
    with pytest.raises(ParameterError, match="unknown option"):
        open_events(path, bogus=1)
    with pytest.raises(ParameterError, match="compression"):
        compression_code("brotli")


def _damaged(src, tmp_path, name, edit):
    data = bytearray(open(src, "rb").read())
    data = edit(data)
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return str(path)


@pytest.fixture
def recording(tmp_path):
    """A real sample when available, else a synthetic LZ4 file with several packets."""
    if os.path.isfile(sample(SAMPLES[1])):
        return sample(SAMPLES[1])
    path = tmp_path / "syn.aedat4"
    write_aedat4(synthetic(), path, compression="lz4", packet_events=2500)
    return str(path)


def test_truncated_inside_packet(recording, tmp_path):
    pkts = packet_offsets(recording)
    off, _sid, size = pkts[len(pkts) // 2]
    path = _damaged(recording, tmp_path, "trunc.aedat4", lambda d: d[:off + 8 + size // 2])
    with pytest.raises(InputFormatError, match=rf"at byte {off}: truncated packet") as info:
        read_events(path)
    assert "trunc.aedat4" in str(info.value)


def test_truncated_inside_packet_header(recording, tmp_path):
    off = packet_offsets(recording)[3][0]
    path = _damaged(recording, tmp_path, "trunc_head.aedat4", lambda d: d[:off + 5])
    with pytest.raises(InputFormatError, match=rf"at byte {off}: truncated packet header"):
        read_events(path)


def test_truncated_at_packet_boundary_before_data_table(recording, tmp_path):
    with open_events(recording) as r:
        has_table = r.meta["data_table_position"] >= 0
    if not has_table:
        pytest.skip("this recording has no data table")
    off = packet_offsets(recording)[5][0]
    path = _damaged(recording, tmp_path, "cut.aedat4", lambda d: d[:off])
    with pytest.raises(InputFormatError, match=rf"at byte {off}: truncated: .*data table"):
        read_events(path)


def test_bad_version_line_and_header(recording, tmp_path):
    def bad_magic(d):
        d[9] = ord("3")
        return d

    path = _damaged(recording, tmp_path, "magic.aedat4", bad_magic)
    with pytest.raises(InputFormatError, match="at byte 0: bad version line"):
        open_events(path, format="aedat4")

    def bad_size(d):
        d[len(MAGIC):len(MAGIC) + 4] = struct.pack("<i", -7)
        return d

    path = _damaged(recording, tmp_path, "hsize.aedat4", bad_size)
    with pytest.raises(InputFormatError, match=f"at byte {len(MAGIC)}: bad IOHeader size -7"):
        read_events(path)

    def bad_ident(d):
        d[len(MAGIC) + 8:len(MAGIC) + 12] = b"XXXX"
        return d

    path = _damaged(recording, tmp_path, "ident.aedat4", bad_ident)
    with pytest.raises(InputFormatError, match=f"at byte {len(MAGIC)}: corrupt IOHeader"):
        read_events(path)


def test_negative_packet_size(recording, tmp_path):
    off = packet_offsets(recording)[2][0]

    def edit(d):
        d[off + 4:off + 8] = struct.pack("<i", -100)
        return d

    path = _damaged(recording, tmp_path, "neg.aedat4", edit)
    with pytest.raises(InputFormatError, match=rf"at byte {off}: bad packet header: stream id \d+, size -100"):
        read_events(path)


def test_corrupt_compressed_data(recording, tmp_path):
    off = next(o for o, sid, _s in packet_offsets(recording) if sid == 0)

    def edit(d):
        d[off + 8:off + 12] = b"\xde\xad\xbe\xef"  # the LZ4 frame magic
        return d

    path = _damaged(recording, tmp_path, "lz4.aedat4", edit)
    with pytest.raises(InputFormatError, match=rf"at byte {off}: corrupt LZ4 data"):
        read_events(path)


def test_corrupt_flatbuffer(tmp_path):
    ev = synthetic(500)
    path = tmp_path / "plain.aedat4"
    write_aedat4(ev, path, compression="none", packet_events=200)
    off = packet_offsets(str(path))[1][0]

    def wrong_ident(d):
        d[off + 8 + 8:off + 8 + 12] = b"FRME"
        return d

    bad = _damaged(str(path), tmp_path, "ident.aedat4", wrong_ident)
    with pytest.raises(InputFormatError, match=rf"at byte {off}: corrupt events packet.*identifier"):
        read_events(bad)

    def long_vector(d):
        d[off + 8 + 28:off + 8 + 32] = struct.pack("<I", 10**6)
        return d

    bad = _damaged(str(path), tmp_path, "vector.aedat4", long_vector)
    with pytest.raises(InputFormatError, match=rf"at byte {off}: corrupt events packet.*runs past"):
        read_events(bad)


def test_events_outside_sensor_size(recording):
    ref = read_events(recording)
    size = (ref.sensor_size[0] // 2, ref.sensor_size[1])
    first = int(np.argmax(ref.x >= size[0]))
    with pytest.raises(InputFormatError, match=rf"event {first} has x = {int(ref.x[first])} outside the sensor size"):
        read_events(recording, sensor_size=size)


def test_no_events_stream(tmp_path):
    path = tmp_path / "frames.aedat4"
    xml = info_node_xml([{"id": 1, "type": "FRME", "name": "frames", "size": (8, 8)}])
    path.write_bytes(MAGIC + encode_io_header(xml, 0, -1))
    with pytest.raises(InputFormatError, match="no events .EVTS. stream.*1: FRME"):
        read_events(path)


# ------------------------------------------------------------------------------------------------
# AEDAT 4 network stream (the loopback must-show)


@needs_data
@pytest.mark.parametrize("name", SAMPLES)
def test_tcp_loopback_sample(name):
    ref = read_events(sample(name))
    with serve_aedat4(sample(name), ("127.0.0.1", 0)) as server:
        host, port = server.address
        assert host == "127.0.0.1" and port > 0
        with Aedat4Client(server.address, timeout=5.0) as client:
            assert client.sensor_size == ref.sensor_size
            assert client.meta["compression"] == "LZ4"
            chunks = list(client)
    assert server.clients_served == 1
    got = Events.concatenate(chunks)
    assert len(chunks) == manifest(name)["cross_checks"]["n_packets_event_stream"]
    assert all(c.format == "aedat4" and c.source == f"tcp://127.0.0.1:{port}" for c in chunks)
    assert len(got) == len(ref) and got.checksum() == ref.checksum() == manifest(name)["checksum_t_x_y_p_sha256"]


@needs_data
def test_unix_socket_loopback_sample():
    if not hasattr(socket, "AF_UNIX"):
        pytest.skip("no UNIX sockets here")
    name = SAMPLES[0]
    ref = read_events(sample(name))
    tmp = tempfile.mkdtemp(prefix="se-")  # short path: AF_UNIX paths are limited to ~104 bytes
    path = os.path.join(tmp, "dv.sock")
    try:
        with serve_aedat4(sample(name), path) as server, Aedat4Client(path, timeout=5.0) as client:
            assert server.address == path
            got = client.read()
        assert not os.path.exists(path)
        assert got.checksum() == ref.checksum() == manifest(name)["checksum_t_x_y_p_sha256"]
        assert got.source == f"unix://{path}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.parametrize("compression", ["none", "lz4", "zstd"])
def test_tcp_loopback_encoded_events(compression):
    ev = synthetic(30000)
    with serve_aedat4(ev, compression=compression, packet_events=1000) as server:
        with Aedat4Client(server.address, timeout=5.0) as c1, Aedat4Client(server.address, timeout=5.0) as c2:
            parts = list(c1.chunks(n_events=4096))
            whole = c2.read()
    assert [len(p) for p in parts[:-1]] == [4096] * (len(parts) - 1)
    assert Events.concatenate(parts).checksum() == ev.checksum() == whole.checksum()
    assert whole.sensor_size == ev.sensor_size


def test_client_address_forms():
    ev = synthetic(2000)
    with serve_aedat4(ev) as server:
        host, port = server.address
        with Aedat4Client(f"tcp://{host}:{port}", timeout=5.0) as client:
            assert client.read().checksum() == ev.checksum()
    with pytest.raises(ParameterError, match="address"):
        Aedat4Client(12345)


class MisbehavingServer:
    """Sends the header and ``prefix`` bytes of packets, then stalls (until released) or closes."""

    def __init__(self, prefix_bytes, then="stall", header=True):
        ev = synthetic(3000)
        xml = info_node_xml([{"id": 0, "type": "EVTS", "name": "events", "size": ev.sensor_size}], 0)
        self.header = encode_io_header(xml, 0, -1) if header else b""
        self.packets = list(encode_events_packets(ev, 0, 0, 1000))
        self.stream = b"".join(self.packets)[:prefix_bytes]
        self.then = then
        self.release = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.address = self.listener.getsockname()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        conn, _ = self.listener.accept()
        conn.sendall(self.header + self.stream)
        if self.then == "stall":
            self.release.wait(10.0)
        conn.close()

    def close(self):
        self.release.set()
        self.thread.join(5.0)
        self.listener.close()


def test_stalled_stream_times_out_quickly():
    server = MisbehavingServer(prefix_bytes=None, then="stall")  # header + every packet, then silence
    try:
        client = Aedat4Client(server.address, timeout=0.3)
        got = []
        start = time.monotonic()
        with pytest.raises(StreamTimeout, match=rf"tcp://127.0.0.1:{server.address[1]}: .*stalled.*0.3 s") as info:
            for chunk in client:
                got.append(chunk)
                start = time.monotonic()
        assert time.monotonic() - start < 3.0
        assert isinstance(info.value, TimeoutError) and isinstance(info.value, InputFormatError)
        assert sum(len(c) for c in got) == 3000
        client.close()
    finally:
        server.close()


def test_stall_mid_packet_and_before_header():
    server = MisbehavingServer(prefix_bytes=1500, then="stall")
    try:
        with pytest.raises(StreamTimeout, match="stalled"):
            with Aedat4Client(server.address, timeout=0.3) as client:
                list(client)
    finally:
        server.close()
    silent = MisbehavingServer(prefix_bytes=0, then="stall", header=False)
    try:
        with pytest.raises(StreamTimeout, match=f"127.0.0.1:{silent.address[1]}"):
            Aedat4Client(silent.address, timeout=0.3)
    finally:
        silent.close()


def test_close_mid_packet_names_offset():
    server = MisbehavingServer(prefix_bytes=None, then="close")
    first = len(server.packets[0])
    server.stream = server.stream[:first + 100]  # packet 2 cut after 100 bytes
    header_len = len(server.header)
    try:
        client = Aedat4Client(server.address, timeout=5.0)
        chunks = []
        with pytest.raises(InputFormatError, match=rf"at byte {header_len + first}: truncated packet") as info:
            for c in client:
                chunks.append(c)
        assert not isinstance(info.value, TimeoutError)
        assert [len(c) for c in chunks] == [1000]
    finally:
        server.close()


def test_clean_close_after_header_is_empty_stream():
    server = MisbehavingServer(prefix_bytes=0, then="close")
    try:
        with Aedat4Client(server.address, timeout=5.0) as client:
            assert len(client.read()) == 0
    finally:
        server.close()


def test_client_reads_a_whole_file_sent_raw(recording):
    """A file piped to a socket (version line, header, packets, data table) is read like the file."""
    data = open(recording, "rb").read()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def run():
        conn, _ = listener.accept()
        conn.sendall(data)
        conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        with Aedat4Client(listener.getsockname(), timeout=5.0) as client:
            got = client.read()
        assert got.checksum() == read_events(recording).checksum()
    finally:
        thread.join(5.0)
        listener.close()


def test_connection_refused():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(InputFormatError, match=f"tcp://127.0.0.1:{port}: aedat4: cannot connect"):
        Aedat4Client(("127.0.0.1", port), timeout=1.0)


def test_server_realtime_pacing():
    ev = synthetic(2000)
    ev.data["t"] = ev.data["t"][0] + np.linspace(0, 200_000, len(ev)).astype(np.int64)  # 0.2 s of recording
    with Aedat4Server(ev, packet_events=100, speed=1.0) as server, Aedat4Client(server.address, timeout=5.0) as c:
        start = time.monotonic()
        got = c.read()
        elapsed = time.monotonic() - start
    assert got.checksum() == ev.checksum()
    assert elapsed >= 0.15


# ------------------------------------------------------------------------------------------------
# UDP


def test_udp_loopback_identical():
    ev = synthetic(5000)
    with UdpEventSource(("127.0.0.1", 0), timeout=0.5, on_timeout="stop", sensor_size=ev.sensor_size) as src:
        n = send_udp_events(ev, src.address, events_per_datagram=100)
        got = src.read()
    assert n == 50 and src.received_datagrams == 50 and src.dropped_datagrams == 0
    assert got.checksum() == ev.checksum() and got.format == "udp"


def test_udp_drop_policy_and_timeout():
    ev = synthetic(300, size=(64, 64))
    with UdpEventSource(timeout=0.3, sensor_size=(32, 64)) as src:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            tx.sendto(b"\x00" * 20, src.address)  # not a multiple of 13: dropped whole
        send_udp_events(ev, src.address, events_per_datagram=100)
        got = []
        start = time.monotonic()
        with pytest.raises(StreamTimeout, match=rf"udp://127.0.0.1:{src.address[1]}: no UDP datagram"):
            for chunk in src:
                got.append(chunk)
        assert time.monotonic() - start < 3.0
    kept = ev.data[ev.x < 32]
    assert src.dropped_datagrams == 1 and src.received_datagrams == 4
    assert src.dropped_events == len(ev) - len(kept) and src.received_events == len(kept)
    assert Events.concatenate(got).checksum() == Events(kept).checksum()
