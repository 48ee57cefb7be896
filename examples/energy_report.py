"""Energy report of an event-camera network: Šíma's energy, NeuroBench metrics, joules per profile.

The demo network (a generated moving-bar event stream -> convolutional LIF layer with
lateral inhibition -> 4 readout neurons) runs once per activity-bin width; the report
gives the counts, Šíma's energy (max active neurons per bin) and the estimates under the
built-in hardware profiles, next to a dense clock-driven equivalent.

Run: python examples/energy_report.py [--duration 500] [--json energy.json] [--plot energy.png]
"""

import argparse

from spikeengine.demo import build_demo
from spikeengine.energy import PROFILES


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=500.0, help="simulated ms (default 500)")
    ap.add_argument("--json", metavar="FILE", help="write the 1 ms report as JSON")
    ap.add_argument("--plot", metavar="PNG", help="plot the 1 ms report (needs matplotlib)")
    args = ap.parse_args(argv)

    print(f"{'bin (ms)':>9}{'Sima E (net)':>14}{'with inputs':>13}{'mean (net)':>12}{'act. sparsity':>15}")
    reports = {}
    for width in (0.1, 1.0, 10.0):
        net, _, _ = build_demo(duration_ms=args.duration, seed=0, bin_width=width)
        net.run(args.duration)
        r = reports[width] = net.energy_report()
        print(f"{width:>9g}{r.energy_sima():>14}{r.energy_sima(inputs=True):>13}{r.energy_mean():>12.3f}"
              f"{r.activation_sparsity:>15.5f}")
    r = reports[1.0]
    print()
    print(r.summary())
    print()
    print(f"{'profile':<20}{'this run (J)':>14}{'dense clocked (J)':>19}{'ratio':>10}")
    for name in PROFILES:
        e = r.estimate(name)
        print(f"{name:<20}{e['total']:>14.3g}{e['dense_equivalent']:>19.3g}{e['ratio']:>10.3g}")
    print("per population:", ", ".join(f"{p['name']} {p['spikes']} spikes / {p['synops_out']} SynOps out"
                                     for p in r.populations))
    if args.json:
        r.to_json(args.json)
        print(f"wrote {args.json}")
    if args.plot:
        r.plot(args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
