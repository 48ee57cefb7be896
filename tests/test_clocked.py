"""Clocked populations inside the event-driven engine (spikeengine.clocked, docs/clocked.md).

The grid models are checked against their closed forms and, when NEST 3.10 is installed, against NEST's
``iaf_psc_delta`` / ``iaf_psc_exp`` in networks that mix them with event-driven (precise) neurons. The
schedule, the chunking of runs and the backends must not change a spike.
"""

import importlib.util
import math

import numpy as np
import pytest

import spikeengine as se
from spikeengine.clocked import CoSim, end_index, grid_steps, propagator_32

H = 0.1


def _lif(**kw):
    p = dict(E_L=-65.0, V_m=-65.0, V_reset=-70.0, V_th=-55.0, C_m=250.0, tau_m=15.0, t_ref=2.0, I_e=300.0)
    p.update(kw)
    return p


def _exp(**kw):
    return _lif(**dict(dict(tau_syn_ex=2.0, tau_syn_in=5.0, I_e=200.0), **kw))


def _spec(seed, grid_inputs, n_in=20, na=25, nb=20, nc=15, T=150.0):
    """A random network: sources -> clocked iaf_psc_delta (A), clocked iaf_psc_exp (B) and event-driven
    iaf_psc_exp (C), with projections between all three; delays are multiples of H."""
    rng = np.random.default_rng(seed)
    trains = []
    for _ in range(n_in):
        t = np.sort(rng.uniform(0.5, T - 1, rng.integers(5, 30)))
        trains.append(np.unique(np.round(t / H) * H) if grid_inputs else np.unique(t))
    sizes = {"in": n_in, "A": na, "B": nb, "C": nc}
    conns = []
    for pre, post, p, scale, lo, hi in [("in", "A", 0.4, 3.0, -1, 4), ("in", "B", 0.4, 300.0, -1, 3),
                                        ("A", "B", 0.2, 200.0, -2, 1), ("B", "A", 0.2, 3.0, -2, 1),
                                        ("A", "A", 0.1, 2.0, -2, 1), ("B", "B", 0.1, 100.0, -2, 1),
                                        ("A", "C", 0.2, 300.0, -1, 2), ("C", "A", 0.2, 3.0, -1, 2),
                                        ("in", "C", 0.3, 300.0, -1, 3), ("C", "B", 0.2, 150.0, -1, 2)]:
        m = rng.random((sizes[pre], sizes[post])) < p
        if pre == post:
            np.fill_diagonal(m, False)
        s, t = np.nonzero(m)
        conns.append((pre, post, s, t, rng.uniform(lo, hi, s.size) * scale / 2, rng.integers(10, 25, s.size) * H))
    return {"trains": trains, "sizes": sizes, "conns": conns, "T": T}


def _build(spec, backend=None, stream=False):
    net = se.Network(backend=backend)
    s = spec["sizes"]
    if stream:
        src = net.stream_source(s["in"], name="in")
    else:
        src = net.spike_source(spec["trains"], name="in")
    pops = {"in": src,
            "A": net.population(s["A"], se.Clocked("iaf_psc_delta", dt=H, params=_lif()), name="A"),
            "B": net.population(s["B"], se.Clocked("iaf_psc_exp", dt=H, params=_exp()), name="B"),
            "C": net.population(s["C"], se.LIFExp(**_exp(I_e=350.0, tau_syn_ex=3.0, tau_syn_in=4.0)), name="C")}
    for pre, post, a, b, w, d in spec["conns"]:
        net.connect(pops[pre], pops[post], se.FromArrays(a, b), weight=w, delay=d)
    for k in "ABC":
        pops[k].record("spikes")
    return net, pops


def _spikes(pops):
    return {k: pops[k].spikes for k in "ABC"}


def _same(a, b, tol=0.0):
    for k in a:
        (ta, ia), (tb, ib) = a[k], b[k]
        assert ta.size == tb.size, k
        assert np.array_equal(ia, ib), k
        np.testing.assert_allclose(ta, tb, rtol=0, atol=tol, err_msg=k)


