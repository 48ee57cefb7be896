"""Load and save networks in any supported file format, chosen by extension or by name.

| format | extensions | module |
|---|---|---|
| native (HDF5) | .h5 .hdf5 .se | :mod:`spikeengine.native` |
| NIR | .nir | :mod:`spikeengine.nir_io` |
| networkx GraphML | .graphml | :mod:`spikeengine.graph` |
| networkx node-link JSON | .json | :mod:`spikeengine.graph` |

Every writer writes to a temporary file in the target folder and renames it, so an
interrupted save never leaves a half-written file.
"""

import json
import os

from ._atomic import atomic_write, atomic_write_text
from .errors import InputFormatError, NetworkError, ParameterError

FORMATS = {"native": (".h5", ".hdf5", ".se"), "nir": (".nir",), "graphml": (".graphml",), "json": (".json",)}

#: NIR import options (what NIR files do not state); see docs/nir.md
NIR_OPTIONS = ("dt", "time_unit", "input_semantics", "reset", "layer_delay")


def network_format(path, format=None):
    """The format name of ``path`` (``format`` overrides the extension)."""
    if format is not None:
        if format not in FORMATS:
            raise ParameterError(f"unknown network format {format!r}; known: {', '.join(FORMATS)}")
        return format
    ext = os.path.splitext(os.fspath(path))[1].lower()
    for name, exts in FORMATS.items():
        if ext in exts:
            return name
    known = ", ".join(e for exts in FORMATS.values() for e in exts)
    raise ParameterError(f"{path}: cannot tell the network format from the extension {ext!r} (known: {known}); "
                         "pass the format explicitly")


def load_network(path, format=None, backend=None, **nir_options):
    """Read a network file into a :class:`~spikeengine.Network` (not yet simulated).

    ``nir_options`` (dt, time_unit, input_semantics, reset, layer_delay) apply to NIR files
    and are recorded in ``net.metadata["nir_import"]``; they are refused for other formats.
    """
    path = os.fspath(path)
    fmt = network_format(path, format)
    if not os.path.exists(path):
        raise InputFormatError(f"{path}: no such file")
    opts = {k: v for k, v in nir_options.items() if v is not None}
    if opts and fmt != "nir":
        raise ParameterError(f"{path}: option(s) {sorted(opts)} only apply to NIR files")
    if fmt == "native":
        from .native import load

        return load(path, backend=backend)
    if fmt == "nir":
        from .nir_io import from_nir

        return from_nir(path, backend=backend, **opts)
    import networkx as nx

    from .graph import from_networkx

    try:
        if fmt == "graphml":
            g = nx.read_graphml(path, node_type=int)
            for attrs in [g.graph] + [d for _, d in g.nodes(data=True)] + [d for *_, d in g.edges(data=True)]:
                for k, v in attrs.items():  # lists and dicts were written as JSON text (GraphML holds scalars)
                    if isinstance(v, str) and v[:1] in ("[", "{"):
                        attrs[k] = json.loads(v)
        else:
            with open(path) as f:
                g = nx.node_link_graph(json.load(f), edges="edges")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputFormatError(f"{path}: not a readable networkx {fmt} file ({type(exc).__name__}: {exc})") from exc
    return from_networkx(g, backend=backend)


def save_network(net, path, format=None):
    """Write ``net`` to ``path`` in the format its extension (or ``format``) names."""
    fmt = network_format(path, format)
    from .clocked import Clocked

    for p in net.populations:
        if getattr(p.model, "clocked", False) and not (fmt == "native" and isinstance(p.model, Clocked)):
            raise NetworkError(f"{path}: the clocked population {p.name!r} ({p.model!r}) cannot be saved in this "
                               "format yet (the native .h5 format holds se.Clocked grid populations; e-prop blocks "
                               "are saved with spikeengine.eprop.save_checkpoint)")
    if fmt == "native":
        from .native import save

        return save(net, path)
    if fmt == "nir":
        from .nir_io import save_nir

        return save_nir(net, path)
    import networkx as nx

    from .graph import to_networkx

    g = to_networkx(net)
    if fmt == "graphml":
        for attrs in [g.graph] + [d for _, d in g.nodes(data=True)] + [d for *_, d in g.edges(data=True)]:
            for k, v in list(attrs.items()):  # GraphML holds scalars only: lists and dicts as JSON text
                if v is None:
                    del attrs[k]
                elif not isinstance(v, (bool, int, float, str)):
                    attrs[k] = json.dumps(v, default=float)
        atomic_write(path, lambda tmp: nx.write_graphml(g, tmp))
    else:
        text = json.dumps(nx.node_link_data(g, edges="edges"), default=float)
        atomic_write_text(path, text)


def summarize(net):
    """Populations, sizes, models, projections, synapse counts and a memory estimate (bytes): the keys of
    :func:`spikeengine.native.info`, for a network in memory."""
    pops = []
    for p in net.populations:
        kind = type(p.model).__name__ if p.model is not None else {"array": "spike_source", "poisson": "poisson_source",
                                                                   "stream": "stream_source"}[p.source[0]]
        pops.append({"name": p.name, "size": p.size, "model": kind})
    projs = [{"name": p.name, "pre": p.pre.name, "post": p.post.name, "synapses": len(p)} for p in net.projections]
    import numpy as np

    from .native import _n_groups, memory_estimate

    m = sum(p["synapses"] for p in projs)
    groups = sum(_n_groups(np.asarray(p.sources), p.delays, p.pre.size) for p in net.projections)
    return {"populations": pops, "projections": projs, "n_neurons": net.size, "total_synapses": m,
            "memory_bytes": int(memory_estimate(net.size, m, groups)), "metadata": dict(net.metadata)}
