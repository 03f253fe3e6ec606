"""Neighbour ops at 8 ranks; hierarchical ops with 4 emulated machines of 2
ranks (BLUEFOG_NODES_PER_MACHINE=2).

Expectations are computed here, from weight matrices built here (edge
i -> j with weight W[i, j]; node j combines with column j), never with
bluefog.common.topology_util.
"""

import math
import time

import numpy as np
import pytest
import torch

import bluefog.torch as bf
from reference_graphs import (circulant, exp2_matrix, graph_from_matrix, in_ranks, star_matrix)

pytestmark = pytest.mark.skipif(bf.size() != 8, reason="runs at exactly 8 ranks")

N = bf.size()
ME = bf.rank()
L = bf.local_size()
M = bf.machine_size()
MY_MACHINE = bf.machine_rank()
four_machines = pytest.mark.skipif(
    L != 2 or M != 4, reason="needs BLUEFOG_NODES_PER_MACHINE=2 (4 machines of 2 ranks)")

FLOAT_DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
TOL = {
    torch.float64: dict(rtol=1e-12, atol=1e-12),
    torch.float32: dict(rtol=2e-6, atol=1e-5),
    torch.float16: dict(rtol=2e-3, atol=2e-3),
    torch.bfloat16: dict(rtol=1e-2, atol=1e-2),
}


# ---------------------------------------------------------------- graphs and values

def skewed_ring_matrix(n):
    """Self 1/2, from the left neighbour 3/8, from the right one 1/8."""
    W = np.zeros((n, n))
    for i in range(n):
        W[i, i] += 0.5
        W[i, (i + 1) % n] += 0.375
        W[i, (i - 1) % n] += 0.125
    return W


def mesh_2x4():
    rows, cols = 2, 4
    nbrs = {i: [] for i in range(8)}
    for i in range(8):
        r, c = divmod(i, cols)
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            if 0 <= r + dr < rows and 0 <= c + dc < cols:
                nbrs[i].append((r + dr) * cols + c + dc)
    W = np.zeros((8, 8))
    for i in range(8):
        for j in nbrs[i]:
            W[i, j] = 1.0 / max(len(nbrs[i]) + 1, len(nbrs[j]) + 1)
        W[i, i] = 1.0 - W[i].sum()
    return W


def random_matrix(n, seed=5):
    rng = np.random.RandomState(seed)
    A = (rng.rand(n, n) < 0.35).astype(float) * rng.randint(1, 8, size=(n, n))
    np.fill_diagonal(A, rng.randint(1, 8, size=n))
    return A / A.sum(axis=0)


MATRICES = {
    "exp2": lambda: exp2_matrix(8),
    "ring_both": lambda: circulant(8, [1, -1]),
    "skewed_ring": lambda: skewed_ring_matrix(8),
    "star": lambda: star_matrix(8),
    "mesh_2x4": mesh_2x4,
    "full": lambda: np.full((8, 8), 1.0 / 8),
    "random": lambda: random_matrix(8),
}


def static_weights(W, j, weighted):
    srcs = in_ranks(W, j)
    if weighted:
        return float(W[j, j]), {i: float(W[i, j]) for i in srcs}
    u = 1.0 / (len(srcs) + 1)
    return u, {i: u for i in srcs}


def values(shape, rank, dtype=torch.float64):
    n = math.prod(shape)
    idx = torch.arange(n, dtype=torch.int64)
    v = (idx * 7 + 3 * rank) % 17 + rank + 1
    return v.to(dtype).reshape(shape)


def combine(shape, self_weight, src_weights, me=ME, value_fn=values):
    out = self_weight * value_fn(shape, me)
    for j, w in sorted(src_weights.items()):
        out = out + w * value_fn(shape, j)
    return out


def assert_result(out, expected64, dtype):
    assert out.dtype == dtype and out.shape == expected64.shape
    torch.testing.assert_close(out.to(torch.float64), expected64, **TOL[dtype])


@pytest.fixture(autouse=True)
def restore_default_topologies():
    yield
    bf.set_topology(None)
    bf.set_machine_topology(None)


# ---------------------------------------------------------------- flat neighbour ops