# ---------------------------------------------------------------- the grid models against their closed forms
def test_delta_neuron_fires_when_the_closed_form_crosses_on_the_grid():
    """Constant drive only: V_k = V_inf (1 - exp(-k h / tau)) on the grid; the first step k with V_k >= V_th
    spikes at k h, then t_ref / h steps clamped, then the same again."""
    tau, C, Ie, vth, tref = 12.0, 200.0, 400.0, 15.0, 2.0
    net = se.Network()
    pop = net.population(1, se.Clocked("iaf_psc_delta", dt=H, params=dict(
        E_L=0.0, V_m=0.0, V_reset=0.0, V_th=vth, C_m=C, tau_m=tau, t_ref=tref, I_e=Ie)))
    pop.record("spikes")
    net.run(60.0)
    v_inf = Ie * tau / C
    k = math.ceil(-tau * math.log(1 - vth / v_inf) / H)  # first grid point at or above threshold
    period = k + round(tref / H)
    expected = [(k + m * period) * H for m in range(100) if (k + m * period) * H <= 60.0 + 1e-9]
    np.testing.assert_allclose(pop.spikes[0], expected, rtol=0, atol=1e-9)


def test_exp_neuron_voltage_matches_the_exact_solution_at_the_grid():
    """One input current of w pA at t0: V(t) = w k (e^{-(t-t0)/tau_s} - e^{-(t-t0)/tau_m}), k =
    tau_m tau_s / (C (tau_s - tau_m)), after it acts (NEST: at the end of the step it arrives in, then one
    step later on V). The neuron spikes at the first grid point where the exact V reaches threshold."""
    tm, ts, C, w = 10.0, 3.0, 100.0, 900.0
    kf = tm * ts / (C * (ts - tm))
    t = np.arange(1, 400) * H  # time since the current jumped
    v = w * kf * (np.exp(-t / ts) - np.exp(-t / tm))
    vth = 0.9 * v.max()
    first = t[np.argmax(v >= vth)]
    net = se.Network()
    src = net.spike_source([[1.0]])
    pop = net.population(1, se.Clocked("iaf_psc_exp", dt=H, params=dict(
        E_L=0.0, V_m=0.0, V_reset=0.0, V_th=vth, C_m=C, tau_m=tm, tau_syn_ex=ts, t_ref=50.0)))
    net.connect(src, pop, weight=w, delay=1.0)
    pop.record("spikes")
    net.run(40.0)
    assert pop.spikes[0].tolist() == pytest.approx([2.0 + first], abs=1e-9)


def test_propagator_32_matches_the_integral_and_its_singular_limit():
    tau, C, h = 10.0, 250.0, 0.1
    for ts in (2.0, 5.0, 30.0):
        s = np.linspace(0, h, 20001)  # int_0^h e^{-(h-s)/tau} e^{-s/ts} / C ds
        f = np.exp(-(h - s) / tau) * np.exp(-s / ts) / C
        ref = float(np.sum((f[1:] + f[:-1]) / 2) * (s[1] - s[0]))
        assert propagator_32(ts, tau, C, h) == pytest.approx(ref, rel=1e-8)
    assert propagator_32(tau, tau, C, h) == h / C * math.exp(-h / tau)


def test_end_index_puts_arrivals_on_grid_points_within_the_tolerance():
    T = np.array([0.3, 0.1 + 0.2, 0.30000001, 1e4 + 0.1, 2.0 - 1e-10, 2.0 + 2e-9])
    assert end_index(T, 0.1).tolist() == [3, 3, 4, 100001, 20, 21]


# ---------------------------------------------------------------- the engine
@pytest.mark.parametrize("seed", [1, 2])
def test_backends_agree_on_a_mixed_network(backend, seed):
    spec = _spec(seed, grid_inputs=seed == 2, n_in=10, na=12, nb=10, nc=8, T=60.0)
    ref_net, ref = _build(spec, backend="numba")
    ref_net.run(spec["T"])
    net, pops = _build(spec, backend=backend)
    net.run(spec["T"])
    _same(_spikes(ref), _spikes(pops), tol=1e-9)
    assert sum(ref["A"].spike_counts) > 0 and sum(ref["C"].spike_counts) > 0


