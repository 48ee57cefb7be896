"""The ``bsshslm_2020`` scheme (NEST ``*_bsshslm_2020``, Bellec et al. 2020), EPROP.md §7.

Engine frame: step ``t`` is NEST's update step ``t + 2`` (the generator offset plus the input delay), so
the recurrent neurons' update intervals are ``[mT, (m+1)T)``. Row ``t`` of the readout arrays (readout
signal, error, targets) is the readout step that integrates the recurrent spikes of step ``t`` (NEST's
readout step ``t + 3``, recorded by NEST one step later because the readout signal is one step stale).
A spike emitted in step ``t`` has the *stamp* ``t + 1`` for recurrent targets and ``t`` for readouts,
and the per-synapse bookkeeping below is NEST's ``eprop_synapse_bsshslm_2020::send`` in these units.

Per step ``t`` (interval step ``s = t mod T``):

1. at ``s = 0``: close the rate estimate of the interval that just ended (``fr_reg``), drop the spikes
   that would arrive now, and (``reset_neurons_on_update``) reset the neurons;
2. recurrent neurons: adaptation, ``v <- alpha v + zeta arr + P_i i_in - V_th z^{t-1}``, clip, refractory
   counter, surrogate gradient ``psi^t`` (history), spike;
3. the spikes of step ``t`` (inputs first, then recurrent neurons, in index order) go through
   :func:`_send`: the first spike of a presynaptic neuron after the end of an interval applies the
   gradient of that interval (:func:`_grad_rec`, :func:`_grad_out`) through the optimizer, then the
   spike is transmitted with the new weights (none into the first step of the next interval);
4. readouts: ``v <- kappa v + zeta W_out z^t + P_i i_in``, softmax (cross-entropy), and inside the
   learning window the error, the loss and the learning signal ``L^t = B err^t`` (histories).

At the end of a run, the gradients of intervals that are complete but whose presynaptic neuron has not
spiked since are computed (:func:`_settle`) and kept until that spike, so that a silent neuron does not
pin the history (:func:`_trim`).

The whole run is one compiled kernel (:func:`_run_kernel`); :func:`run_bsshslm` packs the network's
state containers (``net._state``, ``net._syn``, ``net._hist``, the weight matrices) and unpacks the
results. The arithmetic is that of the former NumPy loop operation by operation (NumPy's summation
orders through :func:`._kernels.pairwise_sum` and BLAS products in the matrices' layouts), so the results
are the same bits (``tests/test_eprop_bsshslm_speed.py`` keeps that loop as the reference). The gradient
of one presynaptic neuron (:func:`_grad_rec`) runs the time loop outside a vectorised loop over the
postsynaptic neurons, shares the presynaptic trace among neurons with equal ``alpha`` and ``zeta``, and
leaves out the terms that are exact zeros (``beta = 0``; rows where the learning signal is 0).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ._kernels import grow, matvec, opt_apply, pairwise_sum, surrogate

_JIT = numba.njit(cache=True)
#: a learning signal L^tau reaches the recurrent history two steps after the recurrent step tau' that
#: triggers a synapse update can read it: an update triggered by a spike emitted in step t sees L^tau for
#: tau <= t - 2 only, later entries count as 0 (NEST's out->rec delay; matters when a presynaptic spike
#: closes an interval within two steps of its end)
L_VISIBLE_LAG = 2
_BOOK = ("tsp", "ttrig", "tpu", "tnu", "ready")


def init_state(net):
    """Add the scheme's bookkeeping to ``net._state`` (called by :meth:`EpropNetwork.reset`).

    Parameters
    ----------
    net : EpropNetwork
        A network with ``scheme="bsshslm_2020"``.
    """
    n_in, n_rec = net.n_in, net.n_rec
    st = net._state
    # bookkeeping per (presynaptic neuron, target population): in->rec, rec->rec, rec->out
    for p, n, n_post in (("in", n_in, n_rec), ("rec", n_rec, n_rec), ("out", n_rec, net.n_out)):
        st[f"b_{p}"] = {"tsp": np.full(n, -1, np.int64), "ttrig": np.full(n, -1, np.int64),
                        "tpu": np.zeros(n, np.int64), "tnu": np.zeros(n, np.int64),
                        "isis": [[] for _ in range(n)], "ready": np.zeros(n, np.int64),
                        "pend": np.zeros((n, n_post))}
    st["n_spikes"] = np.zeros(n_rec)
    st["fr_reg"] = {}
    st["norm_prev"] = None


@_JIT
def _rows(psi_h, L_h, r0, u0, u1, j0, j1, zbr, kappa, omk, beta, rho, eb, ep, se, g, adaptive, vis):
    """Rows ``u0 <= u < u1`` (history row ``r0 + u``) of :func:`_grad_rec` for the posts ``j0 <= j < j1``.

    ``zbr[u]`` is the presynaptic trace (shared by these posts). ``adaptive``: posts with ``beta != 0``;
    for the others ``zbar - beta * eps`` is ``zbar`` exactly and ``eps`` is not needed. ``vis``: the learning
    signal of these rows is visible and not all 0 (``L * ebar`` adds an exact 0 to the gradient otherwise).
    Two rows per pass over the posts; the loop over the posts vectorises (its indices start at 0).
    """
    m = j1 - j0
    beta = beta[j0:j1]
    rho = rho[j0:j1]
    eb = eb[j0:j1]
    ep = ep[j0:j1]
    se = se[j0:j1]
    g = g[j0:j1]
    u = u0
    if adaptive and vis:
        while u + 2 <= u1:
            r = r0 + u
            z0, z1 = zbr[u], zbr[u + 1]
            p0, p1 = psi_h[r, j0:j1], psi_h[r + 1, j0:j1]
            l0, l1 = L_h[r, j0:j1], L_h[r + 1, j0:j1]
            for j in range(m):
                bt = beta[j]
                rh = rho[j]
                epj = ep[j]
                ebj = eb[j]
                sj = se[j]
                gj = g[j]
                e = p0[j] * (z0 - bt * epj)
                epj = rh * epj + e
                ebj = kappa * ebj + omk * e
                gj += l0[j] * ebj
                sj += e
                e = p1[j] * (z1 - bt * epj)
                epj = rh * epj + e
                ebj = kappa * ebj + omk * e
                gj += l1[j] * ebj
                sj += e
                ep[j] = epj
                eb[j] = ebj
                se[j] = sj
                g[j] = gj
            u += 2
    elif adaptive:
        while u + 2 <= u1:
            r = r0 + u
            z0, z1 = zbr[u], zbr[u + 1]
            p0, p1 = psi_h[r, j0:j1], psi_h[r + 1, j0:j1]
            for j in range(m):
                bt = beta[j]
                rh = rho[j]
                epj = ep[j]
                ebj = eb[j]
                sj = se[j]
                e = p0[j] * (z0 - bt * epj)
                epj = rh * epj + e
                ebj = kappa * ebj + omk * e
                sj += e
                e = p1[j] * (z1 - bt * epj)
                epj = rh * epj + e
                ebj = kappa * ebj + omk * e
                sj += e
                ep[j] = epj
                eb[j] = ebj
                se[j] = sj
            u += 2
    elif vis:
        while u + 2 <= u1:
            r = r0 + u
            z0, z1 = zbr[u], zbr[u + 1]
            p0, p1 = psi_h[r, j0:j1], psi_h[r + 1, j0:j1]
            l0, l1 = L_h[r, j0:j1], L_h[r + 1, j0:j1]
            for j in range(m):
                ebj = eb[j]
                sj = se[j]
                gj = g[j]
                e = p0[j] * z0
                ebj = kappa * ebj + omk * e
                gj += l0[j] * ebj
                sj += e
                e = p1[j] * z1
                ebj = kappa * ebj + omk * e
                gj += l1[j] * ebj
                sj += e
                eb[j] = ebj
                se[j] = sj
                g[j] = gj
            u += 2
    else:
        while u + 2 <= u1:
            r = r0 + u
            z0, z1 = zbr[u], zbr[u + 1]
            p0, p1 = psi_h[r, j0:j1], psi_h[r + 1, j0:j1]
            for j in range(m):
                ebj = eb[j]
                sj = se[j]
                e = p0[j] * z0
                ebj = kappa * ebj + omk * e
                sj += e
                e = p1[j] * z1
                ebj = kappa * ebj + omk * e
                sj += e
                eb[j] = ebj
                se[j] = sj
            u += 2
    while u < u1:
        r = r0 + u
        zb = zbr[u]
        p0 = psi_h[r, j0:j1]
        l0 = L_h[r, j0:j1]
        for j in range(m):
            if adaptive:
                e = p0[j] * (zb - beta[j] * ep[j])
                ep[j] = rho[j] * ep[j] + e
            else:
                e = p0[j] * zb
            ebj = kappa * eb[j] + omk * e
            if vis:
                g[j] += l0[j] * ebj
            eb[j] = ebj
            se[j] += e
        u += 1


@_JIT
def _rows_each(psi_h, L_h, r0, u0, u1, zr, kappa, omk, alpha, zeta, beta, rho, zb, eb, ep, se, g, vis):
    """:func:`_rows` for all posts at once with a presynaptic trace per post (heterogeneous populations)."""
    for u in range(u0, u1):
        z = zr[u]
        p0 = psi_h[r0 + u]
        l0 = L_h[r0 + u]
        for j in range(p0.shape[0]):
            zbj = alpha[j] * zb[j] + zeta[j] * z
            e = p0[j] * (zbj - beta[j] * ep[j])
            ep[j] = rho[j] * ep[j] + e
            ebj = kappa * eb[j] + omk * e
            if vis:
                g[j] += l0[j] * ebj
            se[j] += e
            zb[j] = zbj
            eb[j] = ebj


@_JIT
def _grad_rec(isis, n_isi, ttrig, skip, h0, psi_h, L_h, lnz, runs, alpha, zeta, beta, rho, kappa, avg, window, fr,
              lim, buf, zr):
    """Gradients of the synapses ``i -> j`` (recurrent targets, every ``j``) for one interval, into ``buf[0]``.

    ``g_j = (sum_t L_j^t ebar_j^t + fr_j * sum_t e_j^t) / W`` (the division only with ``average_gradient``;
    NEST averages the regularisation term too), with per synapse ``zbar = alpha zbar + zeta z``,
    ``e = psi (zbar - beta eps)``, ``eps = rho eps + e``, ``ebar = kappa ebar + (1 - kappa) e`` in NEST's
    order. ``isis[:n_isi]`` are the presynaptic inter-spike intervals from the stamp ``ttrig`` on (a spike
    at the first step of each); rows ``> lim`` of ``L_h`` are not yet visible, ``lnz[row]``: row ``row`` of
    ``L_h`` is not all 0. ``runs`` (n_runs, 3): ranges ``[j0, j1)`` of posts with equal ``alpha`` and
    ``zeta`` (one presynaptic trace) and whether ``beta != 0``. Entry ``skip`` (the autapse, -1: none) is
    computed and left for the caller to ignore. ``buf`` is scratch, shape (>= 5, n_post); ``zr`` scratch
    of at least the interval's length.

    The time loop runs outside the loop over the posts, whose iterations are independent; the operations
    per synapse are those of a loop over time, in its order, so the bits are the same.
    """
    n_post = psi_h.shape[1]
    g = buf[0]
    eb = buf[1]
    ep = buf[2]
    se = buf[3]
    zb = buf[4]
    for j in range(n_post):
        g[j] = 0.0
        eb[j] = 0.0
        ep[j] = 0.0
        se[j] = 0.0
        zb[j] = 0.0
    omk = 1.0 - kappa
    r0 = ttrig - h0
    R = 0
    for p in range(n_isi):
        R += isis[p]
    if zr.shape[0] < 2 * R:
        zr = np.empty(2 * R)
    R = 0
    for p in range(n_isi):
        for u in range(isis[p]):
            zr[R] = 1.0 if u == 0 else 0.0
            R += 1
    zbr = zr[R:]
    each = 4 * runs.shape[0] > n_post  # short runs: a trace per post
    if not each:
        for q in range(runs.shape[0]):
            a = alpha[runs[q, 0]]
            c = zeta[runs[q, 0]]
            zbq = 0.0
            for u in range(R):
                zbq = a * zbq + c * zr[u]
                zbr[u] = zbq
            # rows in stretches of the same visibility of the learning signal
            u = 0
            while u < R:
                vis = r0 + u <= lim and lnz[r0 + u]
                u1 = u + 1
                while u1 < R and (r0 + u1 <= lim and lnz[r0 + u1]) == vis:
                    u1 += 1
                _rows(psi_h, L_h, r0, u, u1, runs[q, 0], runs[q, 1], zbr, kappa, omk, beta, rho, eb, ep, se, g,
                      runs[q, 2] != 0, vis)
                u = u1
    else:
        u = 0
        while u < R:
            vis = r0 + u <= lim and lnz[r0 + u]
            u1 = u + 1
            while u1 < R and (r0 + u1 <= lim and lnz[r0 + u1]) == vis:
                u1 += 1
            _rows_each(psi_h, L_h, r0, u, u1, zr, kappa, omk, alpha, zeta, beta, rho, zb, eb, ep, se, g, vis)
            u = u1
    for j in range(n_post):
        gj = g[j] + fr[j] * se[j]
        if avg:
            gj /= window
        g[j] = gj
    if skip >= 0:
        g[skip] = 0.0


@_JIT
def _grad_out(isis, n_isi, ttrig, h0, err_h, kappa_out, zeta, avg, window, g):
    """Gradients of the synapses ``i -> every readout`` for one interval, into ``g`` (see :func:`_grad_rec`)."""
    n_out = err_h.shape[1]
    for k in range(n_out):
        row = ttrig - h0
        zb = 0.0
        grad = 0.0
        for p in range(n_isi):
            z = 1.0
            for _ in range(isis[p]):
                zb = kappa_out[k] * zb + zeta[k] * z
                grad += err_h[row, k] * zb
                z = 0.0
                row += 1
        if avg:
            grad /= window
        g[k] = grad


@_JIT
def _push(i, isi, isis, n_isi):
    """Append the inter-spike interval ``isi`` of ``i`` if it is positive; returns ``isis`` (it may have grown)."""
    if isi > 0:
        if n_isi[i] >= isis.shape[1]:
            big = np.zeros((isis.shape[0], 2 * isis.shape[1]), np.int64)
            big[:, :isis.shape[1]] = isis
            isis = big
        isis[i, n_isi[i]] = isi
        n_isi[i] += 1
    return isis


@_JIT
def _send(i, stamp, T, book, isis, n_isi):
    """NEST's ``eprop_synapse_bsshslm_2020::send`` bookkeeping for a spike of ``i`` with ``stamp``.

    ``book`` rows: ``tsp`` (stamp of the previous spike), ``ttrig`` (start of the pending interval's trace),
    ``tpu``, ``tnu`` (start and end of the pending interval), ``ready`` (its gradient is settled, see
    :func:`_settle`). Records the inter-spike interval and returns ``(update, idx, isis)``: whether the spike
    closes the interval (the caller then applies its gradient with optimizer index ``idx`` and calls
    :func:`_closed`). ``isis`` is returned because it may have grown.
    """
    tsp, ttrig, tnu = book[0], book[1], book[3]
    if ttrig[i] < 0:
        ttrig[i] = stamp
    if tsp[i] >= 0 and book[4, i] == 0:
        isis = _push(i, min(stamp, tnu[i]) - min(tsp[i], tnu[i]), isis, n_isi)
    return stamp > tnu[i], stamp // T, isis


@_JIT
def _closed(i, stamp, idx, T, book, n_isi):
    """The bookkeeping after an interval of ``i`` was closed by the spike with ``stamp``."""
    n_isi[i] = 0
    book[1, i] = stamp
    book[2, i] = idx * T
    book[3, i] = idx * T + T
    book[4, i] = 0


@_JIT
def _fr_row(i, book, T, m0, fr_tab, fr_have, spare):
    """``fr_reg`` of the pending interval of ``i`` (``spare`` zeroed where unknown, as NEST's 0)."""
    mm = book[2, i] // T - m0
    if 0 <= mm < fr_tab.shape[0] and fr_have[mm]:
        return fr_tab[mm]
    spare[:] = 0.0
    return spare


@_JIT
def _settle(t, T, book, isis, n_isi, pend, rec, skip_self, m0, fr_tab, fr_have, h0, psi_h, L_h, err_h, lnz, runs,
            alpha, zeta, beta, rho, kappa, o_kappa, o_zeta, avg, fwin, gbuf, zr):
    """Compute, at the end of a run ending before step ``t``, the gradients of the pending intervals that ended
    before ``t - 1`` (``tnu <= t - 1``) into ``pend`` (n_pre, n_post), and mark them ``ready``.

    Such a gradient no longer depends on when the next spike comes (its last inter-spike interval is cut at
    ``tnu``, its learning signals are all visible), so it is the one the next spike would compute, and the
    history rows it reads can be dropped: a neuron that stays silent for many intervals does not pin the
    history. ``rec``: recurrent targets (:func:`_grad_rec`, the autapse ``skip_self``), else readouts
    (:func:`_grad_out`). Returns ``isis``.
    """
    for i in range(book.shape[1]):
        tsp = book[0, i]
        tnu = book[3, i]
        if book[4, i] != 0 or book[1, i] < 0 or tsp < 0 or tnu > t - 1:
            continue
        isis = _push(i, tnu - min(tsp, tnu), isis, n_isi)
        if n_isi[i] > 0:
            if rec:
                fr = _fr_row(i, book, T, m0, fr_tab, fr_have, gbuf[5])
                _grad_rec(isis[i], n_isi[i], book[1, i], i if skip_self else -1, h0, psi_h, L_h, lnz, runs, alpha,
                          zeta, beta, rho, kappa, avg, fwin, fr, t - L_VISIBLE_LAG - h0, gbuf, zr)
                pend[i] = gbuf[0]
            else:
                _grad_out(isis[i], n_isi[i], book[1, i], h0, err_h, o_kappa, o_zeta, avg, fwin, pend[i])
        else:
            pend[i] = 0.0
        n_isi[i] = 0
        book[4, i] = 1
    return isis


@_JIT
def _update_rec(i, skip, t, T, WT, book, isis, n_isi, pend, m0, fr_tab, fr_have, h0, psi_h, L_h, lnz, runs, alpha,
                zeta, beta, rho, kappa, avg, fwin, gbuf, zr, cum, step, m, v, b1, b2, par):
    """A spike of ``i`` emitted in step ``t`` at its synapses ``i -> j`` into the recurrent population.

    :func:`_send` with the stamp ``t + 1``; when it closes an interval, the interval's gradient
    (:func:`_grad_rec`, with ``fr_reg`` of that interval, 0 where unknown; or the settled one in ``pend``) goes
    through the optimizer, for every ``j != skip``. ``WT`` is the transposed weight matrix, (n_pre, n_post); the
    optimizer state of ``i -> j`` sits at the flat index ``j * n_pre + i``. Returns ``isis`` (it may have grown).
    """
    stamp = t + 1
    upd, idx, isis = _send(i, stamp, T, book, isis, n_isi)
    n_pre = WT.shape[0]
    if upd:
        g = gbuf[0]
        if book[4, i] != 0:
            g = pend[i]
        elif n_isi[i] > 0 and book[0, i] >= 0:
            fr = _fr_row(i, book, T, m0, fr_tab, fr_have, gbuf[5])
            _grad_rec(isis[i], n_isi[i], book[1, i], skip, h0, psi_h, L_h, lnz, runs, alpha, zeta, beta, rho, kappa,
                      avg, fwin, fr, t - L_VISIBLE_LAG - h0, gbuf, zr)
        else:
            g[:] = 0.0
        w = WT[i]
        for j in range(w.shape[0]):
            if j != skip:
                w[j] = opt_apply(par, idx, g[j], w[j], cum, step, m, v, b1, b2, j * n_pre + i)
        _closed(i, stamp, idx, T, book, n_isi)
    book[0, i] = stamp
    return isis


@_JIT
def _events(ev_step, ev_proj, ev_pre, ev_post, ev_w, n_ev, t, proj, i, w, skip):
    """Append the weight-recorder events of a spike of ``i`` in step ``t`` (weights ``w`` by post, no ``skip``)."""
    need = n_ev + w.shape[0]
    ev_step = grow(ev_step, need)
    ev_proj = grow(ev_proj, need)
    ev_pre = grow(ev_pre, need)
    ev_post = grow(ev_post, need)
    ev_w = grow(ev_w, need)
    for j in range(w.shape[0]):
        if j != skip:
            ev_step[n_ev] = t
            ev_proj[n_ev] = proj
            ev_pre[n_ev] = i
            ev_post[n_ev] = j
            ev_w[n_ev] = w[j]
            n_ev += 1
    return ev_step, ev_proj, ev_pre, ev_post, ev_w, n_ev


@_JIT
def _run_kernel(raster, has_targets, targets, T0, h0, T, Wn, ce, symmetric, record, reset, avg, kappa_syn,
                v, r, a, i_in, z_prev, v_out, i_out, arr_rec, n_spikes, fr_tab, fr_have, m0,
                in_b, in_isis, in_nisi, in_pend, rec_b, rec_isis, rec_nisi, rec_pend, out_b, out_isis, out_nisi,
                out_pend,
                WT_in, WT_rec, W_out, B,
                in_cum, in_step, in_m, in_v, in_b1, in_b2, rec_cum, rec_step, rec_m, rec_v, rec_b1, rec_b2,
                out_cum, out_step, out_m, out_v, out_b1, out_b2, par,
                psi_h, L_h, err_h, runs,
                alpha, zeta, P_i, I_e, V_min, V_th, beta, rho, refr, f_tgt, c_reg, sg_code, sg_h, sg_w,
                o_kappa, o_zeta, o_P_i, o_I_e, o_V_min, o_E_L):
    """All ``n`` steps of a run. State arrays are updated in place; returns the per-run results.

    ``*_b`` are the (5, n_pre) bookkeeping arrays (:func:`_send`), ``*_isis`` / ``*_nisi`` the pending
    inter-spike intervals, ``*_pend`` the settled gradients (:func:`_settle`, run at the end);
    ``fr_tab[m - m0]`` is ``fr_reg`` of interval ``m`` where ``fr_have``.

    Returns ``(readout, error, loss, n_spk, spk_t, spk_i, n_ev, ev_step, ev_proj, ev_pre, ev_post, ev_w,
    in_isis, rec_isis, out_isis)``; the spike and weight-event arrays are valid up to ``n_spk`` and ``n_ev``.
    """
    n = raster.shape[0]
    n_in = raster.shape[1]
    n_rec = v.shape[0]
    n_out = v_out.shape[0]
    readout = np.zeros((n, n_out))
    error = np.zeros((n, n_out))
    loss = 0.0
    spk_t = np.empty(64, np.int64)
    spk_i = np.empty(64, np.int64)
    n_spk = 0
    cap = 1024 if record else 0
    ev_step = np.empty(cap, np.int64)
    ev_proj = np.empty(cap, np.int64)
    ev_pre = np.empty(cap, np.int64)
    ev_post = np.empty(cap, np.int64)
    ev_w = np.empty(cap)
    n_ev = 0
    zf = np.zeros(n_rec)
    recs = np.empty(n_rec, np.int64)
    arr_next = np.zeros(n_rec)
    wz = np.empty(n_out)
    ey = np.empty(n_out)
    sig = np.empty(n_out)
    err = np.empty(n_out)
    lbuf = np.empty(n_out)
    gbuf = np.empty((6, n_rec))
    zr = np.empty(2 * T + 2)
    lnz = np.zeros(L_h.shape[0], np.bool_)  # rows of L_h that are not all 0
    for row in range(T0 + n - h0):
        for j in range(n_rec):
            if L_h[row, j] != 0.0:
                lnz[row] = True
                break
    gout = np.empty(n_out)
    wo = np.empty(n_out)
    fwin = float(Wn)
    for k in range(n):
        t = T0 + k
        h = t - h0
        s = t % T
        if s == 0:
            if t > 0:  # close the rate estimate of the interval that just ended
                mm = t // T - 1 - m0
                for j in range(n_rec):
                    f_av = n_spikes[j] / T
                    fr_tab[mm, j] = c_reg[j] * (f_av - f_tgt[j]) / T
                fr_have[mm] = True
            for j in range(n_rec):
                n_spikes[j] = 0.0
                arr_rec[j] = 0.0  # spikes arriving in the first step of an interval are dropped
            if reset:
                for j in range(n_rec):
                    v[j] = 0.0
                    r[j] = 0
                    z_prev[j] = 0.0
                    a[j] = 0.0
        # ---- recurrent neurons
        n_recs = 0
        for j in range(n_rec):
            aj = rho[j] * a[j] + z_prev[j]
            A = V_th[j] + beta[j] * aj
            vj = alpha[j] * v[j] + zeta[j] * arr_rec[j] + P_i[j] * i_in[j] - V_th[j] * z_prev[j]
            i_in[j] = I_e[j]
            vj = vj if vj >= V_min[j] else V_min[j]
            rj = max(r[j] - 1, 0)
            psi_h[h, j] = surrogate(sg_code[j], sg_h[j], sg_w[j], rj, vj, A)
            zj = vj >= A and rj == 0
            if zj:
                rj = refr[j]
                recs[n_recs] = j
                n_recs += 1
            zf[j] = 1.0 if zj else 0.0
            n_spikes[j] = n_spikes[j] + zf[j]
            v[j] = vj
            r[j] = rj
            a[j] = aj
        # ---- synapses: spikes emitted in step t
        drop = (t + 1) % T == 0  # they would arrive in the first step of the next interval
        for j in range(n_rec):
            arr_next[j] = 0.0
        if not drop:
            for i in range(n_in):
                if not raster[k, i]:
                    continue
                in_isis = _update_rec(i, -1, t, T, WT_in, in_b, in_isis, in_nisi, in_pend, m0, fr_tab, fr_have, h0,
                                      psi_h, L_h, lnz, runs, alpha, zeta, beta, rho, kappa_syn, avg, fwin, gbuf, zr,
                                      in_cum, in_step, in_m, in_v, in_b1, in_b2, par)
                w = WT_in[i]
                for j in range(n_rec):
                    arr_next[j] += w[j]
                if record:
                    ev_step, ev_proj, ev_pre, ev_post, ev_w, n_ev = _events(ev_step, ev_proj, ev_pre, ev_post, ev_w,
                                                                            n_ev, t, 0, i, w, -1)
        for p in range(n_recs):
            i = recs[p]
            if not drop:
                rec_isis = _update_rec(i, i, t, T, WT_rec, rec_b, rec_isis, rec_nisi, rec_pend, m0, fr_tab, fr_have,
                                       h0, psi_h, L_h, lnz, runs, alpha, zeta, beta, rho, kappa_syn, avg, fwin, gbuf,
                                       zr, rec_cum, rec_step, rec_m, rec_v, rec_b1, rec_b2, par)
                w = WT_rec[i]
                for j in range(n_rec):
                    if j != i:
                        arr_next[j] += w[j]
                if record:
                    ev_step, ev_proj, ev_pre, ev_post, ev_w, n_ev = _events(ev_step, ev_proj, ev_pre, ev_post, ev_w,
                                                                            n_ev, t, 1, i, w, i)
            upd, idx, out_isis = _send(i, t, T, out_b, out_isis, out_nisi)
            if upd:
                g = gout
                if out_b[4, i] != 0:
                    g = out_pend[i]
                elif out_nisi[i] > 0 and out_b[0, i] >= 0:
                    _grad_out(out_isis[i], out_nisi[i], out_b[1, i], h0, err_h, o_kappa, o_zeta, avg, fwin, gout)
                else:
                    gout[:] = 0.0
                for q in range(n_out):
                    W_out[q, i] = opt_apply(par, idx, g[q], W_out[q, i], out_cum, out_step, out_m, out_v, out_b1,
                                            out_b2, q * n_rec + i)
                _closed(i, t, idx, T, out_b, out_nisi)
            out_b[0, i] = t
            if record:
                for q in range(n_out):
                    wo[q] = W_out[q, i]
                ev_step, ev_proj, ev_pre, ev_post, ev_w, n_ev = _events(ev_step, ev_proj, ev_pre, ev_post, ev_w, n_ev,
                                                                        t, 2, i, wo, -1)
        if symmetric:
            for p in range(n_recs):
                i = recs[p]
                for q in range(n_out):
                    B[i, q] = W_out[q, i]
        # ---- readouts (the readout step that integrates z^t, after the updates its spikes triggered; NEST's t + 3)
        if s == 0 and reset:
            for q in range(n_out):
                v_out[q] = 0.0
        matvec(W_out, zf, wz)
        for q in range(n_out):
            vq = o_kappa[q] * v_out[q] + o_zeta[q] * wz[q] + o_P_i[q] * i_out[q]
            i_out[q] = o_I_e[q]
            vq = vq if vq >= o_V_min[q] else o_V_min[q]
            v_out[q] = vq
            sig[q] = vq + o_E_L[q]
        if ce:  # NEST: exp(y_k) / (sum of the other readouts + exp(y_k)), no max shift
            for q in range(n_out):
                ey[q] = math.exp(sig[q])
            tot = pairwise_sum(ey, 0, n_out)
            for q in range(n_out):
                sig[q] = ey[q] / tot
        in_window = s >= T - Wn
        if in_window:
            for q in range(n_out):
                readout[k, q] = sig[q]
        if has_targets and in_window:
            for q in range(n_out):
                err[q] = sig[q] - targets[k, q]
                error[k, q] = err[q]
                err_h[h, q] = err[q]
            if ce:
                m = 0
                for q in range(n_out):
                    if targets[k, q] > 0:
                        lbuf[m] = targets[k, q] * math.log(sig[q])
                        m += 1
                loss -= pairwise_sum(lbuf, 0, m)
            else:
                for q in range(n_out):
                    lbuf[q] = err[q] * err[q]
                loss += 0.5 * pairwise_sum(lbuf, 0, n_out)
            matvec(B, err, L_h[h])
            lnz[h] = False
            for j in range(n_rec):
                if L_h[h, j] != 0.0:
                    lnz[h] = True
                    break
        for j in range(n_rec):
            arr_rec[j] = arr_next[j]
            z_prev[j] = zf[j]
        if n_recs:
            spk_t = grow(spk_t, n_spk + n_recs)
            spk_i = grow(spk_i, n_spk + n_recs)
            for p in range(n_recs):
                spk_t[n_spk] = t
                spk_i[n_spk] = recs[p]
                n_spk += 1
    t = T0 + n
    in_isis = _settle(t, T, in_b, in_isis, in_nisi, in_pend, True, False, m0, fr_tab, fr_have, h0, psi_h, L_h, err_h,
                      lnz, runs, alpha, zeta, beta, rho, kappa_syn, o_kappa, o_zeta, avg, fwin, gbuf, zr)
    rec_isis = _settle(t, T, rec_b, rec_isis, rec_nisi, rec_pend, True, True, m0, fr_tab, fr_have, h0, psi_h, L_h,
                       err_h, lnz, runs, alpha, zeta, beta, rho, kappa_syn, o_kappa, o_zeta, avg, fwin, gbuf, zr)
    out_isis = _settle(t, T, out_b, out_isis, out_nisi, out_pend, False, False, m0, fr_tab, fr_have, h0, psi_h, L_h,
                       err_h, lnz, runs, alpha, zeta, beta, rho, kappa_syn, o_kappa, o_zeta, avg, fwin, gbuf, zr)
    return (readout, error, loss, n_spk, spk_t, spk_i, n_ev, ev_step, ev_proj, ev_pre, ev_post, ev_w,
            in_isis, rec_isis, out_isis)


def _runs(rp):
    """``(n_runs, 3)``: ranges ``[j0, j1)`` of recurrent neurons with equal ``alpha`` and ``zeta`` and the same
    ``beta != 0``, and that flag (see :func:`_grad_rec`)."""
    alpha, zeta, ad = rp["alpha"], rp["zeta"], rp["beta"] != 0
    n = alpha.size
    cut = np.flatnonzero((alpha[1:] != alpha[:-1]) | (zeta[1:] != zeta[:-1]) | (ad[1:] != ad[:-1])) + 1
    j0 = np.r_[0, cut]
    j1 = np.r_[cut, n]
    return np.stack([j0, j1, ad[j0].astype(np.int64)], axis=1).astype(np.int64)


def _pack_book(b, n_post):
    """``(book (5, n), isis (n, cap), n_isi (n,), pend (n, n_post))`` arrays of a ``b_*`` dict of ``net._state``.

    ``ready`` and ``pend`` default to "nothing settled" (a state saved before they existed).
    """
    lists = b["isis"]
    n = len(lists)
    b.setdefault("ready", np.zeros(n, np.int64))
    if "pend" not in b:
        b["pend"] = np.zeros((n, n_post))
    book = np.array([b[k] for k in _BOOK], dtype=np.int64).reshape(len(_BOOK), n)
    n_isi = np.array([len(x) for x in lists], dtype=np.int64)
    isis = np.zeros((n, max(16, int(n_isi.max(initial=0)))), np.int64)
    for i, x in enumerate(lists):
        if x:
            isis[i, :len(x)] = x
    return book, isis, n_isi, np.array(b["pend"], dtype=np.float64)


def _unpack_book(b, book, isis, n_isi, pend):
    for q, k in enumerate(_BOOK):
        b[k] = book[q].copy()
    b["isis"] = [isis[i, :c].tolist() for i, c in enumerate(n_isi)]
    b["pend"] = pend


def run_bsshslm(net, raster, targets, record_weights, learn):
    """Advance ``net`` (an :class:`~spikeengine.eprop.network.EpropNetwork`) by ``len(raster)`` steps.

    Parameters
    ----------
    net : EpropNetwork
        The network (``scheme="bsshslm_2020"``); its state containers are advanced in place.
    raster : ndarray of bool (n_steps, n_in)
        Input spikes per step.
    targets : ndarray (n_steps, n_out) or None
        Readout targets; ``None``: no error and no learning signal.
    record_weights : bool
        Record the weight-recorder events.
    learn : bool
        ``False`` runs with ``eta = 0``.

    Returns
    -------
    tuple
        ``(readout, error, loss, (spike_steps, spike_ids), weight_events)`` as :class:`EpropResult` takes them.
    """
    n = raster.shape[0]
    st = net._state
    T0 = st["t"]
    T, Wn = net.update_steps, net.window_steps
    rp, op = net._rec_arrays, net._out_arrays
    par = net._opt_par(learn)
    n_rec, n_out = net.n_rec, net.n_out
    net._grow_history(T0 + n)
    hist = net._hist
    syn = net._syn
    has_targets = targets is not None
    if not has_targets:
        targets = np.zeros((n, n_out))
    # fresh state arrays (the previous ones may be referenced from elsewhere, e.g. a checkpoint)
    v, a, i_in, z_prev, v_out, i_out, arr_rec, n_spikes = (
        np.array(st[k], dtype=np.float64) for k in ("v", "a", "i_in", "z_prev", "v_out", "i_out", "arr_rec",
                                                     "n_spikes"))
    r = np.array(st["r"], dtype=np.int64)
    # fr_reg per interval as a table over [m0, last interval this run closes]
    fr_reg = st["fr_reg"]
    m0 = min([max(T0 // T - 1, 0)] + [int(m) for m in fr_reg])
    n_tab = (T0 + n) // T - m0 + 1
    fr_tab = np.zeros((n_tab, n_rec))
    fr_have = np.zeros(n_tab, np.bool_)
    for m, row in fr_reg.items():
        fr_tab[m - m0] = row
        fr_have[m - m0] = True
    books = {p: _pack_book(st[f"b_{p}"], n_out if p == "out" else n_rec) for p in ("in", "rec", "out")}
    # the synapses of one presynaptic neuron as a contiguous row: transposed views where the matrices are
    # Fortran-ordered (NEST's example builds them so), copies otherwise (written back below). W_out and B keep
    # their layout: the BLAS products W_out @ z and B @ err depend on it, bit for bit.
    WT_in, WT_rec = np.ascontiguousarray(net.W_in.T), np.ascontiguousarray(net.W_rec.T)
    W_out = net.W_out if net.W_out.flags.c_contiguous or net.W_out.flags.f_contiguous else net.W_out.copy()
    B = net.B if net.B.flags.c_contiguous or net.B.flags.f_contiguous else net.B.copy()
    out = _run_kernel(
        np.ascontiguousarray(raster, dtype=np.bool_), has_targets, np.ascontiguousarray(targets, dtype=np.float64),
        T0, net._h0, T, Wn, net.loss == "cross_entropy", net.feedback == "symmetric", bool(record_weights),
        net.reset_neurons_on_update, net.average_gradient, math.exp(-net.dt / net.tau_m_readout),
        v, r, a, i_in, z_prev, v_out, i_out, arr_rec, n_spikes, fr_tab, fr_have, m0,
        *books["in"], *books["rec"], *books["out"],
        WT_in, WT_rec, W_out, B, *syn["in_opt"], *syn["rec_opt"], *syn["out_opt"], par,
        hist["psi"], hist["L"], hist["err"], _runs(rp),
        rp["alpha"], rp["zeta"], rp["P_i"], rp["I_e"], rp["V_min"], rp["V_th"], rp["beta"], rp["rho"],
        rp["ref_counts"], rp["f_target_step"], rp["c_reg"], rp["sg_code"].astype(np.int64), rp["sg_h"], rp["sg_w"],
        op["kappa"], op["zeta"], op["P_i"], op["I_e"], op["V_min"], op["E_L"])
    readout, error, loss, n_spk, spk_t, spk_i, n_ev, ev_step, ev_proj, ev_pre, ev_post, ev_w = out[:12]
    for W, WT in ((net.W_in, WT_in), (net.W_rec, WT_rec)):
        if not np.shares_memory(W, WT):
            W[...] = WT.T
    if W_out is not net.W_out:
        net.W_out[...] = W_out
    if B is not net.B:
        net.B[...] = B
    for p, isis in zip(("in", "rec", "out"), out[12:]):
        book, _, n_isi, pend = books[p]
        _unpack_book(st[f"b_{p}"], book, isis, n_isi, pend)
    for q in np.flatnonzero(fr_have):
        m = int(q) + m0
        if m not in fr_reg:
            fr_reg[m] = fr_tab[q].copy()
    if n:
        st.update(v=v, r=r, a=a, i_in=i_in, z_prev=z_prev, v_out=v_out, i_out=i_out, arr_rec=arr_rec,
                  n_spikes=n_spikes)
    st["t"] = T0 + n
    _trim(net)
    spikes = (spk_t[:n_spk].copy(), spk_i[:n_spk].copy())
    wev = None
    if record_weights:
        wev = [(ev_step[:n_ev].copy(), ev_proj[:n_ev].copy(), ev_pre[:n_ev].copy(), ev_post[:n_ev].copy(),
                ev_w[:n_ev].copy())] if n_ev else []
    return readout, error, float(loss), spikes, wev



def _trim(net):
    """Drop the history rows (in place) and ``fr_reg`` entries that no pending gradient can read any more.

    The rows before the start (``ttrig``) of the oldest pending interval whose gradient is not settled are
    dropped, by shifting the history down once they are at least as many as the rows kept, so that the shifts
    cost O(1) per step.
    """
    st = net._state
    t = st["t"]
    keep = t - 1
    for p in ("in", "rec", "out"):
        b = st[f"b_{p}"]
        tt = b["ttrig"][(b["ttrig"] >= 0) & (b["ready"] == 0)]
        if tt.size:
            keep = min(keep, int(tt.min()))
    cut = keep - net._h0
    m = max(t - keep, 0)
    if cut > 0 and cut >= m:  # shift once the rows to drop outnumber those to keep (amortised O(1) per step)
        for a in net._hist.values():
            a[:m] = a[cut:cut + m]
        net._h0 = keep
    old = [m for m in st["fr_reg"] if (m + 2) * net.update_steps < keep]
    for m in old:
        del st["fr_reg"][m]
