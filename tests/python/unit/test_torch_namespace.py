"""What `import bluefog.torch as bf` and `bluefog.torch.topology_util` expose
as BlueFog 0.3 did: the topology_util builders and helpers under the same
names, each the very function of bluefog.common.topology_util."""

import pytest

import bluefog.torch as bf
from bluefog.common import topology_util as common
from bluefog.torch import topology_util

REEXPORTED = [
    "ExponentialTwoGraph", "ExponentialGraph", "SymmetricExponentialGraph", "MeshGrid2DGraph",
    "StarGraph", "RingGraph", "FullyConnectedGraph", "IsTopologyEquivalent", "IsRegularGraph",
    "GetRecvWeights", "GetSendWeights", "GetDynamicOnePeerSendRecvRanks",
    "GetExp2DynamicSendRecvMachineRanks", "GetInnerOuterRingDynamicSendRecvRanks",
    "GetInnerOuterExpo2DynamicSendRecvRanks", "isPowerOf",
]


@pytest.mark.parametrize("name", REEXPORTED)
def test_builders_and_helpers_are_reexported(name):
    assert getattr(bf, name) is getattr(common, name)
    assert getattr(topology_util, name) is getattr(common, name)


def test_reexported_builder_works_without_init():
    assert bf.IsTopologyEquivalent(bf.ExponentialGraph(8), common.ExponentialTwoGraph(8))


def test_infer_functions_live_in_torch_topology_util():
    assert bf.InferSourceFromDestinationRanks is topology_util.InferSourceFromDestinationRanks
    assert bf.InferDestinationFromSourceRanks is topology_util.InferDestinationFromSourceRanks
