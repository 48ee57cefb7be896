"""NIR import/export (spikeengine.nir_io): the paper's graphs, conv/pool maps, errors, round trips."""

import os

import numpy as np
import pytest

import spikeengine as se
from spikeengine.errors import InputFormatError, NetworkError, ParameterError

nir = pytest.importorskip("nir", reason="the 'nir' package is not installed (pip install nir)")
from spikeengine.nir_io import _conv, _pool, from_nir, save_nir, spike_steps, to_nir  # noqa: E402

NIR_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "nir")
NMNIST_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "nmnist_test100")
needs_data = pytest.mark.skipif(not os.path.isdir(NIR_DIR), reason=f"NIR paper graphs not found in {NIR_DIR}")
needs_nmnist = pytest.mark.skipif(not (os.path.isdir(NIR_DIR) and os.path.isdir(NMNIST_DIR)),
                                  reason="cnn_sinabs.nir or the N-MNIST recordings (shared/data/nmnist_test100) absent")


def _f(name):
    return os.path.join(NIR_DIR, name)


def _pop(net, nir_name):
    name = net.metadata["nir_import"]["populations"][nir_name]
    return next(p for p in net.populations if p.name == name)


def _run(net, times_ms, ids, duration):
    inp = _pop(net, net.metadata["nir_import"]["inputs"][0])
    net.feed(inp, times_ms, ids)
    net.run(duration)
    return {p.name: p.spikes for p in net.populations if p._record_spikes}, \
        {p.name: p.spike_counts for p in net.populations if not p.is_source}


def _same_spikes(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k][1], b[k][1])
        np.testing.assert_allclose(a[k][0], b[k][0], rtol=0, atol=1e-9)


# ----------------------------------------------------------------------------------------- must-show
@needs_data
@pytest.mark.parametrize("semantics, steps", [("pulse", [460, 510, 710, 760]), ("kick", [450, 500, 710, 760])])
def test_lif_norse_exact_steps(backend, semantics, steps):
    """lif_norse.nir + input column of lif_exact.csv (dt = 1e-4 s): the paper's steps with pulse semantics."""
    csv = np.loadtxt(_f("lif_exact.csv"), delimiter=",")  # columns: input, membrane voltage, spike
    net = from_nir(_f("lif_norse.nir"), dt=1e-4, input_semantics=semantics, backend=backend)
    md = net.metadata["nir_import"]
    k = np.flatnonzero(csv[:, 0])
    out = _pop(net, md["outputs"][0])
    spikes, _ = _run(net, k * md["dt_ms"], np.zeros(k.size, dtype=np.int64), 1000 * md["dt_ms"] + 1.0)
    got = spike_steps(spikes[out.name][0], net, out).tolist()
    assert got == steps
    if semantics == "pulse":
        assert got == np.flatnonzero(csv[:, 2]).tolist()
        assert net.projections[0].weights[0] == pytest.approx(-np.expm1(-1e-4 / 2.5e-3), rel=1e-6)
    else:
        assert net.projections[0].weights[0] == pytest.approx(1e-4 / 2.5e-3, rel=1e-6)


@needs_data
def test_metadata_records_every_option():
    net = from_nir(_f("lif_norse.nir"), dt=1e-4, time_unit="s", input_semantics="pulse", reset="value")
    md = net.metadata["nir_import"]
    for key in ("time_unit", "dt", "dt_ms", "input_semantics", "reset", "layer_delay", "layer_delay_ms", "nir_version",
                "source", "populations", "inputs", "outputs", "threshold_test", "latency_ms"):
        assert key in md, key
    assert md["dt_ms"] == pytest.approx(0.1) and md["time_unit"] == "s" and md["reset"] == {"LIF": "value"}
    assert md["source"].endswith("lif_norse.nir") and md["nir_version"] == nir.__version__
    assert md["layer_delay_ms"] == pytest.approx(0.1)  # default: one step per layer


