"""The ``spikeengine`` command line.

Exit codes: 0 success, 1 runtime error, 2 usage error, 3 invalid network or
parameter, 4 unreadable input, 5 backend unavailable, 130 interrupted.
"""

import argparse
import json
import os
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


def _log(args, *a):
    """Human-readable lines: stdout normally, stderr with --json (stdout is then the JSON only)."""
    print(*a, file=sys.stderr if getattr(args, "json", False) else sys.stdout)


def _nir_options(args):
    return {"dt": args.dt, "time_unit": args.time_unit, "input_semantics": args.input_semantics,
            "reset": args.reset, "layer_delay": args.layer_delay}


def _parse_inputs(net, specs):
    """``[POP=]FILE`` specs -> (population, path) pairs; POP defaults to the network's only stream source."""
    from .errors import ParameterError

    streams = [p for p in net.populations if p.source is not None and p.source[0] == "stream"]
    out = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or os.path.exists(spec):
            name, path = None, spec
        if name is None:
            if len(streams) != 1:
                names = ", ".join(repr(p.name) for p in streams) or "none"
                raise ParameterError(f"--input {spec}: the network has {len(streams)} stream-source populations "
                                     f"({names}); name one as POP=FILE")
            pop = streams[0]
        else:
            match = [p for p in streams if p.name == name]
            if not match:
                raise ParameterError(f"--input {spec}: no stream-source population named {name!r}")
            pop = match[0]
        out.append((pop, path))
    return out


def _cmd_run(args):
    import time

    import numpy as np

    from .errors import ParameterError
    from .files import load_network
    from .io import SensorMap, open_events

    if args.duration is not None and not (np.isfinite(args.duration) and args.duration > 0):
        raise ParameterError(f"--duration must be a finite number of ms > 0, got {args.duration!r}")
    if not args.input and args.duration is None:
        raise ParameterError("run: give --duration MS, or --input RECORDING (runs until the recording ends)")
    net = load_network(args.network, backend=args.backend, **_nir_options(args))
    if args.seed is not None:
        if args.seed < 0:
            raise ParameterError(f"--seed must be >= 0, got {args.seed}")
        net.seed = int(args.seed)
    inputs = _parse_inputs(net, args.input or [])
    for pop in net.populations:  # record every population that is not an input, unless the file chose
        if pop.source is None:
            pop._record_spikes = True
    samples = [inputs] if len({pop.name for pop, _ in inputs}) == len(inputs) else [[x] for x in inputs]
    results, reports = [], []
    t_all = time.perf_counter()
    for k, sample in enumerate(samples):
        if k:
            net.reset()
        wall = time.perf_counter()
        streamed = {}
        for pop, path in sample:
            reader = open_events(path, sensor_size=tuple(args.sensor_size) if args.sensor_size else None)
            size = reader.sensor_size
            if size is None:
                raise ParameterError(f"{path}: the recording does not state its sensor size; pass --sensor-size W H")
            pol = "split" if pop.size == 2 * size[0] * size[1] else "merge"
            mapping = SensorMap(size, polarity=pol)
            if mapping.size != pop.size:
                raise ParameterError(f"{path}: sensor {size[0]}x{size[1]} gives {2 * size[0] * size[1]} (ON/OFF) or "
                                     f"{size[0] * size[1]} inputs; population {pop.name!r} has {pop.size}")
            chunks = reader.chunks(window_us=args.window_us)
            if args.duration is not None:
                chunks = _until(chunks, args.duration)
            streamed[path] = net.run_stream(chunks, pop, mapping=mapping, tail=args.tail, origin="first",
                                            progress=not args.json and sys.stderr.isatty())
        if args.duration is not None and net.t < args.duration:
            net.run(args.duration - net.t, progress=not args.json and sys.stderr.isatty())
        wall = time.perf_counter() - wall
        counts = {p.name: int(p.spike_counts.sum()) for p in net.populations}
        res = {"sample": k, "inputs": [path for _, path in sample], "simulated_ms": net.t, "wall_s": wall,
               "spikes": counts}
        outs = [p for p in net.populations if p.source is None]
        if outs:
            last = outs[-1]
            res["output_population"] = last.name
            res["output_counts"] = last.spike_counts.tolist()
        results.append(res)
        if args.energy_report:
            reports.append(net.energy_report().to_dict())
        spk = {p.name: p.spikes for p in net.populations if p._record_spikes}
        res["_spikes"] = spk
        _log(args, f"sample {k}: {', '.join(path for _, path in sample) or '(no input)'}: {net.t:g} ms in "
                   f"{wall:.2f} s; spikes " + ", ".join(f"{n} {c}" for n, c in counts.items()))
    meta = {"network": args.network, "metadata": net.metadata, "backend": net.backend, "seed": net.seed}
    if args.out:
        _write_spikes(args.out, results, meta)
        _log(args, f"spikes written to {args.out}")
    if args.energy_report:
        from ._atomic import atomic_write_text

        body = reports[0] if len(reports) == 1 else {"samples": reports}
        body = dict(body, run=meta) if isinstance(body, dict) else body
        atomic_write_text(args.energy_report, json.dumps(body, indent=1, default=_jsonable) + "\n")
        _log(args, f"energy report written to {args.energy_report}")
    for r in results:
        r.pop("_spikes")
    if args.json:
        print(json.dumps({"run": meta, "samples": results, "wall_s": time.perf_counter() - t_all},
                         default=_jsonable))
    return 0


def _until(chunks, limit_ms):
    """The chunks' events less than ``limit_ms`` after the recording's first event."""
    t0 = None
    for c in chunks:
        if t0 is None:
            t0 = int(c.t[0])
        tm = c.t_ms(t0)
        if tm[0] >= limit_ms:
            return
        keep = tm < limit_ms
        yield c if keep.all() else c[keep]


