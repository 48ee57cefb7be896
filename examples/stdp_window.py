"""The classic STDP window and the pairing-frequency dependence, computed with spikeengine (and NEST).

(a) **STDP window.** One pre/post pair per synapse, ``t_post - t_pre`` from -100 to +100 ms in 1 ms
    steps, and a far-off 'flush' pre spike 500 ms later (with NEST's conventions a post-after-pre pair is
    applied at the next pre spike). ``stdp_synapse``, additive (mu = 0), lambda 0.01, Wmax 100,
    tau+ = tau- = 20 ms, delay 1 ms (all dendritic, as in NEST), w0 = 50. The window is
    ``+lambda Wmax exp(-(dt + d)/tau+)`` for ``dt > -d`` and ``-alpha lambda Wmax exp((dt + d)/tau-)``
    for ``dt < -d``, with a zero at ``dt = -d`` (STDP.md C1, C4): dw(+10 ms) = 0.57695,
    dw(-10 ms) = -0.63763.
(b) **Pairing frequency.** dw after 60 pairings at 1, 5, 10, 20, 40 and 50 Hz, post 10 ms after (+10) or
    before (-10) pre, for the same ``stdp_synapse`` and for ``stdp_triplet_synapse`` with Pfister &
    Gerstner's (2006) visual-cortex all-to-all parameters (w0 = 1, Wmax = 2): the triplet rule turns
    -10 ms pairing from depression at low rates into potentiation at 40-50 Hz (Sjostrom et al. 2001).

Every value is computed by the engine (one projection of independent synapses per protocol family) and,
when NEST 3.10 is importable, by NEST with the parrot-neuron protocol of ``tests/nest_stdp.py``; the
table then shows the largest difference. ``--plot FILE`` writes both panels to a PNG (needs matplotlib).

Run: python examples/stdp_window.py [--plot stdp.png] [--backend python|numba|cython] [--no-nest]
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

DELAY, W0 = 1.0, 50.0
PAIR = {"lambda": 0.01, "alpha": 1.0, "mu_plus": 0.0, "mu_minus": 0.0, "Wmax": 100.0, "tau_plus": 20.0,
        "tau_minus": 20.0}
TRIPLET = {"tau_plus": 16.8, "tau_plus_triplet": 101.0, "Aplus": 5e-10, "Aminus": 7e-3, "Aplus_triplet": 6.2e-3,
           "Aminus_triplet": 2.3e-4, "Wmax": 2.0, "tau_minus": 33.7, "tau_minus_triplet": 125.0}
TRIPLET_W0 = 1.0
FREQS = (1.0, 5.0, 10.0, 20.0, 40.0, 50.0)
SHOW_DT = (-100, -50, -20, -10, -5, -2, -1, 0, 1, 2, 5, 10, 20, 50, 100)


def _grid(t):
    return np.rint(np.asarray(t, dtype=np.float64) * 10.0) / 10.0


def window_protocols(dts, t0=200.0, flush=500.0):
    """Per synapse: pre spikes [t0, t0 + flush], post spike t0 + dt."""
    return [_grid([t0, t0 + flush]) for _ in dts], [_grid([t0 + dt]) for dt in dts]


def pairing_protocols(n_pairs=60, t0=100.0, flush=1000.0):
    """Per (frequency, sign): 60 pre spikes at the frequency, post +-10 ms, a flush pre spike 1 s later."""
    pre, post, keys = [], [], []
    for f in FREQS:
        for dt in (10.0, -10.0):
            p = _grid(t0 + 1000.0 / f * np.arange(n_pairs))
            q = _grid(p + dt)
            pre.append(np.append(p, _grid(max(p[-1], q[-1]) + flush)))
            post.append(q)
            keys.append((f, dt))
    return pre, post, keys


def window_theory(dts):
    """The additive window of NEST's stdp_synapse for one isolated pair (flush depression neglected)."""
    s = np.asarray(dts) + DELAY
    lam, wmax, tau = PAIR["lambda"], PAIR["Wmax"], PAIR["tau_plus"]
    return np.where(s > 1e-9, lam * wmax * np.exp(-s / tau),
                    np.where(s < -1e-9, -PAIR["alpha"] * lam * wmax * np.exp(s / PAIR["tau_minus"]), 0.0))


def run_engine(model, params, pre, post, w0, backend):
    """Final weights of independent synapses pre[k] -> post[k] simulated by spikeengine."""
    import spikeengine as se

    net = se.Network(seed=0, backend=backend)
    src = net.spike_source(pre, name="pre")
    tgt = net.spike_source(post, name="post")
    proj = net.connect(src, tgt, "one_to_one", weight=w0, delay=DELAY,
                       plasticity=se.plasticity.from_nest(model, params))
    net.run(max(t[-1] for t in pre + post) + DELAY + 1.0)
    return np.asarray(proj.weights, dtype=np.float64)


