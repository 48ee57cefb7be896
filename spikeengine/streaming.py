"""Feed event streams into a running network, chunk by chunk, in constant memory."""

import math
import os
import time

import numpy as np

from .errors import InputFormatError, ParameterError


def _check_pop(net, pop):
    if pop.net is not net or pop.source is None or pop.source[0] != "stream":
        raise ParameterError(f"population {pop.name!r} is not a stream source of this network "
                             "(create it with Network.stream_source)")


def feed(net, pop, times, ids, late="error"):
    """Queue spikes of stream-source ``pop``: local ``ids`` at ``times`` (ms, >= ``net.t``).

    ``late``: what to do with spikes before the network's current time: ``"error"``
    (default; the message names the first one) or ``"drop"`` (counted in
    ``net.stream_stats["late_dropped"]``). Returns the number of spikes queued.
    """
    _check_pop(net, pop)
    if late not in ("error", "drop"):
        raise ParameterError(f"feed: late must be 'error' or 'drop', got {late!r}")
    t = np.asarray(times, dtype=np.float64).ravel()
    i = np.asarray(ids).ravel()
    if t.shape != i.shape:
        raise ParameterError(f"feed {pop.name!r}: {t.size} times but {i.size} ids")
    if i.size and not np.issubdtype(i.dtype, np.integer):
        raise ParameterError(f"feed {pop.name!r}: ids must be integers, got dtype {i.dtype}")
    if not np.all(np.isfinite(t)):
        k = int(np.argmax(~np.isfinite(t)))
        raise ParameterError(f"feed {pop.name!r}: spike {k} has time {float(t[k])!r}")
    if i.size and (i.min() < 0 or i.max() >= pop.size):
        k = int(np.argmax((i < 0) | (i >= pop.size)))
        raise ParameterError(f"feed {pop.name!r}: spike {k} has id {int(i[k])} outside [0, {pop.size})")
    sim = net._simulator()
    early = t < sim.t
    if early.any():
        if late == "error":
            k = int(np.argmax(early))
            raise InputFormatError(f"feed {pop.name!r}: spike {k} at {float(t[k])!r} ms is before the network's time "
                                   f"{float(sim.t)!r} ms (pass late='drop' to drop such spikes)")
        sim.late_dropped += int(early.sum())
        t, i = t[~early], i[~early]
    sim.inject(t, i.astype(np.int64) + pop.first)
    return int(t.size)


def run_stream(net, stream, pop, mapping=None, origin="first", tail=10.0, window_us=10000.0, late="error",
               progress=False):
    """Simulate while feeding ``stream`` into stream-source ``pop``, chunk by chunk.

    Parameters
    ----------
    stream : path, Events, or iterable of Events / tonic structured arrays
        A file path is opened with :func:`spikeengine.io.iter_events` in ``window_us`` chunks;
        a live source (``spikeengine.io.live``) is any iterable of Events.
    pop : Population
        Created with :meth:`Network.stream_source`; its size must equal ``mapping.size``.
    mapping : SensorMap, optional
        Default: the chunk's sensor size, polarities split.
    origin : "first" or int
        Native tick that maps to the network time at the call: the first event's (default),
        or a given tick (e.g. 0 to keep the recording's own times).
    tail : float
        ms simulated after the last event, so that it reaches the network.
    late : "error" or "drop"
        Events earlier than the network time (non-monotonic streams).
    progress : bool
        tqdm progress bar over chunks.

    Returns
    -------
    dict
        events, fed, mapped_out (cropped/filtered), late_dropped, chunks, recording_ms,
        simulated_ms, wall_s, realtime_factor (recording time / wall time).
    """
    from .io import Events, from_structured, iter_events
    from .io.mapping import SensorMap

    _check_pop(net, pop)
    if not (origin == "first" or (isinstance(origin, (int, np.integer)) and not isinstance(origin, bool))):
        raise ParameterError(f"run_stream: origin must be 'first' or an integer tick, got {origin!r}")
    if not (isinstance(tail, (int, float, np.integer, np.floating)) and math.isfinite(tail) and tail >= 0):
        raise ParameterError(f"run_stream: tail must be a finite number of ms >= 0, got {tail!r}")
    if isinstance(stream, (str, os.PathLike)):
        stream = iter_events(stream, window_us=window_us)
    elif isinstance(stream, Events):
        stream = [stream]
    sim = net._simulator()
    base = sim.t
    late0 = sim.late_dropped
    t0 = None if origin == "first" else int(origin)
    stats = {"events": 0, "fed": 0, "chunks": 0}
    mapped0 = None
    t_first = t_last = None
    bar = None
    if progress:
        try:
            from tqdm import tqdm

            bar = tqdm(unit="ev", unit_scale=True, desc="streaming", leave=False)
        except ImportError:  # pragma: no cover
            bar = None
    wall = time.perf_counter()
    for chunk in stream:
        if not isinstance(chunk, Events):
            chunk = from_structured(chunk)
        n = len(chunk)
        stats["chunks"] += 1
        if n == 0:
            continue
        if mapping is None:
            if chunk.sensor_size is None:
                raise ParameterError("run_stream: the stream does not state its sensor size; "
                                     "pass mapping=SensorMap(...)")
            mapping = SensorMap(chunk.sensor_size)
        if mapped0 is None:
            mapped0 = mapping.dropped
            if mapping.size != pop.size:
                raise ParameterError(f"run_stream: the input mapping {mapping!r} needs {mapping.size} neurons, "
                                     f"population {pop.name!r} has {pop.size}")
        if t0 is None:
            t0 = int(chunk.t[0])
        kept, ids = mapping(chunk)
        t_ms = base + kept.t_ms(t0)
        stats["fed"] += feed(net, pop, t_ms, ids, late=late)
        stats["events"] += n
        last = base + float((int(chunk.t.max()) - t0) * (chunk.tick_us / 1000.0))
        first = base + float((int(chunk.t.min()) - t0) * (chunk.tick_us / 1000.0))
        t_first = first if t_first is None else min(t_first, first)
        t_last = last if t_last is None else max(t_last, last)
        if t_last > sim.t:
            sim.run_to(t_last)  # spikes at exactly t_last stay queued: later chunks may add more at that time
        if bar is not None:
            bar.update(n)
    end = (t_last if t_last is not None else sim.t) + tail
    if end > sim.t:
        sim.run_to(end)
    if bar is not None:
        bar.close()
    wall = time.perf_counter() - wall
    rec_ms = 0.0 if t_first is None else t_last - t_first
    stats.update(mapped_out=0 if mapped0 is None else mapping.dropped - mapped0,
                 late_dropped=sim.late_dropped - late0, recording_ms=rec_ms, simulated_ms=sim.t - base,
                 wall_s=wall, realtime_factor=(rec_ms / 1000.0) / wall if wall > 0 else math.inf)
    return stats
