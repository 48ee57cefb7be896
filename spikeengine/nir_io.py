"""Import and export of NIR graphs (Neuromorphic Intermediate Representation, ``pip install nir``).

:func:`from_nir` maps a :class:`nir.NIRGraph` (or a ``.nir`` file) onto a :class:`~spikeengine.Network`:
neuron nodes become populations, the weight nodes between them (Affine, Linear, Scale, Conv1d,
Conv2d, SumPool2d, AvgPool2d, Flatten, Delay) are composed into sparse projections, biases become
constant currents ``I_e``, Input nodes become stream sources and Output nodes mark the recorded
populations. Everything a NIR file does not state (time unit, dt, what an input spike is, reset
mode, layer delay) is an explicit option and is recorded in ``net.metadata["nir_import"]``.

:func:`to_nir` and :func:`save_nir` go the other way. The semantics are documented in ``docs/nir.md``.

Conventions (time in the file's unit, ``dt`` the step of the discrete platforms):

* An input spike of step ``k`` is fed at ``t = k * dt`` and reaches its targets at the end of the
  step, ``(k + 1) * dt`` (projections from Input nodes have delay ``dt``); recurrent projections
  (edges closing a cycle) also have delay ``dt`` (they carry ``z[k - 1]`` into step ``k``); other
  projections between neuron populations have delay ``layer_delay`` (default ``dt``: one step of
  latency per layer; the discrete platforms update all layers in the same step, so a population
  at feed-forward depth ``L`` lags by ``L`` steps, exactly, when recurrences are within one layer).
  A spike at ``t`` belongs to step ``round((t - latency) / dt) - 1`` with the population's
  accumulated layer delays ``latency`` (:func:`spike_steps`).
* ``input_semantics="pulse"``: a spike of weight ``w`` is a current ``w`` lasting one ``dt``; for a
  leaky neuron its effect at the end of the pulse is the jump ``r w (1 - exp(-dt / tau))``.
  ``"kick"``: a Dirac current of integral ``w dt``, the jump ``r w dt / tau`` (the Euler
  discretisation of snnTorch/Norse). IF and I nodes have no time constant: a spike adds ``r w``
  (Sinabs: ``v[t] = v[t - 1] + x[t]``) in both semantics.
"""

import math
import os

import numpy as np

from ._atomic import atomic_write
from .connectors import FromArrays
from .errors import InputFormatError, NetworkError, ParameterError

