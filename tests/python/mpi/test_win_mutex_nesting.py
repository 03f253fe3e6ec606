"""Asking on one thread for a window mutex that thread already holds (nested
win_mutex, an op with require_mutex inside win_mutex over the ranks it
locks, win_lock inside win_mutex(for_self=True)) raises ValueError at once,
naming the window, the rank and the op, instead of waiting for itself
forever. Another thread asking for the same mutex waits its turn."""

import threading
import time

import pytest
import torch

import bluefog.torch as bf

N, ME = bf.size(), bf.rank()
needs_two = pytest.mark.skipif(N < 2, reason="needs a neighbour")


@pytest.fixture(autouse=True)
def window():
    bf.win_create(torch.ones(3, dtype=torch.float64), "nest")
    bf.win_create(torch.ones(3, dtype=torch.float64), "other")
    yield
    bf.barrier()
    bf.win_free()


def refused(call, op, rank):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert message.startswith(f"{op}: this thread already holds"), message
    assert "'nest'" in message and f"rank {rank}" in message, message
    return message


def enter(context):
    """Enters a context manager and leaves it at once (so a refusal raises here)."""
    with context:
        pass


def test_nested_win_mutex_for_self():
    with bf.win_mutex("nest", for_self=True):
        message = refused(lambda: enter(bf.win_mutex("nest", for_self=True)), "win_mutex", ME)
        assert "its own window 'nest'" in message and "taken by win_mutex" in message
        refused(lambda: enter(bf.win_mutex("nest", ranks=[ME])), "win_mutex", ME)
        with bf.win_mutex("other", for_self=True):  # another window: its own mutex
            pass
    with bf.win_mutex("nest", for_self=True):  # released, so it can be taken again
        pass


@needs_two
def test_nested_win_mutex_over_neighbours():
    outs = bf.out_neighbor_ranks()
    with bf.win_mutex("nest"):
        refused(lambda: enter(bf.win_mutex("nest")), "win_mutex", outs[0])
        refused(lambda: enter(bf.win_mutex("nest", ranks=[outs[-1], ME])), "win_mutex",
                outs[-1])
        with bf.win_mutex("other"):  # another window: its own mutexes
            pass


@needs_two
@pytest.mark.parametrize("op", ["win_put", "win_accumulate"])
@pytest.mark.parametrize("nonblocking", [False, True])
def test_put_and_accumulate_requiring_a_held_mutex(op, nonblocking):
    fn = getattr(bf, op + "_nonblocking" if nonblocking else op)
    x = torch.ones(3, dtype=torch.float64)
    outs = bf.out_neighbor_ranks()
    with bf.win_mutex("nest"):
        refused(lambda: fn(x, "nest", require_mutex=True), op, outs[0])
        bf.win_wait(bf.win_put_nonblocking(x, "nest"))  # without the mutex: fine
    with bf.win_mutex("nest", ranks=[outs[-1]]):
        refused(lambda: fn(x, "nest", dst_weights=[outs[-1]], require_mutex=True), op, outs[-1])
    with bf.win_mutex("other", for_self=True):  # another window's mutex
        result = fn(x, "nest", require_mutex=True)
        if nonblocking:
            bf.win_wait(result)


@needs_two
@pytest.mark.parametrize("nonblocking", [False, True])
def test_get_requiring_a_held_mutex(nonblocking):
    fn = bf.win_get_nonblocking if nonblocking else bf.win_get
    ins = bf.in_neighbor_ranks()
    with bf.win_mutex("nest", ranks=ins):
        refused(lambda: fn("nest", require_mutex=True), "win_get", ins[0])
    result = fn("nest", require_mutex=True)
    if nonblocking:
        bf.win_wait(result)


def test_update_requiring_the_own_mutex_while_holding_it():
    with bf.win_mutex("nest", for_self=True):
        refused(lambda: bf.win_update("nest", require_mutex=True), "win_update", ME)
        refused(lambda: bf.win_update_then_collect("nest"), "win_update_then_collect", ME)
        bf.win_update("nest")  # without the mutex: fine
    bf.win_update("nest", require_mutex=True)


def test_win_lock_inside_win_mutex_for_self():
    with bf.win_mutex("nest", for_self=True):
        message = refused(lambda: enter(bf.win_lock("nest")), "win_lock", ME)
        assert "taken by win_mutex" in message
    with bf.win_lock("nest"):
        refused(lambda: enter(bf.win_mutex("nest", for_self=True)), "win_mutex", ME)


def test_another_thread_waits_for_the_mutex_instead_of_raising():
    held, times, errors = threading.Event(), {}, []

    def second():
        held.wait()
        try:
            with bf.win_mutex("nest", for_self=True):
                times["second_in"] = time.monotonic()
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    thread = threading.Thread(target=second)
    thread.start()
    with bf.win_mutex("nest", for_self=True):
        held.set()
        time.sleep(0.5)
        times["first_out"] = time.monotonic()
    thread.join(timeout=60)
    assert not thread.is_alive() and not errors, errors
    assert times["second_in"] >= times["first_out"]
    with bf.win_mutex("nest", for_self=True):  # this thread's holding was its own
        pass