def test_options_are_required_and_checked():
    g = nir.NIRGraph.from_list(nir.Linear(weight=np.array([[1.0]])),
                               nir.LIF(tau=np.array([0.01]), r=np.array([1.0]), v_leak=np.array([0.0]),
                                       v_threshold=np.array([1.0]), v_reset=np.array([0.0])))
    with pytest.raises(ParameterError, match="dt"):
        from_nir(g)
    with pytest.raises(ParameterError, match="time_unit"):
        from_nir(g, dt=1e-3, time_unit="min")
    with pytest.raises(ParameterError, match="input_semantics"):
        from_nir(g, dt=1e-3, input_semantics="dirac")
    with pytest.raises(ParameterError, match="reset"):
        from_nir(g, dt=1e-3, reset="zero")
    with pytest.raises(InputFormatError, match="no such NIR file"):
        from_nir("/nonexistent/graph.nir", dt=1e-3)


# ----------------------------------------------------------------------------------------- paper graphs
@needs_data
@pytest.mark.parametrize("fname, n_hidden, reset", [("braille_noDelay_bias_zero.nir", 38, "value"),
                                                     ("braille_noDelay_noBias_subtract.nir", 40, "subtract")])
def test_braille_recurrent_flattened(fname, n_hidden, reset):
    net = from_nir(_f(fname), dt=1e-4, reset=reset)
    md = net.metadata["nir_import"]
    assert md["inputs"] == ["input"] and md["outputs"] == ["lif2"]
    lif1 = _pop(net, "lif1.lif")
    assert isinstance(lif1.model, se.LIFExp) and lif1.size == n_hidden and lif1.model.params["reset"] == reset
    assert md["recurrent_projections"] == ["lif1.lif->lif1.lif"]
    rec = next(p for p in net.projections if p.pre is lif1 and p.post is lif1)
    assert np.all(rec.delays == pytest.approx(0.1))  # z[k-1] feeds step k
    g = nir.read(_f(fname))
    w = np.asarray(g.nodes["lif1.w_rec"].weight, dtype=np.float64)
    assert len(rec) == np.count_nonzero(w)
    if "bias" in fname:
        assert np.any(lif1.model.params["I_e"] != 0)


@needs_data
def test_braille_roundtrip_identical_spikes(tmp_path):
    rng = np.random.default_rng(3)
    k = np.sort(rng.choice(300, 40, replace=False))
    ids = rng.integers(0, 12, k.size)
    opts = dict(dt=1e-4, input_semantics="pulse", reset="value")
    a = from_nir(_f("braille_noDelay_bias_zero.nir"), **opts)
    sa, ca = _run(a, k * 0.1, ids, 40.0)
    path = tmp_path / "braille.nir"
    save_nir(a, path)
    b = from_nir(path, **opts)
    sb, cb = _run(b, k * 0.1, ids, 40.0)
    _same_spikes(sa, sb)
    for n in ca:
        np.testing.assert_array_equal(ca[n], cb[n])
    assert sum(int(c.sum()) for c in ca.values()) > 0


