"""Every distributed optimizer, with SGD and with Adam and each communication
type, reaches the centralized least-squares solution (see least_squares.py).

Tolerances (relative distance of every rank's weights to x*):
- SGD: 2e-3. With a decaying step the DGD/diffusion bias shrinks with lr.
- Adam: 6e-2. Decentralized Adam has a bias that no step size removes: each
  rank normalises by its own second moments, so the fixed point balances
  g_r / sqrt(v_r) rather than g_r. Without communication the error is 0.14
  or more at every size above 1, so the check still tells combining from not.
"""

import functools
import itertools

import pytest
import torch

import bluefog.torch as bf
from bluefog.common import topology_util
from least_squares import centralized_solution, train, worst_relative_error

N = bf.size()
CT = bf.CommunicationType
TOLERANCE = {torch.optim.SGD: 2e-3, torch.optim.Adam: 6e-2}
LR = {torch.optim.SGD: 0.2, torch.optim.Adam: 0.1}
COMBINE_TYPES = [CT.neighbor_allreduce, CT.allreduce, CT.hierarchical_neighbor_allreduce]
FACTORIES = {"awc": bf.DistributedAdaptWithCombineOptimizer,
             "atc": bf.DistributedAdaptThenCombineOptimizer}
needs_local_peers = pytest.mark.skipif(
    bf.local_size() < 2, reason="hierarchical_neighbor_allreduce needs local_size() > 1")


def check_converges(make_optimizer, optimizer_class, tolerance=None, before_step=None):
    x, _ = train(make_optimizer, optimizer_class, LR[optimizer_class], before_step=before_step)
    error = worst_relative_error(x, centralized_solution(), "convergence.error")
    assert error < (tolerance or TOLERANCE[optimizer_class]), error


def marks(kind):
    return [needs_local_peers] if kind is CT.hierarchical_neighbor_allreduce else []


@pytest.mark.parametrize("optimizer_class", [torch.optim.SGD, torch.optim.Adam])
@pytest.mark.parametrize("kind", [pytest.param(k, marks=marks(k), id=k.name)
                                  for k in COMBINE_TYPES])
@pytest.mark.parametrize("factory", FACTORIES)
def test_combine_optimizers_converge(factory, kind, optimizer_class):
    check_converges(functools.partial(FACTORIES[factory], communication_type=kind),
                    optimizer_class)


@pytest.mark.parametrize("kind", [pytest.param(k, marks=marks(k), id=k.name)
                                  for k in COMBINE_TYPES])
@pytest.mark.parametrize("factory", FACTORIES)
def test_combine_every_second_step_converges(factory, kind):
    check_converges(functools.partial(FACTORIES[factory], communication_type=kind,
                                      num_steps_per_communication=2),
                    torch.optim.SGD, tolerance=5e-3)


@pytest.mark.parametrize("optimizer_class", [torch.optim.SGD, torch.optim.Adam])
def test_gradient_allreduce_converges(optimizer_class):
    check_converges(bf.DistributedGradientAllreduceOptimizer, optimizer_class,
                    tolerance=2e-3 if optimizer_class is torch.optim.Adam else 1e-5)


@pytest.mark.parametrize("factory, kind", [
    (bf.DistributedNeighborAllreduceOptimizer, None),
    (bf.DistributedAllreduceOptimizer, None),
    pytest.param(bf.DistributedHierarchicalNeighborAllreduceOptimizer, None,
                 marks=needs_local_peers),
])
def test_fixed_type_factories_converge(factory, kind):
    check_converges(factory, torch.optim.SGD)


@pytest.mark.parametrize("factory", FACTORIES)
def test_dynamic_one_peer_schedule_set_per_iteration_converges(factory):
    """The seed's loop: before each iteration set dst_weights, src_weights and
    self_weight from the one-peer exponential-2 schedule."""
    schedule = topology_util.GetDynamicOnePeerSendRecvRanks(
        topology_util.ExponentialTwoGraph(N), bf.rank())

    def one_peer(optimizer):
        send, recv = next(schedule)
        optimizer.dst_weights = send
        optimizer.src_weights = {r: 1.0 / (len(recv) + 1) for r in recv}
        optimizer.self_weight = 1.0 / (len(recv) + 1)

    check_converges(FACTORIES[factory], torch.optim.SGD, tolerance=5e-3,
                    before_step=one_peer if N > 1 else None)


@pytest.mark.skipif(N == 1, reason="one rank has nothing to combine with")
@pytest.mark.parametrize("optimizer_class", [torch.optim.SGD, torch.optim.Adam])
def test_without_communication_the_error_stays_large(optimizer_class):
    """The baseline that shows the tolerances above mean something."""
    x, _ = train(functools.partial(bf.DistributedAdaptThenCombineOptimizer,
                                   communication_type=CT.empty),
                 optimizer_class, LR[optimizer_class])
    error = worst_relative_error(x, centralized_solution(), "convergence.baseline")
    assert error > 2 * TOLERANCE[optimizer_class], error


def with_barrier(factory):
    def make(optimizer, model):
        wrapped = factory(optimizer, model)
        wrapped.force_barrier = True
        return wrapped
    return make


@pytest.mark.parametrize("factory", [
    bf.DistributedWinPutOptimizer, with_barrier(bf.DistributedWinPutOptimizer),
    bf.DistributedPullGetOptimizer, bf.DistributedPushSumOptimizer,
], ids=["win_put", "win_put_barrier", "pull_get", "push_sum"])
def test_window_optimizers_converge(factory):
    """Window optimizers never wait for their neighbours, and 4 ranks on 2
    cores drift apart by hundreds of steps: a rank far ahead keeps combining
    with its neighbours' early parameters. Real jobs run at similar speeds;
    the test bounds the drift likewise, with a barrier every 8 steps."""
    steps = itertools.count()

    def bounded_drift(_optimizer):
        if next(steps) % 8 == 0:
            bf.barrier()

    x, optimizer = train(factory, torch.optim.SGD, LR[torch.optim.SGD], before_step=bounded_drift)
    optimizer.unregister_window()
    assert bf.get_current_created_window_names() == []
    error = worst_relative_error(x, centralized_solution(), "convergence.window")
    assert error < 5e-3, error
