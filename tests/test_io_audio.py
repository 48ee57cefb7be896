"""Audio spike streams (NAS AEDAT, SLAYER .bs1, SHD HDF5) and the cochlea front end.

The file tests compare with the ground truth in ``shared/data/events/MANIFEST.json`` (checksum of
t, x, y, p in the file's native tick: 0.2 us or 1 us for NAS, us for .bs1, 48 kHz samples for SHD).
"""

import json
import os

import numpy as np
import pytest

from spikeengine.errors import InputFormatError, ParameterError
from spikeengine.io import Events, iter_events, read_events
from spikeengine.io.audio import SHD_TICK_US, NasReader, ShdFile, read_shd
from spikeengine.io.cochlea import audio_to_spikes, erb_space, iter_audio_spikes

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
DATA = os.path.join(SHARED, "events")
MANIFEST = os.path.join(DATA, "MANIFEST.json")
needs_data = pytest.mark.skipif(not os.path.exists(MANIFEST),
                                reason=f"shared sample recordings not found ({os.path.abspath(DATA)})")

NAS_MONO32 = "audio_nas_mono_32ch_onoff_addr2b_ts0.2us_pynavis.aedat"
NAS_STEREO64 = "audio_nas_stereo_64ch_onoff_addr4b_ts1us_enun_pynavis.aedat"
NAS_130HZ = "audio_nas_mono_64ch_onoff_addr2b_ts0.2us_130Hz_pynavis.aedat"
BS1 = "audio_ntidigits_slayer_1d.bs1"
SHD = "audio_shd_layout_from_lauscher_reference.h5"
NPZ = "audio_shd_lauscher_reference_spikes.npz"
FLAC = "audio_spoken_digit_48k_lauscher.flac"

# options from the file names (NAS files carry no header)
CASES = {
    NAS_MONO32: dict(format="nas", address_bytes=2, tick_us=0.2, channels=32, ears=1),
    NAS_STEREO64: dict(format="nas", address_bytes=4, tick_us=1.0, channels=64, ears=2),
    NAS_130HZ: dict(format="nas", address_bytes=2, tick_us=0.2, channels=64, ears=1),
    BS1: dict(),  # detected by its extension
    SHD: dict(),  # detected by the HDF5 magic + spikes/times
}
TICKS = {NAS_MONO32: 0.2, NAS_STEREO64: 1.0, NAS_130HZ: 0.2, BS1: 1.0, SHD: SHD_TICK_US}


@pytest.fixture(scope="module")
def manifest():
    with open(MANIFEST) as f:
        return {e["file"]: e for e in json.load(f)["files"]}


def _path(name):
    return os.path.join(DATA, name)


# ---------------------------------------------------------------- readers vs the MANIFEST

@needs_data
@pytest.mark.parametrize("name", list(CASES))
def test_matches_manifest(name, manifest):
    m = manifest[name]
    ev = read_events(_path(name), **CASES[name])
    assert ev.tick_us == pytest.approx(TICKS[name])
    assert len(ev) == m["n_events"]
    assert int(ev.t[0]) == m["t_first"] and int(ev.t[-1]) == m["t_last"]
    assert int(ev.t.min()) == m["t_min"] and int(ev.t.max()) == m["t_max"]
    assert bool(np.all(np.diff(ev.t) >= 0)) == m["t_monotonic_nondecreasing"]
    assert (int(ev.x.min()), int(ev.x.max()), int(ev.y.min()), int(ev.y.max())) == (
        m["x_min"], m["x_max"], m["y_min"], m["y_max"])
    vals, counts = np.unique(ev.p, return_counts=True)
    assert {str(v): int(c) for v, c in zip(vals, counts)} == m["polarity_counts"]
    first = [[int(e["t"]), int(e["x"]), int(e["y"]), int(e["p"])] for e in ev.data[:3]]
    assert first == m["first_events_t_x_y_p"]
    assert ev.checksum() == m["checksum_t_x_y_p_sha256"]
    if "channels" in m:
        assert ev.sensor_size == (m["channels"], 2 if m["stereo"] else 1)


