"""The last rank is slow: before each of ITERATIONS neighbor allreduces
(named "step", the default exponential-2 topology) it sleeps SLEEP_MS; the
others do not. Then BARRIERS unnamed barriers, and shutdown. Run with the
timeline on: the job's summary must name the last rank the straggler, and
the merged trace must end the last barrier at nearly one time on every
rank. Arguments: ITERATIONS SLEEP_MS BARRIERS (defaults 15 40 3)."""

import sys
import time

import torch

import bluefog.torch as bf
from report import report

ITERATIONS = int(sys.argv[1]) if len(sys.argv) > 1 else 15
SLEEP_MS = float(sys.argv[2]) if len(sys.argv) > 2 else 40.0
BARRIERS = int(sys.argv[3]) if len(sys.argv) > 3 else 3

bf.init()
me, size = bf.rank(), bf.size()
x = torch.full((4,), float(me))
for _ in range(ITERATIONS):
    if me == size - 1:
        time.sleep(SLEEP_MS / 1000)
    x = bf.neighbor_allreduce(x, name="step")
for _ in range(BARRIERS):
    bf.barrier()
report(f"STRAGGLER-DONE {me} {size}")
bf.shutdown()
