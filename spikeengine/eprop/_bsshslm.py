"""The ``bsshslm_2020`` scheme (NEST ``*_bsshslm_2020``, Bellec et al. 2020), EPROP.md §7.

Engine frame: step ``t`` is NEST's update step ``t + 2`` (the generator offset plus the input delay), so
the recurrent neurons' update intervals are ``[mT, (m+1)T)``. Row ``t`` of the readout arrays (readout
signal, error, targets) is the readout step that integrates the recurrent spikes of step ``t`` (NEST's
readout step ``t + 3``, recorded by NEST one step later because the readout signal is one step stale).
A spike emitted in step ``t`` has the *stamp* ``t + 1`` for recurrent targets and ``t`` for readouts,
and the per-synapse bookkeeping below is NEST's ``eprop_synapse_bsshslm_2020::send`` in these units.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ._kernels import opt_apply

_JIT = numba.njit(cache=True)
#: a learning signal L^tau reaches the recurrent history two steps after the recurrent step tau' that
#: triggers a synapse update can read it: an update triggered by a spike emitted in step t sees L^tau for
#: tau <= t - 2 only, later entries count as 0 (NEST's out->rec delay; matters when a presynaptic spike
#: closes an interval within two steps of its end)
L_VISIBLE_LAG = 2


def init_state(net):
    n_in, n_rec = net.n_in, net.n_rec
    st = net._state
    # bookkeeping per (presynaptic neuron, target population): in->rec, rec->rec, rec->out
    for p, n in (("in", n_in), ("rec", n_rec), ("out", n_rec)):
        st[f"b_{p}"] = {"tsp": np.full(n, -1, np.int64), "ttrig": np.full(n, -1, np.int64),
                        "tpu": np.zeros(n, np.int64), "tnu": np.zeros(n, np.int64),
                        "isis": [[] for _ in range(n)]}
    st["n_spikes"] = np.zeros(n_rec)
    st["fr_reg"] = {}
    st["norm_prev"] = None


@_JIT
def _grad_rec(i, isis, ttrig, posts, h0, psi_h, L_h, alpha, zeta, beta, rho, kappa, avg, window, fr, lim):
    """Gradient of the synapses ``i -> posts`` for one interval (recurrent targets).

    ``g = (sum_t L^t ebar^t + fr_reg * sum_t e^t) / W`` (the division only with ``average_gradient``;
    NEST averages the regularisation term too), rows ``> lim`` of ``L_h`` not yet visible.
    """
    out = np.zeros(posts.shape[0])
    for q in range(posts.shape[0]):
        j = posts[q]
        row = ttrig - h0
        zb = 0.0
        eb = 0.0
        ep = 0.0
        grad = 0.0
        sum_e = 0.0
        for isi in isis:
            z = 1.0
            for _ in range(isi):
                zb = alpha[j] * zb + zeta[j] * z
                e = psi_h[row, j] * (zb - beta[j] * ep)
                ep = rho[j] * ep + e
                eb = kappa * eb + (1.0 - kappa) * e
                if row <= lim:
                    grad += L_h[row, j] * eb
                sum_e += e
                z = 0.0
                row += 1
        grad += fr[j] * sum_e
        if avg:
            grad /= window
        out[q] = grad
    return out


@_JIT
def _grad_out(i, isis, ttrig, n_out, h0, err_h, kappa_out, zeta, avg, window):
    """Gradient of the synapses ``i -> every readout`` for one interval."""
    out = np.zeros(n_out)
    for k in range(n_out):
        row = ttrig - h0
        zb = 0.0
        grad = 0.0
        for isi in isis:
            z = 1.0
            for _ in range(isi):
                zb = kappa_out[k] * zb + zeta[k] * z
                grad += err_h[row, k] * zb
                z = 0.0
                row += 1
        if avg:
            grad /= window
        out[k] = grad
    return out


def _send(net, b, i, stamp, T, grad_fn, W, posts, opt_state, par, n_pre):
    """NEST's ``eprop_synapse_bsshslm_2020::send`` for all synapses of ``i`` into one population."""
    tsp, ttrig, tpu, tnu, isis = b["tsp"], b["ttrig"], b["tpu"], b["tnu"], b["isis"]
    if ttrig[i] < 0:
        ttrig[i] = stamp
    if tsp[i] >= 0:
        isi = min(stamp, tnu[i]) - min(tsp[i], tnu[i])
        if isi > 0:
            isis[i].append(isi)
    if stamp > tnu[i]:
        idx = stamp // T
        if isis[i] and tsp[i] >= 0:
            g = grad_fn(i, np.array(isis[i], dtype=np.int64), ttrig[i], tpu[i])
        else:
            g = np.zeros(posts.shape[0])
        isis[i].clear()
        for q in range(posts.shape[0]):
            j = posts[q]
            W[j, i] = opt_apply(par, idx, g[q], W[j, i], *opt_state, j * n_pre + i)
        tpu[i] = idx * T
        tnu[i] = idx * T + T
        ttrig[i] = stamp
    tsp[i] = stamp


