"""BTSP (Milstein et al. 2021, weight-dependent rule WD_D): kernel, reference peaks, exactness of the
event-driven integration, validation, bidirectional plasticity and the example.

Reference numbers (``../shared/specs/BTSP.md``): one-shot peak ΔW 1.85 W0 (lapwise) and 0.86 W0
(ode) on the authors' track. Measured here (``docs/btsp.md``): 1.816 / 0.851 for an isolated
traversal, 1.845 / 0.860 with the authors' previous lap; the continuous-time reference
(closed-form Gaussian ET, scipy quad/solve_ivp) agrees with the engine to 1e-5 at the 10 ms rate
grid and 1e-8 at 0.5 ms.
"""

import math
import os
import runpy

import numpy as np
import pytest

import spikeengine as se
from spikeengine.btsp import BTSP, BTSPState, plasticity_kernel

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "btsp_place_field.py")


# ---- (1) the plasticity kernel -------------------------------------------------------------------
@pytest.fixture(scope="module")
def kernel():
    off = np.arange(-6000.0, 6001.0, 200.0)
    return off, plasticity_kernel(BTSP(), off), plasticity_kernel(BTSP(mode="ode"), off)


def test_kernel_is_asymmetric_and_seconds_long(kernel):
    off, dw, dwo = kernel
    # potentiation > 0.1 W0 for inputs from 3 s before to 1 s after onset (measured minimum there:
    # 0.137 at -3 s; 0.176 at +1 s), in both modes above 0.09
    inside = (off >= -3000) & (off <= 1000)
    assert dw[inside].min() > 0.1 and dwo[inside].min() > 0.09
    # near zero beyond +-5 s (measured -0.0147 at -5 s, -1.5e-5 at +5 s)
    far = np.abs(off) >= 5000
    assert np.abs(dw[far]).max() < 0.02 and np.abs(dwo[far]).max() < 0.02
    # the peak precedes the onset (measured -250 ms lapwise, -300 ms ode on a 50 ms grid)
    assert -600 <= off[np.argmax(dw)] < 0 and -600 <= off[np.argmax(dwo)] < 0
    # asymmetric: 2 s before potentiates strongly, 2 s after slightly depresses
    assert dw[off == -2000][0] > 0.5 and -0.05 < dw[off == 2000][0] < 0
    assert dw[off < 0].sum() > 2.5 * dw[off > 0].sum()       # measured 3.2
    # seconds-long: full width at half maximum between 1.5 and 2.5 s (measured 2.0 s)
    half = off[dw > dw.max() / 2]
    assert 1500 <= half.max() - half.min() <= 2500


def test_strong_synapses_far_from_the_plateau_are_depressed():
    rule = BTSP()
    w_strong = 0.9 * (1 + rule.peak_delta_weight)
    off = np.array([-5000.0, -4500.0, 1500.0, 2500.0])
    dw = plasticity_kernel(rule, off, w_init=w_strong)
    # ET is small but > 0 there: q- (threshold 0.026) wins over q+ (threshold 0.415)
    assert np.all(dw < -0.05), dw
    # the same inputs from baseline change far less
    assert np.all(np.abs(plasticity_kernel(rule, off)) < np.abs(dw) / 4)
    # even an input at the plateau depresses a strong synapse: there I- (q- saturates at s > 0.1) is
    # about twice I+, and k- I- w > k+ I+ (1 - w) for w = 0.9 (measured -2.21 W0; the ODE's fixed
    # point at s = 1 is w = k+/(k+ + k-) = 0.72)
    assert -2.5 < plasticity_kernel(rule, [-250.0], w_init=w_strong)[0] < -1.5


# ---- (2) the reference one-shot peaks ------------------------------------------------------------
def test_one_shot_peak_lapwise_and_ode():
    off = np.arange(-400.0, -99.0, 50.0)          # the peaks: -250 ms lapwise, -300 ms ode
    lap = plasticity_kernel(BTSP(), off).max()
    ode = plasticity_kernel(BTSP(mode="ode"), off).max()
    assert 1.75 <= lap <= 1.95                        # measured 1.8158 (isolated traversal)
    # ode: about half (spec: 0.86); measured 0.8513, ratio 2.13
    assert 0.80 <= ode <= 0.90 and 2.0 <= lap / ode <= 2.3
    # the authors' track (one previous lap): spec 1.85 / 0.86, measured 1.8455 / 0.8604
    lap1 = plasticity_kernel(BTSP(), off, previous_laps=1).max()
    ode1 = plasticity_kernel(BTSP(mode="ode"), off, previous_laps=1).max()
    assert abs(lap1 - 1.85) < 0.02 and abs(ode1 - 0.86) < 0.01


