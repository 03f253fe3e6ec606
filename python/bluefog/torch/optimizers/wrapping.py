"""How a distributed optimizer wraps a user's ``torch.optim`` optimizer.

The wrapper is an instance of a class made on the fly that derives from both
a bluefog mixin and the user's optimizer class, so ``isinstance``,
``param_groups``, ``state``, ``state_dict`` and lr schedulers keep working.
It shares the wrapped optimizer's attributes (same ``param_groups`` and
``state`` objects), so state built before wrapping is kept.
"""

import contextlib
import itertools
import numbers
import os
import warnings
import weakref

import torch

from bluefog.torch.errors import InvalidArgumentError
from bluefog.torch.optimizers import passes, timeline
from bluefog.torch.optimizers.hooks import grad_ready_hooks

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


def models_of(model):
    """`model` as a list of modules (it may be one module or a list of them)."""
    models = list(model) if isinstance(model, (list, tuple)) else [model]
    if not models or not all(isinstance(m, torch.nn.Module) for m in models):
        raise TypeError(f"model must be a torch.nn.Module or a list of them, got {model!r}")
    return models


def parameter_names(models, optimizer):
    """{param: name} for the optimizer's parameters, named as in
    ``model.named_parameters()`` (prefixed with the model's index when there
    are several); the names match ops across ranks."""
    names = {}
    for index, module in enumerate(models):
        prefix = f"{index}." if len(models) > 1 else ""
        for name, param in module.named_parameters():
            names.setdefault(param, prefix + name)
    result = {}
    for group_index, group in enumerate(optimizer.param_groups):
        for param in group["params"]:
            if param not in names:
                raise InvalidArgumentError(f"the optimizer's parameter of shape {tuple(param.shape)} "
                                           f"(group {group_index}) is not a parameter of `model`")
            result[param] = names[param]
    return result


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


_STEP_AFTER_SYNCHRONIZE = (
    "optimizer.step() called without optimizer.skip_synchronize() context after "
    "optimizer.synchronize(). This can cause training slowdown. You may want to consider "
    "using optimizer.skip_synchronize() context if you use optimizer.synchronize() in your "
    "code.")


