"""allreduce / allreduce_ / allreduce_nonblocking(_) across all ranks.

Every rank builds every rank's input from the rank number alone, so each rank
computes the exact expected result locally.
"""

import time

import pytest
import torch

import bluefog.torch as bf

FLOAT_DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
INT_DTYPES = [torch.int32, torch.int64]

# (shape, non_contiguous). The large one is > 64 KiB in every dtype, so the
# engine takes its large-message path.
SHAPES = {
    "scalar": ((), False),
    "one": ((1,), False),
    "seventeen": ((17,), False),
    "3x5x7": ((3, 5, 7), False),
    "large": ((100_003,), False),
    "transposed": ((6, 9), True),
    "large_transposed": ((300, 301), True),
}

MODES = ["sync", "nonblocking_synchronize", "nonblocking_wait", "poll",
         "inplace", "inplace_nonblocking"]


def make_input(shape, non_contiguous, dtype, rank):
    """A tensor of `shape` whose values depend on `rank`; integer valued so
    sums are exact in every dtype (values stay below 256 for bfloat16)."""
    if non_contiguous:
        base = _values((shape[1], shape[0]), dtype, rank)
        out = base.t()
        assert not out.is_contiguous()
        return out
    return _values(shape, dtype, rank)


def _values(shape, dtype, rank):
    n = 1
    for d in shape:
        n *= d
    idx = torch.arange(n, dtype=torch.int64)
    if dtype == torch.int64:
        # Large values: exact in int64 but not in float64 (2**58 + odd).
        v = (rank + 1) * (2 ** 58) + (idx * 7919 + rank) % 1001
    elif dtype == torch.int32:
        # Exact in int32 but not in float32 (2**26 + odd).
        v = (rank + 1) * (2 ** 26) + (idx * 31 + rank) % 1001 - 500
    else:
        # Small integers: every partial sum fits exactly in bfloat16.
        v = 2 * (rank + 1) + (idx * 5 + 3 * rank) % 13 - 6
    return v.to(dtype).reshape(shape)


def group_ranks(hierarchical_local):
    if hierarchical_local:
        first = bf.machine_rank() * bf.local_size()
        return list(range(first, first + bf.local_size()))
    return list(range(bf.size()))


def expected_result(shape, non_contiguous, dtype, average, ranks):
    acc_dtype = torch.int64 if dtype in INT_DTYPES else torch.float64
    total = None
    for r in ranks:
        v = make_input(shape, non_contiguous, dtype, r).to(acc_dtype)
        total = v if total is None else total + v
    if dtype in INT_DTYPES:
        return total.to(dtype)
    if average:
        total = total / len(ranks)
    return total.to(dtype)


def assert_same_on_all_ranks(result, name):
    """All ranks hold bitwise-identical results."""
    flat = result.detach().reshape(1, -1).contiguous()
    if flat.dtype in (torch.float16, torch.bfloat16):
        flat = flat.view(torch.int16)
    elif flat.dtype == torch.float32:
        flat = flat.view(torch.int32)
    elif flat.dtype == torch.float64:
        flat = flat.view(torch.int64)
    rows = bf.allgather(flat, name=name + ".same_check")
    assert rows.shape == (bf.size(), flat.shape[1])
    for r in range(bf.size()):
        assert torch.equal(rows[r], flat[0]), f"rank {r} holds a different result"


def assert_values(out, expected, dtype, average, size):
    assert out.dtype == expected.dtype
    assert out.shape == expected.shape
    if dtype in INT_DTYPES or not average:
        # Sums of small integers are exact.
        assert torch.equal(out, expected)
    elif dtype in (torch.float32, torch.float64):
        tol = 1e-6 if dtype == torch.float32 else 1e-14
        torch.testing.assert_close(out, expected, rtol=tol, atol=tol)
        if size in (1, 2, 4):
            # Division by a power of two is exact.
            assert torch.equal(out, expected)
    else:
        # float16/bfloat16: accumulated in float32, rounded once at the end,
        # so within one rounding of the exactly rounded value.
        eps = torch.finfo(dtype).eps
        torch.testing.assert_close(out.double(), expected.double(), rtol=eps, atol=eps)
        if size in (1, 2, 4):
            assert torch.equal(out, expected)


