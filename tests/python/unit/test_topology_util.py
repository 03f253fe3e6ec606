"""bluefog.common.topology_util: every generator against definitions written
here with numpy (BlueFog 0.3's formulas), the graph helpers, the dynamic
generators, the mixing analysis and `python -m bluefog.compare_topologies`."""

import itertools
import math
import os
import subprocess
import sys

import networkx as nx
import numpy as np
import pytest

from bluefog.common import topology_util as tu

SIZES = range(1, 65)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


# ---------------------------------------------------------------------------
# Independent definitions


def circulant(x):
    return np.array([np.roll(x, i) for i in range(len(x))])


def powers_below(n, base):
    result, p = set(), 1
    while p < n:
        result.add(p)
        p *= base
    return result


def exponential_matrix(n, base):
    powers = powers_below(n, base)
    x = np.array([1.0 if k == 0 or k in powers else 0.0 for k in range(n)])
    return circulant(x / x.sum())


def symmetric_exponential_matrix(n, base):
    powers = powers_below(n, base)
    x = np.array([1.0 if min(k, n - k) == 0 or min(k, n - k) in powers else 0.0
                  for k in range(n)])
    return circulant(x / x.sum())


def default_shape(n):
    rows = max(r for r in range(1, int(math.isqrt(n)) + 1) if n % r == 0)
    return rows, n // rows


def mesh_matrix(n, rows, cols):
    """BlueFog 0.3's computation, numpy sums included (bit-exact reference)."""
    topo = np.zeros((n, n))
    for i in range(n):
        topo[i, i] = 1.0
        if (i + 1) % cols != 0:
            topo[i, i + 1] = topo[i + 1, i] = 1.0
        if i + cols < n:
            topo[i, i + cols] = topo[i + cols, i] = 1.0
    neighbors = [np.nonzero(topo[i])[0] for i in range(n)]
    for i in range(n):
        for j in neighbors[i]:
            if i != j:
                topo[i, j] = 1.0 / max(len(neighbors[i]), len(neighbors[j]))
        topo[i, i] = 2.0 - topo[i].sum()
    return topo


def star_matrix(n, center):
    w = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i == center or j == center:
                w[i, j] = 1.0 / n
            elif i == j:
                w[i, j] = 1 - 1 / n
    return w


def ring_matrix(n, style):
    if n == 1:
        return np.array([[1.0]])
    if n == 2:
        return np.full((2, 2), 0.5)
    x = np.zeros(n)
    if style == 0:
        x[0] = x[1] = x[-1] = 1 / 3.0
    elif style == 1:
        x[0] = x[-1] = 0.5
    else:
        x[0] = x[1] = 0.5
    return circulant(x)


def check_graph(graph, expected):
    n = expected.shape[0]
    assert isinstance(graph, nx.DiGraph)
    assert list(graph.nodes) == list(range(n))
    np.testing.assert_array_equal(nx.to_numpy_array(graph, nodelist=range(n)), expected)
    expected_edges = {(int(i), int(j)) for i, j in zip(*np.nonzero(expected))}
    assert set(graph.edges) == expected_edges
    for i, j, data in graph.edges(data=True):
        assert data["weight"] == expected[i, j]


# ---------------------------------------------------------------------------
# Generators


@pytest.mark.parametrize("n", SIZES)
def test_exponential_graphs(n):
    check_graph(tu.ExponentialTwoGraph(n), exponential_matrix(n, 2))
    check_graph(tu.ExponentialGraph(n), exponential_matrix(n, 2))
    for base in (3, 4, 5):
        check_graph(tu.ExponentialGraph(n, base), exponential_matrix(n, base))
        check_graph(tu.ExponentialGraph(n, base=base), exponential_matrix(n, base))
    check_graph(tu.SymmetricExponentialGraph(n), symmetric_exponential_matrix(n, 4))
    for base in (2, 3):
        check_graph(tu.SymmetricExponentialGraph(n, base), symmetric_exponential_matrix(n, base))
    w = nx.to_numpy_array(tu.ExponentialGraph(n), nodelist=range(n))
    np.testing.assert_allclose(w.sum(axis=0), 1.0, atol=1e-12)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)