def test_schedule_chunking_and_streams_do_not_change_spikes(monkeypatch):
    spec = _spec(3, grid_inputs=True)
    net, pops = _build(spec)
    net.run(spec["T"])
    ref = _spikes(pops)
    # the smallest delays into and out of the clock (C -> A, B and A, B -> C) are 10 steps
    assert net.clock == {"dt": H, "first": "clocked", "chunk": pytest.approx(1.0)}
    # in pieces (more chunks)
    net2, pops2 = _build(spec)
    for _ in range(5):
        net2.run(spec["T"] / 5)
    _same(ref, _spikes(pops2), tol=1e-9)
    # the other schedules: the event core first, one step or ten steps at a time, clocked first step by step
    orig = CoSim._plan
    for mode, L in (("events", H), ("events", 1.0), ("clocked", H)):
        def plan(self, mode=mode, L=L):
            orig(self)
            self.mode, self.L = mode, L

        monkeypatch.setattr(CoSim, "_plan", plan)
        net3, pops3 = _build(spec)
        net3.run(spec["T"])
        assert net3.clock["first"] == mode
        _same(ref, _spikes(pops3), tol=1e-9)
    monkeypatch.undo()
    # the inputs streamed chunk by chunk instead of given up front
    net4, pops4 = _build(spec, stream=True)
    trains = spec["trains"]
    t = np.concatenate(trains)
    i = np.concatenate([np.full(len(tr), k) for k, tr in enumerate(trains)])
    for a in np.arange(0.0, spec["T"], 30.0):
        m = (t >= a) & (t < a + 30.0)
        net4.feed(pops4["in"], t[m], i[m])
        net4.run(30.0)
    _same(ref, _spikes(pops4), tol=1e-9)


def test_reset_repeats_the_run_and_counters_include_clocked_work():
    spec = _spec(4, grid_inputs=False, T=50.0)
    net, pops = _build(spec)
    net.run(50.0)
    a = _spikes(pops)
    c = net.counters
    n_clocked = spec["sizes"]["A"] + spec["sizes"]["B"]
    assert c["neuron_updates"] >= n_clocked * 500
    net.reset()
    net.run(50.0)
    _same(a, _spikes(pops))
    assert net.counters == c


def test_grid_kernel_python_and_numba_agree_on_random_input():
    from spikeengine.clocked import step_function

    rng = np.random.default_rng(0)
    n = 30
    P = np.zeros((n, 13))
    P[:, 0] = np.exp(-H / rng.uniform(5, 20, n))
    P[:, 1] = rng.uniform(0.01, 0.05, n)
    P[:, 2:4] = np.exp(-H / rng.uniform(1, 5, (n, 2)))
    P[:, 4:6] = rng.uniform(1e-4, 1e-3, (n, 2))
    P[:, 6] = 10.0
    P[:, 8] = -np.inf
    P[:, 9] = rng.uniform(0, 300, n)
    P[:, 10] = rng.integers(0, 20, n)
    P[:, 11] = rng.random(n) < 0.5
    P[:, 12] = rng.normal(-65, 5, n)
    x_e = np.sort(rng.integers(1, 500, 2000))
    x_i = rng.integers(0, n, 2000)
    x_w = rng.normal(0, 20, 2000)
    src = rng.integers(0, n, 200)
    order = np.argsort(src, kind="stable")
    c_ptr = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=n))])
    c_tgt, c_w, c_d = rng.integers(0, n, 200)[order], rng.normal(0, 3, 200)[order], rng.integers(1, 9, 200)[order]
    out = []
    for fn in (grid_steps, step_function("numba")):
        S = np.zeros((n, 4))
        ring = np.zeros((10, n, 2))
        o_e, o_i = np.empty(100000, np.int64), np.empty(100000, np.int64)
        s_e = np.arange(5, 500, 7)
        s_j, s_v = np.array([0, 3, 3, 7]), np.array([0, 0, 2, 3])
        s_out = np.full((s_e.size, 4), np.nan)
        did, k = fn(0, 499, P, S, ring, x_e, x_i, x_w, c_ptr, c_tgt, c_w, c_d, o_e, o_i, s_e, s_j, s_v, s_out)
        out.append((did, o_e[:k].copy(), o_i[:k].copy(), S.copy(), s_out))
    assert out[0][0] == out[1][0] == 499
    assert out[0][1].size > 50
    np.testing.assert_array_equal(out[0][1], out[1][1])
    np.testing.assert_array_equal(out[0][2], out[1][2])
    np.testing.assert_array_equal(out[0][3], out[1][3])
    np.testing.assert_array_equal(out[0][4], out[1][4])
    assert np.isfinite(out[0][4]).all() and np.ptp(out[0][4][:, 0]) > 1.0


