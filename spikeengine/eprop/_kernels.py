"""Numba kernels of the e-prop engine: the optimizer and the event-based per-synapse gradient.

The arithmetic follows EPROP.md §4 and §6 operation by operation. Matrices are (n_post, n_pre); the
state of synapse ``pre -> post`` sits at ``[post, pre]``. Histories are (n_hist, n_post) arrays whose
row ``t - h0`` holds the postsynaptic value of step ``t``.
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


@_JIT
def event_update_rec(i, t_e, t_prev, posts, WT, n_post, zpbT, zbarT, ebarT, ebar_regT, epsT,
                     cum, step, m, v, b1, b2, par,
                     psi_h, L_h, fr_h, h0, cut, alpha, kappa, kappa_reg, beta, rho, adaptive):
    """Event-based update of the synapses ``i -> posts`` (recurrent targets) at a spike of ``i``.

    ``t_e`` is the step of the triggering spike, ``t_prev`` the step of ``i``'s previous spike. Synapse
    matrices are transposed, (n_pre, n_post): the state of ``i -> j`` sits at ``[i, j]`` and at the flat
    index ``i * n_post + j`` of the optimizer arrays.
    """
    isi = t_e - t_prev
    each = par[8] != 0.0
    for q in range(posts.shape[0]):
        j = posts[q]
        s = i * n_post + j
        w = WT[i, j]
        n = min(cut[j], isi)
        zcb = 1.0
        zp = zpbT[i, j]
        zb = zbarT[i, j]
        eb = ebarT[i, j]
        er = ebar_regT[i, j]
        ep = epsT[i, j]
        a = alpha[j]
        k = kappa[j]
        kr = kappa_reg[j]
        g = 0.0
        for t in range(t_prev, t_prev + n):
            z = zp
            zp = zcb
            zcb = 0.0
            zb = a * zb + z
            row = t - h0
            if adaptive:
                e = psi_h[row, j] * (zb - beta[j] * ep)
                ep = rho[j] * ep + e
            else:
                e = psi_h[row, j] * zb
            eb = k * eb + e
            er = kr * er + (1.0 - kr) * e
            gt = L_h[row, j] * eb + fr_h[row, j] * er
            if each:
                w = opt_apply(par, t + 1, gt, w, cum, step, m, v, b1, b2, s)
            else:
                g += gt
        rem = isi - n
        if rem > 0:
            zb *= a ** rem
            eb *= k ** rem
            er *= kr ** rem
            if adaptive:
                ep *= rho[j] ** rem
        if not each:
            w = opt_apply(par, t_e, g, w, cum, step, m, v, b1, b2, s)
        zpbT[i, j] = zp
        zbarT[i, j] = zb
        ebarT[i, j] = eb
        ebar_regT[i, j] = er
        epsT[i, j] = ep
        WT[i, j] = w


@_JIT
def event_update_rec_all(i, t_e, t_prev, skip, WT, zpbT, zbarT, ebarT, ebar_regT, epsT,
                         cum, step, m, v, b1, b2, par,
                         psi_h, L_h, fr_h, h0, cut, alpha, kappa, kappa_reg, beta, rho, buf):
    """:func:`event_update_rec` (adaptive form, ``optimize_each_step`` off) for the synapses ``i -> j``, every
    ``j != skip`` (-1: none), with the time loop outside the neuron loop.

    The same operations in the same order per synapse as :func:`event_update_rec`, so the same bits; the
    neuron loop reads the history rows and the (transposed) synapse rows contiguously and its iterations are
    independent. The ``skip`` entry is computed on and then restored (there is no autapse). ``buf`` is
    scratch, shape (>= 2, n_post).
    """
    n_post = WT.shape[1]
    isi = t_e - t_prev
    zb = zbarT[i]
    eb = ebarT[i]
    er = ebar_regT[i]
    ep = epsT[i]
    zp = zpbT[i]
    g = buf[0]
    zp0 = buf[1]
    d_zb = d_eb = d_er = d_ep = 0.0
    if skip >= 0:
        d_zb, d_eb, d_er, d_ep = zb[skip], eb[skip], er[skip], ep[skip]
    nmin = isi
    nmax = 0
    for j in range(n_post):
        zp0[j] = zp[j]
        g[j] = 0.0
        nj = min(cut[j], isi)
        nmin = min(nmin, nj)
        nmax = max(nmax, nj)
    # z is the stored z_prev in the first step, 1 (the spike at t_prev) in the second, then 0
    for u in range(nmin):
        row = t_prev + u - h0
        zc = 1.0 if u == 1 else 0.0
        for j in range(n_post):
            z = zp0[j] if u == 0 else zc
            zbj = alpha[j] * zb[j] + z
            e = psi_h[row, j] * (zbj - beta[j] * ep[j])
            ep[j] = rho[j] * ep[j] + e
            ebj = kappa[j] * eb[j] + e
            erj = kappa_reg[j] * er[j] + (1.0 - kappa_reg[j]) * e
            g[j] += L_h[row, j] * ebj + fr_h[row, j] * erj
            zb[j] = zbj
            eb[j] = ebj
            er[j] = erj
    if nmax > nmin:  # per-neuron cutoffs differ
        for j in range(n_post):
            for u in range(nmin, min(cut[j], isi)):
                row = t_prev + u - h0
                z = zp0[j] if u == 0 else (1.0 if u == 1 else 0.0)
                zbj = alpha[j] * zb[j] + z
                e = psi_h[row, j] * (zbj - beta[j] * ep[j])
                ep[j] = rho[j] * ep[j] + e
                ebj = kappa[j] * eb[j] + e
                erj = kappa_reg[j] * er[j] + (1.0 - kappa_reg[j]) * e
                g[j] += L_h[row, j] * ebj + fr_h[row, j] * erj
                zb[j] = zbj
                eb[j] = ebj
                er[j] = erj
    base = i * n_post
    kind, eta, beta1, beta2, eps_o, wmin, wmax = par[0], par[1], par[3], par[4], par[5], par[6], par[7]
    bs = int(par[2])
    cur = 1 + t_e // bs
    bsf = float(bs)
    for j in range(n_post):
        if j == skip:
            continue
        nj = min(cut[j], isi)
        rem = isi - nj
        if rem > 0:
            zb[j] *= alpha[j] ** rem
            eb[j] *= kappa[j] ** rem
            er[j] *= kappa_reg[j] ** rem
            ep[j] *= rho[j] ** rem
        q = base + j
        WT[i, j], cum[q], step[q], m[q], v[q], b1[q], b2[q] = opt_scalar(
            kind, eta, bsf, beta1, beta2, eps_o, wmin, wmax, cur, g[j], WT[i, j], cum[q], step[q], m[q], v[q], b1[q],
            b2[q])
        if nj >= 2:
            zp[j] = 0.0
        elif nj == 1:
            zp[j] = 1.0
    if skip >= 0:
        zb[skip], eb[skip], er[skip], ep[skip] = d_zb, d_eb, d_er, d_ep


@_JIT
def event_update_out(i, t_e, t_prev, WT, zpbT, zbarT, cum, step, m, v, b1, b2, par, err_h, h0, cut, kappa_out):
    """Event-based update of the synapses ``i -> every readout`` at a spike of recurrent neuron ``i``
    (transposed layout, see :func:`event_update_rec`)."""
    isi = t_e - t_prev
    each = par[8] != 0.0
    n_out = WT.shape[1]
    for k in range(n_out):
        s = i * n_out + k
        w = WT[i, k]
        n = min(cut[k], isi)
        zcb = 1.0
        zp = zpbT[i, k]
        zb = zbarT[i, k]
        a = kappa_out[k]
        g = 0.0
        for t in range(t_prev, t_prev + n):
            z = zp
            zp = zcb
            zcb = 0.0
            zb = a * zb + z
            gt = err_h[t - h0, k] * zb
            if each:
                w = opt_apply(par, t + 1, gt, w, cum, step, m, v, b1, b2, s)
            else:
                g += gt
        rem = isi - n
        if rem > 0:
            zb *= a ** rem
        if not each:
            w = opt_apply(par, t_e, g, w, cum, step, m, v, b1, b2, s)
        zpbT[i, k] = zp
        zbarT[i, k] = zb
        WT[i, k] = w


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
    """``out[:] = A @ x`` as NumPy computes it (BLAS ``ddot``/``dgemv``), bit for bit."""
    if A.shape[0] == 1:
        out[0] = np.dot(A[0], x)
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
