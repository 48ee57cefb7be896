# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled event-loop kernel: a line-by-line port of :mod:`spikeengine.backends.python`.

The Python reference is the specification; every function below carries the name
of the reference function it translates, and evaluates every floating-point
expression in the same order and grouping (the build disables FMA contraction and
fast-math), so the results agree bit for bit.

Layout: the arrays are checked once at entry (dtype, contiguity, shape, index
ranges), then raw pointers into them are gathered in a :c:type:`Ctx` struct and the
whole loop runs without the GIL in ``noexcept nogil`` functions taking ``Ctx*``.
The event heap and the output buffer live in the caller's arrays until they must
grow; they then move to ``malloc``'d buffers (grown by ``realloc``) that are copied
into new NumPy arrays at exit.
"""

cimport numpy as cnp
from libc.math cimport INFINITY, copysign, exp, expm1, fabs, floor, isfinite, log, pow
from libc.stdint cimport int8_t, int32_t, int64_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy

from _types cimport *

import weakref

import numpy as np

cnp.import_array()

cdef extern from *:
    """
    #define SE_GOLDEN 0x9E3779B97F4A7C15ULL
    #define SE_MIX1 0xBF58476D1CE4E5B9ULL
    #define SE_MIX2 0x94D049BB133111EBULL
    #define SE_PREFETCH(p) __builtin_prefetch((const void*)(p), 0, 3)
    #define SE_PREFETCHW(p) __builtin_prefetch((const void*)(p), 1, 3)
    """
    const uint64_t SE_GOLDEN
    const uint64_t SE_MIX1
    const uint64_t SE_MIX2
    # software prefetch hints: no effect on results, only on when memory is fetched
    void SE_PREFETCH(const void* p) noexcept nogil
    void SE_PREFETCHW(const void* p) noexcept nogil

cdef double INF = INFINITY
#: width below which a bracketed threshold crossing is refined by Newton/bisection
cdef double BRACKET = 1e-4
#: width below which a touching (tangent) trajectory is treated as not crossing
cdef double TANGENT = 1e-12
#: absolute tolerance on crossing times (ms)
cdef double XTOL = 1e-13
cdef double TWO_M53 = 1.0 / 9007199254740992.0
#: NEST's tolerance when comparing spike times in STDP (ms)
cdef double STDP_EPS = 1.0e-6

#: layout constants as compiled in (checked against spikeengine.dtypes by the tests)
LAYOUT = {
    "KIND_SOURCE": KIND_SOURCE, "KIND_LIF": KIND_LIF, "KIND_LIF_EXP": KIND_LIF_EXP, "KIND_IF": KIND_IF,
    "KIND_PARROT": KIND_PARROT, "KIND_POISSON": KIND_POISSON,
    "P_TAU_M": P_TAU_M, "P_C_M": P_C_M, "P_E_L": P_E_L, "P_I_E": P_I_E, "P_V_TH": P_V_TH,
    "P_V_RESET": P_V_RESET, "P_T_REF": P_T_REF, "P_TAU_EX": P_TAU_EX, "P_TAU_IN": P_TAU_IN,
    "P_TAU_A": P_TAU_A, "P_BETA": P_BETA, "P_V_MIN": P_V_MIN, "P_RESET_SUB": P_RESET_SUB,
    "P_V_INF": P_V_INF, "P_K_EX": P_K_EX, "P_K_IN": P_K_IN, "P_RATE": P_RATE, "P_SLOPE": P_SLOPE, "NP": NP,
    "P_TMINV": P_TMINV, "P_TTINV": P_TTINV, "P_G_EX": P_G_EX, "P_G_IN": P_G_IN, "P_KG_EX": P_KG_EX,
    "S_V": S_V, "S_T": S_T, "S_REF": S_REF, "S_X": S_X, "S_TK": S_TK, "S_A": S_A, "S_IEX": S_IEX,
    "S_IIN": S_IIN, "S_XE": S_XE, "S_XI": S_XI, "NS": NS,
    "C_HEAP": C_HEAP, "C_OUT": C_OUT, "C_SRC": C_SRC, "C_SMP": C_SMP, "C_SYNEV": C_SYNEV,
    "C_SYNEV_REC": C_SYNEV_REC, "C_UPD": C_UPD, "C_SPK": C_SPK, "C_KICK": C_KICK, "NCTR": NCTR,
    "C_WUPD": C_WUPD, "C_TRACE": C_TRACE, "C_WREC": C_WREC,
    "RULE_STDP": RULE_STDP, "RULE_NN_SYMM": RULE_NN_SYMM, "RULE_NN_RESTR": RULE_NN_RESTR,
    "RULE_NN_PRE": RULE_NN_PRE, "RULE_TRIPLET": RULE_TRIPLET, "RULE_DOPA": RULE_DOPA,
    "R_TYPE": R_TYPE, "R_DDEN": R_DDEN, "R_WMAX": R_WMAX, "R_TAU_PLUS": R_TAU_PLUS, "R_LAMBDA": R_LAMBDA,
    "R_ALPHA": R_ALPHA, "R_MU_PLUS": R_MU_PLUS, "R_MU_MINUS": R_MU_MINUS, "R_TAU_X": R_TAU_X, "R_APLUS": R_APLUS,
    "R_AMINUS": R_AMINUS, "R_APLUS3": R_APLUS3, "R_AMINUS3": R_AMINUS3, "R_REC": R_REC, "R_TMINV": R_TMINV,
    "R_TAU_C": R_TAU_C, "R_TAU_N": R_TAU_N, "R_B": R_B, "R_WMIN": R_WMIN, "R_VT": R_VT,
    "NR": NR,
    "G_TLAST": G_TLAST, "G_KP": G_KP, "G_R2": G_R2, "G_HAS": G_HAS, "G_N": G_N, "G_DIDX": G_DIDX,
    "NG": NG,
    "H_T": H_T, "H_KM": H_KM, "H_KT": H_KT, "NH": NH, "STDP_EPS": STDP_EPS,
}

#: the kernel's state row: the first NSK columns of S (one cache line); S_XE and S_XI live in Ctx.SX
cdef enum:
    NSK = 8

# prefetch distances (synapses ahead) in the delivery loop: rows of targets, then their Poisson drives
cdef enum:
    PF_ROW = 12
    PF_DRIVE = 6
    PF_TOUCH = 8
    PF_HDR = 28  # plastic groups: the target's spike-history header (its newest entries: PF_ROW ahead)

#: the reference's cap on a grid kick's multiplicity (kick_weight: m < 1000)
cdef enum:
    KW_MAX = 1000
    KW_FAST = 8  # _grid_multiplicity: table entries compared without a branch (KW_FAST - 1 terms below)

# status codes of the nogil functions
cdef enum:
    OK = 0
    ERR_MEMORY = -1
    ERR_STALL = -2


cdef struct Drive:
    # one Poisson drive (reference: d_next, d_rng, d_rate, d_dt, d_w), packed so that a kick reads one line
    time_t next
    rng_t rng
    double rate
    double dt
    weight_t w
    # grid drives: 1 - u above lim means no empty step before the next kick (drive_next's fast path)
    double lim
    double pad0
    double pad1


cdef struct Ctx:
    # network (read-only) and state (mutated in place)
    index_t n
    const int8_t* kinds  # a compact copy of the caller's int64 kinds (unknown kinds: 127)
    const double* P
    # the state: the caller's S[n, NS] copied into 64-byte rows of its first NSK columns (S) and the
    # KIND_LIF_EXP factors S_XE, S_XI (SX, two per neuron) for the run, and back at its end
    double* S
    double* SX
    index_t* nspk
    const flag_t* rec
    const index_t* g_ptr
    const target_t* g_src
    const time_t* g_delay
    const index_t* g_syn
    const target_t* syn_tgt
    weight_t* syn_w
    const index_t* d_ptr
    # the Poisson drives, one 64-byte record each (the caller's d_* arrays, copied in and d_next/d_rng back)
    Drive* drv
    const time_t* src_t
    const index_t* src_id
    index_t n_src
    const index_t* psrc
    index_t n_psrc
    rng_t* rng
    const time_t* smp_t
    index_t n_smp
    const index_t* smp_id
    const index_t* smp_var
    index_t n_col
    double* smp_out
    const index_t* flush
    index_t n_flush
    index_t* touched
    flag_t* tflag
    # event heap and output buffer: the caller's arrays until they grow, then malloc'd (own = 1)
    time_t* h_t
    index_t* h_g
    index_t h_cap
    int h_own
    time_t* o_t
    index_t* o_i
    index_t o_cap
    int o_own
    # the counters of ctr, kept here during the run and written back at exit
    index_t nheap
    index_t nout
    index_t src_p
    index_t smp_p
    index_t synev
    index_t synev_rec
    index_t upd
    index_t spk
    index_t kick
    # energy counters (reference: nupd, g_cnt, lbin, npop, act, ebin); nupd/g_cnt NULL and bin_w 0 when off
    index_t* nupd
    index_t* g_cnt
    index_t* lbin
    const index_t* npop
    index_t* act
    index_t act_rows
    index_t act_cols
    double bin_w
    index_t bin0
    # decay epoch of the shared KIND_LIF and KIND_LIF_EXP factors (reference: T0 of run)
    double T0
    # decays() of KIND_LIF_EXP rows: dc[0:3] the last row's factors, dc[7:10] the shared x_k(t1) of the key
    # dc[3:7] = (t1, tau_m, tau_ex, tau_in); all -1.0 at the start of every run and the key again at every
    # rebase (reference: dc = np.full(10, -1.0) in run)
    double dc[10]
    # kick_weight() cache: the reference's inversion sequence cdf_0 = exp(-lam), cdf_m = cdf_{m-1} + p_m,
    # p_m = p_{m-1} * lam / m for the last lam seen, filled lazily by the same recurrence (identical
    # doubles), kw_cdf[0:kw_n]; kw_p = p_{kw_n - 1}; kw_lam = -1.0 at the start of every run
    double kw_lam
    double kw_p
    index_t kw_n
    double kw_cdf[KW_MAX + 1]
    # plasticity (reference: g_rule, R, gst, syn_kp, hrow, hist, hinfo, in_ptr, in_grp, w_t, w_k, w_w);
    # g_rule and hrow NULL when no projection is plastic. hist: the caller's array until it grows (hist_own)
    const index_t* g_rule
    const double* R
    double* gst
    double* syn_kp
    const index_t* hrow
    double* hist
    index_t hist_rows
    index_t hist_H
    int hist_own
    index_t* hinfo
    const index_t* in_ptr
    const index_t* in_grp
    time_t* w_t
    index_t* w_k
    double* w_w
    index_t w_cap
    int w_own
    int ww_own
    index_t nwrec
    index_t wupd
    index_t trace
    # start of the current window: no delivery before it is still to come (reference: T of run)
    double now
    # dopamine arrivals per volume transmitter (reference: dh_t, dh_m, dh_n), rows of dh_L entries
    const double* dh_t
    const double* dh_m
    const index_t* dh_n
    index_t dh_L
    # dopa_update() scratch (reference: dst): w, c, n, arrival index
    double dst[4]
    # safe_until() bounds per neuron and their input budgets (reference: safe, budget), -inf and 0 at the
    # start of every run
    double* safe
    double* budget


# --------------------------------------------------------------------------- random
cdef inline double uniform(rng_t* rng, index_t k) noexcept nogil:
    """splitmix64: next uniform double in [0, 1) of stream ``k`` (reference: uniform)."""
    cdef uint64_t x = rng[k] + SE_GOLDEN
    rng[k] = x
    cdef uint64_t z = (x ^ (x >> 30)) * SE_MIX1
    z = (z ^ (z >> 27)) * SE_MIX2
    z = z ^ (z >> 31)
    return <double>(z >> 11) * TWO_M53


cdef inline double exp_interval(rng_t* rng, index_t k, double rate) noexcept nogil:
    return -log(1.0 - uniform(rng, k)) / rate


# --------------------------------------------------------------------------- heap
cdef inline void heap_push(Ctx* c, time_t t, index_t g) noexcept nogil:
    cdef time_t* h_t = c.h_t
    cdef index_t* h_g = c.h_g
    cdef index_t n = c.nheap
    cdef index_t i = n
    cdef index_t p, pg
    cdef time_t pt
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
    c.nheap = n + 1


cdef inline void heap_pop(Ctx* c) noexcept nogil:
    cdef time_t* h_t = c.h_t
    cdef index_t* h_g = c.h_g
    cdef index_t n = c.nheap - 1
    c.nheap = n
    if n == 0:
        return
    cdef time_t t = h_t[n]
    cdef index_t g = h_g[n]
    cdef index_t i = 0
    cdef index_t ch
    while True:
        ch = 2 * i + 1
        if ch >= n:
            break
        if ch + 1 < n and (h_t[ch + 1] < h_t[ch] or (h_t[ch + 1] == h_t[ch] and h_g[ch + 1] < h_g[ch])):
            ch += 1
        if t < h_t[ch] or (t == h_t[ch] and g < h_g[ch]):
            break
        h_t[i] = h_t[ch]
        h_g[i] = h_g[ch]
        i = ch
    h_t[i] = t
    h_g[i] = g


# ---------------------------------------------------------------- neuron algebra
cdef inline double threshold(const double* p, const double* s) noexcept nogil:
    return p[P_V_TH] + p[P_BETA] * s[S_A]


cdef inline double xfac(index_t kind, const double* p, double t, double T0) noexcept nogil:
    """Decay-epoch factor exp((t - T0) / tau_m) of a KIND_LIF neuron, 1.0 for other kinds (reference: xfac)."""
    if kind == KIND_LIF:
        return exp((t - T0) / p[P_TAU_M])
    return 1.0


cdef inline void decays(const double* p, const double* s, const double* xr, double t1, double T0,
                        double* dc) noexcept nogil:
    """Fill dc[0:3] with the row's decay factors from S_T to t1, x_k(S_T) / x_k(t1), with the shared
    x_k(t1) = exp((t1 - T0) / tau_k) in dc[7:10] for the key dc[3:7] = (t1, tau_m, tau_ex, tau_in)
    (reference: decays)."""
    cdef double tm = p[P_TAU_M]
    cdef double te = p[P_TAU_EX]
    cdef double ti = p[P_TAU_IN]
    if not (t1 == dc[3] and tm == dc[4] and te == dc[5] and ti == dc[6]):
        dc[7] = exp((t1 - T0) / tm)
        dc[8] = exp((t1 - T0) / te)
        dc[9] = exp((t1 - T0) / ti)
        dc[3] = t1
        dc[4] = tm
        dc[5] = te
        dc[6] = ti
    dc[0] = s[S_X] / dc[7]
    dc[1] = xr[0] / dc[8]
    dc[2] = xr[1] / dc[9]


cdef inline void evolve(index_t kind, const double* p, double* s, double* xr, double dt, double x, double t1,
                        double T0, double* dc) noexcept nogil:
    cdef double vinf, cex, cin, eex, ein
    if kind == KIND_LIF_EXP:
        vinf = p[P_V_INF]
        cex = p[P_K_EX] * s[S_IEX]
        cin = p[P_K_IN] * s[S_IIN]
        decays(p, s, xr, t1, T0, dc)
        eex = dc[1]
        ein = dc[2]
        s[S_V] = vinf + (s[S_V] - vinf - cex - cin) * dc[0] + cex * eex + cin * ein
        s[S_IEX] = s[S_IEX] * eex
        s[S_IIN] = s[S_IIN] * ein
        s[S_X] = dc[7]
        xr[0] = dc[8]
        xr[1] = dc[9]
    elif kind == KIND_LIF:
        vinf = p[P_V_INF]
        s[S_V] = vinf + (s[S_V] - vinf) * (s[S_X] / x)
        s[S_X] = x
    elif kind == KIND_IF:
        s[S_V] = s[S_V] + p[P_SLOPE] * dt
    if s[S_A] != 0.0:
        s[S_A] = s[S_A] * exp(-dt / p[P_TAU_A])


cdef inline void evolve_refractory(index_t kind, const double* p, double* s, double* xr, double dt, double x,
                                   double t1, double T0, double* dc) noexcept nogil:
    if kind == KIND_LIF:
        s[S_X] = x
    elif kind == KIND_LIF_EXP:
        decays(p, s, xr, t1, T0, dc)
        s[S_IEX] = s[S_IEX] * dc[1]
        s[S_IIN] = s[S_IIN] * dc[2]
        s[S_X] = dc[7]
        xr[0] = dc[8]
        xr[1] = dc[9]
    if s[S_A] != 0.0:
        s[S_A] = s[S_A] * exp(-dt / p[P_TAU_A])


cdef inline double _ex(double c, double s, double tau) noexcept nogil:
    """exp(-s/tau), or 0.0 when the term's coefficient ``c`` is zero (reference: _ex)."""
    if c == 0.0:
        return 0.0
    return exp(-s / tau)


