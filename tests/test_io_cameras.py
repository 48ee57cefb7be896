"""Event-camera readers (AEDAT 1/2, Prophesee DAT, N-MNIST .bin/.bs2, Event Stream .es).

The data tests compare against the ground truth in ../shared/data/events/MANIFEST.json
(computed with independent readers); the synthetic tests build small files in tmp_path.
"""

import json
import os
import shutil

import numpy as np
import pytest

from spikeengine.errors import InputFormatError, ParameterError
from spikeengine.io import Events, detect_format, iter_events, open_events, read_events

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
EVENTS_DIR = os.path.join(SHARED, "events")
HAVE_DATA = os.path.exists(os.path.join(EVENTS_DIR, "MANIFEST.json"))
needs_data = pytest.mark.skipif(not HAVE_DATA, reason=f"shared sample recordings absent ({EVENTS_DIR})")

#: sample file -> format name the detection must return
FILES = {
    "aedat2_davis240c_imu_translboxes.aedat": "aedat2",
    "aedat2_davis240c_imu_rotdisk.aedat": "aedat2",
    "dat_ncars_atis_tonic_sample.dat": "dat",
    "nmnist_atis_tonic_sample.bin": "nmnist",
    "nmnist_atis_slayer_NMNISTsmall_1.bs2": "nmnist",
    "nmnist_atis_slayer_NMNISTsmall_10.bs2": "nmnist",
    "es_dvs_320x240_faery.es": "es",
}


def _manifest():
    with open(os.path.join(EVENTS_DIR, "MANIFEST.json")) as f:
        return {e["file"]: e for e in json.load(f)["files"]}


@pytest.fixture(scope="module")
def manifest():
    return _manifest()


def _path(name):
    return os.path.join(EVENTS_DIR, name)


def _checksum_of_chunks(chunks):
    parts = list(chunks)
    return Events.concatenate(parts).checksum(), parts


def _small_block(name):
    """A reader option that forces many small blocks (cross-block state)."""
    return {"block_bytes": 4999} if FILES[name] == "es" else {"block_events": 997}


# ---------------------------------------------------------------- ground truth


@needs_data
@pytest.mark.parametrize("name", sorted(FILES))
def test_matches_manifest(name, manifest):
    truth = manifest[name]
    path = _path(name)
    assert detect_format(path) == FILES[name]
    ev = read_events(path)
    assert ev.format == FILES[name]
    assert len(ev) == truth["n_events"]
    t = ev.t
    assert t.dtype == np.int64
    assert (int(t[0]), int(t[-1]), int(t.min()), int(t.max())) == (
        truth["t_first"], truth["t_last"], truth["t_min"], truth["t_max"])
    assert bool(np.all(np.diff(t) >= 0)) == truth["t_monotonic_nondecreasing"]
    assert (int(ev.x.min()), int(ev.x.max()), int(ev.y.min()), int(ev.y.max())) == (
        truth["x_min"], truth["x_max"], truth["y_min"], truth["y_max"])
    vals, counts = np.unique(ev.p, return_counts=True)
    assert {str(int(v)): int(c) for v, c in zip(vals, counts)} == truth["polarity_counts"]
    assert ev.sensor_size == tuple(truth["sensor_size"])
    assert ev.tick_us == 1.0
    first = [[int(e["t"]), int(e["x"]), int(e["y"]), int(e["p"])] for e in ev.data[:len(truth["first_events_t_x_y_p"])]]
    assert first == truth["first_events_t_x_y_p"]
    assert ev.checksum() == truth["checksum_t_x_y_p_sha256"]
    if "header_bytes" in truth:
        assert open_events(path).meta["header_bytes"] == truth["header_bytes"]


@needs_data
@pytest.mark.parametrize("k", [1000, 4096, 100003])
@pytest.mark.parametrize("name", sorted(FILES))
def test_chunks_by_count(name, k, manifest):
    digest, parts = _checksum_of_chunks(iter_events(_path(name), n_events=k))
    assert digest == manifest[name]["checksum_t_x_y_p_sha256"]
    assert all(len(c) == k for c in parts[:-1]) and 0 < len(parts[-1]) <= k


