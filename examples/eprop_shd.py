"""e-prop spoken-digit classification on the Spiking Heidelberg Digits (SHD).

Reads the SHD HDF5 files (``shd_train.h5`` / ``shd_test.h5`` from https://zenkelab.org/datasets/:
``spikes/times`` in s, ``spikes/units`` 0..699, ``labels`` 0..19) with h5py, bins the spikes to 1 ms
steps (the first ``--steps`` ms of every sample; several spikes of a channel in one step count once),
optionally pools the 700 cochlea units into ``--channels`` channels, and trains a recurrent network of
LIF and ALIF neurons with 20 readouts (softmax, cross-entropy) with e-prop in the ``bsshslm_2020``
scheme (one sample per update interval, reset between samples; Adam over mini-batches of samples,
``average_gradient``; the error is taken over the last ``--window`` ms of each sample). The test set
(``--test``) is evaluated every ``--eval-every`` iterations without learning.

A full SHD run (8156 training samples) is long: with the defaults (140 channels, 200 neurons, 1000 steps)
one iteration is ``batch_size`` seconds-long trials. ``--quick`` is a smoke test: it uses the first
samples of ``--data`` (by default a one-sample file in the SHD layout shipped with the project's shared
data, if present), 100 steps, a small network and 2 iterations.

Run: python examples/eprop_shd.py --data shd_train.h5 [--test shd_test.h5] [--iterations N] [--quick]
     [--plot PNG] [--checkpoint NPZ]
"""

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from spikeengine.eprop import (  # noqa: E402
    Adam,
    EpropIAF,
    EpropIAFAdapt,
    EpropNetwork,
    EpropReadout,
    ShdDataset,
    train,
)

SHARED_SHD = os.path.join(HERE, "..", "..", "shared", "data", "events", "audio_shd_layout_from_lauscher_reference.h5")


