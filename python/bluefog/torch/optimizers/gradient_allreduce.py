"""Horovod-style data parallelism: gradients are averaged over all ranks with
allreduce during backward, then every rank takes the same step. When they
communicate: see passes.py."""

import torch

from bluefog.torch import mpi_ops
from bluefog.torch.optimizers.passes import BackwardPasses
from bluefog.torch.optimizers.wrapping import DistributedOptimizerBase, finish


def _install_gradient(param, result):
    if param.grad is None:
        param.grad = result
    else:
        param.grad.copy_(result)


class GradientAllreduce(DistributedOptimizerBase):
    """In the k-th backward pass since the last communication, each gradient
    (accumulated over those passes) is allreduced as soon as it is ready;
    step() installs the averages and steps. Other steps use the local
    gradients."""

    def _setup(self, model, num_steps_per_communication):
        self._setup_base(model, "grad", num_steps_per_communication)
        self._handles = {}
        self._backwards = BackwardPasses()
        self._hook_gradients("_gradient_ready")

    def _start(self, param):
        grad = param.grad if param.grad is not None else torch.zeros_like(param)
        self._handles[param] = mpi_ops.allreduce_nonblocking(
            grad.detach(), average=True, name=self._names[param])

    def _gradient_ready(self, param):
        if self._backwards.note_gradient(param) < self._num_steps_per_communication:
            return
        previous = self._handles.pop(param, None)
        if previous is not None:
            # More backward passes than k before step(): average the
            # accumulated gradient instead; every rank does the same.
            mpi_ops.synchronize(previous)
        self._start(param)

    def _synchronize(self):
        if not self._communication_pending():
            return
        try:
            for param in self._names:
                if param not in self._handles:
                    self._start(param)
            finish(self._handles, _install_gradient)
        finally:
            self._backwards.reset()

    def _communication_pending(self):
        return self._backwards.count >= self._num_steps_per_communication

    def _finish_step(self):
        self._wrapped_class.step(self)