def test_kernel_matches_continuous_time_reference():
    """Closed-form ET of a Gaussian field, IS of one plateau, scipy quad: the engine's rate grid is the
    only approximation (second order in dt)."""
    from scipy.integrate import quad
    from scipy.special import erfc

    rule = BTSP()
    sig = 90 / 3 / math.sqrt(2) / 25 * 1000
    c = -250.0
    a = sig / (2 * rule.tau_ET)

    def s(t):
        z = t - c
        et = sig * math.sqrt(math.pi) / (2 * rule.tau_ET) * math.exp(a * a - z / rule.tau_ET) * erfc(a - z / sig)
        T = rule.plateau_duration
        g = 1 / rule.IS_norm
        is_ = g * -math.expm1(-t / rule.tau_IS) if t < T else math.exp(-(t - T) / rule.tau_IS)
        return et / rule.ET_norm * is_

    t_end = rule.plateau_duration + rule.tau_IS * math.log(1 / rule.eps)
    kw = dict(points=[rule.plateau_duration], epsabs=1e-14, epsrel=1e-12, limit=400)
    ip = quad(lambda t: float(rule.q_pot(s(t))), 0, t_end, **kw)[0] / 1000
    im = quad(lambda t: float(rule.q_dep(s(t))), 0, t_end, **kw)[0] / 1000
    w = 1 / (1 + rule.peak_delta_weight)
    exact = (w + rule.k_pot * ip * (1 - w) - rule.k_dep * im * w - w) * (1 + rule.peak_delta_weight)
    assert abs(exact - 1.8158243) < 1e-6
    assert abs(plasticity_kernel(rule, [c], dt=10.0)[0] - exact) < 2e-5
    assert abs(plasticity_kernel(rule, [c], dt=1.0)[0] - exact) < 2e-7


# ---- (3) results do not depend on how the run is split -------------------------------------------
def _random_state(mode, seed=5):
    rng = np.random.default_rng(seed)
    n_pre, n_post, n_syn = 30, 4, 120
    w = rng.uniform(0.5, 4.0, n_syn)
    st = BTSPState(BTSP(mode=mode), n_pre, n_post, rng.integers(0, n_pre, n_syn), rng.integers(0, n_post, n_syn), w)
    spikes = np.sort(rng.uniform(0, 20000, 3000))
    st.add_pre_spikes(spikes, rng.integers(0, n_pre, 3000))
    grid = np.arange(0, 20000, 50.0)
    st.add_pre_rates(grid, rng.uniform(0, 40, (grid.size, 5)), ids=[0, 1, 2, 3, 4])
    # neuron 1's second plateau starts while its first is on (the windows split, the gate merges)
    st.add_plateaus([1000, 2500, 2650, 3000, 9000, 9100, 15000], [0, 1, 1, 0, 2, 3, 0],
                    [300, 300, 300, 800, 300, 300, 300])
    return st, w, spikes


@pytest.mark.parametrize("mode", ["lapwise", "ode"])
def test_advance_is_chunk_independent(mode):
    st1, w1, _ = _random_state(mode)
    st1.advance(25000.0)
    st2, w2, spikes = _random_state(mode)
    rng = np.random.default_rng(0)
    cuts = np.sort(np.r_[rng.uniform(0, 25000, 200), [1000, 2500, 2650, 3000, 3300, 9000, 9100], spikes[::97]])
    for c in cuts:                                # random points, event times and plateau edges
        st2.advance(c)
        st2.advance(c)                            # advancing to the current time is a no-op
    st2.advance(25000.0)
    assert np.max(np.abs(w1 - w2)) <= 1e-12       # measured: 0 lapwise, 5e-15 ode
    assert np.any(np.abs(w1 - _random_state(mode)[1]) > 0.01)   # and the weights did change
    c1, c2 = st1.counters, st2.counters
    for k in ("plateaus", "windows_closed", "synapse_visits", "synapse_updates", "et_increments", "rate_changes"):
        assert c1[k] == c2[k]
    if mode == "lapwise":                         # lapwise integrates the same pieces however split
        assert c1 == c2


