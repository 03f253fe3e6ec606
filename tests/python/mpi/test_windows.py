"""One-sided windows checked against values every rank can compute: rank r's
window holds value(r) so each rank knows what its neighbours put or hold."""

import time

import pytest
import torch

import bluefog.torch as bf
from bluefog.common import topology_util

N, ME = bf.size(), bf.rank()
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
TOLERANCE = {torch.float16: 1e-2, torch.bfloat16: 5e-2, torch.float32: 1e-6, torch.float64: 1e-12}


def value(rank, dtype=torch.float64, size=7):
    return (torch.arange(size, dtype=torch.float64) + 10 * rank).to(dtype)


@pytest.fixture
def window():
    """A fresh window "w" over this rank's value; freed afterwards."""
    tensor = value(ME)
    bf.win_create(tensor, "w")
    yield tensor
    bf.win_free("w")


def settle():
    bf.barrier()  # every rank's window ops were waited for before the barrier


def test_create_and_free_list_the_windows():
    assert bf.get_current_created_window_names() == []
    bf.win_create(value(ME), "a")
    bf.win_create(value(ME, size=3), "b", zero_init=True)
    assert bf.get_current_created_window_names() == ["a", "b"]
    assert bf.set_topology(topology_util.RingGraph(N)) is False
    bf.win_free("a")
    assert bf.get_current_created_window_names() == ["b"]
    bf.win_free()
    assert bf.get_current_created_window_names() == []
    assert bf.set_topology(None) is True


