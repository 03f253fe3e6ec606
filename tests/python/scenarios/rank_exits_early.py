"""Rank 1's script ends normally while the others still need it: one op
they posted before it left (PENDING) and one after (LATER) must fail at once
with an error naming rank 1 and the op it never posted."""

import time

import torch

import bluefog.torch as bf
from report import report

bf.init()
me = bf.rank()
bf.barrier()
if me == 1:
    time.sleep(0.5)
    report("RANK1-LEAVES")
else:
    handle = bf.allreduce_nonblocking(torch.ones(3), name="posted_before")
    for label, call in (("PENDING", lambda: bf.synchronize(handle)),
                        ("LATER", lambda: bf.neighbor_allreduce(torch.ones(3), name="after"))):
        start = time.monotonic()
        try:
            call()
            report(f"rank {me}: {label} unexpectedly succeeded")
        except bf.PeerFailureError as error:
            report(f"{label} {me} {time.monotonic() - start:.3f}: {error}")