def test_next_update_time_brackets_weight_changes():
    for mode in ("lapwise", "ode"):
        w = np.ones(2)
        st = BTSPState(BTSP(mode=mode), 2, 2, [0, 1], [0, 1], w)
        st.add_pre_spikes(np.arange(0.0, 1000.0, 25.0), np.zeros(40, dtype=int))
        st.add_plateaus([1000.0, 1500.0, 4000.0], [0, 1, 0])
        if mode == "ode":
            assert st.next_update_time() == 1000.0
            st.advance(1000.0)
            assert st.next_update_time() == 1000.0          # window open: weights change continuously
            continue
        t1 = st.next_update_time()
        assert t1 == 4000.0                                  # neuron 0's next onset closes its window
        st.advance(np.nextafter(t1, 0))
        assert np.all(w == 1.0)
        st.advance(t1)
        assert w[0] > 1.5 and w[1] == 1.0                    # input 1 never fired: unchanged
        # next: neuron 1's window, 6 tau_IS ln(10) after its plateau (IS peaks at 1 there)
        assert st.next_update_time() == pytest.approx(1800.0 + st.rule.tau_IS * math.log(1 / st.rule.eps))
        st.advance(20000.0)
        assert st.next_update_time() == math.inf and st.counters["windows_closed"] == 3


def test_overlapping_plateaus_merge_the_gate_and_split_the_window():
    rule = BTSP()
    w = np.ones(1)
    st = BTSPState(rule, 1, 1, [0], [0], w, record=True)
    st.add_pre_rates([0.0], [[20.0]])
    st.add_plateaus([1000.0, 1500.0], [0, 0], durations=[1000.0, 300.0])
    g, tau = 1 / rule.IS_norm, rule.tau_IS
    st.advance(1999.0)                              # gate on from 1000 to 2000 without a break
    assert st.instructive()[0] == pytest.approx(g * -math.expm1(-999.0 / tau), rel=1e-14)
    assert [u["time"] for u in st.updates] == [1500.0]       # the second onset closed the first window
    is_end = g * -math.expm1(-1000.0 / tau)
    assert st.next_update_time() == pytest.approx(2000.0 + tau * math.log(is_end / rule.eps), rel=1e-14)
    st.advance(2500.0)
    assert st.instructive()[0] == pytest.approx(is_end * math.exp(-500.0 / tau), rel=1e-14)
    st.advance(20000.0)
    assert len(st.updates) == 2 and st.counters["plateaus"] == 2 and w[0] > st.updates[0]["w_after"][0]


# ---- (4) quadrature against a brute-force trapezoid ---------------------------------------------
def test_window_integrals_match_fine_trapezoid():
    rule = BTSP(a_ET=0.05)
    spikes = {0: np.arange(0.0, 2400.0, 20.0), 1: np.array([1100.0, 1105.0, 1300.0, 2000.0, 3500.0])}
    times = np.concatenate(list(spikes.values()))
    ids = np.concatenate([np.full(v.size, k) for k, v in spikes.items()])
    order = np.argsort(times, kind="stable")
    st = BTSPState(rule, 2, 1, [0, 1], [0, 0], np.ones(2), record=True)
    st.add_pre_spikes(times[order], ids[order])
    onset, dur = 1000.0, 300.0
    st.add_plateaus([onset], [0])
    st.advance(20000.0)
    (rec,) = st.updates
    close = rec["time"]
    assert close == pytest.approx(onset + dur + rule.tau_IS * math.log(1 / rule.eps))

    g = 1 / rule.IS_norm
    is_end = g * -math.expm1(-dur / rule.tau_IS)
    # 5 us steps: the trapezoid's own error is 7e-11 here (it falls as h^2: 2.8e-12 at 1 us), so the
    # engine is checked to 1e-9 relative, beyond the 1e-7 asked for
    h = 5e-3

    for j, sp in spikes.items():
        edges = np.unique(np.r_[onset, onset + dur, sp[(sp > onset) & (sp < close)], close])
        ip = im = 0.0
        for a, b in zip(edges[:-1], edges[1:]):
            n = int(math.ceil((b - a) / h)) + 1
            t = np.linspace(a, b, n)
            et = rule.a_ET * np.exp(-(a - sp[sp <= a]) / rule.tau_ET).sum() * np.exp(-(t - a) / rule.tau_ET)
            is_ = np.where(t <= onset + dur, g * -np.expm1(-(t - onset) / rule.tau_IS),
                           is_end * np.exp(-(t - onset - dur) / rule.tau_IS))
            s = et * is_
            ip += np.trapezoid(rule.q_pot(s), t) / 1000
            im += np.trapezoid(rule.q_dep(s), t) / 1000
        assert rec["I_pot"][j] == pytest.approx(ip, rel=1e-9, abs=0)
        assert rec["I_dep"][j] == pytest.approx(im, rel=1e-9, abs=0)
    # the update applied is the authors' formula
    wmax = rule.Wmax
    w = 1 / wmax
    expect = np.clip(w + rule.k_pot * rec["I_pot"] * (1 - w) - rule.k_dep * rec["I_dep"] * w, 0, 1) * wmax
    assert np.allclose(rec["w_after"], expect, rtol=1e-15) and np.all(rec["w_before"] == 1.0)
    c = st.counters
    assert (c["plateaus"], c["synapse_visits"], c["synapse_updates"], c["et_increments"]) == (1, 2, 2, 125)
    # every evaluated subinterval is accepted or split in two: 15 nodes x (2 accepted - pieces)
    assert c["quad_evals"] == 15 * (2 * c["quad_intervals"] - c["pieces"])


