"""Prophesee EVT 2.0 / 3.0 .raw readers: MANIFEST ground truth, streaming, block boundaries, bad input."""

import json
import os
import warnings

import numpy as np
import pytest

from spikeengine.errors import InputFormatError, ParameterError
from spikeengine.io import EVENT_DTYPE, Events, detect_format, iter_events, open_events, read_events
from spikeengine.io import evt as evt_mod

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
EVENTS_DIR = os.path.join(SHARED, "events")
MANIFEST = os.path.join(EVENTS_DIR, "MANIFEST.json")

FILES = ["evt2_gen3_640x480_expelliarmus.raw", "evt2_gen3_640x480_faery.raw", "evt3_gen41_1280x720_expelliarmus.raw"]

needs_data = pytest.mark.skipif(not os.path.isfile(MANIFEST),
                                reason=f"shared sample recordings not found at {EVENTS_DIR}")


def _truth(name):
    with open(MANIFEST) as f:
        files = json.load(f)["files"]
    return next(e for e in files if e["file"] == name)


def _path(name):
    return os.path.join(EVENTS_DIR, name)


def _split_header(path):
    with open(path, "rb") as f:
        raw = f.read()
    pos = 0
    while raw[pos:pos + 1] == b"%":
        pos = raw.index(b"\n", pos) + 1
    return raw[:pos], raw[pos:]


def _read_with(path, block_words=None, block_events=None, **kw):
    r = open_events(path, **kw)
    if block_words is not None:
        r.block_words = block_words
    if block_events is not None:
        r.block_events = block_events
    blocks = [r._wrap(b) for b in r._blocks()]
    assert all(len(b) <= r.block_events for b in blocks)
    return Events.concatenate(blocks, like=r._wrap(np.empty(0, EVENT_DTYPE)))


# ---------------------------------------------------------------------------------------------
# ground truth
# ---------------------------------------------------------------------------------------------


@needs_data
@pytest.mark.parametrize("name", FILES)
def test_sample_matches_manifest(name):
    truth = _truth(name)
    path = _path(name)
    fmt = "evt3" if name.startswith("evt3") else "evt2"
    assert detect_format(path) == fmt
    ev = read_events(path)
    assert ev.format == fmt and ev.tick_us == 1.0
    assert len(ev) == truth["n_events"]
    assert ev.sensor_size == tuple(truth["sensor_size"])
    t = ev.t
    assert (int(t[0]), int(t[-1]), int(t.min()), int(t.max())) == (
        truth["t_first"], truth["t_last"], truth["t_min"], truth["t_max"])
    assert bool(np.all(np.diff(t) >= 0)) == truth["t_monotonic_nondecreasing"]
    assert (int(ev.x.min()), int(ev.x.max()), int(ev.y.min()), int(ev.y.max())) == (
        truth["x_min"], truth["x_max"], truth["y_min"], truth["y_max"])
    vals, counts = np.unique(ev.p, return_counts=True)
    assert {str(int(v)): int(c) for v, c in zip(vals, counts)} == truth["polarity_counts"]
    first = [[int(a["t"]), int(a["x"]), int(a["y"]), int(a["p"])] for a in ev.data[:3]]
    assert first == truth["first_events_t_x_y_p"]
    assert ev.checksum() == truth["checksum_t_x_y_p_sha256"]
    r = open_events(path)
    assert r.meta["sensor_size_source"] == "plugin_name"
    r.read()
    assert r.meta["events_before_first_time_high"] == 0


@needs_data
def test_evt3_is_not_the_expelliarmus_clock():
    name = "evt3_gen41_1280x720_expelliarmus.raw"
    truth = _truth(name)
    alt = truth["cross_checks"]
    ev = read_events(_path(name))
    assert ev.checksum() != alt["alternate_checksum_expelliarmus_faery"]
    assert int(ev.t[-1]) != alt["alternate_t_last_expelliarmus_faery"]
    # the expelliarmus / faery clock: +4096 us every time a TIME_LOW is lower than the previous TIME_LOW
    _hdr, data = _split_header(_path(name))
    w = np.frombuffer(data, "<u2")
    typ = w >> 12
    tl = (w & 0xFFF).astype(np.int64)
    drops = int(np.sum(np.diff(tl[typ == 6]) < 0))
    assert drops == 11
    assert drops * 4096 == alt["alternate_t_last_expelliarmus_faery"] - truth["t_last"]


