"""allgather / allgather_nonblocking: concatenation along dim 0 in rank order."""

import pytest
import torch

import bluefog.torch as bf

DTYPES = [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool,
          torch.float16, torch.bfloat16, torch.float32, torch.float64]

# rows(rank) -> how many rows that rank contributes
ROWS = {
    "equal": lambda r: 2,
    "rank_plus_one": lambda r: r + 1,
    "rank": lambda r: r,  # rank 0 contributes nothing
    "only_last_nonempty": lambda r: 3 if r == bf.size() - 1 else 0,
}

TRAILING = {"1d": (), "k3x2": (3, 2), "k1x4x1": (1, 4, 1)}


def make_input(rows, trailing, dtype, rank):
    n = rows
    for d in trailing:
        n *= d
    idx = torch.arange(n, dtype=torch.int64)
    if dtype == torch.bool:
        v = (idx + rank) % 3 == 0
    elif dtype == torch.int64:
        v = rank * (2 ** 55) + idx * 11 + 1
    elif dtype in (torch.float32, torch.float64):
        v = (idx + 1).to(dtype) / 3 + rank * 1000
    else:
        v = (idx + rank * 17) % 100 + (0 if dtype == torch.uint8 else -40)
    return v.to(dtype).reshape((rows,) + trailing)


def expected_result(rows_fn, trailing, dtype):
    return torch.cat([make_input(rows_fn(r), trailing, dtype, r) for r in range(bf.size())])


@pytest.mark.parametrize("nonblocking", [False, True])
@pytest.mark.parametrize("trailing_key", list(TRAILING))
@pytest.mark.parametrize("rows_key", list(ROWS))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_allgather(request, dtype, rows_key, trailing_key, nonblocking):
    rows_fn, trailing = ROWS[rows_key], TRAILING[trailing_key]
    tensor = make_input(rows_fn(bf.rank()), trailing, dtype, bf.rank())
    original = tensor.clone()
    name = request.node.name
    if nonblocking:
        handle = bf.allgather_nonblocking(tensor, name=name)
        out = bf.synchronize(handle)
    else:
        out = bf.allgather(tensor, name=name)
    expected = expected_result(rows_fn, trailing, dtype)
    assert out.dtype == dtype
    assert out.shape == expected.shape
    assert torch.equal(out, expected)
    assert torch.equal(tensor, original)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64], ids=str)
def test_allgather_large(request, dtype):
    # ~1.2 MB from each rank, different sizes per rank.
    rows = 40_000 + 1_000 * bf.rank()
    tensor = make_input(rows, (3,), dtype, bf.rank())
    out = bf.allgather(tensor, name=request.node.name)
    expected = torch.cat([make_input(40_000 + 1_000 * r, (3,), dtype, r)
                          for r in range(bf.size())])
    assert torch.equal(out, expected)


def test_allgather_result_in_rank_order(request):
    tensor = torch.tensor([[bf.rank(), bf.rank() * 2]], dtype=torch.int32)
    out = bf.allgather(tensor, name=request.node.name)
    assert out.tolist() == [[r, 2 * r] for r in range(bf.size())]


def test_allgather_non_contiguous_input(request):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) + 100 * bf.rank()
    view = base.t()[1:4]  # shape [3, 4], not contiguous
    assert not view.is_contiguous()
    out = bf.allgather(view, name=request.node.name)
    expected = torch.cat([(torch.arange(24, dtype=torch.float32).reshape(4, 6)
                           + 100 * r).t()[1:4] for r in range(bf.size())])
    assert torch.equal(out, expected)


def test_allgather_all_empty(request):
    tensor = torch.empty((0, 5), dtype=torch.float32)
    out = bf.allgather(tensor, name=request.node.name)
    assert out.shape == (0, 5)


def test_allgather_many_concurrent(request):
    handles = []
    for i in range(16):
        t = torch.full((bf.rank() + 1 + i, 2), float(bf.rank() + 10 * i))
        handles.append(bf.allgather_nonblocking(t, name=f"{request.node.name}.{i}"))
    for i in reversed(range(16)):
        out = bf.synchronize(handles[i])
        expected = torch.cat([torch.full((r + 1 + i, 2), float(r + 10 * i))
                              for r in range(bf.size())])
        assert torch.equal(out, expected)


def test_allgather_unnamed_sequence():
    outs = [bf.allgather(torch.tensor([bf.rank() + i])) for i in range(5)]
    for i, out in enumerate(outs):
        assert out.tolist() == [r + i for r in range(bf.size())]
