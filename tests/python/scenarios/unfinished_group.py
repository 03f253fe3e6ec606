"""BlueFog 0.3's suite, when an assertion fails: ranks other than the last
stop checking a group of nonblocking ops and move on (here to bf.init()
again, as the next test's setUp does), while the last rank goes on to the
next group of ops. Nobody may wait forever: with a short
BLUEFOG_OP_TIMEOUT_SECONDS every rank ends with an error it prints as
ENDED <rank> <seconds> <exception type>."""

import time

import torch

import bluefog.torch as bf
from report import report

bf.init()
me, last = bf.rank(), bf.size() - 1
handles = [bf.neighbor_allreduce_nonblocking(torch.ones(5) * i, name=f"group1.{i}")
           for i in range(20)]
start = time.monotonic()
try:
    if me != last:
        bf.synchronize(handles[0])  # "the assertion failed": the rest is left
        bf.init()
    else:
        for h in handles:
            bf.synchronize(h)
        for h in [bf.neighbor_allreduce_nonblocking(torch.ones(5), name=f"group2.{i}")
                  for i in range(20)]:
            bf.synchronize(h)
    report(f"rank {me}: unexpectedly finished")
except RuntimeError as error:
    report(f"ENDED {me} {time.monotonic() - start:.3f} {type(error).__name__}: {error}")
