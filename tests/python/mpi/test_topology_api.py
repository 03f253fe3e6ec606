"""set_topology / load_topology / neighbour queries / machine topology.

Every graph is built here from a weight matrix W (edge i -> j carries
W[i, j]; rank j combines with column j), and every expectation is derived
from W directly, never from bluefog.common.topology_util.
"""

import networkx as nx
import numpy as np
import pytest
import torch

import bluefog.torch as bf
from reference_graphs import (
    circulant, exp2_matrix, graph_from_matrix, mesh_matrix, random_matrix, star_matrix)

N = bf.size()
needs_two = pytest.mark.skipif(N < 2, reason="needs at least 2 ranks")


# ---------------------------------------------------------------- graphs

def matrices(n):
    return {
        "exp2": exp2_matrix(n),
        "ring_both": circulant(n, [1, -1]),
        "ring_left": circulant(n, [-1]),
        "ring_right": circulant(n, [1]),
        "star0": star_matrix(n, 0),
        "star_last": star_matrix(n, n - 1),
        "full": np.full((n, n), 1.0 / n),
        "mesh": mesh_matrix(n),
        "random": random_matrix(n, seed=7),
        "self_loops_only": np.eye(n),
    }


GRAPH_NAMES = list(matrices(1))


def expected_in(W, j):
    return [i for i in range(W.shape[0]) if i != j and W[i, j] != 0]


def expected_out(W, i):
    return [j for j in range(W.shape[0]) if j != i and W[i, j] != 0]


def edge_weights(graph):
    return {(int(u), int(v)): float(d.get("weight", 1.0)) for u, v, d in graph.edges(data=True)}


def matrix_edges(W):
    n = W.shape[0]
    return {(i, j): float(W[i, j]) for i in range(n) for j in range(n) if W[i, j] != 0}


def assert_installed(W, weighted):
    me = bf.rank()
    loaded = bf.load_topology()
    assert isinstance(loaded, nx.DiGraph)
    assert sorted(loaded.nodes) == list(range(N))
    assert edge_weights(loaded) == matrix_edges(W)
    assert bf.in_neighbor_ranks() == expected_in(W, me)
    assert bf.out_neighbor_ranks() == expected_out(W, me)
    assert bf.is_topo_weighted() is weighted


@pytest.fixture(autouse=True)
def restore_default_topology():
    yield
    bf.set_topology(None)
    bf.set_machine_topology(None)


# ---------------------------------------------------------------- set/load

@pytest.mark.parametrize("weighted", [False, True], ids=["uniform", "weighted"])
@pytest.mark.parametrize("graph", GRAPH_NAMES)
def test_set_topology_is_reflected(graph, weighted):
    W = matrices(N)[graph]
    assert bf.set_topology(graph_from_matrix(W), is_weighted=weighted) is True
    assert_installed(W, weighted)
    # An equal graph (a different object) again: True, nothing changes.
    assert bf.set_topology(graph_from_matrix(W), is_weighted=weighted) is True
    assert_installed(W, weighted)
    # The neighbour lists are fresh lists of ints.
    ins = bf.in_neighbor_ranks()
    assert all(type(r) is int for r in ins + bf.out_neighbor_ranks())
    ins.append(-5)
    assert bf.in_neighbor_ranks() == expected_in(W, bf.rank())


def test_switching_between_graphs_and_weighting():
    mats = matrices(N)
    for graph, weighted in [("ring_right", False), ("ring_right", True), ("full", True),
                            ("star0", False), ("ring_right", False), ("exp2", True)]:
        W = mats[graph]
        assert bf.set_topology(graph_from_matrix(W), is_weighted=weighted) is True
        assert_installed(W, weighted)


def test_default_topology_is_exponential_two():
    assert bf.set_topology(None) is True
    assert_installed(exp2_matrix(N), False)
    W = matrices(N)["random"]
    bf.set_topology(graph_from_matrix(W), is_weighted=True)
    assert_installed(W, True)
    assert bf.set_topology() is True  # no argument: the default, unweighted
    assert_installed(exp2_matrix(N), False)


