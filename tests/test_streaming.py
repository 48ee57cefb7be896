"""Streaming input: stream sources fed at run time, run_stream over event chunks, the sensor mapping."""

import numpy as np
import pytest

import spikeengine as se
from spikeengine.demo import events_to_spike_trains, moving_bar_events
from spikeengine.io import Events, SensorMap, from_structured

SIZE = 16


def _network(backend, inputs):
    """The demo's layers on a 16x16 sensor; ``inputs`` builds the input population."""
    net = se.Network(seed=3, backend=backend, bin_width=0.5)
    src = inputs(net)
    cell = se.LIF(E_L=-65.0, V_m=-65.0, V_th=-50.0, V_reset=-65.0, tau_m=10.0, C_m=1.0, t_ref=2.0)
    conv = net.population(2 * 8 * 8, cell, name="conv")
    rng = np.random.default_rng(1)
    net.connect(src, conv, {"rule": "fixed_indegree", "indegree": 12}, weight=4.0,
                delay=lambda n, r: r.uniform(0.5, 1.5, n))
    net.connect(conv, conv, {"rule": "fixed_indegree", "indegree": 8, "allow_autapses": False},
                weight=-3.0 * rng.uniform(0.5, 1.0, 128 * 8), delay=1.0)
    conv.record("spikes")
    return net, src, conv


def _events():
    ev = moving_bar_events(size=SIZE, duration_ms=120.0, seed=2)
    return Events.from_arrays(ev["t"], ev["x"], ev["y"], ev["p"], sensor_size=(SIZE, SIZE), source="bar")


def _reference(backend):
    """The same events as a spike_source compiled up front."""
    ev = _events()
    trains = events_to_spike_trains(ev.data, SIZE)
    net, _, conv = _network(backend, lambda n: n.spike_source(trains, name="cam"))
    net.run(130.0)
    return conv.spikes, net.energy_report().to_dict()


@pytest.mark.parametrize("chunking", [{"n_events": 1}, {"n_events": 997}, {"n_events": 10**6},
                                      {"window_us": 250.0}, {"window_us": 7000.0}])
def test_streamed_input_equals_precompiled_sources(backend, chunking):
    (t_ref, i_ref), e_ref = _reference(backend)
    assert t_ref.size > 50
    ev = _events()
    from spikeengine.io.events import rechunk

    chunks = rechunk([ev.data], ev._with, n_events=chunking.get("n_events"),
                     window_ticks=chunking.get("window_us"))
    net, cam, conv = _network(backend, lambda n: n.stream_source(2 * SIZE * SIZE, name="cam"))
    stats = net.run_stream(chunks, cam, origin=0, tail=130.0 - ev.t_ms()[-1])
    assert net.t == pytest.approx(130.0, abs=1e-9)
    assert stats["events"] == stats["fed"] == len(ev)
    t, i = conv.spikes
    np.testing.assert_array_equal(i, i_ref)
    # each chunk is a run() call: the decay epoch restarts, so the last bit of a time may differ (docs/engine.md)
    np.testing.assert_allclose(t, t_ref, rtol=0, atol=1e-9)
    e = net.energy_report().to_dict()
    for key in ("counts", "energy_complexity", "activity_bins"):
        assert e[key] == e_ref[key], key
    e["neurobench"].pop("footprint_bytes")  # queued source spikes are held differently
    e_ref["neurobench"].pop("footprint_bytes")
    assert e["neurobench"] == e_ref["neurobench"]


def test_feed_between_runs_and_reset():
    net = se.Network(backend="python")
    cam = net.stream_source(3, name="cam")
    cell = net.population(3, se.Parrot(), name="relay")
    net.connect(cam, cell, "one_to_one", weight=1.0, delay=0.5)
    cell.record("spikes")
    assert net.feed(cam, [1.0, 0.25, 1.0], [2, 0, 1]) == 3
    net.run(1.0)  # the spikes at 1.0 stay queued (runs are half-open)
    assert net.feed(cam, [1.0, 3.0], [0, 0]) == 2  # same time as queued ones: allowed
    net.run(5.0)
    t, i = cell.spikes
    assert t.tolist() == [0.75, 1.5, 1.5, 1.5, 3.5] and i.tolist() == [0, 0, 1, 2, 0]
    net.reset()  # fed spikes are not part of the network
    net.run(5.0)
    assert cell.spikes[0].size == 0


def test_late_spikes_error_or_drop():
    net = se.Network(backend="python")
    cam = net.stream_source(2, name="cam")
    net.run(2.0)
    with pytest.raises(se.InputFormatError, match=r"spike 1 at 1.5 ms is before the network's time 2.0 ms"):
        net.feed(cam, [2.5, 1.5], [0, 1])
    assert net.feed(cam, [2.5, 1.5], [0, 1], late="drop") == 1
    assert net._sim.late_dropped == 1


def test_feed_validation():
    net = se.Network(backend="python")
    cam = net.stream_source(2, name="cam")
    other = net.spike_source([[1.0]], name="fixed")
    with pytest.raises(se.ParameterError, match="'fixed' is not a stream source"):
        net.feed(other, [1.0], [0])
    with pytest.raises(se.ParameterError, match=r"spike 1 has id 2 outside \[0, 2\)"):
        net.feed(cam, [1.0, 2.0], [1, 2])
    with pytest.raises(se.ParameterError, match="2 times but 1 ids"):
        net.feed(cam, [1.0, 2.0], [1])
    with pytest.raises(se.ParameterError, match="spike 0 has time nan"):
        net.feed(cam, [np.nan], [1])
    with pytest.raises(se.NetworkError, match="size"):
        net.stream_source(-1)


