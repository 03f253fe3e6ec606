"""Rank 1 dies (SIGKILL) while the others have an allreduce pending.

Survivors must see that op fail, and later ops fail at once, with an error
naming the dead rank; they print SURVIVOR-OK lines the test looks for.
"""

import os
import signal
import time

import torch

import bluefog.torch as bf
from report import report

bf.init()
me = bf.rank()
bf.barrier()
if me == 1:
    time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGKILL)

handle = bf.allreduce_nonblocking(torch.ones(4), name="pending_when_rank_died")
try:
    bf.synchronize(handle)
    report(f"rank {me}: pending op unexpectedly succeeded")
except RuntimeError as error:
    assert "rank 1" in str(error) and "died" in str(error), str(error)
    report(f"SURVIVOR-OK rank {me} pending: {error}")

start = time.monotonic()
try:
    bf.allreduce(torch.ones(4), name="after_rank_died")
    report(f"rank {me}: later op unexpectedly succeeded")
except RuntimeError as error:
    assert "rank 1" in str(error) and "died" in str(error), str(error)
    report(f"SURVIVOR-OK rank {me} later after {time.monotonic() - start:.2f}s: {error}")
