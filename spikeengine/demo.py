"""The main job of the README: a small vision network fed by a generated event stream.

A synthetic event camera (a bar sweeping across a ``size`` x ``size`` sensor,
ON events on its leading edge, OFF on its trailing edge, plus background noise)
produces (t [us], x, y, p) events. They enter the engine at the edge, converted to
ms, as one spike source per (x, y, p). A convolution-like LIF layer with 4x4
receptive fields and lateral inhibition feeds four direction-selective readout
neurons. Nothing is downloaded: the data are generated here.
"""

import time

import numpy as np

from .models import LIF

EVENT_DTYPE = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "i1")])


def moving_bar_events(size=32, duration_ms=200.0, speed=0.25, noise_hz=2.0, seed=0):
    """Events of a vertical bar sweeping left to right and back, as an event camera would emit them.

    Parameters
    ----------
    size : int
        Sensor width and height, pixels.
    duration_ms : float
        Length of the recording, ms.
    speed : float
        Bar speed, pixels per ms.
    noise_hz : float
        Background activity per pixel and polarity, Hz.
    seed : int
        Random seed (jitter and noise).

    Returns
    -------
    numpy structured array
        Fields ``t`` (int64, microseconds), ``x``, ``y``, ``p`` (0 = OFF, 1 = ON), sorted by ``t``.

    Examples
    --------
    >>> ev = moving_bar_events(size=8, duration_ms=20.0)
    >>> bool(np.all(np.diff(ev["t"]) >= 0)), int(ev["x"].max()) < 8
    (True, True)
    """
    from .errors import ParameterError

    if not (np.isfinite(duration_ms) and duration_ms > 0):
        raise ParameterError(f"demo: duration must be a finite number of ms > 0, got {duration_ms!r}")
    if int(size) != size or size < 4:
        raise ParameterError(f"demo: sensor size must be an integer >= 4 pixels, got {size!r}")
    if not (speed > 0 and noise_hz >= 0):
        raise ParameterError("demo: speed must be > 0 and noise_hz >= 0")
    rng = np.random.default_rng(seed)
    chunks = []
    period = 2.0 * size / speed
    # the bar's position crosses the integer column c at known times: one ON (front) and one OFF (back) per row
    n_cross = int(np.ceil(duration_ms / period * 2 * size)) + 2
    for k in range(n_cross):
        leg, c = divmod(k, size)
        forward = leg % 2 == 0
        col = c if forward else size - 1 - c
        t_front = leg * (period / 2) + c / speed
        if t_front >= duration_ms:
            break
        for p, t0 in ((1, t_front), (0, t_front + 2.0 / speed)):
            t = t0 + rng.normal(0.0, 0.05, size) + rng.uniform(0, 0.02, size)
            ev = np.empty(size, EVENT_DTYPE)
            ev["t"] = np.round(np.clip(t, 0, None) * 1000.0).astype(np.int64)
            ev["x"], ev["y"], ev["p"] = col, np.arange(size), p
            chunks.append(ev[ev["t"] < duration_ms * 1000.0])
    n_noise = rng.poisson(noise_hz * duration_ms / 1000.0 * size * size * 2)
    noise = np.empty(n_noise, EVENT_DTYPE)
    noise["t"] = rng.integers(0, int(duration_ms * 1000), n_noise)
    noise["x"] = rng.integers(0, size, n_noise)
    noise["y"] = rng.integers(0, size, n_noise)
    noise["p"] = rng.integers(0, 2, n_noise)
    chunks.append(noise)
    ev = np.concatenate(chunks)
    ev = ev[np.argsort(ev["t"], kind="stable")]
    # an event camera reports a pixel at most once per timestamp
    key = (ev["t"] * size + ev["x"]) * size * 2 + ev["y"] * 2 + ev["p"]
    _, first = np.unique(key, return_index=True)
    return ev[np.sort(first)]


def events_to_spike_trains(events, size):
    """One spike train (ms) per input unit ``(p * size + y) * size + x``: microseconds to ms at the edge."""
    unit = (events["p"].astype(np.int64) * size + events["y"]) * size + events["x"]
    t_ms = events["t"].astype(np.float64) / 1000.0
    order = np.lexsort((t_ms, unit))
    unit, t_ms = unit[order], t_ms[order]
    bounds = np.searchsorted(unit, np.arange(2 * size * size + 1))
    return [t_ms[bounds[i]:bounds[i + 1]] for i in range(2 * size * size)]