def run_bsshslm(net, raster, targets, record_weights, learn):
    n = raster.shape[0]
    st = net._state
    T0 = st["t"]
    T, Wn = net.update_steps, net.window_steps
    rp, op = net._rec_arrays, net._out_arrays
    par = net._opt_par(learn)
    n_in, n_rec, n_out = net.n_in, net.n_rec, net.n_out
    net._grow_history(T0 + n)
    psi_h, L_h, err_h = net._hist["psi"], net._hist["L"], net._hist["err"]
    v, r, a, i_in = st["v"], st["r"], st["a"], st["i_in"]
    z_prev = st["z_prev"]
    v_out, i_out = st["v_out"], st["i_out"]
    arr_rec, arr_out = st["arr_rec"], st["arr_out"]
    syn = net._syn
    W_in, W_rec, W_out, B = net.W_in, net.W_rec, net.W_out, net.B
    ce = net.loss == "cross_entropy"
    symmetric = net.feedback == "symmetric"
    kappa_syn = math.exp(-net.dt / net.tau_m_readout)
    avg = net.average_gradient
    alpha, zeta, P_i, I_e = rp["alpha"], rp["zeta"], rp["P_i"], rp["I_e"]
    V_min, V_th, beta, rho, refr = rp["V_min"], rp["V_th"], rp["beta"], rp["rho"], rp["ref_counts"]
    f_tgt, c_reg = rp["f_target_step"], rp["c_reg"]
    readout = np.zeros((n, n_out))
    error = np.zeros((n, n_out))
    spk_t, spk_i = [], []
    wev = [] if record_weights else None
    loss = 0.0
    all_rec = np.arange(n_rec)
    all_out = np.arange(n_out)
    h0 = net._h0

    def fr_of(t_start):
        return st["fr_reg"].get(t_start // T, np.zeros(n_rec))

    def grad_rec(i, isis, ttrig, tpu):
        return _grad_rec(i, isis, ttrig, posts_cur, h0, psi_h, L_h, alpha, zeta, beta, rho, kappa_syn, avg,
                         float(Wn), fr_of(tpu), cur_t[0] - L_VISIBLE_LAG - h0)

    def grad_out(i, isis, ttrig, tpu):
        return _grad_out(i, isis, ttrig, n_out, h0, err_h, op["kappa"], op["zeta"], avg, float(Wn))

    cur_t = [0]
    for k in range(n):
        t = T0 + k
        cur_t[0] = t
        h = t - h0
        s = t % T
        if s == 0:
            if t > 0:  # close the rate estimate of the interval that just ended
                f_av = st["n_spikes"] / T
                st["fr_reg"][t // T - 1] = c_reg * (f_av - f_tgt) / T
            st["n_spikes"] = np.zeros(n_rec)
            arr_rec = np.zeros(n_rec)  # spikes arriving in the first step of an interval are dropped
            if net.reset_neurons_on_update:
                v = np.zeros(n_rec)
                r = np.zeros(n_rec, dtype=np.int64)
                z_prev = np.zeros(n_rec)
                a = np.zeros(n_rec)
        # ---- recurrent neurons
        a = rho * a + z_prev
        A = V_th + beta * a
        v = alpha * v + zeta * arr_rec + P_i * i_in - V_th * z_prev
        i_in = I_e.copy()
        np.maximum(v, V_min, out=v)
        r = np.maximum(r - 1, 0)
        psi = net._surrogate(r, v, A)
        z = (v >= A) & (r == 0)
        r = np.where(z, refr, r)
        zf = z.astype(np.float64)
        st["n_spikes"] = st["n_spikes"] + zf
        psi_h[h] = psi
        # ---- synapses: spikes emitted in step t
        ins = np.flatnonzero(raster[k])
        recs = np.flatnonzero(z)
        drop = (t + 1) % T == 0  # they would arrive in the first step of the next interval
        arr_next = np.zeros(n_rec)
        posts_cur = all_rec
        if not drop:
            for i in ins:
                _send(net, st["b_in"], i, t + 1, T, grad_rec, W_in, all_rec, syn["in_opt"], par, n_in)
                arr_next += W_in[:, i]
                if wev is not None:
                    wev.append((np.full(n_rec, t), np.zeros(n_rec, int), np.full(n_rec, i), all_rec,
                                W_in[:, i].copy()))
        for i in recs:
            if not drop:
                posts_cur = net._rec_posts[i]
                _send(net, st["b_rec"], i, t + 1, T, grad_rec, W_rec, posts_cur, syn["rec_opt"], par, n_rec)
                arr_next[posts_cur] += W_rec[posts_cur, i]
                if wev is not None:
                    m = posts_cur.size
                    wev.append((np.full(m, t), np.ones(m, int), np.full(m, i), posts_cur, W_rec[posts_cur, i].copy()))
            _send(net, st["b_out"], i, t, T, grad_out, W_out, all_out, syn["out_opt"], par, n_rec)
            if wev is not None:
                wev.append((np.full(n_out, t), np.full(n_out, 2), np.full(n_out, i), all_out, W_out[:, i].copy()))
        if symmetric and recs.size:
            B[recs, :] = W_out[:, recs].T
        # ---- readouts (the readout step that integrates z^t, after the updates its spikes triggered; NEST's t + 3)
        if s == 0 and net.reset_neurons_on_update:
            v_out = np.zeros(n_out)
        v_out = op["kappa"] * v_out + op["zeta"] * (W_out @ zf) + op["P_i"] * i_out
        i_out = op["I_e"].copy()
        np.maximum(v_out, op["V_min"], out=v_out)
        y = v_out + op["E_L"]
        if ce:
            ey = np.exp(y)
            sig = ey / ey.sum()  # NEST: exp(y_k) / (sum of the other readouts + exp(y_k)), no max shift
        else:
            sig = y
        in_window = s >= T - Wn
        if in_window:
            readout[k] = sig
        if targets is not None and in_window:
            err = sig - targets[k]
            error[k] = err
            err_h[h] = err
            if ce:
                pos = targets[k] > 0
                loss -= float(np.sum(targets[k][pos] * np.log(sig[pos])))
            else:
                loss += 0.5 * float(np.sum(err * err))
            L_h[h] = B @ err
        arr_rec = arr_next
        z_prev = zf
        if recs.size:
            spk_t.append(np.full(recs.size, t))
            spk_i.append(recs)

    st.update(t=T0 + n, v=v, r=r, a=a, i_in=i_in, z_prev=z_prev, v_out=v_out, i_out=i_out, arr_rec=arr_rec,
              arr_out=arr_out)
    _trim(net)
    spikes = (np.concatenate(spk_t) if spk_t else np.zeros(0, int),
              np.concatenate(spk_i) if spk_i else np.zeros(0, int))
    return readout, error, loss, spikes, wev


def _trim(net):
    st = net._state
    keep = st["t"] - 1
    for p in ("in", "rec", "out"):
        tt = st[f"b_{p}"]["ttrig"]
        tt = tt[tt >= 0]
        if tt.size:
            keep = min(keep, int(tt.min()))
    cut = keep - net._h0
    if cut > 0:
        for key, arr in net._hist.items():
            net._hist[key] = arr[cut:].copy()
        net._h0 = keep
    old = [m for m in st["fr_reg"] if (m + 2) * net.update_steps < keep]
    for m in old:
        del st["fr_reg"][m]
