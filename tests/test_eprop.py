"""Unit tests of spikeengine.eprop: surrogate gradients, optimizers, validation, symmetric feedback."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spikeengine.eprop import (
    Adam,
    EpropIAF,
    EpropIAFAdapt,
    EpropNetwork,
    EpropReadout,
    GradientDescent,
    surrogate_gradient,
)
from spikeengine.errors import NetworkError, ParameterError

LIF = {"C_m": 1.0, "E_L": 0.0, "V_th": 0.03, "tau_m": 30.0, "t_ref": 0.0}


# ------------------------------------------------------------------ surrogate gradients (EPROP.md §1.4)
@pytest.mark.parametrize("name,expected", [
    ("piecewise_linear", 0.5 * (1 - 0.3 / 0.6)),      # h max(0, 1 - |x|/w)
    ("exponential", 0.5 * math.exp(-0.3 / 0.6)),       # h exp(-|x|/w)
    ("fast_sigmoid_derivative", 0.5 / (1 + 0.5) ** 2),  # h (1 + |x|/w)^-2 (NEST's code, not its doc)
    ("arctan_derivative", 0.5 / (1 + 0.25)),           # h / (1 + (x/w)^2)
])
def test_surrogate_values(name, expected):
    for v in (0.9, 0.3):  # symmetric around V_th = 0.6
        assert surrogate_gradient(name, v, 0.6, height=0.5, width=0.6) == pytest.approx(expected, rel=1e-15)
    assert surrogate_gradient(name, 0.9, 0.6, height=0.5, width=0.6, r=2) == 0.0  # refractory


def test_piecewise_linear_support_and_bellec_form():
    assert surrogate_gradient("piecewise_linear", 2.0, 0.6, height=0.5, width=0.6) == 0.0
    # Bellec: gamma / v_th * max(0, 1 - |v - v_th| / v_th), gamma = 0.3
    v_th, v = 0.6, 0.45
    bellec = 0.3 / v_th * max(0.0, 1 - abs(v - v_th) / v_th)
    assert surrogate_gradient("piecewise_linear", v, v_th, height=0.3 / v_th, width=v_th) == pytest.approx(bellec)


def test_unknown_surrogate_names_the_parameter():
    with pytest.raises(ParameterError, match="surrogate_gradient_function.*'relu'"):
        EpropIAF(surrogate_gradient_function="relu")
    with pytest.raises(ParameterError, match="unknown surrogate gradient 'tanh'"):
        surrogate_gradient("tanh", 0.0, 1.0)


# ------------------------------------------------------------------ optimizers (EPROP.md §6)
def test_gradient_descent_batches_and_clips():
    opt = GradientDescent(eta=0.1, batch_size=3, Wmin=-1.0, Wmax=0.05)
    st = opt.new_state((1,))
    w = opt.step(st, 0, idx=0, gradient=1.0, weight=0.0)   # batch 1 (idx 0..2): accumulate
    w = opt.step(st, 0, idx=2, gradient=2.0, weight=w)
    assert w == 0.0
    w = opt.step(st, 0, idx=3, gradient=-3.0, weight=w)    # batch 2 starts: w -= 0.1 * (1 + 2 - 3) / 3
    assert w == 0.0
    w = opt.step(st, 0, idx=4, gradient=-6.0, weight=w)
    w = opt.step(st, 0, idx=6, gradient=0.0, weight=w)     # mean -2 -> +0.2, clipped at Wmax = 0.05
    assert w == 0.05


def test_adam_first_step_and_zero_gradient_catch_up():
    eta, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    opt = Adam(eta=eta, beta_1=b1, beta_2=b2, epsilon=eps)
    st = opt.new_state((1,))
    g = 0.5
    w = opt.step(st, 0, idx=1, gradient=g, weight=1.0)     # one Adam step with g
    m, v = (1 - b1) * g, (1 - b2) * g * g
    a1 = eta * math.sqrt(1 - b2) / (1 - b1)
    w1 = 1.0 - a1 * m / (math.sqrt(v) + eps)
    assert w == pytest.approx(w1, rel=1e-15)
    w = opt.step(st, 0, idx=3, gradient=0.0, weight=w)     # idx 3: two steps (2, 3), both with zero gradient
    for n in (2, 3):
        m, v = b1 * m, b2 * v
        a = eta * math.sqrt(1 - b2 ** n) / (1 - b1 ** n)
        w1 -= a * m / (math.sqrt(v) + eps)
    assert w == pytest.approx(w1, rel=1e-14)
    assert int(st.step[0]) == 4


def test_optimizer_validation():
    with pytest.raises(ParameterError, match="batch_size"):
        GradientDescent(batch_size=0)
    with pytest.raises(ParameterError, match="Wmin <= Wmax"):
        Adam(Wmin=1.0, Wmax=0.0)
    with pytest.raises(ParameterError, match="beta_1"):
        Adam(beta_1=1.0)
    with pytest.raises(ParameterError, match="unknown parameter.*lr"):
        Adam(lr=0.1)


# ------------------------------------------------------------------ a small network
def small_net(**kw):
    rng = np.random.default_rng(5)
    n_in, n_rec, n_out = 3, 4, kw.pop("n_out", 1)
    args = {
        "n_in": n_in, "rec": EpropIAF(**LIF), "readout": EpropReadout(C_m=1.0, tau_m=30.0),
        "W_in": rng.normal(0.01, 0.01, (n_rec, n_in)), "W_rec": (1 - np.eye(n_rec)) * 0.005,
        "W_out": rng.normal(0.0, 0.05, (n_out, n_rec)), "B": rng.normal(0.0, 0.3, (n_rec, n_out)),
        "optimizer": GradientDescent(eta=1e-3),
    }
    args.update(kw)
    if args.get("feedback") == "symmetric":
        args.pop("B")
    return EpropNetwork(**args)


def inputs(S=40, n_in=3, seed=1):
    rng = np.random.default_rng(seed)
    r = rng.random((S, n_in)) < 0.3
    r[0] = False
    return [np.flatnonzero(r[:, i]).astype(float) for i in range(n_in)]


def target(S=40, n_out=1):
    return 0.05 * np.sin(2 * np.pi * np.arange(S) / S)[:, None].repeat(n_out, axis=1)


@pytest.mark.parametrize("scheme", ["event", "bsshslm_2020"])
def test_symmetric_feedback_tracks_w_out(scheme):
    kw = {"scheme": scheme, "feedback": "symmetric", "optimizer": Adam(eta=5e-3)}
    if scheme == "bsshslm_2020":
        kw.update(update_interval=40.0, learning_window=20.0)
    net = small_net(**kw)
    w0 = net.W_out.copy()
    for _ in range(5):
        net.run(inputs(), target())
        assert np.array_equal(net.B, net.W_out.T)
    assert np.abs(net.W_out - w0).max() > 1e-3  # W_out moved, and B with it


def test_first_spike_only_sets_t_prev_and_learn_false_freezes():
    net = small_net()
    w_in = net.W_in.copy()
    net.run([[3.0], [], []], target(10))  # one spike per synapse: nothing to integrate yet
    assert np.array_equal(net.W_in, w_in)
    net2 = small_net()
    net2.run(inputs(), target(), learn=False)
    assert np.array_equal(net2.W_in, w_in) and np.array_equal(net2.W_out, small_net().W_out)


def test_optimize_each_step_false_agrees_for_gd():
    a = small_net(optimizer=GradientDescent(eta=1e-3, optimize_each_step=True))
    b = small_net(optimizer=GradientDescent(eta=1e-3, optimize_each_step=False))
    for _ in range(3):
        ra, rb = a.run(inputs(), target()), b.run(inputs(), target())
    assert np.abs(a.W_in - small_net().W_in).max() > 1e-6
    np.testing.assert_allclose(a.W_in, b.W_in, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a.W_out, b.W_out, rtol=1e-12, atol=1e-15)
    assert ra.loss == pytest.approx(rb.loss, rel=1e-12)


def test_event_cross_entropy_is_a_softmax():
    net = small_net(n_out=2, loss="cross_entropy")
    y = np.zeros((40, 2))
    y[:, 1] = 1.0
    res = net.run(inputs(), y)
    np.testing.assert_allclose(res.readout.sum(axis=1), 1.0, rtol=1e-15)
    expected = -np.log(res.readout[:, 1]).sum()
    assert res.loss == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(res.error, res.readout - y, rtol=1e-15)


def test_runs_continue_in_time():
    net = small_net()
    r1 = net.run(inputs(), target())
    r2 = net.run(inputs(), target())
    assert (r1.t_start, r2.t_start, net.t) == (0, 40, 80)
    assert r2.spike_steps.min() >= 40 if r2.spike_steps.size else True


def test_alif_adaptation_raises_threshold():
    adapt = EpropIAFAdapt(**LIF, adapt_beta=0.05, adapt_tau=100.0)
    net_a = small_net(rec=adapt)
    net_l = small_net()
    sa = net_a.run(inputs(), target(), learn=False).spike_ids.size
    sl = net_l.run(inputs(), target(), learn=False).spike_ids.size
    assert 0 < sa < sl


# ------------------------------------------------------------------ validation names the culprit
@pytest.mark.parametrize("kw,exc,msg", [
    ({"W_in": np.zeros((4, 2))}, NetworkError, r"W_in has shape \(4, 2\); expected \(n_rec, n_in\)"),
    ({"B": np.zeros((4, 2))}, NetworkError, r"B has shape \(4, 2\); expected \(n_rec, n_out\)"),
    ({"W_out": np.zeros((1, 5))}, NetworkError, r"W_out has shape \(1, 5\)"),
    ({"W_rec": np.ones((4, 4))}, NetworkError, r"W_rec\[0, 0\].*diagonal"),
    ({"dt": 0.0}, ParameterError, "dt must be positive"),
    ({"dt": -1.0}, ParameterError, "dt must be positive"),
    ({"loss": "hinge"}, ParameterError, "unknown loss 'hinge'"),
    ({"scheme": "bptt"}, ParameterError, "unknown scheme 'bptt'"),
    ({"loss": "cross_entropy"}, NetworkError, "cross_entropy.*2 readouts"),
    ({"feedback": "symmetric", "B": np.zeros((4, 1))}, NetworkError, "do not pass B"),
    ({"B": None}, NetworkError, "needs the feedback matrix B"),
    ({"W_in": np.full((4, 3), 200.0)}, NetworkError, r"W_in\[0, 0\] = 200.0 lies outside"),
    ({"update_interval": 10.0}, ParameterError, "update_interval applies to scheme='bsshslm_2020'"),
])
def test_network_validation(kw, exc, msg):
    args = {}
    if kw.get("feedback") == "symmetric":
        rng = np.random.default_rng(5)
        args = {"n_in": 3, "rec": EpropIAF(**LIF), "readout": EpropReadout(), "W_in": rng.normal(0, 0.01, (4, 3)),
                "W_rec": np.zeros((4, 4)), "W_out": np.zeros((1, 4))}
        args.update(kw)
        with pytest.raises(exc, match=msg):
            EpropNetwork(**args)
        return
    with pytest.raises(exc, match=msg):
        small_net(**kw)


@pytest.mark.parametrize("param", ["tau_m", "C_m"])
def test_model_time_constants_positive(param):
    with pytest.raises(ParameterError, match=f"'{param}' must be > 0"):
        EpropIAF(**{param: 0.0})
    with pytest.raises(ParameterError, match=f"'{param}' must be > 0"):
        EpropReadout(**{param: -1.0})


def test_run_validation():
    net = small_net()
    bad = target()
    bad[7, 0] = np.nan
    with pytest.raises(NetworkError, match=r"targets\[7, 0\] is nan"):
        net.run(inputs(), bad)
    with pytest.raises(NetworkError, match=r"targets have shape \(40, 2\); expected \(n_steps, 1\)"):
        net.run(inputs(), np.zeros((40, 2)))
    with pytest.raises(NetworkError, match="inputs has 2 spike trains; expected n_in = 3"):
        net.run(inputs()[:2], target())
    with pytest.raises(NetworkError, match="input 1 spike at 2.5 ms is off the dt"):
        net.run([[1.0], [2.5], []], target())
    with pytest.raises(NetworkError, match=r"input 0 spike at 40.0 ms lies outside \[0, 40.0\)"):
        net.run([[40.0], [], []], target())
    with pytest.raises(NetworkError, match=r"learning_window has shape \(3,\)"):
        net.run(inputs(), target(), learning_window=np.ones(3))
    with pytest.raises(NetworkError, match="pass targets or n_steps"):
        net.run(inputs())
    with pytest.raises(NetworkError, match="raster has 2 columns"):
        net.run(np.zeros((40, 2)), target())
