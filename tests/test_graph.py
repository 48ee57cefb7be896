"""networkx export/import: exact round trips and user-built graphs."""

import networkx as nx
import numpy as np
import pytest
from test_native import assert_same_run, random_network, simulate

import spikeengine as se
from spikeengine.errors import ParameterError
from spikeengine.graph import from_networkx, to_networkx


@pytest.mark.parametrize("seed", [0, 2])
def test_round_trip_identical_spikes(backend, seed):
    G = to_networkx(random_network(seed, backend))
    net = from_networkx(G)
    assert net.seed == seed and net.backend_name == backend and net.bin_width == 0.5
    assert net.metadata == {"origin": "test", "seed": seed, "nested": {"a": [1, 2.5]}}
    assert_same_run(simulate(random_network(seed, backend)), simulate(net))


def test_nodes_edges_and_graph_attributes():
    net = random_network(1)
    G = to_networkx(net)
    assert isinstance(G, nx.MultiDiGraph)
    assert G.number_of_nodes() == net.size and G.number_of_edges() == sum(len(p) for p in net.projections)
    assert G.graph["seed"] == 1 and G.graph["metadata"] == net.metadata
    lif = next(p for p in net.populations if p.name == "lif")
    node = G.nodes[lif.first + 3]
    assert node["population"] == "lif" and node["index"] == 3 and node["model"] == "LIF"
    assert node["tau_m"] == lif.model.params["tau_m"][3] and node["V_th"] == 15.0 and node["reset"] == "value"
    assert node["poisson_inputs"][0][2] == 0.0 and node["record_spikes"] is True
    assert G.nodes[0]["model"] == "spike_source" and isinstance(G.nodes[0]["spike_times"], list)
    assert G.nodes[10]["model"] == "poisson_source" and G.nodes[10]["rate"] == net.populations[1].source[1][0]
    assert G.nodes[20]["model"] == "stream_source"
    proj = net.projections[0]
    u, v = int(proj.sources[0]) + proj.pre.first, int(proj.targets[0]) + proj.post.first
    edge = next(d for d in G.get_edge_data(u, v).values() if d["synapse"] == 0)
    assert edge == {"weight": proj.weights[0], "delay": proj.delays[0], "projection": proj.name, "synapse": 0}


def test_user_built_digraph_with_nest_names():
    G = nx.DiGraph()
    G.add_node("drive", model="spike_source", spike_times=[1.0, 2.0, 3.0])
    G.add_node("a", model="iaf_psc_delta", E_L=0.0, V_m=0.0, V_th=1.0, V_reset=0.0, C_m=1.0, tau_m=20.0,
               record_spikes=True, pos=(0, 1))  # unrelated attributes (drawing positions) are ignored
    G.add_node("b", model="iaf_psc_delta", E_L=0.0, V_m=0.0, V_th=2.0, V_reset=0.0, C_m=1.0, tau_m=20.0)
    G.add_node("c", model="iaf_psc_exp", tau_syn_ex=5.0)
    G.add_edge("drive", "a", weight=1.5, delay=1.0)
    G.add_edge("drive", "b", weight=1.5, delay=2.0)
    G.add_edge("a", "c", weight=100.0, delay=0.5)
    net = from_networkx(G, seed=7, backend="python")
    assert net.seed == 7 and net.backend_name == "python"
    assert [(p.name, p.size, type(p.model).__name__ if p.model else p.source[0]) for p in net.populations] == \
           [("spike_source", 1, "array"), ("iaf_psc_delta", 2, "LIF"), ("iaf_psc_exp", 1, "LIFExp")]
    lif = net.populations[1]
    assert lif.model.params["V_th"].tolist() == [1.0, 2.0] and lif.model.params["tau_m"] == 20.0
    assert [(p.name, len(p)) for p in net.projections] == [("spike_source->iaf_psc_delta", 2),
                                                           ("iaf_psc_delta->iaf_psc_exp", 1)]
    assert net.projections[0].delays.tolist() == [1.0, 2.0]
    net.run(10.0)
    # a: inputs at 2, 3, 4 ms, refractory for 2 ms after its spike at 2; b: inputs at 3, 4, 5 ms sum past 2 mV at 4
    assert lif.spikes[0].tolist() == [2.0, 4.0, 4.0] and lif.spikes[1].tolist() == [0, 0, 1]