@needs_data
@pytest.mark.parametrize("window_us", [1000, 33333, 250000])
@pytest.mark.parametrize("name", sorted(FILES))
def test_chunks_by_window(name, window_us, manifest):
    digest, parts = _checksum_of_chunks(iter_events(_path(name), window_us=window_us))
    assert digest == manifest[name]["checksum_t_x_y_p_sha256"]
    t0 = int(parts[0].t[0])
    for c in parts:  # every chunk lies in one window [t0 + kW, t0 + (k + 1)W)
        kk = (c.t - t0) // window_us
        assert kk.min() == kk.max()


@needs_data
@pytest.mark.parametrize("name", sorted(FILES))
def test_small_blocks_carry_state(name, manifest):
    """Decoding in many small blocks (wrap counters, ES state machine, markers) changes nothing."""
    reader = open_events(_path(name), **_small_block(name))
    blocks = list(reader.chunks())
    assert len(blocks) > 2
    assert Events.concatenate(blocks).checksum() == manifest[name]["checksum_t_x_y_p_sha256"]


@needs_data
def test_es_pure_python_decoder_agrees(manifest):
    """The njit decoder and the same function run as plain Python give identical events."""
    name = "es_dvs_320x240_faery.es"
    head = next(iter_events(_path(name), n_events=20000, jit=False))
    full = read_events(_path(name))
    assert head.checksum() == full[:20000].checksum()


# ---------------------------------------------------------------- bad input


def _truncated_copy(tmp_path, name, cut):
    dst = tmp_path / ("cut_" + name)
    with open(_path(name), "rb") as f:
        data = f.read()
    dst.write_bytes(data[:len(data) - cut])
    return str(dst), len(data)


@needs_data
@pytest.mark.parametrize("name", sorted(FILES))
def test_truncated_file_names_offset(tmp_path, name):
    reader = open_events(_path(name))
    if FILES[name] == "es":
        path, size = _truncated_copy(tmp_path, name, 2)  # the last 5-byte event loses 2 bytes
        expected = size - 5
    else:
        path, size = _truncated_copy(tmp_path, name, 3)
        rec = 5 if FILES[name] == "nmnist" else 8
        start = reader.meta.get("header_bytes", 0)
        expected = start + (size - 3 - start) // rec * rec
    with pytest.raises(InputFormatError, match=rf"at byte {expected}\b.*truncated"):
        read_events(path)


@needs_data
@pytest.mark.parametrize("name, fmt, bad", [
    ("aedat2_davis240c_imu_rotdisk.aedat", "aedat2", b"#!AER-DAX2.0"),
    ("es_dvs_320x240_faery.es", "es", b"Event Strean"),
])
def test_wrong_magic(tmp_path, name, fmt, bad):
    with open(_path(name), "rb") as f:
        data = f.read(4096)
    p = tmp_path / ("bad_" + name + ".bad")  # neutral extension: no fallback by extension
    p.write_bytes(bad + data[len(bad):])
    with pytest.raises(InputFormatError, match="at byte 0"):
        read_events(str(p), format=fmt)
    with pytest.raises(InputFormatError, match="unrecognised"):
        detect_format(str(p))


def test_wrong_magic_synthetic(tmp_path):
    p = tmp_path / "x.aedat"
    p.write_bytes(b"#!AER-DAT4.0\r\n" + bytes(16))
    with pytest.raises(InputFormatError, match="not AEDAT 1.0/2.0"):
        read_events(str(p), format="aedat2")
    p = tmp_path / "x.es"
    p.write_bytes(b"Event Stream" + bytes([1, 0, 0, 1, 8, 0, 8, 0]))
    with pytest.raises(InputFormatError, match="unsupported Event Stream version 1"):
        read_events(str(p))
    p.write_bytes(b"Event Stream" + bytes([2, 0, 0, 0]))
    with pytest.raises(InputFormatError, match="'generic' is not supported"):
        read_events(str(p))
    p = tmp_path / "x.txt"
    p.write_bytes(bytes(16))
    with pytest.raises(InputFormatError, match="not a DAT file"):
        read_events(str(p), format="dat")


