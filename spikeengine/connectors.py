"""Connection rules: which (source, target) pairs a projection creates.

Each connector turns population sizes and a NumPy random generator into two index
arrays (local source indices, local target indices). NEST-style rule dicts are
accepted too: ``"all_to_all"``, ``"one_to_one"``, ``{"rule": "fixed_indegree",
"indegree": k}``, ``{"rule": "pairwise_bernoulli", "p": p}``.
"""

import numpy as np

from .errors import NetworkError, ParameterError


class Connector:
    """Base class; subclasses implement :meth:`pairs`."""

    def pairs(self, n_pre, n_post, rng, label):
        """Return ``(sources, targets)`` local index arrays (int64)."""
        raise NotImplementedError


class AllToAll(Connector):
    """Every source to every target.

    Examples
    --------
    >>> import numpy as np
    >>> s, t = AllToAll().pairs(2, 3, np.random.default_rng(0), "p")
    >>> s.tolist(), t.tolist()
    ([0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2])
    """

    def __init__(self, allow_autapses=True):
        self.allow_autapses = allow_autapses

    def pairs(self, n_pre, n_post, rng, label):
        s = np.repeat(np.arange(n_pre, dtype=np.int64), n_post)
        t = np.tile(np.arange(n_post, dtype=np.int64), n_pre)
        return s, t


class OneToOne(Connector):
    """Source i to target i; both populations must have the same size.

    Examples
    --------
    >>> import numpy as np
    >>> OneToOne().pairs(3, 3, np.random.default_rng(0), "p")[1].tolist()
    [0, 1, 2]
    """

    def pairs(self, n_pre, n_post, rng, label):
        if n_pre != n_post:
            raise NetworkError(f"{label}: one_to_one needs equal sizes, got {n_pre} sources and {n_post} targets")
        i = np.arange(n_pre, dtype=np.int64)
        return i, i.copy()


class FixedInDegree(Connector):
    """Each target receives exactly ``indegree`` connections from sources drawn uniformly.

    Parameters
    ----------
    indegree : int
        Connections per target.
    allow_autapses : bool
        Only meaningful for a projection from a population onto itself; if False,
        self-connections are redrawn.
    allow_multapses : bool
        If False, the sources of one target are distinct (needs ``indegree <= n_pre``).

    Examples
    --------
    >>> import numpy as np
    >>> s, t = FixedInDegree(2).pairs(10, 4, np.random.default_rng(0), "p")
    >>> np.bincount(t).tolist()
    [2, 2, 2, 2]
    """

    def __init__(self, indegree, allow_autapses=True, allow_multapses=True):
        if int(indegree) != indegree or indegree < 0:
            raise ParameterError(f"fixed_indegree: indegree must be a non-negative integer, got {indegree!r}")
        self.indegree = int(indegree)
        self.allow_autapses = allow_autapses
        self.allow_multapses = allow_multapses

    def pairs(self, n_pre, n_post, rng, label, same=False):
        k = self.indegree
        if k and n_pre == 0:
            raise NetworkError(f"{label}: fixed_indegree {k} from an empty population")
        t = np.repeat(np.arange(n_post, dtype=np.int64), k)
        if self.allow_multapses:
            s = rng.integers(0, n_pre, size=n_post * k, dtype=np.int64)
            if same and not self.allow_autapses:
                bad = s == t
                while bad.any():
                    s[bad] = rng.integers(0, n_pre, size=int(bad.sum()), dtype=np.int64)
                    bad = s == t
        else:
            avail = n_pre - (1 if same and not self.allow_autapses else 0)
            if k > avail:
                raise NetworkError(f"{label}: fixed_indegree {k} without multapses needs at least {k} sources, "
                                   f"have {avail}")
            s = np.empty(n_post * k, dtype=np.int64)
            for j in range(n_post):
                if same and not self.allow_autapses:
                    c = rng.choice(n_pre - 1, size=k, replace=False)
                    c[c >= j] += 1
                else:
                    c = rng.choice(n_pre, size=k, replace=False)
                s[j * k:(j + 1) * k] = c
        return s, t


