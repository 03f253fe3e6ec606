"""Errors raise Python exceptions on the ranks concerned and never hang; the
runtime keeps working afterwards.

Mismatch errors may be raised at the call or at synchronize; `issue_and_wait`
accepts either, so every rank ends with the exception.
"""

import pytest
import torch

import bluefog.torch as bf

needs_two = pytest.mark.skipif(bf.size() < 2, reason="needs at least 2 ranks")


def issue_and_wait(issue):
    """Runs `issue()` (returns a handle) then synchronize; returns the
    exception raised by either. Fails if no exception was raised."""
    try:
        handle = issue()
    except Exception as exc:  # raised at the call
        return exc
    try:
        out = bf.synchronize(handle)
    except Exception as exc:
        return exc
    pytest.fail(f"no error raised (got {out!r})")


def assert_runtime_works(tag):
    """A correct allreduce on all ranks right after an error."""
    t = torch.arange(6, dtype=torch.float32) + bf.rank()
    out = bf.allreduce(t, average=False, name=f"errors.recover.{tag}")
    expected = bf.size() * torch.arange(6, dtype=torch.float32) + bf.size() * (bf.size() - 1) / 2
    assert torch.equal(out, expected)
    # Unnamed ops (per-op counters) still line up across ranks.
    out = bf.allreduce(torch.tensor([float(bf.rank())]), average=False)
    assert out.item() == bf.size() * (bf.size() - 1) / 2


def assert_message(exc, *words):
    msg = str(exc).lower()
    for w in words:
        assert w.lower() in msg, f"{w!r} not in message: {exc}"


# ---------------------------------------------------------------- mismatches

@needs_two
@pytest.mark.parametrize("op", ["allreduce", "allreduce_", "broadcast", "broadcast_"])
def test_shape_mismatch(request, op):
    name = f"shape_mismatch_{op}"
    shape = (3,) if bf.rank() == 0 else (4,)
    t = torch.ones(shape)
    if op.startswith("allreduce"):
        fn = bf.allreduce_nonblocking_ if op.endswith("_") else bf.allreduce_nonblocking
        exc = issue_and_wait(lambda: fn(t, average=False, name=name))
    else:
        fn = bf.broadcast_nonblocking_ if op.endswith("_") else bf.broadcast_nonblocking
        exc = issue_and_wait(lambda: fn(t, root_rank=0, name=name))
    assert isinstance(exc, ValueError), repr(exc)
    assert_message(exc, op.rstrip("_"), name, "shape")
    assert_runtime_works(request.node.name)


@needs_two
def test_shape_mismatch_same_numel(request):
    """[2, 3] against [3, 2]: same element count, still an error."""
    name = "shape_mismatch_same_numel"
    t = torch.ones((2, 3) if bf.rank() == 0 else (3, 2))
    exc = issue_and_wait(lambda: bf.allreduce_nonblocking(t, name=name))
    assert isinstance(exc, ValueError), repr(exc)
    assert_message(exc, "allreduce", name, "shape")
    assert_runtime_works(request.node.name)


@needs_two
def test_shape_mismatch_only_last_rank_differs(request):
    name = "shape_mismatch_last"
    t = torch.ones(5 if bf.rank() == bf.size() - 1 else 6)
    exc = issue_and_wait(lambda: bf.allreduce_nonblocking(t, name=name))
    assert isinstance(exc, ValueError), repr(exc)
    assert_message(exc, "allreduce", name, "shape")
    assert_runtime_works(request.node.name)


@needs_two
def test_shape_mismatch_large_tensors(request):
    """Large tensors (large-message path) with different lengths."""
    name = "shape_mismatch_large"
    t = torch.ones(100_000 + (1 if bf.rank() == 0 else 0))
    exc = issue_and_wait(lambda: bf.allreduce_nonblocking(t, name=name))
    assert isinstance(exc, ValueError), repr(exc)
    assert_message(exc, "allreduce", name, "shape")
    assert_runtime_works(request.node.name)