def test_bin_with_odd_byte_count(tmp_path):
    p = tmp_path / "odd.bin"
    p.write_bytes(bytes([1, 2, 0, 0, 9, 3, 4]))
    assert detect_format(str(p)) == "nmnist"
    with pytest.raises(InputFormatError, match=r"odd\.bin: nmnist at byte 5: truncated"):
        read_events(str(p))


def test_events_outside_sensor(tmp_path):
    p = tmp_path / "big.bin"
    p.write_bytes(bytes([1, 1, 0, 0, 5,  40, 1, 0, 0, 9]))  # second event x = 40 >= 34
    with pytest.raises(InputFormatError, match=r"at byte 5: event 1 \(x=40"):
        read_events(str(p))
    assert read_events(str(p), sensor_size=(64, 64)).x.tolist() == [1, 40]
    p = tmp_path / "big.es"
    p.write_bytes(_es_header(1, 8, 4) + bytes([0x02, 1, 0, 1, 0,  0x02, 9, 0, 1, 0]))
    with pytest.raises(InputFormatError, match=r"at byte 25: event 1 has x = 9"):
        read_events(str(p))
    p = tmp_path / "big.aedat"
    _write_aedat2(p, [_davis(5, 5, 1), _davis(300, 5, 1)], [1, 2])
    with pytest.raises(InputFormatError, match=r"event 1 \(x=300"):
        read_events(str(p))


def test_unknown_option_and_chip(tmp_path):
    p = tmp_path / "a.bin"
    p.write_bytes(bytes(5))
    with pytest.raises(ParameterError, match="unknown option"):
        read_events(str(p), colour=True)
    q = tmp_path / "nochip.aedat"
    _write_aedat2(q, [_davis(1, 1, 1)], [5], chip=None)
    with pytest.raises(InputFormatError, match="AEChip"):
        read_events(str(q))
    assert read_events(str(q), chip="DAVIS346").sensor_size == (346, 260)
    with pytest.raises(ParameterError, match="unknown chip"):
        read_events(str(q), chip="Kodak")


# ---------------------------------------------------------------- synthetic files: layouts and counters


def _davis(x, y, p):
    return (y << 22) | (x << 12) | (p << 11)


def _write_aedat2(path, addrs, ts, chip="eu.seebetter.ini.chips.davis.DAVIS240C", version=2):
    head = f"#!AER-DAT{version}.0\r\n# Timestamps tick is 1 us\r\n"
    if chip:
        head += f"# AEChip: {chip}\r\n"
    rec = np.empty(len(addrs), [("a", ">u2" if version == 1 else ">u4"), ("t", ">u4")])
    rec["a"] = addrs
    rec["t"] = np.asarray(ts, dtype=np.int64) & 0xFFFFFFFF  # int32 counters are stored as their bit pattern
    path.write_bytes(head.encode() + rec.tobytes())


def test_aedat2_unwraps_timestamps_across_blocks(tmp_path):
    p = tmp_path / "wrap.aedat"
    ts = [2**31 - 20, 2**31 - 1, 2**31 + 5, 2**32 - 10, 2**32 - 1, 2**32 + 3, 2**32 + 50, 2**32 + 2**31 + 1000,
          2**33 + 7]
    addrs = [_davis(i, i, i % 2) for i in range(len(ts))]
    addrs.insert(3, 0x80000000)  # an APS word in between (skipped)
    _write_aedat2(p, addrs, ts[:3] + [0] + ts[3:])
    for block in (1, 2, 3, 100):
        ev = read_events(str(p), block_events=block)
        assert ev.t.tolist() == ts
        assert ev.x.tolist() == list(range(len(ts)))


def test_aedat2_imu_words_skipped_and_raw_fields(tmp_path):
    p = tmp_path / "imu.aedat"
    _write_aedat2(p, [_davis(239, 179, 1), _davis(3, 4, 0) | 0x400, 0x80000000 | _davis(1, 1, 1), _davis(0, 0, 0)],
                  [10, 11, 12, 13])
    ev = read_events(str(p))
    assert (ev.t.tolist(), ev.x.tolist(), ev.y.tolist(), ev.p.tolist()) == ([10, 13], [239, 0], [179, 0], [1, 0])


