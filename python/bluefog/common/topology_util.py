"""Topologies for decentralized averaging, as networkx ``DiGraph``s: the
names of BlueFog 0.3's ``bluefog.common.topology_util``, with the same
arguments and results, gathered from the modules that do the work:

- ``topology_graphs``: the built-in graphs (``ExponentialGraph`` ...);
- ``topology_queries``: questions about any graph (``IsTopologyEquivalent``,
  ``GetRecvWeights`` ...);
- ``topology_schedules``: dynamic topologies (``GetDynamicOnePeerSendRecvRanks``
  ..., and beyond 0.3 the schedule objects ``OnePeerSchedule`` ...);
- ``topology_mixing``: beyond 0.3, ``MixingAnalysis``.

A topology over ``n`` ranks is a ``networkx.DiGraph`` on the nodes ``0..n-1``
built from a weight matrix ``W``: every nonzero ``W[i, j]`` is an edge
``i -> j`` whose attribute ``weight`` says how much rank ``j`` takes from rank
``i`` (self-loops included). Rank ``j`` combines with the weights in column
``j``. Importing this module does not import torch.
"""

from bluefog.common.topology_graphs import (  # noqa: F401
    ExponentialTwoGraph, ExponentialGraph, SymmetricExponentialGraph, MeshGrid2DGraph,
    StarGraph, RingGraph, FullyConnectedGraph,
)
from bluefog.common.topology_mixing import MixingAnalysis, MixingInfo  # noqa: F401
from bluefog.common.topology_queries import (  # noqa: F401
    IsTopologyEquivalent, IsRegularGraph, isPowerOf, GetRecvWeights, GetSendWeights,
)
from bluefog.common.topology_schedules import (  # noqa: F401
    DynamicSchedule, GetDynamicOnePeerSendRecvRanks, GetExp2DynamicSendRecvMachineRanks,
    GetInnerOuterRingDynamicSendRecvRanks, GetInnerOuterExpo2DynamicSendRecvRanks,
    OnePeerSchedule, Exp2MachineSchedule, InnerOuterRingSchedule, InnerOuterExpo2Schedule,
)

__all__ = [
    "ExponentialTwoGraph",
    "ExponentialGraph",
    "SymmetricExponentialGraph",
    "MeshGrid2DGraph",
    "StarGraph",
    "RingGraph",
    "FullyConnectedGraph",
    "IsTopologyEquivalent",
    "IsRegularGraph",
    "isPowerOf",
    "GetRecvWeights",
    "GetSendWeights",
    "GetDynamicOnePeerSendRecvRanks",
    "GetExp2DynamicSendRecvMachineRanks",
    "GetInnerOuterRingDynamicSendRecvRanks",
    "GetInnerOuterExpo2DynamicSendRecvRanks",
    "OnePeerSchedule",
    "Exp2MachineSchedule",
    "InnerOuterRingSchedule",
    "InnerOuterExpo2Schedule",
    "MixingAnalysis",
    "MixingInfo",
]