# ---------------------------------------------------------------- bad input
def test_bad_input_names_the_culprit():
    net = se.Network()
    a = net.population(2, se.Clocked("iaf_psc_delta", dt=0.1), name="a")
    net.population(2, se.Clocked("iaf_psc_delta", dt=0.2), name="b")
    with pytest.raises(se.NetworkError, match="different clocks.*'a': 0.1 ms.*'b': 0.2 ms"):
        net.run(1.0)
    with pytest.raises(se.ParameterError, match="t_ref = 0.25 ms .*not a multiple of dt = 0.1"):
        se.Network().population(1, se.Clocked("iaf_psc_delta", dt=0.1, params={"t_ref": 0.25}), name="r")
    with pytest.raises(se.ParameterError, match="adaptive threshold"):
        se.Network().population(1, se.Clocked(se.LIF(beta=1.0), dt=0.1))
    with pytest.raises(se.ParameterError, match="no clocked form"):
        se.Clocked("parrot_neuron")
    with pytest.raises(se.ParameterError, match="dt must be"):
        se.Clocked("iaf_psc_delta", dt=0.0)
    net = se.Network()
    a = net.population(2, se.Clocked("iaf_psc_delta", dt=0.1), name="a")
    with pytest.raises(se.ParameterError, match="cannot record 'I_syn_ex'; recordable: spikes, V_m"):
        a.record("I_syn_ex", interval=1.0)
    a.record("V_m", interval=0.25)
    with pytest.raises(se.NetworkError, match="clocked population 'a'.*poisson_source"):
        a.add_poisson_input(10.0, 1.0)
    with pytest.raises(se.NetworkError, match="interval 0.25 ms of its 'V_m' recording is not a multiple of dt"):
        net.run(1.0)
    net = se.Network()
    se_pop = net.population(2, se.Clocked("iaf_psc_delta", dt=0.1), name="a")
    with pytest.raises(se.NetworkError, match="1.05 ms is not a multiple of the clocked populations' dt"):
        net.run(1.05)
    assert se_pop.size == 2
    net = se.Network()
    b = net.population(2, se.Clocked("iaf_psc_delta", dt=0.1), name="b")
    c = net.population(2, se.LIF(), name="c")
    net.connect(c, b, plasticity=se.STDP())
    with pytest.raises(se.NetworkError, match="plasticity onto the clocked population 'b'"):
        net.run(1.0)


def test_native_files_keep_clocked_populations_and_other_formats_refuse_them(tmp_path):
    spec = _spec(5, grid_inputs=True, T=60.0)
    net, pops = _build(spec)
    path = tmp_path / "mixed.h5"
    se.save_network(net, path)
    import h5py

    with h5py.File(path, "r") as f:
        assert f.attrs["version"] == 2 and f["populations/1"].attrs["clock_dt"] == H
    back = se.load_network(path)
    assert repr(back.populations[1].model) == repr(pops["A"].model)
    net.run(60.0)
    back.run(60.0)
    for k, name in enumerate("ABC", start=1):
        t, i = back.populations[k].spikes
        np.testing.assert_array_equal(t, pops[name].spikes[0])
        np.testing.assert_array_equal(i, pops[name].spikes[1])
    for ext in ("nir", "json"):
        with pytest.raises(se.NetworkError, match="clocked population 'A'.*cannot be saved in this format"):
            se.save_network(back, tmp_path / f"n.{ext}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mixed.h5"]
    from spikeengine.graph import to_networkx

    with pytest.raises(se.NetworkError, match="clocked population 'A'.*networkx"):
        to_networkx(back)


