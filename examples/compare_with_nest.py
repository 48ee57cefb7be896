"""Run the same 1000-neuron network in spikeengine and in NEST 3.10's precise model and compare spike trains.

Needs NEST (pip install -e ".[crosscheck]"). Prints how long the two spike trains stay identical.

Run: python examples/compare_with_nest.py [--model delta|exp] [--duration 1000]
"""

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "tests"), os.path.join(HERE, "..", "benchmarks")]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", choices=("delta", "exp"), default="delta")
    ap.add_argument("--duration", type=float, default=1000.0)
    args = ap.parse_args(argv)
    import test_nest_crosscheck as cc  # the network definitions used by the test suite
    from nest_side import run_nest_precise

    import spikeengine as se

    if args.model == "delta":
        spec, model = cc.brunel_spec(T=args.duration), se.LIF
    else:
        spec, model = cc.cuba_spec(T=args.duration), se.LIFExp
    (tn, i_n), (ts, i_s) = run_nest_precise(spec), cc._run_here(spec, model)
    n = min(tn.size, ts.size)
    same = (i_n[:n] == i_s[:n]) & (np.abs(tn[:n] - ts[:n]) <= 1e-6)
    k = n if same.all() else int(np.argmin(same))
    print(f"{spec['model']}: NEST {tn.size} spikes, spikeengine {ts.size} spikes over {args.duration:g} ms")
    print(f"identical (same neuron, |dt| <= 1e-6 ms) for the first {k} spikes"
          + (f", up to t = {tn[k - 1]:.3f} ms" if k else ""))
    if k:
        print(f"max |dt| over them: {np.abs(tn[:k] - ts[:k]).max():.3g} ms")


if __name__ == "__main__":
    main()