def test_default_topology_is_exponential_two():
    W = exp2_matrix(8)
    bf.set_topology(None)
    assert bf.in_neighbor_ranks() == sorted([(ME - 1) % 8, (ME - 2) % 8, (ME - 4) % 8])
    assert bf.out_neighbor_ranks() == sorted([(ME + 1) % 8, (ME + 2) % 8, (ME + 4) % 8])
    shape = (6, 7)
    out = bf.neighbor_allreduce(values(shape, ME), name="e8.default")
    # Weights 1/4 and integer inputs: exact.
    assert torch.equal(out, combine(shape, *static_weights(W, ME, False)))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("weighted", [False, True], ids=["uniform", "weighted"])
@pytest.mark.parametrize("graph", list(MATRICES))
def test_static_graphs(graph, weighted, dtype):
    W = MATRICES[graph]()
    assert bf.set_topology(graph_from_matrix(W), is_weighted=weighted) is True
    assert bf.in_neighbor_ranks() == in_ranks(W, ME)
    shape = (4, 3)
    out = bf.neighbor_allreduce(values(shape, ME, dtype),
                                name=f"e8.static.{graph}.{weighted}.{dtype}")
    assert_result(out, combine(shape, *static_weights(W, ME, weighted)), dtype)


def test_large_exp2():
    W = exp2_matrix(8)
    shape = (100_000,)
    out = bf.neighbor_allreduce(values(shape, ME), name="e8.large")
    assert torch.equal(out, combine(shape, *static_weights(W, ME, False)))


@pytest.mark.parametrize("form", ["list", "dict"])
@pytest.mark.parametrize("topo_check", [True, False], ids=["check", "nocheck"])
def test_one_peer_exponential_two_exact_average(topo_check, form):
    """Step k: send to r + 2^(k mod 3), receive from r - 2^(k mod 3), half
    and half. After 3 steps every rank holds exactly the global mean."""
    shape = (12,)
    x = values(shape, ME) * 8
    mean = sum(values(shape, r) * 8 for r in range(8)) / 8
    for k in range(6):
        d = 2 ** (k % 3)
        send, recv = (ME + d) % 8, (ME - d) % 8
        if form == "list":
            kwargs = dict(self_weight=0.5, src_weights={recv: 0.5}, dst_weights=[send])
        else:
            kwargs = dict(self_weight=0.5, src_weights={recv: 1.0}, dst_weights={send: 0.5})
        x = bf.neighbor_allreduce(x, enable_topo_check=topo_check,
                                  name=f"e8.exp2.{topo_check}.{form}.{k}", **kwargs)
        if k < 2:
            assert not torch.equal(x, mean)
        else:
            assert torch.equal(x, mean), (k, x, mean)


def test_neighbor_allgather_default_topology():
    W = exp2_matrix(8)
    x = torch.full((ME % 3, 2), float(ME))
    out = bf.neighbor_allgather(x, name="e8.gather")
    expected = torch.cat([torch.full((r % 3, 2), float(r)) for r in in_ranks(W, ME)])
    assert torch.equal(out, expected)


# ---------------------------------------------------------------- hierarchical

def machine_average(shape, machine, dtype=torch.float64):
    first = machine * L
    return sum(values(shape, r, dtype) for r in range(first, first + L)) / L


def machine_combine(shape, self_weight, src_weights):
    out = self_weight * machine_average(shape, MY_MACHINE)
    for m, w in sorted(src_weights.items()):
        out = out + w * machine_average(shape, m)
    return out


def assert_same_on_machine(out, tag):
    """The result is bit-identical on all ranks of a machine."""
    everyone = bf.allgather(out.unsqueeze(0), name=f"e8.same.{tag}")
    first = MY_MACHINE * L
    for r in range(first, first + L):
        assert torch.equal(everyone[r], out), (r, everyone[r], out)


@four_machines
def test_machine_counts():
    assert MY_MACHINE == ME // 2
    assert bf.local_rank() == ME % 2
    assert bf.is_homogeneous()


@four_machines
def test_default_machine_topology():
    assert bf.in_neighbor_machine_ranks() == sorted([(MY_MACHINE - 1) % 4,
                                                     (MY_MACHINE - 2) % 4])
    assert bf.out_neighbor_machine_ranks() == sorted([(MY_MACHINE + 1) % 4,
                                                      (MY_MACHINE + 2) % 4])
    graph = bf.load_machine_topology()
    assert sorted(graph.nodes) == [0, 1, 2, 3]


