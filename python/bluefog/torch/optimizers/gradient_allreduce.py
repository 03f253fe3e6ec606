"""Horovod-style data parallelism: gradients are averaged over all ranks with
allreduce during backward, then every rank takes the same step."""

import torch

from bluefog.torch import mpi_ops
from bluefog.torch.optimizers.wrapping import DistributedOptimizerBase


def _install_gradient(param, result):
    if param.grad is None:
        param.grad = result
    else:
        param.grad.copy_(result)


class GradientAllreduce(DistributedOptimizerBase):
    def _setup(self, model, num_steps_per_communication):
        self._setup_base(model, "grad", num_steps_per_communication)
        self._handles = {}
        self._hook_gradients("_gradient_ready")

    def _start(self, param):
        grad = param.grad if param.grad is not None else torch.zeros_like(param)
        self._handles[param] = mpi_ops.allreduce_nonblocking(
            grad.detach(), average=True, name=self._names[param])

    def _gradient_ready(self, param):
        if not self._communicates_now():
            return
        previous = self._handles.pop(param, None)
        if previous is not None:
            # Another backward before step() (gradient accumulation): average
            # the accumulated gradient instead; every rank does the same.
            mpi_ops.synchronize(previous)
        self._start(param)

    def step(self, closure=None):
        loss = self._begin_step(closure)
        self._exchange_and_step(self._communicates_now(), _install_gradient)
        return loss