@needs_data
def test_two_lif_neurons(backend):
    net = from_nir(_f("two_lif_neurons.nir"), dt=1e-4, backend=backend)
    md = net.metadata["nir_import"]
    assert [p.name for p in net.populations] == ["in", "lif1", "lif2"]
    lif1 = _pop(net, "lif1")
    # v_leak = 1.2 > v_threshold: lif1 starts at v_reset (after the step-0 spike) and fires every tau ln 6
    net.run(100.0)
    assert lif1.spike_counts[0] == int(100.0 // (10.0 * np.log(6.0)))
    g2 = to_nir(net)
    net2 = from_nir(g2, dt=1e-4, backend=backend)
    net2.run(100.0)
    np.testing.assert_array_equal(_pop(net2, "lif1").spike_counts, lif1.spike_counts)
    assert md["outputs"] == ["lif2"]


# ----------------------------------------------------------------------------------------- structure
def _dense_conv(x, w, stride, pad, dil, groups):
    cout, cin_g, kh, kw = w.shape
    cin, H, W = x.shape
    xp = np.zeros((cin, H + 2 * pad[0], W + 2 * pad[1]))
    xp[:, pad[0]:pad[0] + H, pad[1]:pad[1] + W] = x
    Ho = (H + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    Wo = (W + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((cout, Ho, Wo))
    cpg = cout // groups
    for co in range(cout):
        g = co // cpg
        for ci in range(cin_g):
            for ky in range(kh):
                for kx in range(kw):
                    ys = ky * dil[0]
                    xs = kx * dil[1]
                    y[co] += w[co, ci, ky, kx] * xp[g * cin_g + ci, ys:ys + stride[0] * Ho:stride[0],
                                                     xs:xs + stride[1] * Wo:stride[1]]
    return y


@pytest.mark.parametrize("stride, pad, dil, groups", [((2, 2), (1, 1), (1, 1), 1), ((1, 2), (0, 2), (2, 1), 2),
                                                      ((1, 1), (1, 1), (1, 1), 4)])
def test_conv2d_matrix_equals_convolution(stride, pad, dil, groups):
    rng = np.random.default_rng(0)
    cin, cout, H, W = 4, 8, 9, 7
    w = rng.normal(size=(cout, cin // groups, 3, 3))
    w[w < -1.0] = 0.0  # zero weights are not stored
    node = nir.Conv2d(input_shape=(H, W), weight=w, stride=stride, padding=pad, dilation=dil, groups=groups,
                      bias=np.zeros(cout))
    shape, m, _, _ = _conv("c", node, (cin, H, W))
    x = rng.normal(size=(cin, H, W))
    ref = _dense_conv(x, w, stride, pad, dil, groups)
    assert shape == ref.shape
    np.testing.assert_allclose(m @ x.ravel(), ref.ravel(), atol=1e-12)
    assert m.nnz == np.count_nonzero(m.toarray())


def test_pool_matrices():
    x = np.arange(2 * 4 * 6, dtype=float).reshape(2, 4, 6)
    for cls, val in ((nir.SumPool2d, 1.0), (nir.AvgPool2d, 0.25)):
        node = cls(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
        shape, m, _, _ = _pool("p", node, (2, 4, 6))
        ref = x.reshape(2, 2, 2, 3, 2).sum(axis=(2, 4)) * val
        assert shape == (2, 2, 3)
        np.testing.assert_allclose(m @ x.ravel(), ref.ravel())


@needs_data
def test_cnn_structure_and_input_layout():
    net = from_nir(_f("cnn_sinabs.nir"), dt=1e-3)
    md = net.metadata["nir_import"]
    sizes = {p.name: p.size for p in net.populations}
    assert sizes == {"input": 2 * 34 * 34, "1": 16 * 16 * 16, "3": 16 * 16 * 16, "6": 8 * 8 * 8, "10": 256, "12": 10}
    assert md["reset"] == {"IF": "subtract"} and md["outputs"] == ["12"]
    assert all(isinstance(p.model, se.IF) for p in net.populations if not p.is_source)
    assert se.io.SensorMap((34, 34), polarity="split").size == _pop(net, "input").size
    # an input at (c, y, x) reaches exactly the conv0 outputs whose 5x5 window (stride 2, pad 1) covers it
    g = nir.read(_f("cnn_sinabs.nir"))
    w0 = np.asarray(g.nodes["0"].weight, dtype=np.float64)
    proj = net.projections[0]
    c, y, x = 1, 10, 7
    sel = proj.sources == (c * 34 + y) * 34 + x
    x_in = np.zeros((2, 34, 34))
    x_in[c, y, x] = 1.0
    ref = _dense_conv(x_in, w0, (2, 2), (1, 1), (1, 1), 1).ravel()
    got = np.zeros(ref.size)
    got[proj.targets[sel]] = proj.weights[sel]
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    # the sum-pool + conv composition: 3 -> 6 is one projection
    assert [pr.name for pr in net.projections] == ["input->1", "1->3", "3->6", "6->10", "10->12"]


@needs_nmnist
def test_cnn_nmnist_subset():
    """The first 10 real recordings (the full 100: examples/nir_nmnist.py, 100 % with reset by subtraction)."""
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
    try:
        import nir_nmnist
    finally:
        sys.path.pop(0)
    samples = nir_nmnist.read_labels(NMNIST_DIR)[:10]
    r = nir_nmnist.run(_f("cnn_sinabs.nir"), samples, reset="subtract")
    assert r["accuracy"] >= 0.9
    assert all(v > 0 for v in r["per_layer_spikes"].values())
    assert r["metadata"]["input_semantics"] == "pulse"


# ----------------------------------------------------------------------------------------- errors
def _lif(n, **kw):
    p = dict(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n))
    p.update(kw)
    return nir.LIF(**p)


def test_unknown_node_type():
    class Mystery:
        input_type = {"input": np.array([2])}
        output_type = {"output": np.array([2])}

    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}), "m": Mystery(),
                            "lif": _lif(2)}, edges=[("input", "m"), ("m", "lif")], type_check=False)
    with pytest.raises(InputFormatError, match=r"'m'.*Mystery"):
        from_nir(g, dt=1e-3)


def test_shape_mismatch_names_both_nodes():
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([4])}),
                            "fc": nir.Linear(weight=np.ones((3, 4))), "lif": _lif(5)},
                     edges=[("input", "fc"), ("fc", "lif")], type_check=False)
    with pytest.raises(NetworkError, match=r"'fc'.*'lif'.*\(3,\).*\(5,\)"):
        from_nir(g, dt=1e-3)
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2, 4, 4])}),
                            "fc": nir.Linear(weight=np.ones((3, 32))), "lif": _lif(3)},
                     edges=[("input", "fc"), ("fc", "lif")], type_check=False)
    with pytest.raises(NetworkError, match=r"'input'.*'fc'.*\(2, 4, 4\).*\(32,\)"):
        from_nir(g, dt=1e-3)


