"""Autograd through allreduce, broadcast and allgather, checked against
finite differences of the job's whole loss (the sum of every rank's); the
neighbour ops warn once that their results are detached; in-place ops refuse
a leaf that requires grad as torch does, and record the change on others."""

import warnings

import pytest
import torch

import bluefog.torch as bf
from bluefog.torch import autograd as bf_autograd

N, ME = bf.size(), bf.rank()
LENGTH = 3


def weights_of(rank, length=LENGTH):
    """Rank `rank`'s loss coefficients (known to every rank)."""
    return torch.arange(1, length + 1, dtype=torch.float64) * (rank + 1) / 7 - 0.3 * rank


def inputs_of(rank, length=LENGTH):
    return torch.linspace(-1, 1, length, dtype=torch.float64) + 0.25 * rank


def local_loss(y):
    return (weights_of(ME, y.numel()) * torch.sin(y.reshape(-1))).sum()


def allreduce_by(mode, x, average, local, name):
    if mode == "blocking":
        return bf.allreduce(x, average=average, is_hierarchical_local=local, name=name)
    handle = bf.allreduce_nonblocking(x, average=average, is_hierarchical_local=local, name=name)
    return bf.synchronize(handle) if mode == "synchronize" else bf.wait(handle)


def job_loss(forward, x):
    """The sum over ranks of local_loss(forward(x)), with no graph."""
    with torch.no_grad():
        mine = local_loss(forward(x)).reshape(1)
        return bf.allreduce(mine, average=False).item()


def numerical_gradient(forward, x, h=1e-6, numel_of=lambda rank: LENGTH):
    """d(job loss)/d(x of rank j), for this rank's x; every rank takes part
    in every evaluation (only rank j's input moves, `numel_of(j)` entries)."""
    grad = torch.zeros_like(x)
    for j in range(N):
        for k in range(numel_of(j)):
            losses = []
            for step in (h, -h):
                moved = x.clone()
                if ME == j:
                    moved.view(-1)[k] += step
                losses.append(job_loss(forward, moved))
            if ME == j:
                grad.view(-1)[k] = (losses[0] - losses[1]) / (2 * h)
    return grad


@pytest.mark.parametrize("mode", ["blocking", "synchronize", "wait"])
@pytest.mark.parametrize("average", [True, False])
@pytest.mark.parametrize("local", [False, True])
def test_allreduce_gradient_matches_finite_differences(mode, average, local):
    name = f"ag.allreduce.{mode}.{average}.{local}"
    x = inputs_of(ME).requires_grad_()
    y = allreduce_by(mode, x, average, local, name)
    assert y.grad_fn is not None and y.requires_grad
    local_loss(y).backward()
    forward = lambda t: allreduce_by(mode, t, average, local, None)  # noqa: E731
    expected = numerical_gradient(forward, inputs_of(ME))
    torch.testing.assert_close(x.grad, expected, rtol=1e-6, atol=1e-7)


def test_allreduce_gradient_is_exact_for_a_linear_loss():
    x = torch.ones(4, dtype=torch.float64, requires_grad=True)
    (weights_of(ME, 4) * bf.allreduce(x, name="ag.linear")).sum().backward()
    expected = sum(weights_of(r, 4) for r in range(N)) / N
    torch.testing.assert_close(x.grad, expected)


@pytest.mark.parametrize("nonblocking", [False, True])
def test_broadcast_gradient_matches_finite_differences(nonblocking):
    root = N - 1

    def forward(t, name=None):
        if nonblocking:
            return bf.synchronize(bf.broadcast_nonblocking(t, root, name=name))
        return bf.broadcast(t, root, name=name)

    x = inputs_of(ME).requires_grad_()
    local_loss(forward(x, f"ag.broadcast.{nonblocking}")).backward()
    torch.testing.assert_close(x.grad, numerical_gradient(forward, inputs_of(ME)),
                               rtol=1e-6, atol=1e-7)
    if ME != root:
        assert torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("nonblocking", [False, True])
