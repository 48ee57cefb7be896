"""Bad input raises a subclass of SpikeEngineError whose message names the culprit."""

import math

import numpy as np
import pytest

import spikeengine as se
from spikeengine.errors import NetworkError, ParameterError, SpikeEngineError


def two_pops():
    net = se.Network(seed=0, backend="python")
    a = net.population(3, se.LIF(), name="A")
    b = net.population(2, se.LIF(), name="B")
    return net, a, b


@pytest.mark.parametrize("weight, needle", [(np.nan, "weight of synapse 0"), ([1.0, np.inf, 1.0, 1.0, 1.0, 1.0],
                                                                               "weight of synapse 1")])
def test_bad_weights(weight, needle):
    net, a, b = two_pops()
    with pytest.raises(NetworkError, match=needle) as err:
        net.connect(a, b, "all_to_all", weight=weight)
    assert "A->B" in str(err.value)


@pytest.mark.parametrize("delay", [0.0, -1.0, np.nan])
def test_bad_delays(delay):
    net, a, b = two_pops()
    with pytest.raises(NetworkError, match="delay of synapse 0"):
        net.connect(a, b, "all_to_all", delay=delay)


def test_index_out_of_range_and_length_mismatch():
    net, a, b = two_pops()
    with pytest.raises(NetworkError, match=r"targets\[1\] = 2 is out of range \[0, 2\)"):
        net.connect(a, b, se.FromArrays([0, 1], [0, 2]))
    with pytest.raises(NetworkError, match="differ in length"):
        net.connect(a, b, se.FromArrays([0, 1, 2], [0, 1]))
    with pytest.raises(NetworkError, match=r"weight has shape \(3,\)"):
        net.connect(a, b, se.FromArrays([0, 1], [0, 1]), weight=[1.0, 2.0, 3.0])
    with pytest.raises(NetworkError, match="one_to_one needs equal sizes"):
        net.connect(a, b, "one_to_one")


@pytest.mark.parametrize("params, needle", [
    ({"tau_m": 0.0}, "'tau_m' must be finite and > 0"),
    ({"tau_m": -5.0}, "'tau_m'"),
    ({"C_m": np.nan}, "'C_m' is NaN"),
    ({"V_reset": -50.0, "V_th": -55.0}, "'V_reset' must be < V_th"),
    ({"t_ref": -1.0}, "'t_ref'"),
    ({"tau_m": [10.0, 10.0, -1.0]}, "at neuron 2"),
])
def test_bad_model_parameters_name_population(params, needle):
    net = se.Network()
    with pytest.raises(ParameterError, match=needle) as err:
        net.population(3, se.LIF(**params), name="exc")
    assert "'exc'" in str(err.value)


def test_unknown_parameter_and_model_names():
    with pytest.raises(ParameterError, match="unknown parameter.*tau_mem"):
        se.LIF(tau_mem=10.0)
    with pytest.raises(ParameterError, match="unknown neuron model 'iaf_cond_alpha'"):
        se.Network().population(1, "iaf_cond_alpha")
    with pytest.raises(ParameterError, match="different from tau_m"):
        se.Network().population(1, se.LIFExp(tau_m=5.0, tau_syn_ex=5.0))
    with pytest.raises(ParameterError, match="unknown connection rule 'fixed_outdegree'"):
        net, a, b = two_pops()
        net.connect(a, b, {"rule": "fixed_outdegree", "outdegree": 2})


def test_bad_spike_times():
    net = se.Network()
    with pytest.raises(ParameterError, match=r"unit 1: spike times must be strictly increasing \(times\[0\] = 2.0"):
        net.spike_source([[1.0], [2.0, 1.0]], name="in")
    with pytest.raises(ParameterError, match="negative spike time"):
        net.spike_source([[-1.0, 2.0]])
    with pytest.raises(ParameterError, match="finite"):
        net.spike_source([[np.nan]])


@pytest.mark.parametrize("duration", [-1.0, math.nan, math.inf, "10"])
def test_bad_durations(duration):
    net, a, b = two_pops()
    with pytest.raises(ParameterError, match="duration"):
        net.run(duration)


def test_frozen_after_run_and_sources_cannot_receive():
    net, a, b = two_pops()
    src = net.spike_source([[1.0]], name="in")
    with pytest.raises(NetworkError, match="spike source and cannot receive"):
        net.connect(a, src)
    net.run(1.0)
    with pytest.raises(NetworkError, match="frozen"):
        net.population(1, se.LIF())


def test_recording_errors():
    net, a, b = two_pops()
    with pytest.raises(ParameterError, match="cannot record 'I_syn_ex'"):
        a.record("I_syn_ex", interval=1.0)
    with pytest.raises(ParameterError, match="interval must be > 0"):
        a.record("V_m", interval=0.0)
    net.run(1.0)
    with pytest.raises(ParameterError, match="spikes were not recorded"):
        _ = a.spikes


def test_backend_errors():
    with pytest.raises(SpikeEngineError, match="unknown backend 'gpu'"):
        se.Network(backend="gpu").run(1.0)


def test_all_errors_share_one_base():
    for cls in (NetworkError, ParameterError, se.InputFormatError, se.BackendError):
        assert issubclass(cls, SpikeEngineError)


def test_poisson_input_and_source_shapes():
    net, a, b = two_pops()
    with pytest.raises(ParameterError, match=r"population 'A': Poisson input rate has shape \(2,\); expected"):
        a.add_poisson_input(rate=[1.0, 2.0], weight=0.1)
    with pytest.raises(ParameterError, match="Poisson input weight must be finite"):
        a.add_poisson_input(rate=10.0, weight=np.nan)
    with pytest.raises(ParameterError, match=r"poisson source 'p': rate has shape \(2,\)"):
        net.poisson_source(3, rate=[1.0, 2.0], name="p")
    with pytest.raises(NetworkError, match="size must be a non-negative integer"):
        net.poisson_source(-1, rate=1.0)


def test_connectivity_changed_after_connect_is_caught_before_the_kernel():
    net, a, b = two_pops()
    src, tgt = np.array([0, 1]), np.array([0, 1])
    net.connect(a, b, se.FromArrays(src, tgt), name="explicit")
    tgt[1] = 7  # the projection keeps the caller's arrays without copying them
    with pytest.raises(NetworkError, match=r"projection 'explicit': targets were changed after connect\(\)"):
        net.run(1.0)