@needs_two
@pytest.mark.parametrize("op", ["allreduce", "broadcast", "allgather"])
def test_dtype_mismatch(request, op):
    name = f"dtype_mismatch_{op}"
    dtype = torch.float32 if bf.rank() == 0 else torch.float64
    t = torch.ones((2, 3), dtype=dtype)
    if op == "allreduce":
        exc = issue_and_wait(lambda: bf.allreduce_nonblocking(t, name=name))
    elif op == "broadcast":
        exc = issue_and_wait(lambda: bf.broadcast_nonblocking(t, 0, name=name))
    else:
        exc = issue_and_wait(lambda: bf.allgather_nonblocking(t, name=name))
    assert isinstance(exc, ValueError), repr(exc)
    assert_message(exc, op, name, "dtype")
    assert_runtime_works(request.node.name)


@needs_two
def test_broadcast_root_rank_mismatch(request):
    name = "root_mismatch"
    root = 0 if bf.rank() == 0 else 1
    t = torch.full((4,), float(bf.rank()))
    exc = issue_and_wait(lambda: bf.broadcast_nonblocking(t, root, name=name))
    assert isinstance(exc, ValueError), repr(exc)
    assert_message(exc, "broadcast", name, "root")
    assert_runtime_works(request.node.name)


@pytest.mark.parametrize("root", ["size", "minus_one", "large"])
def test_broadcast_root_rank_out_of_range(request, root):
    root_rank = {"size": bf.size(), "minus_one": -1, "large": 10 ** 6}[root]
    t = torch.ones(3)
    with pytest.raises(ValueError) as info:
        bf.broadcast_nonblocking(t, root_rank, name=f"root_out_of_range_{root}")
    assert_message(info.value, "broadcast", "root")
    with pytest.raises(ValueError):
        bf.broadcast(t, root_rank, name=f"root_out_of_range_{root}.sync")
    with pytest.raises(ValueError):
        bf.broadcast_(t, root_rank, name=f"root_out_of_range_{root}.inplace")
    assert torch.equal(t, torch.ones(3))
    assert_runtime_works(request.node.name)


def test_broadcast_root_rank_not_int(request):
    with pytest.raises(TypeError):
        bf.broadcast(torch.ones(2), 0.0, name="root_not_int")
    with pytest.raises(TypeError):
        bf.broadcast(torch.ones(2), "0", name="root_not_int.str")
    assert_runtime_works(request.node.name)


@needs_two
@pytest.mark.parametrize("kind", ["trailing_dim", "ndim"])
def test_allgather_trailing_dims_mismatch(request, kind):
    name = f"allgather_mismatch_{kind}"
    if kind == "trailing_dim":
        shape = (2, 3) if bf.rank() == 0 else (2, 4)
    else:
        shape = (2, 3) if bf.rank() == 0 else (2, 3, 1)
    t = torch.ones(shape)
    exc = issue_and_wait(lambda: bf.allgather_nonblocking(t, name=name))
    assert isinstance(exc, ValueError), repr(exc)
    assert_message(exc, "allgather", name, "shape")
    assert_runtime_works(request.node.name)


@needs_two
def test_allreduce_average_flag_mismatch(request):
    """average=True on some ranks, False on others: an error, not silently
    different numbers on different ranks."""
    name = "average_mismatch"
    t = torch.full((3,), 2.0)
    exc = issue_and_wait(
        lambda: bf.allreduce_nonblocking(t, average=(bf.rank() == 0), name=name))
    assert isinstance(exc, ValueError), repr(exc)
    assert_message(exc, "allreduce", name, "average")
    assert_runtime_works(request.node.name)


@needs_two
def test_op_type_mismatch_same_name(request):
    """The same name used for an allreduce on one rank and a broadcast on the
    others."""
    name = "op_type_mismatch"
    t = torch.ones(3)
    if bf.rank() == 0:
        exc = issue_and_wait(lambda: bf.allreduce_nonblocking(t, name=name))
    else:
        exc = issue_and_wait(lambda: bf.broadcast_nonblocking(t, 0, name=name))
    assert isinstance(exc, ValueError), repr(exc)
    assert_message(exc, name)
    assert_runtime_works(request.node.name)


