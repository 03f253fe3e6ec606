"""Run with BLUEFOG_MAX_UNSYNCHRONIZED_HANDLES=3: six local ops left
unsynchronized, then a seventh; reports what the handle table kept."""

import warnings

import torch

import bluefog.torch as bf
from bluefog import _bluefog
from report import report

bf.init()
me = bf.rank()


def local_op(i):
    t = torch.full((2,), float(i))
    return _bluefog.neighbor_allreduce_nonblocking(t, t, 2.0, [], [], f"limit.{i}")


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    handles = []
    for i in range(6):
        handles.append(local_op(i))
        while not bf.poll(handles[-1]):  # finished before the next is issued
            pass
    handles.append(local_op(6))
kept, released, limit = _bluefog.handle_counts()
report(f"COUNTS {me} kept={kept} released={released} limit={limit}")
report(f"WARNINGS {me} {len(caught)} {caught[0].category.__name__ if caught else '-'}")
for i, h in enumerate(handles):
    try:
        report(f"HANDLE {me} {i} {bf.synchronize(h).tolist()}")
    except bf.InvalidArgumentError as error:
        report(f"HANDLE {me} {i} released: {'was released without being synchronized' in str(error)}")
bf.shutdown()
