"""The event-based ("e-prop+", NEST ``eprop_*``) scheme: one clocked run of ``n`` steps.

Per step ``t`` (EPROP.md §1-5), vectorised over neurons:

1. recurrent neurons: ``v <- alpha v + (spikes arriving at t) + P_i i_in``; clip at ``V_min``; refractory
   counter; adaptation ``a <- rho a + z^{t-1}``; surrogate gradient ``psi^t`` from the pre-reset ``v``;
   spike and reset by subtraction; rate estimate and ``fr_reg^t``;
2. readouts: ``v <- kappa v + W_out z^{t-1} + P_i i_in``; ``err^t``; the learning signal of the previous
   step, ``L^{t-1} = B err^t``, goes into the recurrent history;
3. every neuron that spiked in ``t`` (inputs and recurrent) first updates its outgoing e-prop synapses
   (kernels in :mod:`._kernels`; the first spike only sets ``t_prev``), then transmits with the new
   weights; the spikes arrive in ``t + 1``.
"""

from __future__ import annotations

import numpy as np

from ._kernels import event_update_out, event_update_rec


def run_event(net, raster, targets, window, record_weights, learn):
    """Advance ``net`` (an :class:`~spikeengine.eprop.network.EpropNetwork`) by ``len(raster)`` steps."""
    n = raster.shape[0]
    st = net._state
    T0 = st["t"]
    rp = net._rec_arrays
    op = net._out_arrays
    par = net._opt_par(learn)
    n_in, n_rec, n_out = net.n_in, net.n_rec, net.n_out
    net._grow_history(T0 + n)
    psi_h, L_h, fr_h, err_h = net._hist["psi"], net._hist["L"], net._hist["fr"], net._hist["err"]

    v, r, a, i_in, f_av = st["v"], st["r"], st["a"], st["i_in"], st["f_av"]
    z_prev = st["z_prev"]
    v_out, i_out = st["v_out"], st["i_out"]
    arr_rec, arr_out = st["arr_rec"], st["arr_out"]
    tp_in, tp_rec = st["t_prev_in"], st["t_prev_rec"]
    syn = net._syn
    W_in, W_rec, W_out = net.W_in, net.W_rec, net.W_out
    B = net.B
    ce = net.loss == "cross_entropy"
    symmetric = net.feedback == "symmetric"

    readout = np.empty((n, n_out))
    error = np.zeros((n, n_out))
    spk_t, spk_i = [], []
    wev = [] if record_weights else None
    loss = 0.0
    alpha, P_i, I_e = rp["alpha"], rp["P_i"], rp["I_e"]
    V_min, V_th, beta, rho = rp["V_min"], rp["V_th"], rp["beta"], rp["rho"]
    refr = rp["ref_counts"]
    kr, c_reg, f_tgt = rp["kappa_reg"], rp["c_reg"], rp["f_target_step"]
    dt = net.dt
    all_rec = np.arange(n_rec)
    in_posts = all_rec
    for k in range(n):
        t = T0 + k
        h = t - net._h0
        # ---- recurrent neurons
        v = alpha * v + arr_rec + P_i * i_in
        i_in = I_e.copy()
        np.maximum(v, V_min, out=v)
        r = np.maximum(r - 1, 0)
        a = rho * a + z_prev
        A = V_th + beta * a
        psi = net._surrogate(r, v, A)
        z = (v >= A) & (r == 0)
        v = np.where(z, v - V_th, v)
        r = np.where(z, refr, r)
        zf = z.astype(np.float64)
        f_av = kr * f_av + (1.0 - kr) * zf / dt
        psi_h[h] = psi
        fr_h[h] = c_reg * (f_av - f_tgt)
        # ---- readouts
        v_out = op["kappa"] * v_out + arr_out + op["P_i"] * i_out
        i_out = op["I_e"].copy()
        np.maximum(v_out, op["V_min"], out=v_out)
        y = v_out + op["E_L"]
        if ce:
            ey = np.exp(y - y.max())
            y = ey / ey.sum()
        readout[k] = y
        if targets is not None:
            err = (y - targets[k]) * window[k]
            error[k] = err
            if ce:
                pos = targets[k] > 0
                loss -= window[k] * float(np.sum(targets[k][pos] * np.log(y[pos])))
            else:
                loss += 0.5 * float(np.sum(err * err))
            err_h[h] = err
            if h >= 1:
                L_h[h - 1] = B @ err
        # ---- synapse updates at the spikes of step t, then transmission
        ins = np.flatnonzero(raster[k])
        recs = np.flatnonzero(z)
        for i in ins:
            if tp_in[i] >= 0:
                event_update_rec(i, t, tp_in[i], in_posts, W_in, n_in, syn["in_zpb"], syn["in_zbar"],
                                 syn["in_ebar"], syn["in_ebar_reg"], syn["in_eps"], *syn["in_opt"], par,
                                 psi_h, L_h, fr_h, net._h0, rp["cut"], alpha, rp["kappa"], kr, beta, rho, True)
            tp_in[i] = t
            if wev is not None:
                wev.append((np.full(n_rec, t), np.zeros(n_rec, int), np.full(n_rec, i), all_rec, W_in[:, i].copy()))
        for i in recs:
            if tp_rec[i] >= 0:
                posts = net._rec_posts[i]
                event_update_rec(i, t, tp_rec[i], posts, W_rec, n_rec, syn["rec_zpb"], syn["rec_zbar"],
                                 syn["rec_ebar"], syn["rec_ebar_reg"], syn["rec_eps"], *syn["rec_opt"], par,
                                 psi_h, L_h, fr_h, net._h0, rp["cut"], alpha, rp["kappa"], kr, beta, rho, True)
                event_update_out(i, t, tp_rec[i], W_out, n_rec, syn["out_zpb"], syn["out_zbar"], *syn["out_opt"],
                                 par, err_h, net._h0, op["cut"], op["kappa"])
            tp_rec[i] = t
            if wev is not None:
                posts = net._rec_posts[i]
                m = posts.size
                wev.append((np.full(m, t), np.ones(m, int), np.full(m, i), posts, W_rec[posts, i].copy()))
                wev.append((np.full(n_out, t), np.full(n_out, 2), np.full(n_out, i), np.arange(n_out),
                            W_out[:, i].copy()))
        if symmetric and recs.size:
            B[recs, :] = W_out[:, recs].T
        arr_rec = W_in[:, ins].sum(axis=1) + W_rec[:, recs].sum(axis=1)
        arr_out = W_out[:, recs].sum(axis=1)
        z_prev = zf
        if recs.size:
            spk_t.append(np.full(recs.size, t))
            spk_i.append(recs)

    st.update(t=T0 + n, v=v, r=r, a=a, i_in=i_in, f_av=f_av, z_prev=z_prev, v_out=v_out, i_out=i_out,
              arr_rec=arr_rec, arr_out=arr_out)
    net._trim_history()
    spikes = (np.concatenate(spk_t) if spk_t else np.zeros(0, int),
              np.concatenate(spk_i) if spk_i else np.zeros(0, int))
    return readout, error, loss, spikes, wev
