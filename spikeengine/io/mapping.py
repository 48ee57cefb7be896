"""Map sensor events (x, y, p) to the neurons of an input population."""

import math

import numpy as np

from ..errors import InputFormatError, ParameterError
from .events import EVENT_DTYPE

_POLARITY = ("split", "merge", "on", "off")


class SensorMap:
    """(x, y, p) -> neuron index, with crop, downsampling and polarity handling.

    Neuron index = (p' * H' + y') * W' + x' with x' = (x - x0) // dx, y' = (y - y0) // dy
    and p' the polarity channel (0 = OFF, 1 = ON with ``polarity="split"``; one channel
    otherwise), so a population of ``size`` neurons is laid out as [P'][H'][W'].

    Parameters
    ----------
    sensor_size : (int, int)
        (width, height) of the sensor; (channels, ears) for audio streams. Events outside
        it are an error (naming the event), not silently dropped.
    crop : (x0, y0, x1, y1), optional
        Keep x0 <= x < x1, y0 <= y < y1 (half-open); events outside are dropped (counted).
    downsample : int or (int, int)
        Pool dx x dy pixels into one neuron.
    polarity : {"split", "merge", "on", "off"}
        Two channels, one channel for both, or only ON (p = 1) / OFF (p = 0) events.
    transforms : sequence of callables, optional
        Applied per chunk, before mapping, to a tonic-style structured array (fields x, y, t,
        p), e.g. ``tonic.transforms.Denoise(filter_time=10000)``; they see one chunk at a time.

    Examples
    --------
    >>> from spikeengine.io import Events
    >>> m = SensorMap((4, 4), downsample=2, polarity="split")
    >>> m.size, m.shape
    (8, (2, 2, 2))
    >>> ev = Events.from_arrays(t=[0, 5], x=[0, 3], y=[1, 3], p=[0, 1], sensor_size=(4, 4))
    >>> kept, ids = m(ev)
    >>> ids.tolist()
    [0, 7]
    """

    def __init__(self, sensor_size, crop=None, downsample=1, polarity="split", transforms=()):
        if sensor_size is None or len(sensor_size) < 2:
            raise ParameterError(f"SensorMap: sensor_size must be (width, height), got {sensor_size!r}")
        W, H = (int(s) for s in tuple(sensor_size)[:2])
        if W < 1 or H < 1:
            raise ParameterError(f"SensorMap: sensor_size must be positive, got {sensor_size!r}")
        if crop is None:
            crop = (0, 0, W, H)
        x0, y0, x1, y1 = (int(c) for c in crop)
        if not (0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H):
            raise ParameterError(f"SensorMap: crop {tuple(crop)} must satisfy 0 <= x0 < x1 <= {W}, 0 <= y0 < y1 <= {H}")
        dx, dy = (downsample, downsample) if np.isscalar(downsample) else tuple(downsample)
        if int(dx) != dx or int(dy) != dy or dx < 1 or dy < 1:
            raise ParameterError(f"SensorMap: downsample must be integers >= 1, got {downsample!r}")
        bad = [t for t in transforms if not callable(t)]
        if bad:
            raise ParameterError(f"SensorMap: transforms must be callables (e.g. tonic transforms), got {bad[0]!r}")
        if polarity not in _POLARITY:
            raise ParameterError(f"SensorMap: polarity must be one of {_POLARITY}, got {polarity!r}")
        self.sensor_size = (W, H)
        self.crop = (x0, y0, x1, y1)
        self.downsample = (int(dx), int(dy))
        self.polarity = polarity
        self.transforms = tuple(transforms)
        self.width = math.ceil((x1 - x0) / dx)
        self.height = math.ceil((y1 - y0) / dy)
        self.channels = 2 if polarity == "split" else 1
        self.dropped = 0  # events outside the crop or of the excluded polarity

    @property
    def shape(self):
        """(channels, height, width) of the population layout."""
        return (self.channels, self.height, self.width)

    @property
    def size(self):
        """Number of neurons the mapped population needs."""
        return self.channels * self.height * self.width

    def __repr__(self):
        return (f"<SensorMap {self.sensor_size} crop={self.crop} downsample={self.downsample} "
                f"polarity={self.polarity!r} -> {self.size} neurons>")

    def _transform(self, ev):
        if not self.transforms:
            return ev
        arr = np.empty(len(ev), dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])
        for f in ("x", "y", "t", "p"):
            arr[f] = ev.data[f]
        for tr in self.transforms:
            arr = tr(arr)
        data = np.empty(arr.shape[0], EVENT_DTYPE)
        for f in ("t", "x", "y", "p"):
            data[f] = arr[f]
        return ev._with(data)

    def __call__(self, events):
        """Map one chunk: returns (kept events, neuron index of each, int64)."""
        W, H = self.sensor_size
        x, y = events.x, events.y
        bad = (x >= W) | (y >= H)
        if bad.any():
            k = int(np.argmax(bad))
            raise InputFormatError(f"{events.source or 'events'}: event {k} at (x={int(x[k])}, y={int(y[k])}) lies "
                                   f"outside the sensor size {self.sensor_size} of the input mapping")
        ev = self._transform(events)
        x0, y0, x1, y1 = self.crop
        x = ev.x.astype(np.int64)
        y = ev.y.astype(np.int64)
        p = ev.p
        keep = (x >= x0) & (x < x1) & (y >= y0) & (y < y1)
        if self.polarity == "on":
            keep &= p > 0
        elif self.polarity == "off":
            keep &= p <= 0
        self.dropped += int(len(ev) - np.count_nonzero(keep))
        if not keep.all():
            ev = ev[keep]
            x, y, p = x[keep], y[keep], p[keep]
        xs = (x - x0) // self.downsample[0]
        ys = (y - y0) // self.downsample[1]
        ids = ys * self.width + xs
        if self.polarity == "split":
            ids += (p > 0).astype(np.int64) * (self.width * self.height)
        return ev, ids