# ---- (5) ode mode: exact propagator, bounds, convergence -----------------------------------------
def test_ode_matches_solve_ivp():
    from scipy.integrate import solve_ivp

    rule = BTSP(mode="ode", a_ET=0.1)
    sp = np.arange(0.0, 2000.0, 40.0)
    onset, dur = 1000.0, 300.0
    check = [1200.0, 1650.0, 5000.0]
    w = np.ones(1)
    st = BTSPState(rule, 1, 1, [0], [0], w)
    st.add_pre_spikes(sp, np.zeros(sp.size, dtype=int))
    st.add_plateaus([onset], [0])
    got = []
    for t in check:
        st.advance(t)
        got.append(w[0] / rule.Wmax)

    g = 1 / rule.IS_norm
    is_end = g * -math.expm1(-dur / rule.tau_IS)

    def rhs(t, y):
        et = rule.a_ET * np.exp(-(t - sp[sp <= t]) / rule.tau_ET).sum()
        is_ = g * -math.expm1(-(t - onset) / rule.tau_IS) if t <= onset + dur else \
            is_end * math.exp(-(t - onset - dur) / rule.tau_IS)
        s = et * is_
        return [1e-3 * (rule.k_pot * float(rule.q_pot(s)) * (1 - y[0]) - rule.k_dep * float(rule.q_dep(s)) * y[0])]

    edges = np.unique(np.r_[onset, onset + dur, sp[sp > onset], check])
    y = 1 / (1 + rule.peak_delta_weight)
    ref = {}
    for a, b in zip(edges[:-1], edges[1:]):       # piecewise: ET jumps at spikes, IS kinks at the plateau end
        y = solve_ivp(rhs, (a, b), [y], method="DOP853", rtol=1e-10, atol=1e-13).y[0, -1]
        ref[b] = y
    for t, v in zip(check, got):
        assert abs(v - ref[t]) < 1e-9, (t, v, ref[t])
    assert got[-1] > got[0] > 1 / (1 + rule.peak_delta_weight)


@pytest.mark.parametrize("w_start", [0.0, 1.0])
def test_ode_stays_in_bounds_and_converges(w_start):
    # a long plateau on a constant rate input: ET and IS converge, then w to the fixed point
    # k+ q+ / (k+ q+ + k- q-) of the ODE at s = ET_inf * IS_inf
    rule = BTSP(mode="ode")
    w = np.array([w_start * rule.Wmax])
    st = BTSPState(rule, 1, 1, [0], [0], w)
    st.add_pre_rates([0.0], [[20.0]])
    st.add_plateaus([30000.0], [0], durations=[40000.0])
    ts = np.linspace(30000.0, 70000.0, 41)
    for t in ts:
        st.advance(t)
        assert 0.0 <= w[0] <= rule.Wmax
    s = 20.0 / rule.rate_peak / rule.ET_norm / rule.IS_norm
    a, b = rule.k_pot * rule.q_pot(s), rule.k_dep * rule.q_dep(s)
    assert abs(w[0] / rule.Wmax - a / (a + b)) < 1e-9
    # saturating input (s >> 1) from the bounds keeps w in [0, Wmax] in both modes
    for mode in ("ode", "lapwise"):
        w = np.array([w_start * rule.Wmax])
        st = BTSPState(BTSP(mode=mode, a_ET=2.0), 1, 1, [0], [0], w)
        st.add_pre_spikes(np.arange(0.0, 3000.0, 5.0), np.zeros(600, dtype=int))
        st.add_plateaus([500.0], [0], durations=[2000.0])
        for t in np.linspace(0, 12000, 25):
            st.advance(t)
            assert 0.0 <= w[0] <= BTSP().Wmax


