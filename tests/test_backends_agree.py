"""The three kernel backends (python reference, Numba twin, Cython port) agree.

Random networks are built with the public API and simulated, in two consecutive
runs, on each backend; spike trains (ids in the same order, times within 1e-9 ms),
sampled state (within 1e-9) and event counters must agree. Every scenario also
asserts that the network really spikes, so that the comparison cannot pass on
empty recordings.
"""

import functools

import numpy as np
import pytest

import spikeengine as se
from spikeengine import dtypes as dt
from spikeengine._backend import _load

BACKENDS = ("python", "numba", "cython")
ATOL = 1e-9


def need(name):
    """Skip the calling test when backend ``name`` does not load here."""
    if _load(name) is None:
        pytest.skip(f"backend {name!r} is not available")


# ----------------------------------------------------------------- scenarios
def lif_exc_inh(backend, seed):
    """Delta-synapse LIF, 80/20 exc/inh, random float delays, Poisson drive, explicit source input."""
    rng = np.random.default_rng(seed)
    net = se.Network(seed=seed, backend=backend)
    n_e, n_i = 48, 12
    exc = net.population(n_e, se.LIF(tau_m=20.0, C_m=1.0, E_L=0.0, V_m=rng.uniform(0.0, 19.0, n_e), V_th=20.0,
                                      V_reset=10.0, t_ref=2.0))
    inh = net.population(n_i, se.LIF(tau_m=10.0, C_m=1.0, E_L=0.0, V_m=rng.uniform(0.0, 19.0, n_i), V_th=20.0,
                                      V_reset=10.0, t_ref=1.0, V_min=-5.0))
    exc.add_poisson_input(rate=12000.0, weight=0.15)
    inh.add_poisson_input(rate=rng.uniform(9000.0, 13000.0, n_i), weight=0.15)
    for pre, w in ((exc, 0.4), (inh, -1.5)):
        for post in (exc, inh):
            k = 8 if pre is exc else 4
            m = k * post.size
            net.connect(pre, post, {"rule": "fixed_indegree", "indegree": k},
                        weight=w * rng.uniform(0.5, 1.5, m), delay=rng.uniform(0.5, 3.0, m))
    stim = net.spike_source([np.sort(rng.uniform(0.0, 60.0, 15)) for _ in range(4)])
    net.connect(stim, exc, {"rule": "fixed_indegree", "indegree": 2}, weight=3.0, delay=1.0)
    exc.record("spikes")
    inh.record("spikes")
    exc.record("V_m", interval=0.5)
    return net, {"exc": exc, "inh": inh}, [(exc, "V_m")]


def lif_exp_currents(backend, seed):
    """psc_exp neurons driven above threshold by I_e, Poisson sources, exc+inh currents, repeated delay values."""
    rng = np.random.default_rng(seed)
    net = se.Network(seed=seed, backend=backend)
    n = 60
    pop = net.population(n, se.LIFExp(tau_m=10.0, C_m=250.0, E_L=-70.0, V_th=-55.0, V_reset=-70.0, t_ref=2.0,
                                      I_e=rng.uniform(300.0, 420.0, n), V_m=rng.uniform(-70.0, -56.0, n),
                                      tau_syn_ex=2.0, tau_syn_in=5.0))
    psrc = net.poisson_source(10, rate=rng.uniform(20.0, 80.0, 10))
    m = 6 * n
    net.connect(psrc, pop, {"rule": "fixed_indegree", "indegree": 6}, weight=rng.uniform(100.0, 300.0, m),
                delay=np.round(rng.uniform(0.5, 2.0, m), 1))
    m = 5 * n
    w = np.where(rng.random(m) < 0.7, 40.0, -150.0) * rng.uniform(0.5, 1.5, m)
    net.connect(pop, pop, {"rule": "fixed_indegree", "indegree": 5}, weight=w,
                delay=np.round(rng.uniform(0.8, 2.4, m), 1))
    pop.record("spikes")
    pop.record("V_m", interval=0.5)
    pop.record("I_syn_ex", interval=0.7, ids=np.arange(0, n, 3))
    pop.record("I_syn_in", times=[1.0, 7.25, 33.3, 60.0, 61.5])
    return net, {"pop": pop}, [(pop, "V_m"), (pop, "I_syn_ex"), (pop, "I_syn_in")]


