"""Ops that go wrong with the timeline on; MODE:

  stall     rank 1 sleeps DELAY s (default 1) before allreduce 'late';
            with BLUEFOG_STALL_WARNING_SECONDS below DELAY the others' op
            records a STALL instant, and still completes
  deadline  every rank but 1 posts allreduce 'orphan', which rank 1 never
            posts (it stays up DELAY s, default 3): with
            BLUEFOG_OP_TIMEOUT_SECONDS=1 their op fails at its deadline; then
            every rank waits until DELAY s after the start and they shut down
            together (shutdown's own ops would time out on a rank far ahead)

Each rank reports DONE <rank> or FAILED <rank> <type>: <message>.
"""

import sys
import time

import torch

import bluefog.torch as bf
from report import report

MODE = sys.argv[1]
DELAY = float(sys.argv[2]) if len(sys.argv) > 2 else (1.0 if MODE == "stall" else 3.0)
bf.init()
me = bf.rank()
bf.barrier()
start = time.monotonic()  # one host: nearly one instant at every rank


def outcome(call):
    try:
        call()
        report(f"DONE {me}")
    except RuntimeError as error:
        report(f"FAILED {me} {type(error).__name__}: {error}")


if MODE == "stall":
    if me == 1:
        time.sleep(DELAY)
    outcome(lambda: bf.allreduce(torch.ones(4), name="late"))
elif MODE == "deadline":
    if me != 1:  # rank 1 stays up, but never posts 'orphan'
        outcome(lambda: bf.allreduce(torch.ones(4), name="orphan"))
    time.sleep(max(start + DELAY - time.monotonic(), 0))
    bf.barrier()
bf.shutdown()
