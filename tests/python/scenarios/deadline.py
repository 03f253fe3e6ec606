"""Ops and BLUEFOG_OP_TIMEOUT_SECONDS; MODE:

  mismatch  rank 1 posts allreduce 'b', the others 'a' one second later:
            nobody can finish, so each rank's op times out (or hears of a
            peer's timeout)

  progress  rank 0 receives from ranks 1 and 2, which send DELAY apart (each
            gap shorter than the timeout, the total longer): progress restarts
            the deadline, so it completes
  late      rank 1 posts its part DELAY seconds late
Each rank prints DONE <rank> <seconds>, or FAILED <rank> <seconds> <type>: <message>.
"""

import sys
import time

import torch

import bluefog.torch as bf
from report import report

MODE = sys.argv[1]
DELAY = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
bf.init()
me = bf.rank()
bf.barrier()
start = time.monotonic()


def outcome(call):
    try:
        call()
        report(f"DONE {me} {time.monotonic() - start:.3f}")
    except RuntimeError as error:
        report(f"FAILED {me} {time.monotonic() - start:.3f} {type(error).__name__}: {error}")


if MODE == "mismatch":
    if me != 1:
        time.sleep(1)  # rank 1's deadline comes first, while the others are in 'a'
    outcome(lambda: bf.allreduce(torch.ones(4), name="b" if me == 1 else "a"))
    time.sleep(3)  # stay up: every rank's op ends by its own deadline, not by a departure
elif MODE == "progress":
    if me == 0:
        outcome(lambda: bf.neighbor_allreduce(
            torch.ones(4), self_weight=1.0, src_weights={1: 1.0, 2: 1.0}, dst_weights={},
            name="stepwise"))
    elif me in (1, 2):
        time.sleep(DELAY * me)
        outcome(lambda: bf.neighbor_allreduce(
            torch.ones(4), self_weight=1.0, src_weights={}, dst_weights={0: 1.0},
            name="stepwise"))
elif MODE == "late":
    if me == 1:
        time.sleep(DELAY)
    outcome(lambda: bf.allreduce(torch.ones(4), name="late"))
