"""Numba kernels of the e-prop engine: the optimizer and the event-based per-synapse gradient.

The arithmetic follows EPROP.md §4 and §6 operation by operation. Matrices are (n_post, n_pre); the
state of synapse ``pre -> post`` sits at ``[post, pre]``. Histories are (n_hist, n_post) arrays whose
row ``t - h0`` holds the postsynaptic value of step ``t``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_JIT = numba.njit(cache=True)


@_JIT
def opt_apply(par, idx, g, w, cum, step, m, v, b1, b2, s):
    """One optimizer call for flat synapse index ``s``; see :mod:`spikeengine.eprop.optimizers`."""
    c = cum[s] + g
    bs = int(par[2])
    cur = 1 + idx // bs
    if step[s] < cur:
        c /= bs
        if par[0] == 0.0:
            w -= par[1] * c
            c = 0.0
            step[s] = cur
        else:
            beta1 = par[3]
            beta2 = par[4]
            while step[s] < cur:
                b1[s] *= beta1
                b2[s] *= beta2
                alpha = par[1] * math.sqrt(1.0 - b2[s]) / (1.0 - b1[s])
                m[s] = beta1 * m[s] + (1.0 - beta1) * c
                v[s] = beta2 * v[s] + (1.0 - beta2) * c * c
                w -= alpha * m[s] / (math.sqrt(v[s]) + par[5])
                c = 0.0
                step[s] += 1
        w = max(par[6], min(w, par[7]))
    cum[s] = c
    return w


@_JIT
def event_update_rec(i, t_e, t_prev, posts, W, n_pre, zpb, zbar, ebar, ebar_reg, eps,
                     cum, step, m, v, b1, b2, par,
                     psi_h, L_h, fr_h, h0, cut, alpha, kappa, kappa_reg, beta, rho, adaptive):
    """Event-based update of the synapses ``i -> posts`` (recurrent targets) at a spike of ``i``.

    ``t_e`` is the step of the triggering spike, ``t_prev`` the step of ``i``'s previous spike.
    """
    isi = t_e - t_prev
    each = par[8] != 0.0
    for q in range(posts.shape[0]):
        j = posts[q]
        s = j * n_pre + i
        w = W[j, i]
        n = min(cut[j], isi)
        zcb = 1.0
        zp = zpb[j, i]
        zb = zbar[j, i]
        eb = ebar[j, i]
        er = ebar_reg[j, i]
        ep = eps[j, i]
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
        zpb[j, i] = zp
        zbar[j, i] = zb
        ebar[j, i] = eb
        ebar_reg[j, i] = er
        eps[j, i] = ep
        W[j, i] = w


@_JIT
def event_update_out(i, t_e, t_prev, W, n_pre, zpb, zbar, cum, step, m, v, b1, b2, par,
                     err_h, h0, cut, kappa_out):
    """Event-based update of the synapses ``i -> every readout`` at a spike of recurrent neuron ``i``."""
    isi = t_e - t_prev
    each = par[8] != 0.0
    for k in range(W.shape[0]):
        s = k * n_pre + i
        w = W[k, i]
        n = min(cut[k], isi)
        zcb = 1.0
        zp = zpb[k, i]
        zb = zbar[k, i]
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
        zpb[k, i] = zp
        zbar[k, i] = zb
        W[k, i] = w


def warm_up():
    """Compile the kernels (cached on disk after the first time)."""
    par = np.zeros(9)
    par[2] = 1.0
    a = np.zeros(1)
    opt_apply(par, 1, 0.0, 0.0, a, np.ones(1, dtype=np.int64), a.copy(), a.copy(), np.ones(1), np.ones(1), 0)