def run_allreduce(tensor, mode, average, name, is_hierarchical_local=False):
    kw = dict(average=average, is_hierarchical_local=is_hierarchical_local, name=name)
    if mode == "sync":
        return bf.allreduce(tensor, **kw)
    if mode == "nonblocking_synchronize":
        return bf.synchronize(bf.allreduce_nonblocking(tensor, **kw))
    if mode == "nonblocking_wait":
        return bf.wait(bf.allreduce_nonblocking(tensor, **kw))
    if mode == "poll":
        handle = bf.allreduce_nonblocking(tensor, **kw)
        deadline = time.monotonic() + 60
        while not bf.poll(handle):
            assert time.monotonic() < deadline, "poll never became True"
            time.sleep(0.001)
        assert bf.poll(handle) is True
        return bf.synchronize(handle)
    if mode == "inplace":
        return bf.allreduce_(tensor, **kw)
    if mode == "inplace_nonblocking":
        return bf.synchronize(bf.allreduce_nonblocking_(tensor, **kw))
    raise AssertionError(mode)


def _check(request, dtype, shape_key, mode, average, hierarchical_local=False):
    shape, non_contiguous = SHAPES[shape_key]
    name = request.node.name
    tensor = make_input(shape, non_contiguous, dtype, bf.rank())
    original = tensor.clone()
    out = run_allreduce(tensor, mode, average, name, hierarchical_local)
    expected = expected_result(shape, non_contiguous, dtype, average,
                               group_ranks(hierarchical_local))
    assert isinstance(out, torch.Tensor)
    assert_values(out, expected, dtype, average, bf.size())
    if mode.startswith("inplace"):
        # The input is overwritten and returned.
        assert out is tensor or (out.data_ptr() == tensor.data_ptr()
                                 and out.stride() == tensor.stride())
        assert torch.equal(tensor, out)
        assert tensor.stride() == original.stride()
    else:
        assert torch.equal(tensor, original), "non-in-place allreduce modified its input"
        assert out.data_ptr() != tensor.data_ptr()
    assert_same_on_all_ranks(out, name)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape_key", list(SHAPES))
@pytest.mark.parametrize("average", [True, False])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_allreduce_float(request, dtype, average, shape_key, mode):
    _check(request, dtype, shape_key, mode, average)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape_key", list(SHAPES))
@pytest.mark.parametrize("dtype", INT_DTYPES, ids=str)
def test_allreduce_int_sum(request, dtype, shape_key, mode):
    _check(request, dtype, shape_key, mode, average=False)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_allreduce_average_non_integer_values(request, dtype):
    """Random (non-integer) data: average within rounding of the exact mean."""
    n = 1000
    inputs = [torch.randn(n, generator=torch.Generator().manual_seed(99 + r),
                          dtype=torch.float64).to(dtype) for r in range(bf.size())]
    out = bf.allreduce(inputs[bf.rank()], average=True, name=request.node.name)
    expected = torch.stack([x.double() for x in inputs]).mean(0)
    tol = 1e-6 if dtype == torch.float32 else 1e-13
    torch.testing.assert_close(out.double(), expected, rtol=tol, atol=tol)
    assert_same_on_all_ranks(out, request.node.name)


@pytest.mark.parametrize("n", [4099, 60_001])  # the second > 64 KiB
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_allreduce_half_rounded_once(request, dtype, n):
    """float16/bfloat16 are accumulated in float32 and rounded once: the result
    is within one unit of the exactly rounded value."""
    inputs = [torch.randn(n, generator=torch.Generator().manual_seed(7 + r),
                          dtype=torch.float64).to(dtype) for r in range(bf.size())]
    for average in (False, True):
        out = bf.allreduce(inputs[bf.rank()], average=average,
                           name=f"{request.node.name}.{average}")
        exact = torch.stack([x.double() for x in inputs]).sum(0)
        if average:
            exact = exact / bf.size()
        rounded = exact.to(dtype).double()
        ulp = torch.finfo(dtype).eps * rounded.abs().clamp_min(1e-3)
        # Within one ulp of the exactly rounded value (float32 accumulation).
        assert ((out.double() - rounded).abs() <= ulp * 1.0001).all()
        assert_same_on_all_ranks(out, f"{request.node.name}.{average}")


