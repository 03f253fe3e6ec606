"""How a distributed optimizer wraps a user's ``torch.optim`` optimizer.

The wrapper is an instance of a class made on the fly that derives from both
a bluefog mixin and the user's optimizer class, so ``isinstance``,
``param_groups``, ``state``, ``state_dict`` and lr schedulers keep working.
It shares the wrapped optimizer's attributes (same ``param_groups`` and
``state`` objects), so state built before wrapping is kept.
"""

import itertools
import numbers
import weakref

import torch

_serials = itertools.count()


def wrap(optimizer, mixin, **setup):
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"expected a torch.optim.Optimizer to wrap, got "
                        f"{type(optimizer).__name__}")
    if isinstance(optimizer, DistributedOptimizerBase):
        raise TypeError(f"this {type(optimizer).__name__} is already a distributed optimizer; "
                        "wrap the plain torch.optim optimizer instead")
    base = type(optimizer)
    cls = type(base.__name__, (mixin, base), {"_wrapped_class": base})
    wrapper = cls.__new__(cls)
    # An lr scheduler made before wrapping patches `step` on the instance; the
    # wrapper must keep its own.
    wrapper.__dict__.update({k: v for k, v in optimizer.__dict__.items() if k != "step"})
    wrapper._setup(**setup)
    return wrapper


def parameter_names(model, optimizer, kind):
    """{param: unique name} for the optimizer's parameters, named after the
    model's; the names match ops across ranks."""
    models = list(model) if isinstance(model, (list, tuple)) else [model]
    if not models or not all(isinstance(m, torch.nn.Module) for m in models):
        raise TypeError(f"model must be a torch.nn.Module or a list of them, got {model!r}")
    names = {}
    for index, module in enumerate(models):
        prefix = f"{index}." if len(models) > 1 else ""
        for name, param in module.named_parameters():
            names.setdefault(param, prefix + name)
    serial = next(_serials)
    result = {}
    for group_index, group in enumerate(optimizer.param_groups):
        for param in group["params"]:
            if param not in names:
                raise ValueError(f"the optimizer's parameter of shape {tuple(param.shape)} "
                                 f"(group {group_index}) is not a parameter of `model`")
            result[param] = f"{kind}{serial}.{names[param]}"
    return result


def grad_ready_hooks(params, callback):
    """Calls callback(param) once the gradient of `param` has been accumulated
    into `param.grad` during backward. Returns (removable handles, objects
    that must stay alive as long as the hooks)."""
    handles, keep = [], []
    for param in params:
        if hasattr(param, "register_post_accumulate_grad_hook"):  # torch >= 2.1
            handles.append(param.register_post_accumulate_grad_hook(callback))
        else:
            # The AccumulateGrad node of a leaf; its hooks run once p.grad is final.
            accumulator = param.expand_as(param).grad_fn.next_functions[0][0]
            handles.append(accumulator.register_hook(
                lambda *_, param=param: callback(param)))
            keep.append(accumulator)
    return handles, keep


def finish(handles, apply):
    """Waits for every handle ({param: handle}); calls apply(param, result).
    All handles are waited for even if one fails, then the first error is raised."""
    from bluefog.torch.mpi_ops import synchronize
    error = None
    for param, handle in list(handles.items()):
        try:
            result = synchronize(handle)
            if error is None:
                apply(param, result)
        except Exception as e:  # noqa: BLE001 - re-raised below after draining
            error = error or e
    handles.clear()
    if error is not None:
        raise error


class DistributedOptimizerBase:
    """What every distributed optimizer has: parameter names and the schedule
    of communication steps."""

    def _setup_base(self, model, kind, num_steps_per_communication):
        self._names = parameter_names(model, self, kind)
        self.num_steps_per_communication = num_steps_per_communication
        self._steps_done = 0
        self._hook_handles, self._hook_keep = [], []

    def _weak_method(self, name):
        """A hook that calls self.<name> while this optimizer lives. Hooks hold
        no reference to the optimizer, so a dropped one stops acting at once."""
        optimizer = weakref.ref(self)

        def hook(*args):
            alive = optimizer()
            if alive is not None:
                return getattr(alive, name)(*args)
        return hook

    def _hook_forward(self, modules, name):
        self._hook_handles += [m.register_forward_pre_hook(self._weak_method(name))
                               for m in modules]

    def _hook_gradients(self, name):
        handles, keep = grad_ready_hooks(list(self._names), self._weak_method(name))
        self._hook_handles += handles
        self._hook_keep += keep

    def remove_hooks(self):
        """Detach this optimizer from the model (before switching optimizers)."""
        for handle in getattr(self, "_hook_handles", []):
            handle.remove()
        self._hook_handles, self._hook_keep = [], []

    def __del__(self):
        self.remove_hooks()

    @property
    def num_steps_per_communication(self):
        return self._num_steps_per_communication

    @num_steps_per_communication.setter
    def num_steps_per_communication(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"num_steps_per_communication must be an integer >= 1, "
                             f"got {value!r}")
        self._num_steps_per_communication = int(value)

    def _exchange_and_step(self, exchanging, apply):
        """step() of the optimizers that exchange, then step: when `exchanging`,
        starts the exchanges no hook started, waits for all and applies each
        result; then the wrapped optimizer's step."""
        if exchanging:
            for param in self._names:
                if param not in self._handles:
                    self._start(param)
            finish(self._handles, apply)
        self._wrapped_class.step(self)
        self._steps_done += 1

    def _begin_step(self, closure):
        """Checks the parameters and runs the closure (its backward fires the
        hooks like a user's own); returns the closure's loss."""
        if sum(len(g["params"]) for g in self.param_groups) != len(self._names):
            raise ValueError("the optimizer's parameters changed after it was wrapped; "
                             "wrap it again after add_param_group")
        if closure is None:
            return None
        with torch.enable_grad():
            return closure()

    def _communicates_now(self):
        """True on every num_steps_per_communication-th step (the k-th, 2k-th, ...)."""
        return (self._steps_done + 1) % self._num_steps_per_communication == 0
