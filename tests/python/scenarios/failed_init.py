"""bf.init() fails on every rank, then each rank reports what later calls do.

    failed_init.py npm_differs   the first half of the ranks emulate machines of 2
                                 ranks (BLUEFOG_NODES_PER_MACHINE=2), the others
                                 machines of 1
    failed_init.py npm_set_on_some   the first half set it to 2, the others leave
                                 it unset (a path of its own in MPI's set-up)
    failed_init.py as_launched   the launcher's environment makes init fail
                                 (e.g. BLUEFOG_NODES_PER_MACHINE=3 at 4 ranks)

A failed init leaves bluefog uninitialised: every call raises the
not-initialized ValueError, which says why init failed, and init cannot be
retried (MPI was finalised). The script then ends normally."""

import os
import sys

import torch

from report import report

rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", "0")))
size = int(os.environ.get("OMPI_COMM_WORLD_SIZE", os.environ.get("PMI_SIZE", "1")))
if sys.argv[1] == "npm_differs":
    os.environ["BLUEFOG_NODES_PER_MACHINE"] = "2" if rank < size // 2 else "1"
if sys.argv[1] == "npm_set_on_some":
    if rank < size // 2:
        os.environ["BLUEFOG_NODES_PER_MACHINE"] = "2"
    else:
        os.environ.pop("BLUEFOG_NODES_PER_MACHINE", None)

import bluefog.torch as bf  # noqa: E402


def outcome(call):
    try:
        call()
    except Exception as error:  # noqa: BLE001 (what it raises is the point)
        return f"{type(error).__name__}: {error}"
    return "no error"


report(f"rank {rank} INIT {outcome(bf.init)}")
report(f"rank {rank} INITIALIZED {bf.is_initialized()}")
for label, call in [
    ("SIZE", bf.size),
    ("LOAD_TOPOLOGY", bf.load_topology),
    ("IN_NEIGHBORS", bf.in_neighbor_ranks),
    ("MACHINE_NEIGHBORS", bf.in_neighbor_machine_ranks),
    ("ALLREDUCE", lambda: bf.allreduce(torch.ones(2))),
    ("HIERARCHICAL", lambda: bf.hierarchical_neighbor_allreduce(torch.ones(2))),
    ("INIT_AGAIN", bf.init),
]:
    report(f"rank {rank} {label} {outcome(call)}")
report(f"rank {rank} DONE")