#: milliseconds per unit of the time_unit option
TIME_UNITS = {"s": 1000.0, "ms": 1.0, "us": 1e-3}
NEURON_TYPES = ("LIF", "CubaLIF", "IF", "LI", "CubaLI", "I", "Threshold")
OP_TYPES = ("Affine", "Linear", "Scale", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten", "Delay")
SUPPORTED = NEURON_TYPES + OP_TYPES + ("Input", "Output", "NIRGraph")
#: projections above this many dense entries are refused by :func:`to_nir` (NIR has no sparse Linear)
MAX_DENSE = 10**7
_I_THRESHOLD = float(np.finfo(np.float64).max)  # an IF that never fires: the NIR integrator I


def _nir():
    try:
        import nir
    except ImportError as e:  # pragma: no cover
        raise ImportError("NIR import/export needs the 'nir' package: pip install nir") from e
    return nir


def _type(node):
    return type(node).__name__


class _Pass:
    """Identity node: the Input/Output of a nested subgraph once it is spliced in."""

    def __init__(self, shape):
        self.shape = shape


def _shape_of(types):
    """First entry of a NIR input_type/output_type dict as a tuple, or None when unknown."""
    if not isinstance(types, dict) or not types:
        return None
    v = next(iter(types.values()))
    if v is None:
        return None
    v = np.ravel(np.asarray(v))
    if v.size == 0 or not np.issubdtype(v.dtype, np.number):
        return None
    return tuple(int(x) for x in v)


def _flatten_graph(g, prefix=""):
    """Nodes and edges of ``g`` with nested NIRGraphs spliced in (names ``sub.node``)."""
    nir = _nir()
    nodes, edges, subs = {}, [], {}
    for name, node in g.nodes.items():
        full = prefix + str(name)
        if isinstance(node, nir.NIRGraph):
            n2, e2 = _flatten_graph(node, full + ".")
            ins = [k for k, v in node.nodes.items() if _type(v) == "Input"]
            outs = [k for k, v in node.nodes.items() if _type(v) == "Output"]
            for k in ins:
                n2[f"{full}.{k}"] = _Pass(_shape_of(node.nodes[k].input_type))
            for k in outs:
                n2[f"{full}.{k}"] = _Pass(_shape_of(node.nodes[k].output_type))
            subs[full] = (ins, outs)
            nodes.update(n2)
            edges.extend(e2)
        else:
            nodes[full] = node
    for a, b in g.edges:
        a, b = prefix + str(a), prefix + str(b)
        for role, key, idx in (("source", a, 1), ("target", b, 0)):
            if key in subs:
                ends = subs[key][idx]
                if len(ends) != 1:
                    what = "Output" if idx else "Input"
                    raise InputFormatError(f"NIR edge {a!r} -> {b!r}: the {role} subgraph {key!r} has {len(ends)} "
                                           f"{what} nodes; name one of them ({key}.<name>) in the edge")
                if role == "source":
                    a = f"{key}.{ends[0]}"
                else:
                    b = f"{key}.{ends[0]}"
        edges.append((a, b))
    return nodes, edges


# ------------------------------------------------------------------------------------------- parameters
def _param(name, node, attr, n=None, default=None):
    v = getattr(node, attr, None)
    if v is None:
        if default is None:
            raise InputFormatError(f"NIR node {name!r} ({_type(node)}): parameter {attr!r} is missing")
        v = default
    a = np.asarray(v, dtype=np.float64)
    if n is not None:
        a = a.ravel()
        if a.size == 1 and n != 1:
            a = np.full(n, float(a[0]))
        if a.size != n:
            raise NetworkError(f"NIR node {name!r} ({_type(node)}): parameter {attr!r} has {a.size} values, "
                               f"expected {n}")
    if not np.all(np.isfinite(a)):
        raise ParameterError(f"NIR node {name!r} ({_type(node)}): parameter {attr!r} has non-finite values")
    return a


def _neuron_shape(name, node):
    key = {"LIF": "tau", "LI": "tau", "CubaLIF": "tau_mem", "CubaLI": "tau_mem", "IF": "r", "I": "r",
           "Threshold": "threshold"}[_type(node)]
    v = getattr(node, key, None)
    if v is None:
        raise InputFormatError(f"NIR node {name!r} ({_type(node)}): parameter {key!r} is missing")
    return tuple(int(s) for s in np.shape(v)) or (1,)


def _pair(v, name, node, attr):
    a = np.ravel(np.asarray(v, dtype=np.int64)) if not isinstance(v, str) else v
    if isinstance(a, str):
        return a
    if a.size == 1:
        return (int(a[0]), int(a[0]))
    if a.size != 2:
        raise ParameterError(f"NIR node {name!r} ({_type(node)}): parameter {attr!r} = {v!r} is not 1 or 2 integers")
    return (int(a[0]), int(a[1]))


# ------------------------------------------------------------------------------------------- operators
def _op_in_shape(name, node, pred_shape):
    """Input shape an operator node expects (None: takes its predecessor's)."""
    t = _type(node)
    decl = _shape_of(getattr(node, "input_type", None))
    if t in ("Linear", "Affine"):
        w = np.asarray(node.weight)
        if w.ndim != 2:
            raise ParameterError(f"NIR node {name!r} ({t}): weight must be 2-D (out, in), got shape {w.shape}")
        return (int(w.shape[1]),)
    if t == "Scale":
        return tuple(np.shape(node.scale)) or (1,)
    if t == "Delay":
        return tuple(np.shape(node.delay)) or (1,)
    if t in ("Conv1d", "Conv2d"):
        w = np.asarray(node.weight)
        nd = 1 if t == "Conv1d" else 2
        if w.ndim != nd + 2:
            raise ParameterError(f"NIR node {name!r} ({t}): weight must be {nd + 2}-D, got shape {w.shape}")
        cin = int(w.shape[1]) * int(node.groups)
        ish = node.input_shape
        if ish is None:
            base = decl or pred_shape
            if base is None:
                raise InputFormatError(f"NIR node {name!r} ({t}): input_shape is not stated and cannot be inferred")
            return (cin,) + tuple(base[1:])
        sp = tuple(int(x) for x in np.ravel(np.asarray(ish)))
        return (cin,) + sp
    if isinstance(node, _Pass):
        return node.shape or pred_shape
    return decl or pred_shape


def _conv_out(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _op_matrix(name, node, in_shape):
    """(out_shape, scipy.sparse csr (n_out, n_in), bias vector or None, delays per output or None)."""
    import scipy.sparse as sp

    t = _type(node)
    n_in = int(np.prod(in_shape))
    if t in ("Linear", "Affine"):
        w = np.asarray(node.weight, dtype=np.float64)
        m = sp.csr_matrix(w)
        m.eliminate_zeros()
        b = None
        if t == "Affine":
            b = _param(name, node, "bias", w.shape[0])
        return (w.shape[0],), m, b, None
    if t == "Scale":
        s = _param(name, node, "scale", n_in)
        return in_shape, sp.diags(s).tocsr(), None, None
    if t == "Delay":
        d = _param(name, node, "delay", n_in)
        if (d < 0).any():
            raise ParameterError(f"NIR node {name!r} (Delay): parameter 'delay' must be >= 0")
        return in_shape, sp.identity(n_in, format="csr"), None, d
    if t in ("Flatten",) or isinstance(node, _Pass):
        out = _shape_of(getattr(node, "output_type", None)) if t == "Flatten" else None
        out = out or (in_shape if isinstance(node, _Pass) else (n_in,))
        if int(np.prod(out)) != n_in:
            raise NetworkError(f"NIR node {name!r} ({t}): output shape {out} does not hold the input shape {in_shape}")
        return out, sp.identity(n_in, format="csr"), None, None
    if t in ("Conv1d", "Conv2d"):
        return _conv(name, node, in_shape)
    if t in ("SumPool2d", "AvgPool2d"):
        return _pool(name, node, in_shape)
    raise InputFormatError(f"NIR node {name!r}: unsupported node type {t}")  # pragma: no cover


def _conv(name, node, in_shape):
    import scipy.sparse as sp

    t = _type(node)
    w = np.asarray(node.weight, dtype=np.float64)
    g = int(node.groups)
    if t == "Conv1d":  # treat as a 2-D convolution of height 1
        w = w[:, :, None, :]
        in_shape = (in_shape[0], 1, in_shape[1]) if len(in_shape) == 2 else None
        stride = (1, int(np.ravel(node.stride)[0]))
        dil = (1, int(np.ravel(node.dilation)[0]))
        pad = node.padding if isinstance(node.padding, str) else (0, int(np.ravel(node.padding)[0]))
    else:
        stride = _pair(node.stride, name, node, "stride")
        dil = _pair(node.dilation, name, node, "dilation")
        pad = _pair(node.padding, name, node, "padding")
    if in_shape is None or len(in_shape) != 3:
        raise NetworkError(f"NIR node {name!r} ({t}): cannot use input shape {in_shape}")
    cout, cin_g, kh, kw = w.shape
    cin, H, W = in_shape
    if cout % g or cin != cin_g * g:
        raise NetworkError(f"NIR node {name!r} ({t}): weight shape {tuple(w.shape)} with groups={g} does not fit "
                           f"{cin} input channels")
    if isinstance(pad, str):
        if pad == "valid":
            pad = (0, 0)
        elif pad == "same":
            if stride != (1, 1):
                raise ParameterError(f"NIR node {name!r} ({t}): padding='same' needs stride 1, got {stride}")
            pad = None  # asymmetric, handled below
        else:
            raise ParameterError(f"NIR node {name!r} ({t}): unsupported padding {pad!r} (int, tuple, 'same', 'valid')")
    if pad is None:  # PyTorch 'same': total d (k - 1), the extra element at the end
        pt = (dil[0] * (kh - 1) // 2, dil[1] * (kw - 1) // 2)
        Ho, Wo = H, W
    else:
        pt = pad
        Ho = _conv_out(H, kh, stride[0], pad[0], dil[0])
        Wo = _conv_out(W, kw, stride[1], pad[1], dil[1])
    if Ho < 1 or Wo < 1:
        raise NetworkError(f"NIR node {name!r} ({t}): input {in_shape} gives an empty output")
    rows, cols, vals = [], [], []
    cpg = cout // g
    co = np.arange(cout)[:, None, None, None]
    oy = np.arange(Ho)[None, None, :, None]
    ox = np.arange(Wo)[None, None, None, :]
    for ci_l in range(cin_g):
        ci = (co // cpg) * cin_g + ci_l  # input channel seen by each output channel
        for ky in range(kh):
            iy = oy * stride[0] - pt[0] + ky * dil[0]
            for kx in range(kw):
                ix = ox * stride[1] - pt[1] + kx * dil[1]
                wv = w[:, ci_l, ky, kx][:, None, None, None]
                ok = (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W) & (wv != 0)
                if not ok.any():
                    continue
                ok = np.broadcast_to(ok, (cout, 1, Ho, Wo))
                r = np.broadcast_to((co * Ho + oy) * Wo + ox, ok.shape)[ok]
                c = np.broadcast_to((ci * H + iy) * W + ix, ok.shape)[ok]
                rows.append(r)
                cols.append(c)
                vals.append(np.broadcast_to(wv, ok.shape)[ok])
    n_out = cout * Ho * Wo
    if rows:
        m = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(n_out, cin * H * W))
    else:
        m = sp.csr_matrix((n_out, cin * H * W))
    bias = getattr(node, "bias", None)
    b = None
    if bias is not None and np.size(bias):
        bb = np.asarray(bias, dtype=np.float64).ravel()
        if bb.size == 1:
            bb = np.full(cout, bb[0])
        if bb.size != cout:
            raise NetworkError(f"NIR node {name!r} ({t}): bias has {bb.size} values for {cout} output channels")
        b = np.repeat(bb, Ho * Wo)
    out = (cout, Wo) if t == "Conv1d" else (cout, Ho, Wo)
    return out, m, b, None


def _pool(name, node, in_shape):
    import scipy.sparse as sp

    t = _type(node)
    if len(in_shape) != 3:
        raise NetworkError(f"NIR node {name!r} ({t}): needs a (C, H, W) input, got shape {in_shape}")
    k = _pair(node.kernel_size, name, node, "kernel_size")
    s = _pair(node.stride if node.stride is not None else node.kernel_size, name, node, "stride")
    p = _pair(node.padding if node.padding is not None else 0, name, node, "padding")
    C, H, W = in_shape
    Ho, Wo = _conv_out(H, k[0], s[0], p[0], 1), _conv_out(W, k[1], s[1], p[1], 1)
    if Ho < 1 or Wo < 1:
        raise NetworkError(f"NIR node {name!r} ({t}): input {in_shape} gives an empty output")
    val = 1.0 if t == "SumPool2d" else 1.0 / (k[0] * k[1])  # AvgPool: count_include_pad=True (PyTorch default)
    c = np.arange(C)[:, None, None]
    oy = np.arange(Ho)[None, :, None]
    ox = np.arange(Wo)[None, None, :]
    rows, cols = [], []
    for ky in range(k[0]):
        iy = oy * s[0] - p[0] + ky
        for kx in range(k[1]):
            ix = ox * s[1] - p[1] + kx
            ok = np.broadcast_to((iy >= 0) & (iy < H) & (ix >= 0) & (ix < W), (C, Ho, Wo))
            rows.append(np.broadcast_to((c * Ho + oy) * Wo + ox, ok.shape)[ok])
            cols.append(np.broadcast_to((c * H + iy) * W + ix, ok.shape)[ok])
    r, cc = np.concatenate(rows), np.concatenate(cols)
    m = sp.csr_matrix((np.full(r.size, val), (r, cc)), shape=(C * Ho * Wo, C * H * W))
    return (C, Ho, Wo), m, None, None


# ------------------------------------------------------------------------------------------- graph analysis
def _recurrent_pairs(order, succ_pops):
    """(pre, post) population pairs that close a cycle (DFS back edges from the first populations)."""
    state, back = {}, set()
    for root in order:
        if root in state:
            continue
        stack = [(root, iter(succ_pops.get(root, ())))]
        state[root] = 1
        while stack:
            u, it = stack[-1]
            v = next(it, None)
            if v is None:
                state[u] = 2
                stack.pop()
                continue
            if state.get(v) == 1:
                back.add((u, v))
            elif v not in state:
                state[v] = 1
                stack.append((v, iter(succ_pops.get(v, ()))))
    return back


def _resolve_options(dt, time_unit, input_semantics, layer_delay):
    if time_unit not in TIME_UNITS:
        raise ParameterError(f"from_nir: time_unit must be one of {sorted(TIME_UNITS)}, got {time_unit!r}")
    if input_semantics not in ("pulse", "kick"):
        raise ParameterError(f"from_nir: input_semantics must be 'pulse' or 'kick', got {input_semantics!r}")
    if dt is None:
        raise ParameterError("from_nir: NIR files do not state the time step; pass dt (in time_unit, e.g. dt=1e-4 "
                             "for 0.1 ms with time_unit='s')")
    if not (isinstance(dt, (int, float, np.floating, np.integer)) and math.isfinite(dt) and dt > 0):
        raise ParameterError(f"from_nir: dt must be a finite number > 0, got {dt!r}")
    u = TIME_UNITS[time_unit]
    dt_ms = float(dt) * u
    if layer_delay is None:
        ld_ms = dt_ms
        layer_delay = float(dt)
    else:
        if not (isinstance(layer_delay, (int, float, np.floating, np.integer)) and math.isfinite(layer_delay)
                and layer_delay > 0):
            raise ParameterError(f"from_nir: layer_delay must be a finite number > 0 (in time_unit), "
                                 f"got {layer_delay!r}")
        ld_ms = float(layer_delay) * u
    return u, dt_ms, float(layer_delay), ld_ms


# ------------------------------------------------------------------------------------------- import
def from_nir(graph_or_path, dt=None, time_unit="s", input_semantics="pulse", reset=None, layer_delay=None,
             backend=None, seed=None):
    """Build a :class:`~spikeengine.Network` from a NIR graph.

    Parameters
    ----------
    graph_or_path : nir.NIRGraph, str or path
        A graph, or a ``.nir`` file (read with ``nir.read``).
    dt : float
        Step of the discrete-time platforms the graph was made for, in ``time_unit`` (required:
        NIR files do not state it). Input spikes of step ``k`` are fed at ``k * dt``.
    time_unit : {"s", "ms", "us"}
        Unit of the graph's time constants and delays (NIR graphs: seconds).
    input_semantics : {"pulse", "kick"}
        A spike of weight ``w`` is a current ``w`` lasting one ``dt`` (jump ``r w (1 - exp(-dt/tau))``
        at its end) or a Dirac current of integral ``w dt`` (jump ``r w dt / tau``). IF and I nodes
        add ``r w`` in both.
    reset : {None, "value", "subtract"} or dict
        Reset of the spiking nodes: to ``v_reset`` or by subtraction of the threshold. None: a node's
        ``metadata["reset"]`` if it states one, else "subtract" for IF (Sinabs) and "value" for LIF
        and CubaLIF (the NIR equations). A dict maps node names to modes (others as None).
    layer_delay : float, optional
        Delay of the projections between neuron populations that do not close a cycle, in
        ``time_unit``; default ``dt`` (one step per layer; a tiny value such as ``1e-4 * dt`` mimics the
        same-step update of the discrete platforms in absolute time, at the cost of many more
        engine windows). Projections from Input nodes and recurrent
        ones have delay ``dt``; Delay nodes add their delays.
    backend : str, optional
        Kernel backend of the network.
    seed : int, optional
        Network seed.

    Returns
    -------
    Network
        With ``net.metadata["nir_import"]``: every option, the NIR version, the source, the
        populations of the NIR nodes, the input and output populations, approximations made.

    Examples
    --------
    >>> import numpy as np, nir
    >>> g = nir.NIRGraph.from_list(nir.Linear(weight=np.array([[2.0]])),
    ...                            nir.IF(r=np.array([1.0]), v_threshold=np.array([3.0])))
    >>> net = from_nir(g, dt=1e-3)
    >>> net.metadata["nir_import"]["input_semantics"], net.metadata["nir_import"]["reset"]
    ('pulse', {'IF': 'subtract'})
    """
    nir = _nir()
    from .models import IF, LIF, LeakyIntegrator, LIFExp
    from .network import Network

    source = None
    file_version = None
    if isinstance(graph_or_path, (str, os.PathLike)):
        source = os.fspath(graph_or_path)
        if not os.path.exists(source):
            raise InputFormatError(f"{source}: no such NIR file")
        try:
            graph = nir.read(source, type_check=False)
        except Exception as e:
            raise InputFormatError(f"{source}: cannot read as a NIR graph ({type(e).__name__}: {e})") from e
        try:
            import h5py

            with h5py.File(source, "r") as f:
                v = f.attrs.get("version")
                file_version = v.decode() if isinstance(v, bytes) else (None if v is None else str(v))
        except Exception:  # pragma: no cover - the version attribute is optional
            file_version = None
    elif isinstance(graph_or_path, nir.NIRGraph):
        graph = graph_or_path
    else:
        raise InputFormatError(f"from_nir: expected a nir.NIRGraph or a path, got {type(graph_or_path).__name__}")
    u, dt_ms, layer_delay, ld_ms = _resolve_options(dt, time_unit, input_semantics, layer_delay)
    if reset is not None and not isinstance(reset, dict) and reset not in ("value", "subtract"):
        raise ParameterError(f"from_nir: reset must be None, 'value', 'subtract' or a dict, got {reset!r}")

    nodes, edges = _flatten_graph(graph)
    for name, node in nodes.items():
        if not isinstance(node, _Pass) and _type(node) not in SUPPORTED:
            raise InputFormatError(f"NIR node {name!r}: unsupported node type {_type(node)} "
                                   f"(supported: {', '.join(SUPPORTED)})")
    for a, b in edges:
        for x in (a, b):
            if x not in nodes:
                raise InputFormatError(f"NIR edge {a!r} -> {b!r}: no node named {x!r}")
    succ = {k: [] for k in nodes}
    pred = {k: [] for k in nodes}
    for a, b in edges:
        succ[a].append(b)
        pred[b].append(a)

    def kind(n):
        node = nodes[n]
        if isinstance(node, _Pass):
            return "op"
        t = _type(node)
        return "neuron" if t in NEURON_TYPES else ("input" if t == "Input" else ("output" if t == "Output" else "op"))

    # ---- shapes: neurons and inputs from their parameters, operators propagated
    in_shape, out_shape, ops = {}, {}, {}
    for n, node in nodes.items():
        k = kind(n)
        if k == "neuron":
            in_shape[n] = out_shape[n] = _neuron_shape(n, node)
        elif k == "input":
            s = _shape_of(node.input_type) or _shape_of(getattr(node, "output_type", None))
            if s is None:
                raise InputFormatError(f"NIR node {n!r} (Input): input_type is not stated")
            in_shape[n] = out_shape[n] = s
        elif k == "output":
            in_shape[n] = _shape_of(node.output_type) or _shape_of(getattr(node, "input_type", None))
    pending = [n for n in nodes if kind(n) == "op"]
    for _ in range(len(pending) + 1):
        left = []
        for n in pending:
            ps = [out_shape.get(p) for p in pred[n]]
            known = [s for s in ps if s is not None]
            if pred[n] and not known:
                left.append(n)
                continue
            s_in = _op_in_shape(n, nodes[n], known[0] if known else None)
            if s_in is None:
                raise InputFormatError(f"NIR node {n!r} ({_type(nodes[n])}): cannot infer its input shape")
            in_shape[n] = s_in
            ops[n] = _op_matrix(n, nodes[n], s_in)
            out_shape[n] = tuple(ops[n][0])
        if not left or len(left) == len(pending):
            pending = left
            break
        pending = left
    for n in pending:  # operators only reachable from unresolved cycles
        raise InputFormatError(f"NIR node {n!r} ({_type(nodes[n])}): cannot infer its input shape (a cycle without "
                               "a neuron node?)")
    for a, b in edges:
        sa, sb = out_shape.get(a), in_shape.get(b)
        if sa is not None and sb is not None and tuple(sa) != tuple(sb):
            ta = _type(nodes[a]) if not isinstance(nodes[a], _Pass) else "subgraph port"
            tb = _type(nodes[b]) if not isinstance(nodes[b], _Pass) else "subgraph port"
            raise NetworkError(f"NIR edge {a!r} -> {b!r}: shape mismatch: {a!r} ({ta}) outputs {tuple(sa)}, "
                               f"{b!r} ({tb}) expects {tuple(sb)}")

    # ---- compose weight nodes between populations
    import scipy.sparse as sp

    bfs = []
    seen2 = set()
    queue = [n for n in nodes if kind(n) == "input"]
    while queue:
        n = queue.pop(0)
        if n in seen2:
            continue
        seen2.add(n)
        bfs.append(n)
        queue.extend(succ[n])
    bfs += [n for n in nodes if n not in seen2]
    order = [n for n in bfs if kind(n) in ("input", "neuron")]

    links = {}  # (src, tgt) -> {extra delay ms: sparse (n_tgt, n_src)}
    outputs = []

    def walk(src, n, mats, path, pure=True):
        for m in succ[n]:
            k = kind(m)
            if k == "neuron":
                d = links.setdefault((src, m), {})
                for de, M in mats.items():
                    d[de] = d[de] + M if de in d else M
            elif k == "output":
                if not pure:
                    raise ParameterError(f"NIR node {m!r} (Output) is fed by the weight node {n!r}: the engine "
                                         "records spikes, end the graph with a neuron node (e.g. LI or IF)")
                if src not in outputs:
                    outputs.append(src)
            elif k == "input":
                raise InputFormatError(f"NIR edge {n!r} -> {m!r}: an Input node cannot receive edges")
            else:
                if m in path:
                    raise InputFormatError(f"NIR graph: the cycle through {m!r} contains no neuron node")
                _, A, _, dly = ops[m]
                new = {}
                for de, M in mats.items():
                    AM = (A @ M).tocsr()
                    if dly is None:
                        new[de] = new[de] + AM if de in new else AM
                    else:
                        for dv in np.unique(dly):
                            keep = sp.diags((dly == dv).astype(np.float64))
                            key = de + float(dv) * u
                            part = (keep @ AM).tocsr()
                            new[key] = new[key] + part if key in new else part
                walk(src, m, new, path | {m}, pure and isinstance(nodes[m], _Pass))

    for src in order:
        n_src = int(np.prod(out_shape[src]))
        walk(src, src, {0.0: sp.identity(n_src, format="csr")}, frozenset())

    biases = {}

    def walk_bias(n, vec, path):
        for m in succ[n]:
            k = kind(m)
            if k == "neuron":
                biases[m] = biases.get(m, 0.0) + vec
            elif k == "op" and m not in path:
                walk_bias(m, ops[m][1] @ vec, path | {m})

    for n in nodes:
        if kind(n) == "op" and ops[n][2] is not None and np.any(ops[n][2] != 0):
            walk_bias(n, ops[n][2], frozenset({n}))

    # ---- populations
    succ_pops = {}
    for s, t in links:
        succ_pops.setdefault(s, []).append(t)
    recurrent = _recurrent_pairs(order, succ_pops)
    net = Network(seed=seed, backend=backend)
    pops, scale, approx, resets = {}, {}, [], {}

    def reset_of(n, t):
        if isinstance(reset, dict):
            if n in reset:
                mode = reset[n]
            else:
                mode = None
        else:
            mode = reset
        if mode is None:
            md = getattr(nodes[n], "metadata", None) or {}
            mode = md.get("reset")
            if isinstance(mode, bytes):
                mode = mode.decode()
            if mode is None:
                mode = "subtract" if t == "IF" else "value"
        if mode not in ("value", "subtract"):
            raise ParameterError(f"NIR node {n!r} ({t}): reset must be 'value' or 'subtract', got {mode!r}")
        return mode

    for n in order:
        node = nodes[n]
        size = int(np.prod(out_shape[n]))
        if kind(n) == "input":
            pops[n] = net.stream_source(size, name=n)
            continue
        t = _type(node)
        b = np.asarray(biases.get(n, 0.0), dtype=np.float64) * np.ones(size)
        if t in ("LIF", "LI"):
            tau = _param(n, node, "tau", size) * u
            r = _param(n, node, "r", size)
            vl = _param(n, node, "v_leak", size)
            if (tau <= 0).any():
                raise ParameterError(f"NIR node {n!r} ({t}): parameter 'tau' must be > 0")
            f = -np.expm1(-dt_ms / tau) if input_semantics == "pulse" else dt_ms / tau
            scale[n] = r * f
            common = dict(E_L=vl, V_m=vl, C_m=1.0, tau_m=tau, I_e=r * b / tau)
            if t == "LI":
                model = LeakyIntegrator(**common)
            else:
                vt = _param(n, node, "v_threshold", size)
                vr = _param(n, node, "v_reset", size, default=np.zeros(size))
                resets[n] = reset_of(n, t)
                common["V_m"] = np.where(vl >= vt, vr, vl)  # rest above threshold: just after the step-0 spike
                model = LIF(t_ref=0.0, V_th=vt, V_reset=vr, reset=resets[n], **common)
        elif t in ("CubaLIF", "CubaLI"):
            tm = _param(n, node, "tau_mem", size) * u
            ts = _param(n, node, "tau_syn", size) * u
            r = _param(n, node, "r", size)
            vl = _param(n, node, "v_leak", size)
            w_in = _param(n, node, "w_in", size, default=np.ones(size))
            if (tm <= 0).any() or (ts <= 0).any():
                raise ParameterError(f"NIR node {n!r} ({t}): parameters 'tau_mem' and 'tau_syn' must be > 0")
            if input_semantics == "pulse":
                g = -np.expm1(-dt_ms / ts)
                approx.append(f"{n} ({t}): a pulse through the synaptic filter is applied as the current it leaves at "
                              "the end of the pulse (exact for the current afterwards; V misses the in-pulse part, "
                              "O(dt^2 / (tau_syn tau_mem)))")
            else:
                g = dt_ms / ts
            scale[n] = r / tm * w_in * g  # pA jump with C_m = 1 pF: tau_m dV/dt = ... + tau_m I / C_m
            if np.any(b != 0):
                approx.append(f"{n} ({t}): bias applied as a settled constant current (no synaptic rise at t=0)")
            common = dict(E_L=vl, V_m=vl, C_m=1.0, tau_m=tm, tau_syn_ex=ts, tau_syn_in=ts, t_ref=0.0,
                          I_e=r * w_in * b / tm)
            if t == "CubaLI":
                model = LIFExp(V_th=math.inf, V_reset=0.0, **common)
            else:
                vt = _param(n, node, "v_threshold", size)
                vr = _param(n, node, "v_reset", size, default=np.zeros(size))
                resets[n] = reset_of(n, t)
                common["V_m"] = np.where(vl >= vt, vr, vl)
                model = LIFExp(V_th=vt, V_reset=vr, reset=resets[n], **common)
        elif t in ("IF", "I"):
            r = _param(n, node, "r", size)
            scale[n] = r
            common = dict(C_m=1.0, V_m=0.0, I_e=r * b / dt_ms, t_ref=0.0)
            if t == "I":
                model = IF(V_th=_I_THRESHOLD, V_reset=0.0, **common)
            else:
                vt = _param(n, node, "v_threshold", size)
                vr = _param(n, node, "v_reset", size, default=np.zeros(size))
                resets[n] = reset_of(n, t)
                model = IF(V_th=vt, V_reset=vr, reset=resets[n], **common)
            if np.any(b != 0):
                approx.append(f"{n} ({t}): bias r*b per step applied as the constant slope r*b/dt; the neuron may "
                              "fire between steps")
        elif t == "Threshold":
            th = _param(n, node, "threshold", size)
            if np.any(b >= th):
                raise ParameterError(f"NIR node {n!r} (Threshold): a bias >= threshold fires at every step; "
                                     "not supported")
            scale[n] = np.ones(size)
            model = LIF(E_L=b, V_m=b, V_reset=b, V_th=th, C_m=1.0, tau_m=dt_ms * 1e-3, t_ref=0.0)
            approx.append(f"{n} (Threshold): a LIF with tau_m = dt/1000 (inputs at least 0.75 dt apart are "
                          "independent; simultaneous inputs are summed)")
        else:  # pragma: no cover
            raise InputFormatError(f"NIR node {n!r}: unsupported node type {t}")
        pops[n] = net.population(size, model, name=n)

    # ---- projections
    for (s, t), mats in links.items():
        if s not in pops or t not in pops:
            continue
        base = dt_ms if (kind(s) == "input" or (s, t) in recurrent) else ld_ms
        S, T, W, D = [], [], [], []
        for de, M in sorted(mats.items()):
            C = M.tocoo()
            keep = C.data != 0
            S.append(C.col[keep].astype(np.int64))
            T.append(C.row[keep].astype(np.int64))
            W.append(C.data[keep] * scale[t][C.row[keep]])
            D.append(np.full(int(keep.sum()), base + de))
        src_i, tgt_i = np.concatenate(S), np.concatenate(T)
        d = np.concatenate(D)
        net.connect(pops[s], pops[t], FromArrays(src_i, tgt_i), weight=np.concatenate(W),
                    delay=d if np.unique(d).size > 1 else (float(d[0]) if d.size else base), name=f"{s}->{t}")

    for n in outputs:
        p = pops[n]
        if p.is_source or p.model.spiking and _type(nodes[n]) not in ("LI", "CubaLI", "I"):
            p.record("spikes")
        else:
            p.record("V_m", interval=dt_ms)

    latency = {n: 0.0 for n in order if kind(n) == "input"}
    for _ in range(len(order)):  # longest feed-forward path of layer (and Delay-node) delays
        changed = False
        for (s_, t_), mats in links.items():
            if (s_, t_) in recurrent or s_ not in latency:
                continue
            hop = (0.0 if kind(s_) == "input" else ld_ms) + max(mats)
            if latency.get(t_, -1.0) < latency[s_] + hop:
                latency[t_] = latency[s_] + hop
                changed = True
        if not changed:
            break
    types_reset = {}
    for n, mode in resets.items():
        types_reset.setdefault(_type(nodes[n]), set()).add(mode)
    net.metadata["nir_import"] = {
        "source": source,
        "nir_version": nir.__version__,
        "nir_file_version": file_version,
        "time_unit": time_unit,
        "dt": float(dt),
        "dt_ms": dt_ms,
        "input_semantics": input_semantics,
        "reset": {k: (v.pop() if len(v) == 1 else sorted(v)) for k, v in types_reset.items()},
        "reset_by_node": resets,
        "layer_delay": layer_delay,
        "layer_delay_ms": ld_ms,
        "input_delay_ms": dt_ms,
        "recurrent_delay_ms": dt_ms,
        "threshold_test": "V >= v_threshold (NIR writes >; equality has measure zero for float inputs)",
        "initial_state": "v_leak (LIF, LI, CubaLIF, CubaLI; v_reset where v_leak >= v_threshold: no spike at t = 0), "
                         "0 (IF, I), synaptic currents 0",
        "spike_step": "a spike at t ms of population p belongs to step round((t - latency_ms[p]) / dt_ms) - 1",
        "latency_ms": {n: latency.get(n, 0.0) for n in order},
        "populations": {n: pops[n].name for n in order},
        "inputs": [n for n in order if kind(n) == "input"],
        "outputs": list(outputs),
        "recurrent_projections": sorted(f"{a}->{b}" for a, b in recurrent),
        "approximations": approx,
    }
    return net


def spike_steps(times, net_or_dt_ms, pop=None):
    """Discrete step of each spike time (ms): ``round((t - latency) / dt) - 1``.

    A step's threshold test is at its end, and ``latency`` is the population's accumulated layer
    delays (``metadata["nir_import"]["latency_ms"]``; 0 when ``dt`` is given as a number).

    Parameters
    ----------
    times : array
        Spike times, ms.
    net_or_dt_ms : Network or float
        A network from :func:`from_nir`, or the step in ms.
    pop : Population or str, optional
        The population (or NIR node name) the spikes come from, for its latency.

    Examples
    --------
    >>> spike_steps([46.1, 51.1], 0.1).tolist()
    [460, 510]
    """
    lat = 0.0
    if isinstance(net_or_dt_ms, (int, float, np.floating)):
        dt_ms = float(net_or_dt_ms)
    else:
        md = net_or_dt_ms.metadata["nir_import"]
        dt_ms = md["dt_ms"]
        if pop is not None:
            name = pop if isinstance(pop, str) else pop.name
            lat = md["latency_ms"].get(name, 0.0)
    return np.rint((np.asarray(times, dtype=np.float64) - lat) / dt_ms).astype(np.int64) - 1


# ------------------------------------------------------------------------------------------- export
def _sanitize(name):
    return str(name).replace("/", "_")


def to_nir(net, dt=None, time_unit=None, input_semantics=None, layer_delay=None, max_dense=MAX_DENSE):
    """Export ``net`` as a :class:`nir.NIRGraph` that :func:`from_nir` imports back to the same spikes.

    Parameters
    ----------
    net : Network
        LIF, LIFExp (-> CubaLIF), IF, LeakyIntegrator (-> LI) populations, stream or array
        spike sources (-> Input; their spikes are not part of the graph).
    dt, time_unit, input_semantics, layer_delay
        The import options the graph is written for (the weights are divided by the jump one
        unit of weight gives under them, the delays by the base delays); default: the options of
        ``net.metadata["nir_import"]`` if the network came from NIR, else time_unit="s",
        input_semantics="pulse" and layer_delay=None (dt is then required).
    max_dense : int
        Largest dense weight matrix written (NIR has no sparse Linear).

    Returns
    -------
    nir.NIRGraph
        One node per population (its name), one Linear/Affine node per projection and delay group
        (``w<i>``), Delay nodes for delays above the base delays, Output nodes (``<pop>.out``) for
        populations that record spikes. Reset modes are stored in each node's ``metadata["reset"]``.

    Examples
    --------
    >>> import spikeengine as se
    >>> net = se.Network()
    >>> a = net.stream_source(2, name="in")
    >>> b = net.population(1, se.IF(V_th=1.0, reset="subtract"), name="b")
    >>> _ = net.connect(a, b, weight=0.5, delay=1.0)
    >>> sorted(to_nir(net, dt=1e-3).nodes)
    ['b', 'in', 'w0']
    """
    from .clocked import refuse_clocked

    refuse_clocked(net, "NIR")
    nir = _nir()
    from .models import IF, LIF, LeakyIntegrator, LIFExp

    md = net.metadata.get("nir_import", {})
    time_unit = time_unit or md.get("time_unit", "s")
    input_semantics = input_semantics or md.get("input_semantics", "pulse")
    if dt is None:
        dt = md.get("dt")
    if layer_delay is None and md.get("layer_delay") is not None and md.get("dt") == dt:
        layer_delay = md["layer_delay"]
    u, dt_ms, layer_delay, ld_ms = _resolve_options(dt, time_unit, input_semantics, layer_delay)
    nodes, edges, scale, bias_of = {}, [], {}, {}
    for p in net.populations:
        name = _sanitize(p.name)
        n = p.size
        if p.is_source:
            if p.source[0] == "poisson":
                raise ParameterError(f"to_nir: population {p.name!r} is a Poisson source; NIR has no such node")
            nodes[name] = nir.Input(input_type={"input": np.array([n])})
            continue
        if p.poisson_inputs:
            raise ParameterError(f"to_nir: population {p.name!r} has Poisson inputs; NIR has no such node")
        m = p.model
        a = m.arrays(n, f"population {p.name!r}")

        def need(cond, what, p=p):
            if not cond:
                raise ParameterError(f"to_nir: population {p.name!r}: {what} has no NIR equivalent")

        meta = {}
        if isinstance(m, LeakyIntegrator) or type(m) in (LIF, LIFExp):
            need(np.all(a["t_ref"] == 0) if "t_ref" in a else True, "t_ref > 0 (refractory period)")
            need(np.all(np.isinf(a.get("V_min", np.array([-np.inf])))), "a finite V_min")
            need(np.all(a.get("beta", np.zeros(1)) == 0), "threshold adaptation (beta > 0)")
            rest = a["E_L"]
            if not isinstance(m, LeakyIntegrator):
                rest = np.where(a["E_L"] >= a["V_th"], a["V_reset"], a["E_L"])
            need(np.array_equal(a["V_m"], rest), "an initial V_m other than E_L")
            tau = a["tau_m"]
            c = a["C_m"]
            if isinstance(m, LIFExp):
                need(np.array_equal(a["tau_syn_ex"], a["tau_syn_in"]), "tau_syn_ex != tau_syn_in")
                need(np.all(a["I_syn_ex"] == 0) and np.all(a["I_syn_in"] == 0), "non-zero initial synaptic currents")
                ts = a["tau_syn_ex"]
                g = -np.expm1(-dt_ms / ts) if input_semantics == "pulse" else dt_ms / ts
                scale[name] = c * g / tau  # engine pA = W * r / tau_m * w_in * g with C_m = 1 -> divide by C_m
                bias_of[name] = a["I_e"] / c * tau
                nodes[name] = nir.CubaLIF(tau_syn=ts / u, tau_mem=tau / u, r=np.ones(n), v_leak=a["E_L"],
                                          v_threshold=a["V_th"], v_reset=a["V_reset"], w_in=np.ones(n))
                meta["reset"] = m.params.get("reset", "value")
            else:
                f = -np.expm1(-dt_ms / tau) if input_semantics == "pulse" else dt_ms / tau
                scale[name] = f
                bias_of[name] = a["I_e"] / c * tau
                if isinstance(m, LeakyIntegrator):
                    nodes[name] = nir.LI(tau=tau / u, r=np.ones(n), v_leak=a["E_L"])
                else:
                    nodes[name] = nir.LIF(tau=tau / u, r=np.ones(n), v_leak=a["E_L"], v_threshold=a["V_th"],
                                          v_reset=a["V_reset"])
                    meta["reset"] = m.params.get("reset", "value")
        elif isinstance(m, IF):
            need(np.all(a["t_ref"] == 0), "t_ref > 0 (refractory period)")
            need(np.all(np.isinf(a["V_min"])), "a finite V_min")
            need(np.all(a["V_m"] == 0), "an initial V_m other than 0")
            scale[name] = np.ones(n)  # the C_m of delta inputs does not matter
            bias_of[name] = a["I_e"] / a["C_m"] * dt_ms
            if np.all(a["V_th"] >= _I_THRESHOLD):
                nodes[name] = nir.I(r=np.ones(n))
            else:
                nodes[name] = nir.IF(r=np.ones(n), v_threshold=a["V_th"], v_reset=a["V_reset"])
                meta["reset"] = m.params.get("reset", "value")
        else:
            raise ParameterError(f"to_nir: population {p.name!r}: model {type(m).__name__} has no NIR equivalent")
        nodes[name].metadata = meta
    # projections, with the same base delays as from_nir
    pair = {}
    for pr in net.projections:
        pair.setdefault((pr.pre, pr.post), []).append(pr)
    order = [p for p in net.populations if p.is_source] + [p for p in net.populations if not p.is_source]
    succ_pops = {}
    for a_, b_ in pair:
        succ_pops.setdefault(_sanitize(a_.name), []).append(_sanitize(b_.name))
    recurrent = _recurrent_pairs([_sanitize(p.name) for p in order], succ_pops)
    k = 0
    biased = set()
    for (pre, post), projs in pair.items():
        a_, b_ = _sanitize(pre.name), _sanitize(post.name)
        if pre.size * post.size > max_dense:
            raise ParameterError(f"to_nir: projection {pre.name!r} -> {post.name!r} needs a dense {post.size} x "
                                 f"{pre.size} matrix (> {max_dense} entries); NIR has no sparse Linear")
        base = dt_ms if (pre.is_source or (a_, b_) in recurrent) else ld_ms
        s = np.concatenate([pr.sources for pr in projs])
        t = np.concatenate([pr.targets for pr in projs])
        w = np.concatenate([np.asarray(pr.weights) for pr in projs])
        d = np.concatenate([np.asarray(pr.delays) for pr in projs])
        extra = d - base
        if (extra < -1e-9 * max(base, 1.0)).any():
            raise ParameterError(f"to_nir: projection {pre.name!r} -> {post.name!r} has delays below the import's "
                                 f"base delay {base} ms; pass a smaller layer_delay")
        extra = np.where(np.abs(extra) <= 1e-12 * max(base, 1.0), 0.0, extra)
        for de in np.unique(extra):
            sel = extra == de
            W = np.zeros((post.size, pre.size))
            np.add.at(W, (t[sel], s[sel]), w[sel] / scale[b_][t[sel]])
            wn = f"w{k}"
            k += 1
            if b_ not in biased and np.any(bias_of[b_] != 0):
                nodes[wn] = nir.Affine(weight=W, bias=bias_of[b_])
                biased.add(b_)
            else:
                nodes[wn] = nir.Linear(weight=W)
            edges.append((a_, wn))
            if de > 0:
                dn = f"{wn}.delay"
                nodes[dn] = nir.Delay(delay=np.full(post.size, de / u))
                edges += [(wn, dn), (dn, b_)]
            else:
                edges.append((wn, b_))
    for name, b in bias_of.items():
        if name not in biased and np.any(b != 0):
            raise ParameterError(f"to_nir: population {name!r} has a constant current I_e but no incoming projection "
                                 "to carry it as an Affine bias")
    for p in net.populations:
        if p._record_spikes or any(sm["var"] == "V_m" for sm in p._samplers):
            on = f"{_sanitize(p.name)}.out"
            nodes[on] = nir.Output(output_type={"output": np.array([p.size])})
            edges.append((_sanitize(p.name), on))
    meta = {"exporter": "spikeengine", "time_unit": time_unit, "dt": float(dt), "input_semantics": input_semantics,
            "layer_delay": layer_delay}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False)


def save_nir(net, path, **kw):
    """Write :func:`to_nir` ``(net, **kw)`` to ``path`` atomically (a temporary file, then ``os.replace``).

    Examples
    --------
    >>> import os, tempfile, spikeengine as se
    >>> net = se.Network()
    >>> a = net.stream_source(1, name="in")
    >>> b = net.population(1, se.IF(), name="b")
    >>> _ = net.connect(a, b, weight=0.5, delay=1.0)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save_nir(net, os.path.join(d, "net.nir"), dt=1e-3)
    ...     sorted(from_nir(os.path.join(d, "net.nir"), dt=1e-3).metadata["nir_import"]["populations"])
    ['b', 'in']
    """
    nir = _nir()
    graph = to_nir(net, **kw)
    atomic_write(path, lambda tmp: nir.write(tmp, graph))


__all__ = ["from_nir", "to_nir", "save_nir", "spike_steps", "TIME_UNITS", "MAX_DENSE"]
