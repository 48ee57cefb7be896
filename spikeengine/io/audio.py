"""Audio spike streams: NAS cochlea AEDAT, SLAYER 1-D ``.bs1``, SHD/SSC HDF5 datasets.

For these 1-D streams x is the cochlea channel (or unit), y the ear (0 for mono) and p the
polarity bit (1 where the format has none); ``sensor_size = (channels, ears)``.

* ``"nas"``: headerless NAS (Neuromorphic Auditory Sensor) AEDAT as written by jAER / pyNAVIS:
  records of a big-endian u16 or u32 address and a big-endian u32 timestamp, address =
  ``((ear * channels + channel) << 1) | polarity``. Nothing in the file tells the address size,
  the tick, the channel count or mono/stereo, so the reader is never chosen automatically: pass
  ``format="nas", address_bytes=2|4, tick_us=0.2|1.0, channels=..., ears=1|2``. Times stay in the
  native tick (int64); a decrease of more than 2**31 ticks is taken as a wrap of the 32-bit
  counter and unwrapped, other decreases are kept as they are (file order).
* ``"bs1"``: SLAYER 1-D 40-bit events (e.g. N-TIDIGITS): 5 bytes, neuron id u16 big-endian, then
  24 bits with p in bit 23 and t (us) in bits 22-0. t stays in microseconds (SLAYER itself
  returns ms and rewrites p as p - min(p); here p is the raw bit). A decrease of more than
  2**22 us is taken as a wrap of the 23-bit counter. ``channels=`` sets the sensor size.
* ``"shd"``: the Spiking Heidelberg Digits / Spiking Speech Commands HDF5 layout
  (``spikes/times`` float seconds per sample, ``spikes/units``, ``labels``, ``extra/keys``,
  ``extra/speaker``). A file holds many samples: :class:`ShdFile` gives indexed access,
  ``read_events(path, sample=i)`` one sample. Times become integer ticks of 1/48000 s by default
  (``tick_us = 1e6 / 48000``, the audio sample clock of the SHD cochlea chain: exact for its
  spikes, which lie on that grid); pass ``tick_us=1.0`` for microseconds.

The audio front end that turns sound into spikes is :mod:`spikeengine.io.cochlea`
(:func:`audio_to_spikes`, :func:`iter_audio_spikes`), re-exported here.
"""

import os

import numpy as np

from ..errors import InputFormatError, ParameterError
from . import register
from .cochlea import audio_to_spikes, erb_space, iter_audio_spikes
from .events import BLOCK_EVENTS, EVENT_DTYPE, EventReader, Events

#: tick of SHD/SSC spike times after conversion: one sample of the 48 kHz audio, in microseconds
SHD_TICK_US = 1e6 / 48000.0
#: number of units of the SHD/SSC cochlea model (units 0..699)
SHD_UNITS = 700
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _unwrap(t, bits, state):
    """Unwrap a ``bits``-bit counter (int64 array, in place): a drop of more than half the range is a wrap.

    ``state`` = [last raw value, offset] carried from block to block.
    """
    if t.shape[0] == 0:
        return t
    half = 1 << (bits - 1)
    prev = np.concatenate([[state[0] if state[0] is not None else t[0]], t[:-1]])
    wraps = np.cumsum((t - prev) < -half, dtype=np.int64)
    state[0] = int(t[-1])
    off = state[1]
    state[1] = off + int(wraps[-1]) * (1 << bits)
    t += off + wraps * (1 << bits)
    return t


# ---------------------------------------------------------------- NAS

