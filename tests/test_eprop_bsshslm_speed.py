"""The compiled ``bsshslm_2020`` kernel (``spikeengine/eprop/_bsshslm.py``) against the former NumPy loop.

:func:`reference_run` is the per-step NumPy/Python loop the kernel replaced, kept here verbatim in its
arithmetic (with its own history handling) as the reference: every output (readout, error, loss, spikes,
weight-recorder events) and every weight, feedback weight and optimizer state must be the same bits, on
configurations that cover LIF / ALIF / mixed and heterogeneous populations, MSE / cross-entropy, Adam /
gradient descent with batches, ``average_gradient``, learning windows shorter than the interval, resets
on or off, symmetric feedback, runs that split intervals, ``learn=False`` and runs without targets.
Also: a presynaptic neuron that stays silent does not make the history grow (its gradient is settled).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from spikeengine.eprop import Adam, EpropIAF, EpropIAFAdapt, EpropNetwork, EpropReadout, GradientDescent
from spikeengine.eprop._kernels import opt_apply

L_VISIBLE_LAG = 2
SURR = ("piecewise_linear", "exponential", "fast_sigmoid_derivative", "arctan_derivative")


# ------------------------------------------------------------------------------------------ the reference
def _grad_rec(isis, ttrig, posts, h0, psi_h, L_h, alpha, zeta, beta, rho, kappa, avg, window, fr, lim):
    out = np.zeros(posts.shape[0])
    for q in range(posts.shape[0]):
        j = posts[q]
        row = ttrig - h0
        zb = eb = ep = grad = sum_e = 0.0
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


def _grad_out(isis, ttrig, n_out, h0, err_h, kappa_out, zeta, avg, window):
    out = np.zeros(n_out)
    for k in range(n_out):
        row = ttrig - h0
        zb = grad = 0.0
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


class Reference:
    """The former NumPy loop on a copy of a freshly built network's parameters and weights."""

    def __init__(self, net):
        self.net = net
        n_in, n_rec, n_out = net.n_in, net.n_rec, net.n_out
        self.W_in, self.W_rec, self.W_out, self.B = (x.copy() for x in (net.W_in, net.W_rec, net.W_out, net.B))
        opt = net.optimizer
        self.opt = {}
        for p, shape in (("in", (n_rec, n_in)), ("rec", (n_rec, n_rec)), ("out", (n_out, n_rec))):
            s = opt.new_state(shape)
            self.opt[p] = tuple(x.reshape(-1) for x in (s.cum, s.step, s.m, s.v, s.b1, s.b2))
        rp, op = net._rec_arrays, net._out_arrays
        self.st = {"t": 0, "v": rp["V_m"].copy(), "r": np.zeros(n_rec, np.int64), "a": rp["a0"].copy(),
                   "i_in": np.zeros(n_rec), "z_prev": np.zeros(n_rec), "v_out": op["V_m"].copy(),
                   "i_out": np.zeros(n_out), "arr_rec": np.zeros(n_rec), "n_spikes": np.zeros(n_rec), "fr_reg": {}}
        for p, n in (("in", n_in), ("rec", n_rec), ("out", n_rec)):
            self.st[f"b_{p}"] = {"tsp": np.full(n, -1, np.int64), "ttrig": np.full(n, -1, np.int64),
                                 "tpu": np.zeros(n, np.int64), "tnu": np.zeros(n, np.int64),
                                 "isis": [[] for _ in range(n)]}
        self.h0 = 0
        self.hist = {"psi": np.zeros((0, n_rec)), "L": np.zeros((0, n_rec)), "err": np.zeros((0, n_out))}

    def _send(self, b, i, stamp, T, grad_fn, W, posts, opt_state, par, n_pre):
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
                g = grad_fn(np.array(isis[i], dtype=np.int64), ttrig[i], tpu[i])
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

    def run(self, raster, targets, learn=True, record_weights=False):
        net, st = self.net, self.st
        n = raster.shape[0]
        T0 = st["t"]
        T, Wn = net.update_steps, net.window_steps
        rp, op = net._rec_arrays, net._out_arrays
        par = net._opt_par(learn)
        n_in, n_rec, n_out = net.n_in, net.n_rec, net.n_out
        extra = T0 + n - (self.h0 + self.hist["psi"].shape[0])
        for k, a in self.hist.items():
            self.hist[k] = np.concatenate([a, np.zeros((extra, a.shape[1]))])
        psi_h, L_h, err_h = self.hist["psi"], self.hist["L"], self.hist["err"]
        v, r, a, i_in, z_prev = st["v"], st["r"], st["a"], st["i_in"], st["z_prev"]
        v_out, i_out, arr_rec = st["v_out"], st["i_out"], st["arr_rec"]
        W_in, W_rec, W_out, B = self.W_in, self.W_rec, self.W_out, self.B
        ce = net.loss == "cross_entropy"
        kappa_syn = math.exp(-net.dt / net.tau_m_readout)
        alpha, zeta, P_i, I_e = rp["alpha"], rp["zeta"], rp["P_i"], rp["I_e"]
        V_min, V_th, beta, rho, refr = rp["V_min"], rp["V_th"], rp["beta"], rp["rho"], rp["ref_counts"]
        f_tgt, c_reg = rp["f_target_step"], rp["c_reg"]
        readout, error = np.zeros((n, n_out)), np.zeros((n, n_out))
        spk_t, spk_i, wev = [], [], []
        loss = 0.0
        all_rec, all_out = np.arange(n_rec), np.arange(n_out)
        h0 = self.h0
        cur = {}

        def grad_rec(isis, ttrig, tpu):
            fr = st["fr_reg"].get(tpu // T, np.zeros(n_rec))
            return _grad_rec(isis, ttrig, cur["posts"], h0, psi_h, L_h, alpha, zeta, beta, rho, kappa_syn,
                             net.average_gradient, float(Wn), fr, cur["t"] - L_VISIBLE_LAG - h0)

        def grad_out(isis, ttrig, tpu):
            return _grad_out(isis, ttrig, n_out, h0, err_h, op["kappa"], op["zeta"], net.average_gradient, float(Wn))

        for k in range(n):
            t = T0 + k
            cur["t"] = t
            h = t - h0
            s = t % T
            if s == 0:
                if t > 0:
                    st["fr_reg"][t // T - 1] = c_reg * (st["n_spikes"] / T - f_tgt) / T
                st["n_spikes"] = np.zeros(n_rec)
                arr_rec = np.zeros(n_rec)
                if net.reset_neurons_on_update:
                    v, r, z_prev, a = np.zeros(n_rec), np.zeros(n_rec, np.int64), np.zeros(n_rec), np.zeros(n_rec)
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
            ins, recs = np.flatnonzero(raster[k]), np.flatnonzero(z)
            drop = (t + 1) % T == 0
            arr_next = np.zeros(n_rec)
            cur["posts"] = all_rec
            if not drop:
                for i in ins:
                    self._send(st["b_in"], i, t + 1, T, grad_rec, W_in, all_rec, self.opt["in"], par, n_in)
                    arr_next += W_in[:, i]
                    wev.append((np.full(n_rec, t), np.zeros(n_rec, int), np.full(n_rec, i), all_rec, W_in[:, i].copy()))
            for i in recs:
                if not drop:
                    posts = cur["posts"] = net._rec_posts[i]
                    self._send(st["b_rec"], i, t + 1, T, grad_rec, W_rec, posts, self.opt["rec"], par, n_rec)
                    arr_next[posts] += W_rec[posts, i]
                    m = posts.size
                    wev.append((np.full(m, t), np.ones(m, int), np.full(m, i), posts, W_rec[posts, i].copy()))
                self._send(st["b_out"], i, t, T, grad_out, W_out, all_out, self.opt["out"], par, n_rec)
                wev.append((np.full(n_out, t), np.full(n_out, 2), np.full(n_out, i), all_out, W_out[:, i].copy()))
            if net.feedback == "symmetric" and recs.size:
                B[recs, :] = W_out[:, recs].T
            if s == 0 and net.reset_neurons_on_update:
                v_out = np.zeros(n_out)
            v_out = op["kappa"] * v_out + op["zeta"] * (W_out @ zf) + op["P_i"] * i_out
            i_out = op["I_e"].copy()
            np.maximum(v_out, op["V_min"], out=v_out)
            y = v_out + op["E_L"]
            if ce:
                ey = np.exp(y)
                sig = ey / ey.sum()
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
        st.update(t=T0 + n, v=v, r=r, a=a, i_in=i_in, z_prev=z_prev, v_out=v_out, i_out=i_out, arr_rec=arr_rec)
        keep = st["t"] - 1
        for p in ("in", "rec", "out"):
            tt = st[f"b_{p}"]["ttrig"]
            tt = tt[tt >= 0]
            if tt.size:
                keep = min(keep, int(tt.min()))
        if keep - self.h0 > 0:
            for key, arr in self.hist.items():
                self.hist[key] = arr[keep - self.h0:].copy()
            self.h0 = keep
        for m in [m for m in st["fr_reg"] if (m + 2) * T < keep]:
            del st["fr_reg"][m]
        spikes = (np.concatenate(spk_t) if spk_t else np.zeros(0, int),
                  np.concatenate(spk_i) if spk_i else np.zeros(0, int))
        if record_weights and wev:
            ev = {nm: np.concatenate(c) for nm, c in zip(("step", "proj", "pre", "post", "weight"), zip(*wev))}
        else:
            ev = None
        return readout, error, loss, spikes, ev


# ------------------------------------------------------------------------------------------ configurations
def make(seed, n_in, groups, n_out, loss, opt, T, W, avg, reset, feedback="random", c_reg=0.0, surr=0, t_ref=2.0,
         tau_ro=None, ra=True):
    rng = np.random.RandomState(seed)
    common = dict(C_m=1.0, E_L=0.0, V_th=0.6, t_ref=t_ref, c_reg=c_reg, f_target=10.0,
                  surrogate_gradient_function=SURR[surr], surrogate_gradient_height=0.5,
                  surrogate_gradient_width=0.6, regular_spike_arrival=ra)
    rec = []
    for kind, n, tau in groups:
        if kind == "lif":
            rec.append((EpropIAF(**common, tau_m=tau), n))
        else:
            rec.append((EpropIAFAdapt(**common, tau_m=tau, adapt_tau=500.0, adapt_beta=0.1), n))
    n_rec = sum(g[1] for g in groups)
    W_in = rng.randn(n_rec, n_in) * 0.5
    W_rec = rng.randn(n_rec, n_rec) * 0.2
    np.fill_diagonal(W_rec, 0.0)
    W_out = rng.randn(n_out, n_rec) * 0.3
    B = None if feedback == "symmetric" else rng.randn(n_rec, n_out)
    ro = EpropReadout(C_m=1.0, E_L=0.0, tau_m=20.0, regular_spike_arrival=False)
    net = EpropNetwork(n_in, rec, ro, W_in, W_rec, W_out, B, optimizer=opt, scheme="bsshslm_2020", loss=loss,
                       feedback=feedback, dt=1.0, update_interval=float(T), learning_window=float(W),
                       reset_neurons_on_update=reset, average_gradient=avg, tau_m_readout=tau_ro)
    return net, rng


CONFIGS = {
    # NEST's evidence-accumulation set-up in small: LIF + ALIF, cross-entropy, Adam over 2 intervals, averaged
    "lif_alif_ce_adam": dict(seed=1, n_in=12, groups=[("lif", 10, 20.0), ("alif", 10, 20.0)], n_out=2,
                             loss="cross_entropy", opt=Adam(eta=5e-3, batch_size=2), T=60, W=15, avg=True,
                             reset=True, c_reg=300.0),
    "lif_mse_gd": dict(seed=2, n_in=5, groups=[("lif", 8, 20.0)], n_out=1, loss="mse",
                       opt=GradientDescent(eta=1e-2), T=40, W=40, avg=False, reset=False),
    "alif_mse_adam_symmetric": dict(seed=4, n_in=7, groups=[("alif", 10, 20.0)], n_out=2, loss="mse",
                                    opt=Adam(eta=1e-3), T=50, W=20, avg=False, reset=False, feedback="symmetric",
                                    surr=2, tau_ro=15.0),
    "mixed_ce3_gd": dict(seed=5, n_in=9, groups=[("alif", 5, 20.0), ("lif", 6, 20.0)], n_out=3,
                         loss="cross_entropy", opt=GradientDescent(eta=5e-3, batch_size=3), T=45, W=45, avg=True,
                         reset=False, surr=3, c_reg=10.0, ra=False, t_ref=0.0),
    # per-neuron membrane time constants: one presynaptic trace per post (the kernel's general path)
    "heterogeneous": dict(seed=7, n_in=8, groups=[("lif", 1, 20.0), ("alif", 2, 25.0), ("lif", 1, 30.0),
                                                  ("alif", 1, 15.0), ("lif", 2, 20.0), ("alif", 1, 10.0)],
                          n_out=2, loss="cross_entropy", opt=Adam(eta=5e-3, batch_size=2), T=50, W=20, avg=True,
                          reset=True, c_reg=100.0, surr=1),
}


def _targets(rng, n, n_out, loss, T):
    if loss == "cross_entropy":
        tg = np.zeros((n, n_out))
        for m in range(0, n, T):
            tg[m:m + T, rng.randint(n_out)] = 1.0
        return tg
    return 0.3 * np.sin(np.arange(n)[:, None] / 7.0 + np.arange(n_out)[None, :])


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_kernel_matches_the_numpy_loop_bit_for_bit(name):
    cfg = CONFIGS[name]
    net, rng = make(**cfg)
    ref = Reference(net)
    T = cfg["T"]
    # (steps, learn, with targets, record weights): whole intervals, splits inside intervals, learn=False,
    # no targets, several intervals in one run
    plan = [(T, True, True, True)] * 4 + [(37, True, True, True), (2 * T - 37, True, True, True),
                                          (T, False, True, True), (T + 13, True, True, False),
                                          (T - 13, True, False, True), (3 * T, True, True, False)]
    for n, learn, has_t, rec in plan:
        raster = rng.rand(n, cfg["n_in"]) < 0.15
        tg = _targets(rng, n, cfg["n_out"], cfg["loss"], T) if has_t else None
        res = net.run(raster, tg, n_steps=n, learn=learn, record_weights=rec)
        readout, error, loss, (st, si), ev = ref.run(raster, tg, learn=learn, record_weights=rec)
        assert np.array_equal(res.readout, readout) and np.array_equal(res.error, error)
        assert res.loss == loss
        assert np.array_equal(res.spike_steps, st) and np.array_equal(res.spike_ids, si)
        if rec:
            assert ev is not None
            for k in ("step", "proj", "pre", "post", "weight"):
                assert np.array_equal(res.weight_events[k], ev[k]), k
        for a, b in ((net.W_in, ref.W_in), (net.W_rec, ref.W_rec), (net.W_out, ref.W_out), (net.B, ref.B)):
            assert np.array_equal(a, b)
        for p in ("in", "rec", "out"):
            for x, y in zip(net._syn[f"{p}_opt"], ref.opt[p]):
                assert np.array_equal(x, y)
        for k in ("v", "r", "a", "z_prev", "v_out"):
            assert np.array_equal(net._state[k], ref.st[k]), k
    fresh = make(**cfg)[0]
    moved = max(np.abs(getattr(net, k) - getattr(fresh, k)).max() for k in ("W_in", "W_rec", "W_out"))
    assert moved > 1e-5  # learning moved the weights


def test_silent_presynaptic_neuron_does_not_pin_the_history():
    """Input 0 spikes in the first interval only: its pending gradient is settled and the history stays short."""
    net, rng = make(**CONFIGS["lif_alif_ce_adam"])
    ref = Reference(net)
    T = net.update_steps
    for m in range(12):
        raster = rng.rand(T, net.n_in) < 0.15
        raster[0] = False
        if m:
            raster[:, 0] = False
        tg = _targets(rng, T, 2, "cross_entropy", T)
        res = net.run(raster, tg)
        assert res.loss == ref.run(raster, tg)[2]
        assert net.t - net._h0 <= 2 * T
    assert ref.st["t"] - ref.h0 > 10 * T  # the former loop kept every row since input 0's last spike
    assert np.array_equal(net.W_in, ref.W_in) and np.array_equal(net.W_rec, ref.W_rec)
