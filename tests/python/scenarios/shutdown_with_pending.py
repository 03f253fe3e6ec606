"""Rank 0 leaves a nonblocking allreduce that rank 1 never posts and exits;
shutdown must give up after BLUEFOG_STALL_WARNING_SECONDS instead of hanging."""

import time

import torch

import bluefog.torch as bf

bf.init()
if bf.rank() == 0:
    bf.allreduce_nonblocking(torch.ones(2), name="never_matched")
start = time.monotonic()
bf.shutdown()
print(f"SHUTDOWN-DONE after {time.monotonic() - start:.1f}s", flush=True)
