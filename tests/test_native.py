"""The native HDF5 network file: exact round trips, info without synapse reads, errors, atomic saves."""

import os

import h5py
import numpy as np
import pytest

import spikeengine as se
from spikeengine import native
from spikeengine.errors import InputFormatError, NetworkError, ParameterError

DURATION = 100.0


def random_network(seed, backend=None, n=10):
    """Every neuron model, every source kind, Poisson inputs, heterogeneous delays and weights, recorders."""
    rng = np.random.default_rng(seed)
    net = se.Network(seed=seed, backend=backend, bin_width=0.5)
    net.metadata = {"origin": "test", "seed": seed, "nested": {"a": [1, 2.5]}}
    src = net.spike_source([np.sort(rng.choice(np.arange(1, 400) * 0.25, size=rng.integers(0, 8), replace=False))
                            for _ in range(n)], name="trains")
    poi = net.poisson_source(n, rate=rng.uniform(0, 80, n), name="noise")
    cam = net.stream_source(4, name="cam")
    pops = [
        net.population(n, se.LIF(E_L=0.0, V_m=rng.uniform(0, 10, n), V_th=15.0, V_reset=0.0, C_m=1.0,
                                  tau_m=rng.uniform(10, 30, n), beta=0.5, tau_a=50.0), name="lif"),
        net.population(n, se.ALIF(E_L=0.0, V_m=0.0, V_th=10.0, V_reset=0.0, C_m=1.0, tau_m=20.0), name="alif"),
        net.population(n, se.LIFExp(tau_m=20.0, tau_syn_ex=rng.uniform(1, 5, n), I_e=300.0, t_ref=1.0), name="exp"),
        net.population(n, se.IF(V_th=2.0, reset="subtract", I_e=rng.uniform(0, 0.05, n)), name="if"),
        net.population(n, se.LeakyIntegrator(tau_m=5.0), name="li"),
        net.population(n, "parrot_neuron", name="parrot"),
    ]
    pops[0].add_poisson_input(rate=rng.uniform(500, 2000, n), weight=0.8)
    pops[2].add_poisson_input(rate=1000.0, weight=50.0, dt=0.1)
    pops[2].add_poisson_input(rate=200.0, weight=-30.0)
    w_unit = {"lif": 3.0, "alif": 3.0, "exp": 300.0, "if": 0.6, "li": 1.0, "parrot": 1.0}
    k = 0
    for pre in [src, poi, cam] + pops[:-1]:
        for post in pops:
            if rng.random() < 0.5 or (post.name == "parrot" and pre.is_source is False):
                continue
            hetero = rng.random() < 0.6
            delay = (lambda m, r: r.uniform(0.5, 3.0, m)) if hetero else 1.0 + 0.5 * (k % 3)
            w = w_unit[post.name]
            weight = (lambda m, r, w=w: r.normal(0.5 * w, w, m)) if rng.random() < 0.7 else w
            net.connect(pre, post, {"rule": "pairwise_bernoulli", "p": rng.uniform(0.05, 0.3)}, weight=weight,
                        delay=delay)
            k += 1
    for p in net.populations:
        p.record("spikes")
    pops[0].record("V_m", interval=0.5, ids=[0, 3])
    pops[2].record("I_syn_ex", times=[1.0, 2.5, 10.0])
    return net


def simulate(net, duration=DURATION):
    """Feed the stream source, run, and return spikes per population, samples and energy counts."""
    cam = next(p for p in net.populations if p.name == "cam")
    net.feed(cam, [1.0, 2.0, 2.0, 50.0], [0, 1, 3, 2])
    net.run(duration)
    spikes = {p.name: p.spikes for p in net.populations}
    samples = {(p.name, s["var"]): p.get_data(s["var"]) for p in net.populations for s in p._samplers}
    return spikes, samples, net.energy_report().to_dict()["counts"]


