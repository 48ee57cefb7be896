"""The ``spikeengine`` command line.

Exit codes: 0 success, 1 runtime error, 2 usage error, 3 invalid network or
parameter, 4 unreadable input, 5 backend unavailable, 130 interrupted.
"""

import argparse
import json
import sys

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _version_line():
    from . import __version__
    from ._backend import get_backend

    try:
        be = get_backend().name
    except Exception as exc:  # noqa: BLE001 - the version must print whatever the backend state
        be = f"unavailable ({exc})"
    return f"spikeengine {__version__} (backend: {be})"


def _cmd_demo(args):
    from .demo import run_demo

    summary = run_demo(size=args.size, duration_ms=args.duration, seed=args.seed, backend=args.backend,
                       out=(lambda *a, **k: print(*a, file=sys.stderr, **k)) if args.json else print,
                       energy_report=args.energy_report)
    if args.json:
        print(json.dumps(summary))
    return 0


def _cmd_bench(args):
    from .bench import main as bench_main

    return bench_main(args)


def _cmd_config(args):
    from . import show_config

    show_config()
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog="spikeengine", description="Exact, event-driven spiking network simulator.")
    p.add_argument("--version", action="version", version=_version_line())
    sub = p.add_subparsers(dest="command")

    d = sub.add_parser("demo", help="run the bundled demo network on a generated event-camera stream")
    d.add_argument("--duration", type=float, default=500.0, help="simulated time, ms (default 500)")
    d.add_argument("--size", type=int, default=32, help="sensor width/height in pixels (default 32)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--backend", choices=("cython", "numba", "python"), default=None)
    d.add_argument("--json", action="store_true", help="print a JSON summary on stdout, the table on stderr")
    d.add_argument("--energy-report", metavar="FILE", default=None,
                   help="write the energy report (counts, Sima energy, NeuroBench metrics, estimates) as JSON")
    d.set_defaults(func=_cmd_demo)

    b = sub.add_parser("bench", help="benchmark against NEST and Brian2 on identical networks")
    b.add_argument("--nets", default="brunel-ai-1000,brunel-low-1000,cuba-4000",
                   help="comma-separated: brunel-{ai,low,nest}-{N}, cuba-{N} (default: the small ones)")
    b.add_argument("--duration", type=float, default=1000.0, help="simulated time per network, ms")
    b.add_argument("--simulators", default="spikeengine,nest,brian2",
                   help="comma-separated subset of spikeengine, nest, brian2 (absent ones are skipped)")
    b.add_argument("--backend", choices=("cython", "numba", "python"), default=None)
    b.add_argument("--drive", choices=("grid", "exact"), default="grid",
                   help="external Poisson input of the Brunel network: on the 0.1 ms grid as NEST/Brian2 (default) "
                        "or a continuous process")
    b.add_argument("--counters", choices=("on", "off", "both"), default="on",
                   help="energy counters in spikeengine's runs; 'both' runs it with and without and prints their cost")
    b.add_argument("--brian2-python", default=None, help="python of a venv with brian2 (numpy<2); "
                   "default: .venv-brian2/bin/python if it exists")
    b.add_argument("--json", action="store_true", help="print the result rows as JSON")
    b.set_defaults(func=_cmd_bench)

    c = sub.add_parser("config", help="show version, backends and why the active one was chosen")
    c.set_defaults(func=_cmd_config)
    return p


def main(argv=None):
    """Entry point of the ``spikeengine`` console script; returns the exit code."""
    from .errors import SpikeEngineError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.func(args)
    except SpikeEngineError as exc:
        print(f"spikeengine: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # an output file that cannot be written
        print(f"spikeengine: error: {exc.strerror if exc.filename is None and exc.strerror else exc}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("spikeengine: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
