"""barrier(): every rank reaches it before any leaves."""

import time

import pytest
import torch

import bluefog.torch as bf

SLEEP = 0.5


def test_barrier_returns_none():
    assert bf.barrier() is None


def test_barrier_repeatedly():
    for _ in range(50):
        bf.barrier()
    # Still consistent afterwards.
    out = bf.allreduce(torch.tensor([1.0]), average=False, name="barrier.after_repeat")
    assert out.item() == bf.size()


def _stamps(sleeping_rank):
    """Rank `sleeping_rank` sleeps before the barrier. Returns every rank's
    (entry, exit) wall-clock stamps and this rank's monotonic time in it."""
    bf.barrier()  # start together
    if bf.rank() == sleeping_rank:
        time.sleep(SLEEP)
    enter = time.time()
    t0 = time.monotonic()
    bf.barrier()
    waited = time.monotonic() - t0
    leave = time.time()
    stamps = bf.allgather(torch.tensor([[enter, leave]], dtype=torch.float64),
                          name=f"barrier.stamps.{sleeping_rank}")
    return stamps, waited


@pytest.mark.parametrize("which", ["first", "last"])
def test_sleeping_rank_delays_everyone(which):
    sleeping_rank = 0 if which == "first" else bf.size() - 1
    stamps, waited = _stamps(sleeping_rank)
    assert stamps.shape == (bf.size(), 2)
    enters, leaves = stamps[:, 0], stamps[:, 1]
    # Nobody leaves before the last rank entered (same machine, same clock).
    assert leaves.min().item() >= enters.max().item()
    assert enters[sleeping_rank].item() == enters.max().item()
    if bf.rank() != sleeping_rank:
        # The others waited for (most of) the sleep.
        assert waited >= SLEEP * 0.7, waited


def test_barrier_between_nonblocking_ops():
    t = torch.full((4,), float(bf.rank()))
    handle = bf.allreduce_nonblocking(t, average=False, name="barrier.pending_allreduce")
    bf.barrier()
    out = bf.synchronize(handle)
    assert torch.equal(out, torch.full((4,), float(bf.size() * (bf.size() - 1) // 2)))