# ---------------------------------------------------------------------------------------------
# streaming and block boundaries
# ---------------------------------------------------------------------------------------------


@needs_data
@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("k", [1, 4097, 100_000, 10**7])
def test_chunks_by_count(name, k):
    truth = _truth(name)
    if k == 1:  # one-event chunks: only check a prefix of the stream, it is slow
        it = iter_events(_path(name), n_events=1)
        head = [next(it) for _ in range(50)]
        assert all(len(c) == 1 for c in head)
        ref = read_events(_path(name))
        assert Events.concatenate(head).data.tobytes() == ref.data[:50].tobytes()
        return
    chunks = list(iter_events(_path(name), n_events=k))
    assert all(len(c) == k for c in chunks[:-1]) and 0 < len(chunks[-1]) <= k
    assert Events.concatenate(chunks).checksum() == truth["checksum_t_x_y_p_sha256"]


@needs_data
@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("window_us", [13, 1000, 7777.5, 10**9])
def test_chunks_by_time_window(name, window_us):
    truth = _truth(name)
    chunks = list(iter_events(_path(name), window_us=window_us))
    t0 = truth["t_first"]
    keys = [np.unique(np.floor((c.t - t0) / window_us)) for c in chunks]
    assert all(len(k) == 1 for k in keys)
    assert all(a[0] < b[0] for a, b in zip(keys, keys[1:]))
    assert Events.concatenate(chunks).checksum() == truth["checksum_t_x_y_p_sha256"]


@needs_data
@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("block_words,block_events", [(7, 13), (1001, 37), (3, 4099), (65537, 999_983)])
def test_block_boundaries_anywhere(name, block_words, block_events):
    """Any word-block size and output capacity decodes the same stream (state carried across)."""
    truth = _truth(name)
    ev = _read_with(_path(name), block_words=block_words, block_events=block_events)
    assert ev.checksum() == truth["checksum_t_x_y_p_sha256"]


@needs_data
@pytest.mark.parametrize("name", FILES)
def test_one_word_blocks_on_a_prefix(name, tmp_path):
    hdr, data = _split_header(_path(name))
    ws = 2 if name.startswith("evt3") else 4
    p = tmp_path / "prefix.raw"
    p.write_bytes(hdr + data[:20_000 * ws])
    ref = read_events(p)
    assert len(ref) > 1000
    one = _read_with(p, block_words=1, block_events=12)
    assert one.data.tobytes() == ref.data.tobytes()


# ---------------------------------------------------------------------------------------------
# decoder semantics on synthetic streams (no shared data needed)
# ---------------------------------------------------------------------------------------------


def _write(tmp_path, header, words, dtype, name="s.raw"):
    p = tmp_path / name
    p.write_bytes(header.encode() + np.asarray(words, dtype).tobytes())
    return p


def _cd2(p, t, x, y):
    return (p << 28) | ((t & 63) << 22) | (x << 11) | y