@pytest.mark.parametrize("average", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16], ids=str)
def test_allreduce_hierarchical_local(request, dtype, average):
    for mode in ("sync", "inplace"):
        _check(request, dtype, "3x5x7", mode, average, hierarchical_local=True)
        # All ranks are on one machine here: the same as the global allreduce.
        if bf.local_size() == bf.size():
            t = make_input((17,), False, dtype, bf.rank())
            a = bf.allreduce(t, average=average, is_hierarchical_local=True,
                             name=f"{request.node.name}.{mode}.local")
            b = bf.allreduce(t, average=average, name=f"{request.node.name}.{mode}.global")
            assert torch.equal(a, b)


def test_allreduce_default_is_average(request):
    t = torch.full((4,), float(bf.rank() * 2))
    out = bf.allreduce(t, name=request.node.name)
    assert torch.equal(out, torch.full((4,), float(bf.size() - 1)))


def test_allreduce_unnamed_in_same_order(request):
    results = []
    for i in range(5):
        t = torch.full((3,), float(bf.rank() + i))
        results.append(bf.allreduce(t, average=False))
    for i, out in enumerate(results):
        expected = bf.size() * i + bf.size() * (bf.size() - 1) / 2
        assert torch.equal(out, torch.full((3,), float(expected)))


def test_named_ops_issued_in_different_orders(request):
    base = request.node.name
    names = ["a", "b", "c"]
    order = names if bf.rank() % 2 == 0 else list(reversed(names))
    values = {"a": 1.0, "b": 10.0, "c": 100.0}
    sizes = {"a": 3, "b": 70_000, "c": 11}  # b takes the large-message path
    tensors = {k: torch.full((sizes[k],), values[k] * (bf.rank() + 1)) for k in names}
    handles = {}
    for k in order:
        handles[k] = bf.allreduce_nonblocking(tensors[k], average=False, name=f"{base}.{k}")
    sync_order = list(reversed(order)) if bf.rank() % 3 == 0 else order
    results = {k: bf.synchronize(handles[k]) for k in sync_order}
    total = bf.size() * (bf.size() + 1) / 2
    for k in names:
        assert torch.equal(results[k], torch.full((sizes[k],), values[k] * total)), k


def test_named_ops_in_different_orders_mixed_ops(request):
    """Named allreduce, broadcast and allgather issued in rank-dependent orders."""
    base = request.node.name
    t_ar = torch.full((5,), float(bf.rank() + 1))
    t_bc = torch.full((4,), float(bf.rank() + 7))
    t_ag = torch.full((bf.rank() + 1, 2), float(bf.rank()))
    issue = [
        ("ar", lambda: bf.allreduce_nonblocking(t_ar, average=False, name=f"{base}.ar")),
        ("bc", lambda: bf.broadcast_nonblocking(t_bc, root_rank=bf.size() - 1,
                                                name=f"{base}.bc")),
        ("ag", lambda: bf.allgather_nonblocking(t_ag, name=f"{base}.ag")),
    ]
    if bf.rank() % 2 == 1:
        issue.reverse()
    handles = {k: f() for k, f in issue}
    res = {k: bf.synchronize(h) for k, h in sorted(handles.items())}
    assert torch.equal(res["ar"], torch.full((5,), bf.size() * (bf.size() + 1) / 2))
    assert torch.equal(res["bc"], torch.full((4,), float(bf.size() - 1 + 7)))
    exp_ag = torch.cat([torch.full((r + 1, 2), float(r)) for r in range(bf.size())])
    assert torch.equal(res["ag"], exp_ag)


@pytest.mark.parametrize("named", [False, True])
def test_many_concurrent_ops_synchronized_in_reverse(request, named):
    count = 20
    tensors = []
    handles = []
    for i in range(count):
        n = 1 + 997 * i  # several sizes, the largest > 64 KiB
        t = torch.arange(n, dtype=torch.float32) + float(bf.rank() * (i + 1))
        tensors.append(t)
        name = f"{request.node.name}.{i}" if named else None
        handles.append(bf.allreduce_nonblocking(t, average=False, name=name))
    results = [None] * count
    for i in reversed(range(count)):
        results[i] = bf.synchronize(handles[i])
    ranks_sum = bf.size() * (bf.size() - 1) / 2
    for i in range(count):
        n = 1 + 997 * i
        expected = bf.size() * torch.arange(n, dtype=torch.float32) + ranks_sum * (i + 1)
        assert torch.equal(results[i], expected), i
        assert torch.equal(tensors[i], torch.arange(n, dtype=torch.float32)
                           + float(bf.rank() * (i + 1)))