def build(n_in, n_rec, n_out, steps, window, batch_size, eta, seed):
    """LIF + ALIF (half each) recurrent network, bsshslm scheme, Adam; Bellec-style initialisation."""
    rng = np.random.default_rng(seed)
    common = {"C_m": 1.0, "c_reg": 300.0, "E_L": 0.0, "f_target": 10.0, "I_e": 0.0, "regular_spike_arrival": True,
              "surrogate_gradient_function": "piecewise_linear", "surrogate_gradient_height": 0.3 / 0.6,
              "surrogate_gradient_width": 0.6, "t_ref": 2.0, "tau_m": 20.0, "V_m": 0.0, "V_th": 0.6}
    beta = 1.7 * ((1.0 - np.exp(-1.0 / 500.0)) / (1.0 - np.exp(-1.0 / 20.0)))
    n_reg = n_rec // 2
    rec = [(EpropIAF(**common), n_reg),
           (EpropIAFAdapt(**common, adapt_tau=500.0, adapt_beta=float(beta)), n_rec - n_reg)]
    w_in = rng.standard_normal((n_rec, n_in)) / np.sqrt(n_in)
    w_rec = rng.standard_normal((n_rec, n_rec)) / np.sqrt(n_rec)
    np.fill_diagonal(w_rec, 0.0)
    limit = np.sqrt(3.0 / max(1.0, (n_rec + n_out) / 2.0))
    w_out = rng.uniform(-limit, limit, (n_out, n_rec))
    b = rng.standard_normal((n_rec, n_out))
    opt = Adam(batch_size=batch_size, eta=eta, epsilon=1e-8)
    return EpropNetwork(n_in, rec, EpropReadout(C_m=1.0, E_L=0.0, tau_m=20.0, regular_spike_arrival=False),
                        w_in, w_rec, w_out, b, optimizer=opt, scheme="bsshslm_2020", loss="cross_entropy",
                        feedback="random", dt=1.0, update_interval=float(steps), learning_window=float(window),
                        average_gradient=True, tau_m_readout=20.0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="SHD training file (HDF5); quick default: the shared one-sample file")
    ap.add_argument("--test", default=None, help="SHD test file (HDF5), evaluated every --eval-every iterations")
    ap.add_argument("--iterations", type=int, default=None, help="training iterations (default: one epoch; quick: 2)")
    ap.add_argument("--batch-size", type=int, default=None, help="samples per iteration (default 32; quick: 1)")
    ap.add_argument("--quick", action="store_true", help="smoke test: few samples, 100 steps, small network")
    ap.add_argument("--steps", type=int, default=None, help="ms per sample (default 1000; quick 100)")
    ap.add_argument("--window", type=int, default=None, help="error window: the last ms of a sample (default: all)")
    ap.add_argument("--channels", type=int, default=None, help="pool the 700 units into this many (default 140)")
    ap.add_argument("--n-rec", type=int, default=None, help="recurrent neurons (default 200; quick 10)")
    ap.add_argument("--max-samples", type=int, default=None, help="use only the first N training samples")
    ap.add_argument("--max-test", type=int, default=None, help="use only the first N test samples")
    ap.add_argument("--eta", type=float, default=5e-3)
    ap.add_argument("--eval-every", type=int, default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--checkpoint", metavar="NPZ", help="save a checkpoint here every --eval-every iterations")
    ap.add_argument("--history", metavar="JSON")
    ap.add_argument("--plot", metavar="PNG", help="plot the history (needs matplotlib)")
    args = ap.parse_args(argv)
    data = args.data or (SHARED_SHD if args.quick else None)
    if data is None:
        ap.error("--data path/to/shd_train.h5 is required (or --quick for the shared sample)")
    if not os.path.exists(data):
        print(f"SHD file not found: {data}; nothing to do")
        return {"skipped": True}
    steps = args.steps or (100 if args.quick else 1000)
    window = args.window or steps
    channels = args.channels or (70 if args.quick else 140)
    n_rec = args.n_rec or (10 if args.quick else 200)
    batch = args.batch_size or (1 if args.quick else 32)
    max_samples = args.max_samples or (2 if args.quick else None)

    with ShdDataset(data, n_steps=steps, n_channels=channels) as probe:
        n_total = len(probe)
        n_out = max(probe.n_classes, 20)
    indices = None if max_samples is None else np.arange(min(max_samples, n_total))
    train_set = ShdDataset(data, n_steps=steps, n_channels=channels, indices=indices)
    test_set = None
    if args.test:
        test_idx = None if args.max_test is None else np.arange(args.max_test)
        test_set = ShdDataset(args.test, n_steps=steps, n_channels=channels, indices=test_idx)
    elif args.quick:
        test_set = train_set  # smoke test: evaluate on the training samples
    iterations = args.iterations or (2 if args.quick else -(-len(train_set) // batch))
    eval_every = args.eval_every or (1 if args.quick else 50)
    net = build(channels, n_rec, n_out, steps, window, batch, args.eta, args.seed)
    spikes_in = sum(int(train_set[k][0].sum()) for k in range(min(len(train_set), 4)))
    print(f"SHD: {len(train_set)} training samples ({data}), {channels} channels, {steps} steps, {n_rec} recurrent "
          f"neurons, {n_out} readouts, batch {batch}, {iterations} iterations "
          f"({spikes_in} input spikes in the first {min(len(train_set), 4)} samples)")
    t0 = time.perf_counter()
    hist = train(net, train_set, iterations=iterations, batch_size=batch, shuffle=not args.quick, seed=args.seed,
                 eval_every=eval_every if test_set is not None else None, test_set=test_set, progress=True,
                 checkpoint_every=eval_every if args.checkpoint else None, checkpoint_path=args.checkpoint)
    wall = time.perf_counter() - t0
    summary = {"iterations": len(hist), "loss_first": hist.loss[0], "loss_final": hist.loss[-1],
               "train_accuracy_final": hist.accuracy[-1],
               "test_error_final": hist.test_error[-1] if hist.test_error else None,
               "seconds": round(wall, 2)}
    print(f"loss {summary['loss_first']:.4g} -> {summary['loss_final']:.4g}; "
          f"test error {summary['test_error_final']}; {wall:.1f} s")
    print("summary: " + json.dumps(summary))
    if args.history:
        hist.to_json(args.history)
    if args.plot:
        hist.plot(path=args.plot)
        print(f"plot: {args.plot}")
    train_set.close()
    if test_set is not None and test_set is not train_set:
        test_set.close()
    return summary


if __name__ == "__main__":
    main()
