"""``bluefog.torch.topology_util`` as in BlueFog 0.3: the graph builders and
helpers of ``bluefog.common.topology_util``, and the collective inference of
the other side of a dynamic communication pattern."""

import numpy as np
import torch

from bluefog.common.topology_util import (  # noqa: F401  (re-exported as in BlueFog 0.3)
    ExponentialTwoGraph, ExponentialGraph, SymmetricExponentialGraph, MeshGrid2DGraph,
    StarGraph, RingGraph, FullyConnectedGraph, IsTopologyEquivalent, IsRegularGraph,
    GetRecvWeights, GetSendWeights, GetDynamicOnePeerSendRecvRanks,
    GetExp2DynamicSendRecvMachineRanks, GetInnerOuterRingDynamicSendRecvRanks,
    GetInnerOuterExpo2DynamicSendRecvRanks, isPowerOf,
)
from bluefog.torch import arguments, mpi_ops


def _sends(ranks, ranks_are_destinations, op, what):
    """The 0/1 matrix S of the whole job, S[i, j] = 1 when rank i sends to
    rank j, from every rank's destinations (or sources). Collective."""
    size = mpi_ops.size()
    flags = torch.zeros(size, dtype=torch.uint8)
    flags[arguments.neighbor_ranks(ranks, op, what, mpi_ops.rank(), size)] = 1
    table = mpi_ops.allgather(flags.unsqueeze(0)).numpy()
    return table if ranks_are_destinations else table.T


def _averaging_matrix(sends):
    """BlueFog 0.3's matrix: the identity plus the sends, then ``W / W.sum(axis=1)``
    with numpy broadcasting, i.e. column j divided by 1 + (number of ranks j
    sends to). When every rank sends to as many ranks as it receives from (every
    built-in topology), each column sums to 1: the uniform averaging weights."""
    W = np.eye(len(sends)) + sends
    return W / W.sum(axis=1)


def InferSourceFromDestinationRanks(dst_ranks, construct_adjacency_matrix=False):
    """Collective: every rank gives the ranks it sends to; returns the ranks
    that send to this one (ascending). With ``construct_adjacency_matrix``,
    returns ``(sources, W)`` with W as BlueFog 0.3 built it: ``W[i, j]`` is
    nonzero when ``i`` sends to ``j`` or ``i == j``, and equals
    ``1 / (1 + out_degree(j))``."""
    op = "InferSourceFromDestinationRanks"
    sends = _sends(dst_ranks, True, op, "dst_ranks")
    me = mpi_ops.rank()
    sources = [i for i in range(len(sends)) if sends[i, me]]
    return (sources, _averaging_matrix(sends)) if construct_adjacency_matrix else sources


def InferDestinationFromSourceRanks(src_ranks, construct_adjacency_matrix=False):
    """Collective: every rank gives the ranks it receives from; returns the
    ranks this one sends to (ascending). With ``construct_adjacency_matrix``,
    returns ``(destinations, W)``, W as for InferSourceFromDestinationRanks."""
    op = "InferDestinationFromSourceRanks"
    sends = _sends(src_ranks, False, op, "src_ranks")
    me = mpi_ops.rank()
    destinations = [j for j in range(len(sends)) if sends[me, j]]
    return (destinations, _averaging_matrix(sends)) if construct_adjacency_matrix \
        else destinations
