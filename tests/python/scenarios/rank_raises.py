"""Rank 1's script raises ValueError (uncaught) while the other ranks depend
on it; MODE says what they are doing then:

  blocked      waiting in a blocking neighbor_allreduce
  nonblocking  with several nonblocking allreduces in flight
  window       waiting in win_put / win_accumulate to rank 1's window, while
               rank 1 raises holding its window's mutex
  optimizer    training with DistributedNeighborAllreduceOptimizer; rank 1
               raises inside its forward pass, parameters being exchanged

Survivors print SURVIVOR <rank> <exception type>: <message>, then time a
later op that needs rank 1 (LATER <rank> <seconds> <exception type>), and
re-raise. Rank 1 prints RAISING <time> just before it raises.
"""

import os
import sys
import time

import torch

import bluefog.torch as bf
from report import report

MODE = sys.argv[1]
bf.init()
me = bf.rank()


def rank_one_raises():
    if me == 1:
        time.sleep(0.3)  # the others are waiting by now
        if os.environ.get("BLUEFOG_TIMELINE"):
            bf.timeline_start_activity("marker", "BEFORE_RAISE")
        report(f"RAISING {time.time():.3f}")
        raise ValueError("rank one gives up on purpose")


def survive(step):
    try:
        step()
    except Exception as error:  # noqa: BLE001 - reported, then re-raised
        report(f"SURVIVOR {me} {type(error).__name__}: {error}")
        start = time.monotonic()
        try:
            bf.allreduce(torch.ones(2), name="later")
        except Exception as later:  # noqa: BLE001
            report(f"LATER {me} {time.monotonic() - start:.3f} {type(later).__name__}")
        raise
    report(f"rank {me}: unexpectedly finished without an error")


def blocked():
    x = torch.ones(8) * me
    for _ in range(3):
        x = bf.neighbor_allreduce(x, name="blocked")
    rank_one_raises()
    survive(lambda: [bf.neighbor_allreduce(x, name="blocked") for _ in range(10**6)])


def nonblocking():
    bf.barrier()
    rank_one_raises()
    handles = [bf.allreduce_nonblocking(torch.ones(1000) * i, name=f"inflight{i}")
               for i in range(8)]
    survive(lambda: [bf.synchronize(h) for h in handles])


def window():
    bf.set_topology(bf.FullyConnectedGraph(bf.size()))
    x = torch.ones(100) * me
    bf.win_create(x, "w")
    if me == 1:
        # Inside a window op of its own: holding its window's mutex, which
        # the others' puts wait for.
        with bf.win_mutex("w", for_self=True):
            rank_one_raises()

    def keep_writing():
        for i in range(10**6):
            if i % 2:
                bf.win_put(x, "w", dst_weights={1: 0.5}, require_mutex=True)
            else:
                bf.win_accumulate(x, "w", dst_weights={1: 0.5})
    survive(keep_writing)


class RaisesAtStep(torch.nn.Module):
    """Rank 1's forward raises at step 5, after the optimizer's forward hooks
    started exchanging the first layer's parameters."""

    def __init__(self):
        super().__init__()
        self.step = 0

    def forward(self, x):
        self.step += 1
        if self.step == 5:
            rank_one_raises()
        return x


def optimizer():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), RaisesAtStep(), torch.nn.ReLU(),
                                torch.nn.Linear(8, 1))
    opt = bf.DistributedNeighborAllreduceOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.01), model=model)

    def train():
        for _ in range(10**6):
            opt.zero_grad()
            loss = model(torch.randn(16, 4)).pow(2).mean()
            loss.backward()
            opt.step()
    if me == 1:
        train()
    else:
        survive(train)


{"blocked": blocked, "nonblocking": nonblocking, "window": window,
 "optimizer": optimizer}[MODE]()
