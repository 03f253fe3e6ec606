"""Helpers over model parameters and optimizer state, and inference of the
other side of a dynamic communication pattern."""

import io

import numpy as np
import torch

from bluefog import _bluefog
from bluefog.torch.mpi_ops import (allreduce_nonblocking_, broadcast_nonblocking_,
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
    if _bluefog.rank() == root_rank:
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        payload = torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)
        length = torch.tensor([payload.numel()], dtype=torch.int64)
    else:
        length = torch.zeros(1, dtype=torch.int64)
    synchronize(broadcast_nonblocking_(length, root_rank, name=f"{name}.length"))
    if _bluefog.rank() != root_rank:
        payload = torch.empty(int(length.item()), dtype=torch.uint8)
    synchronize(broadcast_nonblocking_(payload, root_rank, name=f"{name}.payload"))
    if _bluefog.rank() == root_rank:
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
    if _bluefog.rank() != root_rank:
        optimizer.load_state_dict(state)


def _gather_adjacency(ranks, ranks_are_destinations, op):
    """The full 0/1 matrix W (W[i, j] = 1 when i sends to j) from every rank's
    destinations (or sources). Collective."""
    size, me = _bluefog.size(), _bluefog.rank()
    ranks = list(ranks)
    for r in ranks:
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or not 0 <= r < size:
            raise ValueError(f"{op}: {r!r} is not a rank (there are {size} ranks)")
    flags = torch.zeros(size, dtype=torch.uint8)
    flags[[int(r) for r in ranks]] = 1
    table = synchronize(_bluefog.allgather_nonblocking(flags.unsqueeze(0), "")).numpy()
    matrix = table if ranks_are_destinations else table.T
    return np.ascontiguousarray(matrix.astype(np.int64)), me


def InferSourceFromDestinationRanks(dst_ranks, construct_adjacency_matrix=False):
    """From every rank's destinations, this rank's sources (sorted); with
    ``construct_adjacency_matrix`` also W (W[i, j] = 1 when i sends to j).
    Collective."""
    W, me = _gather_adjacency(dst_ranks, True, "InferSourceFromDestinationRanks")
    sources = [i for i in range(len(W)) if W[i, me] and i != me]
    return (sources, W) if construct_adjacency_matrix else sources


def InferDestinationFromSourceRanks(src_ranks, construct_adjacency_matrix=False):
    """From every rank's sources, this rank's destinations (sorted); with
    ``construct_adjacency_matrix`` also W (W[i, j] = 1 when i sends to j).
    Collective."""
    W, me = _gather_adjacency(src_ranks, False, "InferDestinationFromSourceRanks")
    destinations = [j for j in range(len(W)) if W[me, j] and j != me]
    return (destinations, W) if construct_adjacency_matrix else destinations