@needs_data
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("k", [1000, 4097])
def test_chunked_reading_reproduces_checksum(name, k, manifest):
    chunks = list(iter_events(_path(name), n_events=k, **CASES[name]))
    assert all(len(c) == k for c in chunks[:-1]) and 0 < len(chunks[-1]) <= k
    assert Events.concatenate(chunks).checksum() == manifest[name]["checksum_t_x_y_p_sha256"]


@needs_data
def test_time_window_chunks(manifest):
    chunks = list(iter_events(_path(NAS_MONO32), window_us=100_000, **CASES[NAS_MONO32]))  # 100 ms windows
    assert len(chunks) > 5
    for c in chunks:
        assert (int(c.t[-1]) - int(c.t[0])) * c.tick_us < 100_000
    assert Events.concatenate(chunks).checksum() == manifest[NAS_MONO32]["checksum_t_x_y_p_sha256"]


@needs_data
def test_nas_times_in_ms():
    ev = read_events(_path(NAS_MONO32), **CASES[NAS_MONO32])
    assert ev.t_ms()[0] == pytest.approx(573010 * 0.2e-3)  # 0.2 us ticks
    ev = read_events(_path(NAS_STEREO64), **CASES[NAS_STEREO64])
    assert ev.t_ms()[-1] == pytest.approx(13741.184)
    assert set(np.unique(ev.y).tolist()) == {0, 1}


@needs_data
def test_shd_against_npz_reference(manifest):
    ref = np.load(_path(NPZ))["arr_0"]
    with read_shd(_path(SHD)) as shd:
        assert len(shd) == 1
        ev, label = shd[0]
        assert label == 0 and shd.labels.tolist() == manifest[SHD]["cross_checks"]["labels"]
        assert shd.keys[:3] == ["zero", "one", "two"] and len(shd.keys) == 20
        assert shd.speaker.tolist() == [0]
        assert [lab for _, lab in shd] == [0]
        assert shd[-1][0].checksum() == ev.checksum()
        with pytest.raises(IndexError):
            shd[1]
    assert ev.checksum() == manifest[SHD]["checksum_t_x_y_p_sha256"] == manifest[NPZ]["checksum_t_x_y_p_sha256"]
    np.testing.assert_array_equal(ev.t, np.rint(ref[0] * 48000).astype(np.int64))
    np.testing.assert_array_equal(ev.x, ref[1].astype(np.int64))
    np.testing.assert_allclose(ev.t_ms(), ref[0] * 1000.0, rtol=0, atol=1e-6)
    assert ev.sensor_size == (700, 1) and set(ev.p.tolist()) == {1}
    # microsecond ticks on request; read_events returns sample 0 by default
    us, _ = ShdFile(_path(SHD), tick_us=1.0)[0]
    np.testing.assert_array_equal(us.t, np.rint(ref[0].astype(np.float32).astype(np.float64) * 1e6))
    assert read_events(_path(SHD), sample=0).checksum() == ev.checksum()
    assert read_events(_path(SHD)).checksum() == ev.checksum()
    with pytest.raises(IndexError):
        read_events(_path(SHD), sample=3)


# ---------------------------------------------------------------- bad input

def _nas_bytes(records, address_bytes=2):
    dt = np.dtype([("a", ">u2" if address_bytes == 2 else ">u4"), ("t", ">u4")])
    return np.array(records, dtype=dt).tobytes()


def test_nas_missing_options_are_listed(tmp_path):
    p = tmp_path / "x.aedat"
    p.write_bytes(_nas_bytes([(1, 10)]))
    with pytest.raises(ParameterError, match="address_bytes=, tick_us=, channels=, ears="):
        read_events(p, format="nas")
    with pytest.raises(ParameterError, match="tick_us="):
        read_events(p, format="nas", address_bytes=2, channels=4, ears=1)
    with pytest.raises(ParameterError, match="address_bytes must be 2 or 4"):
        read_events(p, format="nas", address_bytes=3, tick_us=1.0, channels=4, ears=1)
    # sensor_size stands for (channels, ears)
    ev = read_events(p, format="nas", sensor_size=(4, 1), address_bytes=2, tick_us=1.0)
    assert ev.sensor_size == (4, 1) and ev.x.tolist() == [0] and ev.p.tolist() == [1]