def test_same_edges_different_weights_is_a_different_graph():
    W = matrices(N)["full"]
    bf.set_topology(graph_from_matrix(W))
    W2 = W * 0.5
    assert bf.set_topology(graph_from_matrix(W2)) is True
    assert_installed(W2, False)


@pytest.mark.parametrize("kind", ["int", "float", "np_float64", "np_float32", "np_int64"])
def test_edge_weights_of_any_real_type(kind):
    """Weights that are real numbers of any type (Python ints, numpy scalars)
    are accepted and used as their value."""
    cast = {"int": int, "float": float, "np_float64": np.float64, "np_float32": np.float32,
            "np_int64": np.int64}[kind]
    g = nx.DiGraph()
    W = np.zeros((N, N))
    for i in range(N):
        g.add_edge(i, i, weight=cast(1))
        W[i, i] += 1.0
        if N > 1:
            g.add_edge(i, (i + 1) % N, weight=cast(2))
            W[i, (i + 1) % N] += 2.0
    assert bf.set_topology(g, is_weighted=True) is True
    assert bf.in_neighbor_ranks() == expected_in(W, bf.rank())
    assert bf.is_topo_weighted() is True
    out = bf.neighbor_allreduce(torch.full((2,), float(bf.rank() + 1), dtype=torch.float64),
                                name=f"topology_api.weight_type.{kind}")
    prv = (bf.rank() - 1) % N
    expected = (bf.rank() + 1) + (2.0 * (prv + 1) if N > 1 else 0.0)
    assert torch.equal(out, torch.full((2,), expected, dtype=torch.float64))


# ---------------------------------------------------------------- bad graphs

def _bad_node_graphs():
    out = {}
    g = nx.DiGraph()
    g.add_nodes_from(range(N + 1))  # one node too many
    out["extra_node"] = g
    g = nx.DiGraph()
    g.add_nodes_from(range(1, N + 1))  # shifted by one
    out["shifted"] = g
    if N > 1:
        g = nx.DiGraph()
        g.add_nodes_from(range(N - 1))  # one missing
        out["missing_node"] = g
    g = nx.DiGraph()
    g.add_nodes_from(str(i) for i in range(N))  # labels are strings
    out["string_labels"] = g
    out["empty"] = nx.DiGraph()
    return out


@pytest.mark.parametrize("kind", ["extra_node", "shifted", "missing_node", "string_labels",
                                  "empty"])
def test_wrong_nodes_is_value_error(kind):
    graphs = _bad_node_graphs()
    if kind not in graphs:
        pytest.skip("not applicable at this size")
    W = matrices(N)["ring_right"]
    bf.set_topology(graph_from_matrix(W))
    with pytest.raises(ValueError):
        bf.set_topology(graphs[kind])
    with pytest.raises(ValueError):
        bf.set_topology(graphs[kind], is_weighted=True)
    assert_installed(W, False)  # unchanged


@pytest.mark.parametrize("kind", ["undirected", "numpy", "list", "dict"])
def test_not_a_digraph_is_type_error(kind):
    W = matrices(N)["full"]
    value = {
        "undirected": nx.from_numpy_array(W, create_using=nx.Graph),
        "numpy": W,
        "list": list(range(N)),
        "dict": {i: [] for i in range(N)},
    }[kind]
    with pytest.raises(TypeError):
        bf.set_topology(value)
    assert_installed(exp2_matrix(N), False)  # unchanged


