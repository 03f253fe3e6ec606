"""Handles nobody synchronizes (the rule is in cpp/python/handle_table.h):
past the limit (BLUEFOG_MAX_UNSYNCHRONIZED_HANDLES, 4096 here) the oldest
finished ones are released with their tensors, once with a warning; a
released handle raises InvalidArgumentError saying so; an unfinished op is
never released. The ops are local (no neighbours), so ranks need not agree
on how many there are."""

import gc
import warnings
import weakref

import pytest
import torch

import bluefog.torch as bf
from bluefog import _bluefog
from bluefog.torch import autograd


def local_op(tensor, name):
    """A neighbor_allreduce with no neighbours, in place: tensor becomes
    2 * tensor, on this rank alone; the handle's Work holds the tensor."""
    return _bluefog.neighbor_allreduce_nonblocking(tensor, tensor, 2.0, [], [], name)


def wait_finished(handle):
    """Polls until the op of `handle` finished (True), or it was released (False)."""
    while True:
        try:
            if bf.poll(handle):
                return True
        except bf.InvalidArgumentError:
            return False


def kept():
    return _bluefog.handle_counts()[0]


def test_dropped_handles_are_bounded_and_released_ones_raise():
    _, released_before, limit = _bluefog.handle_counts()
    extra = 50
    handles, refs = [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(limit + extra):
            tensor = torch.full((64,), float(i))
            refs.append(weakref.ref(tensor))
            handles.append(local_op(tensor, f"handles.dropped.{i}"))
            del tensor
        for handle in handles:
            wait_finished(handle)
        # Every op has finished: one more handle trims the table to the limit.
        last = local_op(torch.ones(3), "handles.dropped.last")
    ours = [w for w in caught if "BLUEFOG_MAX_UNSYNCHRONIZED_HANDLES" in str(w.message)]
    assert len(ours) == (1 if released_before == 0 else 0), [str(w.message) for w in ours]
    if ours:
        assert issubclass(ours[0].category, RuntimeWarning)
    assert kept() <= limit
    released = _bluefog.handle_counts()[1] - released_before
    assert released >= extra

    gc.collect()
    gone = {i for i, ref in enumerate(refs) if ref() is None}
    # (Handles other tests left unsynchronized may have gone first.)
    assert extra <= len(gone) <= released, (len(gone), released)
    # A released handle's tensor went with it; a kept one's result is there.
    for i, handle in enumerate(handles):
        if i not in gone:
            assert torch.equal(bf.synchronize(handle), torch.full((64,), 2.0 * i))
            continue
        for call in (bf.synchronize, bf.poll, bf.wait):
            with pytest.raises(bf.InvalidArgumentError) as info:
                call(handle)
            message = str(info.value)
            assert f"handle {handle} was released without being synchronized" in message
            assert "BLUEFOG_MAX_UNSYNCHRONIZED_HANDLES" in message, message
    assert torch.equal(bf.synchronize(last), torch.full((3,), 2.0))
    with pytest.raises(bf.InvalidArgumentError, match="unknown handle"):
        bf.synchronize(last)
    gc.collect()
    assert all(ref() is None for ref in refs)


def test_unfinished_ops_are_never_released():
    """While bluefog is suspended every op stays queued: the table grows past
    the limit rather than drop an op whose memory is in use."""
    limit = _bluefog.handle_counts()[2]
    bf.suspend()
    try:
        handles = [local_op(torch.full((4,), float(i)), f"handles.pending.{i}")
                   for i in range(limit + 20)]
        assert kept() >= limit + 20
        assert not any(bf.poll(h) for h in (handles[0], handles[-1]))
    finally:
        bf.resume()
    # The first is synchronized before more handles come, so it is kept.
    assert torch.equal(bf.synchronize(handles[0]), torch.zeros(4))
    for i in range(1, len(handles)):
        assert torch.equal(bf.synchronize(handles[i]), torch.full((4,), 2.0 * i))


def test_autograd_forgets_the_handles_released():
    """An op on a tensor that requires grad keeps an autograd entry until its
    synchronize: the entries of released handles go with them."""
    limit = _bluefog.handle_counts()[2]
    x = torch.ones(2, requires_grad=True)
    handles = []
    for i in range(limit + 10):
        if i == limit:  # the first `limit` finish: each of the next 10 releases one
            for handle in handles:
                wait_finished(handle)
        handle = local_op(torch.zeros(2), f"handles.autograd.{i}")
        autograd.track(handle, autograd.Allreduce, x, None, True, False, "")
        handles.append(handle)
    ours = [h for h in handles if h in autograd._pending]
    assert len(handles) - len(ours) >= 10 and handles[0] not in ours
    assert all(_bluefog.handle_kept(h) for h in autograd._pending)
    for handle in handles:
        if autograd._pending.pop(handle, None) is not None:
            assert torch.equal(bf.synchronize(handle), torch.zeros(2))