@register("nas", extensions=(), sniff=None)
class NasReader(EventReader):
    """Headerless NAS cochlea AEDAT (jAER / pyNAVIS); options ``address_bytes``, ``tick_us``, ``channels``, ``ears``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> rec = np.array([(0b101, 10), (0b100, 15)], dtype=[("a", ">u2"), ("t", ">u4")])  # channel 2, ON then OFF
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.aedat")
    >>> rec.tofile(path)
    >>> ev = NasReader(path, address_bytes=2, tick_us=0.2, channels=4, ears=1).read()
    >>> ev.t.tolist(), ev.x.tolist(), ev.p.tolist(), ev.sensor_size, ev.t_ms().tolist()
    ([10, 15], [2, 2], [1, 0], (4, 1), [0.002, 0.003])
    """

    OPTIONS = ("address_bytes", "tick_us", "channels", "ears")

    def _open(self):
        opts = dict(self.options)
        if self.sensor_size is not None:  # (channels, ears) may come as sensor_size
            opts.setdefault("channels", self.sensor_size[0])
            if len(self.sensor_size) > 1:
                opts.setdefault("ears", self.sensor_size[1])
        unknown = sorted(set(opts) - set(self.OPTIONS))
        if unknown:
            raise ParameterError(f"{self.path}: nas: unknown option(s) {unknown}; options: {', '.join(self.OPTIONS)}")
        missing = [k for k in self.OPTIONS if opts.get(k) is None]
        if missing:
            raise ParameterError(
                f"{self.path}: nas: the NAS AEDAT format has no header; pass {', '.join(f'{k}=' for k in missing)} "
                f"(address_bytes=2 or 4, tick_us=0.2 or 1.0, channels=number of cochlea channels, ears=1 mono or "
                f"2 stereo; pyNAVIS MainSettings or the file name tell them)")
        ab, tick, ch, ears = (opts[k] for k in self.OPTIONS)
        if ab not in (2, 4):
            raise ParameterError(f"{self.path}: nas: address_bytes must be 2 or 4, got {ab!r}")
        try:
            tick = float(tick)
        except (TypeError, ValueError):
            tick = float("nan")
        if not (np.isfinite(tick) and tick > 0):
            raise ParameterError(f"{self.path}: nas: tick_us must be > 0 (0.2 or 1.0), got {opts['tick_us']!r}")
        for name, v, hi in (("channels", ch, 32767), ("ears", ears, 2)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not 1 <= v <= hi:
                raise ParameterError(f"{self.path}: nas: {name} must be an integer in [1, {hi}], got {v!r}")
        self.address_bytes, self.tick_us, self.channels, self.ears = int(ab), tick, int(ch), int(ears)
        self.record = np.dtype([("a", ">u2" if ab == 2 else ">u4"), ("t", ">u4")])
        size = os.path.getsize(self.path)
        rs = self.record.itemsize
        if size % rs:
            off = size - size % rs
            raise self._error(f"truncated file: {size} bytes is not a whole number of {rs}-byte records "
                              f"(address_bytes={ab}); incomplete record of {size % rs} byte(s)", off)
        self.sensor_size = (self.channels, self.ears)
        self.meta = {"address_bytes": self.address_bytes, "channels": self.channels, "ears": self.ears,
                     "record_bytes": rs, "n_events": size // rs}

    def _blocks(self):
        rs = self.record.itemsize
        state = [None, 0]
        off = 0
        with open(self.path, "rb") as f:
            while True:
                raw = f.read(BLOCK_EVENTS * rs)
                if not raw:
                    return
                rec = np.frombuffer(raw, self.record)
                addr = rec["a"].astype(np.int64)
                idx = addr >> 1
                out = np.empty(rec.shape[0], EVENT_DTYPE)
                out["x"] = idx % self.channels
                y = idx // self.channels
                bad = np.flatnonzero(y >= self.ears)
                if bad.size:
                    i = int(bad[0])
                    raise self._error(f"address {int(addr[i])} decodes to ear {int(y[i])}, but ears={self.ears} "
                                      f"with channels={self.channels} (wrong channels/ears/address_bytes?)",
                                      off + i * rs)
                out["y"] = y
                out["p"] = addr & 1
                out["t"] = _unwrap(rec["t"].astype(np.int64), 32, state)
                off += len(raw)
                yield out


# ---------------------------------------------------------------- SLAYER .bs1

@register("bs1", extensions=(".bs1",), sniff=None)
class Bs1Reader(EventReader):
    """SLAYER 1-D 40-bit spike files (``.bs1``); t in microseconds, x = neuron id, p = raw bit 23.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.bs1")
    >>> _ = open(path, "wb").write(bytes([0, 5, 0x80, 0x01, 0x00, 0, 63, 0x00, 0x02, 0x00]))
    >>> ev = Bs1Reader(path).read()
    >>> ev.t.tolist(), ev.x.tolist(), ev.p.tolist()
    ([256, 512], [5, 63], [1, 0])
    """

    tick_us = 1.0

    def _open(self):
        opts = dict(self.options)
        ch = opts.pop("channels", None)
        if opts:
            raise ParameterError(f"{self.path}: bs1: unknown option(s) {sorted(opts)}; options: channels")
        if ch is not None:
            if not isinstance(ch, (int, np.integer)) or not 1 <= ch <= 65536:
                raise ParameterError(f"{self.path}: bs1: channels must be an integer in [1, 65536], got {ch!r}")
            self.sensor_size = (int(ch), 1)
        size = os.path.getsize(self.path)
        if size % 5:
            raise self._error(f"truncated file: {size} bytes is not a whole number of 5-byte events; "
                              f"incomplete event of {size % 5} byte(s)", size - size % 5)
        self.meta = {"n_events": size // 5}

    def _blocks(self):
        state = [None, 0]
        off = 0
        with open(self.path, "rb") as f:
            while True:
                raw = f.read(BLOCK_EVENTS * 5)
                if not raw:
                    return
                b = np.frombuffer(raw, np.uint8).reshape(-1, 5).astype(np.int64)
                out = np.empty(b.shape[0], EVENT_DTYPE)
                x = (b[:, 0] << 8) | b[:, 1]
                if self.sensor_size is not None and x.size and x.max() >= self.sensor_size[0]:
                    i = int(np.argmax(x >= self.sensor_size[0]))
                    raise self._error(f"neuron id {int(x[i])} >= channels={self.sensor_size[0]}", off + 5 * i)
                out["x"] = x
                out["y"] = 0
                out["p"] = b[:, 2] >> 7
                out["t"] = _unwrap(((b[:, 2] & 0x7F) << 16) | (b[:, 3] << 8) | b[:, 4], 23, state)
                off += len(raw)
                yield out


# ---------------------------------------------------------------- SHD / SSC

def _h5py():
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - optional dependency
        raise ImportError("reading SHD/SSC HDF5 files needs the 'h5py' package (pip install h5py)") from exc
    return h5py


def _sniff_shd(head, path):
    if not head.startswith(HDF5_MAGIC):
        return False
    try:
        h5py = _h5py()
        with h5py.File(path, "r") as f:
            return "spikes/times" in f
    except Exception:  # not readable as HDF5 / no h5py: not ours
        return False


class ShdFile:
    """A Spiking Heidelberg Digits / Spiking Speech Commands HDF5 file: many labelled samples.

    ``shd[i]`` is ``(Events, label)`` for sample ``i`` (read on demand with h5py, so memory stays
    bounded by one sample); iterating yields every sample in order.

    Parameters
    ----------
    path : str or path-like
    tick_us : float, optional
        Tick of the integer times. Default :data:`SHD_TICK_US` (1/48000 s, exact for spikes on the
        48 kHz sample grid of the SHD cochlea chain); ``1.0`` gives microseconds. Times are rounded
        to the nearest tick: ``t = rint(times_s * 1e6 / tick_us)``.
    units : int
        Number of units (x range, the sensor width); 700 for SHD and SSC.

    Attributes
    ----------
    labels : ndarray or None
        Label per sample (``labels`` dataset).
    keys : list of str or None
        Label names (``extra/keys``), when present.
    speaker : ndarray or None
        Speaker id per sample (``extra/speaker``), when present.

    Examples
    --------
    >>> import os, tempfile
    >>> import h5py, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny_shd.h5")
    >>> with h5py.File(path, "w") as f:
    ...     vf, vu = h5py.vlen_dtype(np.float32), h5py.vlen_dtype(np.uint16)
    ...     times = f.create_dataset("spikes/times", (2,), dtype=vf)
    ...     units = f.create_dataset("spikes/units", (2,), dtype=vu)
    ...     times[0], units[0] = np.array([0.001, 0.0025], np.float32), np.array([3, 699], np.uint16)
    ...     times[1], units[1] = np.array([0.5], np.float32), np.array([7], np.uint16)
    ...     _ = f.create_dataset("labels", data=np.array([4, 11], np.uint16))
    >>> with ShdFile(path) as shd:
    ...     ev, label = shd[0]
    ...     print(len(shd), label, ev.t.tolist(), ev.x.tolist(), ev.t_ms().tolist(), shd.labels.tolist())
    2 4 [48, 120] [3, 699] [1.0, 2.5] [4, 11]
    """

    def __init__(self, path, tick_us=None, units=SHD_UNITS):
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise InputFormatError(f"{self.path}: no such file")
        self.tick_us = SHD_TICK_US if tick_us is None else float(tick_us)
        if not (np.isfinite(self.tick_us) and self.tick_us > 0):
            raise ParameterError(f"{self.path}: shd: tick_us must be > 0, got {tick_us!r}")
        if not isinstance(units, (int, np.integer)) or not 1 <= units <= 65536:
            raise ParameterError(f"{self.path}: shd: units must be an integer in [1, 65536], got {units!r}")
        self.units = int(units)
        rate = 1e6 / self.tick_us
        self._per_s = float(round(rate)) if abs(rate - round(rate)) < 1e-6 * rate else rate
        h5py = _h5py()
        try:
            self._f = h5py.File(self.path, "r")
        except OSError as exc:
            raise InputFormatError(f"{self.path}: shd: not a readable HDF5 file ({exc})") from exc
        try:
            self._times = self._dataset("spikes/times")
            self._units = self._dataset("spikes/units")
            n = self._times.shape[0] if self._times.shape else 0
            if self._units.shape != self._times.shape:
                raise InputFormatError(f"{self.path}: shd: spikes/times has shape {self._times.shape} but "
                                       f"spikes/units has {self._units.shape}")
            self.labels = None
            if "labels" in self._f:
                self.labels = np.asarray(self._dataset("labels")[()])
                if self.labels.shape[:1] != (n,):
                    raise InputFormatError(f"{self.path}: shd: labels has shape {self.labels.shape}, expected ({n},)")
            self.keys = None
            if "extra/keys" in self._f:
                self.keys = [k.decode() if isinstance(k, bytes) else str(k) for k in self._f["extra/keys"][()]]
            self.speaker = np.asarray(self._f["extra/speaker"][()]) if "extra/speaker" in self._f else None
        except Exception:
            self._f.close()
            raise
        self._n = int(n)

    def _dataset(self, name):
        h5py = _h5py()
        if name not in self._f or not isinstance(self._f[name], h5py.Dataset):
            have = []
            self._f.visit(lambda k: have.append(k) if isinstance(self._f[k], h5py.Dataset) else None)
            raise InputFormatError(f"{self.path}: shd: missing dataset '{name}' (SHD/SSC layout: spikes/times, "
                                   f"spikes/units, labels); datasets in the file: {', '.join(have) or 'none'}")
        return self._f[name]

    def __len__(self):
        return self._n

    def _index(self, i):
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
            raise TypeError(f"ShdFile indices must be integers, got {type(i).__name__}")
        j = int(i) + self._n if i < 0 else int(i)
        if not 0 <= j < self._n:
            raise IndexError(f"{self.path}: sample {i} out of range for {self._n} samples")
        return j

    def arrays(self, i):
        """Raw ``(times_s, units)`` of sample ``i`` as stored."""
        j = self._index(i)
        return np.asarray(self._times[j]), np.asarray(self._units[j])

    def events(self, i):
        """Sample ``i`` as :class:`Events` (integer ticks of ``tick_us``; x = unit, y = 0, p = 1)."""
        j = self._index(i)
        ts, us = self.arrays(j)
        if ts.shape != us.shape or ts.ndim != 1:
            raise InputFormatError(f"{self.path}: shd: sample {j}: {ts.shape[0]} times but {us.shape[0]} units")
        ts = ts.astype(np.float64)
        if ts.size and not (np.all(np.isfinite(ts)) and ts.min() >= 0):
            k = int(np.argmax(~np.isfinite(ts) | (ts < 0)))
            raise InputFormatError(f"{self.path}: shd: sample {j}: spike {k} has time {ts[k]!r} s")
        if us.size and (us.min() < 0 or us.max() >= self.units):
            k = int(np.argmax((us < 0) | (us >= self.units)))
            raise InputFormatError(f"{self.path}: shd: sample {j}: spike {k} has unit {us[k]}, outside "
                                   f"[0, {self.units}) (pass units=)")
        t = np.rint(ts * self._per_s).astype(np.int64)
        return Events.from_arrays(t, us.astype(np.int64), None, None, tick_us=self.tick_us,
                                  sensor_size=(self.units, 1), format="shd", source=self.path)

    def label(self, i):
        """Label of sample ``i`` (None when the file has no ``labels``)."""
        j = self._index(i)
        return None if self.labels is None else self.labels[j].item()

    def __getitem__(self, i):
        return self.events(i), self.label(i)

    def __iter__(self):
        for i in range(self._n):
            yield self[i]

    def close(self):
        """Close the HDF5 file."""
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<ShdFile {self.path}: {self._n} samples, tick {self.tick_us:g} us>"


def read_shd(path, tick_us=None, units=SHD_UNITS):
    """Open an SHD/SSC HDF5 file as a :class:`ShdFile` (indexable samples ``(Events, label)``)."""
    return ShdFile(path, tick_us=tick_us, units=units)


@register("shd", extensions=(".h5", ".hdf5"), sniff=_sniff_shd)
class ShdReader(EventReader):
    """One sample of an SHD/SSC HDF5 file as a stream; options ``sample`` (default 0), ``tick_us``, ``units``."""

    def _open(self):
        opts = dict(self.options)
        self.sample = opts.pop("sample", 0)
        tick = opts.pop("tick_us", None)
        units = opts.pop("units", SHD_UNITS if self.sensor_size is None else self.sensor_size[0])
        if opts:
            raise ParameterError(f"{self.path}: shd: unknown option(s) {sorted(opts)}; options: sample, tick_us, units")
        with ShdFile(self.path, tick_us=tick, units=units) as shd:
            self.sample = shd._index(self.sample)
            self.tick_us = shd.tick_us
            self.sensor_size = (shd.units, 1)
            self.meta = {"n_samples": len(shd), "sample": self.sample, "label": shd.label(self.sample)}
            if shd.speaker is not None:
                self.meta["speaker"] = shd.speaker[self.sample].item()
        self._args = (tick, units)

    def _blocks(self):
        with ShdFile(self.path, *self._args) as shd:
            data = shd.events(self.sample).data
        for a in range(0, data.shape[0], BLOCK_EVENTS):
            yield data[a:a + BLOCK_EVENTS]


__all__ = ["Bs1Reader", "NasReader", "SHD_TICK_US", "SHD_UNITS", "ShdFile", "ShdReader", "audio_to_spikes",
           "erb_space", "iter_audio_spikes", "read_shd"]
