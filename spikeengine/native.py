"""The native network file: one versioned, self-describing HDF5 file per :class:`~spikeengine.Network`.

:func:`save` writes everything needed to rebuild a network exactly (seed, backend
preference, energy-counter settings, metadata, populations with every parameter,
spike sources, Poisson inputs, recorders and projections with their synapse arrays);
:func:`load` rebuilds it, so that the loaded network simulates to exactly the same
spikes. :func:`info` summarises a file from its attributes and dataset shapes only
(it never reads the synapse arrays) and :func:`validate` lists every problem of a file.

Layout (``docs/files.md``, "Native format")::

    /                       attrs: format="spikeengine-network", version=1 (2 with clocked populations), writer,
                                   seed,
                                   [backend], counters_enabled, bin_width, n_neurons, n_synapses
    /metadata               scalar string: JSON of Network.metadata
    /populations            attr count
    /populations/<k>        attrs name, size, first, kind ("neuron" | "spike_source" |
                            "poisson_source" | "stream_source"), record_spikes,
                            [model, model_class, reset, clock_dt]  (kind "neuron"; clock_dt: version 2,
                            a se.Clocked population of the model, on a clock of clock_dt ms)
        params/<name>       float64, shape () (same for every neuron) or (size,)
        spike_times/times   float64 (all trains concatenated), spike_times/offsets int64 (size+1,)
        rates               float64 (size,)                               (kind "poisson_source")
        poisson_inputs/<j>  rate, weight float64 (size,); attr dt (0.0: continuous)
        samplers/<j>        attrs var, [interval]; ids int64, [times float64]
    /projections            attr count
    /projections/<k>        attrs name, pre, post (population indices), pre_name, post_name,
                            n_synapses, n_groups, [weight], [delay] (scalars: no dataset)
        sources, targets    int32 (int64 for populations of 2**31 neurons or more), local indices
        weights, delays     float64 (n_synapses,), absent when the attribute of that name is set
    /plasticity             reserved for plastic-rule state; never written by version 1, and a
                            non-empty one is refused by :func:`load`

Examples
--------
>>> import os, tempfile
>>> import spikeengine as se
>>> from spikeengine import native
>>> net = se.Network(seed=3)
>>> src = net.spike_source([[1.0, 2.0]], name="in")
>>> out = net.population(2, se.LIF(E_L=0.0, V_m=0.0, V_th=1.0, V_reset=0.0, C_m=1.0), name="out")
>>> _ = net.connect(src, out, weight=[0.6, 1.2], delay=1.5)
>>> out.record("spikes")
>>> path = os.path.join(tempfile.mkdtemp(), "net.h5")
>>> native.save(net, path)
>>> native.info(path)["total_synapses"]
2
>>> net2 = native.load(path)
>>> net2.run(5.0)
>>> net2.populations[1].spikes[0].tolist()
[2.5, 3.5]
"""

import json
import math
import os
import warnings
from contextlib import contextmanager

import h5py
import numpy as np

from ._atomic import atomic_write
from .errors import InputFormatError, NetworkError, ParameterError, SpikeEngineError
from .models import NeuronModel

FORMAT = "spikeengine-network"
#: version written by :func:`save`; files with a larger version are refused
FORMAT_VERSION = 2
#: what a file needs: 1 for event-driven networks, 2 when a population is clocked (attribute ``clock_dt``, which a
#: version-1 reader would ignore and so load the population as event-driven)
_PLAIN_VERSION = 1

_KINDS = ("neuron", "spike_source", "poisson_source", "stream_source")
_SOURCE_KIND = {"array": "spike_source", "poisson": "poisson_source", "stream": "stream_source"}
_BLOCK = 1 << 22  # elements converted per block when a projection's index dtype must change
_GROUP_BITMAP = 1 << 26  # cells of the (source, delay) bitmap that counts delay groups at save time
_BYTES_PER_SYNAPSE = 12  # int32 target + float64 weight
_BYTES_PER_GROUP = 20  # float64 delay, int64 pointer, int32 source
_BYTES_PER_NEURON = 8 * (24 + 8)  # one row of P (24 float64) and one of S (8 float64)


# ------------------------------------------------------------------ helpers
def _pop_label(name):
    return f"population {name!r}"


