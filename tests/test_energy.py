"""Energy-complexity counters, NeuroBench metrics and energy estimates (issue: energy counters).

Every expected number in the first tests is derived by hand in the comments from the
network's construction; the later tests compare with independent computations from
the recorded spikes and the weights (Šíma's measure, NeuroBench's formulas).
"""

import json
import math
import os

import numpy as np
import pytest

import spikeengine as se
from spikeengine.energy import PROFILES, EnergyProfile, get_profile, max_over_runs

# a delta-synapse LIF that fires exactly at the arrival of a 20 mV input and never on its own
CELL = dict(E_L=0.0, V_m=0.0, V_th=15.0, V_reset=0.0, tau_m=10.0, C_m=1.0)


def _chain(backend, bin_width=1.0, counters=True):
    """source -> n1 -> n2 -> n3, delay 1 ms, suprathreshold weights, t_ref 2 ms."""
    net = se.Network(backend=backend, bin_width=bin_width, counters=counters)
    src = net.spike_source([[0.0, 5.0]], name="src")
    pops = [net.population(1, se.LIF(t_ref=2.0, **CELL), name=f"n{k}") for k in (1, 2, 3)]
    for pre, post in zip([src] + pops[:-1], pops):
        net.connect(pre, post, weight=20.0, delay=1.0, name=f"{pre.name}->{post.name}")
    for p in [src] + pops:
        p.record("spikes")
    return net, [src] + pops


def _ring(backend, bin_width=1.0):
    """Five LIF in a ring (k -> k+1 mod 5), started by one source spike at 0 into neuron 0; t_ref 0."""
    net = se.Network(backend=backend, bin_width=bin_width)
    src = net.spike_source([[0.0]], name="kick")
    ring = net.population(5, se.LIF(t_ref=0.0, **CELL), name="ring")
    net.connect(src, ring, se.FromArrays([0], [0]), weight=20.0, delay=1.0)
    net.connect(ring, ring, se.FromArrays(np.arange(5), (np.arange(5) + 1) % 5), weight=20.0, delay=1.0)
    ring.record("spikes")
    return net, ring


def _silent_saturated(backend, bin_width=1.0):
    """A source firing every ms drives 'sat' (fires on every input), 'silent' (subthreshold, and zero-weight
    synapses from 'sat') and 'dead' (no input at all)."""
    net = se.Network(backend=backend, bin_width=bin_width)
    src = net.spike_source([np.arange(10.0)], name="S")
    sat = net.population(3, se.LIF(t_ref=0.0, **CELL), name="sat")
    silent = net.population(2, se.LIF(t_ref=0.0, **CELL), name="silent")
    dead = net.population(2, se.LIF(t_ref=0.0, **CELL), name="dead")
    net.connect(src, sat, weight=20.0, delay=1.0, name="S->sat")
    net.connect(src, silent, weight=0.5, delay=1.0, name="S->silent")
    net.connect(sat, silent, weight=0.0, delay=1.0, name="sat->silent")
    for p in (src, sat, silent, dead):
        p.record("spikes")
    return net, (src, sat, silent, dead)


# ------------------------------------------------------------ hand-derived counts
def test_chain_counts_by_hand(backend):
    net, (src, n1, n2, n3) = _chain(backend)
    net.run(10.0)
    r = net.energy_report()
    # spikes: src 0, 5; n1 1, 6; n2 2, 7; n3 3, 8
    assert [p["spikes"] for p in r.populations] == [2, 2, 2, 2]
    assert r.spikes == 8
    # deliveries: src->n1, n1->n2, n2->n3 two each (n3 has no fan-out)
    assert r.synops == 6
    assert [p["synops"] for p in r.projections] == [2, 2, 2]
    assert [p["synops_out"] for p in r.populations] == [2, 2, 2, 0]
    # updates per neuron: 1 at the first input; at the second (5 ms later) the refractory segment up to
    # 2 ms after the spike and the segment from there: 2; 3 per neuron
    assert [p["updates"] for p in r.populations] == [0, 3, 3, 3]
    assert r.neuron_updates == 9
    assert r.drive_events == 0
    # one active neuron per 1 ms bin, the input in bins 0 and 5
    assert r.active_counts(inputs=True)[1].tolist() == [1, 1, 1, 1, 0, 1, 1, 1, 1, 0]
    assert r.active_counts(inputs=False)[1].tolist() == [0, 1, 1, 1, 0, 0, 1, 1, 1, 0]
    assert (r.energy_sima(), r.energy_sima(inputs=True)) == (1, 1)
    assert (r.energy_total(), r.energy_total(inputs=True)) == (6, 8)
    assert r.energy_mean() == 0.6
    assert r.energy_sima(population="n2") == 1 and r.energy_total(population="n2") == 2
    # a clock-driven engine at 1 ms: 3 neurons x 10 steps; dense: 3 one-by-one matrices x 10 steps
    assert r.clocked_updates == 30 and r.dense_sops == 30
    assert r.activation_sparsity == pytest.approx(1 - 6 / 30, abs=1e-15)
    assert r.connection_sparsity == 0.0
    assert r.neuron_ops == 9 * 4  # NeuroBench's 4 operations per Leaky update