@four_machines
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_hierarchical_default(dtype):
    """Average inside the machine, then uniform combination with the
    in-neighbour machines of ExponentialGraph(4) (m-1 and m-2): 1/3 each."""
    W = exp2_matrix(4)
    shape = (5, 4)
    x = values(shape, ME, dtype)
    out = bf.hierarchical_neighbor_allreduce(x, name=f"e8.hier.default.{dtype}")
    assert torch.equal(x, values(shape, ME, dtype))
    expected = machine_combine(shape, *static_weights(W, MY_MACHINE, False))
    assert_result(out, expected, dtype)
    assert_same_on_machine(out, f"default.{dtype}")


@four_machines
def test_hierarchical_large_nonblocking():
    shape = (100_000,)
    handle = bf.hierarchical_neighbor_allreduce_nonblocking(values(shape, ME),
                                                            name="e8.hier.large")
    out = bf.synchronize(handle)
    W = exp2_matrix(4)
    assert_result(out, machine_combine(shape, *static_weights(W, MY_MACHINE, False)),
                  torch.float64)
    assert_same_on_machine(out, "large")


@four_machines
@pytest.mark.parametrize("weighted", [False, True], ids=["uniform", "weighted"])
def test_hierarchical_installed_machine_topology(weighted):
    W = skewed_ring_matrix(4)
    assert bf.set_machine_topology(graph_from_matrix(W), is_weighted=weighted) is True
    assert bf.in_neighbor_machine_ranks() == in_ranks(W, MY_MACHINE)
    shape = (6,)
    out = bf.hierarchical_neighbor_allreduce(values(shape, ME),
                                             name=f"e8.hier.installed.{weighted}")
    expected = machine_combine(shape, *static_weights(W, MY_MACHINE, weighted))
    if weighted:  # dyadic weights, machine averages of two integers: exact
        assert torch.equal(out, expected)
    else:
        assert_result(out, expected, torch.float64)
    assert_same_on_machine(out, f"installed.{weighted}")


@four_machines
def test_hierarchical_explicit_static_weights():
    """Name only one of the two in-neighbour machines; the other counts 0."""
    shape = (3, 3)
    named = {(MY_MACHINE - 2) % 4: 0.25}
    out = bf.hierarchical_neighbor_allreduce(values(shape, ME), self_weight=0.75,
                                             src_machine_weights=named,
                                             name="e8.hier.explicit")
    assert torch.equal(out, machine_combine(shape, 0.75, named))
    assert_same_on_machine(out, "explicit")


@four_machines
@pytest.mark.parametrize("form", ["dict", "list"])
@pytest.mark.parametrize("topo_check", [True, False], ids=["check", "nocheck"])
def test_hierarchical_dynamic_machine_weights(topo_check, form):
    """Machine m sends to m+1 (scaled by the sender's dst weight) and
    receives from m-1."""
    nxt, prv = (MY_MACHINE + 1) % 4, (MY_MACHINE - 1) % 4
    if form == "dict":
        dst = {nxt: 0.5}
        expected_src = {prv: 0.5 * 1.5}
        src = {prv: 1.5}
    else:
        dst = [nxt]
        src = {prv: 0.25}
        expected_src = src
    shape = (8,)
    out = bf.hierarchical_neighbor_allreduce(values(shape, ME), self_weight=0.5,
                                             src_machine_weights=src,
                                             dst_machine_weights=dst,
                                             enable_topo_check=topo_check,
                                             name=f"e8.hier.dyn.{topo_check}.{form}")
    assert torch.equal(out, machine_combine(shape, 0.5, expected_src))
    assert_same_on_machine(out, f"dyn.{topo_check}.{form}")


