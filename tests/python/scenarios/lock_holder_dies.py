"""Rank 1 takes the mutex of rank 2's window and dies (SIGKILL) holding it;
rank 0's put that requires that mutex must then go through (rank 2's engine
releases a dead rank's hold) rather than wait forever. Run with
--enable-recovery so that the survivors keep running."""

import os
import signal
import time

import torch

import bluefog.torch as bf
from report import report

bf.init()
bf.set_topology(bf.FullyConnectedGraph(bf.size()))
me = bf.rank()
x = torch.ones(4) * me
bf.win_create(x, "w")
bf.barrier()
if me == 1:
    with bf.win_mutex("w", ranks=[2]):
        report("RANK1-HOLDS")
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)
time.sleep(0.2)  # rank 1 holds it by now
if me == 0:
    start = time.monotonic()
    bf.win_put(x, "w", dst_weights={2: 1.0}, require_mutex=True)
    report(f"PUT-OK after {time.monotonic() - start:.3f}")
if me == 2:
    deadline = time.monotonic() + 30
    while bf.get_win_version("w")[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    report(f"RANK2-SAW-PUT version {bf.get_win_version('w')[0]}")