def adaptive_if_parrots(backend, seed):
    """ALIF with adaptation, IF with subtract reset, parrots relaying sources, a leaky-integrator readout."""
    rng = np.random.default_rng(seed)
    net = se.Network(seed=seed, backend=backend)
    alif = net.population(20, se.ALIF(E_L=0.0, V_m=rng.uniform(0.0, 5.0, 20), V_th=10.0, V_reset=0.0, tau_m=10.0,
                                      C_m=1.0, I_e=rng.uniform(1.6, 2.4, 20), tau_a=50.0, beta=2.0, t_ref=1.0))
    intf = net.population(15, se.IF(reset="subtract", C_m=1.0, V_th=1.0, I_e=rng.uniform(0.05, 0.2, 15),
                                    V_m=rng.uniform(0.0, 0.9, 15), t_ref=0.5))
    parrots = net.population(6, se.Parrot())
    readout = net.population(3, se.LeakyIntegrator(tau_m=5.0))
    stim = net.spike_source([np.sort(rng.uniform(0.0, 70.0, 25)) for _ in range(6)])
    poiss = net.poisson_source(5, rate=100.0)
    net.connect(stim, parrots, "one_to_one", weight=1.0, delay=0.7)
    net.connect(poiss, alif, {"rule": "fixed_indegree", "indegree": 2}, weight=1.5, delay=0.3)
    net.connect(parrots, intf, "all_to_all", weight=rng.uniform(0.1, 0.5, 90), delay=rng.uniform(0.2, 1.5, 90))
    net.connect(alif, intf, {"rule": "fixed_indegree", "indegree": 3}, weight=0.3, delay=rng.uniform(0.5, 2.0, 45))
    net.connect(intf, alif, {"rule": "fixed_indegree", "indegree": 4}, weight=-0.2, delay=1.25)
    net.connect(alif, readout, "all_to_all", weight=0.5, delay=1.0)
    net.connect(intf, readout, "all_to_all", weight=-0.25, delay=0.9)
    for p in (alif, intf, parrots):
        p.record("spikes")
    alif.record("a", interval=1.0)
    alif.record("V_m", interval=0.5)
    intf.record("V_m", interval=0.25)
    readout.record("V_m", interval=0.5)
    return net, {"alif": alif, "if": intf, "parrots": parrots}, [(alif, "a"), (alif, "V_m"), (intf, "V_m"),
                                                                 (readout, "V_m")]


def coincident_inputs(backend, seed):
    """Grid-aligned times and delays: many inputs at the same instants, refractory ends hit exactly."""
    rng = np.random.default_rng(seed)
    net = se.Network(seed=seed, backend=backend)
    stim = net.spike_source([np.arange(0.5, 70.0, 1.0 + 0.5 * i) for i in range(8)])
    pop = net.population(30, se.LIF(tau_m=20.0, C_m=1.0, E_L=0.0, V_m=0.0, V_th=20.0, V_reset=10.0, t_ref=2.0,
                                     I_e=0.8))
    m = 4 * 30
    net.connect(stim, pop, {"rule": "fixed_indegree", "indegree": 4}, weight=np.where(rng.random(m) < 0.8, 7.0, -6.0),
                delay=rng.choice([0.5, 1.0, 1.5, 2.0], m))
    net.connect(pop, pop, {"rule": "fixed_indegree", "indegree": 3}, weight=2.0, delay=rng.choice([1.0, 2.0], 90))
    pop.record("spikes")
    pop.record("V_m", interval=0.5)
    return net, {"pop": pop}, [(pop, "V_m")]


def brunel_like(backend, seed, n=1500, k=100):
    """A larger random network (numba vs cython only): 80/20 LIF with per-neuron Poisson drive."""
    rng = np.random.default_rng(seed)
    net = se.Network(seed=seed, backend=backend)
    n_e = n * 4 // 5
    pop = net.population(n, se.LIF(tau_m=20.0, C_m=1.0, E_L=0.0, V_m=rng.uniform(0.0, 20.0, n), V_th=20.0,
                                   V_reset=10.0, t_ref=2.0))
    k_e = k * 4 // 5
    src = np.concatenate([rng.integers(0, n_e, (n, k_e)), rng.integers(n_e, n, (n, k - k_e))], axis=1).ravel()
    tgt = np.repeat(np.arange(n), k)
    net.connect(pop, pop, se.FromArrays(src, tgt), weight=np.where(src < n_e, 0.2, -1.0),
                delay=rng.uniform(1.0, 2.0, src.size))
    pop.add_poisson_input(rate=2.0 * 20.0 / (0.2 * 20.0) * 1000.0, weight=0.2)
    pop.record("spikes")
    pop.record("V_m", interval=1.0, ids=np.arange(0, n, 50))
    return net, {"pop": pop}, [(pop, "V_m")]


