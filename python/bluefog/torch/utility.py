"""Helpers over model parameters and optimizer state."""

import io

import torch

from bluefog.torch.mpi_ops import (allreduce_nonblocking_, broadcast_nonblocking_, rank,
                                   synchronize)


def _named_tensors(params, op):
    """[(name, tensor)] from a state_dict, a dict, or a list of tensors or pairs."""
    if isinstance(params, dict):
        items = list(params.items())
    elif isinstance(params, (list, tuple)):
        items = []
        for index, entry in enumerate(params):
            if isinstance(entry, tuple) and len(entry) == 2:
                items.append(entry)
            else:
                items.append((str(index), entry))
    else:
        raise TypeError(f"{op}: params must be a state_dict, a dict, or a list of tensors "
                        f"or (name, tensor) pairs, got {type(params).__name__}")
    for name, tensor in items:
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{op}: entry {name!r} is a {type(tensor).__name__}, not a tensor")
    return items


def _apply_in_place(params, op, start):
    handles = []
    with torch.no_grad():
        for name, tensor in _named_tensors(params, op):
            target = tensor.data if isinstance(tensor, torch.nn.Parameter) else tensor
            handles.append(start(target, f"{op}.{name}"))
    for handle in handles:
        synchronize(handle)


def broadcast_parameters(params, root_rank):
    """Overwrite every tensor of ``params`` with ``root_rank``'s, in place.
    ``params``: ``model.state_dict()``, a dict, or a list of tensors or
    ``(name, tensor)`` pairs. Collective."""
    _apply_in_place(params, "broadcast_parameters",
                    lambda t, name: broadcast_nonblocking_(t, root_rank, name=name))


def allreduce_parameters(params):
    """Average every tensor of ``params`` over all ranks, in place. Collective."""
    _apply_in_place(params, "allreduce_parameters",
                    lambda t, name: allreduce_nonblocking_(t, name=name))


def _broadcast_object(obj, root_rank, name):
    """``root_rank``'s object on every rank (serialised with torch.save)."""
    if rank() == root_rank:
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        payload = torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)
        length = torch.tensor([payload.numel()], dtype=torch.int64)
    else:
        length = torch.zeros(1, dtype=torch.int64)
    synchronize(broadcast_nonblocking_(length, root_rank, name=f"{name}.length"))
    if rank() != root_rank:
        payload = torch.empty(int(length.item()), dtype=torch.uint8)
    synchronize(broadcast_nonblocking_(payload, root_rank, name=f"{name}.payload"))
    if rank() == root_rank:
        return obj
    return torch.load(io.BytesIO(payload.numpy().tobytes()))


def broadcast_optimizer_state(optimizer, root_rank):
    """Give every rank ``root_rank``'s optimizer state and hyper-parameters
    (any torch.optim optimizer; options whose value is None included).
    Collective."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError("broadcast_optimizer_state: expected a torch.optim.Optimizer, got "
                        f"{type(optimizer).__name__}")
    state = _broadcast_object(optimizer.state_dict(), root_rank, "broadcast_optimizer_state")
    if rank() != root_rank:
        optimizer.load_state_dict(state)