def test_populations_and_projections_by_attribute():
    G = nx.MultiDiGraph()
    G.add_nodes_from(range(4), model="LIF", population="E")
    for i in range(4):
        G.nodes[i]["I_e"] = 100.0 * i
        G.nodes[i]["index"] = 3 - i  # local order given explicitly
    G.add_nodes_from(range(4, 6), model="poisson_source", rate=20.0, population="noise")
    G.add_edge(4, 0, weight=1.0, delay=1.0, projection="in")
    G.add_edge(5, 0, weight=2.0, delay=1.0, projection="in")
    G.add_edge(0, 1, weight=1.0, delay=1.0, projection="rec")
    G.add_edge(0, 1, weight=3.0, delay=2.0, projection="rec")  # a multapse
    net = from_networkx(G)
    E = net.populations[0]
    assert E.model.params["I_e"].tolist() == [300.0, 200.0, 100.0, 0.0]
    assert net.populations[1].source[0] == "poisson" and net.populations[1].source[1].tolist() == [20.0, 20.0]
    assert [p.name for p in net.projections] == ["rec", "in"]  # order of first appearance among the edges
    rec = net.projections[0]
    assert rec.sources.tolist() == [3, 3] and rec.targets.tolist() == [2, 2]
    assert rec.weights.tolist() == [1.0, 3.0] and rec.delays.tolist() == [1.0, 2.0]
    assert net.projections[1].delays.strides == (0,)  # equal values are kept as a scalar


def test_node_without_model_is_named():
    G = nx.DiGraph()
    G.add_node("x", model="LIF")
    G.add_edge("x", "ghost", weight=1.0, delay=1.0)  # networkx creates 'ghost' without attributes
    with pytest.raises(ParameterError, match=r"node 'ghost' has no 'model' attribute"):
        from_networkx(G)


@pytest.mark.parametrize("missing", ["weight", "delay"])
def test_edge_without_weight_or_delay_is_named(missing):
    G = nx.MultiDiGraph()
    G.add_nodes_from([1, 2], model="LIF")
    attrs = {"weight": 1.0, "delay": 1.0}
    del attrs[missing]
    G.add_edge(1, 2, **attrs)
    with pytest.raises(ParameterError, match=rf"edge 1 -> 2 \(key 0\) has no '{missing}' attribute"):
        from_networkx(G)


def test_other_errors():
    G = nx.DiGraph()
    G.add_node(0, model="hodgkin_huxley")
    with pytest.raises(ParameterError, match=r"node 0: unknown model 'hodgkin_huxley'; known: .*iaf_psc_delta"):
        from_networkx(G)
    G = nx.DiGraph()
    G.add_node(0, model="LIF", population="P")
    G.add_node(1, model="IF", population="P")
    with pytest.raises(ParameterError, match=r"population 'P': its nodes have different models"):
        from_networkx(G)
    G = nx.DiGraph()
    G.add_node(0, model="LIF", reset="value")
    G.add_node(1, model="LIF", reset="subtract")
    with pytest.raises(ParameterError, match=r"population 'LIF': nodes have different 'reset' values"):
        from_networkx(G)
    G = nx.DiGraph()
    G.add_node(0, model="LIF", population="A")
    G.add_node(1, model="LIF", population="B")
    G.add_edge(0, 0, weight=1.0, delay=1.0, projection="p")
    G.add_edge(0, 1, weight=1.0, delay=1.0, projection="p")
    with pytest.raises(ParameterError, match=r"edge 0 -> 1: projection 'p' connects 'A' -> 'A'"):
        from_networkx(G)
    G = nx.DiGraph()
    G.add_node(0, model="LIF", tau_m=-1.0)
    with pytest.raises(ParameterError, match="tau_m"):
        from_networkx(G)
    G = nx.DiGraph()
    G.add_node(0, model="poisson_source")
    with pytest.raises(ParameterError, match=r"node 0 \(population 'poisson_source', a poisson_source\) has no 'rate'"):
        from_networkx(G)


def test_empty_populations_and_projections_survive():
    net = se.Network(seed=3)
    a = net.population(0, se.IF(), name="empty")
    b = net.population(2, se.LIF(), name="b")
    net.connect(a, b, "all_to_all", name="none")
    back = from_networkx(to_networkx(net))
    assert [(p.name, p.size, repr(p.model)) for p in back.populations] == [("empty", 0, "IF()"), ("b", 2, "LIF()")]
    assert [(p.name, len(p)) for p in back.projections] == [("none", 0)]


def test_heterogeneous_poisson_input_steps():
    G = nx.DiGraph()
    G.add_node(0, model="LIF", poisson_inputs=[(1000.0, 0.5, 0.1)])
    G.add_node(1, model="LIF", poisson_inputs=[(2000.0, 0.25, None), (10.0, 1.0, 0.0)])
    pop = from_networkx(G).populations[0]
    assert [(r.tolist(), w.tolist(), d) for r, w, d in pop.poisson_inputs] == [
        ([1000.0, 0.0], [0.5, 0.0], 0.1), ([0.0, 2000.0], [0.0, 0.25], 0.0), ([0.0, 10.0], [0.0, 1.0], 0.0)]
    assert np.all([len(x) == 2 for x, _, _ in pop.poisson_inputs])
