"""BTSP inside a network: ``net.connect(..., plasticity=se.BTSP())`` with plateaus.

The rule itself (kernel shape, quadrature, ode vs lapwise) is tested in tests/test_btsp.py; here:
the network applies exactly what the rule computes from the presynaptic spikes it emits, the weights
reach the postsynaptic neuron, the result does not depend on how the run is split, and bad input
names the projection.
"""

import numpy as np
import pytest

import spikeengine as se
from spikeengine.btsp import BTSPState


def _inputs(rng, n=20, T=12000.0):
    """Place-cell-like bursts: input i fires at ~40 Hz for 1 s starting at i * 500 ms."""
    trains = []
    for i in range(n):
        a = i * 500.0
        trains.append(np.sort(rng.uniform(a, min(a + 1000.0, T), 40)))
    return trains


def _build(backend, mode="lapwise", record=False):
    rng = np.random.default_rng(3)
    trains = _inputs(rng)
    net = se.Network(seed=1, backend=backend)
    inp = net.spike_source(trains, name="inputs")
    ca1 = net.population(2, se.LIF(E_L=0.0, V_m=0.0, V_th=1e6, V_reset=0.0, C_m=1.0, tau_m=10.0), name="ca1")
    w0 = rng.uniform(0.8, 1.2, 40)
    proj = net.connect(inp, ca1, "all_to_all", weight=w0, delay=1.0, plasticity=se.BTSP(mode=mode), name="btsp")
    proj.add_plateaus([4200.0, 9000.0], [0, 1])
    if record:
        ca1.record("V_m", interval=1.0)
    return net, inp, ca1, proj, trains, w0


@pytest.mark.parametrize("mode", ["lapwise", "ode"])
def test_network_applies_the_rule_to_its_own_spikes(backend, mode):
    net, inp, ca1, proj, trains, w0 = _build(backend, mode)
    net.run(15000.0)
    got = proj.weights
    # the same rule driven directly with the same presynaptic spikes
    ids = np.concatenate([np.full(t.size, i) for i, t in enumerate(trains)])
    times = np.concatenate(trains)
    order = np.lexsort((ids, times))
    w = np.array(w0)
    st = BTSPState(proj.plasticity, 20, 2, proj.sources, proj.targets, w)
    st.add_plateaus([4200.0, 9000.0], [0, 1])
    st.add_pre_spikes(times[order], ids[order])
    st.advance(15000.0)
    np.testing.assert_allclose(got, w, rtol=0, atol=1e-12)
    moved = np.abs(got - w0)
    assert moved.max() > 0.5  # the plateaus made place fields
    # onto neuron 0 (plateau at 4.2 s), inputs whose bursts start 3.3 s or more after it see only the
    # instructive signal's tail: next to no change
    late = (proj.targets == 0) & (proj.sources >= 15)
    assert late.sum() == 5 and moved[late].max() < 1e-4
    # the input active just before the plateau onto neuron 0 gained most
    on0 = proj.targets == 0
    assert proj.sources[on0][np.argmax(got[on0] - w0[on0])] in (6, 7)


def test_split_runs_give_the_same_weights(backend):
    a = _build(backend)
    a[0].run(15000.0)
    b = _build(backend)
    for d in (1234.5, 3000.0, 10.0, 7000.0, 3755.5):
        b[0].run(d)
    np.testing.assert_array_equal(a[3].weights, b[3].weights)


def test_learned_weights_reach_the_neuron(backend):
    # a delta-synapse LIF without leak between inputs sees each input's current weight as its jump
    net, inp, ca1, proj, trains, w0 = _build(backend, record=True)
    net.run(15000.0)
    w = proj.weights
    assert not np.allclose(w, w0)
    # rerun from the start with the learned weights fixed: the membrane trace is the one of a static network
    net2 = se.Network(seed=1, backend=backend)
    inp2 = net2.spike_source(trains, name="inputs")
    ca2 = net2.population(2, se.LIF(E_L=0.0, V_m=0.0, V_th=1e6, V_reset=0.0, C_m=1.0, tau_m=10.0), name="ca1")
    net2.connect(inp2, ca2, "all_to_all", weight=w, delay=1.0)
    ca2.record("V_m", interval=1.0)
    net2.run(15000.0)
    t1, v1, _ = ca1.get_data("V_m")
    t2, v2, _ = ca2.get_data("V_m")
    late = t1 > 14000.0  # after every window closed, both networks deliver the same weights
    np.testing.assert_allclose(v1[late], v2[late], rtol=0, atol=1e-9)
    early = t1 < 4000.0  # before the first plateau the plastic network still had the initial weights
    assert np.abs(v1[early] - v2[early]).max() > 1e-3


def test_reset_returns_to_the_initial_weights_or_keeps_them(backend):
    net, inp, ca1, proj, trains, w0 = _build(backend)
    net.run(15000.0)
    learned = proj.weights
    net.reset()
    np.testing.assert_array_equal(proj.weights, w0)
    net.run(15000.0)
    np.testing.assert_array_equal(proj.weights, learned)
    net.reset(keep_weights=True)
    np.testing.assert_array_equal(proj.weights, learned)