def test_evt3_time_rules(tmp_path):
    hdr = "% evt 3.0\n% format EVT3;height=16;width=64\n% end\n"
    words = [
        0x0003, 0x2001,          # ADDR_Y / ADDR_X before the first TIME_HIGH: skipped
        0x8FFE, 0x6800,          # time high 4094, low 0x800
        0x0002, 0x2801,          # event 1: t = 4094 << 12 | 0x800
        0x6100, 0x2002,          # TIME_LOW decreases: only the low bits change (no +4096)
        0x8FFF, 0x2003,          # new time high: low bits cleared
        0x8FFF, 0x6005, 0x8FFF, 0x2004,  # same time high again: low bits kept
        0x8000, 0x6001, 0x2005,  # 4095 -> 0: the 24-bit base wrapped (+2**24)
        0x8000 | 0x700, 0x2006,  # forward jump
        0x8000 | 0x100, 0x2007,  # back by 0x600 < 2048: not a wrap
        0x8000 | 0x900, 0x8000, 0x2008,  # back by 0x900 >= 2048: a wrap
    ]
    p = _write(tmp_path, hdr, words, "<u2")
    with pytest.warns(UserWarning, match="1 CD event"):
        ev = read_events(p)
    L = 1 << 24
    assert ev.x.tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert ev.t.tolist() == [(4094 << 12) | 0x800, (4094 << 12) | 0x100, 4095 << 12, (4095 << 12) | 5,
                             L | 1, L | (0x700 << 12), L | (0x100 << 12), 2 * L]
    assert ev.y.tolist() == [2] * 8
    assert ev.p.tolist() == [1, 0, 0, 0, 0, 0, 0, 0]


def test_evt3_vectors_rows_and_skipped_words(tmp_path):
    hdr = "% evt 3.0\n% geometry 64x16\n% end\n"
    words = [
        0x8002, 0x6010,
        0x2005,                  # ADDR_X before any ADDR_Y: no row, dropped (as OpenEB)
        0x0007,                  # row 7 (CD)
        0x3800 | 10,             # VECT_BASE_X 10, polarity 1
        0x4000 | 0b100000000101,  # VECT_12: x 10, 12, 21; base -> 22
        0x5000 | 0b10000001,     # VECT_8: x 22, 29; base -> 30
        0x7123, 0xF456, 0xA001, 0xE000,  # continued / trigger / others: no CD event
        0x4001,                  # VECT_12 at base 30: x 30
        0x1004, 0x2009,          # non-CD row: no event
        0x0809, 0x200B,          # row 9 with bit 11 set (ignored): x 11
    ]
    p = _write(tmp_path, hdr, words, "<u2")
    r = open_events(p)
    ev = r.read()
    assert ev.x.tolist() == [10, 12, 21, 22, 29, 30, 11]
    assert ev.y.tolist() == [7] * 6 + [9]
    assert ev.p.tolist() == [1] * 6 + [0]
    assert set(ev.t.tolist()) == {(2 << 12) | 0x10}
    assert r.meta["events_without_row"] == 1
    assert r.meta["events_before_first_time_high"] == 0


def test_evt2_time_and_wrap(tmp_path):
    hdr = "% evt 2.0\n% format EVT2;height=32;width=64\n% end\n"
    top = (1 << 28) - 1
    words = [
        _cd2(1, 5, 1, 1),                 # before the first TIME_HIGH: skipped
        0x80000000 | 100, _cd2(1, 7, 2, 3), _cd2(0, 63, 4, 5),
        0xA0000000, 0xE0000000, 0xF0000000,  # trigger / others / continued
        0x80000000 | top, _cd2(1, 1, 6, 7),
        0x80000000 | 2, _cd2(0, 3, 8, 9),  # the 28-bit time high wrapped: +2**34
    ]
    p = _write(tmp_path, hdr, words, "<u4")
    with pytest.warns(UserWarning, match="before the first EVT_TIME_HIGH"):
        ev = read_events(p)
    assert ev.t.tolist() == [6400 + 7, 6400 + 63, (top << 6) + 1, (1 << 34) + (2 << 6) + 3]
    assert ev.x.tolist() == [2, 4, 6, 8] and ev.y.tolist() == [3, 5, 7, 9] and ev.p.tolist() == [1, 0, 1, 0]


def test_header_first_data_byte_is_percent(tmp_path):
    # a data word whose first byte is '%' (0x25) must not be taken for a header line
    words = [0x80000000 | 1, _cd2(1, 0, 0, 0x25)]
    p = _write(tmp_path, "% evt 2.0\n% geometry 64x64\n", words, "<u4")
    ev = read_events(p)
    assert ev.y.tolist() == [0x25] and ev.t.tolist() == [64]


