"""Networks as networkx graphs: one node per neuron, one edge per synapse.

:func:`to_networkx` turns a :class:`~spikeengine.Network` into a
:class:`networkx.MultiDiGraph` for analysis and drawing; :func:`from_networkx` builds a
network from such a graph, or from a plain graph written by hand (a node attribute
``model`` with a class or NEST name, parameters as node attributes, ``weight`` and
``delay`` on every edge). The round trip ``from_networkx(to_networkx(net))`` simulates to
exactly the same spikes. See ``docs/files.md`` ("networkx").

Node attributes: ``population``, ``index`` (local), ``model`` (class name, or
``"spike_source"``, ``"poisson_source"``, ``"stream_source"``), every model parameter as a
scalar (``reset`` as a string), ``spike_times`` (list, spike sources), ``rate`` (Hz,
Poisson sources), ``poisson_inputs`` (list of ``(rate, weight, dt)``, ``dt`` 0 for a
continuous input) and ``record_spikes``. Edge attributes: ``weight``, ``delay`` (ms),
``projection`` and ``synapse`` (index in the projection). Graph attributes: ``seed``,
``metadata``, ``backend``, ``counters_enabled``, ``bin_width``, ``populations``
(order, models), ``projections`` (order, pre, post) and ``samplers``.

Examples
--------
>>> import networkx as nx
>>> import spikeengine as se
>>> from spikeengine.graph import from_networkx
>>> G = nx.DiGraph()
>>> G.add_node("in", model="spike_source", spike_times=[1.0])
>>> G.add_node("out", model="iaf_psc_delta", population="out", V_th=-69.0, record_spikes=True)
>>> G.add_edge("in", "out", weight=2.0, delay=0.5)
>>> net = from_networkx(G)
>>> net.run(5.0)
>>> net.populations[1].name, net.populations[1].spikes[0].tolist()
('out', [1.5])
"""

import numpy as np

from .errors import NetworkError, ParameterError
from .models import NEST_NAMES, NeuronModel

_SOURCES = ("spike_source", "poisson_source", "stream_source")
_SOURCE_NAME = {"array": "spike_source", "poisson": "poisson_source", "stream": "stream_source"}
_CLASSES = ("ALIF", "IF", "LIF", "LIFExp", "LeakyIntegrator", "Parrot")


def _model_class(name):
    """NeuronModel subclass for a class name (``"LIF"``), a NEST name or the class itself; None if unknown."""
    from . import models

    if isinstance(name, type) and issubclass(name, NeuronModel):
        return name
    if not isinstance(name, str):
        return None
    if name in NEST_NAMES:
        return NEST_NAMES[name]
    cls = getattr(models, name, None)
    if isinstance(cls, type) and issubclass(cls, NeuronModel) and not name.startswith("_"):
        return cls
    return None


def _model_name(pop):
    return _SOURCE_NAME[pop.source[0]] if pop.source is not None else type(pop.model).__name__


def to_networkx(net):
    """The network as a :class:`networkx.MultiDiGraph`: node ``i`` is global neuron ``i``, one edge per synapse.

    Parameters
    ----------
    net : Network

    Returns
    -------
    networkx.MultiDiGraph

    Examples
    --------
    >>> import spikeengine as se
    >>> from spikeengine.graph import to_networkx
    >>> net = se.Network(seed=2)
    >>> a = net.population(2, se.LIF(tau_m=[10.0, 20.0]), name="a")
    >>> _ = net.connect(a, a, "one_to_one", weight=1.5, delay=2.0, name="self")
    >>> G = to_networkx(net)
    >>> G.nodes[1]["population"], G.nodes[1]["tau_m"], G.number_of_edges()
    ('a', 20.0, 2)
    >>> G.edges[0, 0, 0]["delay"], G.edges[0, 0, 0]["projection"]
    (2.0, 'self')
    """
    from .clocked import refuse_clocked

    refuse_clocked(net, "a networkx graph")
    import networkx as nx

    G = nx.MultiDiGraph()
    G.graph.update(seed=net.seed, metadata=dict(net.metadata), backend=net.backend_name,
                   counters_enabled=net.counters_enabled, bin_width=net.bin_width,
                   populations=[{"name": p.name, "model": _model_name(p), "size": p.size} for p in net.populations],
                   projections=[{"name": p.name, "pre": p.pre.name, "post": p.post.name} for p in net.projections],
                   samplers=[{"population": p.name, "var": s["var"], "interval": s["interval"],
                              "times": None if s["times"] is None else s["times"].tolist(), "ids": s["ids"].tolist()}
                             for p in net.populations for s in p._samplers])
    for pop in net.populations:
        model = _model_name(pop)
        scalars, arrays = {}, {}
        if pop.source is None:
            for k, v in pop.model.params.items():
                if isinstance(v, str):
                    scalars[k] = v
                else:
                    a = np.asarray(v, dtype=np.float64)
                    if a.ndim == 0:
                        scalars[k] = float(a)
                    else:
                        arrays[k] = a
        elif pop.source[0] == "poisson":
            arrays["rate"] = np.asarray(pop.source[1], dtype=np.float64)
        inputs = [(np.asarray(r, np.float64), np.asarray(w, np.float64), float(s)) for r, w, s in pop.poisson_inputs]
        for i in range(pop.size):
            attrs = {"population": pop.name, "index": i, "model": model, **scalars}
            for k, a in arrays.items():
                attrs[k] = float(a[i])
            if pop.source is not None and pop.source[0] == "array":
                attrs["spike_times"] = pop.source[1][i].tolist()
            if inputs:
                attrs["poisson_inputs"] = [(float(r[i]), float(w[i]), s) for r, w, s in inputs]
            attrs["record_spikes"] = bool(pop._record_spikes)
            G.add_node(pop.first + i, **attrs)
    for proj in net.projections:
        s = np.asarray(proj.sources, dtype=np.int64) + proj.pre.first
        t = np.asarray(proj.targets, dtype=np.int64) + proj.post.first
        w = np.asarray(proj.weights, dtype=np.float64)
        d = np.asarray(proj.delays, dtype=np.float64)
        name = proj.name
        G.add_edges_from((u, v, {"weight": wk, "delay": dk, "projection": name, "synapse": k})
                         for k, (u, v, wk, dk) in enumerate(zip(s.tolist(), t.tolist(), w.tolist(), d.tolist())))
    return G