cdef inline double _fval(double c0, double cl, double cm, double tm, double ce, double te, double ci, double ti,
                         double ca, double ta, double s) noexcept nogil:
    return c0 + cl * s + cm * _ex(cm, s, tm) + ce * _ex(ce, s, te) + ci * _ex(ci, s, ti) + ca * _ex(ca, s, ta)


cdef inline double _fder(double cl, double cm, double tm, double ce, double te, double ci, double ti,
                         double ca, double ta, double s) noexcept nogil:
    return (cl - cm / tm * _ex(cm, s, tm) - ce / te * _ex(ce, s, te) - ci / ti * _ex(ci, s, ti)
            - ca / ta * _ex(ca, s, ta))


# Python's max(a, b) / min(a, b) on floats: the first argument unless the second is strictly larger / smaller
cdef inline double pymax(double a, double b) noexcept nogil:
    return b if b > a else a


cdef inline double pymin(double a, double b) noexcept nogil:
    return b if b < a else a


cdef double _refine(double c0, double cl, double cm, double tm, double ce, double te, double ci, double ti,
                    double ca, double ta, double a, double b) noexcept nogil:
    """Root of f in (a, b] with f(a) < 0 <= f(b): safeguarded Newton (reference: _refine)."""
    cdef double x = b
    cdef double fx, tol, d, xn
    cdef int it
    for it in range(100):
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
        if fabs(xn - x) < tol:
            if fx >= 0.0:
                xn = x - tol
            else:
                xn = x + tol
        if not (xn > a and xn < b):
            xn = 0.5 * (a + b)
        x = xn
    return b


cdef double crossing_generic(double c0, double cl, double cm, double tm, double ce, double te, double ci,
                             double ti, double ca, double ta, double D, double dm, double de,
                             double di) noexcept nogil:
    """First s in (0, D] where f(s) reaches 0, or -1 (reference: crossing_generic).

    ``dm, de, di``: exp(-D/tm), exp(-D/te), exp(-D/ti) from the caller (negative: compute).
    """
    if c0 + cm + ce + ci + ca >= 0.0:
        return -1.0
    cdef double a = 0.0
    cdef double ema = 1.0
    cdef double eea = 1.0
    cdef double eia = 1.0
    cdef double eaa = 1.0
    cdef double h = D
    cdef double b, emb, eeb, eib, eab, ub, fb, lb
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
        ub = c0 + pymax(cl * a, cl * b) + pymax(cm * ema, cm * emb) + pymax(ce * eea, ce * eeb)
        ub += pymax(ci * eia, ci * eib) + pymax(ca * eaa, ca * eab)
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
            lb = cl + pymin(-cm / tm * ema, -cm / tm * emb) + pymin(-ce / te * eea, -ce / te * eeb)
            lb += pymin(-ci / ti * eia, -ci / ti * eib) + pymin(-ca / ta * eaa, -ca / ta * eab)
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


cdef inline bint lif_exp_below(double c0, double cm, double ce, double ci, double ca, double ta, double D,
                               const double* dc) noexcept nogil:
    """True when crossing_generic(c0, 0.0, cm, .., ce, .., ci, .., ca, ta, D, dc[0], dc[1], dc[2]) returns -1
    at its first test or after its first bracket [0, D] (upper bound below 0): the common no-spike step.

    The same expressions as crossing_generic's entry test and first iteration (a = 0, b = 0.0 + D = D,
    the factors at a all 1.0), inline and without the call; any other case is left to crossing_generic.
    """
    cdef double cl = 0.0
    cdef double a = 0.0
    cdef double b, emb, eeb, eib, eab, ub
    if c0 + cm + ce + ci + ca >= 0.0:
        return True
    b = a + D
    if b > D:
        b = D
    if b == D and dc[0] >= 0.0:
        emb = dc[0] if cm != 0.0 else 0.0
        eeb = dc[1] if ce != 0.0 else 0.0
        eib = dc[2] if ci != 0.0 else 0.0
    else:
        return False
    eab = _ex(ca, b, ta)
    ub = c0 + pymax(cl * a, cl * b) + pymax(cm * 1.0, cm * emb) + pymax(ce * 1.0, ce * eeb)
    ub += pymax(ci * 1.0, ci * eib) + pymax(ca * 1.0, ca * eab)
    return ub < 0.0


cdef inline double first_crossing(index_t kind, const double* p, const double* s, const double* xr, double D,
                                  double t1, double T0, double* dc) noexcept nogil:
    """Time s in (0, D] at which the neuron (free dynamics) first reaches threshold, or -1."""
    cdef double vth = p[P_V_TH]
    if vth == INF:
        return -1.0
    cdef double v = s[S_V]
    cdef double adapt = p[P_BETA] * s[S_A]
    cdef double vinf, sx, slope, cex, cin
    if kind == KIND_LIF:
        vinf = p[P_V_INF]
        if adapt == 0.0:
            if vinf <= vth or v >= vth:
                return -1.0
            sx = p[P_TAU_M] * log((vinf - v) / (vinf - vth))
            if sx <= D:
                return sx
            return -1.0
        return crossing_generic(vinf - vth, 0.0, v - vinf, p[P_TAU_M], 0.0, 1.0, 0.0, 1.0,
                                -adapt, p[P_TAU_A], D, -1.0, -1.0, -1.0)
    if kind == KIND_IF:
        slope = p[P_SLOPE]
        if adapt == 0.0:
            if slope <= 0.0 or v >= vth:
                return -1.0
            sx = (vth - v) / slope
            if sx <= D:
                return sx
            return -1.0
        return crossing_generic(v - vth, slope, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, -adapt, p[P_TAU_A], D,
                                -1.0, -1.0, -1.0)
    if kind == KIND_LIF_EXP:
        vinf = p[P_V_INF]
        cex = p[P_K_EX] * s[S_IEX]
        cin = p[P_K_IN] * s[S_IIN]
        decays(p, s, xr, t1, T0, dc)
        if lif_exp_below(vinf - vth, v - vinf - cex - cin, cex, cin, -adapt, p[P_TAU_A], D, dc):
            return -1.0
        return crossing_generic(vinf - vth, 0.0, v - vinf - cex - cin, p[P_TAU_M], cex, p[P_TAU_EX],
                                cin, p[P_TAU_IN], -adapt, p[P_TAU_A], D, dc[0], dc[1], dc[2])
    return -1.0


cdef inline void receive(index_t kind, const double* p, double* s, double w, double t) noexcept nogil:
    cdef double v, vmin
    if kind == KIND_LIF_EXP:
        if w >= 0.0:
            s[S_IEX] += w
        else:
            s[S_IIN] += w
    elif kind == KIND_LIF or kind == KIND_IF:
        if t >= s[S_REF]:
            v = s[S_V] + w
            vmin = p[P_V_MIN]
            if v < vmin:
                v = vmin
            s[S_V] = v


cdef inline double log_below(double x) noexcept nogil:
    """A lower bound of ln(x) for x > 1 without a libm call (reference: log_below).

    frexp by its bits (x is a finite normal number above 1): y = 2 m in [1, 2) shares x's mantissa
    with the exponent of 1.0, and e - 1 is x's unbiased exponent; the same values as frexp.
    """
    cdef uint64_t bits
    memcpy(&bits, &x, 8)
    cdef int64_t e1 = <int64_t>((bits >> 52) & 0x7FF) - 1023
    bits = (bits & 0x000FFFFFFFFFFFFFULL) | 0x3FF0000000000000ULL
    cdef double y
    memcpy(&y, &bits, 8)
    return (<double>e1 * 0.6931471805599452 + 2.0 * (y - 1.0) / (y + 1.0)) * (1.0 - 1e-12) - 1e-12


cdef double safe_until(index_t kind, const double* p, const double* s, double* budget) noexcept nogil:
    """A time before which the neuron cannot reach threshold unless more than ``budget[0]`` (set here)
    of excitatory input arrives, or -inf (reference: safe_until)."""
    if kind != KIND_LIF_EXP:
        return -INF
    cdef double tk = s[S_TK]
    cdef double t0 = s[S_T]
    budget[0] = INF
    if t0 < s[S_REF]:
        return pymin(s[S_REF], tk)
    cdef double vth = p[P_V_TH]
    if vth == INF:
        return tk
    cdef double vinf = p[P_V_INF]
    cdef double tm = p[P_TAU_M]
    cdef double cex = p[P_K_EX] * s[S_IEX]
    cdef double cin = p[P_K_IN] * s[S_IIN]
    cdef double ca = -p[P_BETA] * s[S_A]
    cdef double d = s[S_V] - vinf
    cdef double c0 = vinf - vth
    cdef double b
    cdef double k = c0 + pymax(ca, 0.0)
    if cex * (p[P_TAU_EX] - tm) > 0.0:
        k += fabs(cex) * p[P_G_EX]
    if cin * (p[P_TAU_IN] - tm) > 0.0:
        k += fabs(cin) * p[P_G_IN]
    k += 1e-9 * (1.0 + fabs(c0) + fabs(d) + fabs(cex) + fabs(cin) + fabs(ca))
    cdef double B = 0.0
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
    budget[0] = B
    return pymin(t0 + b, tk)


cdef inline bint fires_on_input(index_t kind, const double* p, const double* s, double t) noexcept nogil:
    if kind == KIND_LIF or kind == KIND_IF:
        return t >= s[S_REF] and s[S_V] >= threshold(p, s)
    return False


cdef inline void reset(const double* p, double* s, double t) noexcept nogil:
    if p[P_RESET_SUB] != 0.0:
        s[S_V] = s[S_V] - threshold(p, s)
    else:
        s[S_V] = p[P_V_RESET]
    s[S_REF] = t + p[P_T_REF]
    if p[P_BETA] != 0.0:
        s[S_A] = s[S_A] + 1.0


cdef inline double drive_next(Ctx* c, index_t d, double t_prev) noexcept nogil:
    """Time of drive ``d``'s next kick after its kick at ``t_prev`` (0 for the first) (reference: drive_next).

    Continuous drives (d_dt == 0): an exponential interval; grid drives: the next grid step with a kick.
    """
    cdef Drive* dv = c.drv + d
    cdef double dt = dv.dt
    cdef double k, e, v
    if dt == 0.0:
        return t_prev + exp_interval(&dv.rng, 0, dv.rate)
    k = floor(t_prev / dt + 0.5)
    v = 1.0 - uniform(&dv.rng, 0)
    if v > dv.lim:
        return (k + 1.0) * dt  # the next step: floor(-log(v) / (rate dt)) is surely 0 (see Drive.lim)
    e = -log(v)
    return (k + 1.0 + floor(e / (dv.rate * dt))) * dt


cdef inline double kick_weight(Ctx* c, index_t d) noexcept nogil:
    """Weight of drive ``d``'s kick: d_w, or m * d_w on a grid with m ~ Poisson(rate dt) given m >= 1
    (reference: kick_weight; m by inversion, at most 1000)."""
    cdef double dt = c.drv[d].dt
    if dt == 0.0:
        return c.drv[d].w
    return _grid_multiplicity(c, d, dt) * c.drv[d].w


