"""Neighbour averaging and gathering over the virtual topology.

Static use follows the installed graph (``set_topology``). Dynamic use names
the peers of this call: ``dst_weights`` (or ``dst_ranks``) whom to send to,
``src_weights`` (or ``src_ranks``) whom to receive from.
"""

import torch

from bluefog import _bluefog
from bluefog.common.topology_checks import send_recv_mismatches
from bluefog.torch import arguments, autograd, topology
from bluefog.torch.errors import InvalidArgumentError
from bluefog.torch.mpi_ops import synchronize

_RENAMED = {"neighbor_weights": "src_weights", "send_neighbors": "dst_weights"}


def _reject_unknown_keywords(op, kwargs):
    for key in kwargs:
        if key in _RENAMED:
            raise TypeError(f"{op}(): the keyword '{key}' was renamed to '{_RENAMED[key]}'")
        raise TypeError(f"{op}() got an unexpected keyword argument '{key}'")


def check_send_recv_pattern(op, src_ranks, dst_ranks):
    """Collective: every rank's sends must match the receivers' sources.
    Raises ValueError on every rank, naming the mismatched pairs."""
    size, me = _bluefog.size(), _bluefog.rank()
    flags = torch.zeros(2 * size, dtype=torch.uint8)
    flags[list(src_ranks)] = 1
    flags[[size + r for r in dst_ranks]] = 1
    table = _bluefog.synchronize(_bluefog.allgather_nonblocking(flags.unsqueeze(0), "")).tolist()
    receives = [[j for j in range(size) if row[j]] for row in table]
    sends = [[j for j in range(size) if row[size + j]] for row in table]
    problems = send_recv_mismatches(sends, receives)
    if problems:
        raise InvalidArgumentError(f"{op}: sends and receives do not match on rank {me}'s view: "
                                   + "; ".join(problems[:8]) + (" ..." if len(problems) > 8 else ""))


def _fold_self_exchange(op, self_weight, srcs, dsts, *, unit, me, src_key, dst_key):
    """BlueFog 0.3 let a dynamic call send to and receive from this rank itself
    (its GetInnerOuterRingDynamicSendRecvRanks yields that on one machine):
    the copy it would receive, scaled by both weights, joins self_weight.
    Removes `me` from `srcs` and `dsts`; returns the self weight."""
    if me not in srcs and me not in dsts:
        return self_weight
    if (me in srcs) != (me in dsts):
        named, other = (src_key, dst_key) if me in srcs else (dst_key, src_key)
        raise InvalidArgumentError(f"{op}: {named} names this {unit} ({me}) but {other} does not; "
                                   f"an exchange with itself must be both sent and received (or "
                                   f"use self_weight)")
    return self_weight + srcs.pop(me) * dsts.pop(me)


def _weight_plan(op, self_weight, src_weights, dst_weights, *, unit, count, me, in_nodes,
                 out_nodes, defaults, src_key, dst_key):
    """(self_weight, [(src, weight)], [(dst, weight)]) for one call, over ranks
    or machines (`unit`). Static use (no dst_weights) follows the installed
    graph; dynamic use takes the caller's sources and destinations."""
    if (self_weight is None) != (src_weights is None):
        raise InvalidArgumentError(f"{op}: self_weight and {src_key} must be given together "
                                   f"(got self_weight={self_weight!r}, {src_key}={src_weights!r})")
    if dst_weights is None:
        if self_weight is None:
            self_weight, src_weights = defaults()
        else:
            self_weight = arguments.weight(self_weight, op, "self_weight")
            src_weights = arguments.weights_dict(src_weights, op, src_key, count, unit)
            strangers = sorted(set(src_weights) - set(in_nodes))
            if strangers:
                raise InvalidArgumentError(f"{op}: {src_key} names {unit}s {strangers} that are not "
                                           f"in-neighbours of {unit} {me} (in-neighbours: {in_nodes}); "
                                           f"pass {dst_key} for dynamic use")
        # Every in-neighbour sends in static use; unnamed ones count with weight 0.
        srcs = [(r, src_weights.get(r, 0.0)) for r in in_nodes]
        dsts = [(r, 1.0) for r in out_nodes]
        return self_weight, srcs, dsts
    if self_weight is None:
        raise InvalidArgumentError(f"{op}: dynamic use ({dst_key} given) needs self_weight and "
                                   f"{src_key} too")
    self_weight = arguments.weight(self_weight, op, "self_weight")
    srcs = arguments.weights_dict(src_weights, op, src_key, count, unit)
    dsts = arguments.dst_weights(dst_weights, op, dst_key, count, unit)
    self_weight = _fold_self_exchange(op, self_weight, srcs, dsts, unit=unit, me=me,
                                      src_key=src_key, dst_key=dst_key)
    # Neither names `me` now, and dict keys do not repeat: the core's
    # neighbour-list checks cannot fail on them.
    return self_weight, sorted(srcs.items()), sorted(dsts.items())