def test_sensor_size_tables_and_argument(tmp_path):
    assert evt_mod.PLUGIN_SENSOR_SIZE["hal_plugin_gen3_fx3"] == (640, 480)
    assert evt_mod.PLUGIN_SENSOR_SIZE["hal_plugin_gen41_evk3"] == (1280, 720)
    assert evt_mod.SYSTEM_ID_SENSOR_SIZE[21] == (640, 480) and evt_mod.SYSTEM_ID_SENSOR_SIZE[48] == (1280, 720)
    words = [0x8001, 0x0010, 0x2100]
    p = _write(tmp_path, "% evt 3.0\n% system_ID 48\n", words, "<u2")
    r = open_events(p)
    assert r.sensor_size == (1280, 720) and r.meta["sensor_size_source"] == "system_ID"
    r = open_events(p, sensor_size=(300, 20))
    assert r.sensor_size == (300, 20) and r.meta["sensor_size_source"] == "argument"
    assert r.read().x.tolist() == [256]


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------


def test_header_without_size_needs_sensor_size(tmp_path):
    p = _write(tmp_path, "% evt 3.0\n% plugin_name hal_plugin_someone_else\n% end\n", [0x8001, 0x0001, 0x2001], "<u2")
    with pytest.raises(InputFormatError, match=r"sensor_size=\(width, height\)"):
        read_events(p)
    assert len(read_events(p, sensor_size=(4, 4))) == 1


@needs_data
def test_sample_header_stripped_of_sensor_lines(tmp_path):
    name = "evt2_gen3_640x480_faery.raw"
    hdr, data = _split_header(_path(name))
    kept = [ln for ln in hdr.decode().splitlines(True) if "plugin_name" not in ln and "system_ID" not in ln]
    p = tmp_path / "nosize.raw"
    p.write_bytes("".join(kept).encode() + data)
    with pytest.raises(InputFormatError, match="sensor_size="):
        read_events(p)
    ev = read_events(p, sensor_size=(640, 480))
    assert ev.checksum() == _truth(name)["checksum_t_x_y_p_sha256"]


@needs_data
@pytest.mark.parametrize("name,cut", [(FILES[0], 1), (FILES[1], 3), (FILES[2], 1)])
def test_truncated_word_is_an_error(name, tmp_path, cut):
    hdr, data = _split_header(_path(name))
    ws = 2 if name.startswith("evt3") else 4
    p = tmp_path / "trunc.raw"
    p.write_bytes(hdr + data[:-cut])
    at = len(hdr) + (len(data) - cut) // ws * ws
    with pytest.raises(InputFormatError, match=rf"at byte {at}: truncated file: {ws - cut % ws} trailing byte"):
        read_events(p)
    # streaming delivers every whole event before the error
    got = []
    with pytest.raises(InputFormatError, match="truncated"):
        for c in iter_events(p, n_events=50_000):
            got.append(c)
    assert sum(len(c) for c in got) > 0


