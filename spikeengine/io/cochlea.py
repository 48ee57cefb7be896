"""An audio front end: waveform -> gammatone filterbank -> hair-cell-like rectification -> spikes.

The chain, per ear (audio channel) and cochlea channel:

1. optional resampling to ``target_rate`` (:func:`scipy.signal.resample_poly`, done block by block
   with enough context on both sides that the result equals resampling the whole signal);
2. a 4th-order gammatone band-pass on ERB-spaced centre frequencies (Glasberg & Moore 1990),
   implemented as a cascade of four complex one-pole filters (unity gain at the centre
   frequency; the output is twice the real part), with the filter state carried across blocks;
3. half-wave rectification, compression (cube root, log or none) and an optional first-order
   low-pass (``smooth_ms``, the hair-cell synapse);
4. spike encoding: ``"send_on_delta"`` (ON event, p = 1, each time the signal rises by ``delta``
   above the last reference level, OFF, p = 0, each time it falls by ``delta``; the reference moves
   by exactly ``delta`` per event, so a large step gives several events at the same time, like
   a NAS/CochleaAMS cochlea) or ``"lif"`` (one leaky integrate-and-fire neuron per channel driven
   by the signal, p = 1).

Everything is deterministic (no random numbers). Times are integer sample indices at the
processing rate: ``tick_us = 1e6 / rate`` (62.5 us at 16 kHz, 20.833 us at 48 kHz), so no
rounding happens; :meth:`Events.t_ms` converts. x is the channel (0 = lowest centre frequency,
see :func:`erb_space`), y the ear (0 for mono), ``sensor_size = (channels, ears)``.

Memory is bounded by one block (``block_s`` seconds) of filter outputs, whatever the length of
the recording; :func:`iter_audio_spikes` yields the spikes block by block and
:func:`audio_to_spikes` concatenates them (the spikes do not depend on the block length).

Examples
--------
>>> import numpy as np
>>> fs = 16000
>>> tone = 0.3 * np.sin(2 * np.pi * 1000.0 * np.arange(fs // 10) / fs)  # 100 ms, 1 kHz
>>> ev = audio_to_spikes(tone, sample_rate=fs, channels=16, f_min=100.0, f_max=6000.0)
>>> cf = erb_space(16, 100.0, 6000.0)
>>> counts = np.bincount(ev.x, minlength=16)
>>> bool(0.77 < cf[counts.argmax()] / 1000.0 < 1.3), ev.sensor_size, ev.tick_us
(True, (16, 1), 62.5)
"""

import math
import os

import numpy as np

from ..errors import InputFormatError, ParameterError
from .events import EVENT_DTYPE, Events

METHODS = ("send_on_delta", "lif")
COMPRESSIONS = ("cbrt", "log", "none")

#: dynamic range of the ``"log"`` compression: log1p(x * LOG_SCALE) / log1p(LOG_SCALE) maps [0, 1] to [0, 1]
LOG_SCALE = 1000.0


def erb(f):
    """Equivalent rectangular bandwidth (Hz) of the auditory filter at ``f`` Hz (Glasberg & Moore 1990)."""
    return 24.7 * (4.37e-3 * np.asarray(f, dtype=np.float64) + 1.0)


def erb_space(channels, f_min, f_max):
    """Centre frequencies (Hz, ascending) evenly spaced on the ERB-rate scale from ``f_min`` to ``f_max``.

    Examples
    --------
    >>> erb_space(3, 100.0, 8000.0).round(1).tolist()
    [100.0, 1416.1, 8000.0]
    """
    _check_int("channels", channels, 1, 65535)
    if not (np.isfinite(f_min) and np.isfinite(f_max) and 0 < f_min < f_max):
        raise ParameterError(f"cochlea: need 0 < f_min < f_max, got f_min={f_min!r}, f_max={f_max!r}")
    e_lo, e_hi = (21.4 * np.log10(1.0 + 4.37e-3 * f) for f in (f_min, f_max))
    if channels == 1:
        return np.array([float(np.sqrt(f_min * f_max))])
    e = np.linspace(e_lo, e_hi, int(channels))
    f = (10.0 ** (e / 21.4) - 1.0) / 4.37e-3
    f[0], f[-1] = f_min, f_max
    return f


