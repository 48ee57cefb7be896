"""The no-crossing bound of exponential-current neurons (``safe_until``): never after a real crossing.

The window flush leaves a ``KIND_LIF_EXP`` row alone, and a delivery skips the crossing search,
while the row's bound lies ahead; a bound past a threshold crossing would lose or delay a spike.
"""

import numpy as np
import pytest

from spikeengine import dtypes as dt
from spikeengine.backends import python as ref
from spikeengine.models import LIFExp


def _rows(rng, n):
    tau_m = rng.uniform(5.0, 30.0, n)
    # synaptic time constants on both sides of tau_m (the bump of a current changes sign with tau_k - tau_m)
    tau_ex = tau_m * rng.choice([0.1, 0.25, 0.6, 1.7, 3.0], n)
    tau_in = tau_m * rng.choice([0.2, 0.5, 1.4, 2.5], n)
    model = LIFExp(tau_m=tau_m, C_m=rng.uniform(50.0, 300.0, n), E_L=-65.0, V_th=-50.0, V_reset=-65.0,
                   I_e=rng.uniform(0.0, 500.0, n), tau_syn_ex=tau_ex, tau_syn_in=tau_in, t_ref=2.0)
    P = np.zeros((n, dt.NP))
    S = np.zeros((n, dt.NS))
    model.fill(P, S, np.arange(n))
    S[:, dt.S_V] = rng.uniform(-80.0, -50.0, n)
    S[:, dt.S_IEX] = rng.exponential(300.0, n) * (rng.random(n) < 0.8)
    S[:, dt.S_IIN] = -rng.exponential(600.0, n) * (rng.random(n) < 0.8)
    S[:, dt.S_T] = 3.0
    S[:, dt.S_REF] = 0.0
    S[:, dt.S_TK] = np.inf
    return P, S


def _v(P, S, j, s, v=None, iex=None, iin=None):
    """V(S_T + s) in closed form (the same terms as first_crossing), from the row or from (v, iex, iin)."""
    vinf = P[j, dt.P_V_INF]
    v = S[j, dt.S_V] if v is None else v
    cex = P[j, dt.P_K_EX] * (S[j, dt.S_IEX] if iex is None else iex)
    cin = P[j, dt.P_K_IN] * (S[j, dt.S_IIN] if iin is None else iin)
    cm = v - vinf - cex - cin
    return (vinf + cm * np.exp(-s / P[j, dt.P_TAU_M]) + cex * np.exp(-s / P[j, dt.P_TAU_EX])
            + cin * np.exp(-s / P[j, dt.P_TAU_IN]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bound_never_passes_a_crossing(seed):
    rng = np.random.default_rng(seed)
    P, S = _rows(rng, 400)
    bounded = crossing = spent = 0
    budget = np.zeros(400)
    for j in range(400):
        safe = ref.safe_until(dt.KIND_LIF_EXP, P, S, j, budget)
        t0 = S[j, dt.S_T]
        assert budget[j] >= 0.0
        assert safe >= t0
        if safe > t0:
            bounded += 1
        # the exact first crossing over a long horizon, from the reference's own search
        D = 20.0 * max(P[j, dt.P_TAU_M], P[j, dt.P_TAU_EX], P[j, dt.P_TAU_IN])
        dc = np.full(10, -1.0)
        S[j, dt.S_X] = S[j, dt.S_XE] = S[j, dt.S_XI] = 1.0  # decay factors for the epoch T0 = S_T
        sx = ref.first_crossing(dt.KIND_LIF_EXP, P, S, j, D, t0 + D, t0, dc)
        if sx >= 0.0:
            crossing += 1
            assert t0 + sx >= safe, (j, sx, safe - t0)
        # and V stays below threshold on a fine grid up to the bound
        s = np.linspace(0.0, min(safe - t0, D), 2001)
        assert np.all(_v(P, S, j, s) < P[j, dt.P_V_TH]) or safe == t0
        # even with the whole input budget spent at once, at a random time before the bound
        if safe > t0 and budget[j] > 0.0:
            spent += 1
            t_in = rng.uniform(0.0, min(safe - t0, D))
            v1 = _v(P, S, j, t_in)
            iex = S[j, dt.S_IEX] * np.exp(-t_in / P[j, dt.P_TAU_EX]) + budget[j] / P[j, dt.P_KG_EX]
            iin = S[j, dt.S_IIN] * np.exp(-t_in / P[j, dt.P_TAU_IN])
            s = np.linspace(0.0, min(safe - t0, D) - t_in, 2001)
            assert np.all(_v(P, S, j, s, v1, iex, iin) < P[j, dt.P_V_TH]), (j, t_in, budget[j])
    # the test means something: many rows get a bound, many cross later
    assert bounded > 100 and crossing > 50 and spent > 50, (bounded, crossing, spent)


def test_bound_is_tight_without_currents():
    # no synaptic current: the bound is the exact crossing time up to the margin and log_below's 4 %
    P, S = _rows(np.random.default_rng(5), 1)
    S[0, dt.S_IEX] = S[0, dt.S_IIN] = 0.0
    S[0, dt.S_V] = -70.0
    P[0, dt.P_V_INF] = -45.0  # drift above threshold (-50)
    exact = P[0, dt.P_TAU_M] * np.log((-45.0 + 70.0) / (-45.0 + 50.0))
    budget = np.zeros(1)
    safe = ref.safe_until(dt.KIND_LIF_EXP, P, S, 0, budget) - S[0, dt.S_T]
    # the budget B is a quarter of the headroom: the bound is where V reaches V_th - B
    B = budget[0]
    assert B > 0.0
    exact_b = P[0, dt.P_TAU_M] * np.log((-45.0 + 70.0) / (-45.0 + 50.0 + B))
    assert 0.96 * exact_b < safe < exact_b < exact


def test_refractory_and_kick_cap_the_bound():
    P, S = _rows(np.random.default_rng(6), 1)
    S[0, dt.S_IEX] = 0.0
    S[0, dt.S_V] = -75.0
    S[0, dt.S_REF] = 4.5
    budget = np.zeros(1)
    assert ref.safe_until(dt.KIND_LIF_EXP, P, S, 0, budget) == 4.5
    assert budget[0] == np.inf  # refractory: no input can bring a spike before the period ends
    S[0, dt.S_REF] = 0.0
    S[0, dt.S_TK] = 3.25
    assert ref.safe_until(dt.KIND_LIF_EXP, P, S, 0, budget) == 3.25
    assert ref.safe_until(dt.KIND_LIF, P, S, 0, budget) == -np.inf


def test_log_below_is_a_lower_bound_within_four_percent():
    x = np.concatenate([1.0 + np.logspace(-15, 0, 3000), np.logspace(0.001, 300, 6000)])
    lo = np.array([ref.log_below(v) for v in x])
    ln = np.log(x)
    assert np.all(lo <= ln)
    big = ln > 1e-3
    assert np.all(lo[big] >= 0.96 * ln[big])