def test_bad_parameter_names_node():
    g = nir.NIRGraph.from_list(nir.Linear(weight=np.ones((2, 2))), _lif(2, tau=np.array([0.01, -1.0])))
    with pytest.raises(ParameterError, match="tau"):
        from_nir(g, dt=1e-3)


def test_output_fed_by_weights_is_refused():
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}),
                            "fc": nir.Linear(weight=np.ones((2, 2))),
                            "output": nir.Output(output_type={"output": np.array([2])})},
                     edges=[("input", "fc"), ("fc", "output")], type_check=False)
    with pytest.raises(ParameterError, match="'fc'"):
        from_nir(g, dt=1e-3)


# ----------------------------------------------------------------------------------------- nested subgraphs
def _rec_graphs():
    rng = np.random.default_rng(1)
    w_in, w_rec = rng.normal(0.6, 0.3, (4, 3)), rng.normal(0.0, 0.3, (4, 4))
    lif = dict(tau=np.full(4, 0.005), r=np.ones(4), v_leak=np.zeros(4), v_threshold=np.full(4, 0.2),
               v_reset=np.zeros(4))
    inner = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([4])}), "lif": nir.LIF(**lif),
                                "w_rec": nir.Linear(weight=w_rec),
                                "output": nir.Output(output_type={"output": np.array([4])})},
                         edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
                         type_check=False)
    nested = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([3])}),
                                 "fc": nir.Linear(weight=w_in), "rnn": inner,
                                 "output": nir.Output(output_type={"output": np.array([4])})},
                          edges=[("input", "fc"), ("fc", "rnn"), ("rnn", "output")], type_check=False)
    flat = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([3])}),
                               "fc": nir.Linear(weight=w_in), "rnn.lif": nir.LIF(**lif),
                               "rnn.w_rec": nir.Linear(weight=w_rec),
                               "output": nir.Output(output_type={"output": np.array([4])})},
                        edges=[("input", "fc"), ("fc", "rnn.lif"), ("rnn.lif", "rnn.w_rec"),
                               ("rnn.w_rec", "rnn.lif"), ("rnn.lif", "output")], type_check=False)
    return nested, flat