class DistributedOptimizerBase:
    """What every distributed optimizer has: parameter names, the passes
    counted towards a communication (see passes.py), BlueFog 0.3's
    synchronize() / skip_synchronize(), and the timeline.

    step() = synchronize() (complete this round's communication if it is
    due, install its results), then the local part of the step. A subclass
    provides _synchronize(), _communication_pending() and _finish_step()."""

    def _setup_base(self, model, kind, num_steps_per_communication, op_names=None):
        """op_names(parameter name) -> the name of its ops (and timeline row);
        by default unique per optimizer, so that two optimizers' ops never
        collide."""
        self._models = models_of(model)
        self._param_names = parameter_names(self._models, self)
        if op_names is None:
            serial = next(_serials)
            op_names = lambda name: f"{kind}{serial}.{name}"  # noqa: E731
        self._names = {p: op_names(name) for p, name in self._param_names.items()}
        self._step_row = op_names("optimizer.step")  # the timeline's row of step()
        self.num_steps_per_communication = num_steps_per_communication
        self._hook_handles, self._hook_keep = [], []
        self._should_synchronize = True
        self._synchronized = False
        self._timeline = None
        if os.environ.get("BLUEFOG_TIMELINE") and timeline.available():
            self.turn_on_timeline()

    def _weak_method(self, name):
        """A hook that calls self.<name> while this optimizer lives. Hooks hold
        no reference to the optimizer, so a dropped one stops acting at once."""
        optimizer = weakref.ref(self)

        def hook(*args):
            alive = optimizer()
            if alive is not None:
                return getattr(alive, name)(*args)
        return hook

    def _count_forward_passes(self, due):
        """Counts each model's training forward passes; at the k-th since its
        last communication, calls self.<due>(model) as its forward starts."""
        self._forwards = passes.ForwardPasses(self._models)
        self._model_params = {m: [p for p in dict.fromkeys(m.parameters()) if p in self._names]
                              for m in self._models}
        self._due_method = due
        self._hook_handles += [m.register_forward_pre_hook(self._weak_method("_forward_pass"))
                               for m in self._models]

    def _forward_pass(self, model, _inputs):
        # Evaluation (no_grad, or the model in eval mode) does not count.
        if not torch.is_grad_enabled() or not model.training:
            return
        if self._forwards.count(model) == self._num_steps_per_communication:
            getattr(self, self._due_method)(model)

    def _due_models(self):
        return self._forwards.due(self._num_steps_per_communication)

    def _hook_gradients(self, name):
        handles, keep = grad_ready_hooks(list(self._names), self._weak_method(name))
        self._hook_handles += handles
        self._hook_keep += keep

    def remove_hooks(self):
        """Detach this optimizer from the model (before switching optimizers)."""
        for handle in getattr(self, "_hook_handles", []):
            handle.remove()
        self._hook_handles, self._hook_keep = [], []
        self.turn_off_timeline()

    def __del__(self):
        self.remove_hooks()

    @property
    def num_steps_per_communication(self):
        return self._num_steps_per_communication

    @num_steps_per_communication.setter
    def num_steps_per_communication(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise InvalidArgumentError(f"num_steps_per_communication must be an integer >= 1, "
                                       f"got {value!r}")
        self._num_steps_per_communication = int(value)

    # ---- BlueFog 0.3's synchronize / skip_synchronize

    def synchronize(self):
        """Wait for the communication in flight and install its results (the
        combined parameters, or the averaged gradients), e.g. to clip
        gradients before step(); then call step() under skip_synchronize().
        Does nothing when no communication is due."""
        self._synchronize()
        self._synchronized = True

    @contextlib.contextmanager
    def skip_synchronize(self):
        """A context under which step() does not synchronize again::

            optimizer.synchronize()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            with optimizer.skip_synchronize():
                optimizer.step()
        """
        self._should_synchronize = False
        try:
            yield
        finally:
            self._should_synchronize = True

    def step(self, closure=None):
        with self._timeline_phase("STEP"):
            return self._step(closure)

    def _step(self, closure):
        loss = self._begin_step(closure)
        try:
            if self._should_synchronize:
                if self._synchronized:
                    warnings.warn(_STEP_AFTER_SYNCHRONIZE)
                with self._timeline_phase("SYNCHRONIZE"):
                    self._synchronize()
            elif self._communication_pending():
                raise RuntimeError(
                    "step() under skip_synchronize(): this step's communication is still "
                    "in flight; call optimizer.synchronize() before it")
            self._finish_step()
        finally:
            self._synchronized = False
            self._end_step()
        return loss

    def _end_step(self):
        pass

    def _begin_step(self, closure):
        """Checks the parameters and runs the closure (its backward fires the
        hooks like a user's own); returns the closure's loss."""
        if sum(len(g["params"]) for g in self.param_groups) != len(self._names):
            raise InvalidArgumentError("the optimizer's parameters changed after it was wrapped; "
                                       "wrap it again after add_param_group")
        if closure is None:
            return None
        with torch.enable_grad():
            return closure()

    # ---- timeline

    def turn_on_timeline(self):
        """Record each parameter's forward and backward phases in the timeline
        (``BLUEFOG_TIMELINE``), in the row of its communication: BlueFog
        0.3's "FORWARD" and "GRADIENT COMPT." activities; and step() as
        "STEP", with "SYNCHRONIZE" (waiting for the communication) inside it,
        in the row ``<optimizer>.optimizer.step``. On by default when
        BLUEFOG_TIMELINE is set."""
        if self._timeline is None:
            self._timeline = timeline.TimelineHooks(self._models, self._names)

    def _timeline_phase(self, activity):
        if getattr(self, "_timeline", None) is None:
            return contextlib.nullcontext()
        return timeline.phase(self._step_row, activity)

    def turn_off_timeline(self):
        if getattr(self, "_timeline", None) is not None:
            self._timeline.remove()
            self._timeline = None
