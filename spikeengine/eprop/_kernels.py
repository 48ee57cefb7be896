"""Numba kernels of the e-prop engine: the optimizer and the event-based per-synapse gradient.

The arithmetic follows EPROP.md §4 and §6 operation by operation. The network's matrices are
(n_post, n_pre) (synapse ``pre -> post`` at ``[post, pre]``); the event kernels (:func:`rec_update`,
:func:`out_update`) work on the packed state ``S[pre, field, post]`` (fields ``F_*``) and ``STEP[pre, post]``.
Histories are (n_hist, n_post) arrays whose row ``t - h0`` holds the postsynaptic value of step ``t``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from . import _jitcache

_jitcache.check()  # before any kernel is compiled or loaded from the cache
_JIT = numba.njit(cache=True)


@_JIT
def opt_scalar(kind, eta, bs, beta1, beta2, eps, wmin, wmax, cur, g, w, c, st, m, v, b1, b2):
    """One optimizer call on scalars; returns ``(w, cum, step, m, v, b1, b2)``.

    ``kind``, ``eta``, ``bs`` (float), ``beta1``, ``beta2``, ``eps``, ``wmin``, ``wmax`` are the packed optimizer
    parameters (:meth:`~spikeengine.eprop.optimizers._Optimizer.packed`), ``cur = 1 + idx // batch_size`` (see
    :mod:`spikeengine.eprop.optimizers`). Scalar arguments only: numba calls with array arguments cost ~60 ns
    each, this one is inlined, and the caller hoists the integer division.
    """
    c = c + g
    if st < cur:
        c /= bs
        if kind == 0.0:
            w -= eta * c
            c = 0.0
            st = cur
        else:
            while st < cur:
                b1 *= beta1
                b2 *= beta2
                alpha = eta * math.sqrt(1.0 - b2) / (1.0 - b1)
                m = beta1 * m + (1.0 - beta1) * c
                v = beta2 * v + (1.0 - beta2) * c * c
                w -= alpha * m / (math.sqrt(v) + eps)
                c = 0.0
                st += 1
        w = max(wmin, min(w, wmax))
    return w, c, st, m, v, b1, b2


@_JIT
def opt_apply(par, idx, g, w, cum, step, m, v, b1, b2, s):
    """One optimizer call for flat synapse index ``s``; see :mod:`spikeengine.eprop.optimizers`."""
    bs = int(par[2])
    w, cum[s], step[s], m[s], v[s], b1[s], b2[s] = opt_scalar(
        par[0], par[1], float(bs), par[3], par[4], par[5], par[6], par[7], 1 + idx // bs, g, w, cum[s], step[s], m[s],
        v[s], b1[s], b2[s])
    return w


# Packed synapse state of one projection, ``S[pre, field, post]`` (float64; the optimizer step count is the
# separate int64 array ``STEP[pre, post]``), and packed postsynaptic parameters ``P[row, post]``. A Numba call
# costs ~35 ns per array argument, so the per-spike kernels take a few packed arrays.
F_W, F_ZPB, F_ZB, F_EB, F_ER, F_EP, F_PEND, F_CUM, F_M, F_V, F_B1, F_B2 = range(12)
N_FIELDS = 12
P_ALPHA, P_KAPPA, P_KREG, P_BETA, P_RHO = range(5)


@_JIT
def rec_update(i, tp, t_from, t_to, skip, close, each, fast, ucut, S, STEP, par, psi_h, L_h, fr_h, h0, cut, P):
    """The e-prop synapses ``i -> j`` onto recurrent neurons (every ``j != skip``; -1: none) of presynaptic
    neuron ``i``, whose window was opened by its spike at ``tp`` and is integrated up to ``t_from``.

    Integrates the steps ``[t_from, t_to)`` of the window (up to each target's cutoff) into the traces and the
    pending gradient (``optimize_each_step`` off) or the pending weight (on: one optimizer call per step, index
    ``t + 1``, starting from the weight at the window's first integration); with ``close``, ``t_to`` is ``i``'s
    next spike: decay beyond the cutoff, one optimizer call with the window's gradient (or the pending weight
    becomes the weight), and the next window opens. ``tp < 0`` (the first spike) only opens a window. The
    arithmetic per synapse is EPROP.md §4 (adaptive form, ``e = psi (z̄ - beta eps)``), operation by
    operation, however the window is split into calls.

    ``ucut``: the targets' common cutoff (-1: they differ). ``fast``: the targets are LIF neurons with equal
    ``alpha``, ``kappa``, ``kappa_reg`` and a common cutoff; ``z̄`` is then the same for all synapses of ``i``
    and the LIF form ``e = psi z̄`` gives the same bits (``z̄ >= 0``, ``beta = 0``); ``eps`` is not maintained.
    """
    n_post = S.shape[2]
    s = S[i]
    stp = STEP[i]
    if tp < 0:
        for j in range(n_post):
            if j != skip:
                s[F_PEND, j] = s[F_W, j] if each else 0.0
        return
    if n_post == 0 or (n_post == 1 and skip == 0):
        return
    kind, eta, bs, beta1, beta2, eps_o, wmin, wmax = par[0], par[1], par[2], par[3], par[4], par[5], par[6], par[7]
    ibs = int(bs)
    if each and t_from == tp:  # the per-step updates start from the weight at the window's first integration
        for j in range(n_post):
            if j != skip:
                s[F_PEND, j] = s[F_W, j]
    if each or ucut < 0:  # one synapse at a time (the presynaptic spike enters z̄ at u = 1; u = 0 uses zpb)
        for j in range(n_post):
            if j == skip:
                continue
            ua = min(cut[j], t_from - tp)
            ub = min(cut[j], t_to - tp)
            if ub <= ua:
                continue
            zb = s[F_ZB, j]
            eb = s[F_EB, j]
            er = s[F_ER, j]
            ep = s[F_EP, j]
            p = s[F_PEND, j]
            c, st, mm, vv, q1, q2 = s[F_CUM, j], stp[j], s[F_M, j], s[F_V, j], s[F_B1, j], s[F_B2, j]
            a = P[P_ALPHA, j]
            k = P[P_KAPPA, j]
            kr = P[P_KREG, j]
            be = P[P_BETA, j]
            rh = P[P_RHO, j]
            for u in range(ua, ub):
                z = s[F_ZPB, j] if u == 0 else (1.0 if u == 1 else 0.0)
                t = tp + u
                row = t - h0
                zb = a * zb + z
                e = psi_h[row, j] * (zb - be * ep)
                ep = rh * ep + e
                eb = k * eb + e
                er = kr * er + (1.0 - kr) * e
                gt = L_h[row, j] * eb + fr_h[row, j] * er
                if each:
                    p, c, st, mm, vv, q1, q2 = opt_scalar(kind, eta, float(ibs), beta1, beta2, eps_o, wmin, wmax,
                                                          1 + (t + 1) // ibs, gt, p, c, st, mm, vv, q1, q2)
                else:
                    p += gt
            s[F_ZB, j] = zb
            s[F_EB, j] = eb
            s[F_ER, j] = er
            s[F_EP, j] = ep
            s[F_PEND, j] = p
            s[F_CUM, j], stp[j], s[F_M, j], s[F_V, j], s[F_B1, j], s[F_B2, j] = c, st, mm, vv, q1, q2
    else:
        ua = min(ucut, t_from - tp)
        ub = min(ucut, t_to - tp)
        if ub > ua:
            d_zb, d_eb, d_er, d_ep, d_g = 0.0, 0.0, 0.0, 0.0, 0.0
            if skip >= 0:  # computed on, then restored (there is no autapse)
                d_zb, d_eb, d_er = s[F_ZB, skip], s[F_EB, skip], s[F_ER, skip]
                d_ep, d_g = s[F_EP, skip], s[F_PEND, skip]
            if fast:
                j0 = 1 if skip == 0 else 0
                a = P[P_ALPHA, j0]
                k = P[P_KAPPA, j0]
                kr = P[P_KREG, j0]
                omk = 1.0 - kr
                zs = s[F_ZB, j0]
                for u in range(ua, ub):
                    z = s[F_ZPB, j0] if u == 0 else (1.0 if u == 1 else 0.0)
                    zs = a * zs + z
                    row = tp + u - h0
                    for j in range(n_post):
                        e = psi_h[row, j] * zs
                        ebj = k * s[F_EB, j] + e
                        erj = kr * s[F_ER, j] + omk * e
                        s[F_PEND, j] += L_h[row, j] * ebj + fr_h[row, j] * erj
                        s[F_EB, j] = ebj
                        s[F_ER, j] = erj
                for j in range(n_post):
                    s[F_ZB, j] = zs
            else:
                for u in range(ua, ub):
                    row = tp + u - h0
                    zc = 1.0 if u == 1 else 0.0
                    for j in range(n_post):
                        z = s[F_ZPB, j] if u == 0 else zc
                        zbj = P[P_ALPHA, j] * s[F_ZB, j] + z
                        e = psi_h[row, j] * (zbj - P[P_BETA, j] * s[F_EP, j])
                        s[F_EP, j] = P[P_RHO, j] * s[F_EP, j] + e
                        ebj = P[P_KAPPA, j] * s[F_EB, j] + e
                        erj = P[P_KREG, j] * s[F_ER, j] + (1.0 - P[P_KREG, j]) * e
                        s[F_PEND, j] += L_h[row, j] * ebj + fr_h[row, j] * erj
                        s[F_ZB, j] = zbj
                        s[F_EB, j] = ebj
                        s[F_ER, j] = erj
            if skip >= 0:
                s[F_ZB, skip], s[F_EB, skip], s[F_ER, skip] = d_zb, d_eb, d_er
                s[F_EP, skip], s[F_PEND, skip] = d_ep, d_g
    if not close:
        return
    # ---- close the window at the spike t_e = t_to
    isi = t_to - tp
    cur = 1 + t_to // ibs
    if fast:
        j0 = 1 if skip == 0 else 0
        nj = min(cut[j0], isi)
        rem = isi - nj
        if rem > 0:
            zs = s[F_ZB, j0] * P[P_ALPHA, j0] ** rem
            kk = P[P_KAPPA, j0] ** rem
            qq = P[P_KREG, j0] ** rem
            for j in range(n_post):
                if j != skip:
                    s[F_ZB, j] = zs
                    s[F_EB, j] *= kk
                    s[F_ER, j] *= qq
        if nj >= 1:
            zpn = 0.0 if nj >= 2 else 1.0
            for j in range(n_post):
                if j != skip:
                    s[F_ZPB, j] = zpn
    else:
        for j in range(n_post):
            if j == skip:
                continue
            nj = min(cut[j], isi)
            rem = isi - nj
            if rem > 0:
                s[F_ZB, j] *= P[P_ALPHA, j] ** rem
                s[F_EB, j] *= P[P_KAPPA, j] ** rem
                s[F_ER, j] *= P[P_KREG, j] ** rem
                s[F_EP, j] *= P[P_RHO, j] ** rem
            if nj >= 2:
                s[F_ZPB, j] = 0.0
            elif nj == 1:
                s[F_ZPB, j] = 1.0
    if each:
        for j in range(n_post):
            if j != skip:
                s[F_W, j] = s[F_PEND, j]
    elif kind == 0.0:  # opt_scalar's gradient descent, without the Adam states
        for j in range(n_post):
            if j == skip:
                continue
            c = s[F_CUM, j] + s[F_PEND, j]
            s[F_PEND, j] = 0.0
            if stp[j] < cur:
                c /= bs
                w = s[F_W, j] - eta * c
                c = 0.0
                stp[j] = cur
                s[F_W, j] = max(wmin, min(w, wmax))
            s[F_CUM, j] = c
    else:
        for j in range(n_post):
            if j == skip:
                continue
            s[F_W, j], s[F_CUM, j], stp[j], s[F_M, j], s[F_V, j], s[F_B1, j], s[F_B2, j] = opt_scalar(
                kind, eta, bs, beta1, beta2, eps_o, wmin, wmax, cur, s[F_PEND, j], s[F_W, j], s[F_CUM, j], stp[j],
                s[F_M, j], s[F_V, j], s[F_B1, j], s[F_B2, j])
            s[F_PEND, j] = 0.0


@_JIT
def out_update(i, tp, t_from, t_to, close, each, S, STEP, par, err_h, h0, cut, kappa_out):
    """:func:`rec_update` for the synapses ``i -> every readout`` (``g_t = err^t z̄``, no ``psi``, no
    regularisation)."""
    n_out = S.shape[2]
    s = S[i]
    stp = STEP[i]
    if tp < 0:
        for k in range(n_out):
            s[F_PEND, k] = s[F_W, k] if each else 0.0
        return
    kind, eta, bs, beta1, beta2, eps_o, wmin, wmax = par[0], par[1], par[2], par[3], par[4], par[5], par[6], par[7]
    ibs = int(bs)
    cur = 1 + t_to // ibs
    isi = t_to - tp
    if each and t_from == tp:  # see rec_update
        for k in range(n_out):
            s[F_PEND, k] = s[F_W, k]
    for k in range(n_out):
        ua = min(cut[k], t_from - tp)
        ub = min(cut[k], t_to - tp)
        zb = s[F_ZB, k]
        p = s[F_PEND, k]
        a = kappa_out[k]
        for u in range(ua, ub):
            z = s[F_ZPB, k] if u == 0 else (1.0 if u == 1 else 0.0)
            t = tp + u
            zb = a * zb + z
            gt = err_h[t - h0, k] * zb
            if each:
                p, s[F_CUM, k], stp[k], s[F_M, k], s[F_V, k], s[F_B1, k], s[F_B2, k] = opt_scalar(
                    kind, eta, float(ibs), beta1, beta2, eps_o, wmin, wmax, 1 + (t + 1) // ibs, gt, p, s[F_CUM, k],
                    stp[k], s[F_M, k], s[F_V, k], s[F_B1, k], s[F_B2, k])
            else:
                p += gt
        if close:
            n = min(cut[k], isi)
            rem = isi - n
            if rem > 0:
                zb *= a ** rem
            if each:
                s[F_W, k] = p
            else:
                s[F_W, k], s[F_CUM, k], stp[k], s[F_M, k], s[F_V, k], s[F_B1, k], s[F_B2, k] = opt_scalar(
                    kind, eta, bs, beta1, beta2, eps_o, wmin, wmax, cur, p, s[F_W, k], s[F_CUM, k], stp[k], s[F_M, k],
                    s[F_V, k], s[F_B1, k], s[F_B2, k])
                p = 0.0
            if n >= 2:
                s[F_ZPB, k] = 0.0
            elif n == 1:
                s[F_ZPB, k] = 1.0
        s[F_ZB, k] = zb
        s[F_PEND, k] = p


@_JIT
def _pairwise_block(a, lo, n):
    """:func:`pairwise_sum` for ``n <= 128`` (NumPy's unrolled base case)."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    m = n - n % 8
    i = 8
    while i < m:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@_JIT
def pairwise_sum(a, lo, n):
    """NumPy's pairwise summation of ``a[lo:lo + n]`` (``np.add.reduce`` of a contiguous 1-d array), bit for bit.

    NumPy recurses (halves rounded to multiples of 8) down to blocks of at most 128; the recursion is
    unrolled here with an explicit stack (numba's on-disk cache does not support recursive functions).
    """
    if n <= 128:
        return _pairwise_block(a, lo, n)
    # tasks: (lo, n) to evaluate, or n = -1 for "add the two values on top of the value stack"
    t_lo = np.empty(128, np.int64)
    t_n = np.empty(128, np.int64)
    vals = np.empty(128)
    nt = 1
    nv = 0
    t_lo[0] = lo
    t_n[0] = n
    while nt:
        nt -= 1
        cl = t_lo[nt]
        cn = t_n[nt]
        if cn < 0:
            nv -= 1
            vals[nv - 1] = vals[nv - 1] + vals[nv]
        elif cn <= 128:
            vals[nv] = _pairwise_block(a, cl, cn)
            nv += 1
        else:
            n2 = cn // 2
            n2 -= n2 % 8
            t_n[nt] = -1
            t_lo[nt + 1] = cl + n2
            t_n[nt + 1] = cn - n2
            t_lo[nt + 2] = cl
            t_n[nt + 2] = n2
            nt += 3
    return vals[0]


@_JIT
def column_sums(WT, cols, n_cols, out, buf):
    """``out[:] = W[:, cols[:n_cols]].sum(axis=1)`` for ``W = WT.T``, with NumPy's summation order, bit for bit.

    NumPy sums a gathered (rows, k) matrix along axis 1 column by column (``0 + c_0 + c_1 + ...``) when there
    is more than one row, and pairwise (:func:`pairwise_sum`) when there is one. ``buf`` is scratch (>= k).
    """
    n_rows = WT.shape[1]
    if n_rows == 1:
        for q in range(n_cols):
            buf[q] = WT[cols[q], 0]
        out[0] = pairwise_sum(buf, 0, n_cols)
        return
    for j in range(n_rows):
        out[j] = 0.0
    for q in range(n_cols):
        row = WT[cols[q]]
        for j in range(n_rows):
            out[j] += row[j]


@_JIT
def matvec(A, x, out):
    """``out[:] = A @ x`` as NumPy computes it (BLAS ``ddot``/``dgemv``, for A's layout), bit for bit."""
    if A.shape[0] == 1:
        out[0] = np.dot(np.ascontiguousarray(A[0]), x)
    elif A.shape[1] == 1:
        for j in range(A.shape[0]):
            out[j] = A[j, 0] * x[0]
    else:
        y = np.dot(A, x)
        for j in range(A.shape[0]):
            out[j] = y[j]


@_JIT
def surrogate(code, h, w, r, v, A):
    """The surrogate gradient of one neuron (:mod:`.surrogates`; 0 while refractory)."""
    if r > 0:
        return 0.0
    x = v - A
    if code == 0:
        return h * max(0.0, 1.0 - abs(x) / w)
    if code == 1:
        return h * math.exp(-abs(x) / w)
    if code == 2:
        return h * (1.0 + abs(x) / w) ** -2.0
    q = x / w
    return h / (1.0 + q * q)


@_JIT
def grow(a, need):
    """``a`` (1-d) or a copy with at least twice the capacity, holding ``need`` or more elements."""
    if need <= a.shape[0]:
        return a
    b = np.empty(max(need, 2 * a.shape[0]), a.dtype)
    b[:a.shape[0]] = a
    return b


def warm_up():
    """Compile the kernels (cached on disk after the first time)."""
    par = np.zeros(9)
    par[2] = 1.0
    a = np.zeros(1)
    opt_apply(par, 1, 0.0, 0.0, a, np.ones(1, dtype=np.int64), a.copy(), a.copy(), np.ones(1), np.ones(1), 0)