def gammatone_sos(fc, rate):
    """Complex second-order sections (4 x 6) of a 4th-order gammatone filter at ``fc`` Hz.

    Four identical one-pole stages ``(1 - r) / (1 - r e^{i theta} z^-1)`` with ``theta = 2 pi fc / rate``
    and ``r = exp(-2 pi 1.019 ERB(fc) / rate)``: unity gain at ``fc`` for the analytic signal; for a
    real input use ``2 * real(output)``.
    """
    theta = 2.0 * np.pi * fc / rate
    r = np.exp(-2.0 * np.pi * 1.019 * float(erb(fc)) / rate)
    sos = np.zeros((4, 6), np.complex128)
    sos[:, 0] = 1.0 - r
    sos[:, 3] = 1.0
    sos[:, 4] = -r * np.exp(1j * theta)
    return sos


# ---------------------------------------------------------------- encoders (numba when available)

def _sod_py(s, level, delta, out_n, out_k, out_p):
    m = 0
    for i in range(s.shape[0]):
        for k in range(s.shape[1]):
            v = s[i, k]
            q = level[k]
            while v >= (q + 1) * delta:
                q += 1
                out_n[m] = i
                out_k[m] = k
                out_p[m] = 1
                m += 1
            while v <= (q - 1) * delta:
                q -= 1
                out_n[m] = i
                out_k[m] = k
                out_p[m] = 0
                m += 1
            level[k] = q
    return m


def _lif_py(s, v, refr, decay, threshold, ref_steps, i0, out_n, out_k):
    # resumable: stops before a sample when the output buffer could overflow; returns (count, next sample)
    m = 0
    nk = s.shape[1]
    cap = out_n.shape[0]
    for i in range(i0, s.shape[0]):
        if m + nk > cap:
            return m, i
        for k in range(nk):
            if refr[k] > 0:
                refr[k] -= 1
                continue
            vk = v[k] * decay + (1.0 - decay) * s[i, k]
            if vk >= threshold:
                out_n[m] = i
                out_k[m] = k
                m += 1
                vk = 0.0
                refr[k] = ref_steps
            v[k] = vk
    return m, s.shape[0]


_KERNELS = {}


def _kernel(name):
    """The encoder kernel, compiled with numba when it is installed (SPIKEENGINE_BACKEND=python: pure Python)."""
    if name not in _KERNELS:
        fn = {"sod": _sod_py, "lif": _lif_py}[name]
        if os.environ.get("SPIKEENGINE_BACKEND", "").strip().lower() != "python":
            try:
                import numba

                fn = numba.njit(nogil=True)(fn)
            except ImportError:  # pragma: no cover - numba is a dependency
                pass
        _KERNELS[name] = fn
    return _KERNELS[name]


# ---------------------------------------------------------------- parameters

def _check_int(name, value, lo, hi=None):
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= lo
    if not ok or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ParameterError(f"cochlea: {name} must be an integer {rng}, got {value!r}")


def _check_pos(name, value, allow_zero=False, allow_none=False):
    if value is None and allow_none:
        return
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not (math.isfinite(v) and (v >= 0 if allow_zero else v > 0)):
        raise ParameterError(f"cochlea: {name} must be a finite number {'>=' if allow_zero else '>'} 0, "
                             f"got {value!r}")


