"""Neighbour averaging and gathering over the virtual topology.

Static use follows the installed graph (``set_topology``). Dynamic use names
the peers of this call: ``dst_weights`` (or ``dst_ranks``) whom to send to,
``src_weights`` (or ``src_ranks``) whom to receive from.
"""

import numbers

import torch

from bluefog import _bluefog
from bluefog.torch import topology
from bluefog.torch.mpi_ops import _check_tensor, _name, synchronize

_RENAMED = {"neighbor_weights": "src_weights", "send_neighbors": "dst_weights"}


def _reject_unknown_keywords(op, kwargs):
    for key in kwargs:
        if key in _RENAMED:
            raise TypeError(f"{op}(): the keyword '{key}' was renamed to '{_RENAMED[key]}'")
        raise TypeError(f"{op}() got an unexpected keyword argument '{key}'")


def _rank(value, op, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: {what} must hold integer ranks, got {value!r}")
    return int(value)


def _weight(value, op, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {what} must be a real number, got {value!r}")
    return float(value)


def _weights_dict(weights, op, what):
    if not isinstance(weights, dict):
        raise TypeError(f"{op}: {what} must be a dict rank -> weight, got {type(weights).__name__}")
    return {_rank(r, op, what): _weight(w, op, what) for r, w in weights.items()}


def _dst_weights(dst_weights, op):
    if isinstance(dst_weights, dict):
        return _weights_dict(dst_weights, op, "dst_weights")
    if isinstance(dst_weights, (list, tuple)):
        return {_rank(r, op, "dst_weights"): 1.0 for r in dst_weights}
    raise TypeError(f"{op}: dst_weights must be a dict rank -> weight or a list of ranks")


def _check_peers(op, ranks, what, unit="rank", count=None, me=None):
    """Peers a call names: in range, not this rank (or machine), no repeats."""
    count = _bluefog.size() if count is None else count
    me = _bluefog.rank() if me is None else me
    seen = set()
    for r in ranks:
        if not 0 <= r < count:
            raise ValueError(f"{op}: {what} names {unit} {r}, out of range for {count} {unit}s")
        if r == me:
            raise ValueError(f"{op}: {what} names this {unit} ({me}); use self_weight for it")
        if r in seen:
            raise ValueError(f"{op}: {what} names {unit} {r} twice")
        seen.add(r)


def check_send_recv_pattern(op, src_ranks, dst_ranks):
    """Collective: every rank's sends must match the receivers' sources.
    Raises ValueError on every rank, naming the mismatched pairs."""
    size, me = _bluefog.size(), _bluefog.rank()
    flags = torch.zeros(2 * size, dtype=torch.uint8)
    flags[list(src_ranks)] = 1
    flags[[size + r for r in dst_ranks]] = 1
    table = _bluefog.synchronize(_bluefog.allgather_nonblocking(flags.unsqueeze(0), ""))
    receives, sends = table[:, :size].bool(), table[:, size:].bool()
    problems = []
    for i in range(size):
        for j in range(size):
            if sends[i, j] and not receives[j, i]:
                problems.append(f"rank {i} sends to rank {j}, which does not receive from it")
            elif receives[j, i] and not sends[i, j]:
                problems.append(f"rank {j} expects data from rank {i}, which does not send to it")
    if problems:
        raise ValueError(f"{op}: sends and receives do not match on rank {me}'s view: "
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
        raise ValueError(f"{op}: {named} names this {unit} ({me}) but {other} does not; "
                         f"an exchange with itself must be both sent and received (or "
                         f"use self_weight)")
    return self_weight + srcs.pop(me) * dsts.pop(me)


def _weight_plan(op, self_weight, src_weights, dst_weights, *, unit, count, me, in_nodes,
                 out_nodes, defaults, src_key, dst_key):
    """(self_weight, [(src, weight)], [(dst, weight)]) for one call, over ranks
    or machines (`unit`). Static use (no dst_weights) follows the installed
    graph; dynamic use takes the caller's sources and destinations."""
    if (self_weight is None) != (src_weights is None):
        raise ValueError(f"{op}: self_weight and {src_key} must be given together "
                         f"(got self_weight={self_weight!r}, {src_key}={src_weights!r})")
    if dst_weights is None:
        if self_weight is None:
            self_weight, src_weights = defaults()
        else:
            self_weight = _weight(self_weight, op, "self_weight")
            src_weights = _weights_dict(src_weights, op, src_key)
            strangers = sorted(set(src_weights) - set(in_nodes))
            if strangers:
                raise ValueError(f"{op}: {src_key} names {unit}s {strangers} that are not "
                                 f"in-neighbours of {unit} {me} (in-neighbours: {in_nodes}); "
                                 f"pass {dst_key} for dynamic use")
        # Every in-neighbour sends in static use; unnamed ones count with weight 0.
        srcs = [(r, src_weights.get(r, 0.0)) for r in in_nodes]
        dsts = [(r, 1.0) for r in out_nodes]
        return self_weight, srcs, dsts
    if self_weight is None:
        raise ValueError(f"{op}: dynamic use ({dst_key} given) needs self_weight and "
                         f"{src_key} too")
    self_weight = _weight(self_weight, op, "self_weight")
    srcs = _weights_dict(src_weights, op, src_key)
    dsts = _dst_weights(dst_weights, op)
    self_weight = _fold_self_exchange(op, self_weight, srcs, dsts, unit=unit, me=me,
                                      src_key=src_key, dst_key=dst_key)
    srcs, dsts = sorted(srcs.items()), sorted(dsts.items())
    _check_peers(op, [r for r, _ in srcs], src_key, unit, count, me)
    _check_peers(op, [r for r, _ in dsts], dst_key, unit, count, me)
    return self_weight, srcs, dsts


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
    _reject_unknown_keywords("neighbor_allreduce", kwargs)
    _check_tensor(tensor, "neighbor_allreduce")
    plan = _neighbor_allreduce_plan("neighbor_allreduce", self_weight, src_weights,
                                    dst_weights, enable_topo_check)
    return _bluefog.neighbor_allreduce_nonblocking(tensor, None, *plan,
                                                   _name(name, "neighbor_allreduce"))


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
        raise ValueError(f"{op}: src_ranks and dst_ranks must be given together")
    srcs = [_rank(r, op, "src_ranks") for r in src_ranks]
    dsts = [_rank(r, op, "dst_ranks") for r in dst_ranks]
    _check_peers(op, srcs, "src_ranks")
    _check_peers(op, dsts, "dst_ranks")
    if enable_topo_check:
        check_send_recv_pattern(op, srcs, dsts)
    return srcs, dsts


def neighbor_allgather_nonblocking(tensor, *, src_ranks=None, dst_ranks=None,
                                   enable_topo_check=True, name=None):
    """Start a neighbor_allgather; returns a handle."""
    _check_tensor(tensor, "neighbor_allgather")
    srcs, dsts = _neighbor_allgather_plan("neighbor_allgather", src_ranks, dst_ranks,
                                          enable_topo_check)
    return _bluefog.neighbor_allgather_nonblocking(tensor, srcs, dsts,
                                                   _name(name, "neighbor_allgather"))


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
    _check_tensor(tensor, "pair_gossip")
    target = _rank(target_rank, "pair_gossip", "target_rank")
    if (self_weight is None) != (pair_weight is None):
        raise ValueError("pair_gossip: self_weight and pair_weight must be given together")
    if self_weight is None:
        self_weight, pair_weight = 0.5, 0.5
    self_weight = _weight(self_weight, "pair_gossip", "self_weight")
    pair_weight = _weight(pair_weight, "pair_gossip", "pair_weight")
    return _bluefog.neighbor_allreduce_nonblocking(
        tensor, None, self_weight, [(target, pair_weight)], [(target, 1.0)],
        _name(name, "pair_gossip"))


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
    _check_tensor(tensor, op)
    if _bluefog.local_size() < 2:
        raise ValueError(f"{op} needs more than one rank per machine (local_size() is 1); "
                         "use neighbor_allreduce, or emulate machines with "
                         "BLUEFOG_NODES_PER_MACHINE")
    plan = _hierarchical_plan(op, self_weight, src_machine_weights, dst_machine_weights,
                              enable_topo_check)
    return _bluefog.hierarchical_neighbor_allreduce_nonblocking(tensor, *plan, _name(name, op))


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