def lif_rebase(backend, seed):
    """Short membrane time constants (decay epoch rebased every 30 tau_m = 45 ms), two tau_m values, refractory."""
    rng = np.random.default_rng(seed)
    net = se.Network(seed=seed, backend=backend)
    fast = net.population(30, se.LIF(tau_m=1.5, C_m=1.0, E_L=0.0, V_m=rng.uniform(0.0, 9.0, 30), V_th=10.0,
                                     V_reset=0.0, t_ref=0.5, I_e=rng.uniform(4.0, 8.0, 30)))
    slow = net.population(20, se.LIF(tau_m=4.0, C_m=1.0, E_L=0.0, V_m=rng.uniform(0.0, 9.0, 20), V_th=10.0,
                                     V_reset=2.0, t_ref=1.0))
    slow.add_poisson_input(rate=rng.uniform(4000.0, 6000.0, 20), weight=0.9)
    fast.add_poisson_input(rate=3000.0, weight=0.5)
    for pre, w in ((fast, 1.2), (slow, -2.0)):
        for post in (fast, slow):
            m = 5 * post.size
            net.connect(pre, post, {"rule": "fixed_indegree", "indegree": 5}, weight=w * rng.uniform(0.5, 1.5, m),
                        delay=rng.uniform(0.3, 1.5, m))
    fast.record("spikes")
    slow.record("spikes")
    fast.record("V_m", interval=0.7)
    slow.record("V_m", interval=0.4)
    return net, {"fast": fast, "slow": slow}, [(fast, "V_m"), (slow, "V_m")]


def grid_drive(backend, seed):
    """NEST-like grid Poisson drive (dt 0.1) on LIF and LIF_EXP plus a continuous one; delays on the grid, so
    spikes caused by grid kicks arrive exactly together with later grid kicks (ties summed in one instant)."""
    rng = np.random.default_rng(seed)
    net = se.Network(seed=seed, backend=backend)
    a = net.population(40, se.LIF(tau_m=20.0, C_m=1.0, E_L=0.0, V_m=rng.uniform(0.0, 19.0, 40), V_th=20.0,
                                  V_reset=10.0, t_ref=2.0))
    b = net.population(20, se.LIFExp(tau_m=10.0, C_m=250.0, E_L=-70.0, V_th=-55.0, V_reset=-70.0, t_ref=2.0,
                                      tau_syn_ex=2.0, tau_syn_in=5.0, V_m=rng.uniform(-70.0, -56.0, 20)))
    a.add_poisson_input(rate=14000.0, weight=0.15, dt=0.1)
    b.add_poisson_input(rate=rng.uniform(3000.0, 5000.0, 20), weight=60.0, dt=0.1)
    b.add_poisson_input(rate=500.0, weight=-40.0)
    # grid drives far from the others' rates: lam = rate dt = 12 (multiplicities past the compiled kernel's
    # branch-free table, KW_FAST = 8) and lam = 0.02 (long runs of empty steps: drive_next's log path)
    c = net.population(10, se.LIF(tau_m=20.0, C_m=1.0, E_L=0.0, V_m=rng.uniform(0.0, 19.0, 10), V_th=20.0,
                                  V_reset=10.0, t_ref=2.0))
    c.add_poisson_input(rate=120000.0, weight=0.012, dt=0.1)
    c.add_poisson_input(rate=200.0, weight=6.0, dt=0.1)
    net.connect(c, a, {"rule": "fixed_indegree", "indegree": 2}, weight=0.4, delay=1.0)
    c.record("spikes")
    for pre, w in ((a, 0.5), (b, -80.0)):
        for post in (a, b):
            m = 6 * post.size
            ww = w if post is b else (0.5 if pre is a else -1.0)
            net.connect(pre, post, {"rule": "fixed_indegree", "indegree": 6}, weight=ww * rng.uniform(0.5, 1.5, m),
                        delay=0.1 * rng.integers(10, 20, m))
    a.record("spikes")
    b.record("spikes")
    a.record("V_m", interval=0.25)
    b.record("I_syn_ex", interval=0.3)
    return net, {"a": a, "b": b, "c": c}, [(a, "V_m"), (b, "I_syn_ex")]