def test_aedat1_dvs128(tmp_path):
    p = tmp_path / "dvs128.aedat"
    addrs = [(5 << 8) | (7 << 1) | 1, (127 << 8) | (127 << 1), 0x8000 | (1 << 8)]  # last: external event (skipped)
    _write_aedat2(p, addrs, [100, 200, 300], chip="ch.unizh.ini.jaer.chip.retina.DVS128", version=1)
    assert detect_format(str(p)) == "aedat2"
    ev = read_events(str(p))
    assert ev.sensor_size == (128, 128)
    assert (ev.t.tolist(), ev.x.tolist(), ev.y.tolist(), ev.p.tolist()) == ([100, 200], [5, 127], [7, 127], [1, 0])
    q = tmp_path / "dvs128_cut.aedat"
    q.write_bytes(p.read_bytes()[:-4])
    header = len(p.read_bytes()) - 18
    with pytest.raises(InputFormatError, match=rf"at byte {header + 12}: truncated"):
        read_events(str(q))


def _write_dat(path, t, d, header=b"% Data file containing Event2D events.\n% Version 2\n"):
    rec = np.empty(len(t), [("t", "<u4"), ("d", "<u4")])
    rec["t"] = np.asarray(t, dtype=np.int64) & 0xFFFFFFFF
    rec["d"] = d
    path.write_bytes(header + (bytes([0, 8]) if header else b"") + rec.tobytes())


def test_dat_v2_unwrap_and_geometry(tmp_path):
    p = tmp_path / "wrap.dat"
    ts = [2**32 - 2, 2**32 + 1, 2**32 + 9]
    _write_dat(p, ts, [1 | (2 << 14) | (1 << 28)] * 3,
               header=b"% Data file containing EventCD events.\n% Version 2\n% Width 640\n% Height 480\n")
    ev = read_events(str(p), block_events=1)
    assert ev.t.tolist() == ts and ev.sensor_size == (640, 480)
    assert (ev.x.tolist(), ev.y.tolist(), ev.p.tolist()) == ([1] * 3, [2] * 3, [1] * 3)


def test_dat_v1_legacy_layout(tmp_path):
    p = tmp_path / "v1.dat"
    _write_dat(p, [5, 6], [300 | (200 << 9) | (1 << 17), 2 | (3 << 9)],
               header=b"% Data file containing Event2D events.\n% Version 1\n")
    ev = read_events(str(p))
    assert (ev.x.tolist(), ev.y.tolist(), ev.p.tolist()) == ([300, 2], [200, 3], [1, 0])
    q = tmp_path / "noheader.dat"  # no header at all: no type/size bytes, legacy layout
    _write_dat(q, [5], [300 | (200 << 9)], header=b"")
    ev = read_events(str(q), format="dat")
    assert (ev.x.tolist(), ev.y.tolist(), ev.sensor_size) == ([300], [200], (304, 240))


def test_dat_sniff_is_specific(tmp_path):
    p = tmp_path / "evt.raw"  # Prophesee EVT .raw headers also start with '%'
    p.write_bytes(b"% evt 2.0\n% Version 2\n% end\n" + bytes(8))
    from spikeengine.io import FORMATS
    assert not FORMATS["dat"][2](p.read_bytes(), str(p))
    q = tmp_path / "plain.dat"
    q.write_bytes(b"% Version 2\n" + bytes([0, 8]) + bytes(8))
    assert detect_format(str(q)) == "dat"


def _nmnist_records(events):
    out = bytearray()
    for x, y, p, t in events:
        w = (p << 23) | t
        out += bytes([x, y, (w >> 16) & 0xFF, (w >> 8) & 0xFF, w & 0xFF])
    return bytes(out)