def test_chain_bins_wider_than_the_chain(backend):
    net, _ = _chain(backend, bin_width=5.0)
    net.run(10.0)
    r = net.energy_report()
    # bins [0, 5) and [5, 10) each hold src + n1 + n2 + n3
    assert r.active_counts(inputs=True)[1].tolist() == [4, 4]
    assert (r.energy_sima(), r.energy_sima(inputs=True), r.energy_total()) == (3, 4, 6)


def test_ring_counts_only_delivered_synops(backend):
    net, ring = _ring(backend)
    net.run(20.5)
    r = net.energy_report()
    # neuron k fires at 1 + k + 5 m: spikes at 1, 2, ..., 20
    t, i = ring.spikes
    assert t.tolist() == [float(k) for k in range(1, 21)]
    assert i.tolist() == [k % 5 for k in range(20)]
    # delivered: the kick (arrives at 1) and ring spikes 1..19 (arrive by 20); the spike at 20 arrives at 21
    assert r.synops == 1 + 19
    assert r.neuron_updates == 20  # one advance per delivery (t_ref = 0: no refractory segment)
    assert r.spikes == 21
    assert r.energy_sima() == 1 and r.energy_total() == 20 and r.energy_total(inputs=True) == 21


def test_silent_and_saturated_parts(backend):
    net, (src, sat, silent, dead) = _silent_saturated(backend)
    net.run(10.5)
    r = net.energy_report()
    pops = {p["name"]: p for p in r.populations}
    # S fires at 0..9; each 'sat' neuron at every arrival, 1..10; 'silent' peaks near 5.3 mV < 15 mV
    assert [pops[k]["spikes"] for k in ("S", "sat", "silent", "dead")] == [10, 30, 0, 0]
    # updates: 'sat' and 'silent' one per arrival instant (10 each; the zero-weight inputs from 'sat'
    # arrive at the instants of S's inputs), 'dead' none
    assert [pops[k]["updates"] for k in ("sat", "silent", "dead")] == [30, 20, 0]
    # deliveries: S->sat 10 x 3, S->silent 10 x 2, sat->silent spikes 1..9 (10 arrives at 11) x 3 x 2
    proj = {p["name"]: p for p in r.projections}
    assert [proj[k]["synops"] for k in ("S->sat", "S->silent", "sat->silent")] == [30, 20, 54]
    assert [proj[k]["effective_synops"] for k in ("S->sat", "S->silent", "sat->silent")] == [30, 20, 0]
    assert r.synops == 104 and r.effective_acs == 50
    # bins of 1 ms over 10.5 ms: 11; bin 0: S; bins 1..9: S + 3 sat; bin 10: 3 sat
    assert r.n_bins == 11
    assert r.active_counts(inputs=True)[1].tolist() == [1] + [4] * 9 + [3]
    assert (r.energy_sima(), r.energy_sima(inputs=True)) == (3, 4)
    assert (r.energy_total(), r.energy_total(inputs=True)) == (30, 40)
    assert r.energy_mean() == pytest.approx(30 / 11, abs=1e-15)
    assert [r.energy_sima(population=k) for k in ("sat", "silent", "dead")] == [3, 0, 0]
    # 7 network neurons x 11 steps; zero weights: the 6 entries of sat->silent out of 3 + 2 + 6
    assert r.activation_sparsity == pytest.approx(1 - 30 / 77, abs=1e-15)
    assert r.connection_sparsity == pytest.approx(6 / 11, abs=1e-15)
    assert r.dense_sops == 11 * 11


