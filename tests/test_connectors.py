"""Connection rules produce exactly the pairs they promise."""

import numpy as np
import pytest
import scipy.sparse as sp

import spikeengine as se


def net_ab(n_a=50, n_b=40):
    net = se.Network(seed=9, backend="python")
    return net, net.population(n_a, se.LIF(), name="A"), net.population(n_b, se.LIF(), name="B")


def test_fixed_indegree_without_autapses_and_multapses():
    net, a, _ = net_ab()
    prj = net.connect(a, a, {"rule": "fixed_indegree", "indegree": 7, "allow_autapses": False,
                             "allow_multapses": False})
    assert np.bincount(prj.targets, minlength=50).tolist() == [7] * 50
    assert not np.any(prj.sources == prj.targets)
    pairs = set(zip(prj.sources.tolist(), prj.targets.tolist()))
    assert len(pairs) == len(prj) == 350


def test_pairwise_bernoulli_fraction_and_all_to_all():
    net, a, b = net_ab(200, 200)
    prj = net.connect(a, b, {"rule": "pairwise_bernoulli", "p": 0.1})
    n = 200 * 200
    assert abs(len(prj) - 0.1 * n) < 5 * np.sqrt(n * 0.1 * 0.9)
    full = net.connect(a, b, "all_to_all", weight=0.5)
    assert len(full) == n and set(zip(full.sources.tolist(), full.targets.tolist())) == {
        (i, j) for i in range(200) for j in range(200)}


def test_from_sparse_keeps_weights_and_shape_checks():
    net, a, b = net_ab(3, 2)
    m = sp.csr_matrix(np.array([[0.0, 1.5], [2.5, 0.0], [0.0, -0.5]]))
    conn, w = se.from_sparse(m)
    prj = net.connect(a, b, conn, weight=w, delay=np.array([1.0, 2.0, 3.0]))
    assert sorted(zip(prj.sources.tolist(), prj.targets.tolist(), prj.weights.tolist())) == [
        (0, 1, 1.5), (1, 0, 2.5), (2, 1, -0.5)]
    with pytest.raises(se.NetworkError, match="out of range"):
        net.connect(a, b, se.from_sparse(sp.csr_matrix(np.ones((3, 3))))[0])


def test_connectivity_is_seeded():
    def draw(seed):
        net = se.Network(seed=seed, backend="python")
        p = net.population(30, se.LIF())
        return net.connect(p, p, {"rule": "fixed_indegree", "indegree": 5}).sources

    assert np.array_equal(draw(1), draw(1)) and not np.array_equal(draw(1), draw(2))
