"""Rank 1 posts an allreduce 3 s after the others; with
BLUEFOG_STALL_WARNING_SECONDS=1 the waiting ranks must log a warning naming
the tensor and rank 1, and the op must still complete correctly."""

import time

import torch

import bluefog.torch as bf

bf.init()
if bf.rank() == 1:
    time.sleep(3)
result = bf.allreduce(torch.full((3,), float(bf.rank())), average=False, name="late_tensor")
expected = sum(range(bf.size()))
assert torch.equal(result, torch.full((3,), float(expected))), result
print(f"STALL-DONE rank {bf.rank()}", flush=True)
