"""neighbor_allgather: static (in-neighbours in ascending order) and dynamic
(src_ranks order). Dim 0 differs between ranks (0 rows included). Each rank
builds every rank's tensor from its rank number, so expectations are local.
"""

import numpy as np
import pytest
import torch

import bluefog.torch as bf
from reference_graphs import (circulant, exp2_matrix, graph_from_matrix, in_ranks, star_matrix)

N = bf.size()
ME = bf.rank()
NXT, PRV = (ME + 1) % N, (ME - 1) % N
needs_two = pytest.mark.skipif(N < 2, reason="needs at least 2 ranks")
needs_three = pytest.mark.skipif(N < 3, reason="needs at least 3 ranks")

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int32,
          torch.int64, torch.uint8, torch.int8, torch.int16, torch.bool]


def random_matrix(n, seed=3):
    rng = np.random.RandomState(seed)
    A = (rng.rand(n, n) < 0.5).astype(float)
    np.fill_diagonal(A, 1.0)
    return A / A.sum(axis=0)


MATRICES = {
    "exp2": exp2_matrix,
    "ring_right": lambda n: circulant(n, [1]),
    "ring_left": lambda n: circulant(n, [-1]),
    "star": star_matrix,
    "full": lambda n: np.full((n, n), 1.0 / n),
    "random": random_matrix,
    "self_loops_only": np.eye,
}


def rows_of(rank):
    return rank % 3  # ranks 0, 3, ... contribute 0 rows


def tensor_of(rank, dtype=torch.float32, trailing=(2, 3), rows=None):
    rows = rows_of(rank) if rows is None else rows
    n = rows * int(np.prod(trailing))
    v = (torch.arange(n, dtype=torch.int64) * 3 + 11 * rank) % 97
    if dtype == torch.bool:
        v = (v % 2) == 1
    return v.to(dtype).reshape((rows,) + tuple(trailing))


def expected_cat(ranks, dtype=torch.float32, trailing=(2, 3), rows=None):
    return torch.cat([tensor_of(r, dtype, trailing, rows)
                      for r in ranks] + [tensor_of(0, dtype, trailing, 0)])


@pytest.fixture(autouse=True)
def restore_default_topology():
    yield
    bf.set_topology(None)


# ---------------------------------------------------------------- static

@pytest.mark.parametrize("graph", list(MATRICES))
def test_static_ascending_in_neighbours(graph):
    W = MATRICES[graph](N)
    assert bf.set_topology(graph_from_matrix(W)) is True
    x = tensor_of(ME)
    out = bf.neighbor_allgather(x, name=f"nag.static.{graph}")
    assert torch.equal(x, tensor_of(ME))
    assert out.dtype == x.dtype
    assert torch.equal(out, expected_cat(in_ranks(W, ME)))


def test_static_default_topology():
    bf.set_topology(None)
    out = bf.neighbor_allgather(tensor_of(ME), name="nag.static.default")
    assert torch.equal(out, expected_cat(in_ranks(exp2_matrix(N), ME)))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_static_dtypes(dtype):
    W = MATRICES["full"](N)
    bf.set_topology(graph_from_matrix(W))
    out = bf.neighbor_allgather(tensor_of(ME, dtype), name=f"nag.dtype.{dtype}")
    assert out.dtype == dtype
    assert torch.equal(out, expected_cat(in_ranks(W, ME), dtype))


@pytest.mark.parametrize("trailing", [(), (5,), (2, 3, 4)], ids=["1d", "2d", "4d"])
def test_static_trailing_dims(trailing):
    W = MATRICES["ring_right"](N)
    bf.set_topology(graph_from_matrix(W))
    out = bf.neighbor_allgather(tensor_of(ME, trailing=trailing), name=f"nag.trail.{trailing}")
    assert out.shape[1:] == trailing
    assert torch.equal(out, expected_cat(in_ranks(W, ME), trailing=trailing))


def test_static_all_zero_rows():
    W = MATRICES["full"](N)
    bf.set_topology(graph_from_matrix(W))
    out = bf.neighbor_allgather(tensor_of(ME, rows=0), name="nag.zero_rows")
    assert out.shape == (0, 2, 3)