@four_machines
def test_hierarchical_one_peer_exponential_two_exact_average():
    """Machine-level one-peer exponential-2 over 4 machines: after 2 steps
    every rank holds exactly the global mean."""
    shape = (10,)
    x = values(shape, ME) * 8
    mean = sum(values(shape, r) * 8 for r in range(8)) / 8
    for k in range(4):
        d = 2 ** (k % 2)
        out = bf.hierarchical_neighbor_allreduce(
            x, self_weight=0.5, src_machine_weights={(MY_MACHINE - d) % 4: 0.5},
            dst_machine_weights=[(MY_MACHINE + d) % 4], name=f"e8.hier.exp2.{k}")
        x = out
        if k >= 1:
            assert torch.equal(x, mean), (k, x, mean)


@four_machines
@pytest.mark.parametrize("case", ["stranger", "out_of_range", "own_machine",
                                  "dyn_out_of_range", "dyn_own_machine"])
def test_hierarchical_bad_machine_ranks(case):
    nxt = (MY_MACHINE + 1) % 4  # not an in-neighbour of ExponentialGraph(4)'s machine
    kwargs = {
        "stranger": dict(self_weight=0.5, src_machine_weights={nxt: 0.5}),
        "out_of_range": dict(self_weight=0.5, src_machine_weights={4: 0.5}),
        "own_machine": dict(self_weight=0.5, src_machine_weights={MY_MACHINE: 0.5}),
        "dyn_out_of_range": dict(self_weight=0.5, src_machine_weights={},
                                 dst_machine_weights=[4]),
        "dyn_own_machine": dict(self_weight=0.5, src_machine_weights={},
                                dst_machine_weights=[MY_MACHINE]),
    }[case]
    with pytest.raises(ValueError):
        bf.hierarchical_neighbor_allreduce(torch.ones(3), name=f"e8.hier.bad.{case}", **kwargs)
    # Still works afterwards.
    out = bf.hierarchical_neighbor_allreduce(values((2,), ME), self_weight=1.0,
                                             src_machine_weights={},
                                             name=f"e8.hier.bad.{case}.after")
    assert torch.equal(out, machine_average((2,), MY_MACHINE))


@four_machines
def test_hierarchical_integer_tensor_rejected():
    with pytest.raises(ValueError):
        bf.hierarchical_neighbor_allreduce(torch.ones(3, dtype=torch.int32),
                                           name="e8.hier.int")


@four_machines
def test_hierarchical_exp2_machine_schedule_loop():
    """The BlueFog examples' machine-level dynamic loop, driven by
    GetExp2DynamicSendRecvMachineRanks: over 4 machines the distance is
    2^(k mod 2), so after 2 steps every rank holds exactly the global mean."""
    from bluefog.common import topology_util as tu
    gen = tu.GetExp2DynamicSendRecvMachineRanks(N, L, ME, bf.local_rank())
    shape = (7,)
    x = values(shape, ME) * 8
    mean = sum(values(shape, r) * 8 for r in range(8)) / 8
    for k in range(4):
        send, recv = next(gen)
        d = 2 ** (k % 2)
        assert list(send) == [(MY_MACHINE + d) % 4]
        assert list(recv) == [(MY_MACHINE - d) % 4]
        x = bf.hierarchical_neighbor_allreduce(
            x, self_weight=0.5, src_machine_weights={m: 0.5 for m in recv},
            dst_machine_weights=send, name=f"e8.hier.machine_loop.{k}")
        if k >= 1:
            assert torch.equal(x, mean), (k, x, mean)


@four_machines
def test_hierarchical_mismatch_never_hangs():
    """Machine ring m -> m+1; rank 0's tensor has another shape. Machine 0's
    ranks fail (they receive the mismatched data); every other rank must
    either fail or return the right values, never wait forever. Rank 3
    posts late, so that machine 1 learns of the failure before its average
    is complete."""
    t = torch.ones(3 if ME == 0 else 4)
    if ME == 3:
        time.sleep(2)
    try:
        handle = bf.hierarchical_neighbor_allreduce_nonblocking(
            t, self_weight=0.5, src_machine_weights={(MY_MACHINE - 1) % 4: 0.5},
            dst_machine_weights=[(MY_MACHINE + 1) % 4], name="e8.hier.mismatch")
        result = bf.synchronize(handle)
    except (ValueError, RuntimeError) as exc:
        result = exc
    if ME in (0, 1):
        assert isinstance(result, ValueError), repr(result)
    elif isinstance(result, torch.Tensor):
        assert torch.equal(result, torch.ones(4))