@needs_two
@pytest.mark.parametrize("how", ["weights", "edges", "is_weighted"])
def test_different_graphs_on_ranks_raise_everywhere(how):
    # Start from a graph that none of the graphs passed below equals.
    base = np.eye(N)
    bf.set_topology(graph_from_matrix(base))
    full = np.full((N, N), 1.0 / N)
    weighted = False
    if how == "weights":
        W = full * (2.0 if bf.rank() == 0 else 1.0)
    elif how == "edges":
        other = np.eye(N)
        other[0, 1] = 1.0  # full has more edges (1 -> 0 among them)
        W = full if bf.rank() == N - 1 else other
    else:
        W = full
        weighted = bf.rank() == 0
    with pytest.raises(ValueError) as info:
        bf.set_topology(graph_from_matrix(W), is_weighted=weighted)
    assert "different graph" in str(info.value)
    assert_installed(base, False)  # unchanged everywhere
    # The runtime and set_topology still work afterwards.
    assert bf.set_topology(graph_from_matrix(full)) is True
    assert_installed(full, False)
    out = bf.allreduce(torch.tensor([float(bf.rank())]), average=False,
                       name=f"topology_api.after_mismatch.{how}")
    assert out.item() == N * (N - 1) / 2


@needs_two
def test_different_graphs_when_one_rank_passes_the_current_graph():
    full = np.full((N, N), 1.0 / N)
    bf.set_topology(graph_from_matrix(full))
    W = full if bf.rank() == 0 else np.eye(N)
    with pytest.raises(ValueError) as info:
        bf.set_topology(graph_from_matrix(W))
    assert "different graph" in str(info.value)


# ---------------------------------------------------------------- init

def test_init_with_topology_fn_resets_the_topology():
    seen = []

    def ring(n):
        seen.append(n)
        return graph_from_matrix(circulant(n, [1, -1]))

    bf.init(topology_fn=ring)
    assert seen == [N]
    assert_installed(circulant(N, [1, -1]), False)
    assert bf.size() == N

    W = matrices(N)["random"]
    bf.init(topology_fn=lambda n: graph_from_matrix(W), is_weighted=True)
    assert_installed(W, True)

    bf.init()  # back to the default graph, unweighted
    assert_installed(exp2_matrix(N), False)

    # The runtime still works after the re-inits.
    out = bf.allreduce(torch.tensor([float(bf.rank())]), average=False,
                       name="topology_api.after_reinit")
    assert out.item() == N * (N - 1) / 2


# ---------------------------------------------------------------- machines

def test_machine_counts_are_consistent():
    assert bf.machine_size() * bf.local_size() == bf.size()
    assert bf.machine_rank() == bf.rank() // bf.local_size()
    assert bf.local_rank() == bf.rank() % bf.local_size()


def test_machine_topology_weighting_is_reported():
    graph = bf.load_machine_topology()
    try:
        assert bf.is_machine_topo_weighted() is False
        assert bf.set_machine_topology(graph, is_weighted=True) is True
        assert bf.is_machine_topo_weighted() is True
        assert bf.is_topo_weighted() is False  # the rank topology's flag is its own
    finally:
        bf.set_machine_topology(graph)
    assert bf.is_machine_topo_weighted() is False


@pytest.mark.skipif(bf.machine_size() != 1, reason="single machine only")
def test_single_machine_topology():
    assert bf.in_neighbor_machine_ranks() == []
    assert bf.out_neighbor_machine_ranks() == []
    graph = bf.load_machine_topology()
    assert isinstance(graph, nx.DiGraph)
    assert sorted(graph.nodes) == [0]
    one = nx.DiGraph()
    one.add_edge(0, 0, weight=1.0)
    assert bf.set_machine_topology(one) is True
    assert bf.set_machine_topology(one, is_weighted=True) is True
    assert sorted(bf.load_machine_topology().nodes) == [0]
    assert bf.in_neighbor_machine_ranks() == []
    assert bf.out_neighbor_machine_ranks() == []
    two = graph_from_matrix(np.full((2, 2), 0.5))
    with pytest.raises(ValueError):
        bf.set_machine_topology(two)
    with pytest.raises(TypeError):
        bf.set_machine_topology(nx.Graph(one))
    if N >= 2:
        # Different machine graphs on different ranks: ValueError everywhere.
        other = nx.DiGraph()
        other.add_edge(0, 0, weight=1.0 if bf.rank() == 0 else 0.5)
        with pytest.raises(ValueError) as info:
            bf.set_machine_topology(other)
        assert "different graph" in str(info.value)
    # Setting the machine topology leaves the rank topology alone.
    assert_installed(exp2_matrix(N), False)