# ---------------------------------------------------------------- NEST 3.10
@pytest.mark.nest
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("nest") is None, reason="NEST is not installed")
@pytest.mark.parametrize("seed,grid_inputs", [(1, False), (2, True), (3, True)])
def test_mixed_network_matches_nest(seed, grid_inputs):
    """Clocked iaf_psc_delta and iaf_psc_exp (NEST's grid models) and event-driven iaf_psc_exp (NEST's
    iaf_psc_exp_ps), all connected to each other: every spike equal (grid spikes exactly, precise ones
    to 1e-9 ms)."""
    import nest

    spec = _spec(seed, grid_inputs)
    net, pops = _build(spec)
    net.run(spec["T"])
    ours = _spikes(pops)
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.ResetKernel()
    nest.resolution = H
    s = spec["sizes"]
    P = {"in": nest.Create("spike_generator", s["in"], params=[
            {"spike_times": list(tr), "precise_times": not grid_inputs} for tr in spec["trains"]]),
         "A": nest.Create("iaf_psc_delta", s["A"], _lif()), "B": nest.Create("iaf_psc_exp", s["B"], _exp()),
         "C": nest.Create("iaf_psc_exp_ps", s["C"], _exp(I_e=350.0, tau_syn_ex=3.0, tau_syn_in=4.0))}
    for pre, post, a, b, w, d in spec["conns"]:
        nest.Connect(np.asarray(P[pre].tolist())[a], np.asarray(P[post].tolist())[b], "one_to_one",
                     {"weight": w, "delay": d})
    recs = {k: nest.Create("spike_recorder") for k in "ABC"}
    for k in "ABC":
        nest.Connect(P[k], recs[k])
    nest.Simulate(spec["T"])
    theirs = {}
    for k in "ABC":
        t = np.asarray(recs[k].events["times"], float)
        i = np.asarray(recs[k].events["senders"]) - P[k][0].global_id
        o = np.lexsort((i, np.round(t, 7)))
        theirs[k] = (t[o], i[o])
        ot, oi = ours[k]
        o = np.lexsort((oi, np.round(ot, 7)))
        ours[k] = (ot[o], oi[o])
    assert all(theirs[k][0].size > 50 for k in "ABC")
    _same(theirs, ours, tol=1e-9)


def test_stdp_from_a_clocked_population_equals_stdp_from_its_spikes_as_a_source():
    """Clocked spikes enter the event core as source spikes: plasticity on their projections sees exactly
    what it would see from a spike source emitting the same times."""
    rng = np.random.default_rng(0)
    pre, post_ids = rng.integers(0, 20, 80), np.repeat(np.arange(10), 8)
    cell = dict(E_L=0.0, V_m=0.0, V_reset=0.0, V_th=1.0, C_m=1.0, tau_m=10.0, t_ref=2.0)

    def build(times=None):
        net = se.Network(seed=2)
        drive = net.poisson_source(50, rate=30.0)
        if times is None:
            g = net.population(20, se.Clocked("iaf_psc_delta", dt=H, params=cell))
            net.connect(drive, g, {"rule": "fixed_indegree", "indegree": 10}, weight=0.4, delay=1.0)
            g.record("spikes")
        else:
            g = net.spike_source(times)
        post = net.population(10, se.LIF(**cell))
        proj = net.connect(g, post, se.FromArrays(pre, post_ids), weight=0.3, delay=1.5,
                           plasticity=se.STDP(Wmax=1.0))
        post.record("spikes")
        return net, g, post, proj

    net, g, post, proj = build()
    net.run(300.0)
    t, i = g.spikes
    net2, _, post2, proj2 = build([t[i == k] for k in range(20)])
    net2.run(300.0)
    assert t.size > 200 and post.spikes[0].size > 100
    np.testing.assert_allclose(post.spikes[0], post2.spikes[0], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(post.spikes[1], post2.spikes[1])
    np.testing.assert_allclose(proj.weights, proj2.weights, rtol=1e-12, atol=0)
    assert not np.allclose(proj.weights, 0.3)


def test_state_samples_follow_the_closed_form_and_continue_across_runs():
    """V_m of a driven iaf_psc_delta at every 0.5 ms: V_inf (1 - exp(-t / tau)) until the first spike; the
    initial state at t = 0; a second run continues the samples."""
    tau, C, Ie = 12.0, 200.0, 400.0
    net = se.Network()
    pop = net.population(2, se.Clocked("iaf_psc_delta", dt=H, params=dict(
        E_L=-70.0, V_m=-70.0, V_reset=-70.0, V_th=100.0, C_m=C, tau_m=tau, t_ref=2.0, I_e=Ie)))
    pop.record("V_m", interval=0.5, ids=[1])
    net.run(10.0)
    net.run(5.0)
    t, v, ids = pop.get_data("V_m")
    assert ids.tolist() == [1] and t.tolist() == pytest.approx(np.arange(31) * 0.5)
    np.testing.assert_allclose(v[:, 0], -70.0 + Ie * tau / C * (1 - np.exp(-t / tau)), rtol=0, atol=1e-12)


@pytest.mark.nest
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("nest") is None, reason="NEST is not installed")
def test_state_samples_match_nest_multimeter():
    import nest

    rng = np.random.default_rng(0)
    trains = [np.unique(np.round(np.sort(rng.uniform(0.5, 99, 30)) / H) * H) for _ in range(10)]
    s, t = np.nonzero(rng.random((10, 5)) < 0.6)
    w = rng.uniform(-1, 4, s.size)
    net = se.Network()
    src = net.spike_source(trains)
    A = net.population(5, se.Clocked("iaf_psc_delta", dt=H, params=_lif()))
    B = net.population(5, se.Clocked("iaf_psc_exp", dt=H, params=_exp()))
    net.connect(src, A, se.FromArrays(s, t), weight=w * 3, delay=1.0)
    net.connect(src, B, se.FromArrays(s, t), weight=w * 300, delay=1.0)
    for pop, var in ((A, "V_m"), (B, "V_m"), (B, "I_syn_ex"), (B, "I_syn_in")):
        pop.record(var, interval=0.5)
    net.run(100.0)
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.ResetKernel()
    nest.resolution = H
    g = np.asarray(nest.Create("spike_generator", 10, params=[{"spike_times": list(tr)} for tr in trains]).tolist())
    nA, nB = nest.Create("iaf_psc_delta", 5, _lif()), nest.Create("iaf_psc_exp", 5, _exp())
    for n_, scale in ((nA, 3), (nB, 300)):
        nest.Connect(g[s], np.asarray(n_.tolist())[t], "one_to_one", {"weight": w * scale,
                                                                       "delay": np.full(s.size, 1.0)})
    mA = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": 0.5})
    mB = nest.Create("multimeter", params={"record_from": ["V_m", "I_syn_ex", "I_syn_in"], "interval": 0.5})
    nest.Connect(mA, nA)
    nest.Connect(mB, nB)
    nest.Simulate(100.0)
    for pop, mm, nodes, var in ((A, mA, nA, "V_m"), (B, mB, nB, "V_m"), (B, mB, nB, "I_syn_ex"),
                                (B, mB, nB, "I_syn_in")):
        ts, vals, _ = pop.get_data(var)
        ev = mm.events
        nt = np.asarray(ev["times"])
        ut = np.unique(nt)
        ref = np.full((ut.size, 5), np.nan)
        ref[np.searchsorted(ut, nt), np.asarray(ev["senders"]) - nodes[0].global_id] = np.asarray(ev[var])
        ours = vals[np.isin(np.round(ts, 6), np.round(ut, 6))]
        assert ours.shape == ref.shape == (198, 5)
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10, err_msg=var)
        assert np.ptp(ref) > 1.0


