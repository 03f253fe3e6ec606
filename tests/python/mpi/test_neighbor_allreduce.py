"""neighbor_allreduce (static and dynamic), pair_gossip, and
hierarchical_neighbor_allreduce on a single machine.

Each rank's input is a function of its rank number, so every rank computes
every expected value itself (in float64 with numpy/torch), from weight
matrices built in this file. Graph i -> j with weight W[i, j]: rank j
combines with column j.
"""

import math

import networkx as nx
import numpy as np
import pytest
import torch

import bluefog.torch as bf
from reference_graphs import (
    circulant, exp2_matrix, graph_from_matrix, in_ranks, mesh_matrix, random_matrix, star_matrix)

N = bf.size()
ME = bf.rank()
needs_two = pytest.mark.skipif(N < 2, reason="needs at least 2 ranks")
needs_three = pytest.mark.skipif(N < 3, reason="needs at least 3 ranks")

FLOAT_DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


# ---------------------------------------------------------------- graphs

def skewed_ring_matrix(n):
    """Both-sides ring with unequal weights (self 1/2, from the left 1/8,
    from the right 3/8), so weighted and uniform results differ."""
    W = np.zeros((n, n))
    for i in range(n):
        W[i, i] += 0.5
        W[i, (i + 1) % n] += 0.125
        W[i, (i - 1) % n] += 0.375
    return W


MATRICES = {
    "exp2": exp2_matrix,
    "ring_both": lambda n: circulant(n, [1, -1]),
    "ring_left": lambda n: circulant(n, [-1]),
    "ring_right": lambda n: circulant(n, [1]),
    "star": star_matrix,
    "full": lambda n: np.full((n, n), 1.0 / n),
    "mesh": mesh_matrix,
    "random": lambda n: random_matrix(n, seed=11),
    "skewed_ring": skewed_ring_matrix,
    "self_loops_only": np.eye,
}


def static_weights(W, j, weighted):
    """(self_weight, {src: weight}) rank j uses by default."""
    srcs = in_ranks(W, j)
    if weighted:
        return float(W[j, j]), {i: float(W[i, j]) for i in srcs}
    u = 1.0 / (len(srcs) + 1)
    return u, {i: u for i in srcs}


# ---------------------------------------------------------------- values

def values(shape, rank, dtype=torch.float64):
    """Positive small integers depending on rank and position: exact in every
    float dtype (below 256, so exact in bfloat16 too)."""
    n = math.prod(shape)
    idx = torch.arange(n, dtype=torch.int64)
    v = (idx * 7 + 3 * rank) % 17 + rank + 1
    return v.to(dtype).reshape(shape)


def non_contiguous(shape, rank, dtype):
    """A transposed view whose logical contents are values(shape, rank)."""
    t = values(shape, rank, dtype).t().contiguous().t()
    assert not t.is_contiguous() and t.shape == shape
    return t


def combine(shape, self_weight, src_weights, me=ME):
    """self_weight * x_me + sum_j src_weights[j] * x_j in float64."""
    out = self_weight * values(shape, me)
    for j, w in sorted(src_weights.items()):
        out = out + w * values(shape, j)
    return out


TOL = {
    torch.float64: dict(rtol=1e-12, atol=1e-12),
    torch.float32: dict(rtol=2e-6, atol=1e-5),
    torch.float16: dict(rtol=2e-3, atol=2e-3),
    torch.bfloat16: dict(rtol=1e-2, atol=1e-2),
}


def assert_result(out, expected64, dtype):
    assert isinstance(out, torch.Tensor)
    assert out.dtype == dtype
    assert out.shape == expected64.shape
    torch.testing.assert_close(out.to(torch.float64), expected64, **TOL[dtype])


def install(graph, weighted=False):
    W = MATRICES[graph](N)
    assert bf.set_topology(graph_from_matrix(W), is_weighted=weighted) is True
    return W


@pytest.fixture(autouse=True)
def restore_default_topology():
    yield
    bf.set_topology(None)
    bf.set_machine_topology(None)