def _uniform(values):
    """A scalar when every value is equal (compact), else a float64 array."""
    a = np.asarray(values, dtype=np.float64)
    if a.size and np.array_equal(a, np.full_like(a, a[0]), equal_nan=True):
        return float(a[0])
    return a


def from_networkx(G, seed=None, backend=None):
    """Build a :class:`~spikeengine.Network` from a networkx graph (inverse of :func:`to_networkx`).

    Nodes are grouped into populations by their ``population`` attribute (default: the
    ``model`` name), in order of first appearance (nodes sorted when all ids are integers);
    within a population, by ``index`` when every node has one. A population's nodes must share
    the model; parameters may differ per node (missing ones take the model's default).
    Edges are grouped into projections by their ``projection`` attribute (default: one per
    (pre, post) population pair, named ``"pre->post"``), in the order of their ``synapse``
    attribute when every edge has one.

    Parameters
    ----------
    G : networkx.DiGraph or networkx.MultiDiGraph
    seed : int, optional
        Default: ``G.graph["seed"]``, else 0.
    backend : str, optional
        Default: ``G.graph["backend"]``, else the best available.

    Returns
    -------
    Network

    Raises
    ------
    ParameterError
        A node without ``model``, an unknown model, mixed models or ``reset`` values in a
        population, an edge without ``weight`` or ``delay``; the message names the node or edge.

    Examples
    --------
    >>> import networkx as nx
    >>> from spikeengine.graph import from_networkx
    >>> G = nx.DiGraph()
    >>> G.add_nodes_from([0, 1], model="iaf_psc_exp", tau_m=20.0, population="E")
    >>> G.add_edge(0, 1, weight=100.0, delay=1.0)
    >>> net = from_networkx(G, seed=4)
    >>> net.populations, net.projections
    ([<Population 'E': 2 x LIFExp>], [<Projection 'E->E': E -> E, 1 synapses>])
    """
    from .connectors import FromArrays
    from .network import Network

    gattr = G.graph
    net = Network(seed=gattr.get("seed", 0) if seed is None else seed,
                  backend=gattr.get("backend") if backend is None else backend,
                  counters=bool(gattr.get("counters_enabled", True)), bin_width=gattr.get("bin_width", 0.1))
    net.metadata = dict(gattr.get("metadata") or {})

    nodes = list(G.nodes)
    if all(isinstance(u, (int, np.integer)) and not isinstance(u, bool) for u in nodes):
        nodes.sort()
    groups = {}  # population name -> (model name, nodes)
    for entry in gattr.get("populations") or []:
        groups[entry["name"]] = (entry["model"], [])
    for u in nodes:
        data = G.nodes[u]
        model = data.get("model")
        if model is None:
            raise ParameterError(f"node {u!r} has no 'model' attribute (a class name such as 'LIF', a NEST name "
                                 "such as 'iaf_psc_delta', or spike_source / poisson_source / stream_source)")
        if model not in _SOURCES and _model_class(model) is None:
            known = ", ".join(sorted(set(NEST_NAMES) | set(_CLASSES) | set(_SOURCES)))
            raise ParameterError(f"node {u!r}: unknown model {model!r}; known: {known}")
        name = data.get("population", model if isinstance(model, str) else model.__name__)
        if name not in groups:
            groups[name] = (model, [])
        groups[name][1].append(u)

    where = {}  # node -> (population, local index)
    pops = {}
    for name, (model, members) in groups.items():
        label = f"population {name!r}"
        if members:
            model = G.nodes[members[0]]["model"]
        models = {_canonical(G.nodes[u]["model"]) for u in members}
        if len(models) > 1:
            raise ParameterError(f"{label}: its nodes have different models ({', '.join(sorted(models))}); "
                                 "give them different 'population' attributes")
        if all("index" in G.nodes[u] for u in members) and members:
            idx = [G.nodes[u]["index"] for u in members]
            if sorted(idx) != list(range(len(members))):
                raise ParameterError(f"{label}: node 'index' attributes must be 0..{len(members) - 1}, each once")
            members = [u for _, u in sorted(zip(idx, members), key=lambda p: p[0])]
        pops[name] = pop = _population(net, G, name, model, members, label)
        for i, u in enumerate(members):
            where[u] = (pop, i)

    for smp in gattr.get("samplers") or []:
        pops[smp["population"]].record(smp["var"], interval=smp["interval"], times=smp["times"], ids=smp["ids"])

    projs = {}
    for entry in gattr.get("projections") or []:
        if entry["pre"] in pops and entry["post"] in pops:
            projs[entry["name"]] = (pops[entry["pre"]], pops[entry["post"]], [])
    edges = G.edges(keys=True, data=True) if G.is_multigraph() else ((u, v, None, d) for u, v, d in G.edges(data=True))
    for u, v, key, data in edges:
        edge = f"edge {u!r} -> {v!r}" + (f" (key {key!r})" if key is not None else "")
        for attr in ("weight", "delay"):
            if attr not in data:
                raise ParameterError(f"{edge} has no {attr!r} attribute")
        (pre, i), (post, j) = where[u], where[v]
        name = data.get("projection", f"{pre.name}->{post.name}")
        if name not in projs:
            projs[name] = (pre, post, [])
        elif projs[name][0] is not pre or projs[name][1] is not post:
            raise ParameterError(f"{edge}: projection {name!r} connects {projs[name][0].name!r} -> "
                                 f"{projs[name][1].name!r}, but this edge goes {pre.name!r} -> {post.name!r}")
        projs[name][2].append((i, j, data["weight"], data["delay"], data.get("synapse")))

    for name, (pre, post, syn) in projs.items():
        if syn and all(isinstance(e[4], (int, np.integer)) for e in syn):
            syn.sort(key=lambda e: e[4])
        s = np.array([e[0] for e in syn], dtype=np.int64)
        t = np.array([e[1] for e in syn], dtype=np.int64)
        try:
            w = _uniform([e[2] for e in syn])
            d = _uniform([e[3] for e in syn])
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"projection {name!r}: weights and delays must be numbers ({exc})") from None
        net.connect(pre, post, FromArrays(s, t), weight=w, delay=d, name=name)
    return net