def _model_classes():
    """Every importable NeuronModel subclass, by qualified name and (for built-ins) by class name."""
    full, short = {}, {}
    stack = [NeuronModel]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            full[f"{sub.__module__}.{sub.__qualname__}"] = sub
            if sub.__module__ == "spikeengine.models" and not sub.__name__.startswith("_"):
                short[sub.__name__] = sub
            stack.append(sub)
    return full, short


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _is_broadcast(arr):
    """True for the read-only scalar views that ``connect`` keeps for scalar weights/delays."""
    return arr.ndim == 1 and arr.size > 0 and arr.strides == (0,)


def _index_dtype(size):
    return np.int32 if size <= np.iinfo(np.int32).max else np.int64


def _write_array(g, name, arr, dtype, compression):
    """Write ``arr`` as dataset ``name`` in one go, or block-wise when its dtype must change (no full copy)."""
    n = arr.shape[0]
    kw = {}
    if compression and n:
        kw = {"chunks": (min(n, 1 << 20),), "compression": compression}
    ds = g.create_dataset(name, shape=(n,), dtype=dtype, **kw)
    if n == 0:
        return ds
    if arr.dtype == dtype and arr.flags.c_contiguous:
        ds.write_direct(arr)
    else:
        for k in range(0, n, _BLOCK):
            ds[k:k + _BLOCK] = np.ascontiguousarray(arr[k:k + _BLOCK], dtype=dtype)
    return ds


def memory_estimate(n_neurons, n_synapses, n_groups):
    """Bytes the compiled network needs: synapses, (source, delay) groups and neuron rows."""
    return _BYTES_PER_SYNAPSE * n_synapses + _BYTES_PER_GROUP * n_groups + _BYTES_PER_NEURON * n_neurons


def _n_groups(sources, delays, pre_size):
    """Distinct (source, delay) pairs of one projection: the simulator's delay groups (for :func:`info`).

    O(n) and bounded extra memory: per-synapse delays are scanned block by block, and the pairs
    marked in a (source, distinct delay) bitmap of at most 64 MiB. With more distinct pairs
    possible than that, the count is exact only for small projections (a sort) and otherwise the
    upper bound ``min(n, sources * distinct delays)``.
    """
    m = sources.size
    if m == 0:
        return 0
    if _is_broadcast(delays):
        return int(np.count_nonzero(np.bincount(sources, minlength=pre_size)))
    values = np.empty(0)
    for k in range(0, m, _BLOCK):
        values = np.union1d(values, delays[k:k + _BLOCK])
        if values.size * pre_size > _GROUP_BITMAP:
            break
    if values.size * pre_size <= _GROUP_BITMAP:
        seen = np.zeros(values.size * pre_size, dtype=bool)
        for k in range(0, m, _BLOCK):
            key = sources[k:k + _BLOCK].astype(np.int64) * values.size
            key += np.searchsorted(values, delays[k:k + _BLOCK])
            seen[key] = True
        return int(np.count_nonzero(seen))
    if m <= _BLOCK:
        pairs = np.unique(np.stack([sources.astype(np.float64), delays]), axis=1)
        return int(pairs.shape[1])
    return int(min(m, pre_size * np.unique(delays).size))