def test_nas_truncated_record_names_offset(tmp_path):
    p = tmp_path / "trunc.aedat"
    p.write_bytes(_nas_bytes([(i, 10 * i) for i in range(5)]) + b"\x00\x01\x02")
    with pytest.raises(InputFormatError, match=r"at byte 30\b.*truncated"):
        read_events(p, format="nas", address_bytes=2, tick_us=0.2, channels=8, ears=1)
    p.write_bytes(_nas_bytes([(i, 10 * i) for i in range(5)], 4)[:-1])  # 8-byte records, last one short
    with pytest.raises(InputFormatError, match=r"at byte 32\b"):
        read_events(p, format="nas", address_bytes=4, tick_us=1.0, channels=8, ears=1)


def test_nas_address_outside_channels_and_ears(tmp_path):
    p = tmp_path / "st.aedat"
    p.write_bytes(_nas_bytes([(3, 1), (2 * 8 + 1, 2), (2 * 16, 3)]))  # third: ear 2 with 8 channels
    with pytest.raises(InputFormatError, match=r"at byte 12\b.*ear 2"):
        read_events(p, format="nas", address_bytes=2, tick_us=1.0, channels=8, ears=2)
    ev = read_events(p, format="nas", address_bytes=2, tick_us=1.0, channels=16, ears=2)
    assert ev.x.tolist() == [1, 8, 0] and ev.y.tolist() == [0, 0, 1] and ev.p.tolist() == [1, 1, 0]


def test_nas_counter_wrap_is_unwrapped(tmp_path):
    p = tmp_path / "wrap.aedat"
    p.write_bytes(_nas_bytes([(0, 2**32 - 10), (1, 2**32 - 2), (0, 5), (1, 7)]))
    ev = NasReader(p, address_bytes=2, tick_us=1.0, channels=1, ears=1).read()
    assert ev.t.tolist() == [2**32 - 10, 2**32 - 2, 2**32 + 5, 2**32 + 7]


@needs_data
def test_nas_wrong_stereo_option_fails_loudly():
    with pytest.raises(InputFormatError, match="ears=1"):
        read_events(_path(NAS_STEREO64), format="nas", address_bytes=4, tick_us=1.0, channels=64, ears=1)


def test_bs1_truncated(tmp_path):
    p = tmp_path / "t.bs1"
    p.write_bytes(bytes(12))
    with pytest.raises(InputFormatError, match=r"at byte 10\b"):
        read_events(p)


def test_hdf5_without_spikes_times(tmp_path):
    h5py = pytest.importorskip("h5py")
    p = tmp_path / "bad.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("spikes/units", data=np.zeros(3, np.uint16))
        f.create_dataset("labels", data=np.zeros(3, np.uint16))
    with pytest.raises(InputFormatError, match=r"bad\.h5.*missing dataset 'spikes/times'"):
        ShdFile(p)
    with pytest.raises(InputFormatError, match="spikes/times"):
        read_events(p, format="shd")
    with pytest.raises(InputFormatError):  # not sniffed as SHD, and .h5 alone does not decide
        read_events(p)


def test_shd_synthetic_many_samples(tmp_path):
    h5py = pytest.importorskip("h5py")
    p = tmp_path / "many.h5"
    rng = np.random.default_rng(1)
    samples = [(np.sort(rng.integers(0, 48000, n)) / 48000.0, rng.integers(0, 700, n)) for n in (5, 0, 17)]
    with h5py.File(p, "w") as f:
        t = f.create_dataset("spikes/times", (3,), dtype=h5py.vlen_dtype(np.float32))
        u = f.create_dataset("spikes/units", (3,), dtype=h5py.vlen_dtype(np.uint16))
        for i, (ts, us) in enumerate(samples):
            t[i], u[i] = ts.astype(np.float32), us.astype(np.uint16)
        f.create_dataset("labels", data=np.array([3, 1, 4], np.uint16))
    with ShdFile(p) as shd:
        assert len(shd) == 3 and shd.keys is None and shd.speaker is None
        for (ev, label), (ts, us), want in zip(shd, samples, [3, 1, 4]):
            assert label == want
            np.testing.assert_array_equal(ev.t, np.rint(ts * 48000))
            np.testing.assert_array_equal(ev.x, us)
    assert len(read_events(p, sample=1)) == 0
    assert read_events(p, sample=2, tick_us=1.0).t.tolist() == np.rint(
        samples[2][0].astype(np.float32).astype(np.float64) * 1e6).tolist()