cdef double _grid_multiplicity(Ctx* c, index_t d, double dt) noexcept nogil:
    """The multiplicity m of kick_weight, as a double (exact: a small integer).

    The reference's loop (p = exp(-lam); cdf = p; while cdf <= u and m < 1000: m += 1; p = p * lam / m;
    cdf += p) reads its cdf values from the Ctx table for this lam, extending it with the very same
    operations when it runs past the end: same doubles, no exp and no division on a hit.
    """
    cdef double lam = c.drv[d].rate * dt
    cdef double* tab = c.kw_cdf
    cdef double p0, pm
    cdef index_t m
    if lam != c.kw_lam:  # (a NaN lam never matches: always rebuilt, as the reference computes it)
        p0 = exp(-lam)
        c.kw_lam = lam
        tab[0] = p0
        pm = p0
        for m in range(1, KW_FAST):  # the first KW_FAST entries at once, by the same recurrence
            pm = pm * lam / <double>m
            tab[m] = tab[m - 1] + pm
        c.kw_p = pm
        c.kw_n = KW_FAST
    p0 = tab[0]
    cdef double u = p0 + uniform(&c.drv[d].rng, 0) * (1.0 - p0)
    # the loop below stops at the first m with tab[m] > u; tab never decreases, so below KW_FAST that m
    # is the number of entries <= u among the first KW_FAST (no data-dependent branch)
    m = ((tab[0] <= u) + (tab[1] <= u) + (tab[2] <= u) + (tab[3] <= u)
         + (tab[4] <= u) + (tab[5] <= u) + (tab[6] <= u) + (tab[7] <= u))
    if m < KW_FAST:
        return <double>m if m > 0 else 1.0
    cdef double cdf = tab[KW_FAST - 1]
    m = KW_FAST - 1
    while cdf <= u and m < KW_MAX:
        m += 1
        if m == c.kw_n:
            pm = c.kw_p * lam / <double>m
            c.kw_p = pm
            tab[m] = tab[m - 1] + pm
            c.kw_n = m + 1
        cdf = tab[m]
    if m == 0:
        m = 1
    return <double>m


cdef inline index_t next_kick(Ctx* c, index_t j, double* s) noexcept nogil:
    """Draw missing kick times of neuron ``j``'s drives, cache the earliest in S_TK; the next drive or -1."""
    cdef index_t best = -1
    cdef double tb = INF
    cdef index_t d
    cdef Drive* drv = c.drv
    for d in range(c.d_ptr[j], c.d_ptr[j + 1]):
        if drv[d].next < 0.0:
            drv[d].next = drive_next(c, d, 0.0)
        if drv[d].next < tb:
            tb = drv[d].next
            best = d
    s[S_TK] = tb
    return best


cdef inline double advance(Ctx* c, index_t kind, index_t j, double t1, bint incl, double x1) noexcept nogil:
    """Advance neuron ``j`` towards ``t1`` (``x1`` = xfac at ``t1``); its first spike time (row not reset) or INF.

    With ``incl`` (a delivery instant) a drive kick at exactly ``t1`` is applied too, without its own
    threshold test (the caller tests all inputs of the instant together).
    """
    cdef const double* p = c.P + j * NP
    cdef double* s = c.S + j * NSK
    cdef double t0, tk, tg, ref, te, sx, x, w
    cdef index_t d
    while True:
        t0 = s[S_T]
        d = -1
        tk = s[S_TK]
        if tk < t1 or (incl and tk == t1):
            d = next_kick(c, j, s)
            tk = s[S_TK]
        tg = t1
        if tk < tg:
            tg = tk
        if t0 < tg:
            c.upd += 1
            if c.nupd != NULL:
                c.nupd[j] += 1
            ref = s[S_REF]
            if t0 < ref:
                te = tg
                if ref < te:
                    te = ref
                x = x1
                if te != t1:
                    x = xfac(kind, p, te, c.T0)
                evolve_refractory(kind, p, s, c.SX + 2 * j, te - t0, x, te, c.T0, c.dc)
                s[S_T] = te
                continue
            sx = first_crossing(kind, p, s, c.SX + 2 * j, tg - t0, tg, c.T0, c.dc)
            if sx >= 0.0:
                evolve(kind, p, s, c.SX + 2 * j, sx, xfac(kind, p, t0 + sx, c.T0), t0 + sx, c.T0, c.dc)
                s[S_T] = t0 + sx
                return t0 + sx
            x = x1
            if tg != t1:
                x = xfac(kind, p, tg, c.T0)
            evolve(kind, p, s, c.SX + 2 * j, tg - t0, x, tg, c.T0, c.dc)
            s[S_T] = tg
        if tk < t1 or (incl and tk == t1):
            w = kick_weight(c, d)
            c.kick += 1
            c.drv[d].next = drive_next(c, d, tk)
            next_kick(c, j, s)
            receive(kind, p, s, w, tk)
            if tk < t1 and fires_on_input(kind, p, s, tk):
                return tk
            continue
        return INF


cdef void rebase(Ctx* c) noexcept nogil:
    """Recompute the decay factors of every LIF row (S_X) and LIF_EXP row (S_X, S_XE, S_XI) for the epoch
    c.T0 (reference: rebase)."""
    cdef index_t j
    for j in range(c.n):
        if c.kinds[j] == KIND_LIF:
            c.S[j * NSK + S_X] = exp((c.S[j * NSK + S_T] - c.T0) / c.P[j * NP + P_TAU_M])
        elif c.kinds[j] == KIND_LIF_EXP:
            c.S[j * NSK + S_X] = exp((c.S[j * NSK + S_T] - c.T0) / c.P[j * NP + P_TAU_M])
            c.SX[2 * j] = exp((c.S[j * NSK + S_T] - c.T0) / c.P[j * NP + P_TAU_EX])
            c.SX[2 * j + 1] = exp((c.S[j * NSK + S_T] - c.T0) / c.P[j * NP + P_TAU_IN])


# ----------------------------------------------------------------- plasticity
cdef inline double* hrow_ptr(Ctx* c, index_t r, index_t q) noexcept nogil:
    """Entry ``q`` (ring position) of history row ``r``."""
    return c.hist + (r * c.hist_H + q) * NH


cdef inline void hist_push(Ctx* c, index_t r, double t, double tminv, double ttinv) noexcept nogil:
    """Append the post spike at ``t`` to history row ``r`` (reference: hist_push)."""
    cdef index_t H = c.hist_H
    cdef index_t s = c.hinfo[2 * r]
    cdef index_t n = c.hinfo[2 * r + 1]
    cdef double tl = -1.0
    cdef double km = 0.0
    cdef double kt = 0.0
    cdef double* e
    if n > 0:
        e = hrow_ptr(c, r, (s + n - 1) % H)
        tl = e[H_T]
        km = e[H_KM]
        kt = e[H_KT]
    e = hrow_ptr(c, r, (s + n) % H)
    e[H_T] = t
    e[H_KM] = km * exp((tl - t) * tminv) + 1.0
    e[H_KT] = kt * exp((tl - t) * ttinv) + 1.0
    c.hinfo[2 * r + 1] = n + 1


cdef void hist_prune(Ctx* c, index_t r, double t) noexcept nogil:
    """Drop history entries no incoming plastic group can read any more (reference: hist_prune)."""
    cdef double cut = INF
    cdef double dd, x
    cdef index_t q, g
    cdef index_t H = c.hist_H
    cdef index_t s = c.hinfo[2 * r]
    cdef index_t n = c.hinfo[2 * r + 1]
    for q in range(c.in_ptr[r], c.in_ptr[r + 1]):
        g = c.in_grp[q]
        dd = c.g_delay[g] * c.R[c.g_rule[g] * NR + R_DDEN]
        x = t - 2.0 * dd
        if c.gst[g * NG + G_HAS] != 0.0:
            x = c.gst[g * NG + G_TLAST] - dd
        if x < cut:
            cut = x
    cut = cut - 2.0 * STDP_EPS
    while n >= 2 and hrow_ptr(c, r, (s + 1) % H)[H_T] <= cut:
        s = (s + 1) % H
        n -= 1
    c.hinfo[2 * r] = s
    c.hinfo[2 * r + 1] = n


cdef int hist_room(Ctx* c, index_t r, double t) noexcept nogil:
    """Make room for one entry in history row ``r``: prune (``t`` no later than any delivery still to come),
    else double every ring (reference: grow)."""
    cdef index_t H = c.hist_H
    cdef index_t H2, rr, i, s, n
    cdef double* nh
    cdef double* src
    hist_prune(c, r, t)
    if c.hinfo[2 * r + 1] < H:
        return OK
    H2 = 2 * H
    nh = <double*>malloc(<size_t>(c.hist_rows * H2 * NH) * sizeof(double))
    if nh == NULL:
        return ERR_MEMORY
    for rr in range(c.hist_rows):
        s = c.hinfo[2 * rr]
        n = c.hinfo[2 * rr + 1]
        for i in range(H2):
            if i < n:
                src = hrow_ptr(c, rr, (s + i) % H)
                nh[(rr * H2 + i) * NH + H_T] = src[H_T]
                nh[(rr * H2 + i) * NH + H_KM] = src[H_KM]
                nh[(rr * H2 + i) * NH + H_KT] = src[H_KT]
            else:
                nh[(rr * H2 + i) * NH + H_T] = 0.0
                nh[(rr * H2 + i) * NH + H_KM] = 0.0
                nh[(rr * H2 + i) * NH + H_KT] = 0.0
        c.hinfo[2 * rr] = 0
    if c.hist_own:
        free(c.hist)
    c.hist = nh
    c.hist_own = 1
    c.hist_H = H2
    return OK


cdef inline double facilitate3(const double* rp, double w, double kp, double ky) noexcept nogil:
    """Triplet facilitation (reference: facilitate3)."""
    cdef double wmax = rp[R_WMAX]
    cdef double nw = fabs(w) + kp * (rp[R_APLUS] + rp[R_APLUS3] * ky)
    if nw < fabs(wmax):
        return copysign(nw, wmax)
    return copysign(wmax, wmax)


cdef inline double depress3(const double* rp, double w, double km, double r2) noexcept nogil:
    """Triplet depression (reference: depress3)."""
    cdef double nw = fabs(w) - km * (rp[R_AMINUS] + rp[R_AMINUS3] * r2)
    if nw > 0.0:
        return copysign(nw, rp[R_WMAX])
    return copysign(0.0, rp[R_WMAX])


cdef inline double powmu(double x, double mu) noexcept nogil:
    """pow(x, mu) with the exact special cases mu = 0 and mu = 1 taken without the libm call (same result)."""
    if mu == 1.0:
        return x
    if mu == 0.0:
        return 1.0
    return pow(x, mu)


cdef inline double facilitate_f(const double* rp, double w, double kp) noexcept nogil:
    """:func:`facilitate` with :func:`powmu`."""
    cdef double wmax = rp[R_WMAX]
    cdef double nw = (w / wmax) + (rp[R_LAMBDA] * powmu(1.0 - (w / wmax), rp[R_MU_PLUS]) * kp)
    if nw < 1.0:
        return nw * wmax
    return wmax


cdef inline double depress_f(const double* rp, double w, double km) noexcept nogil:
    """:func:`depress` with :func:`powmu`."""
    cdef double wmax = rp[R_WMAX]
    cdef double nw = (w / wmax) - (rp[R_ALPHA] * rp[R_LAMBDA] * powmu(w / wmax, rp[R_MU_MINUS]) * km)
    if nw > 0.0:
        return nw * wmax
    return 0.0


cdef inline void pairing_interval(Ctx* c, index_t r, double t1, double t2, double dd, index_t* lo,
                                  index_t* hi, double* km, bint nn, double tminv) noexcept nogil:
    """Reference: pairing_interval, and k_before(t2) in ``km``. The entries are found by scanning the
    ring back from the newest one (the reference scans forward from the oldest; same entries), so an
    update touches the one or two newest entries instead of the whole history."""
    cdef index_t H = c.hist_H
    cdef index_t s = c.hinfo[2 * r]
    cdef double* base = c.hist + r * H * NH
    cdef index_t i, q
    cdef double th
    cdef double* e
    # skip the entries after the interval
    i = c.hinfo[2 * r + 1] - 1
    while i >= 0:
        q = s + i
        if q >= H:
            q -= H
        th = base[q * NH + H_T]
        if dd > 0.0:
            if not th - t2 > STDP_EPS:
                break
        elif not t2 - th <= STDP_EPS:
            break
        i -= 1
    hi[0] = i
    # the postsynaptic trace just before t2: the newest entry with t2 - t_h > eps, at or below hi
    km[0] = 0.0
    while i >= 0:
        q = s + i
        if q >= H:
            q -= H
        e = base + q * NH
        if t2 - e[H_T] > STDP_EPS:
            if nn:
                km[0] = exp((e[H_T] - t2) * tminv)
            else:
                km[0] = e[H_KM] * exp((e[H_T] - t2) * tminv)
            break
        i -= 1
    # walk down to t1
    i = hi[0]
    while i >= 0:
        q = s + i
        if q >= H:
            q -= H
        if base[q * NH + H_T] - t1 <= STDP_EPS:
            break
        i -= 1
    lo[0] = i + 1