def run_nest(model, params, pre, post, w0):
    """Final weights of the same synapses in NEST (parrot-neuron protocol)."""
    from nest_stdp import run_nest_stdp_many

    r = run_nest_stdp_many(model, params, pre, post, DELAY, w0)
    return np.array([w[-1] for w in r["weights"]])


def plot(path, dts, window, window_nest, freq_rows):
    """Write the window and the frequency dependence to ``path`` (PNG)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--plot needs matplotlib: pip install matplotlib (or pip install -e '.[plot]')", file=sys.stderr)
        return False
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(dts, window, "-", lw=1.5, label="spikeengine")
    if window_nest is not None:
        a.plot(dts[::5], window_nest[::5], "o", ms=3, mfc="none", label="NEST 3.10")
    a.axhline(0, color="0.7", lw=0.8)
    a.axvline(-DELAY, color="0.7", lw=0.8, ls=":")
    a.set(xlabel="t_post - t_pre (ms)", ylabel="dw", title="STDP window (stdp_synapse, additive, d = 1 ms)")
    a.legend()
    for (label, dw, dw_nest), style in zip(freq_rows, ("-o", "--o", "-s", "--s")):
        wmax = (TRIPLET if label.startswith("triplet") else PAIR)["Wmax"]
        b.plot(FREQS, dw / wmax, style, ms=4, label=label)
        if dw_nest is not None:
            b.plot(FREQS, dw_nest / wmax, "k+", ms=7)
    b.axhline(0, color="0.7", lw=0.8)
    b.set(xlabel="pairing frequency (Hz)", ylabel="dw / Wmax after 60 pairings", xscale="log",
          title="pairing-frequency dependence" + (" (+ = NEST)" if window_nest is not None else ""))
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plot", metavar="FILE", help="write the two panels to this PNG (needs matplotlib)")
    ap.add_argument("--backend", choices=("python", "numba", "cython"), default=None)
    ap.add_argument("--no-nest", action="store_true", help="do not run NEST even when it is installed")
    args = ap.parse_args(argv)
    from nest_stdp import nest_available

    use_nest = nest_available() and not args.no_nest
    t0 = time.perf_counter()

    # (a) the window
    dts = np.arange(-100.0, 101.0)
    pre, post = window_protocols(dts)
    window = run_engine("stdp_synapse", PAIR, pre, post, W0, args.backend) - W0
    window_nest = run_nest("stdp_synapse", PAIR, pre, post, W0) - W0 if use_nest else None
    theory = window_theory(dts)
    print("(a) STDP window, stdp_synapse additive (lambda 0.01, Wmax 100, tau 20 ms, d 1 ms, w0 50)")
    print(f"{'dt (ms)':>8} {'dw engine':>12} {'theory':>12}" + (f" {'dw NEST':>12}" if use_nest else ""))
    for dt in SHOW_DT:
        i = int(np.flatnonzero(dts == dt)[0])
        print(f"{dt:8.0f} {window[i]:12.6f} {theory[i]:12.6f}" + (f" {window_nest[i]:12.6f}" if use_nest else ""))
    print(f"max |engine - theory| over the 201 pairs: {np.max(np.abs(window - theory)):.2e}")

    # (b) pairing frequency
    pre, post, keys = pairing_protocols()
    rows, table = [], {}
    for name, model, params, w0 in (("stdp", "stdp_synapse", PAIR, W0),
                                    ("triplet", "stdp_triplet_synapse", TRIPLET, TRIPLET_W0)):
        dw = run_engine(model, params, pre, post, w0, args.backend) - w0
        dw_nest = run_nest(model, params, pre, post, w0) - w0 if use_nest else None
        for sign in (10.0, -10.0):
            m = np.array([k[1] == sign for k in keys])
            rows.append((f"{name} {sign:+g} ms", dw[m], None if dw_nest is None else dw_nest[m]))
            table[name, sign] = dw[m]
    print("\n(b) dw after 60 pairings (stdp: w0 50, Wmax 100; triplet: Pfister-Gerstner visual cortex, w0 1, Wmax 2)")
    print(f"{'f (Hz)':>7}" + "".join(f" {label:>16}" for label, _, _ in rows))
    for i, f in enumerate(FREQS):
        print(f"{f:7g}" + "".join(f" {dw[i]:16.6f}" for _, dw, _ in rows))
    max_diff = None
    if use_nest:
        max_diff = max(np.max(np.abs(window - window_nest)),
                       max(np.max(np.abs(dw - dwn)) for _, dw, dwn in rows))
        print(f"\nlargest |engine - NEST| over all {dts.size + 4 * len(FREQS)} protocols: {max_diff:.2e}")
    else:
        print("\n(NEST is not installed or --no-nest: engine values only)")
    if args.plot and plot(args.plot, dts, window, window_nest, rows):
        print(f"wrote {args.plot}")
    print(f"done in {time.perf_counter() - t0:.2f} s")
    return {"dt": dts, "window": window, "window_theory": theory, "window_nest": window_nest, "freqs": FREQS,
            "pairing": table, "max_diff_nest": max_diff}


if __name__ == "__main__":
    main()