# ---------------------------------------------------------------- cochlea front end

FS = 16000


def _tone(freqs, dur=0.5, amp=0.2, fs=FS):
    t = np.arange(int(dur * fs)) / fs
    return sum(amp * np.sin(2 * np.pi * f * t) for f in freqs)


@pytest.mark.parametrize("method", ["send_on_delta", "lif"])
def test_pure_tone_excites_matching_channel(method):
    ch, f_min, f_max = 32, 50.0, 7000.0
    ev = audio_to_spikes(_tone([1000.0]), FS, ch, f_min, f_max, method)
    cf = erb_space(ch, f_min, f_max)
    counts = np.bincount(ev.x, minlength=ch)
    best = cf[counts.argmax()]
    assert 1000.0 / 1.3 < best < 1000.0 * 1.3
    near = np.abs(np.log(cf / 1000.0)) < np.log(1.5)
    assert counts[near].sum() > 0.6 * counts.sum()  # mostly the channels near 1 kHz
    assert ev.sensor_size == (ch, 1) and ev.tick_us == 1e6 / FS
    assert np.all(np.diff(ev.t) >= 0)
    if method == "lif":
        assert set(ev.p.tolist()) == {1}
    else:
        assert set(ev.p.tolist()) == {0, 1}


@pytest.mark.parametrize("method", ["send_on_delta", "lif"])
def test_two_tones_give_two_peaks(method):
    ch = 32
    cf = erb_space(ch, 50.0, 7000.0)
    counts = np.bincount(audio_to_spikes(_tone([300.0, 3000.0]), FS, ch, 50.0, 7000.0, method).x, minlength=ch)
    lo = cf < 1000.0
    i = int(np.argmax(np.where(lo, counts, -1)))
    j = int(np.argmax(np.where(~lo, counts, -1)))
    assert 300 / 1.3 < cf[i] < 300 * 1.3 and 3000 / 1.3 < cf[j] < 3000 * 1.3
    assert counts[i:j + 1].min() < 0.1 * min(counts[i], counts[j])  # a valley between the peaks