def lif_exp_two_taus(backend, seed):
    """psc_exp neurons with two sets of time constants (the decays() cache changes key), one population above
    threshold with excitatory input only (zero inhibitory current: zero-coefficient terms), the other with a
    continuous Poisson drive (steps split by kicks) and strong inhibition, float delays."""
    rng = np.random.default_rng(seed)
    net = se.Network(seed=seed, backend=backend)
    a = net.population(24, se.LIFExp(tau_m=20.0, C_m=250.0, E_L=-49.0, V_th=-50.0, V_reset=-60.0, t_ref=5.0,
                                      tau_syn_ex=5.0, tau_syn_in=10.0, V_m=rng.uniform(-60.0, -50.0, 24)))
    b = net.population(16, se.LIFExp(tau_m=10.0, C_m=250.0, E_L=-70.0, V_th=-55.0, V_reset=-70.0, t_ref=2.0,
                                      tau_syn_ex=2.0, tau_syn_in=3.0, V_m=rng.uniform(-70.0, -56.0, 16)))
    b.add_poisson_input(rate=rng.uniform(6000.0, 9000.0, 16), weight=60.0)
    for pre, post, k, w in ((a, a, 4, 30.0), (a, b, 3, 40.0), (b, b, 3, -120.0)):
        m = k * post.size
        net.connect(pre, post, {"rule": "fixed_indegree", "indegree": k}, weight=w * rng.uniform(0.5, 1.5, m),
                    delay=rng.uniform(0.5, 2.5, m))
    a.record("spikes")
    b.record("spikes")
    a.record("V_m", interval=0.5)
    b.record("V_m", interval=0.4)
    b.record("I_syn_in", interval=0.7)
    return net, {"a": a, "b": b}, [(a, "V_m"), (b, "V_m"), (b, "I_syn_in")]


def plastic_mix(backend, seed):
    """Every STDP rule at once: all-to-all (multiplicative and additive), the three nearest-neighbour
    variants, triplet; dendritic and axonal delays; float delays; a rarely spiking presynaptic source that
    keeps its targets' spike histories long (ring growth) and fast ones (pruning); weights recorded."""
    rng = np.random.default_rng(seed)
    net = se.Network(seed=seed, backend=backend)
    a = net.population(30, se.LIF(tau_m=20.0, C_m=1.0, E_L=0.0, V_m=rng.uniform(0.0, 19.0, 30), V_th=20.0,
                                  V_reset=10.0, t_ref=2.0))
    b = net.population(20, se.LIFExp(tau_m=10.0, C_m=250.0, E_L=-70.0, V_th=-55.0, V_reset=-70.0, t_ref=2.0,
                                      tau_syn_ex=2.0, tau_syn_in=5.0, V_m=rng.uniform(-70.0, -56.0, 20)))
    a.add_poisson_input(rate=15000.0, weight=0.15)
    b.add_poisson_input(rate=rng.uniform(3500.0, 5000.0, 20), weight=60.0)
    stim = net.spike_source([np.sort(rng.uniform(0.0, 80.0, 30)) for _ in range(5)] + [np.array([3.0, 77.0])])
    plastic = []
    m = 5 * 30
    plastic.append(net.connect(a, a, {"rule": "fixed_indegree", "indegree": 5}, weight=rng.uniform(0.1, 0.9, m),
                               delay=rng.uniform(0.5, 2.5, m), plasticity=se.STDP(lambda_=0.05, Wmax=1.0)))
    plastic.append(net.connect(stim, a, "all_to_all", weight=rng.uniform(0.5, 2.5, 180), delay=1.0,
                               plasticity=se.STDP(pairing="nn_pre_centered", lambda_=0.1, mu_plus=0.0,
                                                  mu_minus=0.0, alpha=1.2, Wmax=3.0)))
    m = 4 * 20
    plastic.append(net.connect(a, b, {"rule": "fixed_indegree", "indegree": 4}, weight=rng.uniform(20.0, 80.0, m),
                               delay=rng.uniform(0.6, 1.8, m),
                               plasticity=se.TripletSTDP(Aplus=0.5, Aminus=0.6, Aplus_triplet=0.3,
                                                         Aminus_triplet=0.05, Wmax=100.0)))
    plastic.append(net.connect(stim, b, "all_to_all", weight=50.0, delay=0.8,
                               plasticity=se.STDP(pairing="nn_symm", lambda_=0.2, mu_plus=0.0, Wmax=120.0)))
    plastic.append(net.connect(b, b, {"rule": "fixed_indegree", "indegree": 3},
                               weight=-60.0 * rng.uniform(0.5, 1.5, 60), delay=rng.uniform(0.7, 1.2, 60),
                               plasticity=se.STDP(pairing="nn_restr", lambda_=0.3, Wmax=-150.0, delay="axonal")))
    net.connect(b, a, {"rule": "fixed_indegree", "indegree": 3}, weight=-1.0, delay=1.1)
    par = net.population(6, se.Parrot())  # dopamine-modulated synapses onto parrots relaying the sources
    net.connect(stim, par, "one_to_one", weight=1.0, delay=0.5)
    da = net.spike_source([np.sort(rng.uniform(5.0, 80.0, 12)), [20.0, 20.0 + 1e-3, 60.0]])
    plastic.append(net.connect(a, par, "all_to_all", weight=rng.uniform(50.0, 150.0, 180),
                               delay=rng.uniform(0.5, 2.0, 180),
                               plasticity=se.DopamineSTDP(dopamine=da, dopamine_delay=2.0, tau_c=50.0, tau_n=20.0,
                                                          b=0.01, A_plus=2.0, A_minus=2.5)))
    for p in plastic[:3] + plastic[4:]:
        p.record_weights()
    par.record("spikes")
    plastic[3].record_weights(interval=5.0, ids=[0, 3, 7])
    a.record("spikes")
    b.record("spikes")
    a.record("V_m", interval=0.5)
    return net, {"a": a, "b": b, "par": par}, [(a, "V_m")]