def test_bad_plateaus_and_targets_are_named():
    net = se.Network()
    inp = net.spike_source([[1.0]], name="inputs")
    ca1 = net.population(3, se.LIF(), name="ca1")
    proj = net.connect(inp, ca1, "all_to_all", weight=1.0, plasticity=se.BTSP(), name="place")
    with pytest.raises(se.ParameterError, match=r"'place'.*plateau neuron 5 out of range \[0, 3\)"):
        proj.add_plateaus([100.0], [5])
    with pytest.raises(se.ParameterError, match="'place'.*2 times and 1 ids"):
        proj.add_plateaus([100.0, 200.0], [0])
    with pytest.raises(se.ParameterError, match=r"'place'.*plateau time -5\.0 \(times\[1\], neuron 2\)"):
        proj.add_plateaus([100.0, -5.0], [0, 2])
    proj.add_plateaus([300.0], [1])
    with pytest.raises(se.ParameterError, match=r"'place'.*onsets of neuron 1 must increase: 200\.0 ms"):
        proj.add_plateaus([200.0], [1])
    static = net.connect(inp, ca1, "all_to_all", weight=1.0, name="static")
    with pytest.raises(se.ParameterError, match="'static'.*plateaus drive BTSP"):
        static.add_plateaus([100.0], [0])
    with pytest.raises(se.ParameterError, match=r"'w'.*synapse 1 is 9\.0, outside \[0, Wmax\]"):
        net.connect(inp, ca1, "all_to_all", weight=[1.0, 9.0, 1.0], plasticity=se.BTSP(), name="w")
    src = net.spike_source([[1.0]], name="other")
    with pytest.raises(se.NetworkError, match="BTSP needs a neuron population"):
        net.connect(inp, src, "all_to_all", weight=1.0, plasticity=se.BTSP())


def _gated(backend, split=None, explicit=None):
    rng = np.random.default_rng(5)
    trains = _inputs(rng)
    net = se.Network(seed=2, backend=backend)
    inp = net.spike_source(trains, name="inputs")
    ca1 = net.population(2, se.LIF(E_L=0.0, V_m=0.0, V_th=1e6, V_reset=0.0, C_m=1.0, tau_m=10.0), name="ca1")
    proj = net.connect(inp, ca1, "all_to_all", weight=1.0, delay=1.0, plasticity=se.BTSP(), name="btsp")
    # top-down: a teacher source relayed by parrots (network neurons), two spikes 3 ms apart make a plateau,
    # single spikes do not; a second burst inside the pause after a plateau is ignored
    teacher = net.spike_source([[1000.0, 1003.0, 1400.0, 1402.0, 6000.0], [3000.0, 3002.0, 9000.0]], name="teacher")
    relay = net.population(2, se.Parrot(), name="relay")
    net.connect(teacher, relay, "one_to_one", weight=1.0, delay=0.5)
    if explicit is None:
        proj.plateaus_from(relay, "one_to_one", weight=0.7, delay=2.0, threshold=1.0, tau=10.0, pause=500.0)
    else:
        proj.add_plateaus(*explicit)
    for d in split or (15000.0,):
        net.run(d)
    return proj


def test_dendritic_threshold_plateaus(backend):
    proj = _gated(backend)
    # teacher spikes reach the relay 0.5 ms later and the dendrite 2 ms after that
    np.testing.assert_allclose(proj.plateau_onsets(), [1005.5, 3004.5], atol=1e-9)
    same = _gated(backend, explicit=([1005.5, 3004.5], [0, 1]))
    np.testing.assert_allclose(proj.weights, same.weights, rtol=0, atol=1e-12)
    assert np.abs(proj.weights - 1.0).max() > 0.5
    split = _gated(backend, split=(700.0, 1004.0, 2.5, 5000.0, 9293.5))
    np.testing.assert_array_equal(split.weights, proj.weights)


def test_dendritic_gate_input_is_checked():
    net = se.Network()
    inp = net.spike_source([[1.0]], name="inputs")
    ca1 = net.population(2, se.LIF(), name="ca1")
    proj = net.connect(inp, ca1, "all_to_all", weight=1.0, plasticity=se.BTSP(), name="btsp")
    with pytest.raises(se.ParameterError, match="'btsp': plateaus_from tau must be a finite number > 0"):
        proj.plateaus_from(inp, tau=0.0)
    with pytest.raises(se.ParameterError, match="'btsp': plateaus_from pause must be a finite number >= 0"):
        proj.plateaus_from(inp, pause=-1.0)
    with pytest.raises(se.NetworkError, match="needs a population of this network"):
        proj.plateaus_from(se.Network().spike_source([[1.0]]))
    static = net.connect(inp, ca1, weight=1.0, name="static")
    with pytest.raises(se.ParameterError, match="'static'.*plateaus drive BTSP"):
        static.plateaus_from(inp)
