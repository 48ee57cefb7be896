"""e-prop inside the event-driven engine (Network.eprop): the same numbers as the stand-alone EpropNetwork
(which tests/test_eprop_nest.py holds to NEST 3.10), with inputs and outputs that are events."""

import math

import numpy as np
import pytest

import spikeengine as se
from spikeengine.clocked import end_index
from spikeengine.eprop import Adam, EpropIAF, EpropIAFAdapt, EpropNetwork, EpropReadout

N_IN, N_REC, N_OUT = 6, 8, 2


def _make(feedback="random", loss="mse"):
    r = np.random.default_rng(5)
    W_rec = r.normal(0, 0.3, (N_REC, N_REC))
    np.fill_diagonal(W_rec, 0)
    return EpropNetwork(
        N_IN, [(EpropIAF(C_m=1.0, E_L=0.0, V_th=0.4, tau_m=20.0, t_ref=2.0), 4),
               (EpropIAFAdapt(C_m=1.0, E_L=0.0, V_th=0.4, tau_m=20.0, t_ref=2.0, c_reg=0.1, f_target=10.0), 4)],
        EpropReadout(C_m=1.0, E_L=0.0, tau_m=10.0), W_in=r.normal(0.3, 0.3, (N_REC, N_IN)), W_rec=W_rec,
        W_out=r.normal(0, 0.5, (N_OUT, N_REC)), B=None if feedback == "symmetric" else r.normal(0, 0.5, (N_REC, N_OUT)),
        optimizer=Adam(eta=1e-3), feedback=feedback, loss=loss)


def _inputs(T, seed=3):
    rng = np.random.default_rng(seed)
    raster = rng.random((T, N_IN)) < 0.05
    targets = np.abs(rng.normal(0, 1, (T, N_OUT)))
    return raster, targets / targets.sum(axis=1, keepdims=True)  # a distribution: cross-entropy targets too