def _canonical(model):
    if model in _SOURCES:
        return model
    return _model_class(model).__name__


def _population(net, G, name, model, members, label):
    n = len(members)
    data = [G.nodes[u] for u in members]
    if model == "spike_source":
        pop = net.spike_source([d.get("spike_times", []) for d in data], name=name)
    elif model == "poisson_source":
        for u, d in zip(members, data):
            if "rate" not in d:
                raise ParameterError(f"node {u!r} ({label}, a poisson_source) has no 'rate' attribute")
        pop = net.poisson_source(n, np.array([d["rate"] for d in data], dtype=np.float64), name=name)
    elif model == "stream_source":
        pop = net.stream_source(n, name=name)
    else:
        cls = _model_class(model)
        params = {}
        for k, default in cls.defaults.items():
            if not any(k in d for d in data):
                continue
            if k == "reset":
                values = {d.get(k, default) for d in data}
                if len(values) > 1:
                    raise ParameterError(f"{label}: nodes have different 'reset' values {sorted(values)}")
                params[k] = values.pop()
            else:
                try:
                    params[k] = _uniform([d.get(k, default) for d in data])
                except (TypeError, ValueError):
                    raise ParameterError(f"{label}: parameter {k!r} must be a number on every node") from None
        pop = net.population(n, cls(**params), name=name)
    _poisson_inputs(pop, members, data, label)
    if any(d.get("record_spikes", False) for d in data):
        pop.record("spikes")
    return pop


def _poisson_inputs(pop, members, data, label):
    """Node lists of (rate, weight, dt) -> population inputs: one per (position, dt), zero rate elsewhere."""
    lists = [list(d.get("poisson_inputs") or []) for d in data]
    depth = max((len(x) for x in lists), default=0)
    for k in range(depth):
        by_dt = {}
        for i, x in enumerate(lists):
            if k < len(x):
                try:
                    rate, weight, step = x[k]
                except (TypeError, ValueError):
                    raise ParameterError(f"node {members[i]!r} ({label}): poisson_inputs must hold "
                                         "(rate, weight, dt) triples") from None
                step = 0.0 if step is None else float(step)
                by_dt.setdefault(step, (np.zeros(pop.size), np.zeros(pop.size)))
                by_dt[step][0][i] = rate
                by_dt[step][1][i] = weight
        for step, (rate, weight) in by_dt.items():
            try:
                pop.add_poisson_input(rate, weight, dt=None if step == 0.0 else step)
            except NetworkError as exc:
                raise ParameterError(str(exc)) from None


__all__ = ["from_networkx", "to_networkx"]