@needs_two
def test_several_mismatches_in_flight(request):
    """Several failing ops and a good one in flight together: each gets its
    own outcome."""
    base = "several_mismatches"
    bad1 = torch.ones(3 if bf.rank() == 0 else 2)
    bad2 = torch.ones(2, dtype=torch.float32 if bf.rank() == 0 else torch.float64)
    good = torch.full((5,), float(bf.rank()))
    outcomes = {}
    handles = {}
    for key, issue in [
        ("bad1", lambda: bf.allreduce_nonblocking(bad1, name=f"{base}.bad1")),
        ("good", lambda: bf.allreduce_nonblocking(good, average=False, name=f"{base}.good")),
        ("bad2", lambda: bf.allreduce_nonblocking(bad2, name=f"{base}.bad2")),
    ]:
        try:
            handles[key] = issue()
        except ValueError as exc:
            outcomes[key] = exc
    for key, handle in handles.items():
        try:
            outcomes[key] = bf.synchronize(handle)
        except ValueError as exc:
            outcomes[key] = exc
    assert isinstance(outcomes["bad1"], ValueError)
    assert_message(outcomes["bad1"], "shape")
    assert isinstance(outcomes["bad2"], ValueError)
    assert_message(outcomes["bad2"], "dtype")
    assert torch.equal(outcomes["good"],
                       torch.full((5,), float(bf.size() * (bf.size() - 1) // 2)))
    assert_runtime_works(request.node.name)


# ---------------------------------------------------------------- name reuse

def test_name_reused_while_in_flight(request):
    name = "name_in_flight"
    bf.suspend()  # keep the first op in flight
    try:
        first = bf.allreduce_nonblocking(torch.full((3,), float(bf.rank())),
                                         average=False, name=name)
        with pytest.raises(ValueError) as info:
            bf.allreduce_nonblocking(torch.ones(3), name=name)
        assert_message(info.value, name)
        # Another op type with the same name is refused too.
        with pytest.raises(ValueError):
            bf.broadcast_nonblocking(torch.ones(3), 0, name=name)
    finally:
        bf.resume()
    out = bf.synchronize(first)
    assert torch.equal(out, torch.full((3,), float(bf.size() * (bf.size() - 1) // 2)))
    assert_runtime_works(request.node.name)


# ---------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.complex64], ids=str)
@pytest.mark.parametrize("average", [True, False])
def test_allreduce_unsupported_dtype(request, dtype, average):
    t = torch.ones(4, dtype=dtype)
    name = f"unsupported_{dtype}_{average}"
    exc = issue_and_wait(lambda: bf.allreduce_nonblocking(t, average=average, name=name))
    assert isinstance(exc, ValueError), repr(exc)
    with pytest.raises(ValueError):
        bf.allreduce(t, average=average, name=name + ".sync")
    with pytest.raises(ValueError):
        bf.allreduce_(t, average=average, name=name + ".inplace")
    assert torch.equal(t, torch.ones(4, dtype=dtype))
    assert_runtime_works(request.node.name)


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64], ids=str)
def test_allreduce_average_on_integers(request, dtype):
    t = torch.ones(4, dtype=dtype)
    name = f"int_average_{dtype}"
    exc = issue_and_wait(lambda: bf.allreduce_nonblocking(t, average=True, name=name))
    assert isinstance(exc, ValueError), repr(exc)
    with pytest.raises(ValueError):
        bf.allreduce(t, name=name + ".default_average")
    with pytest.raises(ValueError):
        bf.allreduce_(t, average=True, name=name + ".inplace")
    assert torch.equal(t, torch.ones(4, dtype=dtype))
    assert_runtime_works(request.node.name)


@pytest.mark.parametrize("op", ["broadcast", "allgather"])
def test_complex_dtype_rejected(request, op):
    t = torch.ones(4, dtype=torch.complex64)
    if op == "broadcast":
        exc = issue_and_wait(lambda: bf.broadcast_nonblocking(t, 0, name="complex_bc"))
    else:
        exc = issue_and_wait(lambda: bf.allgather_nonblocking(t, name="complex_ag"))
    assert isinstance(exc, ValueError), repr(exc)
    assert_runtime_works(request.node.name)


NON_TENSORS = [[1.0, 2.0], 3.0, None, "tensor"]


@pytest.mark.parametrize("value", NON_TENSORS, ids=lambda v: type(v).__name__)
def test_non_tensor_argument(request, value):
    calls = [
        lambda: bf.allreduce(value),
        lambda: bf.allreduce_(value),
        lambda: bf.allreduce_nonblocking(value),
        lambda: bf.allreduce_nonblocking_(value),
        lambda: bf.broadcast(value, 0),
        lambda: bf.broadcast_(value, 0),
        lambda: bf.broadcast_nonblocking(value, 0),
        lambda: bf.broadcast_nonblocking_(value, 0),
        lambda: bf.allgather(value),
        lambda: bf.allgather_nonblocking(value),
    ]
    for call in calls:
        with pytest.raises(TypeError):
            call()
    assert_runtime_works(request.node.name)


@pytest.mark.parametrize("bad_name", [1, b"bytes", ("a",), 2.5], ids=repr)
def test_name_not_a_string(request, bad_name):
    t = torch.ones(2)
    calls = [
        lambda: bf.allreduce(t, name=bad_name),
        lambda: bf.allreduce_(t, name=bad_name),
        lambda: bf.allreduce_nonblocking(t, name=bad_name),
        lambda: bf.allreduce_nonblocking_(t, name=bad_name),
        lambda: bf.broadcast(t, 0, name=bad_name),
        lambda: bf.broadcast_(t, 0, name=bad_name),
        lambda: bf.broadcast_nonblocking(t, 0, name=bad_name),
        lambda: bf.broadcast_nonblocking_(t, 0, name=bad_name),
        lambda: bf.allgather(t, name=bad_name),
        lambda: bf.allgather_nonblocking(t, name=bad_name),
    ]
    for call in calls:
        with pytest.raises(TypeError):
            call()
    assert torch.equal(t, torch.ones(2))
    assert_runtime_works(request.node.name)


def test_rejected_call_does_not_consume_unnamed_counter(request):
    """A call refused with an argument error issues nothing, so unnamed ops
    that follow still pair up across ranks (only some ranks fail here)."""
    if bf.rank() == 0:
        with pytest.raises(TypeError):
            bf.allreduce([1.0])
        with pytest.raises(ValueError):
            bf.allreduce(torch.ones(2, dtype=torch.bool))
        with pytest.raises(ValueError):
            bf.broadcast(torch.ones(2), bf.size())
    out = bf.allreduce(torch.tensor([float(bf.rank() + 1)]), average=False)
    assert out.item() == bf.size() * (bf.size() + 1) / 2
    out = bf.broadcast(torch.tensor([bf.rank()]), bf.size() - 1)
    assert out.item() == bf.size() - 1
    assert_runtime_works(request.node.name)


# ---------------------------------------------------------------- handles

@pytest.mark.parametrize("handle", [-1, 123456789, 2 ** 40])
def test_synchronize_bogus_handle(handle):
    with pytest.raises(ValueError):
        bf.synchronize(handle)
    with pytest.raises(ValueError):
        bf.wait(handle)
    with pytest.raises(ValueError):
        bf.poll(handle)


def test_synchronize_twice(request):
    handle = bf.allreduce_nonblocking(torch.ones(2), name="sync_twice")
    out = bf.synchronize(handle)
    assert torch.equal(out, torch.ones(2))
    with pytest.raises(ValueError):
        bf.synchronize(handle)
    assert_runtime_works(request.node.name)


def test_errors_never_leave_the_job_inconsistent(request):
    """After all the tests above, a last round of every op works."""
    out = bf.allreduce(torch.tensor([float(bf.rank())]), average=False, name="errors.final.ar")
    assert out.item() == bf.size() * (bf.size() - 1) / 2
    out = bf.broadcast(torch.tensor([bf.rank()]), 0, name="errors.final.bc")
    assert out.item() == 0
    out = bf.allgather(torch.tensor([bf.rank()]), name="errors.final.ag")
    assert out.tolist() == list(range(bf.size()))
    bf.barrier()