def test_exponential_graph_uses_exact_powers():
    # math.log(243, 3) < 5 made BlueFog 0.3 miss such powers; they are links here.
    assert tu.ExponentialGraph(244, 3).has_edge(0, 243)
    assert tu.ExponentialGraph(1001, 10).has_edge(0, 1000)
    assert not tu.ExponentialGraph(1001, 10).has_edge(0, 999)


@pytest.mark.parametrize("n", SIZES)
def test_mesh_grid(n):
    rows, cols = default_shape(n)
    expected = mesh_matrix(n, rows, cols)
    check_graph(tu.MeshGrid2DGraph(n), expected)
    check_graph(tu.MeshGrid2DGraph(n, (rows, cols)), expected)
    check_graph(tu.MeshGrid2DGraph(n, shape=(cols, rows)), mesh_matrix(n, cols, rows))
    check_graph(tu.MeshGrid2DGraph(n, [1, n]), mesh_matrix(n, 1, n))
    np.testing.assert_array_equal(expected, expected.T)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, atol=1e-12)


def test_mesh_grid_long_rows_match_numpy_bit_for_bit():
    # Rows longer than numpy's 128-element summation block.
    for n, shape in ((300, (15, 20)), (257, (1, 257)), (512, (16, 32))):
        check_graph(tu.MeshGrid2DGraph(n, shape), mesh_matrix(n, *shape))