@pytest.mark.parametrize("dtype", DTYPES)
def test_put_then_update_combines_neighbours(dtype):
    tensor = value(ME, dtype)
    bf.win_create(tensor, "put")
    weights = {r: 0.5 + r for r in bf.out_neighbor_ranks()}
    bf.win_put(tensor, "put", dst_weights=weights)
    settle()
    assert bf.get_win_version("put") == {r: 1 for r in bf.in_neighbor_ranks()}
    srcs = {r: 1.0 / (r + 2) for r in bf.in_neighbor_ranks()}
    got = bf.win_update("put", self_weight=0.25, neighbor_weights=srcs)
    assert got.data_ptr() == tensor.data_ptr()  # in place
    want = 0.25 * value(ME) + sum(w * (0.5 + ME) * value(r) for r, w in srcs.items())
    assert torch.allclose(got.double(), want, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
    assert bf.get_win_version("put") == {r: 0 for r in bf.in_neighbor_ranks()}
    settle()
    bf.win_free("put")


def test_default_update_weights_follow_the_topology(window):
    bf.win_put(window, "w")
    settle()
    in_ranks = bf.in_neighbor_ranks()
    uniform = 1.0 / (len(in_ranks) + 1)
    got = bf.win_update("w", clone=True)
    want = uniform * (value(ME) + sum(value(r) for r in in_ranks))
    assert torch.allclose(got, want)
    assert torch.equal(window, value(ME))  # clone leaves the window alone
    settle()


def test_put_self_weight_scales_the_window_afterwards(window):
    bf.win_put(window, "w", self_weight=0.5)
    assert torch.equal(window, 0.5 * value(ME))
    settle()
    # The neighbours received the unscaled tensor.
    got = bf.win_update("w", self_weight=0.0,
                        neighbor_weights={r: 1.0 for r in bf.in_neighbor_ranks()}, clone=True)
    assert torch.allclose(got, sum((value(r) for r in bf.in_neighbor_ranks()),
                                   torch.zeros(7, dtype=torch.float64)))
    settle()


def test_accumulate_adds_and_reset_clears():
    tensor = value(ME)
    bf.win_create(tensor, "acc", zero_init=True)
    for k in range(3):
        bf.win_accumulate(value(ME) * (k + 1), "acc")
    settle()
    in_ranks = bf.in_neighbor_ranks()
    assert bf.get_win_version("acc") == {r: 3 for r in in_ranks}
    got = bf.win_update("acc", self_weight=0.0, neighbor_weights={r: 1.0 for r in in_ranks},
                        reset=True, clone=True)
    assert torch.allclose(got, sum((6 * value(r) for r in in_ranks),
                                   torch.zeros(7, dtype=torch.float64)))
    again = bf.win_update("acc", self_weight=0.0, neighbor_weights={r: 1.0 for r in in_ranks},
                          clone=True)
    assert torch.equal(again, torch.zeros(7, dtype=torch.float64))
    settle()
    bf.win_free("acc")


def test_get_reads_neighbours_scaled(window):
    srcs = {r: 2.0 + r for r in bf.in_neighbor_ranks()}
    bf.win_get("w", src_weights=srcs)
    got = bf.win_update("w", self_weight=1.0, neighbor_weights={r: 1.0 for r in srcs},
                        clone=True)
    want = value(ME) + sum((w * value(r) for r, w in srcs.items()),
                           torch.zeros(7, dtype=torch.float64))
    assert torch.allclose(got, want)
    settle()


def test_update_then_collect_sums_and_zeroes():
    tensor = value(ME)
    bf.win_create(tensor, "collect", zero_init=True)
    bf.win_accumulate(value(ME), "collect")
    settle()
    got = bf.win_update_then_collect("collect")
    assert got.data_ptr() == tensor.data_ptr()
    assert torch.allclose(tensor, value(ME) + sum((value(r) for r in bf.in_neighbor_ranks()),
                                                  torch.zeros(7, dtype=torch.float64)))
    before = tensor.clone()
    bf.win_update_then_collect("collect")
    assert torch.equal(tensor, before)  # buffers were zeroed
    settle()
    bf.win_free("collect")


def test_large_windows_use_separate_payload_messages():
    size = 100_000  # 800 KB: above the inline limit
    tensor = value(ME, size=size)
    bf.win_create(tensor, "big")
    bf.win_put(tensor, "big")
    bf.win_get("big")
    settle()
    got = bf.win_update("big", self_weight=0.0,
                        neighbor_weights={r: 1.0 for r in bf.in_neighbor_ranks()}, clone=True)
    assert torch.allclose(got, sum((value(r, size=size) for r in bf.in_neighbor_ranks()),
                                   torch.zeros(size, dtype=torch.float64)))
    settle()
    bf.win_free("big")


def test_associated_p_follows_the_weights():
    tensor = value(ME)
    bf.win_create(tensor, "p", zero_init=True)
    bf.turn_on_win_ops_with_associated_p()
    try:
        assert bf.win_associated_p("p") == 1.0
        out = bf.out_neighbor_ranks()
        share = 1.0 / (len(out) + 1)
        bf.win_accumulate(tensor, "p", self_weight=share, dst_weights={r: share for r in out})
        assert bf.win_associated_p("p") == pytest.approx(share)
        settle()
        bf.win_update_then_collect("p")
        in_ranks = bf.in_neighbor_ranks()
        shares = {r: 1.0 / (len(topology_util.GetSendWeights(bf.load_topology(), r)[1]) + 1)
                  for r in in_ranks}
        assert bf.win_associated_p("p") == pytest.approx(share + sum(shares.values()))
    finally:
        bf.turn_off_win_ops_with_associated_p()
        settle()
        bf.win_free("p")


@pytest.mark.skipif(N == 1, reason="needs peers")
def test_no_lost_updates_when_everyone_accumulates_at_once():
    """Every rank accumulates into rank 0's window 200 times, nonblocking."""
    bf.set_topology(topology_util.StarGraph(N))
    try:
        tensor = torch.zeros(33, dtype=torch.float64)
        bf.win_create(tensor, "hot", zero_init=True)
        if ME != 0:
            handles = [bf.win_accumulate_nonblocking(torch.full((33,), ME * 1000.0 + k,
                                                                dtype=torch.float64),
                                                     "hot", dst_weights=[0])
                       for k in range(200)]
            for h in handles:
                bf.win_wait(h)
        settle()
        if ME == 0:
            bf.win_update_then_collect("hot")
            want = sum(ME_ * 1000 * 200 + sum(range(200)) for ME_ in range(1, N))
            assert torch.equal(tensor, torch.full((33,), float(want), dtype=torch.float64))
            assert bf.get_win_version("hot") == {r: 0 for r in range(1, N)}
        settle()
        bf.win_free("hot")
    finally:
        bf.set_topology(None)


@pytest.mark.skipif(N < 3, reason="needs a lock holder, a writer and a target")
def test_win_mutex_holds_off_writers_that_require_it():
    bf.set_topology(topology_util.FullyConnectedGraph(N))
    try:
        tensor = value(ME)
        bf.win_create(tensor, "locked")
        target = 1
        if ME == 0:
            with bf.win_mutex("locked", ranks=[target]):
                bf.barrier()  # the writer starts while rank 0 holds the mutex
                bf.barrier()  # ... and has checked that its put waits
        elif ME == 2:
            bf.barrier()
            handle = bf.win_put_nonblocking(tensor, "locked", dst_weights=[target],
                                            require_mutex=True)
            time.sleep(0.3)
            blocked = not bf.win_poll(handle)
            bf.barrier()
            bf.win_wait(handle)
            assert blocked, "a put requiring the mutex completed while another rank held it"
        else:
            bf.barrier()
            bf.barrier()
        settle()
        if ME == target:
            assert bf.get_win_version("locked")[2] == 1
        settle()
        bf.win_free("locked")
    finally:
        bf.set_topology(None)


def test_own_mutex_is_released_and_update_with_mutex_combines(window):
    for _ in range(2):  # a second acquisition only works if the first was released
        with bf.win_mutex("w", for_self=True):
            pass
    bf.win_put(window, "w")
    settle()
    got = bf.win_update("w", require_mutex=True, clone=True)
    in_ranks = bf.in_neighbor_ranks()
    want = (value(ME) + sum((value(r) for r in in_ranks),
                            torch.zeros(7, dtype=torch.float64))) / (len(in_ranks) + 1)
    assert torch.allclose(got, want)
    settle()


def mutex_free_within(name, ranks, seconds):
    """Whether win_mutex on `ranks` can be taken (and is then released) within `seconds`."""
    from bluefog import _bluefog
    handle = _bluefog.win_mutex_nonblocking(name, ranks, True)
    deadline = time.monotonic() + seconds
    while not bf.win_poll(handle) and time.monotonic() < deadline:
        time.sleep(0.01)
    if not bf.win_poll(handle):
        return False
    bf.win_wait(handle)
    bf.win_wait(_bluefog.win_mutex_nonblocking(name, ranks, False))
    return True


@pytest.mark.skipif(N < 3, reason="needs a writer and two targets")
def test_a_failed_op_releases_the_mutexes_it_took():
    """Rank 0 locks rank 1's window, then finds rank 2 has no such window:
    its put fails with ValueError, and rank 1's mutex must not stay taken."""
    from bluefog import _bluefog
    bf.set_topology(topology_util.FullyConnectedGraph(N))
    try:
        tensor = value(ME)
        bf.win_create(tensor, "half")
        if ME == 2:
            _bluefog.win_free("half")  # as if rank 2 had freed it alone
        bf.barrier()
        if ME == 0:
            with pytest.raises(ValueError, match="rank 2 has no window 'half'"):
                bf.win_put(tensor, "half", dst_weights=[1, 2], require_mutex=True)
        bf.barrier()
        if ME in (0, 1):
            assert mutex_free_within("half", [1], 10), "rank 1's mutex stayed taken"
        bf.barrier()
        bf.win_free("half")
    finally:
        bf.set_topology(None)


def test_bad_arguments_raise_clear_errors(window):
    with pytest.raises(ValueError, match="already exists"):
        bf.win_create(value(ME), "w")
    with pytest.raises(ValueError, match="no window named 'nope'"):
        bf.win_put(window, "nope")
    with pytest.raises(ValueError, match="holds"):
        bf.win_put(torch.zeros(3, dtype=torch.float64), "w")
    with pytest.raises(ValueError, match="holds"):
        bf.win_put(value(ME, torch.float32), "w")
    stranger = [r for r in range(N) if r != ME and r not in bf.out_neighbor_ranks()]
    if stranger:
        with pytest.raises(ValueError, match="not out-neighbours"):
            bf.win_put(window, "w", dst_weights={stranger[0]: 1.0})
    with pytest.raises(ValueError, match="not in-neighbours"):
        bf.win_update("w", self_weight=0.5, neighbor_weights={ME: 0.5})
    with pytest.raises(ValueError, match="given together"):
        bf.win_update("w", self_weight=0.5)
    with pytest.raises(TypeError):
        bf.win_create([1.0], "list")
    settle()


def test_mismatched_windows_across_ranks_are_reported():
    if N == 1:
        pytest.skip("needs two ranks to disagree")
    with pytest.raises(ValueError, match="another name, dtype or shape"):
        bf.win_create(torch.zeros(3 + (ME == 0)), "uneven")
    assert bf.get_current_created_window_names() == []


@pytest.mark.parametrize("zero_init", [False, True])
def test_neighbour_buffers_carry_no_p_until_written(zero_init):
    """As in BlueFog 0.3, whatever the buffers' data starts as, their p starts
    at 0: a collect before any write leaves p at 1, and one neighbour's
    accumulate adds exactly its share."""
    tensor = value(ME)
    bf.win_create(tensor, "p0", zero_init=zero_init)
    bf.turn_on_win_ops_with_associated_p()
    try:
        bf.win_update_then_collect("p0")
        assert bf.win_associated_p("p0") == 1.0
        settle()
        sender = 0
        if ME == sender:
            bf.win_accumulate(tensor, "p0", self_weight=0.5,
                              dst_weights={r: 0.5 for r in bf.out_neighbor_ranks()})
        settle()
        bf.win_update_then_collect("p0")
        received = ME != sender and ME in topology_util.GetSendWeights(
            bf.load_topology(), sender)[1]
        expected = 0.5 if ME == sender else (1.5 if received else 1.0)
        assert bf.win_associated_p("p0") == pytest.approx(expected)
        # A plain win_update on the fresh buffers weighs p like the data.
        bf.win_update("p0", self_weight=0.5,
                      neighbor_weights={r: 0.5 / max(1, len(bf.in_neighbor_ranks()))
                                        for r in bf.in_neighbor_ranks()})
        assert bf.win_associated_p("p0") == pytest.approx(0.5 * expected)
    finally:
        bf.turn_off_win_ops_with_associated_p()
        settle()
        bf.win_free("p0")