# ---------------------------------------------------------------- static, default weights

@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("weighted", [False, True], ids=["uniform", "weighted"])
@pytest.mark.parametrize("graph", list(MATRICES))
def test_static_default_weights(graph, weighted, dtype):
    W = install(graph, weighted)
    shape = (4, 5)
    x = values(shape, ME, dtype)
    out = bf.neighbor_allreduce(x, name=f"nar.static.{graph}.{weighted}.{dtype}")
    assert torch.equal(x, values(shape, ME, dtype))  # input untouched
    assert_result(out, combine(shape, *static_weights(W, ME, weighted)), dtype)


def test_default_topology_is_exponential_two():
    bf.set_topology(None)
    shape = (3, 2)
    out = bf.neighbor_allreduce(values(shape, ME), name="nar.default_topology")
    assert_result(out, combine(shape, *static_weights(exp2_matrix(N), ME, False)),
                  torch.float64)


def _builtin_graphs():
    from bluefog.common import topology_util as tu
    graphs = {
        "ExponentialTwoGraph": tu.ExponentialTwoGraph(N),
        "ExponentialGraph": tu.ExponentialGraph(N),
        "ExponentialGraph3": tu.ExponentialGraph(N, base=3),
        "SymmetricExponentialGraph": tu.SymmetricExponentialGraph(N),
        "MeshGrid2DGraph": tu.MeshGrid2DGraph(N),
        "StarGraph": tu.StarGraph(N),
        "StarGraphLast": tu.StarGraph(N, center_rank=N - 1),
        "FullyConnectedGraph": tu.FullyConnectedGraph(N),
    }
    for style in (0, 1, 2):
        graphs[f"RingGraph{style}"] = tu.RingGraph(N, connect_style=style)
    return graphs


BUILTINS = ["ExponentialTwoGraph", "ExponentialGraph", "ExponentialGraph3",
            "SymmetricExponentialGraph", "MeshGrid2DGraph", "StarGraph", "StarGraphLast",
            "FullyConnectedGraph", "RingGraph0", "RingGraph1", "RingGraph2"]


@pytest.mark.parametrize("weighted", [False, True], ids=["uniform", "weighted"])
@pytest.mark.parametrize("builtin", BUILTINS)
def test_builtin_generators(builtin, weighted):
    """Every topology_util generator installed; expectations from the graph's
    own weight matrix."""
    graph = _builtin_graphs()[builtin]
    W = nx.to_numpy_array(graph, nodelist=range(N), weight="weight")
    assert bf.set_topology(graph, is_weighted=weighted) is True
    assert bf.in_neighbor_ranks() == in_ranks(W, ME)
    shape = (7,)
    out = bf.neighbor_allreduce(values(shape, ME), name=f"nar.builtin.{builtin}.{weighted}")
    assert_result(out, combine(shape, *static_weights(W, ME, weighted)), torch.float64)


# ---------------------------------------------------------------- shapes

SHAPES = ["scalar", "one", "3x5x7", "large", "transposed", "large_transposed"]


def make_input(kind, rank, dtype):
    if kind == "scalar":
        return values((), rank, dtype)
    if kind == "one":
        return values((1,), rank, dtype)
    if kind == "3x5x7":
        return values((3, 5, 7), rank, dtype)
    if kind == "large":
        return values((100_000,), rank, dtype)
    if kind == "transposed":
        return non_contiguous((6, 9), rank, dtype)
    return non_contiguous((300, 301), rank, dtype)


