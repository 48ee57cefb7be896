"""The reference implementation of the event loop: the specification of the semantics.

Everything here is plain Python over NumPy arrays, written so that the very same
functions compile under Numba (:mod:`spikeengine.backends.numba` jit-compiles
these functions' code objects) and translate line by line into the Cython kernels
(``kernels/engine.pyx``). Read this file to know what the engine does.

Semantics (see ``docs/engine.md`` for the prose version)
--------------------------------------------------------
* Time is continuous (float64, ms). A neuron's state is advanced in closed form
  only when something reaches it, from the time its row was last valid.
* A spike of neuron ``i`` at ``t`` becomes one heap entry per distinct outgoing
  delay ``d`` (a CSR *group*), keyed ``(t + d, group index)``. Groups are sorted
  by source, then delay, so the heap order is the total order
  ``(arrival time, source id, delay)``.
* The run is cut into windows of at most the minimum delay ``d_min`` of the
  projections leaving spiking neurons. Nothing emitted inside a window can arrive
  inside it, so within a window every neuron is independent. Neurons that can
  reach threshold between inputs (drive, currents, adaptation, Poisson input) are
  advanced to the window end ("flush"); a threshold crossing between events is
  found exactly when the neuron is advanced and its spike is emitted at the
  crossing time, which is exact because its arrivals lie beyond the window.
* All inputs arriving at one neuron at the same instant are summed before the
  threshold test (as NEST's precise models do).
* Refractory period ``[t_spike, t_spike + t_ref)``: delta inputs arriving inside it
  are dropped, an input arriving exactly at its end is accepted; V is clamped at
  V_reset; exponential synaptic currents keep decaying and receiving input.
* At most one spike per neuron per instant.
* State samples at ``t`` are the left limit: the state just before events at ``t``.
* Energy counters (switched off by zero-length ``nupd``/``g_cnt`` and ``ebin[0] == 0``):
  ``nupd[j]`` counts the closed-form advances of neuron ``j`` (``ctr[C_UPD]`` their sum),
  ``g_cnt[g]`` the deliveries of group ``g`` (so the synaptic operations of any subset
  of synapses follow exactly), ``ctr[C_KICK]`` the Poisson-drive kicks, and
  ``act[k, npop[j]]`` the neurons of column ``npop[j]`` that spiked at least once in
  bin ``[k w, (k + 1) w)`` (w = ``ebin[0]``, k offset by ``ebin[1]``; a spike within
  1e-9 bin widths below an edge counts in the next bin, which absorbs the rounding of
  grid-aligned times).
"""

import math

import numpy as np

from ..dtypes import (
    C_HEAP,
    C_KICK,
    C_OUT,
    C_SMP,
    C_SPK,
    C_SRC,
    C_SYNEV,
    C_SYNEV_REC,
    C_TRACE,
    C_UPD,
    C_WREC,
    C_WUPD,
    G_DIDX,
    G_HAS,
    G_KP,
    G_N,
    G_R2,
    G_TLAST,
    H_KM,
    H_KT,
    H_T,
    KIND_IF,
    KIND_LIF,
    KIND_LIF_EXP,
    KIND_PARROT,
    KIND_POISSON,
    KIND_SOURCE,
    NH,
    P_BETA,
    P_G_EX,
    P_G_IN,
    P_K_EX,
    P_K_IN,
    P_KG_EX,
    P_RATE,
    P_RESET_SUB,
    P_SLOPE,
    P_T_REF,
    P_TAU_A,
    P_TAU_EX,
    P_TAU_IN,
    P_TAU_M,
    P_TMINV,
    P_TTINV,
    P_V_INF,
    P_V_MIN,
    P_V_RESET,
    P_V_TH,
    R_ALPHA,
    R_AMINUS,
    R_AMINUS3,
    R_APLUS,
    R_APLUS3,
    R_B,
    R_DDEN,
    R_LAMBDA,
    R_MU_MINUS,
    R_MU_PLUS,
    R_REC,
    R_TAU_C,
    R_TAU_N,
    R_TAU_PLUS,
    R_TAU_X,
    R_TMINV,
    R_TYPE,
    R_VT,
    R_WMAX,
    R_WMIN,
    RULE_DOPA,
    RULE_NN_PRE,
    RULE_NN_RESTR,
    RULE_NN_SYMM,
    RULE_STDP,
    RULE_TRIPLET,
    S_A,
    S_IEX,
    S_IIN,
    S_REF,
    S_T,
    S_TK,
    S_V,
    S_X,
    S_XE,
    S_XI,
    STDP_EPS,
)

INF = math.inf
#: width below which a bracketed threshold crossing is refined by Newton/bisection
BRACKET = 1e-4
#: width below which a touching (tangent) trajectory is treated as not crossing
TANGENT = 1e-12
#: absolute tolerance on crossing times (ms)
XTOL = 1e-13

# splitmix64 constants (the per-stream random generator)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO_M53 = 1.0 / 9007199254740992.0