def test_nested_subgraph_equals_flattened(backend):
    nested, flat = _rec_graphs()
    rng = np.random.default_rng(2)
    k = np.sort(rng.choice(400, 120, replace=False))
    ids = rng.integers(0, 3, k.size)
    res = []
    for g in (nested, flat):
        net = from_nir(g, dt=1e-4, backend=backend)
        assert net.metadata["nir_import"]["recurrent_projections"] == ["rnn.lif->rnn.lif"]
        res.append(_run(net, k * 0.1, ids, 45.0)[0])
    _same_spikes(res[0], res[1])
    assert res[0]["rnn.lif"][0].size > 0


# ----------------------------------------------------------------------------------------- export
def _python_net(backend):
    net = se.Network(seed=4, backend=backend)
    inp = net.stream_source(5, name="in")
    a = net.population(6, se.LIF(E_L=0.0, V_m=0.0, V_th=1.0, V_reset=0.0, C_m=2.0, tau_m=8.0, t_ref=0.0,
                                 I_e=0.05), name="a")
    b = net.population(4, se.IF(V_th=1.5, reset="subtract"), name="b")
    c = net.population(3, se.LeakyIntegrator(tau_m=5.0), name="c")
    rng = np.random.default_rng(0)
    net.connect(inp, a, "all_to_all", weight=rng.uniform(0.1, 0.6, 30), delay=rng.choice([1.0, 2.5], 30))
    net.connect(a, b, {"rule": "pairwise_bernoulli", "p": 0.7}, weight=lambda n, r: r.uniform(0.2, 0.9, n),
                delay=1.0)
    net.connect(b, a, "all_to_all", weight=-0.2, delay=1.0)
    net.connect(b, c, "all_to_all", weight=0.3, delay=1.0)
    b.record("spikes")
    a.record("spikes")
    return net


def test_python_network_roundtrip(backend, tmp_path):
    rng = np.random.default_rng(5)
    t = np.sort(rng.uniform(0, 60, 150))
    ids = rng.integers(0, 5, t.size)
    a = _python_net(backend)
    sa, ca = _run_py(a, t, ids)
    path = tmp_path / "py.nir"
    save_nir(a, path, dt=1e-3, time_unit="s", input_semantics="kick")
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]
    b = from_nir(path, dt=1e-3, time_unit="s", input_semantics="kick", backend=backend)
    assert b.metadata["nir_import"]["reset"] == {"LIF": "value", "IF": "subtract"}  # stated in the node metadata
    inp = _pop(b, "in")
    b.feed(inp, t, ids)
    b.run(80.0)
    sb = {n: _pop(b, n).spikes for n in sa}
    _same_spikes(sa, sb)
    for n in ca:
        np.testing.assert_array_equal(ca[n], _pop(b, n).spike_counts)
    assert ca["b"].sum() > 0 and ca["a"].sum() > 0


def _run_py(net, t, ids):
    net.feed(net.populations[0], t, ids)
    net.run(80.0)
    return ({p.name: p.spikes for p in net.populations if p._record_spikes},
            {p.name: p.spike_counts for p in net.populations if not p.is_source})


def test_export_refusals():
    net = se.Network()
    s = net.stream_source(3000, name="s")
    p = net.population(4000, se.IF(), name="p")
    net.connect(s, p, "one_to_one" if False else {"rule": "fixed_indegree", "indegree": 1}, weight=1.0, delay=1.0)
    with pytest.raises(ParameterError, match="dense"):
        to_nir(net, dt=1e-3, max_dense=10**6)
    net = se.Network()
    s = net.stream_source(1, name="s")
    p = net.population(1, se.LIF(t_ref=2.0), name="p")
    net.connect(s, p, weight=1.0, delay=1.0)
    with pytest.raises(ParameterError, match="t_ref"):
        to_nir(net, dt=1e-3)
    net = se.Network()
    net.poisson_source(2, rate=5.0, name="noise")
    with pytest.raises(ParameterError, match="Poisson"):
        to_nir(net, dt=1e-3)
