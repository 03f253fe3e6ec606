"""An optimizer's activities in the timeline, as BlueFog 0.3 recorded them:
"FORWARD" while a parameter's module runs forward, "GRADIENT COMPT." from
the start of the model's backward until the parameter's gradient is ready.
Each row is named after the parameter's op, so its communication (recorded
by the engine under that name) shows in the same row. step() is recorded as
"STEP", with "SYNCHRONIZE" inside it, in a row of the optimizer's own.

The recording functions are looked up on ``bluefog.torch`` at each call.
"""

import contextlib

import torch

from bluefog.torch.optimizers.hooks import grad_ready_hooks

ACTIVITY_FUNCTIONS = ("timeline_start_activity", "timeline_end_activity")


def _recorder():
    import bluefog.torch
    return bluefog.torch


def available():
    return all(callable(getattr(_recorder(), f, None)) for f in ACTIVITY_FUNCTIONS)


def _start(name, activity):
    _recorder().timeline_start_activity(name, activity)


def _end(name):
    _recorder().timeline_end_activity(name)


@contextlib.contextmanager
def phase(row, activity):
    """Records `activity` in `row` around the block (ended if it raises)."""
    _start(row, activity)
    try:
        yield
    finally:
        _end(row)


def _first_tensor_needing_grad(value):
    if isinstance(value, torch.Tensor):
        return value if value.requires_grad else None
    items = value.values() if isinstance(value, dict) else \
        value if isinstance(value, (list, tuple)) else ()
    for item in items:
        found = _first_tensor_needing_grad(item)
        if found is not None:
            return found
    return None


class TimelineHooks:
    """The hooks that record `names` ({param: row name}) for `models`;
    remove() detaches them."""

    def __init__(self, models, names):
        if not available():
            raise RuntimeError(
                "turn_on_timeline: this bluefog.torch has no "
                + " / ".join(ACTIVITY_FUNCTIONS) + ", which the optimizer timeline records "
                "with; use a build that has the timeline")
        self._names = names
        self._ran = {model: [] for model in models}  # params whose module ran forward
        self._computing = set()  # params whose GRADIENT COMPT. activity is open
        self._handles = []
        for model in models:
            for module in model.modules():
                own = [p for p in module.parameters(recurse=False) if p in names]
                if own:
                    self._handles.append(module.register_forward_pre_hook(
                        lambda _m, _i, own=own: self._forward_started(own)))
                    self._handles.append(module.register_forward_hook(
                        lambda _m, _i, _o, own=own, model=model: self._forward_ended(model, own)))
            self._handles.append(model.register_forward_hook(
                lambda _m, _i, output, model=model: self._watch_backward(model, output)))
        handles, self._keep = grad_ready_hooks(list(names), self._gradient_ready)
        self._handles += handles

    def _forward_started(self, params):
        for param in params:
            _start(self._names[param], "FORWARD")

    def _forward_ended(self, model, params):
        for param in params:
            _end(self._names[param])
        self._ran[model] += [p for p in params if p.requires_grad]

    def _watch_backward(self, model, output):
        tensor = _first_tensor_needing_grad(output) if torch.is_grad_enabled() else None
        ran, self._ran[model] = dict.fromkeys(self._ran[model]), []
        if tensor is not None and ran:
            tensor.register_hook(lambda grad: self._backward_started(ran))

    def _backward_started(self, params):
        for param in params:
            if param not in self._computing:  # once per backward pass
                self._computing.add(param)
                _start(self._names[param], "GRADIENT COMPT.")

    def _gradient_ready(self, param):
        if param in self._computing:
            self._computing.discard(param)
            _end(self._names[param])

    def remove(self):
        for handle in self._handles:
            handle.remove()
        self._handles, self._keep = [], []
