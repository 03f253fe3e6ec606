"""Waiting releases the GIL, ops may come from several Python threads, and a
signal handler can interrupt a wait without losing the op."""

import signal
import threading
import time

import pytest
import torch

import bluefog.torch as bf


def test_other_python_threads_run_while_waiting():
    counter = {"ticks": 0, "stop": False}

    def spin():
        while not counter["stop"]:
            counter["ticks"] += 1
            # Frees tensors from this thread while the engine works.
            torch.ones(16).add_(1)

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        if bf.rank() == bf.size() - 1:
            time.sleep(0.5)  # everyone else waits in synchronize meanwhile
        before = counter["ticks"]
        result = bf.allreduce(torch.ones(3), average=False, name="gil_wait")
        during = counter["ticks"] - before
    finally:
        counter["stop"] = True
        thread.join()
    assert torch.equal(result, torch.full((3,), float(bf.size())))
    if bf.rank() != bf.size() - 1 and bf.size() > 1:
        assert during > 100, f"only {during} ticks ran while waiting: the GIL was held"


def test_ops_from_several_threads():
    results = {}
    errors = []

    def worker(index):
        try:
            tensor = torch.full((1000 * (index + 1),), float(bf.rank() + index))
            results[index] = bf.allreduce(tensor, average=False, name=f"thread_op_{index}")
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    n = bf.size()
    for index in range(4):
        expected = float(sum(range(n)) + n * index)
        assert torch.equal(results[index], torch.full((1000 * (index + 1),), expected))


@pytest.mark.skipif(bf.size() < 2, reason="needs a peer that posts late")
def test_signal_interrupts_wait_and_op_survives():
    class Interrupted(Exception):
        pass

    def on_alarm(signum, frame):
        raise Interrupted()

    late = bf.size() - 1
    if bf.rank() == late:
        time.sleep(1.5)
    handle = bf.allreduce_nonblocking(torch.ones(2), average=False, name="interrupted")
    if bf.rank() != late:
        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        try:
            with pytest.raises(Interrupted):
                bf.synchronize(handle)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    result = bf.synchronize(handle)
    assert torch.equal(result, torch.full((2,), float(bf.size())))