def _assert_same_network(a, b):
    for name in ("W_in", "W_rec", "W_out", "B"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("feedback,loss", [("random", "mse"), ("symmetric", "cross_entropy")])
def test_block_fed_by_spike_sources_equals_the_standalone_network(feedback, loss):
    """Raster row r (the input neuron's spike step) is a source spike at (r + 1) dt; two runs of 300 steps
    with Adam, regularisation and adaptation: every weight, loss and spike equal, bit for bit."""
    T = 300
    raster, targets = _inputs(2 * T)
    a = _make(feedback, loss)
    ra = [a.run(raster[:T], targets[:T]), a.run(raster[T:], targets[T:])]
    b = _make(feedback, loss)
    net = se.Network()
    rows, ids = np.nonzero(raster)
    src = net.spike_source([(rows[ids == i] + 1) * 1.0 for i in range(N_IN)], name="in")
    blk = net.eprop(b, inputs=src, name="ep")
    blk.rec.record("spikes")
    losses, readouts = [], []
    for k in range(2):
        blk.set_targets(targets[k * T:(k + 1) * T])
        net.run(float(T))
        losses.append(blk.last_run.loss)
        readouts.append(blk.last_run.readout)
    assert losses == [r.loss for r in ra]
    assert losses[0] != losses[1]
    np.testing.assert_array_equal(np.concatenate(readouts), np.concatenate([r.readout for r in ra]))
    _assert_same_network(a, b)
    steps = np.concatenate([r.spike_steps for r in ra])
    sids = np.concatenate([r.spike_ids for r in ra])
    o = np.lexsort((sids, steps))
    t, i = blk.rec.spikes
    assert steps.size > 100
    np.testing.assert_array_equal(t, (steps[o] + 1) * 1.0)
    np.testing.assert_array_equal(i, sids[o])
    assert repr(blk).startswith("<EpropBlock 'ep': 6 inputs, 8 recurrent, 2 readouts")


def test_event_driven_inputs_and_outputs(backend):
    """Event-driven LIF neurons (off-grid spikes) drive the e-prop inputs with delay dt; the recurrent spikes
    drive an event-driven population. The e-prop side equals the stand-alone network fed with the LIF
    spikes binned by NEST's rule (row = ceil((t + d) / dt) - 2); the downstream population equals a network
    fed with the recurrent spikes as a spike source."""
    T = 200.0
    rng = np.random.default_rng(7)
    drive = [np.sort(rng.uniform(0, T, 60)) for _ in range(N_IN)]
    lif = dict(E_L=0.0, V_m=0.0, V_reset=0.0, V_th=1.0, C_m=1.0, tau_m=10.0, t_ref=1.5)

    def build(with_block=True, rec_times=None):
        net = se.Network(backend=backend)
        src = net.spike_source(drive, name="drive")
        ex = net.population(N_IN, se.LIF(**lif), name="ex")
        net.connect(src, ex, "one_to_one", weight=0.6, delay=0.7)
        ex.record("spikes")
        down = net.population(5, se.LIF(**lif), name="down")
        down.record("spikes")
        blk = None
        if with_block:
            blk = net.eprop(_make(), inputs=ex, delay=1.0)
            blk.rec.record("spikes")
            pre = blk.rec
        else:
            pre = net.spike_source(rec_times, name="rec")
        net.connect(pre, down, se.FromArrays(np.arange(N_REC), np.arange(N_REC) % 5), weight=0.4, delay=1.3)
        return net, ex, down, blk

    net, ex, down, blk = build()
    _, targets = _inputs(int(T))
    blk.set_targets(targets)
    # input delay dt into e-prop: the core goes first; the recurrent spikes reach "down" after 1.3 ms: 1 ms turns
    assert net.clock == {"dt": 1.0, "first": "events", "chunk": 1.0}
    net.run(T)
    t, i = ex.spikes
    assert t.size > 50 and np.any(np.abs(t - np.round(t)) > 1e-6)
    raster = np.zeros((int(T), N_IN), bool)
    rows = end_index(t + 1.0, 1.0) - 2
    keep = rows < T
    raster[rows[keep], i[keep]] = True
    ref = _make()
    res = ref.run(raster, targets)
    assert blk.last_run.loss == res.loss
    _assert_same_network(ref, blk.network)
    rt, ri = blk.rec.spikes
    o = np.lexsort((res.spike_ids, res.spike_steps))
    np.testing.assert_array_equal(rt, (res.spike_steps[o] + 1.0))
    np.testing.assert_array_equal(ri, res.spike_ids[o])
    net2, _, down2, _ = build(False, [rt[ri == k] for k in range(N_REC)])
    net2.run(T)
    assert down.spikes[0].size > 5
    np.testing.assert_allclose(down.spikes[0], down2.spikes[0], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(down.spikes[1], down2.spikes[1])


def test_reset_restores_the_weights_unless_kept():
    raster, targets = _inputs(100)
    net = se.Network()
    rows, ids = np.nonzero(raster)
    src = net.spike_source([(rows[ids == i] + 1) * 1.0 for i in range(N_IN)])
    blk = net.eprop(_make(), inputs=src)
    w0 = blk.network.W_in.copy()
    blk.set_targets(targets)
    net.run(100.0)
    loss = blk.last_run.loss
    w1 = blk.network.W_in.copy()
    assert not np.array_equal(w0, w1)
    net.reset()
    np.testing.assert_array_equal(blk.network.W_in, w0)
    blk.set_targets(targets)
    net.run(100.0)
    assert blk.last_run.loss == loss
    np.testing.assert_array_equal(blk.network.W_in, w1)
    net.reset(keep_weights=True)
    np.testing.assert_array_equal(blk.network.W_in, w1)


def test_bad_input_names_the_block_and_array():
    net = se.Network()
    src = net.spike_source([[1.0]] * 3, name="few")
    with pytest.raises(se.NetworkError, match="inputs 'few' has 3 neurons but the e-prop network has n_in = 6"):
        net.eprop(_make(), inputs=src)
    with pytest.raises(se.NetworkError, match="n_in = 6 inputs; pass inputs="):
        net.eprop(_make())
    src = net.spike_source([[1.0]] * N_IN, name="six")
    with pytest.raises(se.NetworkError, match="input delay must be a number of ms >= dt"):
        net.eprop(_make(), inputs=src, delay=0.5)
    with pytest.raises(se.NetworkError, match="expected an EpropNetwork"):
        net.eprop("not a network", inputs=src)
    blk = net.eprop(_make(), inputs=src, name="ep")
    with pytest.raises(se.ParameterError, match="clocked population 'ep.rec': cannot record 'V_m'.*block.last_run"):
        blk.rec.record("V_m", interval=1.0)
    with pytest.raises(se.NetworkError, match="'ep': targets have shape \\(5, 3\\); expected \\(n_steps, 2\\)"):
        blk.set_targets(np.zeros((5, 3)))
    bad = np.zeros((5, 2))
    bad[2, 1] = np.nan
    with pytest.raises(se.NetworkError, match="targets\\[2, 1\\] is nan"):
        blk.set_targets(bad)
    with pytest.raises(se.NetworkError, match="learning_window has shape"):
        blk.set_targets(np.zeros((5, 2)), learning_window=np.ones(4))
    blk.set_targets(np.zeros((5, 2)))
    with pytest.raises(se.NetworkError, match="targets cover the updates ending at \\(0.0, 5.0\\] ms but the run "
                                              "reaches 10.0 ms"):
        net.run(10.0)
    net2 = se.Network()
    src2 = net2.spike_source([[1.0]] * N_IN)
    blk2 = net2.eprop(_make(), inputs=src2, name="ep")
    other = net2.population(2, se.LIF())
    net2.connect(other, blk2.rec)
    with pytest.raises(se.NetworkError, match="e-prop populations take input only through their block's inputs"):
        net2.run(1.0)


def test_two_spikes_of_one_input_in_one_step_are_refused():
    net = se.Network()
    src = net.spike_source([[2.2, 2.6]] + [[]] * (N_IN - 1))
    net.eprop(_make(), inputs=src, name="ep")
    with pytest.raises(se.NetworkError, match="'ep': input 0 delivers 2 spikes in step 2 \\(t = 3.0 ms\\)"):
        net.run(5.0)


@pytest.mark.parametrize("step_by_step", [False, True])
def test_bsshslm_block_equals_the_standalone_network_on_either_schedule(monkeypatch, step_by_step):
    """Bellec 2020's scheme (updates once per 50-step interval, cross-entropy, Adam): the block runs the whole
    run at once (inputs known ahead) or one step at a time; both equal the stand-alone run."""
    from spikeengine.clocked import CoSim

    def make():
        r = np.random.default_rng(5)
        W = r.normal(0, 0.3, (N_REC, N_REC))
        np.fill_diagonal(W, 0)
        return EpropNetwork(N_IN, EpropIAFAdapt(C_m=1.0, E_L=0.0, V_th=0.4, t_ref=2.0), EpropReadout(C_m=1.0, E_L=0.0),
                            W_in=r.normal(0.3, 0.3, (N_REC, N_IN)), W_rec=W, W_out=r.normal(0, 0.5, (N_OUT, N_REC)),
                            B=r.normal(0, 0.5, (N_REC, N_OUT)), optimizer=Adam(eta=1e-3), scheme="bsshslm_2020",
                            loss="cross_entropy", update_interval=50.0, learning_window=20.0)

    raster, _ = _inputs(200, seed=1)
    targets = np.zeros((200, N_OUT))
    targets[:, 0] = 1.0
    a = make()
    ra = a.run(raster, targets)
    if step_by_step:
        orig = CoSim._plan

        def plan(self):
            orig(self)
            self.mode, self.L = "events", 1.0

        monkeypatch.setattr(CoSim, "_plan", plan)
    b = make()
    net = se.Network()
    rows, ids = np.nonzero(raster)
    blk = net.eprop(b, inputs=net.spike_source([(rows[ids == i] + 1) * 1.0 for i in range(N_IN)]))
    blk.set_targets(targets)
    with pytest.raises(se.NetworkError, match="learning_window per step applies to scheme='event'"):
        blk.set_targets(targets, learning_window=np.ones(200))
    net.run(200.0)
    assert net.clock == {"dt": 1.0, "first": "events" if step_by_step else "clocked",
                         "chunk": 1.0 if step_by_step else math.inf}
    assert blk.last_run.loss == ra.loss
    _assert_same_network(a, b)


def test_train_drives_a_block_inside_its_network(tmp_path):
    """train() on a block fed by a stream source: the same history and weights as train() on the
    stand-alone network; checkpoints hold the block's EpropNetwork."""
    from spikeengine.eprop import load_checkpoint, train

    rng = np.random.default_rng(11)
    data = [(rng.random((80, N_IN)) < 0.08, np.abs(rng.normal(0, 1, (80, N_OUT)))) for _ in range(3)]
    ref = _make()
    h_ref = train(ref, data, iterations=4, progress=False)
    net = se.Network()
    blk = net.eprop(_make(), inputs=net.stream_source(N_IN, name="stream"), name="ep")
    blk.rec.record("spikes")
    h = train(blk, data, iterations=4, progress=False, checkpoint_every=2, checkpoint_path=tmp_path / "c.npz")
    assert h.loss == h_ref.loss and len(h) == 4
    _assert_same_network(ref, blk.network)
    assert net.t == 4 * 80.0 and blk.rec.spikes[0].size > 0
    ck = load_checkpoint(tmp_path / "c.npz")
    np.testing.assert_array_equal(ck["state"]["W_in"], blk.network.W_in)
    assert len(ck["history"]) == 4
    with pytest.raises(se.ParameterError, match="cannot be evaluated in isolation"):
        train(blk, data, iterations=1, progress=False, eval_every=1, test_set=data)
    net2 = se.Network()
    blk2 = net2.eprop(_make(), inputs=net2.spike_source([[1.0]] * N_IN, name="fixed"))
    with pytest.raises(se.ParameterError, match="takes its inputs from 'fixed'; to present samples to a block"):
        train(blk2, data, iterations=1, progress=False)


def test_event_driven_inputs_without_event_outputs_run_whole_turns(monkeypatch):
    """Fed by event-driven neurons and sending nothing back into the core, the block runs after the core once
    per Network.run; the same spikes, weights and activity bins as one step at a time."""
    from spikeengine.clocked import CoSim

    rng = np.random.default_rng(8)
    drive = [np.sort(rng.uniform(0, 150, 50)) for _ in range(N_IN)]
    _, targets = _inputs(150)

    def build():
        net = se.Network()
        src = net.spike_source(drive)
        ex = net.population(N_IN, se.LIF(E_L=0.0, V_m=0.0, V_reset=0.0, V_th=1.0, C_m=1.0, tau_m=10.0, t_ref=1.5))
        net.connect(src, ex, "one_to_one", weight=0.6, delay=0.7)
        blk = net.eprop(_make(), inputs=ex)
        blk.rec.record("spikes")
        blk.set_targets(targets)
        return net, blk

    net, blk = build()
    assert net.clock == {"dt": 1.0, "first": "events", "chunk": math.inf}
    net.run(150.0)
    orig = CoSim._plan

    def plan(self):
        orig(self)
        self.L = 1.0

    monkeypatch.setattr(CoSim, "_plan", plan)
    net2, blk2 = build()
    net2.run(150.0)
    assert net2.clock["chunk"] == 1.0
    assert blk.last_run.loss == blk2.last_run.loss
    _assert_same_network(blk.network, blk2.network)
    for a, b in zip(blk.rec.spikes, blk2.rec.spikes):
        np.testing.assert_array_equal(a, b)
    assert blk.rec.spikes[0].size > 50
    for a, b in zip(net._sim.active_table(), net2._sim.active_table()):
        np.testing.assert_array_equal(a, b)
