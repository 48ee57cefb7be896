"""Plastic projections through the public API: validation, weight access and recording, reset,
energy counters. (NEST agreement: tests/test_stdp_nest.py; backend agreement: test_backends_agree.py.)"""

import math

import numpy as np
import pytest

import spikeengine as se


def _pair_net(backend="python", rule=None, w=50.0):
    net = se.Network(backend=backend)
    pre = net.spike_source([[10.0, 60.0, 110.0, 400.0]], name="pre")
    post = net.spike_source([[20.0, 55.0]], name="post")
    rule = rule or se.STDP(mu_plus=0.0, mu_minus=0.0)
    proj = net.connect(pre, post, "one_to_one", weight=w, delay=1.0, plasticity=rule, name="pp")
    return net, proj


@pytest.mark.parametrize("kw, needle", [
    ({"lambda_": -0.1}, "lambda must be >= 0"),
    ({"tau_plus": 0.0}, "tau_plus must be > 0"),
    ({"tau_minus": -5.0}, "tau_minus must be > 0"),
    ({"mu_plus": 1.5}, r"mu_plus must lie in \[0, 1\]"),
    ({"alpha": float("nan")}, "alpha must be finite"),
    ({"Wmax": 0.0}, "Wmax must be non-zero"),
    ({"pairing": "nearest"}, "pairing must be one of"),
    ({"delay": "somatic"}, "delay must be 'dendritic'"),
    ({"lamda": 0.1}, r"unknown parameter\(s\) \['lamda'\]"),
])
def test_stdp_parameters_are_checked(kw, needle):
    with pytest.raises(se.ParameterError, match=needle):
        se.STDP(**kw)


def test_other_rules_are_checked():
    with pytest.raises(se.ParameterError, match="TripletSTDP: tau_plus_triplet must be > 0"):
        se.TripletSTDP(tau_x=-1.0)
    net = se.Network()
    da = net.spike_source([[1.0]], name="da")
    with pytest.raises(se.ParameterError, match="Wmin must be < Wmax"):
        se.DopamineSTDP(dopamine=da, Wmin=5.0, Wmax=1.0)
    pop = net.population(2, se.LIF(), name="cells")
    with pytest.raises(se.ParameterError, match="dopamine population 'cells' must be a spike_source"):
        se.DopamineSTDP(dopamine=pop)
    with pytest.raises(se.ParameterError, match="unknown or unsupported NEST synapse model 'stdp_pl_synapse_hom'"):
        se.plasticity.from_nest("stdp_pl_synapse_hom", {})
    with pytest.raises(se.ParameterError, match="'weight' is an argument of connect"):
        se.plasticity.from_nest("stdp_synapse", {"weight": 2.0})
    assert se.plasticity.from_nest("stdp_triplet_synapse", {"tau_plus_triplet": 90.0}).tau_plus_triplet == 90.0


def test_connect_checks_weights_targets_and_post_time_constants():
    net = se.Network()
    pre = net.spike_source([[1.0]] * 3, name="pre")
    cells = net.population(3, se.LIF(), name="cells")
    readout = net.population(1, se.LeakyIntegrator(), name="readout")
    with pytest.raises(se.ParameterError, match=r"'bad'.*synapse 2 is 120\.0, outside \[0, Wmax\]"):
        net.connect(pre, cells, "one_to_one", weight=[1.0, 2.0, 120.0], plasticity=se.STDP(), name="bad")
    with pytest.raises(se.ParameterError, match=r"synapse 0 is -1\.0"):
        net.connect(pre, cells, "one_to_one", weight=-1.0, plasticity=se.STDP())
    with pytest.raises(se.NetworkError, match="'ro'.*needs postsynaptic spikes.*'readout'.*never spikes"):
        net.connect(pre, readout, weight=1.0, plasticity=se.STDP(), name="ro")
    with pytest.raises(se.NetworkError, match="plasticity must be a rule"):
        net.connect(pre, cells, weight=1.0, plasticity="stdp")
    net.connect(pre, cells, "one_to_one", weight=1.0, plasticity=se.STDP(tau_minus=20.0), name="a")
    net.connect(pre, cells, "one_to_one", weight=1.0, plasticity=se.STDP(tau_minus=30.0), name="b")
    with pytest.raises(se.NetworkError, match="'a' and 'b' onto population 'cells'.*tau_minus"):
        net.run(1.0)