def test_event_driven_samples_in_a_clocked_network_equal_those_without_the_clock():
    """V_m of event-driven neurons sampled every 0.5 ms while a clocked population inhibits them, equals the
    same network with the clocked spikes given by a spike source; across two runs."""
    rng = np.random.default_rng(4)
    drive = [np.sort(rng.uniform(0, 60, 40)) for _ in range(10)]
    s_in, t_in = np.nonzero(rng.random((10, 8)) < 0.5)
    s_gi, t_gi = np.nonzero(rng.random((6, 8)) < 0.5)

    def build(times=None):
        net = se.Network()
        src = net.spike_source(drive)
        E = net.population(8, se.LIFExp(**_exp(I_e=0.0)))
        net.connect(src, E, se.FromArrays(s_in, t_in), weight=300.0, delay=0.7)
        if times is None:
            g = net.population(6, se.Clocked("iaf_psc_delta", dt=H, params=_lif()))
            net.connect(src, g, "all_to_all", weight=2.0, delay=1.0)
            g.record("spikes")
        else:
            g = net.spike_source(times)
        net.connect(g, E, se.FromArrays(s_gi, t_gi), weight=-200.0, delay=1.3)
        E.record("V_m", interval=0.5, ids=[0, 3, 7])
        return net, g, E

    net, g, E = build()
    net.run(30.0)
    net.run(30.0)
    t, i = g.spikes
    assert t.size > 20
    net2, _, E2 = build([t[i == k] for k in range(6)])
    net2.run(60.0)
    ta, va, _ = E.get_data("V_m")
    tb, vb, _ = E2.get_data("V_m")
    # a run to T includes T when clocked populations take part (the sample at 60 ms too)
    assert ta.tolist() == pytest.approx(np.arange(121) * 0.5) and tb.tolist() == pytest.approx(np.arange(120) * 0.5)
    np.testing.assert_allclose(va[:-1], vb, rtol=0, atol=1e-9)