def _jsonable(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _write_spikes(path, results, meta):
    """Recorded spikes: .npz (arrays per sample and population) or .csv (sample,population,neuron,time_ms)."""
    import numpy as np

    from ._atomic import atomic_write, atomic_write_text

    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        lines = [f"# spikeengine run of {meta['network']}; time in ms", "sample,population,neuron,time_ms"]
        for r in results:
            for name, (t, i) in r["_spikes"].items():
                lines += [f"{r['sample']},{name},{int(n)},{float(x)!r}" for x, n in zip(t, i)]
        atomic_write_text(path, "\n".join(lines) + "\n")
    elif ext == ".npz":
        arrays = {"metadata": np.array(json.dumps(meta, default=_jsonable))}
        for r in results:
            for name, (t, i) in r["_spikes"].items():
                arrays[f"sample{r['sample']}/{name}/times_ms"] = t
                arrays[f"sample{r['sample']}/{name}/ids"] = i

        def write(tmp):
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays)

        atomic_write(path, write)
    else:
        from .errors import ParameterError

        raise ParameterError(f"--out {path}: use a .npz or .csv file")


def _cmd_info(args):
    from .files import load_network, network_format, summarize

    if network_format(args.network) == "native":
        from .native import info

        d = info(args.network)
    else:
        d = summarize(load_network(args.network, **_nir_options(args)))
    if args.json:
        print(json.dumps(d, default=_jsonable))
        return 0
    print(f"{args.network}:")
    for p in d["populations"]:
        print(f"  population {p['name']:<20} {p['size']:>10} x {p['model']}")
    for p in d["projections"]:
        print(f"  projection {p['name']:<20} {p['pre']} -> {p['post']}: {p['synapses']} synapses")
    print(f"  {d['total_synapses']} synapses; memory estimate {d['memory_bytes'] / 1e6:.1f} MB")
    return 0


def _cmd_validate(args):
    from .files import load_network
    from .simulator import Simulator

    net = load_network(args.network, backend="python", **_nir_options(args))
    Simulator(net)  # compiles: indices, delays, parameters checked
    n = sum(len(p) for p in net.projections)
    if args.json:
        print(json.dumps({"network": args.network, "valid": True, "populations": len(net.populations),
                          "neurons": net.size, "synapses": n}))
    else:
        print(f"{args.network}: valid ({len(net.populations)} populations, {net.size} neurons, {n} synapses)")
    return 0


def _cmd_convert(args):
    from .files import load_network, save_network

    net = load_network(args.input, **_nir_options(args))
    save_network(net, args.output)
    _log(args, f"{args.input} -> {args.output}")
    if args.json:
        print(json.dumps({"input": args.input, "output": args.output, "populations": len(net.populations),
                          "synapses": sum(len(p) for p in net.projections)}))
    return 0


def _add_nir_options(p):
    g = p.add_argument_group("NIR import options (what NIR files do not state; recorded in every output)")
    g.add_argument("--dt", type=float, default=None, help="time step the graph was made for, in --time-unit")
    g.add_argument("--time-unit", default=None, help="unit of the graph's times (default s)")
    g.add_argument("--input-semantics", choices=("pulse", "kick"), default=None,
                   help="an input spike is a current pulse lasting dt, or an instantaneous kick")
    g.add_argument("--reset", choices=("value", "subtract"), default=None, help="reset mode of spiking nodes")
    g.add_argument("--layer-delay", type=float, default=None, help="delay between layers, ms")


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
                   help="comma-separated: brunel-{ai,low,nest}-{N}, cuba-{N}, brunel-ai-{N}-stdp (STDP on E->E) "
                   "(default: the small ones)")
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

    r = sub.add_parser("run", help="simulate a saved network (native .h5, .nir, networkx .graphml/.json)")
    r.add_argument("network")
    r.add_argument("--input", action="append", metavar="[POP=]RECORDING",
                   help="event recording fed into a stream-source population (repeat: one run per recording)")
    r.add_argument("--duration", type=float, default=None, help="simulated ms (default: until the input ends)")
    r.add_argument("--tail", type=float, default=10.0, help="ms simulated after the last input event (default 10)")
    r.add_argument("--window-us", type=float, default=10000.0, help="input chunk length, us (default 10 ms)")
    r.add_argument("--sensor-size", type=int, nargs=2, default=None, metavar=("W", "H"))
    r.add_argument("--out", metavar="SPIKES", help="recorded spikes: .npz or .csv (written atomically)")
    r.add_argument("--energy-report", metavar="FILE", help="energy report JSON")
    r.add_argument("--backend", choices=("cython", "numba", "python"), default=None)
    r.add_argument("--seed", type=int, default=None)
    r.add_argument("--json", action="store_true", help="JSON summary on stdout, logs on stderr")
    _add_nir_options(r)
    r.set_defaults(func=_cmd_run)

    i = sub.add_parser("info", help="populations, sizes, models, synapse counts and a memory estimate")
    i.add_argument("network")
    i.add_argument("--json", action="store_true")
    _add_nir_options(i)
    i.set_defaults(func=_cmd_info)

    v = sub.add_parser("validate", help="check that a network file loads and compiles")
    v.add_argument("network")
    v.add_argument("--json", action="store_true")
    _add_nir_options(v)
    v.set_defaults(func=_cmd_validate)

    cv = sub.add_parser("convert", help="convert between native, NIR and networkx files (by extension)")
    cv.add_argument("input")
    cv.add_argument("output")
    cv.add_argument("--json", action="store_true")
    _add_nir_options(cv)
    cv.set_defaults(func=_cmd_convert)

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
