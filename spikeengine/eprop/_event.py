"""The event-based ("e-prop+", NEST ``eprop_*``) scheme: one clocked run of ``n`` steps.

Per step ``t`` (EPROP.md §1-5):

1. recurrent neurons: ``v <- alpha v + (spikes arriving at t) + P_i i_in``; clip at ``V_min``; refractory
   counter; adaptation ``a <- rho a + z^{t-1}``; surrogate gradient ``psi^t`` from the pre-reset ``v``;
   spike and reset by subtraction; rate estimate and ``fr_reg^t``;
2. readouts: ``v <- kappa v + W_out z^{t-1} + P_i i_in``; ``err^t``; the learning signal of the previous
   step, ``L^{t-1} = B err^t``, goes into the recurrent history;
3. every neuron that spiked in ``t`` (inputs and recurrent) first updates its outgoing e-prop synapses
   (kernels in :mod:`._kernels`; the first spike only sets ``t_prev``), then transmits with the new
   weights; the spikes arrive in ``t + 1``.

The whole run is one compiled kernel (:func:`_run_kernel`); Python only packs the network's state
containers (``net._state``, ``net._syn``, ``net._hist``, the weight matrices) and unpacks the results. The
arithmetic is NumPy's, operation by operation (including its summation orders, see
:func:`._kernels.column_sums`), so the results are those of the vectorised reference bit for bit.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ._kernels import (
    F_B1,
    F_B2,
    F_CUM,
    F_EB,
    F_EP,
    F_ER,
    F_M,
    F_PEND,
    F_V,
    F_W,
    F_ZB,
    F_ZPB,
    N_FIELDS,
    column_sums,
    grow,
    matvec,
    out_update,
    pairwise_sum,
    rec_update,
    surrogate,
)

_JIT = numba.njit(cache=True)
_TRACES = ("zpb", "zbar", "ebar", "ebar_reg", "eps")
_FIELD = {"zpb": F_ZPB, "zbar": F_ZB, "ebar": F_EB, "ebar_reg": F_ER, "eps": F_EP, "pend": F_PEND}


@_JIT
def _run_kernel(raster, has_targets, targets, window, T0, h0, dt, ce, symmetric, record,
                v, r, a, i_in, f_av, z_prev, v_out, i_out, arr_rec, arr_out, tp_in, tp_rec, done_in, done_rec,
                S_in, STEP_in, S_rec, STEP_rec, S_out, STEP_out, B, par, psi_h, L_h, fr_h, err_h,
                alpha, P_i, I_e, V_min, V_th, beta, rho, refr, kappa, kappa_reg, c_reg, f_tgt, cut, P,
                sg_code, sg_h, sg_w,
                o_kappa, o_P_i, o_I_e, o_V_min, o_E_L, o_cut, fast, ucut, flush, cmax_in, cmax_rec):
    """All ``n`` steps of a run. State arrays are updated in place; returns the per-run results.

    Returns ``(readout, error, loss, n_spk, spk_t, spk_i, n_ev, ev_step, ev_proj, ev_pre, ev_post, ev_w)``;
    the spike and weight-event arrays are valid up to ``n_spk`` and ``n_ev``.
    """
    n = raster.shape[0]
    n_in = raster.shape[1]
    n_rec = v.shape[0]
    n_out = v_out.shape[0]
    posts = np.empty((n_rec, max(n_rec - 1, 0)), np.int64)
    for i in range(n_rec):
        q = 0
        for j in range(n_rec):
            if j != i:
                posts[i, q] = j
                q += 1
    readout = np.empty((n, n_out))
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
    z = np.zeros(n_rec, np.bool_)
    ins = np.empty(n_in, np.int64)
    recs = np.empty(n_rec, np.int64)
    y = np.empty(n_out)
    ey = np.empty(n_out)
    err = np.empty(n_out)
    tmp = np.empty(n_out)
    sum_in = np.empty(n_rec)
    sum_rec = np.empty(n_rec)
    buf = np.empty(max(n_in, n_rec, n_out))
    each = par[8] != 0.0
    WT_in = S_in[:, F_W, :]
    WT_rec = S_rec[:, F_W, :]
    WT_out = S_out[:, F_W, :]
    for k in range(n):
        t = T0 + k
        h = t - h0
        # ---- recurrent neurons
        for j in range(n_rec):
            vj = alpha[j] * v[j] + arr_rec[j] + P_i[j] * i_in[j]
            i_in[j] = I_e[j]
            vj = max(vj, V_min[j])
            rj = max(r[j] - 1, 0)
            aj = rho[j] * a[j] + z_prev[j]
            A = V_th[j] + beta[j] * aj
            psi_h[h, j] = surrogate(sg_code[j], sg_h[j], sg_w[j], rj, vj, A)
            zj = vj >= A and rj == 0
            if zj:
                vj = vj - V_th[j]
                rj = refr[j]
            zf = 1.0 if zj else 0.0
            f_av[j] = kappa_reg[j] * f_av[j] + (1.0 - kappa_reg[j]) * zf / dt
            fr_h[h, j] = c_reg[j] * (f_av[j] - f_tgt[j])
            v[j] = vj
            r[j] = rj
            a[j] = aj
            z[j] = zj
        # ---- readouts
        for q in range(n_out):
            vq = o_kappa[q] * v_out[q] + arr_out[q] + o_P_i[q] * i_out[q]
            i_out[q] = o_I_e[q]
            vq = max(vq, o_V_min[q])
            v_out[q] = vq
            y[q] = vq + o_E_L[q]
        if ce:
            ymax = y[0]
            for q in range(1, n_out):
                ymax = max(ymax, y[q])
            for q in range(n_out):
                ey[q] = math.exp(y[q] - ymax)
            s = pairwise_sum(ey, 0, n_out)
            for q in range(n_out):
                y[q] = ey[q] / s
        for q in range(n_out):
            readout[k, q] = y[q]
        if has_targets:
            for q in range(n_out):
                err[q] = (y[q] - targets[k, q]) * window[k]
                error[k, q] = err[q]
                err_h[h, q] = err[q]
            if ce:
                m = 0
                for q in range(n_out):
                    if targets[k, q] > 0:
                        buf[m] = targets[k, q] * math.log(y[q])
                        m += 1
                loss -= window[k] * pairwise_sum(buf, 0, m)
            else:
                for q in range(n_out):
                    tmp[q] = err[q] * err[q]
                loss += 0.5 * pairwise_sum(tmp, 0, n_out)
            if h >= 1:
                matvec(B, err, L_h[h - 1])
        # ---- synapse updates at the spikes of step t, then transmission
        n_ins = 0
        for i in range(n_in):
            if raster[k, i]:
                ins[n_ins] = i
                n_ins += 1
        n_recs = 0
        for j in range(n_rec):
            if z[j]:
                recs[n_recs] = j
                n_recs += 1
        if record:
            need = n_ev + n_ins * n_rec + n_recs * (n_rec - 1 + n_out)
            ev_step = grow(ev_step, need)
            ev_proj = grow(ev_proj, need)
            ev_pre = grow(ev_pre, need)
            ev_post = grow(ev_post, need)
            ev_w = grow(ev_w, need)
        for p in range(n_ins):
            i = ins[p]
            rec_update(i, tp_in[i], done_in[i], t, -1, True, each, fast, ucut, S_in, STEP_in, par, psi_h, L_h, fr_h,
                       h0, cut, P)
            tp_in[i] = t
            done_in[i] = t
            if record:
                for j in range(n_rec):
                    ev_step[n_ev] = t
                    ev_proj[n_ev] = 0
                    ev_pre[n_ev] = i
                    ev_post[n_ev] = j
                    ev_w[n_ev] = WT_in[i, j]
                    n_ev += 1
        for p in range(n_recs):
            i = recs[p]
            rec_update(i, tp_rec[i], done_rec[i], t, i, True, each, fast, ucut, S_rec, STEP_rec, par, psi_h, L_h,
                       fr_h, h0, cut, P)
            out_update(i, tp_rec[i], done_rec[i], t, True, each, S_out, STEP_out, par, err_h, h0, o_cut, o_kappa)
            tp_rec[i] = t
            done_rec[i] = t
            if record:
                for q in range(n_rec - 1):
                    j = posts[i, q]
                    ev_step[n_ev] = t
                    ev_proj[n_ev] = 1
                    ev_pre[n_ev] = i
                    ev_post[n_ev] = j
                    ev_w[n_ev] = WT_rec[i, j]
                    n_ev += 1
                for q in range(n_out):
                    ev_step[n_ev] = t
                    ev_proj[n_ev] = 2
                    ev_pre[n_ev] = i
                    ev_post[n_ev] = q
                    ev_w[n_ev] = WT_out[i, q]
                    n_ev += 1
        if symmetric:
            for p in range(n_recs):
                i = recs[p]
                for q in range(n_out):
                    B[i, q] = WT_out[i, q]
        column_sums(WT_in, ins, n_ins, sum_in, buf)
        column_sums(WT_rec, recs, n_recs, sum_rec, buf)
        for j in range(n_rec):
            arr_rec[j] = sum_in[j] + sum_rec[j]
        column_sums(WT_out, recs, n_recs, arr_out, buf)
        for j in range(n_rec):
            z_prev[j] = 1.0 if z[j] else 0.0
        if n_recs:
            spk_t = grow(spk_t, n_spk + n_recs)
            spk_i = grow(spk_i, n_spk + n_recs)
            for p in range(n_recs):
                spk_t[n_spk] = t
                spk_i[n_spk] = recs[p]
                n_spk += 1
    # flush: integrate the pending windows that are ``flush`` steps or more behind into the synapses (traces and
    # pending gradient or weight; the weights change at the next spike, as in NEST), so that they stop pinning
    # the history. Rows up to ``lim - 1`` are final (the learning signal of row ``T0 + n - 1`` comes next run).
    lim = T0 + n - 1
    for i in range(n_in):
        tp = tp_in[i]
        if tp >= 0 and lim - done_in[i] >= flush and done_in[i] - tp < cmax_in:
            rec_update(i, tp, done_in[i], lim, -1, False, each, fast, ucut, S_in, STEP_in, par, psi_h, L_h, fr_h, h0,
                       cut, P)
            done_in[i] = lim
    for i in range(n_rec):
        tp = tp_rec[i]
        if tp >= 0 and lim - done_rec[i] >= flush and done_rec[i] - tp < cmax_rec:
            rec_update(i, tp, done_rec[i], lim, i, False, each, fast, ucut, S_rec, STEP_rec, par, psi_h, L_h, fr_h,
                       h0, cut, P)
            out_update(i, tp, done_rec[i], lim, False, each, S_out, STEP_out, par, err_h, h0, o_cut, o_kappa)
            done_rec[i] = lim
    return readout, error, loss, n_spk, spk_t, spk_i, n_ev, ev_step, ev_proj, ev_pre, ev_post, ev_w


def run_event(net, raster, targets, window, record_weights, learn):
    """Advance ``net`` (an :class:`~spikeengine.eprop.network.EpropNetwork`) by ``len(raster)`` steps.

    Parameters
    ----------
    net : EpropNetwork
        The network; its state containers are advanced in place.
    raster : ndarray of bool (n_steps, n_in)
        Input spikes per step.
    targets : ndarray (n_steps, n_out) or None
        Readout targets; ``None``: no error and no learning signal.
    window : ndarray (n_steps,)
        The 0/1 gate of the error per step.
    record_weights : bool
        Record the weight-recorder events.
    learn : bool
        ``False`` runs with ``eta = 0``.

    Returns
    -------
    tuple
        ``(readout, error, loss, (spike_steps, spike_ids), weight_events)`` as :class:`EpropResult` takes them.
    """
    session = EventSession(net, learn, record_weights)
    try:
        return session.run(raster, targets, window)
    finally:
        session.close()


class EventSession:
    """Consecutive runs of the event scheme that keep the packed synapse state between them.

    Packing the synapse matrices into the kernel's ``(n_pre, field, n_post)`` layout and back costs about a
    millisecond for 100 x 100 neurons, which is nothing for a run of 1000 steps but dominates runs of one
    step (an e-prop block inside a Network whose event-driven inputs arrive one step ahead). A session packs
    once, runs any number of times, and writes everything back at :meth:`close`; between them the
    network's matrices and traces are stale (the state in ``net._state`` and the histories are current).
    The results are those of one run over the same steps, bit for bit.
    """

    def __init__(self, net, learn, record_weights):
        self.net = net
        self.record = bool(record_weights)
        st = net._state
        self.par = net._opt_par(learn)
        # fresh state arrays (the previous ones may be referenced from elsewhere, e.g. a checkpoint)
        self.v, self.a, self.i_in, self.f_av, self.z_prev = (
            np.array(st[k], dtype=np.float64) for k in ("v", "a", "i_in", "f_av", "z_prev"))
        self.v_out, self.i_out, self.arr_rec, self.arr_out = (
            np.array(st[k], dtype=np.float64) for k in ("v_out", "i_out", "arr_rec", "arr_out"))
        self.r = np.array(st["r"], dtype=np.int64)
        self.tp_in, self.tp_rec = np.array(st["t_prev_in"], dtype=np.int64), np.array(st["t_prev_rec"], dtype=np.int64)
        self.done_in = np.array(st.get("t_done_in", self.tp_in), dtype=np.int64)
        self.done_rec = np.array(st.get("t_done_rec", self.tp_rec), dtype=np.int64)
        st.update(t_prev_in=self.tp_in, t_prev_rec=self.tp_rec, t_done_in=self.done_in, t_done_rec=self.done_rec)
        # the kernel works on packed (n_pre, field, n_post) copies of the synapse state (see :mod:`._kernels`), so
        # that the synapses of one presynaptic neuron are contiguous; they are written back by close()
        n_rec, n_in, n_out = net.n_rec, net.n_in, net.n_out
        syn = net._syn
        shapes = {"in": (n_rec, n_in), "rec": (n_rec, n_rec), "out": (n_out, n_rec)}
        mats = {"in": net.W_in, "rec": net.W_rec, "out": net.W_out}
        for p, shp in shapes.items():  # networks saved before pending windows existed
            syn.setdefault(f"{p}_pend", np.zeros(shp))
        names = {"in": _TRACES + ("pend",), "rec": _TRACES + ("pend",), "out": ("zpb", "zbar", "pend")}
        # gradient descent neither reads nor changes the Adam states (m, v, b1, b2): they are not packed
        opt_fields = (F_CUM,) if self.par[0] == 0.0 else (F_CUM, F_M, F_V, F_B1, F_B2)
        self.packs = {}
        for p, (npost, npre) in shapes.items():
            o_cum, step, o_m, o_v, o_b1, o_b2 = (x.reshape(npost, npre) for x in syn[f"{p}_opt"])
            fields = [(F_W, mats[p])] + [(_FIELD[nm], syn[f"{p}_{nm}"]) for nm in names[p]]
            fields += [(f, x) for f, x in zip((F_CUM, F_M, F_V, F_B1, F_B2), (o_cum, o_m, o_v, o_b1, o_b2))
                       if f in opt_fields]
            S = np.zeros((npre, N_FIELDS, npost))
            for f, x in fields:
                S[:, f, :] = x.T
            self.packs[p] = (S, np.ascontiguousarray(step.T), fields, step)
        rp = net._rec_arrays
        self.P = np.stack([rp["alpha"], rp["kappa"], rp["kappa_reg"], rp["beta"], rp["rho"]])
        self.sg_code = rp["sg_code"].astype(np.int64)
        self.flags = net._event_flags()
        self.ran = False
        #: history rows trimmed at a time (a session of one-step runs would otherwise shift it every step)
        self.min_cut = 1
        self.untrimmed = 0

    def run(self, raster, targets, window):
        """Run ``len(raster)`` steps; returns what :func:`run_event` returns."""
        net = self.net
        n = raster.shape[0]
        st = net._state
        T0 = st["t"]
        rp = net._rec_arrays
        op = net._out_arrays
        n_out = net.n_out
        net._grow_history(T0 + n)
        hist = net._hist
        has_targets = targets is not None
        if not has_targets:
            targets = np.zeros((n, n_out))
        pk = self.packs
        out = _run_kernel(
            np.ascontiguousarray(raster, dtype=np.bool_), has_targets,
            np.ascontiguousarray(targets, dtype=np.float64), np.ascontiguousarray(window, dtype=np.float64), T0,
            net._h0, float(net.dt), net.loss == "cross_entropy", net.feedback == "symmetric", self.record,
            self.v, self.r, self.a, self.i_in, self.f_av, self.z_prev, self.v_out, self.i_out, self.arr_rec,
            self.arr_out, self.tp_in, self.tp_rec, self.done_in, self.done_rec,
            pk["in"][0], pk["in"][1], pk["rec"][0], pk["rec"][1], pk["out"][0], pk["out"][1], net.B, self.par,
            hist["psi"], hist["L"], hist["fr"], hist["err"],
            rp["alpha"], rp["P_i"], rp["I_e"], rp["V_min"], rp["V_th"], rp["beta"], rp["rho"], rp["ref_counts"],
            rp["kappa"], rp["kappa_reg"], rp["c_reg"], rp["f_target_step"], rp["cut"], self.P,
            self.sg_code, rp["sg_h"], rp["sg_w"],
            op["kappa"], op["P_i"], op["I_e"], op["V_min"], op["E_L"], op["cut"], *self.flags)
        readout, error, loss, n_spk, spk_t, spk_i, n_ev, ev_step, ev_proj, ev_pre, ev_post, ev_w = out
        if n:
            self.ran = True
        st["t"] = T0 + n
        self.untrimmed += n
        if self.untrimmed >= self.min_cut:
            net._trim_history(min_cut=self.min_cut)
            self.untrimmed = 0
        spikes = (spk_t[:n_spk].copy(), spk_i[:n_spk].copy())
        wev = None
        if self.record:
            wev = [(ev_step[:n_ev].copy(), ev_proj[:n_ev].copy(), ev_pre[:n_ev].copy(), ev_post[:n_ev].copy(),
                    ev_w[:n_ev].copy())] if n_ev else []
        return readout, error, float(loss), spikes, wev

    def close(self):
        """Write the packed synapse state and the neuron state back into the network."""
        for S, STEP, fields, step in self.packs.values():
            for f, x in fields:
                x[...] = S[:, f, :].T
            step[...] = STEP.T
        if self.untrimmed:
            self.net._trim_history()
        if self.ran:
            self.net._state.update(v=self.v, r=self.r, a=self.a, i_in=self.i_in, f_av=self.f_av,
                                   z_prev=self.z_prev, v_out=self.v_out, i_out=self.i_out, arr_rec=self.arr_rec,
                                   arr_out=self.arr_out)