def test_nmnist_overflow_markers_match_tonic(tmp_path):
    tonic_io = pytest.importorskip("tonic.io")
    recs = [(1, 2, 1, 100), (3, 4, 0, 8000), (0, 240, 0, 0), (5, 6, 1, 50), (0, 240, 0, 0), (0, 240, 0, 0),
            (7, 8, 0, 60), (33, 33, 1, 2**23 - 1)]
    p = tmp_path / "markers.bin"
    p.write_bytes(_nmnist_records(recs))
    ref = tonic_io.read_mnist_file(str(p), dtype=np.dtype([("x", "i8"), ("y", "i8"), ("t", "i8"), ("p", "i8")]))
    for block in (1, 2, 3, 100):
        ev = read_events(str(p), block_events=block)
        assert ev.t.tolist() == ref["t"].tolist() == [100, 8000, 8242, 24636, 8388607 + 3 * 8192]
        assert (ev.x.tolist(), ev.y.tolist(), ev.p.tolist()) == (ref["x"].tolist(), ref["y"].tolist(),
                                                                  ref["p"].tolist())
    # SLAYER's rule: no markers; y = 240 is then an ordinary (out-of-sensor) event
    with pytest.raises(InputFormatError, match=r"event 2 \(x=0, y=240\)"):
        read_events(str(p), overflow_markers=False)
    ev = read_events(str(p), overflow_markers=False, sensor_size=(34, 241))
    assert ev.t.tolist()[:4] == [100, 8000, 0, 50]


@needs_data
def test_nmnist_bs2_detected_by_extension(tmp_path):
    src = _path("nmnist_atis_slayer_NMNISTsmall_1.bs2")
    dst = tmp_path / "sample.bs2"
    shutil.copy(src, dst)
    assert detect_format(str(dst)) == "nmnist"


def _es_header(kind, w, h):
    return b"Event Stream" + bytes([2, 0, 0, kind]) + w.to_bytes(2, "little") + h.to_bytes(2, "little")


def test_es_dvs_overflow_reset_and_blocks(tmp_path):
    body = bytes([0xFE, 0xFE, 0xFE,  0x03, 1, 0, 2, 0,  0xFF, 0xFF, 0x08, 0x3F, 0x01, 0xEF, 0x00,  0x00, 0, 0, 0, 0])
    p = tmp_path / "dvs.es"
    p.write_bytes(_es_header(1, 320, 240) + body)
    for jit in (False, True):
        for bb in (1, 2, 7, 1000):
            ev = read_events(str(p), block_bytes=bb, jit=jit)
            assert ev.t.tolist() == [1, 1 + 254 + 4, 259]
            assert (ev.x.tolist(), ev.y.tolist(), ev.p.tolist()) == ([1, 319, 0], [2, 239, 0], [1, 0, 0])
    q = tmp_path / "dvs_cut.es"
    q.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(InputFormatError, match=r"at byte 35: truncated.*event 2"):
        read_events(str(q), block_bytes=3)


def test_es_atis_td_and_all(tmp_path):
    # codes: 2 = ON change, 1 = exposure start, 0 = OFF change, 3 = exposure end; 0xFE = overflow of 2 * 63 us
    body = bytes([(4 << 2) | 2, 1, 0, 1, 0,  (1 << 2) | 1, 2, 0, 2, 0,  0xFE, (0 << 2) | 0, 3, 0, 3, 0,
                  (2 << 2) | 3, 4, 0, 4, 0])
    p = tmp_path / "atis.es"
    p.write_bytes(_es_header(2, 304, 240) + body)
    ev = read_events(str(p))
    assert (ev.t.tolist(), ev.x.tolist(), ev.p.tolist()) == ([4, 131], [1, 3], [1, 0])
    ev = read_events(str(p), atis_events="all", block_bytes=3)
    assert (ev.t.tolist(), ev.x.tolist(), ev.p.tolist()) == ([4, 5, 131, 133], [1, 2, 3, 4], [2, 1, 0, 3])
    assert open_events(str(p)).meta["type"] == "atis"


def test_sniffers_are_specific():
    from spikeengine.io import FORMATS
    heads = {
        "aedat2": b"#!AER-DAT2.0\r\n# This is a raw AE data file\r\n",
        "dat": b"% Data file containing Event2D events.\n% Version 2\n",
        "es": b"Event Stream\x02\x00\x00\x01",
    }
    for name in heads:
        for other, other_head in heads.items():
            assert FORMATS[name][2](other_head, "f" + {"aedat2": ".aedat", "dat": ".dat", "es": ".es"}[other]) == (
                name == other)
    assert not FORMATS["aedat2"][2](b"#!AER-DAT3.1\r\n", "x.aedat")
    assert not FORMATS["aedat2"][2](b"#!AER-DAT4.0\r\n", "x.aedat4")
    assert FORMATS["nmnist"][2] is None and FORMATS["nmnist"][1] == (".bin", ".bs2")