class FixedProbability(Connector):
    """Each (source, target) pair is connected independently with probability ``p``.

    Examples
    --------
    >>> import numpy as np
    >>> s, t = FixedProbability(1.0).pairs(2, 2, np.random.default_rng(0), "p")
    >>> len(s)
    4
    """

    def __init__(self, p, allow_autapses=True):
        if not (0.0 <= p <= 1.0):
            raise ParameterError(f"pairwise_bernoulli: p must be in [0, 1], got {p!r}")
        self.p = float(p)
        self.allow_autapses = allow_autapses

    def pairs(self, n_pre, n_post, rng, label, same=False):
        s_all, t_all = [], []
        block = max(1, 4_000_000 // max(n_post, 1))
        for i0 in range(0, n_pre, block):
            i1 = min(n_pre, i0 + block)
            mask = rng.random((i1 - i0, n_post)) < self.p
            s, t = np.nonzero(mask)
            s_all.append(s.astype(np.int64) + i0)
            t_all.append(t.astype(np.int64))
        s = np.concatenate(s_all) if s_all else np.empty(0, np.int64)
        t = np.concatenate(t_all) if t_all else np.empty(0, np.int64)
        if same and not self.allow_autapses:
            keep = s != t
            s, t = s[keep], t[keep]
        return s, t


class FromArrays(Connector):
    """Explicit connections: ``sources[k] -> targets[k]`` (local indices).

    Examples
    --------
    >>> import numpy as np
    >>> FromArrays([0, 1], [1, 0]).pairs(2, 2, None, "p")[0].tolist()
    [0, 1]
    """

    def __init__(self, sources, targets):
        self.sources = np.asarray(sources)
        self.targets = np.asarray(targets)

    def pairs(self, n_pre, n_post, rng, label):
        s, t = self.sources, self.targets
        for name, a, n in (("sources", s, n_pre), ("targets", t, n_post)):
            if a.ndim != 1:
                raise NetworkError(f"{label}: {name} must be one-dimensional, got shape {a.shape}")
            if a.size and not np.issubdtype(a.dtype, np.integer):
                if not np.all(np.equal(np.mod(a, 1), 0)):
                    raise NetworkError(f"{label}: {name} must be integers")
            if a.size and (a.min() < 0 or a.max() >= n):
                bad = int(np.flatnonzero((a < 0) | (a >= n))[0])
                raise NetworkError(f"{label}: {name}[{bad}] = {a[bad].item()} is out of range [0, {n})")
        if s.shape != t.shape:
            raise NetworkError(f"{label}: sources ({s.size}) and targets ({t.size}) differ in length")
        if not (np.issubdtype(s.dtype, np.integer) and np.issubdtype(t.dtype, np.integer)):
            s, t = s.astype(np.int64), t.astype(np.int64)
        return s, t  # integer arrays are kept as given (no copy of large explicit connectivity)


def from_sparse(matrix):
    """Connector and weights from a scipy.sparse matrix of shape (n_pre, n_post).

    Returns ``(connector, weights)``; stored zeros are kept as synapses.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> conn, w = from_sparse(sp.coo_matrix(([0.5], ([1], [0])), shape=(2, 1)))
    >>> conn.sources.tolist(), w.tolist()
    ([1], [0.5])
    """
    coo = matrix.tocoo()
    return FromArrays(coo.row, coo.col), np.asarray(coo.data, dtype=np.float64)


def make_connector(rule):
    """Connector from an instance, a rule name or a NEST-style rule dict."""
    if isinstance(rule, Connector):
        return rule
    if isinstance(rule, str):
        rule = {"rule": rule}
    if isinstance(rule, dict):
        spec = dict(rule)
        name = spec.pop("rule", None)
        try:
            if name == "all_to_all":
                return AllToAll(**spec)
            if name == "one_to_one":
                return OneToOne(**spec)
            if name == "fixed_indegree":
                return FixedInDegree(**spec)
            if name == "pairwise_bernoulli":
                return FixedProbability(**spec)
        except TypeError as exc:
            raise ParameterError(f"connection rule {name!r}: {exc}") from None
        raise ParameterError(f"unknown connection rule {name!r}; known: all_to_all, one_to_one, "
                             "fixed_indegree, pairwise_bernoulli")
    raise ParameterError(f"not a connection rule: {rule!r}")