def test_allgather_gradient_matches_finite_differences(nonblocking):
    """Ranks give different numbers of rows (rank r: r + 1)."""

    def forward(t, name=None):
        if nonblocking:
            return bf.synchronize(bf.allgather_nonblocking(t, name=name))
        return bf.allgather(t, name=name)

    start = inputs_of(ME, 2 * (ME + 1)).reshape(ME + 1, 2)
    x = start.clone().requires_grad_()
    out = forward(x, f"ag.allgather.{nonblocking}")
    assert out.shape == (N * (N + 1) // 2, 2)
    local_loss(out).backward()
    expected = numerical_gradient(forward, start, numel_of=lambda rank: 2 * (rank + 1))
    torch.testing.assert_close(x.grad, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("op", ["allreduce_", "broadcast_"])
@pytest.mark.parametrize("nonblocking", [False, True])
def test_in_place_on_a_non_leaf_is_recorded(op, nonblocking):
    x = inputs_of(ME).requires_grad_()
    y = x * 2  # not a leaf
    name = f"ag.inplace.{op}.{nonblocking}"
    if op == "allreduce_":
        fn = bf.allreduce_nonblocking_ if nonblocking else bf.allreduce_
        result = fn(y, name=name)
        expected_grad = 2 * sum(weights_of(r) for r in range(N)) / N
        expected_value = 2 * sum(inputs_of(r) for r in range(N)) / N
    else:
        fn = bf.broadcast_nonblocking_ if nonblocking else bf.broadcast_
        result = fn(y, 0, name=name)
        expected_grad = 2 * sum(weights_of(r) for r in range(N)) if ME == 0 else \
            torch.zeros(LENGTH, dtype=torch.float64)
        expected_value = 2 * inputs_of(0)
    if nonblocking:
        result = bf.synchronize(result)
    assert result is y
    torch.testing.assert_close(y.detach(), expected_value)
    (weights_of(ME) * y).sum().backward()
    torch.testing.assert_close(x.grad, expected_grad)


TORCH_LEAF_ERROR = None
try:
    torch.ones(1, requires_grad=True).add_(1)
except RuntimeError as _error:
    TORCH_LEAF_ERROR = str(_error)


@pytest.mark.parametrize("op", ["allreduce_", "allreduce_nonblocking_", "broadcast_",
                                "broadcast_nonblocking_"])
def test_in_place_on_a_leaf_that_requires_grad_raises_like_torch(op):
    x = torch.ones(3, requires_grad=True)
    args = (0,) if op.startswith("broadcast") else ()
    with pytest.raises(RuntimeError) as info:
        getattr(bf, op)(x, *args)
    label = op.replace("_nonblocking", "")
    assert str(info.value) == f"{label}: {TORCH_LEAF_ERROR}"
    assert torch.equal(x.detach(), torch.ones(3))
    with torch.no_grad():  # as the optimizers call them: allowed
        out = getattr(bf, op)(x, *args)
        if op.endswith("nonblocking_"):
            out = bf.synchronize(out)
    assert out is x and torch.equal(x.detach(), torch.ones(3))
    assert x.grad_fn is None and x.is_leaf


def test_no_graph_without_grad_mode_or_requires_grad():
    x = torch.ones(2, requires_grad=True)
    with torch.no_grad():
        assert bf.allreduce(x).grad_fn is None
    assert bf.allreduce(torch.ones(2)).grad_fn is None
    assert not bf.broadcast(torch.ones(2), 0).requires_grad


@pytest.fixture
def fresh_warnings():
    bf_autograd._warned.clear()
    yield
    bf_autograd._warned.clear()


def detached_calls():
    calls = [
        ("neighbor_allreduce", lambda x: bf.neighbor_allreduce(x)),
        ("neighbor_allreduce", lambda x: bf.synchronize(bf.neighbor_allreduce_nonblocking(x))),
        ("neighbor_allgather", lambda x: bf.neighbor_allgather(x)),
    ]
    if N >= 2 and ME < 2:
        calls.append(("pair_gossip", lambda x: bf.pair_gossip(x, 1 - ME)))
    if bf.local_size() > 1:
        calls.append(("hierarchical_neighbor_allreduce",
                      lambda x: bf.hierarchical_neighbor_allreduce(x)))
    return calls


def test_neighbor_ops_warn_once_that_results_are_detached(fresh_warnings):
    warned = {}
    for op, call in detached_calls() * 2:
        x = torch.ones(3, requires_grad=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = call(x)
        assert out.grad_fn is None and not out.requires_grad
        ours = [w for w in caught if "detached from autograd" in str(w.message)]
        warned[op] = warned.get(op, 0) + len(ours)
        for w in ours:
            assert w.category is UserWarning
            assert str(w.message).startswith(f"bluefog.torch.{op}: the result is detached")
    assert warned == {op: 1 for op, _ in detached_calls()}, warned
    bf.barrier()


def test_neighbor_ops_do_not_warn_without_grad(fresh_warnings):
    for _, call in detached_calls():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            call(torch.ones(3))
            with torch.no_grad():
                call(torch.ones(3, requires_grad=True))
    bf.barrier()