def assert_same_run(a, b):
    (sa, ma, ca), (sb, mb, cb) = a, b
    assert list(sa) == list(sb)
    for name in sa:
        assert np.array_equal(sa[name][0], sb[name][0]), name  # times, exactly
        assert np.array_equal(sa[name][1], sb[name][1]), name  # ids
    assert sum(len(t) for t, _ in sa.values()) > 50  # the comparison means something
    assert list(ma) == list(mb)
    for key in ma:
        for x, y in zip(ma[key], mb[key]):
            assert np.array_equal(x, y), key
    assert ca == cb


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "net.h5")


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("seed", [0, 1])
def test_round_trip_identical_spikes(backend, seed, path):
    native.save(random_network(seed, backend), path)
    net = native.load(path)
    assert net.backend_name == backend and net.seed == seed and net.bin_width == 0.5 and net.counters_enabled
    assert net.metadata == {"origin": "test", "seed": seed, "nested": {"a": [1, 2.5]}}
    assert_same_run(simulate(random_network(seed, backend)), simulate(net))


def test_structure_restored(path):
    orig = random_network(3)
    native.save(orig, path)
    net = native.load(path, backend="python")
    assert net.backend_name == "python"
    assert [(p.name, p.size, p.first, repr(p)) for p in net.populations] == \
           [(p.name, p.size, p.first, repr(p)) for p in orig.populations]
    for a, b in zip(orig.populations, net.populations):
        assert len(a.poisson_inputs) == len(b.poisson_inputs)
        for (r1, w1, d1), (r2, w2, d2) in zip(a.poisson_inputs, b.poisson_inputs):
            assert np.array_equal(r1, r2) and np.array_equal(w1, w2) and d1 == d2
        if a.model is not None:
            assert type(a.model) is type(b.model) and a.model.params.keys() == b.model.params.keys()
            for k, v in a.model.params.items():
                assert np.array_equal(v, b.model.params[k]), (a.name, k)
    for a, b in zip(orig.projections, net.projections):
        assert (a.name, a.pre.name, a.post.name) == (b.name, b.pre.name, b.post.name)
        for attr in ("sources", "targets", "weights", "delays"):
            assert np.array_equal(getattr(a, attr), getattr(b, attr)), (a.name, attr)
        assert b.sources.dtype == np.int32 and b.targets.dtype == np.int32


def test_scalar_weights_and_delays_are_stored_compactly(path):
    net = se.Network(seed=1, counters=False, bin_width=0.25)
    a = net.population(50, se.LIF(), name="a")
    net.connect(a, a, "all_to_all", weight=0.25, delay=1.5, name="aa")
    net.connect(a, a, "one_to_one", weight=np.linspace(0, 1, 50), delay=2.0, name="diag")
    native.save(net, path)
    with h5py.File(path, "r") as f:
        g = f["projections/0"]
        assert "weights" not in g and "delays" not in g
        assert g.attrs["weight"] == 0.25 and g.attrs["delay"] == 1.5 and g["sources"].dtype == np.int32
        assert "weights" in f["projections/1"] and "delays" not in f["projections/1"]
        assert f.attrs["format"] == "spikeengine-network" and f.attrs["version"] == 1 and native.FORMAT_VERSION == 2
        assert "plasticity" not in f
    back = native.load(path)
    assert back.projections[0].weights.strides == (0,) and back.projections[0].delays.strides == (0,)
    assert back.projections[0].weights.shape == (2500,)
    assert not back.counters_enabled and back.bin_width == 0.25 and back.backend_name is None


def test_saved_after_a_run_loads_the_initial_state(path):
    net = random_network(4)
    first = simulate(net)
    native.save(net, path)  # the structure, not the state reached
    assert_same_run(first, simulate(native.load(path)))


def test_compression_round_trip(tmp_path):
    net = se.Network(seed=2)
    a = net.population(30, se.LIF(I_e=400.0), name="a")
    net.connect(a, a, {"rule": "fixed_indegree", "indegree": 5}, weight=lambda n, r: r.normal(1, 1, n),
                delay=lambda n, r: r.uniform(1, 2, n))
    native.save(net, tmp_path / "c.h5", compression="gzip")
    with h5py.File(tmp_path / "c.h5", "r") as f:
        assert f["projections/0/weights"].compression == "gzip"
    back = native.load(tmp_path / "c.h5")
    assert np.array_equal(back.projections[0].delays, net.projections[0].delays)


def test_empty_network_and_empty_populations(path):
    net = se.Network()
    net.population(0, se.LIF(), name="nothing")
    net.spike_source([], name="silent")
    native.save(net, path)
    back = native.load(path)
    assert [p.size for p in back.populations] == [0, 0]
    assert native.info(path)["total_synapses"] == 0 and native.validate(path) == []


