"""Distributed optimizers: each wraps a ``torch.optim`` optimizer and returns
an instance of a subclass of its class.

``num_steps_per_communication=k``: the optimizer communicates at the k-th
pass since its last communication, counting forward passes (adapt-with-combine,
window optimizers) or backward passes (adapt-then-combine, gradient
allreduce), as BlueFog 0.3 counted; step() completes it. With one backward
per step() every k-th step communicates and the others are local steps; with
k backward passes per step() (accumulating mini-batch gradients) every step
communicates, using the accumulated gradient.

Every optimizer has BlueFog 0.3's ``synchronize()``, ``skip_synchronize()``,
``turn_on_timeline()`` and ``turn_off_timeline()``.
"""

from bluefog.torch.optimizers import combine, gradient_allreduce, windows
from bluefog.torch.optimizers.communication import CommunicationType
from bluefog.torch.optimizers.wrapping import wrap


def DistributedAdaptWithCombineOptimizer(optimizer, model,
                                         communication_type=CommunicationType.neighbor_allreduce,
                                         num_steps_per_communication=1):
    """Combine while adapting (DGD): parameters are exchanged during forward;
    step() installs the combined parameters, then takes the local step with
    the gradient computed at the old ones."""
    return wrap(optimizer, combine.AdaptWithCombine, model=model,
                communication_type=communication_type,
                num_steps_per_communication=num_steps_per_communication)


def DistributedAdaptThenCombineOptimizer(optimizer, model,
                                         communication_type=CommunicationType.neighbor_allreduce,
                                         num_steps_per_communication=1):
    """Adapt then combine (diffusion): each parameter takes its local step as
    soon as backward has its gradient, then its combination starts."""
    return wrap(optimizer, combine.AdaptThenCombine, model=model,
                communication_type=communication_type,
                num_steps_per_communication=num_steps_per_communication)


def DistributedGradientAllreduceOptimizer(optimizer, model, num_steps_per_communication=1):
    """Average gradients over all ranks with allreduce during backward, then step."""
    return wrap(optimizer, gradient_allreduce.GradientAllreduce, model=model,
                num_steps_per_communication=num_steps_per_communication)


def DistributedNeighborAllreduceOptimizer(optimizer, model, num_steps_per_communication=1):
    """Adapt-with-combine over neighbor_allreduce."""
    return DistributedAdaptWithCombineOptimizer(
        optimizer, model, CommunicationType.neighbor_allreduce, num_steps_per_communication)


def DistributedHierarchicalNeighborAllreduceOptimizer(optimizer, model,
                                                      num_steps_per_communication=1):
    """Adapt-with-combine over hierarchical_neighbor_allreduce."""
    return DistributedAdaptWithCombineOptimizer(
        optimizer, model, CommunicationType.hierarchical_neighbor_allreduce,
        num_steps_per_communication)


def DistributedAllreduceOptimizer(optimizer, model, num_steps_per_communication=1):
    """Adapt-with-combine over allreduce (parameters averaged over all ranks)."""
    return DistributedAdaptWithCombineOptimizer(
        optimizer, model, CommunicationType.allreduce, num_steps_per_communication)


def DistributedWinPutOptimizer(optimizer, model, num_steps_per_communication=1,
                               window_prefix=None):
    """Asynchronous: one window per parameter, named after it (after
    ``window_prefix + "."`` when given); parameters are put into the
    out-neighbours' windows in forward and combined with win_update at step().
    Call unregister_window() (collective) when done."""
    return wrap(optimizer, windows.WinPut, model=model,
                num_steps_per_communication=num_steps_per_communication,
                window_prefix=window_prefix)


def DistributedPullGetOptimizer(optimizer, model, num_steps_per_communication=1,
                                window_prefix=None):
    """Asynchronous: in-neighbours' parameters are pulled with win_get in
    forward and combined with win_update at step()."""
    return wrap(optimizer, windows.PullGet, model=model,
                num_steps_per_communication=num_steps_per_communication,
                window_prefix=window_prefix)


def DistributedPushSumOptimizer(optimizer, model, num_steps_per_communication=1,
                                window_prefix=None):
    """Asynchronous push-sum (subgradient-push) over win_accumulate with the
    associated weight p."""
    return wrap(optimizer, windows.PushSum, model=model,
                num_steps_per_communication=num_steps_per_communication,
                window_prefix=window_prefix)
