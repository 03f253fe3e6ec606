"""One parameter's local update, as adapt-then-combine needs it in backward.

For the optimizers whose update of a parameter depends only on that
parameter, its gradient and its own state, the wrapped class's own ``step``
is run on a one-parameter copy of the parameter's group: the numbers are
exactly those of the plain optimizer. Others need a step function
registered with ``register_step_function(fn(self, param, grad, group))``.
"""

import torch

PER_PARAMETER_OPTIMIZERS = tuple(getattr(torch.optim, name) for name in (
    "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam")
    if hasattr(torch.optim, name))


class LocalStep:
    def _setup_local_step(self):
        self._step_function = None
        self._group_index = (None, {})

    def register_step_function(self, step_function):
        """Use step_function(self, param, grad, group) for the local update of
        one parameter (in place, under torch.no_grad())."""
        if not callable(step_function):
            raise TypeError("register_step_function needs a callable "
                            "fn(optimizer, param, grad, group)")
        self._step_function = step_function

    def _group_of(self, param):
        groups, index = self._group_index
        if groups is not self.param_groups or param not in index:
            index = {p: g for g in self.param_groups for p in g["params"]}
            self._group_index = (self.param_groups, index)
        return index[param]

    def _local_steps(self):
        """Every parameter's local step (a step without communication)."""
        if self._step_function is None and isinstance(self, PER_PARAMETER_OPTIMIZERS):
            self._wrapped_class.step(self)  # the same numbers, in one call
            return
        for group in self.param_groups:
            for param in group["params"]:
                self._local_step(param)

    def _check_local_step(self):
        """TypeError unless a parameter's local step can be taken."""
        if self._step_function is None and not isinstance(self, PER_PARAMETER_OPTIMIZERS):
            raise TypeError(
                f"adapt-then-combine has no built-in local step for "
                f"{self._wrapped_class.__name__}; call "
                f"optimizer.register_step_function(fn(optimizer, param, grad, group))")

    def _local_step(self, param):
        self._check_local_step()
        if param.grad is None:
            return
        group = self._group_of(param)
        if self._step_function is not None:
            with torch.no_grad():
                self._step_function(self, param, param.grad, group)
            return
        all_groups = self.param_groups
        self.param_groups = [dict(group, params=[param])]
        try:
            self._wrapped_class.step(self)
        finally:
            self.param_groups = all_groups