cdef inline void stdp_update(Ctx* c, index_t k, index_t g, const double* rp, index_t r, double tp, double dd,
                             double r2, double tminv) noexcept nogil:
    """Update synapse ``k`` for the presynaptic spike reaching it at ``tp`` (reference: stdp_update)."""
    cdef index_t typ = <index_t>rp[R_TYPE]
    cdef double taup = rp[R_TAU_PLUS]
    cdef double tl = c.gst[g * NG + G_TLAST]
    cdef bint has = c.gst[g * NG + G_HAS] != 0.0
    cdef double kp = c.gst[g * NG + G_KP]
    cdef double w = c.syn_w[k]
    cdef index_t H = c.hist_H
    cdef index_t s = c.hinfo[2 * r]
    cdef double* base = c.hist + r * H * NH
    cdef index_t i, hi, lo, q, nup = 0
    cdef double minus_dt, km
    cdef double* e
    if typ == RULE_NN_PRE:
        kp = c.syn_kp[k]
    pairing_interval(c, r, tl - dd, tp - dd, dd, &lo, &hi, &km, typ != RULE_STDP and typ != RULE_TRIPLET, tminv)
    for i in range(lo, hi + 1):
        q = s + i
        if q >= H:
            q -= H
        e = base + q * NH
        minus_dt = tl - (e[H_T] + dd)
        if typ == RULE_STDP:
            w = facilitate_f(rp, w, kp * exp(minus_dt / taup))
            nup += 1
        elif typ == RULE_TRIPLET:
            w = facilitate3(rp, w, kp * exp(minus_dt / taup), e[H_KT] - 1.0)
            nup += 1
        elif typ == RULE_NN_SYMM:
            if has:
                w = facilitate_f(rp, w, exp(minus_dt / taup))
                nup += 1
        elif typ == RULE_NN_RESTR:
            if has:
                w = facilitate_f(rp, w, exp(minus_dt / taup))
                nup += 1
            break
        else:
            w = facilitate_f(rp, w, kp * exp(minus_dt / taup))
            nup += 1
            kp = 0.0
            break
    if typ == RULE_STDP:
        w = depress_f(rp, w, km)
        nup += 1
    elif typ == RULE_TRIPLET:
        w = depress3(rp, w, km, r2)
        nup += 1
    elif typ == RULE_NN_RESTR:
        if lo <= hi:
            w = depress_f(rp, w, km)
            nup += 1
    else:
        w = depress_f(rp, w, km)
        nup += 1
        if typ == RULE_NN_PRE:
            c.syn_kp[k] = kp * exp((tl - tp) / taup) + 1.0
    c.syn_w[k] = w
    c.wupd += nup


cdef inline double dopa_weight(const double* rp, double w, double c0, double n0, double minus_dt) noexcept nogil:
    """Reference: dopa_weight."""
    cdef double tc = rp[R_TAU_C]
    cdef double tn = rp[R_TAU_N]
    cdef double taus = (tc + tn) / (tc * tn)
    w = w - c0 * (n0 / taus * expm1(taus * minus_dt) - rp[R_B] * tc * expm1(minus_dt / tc))
    if w < rp[R_WMIN]:
        w = rp[R_WMIN]
    if w > rp[R_WMAX]:
        w = rp[R_WMAX]
    return w


cdef void dopa_process(const double* rp, const double* dt_, const double* dm, index_t nd, double* st, double t0,
                       double t1) noexcept nogil:
    """Reference: dopa_process (``dt_``/``dm`` the volume transmitter's row)."""
    cdef double tn = rp[R_TAU_N]
    cdef double tc = rp[R_TAU_C]
    cdef index_t idx = <index_t>st[3]
    cdef double n0, minus_dt, cd
    if nd > idx + 1 and t1 - dt_[idx + 1] > -STDP_EPS:
        n0 = st[2] * exp((dt_[idx] - t0) / tn)
        st[0] = dopa_weight(rp, st[0], st[1], n0, t0 - dt_[idx + 1])
        minus_dt = dt_[idx] - dt_[idx + 1]
        idx += 1
        st[2] = st[2] * exp(minus_dt / tn) + dm[idx] / tn
        while nd > idx + 1 and t1 - dt_[idx + 1] > -STDP_EPS:
            cd = st[1] * exp((t0 - dt_[idx]) / tc)
            st[0] = dopa_weight(rp, st[0], cd, st[2], dt_[idx] - dt_[idx + 1])
            minus_dt = dt_[idx] - dt_[idx + 1]
            idx += 1
            st[2] = st[2] * exp(minus_dt / tn) + dm[idx] / tn
        cd = st[1] * exp((t0 - dt_[idx]) / tc)
        st[0] = dopa_weight(rp, st[0], cd, st[2], dt_[idx] - t1)
    else:
        n0 = st[2] * exp((dt_[idx] - t0) / tn)
        st[0] = dopa_weight(rp, st[0], st[1], n0, t0 - t1)
    st[1] = st[1] * exp((t0 - t1) / tc)
    st[3] = <double>idx


cdef void dopa_update(Ctx* c, index_t k, index_t g, const double* rp, index_t r, double tp, double dd,
                      double tminv) noexcept nogil:
    """Reference: dopa_update (the final group dopamine state is left in c.dst[2:4])."""
    cdef index_t v = <index_t>rp[R_VT]
    cdef const double* dt_ = c.dh_t + v * c.dh_L
    cdef const double* dm = c.dh_m + v * c.dh_L
    cdef index_t nd = c.dh_n[v]
    cdef double tl = c.gst[g * NG + G_TLAST]
    cdef double kp = c.gst[g * NG + G_KP]
    cdef double* st = c.dst
    cdef double t0 = tl
    cdef double t2 = tp - dd
    cdef index_t H = c.hist_H
    cdef index_t s = c.hinfo[2 * r]
    cdef index_t i, lo, hi
    cdef double th, minus_dt, km
    st[0] = c.syn_w[k]
    st[1] = c.syn_kp[k]
    st[2] = c.gst[g * NG + G_N]
    st[3] = c.gst[g * NG + G_DIDX]
    pairing_interval(c, r, tl - dd, t2, dd, &lo, &hi, &km, False, tminv)
    for i in range(lo, hi + 1):
        th = c.hist[(r * H + (s + i) % H) * NH + H_T]
        dopa_process(rp, dt_, dm, nd, st, t0, th + dd)
        t0 = th + dd
        minus_dt = tl - t0
        if tp - th > STDP_EPS:
            st[1] += rp[R_APLUS] * (kp * exp(minus_dt / rp[R_TAU_PLUS]))
    dopa_process(rp, dt_, dm, nd, st, t0, tp)
    st[1] -= rp[R_AMINUS] * km
    c.syn_w[k] = st[0]
    c.syn_kp[k] = st[1]
    c.wupd += 1


cdef int wrec_room(Ctx* c, index_t need) noexcept nogil:
    """Room for ``need`` more weight records (reference: the w_t/w_k/w_w growth in run)."""
    cdef index_t cap
    cdef void* vw
    if c.nwrec + need <= c.w_cap:
        return OK
    cap = 2 * (c.nwrec + need) + 256
    if c.ww_own:
        vw = realloc(c.w_w, <size_t>cap * sizeof(double))
        if vw == NULL:
            return ERR_MEMORY
    else:
        vw = malloc(<size_t>cap * sizeof(double))
        if vw == NULL:
            return ERR_MEMORY
        memcpy(vw, c.w_w, <size_t>c.nwrec * sizeof(double))
        c.ww_own = 1
    c.w_w = <double*>vw
    if grow_pair(&c.w_t, &c.w_k, &c.w_own, c.nwrec, cap) != OK:
        return ERR_MEMORY
    c.w_cap = cap
    return OK


# ------------------------------------------------------------------- emission
cdef int grow_pair(time_t** pt, index_t** pi, int* own, index_t n, index_t cap) noexcept nogil:
    """Move a (time, index) buffer pair holding ``n`` entries to capacity ``cap``: realloc when it is
    already malloc'd (``own``), else malloc and copy out of the caller's arrays (then ``own`` = 1)."""
    cdef void* vt
    cdef void* vi
    if own[0]:
        vt = realloc(pt[0], <size_t>cap * sizeof(time_t))
        if vt == NULL:
            return ERR_MEMORY
        pt[0] = <time_t*>vt
        vi = realloc(pi[0], <size_t>cap * sizeof(index_t))
        if vi == NULL:
            return ERR_MEMORY
        pi[0] = <index_t*>vi
    else:
        vt = malloc(<size_t>cap * sizeof(time_t))
        vi = malloc(<size_t>cap * sizeof(index_t))
        if vt == NULL or vi == NULL:
            free(vt)
            free(vi)
            return ERR_MEMORY
        memcpy(vt, pt[0], <size_t>n * sizeof(time_t))
        memcpy(vi, pi[0], <size_t>n * sizeof(index_t))
        pt[0] = <time_t*>vt
        pi[0] = <index_t*>vi
        own[0] = 1
    return OK


cdef int grow(Ctx* c, index_t j) noexcept nogil:
    """Enlarge the heap and/or the output buffer (amortised doubling, as the reference's grow)."""
    cdef index_t need = c.nheap + c.g_ptr[j + 1] - c.g_ptr[j]
    cdef index_t cap, n
    if need > c.h_cap:
        cap = 2 * need + 64
        if grow_pair(&c.h_t, &c.h_g, &c.h_own, c.nheap, cap) != OK:
            return ERR_MEMORY
        c.h_cap = cap
    n = c.nout
    if c.rec[j] != 0 and n >= c.o_cap:
        cap = 2 * n + 256
        if grow_pair(&c.o_t, &c.o_i, &c.o_own, n, cap) != OK:
            return ERR_MEMORY
        c.o_cap = cap
    return OK


cdef inline void count_active(Ctx* c, index_t j, time_t t) noexcept nogil:
    """Neuron ``j``'s first spike in its activity bin adds one to act[bin, npop[j]] (reference: emit)."""
    cdef index_t k = <index_t>floor(t / c.bin_w + 1e-9)
    cdef index_t b
    if k != c.lbin[j]:
        c.lbin[j] = k
        b = k - c.bin0
        if b < 0:
            b = 0
        if b >= c.act_rows:
            b = c.act_rows - 1
        c.act[b * c.act_cols + c.npop[j]] += 1


cdef inline int emit(Ctx* c, index_t j, time_t t) noexcept nogil:
    """Neuron ``j`` spikes at ``t``: make room, count, record, enter its STDP history, queue one entry per
    delay group."""
    cdef index_t g0 = c.g_ptr[j]
    cdef index_t g1 = c.g_ptr[j + 1]
    cdef index_t g, n
    cdef bint rec = c.rec[j] != 0
    if c.nheap + g1 - g0 > c.h_cap or (rec and c.nout >= c.o_cap):
        if grow(c, j) != OK:
            return ERR_MEMORY
    c.nspk[j] += 1
    c.spk += 1
    if c.bin_w > 0.0:
        count_active(c, j, t)
    if rec:
        n = c.nout
        c.o_t[n] = t
        c.o_i[n] = j
        c.nout = n + 1
    if c.hrow != NULL:
        n = c.hrow[j]
        if n >= 0:
            if c.hinfo[2 * n + 1] >= c.hist_H:
                if hist_room(c, n, c.now) != OK:
                    return ERR_MEMORY
            hist_push(c, n, t, c.P[j * NP + P_TMINV], c.P[j * NP + P_TTINV])
            c.trace += 1
    for g in range(g0, g1):
        heap_push(c, t + c.g_delay[g], g)
    return OK


cdef inline bint lif_quiet(const double* p, const double* s, double t1, double t0) noexcept nogil:
    """True when advance(KIND_LIF, .., t1) from S_T = t0 < t1 is one plain decay step to t1.

    That is: no drive kick up to and including t1 (a delivery instant: advance with incl applies a
    kick at t1), not refractory, no adaptation to decay (S_A == 0) and first_crossing returns -1
    without a search. The caller then does exactly what advance does on that path (one update,
    evolve to t1 with the shared factor, S_T = t1, return INF).
    """
    cdef double vth, sa
    if not s[S_TK] > t1 or t0 < s[S_REF]:
        return False
    sa = s[S_A]
    if sa != 0.0:
        return False
    vth = p[P_V_TH]
    if vth == INF:
        return True
    if p[P_BETA] * sa != 0.0:
        return False
    return p[P_V_INF] <= vth or s[S_V] >= vth


cdef inline bint lif_kick(Ctx* c, const double* p, double* s, index_t j, double t1, double t0,
                          double x1) noexcept nogil:
    """The first iteration of advance(KIND_LIF, .., t1, incl=True, x1) from S_T = t0 < t1 when it is one plain
    decay step to t1 followed by the kick of the neuron's only drive at exactly t1; True if taken.

    That is: S_TK == t1 and the neuron has exactly one drive d with d_next[d] == t1 >= 0 (so next_kick
    draws nothing, picks d and leaves S_TK as it is), not refractory, no adaptation to decay (S_A == 0)
    and first_crossing returns -1 without a search (the tests of lif_quiet). Then this does what advance
    does on that path: one update, evolve to t1 with the shared factor x1, S_T = t1, the kick's weight
    (kick_weight), the drive's next time (drive_next, same draws in the same order), S_TK as next_kick
    leaves it, receive at t1. The caller finishes advance with advance_emit unless S_TK > t1 (then advance
    would return INF at once). Otherwise this changes nothing and returns False.
    """
    cdef index_t d = c.d_ptr[j]
    cdef double vth, sa, vinf, w, nd
    if s[S_TK] != t1 or c.d_ptr[j + 1] != d + 1 or c.drv[d].next != t1 or t1 < 0.0 or t0 < s[S_REF]:
        return False
    sa = s[S_A]
    if sa != 0.0:
        return False
    vth = p[P_V_TH]
    if vth != INF:
        if p[P_BETA] * sa != 0.0:
            return False
        if not (p[P_V_INF] <= vth or s[S_V] >= vth):
            return False
    c.upd += 1
    if c.nupd != NULL:
        c.nupd[j] += 1
    vinf = p[P_V_INF]
    s[S_V] = vinf + (s[S_V] - vinf) * (s[S_X] / x1)
    s[S_X] = x1
    s[S_T] = t1
    w = kick_weight(c, d)
    c.kick += 1
    nd = drive_next(c, d, t1)
    c.drv[d].next = nd
    if nd < 0.0:
        next_kick(c, j, s)  # draws anew, as in advance
    elif nd < INF:
        s[S_TK] = nd
    else:
        s[S_TK] = INF
    receive(KIND_LIF, p, s, w, t1)
    return True


cdef inline bint lif_exp_step(Ctx* c, const double* p, double* s, index_t j, double t1, bint incl,
                              double t0) noexcept nogil:
    """advance(KIND_LIF_EXP, .., t1, incl) from S_T = t0 < t1 when it is one plain step to t1; True if taken.

    That is: no drive kick due (before t1, or at t1 too with ``incl``), not refractory, and first_crossing returns -1 (in practice
    through lif_exp_below, with the decays() factors it leaves for evolve). Then this does what
    advance does on that path (one update, evolve by t1 - t0, S_T = t1, no spike); otherwise it
    changes nothing but the decays() cache and returns False.
    """
    cdef double tk = s[S_TK]
    if tk < t1 or (incl and tk == t1) or t0 < s[S_REF]:
        return False
    if first_crossing(KIND_LIF_EXP, p, s, c.SX + 2 * j, t1 - t0, t1, c.T0, c.dc) >= 0.0:
        return False
    c.upd += 1
    if c.nupd != NULL:
        c.nupd[j] += 1
    evolve(KIND_LIF_EXP, p, s, c.SX + 2 * j, t1 - t0, 1.0, t1, c.T0, c.dc)
    s[S_T] = t1
    return True


