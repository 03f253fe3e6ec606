"""InferSourceFromDestinationRanks / InferDestinationFromSourceRanks
(bluefog.torch.topology_util): the other side of a pattern every rank knows,
and BlueFog 0.3's averaging matrix, on regular and irregular graphs."""

import networkx as nx
import numpy as np
import pytest

import bluefog.torch as bf
from bluefog.torch import topology_util

N, ME = bf.size(), bf.rank()


def irregular_sends(n):
    """Rank 0 sends to everyone, rank r > 0 only to r + 1 (mod n): in- and
    out-degrees differ (N = 4: 0 -> 1, 2, 3; 1 -> 2; 2 -> 3; 3 -> 0)."""
    return {r: sorted(set(range(1, n)) if r == 0 else {(r + 1) % n} - {r}) for r in range(n)}


def ring_sends(n, shift):
    return {r: sorted({(r + shift) % n} - {r}) for r in range(n)}


def expected_matrix(sends, n):
    """0.3's rule written out: W[i, j] = [i == j or i sends to j] / (1 + out_degree(j))."""
    W = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i == j or j in sends[i]:
                W[i, j] = 1.0 / (1 + len(sends[j]))
    return W


def sources_of(sends, rank):
    return sorted(i for i, dsts in sends.items() if rank in dsts)


@pytest.mark.parametrize("pattern", ["ring1", "ring2", "irregular"])
def test_both_directions_and_the_matrix(pattern):
    sends = irregular_sends(N) if pattern == "irregular" else ring_sends(N, int(pattern[-1]))
    sources, W = topology_util.InferSourceFromDestinationRanks(
        sends[ME], construct_adjacency_matrix=True)
    assert sources == sources_of(sends, ME)
    np.testing.assert_allclose(W, expected_matrix(sends, N), rtol=0, atol=1e-15)
    destinations, W2 = topology_util.InferDestinationFromSourceRanks(
        sources, construct_adjacency_matrix=True)
    assert destinations == sends[ME]
    np.testing.assert_array_equal(W, W2)
    assert topology_util.InferSourceFromDestinationRanks(sends[ME]) == sources
    assert topology_util.InferDestinationFromSourceRanks(sources) == sends[ME]


@pytest.mark.skipif(N < 3, reason="needs a rank whose in- and out-degree differ")
def test_irregular_columns_are_divided_by_the_out_degree_as_in_0_3():
    """W / W.sum(axis=1): rank 2 receives from 0 and 1 but sends to one rank,
    so its column is 3 entries of 1/2."""
    _, W = bf.InferSourceFromDestinationRanks(irregular_sends(N)[ME],
                                              construct_adjacency_matrix=True)
    np.testing.assert_allclose(W[:, 2], [0.5, 0.5, 0.5] + [0.0] * (N - 3))
    np.testing.assert_allclose(W[:, 0], [1 / N] + [0.0] * (N - 2) + [1 / N])


@pytest.mark.parametrize("graph", [bf.ExponentialGraph, bf.RingGraph, bf.StarGraph,
                                   bf.MeshGrid2DGraph, bf.FullyConnectedGraph])
def test_topologies_give_their_uniform_averaging_matrix(graph):
    """For these graphs (in-degree = out-degree everywhere) the matrix is the
    0/1 adjacency with self loops divided by its column sums."""
    bf.set_topology(graph(N))
    try:
        adjacency = (nx.to_numpy_array(bf.load_topology()) > 0).astype(float)
        destinations, W = bf.InferDestinationFromSourceRanks(
            bf.in_neighbor_ranks(), construct_adjacency_matrix=True)
        assert destinations == bf.out_neighbor_ranks()
        np.testing.assert_allclose(W, adjacency / adjacency.sum(axis=0))
        np.testing.assert_allclose(W.sum(axis=0), np.ones(N))
        sources, W = bf.InferSourceFromDestinationRanks(
            bf.out_neighbor_ranks(), construct_adjacency_matrix=True)
        assert sources == bf.in_neighbor_ranks()
        np.testing.assert_allclose(W, adjacency / adjacency.sum(axis=0))
    finally:
        bf.set_topology(None)


def test_one_implementation_behind_both_names():
    assert bf.InferSourceFromDestinationRanks is topology_util.InferSourceFromDestinationRanks
    assert bf.InferDestinationFromSourceRanks is topology_util.InferDestinationFromSourceRanks
    assert topology_util.ExponentialGraph is bf.ExponentialGraph
    assert topology_util.GetRecvWeights is bf.GetRecvWeights


def test_bad_ranks_name_the_argument():
    with pytest.raises(ValueError, match=r"dst_ranks names rank .* out of range"):
        bf.InferSourceFromDestinationRanks([N])
    with pytest.raises(ValueError, match=rf"^InferDestinationFromSourceRanks: src_ranks names "
                                         rf"this rank \({ME}\); a rank is not its own neighbour$"):
        bf.InferDestinationFromSourceRanks([ME])
    with pytest.raises(TypeError, match="dst_ranks must hold integer ranks"):
        bf.InferSourceFromDestinationRanks([0.5])
    with pytest.raises(TypeError, match="src_ranks must be a list of ranks"):
        bf.InferDestinationFromSourceRanks(3)


@pytest.mark.skipif(N < 2, reason="needs another rank")
def test_repeated_rank_is_refused():
    other = (ME + 1) % N
    with pytest.raises(ValueError, match=rf"^InferSourceFromDestinationRanks: dst_ranks names "
                                         rf"rank {other} twice$"):
        bf.InferSourceFromDestinationRanks([other, other])