class _FrontEnd:
    """Filterbank + rectification + encoder with all state carried from block to block."""

    def __init__(self, rate, ears, channels, f_min, f_max, method, compression, smooth_ms, gain, delta,
                 tau_ms, threshold, refractory_ms):
        self.rate = float(rate)
        self.ears = ears
        self.channels = channels
        self.cf = erb_space(channels, f_min, f_max)
        self.sos = [gammatone_sos(fc, self.rate) for fc in self.cf]
        nk = ears * channels
        self.zi = np.zeros((ears, channels, 4, 2), np.complex128)
        self.method = method
        self.compression = compression
        self.gain = float(gain)
        self.smooth = None
        if smooth_ms:
            a = math.exp(-1000.0 / (float(smooth_ms) * self.rate))
            self.smooth = (np.array([1.0 - a]), np.array([1.0, -a]), np.zeros((1, nk)))
        self.delta = float(delta)
        self.level = np.zeros(nk, np.int64)
        self.v = np.zeros(nk, np.float64)
        self.refr = np.zeros(nk, np.int64)
        self.decay = math.exp(-1000.0 / (float(tau_ms) * self.rate))
        self.threshold = float(threshold)
        self.ref_steps = int(round(float(refractory_ms) * self.rate / 1000.0))
        self.n0 = 0  # index of the next sample

    def _signal(self, x):
        """Compressed, rectified (and smoothed) filter outputs of a block, shape (n, ears * channels)."""
        from scipy.signal import lfilter, sosfilt

        n = x.shape[0]
        s = np.empty((n, self.ears * self.channels), np.float64)
        for e in range(self.ears):
            xe = x[:, e] * self.gain
            for c in range(self.channels):
                y, self.zi[e, c] = sosfilt(self.sos[c], xe, zi=self.zi[e, c])
                s[:, e * self.channels + c] = 2.0 * y.real
        np.maximum(s, 0.0, out=s)
        if self.compression == "cbrt":
            np.cbrt(s, out=s)
        elif self.compression == "log":
            s = np.log1p(s * LOG_SCALE) / math.log1p(LOG_SCALE)
        if self.smooth is not None:
            b, a, zi = self.smooth
            s, zf = lfilter(b, a, s, axis=0, zi=zi)
            self.smooth = (b, a, zf)
        return np.ascontiguousarray(s)

    def process(self, x):
        """EVENT_DTYPE spikes of the block ``x`` (n, ears), times in samples from the start of the stream."""
        n = x.shape[0]
        if n == 0:
            return np.empty(0, EVENT_DTYPE)
        s = self._signal(x)
        nk = s.shape[1]
        if self.method == "send_on_delta":
            prev = (self.level * self.delta)[None, :]
            tv = np.abs(np.diff(s, axis=0, prepend=prev)).sum()
            cap = int(tv / self.delta) + 2 * nk + 16
            out_n = np.empty(cap, np.int64)
            out_k = np.empty(cap, np.int64)
            out_p = np.empty(cap, np.int8)
            m = _kernel("sod")(s, self.level, self.delta, out_n, out_k, out_p)
            parts = [(out_n[:m], out_k[:m], out_p[:m])]
        else:
            parts = []
            i = 0
            cap = max(4 * nk, min(n * nk, 1 << 20))
            while i < n:
                out_n = np.empty(cap, np.int64)
                out_k = np.empty(cap, np.int64)
                m, i = _kernel("lif")(s, self.v, self.refr, self.decay, self.threshold, self.ref_steps, i,
                                      out_n, out_k)
                parts.append((out_n[:m], out_k[:m], np.ones(m, np.int8)))
        ev = np.empty(sum(p[0].shape[0] for p in parts), EVENT_DTYPE)
        j = 0
        for nn, kk, pp in parts:
            e = j + nn.shape[0]
            ev["t"][j:e] = nn + self.n0
            ev["x"][j:e] = kk % self.channels
            ev["y"][j:e] = kk // self.channels
            ev["p"][j:e] = pp
            j = e
        self.n0 += n
        return ev


# ---------------------------------------------------------------- sources and resampling

def _source(path_or_array, sample_rate):
    """(rate, ears, name, frames(block) generator factory) for a file path or an array."""
    if isinstance(path_or_array, (str, bytes, os.PathLike)):
        path = os.fspath(path_or_array)
        try:
            import soundfile
        except ImportError as exc:  # pragma: no cover - optional dependency
            raise ImportError("reading audio files needs the 'soundfile' package (pip install soundfile)") from exc
        try:
            info = soundfile.info(path)
        except Exception as exc:  # soundfile raises RuntimeError / LibsndfileError / OSError
            raise InputFormatError(f"{path}: cannot read as audio: {exc}") from exc
        if sample_rate is not None and float(sample_rate) != float(info.samplerate):
            raise ParameterError(f"cochlea: sample_rate={sample_rate!r} but {path} is sampled at "
                                 f"{info.samplerate} Hz; sample_rate describes array input, use target_rate= "
                                 f"to resample")

        def frames(n):
            with soundfile.SoundFile(path) as f:
                while True:
                    blk = f.read(n, dtype="float64", always_2d=True)
                    if blk.shape[0] == 0:
                        return
                    yield blk

        return float(info.samplerate), int(info.channels), path, frames
    x = np.asarray(path_or_array)
    if sample_rate is None:
        raise ParameterError("cochlea: sample_rate (Hz) is required for array input")
    _check_pos("sample_rate", sample_rate)
    if x.ndim not in (1, 2) or not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise ParameterError(f"cochlea: audio array must be real, shape (n,) or (n, ears); got {x.dtype} "
                             f"{x.shape}")
    if x.ndim == 1:
        x = x[:, None]
    if np.issubdtype(x.dtype, np.integer):  # PCM: full scale -> [-1, 1)
        x = x / float(-np.iinfo(x.dtype).min if np.issubdtype(x.dtype, np.signedinteger) else np.iinfo(x.dtype).max)
    if not np.all(np.isfinite(x)):
        raise ParameterError(f"cochlea: audio array has non-finite samples (first at sample "
                             f"{int(np.argmax(~np.all(np.isfinite(x), axis=1)))})")

    def frames(n):
        for a in range(0, x.shape[0], n):
            yield np.asarray(x[a:a + n], dtype=np.float64)

    return float(sample_rate), int(x.shape[1]), None, frames