def test_run_stream_checks_sizes():
    net = se.Network(backend="python")
    cam = net.stream_source(10, name="cam")
    cam32 = net.stream_source(32, name="cam32")
    ev = Events.from_arrays([0, 10], [1, 2], [0, 0], [1, 1], sensor_size=(4, 4), source="rec.bin")
    with pytest.raises(se.ParameterError, match=r"needs 32 neurons, population 'cam' has 10"):
        net.run_stream(ev, cam)
    bad = Events.from_arrays([0, 10], [1, 5], [0, 0], [1, 1], sensor_size=(4, 4), source="rec.bin")
    with pytest.raises(se.InputFormatError, match=r"rec.bin: event 1 at \(x=5, y=0\) lies outside the sensor size"):
        net.run_stream(bad, cam32)


def test_sensor_map_crop_downsample_polarity():
    ev = Events.from_arrays(t=np.arange(6), x=[0, 5, 9, 3, 7, 8], y=[0, 2, 9, 3, 7, 1], p=[1, 0, 1, 1, 0, 1],
                            sensor_size=(10, 10))
    m = SensorMap((10, 10), crop=(2, 2, 8, 8), downsample=3, polarity="on")
    assert m.shape == (1, 2, 2) and m.size == 4
    kept, ids = m(ev)
    # ON events inside the crop: (3, 3) -> (0, 0). (0,0), (9,9), (8,1) are outside; (5,2) and (7,7) are OFF
    assert kept.t.tolist() == [3] and ids.tolist() == [0]
    assert m.dropped == 5
    split = SensorMap((10, 10), downsample=(5, 2))
    _, ids = split(ev)
    # width 2, height 5, ON offset 10: (0,0,ON)->10, (5,2,OFF)->1*2+1=3, (9,9,ON)->10+4*2+1=19, (3,3,ON)->10+2
    assert ids.tolist() == [10, 3, 19, 12, 7, 11]
    merged = SensorMap((10, 10), polarity="merge")
    assert merged.size == 100 and merged(ev)[1].tolist() == [0, 25, 99, 33, 77, 18]
    for bad in ({"crop": (0, 0, 11, 5)}, {"downsample": 0}, {"polarity": "both"}):
        with pytest.raises(se.ParameterError, match="SensorMap"):
            SensorMap((10, 10), **bad)


def test_sensor_map_applies_transforms_per_chunk():
    ev = Events.from_arrays(t=np.arange(4), x=[0, 1, 2, 3], y=[0, 0, 0, 0], p=[1, 0, 1, 0], sensor_size=(4, 1))

    def only_on(arr):  # any tonic-style transform: structured array in, structured array out
        return arr[arr["p"] == 1]

    kept, ids = SensorMap((4, 1), polarity="merge", transforms=[only_on])(ev)
    assert kept.x.tolist() == [0, 2] and ids.tolist() == [0, 2]
    tonic = pytest.importorskip("tonic")
    sparse = Events.from_arrays(t=[0, 100, 200, 300], x=[0, 5, 10, 15], y=[0, 0, 0, 0], p=[1, 0, 1, 0],
                                sensor_size=(16, 1))
    denoise = tonic.transforms.Denoise(filter_time=10)
    kept, ids = SensorMap((16, 1), transforms=[denoise])(sparse)
    arr = np.zeros(4, dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])
    for f in ("x", "y", "t", "p"):
        arr[f] = sparse.data[f]
    expect = denoise(arr)  # tonic's own result on the chunk (isolated events removed)
    assert 0 < len(expect) < 4
    assert kept.t.tolist() == expect["t"].tolist() and kept.x.tolist() == expect["x"].tolist()


def test_tonic_structured_arrays_stream_in():
    ev = moving_bar_events(size=SIZE, duration_ms=30.0, seed=4)
    tonic_like = np.zeros(ev.size, dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])
    for f in ("x", "y", "t"):
        tonic_like[f] = ev[f]
    tonic_like["p"] = ev["p"] > 0
    e = from_structured(tonic_like, sensor_size=(SIZE, SIZE, 2))
    assert e.sensor_size == (SIZE, SIZE) and len(e) == ev.size
    net = se.Network(backend="python")
    cam = net.stream_source(2 * SIZE * SIZE, name="cam")
    cam.record("spikes")
    stats = net.run_stream([tonic_like[: ev.size // 2], tonic_like[ev.size // 2:]], cam,
                           mapping=SensorMap((SIZE, SIZE)), tail=1.0)
    assert stats["fed"] == ev.size
    t, i = cam.spikes
    assert t.size == ev.size and t[0] == 0.0
    with pytest.raises(se.InputFormatError, match="missing field"):
        from_structured(np.zeros(3, dtype=[("ts", "i8"), ("x", "i2")]))


def test_bad_event_arrays_and_stream_options():
    with pytest.raises(se.ParameterError, match=r"field 'x' of event 1 is -1, outside \[0, 65535\]"):
        Events.from_arrays(t=[0, 1], x=[1, -1])
    with pytest.raises(se.ParameterError, match=r"field 't' of event 0 is 0.5, not an integer"):
        Events.from_arrays(t=[0.5], x=[1])
    with pytest.raises(se.ParameterError, match=r"field 'y' has shape \(1,\), expected \(2,\)"):
        Events.from_arrays(t=[0, 1], x=[1, 2], y=[0])
    with pytest.raises(se.ParameterError, match="transforms must be callables"):
        SensorMap((4, 4), transforms=[3])
    net = se.Network(backend="python")
    cam = net.stream_source(2, name="cam")
    with pytest.raises(se.ParameterError, match="origin must be 'first' or an integer tick, got 'last'"):
        net.run_stream(Events.from_arrays([0], [0], sensor_size=(1, 1)), cam, origin="last")