cdef inline int advance_emit_k(Ctx* c, index_t kind, index_t j, double t1, bint incl, double x1) noexcept nogil:
    """Advance neuron ``j`` to ``t1``, emitting and resetting at every spike on the way (``incl``: see advance)."""
    cdef double ts
    while True:
        ts = advance(c, kind, j, t1, incl, x1)
        if ts == INF:
            return OK
        if emit(c, j, ts) != OK:
            return ERR_MEMORY
        reset(c.P + j * NP, c.S + j * NSK, ts)


cdef int advance_emit(Ctx* c, index_t kind, index_t j, double t1, bint incl, double x1) noexcept nogil:
    """:func:`advance_emit_k` compiled once per model kind (the constant kind prunes every kind test).

    ``incl``: True in the delivery loop (kicks at exactly t1 applied), False in flush and samples.
    """
    if kind == KIND_LIF:
        return advance_emit_k(c, KIND_LIF, j, t1, incl, x1)
    if kind == KIND_LIF_EXP:
        return advance_emit_k(c, KIND_LIF_EXP, j, t1, incl, x1)
    if kind == KIND_IF:
        return advance_emit_k(c, KIND_IF, j, t1, incl, x1)
    return advance_emit_k(c, kind, j, t1, incl, x1)


cdef int take_samples(Ctx* c, double tlim, bint inclusive) noexcept nogil:
    """Record the sampled state at every sample time < tlim (<= tlim if ``inclusive``)."""
    cdef index_t p = c.smp_p
    cdef index_t col, j, kind
    cdef double ts
    while p < c.n_smp and (c.smp_t[p] < tlim or (inclusive and c.smp_t[p] == tlim)):
        ts = c.smp_t[p]
        for col in range(c.n_col):
            j = c.smp_id[col]
            kind = c.kinds[j]
            if c.S[j * NSK + S_T] < ts and kind != KIND_PARROT and kind != KIND_SOURCE and kind != KIND_POISSON:
                if advance_emit(c, kind, j, ts, False, xfac(kind, c.P + j * NP, ts, c.T0)) != OK:
                    c.smp_p = p
                    return ERR_MEMORY
            c.smp_out[p * c.n_col + col] = c.S[j * NSK + c.smp_var[col]]
        p += 1
    c.smp_p = p
    return OK


# ------------------------------------------------------------------- main loop
cdef void _clear_flags(flag_t* tflag, const index_t* touched, index_t ntouch) noexcept nogil:
    """Error exit inside a delivery instant: leave tflag all zero, as the next call expects."""
    cdef index_t q
    for q in range(ntouch):
        tflag[touched[q]] = 0


cdef inline void plastic_synapse(Ctx* c, index_t k, index_t g, const double* rp, index_t j, double t, double tp,
                                 double dd, double r2) noexcept nogil:
    """Update plastic synapse ``k`` (its target ``j`` already advanced to ``t``) and record the new weight
    (reference: the ``ru >= 0`` block of the delivery loop of run; room for the record is made per group)."""
    cdef index_t n
    if rp[R_TYPE] == RULE_DOPA:
        dopa_update(c, k, g, rp, c.hrow[j], tp, dd, rp[R_TMINV])
    else:
        stdp_update(c, k, g, rp, c.hrow[j], tp, dd, r2, rp[R_TMINV])
    if rp[R_REC] != 0.0:
        n = c.nwrec
        c.w_t[n] = t - c.g_delay[g]
        c.w_k[n] = k
        c.w_w[n] = c.syn_w[k]
        c.nwrec = n + 1


cdef int run_loop(Ctx* c, double t_start, double t_stop, double window) noexcept nogil:
    cdef double T = t_start
    cdef double Te, t, rate, span, c_tau, c_x, x1, t0, vinf
    cdef index_t p, q, j, g, k, k0, k1, kind, src_kind, ntouch, kp, jp, dp, ru, hr
    cdef const double* rp = NULL
    cdef double tp = 0.0
    cdef double dd = 0.0
    cdef double r2 = 0.0
    cdef double* S = c.S
    cdef const double* P = c.P
    cdef const index_t* d_ptr = c.d_ptr
    cdef const int8_t* kinds = c.kinds
    cdef const target_t* syn_tgt = c.syn_tgt
    cdef const weight_t* syn_w = c.syn_w
    cdef flag_t* tflag = c.tflag
    cdef index_t* touched = c.touched
    cdef double* s
    cdef const double* pr
    # decay epoch of the shared LIF factors: rebased when it lags more than 30 membrane time constants
    c.T0 = t_start
    for k in range(10):
        c.dc[k] = -1.0  # decays() cache (reference: dc = np.full(10, -1.0))
    c.kw_lam = -1.0  # kick_weight() table: empty
    c.kw_n = 0
    span = INF
    for j in range(c.n):
        if (kinds[j] == KIND_LIF or kinds[j] == KIND_LIF_EXP) and 30.0 * P[j * NP + P_TAU_M] < span:
            span = 30.0 * P[j * NP + P_TAU_M]
        if kinds[j] == KIND_LIF_EXP:
            if 30.0 * P[j * NP + P_TAU_EX] < span:
                span = 30.0 * P[j * NP + P_TAU_EX]
            if 30.0 * P[j * NP + P_TAU_IN] < span:
                span = 30.0 * P[j * NP + P_TAU_IN]
    if window > span:  # reference: windows no longer than the rebase span (the shared factors cannot overflow)
        window = span
    rebase(c)
    while T < t_stop:
        Te = T + window
        if Te > t_stop:
            Te = t_stop
        if not (Te > T):
            return ERR_STALL  # the reference would loop forever (window below the resolution of T)
        if T - c.T0 > span:
            c.T0 = T
            rebase(c)
            c.dc[3] = -1.0  # the shared x_k(t1) of decays() belong to the old epoch
        c.now = T
        # 1. spikes of explicit sources and Poisson sources emitted in [T, Te)
        p = c.src_p
        while p < c.n_src and c.src_t[p] < Te:
            if emit(c, c.src_id[p], c.src_t[p]) != OK:
                c.src_p = p
                return ERR_MEMORY
            p += 1
        c.src_p = p
        for q in range(c.n_psrc):
            j = c.psrc[q]
            s = S + j * NSK
            rate = c.P[j * NP + P_RATE]
            if s[S_T] < 0.0:
                s[S_T] = exp_interval(c.rng, j, rate)
            while s[S_T] < Te:
                if emit(c, j, s[S_T]) != OK:
                    return ERR_MEMORY
                s[S_T] = s[S_T] + exp_interval(c.rng, j, rate)
        # 2. deliver queued spikes arriving in [T, Te), one instant at a time
        while c.nheap > 0 and c.h_t[0] < Te:
            t = c.h_t[0]
            if c.smp_p < c.n_smp and c.smp_t[c.smp_p] <= t:
                if take_samples(c, t, True) != OK:
                    return ERR_MEMORY
            ntouch = 0
            c_tau = -1.0  # cache of xfac(t) for the last membrane time constant seen at this instant
            c_x = 1.0
            while c.nheap > 0 and c.h_t[0] == t:
                g = c.h_g[0]
                heap_pop(c)
                k0 = c.g_syn[g]
                k1 = c.g_syn[g + 1]
                c.synev += k1 - k0
                if c.g_cnt != NULL:
                    c.g_cnt[g] += 1
                src_kind = kinds[c.g_src[g]]
                if src_kind != KIND_SOURCE and src_kind != KIND_POISSON:
                    c.synev_rec += k1 - k0
                # a plastic group: its presynaptic spike reaches the synapses at tp (NEST: tp = t_pre)
                ru = -1
                if c.g_rule != NULL:
                    ru = c.g_rule[g]
                if ru >= 0:
                    rp = c.R + ru * NR
                    dd = c.g_delay[g] * rp[R_DDEN]
                    tp = t - dd
                    r2 = 0.0
                    if rp[R_TYPE] == RULE_TRIPLET:
                        r2 = c.gst[g * NG + G_R2] * exp((c.gst[g * NG + G_TLAST] - tp) / rp[R_TAU_X])
                    if rp[R_REC] != 0.0 and wrec_room(c, k1 - k0) != OK:
                        _clear_flags(tflag, touched, ntouch)
                        return ERR_MEMORY
                for k in range(k0, k1):
                    kp = k + PF_ROW
                    if kp >= k1:
                        kp = k1 - 1
                    jp = syn_tgt[kp]
                    SE_PREFETCH(kinds + jp)
                    SE_PREFETCHW(S + jp * NSK)  # the whole state row: one line (64-byte aligned rows)
                    SE_PREFETCH(P + jp * NP)  # the hot parameters P_V_INF..P_RESET_SUB: one line
                    SE_PREFETCHW(tflag + jp)
                    SE_PREFETCH(d_ptr + jp)
                    kp = k + PF_DRIVE
                    if kp >= k1:
                        kp = k1 - 1
                    jp = syn_tgt[kp]
                    # the drive, unconditionally: selecting it by S_TK < t (about half the targets in
                    # Brunel 'ai') measured slower, as a branch or as a select on the just-prefetched row
                    dp = d_ptr[jp]
                    SE_PREFETCHW(c.drv + dp)
                    j = syn_tgt[k]
                    kind = kinds[j]
                    s = S + j * NSK
                    if ru >= 0:
                        # the target's history: its ring header PF_HDR synapses ahead, then (header
                        # already fetched) its two newest entries PF_ROW ahead (finding the pairing
                        # interval reads the newest and usually the one before it)
                        hr = c.hrow[syn_tgt[k + PF_HDR if k + PF_HDR < k1 else k1 - 1]]
                        SE_PREFETCH(c.hinfo + 2 * hr)
                        hr = c.hrow[syn_tgt[k + PF_ROW if k + PF_ROW < k1 else k1 - 1]]
                        dp = c.hinfo[2 * hr] + c.hinfo[2 * hr + 1] - 1
                        if dp >= c.hist_H:
                            dp -= c.hist_H
                        if dp >= 0:
                            SE_PREFETCH(c.hist + (hr * c.hist_H + dp) * NH)
                            dp = dp - 1 if dp > 0 else c.hist_H - 1
                            SE_PREFETCH(c.hist + (hr * c.hist_H + dp) * NH)
                    if kind == KIND_LIF:
                        pr = P + j * NP
                        t0 = s[S_T]
                        if t0 < t:
                            if pr[P_TAU_M] != c_tau:
                                c_tau = pr[P_TAU_M]
                                c_x = exp((t - c.T0) / c_tau)
                            if lif_quiet(pr, s, t, t0):
                                # advance() without a kick, refractory period, adaptation or crossing
                                c.upd += 1
                                if c.nupd != NULL:
                                    c.nupd[j] += 1
                                vinf = pr[P_V_INF]
                                s[S_V] = vinf + (s[S_V] - vinf) * (s[S_X] / c_x)
                                s[S_X] = c_x
                                s[S_T] = t
                            elif lif_kick(c, pr, s, j, t, t0, c_x) and s[S_TK] > t:
                                pass  # advance() with only its drive's kick at t (the rest would return INF)
                            elif advance_emit(c, KIND_LIF, j, t, True, c_x) != OK:
                                _clear_flags(tflag, touched, ntouch)
                                return ERR_MEMORY
                        if ru >= 0:
                            plastic_synapse(c, k, g, rp, j, t, tp, dd, r2)
                        receive(KIND_LIF, pr, s, syn_w[k], t)
                    elif s[S_T] < t and kind != KIND_SOURCE and kind != KIND_POISSON:
                        if kind == KIND_PARROT:
                            s[S_T] = t
                        elif (kind == KIND_LIF_EXP and t <= c.safe[j] and s[S_TK] > t
                              and s[S_T] >= s[S_REF]):
                            # advance() without a kick or refractory period, and no crossing before the
                            # bound: one plain step, no search (reference: the same test)
                            c.upd += 1
                            if c.nupd != NULL:
                                c.nupd[j] += 1
                            evolve(KIND_LIF_EXP, P + j * NP, s, c.SX + 2 * j, t - s[S_T], 1.0, t, c.T0, c.dc)
                            s[S_T] = t
                        elif kind == KIND_LIF_EXP and lif_exp_step(c, P + j * NP, s, j, t, True, s[S_T]):
                            pass  # advance() without a kick, refractory period or crossing
                        else:
                            x1 = 1.0
                            if kind == KIND_LIF:
                                if P[j * NP + P_TAU_M] != c_tau:
                                    c_tau = P[j * NP + P_TAU_M]
                                    c_x = exp((t - c.T0) / c_tau)
                                x1 = c_x
                            if advance_emit(c, kind, j, t, True, x1) != OK:
                                _clear_flags(tflag, touched, ntouch)
                                return ERR_MEMORY
                        if ru >= 0:
                            plastic_synapse(c, k, g, rp, j, t, tp, dd, r2)
                        receive(kind, P + j * NP, s, syn_w[k], t)
                    else:
                        if ru >= 0:
                            plastic_synapse(c, k, g, rp, j, t, tp, dd, r2)
                        receive(kind, P + j * NP, s, syn_w[k], t)
                    if kind == KIND_LIF_EXP and syn_w[k] >= 0.0:
                        # excitatory input: spend the bound's budget; once spent, the bound no longer holds
                        c.budget[j] -= syn_w[k] * P[j * NP + P_KG_EX]
                        if c.budget[j] < 0.0:
                            c.safe[j] = -INF
                    if tflag[j] == 0:
                        tflag[j] = 1
                        touched[ntouch] = j
                        ntouch += 1
                if ru >= 0:
                    if rp[R_TYPE] == RULE_DOPA:
                        c.gst[g * NG + G_N] = c.dst[2]
                        c.gst[g * NG + G_DIDX] = c.dst[3]
                    c.gst[g * NG + G_KP] = (c.gst[g * NG + G_KP] * exp((c.gst[g * NG + G_TLAST] - tp) / rp[R_TAU_PLUS])
                                            + 1.0)
                    c.gst[g * NG + G_R2] = r2 + 1.0
                    c.gst[g * NG + G_TLAST] = tp
                    c.gst[g * NG + G_HAS] = 1.0
                    c.trace += 1
            for q in range(ntouch):
                jp = touched[q + PF_TOUCH if q + PF_TOUCH < ntouch else ntouch - 1]
                SE_PREFETCH(kinds + jp)
                SE_PREFETCHW(S + jp * NSK)
                SE_PREFETCH(P + jp * NP)
                j = touched[q]
                tflag[j] = 0
                kind = kinds[j]
                pr = c.P + j * NP
                s = S + j * NSK
                if kind == KIND_PARROT or fires_on_input(kind, pr, s, t):
                    if emit(c, j, t) != OK:
                        _clear_flags(tflag, touched, ntouch)
                        return ERR_MEMORY
                    if kind != KIND_PARROT:
                        reset(pr, s, t)
        # 3. samples, then flush neurons that can fire between inputs to the window end
        if c.smp_p < c.n_smp and c.smp_t[c.smp_p] < Te:
            if take_samples(c, Te, False) != OK:
                return ERR_MEMORY
        c_tau = -1.0
        c_x = 1.0
        for q in range(c.n_flush):
            j = c.flush[q]
            if c.safe[j] >= Te:
                continue  # (only KIND_LIF_EXP rows have bounds) no threshold crossing before the bound
            if S[j * NSK + S_T] < Te:
                kind = kinds[j]
                if kind == KIND_LIF_EXP:
                    # a new bound; no threshold crossing before it: leave the row where it is
                    c.safe[j] = safe_until(kind, P + j * NP, S + j * NSK, c.budget + j)
                    if c.safe[j] >= Te:
                        continue
                    if lif_exp_step(c, P + j * NP, S + j * NSK, j, Te, False, S[j * NSK + S_T]):
                        # the common flush step: x_k(Te) shared through the decays() cache
                        c.safe[j] = safe_until(kind, P + j * NP, S + j * NSK, c.budget + j)
                        continue
                x1 = 1.0
                if kind == KIND_LIF:
                    if P[j * NP + P_TAU_M] != c_tau:
                        c_tau = P[j * NP + P_TAU_M]
                        c_x = exp((Te - c.T0) / c_tau)
                    x1 = c_x
                if advance_emit(c, kind, j, Te, False, x1) != OK:
                    return ERR_MEMORY
                if kind == KIND_LIF_EXP:
                    c.safe[j] = safe_until(kind, P + j * NP, S + j * NSK, c.budget + j)
        T = Te
    return OK


