"""Questions about arbitrary user graphs (networkx ``DiGraph``s over ranks):
equality, regularity, and what one rank receives and sends. Plain Python:
these read any graph, not only the built-in ones."""

import numbers
from typing import Dict, Tuple

import networkx as nx

from bluefog.common.topology_checks import int_arg


def _edge_weight(data: dict) -> float:
    # Like networkx's matrix conversions: an edge without a weight weighs 1.
    return data.get("weight", 1.0)


def IsTopologyEquivalent(topo1: nx.DiGraph, topo2: nx.DiGraph) -> bool:
    """Whether both graphs have the same nodes, the same edges and the same weights.

    ``None`` is never equivalent to anything. Works with networkx 2.x and 3.x.
    """
    if topo1 is None or topo2 is None:
        return False
    if not isinstance(topo1, nx.Graph) or not isinstance(topo2, nx.Graph):
        return False
    if not topo1.is_directed():
        topo1 = topo1.to_directed()
    if not topo2.is_directed():
        topo2 = topo2.to_directed()
    if set(topo1.nodes) != set(topo2.nodes):
        return False
    if topo1.number_of_edges() != topo2.number_of_edges():
        return False
    for src, dst, data in topo1.edges(data=True):
        if not topo2.has_edge(src, dst):
            return False
        if _edge_weight(data) != _edge_weight(topo2.edges[src, dst]):
            return False
    return True


def IsRegularGraph(topo: nx.DiGraph) -> bool:
    """Whether every node has the same degree (in + out, a self-loop counting twice)."""
    return len({degree for _, degree in topo.degree()}) <= 1


def isPowerOf(x, base: int) -> bool:
    """Whether ``x`` is ``base ** t`` for an integer ``t >= 0`` (exactly: BlueFog
    0.3's floating logs missed e.g. 243 for base 3). A real ``x`` that is not a
    whole number is not a power."""
    base = int_arg("isPowerOf", "base", base)
    if base < 2:
        raise ValueError(f"isPowerOf: base must be an integer >= 2, got {base}")
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"isPowerOf: x must be a number, got {x!r}")
    if not x > 0:
        raise ValueError(f"isPowerOf: x must be > 0, got {x!r}")
    if isinstance(x, numbers.Integral):
        x = int(x)
    elif float(x).is_integer():
        x = int(float(x))
    else:
        return False
    while x % base == 0:
        x //= base
    return x == 1


def _self_and_neighbor_weights(function, topo, rank, neighbors, edge):
    if rank not in topo:
        raise ValueError(f"{function}: rank {rank!r} is not a node of the topology "
                         f"({topo.number_of_nodes()} nodes)")
    self_weight = 0.0
    neighbor_weights = {}
    for other in neighbors(rank):
        weight = _edge_weight(topo.edges[edge(other)])
        if other == rank:
            self_weight = weight
        else:
            neighbor_weights[other] = weight
    return self_weight, neighbor_weights


def GetRecvWeights(topo: nx.DiGraph, rank: int) -> Tuple[float, Dict[int, float]]:
    """What ``rank`` receives: ``(self_weight, {src_rank: weight})``, column ``rank`` of W.

    The self weight is 0.0 when ``rank`` has no self-loop.
    """
    return _self_and_neighbor_weights("GetRecvWeights", topo, rank, topo.predecessors,
                                      lambda src: (src, rank))


def GetSendWeights(topo: nx.DiGraph, rank: int) -> Tuple[float, Dict[int, float]]:
    """What ``rank`` sends: ``(self_weight, {dst_rank: weight})``, row ``rank`` of W.

    The self weight is 0.0 when ``rank`` has no self-loop.
    """
    return _self_and_neighbor_weights("GetSendWeights", topo, rank, topo.successors,
                                      lambda dst: (rank, dst))
