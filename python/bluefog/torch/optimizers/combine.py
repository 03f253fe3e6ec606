"""Adapt-with-combine and adapt-then-combine: every rank averages its
parameters with other ranks (neighbours, its machine's neighbours, or
everyone) while it takes local optimizer steps."""

import torch

from bluefog.torch.optimizers.communication import CombineSettings
from bluefog.torch.optimizers.local_step import LocalStep
from bluefog.torch.optimizers.wrapping import DistributedOptimizerBase, finish


def _copy_into(param, result):
    with torch.no_grad():
        param.copy_(result)


class CombineBase(DistributedOptimizerBase, CombineSettings):
    def _setup_common(self, model, kind, communication_type, num_steps_per_communication):
        self._setup_base(model, kind, num_steps_per_communication)
        self._setup_combine(communication_type)
        self._handles = {}

    def _start(self, param):
        self._handles[param] = self._start_combine(param.detach(), self._names[param])


class AdaptWithCombine(CombineBase):
    """x <- sum_j w_ij x_j - lr * update(grad f_i(x_i)): the parameters are sent
    in the forward pass (a pre-hook on each module that owns parameters), so
    communication overlaps forward and backward; step() waits, installs the
    combined parameters and then applies the local update computed from the
    gradient at the old ones."""

    def _setup(self, model, communication_type, num_steps_per_communication):
        self._setup_common(model, "awc", communication_type, num_steps_per_communication)
        models = list(model) if isinstance(model, (list, tuple)) else [model]
        self._hook_forward([module for m in models for module in m.modules()
                            if any(p in self._names for p in module.parameters(recurse=False))],
                           "_forward_started")

    def _forward_started(self, module, _inputs):
        # Evaluation under no_grad and repeated forwards within a step send nothing.
        if not torch.is_grad_enabled() or not self._combines_now():
            return
        for param in module.parameters(recurse=False):
            if param in self._names and param not in self._handles:
                self._start(param)

    def step(self, closure=None):
        loss = self._begin_step(closure)
        self._exchange_and_step(self._combines_now(), _copy_into)
        return loss


class AdaptThenCombine(CombineBase, LocalStep):
    """x <- sum_j w_ij (x_j - lr * update(grad f_j(x_j))): as soon as backward
    has a parameter's gradient, that parameter takes its local step and its
    combination starts, overlapping the rest of backward; step() waits."""

    def _setup(self, model, communication_type, num_steps_per_communication):
        self._setup_common(model, "atc", communication_type, num_steps_per_communication)
        self._setup_local_step()
        self._adapted = set()
        self._hook_gradients("_gradient_ready")

    def _gradient_ready(self, param):
        if param in self._adapted:
            raise RuntimeError(
                f"adapt-then-combine: parameter '{self._names[param]}' received a second "
                "gradient before step(); its local step already happened in the first "
                "backward. Call step() after every backward (accumulating gradients over "
                "several backward passes is not possible with this optimizer).")
        self._adapt(param)

    def _adapt(self, param):
        self._local_step(param)
        self._adapted.add(param)
        if self._combines_now():
            self._start(param)

    def step(self, closure=None):
        loss = self._begin_step(closure)
        for param in self._names:
            if param not in self._adapted:
                self._adapt(param)
        try:
            finish(self._handles, _copy_into)
        finally:
            self._adapted.clear()
            self._steps_done += 1
        return loss