# ------------------------------------------------------------------------- info
def test_info_without_reading_synapses(path, monkeypatch):
    net = se.Network(seed=0)
    a = net.population(20, se.LIF(), name="E")
    b = net.poisson_source(5, rate=10.0, name="P")
    net.connect(a, a, {"rule": "fixed_indegree", "indegree": 4}, weight=0.5, delay=1.0, name="EE")
    net.connect(b, a, "all_to_all", weight=lambda n, r: r.normal(size=n), delay=lambda n, r: r.uniform(1, 3, n))
    native.save(net, path)

    def boom(*args, **kw):
        raise AssertionError("info() read a dataset")

    monkeypatch.setattr(h5py.Dataset, "read_direct", boom)
    monkeypatch.setattr(h5py.Dataset, "__getitem__", boom)
    monkeypatch.setattr(h5py.Dataset, "__array__", boom, raising=False)
    d = native.info(path)
    assert d["format"] == "spikeengine-network" and d["version"] == 1 and d["file"] == path
    assert d["populations"] == [{"name": "E", "size": 20, "model": "LIF"},
                                {"name": "P", "size": 5, "model": "poisson_source"}]
    assert d["projections"] == [{"name": "EE", "pre": "E", "post": "E", "synapses": 80},
                                {"name": "P->E#1", "pre": "P", "post": "E", "synapses": 100}]
    assert d["total_synapses"] == 180 and d["n_neurons"] == 25
    monkeypatch.undo()
    groups = len(np.unique(net.projections[0].sources)) + 100  # continuous delays: one group per synapse
    assert d["memory_bytes"] == 12 * 180 + 20 * groups + 256 * 25
    net.run(1.0)
    assert net._sim.g_src.size == groups


# ----------------------------------------------------------------------- errors
def _small(path):
    net = se.Network(seed=1)
    a = net.population(3, se.LIF(), name="E")
    net.connect(a, a, "all_to_all", weight=np.ones(9), delay=1.0, name="EE")
    native.save(net, path)


def test_newer_version_is_refused(path):
    _small(path)
    with h5py.File(path, "r+") as f:
        f.attrs["version"] = 3
    for fn in (native.load, native.info):
        with pytest.raises(InputFormatError, match=r"written by a newer spikeengine: format version 3 > 2; upgrade"):
            fn(path)
    assert "format version 3 > 2" in native.validate(path)[0]


def test_not_a_network_file(path):
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=[1, 2])
    with pytest.raises(InputFormatError, match=r"net\.h5.*no 'format' attribute"):
        native.load(path)
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(InputFormatError, match="format 'something-else'"):
        native.info(path)


@pytest.mark.parametrize("victim, needle", [
    ("projections/0/targets", r"/projections/0 \(projection 'EE'\): missing dataset /projections/0/targets"),
    ("populations/0/params/tau_m", None),  # a missing parameter takes its default: not an error
    ("populations/0/samplers", r"/populations/0 \(population 'E'\): missing group /populations/0/samplers"),
    ("metadata", r"root: missing dataset /metadata"),
    ("projections", r"missing group /projections"),
])
def test_missing_datasets_are_named(path, victim, needle):
    _small(path)
    with h5py.File(path, "r+") as f:
        del f[victim]
    if needle is None:
        assert native.validate(path) == []
        return
    with pytest.raises(InputFormatError, match=needle) as err:
        native.load(path)
    assert path in str(err.value)
    problems = native.validate(path)
    assert len(problems) == 1 and path in problems[0]


def test_wrong_shapes_and_attributes(path):
    _small(path)
    with h5py.File(path, "r+") as f:
        del f["projections/0/weights"]
        f["projections/0"].create_dataset("weights", data=np.ones(4))
        del f["populations/0"].attrs["size"]
    problems = native.validate(path)
    assert any("/projections/0/weights has shape (4,); expected (9,)" in p for p in problems)
    assert any("missing attribute /populations/0/@size" in p for p in problems)
    with pytest.raises(InputFormatError, match="@size"):
        native.load(path)