def test_static_large_payload():
    """About 400 KiB per rank: payloads travel apart from their headers."""
    W = MATRICES["exp2"](N)
    bf.set_topology(graph_from_matrix(W))
    rows = lambda r: 1000 + 7 * r  # noqa: E731
    out = bf.neighbor_allgather(tensor_of(ME, trailing=(100,), rows=rows(ME)),
                                name="nag.large")
    expected = torch.cat([tensor_of(r, trailing=(100,), rows=rows(r))
                          for r in in_ranks(W, ME)] + [torch.zeros(0, 100)])
    assert torch.equal(out, expected)


def test_static_non_contiguous():
    W = MATRICES["full"](N)
    bf.set_topology(graph_from_matrix(W))
    x = tensor_of(ME, trailing=(4,), rows=3).t().contiguous().t()
    assert not x.is_contiguous()
    out = bf.neighbor_allgather(x, name="nag.non_contiguous")
    assert torch.equal(out, expected_cat(in_ranks(W, ME), trailing=(4,), rows=3))


# ---------------------------------------------------------------- dynamic

@needs_two
@pytest.mark.parametrize("topo_check", [True, False], ids=["check", "nocheck"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.int32, torch.bool], ids=str)
def test_dynamic_descending_src_order(dtype, topo_check):
    """Receive from everyone in descending rank order: the result follows
    that order, not ascending."""
    others = [r for r in range(N) if r != ME]
    srcs = sorted(others, reverse=True)
    out = bf.neighbor_allgather(tensor_of(ME, dtype), src_ranks=srcs, dst_ranks=others,
                                enable_topo_check=topo_check,
                                name=f"nag.dyn.desc.{dtype}.{topo_check}")
    assert torch.equal(out, expected_cat(srcs, dtype))


@needs_three
@pytest.mark.parametrize("topo_check", [True, False], ids=["check", "nocheck"])
def test_dynamic_next_before_previous(topo_check):
    out = bf.neighbor_allgather(tensor_of(ME, rows=2), src_ranks=[NXT, PRV],
                                dst_ranks=[PRV, NXT], enable_topo_check=topo_check,
                                name=f"nag.dyn.next_prev.{topo_check}")
    assert torch.equal(out, expected_cat([NXT, PRV], rows=2))


@needs_two
@pytest.mark.parametrize("topo_check", [True, False], ids=["check", "nocheck"])
def test_dynamic_ignores_installed_topology(topo_check):
    bf.set_topology(graph_from_matrix(np.eye(N)))  # no neighbours at all
    out = bf.neighbor_allgather(tensor_of(ME), src_ranks=[PRV], dst_ranks=[NXT],
                                enable_topo_check=topo_check,
                                name=f"nag.dyn.ring.{topo_check}")
    assert torch.equal(out, expected_cat([PRV]))


@pytest.mark.parametrize("topo_check", [True, False], ids=["check", "nocheck"])
def test_dynamic_no_peers(topo_check):
    out = bf.neighbor_allgather(tensor_of(ME), src_ranks=[], dst_ranks=[],
                                enable_topo_check=topo_check, name=f"nag.dyn.none.{topo_check}")
    assert out.shape == (0, 2, 3)


# ---------------------------------------------------------------- nonblocking / names

@pytest.mark.parametrize("named", [True, False], ids=["named", "unnamed"])
def test_nonblocking_in_flight_together(named):
    W = MATRICES["full"](N)
    bf.set_topology(graph_from_matrix(W))
    ins = in_ranks(W, ME)
    handles = []
    for i, dtype in enumerate([torch.float32, torch.int64, torch.uint8]):
        name = f"nag.nb.{i}" if named else None
        handles.append((bf.neighbor_allgather_nonblocking(tensor_of(ME, dtype), name=name),
                        expected_cat(ins, dtype)))
    if N >= 2:
        srcs = sorted((r for r in range(N) if r != ME), reverse=True)
        name = "nag.nb.dyn" if named else None
        handles.append((bf.neighbor_allgather_nonblocking(
            tensor_of(ME), src_ranks=srcs, dst_ranks=[r for r in range(N) if r != ME],
            name=name), expected_cat(srcs)))
    for handle, expected in reversed(handles):
        while not bf.poll(handle):
            pass
        assert torch.equal(bf.synchronize(handle), expected)
