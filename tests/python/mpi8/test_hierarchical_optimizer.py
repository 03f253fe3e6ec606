"""The hierarchical optimizer over 4 emulated machines of 2 ranks: machines
exchange along the machine topology, statically and with the machine-level
one-peer exponential-2 schedule set per iteration."""

import pytest
import torch

import bluefog.torch as bf
from bluefog.common import topology_util
from least_squares import centralized_solution, train, worst_relative_error

pytestmark = pytest.mark.skipif(bf.machine_size() < 2, reason="needs several machines")


def machine_one_peer():
    schedule = topology_util.GetExp2DynamicSendRecvMachineRanks(
        bf.size(), bf.local_size(), bf.rank(), bf.local_rank())

    def update(optimizer):
        send, recv = next(schedule)
        optimizer.dst_machine_weights = send
        optimizer.src_machine_weights = {m: 1.0 / (len(recv) + 1) for m in recv}
        optimizer.self_weight = 1.0 / (len(recv) + 1)
    return update


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("factory", [bf.DistributedHierarchicalNeighborAllreduceOptimizer,
                                     lambda o, m: bf.DistributedAdaptThenCombineOptimizer(
                                         o, m, bf.CommunicationType.hierarchical_neighbor_allreduce)],
                         ids=["awc", "atc"])
def test_hierarchical_optimizer_converges(factory, dynamic):
    x, _ = train(factory, torch.optim.SGD, 0.2, before_step=machine_one_peer() if dynamic else None)
    assert worst_relative_error(x, centralized_solution(), "hier.error") < 5e-3
    if factory is not bf.DistributedHierarchicalNeighborAllreduceOptimizer:
        # Adapt-then-combine ends on the combination, which is identical on
        # the ranks of one machine.
        local = bf.allreduce(x, is_hierarchical_local=True, name="hier.local")
        assert torch.allclose(x, local, rtol=0, atol=1e-12)