SCENARIOS = {
    "plastic_mix": (plastic_mix, (45.0, 40.0)),
    "grid_drive": (grid_drive, (30.0, 25.0)),
    "lif_exc_inh": (lif_exc_inh, (40.0, 35.0)),
    "lif_exp_currents": (lif_exp_currents, (45.0, 55.0)),
    "lif_exp_two_taus": (lif_exp_two_taus, (30.0, 25.0)),
    "adaptive_if_parrots": (adaptive_if_parrots, (35.0, 40.0)),
    "coincident_inputs": (coincident_inputs, (33.0, 40.0)),
    "lif_rebase": (lif_rebase, (70.0, 85.0)),
}


# ------------------------------------------------------------------ running
def simulate(builder, backend, seed, durations, **kw):
    """Build, run the durations one after the other, and collect everything observable."""
    net, pops, sampled = builder(backend, seed, **kw)
    for d in durations:
        net.run(d)
    sim = net._sim
    bins, act = sim.active_table()
    out = {"counters": net.counters, "spikes": {}, "samples": {}, "counts": {},
           "energy": {"nupd": sim.nupd.copy(), "g_cnt": sim.g_cnt.copy(), "bins": bins.copy(), "act": act.copy()}}
    for name, pop in pops.items():
        t, i = pop.spikes
        out["spikes"][name] = (t, i)
        out["counts"][name] = pop.spike_counts
    for pop, var in sampled:
        out["samples"][(pop.name, var)] = pop.get_data(var)
    out["weights"] = {}
    for proj in net.projections:
        if proj.is_plastic:
            out["weights"][proj.name] = proj.weights
            if proj._wrec is not None and proj._wrec["mode"] == "events":
                out["weights"][proj.name + " history"] = proj.weight_history()
            elif proj._wrec is not None:
                out["weights"][proj.name + " samples"] = proj.weight_samples()[:2]
    return out


@functools.cache
def reference(scenario, seed):
    """Python-reference result of a scenario (cached: the reference is slow)."""
    builder, durations = SCENARIOS[scenario]
    return simulate(builder, "python", seed, durations)


def total_spikes(res):
    return sum(t.size for t, _ in res["spikes"].values())


