"""win_lock: while a rank holds its own window, neighbours' puts,
accumulates and gets on it wait (with or without require_mutex), and the
rank's own window calls keep working."""

import time

import pytest
import torch

import bluefog.torch as bf
from bluefog.common import topology_util

N, ME = bf.size(), bf.rank()
OWNER = 0


@pytest.fixture
def full_window():
    bf.set_topology(topology_util.FullyConnectedGraph(N))
    tensor = torch.full((5,), float(ME), dtype=torch.float64)
    bf.win_create(tensor, "locked")
    yield tensor
    bf.barrier()
    bf.win_free("locked")
    bf.set_topology(None)


def start_access(kind, tensor):
    if kind == "put":
        return bf.win_put_nonblocking(tensor, "locked", dst_weights=[OWNER])
    if kind == "accumulate":
        return bf.win_accumulate_nonblocking(tensor, "locked", dst_weights=[OWNER],
                                             require_mutex=True)
    return bf.win_get_nonblocking("locked", src_weights={OWNER: 1.0})


@pytest.mark.skipif(N < 2, reason="needs a neighbour")
@pytest.mark.parametrize("kind", ["put", "accumulate", "get"])
def test_neighbour_access_waits_for_the_block(full_window, kind):
    tensor = full_window
    if ME == OWNER:
        with bf.win_lock("locked"):
            bf.barrier()  # the others start their access while the owner holds the lock
            bf.barrier()  # ... and have seen it wait
            assert set(bf.get_win_version("locked").values()) == {0}
            tensor.add_(100.0)  # changed in place while nobody may read it
            bf.win_update("locked", require_mutex=True)  # own mutex: counted as held
        bf.barrier()
        if kind != "get":
            assert bf.get_win_version("locked") == {r: 1 for r in range(1, N)}
    else:
        bf.barrier()
        handle = start_access(kind, tensor)
        time.sleep(0.3)
        waited = not bf.win_poll(handle)
        bf.barrier()
        bf.win_wait(handle)
        assert waited, f"a neighbour's {kind} completed while the owner held win_lock"
        bf.barrier()
        if kind == "get":
            # The read happened after the block: it sees the owner's tensor as
            # changed there (100, then averaged with its N - 1 buffers of 0).
            got = bf.win_update("locked", self_weight=0.0, neighbor_weights={OWNER: 1.0},
                                clone=True)
            assert got[0].item() == pytest.approx(100.0 / N)


def test_own_calls_inside_and_misuse(full_window):
    with bf.win_lock("locked"):
        bf.win_update_then_collect("locked")  # requires the mutex by default
        with pytest.raises(ValueError, match="already holds window 'locked'"):
            with bf.win_lock("locked"):
                pass
        with pytest.raises(ValueError, match="held by this rank's win_lock"):
            bf.win_free("locked")
        with pytest.raises(ValueError, match="already holds its own window 'locked'"):
            with bf.win_mutex("locked", for_self=True):
                pass
    for _ in range(2):  # released: it can be taken again, and so can the mutex
        with bf.win_lock("locked"):
            pass
    with bf.win_mutex("locked", for_self=True):
        pass
    with pytest.raises(ValueError, match="no window named 'nothing'"):
        with bf.win_lock("nothing"):
            pass
