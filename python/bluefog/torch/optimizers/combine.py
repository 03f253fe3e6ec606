"""Adapt-with-combine and adapt-then-combine: every rank averages its
parameters with other ranks (neighbours, its machine's neighbours, or
everyone) while it takes local optimizer steps. When they communicate:
see passes.py."""

import torch

from bluefog.torch.optimizers.communication import CombineSettings, CommunicationType
from bluefog.torch.optimizers.local_step import LocalStep
from bluefog.torch.optimizers.passes import BackwardPasses
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
        if self._communication_type is not CommunicationType.empty:
            self._handles[param] = self._start_combine(param.detach(), self._names[param])


class AdaptWithCombine(CombineBase):
    """x <- sum_j w_ij x_j - lr * update(grad f_i(x_i)): the parameters are sent
    as the k-th training forward pass of their model since the last
    communication starts (k = num_steps_per_communication), so communication
    overlaps forward and backward; step() waits, installs the combined
    parameters, then applies the local update computed from the gradient at
    the old ones. Other steps are local."""

    def _setup(self, model, communication_type, num_steps_per_communication):
        self._setup_common(model, "awc", communication_type, num_steps_per_communication)
        self._count_forward_passes("_send_parameters")

    def _send_parameters(self, model):
        for param in self._model_params[model]:
            if param not in self._handles:
                self._start(param)

    def _synchronize(self):
        due = self._due_models()
        for model in due:
            self._send_parameters(model)
        self._forwards.reset(due)
        finish(self._handles, _copy_into)

    def _communication_pending(self):
        return bool(self._due_models())

    def _finish_step(self):
        self._wrapped_class.step(self)


class AdaptThenCombine(CombineBase, LocalStep):
    """x <- sum_j w_ij (x_j - lr * update(grad f_j(x_j))): in the k-th backward
    pass since the last communication, as soon as a parameter's gradient is
    ready (accumulated over those k passes), the parameter takes its local
    step and its combination starts, overlapping the rest of backward; step()
    waits. In the other steps, step() takes a local step."""

    def _setup(self, model, communication_type, num_steps_per_communication):
        self._setup_common(model, "atc", communication_type, num_steps_per_communication)
        self._setup_local_step()
        self._adapted = set()
        self._round_done = False  # synchronize() took this round's local steps
        self._backwards = BackwardPasses()
        self._hook_gradients("_gradient_ready")

    def _gradient_ready(self, param):
        self._check_local_step()  # before the pass counts: registering one then works
        if self._round_done:
            raise RuntimeError("adapt-then-combine: a backward pass after synchronize() and "
                               "before step(); call step() first")
        k = self._num_steps_per_communication
        current = self._backwards.note_gradient(param)
        if current < k:
            return  # the gradient accumulates; the local step comes later
        if current > k or param in self._adapted:
            raise RuntimeError(
                f"adapt-then-combine: parameter '{self._param_names[param]}' received a "
                f"gradient in more than num_steps_per_communication={k} backward passes "
                "before step(); its local step and combination already started in the "
                f"{k}-th. Call step() after every {k} backward passes, or raise "
                "num_steps_per_communication.")
        self._adapt(param)

    def _adapt(self, param):
        self._local_step(param)
        self._adapted.add(param)
        self._start(param)

    def _synchronize(self):
        if self._backwards.count < self._num_steps_per_communication:
            return
        try:
            for param in self._names:
                if param not in self._adapted:
                    self._adapt(param)  # no gradient in the k-th pass: same ops everywhere
            finish(self._handles, _copy_into)
        finally:
            self._backwards.reset()
            self._round_done = True

    def _communication_pending(self):
        return self._backwards.count >= self._num_steps_per_communication

    def _finish_step(self):
        if not self._round_done:
            self._local_steps()

    def _end_step(self):
        self._round_done = False
        self._adapted.clear()