@pytest.mark.parametrize("n", SIZES)
def test_star_ring_full(n):
    for center in sorted({0, n // 2, n - 1}):
        check_graph(tu.StarGraph(n, center), star_matrix(n, center))
        check_graph(tu.StarGraph(n, center_rank=center), star_matrix(n, center))
    check_graph(tu.StarGraph(n), star_matrix(n, 0))
    for style in (0, 1, 2):
        check_graph(tu.RingGraph(n, style), ring_matrix(n, style))
        check_graph(tu.RingGraph(n, connect_style=style), ring_matrix(n, style))
    check_graph(tu.RingGraph(n), ring_matrix(n, 0))
    check_graph(tu.FullyConnectedGraph(n), np.full((n, n), 1.0 / n))


@pytest.mark.parametrize("call, fragment", [
    (lambda: tu.ExponentialTwoGraph(0), "size must be at least 1, got 0"),
    (lambda: tu.ExponentialGraph(-1), "size"),
    (lambda: tu.ExponentialGraph(8, 1), "base must be an integer >= 2, got 1"),
    (lambda: tu.SymmetricExponentialGraph(8, base=0), "base"),
    (lambda: tu.MeshGrid2DGraph(0), "size"),
    (lambda: tu.MeshGrid2DGraph(12, (3, 5)), "shape (3, 5) does not match size 12"),
    (lambda: tu.MeshGrid2DGraph(12, (12,)), "shape must be a pair"),
    (lambda: tu.MeshGrid2DGraph(12, 12), "shape must be a pair"),
    (lambda: tu.StarGraph(4, 4), "center_rank must be in [0, 4), got 4"),
    (lambda: tu.StarGraph(4, -1), "center_rank"),
    (lambda: tu.StarGraph(0), "size"),
    (lambda: tu.RingGraph(5, 3), "connect_style must be 0"),
    (lambda: tu.RingGraph(2, -1), "connect_style"),
    (lambda: tu.FullyConnectedGraph(0), "size"),
])
def test_generator_errors(call, fragment):
    with pytest.raises(ValueError) as info:
        call()
    assert fragment in str(info.value)


def test_generator_argument_types():
    with pytest.raises(TypeError):
        tu.RingGraph(4.0)
    with pytest.raises(TypeError):
        tu.ExponentialGraph(8, base=2.5)
    check_graph(tu.RingGraph(np.int64(5)), ring_matrix(5, 0))


# ---------------------------------------------------------------------------
# Helpers


def test_is_topology_equivalent():
    assert tu.IsTopologyEquivalent(tu.ExponentialGraph(8), tu.ExponentialTwoGraph(8))
    assert tu.IsTopologyEquivalent(tu.MeshGrid2DGraph(12), tu.MeshGrid2DGraph(12, (3, 4)))
    assert not tu.IsTopologyEquivalent(tu.RingGraph(5), tu.RingGraph(5, 1))
    assert not tu.IsTopologyEquivalent(tu.RingGraph(5), tu.RingGraph(6))
    assert not tu.IsTopologyEquivalent(tu.ExponentialGraph(9), tu.ExponentialGraph(9, 3))
    assert not tu.IsTopologyEquivalent(None, tu.RingGraph(4))
    assert not tu.IsTopologyEquivalent(tu.RingGraph(4), None)
    assert not tu.IsTopologyEquivalent(None, None)
    # Same edges, one weight different.
    g = tu.RingGraph(4)
    h = tu.RingGraph(4)
    h[0][1]["weight"] = 0.5
    assert not tu.IsTopologyEquivalent(g, h)
    # Same nodes and weights, one edge moved.
    h = tu.RingGraph(4)
    h.remove_edge(0, 1)
    h.add_edge(0, 2, weight=1 / 3.0)
    assert not tu.IsTopologyEquivalent(g, h)
    # Insertion order does not matter; a missing weight means 1.
    a = nx.DiGraph()
    a.add_edges_from([(1, 0), (0, 1), (0, 0), (1, 1)])
    b = nx.DiGraph()
    b.add_nodes_from([0, 1])
    b.add_weighted_edges_from([(0, 0, 1.0), (0, 1, 1.0), (1, 0, 1.0), (1, 1, 1.0)])
    assert tu.IsTopologyEquivalent(a, b)
    # Undirected graphs count each edge both ways.
    assert tu.IsTopologyEquivalent(nx.Graph(tu.RingGraph(6)), tu.RingGraph(6))
    # A user graph equal to a generated one.
    assert tu.IsTopologyEquivalent(
        nx.from_numpy_array(star_matrix(7, 3), create_using=nx.DiGraph), tu.StarGraph(7, 3))


def test_is_regular_graph():
    for n in SIZES:
        assert tu.IsRegularGraph(tu.ExponentialTwoGraph(n))
        assert tu.IsRegularGraph(tu.RingGraph(n))
        assert tu.IsRegularGraph(tu.FullyConnectedGraph(n))
        assert tu.IsRegularGraph(tu.StarGraph(n)) == (n <= 2)
    assert not tu.IsRegularGraph(tu.MeshGrid2DGraph(6))
    assert tu.IsRegularGraph(tu.MeshGrid2DGraph(2))
    assert tu.IsRegularGraph(nx.DiGraph())


@pytest.mark.parametrize("n", [1, 2, 5, 8, 12, 33])
def test_recv_and_send_weights(n):
    for name, graph in (("exp2", tu.ExponentialTwoGraph(n)), ("mesh", tu.MeshGrid2DGraph(n)),
                        ("star", tu.StarGraph(n, n // 2)), ("ring1", tu.RingGraph(n, 1))):
        w = nx.to_numpy_array(graph, nodelist=range(n))
        for rank in range(n):
            self_weight, recv = tu.GetRecvWeights(graph, rank)
            assert self_weight == w[rank, rank], name
            assert recv == {i: w[i, rank] for i in range(n) if i != rank and w[i, rank]}, name
            self_weight, send = tu.GetSendWeights(graph, rank)
            assert self_weight == w[rank, rank], name
            assert send == {j: w[rank, j] for j in range(n) if j != rank and w[rank, j]}, name
            assert sorted(recv) == list(recv)  # ascending, as 0.3 gave for generated graphs


def test_recv_and_send_weights_of_user_graphs():
    g = nx.DiGraph()
    g.add_edges_from([(0, 1), (2, 1)])       # no weights, no self-loops
    g.add_edge(1, 1, weight=0.25)
    assert tu.GetRecvWeights(g, 1) == (0.25, {0: 1.0, 2: 1.0})
    assert tu.GetSendWeights(g, 0) == (0.0, {1: 1.0})
    assert tu.GetRecvWeights(g, 0) == (0.0, {})
    with pytest.raises(ValueError, match="rank 3 is not a node"):
        tu.GetRecvWeights(g, 3)
    with pytest.raises(ValueError, match="rank -1 is not a node"):
        tu.GetSendWeights(g, -1)


# ---------------------------------------------------------------------------
# Dynamic generators


def one_peer_reference(graph, self_rank):
    """BlueFog 0.3's one-peer rule, written out."""
    n = graph.number_of_nodes()
    clockwise = []
    for rank in range(n):
        outs = sorted((j for j in graph.successors(rank) if j != rank),
                      key=lambda j, r=rank: (j - r) % n)
        clockwise.append(outs)
    k = 0
    while True:
        mine = clockwise[self_rank]
        send = [mine[k % len(mine)]] if mine else []
        recv = [r for r in range(n) if r != self_rank and clockwise[r]
                and clockwise[r][k % len(clockwise[r])] == self_rank]
        yield send, recv
        k += 1


def take(generator, count):
    return list(itertools.islice(generator, count))


@pytest.mark.parametrize("n", SIZES)
def test_one_peer_over_exponential_two(n):
    graph = tu.ExponentialTwoGraph(n)
    distances = sorted(powers_below(n, 2))
    for rank in sorted({0, min(1, n - 1), n // 2, n - 1}):
        got = take(tu.GetDynamicOnePeerSendRecvRanks(graph, rank), 2 * len(distances) + 3)
        assert got == take(one_peer_reference(graph, rank), len(got))
        for k, (send, recv) in enumerate(got):
            assert isinstance(send, list) and isinstance(recv, list)
            if n == 1:
                assert (send, recv) == ([], [])
                continue
            d = distances[k % len(distances)]
            assert send == [(rank + d) % n]
            assert recv == [(rank - d) % n]


def test_one_peer_first_yields():
    gen = tu.GetDynamicOnePeerSendRecvRanks(tu.ExponentialTwoGraph(8), 0)
    assert take(gen, 5) == [([1], [7]), ([2], [6]), ([4], [4]), ([1], [7]), ([2], [6])]
    gen = tu.GetDynamicOnePeerSendRecvRanks(tu.StarGraph(4), 0)
    assert take(gen, 4) == [([1], [1, 2, 3]), ([2], [1, 2, 3]), ([3], [1, 2, 3]),
                            ([1], [1, 2, 3])]
    gen = tu.GetDynamicOnePeerSendRecvRanks(tu.StarGraph(4), 2)
    assert take(gen, 4) == [([0], []), ([0], [0]), ([0], []), ([0], [])]
    assert take(tu.GetDynamicOnePeerSendRecvRanks(tu.RingGraph(1), 0), 2) == [([], []), ([], [])]


@pytest.mark.parametrize("graph", [
    tu.MeshGrid2DGraph(12), tu.StarGraph(7, 3), tu.RingGraph(9), tu.RingGraph(6, 2),
    tu.SymmetricExponentialGraph(20), tu.ExponentialGraph(27, 3),
    nx.gnp_random_graph(15, 0.3, seed=7, directed=True),
])
def test_one_peer_matches_reference_on_other_graphs(graph):
    n = graph.number_of_nodes()
    sends = {}
    for rank in range(n):
        got = take(tu.GetDynamicOnePeerSendRecvRanks(graph, rank), 40)
        assert got == take(one_peer_reference(graph, rank), 40)
        sends[rank] = [s for s, _ in got]
    # Recv lists are consistent with the sends of the same step.
    for rank in range(n):
        got = take(tu.GetDynamicOnePeerSendRecvRanks(graph, rank), 40)
        for k, (_, recv) in enumerate(got):
            assert recv == [r for r in range(n) if sends[r][k] == [rank]]


def test_one_peer_errors():
    with pytest.raises(ValueError, match=r"self_rank must be in \[0, 4\), got 4"):
        tu.GetDynamicOnePeerSendRecvRanks(tu.RingGraph(4), 4)
    g = nx.DiGraph()
    g.add_edges_from([(1, 2), (2, 1)])
    with pytest.raises(ValueError, match="nodes must be the ranks"):
        tu.GetDynamicOnePeerSendRecvRanks(g, 1)


def test_exp2_machine_ranks():
    # 4 machines of 2: distances 1, 2.
    gen = tu.GetExp2DynamicSendRecvMachineRanks(8, 2, 3, 1)
    assert take(gen, 5) == [([2], [0]), ([3], [3]), ([2], [0]), ([3], [3]), ([2], [0])]
    for machines in range(2, 20):
        for local_size in (1, 3):
            exponents = int(math.floor(math.log2(machines - 1))) + 1
            for rank in range(0, machines * local_size, max(1, local_size - 1)):
                machine = rank // local_size
                got = take(tu.GetExp2DynamicSendRecvMachineRanks(
                    machines * local_size, local_size, rank, rank % local_size), 2 * exponents)
                for k, (send, recv) in enumerate(got):
                    d = 2 ** (k % exponents)
                    assert send == [(machine + d) % machines]
                    assert recv == [(machine - d) % machines]
    # One machine: nobody to talk to.
    assert take(tu.GetExp2DynamicSendRecvMachineRanks(4, 4, 1, 1), 2) == [([], []), ([], [])]
    with pytest.raises(ValueError, match="local_rank 0 is not self_rank % local_size = 1"):
        tu.GetExp2DynamicSendRecvMachineRanks(8, 2, 3, 0)
    with pytest.raises(ValueError, match="does not divide"):
        tu.GetExp2DynamicSendRecvMachineRanks(9, 2, 3, 1)
    with pytest.raises(ValueError, match="self_rank"):
        tu.GetExp2DynamicSendRecvMachineRanks(8, 2, 8, 0)


def inner_outer_ring_reference(world_size, local_size, self_rank):
    machines = world_size // local_size
    machine, node = divmod(self_rank, local_size)
    k = 0
    while True:
        target = k % local_size
        if node == target:
            # 0.3: with one machine, "the next machine" is its own: itself.
            yield ([(machine + 1) % machines * local_size + node],
                   [(machine - 1) % machines * local_size + node])
        else:
            to = (node + 1) % local_size
            if to == target:
                to = (node + 2) % local_size
            frm = (node - 1) % local_size
            if frm == target:
                frm = (node - 2) % local_size
            yield [machine * local_size + to], [machine * local_size + frm]
        k += 1


def inner_outer_expo2_reference(world_size, local_size, self_rank):
    machines = world_size // local_size
    machine, node = divmod(self_rank, local_size)
    ring = local_size - 1
    k = 0
    while True:
        target = k % local_size
        if node == target:
            if machines == 1:
                yield [], []
            else:
                d = 2 ** (k % (int(math.log2(machines - 1)) + 1))
                yield ([(machine + d) % machines * local_size + node],
                       [(machine - d) % machines * local_size + node])
        elif ring < 2:
            yield [], []
        else:
            others = [(target + i) % local_size for i in range(1, local_size)]
            position = others.index(node)
            d = 2 ** (k % (int(math.log2(ring - 1)) + 1))
            yield ([machine * local_size + others[(position + d) % ring]],
                   [machine * local_size + others[(position - d) % ring]])
        k += 1


@pytest.mark.parametrize("machines", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("local_size", [1, 3, 4, 5, 8])
def test_inner_outer_generators(machines, local_size):
    world = machines * local_size
    for rank in range(world):
        got = take(tu.GetInnerOuterExpo2DynamicSendRecvRanks(world, local_size, rank), 30)
        assert got == take(inner_outer_expo2_reference(world, local_size, rank), 30)
        if local_size >= 3:
            got = take(tu.GetInnerOuterRingDynamicSendRecvRanks(world, local_size, rank), 30)
            assert got == take(inner_outer_ring_reference(world, local_size, rank), 30)
        elif local_size == 1:
            # Every rank talks across machines each step: a ring over machines.
            got = take(tu.GetInnerOuterRingDynamicSendRecvRanks(world, local_size, rank), 3)
            expected = ([(rank + 1) % world], [(rank - 1) % world])  # [0], [0] on one
            assert got == [expected] * 3


def test_inner_outer_first_yields():
    gen = tu.GetInnerOuterRingDynamicSendRecvRanks(8, 4, 1)
    assert take(gen, 5) == [([2], [3]), ([5], [5]), ([3], [0]), ([2], [0]), ([2], [3])]
    gen = tu.GetInnerOuterExpo2DynamicSendRecvRanks(16, 4, 5)
    assert take(gen, 4) == [([6], [7]), ([13], [13]), ([7], [4]), ([4], [6])]


def test_inner_outer_ring_on_one_machine_as_0_3():
    """0.3's sequence for world_size == local_size: the rank going "outside"
    exchanges with itself; the schedule object leaves it out."""
    assert take(tu.GetInnerOuterRingDynamicSendRecvRanks(4, 4, 1), 5) == [
        ([2], [3]), ([1], [1]), ([3], [0]), ([2], [0]), ([2], [3])]
    assert take(tu.GetInnerOuterRingDynamicSendRecvRanks(1, 1, 0), 2) == [([0], [0])] * 2
    assert tu.InnerOuterRingSchedule(4, 4).step(1, 1) == ([], [])


def test_inner_outer_errors():
    for function in (tu.GetInnerOuterRingDynamicSendRecvRanks,
                     tu.GetInnerOuterExpo2DynamicSendRecvRanks):
        with pytest.raises(ValueError, match="local_size 4 does not divide world_size 10"):
            function(10, 4, 0)
        with pytest.raises(ValueError, match="local_size 2 is not supported"):
            function(8, 2, 0)
        with pytest.raises(ValueError, match="local_size must be at least 1"):
            function(8, 0, 0)
        with pytest.raises(ValueError, match=r"self_rank must be in \[0, 8\), got -1"):
            function(8, 4, -1)


# ---------------------------------------------------------------------------
# Schedules and mixing analysis


def test_schedule_objects():
    s = tu.OnePeerSchedule(tu.ExponentialTwoGraph(8))
    assert (s.name, s.size, s.period) == ("OnePeer", 8, 3)
    assert s.step(0, 2) == ([4], [4])
    assert s.step_all(0)[3] == ([4], [2])
    np.testing.assert_array_equal(s.mixing_matrix(0).sum(axis=0), np.ones(8))
    assert "OnePeer" in repr(s)
    assert tu.Exp2MachineSchedule(32, 4).size == 8
    assert tu.InnerOuterRingSchedule(12, 4).period == 4
    assert tu.InnerOuterExpo2Schedule(15, 5).period == 10
    with pytest.raises(ValueError, match="step must be >= 0"):
        s.step(0, -1)


def test_mixing_analysis_static():
    for n in range(1, 33):
        info = tu.MixingAnalysis(tu.FullyConnectedGraph(n))
        assert info.contraction == pytest.approx(0.0, abs=1e-12)
        assert info.steps == (0 if n == 1 else 1)
        assert info.max_degree == n - 1
    for n in range(3, 65):
        expected = 1 / 3 + 2 / 3 * math.cos(2 * math.pi / n)
        info = tu.MixingAnalysis(tu.RingGraph(n))
        assert info.contraction == pytest.approx(expected, abs=1e-9)
        assert info.spectral_gap == pytest.approx(1 - expected, abs=1e-9)
        assert info.period == 1 and info.max_degree == 2
        if n > 3:
            assert info.steps == math.ceil(math.log(1e-6) / math.log(expected))
    # Any matrix, compared with numpy's SVD.
    rng = np.random.default_rng(3)
    for n in (2, 5, 17, 40):
        w = rng.random((n, n))
        w /= w.sum(axis=0)
        expected = np.linalg.norm(w - np.full((n, n), 1 / n), 2)
        assert tu.MixingAnalysis(w).contraction == pytest.approx(expected, rel=1e-10)
        assert tu.MixingAnalysis(w.tolist(), size=n).contraction == pytest.approx(expected,
                                                                                  rel=1e-10)
    for graph in (tu.MeshGrid2DGraph(24), tu.ExponentialGraph(24), tu.StarGraph(9, 4)):
        w = nx.to_numpy_array(graph)
        expected = np.linalg.norm(w - 1 / w.shape[0], 2)
        assert tu.MixingAnalysis(graph).contraction == pytest.approx(expected, abs=1e-12)
    never = tu.MixingAnalysis(np.eye(4))
    assert never.steps is None and never.periods is None


def test_mixing_analysis_dynamic():
    for n in (2, 4, 8, 16, 32, 64):
        info = tu.MixingAnalysis(tu.OnePeerSchedule(tu.ExponentialTwoGraph(n)))
        assert info.contraction == pytest.approx(0.0, abs=1e-12)
        assert info.period == info.steps == int(math.log2(n))
        assert info.max_degree == 1
    # A generator factory gives the same numbers as the schedule object.
    graph = tu.ExponentialTwoGraph(12)
    by_schedule = tu.MixingAnalysis(tu.OnePeerSchedule(graph))
    by_generator = tu.MixingAnalysis(lambda r: tu.GetDynamicOnePeerSendRecvRanks(graph, r),
                                     size=12, period=by_schedule.period)
    assert by_generator.contraction == pytest.approx(by_schedule.contraction, abs=1e-14)
    assert by_generator.steps == by_schedule.steps
    # ... and both agree with numpy.
    s = tu.OnePeerSchedule(graph)
    product = np.eye(12)
    for k in range(s.period):
        product = product @ s.mixing_matrix(k)
    expected = np.linalg.norm(product - 1 / 12, 2)
    assert by_schedule.contraction == pytest.approx(expected, abs=1e-12)
    ring = tu.MixingAnalysis(tu.InnerOuterRingSchedule(16, 4))
    assert 0 < ring.contraction < 1 and ring.period == 4
    with pytest.raises(ValueError, match="needs size and period"):
        tu.MixingAnalysis(lambda r: tu.GetDynamicOnePeerSendRecvRanks(graph, r))
    with pytest.raises(ValueError, match="size 5 given"):
        tu.MixingAnalysis(tu.RingGraph(4), size=5)

    def one_sided(rank):  # rank 0 sends to 1, but 1 does not list it
        while True:
            yield ([1], []) if rank == 0 else ([], [])
    with pytest.raises(ValueError, match="rank 0 sends to rank 1, which does not receive"):
        tu.MixingAnalysis(one_sided, size=2, period=1)


def test_module_table():
    result = subprocess.run([sys.executable, "-m", "bluefog.compare_topologies", "8"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 6 and parts[1].isdigit():
            rows[parts[0]] = parts[1:]
    expected_names = [
        "ExponentialTwoGraph", "ExponentialGraph(base=3)", "SymmetricExponentialGraph(base=4)",
        "MeshGrid2DGraph(2x4)", "StarGraph", "RingGraph(connect_style=0)",
        "RingGraph(connect_style=1)", "RingGraph(connect_style=2)", "FullyConnectedGraph",
        "OnePeer(ExponentialTwoGraph)", "InnerOuterRing(local_size=4)",
        "InnerOuterExpo2(local_size=4)", "Exp2Machine(machines=2)"]
    for name in expected_names:
        assert any(key.startswith(name) for key in rows), (name, result.stdout)
    degree, period, contraction, gap, steps = rows["RingGraph(connect_style=0)"]
    ring = 1 / 3 + 2 / 3 * math.cos(2 * math.pi / 8)
    assert (degree, period) == ("2", "1")
    assert float(contraction) == pytest.approx(ring, abs=1e-6)
    assert float(gap) == pytest.approx(1 - ring, abs=1e-6)
    assert int(steps) == math.ceil(math.log(1e-6) / math.log(ring))
    assert rows["FullyConnectedGraph"] == ["7", "1", "0.000000", "1.000000", "1"]
    assert rows["OnePeer(ExponentialTwoGraph)"] == ["1", "3", "0.000000", "1.000000", "3"]
    assert rows["StarGraph"][0] == "7"

    bad = subprocess.run([sys.executable, "-m", "bluefog.compare_topologies", "0"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "size must be at least 1" in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "bluefog.compare_topologies", "8", "--local-size", "3"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--local-size" in bad.stderr


def test_import_does_not_pull_torch():
    code = ("import sys, bluefog.common.topology_util as tu; tu.RingGraph(3); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------
# isPowerOf


def test_is_power_of_is_exact():
    for base in (2, 3, 4, 5, 7, 10):
        powers = {base ** t for t in range(40)}
        for x in list(range(1, 300)) + sorted(powers):
            assert tu.isPowerOf(x, base) == (x in powers), (x, base)
    assert tu.isPowerOf(243, 3)            # 0.3's floating logs missed this one
    assert tu.isPowerOf(3 ** 39, 3)
    assert tu.isPowerOf(8.0, 2) and not tu.isPowerOf(8.5, 2)
    assert tu.isPowerOf(1, 2)


def test_is_power_of_bad_arguments():
    with pytest.raises(ValueError, match="base must be an integer >= 2"):
        tu.isPowerOf(4, 1)
    with pytest.raises(TypeError, match="base must be an integer"):
        tu.isPowerOf(4, 2.0)
    with pytest.raises(ValueError, match="x must be > 0"):
        tu.isPowerOf(0, 2)
    with pytest.raises(TypeError, match="x must be a number"):
        tu.isPowerOf("8", 2)