def _neighbor_allreduce_plan(op, self_weight, src_weights, dst_weights, enable_topo_check):
    plan = _weight_plan(op, self_weight, src_weights, dst_weights, unit="rank",
                        count=_bluefog.size(), me=_bluefog.rank(),
                        in_nodes=topology.in_neighbor_ranks(),
                        out_nodes=topology.out_neighbor_ranks(),
                        defaults=topology.default_weights,
                        src_key="src_weights", dst_key="dst_weights")
    if dst_weights is not None and enable_topo_check:
        check_send_recv_pattern(op, [r for r, _ in plan[1]], [r for r, _ in plan[2]])
    return plan


def neighbor_allreduce_nonblocking(tensor, *, self_weight=None, src_weights=None,
                                   dst_weights=None, enable_topo_check=True, name=None,
                                   **kwargs):
    """Start a neighbor_allreduce; returns a handle."""
    op = "neighbor_allreduce"
    _reject_unknown_keywords(op, kwargs)
    arguments.check_tensor(tensor, op)
    name = arguments.op_name(name, op)
    plan = _neighbor_allreduce_plan(op, self_weight, src_weights, dst_weights,
                                    enable_topo_check)
    autograd.warn_detached(tensor, op)
    return _bluefog.neighbor_allreduce_nonblocking(tensor, None, *plan, name)


def neighbor_allreduce(tensor, *, self_weight=None, src_weights=None, dst_weights=None,
                       enable_topo_check=True, name=None, **kwargs):
    """``self_weight * tensor + sum_j src_weights[j] * tensor_j`` over in-neighbours j.

    Defaults: uniform weights 1/(in_degree+1), or the graph's weights when the
    topology is weighted. With ``dst_weights`` (dict rank -> weight, or list of
    ranks meaning weight 1) this call sends to those ranks, each copy scaled by
    its weight, and receives from the ranks of ``src_weights``.
    ``enable_topo_check`` verifies (collectively) that sends and receives match.
    """
    return synchronize(neighbor_allreduce_nonblocking(
        tensor, self_weight=self_weight, src_weights=src_weights, dst_weights=dst_weights,
        enable_topo_check=enable_topo_check, name=name, **kwargs))


def _neighbor_allgather_plan(op, src_ranks, dst_ranks, enable_topo_check):
    if src_ranks is None and dst_ranks is None:
        return topology.in_neighbor_ranks(), topology.out_neighbor_ranks()
    if src_ranks is None or dst_ranks is None:
        raise InvalidArgumentError(f"{op}: src_ranks and dst_ranks must be given together")
    size, me = _bluefog.size(), _bluefog.rank()
    srcs = arguments.neighbor_ranks(src_ranks, op, "src_ranks", me, size)
    dsts = arguments.neighbor_ranks(dst_ranks, op, "dst_ranks", me, size)
    if enable_topo_check:
        check_send_recv_pattern(op, srcs, dsts)
    return srcs, dsts


def neighbor_allgather_nonblocking(tensor, *, src_ranks=None, dst_ranks=None,
                                   enable_topo_check=True, name=None):
    """Start a neighbor_allgather; returns a handle."""
    op = "neighbor_allgather"
    arguments.check_tensor(tensor, op)
    name = arguments.op_name(name, op)
    srcs, dsts = _neighbor_allgather_plan(op, src_ranks, dst_ranks, enable_topo_check)
    autograd.warn_detached(tensor, op)
    return _bluefog.neighbor_allgather_nonblocking(tensor, srcs, dsts, name)