# ---- (6) validation ------------------------------------------------------------------------------
@pytest.mark.parametrize("kw, words", [
    (dict(tau_ET=0.0), ["tau_ET", "0.0"]), (dict(tau_IS=-5.0), ["tau_IS", "-5.0"]),
    (dict(k_pot=-0.1), ["k_pot", "-0.1"]), (dict(k_dep=float("nan")), ["k_dep", "nan"]),
    (dict(f_pot_half_width=0.0), ["f_pot_half_width"]), (dict(f_dep_half_width=-1.0), ["f_dep_half_width"]),
    (dict(peak_delta_weight=0.0), ["peak_delta_weight"]), (dict(mode="euler"), ["mode", "euler"]),
    (dict(plateau_duration=-300.0), ["plateau_duration"]), (dict(w0=0.0), ["w0"]),
    (dict(a_ET=-1.0), ["a_ET"]), (dict(ET_norm=0.0), ["ET_norm"]), (dict(IS_norm=-1.0), ["IS_norm"]),
    (dict(eps=1.5), ["eps", "1.5"]), (dict(rate_peak=0.0), ["rate_peak"]), (dict(tau_ET="slow"), ["tau_ET"]),
    (dict(quad_rtol=0.1), ["quad_rtol"]), (dict(f_pot_th=float("inf")), ["f_pot_th"]),
])
def test_rule_parameters_are_validated(kw, words):
    with pytest.raises(se.ParameterError) as err:
        BTSP(**kw)
    for w in words:
        assert w in str(err.value)


def test_state_inputs_are_validated():
    rule = BTSP()
    with pytest.raises(se.NetworkError, match=r"sources\[1\] = 5 is outside \[0, n_pre=2\)"):
        BTSPState(rule, 2, 1, [0, 5], [0, 0], np.ones(2))
    with pytest.raises(se.NetworkError, match="float64"):
        BTSPState(rule, 2, 1, [0, 1], [0, 0], np.ones(2, dtype=np.float32))
    with pytest.raises(se.NetworkError, match="synapse 1 is 5.0"):
        BTSPState(rule, 2, 1, [0, 1], [0, 0], np.array([1.0, 5.0]))
    st = BTSPState(rule, 2, 3, [0, 1], [0, 2], np.ones(2))
    with pytest.raises(se.ParameterError, match=r"post neuron 2 must increase: 100.0 ms \(times\[2\]\) is not after "
                                                r"400.0 ms"):
        st.add_plateaus([400.0, 50.0, 100.0], [2, 0, 2])
    with pytest.raises(se.ParameterError, match=r"onset -1.0 ms of post neuron 1 \(times\[0\]\) is negative"):
        st.add_plateaus([-1.0], [1])
    with pytest.raises(se.ParameterError, match=r"ids\[0\] = 3 is not a postsynaptic neuron index"):
        st.add_plateaus([1.0], [3])
    with pytest.raises(se.ParameterError, match=r"durations\[0\] = 0.0 ms \(post neuron 1\)"):
        st.add_plateaus([1.0], [1], durations=0.0)
    with pytest.raises(se.ParameterError, match=r"times must be sorted: times\[1\] = 1.0 ms follows 2.0 ms"):
        st.add_pre_spikes([2.0, 1.0], [0, 1])
    with pytest.raises(se.ParameterError, match=r"rates\[1, 0\] = -1.0 Hz \(neuron 1\)"):
        st.add_pre_rates([0.0, 1.0], [[1.0], [-1.0]], ids=[1])
    with pytest.raises(se.ParameterError, match="expected"):
        st.add_pre_rates([0.0, 1.0], np.ones((2, 3)))
    st.add_plateaus([10.0], [1])                      # a neuron without synapses: fine
    st.advance(100.0)
    with pytest.raises(se.ParameterError, match="t = 50.0 ms is earlier than the state's current time 100.0 ms"):
        st.advance(50.0)
    with pytest.raises(se.ParameterError, match=r"times\[0\] = 99.0 ms is earlier"):
        st.add_pre_spikes([99.0], [0])
    with pytest.raises(se.ParameterError, match="onset 50.0 ms of post neuron 0"):
        st.add_plateaus([50.0], [0])
    with pytest.raises(se.ParameterError, match=r"ids\[0\] = 2 is not a presynaptic neuron index"):
        st.add_pre_spikes([200.0], [2])
    with pytest.raises(se.ParameterError, match=r"previous_laps"):
        plasticity_kernel(rule, [0.0], previous_laps=-1)
    with pytest.raises(se.ParameterError, match=r"w_init"):
        plasticity_kernel(rule, [0.0], w_init=10.0)


