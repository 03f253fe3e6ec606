"""Rank 0 leaves a nonblocking allreduce that rank 1 never posts and exits.

MODE peer_leaves: rank 1 shuts down at once; rank 0's op fails as soon as
rank 1 says it posts no more ops, so neither shutdown waits.
MODE peer_stays: rank 1 stays up for STAY seconds before it shuts down; rank
0's shutdown gives up after BLUEFOG_STALL_WARNING_SECONDS instead of hanging.
"""

import sys
import time

import torch

import bluefog.torch as bf
from report import report

MODE = sys.argv[1]
bf.init()
if bf.rank() == 0:
    handle = bf.allreduce_nonblocking(torch.ones(2), name="never_matched")
elif MODE == "peer_stays":
    time.sleep(float(sys.argv[2]))
me = bf.rank()
start = time.monotonic()
bf.shutdown()
report(f"SHUTDOWN-DONE rank {me} after {time.monotonic() - start:.1f}s")