@pytest.mark.parametrize("how", ["garbage", "truncated", "empty"])
def test_corrupt_files(path, how):
    if how == "garbage":
        with open(path, "wb") as fh:
            fh.write(os.urandom(4096))
    else:
        _small(path)
        size = os.path.getsize(path)
        with open(path, "r+b") as fh:
            fh.truncate(0 if how == "empty" else size // 2)
    for fn in (native.load, native.info):
        with pytest.raises(InputFormatError, match="net.h5"):
            fn(path)
    problems = native.validate(path)
    assert problems and "net.h5" in problems[0]


def test_missing_file(tmp_path):
    with pytest.raises(InputFormatError, match="nope.h5: no such file"):
        native.load(tmp_path / "nope.h5")


def test_bad_values_name_file_group_and_population(path):
    _small(path)
    with h5py.File(path, "r+") as f:
        f["populations/0/params/tau_m"][()] = -1.0
    with pytest.raises(ParameterError, match=r"net\.h5: /populations/0 \(population 'E'\): .*tau_m"):
        native.load(path)
    assert "tau_m" in native.validate(path)[0]


def test_bad_synapses_are_reported(path):
    _small(path)
    with h5py.File(path, "r+") as f:
        f["projections/0/targets"][4] = 7
        f["projections/0/weights"][2] = np.nan
        f["projections/0"].attrs["delay"] = -1.0
    problems = native.validate(path, block=4)
    assert any("targets of synapse 4 is 7; must be in [0, 3)" in p for p in problems)
    assert any("weight of synapse 2 is nan" in p for p in problems)
    assert any("delay of synapse 0 is -1.0" in p for p in problems)
    assert all("(projection 'EE')" in p for p in problems)
    with pytest.raises(NetworkError, match=r"projection 'EE'"):  # readable, but an invalid network: exit code 3
        native.load(path)


def test_unknown_model(path):
    _small(path)
    with h5py.File(path, "r+") as f:
        f["populations/0"].attrs["model"] = "Izhikevich"
        f["populations/0"].attrs["model_class"] = "somewhere.Izhikevich"
    with pytest.raises(InputFormatError, match=r"population 'E'.*unknown neuron model 'Izhikevich'"):
        native.load(path)


def test_plastic_rule_state_is_refused(path):
    _small(path)
    with h5py.File(path, "r+") as f:
        f.create_group("plasticity")  # the reserved group, empty: fine
    assert native.load(path).populations[0].name == "E"
    with h5py.File(path, "r+") as f:
        f["plasticity"].create_group("0").create_dataset("traces", data=np.zeros(9))
    with pytest.raises(InputFormatError, match="plastic-rule state.*cannot restore"):
        native.load(path)
    assert "plastic-rule" in native.validate(path)[0]


def test_metadata_must_be_json(path):
    net = se.Network()
    net.metadata = {"when": object()}
    with pytest.raises(ParameterError, match="metadata cannot be stored as JSON"):
        native.save(net, path)
    assert not os.path.exists(path)


# ----------------------------------------------------------------- atomic save
def test_failed_save_leaves_no_file(tmp_path, monkeypatch):
    path = str(tmp_path / "net.h5")
    _small(path)
    before = open(path, "rb").read()

    def fail(net, f, *args):
        f.attrs["format"] = "spikeengine-network"
        f.create_dataset("half", data=np.zeros(1000))
        raise KeyboardInterrupt

    monkeypatch.setattr(native, "_write", fail)
    with pytest.raises(KeyboardInterrupt):
        native.save(random_network(0), path)
    assert os.listdir(tmp_path) == ["net.h5"]  # no temporary file left
    assert open(path, "rb").read() == before  # the previous file is intact
    with pytest.raises(KeyboardInterrupt):
        native.save(random_network(0), tmp_path / "new.h5")
    assert os.listdir(tmp_path) == ["net.h5"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores permissions")
def test_save_into_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OSError):
            native.save(se.Network(), ro / "net.h5")
        assert os.listdir(ro) == []
    finally:
        ro.chmod(0o755)


def test_unavailable_backend_preference_warns(path, monkeypatch):
    _small(path)
    with h5py.File(path, "r+") as f:
        f.attrs["backend"] = "cython"
    from spikeengine import _backend

    monkeypatch.setitem(_backend._cache, "cython", None)
    monkeypatch.setitem(_backend._why, "cython", "test")
    with pytest.warns(RuntimeWarning, match="'cython' is not available"):
        net = native.load(path)
    assert net.backend_name is None