def assert_agree(ref, got, label):
    assert got["counters"] == ref["counters"], label
    assert sorted(got["weights"]) == sorted(ref["weights"]), label
    for key, v in ref["weights"].items():  # plastic weights: final values, every recorded update, samples
        if isinstance(v, tuple):
            assert len(got["weights"][key]) == len(v) and v[0].size > 0, f"{label}: {key}: nothing recorded"
            for x, y in zip(got["weights"][key], v):
                np.testing.assert_allclose(x, y, rtol=0, atol=1e-12, err_msg=f"{label}: weights {key}")
        else:
            np.testing.assert_allclose(got["weights"][key], v, rtol=0, atol=1e-12, err_msg=f"{label}: weights {key}")
    for key, v in ref["energy"].items():  # energy counters: per neuron, per delay group, per activity bin
        np.testing.assert_array_equal(got["energy"][key], v, err_msg=f"{label}: energy counter {key}")
    assert ref["energy"]["act"].sum() > 0 and ref["energy"]["g_cnt"].sum() > 0, label
    for name, (t_ref, i_ref) in ref["spikes"].items():
        t, i = got["spikes"][name]
        assert t.size == t_ref.size, f"{label}: {name}: {t.size} spikes, reference {t_ref.size}"
        np.testing.assert_array_equal(i, i_ref, err_msg=f"{label}: {name}: spike ids differ")
        np.testing.assert_allclose(t, t_ref, rtol=0, atol=ATOL, err_msg=f"{label}: {name}: spike times differ")
        np.testing.assert_array_equal(got["counts"][name], ref["counts"][name], err_msg=f"{label}: {name}: counts")
    for key, (ts_ref, v_ref, ids_ref) in ref["samples"].items():
        ts, v, ids = got["samples"][key]
        np.testing.assert_array_equal(ts, ts_ref, err_msg=f"{label}: {key}: sample times")
        np.testing.assert_array_equal(ids, ids_ref, err_msg=f"{label}: {key}: sampled ids")
        assert v.shape == v_ref.shape and v.size > 0, f"{label}: {key}: shapes {v.shape} vs {v_ref.shape}"
        assert np.isfinite(v).all(), f"{label}: {key}: unfilled samples"
        np.testing.assert_allclose(v, v_ref, rtol=0, atol=ATOL, err_msg=f"{label}: {key}: sampled values differ")


# -------------------------------------------------------------------- tests
def test_layout_constants_match_dtypes():
    need("cython")
    from spikeengine._kernels import engine

    for name, value in engine.LAYOUT.items():
        assert getattr(dt, name) == value, name
    public = [k for k in vars(dt) if k.split("_")[0] in ("KIND", "P", "S", "C", "RULE", "R", "G", "H")
              or k in ("NP", "NS", "NCTR", "NR", "NG", "NH", "STDP_EPS")]
    assert sorted(public) == sorted(engine.LAYOUT)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("backend", ["numba", "cython"])
def test_backend_agrees_with_reference(scenario, seed, backend):
    need(backend)
    builder, durations = SCENARIOS[scenario]
    ref = reference(scenario, seed)
    assert total_spikes(ref) >= 40, f"{scenario}: too few spikes ({total_spikes(ref)}) for a meaningful comparison"
    assert ref["counters"]["synaptic_events"] > 100
    got = simulate(builder, backend, seed, durations)
    assert_agree(ref, got, f"{scenario}/{seed}/{backend}")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_population_spikes(scenario):
    # each scenario exercises the models it is named after: every recorded population fires
    for pop, (t, _) in reference(scenario, 1)["spikes"].items():
        assert t.size >= 5, f"{scenario}: population {pop} fired {t.size} spikes"


@pytest.mark.parametrize("seed", [3, 4])
def test_cython_agrees_with_numba_on_larger_network(seed):
    need("numba")
    need("cython")
    ref = simulate(brunel_like, "numba", seed, (60.0, 90.0))
    got = simulate(brunel_like, "cython", seed, (60.0, 90.0))
    n = total_spikes(ref)
    assert n > 5000, f"only {n} spikes"  # also grows the 4096-entry output buffer inside a run
    assert ref["counters"]["recurrent_synaptic_events"] > 100 * n // 2
    assert_agree(ref, got, f"brunel_like/{seed}")