@pytest.mark.parametrize("build, total, chunks", [
    (_ring, 20.5, (0.5, 3.25, 7.0, 9.75)),
    (_silent_saturated, 10.5, (2.0, 0.3, 8.2)),
    (_chain, 10.0, (4.5, 0.5, 5.0)),
])
@pytest.mark.parametrize("bin_width", [1.0, 0.3])
def test_counts_do_not_depend_on_chunking(backend, build, total, chunks, bin_width):
    assert sum(chunks) == total
    reports = []
    for parts in ((total,), chunks):
        net = build(backend, bin_width=bin_width)[0]
        for d in parts:
            net.run(d)
        reports.append((net.energy_report().to_dict(), net._sim.nupd.copy(), net._sim.g_cnt.copy()))
    (a, nupd_a, g_a), (b, nupd_b, g_b) = reports
    assert a["counts"]["spikes"] > 5
    for key in ("counts", "energy_complexity", "activity_bins", "populations", "projections", "neurobench"):
        assert a[key] == b[key], key
    np.testing.assert_array_equal(nupd_a, nupd_b)
    np.testing.assert_array_equal(g_a, g_b)


def test_counters_identical_on_every_backend():
    from conftest import available_backends

    dicts = {}
    for be in available_backends():
        net, _ = _silent_saturated(be, bin_width=0.7)
        net.run(6.0)
        net.run(4.5)
        d = net.energy_report().to_dict()
        d.pop("backend")
        dicts[be] = d
    ref = dicts.pop("python")
    for be, d in dicts.items():
        assert d == ref, be


def test_counters_switched_off_change_no_spike(backend):
    spikes = []
    for on in (True, False):
        net, pops = _chain(backend, counters=on)
        net.run(10.0)
        spikes.append([p.spikes[0].tolist() for p in pops])
        assert net.counters["synaptic_events"] == 6  # the basic counters stay
        assert (net._sim.nupd.size > 0) == on
    assert spikes[0] == spikes[1]


def test_poisson_drive_events_counted(backend):
    # 200 neurons with a 2 kHz grid drive (0.1 ms) that cannot reach threshold; spiking neurons are advanced
    # at every window end, so every kick before the end of the run is applied: 999 grid steps each with
    # P(at least one event) = 1 - exp(-0.2)
    net = se.Network(seed=3, backend=backend)
    pop = net.population(200, se.LIF(V_th=1e9, E_L=0.0, V_m=0.0, V_reset=0.0, tau_m=10.0, C_m=1.0))
    pop.add_poisson_input(rate=2000.0, weight=0.1, dt=0.1)
    other = net.population(1, se.LIF(**CELL))
    net.connect(pop, other, weight=0.0, delay=1.0)
    net.run(100.0)
    p = 1 - math.exp(-0.2)
    n = 200 * 999
    assert abs(net.energy_report().drive_events - n * p) < 5 * math.sqrt(n * p * (1 - p))


# ------------------------------------------------- Šíma's measure, independently
def _clock_aligned(backend, seed, bin_width):
    """Delta-synapse LIF network whose every spike lies on the 0.1 ms grid: grid source times, delays
    that are multiples of 0.1 ms, and neurons that can only fire at an input's arrival."""
    rng = np.random.default_rng(seed)
    net = se.Network(seed=seed, backend=backend, bin_width=bin_width)
    trains = [np.unique(rng.integers(0, 400, 25)) * 0.1 for _ in range(40)]
    src = net.spike_source(trains, name="in")
    pop = net.population(150, se.LIF(E_L=0.0, V_m=rng.uniform(0, 10, 150), V_th=10.0, V_reset=0.0, tau_m=15.0,
                                     C_m=1.0, t_ref=0.5), name="net")
    m1, m2 = 150 * 6, 150 * 10
    net.connect(src, pop, {"rule": "fixed_indegree", "indegree": 6}, weight=rng.uniform(2.0, 6.0, m1),
                delay=rng.integers(1, 20, m1) * 0.1)
    net.connect(pop, pop, {"rule": "fixed_indegree", "indegree": 10}, weight=rng.uniform(-2.0, 4.0, m2),
                delay=rng.integers(1, 30, m2) * 0.1)
    src.record("spikes")
    pop.record("spikes")
    return net, src, pop