def test_many_concurrent_inplace_ops(request):
    count = 20
    tensors = [torch.full((50 + i,), float(bf.rank() + i)) for i in range(count)]
    handles = [bf.allreduce_nonblocking_(t, average=True, name=f"{request.node.name}.{i}")
               for i, t in enumerate(tensors)]
    for h in reversed(handles):
        bf.synchronize(h)
    for i, t in enumerate(tensors):
        expected = (bf.size() - 1) / 2 + i
        torch.testing.assert_close(t, torch.full((50 + i,), float(expected)),
                                   rtol=1e-6, atol=1e-6)


def test_name_reusable_after_synchronize(request):
    name = request.node.name
    for i in range(4):
        out = bf.allreduce(torch.full((2,), float(bf.rank() + i)), average=False, name=name)
        expected = bf.size() * i + bf.size() * (bf.size() - 1) / 2
        assert torch.equal(out, torch.full((2,), float(expected)))


def test_allreduce_empty_tensor(request):
    t = torch.empty((0, 3), dtype=torch.float32)
    out = bf.allreduce(t, name=request.node.name)
    assert out.shape == (0, 3)
    assert out.dtype == torch.float32


def test_allreduce_inplace_non_contiguous_slice(request):
    """In-place on a strided view writes through to the base tensor only at
    the view's elements."""
    base = torch.full((4, 6), -1.0)
    view = base[:, ::2]
    view.copy_(torch.full((4, 3), float(bf.rank() + 1)))
    out = bf.allreduce_(view, average=False, name=request.node.name)
    total = float(bf.size() * (bf.size() + 1) // 2)
    assert torch.equal(view, torch.full((4, 3), total))
    assert torch.equal(out, view)
    assert torch.equal(base[:, 1::2], torch.full((4, 3), -1.0))


def test_allreduce_requires_grad_input(request):
    t = torch.full((3,), float(bf.rank() + 1), requires_grad=True)
    out = bf.allreduce(t, average=False, name=request.node.name)
    total = float(bf.size() * (bf.size() + 1) // 2)
    assert torch.equal(out.detach(), torch.full((3,), total))


def test_allreduce_inplace_row_of_larger_tensor(request):
    """In place on a contiguous view with a storage offset: only that row changes."""
    base = torch.full((3, 40_000), -2.0)
    row = base[1]
    row.fill_(float(bf.rank() + 1))
    out = bf.allreduce_(row, average=False, name=request.node.name)
    total = float(bf.size() * (bf.size() + 1) // 2)
    assert torch.equal(base[1], torch.full((40_000,), total))
    assert torch.equal(out, base[1])
    assert torch.equal(base[0], torch.full((40_000,), -2.0))
    assert torch.equal(base[2], torch.full((40_000,), -2.0))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
def test_allreduce_repeated_large_average(request, dtype):
    """Many rounds of large averaging allreduces, some in flight together:
    every element right every time (catches races in the large-message path)."""
    n = 200_003
    idx = torch.arange(n, dtype=torch.float32) % 64
    for it in range(6):
        handles = []
        for j in range(3):
            t = (idx + 2 * (bf.rank() + it + j)).to(dtype)
            handles.append(bf.allreduce_nonblocking(t, average=True,
                                                    name=f"{request.node.name}.{it}.{j}"))
        for j, h in enumerate(handles):
            out = bf.synchronize(h)
            # mean over ranks of 2 * (r + it + j) = size - 1 + 2 * (it + j)
            expected = (idx.double() + (bf.size() - 1) + 2 * (it + j)).to(dtype)
            if bf.size() in (1, 2, 4):
                assert torch.equal(out, expected), (it, j)
            else:
                torch.testing.assert_close(out.double(), expected.double(),
                                           rtol=torch.finfo(dtype).eps, atol=1e-6)