def build_demo(size=32, duration_ms=200.0, seed=0, backend=None, bin_width=0.1):
    """Build the demo network and its input; returns ``(net, populations, n_events)``.

    ``bin_width``: activity-bin width of the energy counters, ms.
    """
    from .connectors import FromArrays
    from .network import Network

    events = moving_bar_events(size=size, duration_ms=duration_ms, seed=seed)
    trains = events_to_spike_trains(events, size)
    net = Network(seed=seed, backend=backend, bin_width=bin_width)
    retina = net.spike_source(trains, name="retina")
    m = size // 2  # conv layer: m x m units per polarity, 4x4 fields, stride 2
    cell = LIF(E_L=-65.0, V_m=-65.0, V_th=-50.0, V_reset=-65.0, tau_m=10.0, C_m=1.0, t_ref=2.0)
    conv = net.population(2 * m * m, cell, name="conv")
    src, tgt = [], []
    for p in range(2):
        for v in range(m):
            for u in range(m):
                out = (p * m + v) * m + u
                for dy in range(4):
                    for dx in range(4):
                        x, y = 2 * u + dx - 1, 2 * v + dy - 1
                        if 0 <= x < size and 0 <= y < size:
                            src.append((p * size + y) * size + x)
                            tgt.append(out)
    src, tgt = np.array(src), np.array(tgt)
    rng = np.random.default_rng(seed)
    net.connect(retina, conv, FromArrays(src, tgt), weight=4.0, delay=rng.uniform(0.5, 1.5, src.size),
                name="retina->conv")
    net.connect(conv, conv, {"rule": "fixed_indegree", "indegree": 16, "allow_autapses": False}, weight=-3.0,
                delay=1.0, name="lateral inhibition")
    readout = net.population(4, LIF(E_L=-65.0, V_m=-65.0, V_th=-55.0, V_reset=-65.0, tau_m=20.0, C_m=1.0),
                             name="readout")
    # readout k prefers the left (k even) or right (k odd) half of the field, ON (k < 2) or OFF
    s_r, t_r, w_r = [], [], []
    for k in range(4):
        p = 0 if k < 2 else 1
        for v in range(m):
            for u in range(m):
                s_r.append((p * m + v) * m + u)
                t_r.append(k)
                w_r.append(0.6 if (u < m // 2) == (k % 2 == 0) else 0.15)
    net.connect(conv, readout, FromArrays(s_r, t_r), weight=np.array(w_r), delay=2.0, name="conv->readout")
    for pop in (retina, conv, readout):
        pop.record("spikes")
    return net, (retina, conv, readout), len(events)


def run_demo(size=32, duration_ms=200.0, seed=0, backend=None, out=print, energy_report=None):
    """Run the demo and print spike counts, rates, counters, the energy report and wall time.

    ``energy_report``: a path to write the full energy report to (JSON). Returns a summary dict.
    """
    from .simulator import warm_up

    compile_s = warm_up(backend)  # a JIT backend compiles on first use: timed apart from the simulation
    t0 = time.perf_counter()
    net, pops, n_events = build_demo(size, duration_ms, seed, backend)
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    net.run(duration_ms)
    wall = time.perf_counter() - t1
    c = net.counters
    out(f"spikeengine demo: synthetic event camera {size}x{size}, {n_events} events over {duration_ms:g} ms "
        f"(seed {seed}), backend {net.backend}")
    out(f"{'population':<12}{'neurons':>9}{'spikes':>9}{'rate [Hz]':>11}")
    summary = {"backend": net.backend, "events": n_events, "populations": {}}
    for pop in pops:
        n_spk = int(pop.spike_counts.sum())
        out(f"{pop.name:<12}{pop.size:>9}{n_spk:>9}{pop.rate():>11.2f}")
        summary["populations"][pop.name] = {"size": pop.size, "spikes": n_spk, "rate_hz": pop.rate()}
    t, i = pops[2].spikes
    out("readout spikes (first 8): " + ", ".join(f"{ti:.3f} ms #{ii}" for ti, ii in zip(t[:8], i[:8])))
    report = net.energy_report()
    out(report.summary())
    if energy_report is not None:
        report.to_json(energy_report)
        out(f"energy report written to {energy_report}")
    out(f"build {build_s:.2f} s, simulate {wall:.3f} s wall ({c['synaptic_events'] / max(wall, 1e-9):.3g} "
        f"synaptic events/s); kernel warm-up {compile_s:.2f} s")
    e = report.to_dict()
    summary.update(counters=c, wall_s=wall, build_s=build_s, warmup_s=compile_s,
                   energy={k: e[k] for k in ("energy_complexity", "neurobench", "estimate")})
    return summary