# ---- (7) bidirectional plasticity: a second plateau moves the field -----------------------------
def test_second_plateau_shifts_the_field():
    track, speed, n = 187.0, 25.0, 60
    lap = track / speed * 1000
    centres = (np.arange(n) + 0.5) * track / n
    grid = np.arange(0.0, 5 * lap, 10.0)
    x = ((grid + 5.0) * speed / 1000) % track
    d = (x[:, None] - centres[None, :] + track / 2) % track - track / 2
    rates = 40.0 * np.exp(-((d / (90 / 3 / math.sqrt(2))) ** 2))
    rule = BTSP()
    w = np.ones(n)
    st = BTSPState(rule, n, 1, np.arange(n), np.zeros(n, dtype=int), w, record=True)
    st.add_pre_rates(grid, rates)
    st.add_plateaus([lap + 120 / speed * 1000, 3 * lap + 45 / speed * 1000], [0, 0])
    st.advance(5 * lap)
    first, second = st.updates
    w1, w2 = first["w_after"], second["w_after"]
    assert np.all(w1 == second["w_before"])
    near_old, near_new = np.abs(centres - 115) < 12, np.abs(centres - 40) < 12
    # one shot: a field just before 120 cm (measured peak W 2.84 at 113 cm)
    assert 105 <= centres[np.argmax(w1)] <= 120 and 2.7 <= w1.max() <= 2.95
    # the second plateau depresses the old field and potentiates around the new position
    assert np.all(w2[near_old] < w1[near_old] - 0.2)
    assert np.all(w2[near_new] > w1[near_new] + 0.8)
    assert 30 <= centres[np.argmax(w2)] <= 45


# ---- the example ---------------------------------------------------------------------------------
def test_example_place_field(capsys, tmp_path):
    main = runpy.run_path(EXAMPLE, run_name="example")["main"]
    out = main(["--rates"])
    text = capsys.readouterr().out
    assert "one-shot place field" in text and "plateau at 45 cm" in text
    r = out["rows"]
    assert abs(out["one_shot_peak"] - 1.845) < 0.01              # the track reference (spec 1.85)
    assert 105 <= r[1]["peak_at"] <= 120 and 30 <= r[2]["peak_at"] <= 45
    assert r[2]["w120"] < r[1]["w120"] and r[2]["w45"] > r[1]["w45"] + 1.0
    out = main(["--seed", "1"])                                 # spiking inputs, through the network
    r = out["rows"]
    assert out["counters"]["spikes"] > 20000
    assert 1.5 <= r[1]["peak_smooth"] - 1.0 <= 2.2 and 30 <= r[2]["peak_at"] <= 60


def test_doc_example_runs(capsys):
    import re

    text = open(os.path.join(os.path.dirname(__file__), "..", "docs", "btsp.md"), encoding="utf-8").read()
    ns = {}
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    exec(compile(blocks[0], "docs/btsp.md", "exec"), ns)           # the network example
    assert ns["proj"].weights.max() > 1.5 * 0.6
    capsys.readouterr()
    ns = {}
    exec(compile(blocks[1], "docs/btsp.md", "exec"), ns)           # the state driven directly
    assert capsys.readouterr().out.startswith("11137.467")
    assert ns["st"].counters["synapse_updates"] == 100 and ns["dw"].max() > 1.8