@needs_data
def test_whole_words_cut_are_a_shorter_valid_stream(tmp_path):
    name = FILES[2]
    hdr, data = _split_header(_path(name))
    p = tmp_path / "short.raw"
    p.write_bytes(hdr + data[:len(data) // 2 & ~1])
    ev = read_events(p)
    assert 0 < len(ev) < _truth(name)["n_events"]


def test_missing_header_end(tmp_path):
    p = tmp_path / "hdr.raw"
    p.write_bytes(b"% evt 3.0\n% geometry 64x64")
    with pytest.raises(InputFormatError, match="missing header end"):
        read_events(p)


def test_events_outside_sensor_are_errors(tmp_path):
    p = _write(tmp_path, "% evt 3.0\n% geometry 64x16\n% end\n", [0x8001, 0x0003, 0x2001, 0x2040], "<u2")
    with pytest.raises(InputFormatError, match=r"event 1 has x = 64 outside the sensor size \(64, 16\)"):
        read_events(p)
    p = _write(tmp_path, "% evt 3.0\n% geometry 64x16\n% end\n", [0x8001, 0x0010, 0x3000, 0x4001], "<u2", "v.raw")
    with pytest.raises(InputFormatError, match="event 0 has y = 16"):
        read_events(p)
    p = _write(tmp_path, "% evt 2.0\n% geometry 64x16\n% end\n", [0x80000001, _cd2(1, 0, 3, 3), _cd2(1, 0, 70, 3)],
               "<u4", "e2.raw")
    with pytest.raises(InputFormatError, match="event 1 has x = 70"):
        read_events(p)


@needs_data
def test_sample_outside_a_smaller_sensor(tmp_path):
    with pytest.raises(InputFormatError, match=r"event \d+ has [xy] = \d+ outside the sensor size \(640, 480\)"):
        read_events(_path(FILES[2]), sensor_size=(640, 480))


@needs_data
def test_wrong_format_and_version_override(tmp_path):
    with pytest.raises(InputFormatError, match="header says EVT 2.0"):
        read_events(_path(FILES[0]), format="evt3")
    with pytest.raises(InputFormatError, match="header says EVT 3.0"):
        read_events(_path(FILES[2]), format="evt2")
    # a mislabelled header: version= decides
    hdr, data = _split_header(_path(FILES[2]))
    p = tmp_path / "mislabelled.raw"
    p.write_bytes(hdr.replace(b"% evt 3.0", b"% evt 2.0") + data)
    assert detect_format(p) == "evt2"
    ev = read_events(p, version="3.0")
    assert ev.format == "evt3" and ev.checksum() == _truth(FILES[2])["checksum_t_x_y_p_sha256"]
    with pytest.raises(ParameterError, match="version="):
        read_events(p, version="4.0")
    with pytest.raises(ParameterError, match="unknown option"):
        read_events(_path(FILES[0]), frobnicate=1)


def test_sniffs_do_not_claim_other_files(tmp_path):
    dat = b"% Data file containing Event2D events.\n% Version 2\n% Height 240\n% Width 304\n\x00\x08" + bytes(16)
    assert not evt_mod._sniff_evt2(dat, "x.dat") and not evt_mod._sniff_evt3(dat, "x.dat")
    p = tmp_path / "x.dat"
    p.write_bytes(dat)
    with pytest.raises(InputFormatError, match=r"Prophesee \.dat"):
        read_events(p, format="evt2", sensor_size=(304, 240))
    assert not evt_mod._sniff_evt3(b"#!AER-DAT2.0\r\n", "a.aedat")
    assert evt_mod._sniff_evt2(b"% evt 2.0\n", "a.raw") and evt_mod._sniff_evt3(b"% format EVT3;width=1;height=1\n",
                                                                               "a.raw")
    # no version line: EVT2-only plugins are EVT 2.0, others are left to format=
    assert evt_mod._sniff_evt2(b"% plugin_name hal_plugin_gen3_fx3\n% system_ID 21\n", "a.raw")
    nover = b"% plugin_name hal_plugin_gen41_evk3\n% system_ID 48\n"
    assert not evt_mod._sniff_evt2(nover, "a.raw") and not evt_mod._sniff_evt3(nover, "a.raw")
    p = tmp_path / "nover.raw"
    p.write_bytes(nover + np.array([0x8001, 0x0001, 0x2001], "<u2").tobytes())
    with pytest.raises(InputFormatError, match="format="):
        read_events(p)
    assert len(read_events(p, format="evt3")) == 1
    with pytest.raises(InputFormatError, match="EVT 2.1"):
        read_events(_write(tmp_path, "% evt 2.1\n% geometry 8x8\n", [], "<u8", "e21.raw"), format="evt2")


def test_no_warning_for_clean_stream(tmp_path):
    p = _write(tmp_path, "% evt 3.0\n% geometry 8x8\n% end\n", [0x8001, 0x0001, 0x2001], "<u2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(read_events(p)) == 1