@pytest.mark.parametrize("method", ["send_on_delta", "lif"])
def test_silence_gives_no_spikes(method):
    assert len(audio_to_spikes(np.zeros(FS // 2), FS, 16, 100.0, 6000.0, method)) == 0


@pytest.mark.parametrize("method", ["send_on_delta", "lif"])
def test_deterministic_and_block_independent(method):
    x = _tone([440.0, 2500.0], dur=0.6) * np.linspace(0, 1.5, int(0.6 * FS))
    a = audio_to_spikes(x, FS, 24, 80.0, 6000.0, method)
    b = audio_to_spikes(x, FS, 24, 80.0, 6000.0, method)
    assert len(a) > 100 and a.checksum() == b.checksum()
    blocks = list(iter_audio_spikes(x, 0.0137, FS, 24, 80.0, 6000.0, method))
    assert len(blocks) == int(np.ceil(0.6 / (round(0.0137 * FS) / FS)))
    assert Events.concatenate(blocks).checksum() == a.checksum()
    assert audio_to_spikes(x, FS, 24, 80.0, 6000.0, method, block_s=10.0).checksum() == a.checksum()
    # resampling 16 kHz -> 12 kHz block by block equals resampling the whole signal
    r1 = audio_to_spikes(x, FS, 24, 80.0, 5000.0, method, target_rate=12000, block_s=0.05)
    r2 = audio_to_spikes(x, FS, 24, 80.0, 5000.0, method, target_rate=12000, block_s=5.0)
    assert len(r1) > 0 and r1.checksum() == r2.checksum() and r1.tick_us == pytest.approx(1e6 / 12000)


def test_stereo_array_gives_ears():
    x = _tone([1000.0], dur=0.2)
    ev = audio_to_spikes(np.stack([x, np.zeros_like(x)], axis=1), FS, 16, 100.0, 6000.0)
    assert ev.sensor_size == (16, 2) and set(ev.y.tolist()) == {0}
    ev2 = audio_to_spikes(np.stack([x, x], axis=1), FS, 16, 100.0, 6000.0)
    left, right = ev2[ev2.y == 0], ev2[ev2.y == 1]
    assert left.t.tolist() == right.t.tolist() and left.x.tolist() == right.x.tolist()
    # int16 PCM is full-scale normalised
    pcm = np.round(x * 32768).astype(np.int16)
    assert abs(len(audio_to_spikes(pcm, FS, 16, 100.0, 6000.0)) - len(audio_to_spikes(x, FS, 16, 100.0, 6000.0))) < 20


@pytest.mark.parametrize("kwargs, name", [
    (dict(channels=0), "channels"),
    (dict(channels=2.5), "channels"),
    (dict(f_min=0.0), "f_min"),
    (dict(f_min=3000.0, f_max=2000.0), "f_min"),
    (dict(f_max=8000.0), "f_max"),  # = Nyquist of 16 kHz
    (dict(method="mel"), "method"),
    (dict(compression="sqrt"), "compression"),
    (dict(delta=0.0), "delta"),
    (dict(tau_ms=-1.0, method="lif"), "tau_ms"),
    (dict(threshold=float("nan"), method="lif"), "threshold"),
    (dict(block_s=0), "block_s"),
    (dict(target_rate=-5), "target_rate"),
    (dict(sample_rate=None), "sample_rate"),
])
def test_cochlea_parameter_errors(kwargs, name):
    args = dict(sample_rate=FS, channels=8, f_min=100.0, f_max=6000.0)
    args.update(kwargs)
    with pytest.raises(ParameterError, match=name):
        audio_to_spikes(np.zeros(100), **args)


@needs_data
def test_spoken_digit_flac(manifest, record_property):
    path = _path(FLAC)
    ev = audio_to_spikes(path, method="lif")
    assert ev.tick_us == pytest.approx(1e6 / 48000) and ev.sensor_size == (64, 1)
    t_s = ev.t_ms() / 1000.0
    dur = manifest[FLAC]["duration_s"]
    assert 100 < len(ev) < 5000 and t_s.max() < dur
    inside = (t_s > 0.15) & (t_s < 0.75)  # the speech interval (the recording starts and ends quiet)
    assert inside.mean() > 0.95
    ref = np.load(_path(NPZ))["arr_0"]  # Lauscher's SHD chain on the same file: similar time span
    assert abs(np.median(t_s) - np.median(ref[0])) < 0.15
    sod = audio_to_spikes(path, method="send_on_delta")
    assert ((sod.t_ms() > 150) & (sod.t_ms() < 750)).mean() > 0.9
    record_property("lif_spikes", len(ev))
    record_property("send_on_delta_events", len(sod))
    print(f"spoken digit: {len(ev)} LIF spikes (Lauscher reference: {ref.shape[1]}), {len(sod)} send-on-delta events")


def test_audio_file_round_trip(tmp_path):
    sf = pytest.importorskip("soundfile")
    x = _tone([1000.0], dur=0.3)
    p = tmp_path / "tone.wav"
    sf.write(p, x, FS, subtype="FLOAT")
    a = audio_to_spikes(str(p), channels=16, f_min=100.0, f_max=6000.0)
    b = audio_to_spikes(x, FS, 16, 100.0, 6000.0)
    assert a.checksum() == b.checksum() and a.source == str(p)
    with pytest.raises(ParameterError, match="target_rate"):
        audio_to_spikes(str(p), sample_rate=8000, channels=16, f_min=100.0, f_max=3000.0)
    with pytest.raises(InputFormatError, match="cannot read as audio"):
        bad = tmp_path / "bad.wav"
        bad.write_bytes(b"not audio")
        audio_to_spikes(str(bad))


def test_iter_audio_spikes_checks_parameters_at_call():
    with pytest.raises(ParameterError, match="channels"):
        iter_audio_spikes(np.zeros(10), sample_rate=FS, channels=-1)


@needs_data
def test_spoken_digit_example(capsys):
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), "..", "examples", "spoken_digit.py")
    spec = importlib.util.spec_from_file_location("spoken_digit_example", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(["--audio", _path(FLAC), "--channels", "32"])
    out = capsys.readouterr().out
    assert "cochlea spikes" in out and "band spikes" in out and "bands:" in out