def neighbor_allgather(tensor, *, src_ranks=None, dst_ranks=None, enable_topo_check=True,
                       name=None):
    """Concatenation along dim 0 of the in-neighbours' tensors (self excluded),
    in ascending rank order; with src_ranks/dst_ranks, in src_ranks order."""
    return synchronize(neighbor_allgather_nonblocking(
        tensor, src_ranks=src_ranks, dst_ranks=dst_ranks,
        enable_topo_check=enable_topo_check, name=name))


def pair_gossip_nonblocking(tensor, target_rank, self_weight=None, pair_weight=None,
                            name=None):
    """Start a pair_gossip; returns a handle."""
    op = "pair_gossip"
    arguments.check_tensor(tensor, op)
    target = arguments.rank(target_rank, op, "target_rank")  # the native op checks its range
    if (self_weight is None) != (pair_weight is None):
        raise InvalidArgumentError(f"{op}: self_weight and pair_weight must be given together")
    if self_weight is None:
        self_weight, pair_weight = 0.5, 0.5
    self_weight = arguments.weight(self_weight, op, "self_weight")
    pair_weight = arguments.weight(pair_weight, op, "pair_weight")
    name = arguments.op_name(name, op)
    autograd.warn_detached(tensor, op)
    return _bluefog.pair_gossip_nonblocking(tensor, target, self_weight, pair_weight, name)


def pair_gossip(tensor, target_rank, self_weight=None, pair_weight=None, name=None):
    """Exchange with ``target_rank`` (which must call pair_gossip with this
    rank): the average, or ``self_weight * mine + pair_weight * theirs``."""
    return synchronize(pair_gossip_nonblocking(tensor, target_rank, self_weight,
                                               pair_weight, name))


def _hierarchical_plan(op, self_weight, src_machine_weights, dst_machine_weights,
                       enable_topo_check):
    """Machine-level plan mapped to this rank's counterparts (world ranks)."""
    self_weight, srcs, dsts = _weight_plan(
        op, self_weight, src_machine_weights, dst_machine_weights, unit="machine",
        count=_bluefog.machine_size(), me=_bluefog.machine_rank(),
        in_nodes=topology.in_neighbor_machine_ranks(),
        out_nodes=topology.out_neighbor_machine_ranks(),
        defaults=topology.default_machine_weights,
        src_key="src_machine_weights", dst_key="dst_machine_weights")
    local_size, local_rank = _bluefog.local_size(), _bluefog.local_rank()
    srcs = [(m * local_size + local_rank, w) for m, w in srcs]
    dsts = [(m * local_size + local_rank, w) for m, w in dsts]
    if enable_topo_check:
        check_send_recv_pattern(op, [r for r, _ in srcs], [r for r, _ in dsts])
    return self_weight, srcs, dsts


def hierarchical_neighbor_allreduce_nonblocking(tensor, *, self_weight=None,
                                                src_machine_weights=None,
                                                dst_machine_weights=None,
                                                enable_topo_check=False, name=None):
    """Start a hierarchical_neighbor_allreduce; returns a handle."""
    op = "hierarchical_neighbor_allreduce"
    arguments.check_tensor(tensor, op)
    name = arguments.op_name(name, op)
    if _bluefog.local_size() < 2:
        raise InvalidArgumentError(f"{op} needs more than one rank per machine (local_size() is 1); "
                                   "use neighbor_allreduce, or emulate machines with "
                                   "BLUEFOG_NODES_PER_MACHINE")
    plan = _hierarchical_plan(op, self_weight, src_machine_weights, dst_machine_weights,
                              enable_topo_check)
    autograd.warn_detached(tensor, op)
    return _bluefog.hierarchical_neighbor_allreduce_nonblocking(tensor, *plan, name)


def hierarchical_neighbor_allreduce(tensor, *, self_weight=None, src_machine_weights=None,
                                    dst_machine_weights=None, enable_topo_check=False,
                                    name=None):
    """Average inside each machine, then neighbour averaging between machines
    along the machine topology (or the given machine weights); the result is
    identical on all ranks of a machine. Needs local_size() > 1."""
    return synchronize(hierarchical_neighbor_allreduce_nonblocking(
        tensor, self_weight=self_weight, src_machine_weights=src_machine_weights,
        dst_machine_weights=dst_machine_weights, enable_topo_check=enable_topo_check,
        name=name))