@pytest.mark.parametrize("backend", ["numba", "cython"])
def test_buffers_grow_from_empty(backend):
    # start from zero-capacity heap and output arrays: the kernel must grow them (and return the new arrays)
    need(backend)
    from spikeengine.simulator import Simulator

    results = []
    for be in ("python", backend):
        net, pops, sampled = lif_exc_inh(be, 5)
        sim = Simulator(net)
        net._sim = sim
        sim.h_t, sim.h_g = np.empty(0), np.empty(0, np.int64)
        sim.o_t, sim.o_i = np.empty(0), np.empty(0, np.int64)
        net.run(30.0)
        assert sim.h_t.size > 0 and sim.o_t.size > 0
        results.append((pops["exc"].spikes, pops["inh"].spikes, net.counters))
    (e0, i0, c0), (e1, i1, c1) = results
    assert e0[0].size > 20
    assert c0 == c1
    for a, b in ((e0, e1), (i0, i1)):
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_allclose(a[0], b[0], rtol=0, atol=ATOL)


def _kernel_args(net):
    s = net._sim
    s.ctr[dt.C_SMP] = 0  # as Simulator._run_chunk does before every call
    s.ctr[dt.C_OUT] = 0
    smp_t = np.empty(0)
    return [s.kinds, s.P, s.S, s.nspk, s.rec, s.g_ptr, s.g_src, s.g_delay, s.g_syn, s.syn_tgt, s.syn_w,
            s.d_ptr, s.d_rate, s.d_dt, s.d_w, s.d_next, s.d_rng, s.src_t, s.src_id, s.psrc, s.rng,
            smp_t, s.smp_id, s.smp_var, np.empty((0, s.smp_id.size)), s.flush, s.touched, s.tflag,
            s.h_t, s.h_g, s.o_t, s.o_i, s.ctr, s.nupd, s.g_cnt, s.lbin, s.npop,
            np.zeros((12, len(net.populations)), np.int64), np.array([0.1, s._bin(s.t)]),
            s.g_rule, s.R, s.gst, s.syn_kp, s.hrow, s.hist, s.hinfo, s.in_ptr, s.in_grp, s.w_t, s.w_k, s.w_w,
            s.dh_t, s.dh_m, s.dh_n, s.t, s.t + 1.0, s.window]


@pytest.mark.parametrize("index, bad, exc, needle", [
    (0, lambda a: a.astype(np.int32), TypeError, "kinds"),
    (1, lambda a: np.asfortranarray(a), ValueError, "'P'"),
    (2, lambda a: a[:, :3].copy(), ValueError, "'S'"),
    (9, lambda a: a.tolist(), TypeError, "syn_tgt"),
    (9, lambda a: a + 10**6, ValueError, "syn_tgt"),
    (5, lambda a: a[::-1].copy(), ValueError, "g_ptr"),
    (27, lambda a: a[:1].copy(), ValueError, "tflag"),
    (32, lambda a: a[:3].copy(), ValueError, "ctr"),
    (33, lambda a: a[:2].copy(), ValueError, "nupd"),
    (34, lambda a: a[:-1].copy(), ValueError, "g_cnt"),
    (36, lambda a: a + 5, ValueError, "npop"),
    (37, lambda a: a.ravel().copy(), ValueError, "act"),
    (38, lambda a: np.array([-1.0, 0.0]), ValueError, "ebin"),
    (38, lambda a: np.array([0.1, 0.5]), ValueError, "ebin"),
    (56, lambda a: 0.0, ValueError, "window"),
])
def test_cython_entry_checks_name_the_argument(index, bad, exc, needle):
    need("cython")
    from spikeengine._kernels import engine

    net, _, _ = lif_exc_inh("cython", 1)
    net.run(5.0)
    args = _kernel_args(net)
    engine.run(*args)  # the unmodified arguments are accepted
    args = _kernel_args(net)
    args[index] = bad(args[index])
    with pytest.raises(exc, match=needle):
        engine.run(*args)


@pytest.mark.parametrize("backend", ["numba", "cython"])
@pytest.mark.parametrize("scenario", ["lif_rebase", "lif_exc_inh", "lif_exp_currents", "lif_exp_two_taus",
                                      "grid_drive"])
def test_final_state_is_bit_identical(scenario, backend):
    # the state rows (V, S_X decay factors after several epoch rebases, kick times) and the drive
    # schedules agree exactly, not only within the tolerance of the spike-time comparison
    need(backend)
    builder, durations = SCENARIOS[scenario]
    sims = []
    for be in ("python", backend):
        net, _, _ = builder(be, 7)
        for d in durations:
            net.run(d)
        sims.append(net._sim)
    ref, got = sims
    np.testing.assert_array_equal(got.S, ref.S)
    np.testing.assert_array_equal(got.d_next, ref.d_next)
    np.testing.assert_array_equal(got.nspk, ref.nspk)