def uniform(rng, k):
    """Next uniform double in [0, 1) of stream ``k`` (splitmix64, 53-bit mantissa)."""
    x = rng[k] + _GOLDEN
    rng[k] = x
    z = (x ^ (x >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    z = z ^ (z >> _S31)
    return float(z >> _S11) * _TWO_M53


def exp_interval(rng, k, rate):
    """Exponential waiting time (ms) of a Poisson stream of ``rate`` (1/ms)."""
    return -math.log(1.0 - uniform(rng, k)) / rate


# --------------------------------------------------------------------------- heap
def heap_push(h_t, h_g, ctr, t, g):
    """Insert ``(t, g)`` into the binary min-heap (the caller guarantees room)."""
    n = ctr[C_HEAP]
    i = n
    while i > 0:
        p = (i - 1) >> 1
        pt = h_t[p]
        pg = h_g[p]
        if pt < t or (pt == t and pg < g):
            break
        h_t[i] = pt
        h_g[i] = pg
        i = p
    h_t[i] = t
    h_g[i] = g
    ctr[C_HEAP] = n + 1


def heap_pop(h_t, h_g, ctr):
    """Remove the smallest entry (read it at index 0 before calling)."""
    n = ctr[C_HEAP] - 1
    ctr[C_HEAP] = n
    if n == 0:
        return
    t = h_t[n]
    g = h_g[n]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and (h_t[c + 1] < h_t[c] or (h_t[c + 1] == h_t[c] and h_g[c + 1] < h_g[c])):
            c += 1
        if t < h_t[c] or (t == h_t[c] and g < h_g[c]):
            break
        h_t[i] = h_t[c]
        h_g[i] = h_g[c]
        i = c
    h_t[i] = t
    h_g[i] = g


# ---------------------------------------------------------------- neuron algebra
def threshold(P, S, j):
    """Current firing threshold of neuron ``j`` (V_th + beta * a)."""
    return P[j, P_V_TH] + P[j, P_BETA] * S[j, S_A]


def xfac(kind, P, j, t, T0):
    """Decay-epoch factor ``exp((t - T0) / tau_m)`` of a ``KIND_LIF`` neuron (1.0 for other kinds).

    A LIF row stores ``S_X = xfac(S_T)``; advancing it to ``t`` multiplies ``V - V_inf``
    by ``S_X / xfac(t)``. All targets of a spike share ``xfac(t)``, so a delivery costs
    a division instead of an ``exp``.
    """
    if kind == KIND_LIF:
        return math.exp((t - T0) / P[j, P_TAU_M])
    return 1.0


def decays(P, S, j, t1, T0, dc):
    """Fill ``dc[0:3]`` with the decay factors of ``KIND_LIF_EXP`` row ``j`` from ``S_T`` to ``t1``.

    The row holds ``x_k(S_T)`` with ``x_k(t) = exp((t - T0) / tau_k)`` for tau_m, tau_syn_ex
    and tau_syn_in (``S_X``, ``S_XE``, ``S_XI``); the factors are ``x_k(S_T) / x_k(t1)``.
    ``dc[7:10]`` hold ``x_k(t1)`` for the key ``dc[3:7]`` = (t1, tau_m, tau_ex, tau_in), so
    all neurons advanced to the same instant with the same time constants (the targets of a
    delivery, every neuron at a window flush) share them: three divisions, no ``exp``.
    The caller invalidates the key when ``T0`` changes.
    """
    tm = P[j, P_TAU_M]
    te = P[j, P_TAU_EX]
    ti = P[j, P_TAU_IN]
    if not (t1 == dc[3] and tm == dc[4] and te == dc[5] and ti == dc[6]):
        dc[7] = math.exp((t1 - T0) / tm)
        dc[8] = math.exp((t1 - T0) / te)
        dc[9] = math.exp((t1 - T0) / ti)
        dc[3] = t1
        dc[4] = tm
        dc[5] = te
        dc[6] = ti
    dc[0] = S[j, S_X] / dc[7]
    dc[1] = S[j, S_XE] / dc[8]
    dc[2] = S[j, S_XI] / dc[9]


def evolve(kind, P, S, j, dt, x, t1, T0, dc):
    """Advance row ``j`` by ``dt`` ms (to ``t1``) of free (non-refractory, input-free) dynamics.

    ``x`` is :func:`xfac` at the new time (used by ``KIND_LIF`` only); ``dc`` the
    :func:`decays` cache (``KIND_LIF_EXP``).
    """
    if kind == KIND_LIF_EXP:
        vinf = P[j, P_V_INF]
        cex = P[j, P_K_EX] * S[j, S_IEX]
        cin = P[j, P_K_IN] * S[j, S_IIN]
        decays(P, S, j, t1, T0, dc)
        eex = dc[1]
        ein = dc[2]
        S[j, S_V] = vinf + (S[j, S_V] - vinf - cex - cin) * dc[0] + cex * eex + cin * ein
        S[j, S_IEX] = S[j, S_IEX] * eex
        S[j, S_IIN] = S[j, S_IIN] * ein
        S[j, S_X] = dc[7]
        S[j, S_XE] = dc[8]
        S[j, S_XI] = dc[9]
    elif kind == KIND_LIF:
        vinf = P[j, P_V_INF]
        S[j, S_V] = vinf + (S[j, S_V] - vinf) * (S[j, S_X] / x)
        S[j, S_X] = x
    elif kind == KIND_IF:
        S[j, S_V] = S[j, S_V] + P[j, P_SLOPE] * dt
    if S[j, S_A] != 0.0:
        S[j, S_A] = S[j, S_A] * math.exp(-dt / P[j, P_TAU_A])


def evolve_refractory(kind, P, S, j, dt, x, t1, T0, dc):
    """Advance row ``j`` by ``dt`` ms (to ``t1``) inside the refractory period (V clamped)."""
    if kind == KIND_LIF:
        S[j, S_X] = x
    elif kind == KIND_LIF_EXP:
        decays(P, S, j, t1, T0, dc)
        S[j, S_IEX] = S[j, S_IEX] * dc[1]
        S[j, S_IIN] = S[j, S_IIN] * dc[2]
        S[j, S_X] = dc[7]
        S[j, S_XE] = dc[8]
        S[j, S_XI] = dc[9]
    if S[j, S_A] != 0.0:
        S[j, S_A] = S[j, S_A] * math.exp(-dt / P[j, P_TAU_A])


def _ex(c, s, tau):
    """exp(-s/tau), or 0.0 when the term's coefficient ``c`` is zero (its exp is not needed)."""
    if c == 0.0:
        return 0.0
    return math.exp(-s / tau)


def _fval(c0, cl, cm, tm, ce, te, ci, ti, ca, ta, s):
    return c0 + cl * s + cm * _ex(cm, s, tm) + ce * _ex(ce, s, te) + ci * _ex(ci, s, ti) + ca * _ex(ca, s, ta)


def _fder(cl, cm, tm, ce, te, ci, ti, ca, ta, s):
    return (cl - cm / tm * _ex(cm, s, tm) - ce / te * _ex(ce, s, te) - ci / ti * _ex(ci, s, ti)
            - ca / ta * _ex(ca, s, ta))


def _refine(c0, cl, cm, tm, ce, te, ci, ti, ca, ta, a, b):
    """Root of f in (a, b] with f(a) < 0 <= f(b): safeguarded Newton (rtsafe).

    Returns the right end of a bracket narrower than ``XTOL * (1 + b)``, i.e. the
    first representable time at which the threshold is reached.
    """
    x = b
    for _ in range(100):
        fx = _fval(c0, cl, cm, tm, ce, te, ci, ti, ca, ta, x)
        if fx >= 0.0:
            b = x
        else:
            a = x
        tol = XTOL * (1.0 + b)
        if b - a <= tol:
            break
        d = _fder(cl, cm, tm, ce, te, ci, ti, ca, ta, x)
        xn = 0.5 * (a + b)
        if d > 0.0:
            xn = x - fx / d
        if abs(xn - x) < tol:
            if fx >= 0.0:
                xn = x - tol
            else:
                xn = x + tol
        if not (xn > a and xn < b):
            xn = 0.5 * (a + b)
        x = xn
    return b


def crossing_generic(c0, cl, cm, tm, ce, te, ci, ti, ca, ta, D, dm, de, di):
    """First s in (0, D] where f(s) = c0 + cl s + sum_k c_k exp(-s/tau_k) reaches 0.

    Branch and bound: each term is monotone, so its extreme values on [a, b] lie at
    the ends; intervals whose upper bound is negative are skipped, the others are
    halved until the first crossing is bracketed, then refined. Returns -1 when
    f stays below 0 on (0, D] (up to tangencies narrower than ``TANGENT``).
    ``dm, de, di`` are exp(-D/tm), exp(-D/te), exp(-D/ti) when the caller has them
    (negative: compute); terms with a zero coefficient cost no ``exp``.
    """
    if c0 + cm + ce + ci + ca >= 0.0:
        return -1.0
    a = 0.0
    ema = 1.0
    eea = 1.0
    eia = 1.0
    eaa = 1.0
    h = D
    while a < D:
        b = a + h
        if b > D:
            b = D
        if b == D and dm >= 0.0:
            emb = dm if cm != 0.0 else 0.0
            eeb = de if ce != 0.0 else 0.0
            eib = di if ci != 0.0 else 0.0
        else:
            emb = _ex(cm, b, tm)
            eeb = _ex(ce, b, te)
            eib = _ex(ci, b, ti)
        eab = _ex(ca, b, ta)
        ub = c0 + max(cl * a, cl * b) + max(cm * ema, cm * emb) + max(ce * eea, ce * eeb)
        ub += max(ci * eia, ci * eib) + max(ca * eaa, ca * eab)
        if ub < 0.0:
            a = b
            ema = emb
            eea = eeb
            eia = eib
            eaa = eab
            h = 2.0 * h
            continue
        fb = c0 + cl * b + cm * emb + ce * eeb + ci * eib + ca * eab
        if fb >= 0.0:
            # lower bound of f' on [a, b]: f monotone there -> single root
            lb = cl + min(-cm / tm * ema, -cm / tm * emb) + min(-ce / te * eea, -ce / te * eeb)
            lb += min(-ci / ti * eia, -ci / ti * eib) + min(-ca / ta * eaa, -ca / ta * eab)
            if lb > 0.0 or b - a <= BRACKET:
                return _refine(c0, cl, cm, tm, ce, te, ci, ti, ca, ta, a, b)
        elif b - a <= TANGENT:
            a = b
            ema = emb
            eea = eeb
            eia = eib
            eaa = eab
            continue
        h = 0.5 * (b - a)
    return -1.0


def first_crossing(kind, P, S, j, D, t1, T0, dc):
    """Time s in (0, D] at which neuron ``j`` (free dynamics) first reaches threshold, or -1."""
    vth = P[j, P_V_TH]
    if vth == INF:
        return -1.0
    v = S[j, S_V]
    adapt = P[j, P_BETA] * S[j, S_A]
    if kind == KIND_LIF:
        vinf = P[j, P_V_INF]
        if adapt == 0.0:
            if vinf <= vth or v >= vth:
                return -1.0
            s = P[j, P_TAU_M] * math.log((vinf - v) / (vinf - vth))
            if s <= D:
                return s
            return -1.0
        return crossing_generic(vinf - vth, 0.0, v - vinf, P[j, P_TAU_M], 0.0, 1.0, 0.0, 1.0,
                                -adapt, P[j, P_TAU_A], D, -1.0, -1.0, -1.0)
    if kind == KIND_IF:
        slope = P[j, P_SLOPE]
        if adapt == 0.0:
            if slope <= 0.0 or v >= vth:
                return -1.0
            s = (vth - v) / slope
            if s <= D:
                return s
            return -1.0
        return crossing_generic(v - vth, slope, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, -adapt, P[j, P_TAU_A], D,
                                -1.0, -1.0, -1.0)
    if kind == KIND_LIF_EXP:
        vinf = P[j, P_V_INF]
        cex = P[j, P_K_EX] * S[j, S_IEX]
        cin = P[j, P_K_IN] * S[j, S_IIN]
        decays(P, S, j, t1, T0, dc)
        return crossing_generic(vinf - vth, 0.0, v - vinf - cex - cin, P[j, P_TAU_M], cex, P[j, P_TAU_EX],
                                cin, P[j, P_TAU_IN], -adapt, P[j, P_TAU_A], D, dc[0], dc[1], dc[2])
    return -1.0


def receive(kind, P, S, j, w, t):
    """Apply an input of weight ``w`` arriving at ``t`` (the row is already at ``t``)."""
    if kind == KIND_LIF_EXP:
        if w >= 0.0:
            S[j, S_IEX] += w
        else:
            S[j, S_IIN] += w
    elif kind == KIND_LIF or kind == KIND_IF:
        if t >= S[j, S_REF]:
            v = S[j, S_V] + w
            vmin = P[j, P_V_MIN]
            if v < vmin:
                v = vmin
            S[j, S_V] = v


def safe_until(kind, P, S, j, budget):
    """A time before which neuron ``j`` cannot reach threshold unless excitatory input arrives.

    For ``KIND_LIF_EXP`` rows, with ``d = V - V_inf`` at ``S_T`` and the current terms ``c_k``
    of :func:`first_crossing`, V - V_th at ``S_T + s`` is ``c0 + d e^(-s/tau_m) + sum_k c_k
    (e^(-s/tau_k) - e^(-s/tau_m)) + ca e^(-s/tau_a)``. Each current term lies between 0 and
    ``c_k`` times a difference of exponentials whose largest magnitude is ``P_G_EX``/``P_G_IN``,
    so it adds at most ``|c_k| G_k`` where its sign raises V (excitation), and nothing otherwise;
    the adaptation term adds at most ``max(ca, 0)``. With ``k`` the sum of these and ``c0``, plus
    a margin of 1e-9 of the terms' scale (far above rounding), the neuron stays below threshold
    while ``d e^(-s/tau_m) < -k``: for every ``s`` if ``k <= 0`` (``d < 0``), else for
    ``s < tau_m log(-d / k)``. A refractory row is safe until its period ends. The bound never
    extends past the next drive kick ``S_TK``; other kinds get -inf (no bound). The window flush
    leaves a row alone while its bound lies beyond the window end.

    Input budget: the bound is computed for ``k + B`` instead of ``k``, with ``B`` a quarter of the
    headroom ``-(k + max(d, 0))``, and ``budget[j] = B``. An excitatory input of weight ``w``
    raises V by at most ``w P_KG_EX`` at any later time, so the bound survives inputs while their
    sum stays within ``B``; the delivery subtracts each input and clears the bound when the
    budget is spent. Inhibitory input only lowers the trajectory.
    """
    if kind != KIND_LIF_EXP:
        return -INF
    tk = S[j, S_TK]
    t0 = S[j, S_T]
    budget[j] = INF  # refractory or no threshold: no input can bring a spike before the bound
    if t0 < S[j, S_REF]:
        return min(S[j, S_REF], tk)
    vth = P[j, P_V_TH]
    if vth == INF:
        return tk
    vinf = P[j, P_V_INF]
    tm = P[j, P_TAU_M]
    cex = P[j, P_K_EX] * S[j, S_IEX]
    cin = P[j, P_K_IN] * S[j, S_IIN]
    ca = -P[j, P_BETA] * S[j, S_A]
    d = S[j, S_V] - vinf
    c0 = vinf - vth
    k = c0 + max(ca, 0.0)
    if cex * (P[j, P_TAU_EX] - tm) > 0.0:
        k += abs(cex) * P[j, P_G_EX]
    if cin * (P[j, P_TAU_IN] - tm) > 0.0:
        k += abs(cin) * P[j, P_G_IN]
    k += 1e-9 * (1.0 + abs(c0) + abs(d) + abs(cex) + abs(cin) + abs(ca))
    B = 0.0
    if d >= 0.0:
        b = 0.0
        if k + d < 0.0:
            b = INF
            B = -0.25 * (k + d)
    elif k <= 0.0:
        b = INF
        B = -0.25 * k
    elif k + d < 0.0:
        B = -0.25 * (k + d)
        b = tm * log_below(-d / (k + B))
    else:
        b = 0.0
    budget[j] = B
    return min(t0 + b, tk)


def log_below(x):
    """A lower bound of ln(x) for x > 1, within 4 %, without a libm call.

    With x = m 2^e (frexp: m in [0.5, 1)) and y = 2 m in [1, 2), ln x = (e - 1) ln 2 + ln y, and
    ln y >= 2 (y - 1) / (y + 1) (equal at y = 1, 4 % low at y = 2); ln 2 is rounded down and the
    sum lowered by 1e-12 relative and absolute (far above the rounding of the fraction). Exact
    operations (frexp, the doubling) and IEEE arithmetic: every backend gets the same bits.
    """
    m, e = math.frexp(x)
    y = 2.0 * m
    return ((e - 1) * 0.6931471805599452 + 2.0 * (y - 1.0) / (y + 1.0)) * (1.0 - 1e-12) - 1e-12


def fires_on_input(kind, P, S, j, t):
    """True if a delta-synapse neuron is at or above threshold right after input at ``t``."""
    if kind == KIND_LIF or kind == KIND_IF:
        return t >= S[j, S_REF] and S[j, S_V] >= threshold(P, S, j)
    return False


def reset(kind, P, S, j, t):
    """Reset after a spike at ``t``: V to V_reset (or minus the threshold), refractory, adaptation jump."""
    if P[j, P_RESET_SUB] != 0.0:
        S[j, S_V] = S[j, S_V] - threshold(P, S, j)
    else:
        S[j, S_V] = P[j, P_V_RESET]
    S[j, S_REF] = t + P[j, P_T_REF]
    if P[j, P_BETA] != 0.0:
        S[j, S_A] = S[j, S_A] + 1.0


def drive_next(d, t_prev, d_rate, d_dt, d_rng):
    """Time of the next kick of drive ``d`` after its kick at ``t_prev`` (0 for the first).

    Continuous drives (``d_dt == 0``): an exponential interval. Grid drives: kicks sit on
    ``k * dt`` (k >= 1); the number of steps to the next step with at least one kick is
    geometric with success probability 1 - exp(-rate dt).
    """
    dt = d_dt[d]
    if dt == 0.0:
        return t_prev + exp_interval(d_rng, d, d_rate[d])
    k = math.floor(t_prev / dt + 0.5)
    e = -math.log(1.0 - uniform(d_rng, d))
    return (k + 1.0 + math.floor(e / (d_rate[d] * dt))) * dt


def kick_weight(d, d_rate, d_dt, d_w, d_rng):
    """Weight of drive ``d``'s kick: ``w``, or ``m * w`` on a grid, m ~ Poisson(rate dt) given m >= 1."""
    dt = d_dt[d]
    if dt == 0.0:
        return d_w[d]
    lam = d_rate[d] * dt
    p = math.exp(-lam)
    u = p + uniform(d_rng, d) * (1.0 - p)
    cdf = p
    m = 0
    while cdf <= u and m < 1000:
        m += 1
        p = p * lam / m
        cdf += p
    if m == 0:
        m = 1
    return m * d_w[d]


def next_kick(j, S, d_ptr, d_rate, d_dt, d_next, d_rng):
    """Draw missing kick times of neuron ``j``'s Poisson drives, cache the earliest in ``S_TK``.

    Returns the index of the drive that kicks next (-1 if the neuron has none).
    """
    best = -1
    tb = INF
    for d in range(d_ptr[j], d_ptr[j + 1]):
        if d_next[d] < 0.0:
            d_next[d] = drive_next(d, 0.0, d_rate, d_dt, d_rng)
        if d_next[d] < tb:
            tb = d_next[d]
            best = d
    S[j, S_TK] = tb
    return best


def advance(kind, P, S, j, t1, incl, x1, T0, dc, d_ptr, d_rate, d_dt, d_w, d_next, d_rng, ctr, nupd):
    """Advance neuron ``j`` towards ``t1``; stop at its first spike.

    ``x1`` is :func:`xfac` at ``t1`` (the caller shares it between neurons), ``T0`` the
    decay epoch. Returns the spike time (row left at that time, not yet reset) or
    ``INF`` when the row reached ``t1`` without a spike. Poisson drive kicks with
    time < t1 are applied on the way, each followed by its threshold test; with
    ``incl`` (a delivery instant) a kick at exactly ``t1`` is applied too and tested
    together with the other inputs of that instant, by the caller.
    """
    while True:
        t0 = S[j, S_T]
        d = -1
        tk = S[j, S_TK]
        if tk < t1 or (incl and tk == t1):
            d = next_kick(j, S, d_ptr, d_rate, d_dt, d_next, d_rng)
            tk = S[j, S_TK]
        tg = t1
        if tk < tg:
            tg = tk
        if t0 < tg:
            ctr[C_UPD] += 1
            if nupd.shape[0] != 0:
                nupd[j] += 1
            ref = S[j, S_REF]
            if t0 < ref:
                te = tg
                if ref < te:
                    te = ref
                x = x1
                if te != t1:
                    x = xfac(kind, P, j, te, T0)
                evolve_refractory(kind, P, S, j, te - t0, x, te, T0, dc)
                S[j, S_T] = te
                continue
            s = first_crossing(kind, P, S, j, tg - t0, tg, T0, dc)
            if s >= 0.0:
                evolve(kind, P, S, j, s, xfac(kind, P, j, t0 + s, T0), t0 + s, T0, dc)
                S[j, S_T] = t0 + s
                return t0 + s
            x = x1
            if tg != t1:
                x = xfac(kind, P, j, tg, T0)
            evolve(kind, P, S, j, tg - t0, x, tg, T0, dc)
            S[j, S_T] = tg
        if tk < t1 or (incl and tk == t1):
            w = kick_weight(d, d_rate, d_dt, d_w, d_rng)
            ctr[C_KICK] += 1
            d_next[d] = drive_next(d, tk, d_rate, d_dt, d_rng)
            next_kick(j, S, d_ptr, d_rate, d_dt, d_next, d_rng)
            receive(kind, P, S, j, w, tk)
            if tk < t1 and fires_on_input(kind, P, S, j, tk):
                return tk
            continue
        return INF


def rebase(kinds, P, S, T0):
    """Recompute the decay factors of every LIF row (``S_X``) and LIF_EXP row (``S_X``, ``S_XE``,
    ``S_XI``) for the epoch ``T0``."""
    for j in range(S.shape[0]):
        if kinds[j] == KIND_LIF:
            S[j, S_X] = math.exp((S[j, S_T] - T0) / P[j, P_TAU_M])
        elif kinds[j] == KIND_LIF_EXP:
            S[j, S_X] = math.exp((S[j, S_T] - T0) / P[j, P_TAU_M])
            S[j, S_XE] = math.exp((S[j, S_T] - T0) / P[j, P_TAU_EX])
            S[j, S_XI] = math.exp((S[j, S_T] - T0) / P[j, P_TAU_IN])


# ----------------------------------------------------------------- plasticity
# STDP on spike events, NEST 3.10's conventions (docs/plasticity.md; ../specs STDP.md C1-C8):
# weights change only when a presynaptic spike reaches its synapses (at the delivery of its
# delay group, before the weight is delivered); post spikes are read from a per-neuron history
# ring of (t, K-, K-_triplet), kept as NEST's ArchivingNode keeps it.
def hist_push(hist, hinfo, r, t, tminv, ttinv):
    """Append the post spike at ``t`` to history row ``r`` (room guaranteed): K- and K-_triplet jump by 1."""
    H = hist.shape[1]
    s = hinfo[r, 0]
    n = hinfo[r, 1]
    tl = -1.0
    km = 0.0
    kt = 0.0
    if n > 0:
        q = (s + n - 1) % H
        tl = hist[r, q, H_T]
        km = hist[r, q, H_KM]
        kt = hist[r, q, H_KT]
    q = (s + n) % H
    hist[r, q, H_T] = t
    hist[r, q, H_KM] = km * math.exp((tl - t) * tminv) + 1.0
    hist[r, q, H_KT] = kt * math.exp((tl - t) * ttinv) + 1.0
    hinfo[r, 1] = n + 1


def hist_prune(hist, hinfo, r, t, in_ptr, in_grp, gst, g_rule, g_delay, R):
    """Drop the entries of history row ``r`` that no incoming plastic group can read any more.

    ``t`` is a time no later than any delivery still to come. A group that has seen a presynaptic
    spike reads entries after ``t_last - d_dendritic``; one that has not reads only K- values at
    ``t_arrival - 2 d_dendritic >= t - 2 d_dendritic``. Entries at or before the earliest such time
    are dropped, except the latest of them (its K- values carry on).
    """
    c = INF
    for q in range(in_ptr[r], in_ptr[r + 1]):
        g = in_grp[q]
        dd = g_delay[g] * R[g_rule[g], R_DDEN]
        x = t - 2.0 * dd
        if gst[g, G_HAS] != 0.0:
            x = gst[g, G_TLAST] - dd
        if x < c:
            c = x
    c = c - 2.0 * STDP_EPS
    H = hist.shape[1]
    s = hinfo[r, 0]
    n = hinfo[r, 1]
    while n >= 2 and hist[r, (s + 1) % H, H_T] <= c:
        s = (s + 1) % H
        n -= 1
    hinfo[r, 0] = s
    hinfo[r, 1] = n


def k_before(hist, hinfo, r, t, nn, tminv):
    """Postsynaptic trace just before ``t`` (entries with t - t_h > eps): K- (all-to-all), or with ``nn``
    the nearest-neighbour trace exp(-(t - t_last_post) / tau_minus); 0 before the first post spike."""
    H = hist.shape[1]
    s = hinfo[r, 0]
    for i in range(hinfo[r, 1] - 1, -1, -1):
        q = (s + i) % H
        th = hist[r, q, H_T]
        if t - th > STDP_EPS:
            if nn:
                return math.exp((th - t) * tminv)
            return hist[r, q, H_KM] * math.exp((th - t) * tminv)
    return 0.0


def pairing_interval(hist, hinfo, r, t1, t2, dd):
    """Ring positions ``(lo, hi)`` (offsets from the ring start, ``lo > hi`` when empty) of the post spikes
    ``t_h`` of history row ``r`` that pair with a presynaptic spike: t1 < t_h <= t2 within NEST's eps
    (get_history). With an axonal delay (``dd == 0``) post spikes within eps of ``t2`` are left out (at the
    arrival instant they may not have been found yet)."""
    H = hist.shape[1]
    s = hinfo[r, 0]
    n = hinfo[r, 1]
    lo = 0
    while lo < n and hist[r, (s + lo) % H, H_T] - t1 <= STDP_EPS:
        lo += 1
    hi = lo - 1
    while hi + 1 < n:
        th = hist[r, (s + hi + 1) % H, H_T]
        if dd > 0.0:
            if th - t2 > STDP_EPS:
                break
        elif t2 - th <= STDP_EPS:
            break
        hi += 1
    return lo, hi


def facilitate(R, ru, w, kp):
    """Guetig facilitation on the normalised weight, capped at 1 (NEST stdp_synapse::facilitate_)."""
    wmax = R[ru, R_WMAX]
    nw = (w / wmax) + (R[ru, R_LAMBDA] * math.pow(1.0 - (w / wmax), R[ru, R_MU_PLUS]) * kp)
    if nw < 1.0:
        return nw * wmax
    return wmax


def depress(R, ru, w, km):
    """Guetig depression on the normalised weight, floored at 0 (NEST stdp_synapse::depress_)."""
    wmax = R[ru, R_WMAX]
    nw = (w / wmax) - (R[ru, R_ALPHA] * R[ru, R_LAMBDA] * math.pow(w / wmax, R[ru, R_MU_MINUS]) * km)
    if nw > 0.0:
        return nw * wmax
    return 0.0


def facilitate3(R, ru, w, kp, ky):
    """Triplet facilitation (NEST stdp_triplet_synapse): additive, capped at |Wmax|, sign of Wmax."""
    wmax = R[ru, R_WMAX]
    nw = abs(w) + kp * (R[ru, R_APLUS] + R[ru, R_APLUS3] * ky)
    if nw < abs(wmax):
        return math.copysign(nw, wmax)
    return math.copysign(wmax, wmax)


def depress3(R, ru, w, km, r2):
    """Triplet depression (NEST stdp_triplet_synapse): additive, floored at 0, sign of Wmax."""
    nw = abs(w) - km * (R[ru, R_AMINUS] + R[ru, R_AMINUS3] * r2)
    if nw > 0.0:
        return math.copysign(nw, R[ru, R_WMAX])
    return math.copysign(0.0, R[ru, R_WMAX])


def stdp_update(k, g, ru, R, gst, syn_w, syn_kp, hist, hinfo, r, tp, dd, r2, tminv, ctr):
    """Update synapse ``k`` (group ``g``, rule ``ru``) for the presynaptic spike that reaches it at ``tp``.

    ``dd`` is the dendritic delay, ``r2`` the group's triplet trace decayed to ``tp``. Post spikes
    ``t_h`` with t_last - dd < t_h <= tp - dd (NEST's get_history, eps 1e-6 ms) facilitate in time
    order; then the weight is depressed with the trace just before ``tp - dd``. With an axonal delay
    (dd = 0) post spikes within eps of ``tp`` are left out (they may not have been found yet).
    """
    typ = R[ru, R_TYPE]
    taup = R[ru, R_TAU_PLUS]
    tl = gst[g, G_TLAST]
    has = gst[g, G_HAS] != 0.0
    kp = gst[g, G_KP]
    if typ == RULE_NN_PRE:
        kp = syn_kp[k]
    w = syn_w[k]
    t2 = tp - dd
    H = hist.shape[1]
    s = hinfo[r, 0]
    lo, hi = pairing_interval(hist, hinfo, r, tl - dd, t2, dd)
    found = lo <= hi
    nup = 0
    for i in range(lo, hi + 1):
        q = (s + i) % H
        th = hist[r, q, H_T]
        minus_dt = tl - (th + dd)
        if typ == RULE_STDP:
            w = facilitate(R, ru, w, kp * math.exp(minus_dt / taup))
            nup += 1
        elif typ == RULE_TRIPLET:
            w = facilitate3(R, ru, w, kp * math.exp(minus_dt / taup), hist[r, q, H_KT] - 1.0)
            nup += 1
        elif typ == RULE_NN_SYMM:
            if has:
                w = facilitate(R, ru, w, math.exp(minus_dt / taup))
                nup += 1
        elif typ == RULE_NN_RESTR:
            if has:
                w = facilitate(R, ru, w, math.exp(minus_dt / taup))
                nup += 1
            break
        else:  # RULE_NN_PRE: the first post spike only, with the presynaptic sum since the last pairing
            w = facilitate(R, ru, w, kp * math.exp(minus_dt / taup))
            nup += 1
            kp = 0.0
            break
    if typ == RULE_STDP:
        w = depress(R, ru, w, k_before(hist, hinfo, r, t2, False, tminv))
        nup += 1
    elif typ == RULE_TRIPLET:
        w = depress3(R, ru, w, k_before(hist, hinfo, r, t2, False, tminv), r2)
        nup += 1
    elif typ == RULE_NN_RESTR:
        if found:
            w = depress(R, ru, w, k_before(hist, hinfo, r, t2, True, tminv))
            nup += 1
    else:
        w = depress(R, ru, w, k_before(hist, hinfo, r, t2, True, tminv))
        nup += 1
        if typ == RULE_NN_PRE:
            syn_kp[k] = kp * math.exp((tl - tp) / taup) + 1.0
    syn_w[k] = w
    ctr[C_WUPD] += nup


def dopa_weight(R, ru, w, c0, n0, minus_dt):
    """Integrate dw/dt = c (n - b) over ``minus_dt`` (< 0) from eligibility ``c0`` and dopamine ``n0``,
    clipped to [Wmin, Wmax] (NEST stdp_dopamine_synapse::update_weight_)."""
    tc = R[ru, R_TAU_C]
    tn = R[ru, R_TAU_N]
    taus = (tc + tn) / (tc * tn)
    w = w - c0 * (n0 / taus * math.expm1(taus * minus_dt) - R[ru, R_B] * tc * math.expm1(minus_dt / tc))
    if w < R[ru, R_WMIN]:
        w = R[ru, R_WMIN]
    if w > R[ru, R_WMAX]:
        w = R[ru, R_WMAX]
    return w


def dopa_process(R, ru, dh_t, dh_m, v, nd, st, t0, t1):
    """Advance a dopamine synapse's state ``st = [w, c, n, idx]`` from ``t0`` to ``t1`` through the dopamine
    arrivals of row ``v`` (``nd`` entries, the first a sentinel at 0) (NEST process_dopa_spikes_)."""
    tn = R[ru, R_TAU_N]
    tc = R[ru, R_TAU_C]
    idx = np.int64(st[3])
    if nd > idx + 1 and t1 - dh_t[v, idx + 1] > -STDP_EPS:
        n0 = st[2] * math.exp((dh_t[v, idx] - t0) / tn)
        st[0] = dopa_weight(R, ru, st[0], st[1], n0, t0 - dh_t[v, idx + 1])
        minus_dt = dh_t[v, idx] - dh_t[v, idx + 1]
        idx += 1
        st[2] = st[2] * math.exp(minus_dt / tn) + dh_m[v, idx] / tn
        while nd > idx + 1 and t1 - dh_t[v, idx + 1] > -STDP_EPS:
            cd = st[1] * math.exp((t0 - dh_t[v, idx]) / tc)
            st[0] = dopa_weight(R, ru, st[0], cd, st[2], dh_t[v, idx] - dh_t[v, idx + 1])
            minus_dt = dh_t[v, idx] - dh_t[v, idx + 1]
            idx += 1
            st[2] = st[2] * math.exp(minus_dt / tn) + dh_m[v, idx] / tn
        cd = st[1] * math.exp((t0 - dh_t[v, idx]) / tc)
        st[0] = dopa_weight(R, ru, st[0], cd, st[2], dh_t[v, idx] - t1)
    else:
        n0 = st[2] * math.exp((dh_t[v, idx] - t0) / tn)
        st[0] = dopa_weight(R, ru, st[0], st[1], n0, t0 - t1)
    st[1] = st[1] * math.exp((t0 - t1) / tc)
    st[3] = idx


def dopa_update(k, g, ru, R, gst, syn_w, syn_kp, hist, hinfo, r, tp, dd, tminv, dh_t, dh_m, dh_n, st, ctr):
    """Update dopamine synapse ``k`` for the presynaptic spike reaching it at ``tp`` (NEST
    stdp_dopamine_synapse::send without the volume transmitter's intermediate triggers, which change
    nothing but rounding): eligibility c (``syn_kp[k]``) rises by A+ K+ at each post spike since the
    previous pre spike and falls by A- K- at the pre spike; w follows dw/dt = c (n - b) between events.
    ``st`` receives the group's final dopamine trace and arrival index in ``st[2:4]``.
    """
    v = np.int64(R[ru, R_VT])
    nd = dh_n[v]
    tl = gst[g, G_TLAST]
    kp = gst[g, G_KP]
    st[0] = syn_w[k]
    st[1] = syn_kp[k]
    st[2] = gst[g, G_N]
    st[3] = gst[g, G_DIDX]
    t0 = tl
    t2 = tp - dd
    H = hist.shape[1]
    s = hinfo[r, 0]
    lo, hi = pairing_interval(hist, hinfo, r, tl - dd, t2, dd)
    for i in range(lo, hi + 1):
        th = hist[r, (s + i) % H, H_T]
        dopa_process(R, ru, dh_t, dh_m, v, nd, st, t0, th + dd)
        t0 = th + dd
        minus_dt = tl - t0
        if tp - th > STDP_EPS:
            st[1] += R[ru, R_APLUS] * (kp * math.exp(minus_dt / R[ru, R_TAU_PLUS]))
    dopa_process(R, ru, dh_t, dh_m, v, nd, st, t0, tp)
    st[1] -= R[ru, R_AMINUS] * k_before(hist, hinfo, r, t2, False, tminv)
    syn_w[k] = st[0]
    syn_kp[k] = st[1]
    ctr[C_WUPD] += 1


# ------------------------------------------------------------------- emission
def need_room(j, rec, g_ptr, h_t, o_t, ctr, hrow, hist, hinfo):
    """True if the heap, the output buffer or neuron ``j``'s spike history must grow before ``j`` can emit."""
    if hrow.shape[0] != 0 and hrow[j] >= 0 and hinfo[hrow[j], 1] >= hist.shape[1]:
        return True
    return (ctr[C_HEAP] + g_ptr[j + 1] - g_ptr[j] > h_t.shape[0]) or (rec[j] != 0 and ctr[C_OUT] >= o_t.shape[0])


def grow(j, T, rec, g_ptr, h_t, h_g, o_t, o_i, ctr, hrow, hist, hinfo, in_ptr, in_grp, gst, g_rule, g_delay, R):
    """Return enlarged copies of the heap and output buffers (amortised doubling), and make room in
    neuron ``j``'s spike history (pruned first; all rings doubled when that is not enough)."""
    need = ctr[C_HEAP] + g_ptr[j + 1] - g_ptr[j]
    if need > h_t.shape[0]:
        cap = 2 * need + 64
        nt = np.empty(cap, np.float64)
        ng = np.empty(cap, np.int64)
        n = ctr[C_HEAP]
        nt[:n] = h_t[:n]
        ng[:n] = h_g[:n]
        h_t = nt
        h_g = ng
    n = ctr[C_OUT]
    if rec[j] != 0 and n >= o_t.shape[0]:
        cap = 2 * n + 256
        nt = np.empty(cap, np.float64)
        ni = np.empty(cap, np.int64)
        nt[:n] = o_t[:n]
        ni[:n] = o_i[:n]
        o_t = nt
        o_i = ni
    if hrow.shape[0] != 0 and hrow[j] >= 0 and hinfo[hrow[j], 1] >= hist.shape[1]:
        hist_prune(hist, hinfo, hrow[j], T, in_ptr, in_grp, gst, g_rule, g_delay, R)
        if hinfo[hrow[j], 1] >= hist.shape[1]:
            H = hist.shape[1]
            nh = np.zeros((hist.shape[0], 2 * H, NH), np.float64)
            for r in range(hist.shape[0]):
                s = hinfo[r, 0]
                for i in range(hinfo[r, 1]):
                    for c in range(NH):
                        nh[r, i, c] = hist[r, (s + i) % H, c]
                hinfo[r, 0] = 0
            hist = nh
    return h_t, h_g, o_t, o_i, hist


def emit(j, t, nspk, rec, g_ptr, g_delay, h_t, h_g, o_t, o_i, ctr, lbin, npop, act, ebin, P, hrow, hist, hinfo):
    """Neuron ``j`` spikes at ``t``: count, record, enter its STDP history, queue one entry per delay group.

    With activity bins (``ebin[0]`` = bin width > 0) the neuron's first spike in bin
    k = floor(t / width + 1e-9) adds one to ``act[k - ebin[1], npop[j]]``; ``lbin[j]``
    holds the last bin it was counted in. The caller guarantees room
    (:func:`need_room` / :func:`grow`).
    """
    nspk[j] += 1
    ctr[C_SPK] += 1
    if ebin[0] > 0.0:
        k = np.int64(math.floor(t / ebin[0] + 1e-9))
        if k != lbin[j]:
            lbin[j] = k
            b = k - np.int64(ebin[1])
            if b < 0:
                b = 0
            if b >= act.shape[0]:
                b = act.shape[0] - 1
            act[b, npop[j]] += 1
    if rec[j] != 0:
        n = ctr[C_OUT]
        o_t[n] = t
        o_i[n] = j
        ctr[C_OUT] = n + 1
    if hrow.shape[0] != 0 and hrow[j] >= 0:
        hist_push(hist, hinfo, hrow[j], t, P[j, P_TMINV], P[j, P_TTINV])
        ctr[C_TRACE] += 1
    for g in range(g_ptr[j], g_ptr[j + 1]):
        heap_push(h_t, h_g, ctr, t + g_delay[g], g)


def advance_emit(kind, P, S, j, t1, x1, T0, dc, nspk, rec, g_ptr, g_delay, d_ptr, d_rate, d_dt, d_w, d_next, d_rng,
                 h_t, h_g, o_t, o_i, ctr, nupd, lbin, npop, act, ebin,
                 hrow, hist, hinfo, in_ptr, in_grp, gst, g_rule, R, T):
    """Advance neuron ``j`` to ``t1``, emitting and resetting at every spike on the way.

    ``T`` is the start of the current window (no delivery after it has happened yet).
    Returns the buffers, which are reallocated if they had to grow.
    """
    while True:
        ts = advance(kind, P, S, j, t1, False, x1, T0, dc, d_ptr, d_rate, d_dt, d_w, d_next, d_rng, ctr, nupd)
        if ts == INF:
            return h_t, h_g, o_t, o_i, hist
        if need_room(j, rec, g_ptr, h_t, o_t, ctr, hrow, hist, hinfo):
            h_t, h_g, o_t, o_i, hist = grow(j, T, rec, g_ptr, h_t, h_g, o_t, o_i, ctr, hrow, hist, hinfo, in_ptr,
                                            in_grp, gst, g_rule, g_delay, R)
        emit(j, ts, nspk, rec, g_ptr, g_delay, h_t, h_g, o_t, o_i, ctr, lbin, npop, act, ebin, P, hrow, hist, hinfo)
        reset(kind, P, S, j, ts)


def take_samples(tlim, inclusive, T0, dc, kinds, P, S, nspk, rec, g_ptr, g_delay, d_ptr, d_rate, d_dt, d_w, d_next,
                 d_rng, smp_t, smp_id, smp_var, smp_out, h_t, h_g, o_t, o_i, ctr, nupd, lbin, npop, act, ebin,
                 hrow, hist, hinfo, in_ptr, in_grp, gst, g_rule, R, T):
    """Record the sampled state at every sample time < tlim (<= tlim if ``inclusive``)."""
    p = ctr[C_SMP]
    while p < smp_t.shape[0] and (smp_t[p] < tlim or (inclusive and smp_t[p] == tlim)):
        ts = smp_t[p]
        for c in range(smp_id.shape[0]):
            j = smp_id[c]
            kind = kinds[j]
            if S[j, S_T] < ts and kind != KIND_PARROT and kind != KIND_SOURCE and kind != KIND_POISSON:
                h_t, h_g, o_t, o_i, hist = advance_emit(kind, P, S, j, ts, xfac(kind, P, j, ts, T0), T0, dc, nspk,
                                                        rec, g_ptr, g_delay, d_ptr, d_rate, d_dt, d_w, d_next, d_rng,
                                                        h_t, h_g, o_t, o_i, ctr, nupd, lbin, npop, act, ebin,
                                                        hrow, hist, hinfo, in_ptr, in_grp, gst, g_rule, R, T)
            smp_out[p, c] = S[j, smp_var[c]]
        p += 1
    ctr[C_SMP] = p
    return h_t, h_g, o_t, o_i, hist


# ------------------------------------------------------------------- main loop
def run(kinds, P, S, nspk, rec,
        g_ptr, g_src, g_delay, g_syn, syn_tgt, syn_w,
        d_ptr, d_rate, d_dt, d_w, d_next, d_rng,
        src_t, src_id, psrc, rng,
        smp_t, smp_id, smp_var, smp_out,
        flush, touched, tflag,
        h_t, h_g, o_t, o_i, ctr,
        nupd, g_cnt, lbin, npop, act, ebin,
        g_rule, R, gst, syn_kp, hrow, hist, hinfo, in_ptr, in_grp, w_t, w_k, w_w, dh_t, dh_m, dh_n,
        t_start, t_stop, window):
    """Simulate from ``t_start`` to ``t_stop`` (ms).

    Returns the heap, output, spike-history and weight-record arrays, which may have been
    reallocated to grow. (Emission sites repeat the ``need_room``/``grow``/``emit`` triple
    instead of calling :func:`advance_emit`, so that the hot path passes no arrays back.)

    Plasticity (all zero-length when no projection is plastic): ``g_rule[g]`` the rule row of
    group ``g`` in ``R`` (-1: static), ``gst`` the per-group presynaptic traces, ``syn_kp`` the
    per-synapse trace of presynaptic-centred rules, ``hrow[j]`` neuron ``j``'s row in the spike
    history ``hist``/``hinfo`` (ring start, length), ``in_ptr``/``in_grp`` the plastic groups
    reaching each history row (for pruning), ``w_t``/``w_k``/``w_w`` the recorded weight updates
    (presynaptic spike time, synapse, new weight), ``dh_t``/``dh_m``/``dh_n`` the dopamine arrival
    times and multiplicities per volume transmitter (rows start with a sentinel at 0; ``dh_n`` entries
    used). Dopamine rules keep their per-synapse eligibility trace in ``syn_kp``.
    """
    # decay epoch of the shared LIF and LIF_EXP factors: rebased when it lags more than 30 of the
    # smallest of their time constants
    T0 = t_start
    span = INF
    for j in range(kinds.shape[0]):
        if (kinds[j] == KIND_LIF or kinds[j] == KIND_LIF_EXP) and 30.0 * P[j, P_TAU_M] < span:
            span = 30.0 * P[j, P_TAU_M]
        if kinds[j] == KIND_LIF_EXP:
            if 30.0 * P[j, P_TAU_EX] < span:
                span = 30.0 * P[j, P_TAU_EX]
            if 30.0 * P[j, P_TAU_IN] < span:
                span = 30.0 * P[j, P_TAU_IN]
    if window > span:  # windows no longer than the rebase span, so that the shared factors cannot overflow
        window = span
    rebase(kinds, P, S, T0)
    dc = np.full(10, -1.0)  # decays() cache: factors, key (t1, taus), shared x_k(t1)
    dst = np.zeros(4)  # dopa_update() scratch: w, c, n, arrival index
    safe = np.full(kinds.shape[0], -INF)  # safe_until() bounds, per run (no state carried between runs)
    budget = np.zeros(kinds.shape[0])  # and their input budgets
    T = t_start
    while T < t_stop:
        Te = T + window
        if Te > t_stop:
            Te = t_stop
        if T - T0 > span:
            T0 = T
            rebase(kinds, P, S, T0)
            dc[3] = -1.0  # the shared x_k(t1) of decays() belong to the old epoch
        # 1. spikes of explicit sources and Poisson sources emitted in [T, Te)
        p = ctr[C_SRC]
        while p < src_t.shape[0] and src_t[p] < Te:
            j = src_id[p]
            if need_room(j, rec, g_ptr, h_t, o_t, ctr, hrow, hist, hinfo):
                h_t, h_g, o_t, o_i, hist = grow(j, T, rec, g_ptr, h_t, h_g, o_t, o_i, ctr, hrow, hist, hinfo,
                                                in_ptr, in_grp, gst, g_rule, g_delay, R)
            emit(j, src_t[p], nspk, rec, g_ptr, g_delay, h_t, h_g, o_t, o_i, ctr, lbin, npop, act, ebin, P, hrow,
                 hist, hinfo)
            p += 1
        ctr[C_SRC] = p
        for q in range(psrc.shape[0]):
            j = psrc[q]
            if S[j, S_T] < 0.0:
                S[j, S_T] = exp_interval(rng, j, P[j, P_RATE])
            while S[j, S_T] < Te:
                if need_room(j, rec, g_ptr, h_t, o_t, ctr, hrow, hist, hinfo):
                    h_t, h_g, o_t, o_i, hist = grow(j, T, rec, g_ptr, h_t, h_g, o_t, o_i, ctr, hrow, hist,
                                                    hinfo, in_ptr, in_grp, gst, g_rule, g_delay, R)
                emit(j, S[j, S_T], nspk, rec, g_ptr, g_delay, h_t, h_g, o_t, o_i, ctr, lbin, npop, act, ebin, P, hrow,
                     hist, hinfo)
                S[j, S_T] = S[j, S_T] + exp_interval(rng, j, P[j, P_RATE])
        # 2. deliver queued spikes arriving in [T, Te), one instant at a time
        while ctr[C_HEAP] > 0 and h_t[0] < Te:
            t = h_t[0]
            if ctr[C_SMP] < smp_t.shape[0] and smp_t[ctr[C_SMP]] <= t:
                h_t, h_g, o_t, o_i, hist = take_samples(t, True, T0, dc, kinds, P, S, nspk, rec, g_ptr, g_delay,
                                                        d_ptr, d_rate, d_dt, d_w, d_next, d_rng, smp_t, smp_id,
                                                        smp_var, smp_out, h_t, h_g, o_t, o_i, ctr, nupd, lbin, npop,
                                                        act, ebin, hrow, hist, hinfo, in_ptr, in_grp, gst, g_rule, R,
                                                        T)
            ntouch = 0
            c_tau = -1.0  # cache of xfac(t) for the last membrane time constant seen at this instant
            c_x = 1.0
            while ctr[C_HEAP] > 0 and h_t[0] == t:
                g = h_g[0]
                heap_pop(h_t, h_g, ctr)
                k0 = g_syn[g]
                k1 = g_syn[g + 1]
                ctr[C_SYNEV] += k1 - k0
                if g_cnt.shape[0] != 0:
                    g_cnt[g] += 1
                src_kind = kinds[g_src[g]]
                if src_kind != KIND_SOURCE and src_kind != KIND_POISSON:
                    ctr[C_SYNEV_REC] += k1 - k0
                # a plastic group: its presynaptic spike reaches the synapses at tp (NEST: tp = t_pre)
                ru = -1
                if g_rule.shape[0] != 0:
                    ru = g_rule[g]
                tp = t
                dd = 0.0
                r2 = 0.0
                if ru >= 0:
                    dd = g_delay[g] * R[ru, R_DDEN]
                    tp = t - dd
                    if R[ru, R_TYPE] == RULE_TRIPLET:
                        r2 = gst[g, G_R2] * math.exp((gst[g, G_TLAST] - tp) / R[ru, R_TAU_X])
                    if R[ru, R_REC] != 0.0 and ctr[C_WREC] + k1 - k0 > w_t.shape[0]:
                        cap = 2 * (ctr[C_WREC] + k1 - k0) + 256
                        nt = np.empty(cap, np.float64)
                        nk = np.empty(cap, np.int64)
                        nw = np.empty(cap, np.float64)
                        n = ctr[C_WREC]
                        nt[:n] = w_t[:n]
                        nk[:n] = w_k[:n]
                        nw[:n] = w_w[:n]
                        w_t = nt
                        w_k = nk
                        w_w = nw
                for k in range(k0, k1):
                    j = syn_tgt[k]
                    kind = kinds[j]
                    if S[j, S_T] < t and kind != KIND_SOURCE and kind != KIND_POISSON:
                        if kind == KIND_PARROT:
                            S[j, S_T] = t
                        elif (kind == KIND_LIF_EXP and t <= safe[j] and S[j, S_TK] > t
                              and S[j, S_T] >= S[j, S_REF]):
                            # advance() without a kick or refractory period, and no crossing before the
                            # bound: one plain step, no search
                            ctr[C_UPD] += 1
                            if nupd.shape[0] != 0:
                                nupd[j] += 1
                            evolve(kind, P, S, j, t - S[j, S_T], 1.0, t, T0, dc)
                            S[j, S_T] = t
                        else:
                            x1 = 1.0
                            if kind == KIND_LIF:
                                if P[j, P_TAU_M] != c_tau:
                                    c_tau = P[j, P_TAU_M]
                                    c_x = math.exp((t - T0) / c_tau)
                                x1 = c_x
                            while True:
                                ts = advance(kind, P, S, j, t, True, x1, T0, dc, d_ptr, d_rate, d_dt, d_w, d_next,
                                             d_rng, ctr, nupd)
                                if ts == INF:
                                    break
                                if need_room(j, rec, g_ptr, h_t, o_t, ctr, hrow, hist, hinfo):
                                    h_t, h_g, o_t, o_i, hist = grow(j, T, rec, g_ptr, h_t, h_g, o_t, o_i, ctr, hrow,
                                                                    hist, hinfo, in_ptr, in_grp, gst, g_rule, g_delay,
                                                                    R)
                                emit(j, ts, nspk, rec, g_ptr, g_delay, h_t, h_g, o_t, o_i, ctr, lbin, npop, act, ebin,
                                     P, hrow, hist, hinfo)
                                reset(kind, P, S, j, ts)
                    if ru >= 0:
                        if R[ru, R_TYPE] == RULE_DOPA:
                            dopa_update(k, g, ru, R, gst, syn_w, syn_kp, hist, hinfo, hrow[j], tp, dd, R[ru, R_TMINV],
                                        dh_t, dh_m, dh_n, dst, ctr)
                        else:
                            stdp_update(k, g, ru, R, gst, syn_w, syn_kp, hist, hinfo, hrow[j], tp, dd, r2,
                                        R[ru, R_TMINV], ctr)
                        if R[ru, R_REC] != 0.0:
                            n = ctr[C_WREC]
                            w_t[n] = t - g_delay[g]
                            w_k[n] = k
                            w_w[n] = syn_w[k]
                            ctr[C_WREC] = n + 1
                    receive(kind, P, S, j, syn_w[k], t)
                    if kind == KIND_LIF_EXP and syn_w[k] >= 0.0:
                        # excitatory input: spend the bound's budget; once spent, the bound no longer holds
                        budget[j] -= syn_w[k] * P[j, P_KG_EX]
                        if budget[j] < 0.0:
                            safe[j] = -INF
                    if tflag[j] == 0:
                        tflag[j] = 1
                        touched[ntouch] = j
                        ntouch += 1
                if ru >= 0:
                    if R[ru, R_TYPE] == RULE_DOPA:
                        gst[g, G_N] = dst[2]
                        gst[g, G_DIDX] = dst[3]
                    gst[g, G_KP] = gst[g, G_KP] * math.exp((gst[g, G_TLAST] - tp) / R[ru, R_TAU_PLUS]) + 1.0
                    gst[g, G_R2] = r2 + 1.0
                    gst[g, G_TLAST] = tp
                    gst[g, G_HAS] = 1.0
                    ctr[C_TRACE] += 1
            for q in range(ntouch):
                j = touched[q]
                tflag[j] = 0
                kind = kinds[j]
                if kind == KIND_PARROT or fires_on_input(kind, P, S, j, t):
                    if need_room(j, rec, g_ptr, h_t, o_t, ctr, hrow, hist, hinfo):
                        h_t, h_g, o_t, o_i, hist = grow(j, T, rec, g_ptr, h_t, h_g, o_t, o_i, ctr, hrow, hist, hinfo,
                                                        in_ptr, in_grp, gst, g_rule, g_delay, R)
                    emit(j, t, nspk, rec, g_ptr, g_delay, h_t, h_g, o_t, o_i, ctr, lbin, npop, act, ebin, P, hrow,
                         hist, hinfo)
                    if kind != KIND_PARROT:
                        reset(kind, P, S, j, t)
        # 3. samples, then flush neurons that can fire between inputs to the window end
        if ctr[C_SMP] < smp_t.shape[0] and smp_t[ctr[C_SMP]] < Te:
            h_t, h_g, o_t, o_i, hist = take_samples(Te, False, T0, dc, kinds, P, S, nspk, rec, g_ptr, g_delay, d_ptr,
                                                    d_rate, d_dt, d_w, d_next, d_rng, smp_t, smp_id, smp_var, smp_out,
                                                    h_t, h_g, o_t, o_i, ctr, nupd, lbin, npop, act, ebin,
                                                    hrow, hist, hinfo, in_ptr, in_grp, gst, g_rule, R, T)
        c_tau = -1.0
        c_x = 1.0
        for q in range(flush.shape[0]):
            j = flush[q]
            if safe[j] >= Te:
                continue  # (only KIND_LIF_EXP rows have bounds) no threshold crossing before the bound
            if S[j, S_T] < Te:
                kind = kinds[j]
                if kind == KIND_LIF_EXP:
                    # a new bound; no threshold crossing before it: leave the row where it is
                    safe[j] = safe_until(kind, P, S, j, budget)
                    if safe[j] >= Te:
                        continue
                x1 = 1.0
                if kind == KIND_LIF:
                    if P[j, P_TAU_M] != c_tau:
                        c_tau = P[j, P_TAU_M]
                        c_x = math.exp((Te - T0) / c_tau)
                    x1 = c_x
                while True:
                    ts = advance(kind, P, S, j, Te, False, x1, T0, dc, d_ptr, d_rate, d_dt, d_w, d_next, d_rng, ctr,
                                 nupd)
                    if ts == INF:
                        break
                    if need_room(j, rec, g_ptr, h_t, o_t, ctr, hrow, hist, hinfo):
                        h_t, h_g, o_t, o_i, hist = grow(j, T, rec, g_ptr, h_t, h_g, o_t, o_i, ctr, hrow, hist, hinfo,
                                                        in_ptr, in_grp, gst, g_rule, g_delay, R)
                    emit(j, ts, nspk, rec, g_ptr, g_delay, h_t, h_g, o_t, o_i, ctr, lbin, npop, act, ebin, P, hrow,
                         hist, hinfo)
                    reset(kind, P, S, j, ts)
                if kind == KIND_LIF_EXP:
                    safe[j] = safe_until(kind, P, S, j, budget)
        T = Te
    return h_t, h_g, o_t, o_i, hist, w_t, w_k, w_w


#: the functions that make up the kernel, in dependency order (the Numba twin compiles these)
KERNEL_FUNCTIONS = (
    "uniform", "exp_interval", "heap_push", "heap_pop", "threshold", "xfac", "decays", "evolve",
    "evolve_refractory", "_ex", "_fval", "_fder", "_refine", "crossing_generic", "first_crossing", "receive",
    "log_below", "safe_until", "fires_on_input", "reset", "drive_next", "kick_weight", "next_kick", "advance", "rebase",
    "hist_push", "hist_prune", "k_before", "pairing_interval", "facilitate", "depress", "facilitate3", "depress3",
    "stdp_update",
    "dopa_weight", "dopa_process", "dopa_update",
    "need_room", "grow", "emit", "advance_emit", "take_samples", "run",
)