# --------------------------------------------------------------------- save
def save(net, path, compression=None):
    """Write ``net`` to ``path`` (HDF5) atomically.

    The file is first written to a temporary file in the same folder and then renamed over
    ``path`` (:func:`os.replace`), so an interrupted save leaves neither a half-written file nor
    the temporary one. A network that has already run is saved with its structure and initial
    state (the clock, the state reached and the recordings are not stored).

    Parameters
    ----------
    net : Network
    path : str or os.PathLike
    compression : str, optional
        HDF5 filter for the synapse arrays (``"gzip"``, ``"lzf"``); default none (fastest).

    Raises
    ------
    ParameterError
        ``net.metadata`` is not JSON-serialisable.

    Examples
    --------
    >>> import os, tempfile
    >>> import spikeengine as se
    >>> from spikeengine import native
    >>> net = se.Network(seed=1)
    >>> _ = net.population(3, "iaf_psc_exp", name="E")
    >>> path = os.path.join(tempfile.mkdtemp(), "e.h5")
    >>> native.save(net, path)
    >>> [p["name"] for p in native.info(path)["populations"]]
    ['E']
    """
    from .clocked import refuse_clocked

    refuse_clocked(net, "the native format", grid_ok=True)
    path = os.fspath(path)
    try:
        meta = json.dumps(net.metadata, default=_json_default, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{path}: network metadata cannot be stored as JSON: {exc}") from None

    def write(tmp):
        with h5py.File(tmp, "w") as f:
            _write(net, f, path, meta, compression)

    atomic_write(path, write)


def _write(net, f, path, meta, compression):
    from . import __version__

    f.attrs["format"] = FORMAT
    clocked = any(getattr(p.model, "clocked", False) for p in net.populations)
    f.attrs["version"] = FORMAT_VERSION if clocked else _PLAIN_VERSION
    f.attrs["writer"] = f"spikeengine {__version__}"
    f.attrs["seed"] = net.seed if net.seed <= np.iinfo(np.int64).max else str(net.seed)
    if net.backend_name is not None:
        f.attrs["backend"] = str(net.backend_name)
    f.attrs["counters_enabled"] = bool(net.counters_enabled)
    f.attrs["bin_width"] = float(net.bin_width)
    f.attrs["n_neurons"] = int(net.size)
    f.attrs["n_synapses"] = int(sum(len(p) for p in net.projections))
    f.create_dataset("metadata", data=meta, dtype=h5py.string_dtype())

    pops = f.create_group("populations")
    pops.attrs["count"] = len(net.populations)
    index = {}
    for k, pop in enumerate(net.populations):
        index[id(pop)] = k
        g = pops.create_group(str(k))
        g.attrs["name"] = pop.name
        g.attrs["size"] = pop.size
        g.attrs["first"] = pop.first
        g.attrs["record_spikes"] = bool(pop._record_spikes)
        if pop.source is None:
            g.attrs["kind"] = "neuron"
            model = pop.model
            if getattr(model, "clocked", False):  # se.Clocked: the inner model, and its clock
                g.attrs["clock_dt"] = float(model.dt)
                model = model.model
            cls = type(model)
            g.attrs["model"] = cls.__name__
            g.attrs["model_class"] = f"{cls.__module__}.{cls.__qualname__}"
            pg = g.create_group("params")
            for name, value in model.params.items():
                if isinstance(value, str):
                    g.attrs[name] = value  # "reset"
                else:
                    pg.create_dataset(name, data=np.asarray(value, dtype=np.float64))
        else:
            g.attrs["kind"] = _SOURCE_KIND[pop.source[0]]
            if pop.source[0] == "array":
                trains = pop.source[1]
                sg = g.create_group("spike_times")
                offsets = np.zeros(len(trains) + 1, np.int64)
                np.cumsum([tr.size for tr in trains], out=offsets[1:])
                sg.create_dataset("times", data=np.concatenate(trains) if trains else np.empty(0))
                sg.create_dataset("offsets", data=offsets)
            elif pop.source[0] == "poisson":
                g.create_dataset("rates", data=np.asarray(pop.source[1], dtype=np.float64))
        ig = g.create_group("poisson_inputs")
        ig.attrs["count"] = len(pop.poisson_inputs)
        for j, (rate, weight, step) in enumerate(pop.poisson_inputs):
            d = ig.create_group(str(j))
            d.attrs["dt"] = float(step)
            d.create_dataset("rate", data=np.asarray(rate, dtype=np.float64))
            d.create_dataset("weight", data=np.asarray(weight, dtype=np.float64))
        sg = g.create_group("samplers")
        sg.attrs["count"] = len(pop._samplers)
        for j, smp in enumerate(pop._samplers):
            d = sg.create_group(str(j))
            d.attrs["var"] = smp["var"]
            if smp["interval"] is not None:
                d.attrs["interval"] = float(smp["interval"])
            if smp["times"] is not None:
                d.create_dataset("times", data=np.asarray(smp["times"], dtype=np.float64))
            d.create_dataset("ids", data=np.asarray(smp["ids"], dtype=np.int64))

    projs = f.create_group("projections")
    projs.attrs["count"] = len(net.projections)
    for k, p in enumerate(net.projections):
        g = projs.create_group(str(k))
        g.attrs["name"] = p.name
        g.attrs["pre"] = index[id(p.pre)]
        g.attrs["post"] = index[id(p.post)]
        g.attrs["pre_name"] = p.pre.name
        g.attrs["post_name"] = p.post.name
        g.attrs["n_synapses"] = len(p)
        g.attrs["n_groups"] = _n_groups(p.sources, p.delays, p.pre.size)
        _write_array(g, "sources", p.sources, _index_dtype(p.pre.size), compression)
        _write_array(g, "targets", p.targets, _index_dtype(p.post.size), compression)
        for attr, arr in (("weight", p.weights), ("delay", p.delays)):
            if _is_broadcast(arr):
                g.attrs[attr] = float(arr[0])
            else:
                _write_array(g, attr + "s", arr, np.float64, compression)


# ------------------------------------------------------------------ reading
class _Scan:
    """Checks a file's structure (attributes, groups, dataset shapes and dtypes; no data read).

    ``report(message)`` is called for every problem: it raises (load, info) or collects (validate).
    """

    def __init__(self, f, path, report):
        self.f = f
        self.path = path
        self.report = report
        self.pops = []
        self.projs = []

    def problem(self, where, msg):
        self.report(f"{self.path}: {where}: {msg}")

    def attr(self, obj, name, where, kinds=None):
        if name not in obj.attrs:
            self.problem(where, f"missing attribute {obj.name.rstrip('/') + '/'}@{name}")
            return None
        value = obj.attrs[name]
        if kinds is not None and not isinstance(value, kinds):
            self.problem(where, f"attribute {name!r} has type {type(value).__name__}")
            return None
        return value

    def group(self, parent, name, where):
        obj = parent.get(name)
        if not isinstance(obj, h5py.Group):
            full = f"{parent.name.rstrip('/')}/{name}"
            self.problem(where, f"missing group {full}" if obj is None else f"{full} is not a group")
            return None
        return obj

    def dataset(self, parent, name, where, shape=None, kind=None):
        """Dataset ``name`` of ``parent``; ``shape`` a tuple (None: any 1-d), ``kind`` a dtype kind string."""
        full = f"{parent.name.rstrip('/')}/{name}"
        obj = parent.get(name)
        if not isinstance(obj, h5py.Dataset):
            self.problem(where, f"missing dataset {full}" if obj is None else f"{full} is not a dataset")
            return None
        if shape is None and obj.ndim != 1:
            self.problem(where, f"dataset {full} has shape {obj.shape}; expected one dimension")
            return None
        if shape is not None and obj.shape not in (shape if isinstance(shape, list) else [shape]):
            self.problem(where, f"dataset {full} has shape {obj.shape}; expected {shape}")
            return None
        if kind is not None and obj.dtype.kind not in kind:
            want = "integers" if kind == "iu" else "numbers"
            self.problem(where, f"dataset {full} has dtype {obj.dtype}; expected {want}")
            return None
        return obj

    def counted(self, group, where):
        """Subgroups ``0 .. count-1`` of a group with a ``count`` attribute."""
        count = self.attr(group, "count", where, (int, np.integer))
        if count is None:
            return []
        out = []
        for k in range(int(count)):
            sub = self.group(group, str(k), where)
            if sub is not None:
                out.append(sub)
        return out

    # ---------------------------------------------------------------- whole file
    def header(self):
        f = self.f
        fmt = f.attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode("utf-8", "replace")
        if fmt != FORMAT:
            what = "has no 'format' attribute" if fmt is None else f"has format {fmt!r}"
            raise InputFormatError(f"{self.path}: not a spikeengine network file (the root group {what}; "
                                   f"expected {FORMAT!r})")
        version = f.attrs.get("version")
        if not isinstance(version, (int, np.integer)):
            raise InputFormatError(f"{self.path}: missing or invalid attribute /@version")
        if version > FORMAT_VERSION:
            raise InputFormatError(f"{self.path}: written by a newer spikeengine: format version {int(version)} > "
                                   f"{FORMAT_VERSION}; upgrade spikeengine to read it")
        if version < 1:
            raise InputFormatError(f"{self.path}: unsupported format version {int(version)}")
        return int(version)

    def scan(self):
        f = self.f
        self.version = self.header()
        self.seed = self.attr(f, "seed", "root", (int, np.integer, str))
        self.backend = f.attrs.get("backend")
        self.counters = self.attr(f, "counters_enabled", "root", (bool, np.bool_))
        self.bin_width = self.attr(f, "bin_width", "root", (float, np.floating))
        self.metadata = self.dataset(f, "metadata", "root", shape=())
        if "plasticity" in f:
            pl = f["plasticity"]
            if not isinstance(pl, h5py.Group) or len(pl) or len(pl.attrs):
                self.problem("/plasticity", "the file holds plastic-rule state, which this spikeengine version "
                                            "cannot restore; upgrade spikeengine to load it")
        pops = self.group(f, "populations", "root")
        first = 0
        for g in self.counted(pops, "/populations") if pops is not None else []:
            spec = self.population(g, first)
            if spec is None:  # reported; a placeholder keeps the projections' population indices checkable
                name = g.attrs.get("name")
                spec = {"name": name if isinstance(name, str) else "?", "size": 0, "kind": None, "model": None}
            first += spec["size"]
            self.pops.append(spec)
        projs = self.group(f, "projections", "root")
        for g in self.counted(projs, "/projections") if projs is not None else []:
            spec = self.projection(g)
            if spec is not None:
                self.projs.append(spec)
        return self

    def population(self, g, first):
        where = f"{g.name}"
        name = self.attr(g, "name", where, str)
        if name is None:
            return None
        where = f"{g.name} ({_pop_label(name)})"
        size = self.attr(g, "size", where, (int, np.integer))
        kind = self.attr(g, "kind", where, str)
        rec = self.attr(g, "record_spikes", where, (bool, np.bool_))
        if size is None or kind is None or rec is None:
            return None
        size = int(size)
        if size < 0:
            self.problem(where, f"negative size {size}")
            return None
        if kind not in _KINDS:
            self.problem(where, f"unknown kind {kind!r}; known: {', '.join(_KINDS)}")
            return None
        spec = {"group": g, "name": name, "size": size, "kind": kind, "where": where, "first": first,
                "record_spikes": bool(rec), "model": kind}
        if kind == "neuron":
            model = self.attr(g, "model", where, str)
            cls_name = g.attrs.get("model_class", "")
            full, short = _model_classes()
            cls = full.get(cls_name) or short.get(model)
            if model is not None and cls is None:
                self.problem(where, f"unknown neuron model {model!r} ({cls_name or 'no model_class'}); "
                                    f"known: {', '.join(sorted(short))}")
            spec["model"] = model
            spec["cls"] = cls
            params = self.group(g, "params", where)
            if params is not None:
                spec["params"] = {}
                for pname in params:
                    ok = self.dataset(params, pname, where, shape=[(), (size,)], kind="fiu")
                    if ok is not None:
                        spec["params"][pname] = ok
            spec["reset"] = g.attrs.get("reset")
            clock = g.attrs.get("clock_dt")
            if clock is not None and not (isinstance(clock, (float, np.floating)) and math.isfinite(clock)
                                          and clock > 0):
                self.problem(where, f"attribute clock_dt is {clock!r}; expected a number of ms > 0")
                clock = None
            spec["clock_dt"] = None if clock is None else float(clock)
            if clock is not None:
                spec["model"] = f"Clocked({model}, dt={float(clock)})"
        elif kind == "spike_source":
            sg = self.group(g, "spike_times", where)
            if sg is not None:
                spec["times"] = self.dataset(sg, "times", where, kind="f")
                spec["offsets"] = self.dataset(sg, "offsets", where, shape=(size + 1,), kind="iu")
        elif kind == "poisson_source":
            spec["rates"] = self.dataset(g, "rates", where, shape=(size,), kind="fiu")
        spec["inputs"] = []
        ig = self.group(g, "poisson_inputs", where)
        for d in self.counted(ig, where) if ig is not None else []:
            dt_ = self.attr(d, "dt", where, (float, np.floating, int, np.integer))
            rate = self.dataset(d, "rate", where, shape=(size,), kind="fiu")
            weight = self.dataset(d, "weight", where, shape=(size,), kind="fiu")
            spec["inputs"].append((rate, weight, dt_))
        spec["samplers"] = []
        sg = self.group(g, "samplers", where)
        for d in self.counted(sg, where) if sg is not None else []:
            var = self.attr(d, "var", where, str)
            interval = d.attrs.get("interval")
            times = self.dataset(d, "times", where, kind="fiu") if "times" in d else None
            ids = self.dataset(d, "ids", where, kind="iu")
            spec["samplers"].append((var, interval, times, ids))
        return spec

    def projection(self, g):
        where = f"{g.name}"
        name = self.attr(g, "name", where, str)
        if name is None:
            return None
        where = f"{g.name} (projection {name!r})"
        pre = self.attr(g, "pre", where, (int, np.integer))
        post = self.attr(g, "post", where, (int, np.integer))
        m = self.attr(g, "n_synapses", where, (int, np.integer))
        if pre is None or post is None or m is None:
            return None
        pre, post, m = int(pre), int(post), int(m)
        for role, k in (("pre", pre), ("post", post)):
            if not 0 <= k < len(self.pops):
                self.problem(where, f"{role} population index {k} is out of range [0, {len(self.pops)})")
                return None
        spec = {"group": g, "name": name, "pre": pre, "post": post, "n_synapses": m, "where": where,
                "n_groups": int(g.attrs.get("n_groups", m))}
        for role in ("pre", "post"):
            stored = g.attrs.get(f"{role}_name")
            if stored is not None and stored != self.pops[spec[role]]["name"]:
                self.problem(where, f"{role}_name {stored!r} does not match population {spec[role]} "
                                    f"({self.pops[spec[role]]['name']!r})")
        spec["sources"] = self.dataset(g, "sources", where, shape=(m,), kind="iu")
        spec["targets"] = self.dataset(g, "targets", where, shape=(m,), kind="iu")
        for attr in ("weight", "delay"):
            if attr in g.attrs:
                value = g.attrs[attr]
                if not isinstance(value, (float, np.floating, int, np.integer)):
                    self.problem(where, f"attribute {attr!r} has type {type(value).__name__}")
                spec[attr] = float(value)
            else:
                spec[attr] = self.dataset(g, attr + "s", where, shape=(m,), kind="fiu")
        return spec


def _raise(msg):
    raise InputFormatError(msg)


@contextmanager
def _opened(path):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputFormatError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputFormatError(f"{path}: not a readable HDF5 file (truncated or corrupt?): {exc}") from None
    try:
        yield f
    finally:
        f.close()


@contextmanager
def _context(path, where):
    """Re-raise errors of the Network API (and of HDF5 reads) with the file and group at fault."""
    try:
        yield
    except InputFormatError:
        raise
    except ParameterError as exc:
        raise ParameterError(f"{path}: {where}: {exc}") from exc
    except NetworkError as exc:  # the file is readable but describes an invalid network (exit code 3)
        raise NetworkError(f"{path}: {where}: {exc}") from exc
    except (SpikeEngineError, OSError, ValueError, TypeError, KeyError) as exc:
        raise InputFormatError(f"{path}: {where}: {exc}") from exc


def _read(ds, dtype=None):
    """Whole dataset into a preallocated array (``read_direct``: no intermediate copy)."""
    out = np.empty(ds.shape, dtype=dtype or ds.dtype)
    if out.size:
        ds.read_direct(out)
    return out


def _model_params(spec):
    params = {}
    for pname, ds in spec["params"].items():
        arr = _read(ds, np.float64)
        params[pname] = float(arr) if arr.ndim == 0 else arr
    if spec["reset"] is not None:
        params["reset"] = spec["reset"]
    return params


def load(path, backend=None):
    """Rebuild the :class:`~spikeengine.Network` saved in ``path``.

    Parameters
    ----------
    path : str or os.PathLike
    backend : str, optional
        Kernel backend for the loaded network; default: the preference saved with it (or the
        best available when that backend cannot be loaded here, with a warning).

    Returns
    -------
    Network
        Unsimulated, with the saved seed, structure, parameters, inputs and recorders.

    Raises
    ------
    InputFormatError
        Not a spikeengine network file, a newer format version, missing or malformed
        groups/datasets, or state this version cannot restore; the message names the file
        and the group or dataset at fault.
    ParameterError
        A stored parameter is out of range (the message names the file, group and population).

    Examples
    --------
    >>> import os, tempfile
    >>> import spikeengine as se
    >>> from spikeengine import native
    >>> net = se.Network(seed=5)
    >>> _ = net.poisson_source(4, rate=50.0, name="noise")
    >>> path = os.path.join(tempfile.mkdtemp(), "n.h5")
    >>> native.save(net, path)
    >>> native.load(path).populations
    [<Population 'noise': 4 x poisson>]
    """
    from ._backend import ORDER, _load
    from .connectors import FromArrays
    from .network import Network

    path = os.fspath(path)
    with _opened(path) as f:
        scan = _Scan(f, path, _raise).scan()
        with _context(path, "/metadata"):
            metadata = json.loads(scan.metadata[()].decode("utf-8") if isinstance(scan.metadata[()], bytes)
                                  else scan.metadata[()])
        if backend is None and scan.backend is not None:
            backend = str(scan.backend)
            if backend in ORDER and _load(backend) is None:
                warnings.warn(f"{path}: the saved backend preference {backend!r} is not available here; "
                              "using the best available", RuntimeWarning, stacklevel=2)
                backend = None
        with _context(path, "root"):
            net = Network(seed=int(scan.seed), backend=backend, counters=bool(scan.counters),
                          bin_width=float(scan.bin_width))
        net.metadata = metadata
        pops = []
        for spec in scan.pops:
            with _context(path, spec["where"]):
                pops.append(_build_population(net, spec))
        for spec in scan.projs:
            with _context(path, spec["where"]):
                s = _read(spec["sources"])
                t = _read(spec["targets"])
                w = spec["weight"] if isinstance(spec["weight"], float) else _read(spec["weight"], np.float64)
                d = spec["delay"] if isinstance(spec["delay"], float) else _read(spec["delay"], np.float64)
                net.connect(pops[spec["pre"]], pops[spec["post"]], FromArrays(s, t), weight=w, delay=d,
                            name=spec["name"])
    return net


def _build_population(net, spec):
    name, size, kind = spec["name"], spec["size"], spec["kind"]
    if kind == "neuron":
        if spec["cls"] is None:
            raise InputFormatError(f"unknown neuron model {spec['model']!r}")
        model = spec["cls"](**_model_params(spec))
        if spec.get("clock_dt") is not None:
            from .clocked import Clocked

            model = Clocked(model, dt=spec["clock_dt"])
        pop = net.population(size, model, name=name)
    elif kind == "spike_source":
        times = _read(spec["times"], np.float64)
        off = _read(spec["offsets"], np.int64)
        if off[0] != 0 or off[-1] != times.size or (np.diff(off) < 0).any():
            raise InputFormatError(f"spike_times/offsets must rise from 0 to {times.size}")
        pop = net.spike_source([times[a:b] for a, b in zip(off[:-1], off[1:])], name=name)
    elif kind == "poisson_source":
        pop = net.poisson_source(size, _read(spec["rates"], np.float64), name=name)
    else:
        pop = net.stream_source(size, name=name)
    for rate, weight, step in spec["inputs"]:
        pop.add_poisson_input(_read(rate, np.float64), _read(weight, np.float64),
                              dt=None if float(step) == 0.0 else float(step))
    if spec["record_spikes"]:
        pop.record("spikes")
    for var, interval, times, ids in spec["samplers"]:
        pop.record(var, interval=None if interval is None else float(interval),
                   times=None if times is None else _read(times, np.float64), ids=_read(ids, np.int64))
    if pop.first != spec["first"]:  # pragma: no cover - populations are rebuilt in order
        raise NetworkError(f"first index {pop.first} != {spec['first']}")
    return pop


def info(path):
    """Summary of a network file from its attributes and dataset shapes (synapse arrays are not read).

    Returns
    -------
    dict
        ``format``, ``version``, ``file``, ``seed``, ``backend``, ``counters_enabled``,
        ``bin_width``, ``populations`` (name, size, model), ``projections`` (name, pre, post,
        synapses), ``n_neurons``, ``total_synapses`` and ``memory_bytes``: an estimate of the
        memory needed to simulate it (12 B per synapse, 20 B per (source, delay) group,
        256 B per neuron).

    Examples
    --------
    >>> import os, tempfile
    >>> import spikeengine as se
    >>> from spikeengine import native
    >>> net = se.Network()
    >>> a = net.population(10, se.LIF(), name="a")
    >>> _ = net.connect(a, a, "all_to_all", weight=0.1, delay=1.0)
    >>> path = os.path.join(tempfile.mkdtemp(), "a.h5")
    >>> native.save(net, path)
    >>> d = native.info(path)
    >>> d["projections"][0]["synapses"], d["memory_bytes"]
    (100, 3960)
    """
    path = os.fspath(path)
    with _opened(path) as f:
        scan = _Scan(f, path, _raise).scan()
        n = sum(p["size"] for p in scan.pops)
        m = sum(p["n_synapses"] for p in scan.projs)
        groups = sum(p["n_groups"] for p in scan.projs)
        return {
            "format": FORMAT, "version": scan.version, "file": path, "seed": int(scan.seed),
            "backend": None if scan.backend is None else str(scan.backend),
            "counters_enabled": bool(scan.counters), "bin_width": float(scan.bin_width),
            "populations": [{"name": p["name"], "size": p["size"], "model": p["model"]} for p in scan.pops],
            "projections": [{"name": p["name"], "pre": scan.pops[p["pre"]]["name"],
                             "post": scan.pops[p["post"]]["name"], "synapses": p["n_synapses"]}
                            for p in scan.projs],
            "n_neurons": n, "total_synapses": m,
            "memory_bytes": memory_estimate(n, m, groups),
        }


def validate(path, block=1 << 22):
    """Every problem found in a network file, as a list of messages (empty: the file loads).

    Checks the header, the presence, shapes and dtypes of every group and dataset, then
    the values: model parameters, spike trains, rates, Poisson inputs, recorders, and
    synapse indices, weights and delays (read ``block`` synapses at a time).

    Examples
    --------
    >>> import os, tempfile
    >>> from spikeengine import native
    >>> path = os.path.join(tempfile.mkdtemp(), "junk.h5")
    >>> with open(path, "wb") as fh:
    ...     _ = fh.write(b"not hdf5")
    >>> native.validate(path)  # doctest: +ELLIPSIS
    ['...junk.h5: not a readable HDF5 file...']
    """
    path = os.fspath(path)
    problems = []
    try:
        with _opened(path) as f:
            scan = _Scan(f, path, problems.append).scan()
            if scan.metadata is not None:
                try:
                    raw = scan.metadata[()]
                    json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
                except (ValueError, TypeError, OSError) as exc:
                    problems.append(f"{path}: /metadata: not valid JSON ({exc})")
            if problems:
                return problems
            _validate_values(scan, path, problems, block)
    except InputFormatError as exc:
        problems.append(str(exc))
    return problems


def _validate_values(scan, path, problems, block):
    from .network import Network

    scratch = Network()
    for spec in scan.pops:
        try:
            with _context(path, spec["where"]):
                _build_population(scratch, dict(spec, first=scratch.size))
        except SpikeEngineError as exc:
            problems.append(str(exc))
    for spec in scan.projs:
        where = spec["where"]
        sizes = {"sources": scan.pops[spec["pre"]]["size"], "targets": scan.pops[spec["post"]]["size"]}
        if scan.pops[spec["post"]]["kind"] != "neuron":
            problems.append(f"{path}: {where}: the target population {scan.pops[spec['post']]['name']!r} is a "
                            "spike source and cannot receive input")
        try:
            for what in ("sources", "targets", "weight", "delay"):
                ds = spec[what]
                if isinstance(ds, float):
                    vals = [np.array([ds])]
                else:
                    vals = (ds[k:k + block] for k in range(0, spec["n_synapses"], block))
                for k, v in enumerate(vals):
                    if what in sizes:
                        bad = np.flatnonzero((v < 0) | (v >= sizes[what]))
                        need = f"in [0, {sizes[what]})"
                    elif what == "weight":
                        bad = np.flatnonzero(~np.isfinite(v))
                        need = "finite"
                    else:
                        bad = np.flatnonzero(~(np.isfinite(v) & (v > 0)))
                        need = "finite and > 0 ms"
                    if bad.size:
                        i = k * block + int(bad[0])
                        problems.append(f"{path}: {where}: {what} of synapse {i} is {v[bad[0]].item()!r}; "
                                        f"must be {need}")
                        break
        except OSError as exc:
            problems.append(f"{path}: {where}: unreadable synapse data ({exc})")


__all__ = ["FORMAT", "FORMAT_VERSION", "info", "load", "save", "validate"]