def test_inhibitory_plastic_synapses_take_the_sign_of_wmax(backend):
    net, proj = _pair_net(backend, se.STDP(mu_plus=0.0, mu_minus=0.0, Wmax=-100.0), w=-50.0)
    net.run(500.0)
    w = float(proj.weights[0])
    assert -100.0 <= w <= 0.0 and w != -50.0


def test_weights_history_samples_set_and_reset(backend):
    net, proj = _pair_net(backend)
    proj.record_weights()
    net.run(500.0)
    t, syn, w = proj.weight_history()
    np.testing.assert_array_equal(t, [10.0, 60.0, 110.0, 400.0])
    assert syn.tolist() == [0, 0, 0, 0]
    # by hand (additive, lambda 0.01, Wmax 100, tau 20, d = 1): at the pre spike at 60 the post spikes at
    # 20 and 55 (in (10 - 1, 60 - 1]) facilitate with K+ = exp(-(t_post + 1 - 10) / 20), then K-(59) depresses
    km = math.exp(-(59.0 - 55.0) / 20.0) + math.exp(-(59.0 - 20.0) / 20.0)
    assert w[1] == pytest.approx(50.0 + math.exp(-11.0 / 20.0) + math.exp(-46.0 / 20.0) - km, abs=1e-12)
    assert proj.weights[0] == w[-1]
    proj.weights = [42.0]
    assert proj.weights[0] == 42.0
    with pytest.raises(se.ParameterError, match=r"synapse 0 is 420\.0"):
        proj.weights = [420.0]
    net.reset()
    np.testing.assert_array_equal(proj.weights, [42.0])  # the last value set is the initial value
    net.run(500.0)
    assert proj.weights[0] != 42.0
    net.reset(keep_weights=True)
    kept = proj.weights.copy()
    net.run(500.0)
    assert proj.weights[0] != kept[0]


def test_sampled_weights_and_static_errors():
    net = se.Network()
    pre = net.spike_source([[10.0, 60.0, 110.0, 400.0], [30.0]], name="pre")
    post = net.spike_source([[20.0, 55.0]], name="post")
    proj = net.connect(pre, post, "all_to_all", weight=50.0, plasticity=se.STDP(mu_plus=0.0, mu_minus=0.0))
    proj.record_weights(interval=50.0, ids=[0])
    with pytest.raises(se.ParameterError, match="synapse id 7 out of range"):
        proj.record_weights(interval=5.0, ids=[7])
    with pytest.raises(se.ParameterError, match="interval must be a number of ms > 0"):
        proj.record_weights(interval=0.0)
    net.run(200.0)
    t, v, ids = proj.weight_samples()
    np.testing.assert_array_equal(t, [0.0, 50.0, 100.0, 150.0])
    assert v.shape == (4, 1) and ids.tolist() == [0]
    assert v[0, 0] == 50.0 and v[1, 0] == 50.0 and v[2, 0] != 50.0  # the update at 60 ms is seen at 100 ms
    with pytest.raises(se.ParameterError, match="weight updates were not recorded"):
        proj.weight_history()
    net2 = se.Network()
    a = net2.population(2, se.LIF(), name="a")
    st = net2.connect(a, a, weight=1.0, name="st")
    with pytest.raises(se.ParameterError, match="'st': only plastic projections"):
        st.record_weights()
    net2.run(1.0)
    with pytest.raises(se.NetworkError, match="'st': the weights of a static projection are fixed"):
        st.weights = [2.0] * 4


def test_energy_report_counts_plastic_updates(backend):
    net, proj = _pair_net(backend)
    net.run(500.0)
    r = net.energy_report()
    p = [x for x in r.projections if x["name"] == "pp"][0]
    assert p["weight_updates"] == 4 and p["trace_updates"] == 4  # one synapse, four presynaptic spikes
    c = net.counters
    # facilitation steps: the post spikes at 20 and 55 (both read at 60); one depression per pre spike
    assert c["weight_updates"] == 2 + 4
    assert c["trace_updates"] == 4 + 2  # presynaptic traces + postsynaptic history entries
    assert r.footprint["plasticity_traces"] > 0
