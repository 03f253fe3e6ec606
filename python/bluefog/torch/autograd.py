"""Autograd through bluefog's ops.

When the input requires grad and grad mode is on:

- ``allreduce``, ``broadcast`` and ``allgather`` (blocking, or nonblocking
  then ``synchronize``) return a result with a ``grad_fn``. An allreduce's
  Jacobian (a sum or average over a group of ranks) is the same seen from
  every rank of the group, so its backward is an allreduce of the incoming
  gradient with the same ``average`` and ``is_hierarchical_local``, as in
  Horovod. A broadcast's root gets the sum of every rank's gradient and the
  other ranks zeros; an allgather's input gets the sum over ranks of the
  gradient of its own rows. Backward is then collective: every rank must run
  it, in the same order.
- The neighbour ops' results are detached from autograd; a one-time
  UserWarning per op says so.
- In-place ops refuse a leaf tensor that requires grad, as torch's own
  in-place ops do; on a non-leaf tensor that requires grad they compute out of
  place and copy the result in, so that autograd records the change.

Under ``torch.no_grad()`` (as the optimizers call them) nothing of this applies.
"""

import warnings

import torch

from bluefog import _bluefog

_pending = {}  # handle -> (Function, input tensor, in-place target or None, args)
_warned = set()


def tracks(tensor):
    """Whether an op on `tensor` would be recorded by autograd."""
    return torch.is_grad_enabled() and tensor.requires_grad


def check_in_place(tensor, op):
    """The error torch raises for an in-place op on a leaf that requires grad."""
    if tracks(tensor) and tensor.is_leaf:
        raise RuntimeError(f"{op}: a leaf Variable that requires grad is being used in an "
                           "in-place operation.")


def warn_detached(tensor, op):
    """One UserWarning per op when its result cannot carry `tensor`'s gradient."""
    if tracks(tensor) and op not in _warned:
        _warned.add(op)
        warnings.warn(f"bluefog.torch.{op}: the result is detached from autograd: no gradient "
                      f"flows back through {op} to its input (see README, 'Autograd')",
                      UserWarning, stacklevel=4)


def track(handle, function, tensor, in_place_target, *args):
    """Makes synchronize(handle) return `function`'s differentiable result.
    Past the native handle table's limit, the entries of handles it released
    unsynchronized (cpp/python/handle_table.h) go too, with their tensors."""
    _pending[handle] = (function, tensor, in_place_target, args)
    if len(_pending) > _bluefog.handle_counts()[2]:
        for released in [h for h in _pending if not _bluefog.handle_kept(h)]:
            del _pending[released]
    return handle


def result(handle):
    """The op's result, through its autograd Function if it was tracked."""
    entry = _pending.pop(handle, None)
    if entry is None:
        return _bluefog.synchronize(handle)
    function, tensor, target, args = entry
    with torch.enable_grad():  # decided when the op was issued
        out = function.apply(tensor, handle, *args)
        if target is None:
            return out
        target.copy_(out)
        return target


def _grad_name(name, part="grad"):
    return f"{name}.{part}" if name else ""


# Backward's collectives, on gradients that need no argument checks; calling
# the native ops here keeps mpi_ops (which imports this module) out.
def _allreduce(grad, average, is_hierarchical_local, name):
    return _bluefog.synchronize(_bluefog.allreduce_nonblocking(
        grad, None, average, is_hierarchical_local, name))


def _allgather(tensor, name):
    return _bluefog.synchronize(_bluefog.allgather_nonblocking(tensor, name))


class Allreduce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, handle, average, is_hierarchical_local, name):
        ctx.settings = (average, is_hierarchical_local, name)
        return _bluefog.synchronize(handle)

    @staticmethod
    def backward(ctx, grad):
        average, is_hierarchical_local, name = ctx.settings
        return (_allreduce(grad, average, is_hierarchical_local, _grad_name(name)),
                None, None, None, None)


class Broadcast(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, handle, root_rank, name):
        ctx.settings = (root_rank, name)
        return _bluefog.synchronize(handle)

    @staticmethod
    def backward(ctx, grad):
        root_rank, name = ctx.settings
        total = _allreduce(grad, False, False, _grad_name(name))
        mine = total if _bluefog.rank() == root_rank else torch.zeros_like(grad)
        return mine, None, None, None


class Allgather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, handle, name):
        ctx.settings = (tuple(tensor.shape), name)
        return _bluefog.synchronize(handle)

    @staticmethod
    def backward(ctx, grad):
        shape, name = ctx.settings
        rows = shape[0] if shape else 1
        counts = _allgather(torch.tensor([rows], dtype=torch.int64),
                            _grad_name(name, "grad_rows")).tolist()
        start = sum(counts[:_bluefog.rank()])
        total = _allreduce(grad, False, False, _grad_name(name))
        return total[start:start + rows].reshape(shape), None, None