# ------------------------------------------------------------------ entry checks
cdef cnp.ndarray _arr(str name, object a, int typenum, str tname, int ndim, bint writable):
    """``a`` as an ndarray after checking dtype, dimensions, contiguity and writeability."""
    if not isinstance(a, cnp.ndarray):
        raise TypeError(f"run: argument {name!r} must be a numpy.ndarray of {tname}, got {type(a).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if not cnp.PyArray_EquivTypenums(cnp.PyArray_TYPE(arr), typenum) or not cnp.PyArray_ISNOTSWAPPED(arr):
        raise TypeError(f"run: argument {name!r} must have dtype {tname} (native byte order), got {arr.dtype}")
    if cnp.PyArray_NDIM(arr) != ndim:
        raise ValueError(f"run: argument {name!r} must be {ndim}-dimensional, got shape {(<object>arr).shape}")
    if not (cnp.PyArray_IS_C_CONTIGUOUS(arr) and cnp.PyArray_ISALIGNED(arr)):
        raise ValueError(f"run: argument {name!r} must be C-contiguous and aligned")
    if writable and not cnp.PyArray_ISWRITEABLE(arr):
        raise ValueError(f"run: argument {name!r} must be writeable")
    return arr


cdef inline index_t _len(cnp.ndarray a) noexcept:
    return <index_t>cnp.PyArray_DIMS(a)[0]


cdef _shape(str name, cnp.ndarray a, index_t n0, index_t n1=-1):
    cdef cnp.npy_intp* dims = cnp.PyArray_DIMS(a)
    if dims[0] != n0 or (n1 >= 0 and dims[1] != n1):
        want = f"({n0},)" if n1 < 0 else f"({n0}, {n1})"
        raise ValueError(f"run: argument {name!r} has shape {(<object>a).shape}, expected {want}")


cdef index_t _bad_index(const index_t* a, index_t n, index_t lo, index_t hi) noexcept nogil:
    """Position of the first value of a[:n] outside [lo, hi), or -1."""
    cdef index_t i
    for i in range(n):
        if a[i] < lo or a[i] >= hi:
            return i
    return -1


cdef index_t _bad_target(const target_t* a, index_t n, index_t hi) noexcept nogil:
    """Position of the first value of a[:n] outside [0, hi), or -1 (a vectorisable min/max scan first)."""
    cdef index_t i
    if n == 0:
        return -1
    cdef target_t lo_v = a[0]
    cdef target_t hi_v = a[0]
    cdef target_t v
    for i in range(n):
        v = a[i]
        lo_v = v if v < lo_v else lo_v
        hi_v = v if v > hi_v else hi_v
    if lo_v >= 0 and hi_v < hi:
        return -1
    for i in range(n):
        if a[i] < 0 or a[i] >= hi:
            return i
    return -1


cdef index_t _bad_ptr(const index_t* a, index_t n, index_t hi) noexcept nogil:
    """Position of the first break of 0 <= a[0] <= a[1] <= ... <= a[n-1] <= hi, or -1."""
    cdef index_t i
    if n == 0:
        return -1
    if a[0] < 0:
        return 0
    for i in range(1, n):
        if a[i] < a[i - 1]:
            return i
    if a[n - 1] > hi:
        return n - 1
    return -1


#: syn_tgt arrays already scanned: id -> (weak reference, data address, length, n). The O(synapses) scan
#: (~4 ms for 10^7 synapses) then runs once per connectivity, not once per call; the simulator never
#: writes into syn_tgt after compiling it.
_valid_targets = {}


cdef bint _seen_valid(cnp.ndarray a, index_t n):
    entry = _valid_targets.get(id(a))
    if entry is None:
        return False
    ref, addr, m, n0 = entry
    if ref() is not a:
        del _valid_targets[id(a)]
        return False
    return addr == <size_t>cnp.PyArray_DATA(a) and m == _len(a) and n0 == n


cdef _check_index(str name, cnp.ndarray a, index_t lo, index_t hi, index_t n=-1):
    cdef index_t m = _len(a) if n < 0 else n
    cdef index_t bad
    with nogil:
        bad = _bad_index(<const index_t*>cnp.PyArray_DATA(a), m, lo, hi)
    if bad >= 0:
        raise ValueError(f"run: {name}[{bad}] = {a[bad]} is out of range [{lo}, {hi})")


cdef _check_ptr(str name, cnp.ndarray a, index_t hi):
    cdef index_t bad
    cdef index_t m = _len(a)
    with nogil:
        bad = _bad_ptr(<const index_t*>cnp.PyArray_DATA(a), m, hi)
    if bad >= 0:
        raise ValueError(f"run: {name} must be non-decreasing within [0, {hi}] (breaks at index {bad})")


cdef index_t _bad_step(const double* a, index_t n) noexcept nogil:
    """Position of the first value of a[:n] that is not finite and >= 0, or -1."""
    cdef index_t i
    for i in range(n):
        if not (isfinite(a[i]) and a[i] >= 0.0):
            return i
    return -1


cdef _check_steps(str name, cnp.ndarray a):
    cdef index_t bad
    cdef index_t m = _len(a)
    with nogil:
        bad = _bad_step(<const double*>cnp.PyArray_DATA(a), m)
    if bad >= 0:
        raise ValueError(f"run: {name}[{bad}] = {float(a[bad])!r} must be finite and >= 0 (0 = continuous drive)")


cdef object _new_copy(const void* src, index_t count, index_t cap, int typenum):
    cdef cnp.npy_intp dim = cap
    cdef cnp.ndarray out = cnp.PyArray_EMPTY(1, &dim, typenum, 0)
    if count > 0:
        memcpy(cnp.PyArray_DATA(out), src, <size_t>count * 8)
    return out


# ------------------------------------------------------------------------- entry
def run(kinds, P, S, nspk, rec,
        g_ptr, g_src, g_delay, g_syn, syn_tgt, syn_w,
        d_ptr, d_rate, d_dt, d_w, d_next, d_rng,
        src_t, src_id, psrc, rng,
        smp_t, smp_id, smp_var, smp_out,
        flush, touched, tflag,
        h_t, h_g, o_t, o_i, ctr,
        nupd, g_cnt, lbin, npop, act, ebin,
        g_rule, R, gst, syn_kp, hrow, hist, hinfo, in_ptr, in_grp, w_t, w_k, w_w, dh_t, dh_m, dh_n,
        double t_start, double t_stop, double window):
    """Simulate from ``t_start`` to ``t_stop`` (ms): the compiled twin of the reference ``run``.

    Same semantics, arguments and in-place effects as
    :func:`spikeengine.backends.python.run`, bit for bit.

    Parameters
    ----------
    kinds : ndarray of int64, shape (n,)
        Model kind of every neuron (``KIND_*``).
    P, S : ndarray of float64, shape (n, NP) and (n, NS), C-contiguous
        Parameters (read) and state (updated in place).
    nspk : ndarray of int64, shape (n,)
        Spike count per neuron (incremented).
    rec : ndarray of int8, shape (n,)
        Nonzero for neurons whose spikes are recorded.
    g_ptr, g_src, g_delay, g_syn : ndarray
        Delay-group CSR: int64 (n + 1,), int32 (G,), float64 (G,), int64 (G + 1,).
    syn_tgt, syn_w : ndarray of int32 and float64, shape (m,)
        Synapse targets and weights.
    d_ptr, d_rate, d_dt, d_w, d_next, d_rng : ndarray
        Poisson drives: int64 (n + 1,), float64 (nd,) x 4 (``d_next`` updated),
        uint64 (nd,) stream states (updated). ``d_dt``: grid step of each drive
        (ms, finite, >= 0; 0.0 = continuous drive).
    src_t, src_id : ndarray of float64 and int64
        Explicit source spikes sorted by time.
    psrc : ndarray of int64
        Poisson source neurons.
    rng : ndarray of uint64, shape (n,)
        Per-neuron stream states (updated).
    smp_t, smp_id, smp_var : ndarray of float64, int64, int64
        Sample times, sampled neurons and state columns.
    smp_out : ndarray of float64, shape (len(smp_t), len(smp_id))
        Sample values (written).
    flush : ndarray of int64
        Neurons advanced to every window end.
    touched : ndarray of int64, shape (>= n,)
        Scratch.
    tflag : ndarray of int8, shape (n,)
        Scratch, all zero at entry and at exit.
    h_t, h_g : ndarray of float64 and int64
        Event heap (``ctr[C_HEAP]`` entries).
    o_t, o_i : ndarray of float64 and int64
        Recorded spikes (``ctr[C_OUT]`` entries).
    ctr : ndarray of int64, shape (NCTR,)
        Counters (updated).
    nupd, g_cnt : ndarray of int64, shape (n,) and (G,), or both (0,)
        Updates per neuron and deliveries per delay group (incremented; length 0: not counted).
    lbin, npop : ndarray of int64, shape (n,), or (0,) when bins are off
        Last activity bin of every neuron (updated) and its column in ``act``.
    act : ndarray of int64, shape (rows, cols), C-contiguous
        Active neurons per bin and column (incremented).
    ebin : ndarray of float64, shape (2,)
        Bin width (ms; 0.0 = no activity bins) and the bin index of ``act[0]``.
    g_rule, R, gst, syn_kp : ndarray
        Plasticity: rule row per group, int64 (G,) (-1 static) or (0,) when nothing is plastic;
        rule table float64 (n_rules, NR); group traces float64 (G, NG) (updated); per-synapse
        presynaptic-centred trace float64 (m,) or (0,) (updated).
    hrow, hist, hinfo, in_ptr, in_grp : ndarray
        Postsynaptic spike histories: row per neuron int64 (n,) (-1: none) or (0,); rings float64
        (rows, H, NH) C-contiguous; ring start and length int64 (rows, 2) (updated); incoming
        plastic groups per row, int64 CSR (rows + 1,) and (q,).
    w_t, w_k, w_w : ndarray of float64, int64, float64
        Recorded weight updates (``ctr[C_WREC]`` entries).
    dh_t, dh_m, dh_n : ndarray of float64 (n_vt, L), float64 (n_vt, L), int64 (n_vt,)
        Dopamine arrivals per volume transmitter: times and multiplicities, each row starting with
        a sentinel at 0; ``dh_n[v]`` (1..L) entries in use.
    t_start, t_stop, window : float
        Run interval and window length (ms, ``window > 0``).

    Returns
    -------
    h_t, h_g, o_t, o_i, hist, w_t, w_k, w_w : ndarray
        The heap, output, spike-history and weight-record buffers: the arguments themselves,
        or larger new arrays when they had to grow.

    Raises
    ------
    TypeError
        An argument is not an ndarray of the expected dtype.
    ValueError
        Wrong shape, layout or out-of-range index, or a non-positive window.
    MemoryError
        The heap or the output buffer could not grow.
    """
    cdef cnp.ndarray a_kinds = _arr("kinds", kinds, cnp.NPY_INT64, "int64", 1, False)
    cdef cnp.ndarray a_P = _arr("P", P, cnp.NPY_FLOAT64, "float64", 2, False)
    cdef cnp.ndarray a_S = _arr("S", S, cnp.NPY_FLOAT64, "float64", 2, True)
    cdef cnp.ndarray a_nspk = _arr("nspk", nspk, cnp.NPY_INT64, "int64", 1, True)
    cdef cnp.ndarray a_rec = _arr("rec", rec, cnp.NPY_INT8, "int8", 1, False)
    cdef cnp.ndarray a_g_ptr = _arr("g_ptr", g_ptr, cnp.NPY_INT64, "int64", 1, False)
    cdef cnp.ndarray a_g_src = _arr("g_src", g_src, cnp.NPY_INT32, "int32", 1, False)
    cdef cnp.ndarray a_g_delay = _arr("g_delay", g_delay, cnp.NPY_FLOAT64, "float64", 1, False)
    cdef cnp.ndarray a_g_syn = _arr("g_syn", g_syn, cnp.NPY_INT64, "int64", 1, False)
    cdef cnp.ndarray a_syn_tgt = _arr("syn_tgt", syn_tgt, cnp.NPY_INT32, "int32", 1, False)
    cdef cnp.ndarray a_syn_w = _arr("syn_w", syn_w, cnp.NPY_FLOAT64, "float64", 1, True)
    cdef cnp.ndarray a_d_ptr = _arr("d_ptr", d_ptr, cnp.NPY_INT64, "int64", 1, False)
    cdef cnp.ndarray a_d_rate = _arr("d_rate", d_rate, cnp.NPY_FLOAT64, "float64", 1, False)
    cdef cnp.ndarray a_d_dt = _arr("d_dt", d_dt, cnp.NPY_FLOAT64, "float64", 1, False)
    cdef cnp.ndarray a_d_w = _arr("d_w", d_w, cnp.NPY_FLOAT64, "float64", 1, False)
    cdef cnp.ndarray a_d_next = _arr("d_next", d_next, cnp.NPY_FLOAT64, "float64", 1, True)
    cdef cnp.ndarray a_d_rng = _arr("d_rng", d_rng, cnp.NPY_UINT64, "uint64", 1, True)
    cdef cnp.ndarray a_src_t = _arr("src_t", src_t, cnp.NPY_FLOAT64, "float64", 1, False)
    cdef cnp.ndarray a_src_id = _arr("src_id", src_id, cnp.NPY_INT64, "int64", 1, False)
    cdef cnp.ndarray a_psrc = _arr("psrc", psrc, cnp.NPY_INT64, "int64", 1, False)
    cdef cnp.ndarray a_rng = _arr("rng", rng, cnp.NPY_UINT64, "uint64", 1, True)
    cdef cnp.ndarray a_smp_t = _arr("smp_t", smp_t, cnp.NPY_FLOAT64, "float64", 1, False)
    cdef cnp.ndarray a_smp_id = _arr("smp_id", smp_id, cnp.NPY_INT64, "int64", 1, False)
    cdef cnp.ndarray a_smp_var = _arr("smp_var", smp_var, cnp.NPY_INT64, "int64", 1, False)
    cdef cnp.ndarray a_smp_out = _arr("smp_out", smp_out, cnp.NPY_FLOAT64, "float64", 2, True)
    cdef cnp.ndarray a_flush = _arr("flush", flush, cnp.NPY_INT64, "int64", 1, False)
    cdef cnp.ndarray a_touched = _arr("touched", touched, cnp.NPY_INT64, "int64", 1, True)
    cdef cnp.ndarray a_tflag = _arr("tflag", tflag, cnp.NPY_INT8, "int8", 1, True)
    cdef cnp.ndarray a_h_t = _arr("h_t", h_t, cnp.NPY_FLOAT64, "float64", 1, True)
    cdef cnp.ndarray a_h_g = _arr("h_g", h_g, cnp.NPY_INT64, "int64", 1, True)
    cdef cnp.ndarray a_o_t = _arr("o_t", o_t, cnp.NPY_FLOAT64, "float64", 1, True)
    cdef cnp.ndarray a_o_i = _arr("o_i", o_i, cnp.NPY_INT64, "int64", 1, True)
    cdef cnp.ndarray a_ctr = _arr("ctr", ctr, cnp.NPY_INT64, "int64", 1, True)
    cdef cnp.ndarray a_nupd = _arr("nupd", nupd, cnp.NPY_INT64, "int64", 1, True)
    cdef cnp.ndarray a_g_cnt = _arr("g_cnt", g_cnt, cnp.NPY_INT64, "int64", 1, True)
    cdef cnp.ndarray a_lbin = _arr("lbin", lbin, cnp.NPY_INT64, "int64", 1, True)
    cdef cnp.ndarray a_npop = _arr("npop", npop, cnp.NPY_INT64, "int64", 1, False)
    cdef cnp.ndarray a_act = _arr("act", act, cnp.NPY_INT64, "int64", 2, True)
    cdef cnp.ndarray a_ebin = _arr("ebin", ebin, cnp.NPY_FLOAT64, "float64", 1, False)
    cdef cnp.ndarray a_g_rule = _arr("g_rule", g_rule, cnp.NPY_INT64, "int64", 1, False)
    cdef cnp.ndarray a_R = _arr("R", R, cnp.NPY_FLOAT64, "float64", 2, False)
    cdef cnp.ndarray a_gst = _arr("gst", gst, cnp.NPY_FLOAT64, "float64", 2, True)
    cdef cnp.ndarray a_syn_kp = _arr("syn_kp", syn_kp, cnp.NPY_FLOAT64, "float64", 1, True)
    cdef cnp.ndarray a_hrow = _arr("hrow", hrow, cnp.NPY_INT64, "int64", 1, False)
    cdef cnp.ndarray a_hist = _arr("hist", hist, cnp.NPY_FLOAT64, "float64", 3, True)
    cdef cnp.ndarray a_hinfo = _arr("hinfo", hinfo, cnp.NPY_INT64, "int64", 2, True)
    cdef cnp.ndarray a_in_ptr = _arr("in_ptr", in_ptr, cnp.NPY_INT64, "int64", 1, False)
    cdef cnp.ndarray a_in_grp = _arr("in_grp", in_grp, cnp.NPY_INT64, "int64", 1, False)
    cdef cnp.ndarray a_w_t = _arr("w_t", w_t, cnp.NPY_FLOAT64, "float64", 1, True)
    cdef cnp.ndarray a_w_k = _arr("w_k", w_k, cnp.NPY_INT64, "int64", 1, True)
    cdef cnp.ndarray a_w_w = _arr("w_w", w_w, cnp.NPY_FLOAT64, "float64", 1, True)
    cdef cnp.ndarray a_dh_t = _arr("dh_t", dh_t, cnp.NPY_FLOAT64, "float64", 2, False)
    cdef cnp.ndarray a_dh_m = _arr("dh_m", dh_m, cnp.NPY_FLOAT64, "float64", 2, False)
    cdef cnp.ndarray a_dh_n = _arr("dh_n", dh_n, cnp.NPY_INT64, "int64", 1, False)

    # shapes
    cdef index_t n = _len(a_kinds)
    cdef index_t G = _len(a_g_src)
    cdef index_t m = _len(a_syn_tgt)
    cdef index_t nd = _len(a_d_rate)
    cdef index_t nsrc = _len(a_src_t)
    cdef index_t nsmp = _len(a_smp_t)
    cdef index_t ncol = _len(a_smp_id)
    _shape("P", a_P, n, NP)
    _shape("S", a_S, n, NS)
    _shape("nspk", a_nspk, n)
    _shape("rec", a_rec, n)
    _shape("g_ptr", a_g_ptr, n + 1)
    _shape("g_delay", a_g_delay, G)
    _shape("g_syn", a_g_syn, G + 1)
    _shape("syn_w", a_syn_w, m)
    _shape("d_ptr", a_d_ptr, n + 1)
    _shape("d_dt", a_d_dt, nd)
    _shape("d_w", a_d_w, nd)
    _shape("d_next", a_d_next, nd)
    _shape("d_rng", a_d_rng, nd)
    _shape("src_id", a_src_id, nsrc)
    _shape("rng", a_rng, n)
    _shape("smp_var", a_smp_var, ncol)
    _shape("smp_out", a_smp_out, nsmp, ncol)
    _shape("tflag", a_tflag, n)
    _shape("h_g", a_h_g, _len(a_h_t))
    _shape("o_i", a_o_i, _len(a_o_t))
    _shape("ctr", a_ctr, NCTR)
    _shape("nupd", a_nupd, n if _len(a_nupd) else 0)
    _shape("g_cnt", a_g_cnt, G if _len(a_g_cnt) else 0)
    _shape("ebin", a_ebin, 2)
    cdef double bin_w = ebin[0]
    cdef double bin0 = ebin[1]
    if not (isfinite(bin_w) and bin_w >= 0.0 and isfinite(bin0) and bin0 == floor(bin0)
            and fabs(bin0) < 4.0e18):
        raise ValueError(f"run: ebin = {ebin!r} must hold a finite bin width >= 0 and an integral first bin")
    cdef index_t act_rows = act.shape[0]
    cdef index_t act_cols = act.shape[1]
    if bin_w > 0.0:
        _shape("lbin", a_lbin, n)
        _shape("npop", a_npop, n)
        if act_rows < 1:
            raise ValueError("run: act needs at least one row when bins are counted")
        _check_index("npop", a_npop, 0, act_cols)
    if _len(a_touched) < n:
        raise ValueError(f"run: argument 'touched' has shape {touched.shape}, expected at least ({n},)")
    # plasticity arrays
    cdef bint plastic = _len(a_g_rule) != 0
    cdef index_t n_rules = R.shape[0]
    cdef index_t hist_rows = hist.shape[0]
    cdef index_t hist_H = hist.shape[1]
    cdef index_t nw_rec = _len(a_w_t)
    cdef index_t q, r, kk, bad_k, n_in, n_vt, dh_L
    cdef const index_t* pig
    cdef const index_t* pgr0
    cdef const index_t* pdn
    cdef const double* pgst
    cdef double x
    cdef const index_t* pgr
    cdef const index_t* phr
    cdef const index_t* pgs
    cdef const target_t* ptg
    cdef const index_t* phi
    cdef const double* pR
    _shape("w_k", a_w_k, nw_rec)
    _shape("w_w", a_w_w, nw_rec)
    if plastic:
        _shape("g_rule", a_g_rule, G)
        _shape("R", a_R, n_rules, NR)
        _shape("gst", a_gst, G, NG)
        _shape("hrow", a_hrow, n)
        _shape("hinfo", a_hinfo, hist_rows, 2)
        _shape("in_ptr", a_in_ptr, hist_rows + 1)
        if _len(a_syn_kp) != 0:
            _shape("syn_kp", a_syn_kp, m)
        if hist.shape[2] != NH or hist_H < 1:
            raise ValueError(f"run: argument 'hist' has shape {hist.shape}, expected (rows, H >= 1, {NH})")
        _check_index("g_rule", a_g_rule, -1, n_rules)
        _check_index("hrow", a_hrow, -1, hist_rows)
        _check_ptr("in_ptr", a_in_ptr, _len(a_in_grp))
        _check_index("in_grp", a_in_grp, 0, G)
        pR = <const double*>cnp.PyArray_DATA(a_R)
        n_vt = dh_t.shape[0]
        dh_L = dh_t.shape[1]
        _shape("dh_m", a_dh_m, n_vt, dh_L)
        _shape("dh_n", a_dh_n, n_vt)
        _check_index("dh_n", a_dh_n, 1 if dh_L > 0 else 0, dh_L + 1)
        for r in range(n_rules):
            if pR[r * NR + R_TYPE] == RULE_DOPA and not (0 <= pR[r * NR + R_VT] < n_vt
                                                          and pR[r * NR + R_VT] == floor(pR[r * NR + R_VT])):
                raise ValueError(f"run: R[{r}, R_VT] = {pR[r * NR + R_VT]!r} is not a row of dh_t")
            if pR[r * NR + R_TYPE] == RULE_DOPA and _len(a_syn_kp) != m:
                raise ValueError(f"run: rule {r} is dopamine-modulated but syn_kp has length {_len(a_syn_kp)}, "
                                 f"expected {m}")
        pgst = <const double*>cnp.PyArray_DATA(a_gst)
        pgr0 = <const index_t*>cnp.PyArray_DATA(a_g_rule)
        pdn = <const index_t*>cnp.PyArray_DATA(a_dh_n)
        for q in range(G):
            if pgr0[q] >= 0 and pR[pgr0[q] * NR + R_TYPE] == RULE_DOPA:
                x = pgst[q * NG + G_DIDX]
                if not (0 <= x < pdn[<index_t>pR[pgr0[q] * NR + R_VT]] and x == floor(x)):
                    raise ValueError(f"run: gst[{q}, G_DIDX] = {x!r} is not an arrival index of its dopamine row")
        for r in range(n_rules):
            if not (pR[r * NR + R_TYPE] >= RULE_STDP and pR[r * NR + R_TYPE] <= RULE_DOPA
                    and pR[r * NR + R_TYPE] == floor(pR[r * NR + R_TYPE])):
                raise ValueError(f"run: R[{r}, R_TYPE] = {pR[r * NR + R_TYPE]!r} is not a rule type")
            if pR[r * NR + R_TYPE] == RULE_NN_PRE and _len(a_syn_kp) != m:
                raise ValueError(f"run: rule {r} is presynaptic-centred but syn_kp has length {_len(a_syn_kp)}, "
                                 f"expected {m}")
        phi = <const index_t*>cnp.PyArray_DATA(a_hinfo)
        for r in range(hist_rows):
            if phi[2 * r] < 0 or phi[2 * r] >= hist_H or phi[2 * r + 1] < 0 or phi[2 * r + 1] > hist_H:
                raise ValueError(f"run: hinfo[{r}] = {hinfo[r]} is out of range for rings of {hist_H} entries")
        # every target of a plastic group needs a history row, every in_grp entry must be a plastic group
        pgr = <const index_t*>cnp.PyArray_DATA(a_g_rule)
        phr = <const index_t*>cnp.PyArray_DATA(a_hrow)
        pgs = <const index_t*>cnp.PyArray_DATA(a_g_syn)
        ptg = <const target_t*>cnp.PyArray_DATA(a_syn_tgt)
        bad_k = -1
        with nogil:
            for q in range(G):
                if pgr[q] >= 0:
                    for kk in range(pgs[q], pgs[q + 1]):
                        if phr[ptg[kk]] < 0:
                            bad_k = kk
                            break
                if bad_k >= 0:
                    break
        if bad_k >= 0:
            raise ValueError(f"run: synapse {bad_k} is plastic but its target {syn_tgt[bad_k]} has no history row")
        pig = <const index_t*>cnp.PyArray_DATA(a_in_grp)
        n_in = _len(a_in_grp)
        with nogil:
            for q in range(n_in):
                if pgr[pig[q]] < 0:
                    bad_k = q
                    break
        if bad_k >= 0:
            raise ValueError(f"run: in_grp[{bad_k}] = {in_grp[bad_k]} is not a plastic group")
    if not window > 0.0:
        raise ValueError(f"run: window must be > 0 ms, got {window!r}")

    # counters and index ranges (so that no index can leave its array)
    cdef index_t* pc = <index_t*>cnp.PyArray_DATA(a_ctr)
    for k, hi, what in ((C_HEAP, _len(a_h_t), "h_t"), (C_OUT, _len(a_o_t), "o_t"), (C_SRC, nsrc, "src_t"),
                        (C_SMP, nsmp, "smp_t"), (C_WREC, nw_rec, "w_t")):
        if pc[k] < 0 or pc[k] > hi:
            raise ValueError(f"run: ctr[{k}] = {pc[k]} is out of range [0, len({what}) = {hi}]")
    _check_ptr("g_ptr", a_g_ptr, G)
    _check_ptr("g_syn", a_g_syn, m)
    _check_ptr("d_ptr", a_d_ptr, nd)
    _check_steps("d_dt", a_d_dt)
    _check_index("src_id", a_src_id, 0, n)
    _check_index("psrc", a_psrc, 0, n)
    _check_index("smp_id", a_smp_id, 0, n)
    _check_index("smp_var", a_smp_var, 0, NSK)
    _check_index("flush", a_flush, 0, n)
    _check_index("h_g", a_h_g, 0, G, pc[C_HEAP])
    cdef index_t bad
    with nogil:
        bad = _bad_target(<const target_t*>cnp.PyArray_DATA(a_g_src), G, n)
    if bad >= 0:
        raise ValueError(f"run: g_src[{bad}] = {g_src[bad]} is out of range [0, {n})")
    if not _seen_valid(a_syn_tgt, n):
        with nogil:
            bad = _bad_target(<const target_t*>cnp.PyArray_DATA(a_syn_tgt), m, n)
        if bad >= 0:
            raise ValueError(f"run: syn_tgt[{bad}] = {syn_tgt[bad]} is out of range [0, {n})")
        key = id(syn_tgt)
        _valid_targets[key] = (weakref.ref(syn_tgt, lambda _, k=key: _valid_targets.pop(k, None)),
                               <size_t>cnp.PyArray_DATA(a_syn_tgt), m, n)

    cdef Ctx c
    c.n = n
    cdef cnp.ndarray a_kinds8 = np.ascontiguousarray(
        np.where((a_kinds >= 0) & (a_kinds < 127), a_kinds, 127).astype(np.int8))
    c.kinds = <const int8_t*>cnp.PyArray_DATA(a_kinds8)
    c.P = <const double*>cnp.PyArray_DATA(a_P)
    # the kernel's state rows (see Ctx.S): 64-byte aligned copies, written back after the run
    cdef double* pS = <double*>cnp.PyArray_DATA(a_S)
    cdef cnp.ndarray a_S8 = np.empty(n * NSK + 8, np.float64)
    cdef size_t s8_addr = <size_t>cnp.PyArray_DATA(a_S8)
    c.S = <double*>((s8_addr + 63) & ~(<size_t>63))
    cdef cnp.ndarray a_SX = np.empty(2 * n + 1, np.float64)
    c.SX = <double*>cnp.PyArray_DATA(a_SX)
    cdef index_t jr, kr
    for jr in range(n):
        for kr in range(NSK):
            c.S[jr * NSK + kr] = pS[jr * NS + kr]
        c.SX[2 * jr] = pS[jr * NS + S_XE]
        c.SX[2 * jr + 1] = pS[jr * NS + S_XI]
    c.nspk = <index_t*>cnp.PyArray_DATA(a_nspk)
    c.rec = <const flag_t*>cnp.PyArray_DATA(a_rec)
    c.g_ptr = <const index_t*>cnp.PyArray_DATA(a_g_ptr)
    c.g_src = <const target_t*>cnp.PyArray_DATA(a_g_src)
    c.g_delay = <const time_t*>cnp.PyArray_DATA(a_g_delay)
    c.g_syn = <const index_t*>cnp.PyArray_DATA(a_g_syn)
    c.syn_tgt = <const target_t*>cnp.PyArray_DATA(a_syn_tgt)
    c.syn_w = <weight_t*>cnp.PyArray_DATA(a_syn_w)
    c.d_ptr = <const index_t*>cnp.PyArray_DATA(a_d_ptr)
    # the drives packed one 64-byte record each (aligned), so that a kick touches one cache line
    cdef cnp.ndarray a_drv = np.empty(nd * <index_t>sizeof(Drive) + 64, np.uint8)
    cdef size_t drv_addr = <size_t>cnp.PyArray_DATA(a_drv)
    c.drv = <Drive*>((drv_addr + 63) & ~(<size_t>63))
    cdef const double* pd_rate = <const double*>cnp.PyArray_DATA(a_d_rate)
    cdef const double* pd_dt = <const double*>cnp.PyArray_DATA(a_d_dt)
    cdef const weight_t* pd_w = <const weight_t*>cnp.PyArray_DATA(a_d_w)
    cdef time_t* pd_next = <time_t*>cnp.PyArray_DATA(a_d_next)
    cdef rng_t* pd_rng = <rng_t*>cnp.PyArray_DATA(a_d_rng)
    cdef index_t dq
    cdef double lam_
    for dq in range(nd):
        c.drv[dq].next = pd_next[dq]
        c.drv[dq].rng = pd_rng[dq]
        c.drv[dq].rate = pd_rate[dq]
        c.drv[dq].dt = pd_dt[dq]
        c.drv[dq].w = pd_w[dq]
        # drive_next's fast path: with v = 1 - u > exp(-lam) (1 + 1e-12), -log(v) < lam - 0.99e-12, so even
        # with the rounding of log and of the division (a few 1e-16 relative) floor(-log(v) / lam) is 0 for
        # any 0 < lam < 2800: the step after the last kick, the very value the log gives. Other drives
        # (continuous, lam = 0, NaN or >= 64) get 2.0, which no v in (0, 1] exceeds.
        lam_ = pd_rate[dq] * pd_dt[dq]
        c.drv[dq].lim = exp(-lam_) * (1.0 + 1e-12) if 0.0 < lam_ < 64.0 else 2.0
        c.drv[dq].pad0 = 0.0
        c.drv[dq].pad1 = 0.0
    c.src_t = <const time_t*>cnp.PyArray_DATA(a_src_t)
    c.src_id = <const index_t*>cnp.PyArray_DATA(a_src_id)
    c.n_src = nsrc
    c.psrc = <const index_t*>cnp.PyArray_DATA(a_psrc)
    c.n_psrc = _len(a_psrc)
    c.rng = <rng_t*>cnp.PyArray_DATA(a_rng)
    c.smp_t = <const time_t*>cnp.PyArray_DATA(a_smp_t)
    c.n_smp = nsmp
    c.smp_id = <const index_t*>cnp.PyArray_DATA(a_smp_id)
    c.smp_var = <const index_t*>cnp.PyArray_DATA(a_smp_var)
    c.n_col = ncol
    c.smp_out = <double*>cnp.PyArray_DATA(a_smp_out)
    c.flush = <const index_t*>cnp.PyArray_DATA(a_flush)
    c.n_flush = _len(a_flush)
    c.touched = <index_t*>cnp.PyArray_DATA(a_touched)
    c.tflag = <flag_t*>cnp.PyArray_DATA(a_tflag)
    c.h_t = <time_t*>cnp.PyArray_DATA(a_h_t)
    c.h_g = <index_t*>cnp.PyArray_DATA(a_h_g)
    c.h_cap = _len(a_h_t)
    c.h_own = 0
    c.o_t = <time_t*>cnp.PyArray_DATA(a_o_t)
    c.o_i = <index_t*>cnp.PyArray_DATA(a_o_i)
    c.o_cap = _len(a_o_t)
    c.o_own = 0
    c.nheap = pc[C_HEAP]
    c.nout = pc[C_OUT]
    c.src_p = pc[C_SRC]
    c.smp_p = pc[C_SMP]
    c.synev = pc[C_SYNEV]
    c.synev_rec = pc[C_SYNEV_REC]
    c.upd = pc[C_UPD]
    c.spk = pc[C_SPK]
    c.kick = pc[C_KICK]
    c.nupd = <index_t*>cnp.PyArray_DATA(a_nupd) if _len(a_nupd) else NULL
    c.g_cnt = <index_t*>cnp.PyArray_DATA(a_g_cnt) if _len(a_g_cnt) else NULL
    c.lbin = <index_t*>cnp.PyArray_DATA(a_lbin)
    c.npop = <const index_t*>cnp.PyArray_DATA(a_npop)
    c.act = <index_t*>cnp.PyArray_DATA(a_act)
    c.act_rows = act_rows
    c.act_cols = act_cols
    c.bin_w = bin_w
    c.bin0 = <index_t>bin0
    c.g_rule = <const index_t*>cnp.PyArray_DATA(a_g_rule) if plastic else NULL
    c.R = <const double*>cnp.PyArray_DATA(a_R)
    c.gst = <double*>cnp.PyArray_DATA(a_gst)
    c.syn_kp = <double*>cnp.PyArray_DATA(a_syn_kp)
    c.hrow = <const index_t*>cnp.PyArray_DATA(a_hrow) if plastic else NULL
    c.hist = <double*>cnp.PyArray_DATA(a_hist)
    c.hist_rows = hist_rows
    c.hist_H = hist_H
    c.hist_own = 0
    c.hinfo = <index_t*>cnp.PyArray_DATA(a_hinfo)
    c.in_ptr = <const index_t*>cnp.PyArray_DATA(a_in_ptr)
    c.in_grp = <const index_t*>cnp.PyArray_DATA(a_in_grp)
    c.w_t = <time_t*>cnp.PyArray_DATA(a_w_t)
    c.w_k = <index_t*>cnp.PyArray_DATA(a_w_k)
    c.w_w = <double*>cnp.PyArray_DATA(a_w_w)
    c.w_cap = nw_rec
    c.w_own = 0
    c.ww_own = 0
    c.nwrec = pc[C_WREC]
    c.wupd = pc[C_WUPD]
    c.trace = pc[C_TRACE]
    c.dh_t = <const double*>cnp.PyArray_DATA(a_dh_t)
    c.dh_m = <const double*>cnp.PyArray_DATA(a_dh_m)
    c.dh_n = <const index_t*>cnp.PyArray_DATA(a_dh_n)
    c.dh_L = dh_t.shape[1]

    cdef int rc = OK
    cdef index_t jq
    c.safe = <double*>malloc(2 * (n if n > 0 else 1) * sizeof(double))
    if c.safe == NULL:
        raise MemoryError("run: cannot allocate the per-neuron bounds")
    c.budget = c.safe + (n if n > 0 else 1)
    for jq in range(n):
        c.safe[jq] = -INF
        c.budget[jq] = 0.0
    try:
        with nogil:
            rc = run_loop(&c, t_start, t_stop, window)
            for dq in range(nd):  # the drives' state back into the caller's arrays
                pd_next[dq] = c.drv[dq].next
                pd_rng[dq] = c.drv[dq].rng
            for jr in range(n):  # and the state rows
                for kr in range(NSK):
                    pS[jr * NS + kr] = c.S[jr * NSK + kr]
                pS[jr * NS + S_XE] = c.SX[2 * jr]
                pS[jr * NS + S_XI] = c.SX[2 * jr + 1]
        pc[C_HEAP] = c.nheap
        pc[C_OUT] = c.nout
        pc[C_SRC] = c.src_p
        pc[C_SMP] = c.smp_p
        pc[C_SYNEV] = c.synev
        pc[C_SYNEV_REC] = c.synev_rec
        pc[C_UPD] = c.upd
        pc[C_SPK] = c.spk
        pc[C_KICK] = c.kick
        pc[C_WREC] = c.nwrec
        pc[C_WUPD] = c.wupd
        pc[C_TRACE] = c.trace
        if rc == ERR_MEMORY:
            raise MemoryError("run: cannot grow the event heap, the spike output buffer, a spike history or the "
                              "weight record buffer")
        if rc == ERR_STALL:
            raise ValueError(f"run: window {window!r} ms is too small to advance time (t = {t_start!r} ms)")
        if c.h_own:
            h_t = _new_copy(c.h_t, c.nheap, c.h_cap, cnp.NPY_FLOAT64)
            h_g = _new_copy(c.h_g, c.nheap, c.h_cap, cnp.NPY_INT64)
        if c.o_own:
            o_t = _new_copy(c.o_t, c.nout, c.o_cap, cnp.NPY_FLOAT64)
            o_i = _new_copy(c.o_i, c.nout, c.o_cap, cnp.NPY_INT64)
        if c.hist_own:
            hist = _new_copy(c.hist, c.hist_rows * c.hist_H * NH, c.hist_rows * c.hist_H * NH,
                             cnp.NPY_FLOAT64).reshape(c.hist_rows, c.hist_H, NH)
        if c.w_own:
            w_t = _new_copy(c.w_t, c.nwrec, c.w_cap, cnp.NPY_FLOAT64)
            w_k = _new_copy(c.w_k, c.nwrec, c.w_cap, cnp.NPY_INT64)
        if c.ww_own:
            w_w = _new_copy(c.w_w, c.nwrec, c.w_cap, cnp.NPY_FLOAT64)
        return h_t, h_g, o_t, o_i, hist, w_t, w_k, w_w
    finally:
        free(c.safe)
        if c.hist_own:
            free(c.hist)
        if c.w_own:
            free(c.w_t)
            free(c.w_k)
        if c.ww_own:
            free(c.w_w)
        if c.h_own:
            free(c.h_t)
            free(c.h_g)
        if c.o_own:
            free(c.o_t)
            free(c.o_i)