@pytest.mark.parametrize("bin_width, per_bin", [(0.1, 1), (1.0, 10)])
def test_sima_equals_max_active_per_step_from_recorded_spikes(backend, bin_width, per_bin):
    net, src, pop = _clock_aligned(backend, 11, bin_width)
    net.run(60.0)
    r = net.energy_report()
    series = {}
    for scope, pops in (("net", (pop,)), ("all", (src, pop))):
        steps, ids = [], []
        for p in pops:
            t, i = p.spikes
            k = np.round(t / 0.1).astype(np.int64)
            assert np.abs(t - k * 0.1).max() < 1e-9  # the network is clock-aligned
            steps.append(k // per_bin)
            ids.append(i + p.first)
        pairs = np.unique(np.stack([np.concatenate(steps), np.concatenate(ids)]), axis=1)  # (bin, neuron) once
        series[scope] = np.bincount(pairs[0], minlength=r.n_bins)
    assert series["net"].max() >= 3  # several neurons fire in one step: the maximum is not trivial
    assert r.energy_sima() == series["net"].max()
    assert r.energy_sima(inputs=True) == series["all"].max()
    np.testing.assert_array_equal(r.active_counts()[1], series["net"])
    np.testing.assert_array_equal(r.active_counts(inputs=True)[1], series["all"])


def test_max_over_runs_is_the_maximum_of_runs(backend):
    reports = []
    for seed in (11, 12, 13):
        net = _clock_aligned(backend, seed, 0.1)[0]
        net.run(30.0)
        reports.append(net.energy_report())
    assert max_over_runs(reports) == max(r.energy_sima() for r in reports) > 0


# ----------------------------------------------------- NeuroBench, independently
def _feed_forward(backend, seed=5):
    rng = np.random.default_rng(seed)
    net = se.Network(seed=seed, backend=backend, bin_width=1.0)
    raster = rng.random((30, 20)) < 0.25  # input spikes on the 1 ms clock, steps 0..29
    inp = net.spike_source([np.flatnonzero(raster[:, k]).astype(float) for k in range(20)], name="input")
    cell = se.LIF(E_L=0.0, V_m=0.0, V_th=1.0, V_reset=0.0, tau_m=5.0, C_m=1.0, t_ref=0.0)
    hid = net.population(30, cell, name="hidden")
    out = net.population(10, cell, name="output")
    layers = []
    for pre, post, p in ((inp, hid, 0.5), (hid, out, 0.6)):
        s, t = np.nonzero(rng.random((pre.size, post.size)) < p)
        w = rng.normal(0.5, 0.5, s.size)
        w[rng.random(s.size) < 0.2] = 0.0  # pruned to zero but still stored
        layers.append(net.connect(pre, post, se.FromArrays(s, t), weight=w, delay=1.0))
    for pop in (inp, hid, out):
        pop.record("spikes")
    return net, (inp, hid, out), layers


def test_neurobench_metrics_match_their_formulas(backend):
    net, (inp, hid, out), layers = _feed_forward(backend)
    net.run(40.0)  # the input stops at 29 ms; every spike is delivered by 40 ms
    r = net.energy_report()
    T = 40  # NeuroBench time steps (1 ms)

    def binary(pop):
        x = np.zeros((T, pop.size))
        t, i = pop.spikes
        x[np.round(t).astype(int), i] = 1.0
        return x

    x = {p.name: binary(p) for p in (inp, hid, out)}
    assert x["hidden"].sum() > 20 and x["output"].sum() > 5
    acs, zeros, total = 0.0, 0, 0
    for proj in layers:
        W = np.zeros((proj.post.size, proj.pre.size))  # NeuroBench's weight matrix (out x in)
        np.add.at(W, (proj.targets, proj.sources), proj.weights)
        # effective ACs: binarised weights times binarised input, summed over every forward call (step)
        acs += sum(((W != 0) @ x[proj.pre.name][t]).sum() for t in range(T))
        zeros += int((W == 0).sum())
        total += W.size
    assert 0 < zeros < total
    spikes = x["hidden"].sum() + x["output"].sum()
    assert r.effective_acs == acs
    assert r.effective_macs == 0
    assert r.activation_sparsity == pytest.approx(1 - spikes / ((30 + 10) * T), abs=1e-15)
    assert r.connection_sparsity == pytest.approx(zeros / total, abs=1e-15)
    assert r.dense_sops == (20 * 30 + 30 * 10) * T
    assert r.synops > r.effective_acs  # stored zero weights are delivered but not effective


def test_per_sample_normalisation(backend):
    net, _, _ = _feed_forward(backend)
    net.run(40.0)
    one, four = net.energy_report(), net.energy_report(samples=4)
    assert four.effective_acs == one.effective_acs / 4 and four.dense_sops == one.dense_sops / 4
    assert four.estimate()["per_inference"] == pytest.approx(one.estimate()["total"] / 4, rel=1e-15)


# ------------------------------------------------------------- energy estimates
def test_estimates_per_profile(backend):
    net, _ = _chain(backend)
    net.run(10.0)
    r = net.energy_report()
    e = r.estimate("horowitz45nm_fp32")  # 6 ACs at 0.9 pJ; dense: 30 MACs at 4.6 pJ
    assert e["total"] == pytest.approx(6 * 0.9e-12, rel=1e-12)
    assert e["dense_equivalent"] == pytest.approx(30 * 4.6e-12, rel=1e-12)
    assert e["per_second"] == pytest.approx(6 * 0.9e-12 / 0.01, rel=1e-12)
    e = r.estimate("loihi2018")  # 6 SOPs at 23.6 pJ + 30 clocked neuron updates at 52 pJ
    assert e["synaptic"] == pytest.approx(6 * 23.6e-12, rel=1e-12)
    assert e["neuron"] == pytest.approx(30 * 52e-12, rel=1e-12)
    e = r.estimate({"name": "mine", "ac": 1e-12, "neuron_update": 2e-12})  # event-driven updates: 9
    assert e["total"] == pytest.approx(6e-12 + 18e-12, rel=1e-12)
    for name, prof in PROFILES.items():
        assert prof.sources, name  # every built-in figure carries its source


def test_json_report_is_written_atomically(tmp_path, backend):
    net, _ = _silent_saturated(backend)
    net.run(10.5)
    r = net.energy_report(profile="truenorth2014")
    path = tmp_path / "energy.json"
    r.to_json(path)
    d = json.loads(path.read_text())
    assert os.listdir(tmp_path) == ["energy.json"]
    assert d["energy_complexity"]["network"]["energy_sima"] == 3
    assert d["energy_complexity"]["with_inputs"]["energy_sima"] == 4
    assert d["counts"]["synops"] == 104
    assert d["estimate"]["synaptic"] == pytest.approx(104 * 26e-12, rel=1e-12)
    assert d["activity_bins"]["bin"] == list(range(11))
    assert d["neurobench"]["connection_sparsity"] == pytest.approx(6 / 11)
    with pytest.raises(OSError):
        r.to_json(tmp_path / "missing" / "energy.json")
    assert os.listdir(tmp_path) == ["energy.json"]


def test_plot(tmp_path, backend):
    pytest.importorskip("matplotlib")
    net, _ = _chain(backend)
    net.run(10.0)
    fig = net.energy_report().plot(tmp_path / "energy.png")
    assert (tmp_path / "energy.png").stat().st_size > 1000
    assert len(fig.axes) == 3


# ------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, "1"])
def test_bad_bin_width(bad):
    with pytest.raises(se.ParameterError, match="bin_width"):
        se.Network(bin_width=bad)


def test_bad_profiles():
    with pytest.raises(se.ParameterError, match=r"unknown energy profile 'loihi3'.*loihi2018"):
        get_profile("loihi3")
    with pytest.raises(se.ParameterError, match=r"'neg'.*ac = -1e-12"):
        get_profile({"name": "neg", "ac": -1e-12})
    with pytest.raises(se.ParameterError, match=r"sop = nan"):
        EnergyProfile("x", sop=math.nan)
    with pytest.raises(se.ParameterError, match="unknown field"):
        get_profile({"name": "x", "sop": 1e-12, "watts": 3})
    with pytest.raises(se.ParameterError, match="synaptic cost"):
        EnergyProfile("x", neuron_update=1e-12)


def test_bad_report_requests(backend):
    net, _ = _chain(backend)
    with pytest.raises(se.ParameterError, match="not been run"):
        net.energy_report()
    net.run(1.0)
    with pytest.raises(se.ParameterError, match="samples"):
        net.energy_report(samples=0)
    with pytest.raises(se.ParameterError, match="unknown energy profile"):
        net.energy_report(profile="nope")
    with pytest.raises(se.ParameterError, match="no population named 'n9'"):
        net.energy_report().energy_sima(population="n9")
    off, _ = _chain(backend, counters=False)
    off.run(1.0)
    with pytest.raises(se.ParameterError, match="counters=False"):
        off.energy_report()


def test_example_script(tmp_path, capsys):
    import runpy

    path = os.path.join(os.path.dirname(__file__), "..", "examples", "energy_report.py")
    main = runpy.run_path(path, run_name="example")["main"]
    main(["--duration", "40", "--json", str(tmp_path / "e.json")])
    out = capsys.readouterr().out
    assert "loihi2018" in out and "Sima energy" in out
    d = json.loads((tmp_path / "e.json").read_text())
    assert d["bin_width_ms"] == 1.0 and d["counts"]["spikes"] > 0