def _resampled(blocks, up, down, piece):
    """Resample a stream of (n, ears) blocks by up/down; equal to resample_poly on the whole signal.

    Each piece of ``piece`` input samples (a multiple of ``down``) is resampled with ``pad`` samples
    of real context (zeros outside the signal) on each side, more than the FIR half-length.
    """
    from scipy.signal import resample_poly

    half = 10 * max(up, down)  # resample_poly's default filter half-length, in upsampled samples
    pad = -(-(half // up + 2) // down) * down
    k0 = pad * up // down
    buf = None
    for blk in blocks:
        if buf is None:
            buf = np.zeros((pad, blk.shape[1]))
        buf = np.concatenate([buf, blk])
        while buf.shape[0] >= 2 * pad + piece:
            y = resample_poly(buf[:2 * pad + piece], up, down, axis=0)
            yield y[k0:k0 + piece * up // down]
            buf = buf[piece:]
    if buf is not None and buf.shape[0] > pad:
        rem = buf.shape[0] - pad
        y = resample_poly(np.concatenate([buf, np.zeros((pad, buf.shape[1]))]), up, down, axis=0)
        yield y[k0:k0 + -(-rem * up // down)]


def iter_audio_spikes(path_or_array, block_s=1.0, sample_rate=None, channels=64, f_min=50.0, f_max=8000.0,
                      method="send_on_delta", *, target_rate=None, compression="cbrt", smooth_ms=1.0, gain=1.0,
                      delta=0.02, tau_ms=5.0, threshold=0.1, refractory_ms=1.0):
    """Spikes of an audio recording, block by block (bounded memory); see :func:`audio_to_spikes`.

    Returns an iterator of one :class:`Events` per block of ``block_s`` seconds (possibly empty),
    times counted from the start of the recording; the concatenation does not depend on ``block_s``.
    Parameters are checked (and an audio file opened for its header) at the call, the audio is
    read lazily while iterating.

    Examples
    --------
    >>> import numpy as np
    >>> x = 0.2 * np.sin(2 * np.pi * 440.0 * np.arange(8000) / 8000)
    >>> blocks = list(iter_audio_spikes(x, block_s=0.25, sample_rate=8000, channels=8, f_max=3000.0))
    >>> len(blocks), sum(len(b) for b in blocks) == len(audio_to_spikes(x, 8000, 8, f_max=3000.0))
    (4, True)
    """
    _check_pos("block_s", block_s)
    _check_int("channels", channels, 1, 65535)
    if method not in METHODS:
        raise ParameterError(f"cochlea: method must be one of {', '.join(METHODS)}, got {method!r}")
    if compression is None:
        compression = "none"
    if compression not in COMPRESSIONS:
        raise ParameterError(f"cochlea: compression must be one of {', '.join(COMPRESSIONS)}, got {compression!r}")
    for name, val in (("gain", gain), ("delta", delta), ("tau_ms", tau_ms), ("threshold", threshold)):
        _check_pos(name, val)
    _check_pos("smooth_ms", smooth_ms, allow_zero=True, allow_none=True)
    _check_pos("refractory_ms", refractory_ms, allow_zero=True)
    _check_pos("target_rate", target_rate, allow_none=True)
    _check_pos("f_min", f_min)
    _check_pos("f_max", f_max)
    if sample_rate is not None:
        _check_pos("sample_rate", sample_rate)
    rate_in, ears, name, frames = _source(path_or_array, sample_rate)
    rate = float(target_rate) if target_rate is not None else rate_in
    if not f_min < f_max:
        raise ParameterError(f"cochlea: f_min must be < f_max, got f_min={f_min!r}, f_max={f_max!r}")
    if not f_max < rate / 2:
        raise ParameterError(f"cochlea: f_max={f_max!r} Hz must be below the Nyquist frequency {rate / 2:g} Hz "
                             f"of the processing rate {rate:g} Hz (lower f_max or pass a higher target_rate)")
    if ears > 65535:
        raise ParameterError(f"cochlea: too many audio channels ({ears})")
    fe = _FrontEnd(rate, ears, channels, f_min, f_max, method, compression, smooth_ms, gain, delta, tau_ms,
                   threshold, refractory_ms)
    if rate != rate_in:
        if rate != int(rate) or rate_in != int(rate_in):
            raise ParameterError(f"cochlea: resampling needs integer rates, got {rate_in:g} -> target_rate={rate:g}")
        g = math.gcd(int(rate), int(rate_in))
        up, down = int(rate) // g, int(rate_in) // g
        piece = max(1, int(round(block_s * rate_in / down))) * down
        blocks = _resampled(frames(piece), up, down, piece)
    else:
        blocks = frames(max(1, int(round(block_s * rate))))
    return _spikes(fe, blocks, 1e6 / rate, (channels, ears), name)


def _spikes(fe, blocks, tick_us, size, name):
    for blk in blocks:
        yield Events(fe.process(blk), tick_us, size, "cochlea", name)


def audio_to_spikes(path_or_array, sample_rate=None, channels=64, f_min=50.0, f_max=8000.0, method="send_on_delta",
                    *, target_rate=None, compression="cbrt", smooth_ms=1.0, gain=1.0, delta=0.02, tau_ms=5.0,
                    threshold=0.1, refractory_ms=1.0, block_s=1.0):
    """Convert a sound (WAV/FLAC/... file or array) into cochlea-like spikes.

    Parameters
    ----------
    path_or_array : str, path-like or array_like
        An audio file readable by ``soundfile`` (several audio channels become several ears), or
        samples of shape (n,) or (n, ears): floats in full-scale units ([-1, 1]) or integer PCM.
    sample_rate : float, optional
        Sample rate of an array input (Hz); required for arrays. For a file it is read from the file.
    channels : int
        Number of cochlea channels (gammatone filters), >= 1.
    f_min, f_max : float
        Lowest and highest centre frequency (Hz); ``0 < f_min < f_max < rate / 2``.
    method : {"send_on_delta", "lif"}
        Spike encoding (see the module documentation).
    target_rate : float, optional
        Resample to this rate (Hz) before the filterbank (integer rates). Default: the input rate.
    compression : {"cbrt", "log", "none"}
        Compression after half-wave rectification: cube root, ``log1p(1000 x) / log1p(1000)`` or none.
    smooth_ms : float or None
        Time constant of the first-order low-pass after the compression (0 or None: none).
    gain : float
        Input gain applied to the waveform.
    delta : float
        ``"send_on_delta"``: level step per event, in compressed units.
    tau_ms, threshold, refractory_ms : float
        ``"lif"``: membrane time constant, threshold (compressed units: the steady state is the
        signal itself) and refractory period. The membrane resets to 0 after a spike.
    block_s : float
        Block length in seconds (memory bound; the spikes do not depend on it).

    Returns
    -------
    Events
        x = channel (0 = ``f_min``), y = ear, p = 1 ON / 0 OFF (always 1 for ``"lif"``), t = sample
        index at the processing rate, ``tick_us = 1e6 / rate``, ``sensor_size = (channels, ears)``,
        sorted by time, then ear, then channel.

    Raises
    ------
    ParameterError
        A parameter is out of range (the message names it).
    InputFormatError
        The file cannot be read as audio.

    Examples
    --------
    >>> import numpy as np
    >>> ev = audio_to_spikes(np.zeros(4000), sample_rate=16000, channels=8, f_max=4000.0)
    >>> len(ev)  # silence: no spikes
    0
    """
    parts = list(iter_audio_spikes(path_or_array, block_s, sample_rate, channels, f_min, f_max, method,
                                   target_rate=target_rate, compression=compression, smooth_ms=smooth_ms, gain=gain,
                                   delta=delta, tau_ms=tau_ms, threshold=threshold, refractory_ms=refractory_ms))
    if not parts:  # an empty recording
        rate = float(target_rate) if target_rate is not None else None
        if rate is None:
            rate = float(sample_rate) if sample_rate is not None else 1e6
        return Events(np.empty(0, EVENT_DTYPE), 1e6 / rate, (channels, 1), "cochlea", None)
    return Events.concatenate(parts)


__all__ = ["audio_to_spikes", "erb", "erb_space", "gammatone_sos", "iter_audio_spikes"]