@pytest.mark.parametrize("named", [True, False], ids=["named", "unnamed"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("kind", SHAPES)
def test_shapes(kind, dtype, named):
    W = install("ring_both")
    x = make_input(kind, ME, dtype)
    before = x.clone()
    name = f"nar.shape.{kind}.{dtype}" if named else None
    out = bf.neighbor_allreduce(x, name=name)
    assert torch.equal(x, before)
    expected = combine(tuple(x.shape), *static_weights(W, ME, False))
    assert_result(out, expected, dtype)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_large_low_precision(dtype):
    W = install("exp2", weighted=True)
    x = values((100_000,), ME, dtype)
    out = bf.neighbor_allreduce(x, name=f"nar.large_low.{dtype}")
    assert_result(out, combine((100_000,), *static_weights(W, ME, True)), dtype)


# ---------------------------------------------------------------- explicit static weights

@needs_two
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("weighted", [False, True], ids=["uniform", "weighted"])
@pytest.mark.parametrize("subset", ["all", "skip_first", "only_last", "none"])
def test_explicit_static_weights(subset, weighted, dtype):
    """Named in-neighbours get their own weight, unnamed ones count with
    weight 0; explicit weights win over the graph's. Dyadic weights and
    integer inputs: the result is exact."""
    W = install("full", weighted)
    ins = in_ranks(W, ME)
    named = {"all": ins, "skip_first": ins[1:], "only_last": ins[-1:], "none": []}[subset]
    src_weights = {j: (j + 1) / 32 for j in named}
    shape = (5, 3)
    x = values(shape, ME, dtype)
    out = bf.neighbor_allreduce(x, self_weight=0.5, src_weights=src_weights,
                                name=f"nar.explicit.{subset}.{weighted}.{dtype}")
    expected = combine(shape, 0.5, src_weights).to(dtype)
    assert out.dtype == dtype
    assert torch.equal(out, expected)


@needs_three
def test_explicit_static_weights_on_sparse_graph():
    """ring_both: two in-neighbours; name only the right one, with a weight
    unlike the left one's, so swapping data between them would show."""
    install("ring_both")
    left, right = (ME - 1) % N, (ME + 1) % N
    shape = (4,)
    out = bf.neighbor_allreduce(values(shape, ME), self_weight=0.25,
                                src_weights={right: 0.75}, name="nar.explicit.ring_right_only")
    assert torch.equal(out, combine(shape, 0.25, {right: 0.75}))
    out = bf.neighbor_allreduce(values(shape, ME), self_weight=0.125,
                                src_weights={left: 0.375, right: 0.5},
                                name="nar.explicit.ring_both_named")
    assert torch.equal(out, combine(shape, 0.125, {left: 0.375, right: 0.5}))


def test_explicit_self_weight_only_neighbours():
    """self_weight with an empty src_weights: self_weight * x."""
    install("exp2")
    shape = (6,)
    out = bf.neighbor_allreduce(values(shape, ME), self_weight=0.75, src_weights={},
                                name="nar.explicit.empty")
    assert torch.equal(out, 0.75 * values(shape, ME))


# ---------------------------------------------------------------- dynamic

def dst_weight(sender, receiver):
    """Dyadic weight the sender applies for a receiver."""
    return (1 + (sender + 2 * receiver) % 4) / 8


def src_weight(receiver, sender):
    return 1.0 / 2 ** (1 + (sender + receiver) % 3)


@needs_two
@pytest.mark.parametrize("shape", [(3, 4), (100_000,)], ids=["small", "large"])
@pytest.mark.parametrize("topo_check", [True, False], ids=["check", "nocheck"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_dynamic_ring_shift_dict(dtype, topo_check, shape):
    """Send to rank+1 with a sender-chosen weight, receive from rank-1:
    result = self_weight*x + src_weight * dst_weight(sender) * x_sender."""
    install("self_loops_only")  # dynamic use ignores the installed graph
    nxt, prv = (ME + 1) % N, (ME - 1) % N
    x = values(shape, ME, dtype)
    out = bf.neighbor_allreduce(x, self_weight=0.25, src_weights={prv: 0.5},
                                dst_weights={nxt: dst_weight(ME, nxt)},
                                enable_topo_check=topo_check,
                                name=f"nar.dyn.ring.{dtype}.{topo_check}.{shape}")
    expected = combine(shape, 0.25, {prv: 0.5 * dst_weight(prv, ME)}).to(dtype)
    assert torch.equal(out, expected)
    assert torch.equal(x, values(shape, ME, dtype))


@needs_two
@pytest.mark.parametrize("topo_check", [True, False], ids=["check", "nocheck"])
def test_dynamic_ring_shift_list(topo_check):
    """dst_weights as a list: weight 1."""
    nxt, prv = (ME + 1) % N, (ME - 1) % N
    shape = (5,)
    out = bf.neighbor_allreduce(values(shape, ME), self_weight=0.5, src_weights={prv: 0.5},
                                dst_weights=[nxt], enable_topo_check=topo_check,
                                name=f"nar.dyn.ring_list.{topo_check}")
    assert torch.equal(out, combine(shape, 0.5, {prv: 0.5}))


@needs_two
@pytest.mark.parametrize("topo_check", [True, False], ids=["check", "nocheck"])
def test_dynamic_integer_dst_weight(topo_check):
    nxt, prv = (ME + 1) % N, (ME - 1) % N
    shape = (2, 2)
    out = bf.neighbor_allreduce(values(shape, ME), self_weight=1, src_weights={prv: 1},
                                dst_weights={nxt: 2}, enable_topo_check=topo_check,
                                name=f"nar.dyn.int_weights.{topo_check}")
    assert torch.equal(out, combine(shape, 1.0, {prv: 2.0}))


@needs_two
@pytest.mark.parametrize("topo_check", [True, False], ids=["check", "nocheck"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_dynamic_all_to_all_per_pair_weights(dtype, topo_check):
    """Every rank sends to every other with a per-(sender, receiver) weight and
    receives from all with per-sender weights."""
    others = [r for r in range(N) if r != ME]
    shape = (9,)
    out = bf.neighbor_allreduce(
        values(shape, ME, dtype), self_weight=0.25,
        src_weights={j: src_weight(ME, j) for j in others},
        dst_weights={j: dst_weight(ME, j) for j in others},
        enable_topo_check=topo_check, name=f"nar.dyn.all.{dtype}.{topo_check}")
    expected = combine(shape, 0.25, {j: src_weight(ME, j) * dst_weight(j, ME) for j in others})
    assert_result(out, expected, dtype)
    if dtype in (torch.float32, torch.float64):
        assert torch.equal(out, expected.to(dtype))


@needs_three
@pytest.mark.parametrize("topo_check", [True, False], ids=["check", "nocheck"])
def test_dynamic_asymmetric_degrees(topo_check):
    """Rank 0 sends to everyone and receives from nobody; the others receive
    only from rank 0 and send nothing."""
    shape = (4,)
    if ME == 0:
        out = bf.neighbor_allreduce(values(shape, ME), self_weight=1.0, src_weights={},
                                    dst_weights={j: dst_weight(0, j) for j in range(1, N)},
                                    enable_topo_check=topo_check,
                                    name=f"nar.dyn.asym.{topo_check}")
        assert torch.equal(out, values(shape, 0))
    else:
        out = bf.neighbor_allreduce(values(shape, ME), self_weight=0.5, src_weights={0: 0.5},
                                    dst_weights=[], enable_topo_check=topo_check,
                                    name=f"nar.dyn.asym.{topo_check}")
        assert torch.equal(out, combine(shape, 0.5, {0: 0.5 * dst_weight(0, ME)}))


def _largest_power_of_two(n):
    m = 1
    while 2 * m <= n:
        m *= 2
    return m


@needs_two
@pytest.mark.parametrize("form", ["list", "dict"])
@pytest.mark.parametrize("topo_check", [True, False], ids=["check", "nocheck"])
def test_one_peer_exponential_two_exact_average(topo_check, form):
    """Ranks 0..m-1 (m the largest power of two <= size) run the one-peer
    exponential-2 schedule: at step k, send to r + 2^(k mod log2 m), receive
    from r - 2^(k mod log2 m). After log2(m) steps every participant holds
    exactly the mean of the participants' inputs, and keeps it afterwards.
    Ranks >= m make the same calls with no peers and keep their tensor."""
    m = _largest_power_of_two(N)
    steps = int(math.log2(m))
    shape = (10,)
    x = values(shape, ME) * 8  # integers; means of 2^k of them stay exact
    mean = sum(values(shape, r) * 8 for r in range(m)) / m
    for k in range(2 * steps):
        d = 2 ** (k % steps)
        if ME < m:
            send, recv = (ME + d) % m, (ME - d) % m
            if form == "list":
                kwargs = dict(self_weight=0.5, src_weights={recv: 0.5}, dst_weights=[send])
            else:
                kwargs = dict(self_weight=0.5, src_weights={recv: 1.0},
                              dst_weights={send: 0.5})
        else:
            kwargs = dict(self_weight=1.0, src_weights={}, dst_weights=[])
        x = bf.neighbor_allreduce(x, enable_topo_check=topo_check,
                                  name=f"nar.exp2.{topo_check}.{form}.{k}", **kwargs)
        if k == steps - 1 or k == 2 * steps - 1:
            if ME < m:
                assert torch.equal(x, mean), (k, x, mean)
            else:
                assert torch.equal(x, values(shape, ME) * 8)


# ---------------------------------------------------------------- nonblocking

@pytest.mark.parametrize("named", [True, False], ids=["named", "unnamed"])
def test_nonblocking_many_in_flight(named):
    """Several ops (static and dynamic, various dtypes) in flight together,
    synchronized in reverse order."""
    W = install("ring_both", weighted=True)
    sw, srcs = static_weights(W, ME, True)
    nxt, prv = (ME + 1) % N, (ME - 1) % N
    dynamic = N >= 2
    specs = []
    for i, dtype in enumerate(FLOAT_DTYPES):
        shape = (3 + i, 2)
        name = f"nar.nb.{i}" if named else None
        handle = bf.neighbor_allreduce_nonblocking(values(shape, ME, dtype), name=name)
        specs.append((handle, combine(shape, sw, srcs), dtype))
        if dynamic:
            name = f"nar.nb.dyn.{i}" if named else None
            handle = bf.neighbor_allreduce_nonblocking(
                values(shape, ME, dtype), self_weight=0.5, src_weights={prv: 0.25},
                dst_weights={nxt: 2.0}, name=name)
            specs.append((handle, combine(shape, 0.5, {prv: 0.5}), dtype))
    for handle, _, _ in specs:
        assert isinstance(handle, int)
    results = []
    for i, (handle, expected, dtype) in enumerate(reversed(specs)):
        if i % 2:
            out = bf.wait(handle)
        else:
            while not bf.poll(handle):
                pass
            out = bf.synchronize(handle)
        results.append(out)
        assert_result(out, expected, dtype)


def test_unnamed_sequence():
    """Unnamed ops pair up by order across ranks."""
    W = install("exp2")
    sw, srcs = static_weights(W, ME, False)
    for i in range(5):
        shape = (i + 1,)
        out = bf.neighbor_allreduce(values(shape, ME))
        assert_result(out, combine(shape, sw, srcs), torch.float64)


def test_name_reused_after_completion():
    W = install("ring_both")
    sw, srcs = static_weights(W, ME, False)
    for _ in range(3):
        out = bf.neighbor_allreduce(values((4,), ME), name="nar.reused")
        assert_result(out, combine((4,), sw, srcs), torch.float64)


# ---------------------------------------------------------------- pair_gossip

def _partner():
    """Pairs (0,1), (2,3), ...; an odd last rank has none."""
    p = ME ^ 1
    return p if p < N else None


@needs_two
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_pair_gossip_average(dtype):
    p = _partner()
    if p is None:
        return
    shape = (2, 3)
    x = values(shape, ME, dtype)
    out = bf.pair_gossip(x, p, name=f"nar.gossip.{dtype}")
    assert torch.equal(x, values(shape, ME, dtype))
    assert_result(out, combine(shape, 0.5, {p: 0.5}), dtype)


@needs_two
@pytest.mark.parametrize("nonblocking", [False, True])
def test_pair_gossip_weighted(nonblocking):
    p = _partner()
    if p is None:
        return
    shape = (100_000,)
    x = values(shape, ME)
    if nonblocking:
        out = bf.synchronize(bf.pair_gossip_nonblocking(x, p, self_weight=0.75,
                                                        pair_weight=0.25,
                                                        name="nar.gossip.w.nb"))
    else:
        out = bf.pair_gossip(x, p, self_weight=0.75, pair_weight=0.25, name="nar.gossip.w")
    assert torch.equal(out, combine(shape, 0.75, {p: 0.25}))


# ---------------------------------------------------------------- hierarchical, one machine

one_machine_several_ranks = pytest.mark.skipif(
    bf.machine_size() != 1 or bf.local_size() < 2,
    reason="needs one machine with several ranks")


@one_machine_several_ranks
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_hierarchical_single_machine_is_local_average(dtype):
    """One machine: no machine neighbours, so the result is the average over
    the machine's ranks, bit-identical on all of them."""
    shape = (3, 3)
    out = bf.hierarchical_neighbor_allreduce(values(shape, ME, dtype),
                                             name=f"nar.hier1.{dtype}")
    mean = sum(values(shape, r) for r in range(N)) / N
    assert_result(out, mean, dtype)
    everyone = bf.allgather(out.unsqueeze(0), name=f"nar.hier1.{dtype}.check")
    for r in range(N):
        assert torch.equal(everyone[r], out)


@one_machine_several_ranks
def test_hierarchical_single_machine_explicit_self_weight():
    shape = (5,)
    x = values(shape, ME) * N
    out = bf.hierarchical_neighbor_allreduce(x, self_weight=0.5, src_machine_weights={},
                                             name="nar.hier1.explicit")
    assert torch.equal(out, 0.5 * sum(values(shape, r) for r in range(N)))


# ---------------------------------------------------------------- user-style loops
# (topology_util helpers feed the op; expectations come from the matrices here)

def test_numpy_scalar_ranks_and_weights():
    """Weights read from numpy arrays (numpy ints as ranks, numpy floats as
    weights) work like Python numbers."""
    W = install("random", weighted=True)
    self_w, srcs = static_weights(W, ME, True)
    out = bf.neighbor_allreduce(values((4,), ME), self_weight=np.float64(self_w),
                                src_weights={np.int64(j): np.float64(w)
                                             for j, w in srcs.items()},
                                name="nar.numpy_scalars")
    assert_result(out, combine((4,), self_w, srcs), torch.float64)
    if N >= 2:
        nxt, prv = (ME + 1) % N, (ME - 1) % N
        out = bf.neighbor_allreduce(values((4,), ME), self_weight=np.float32(0.5),
                                    src_weights={np.int32(prv): np.float32(0.5)},
                                    dst_weights={np.int64(nxt): np.float64(0.5)},
                                    name="nar.numpy_scalars.dyn")
        assert torch.equal(out, combine((4,), 0.5, {prv: 0.25}))


@pytest.mark.parametrize("graph", ["random", "skewed_ring", "star"])
def test_get_recv_weights_loop(graph):
    """The BlueFog examples' static loop: weights from GetRecvWeights."""
    from bluefog.common import topology_util as tu
    W = install(graph)
    self_w, srcs = tu.GetRecvWeights(bf.load_topology(), ME)
    out = bf.neighbor_allreduce(values((5,), ME), self_weight=self_w, src_weights=srcs,
                                name=f"nar.recv_weights.{graph}")
    assert_result(out, combine((5,), *static_weights(W, ME, True)), torch.float64)


def one_peer_schedule(W, k):
    """{sender: receiver} at step k: each rank's (k mod out_degree)-th
    out-neighbour counted clockwise from itself."""
    n = W.shape[0]
    sends = {}
    for i in range(n):
        outs = sorted((j for j in range(n) if j != i and W[i, j] != 0),
                      key=lambda j: (j - i) % n)
        if outs:
            sends[i] = outs[k % len(outs)]
    return sends


@needs_two
@pytest.mark.parametrize("graph", ["exp2", "random", "star"])
def test_dynamic_one_peer_loop(graph):
    """The BlueFog examples' dynamic loop driven by
    GetDynamicOnePeerSendRecvRanks, checked against a simulation of all
    ranks built from the graph here."""
    from bluefog.common import topology_util as tu
    W = install(graph)
    gen = tu.GetDynamicOnePeerSendRecvRanks(bf.load_topology(), ME)
    shape = (6,)
    sim = {r: values(shape, r) for r in range(N)}
    x = values(shape, ME)
    for k in range(2 * N):
        send, recv = next(gen)
        sends = one_peer_schedule(W, k)
        assert list(send) == ([sends[ME]] if ME in sends else [])
        assert sorted(recv) == sorted(i for i, j in sends.items() if j == ME)
        u = 1.0 / (len(recv) + 1)
        x = bf.neighbor_allreduce(x, self_weight=u, src_weights={r: u for r in recv},
                                  dst_weights=send, name=f"nar.one_peer_loop.{graph}.{k}")
        new = {}
        for j in range(N):
            froms = [i for i, d in sends.items() if d == j]
            new[j] = (sim[j] + sum(sim[i] for i in froms)) / (len(froms) + 1)
        sim = new
        assert_result(x, sim[ME], torch.float64)


# ---------------------------------------------------------------- exchange with itself

def test_dynamic_exchange_with_itself_joins_the_self_weight():
    """0.3 let a dynamic call send to and receive from the rank itself."""
    x = torch.arange(4, dtype=torch.float64) + ME
    got = bf.neighbor_allreduce(x, self_weight=0.25, src_weights={ME: 0.5},
                                dst_weights={ME: 1.5}, name="nar.self_pair")
    assert torch.allclose(got, (0.25 + 0.5 * 1.5) * x, rtol=0, atol=1e-12)


@pytest.mark.parametrize("where", ["src", "dst"])
def test_one_sided_exchange_with_itself_is_refused(where):
    kwargs = (dict(src_weights={ME: 0.5}, dst_weights=[]) if where == "src"
              else dict(src_weights={}, dst_weights=[ME]))
    with pytest.raises(ValueError, match="an exchange with itself must be both sent"):
        bf.neighbor_allreduce(torch.ones(2), self_weight=0.5, name=f"nar.self_one.{where}",
                              **kwargs)


@pytest.mark.skipif(N == 2, reason="local_size 2 is refused (see the next test)")
def test_inner_outer_ring_on_one_machine_runs_as_in_0_3():
    """The seed's loop over GetInnerOuterRingDynamicSendRecvRanks with one
    machine (its outgoing rank gets ([self], [self])), checked against the
    same steps computed here for every rank."""
    schedules = [bf.GetInnerOuterRingDynamicSendRecvRanks(N, N, r) for r in range(N)]
    mine = bf.GetInnerOuterRingDynamicSendRecvRanks(N, N, ME)
    values = [float(r * r) for r in range(N)]
    x = torch.tensor([values[ME]], dtype=torch.float64)
    for step in range(2 * N):
        send, recv = next(mine)
        weight = 1.0 / (len(recv) + 1)
        x = bf.neighbor_allreduce(x, self_weight=weight, src_weights={r: weight for r in recv},
                                  dst_weights=send, name="nar.inner_outer_one")
        plans = [next(s) for s in schedules]
        values = [(values[r] + sum(values[s] for s in plans[r][1])) / (len(plans[r][1]) + 1)
                  for r in range(N)]
        assert x.item() == pytest.approx(values[ME], abs=1e-12), step


@pytest.mark.skipif(N != 2, reason="two ranks on one machine")
def test_inner_outer_ring_refuses_two_local_ranks():
    with pytest.raises(ValueError, match="local_size 2 is not supported"):
        bf.GetInnerOuterRingDynamicSendRecvRanks(N, N, ME)
