"""The virtual topology of ``bluefog.torch``: which ranks are neighbours and
with which default weights. Kept per process; ``set_topology`` is collective
and checks that every rank installed the same graph."""

import networkx as nx

from bluefog.common.topology_graphs import ExponentialGraph
from bluefog.common.topology_queries import GetRecvWeights, IsTopologyEquivalent
from bluefog.torch import agreement, arguments, mpi_ops
from bluefog.torch.errors import InvalidArgumentError

_state = {
    "graph": None, "weighted": False, "in": [], "out": [],
    "self_weight": 1.0, "src_weights": {},
    "machine_graph": None, "machine_weighted": False,
    # A window keeps a buffer per in-neighbour of the graph it was created
    # over, so the graph may not change while one exists; win_ops reports
    # them (window_created, window_freed).
    "windows": set(),
}


def _check_graph(topology, size, what):
    if not isinstance(topology, nx.DiGraph):
        raise TypeError(f"{what}: expected a networkx.DiGraph, got {type(topology).__name__}")
    if sorted(topology.nodes) != list(range(size)):
        raise InvalidArgumentError(f"{what}: the graph's nodes must be 0..{size - 1} "
                                   f"(one per rank), got {sorted(topology.nodes)[:10]}")
    for u, v, data in topology.edges(data=True):
        try:
            arguments.weight(data.get("weight", 1.0), what, f"the weight of edge {u}->{v}")
        except TypeError as error:  # a graph's content: a bad value, not a bad argument type
            raise InvalidArgumentError(str(error)) from None


def _check_same_everywhere(topology, is_weighted, op):
    """Collective: the graph's edges and weights and the weighting agree on every rank."""
    edges = sorted(topology.edges(data=True), key=lambda e: (e[0], e[1]))
    data = ("w" if is_weighted else "u") + ";".join(
        f"{u},{v},{float(d.get('weight', 1.0))!r}" for u, v, d in edges)
    agreement.check_same_everywhere(op, data, "a different graph")


def _neighbors(topology, rank):
    in_ranks = sorted(u for u in topology.predecessors(rank) if u != rank)
    out_ranks = sorted(v for v in topology.successors(rank) if v != rank)
    return in_ranks, out_ranks


def set_topology(topology=None, is_weighted=False):
    """Install ``topology`` (a networkx DiGraph over ranks 0..size-1; ``None``
    means ExponentialGraph(size)). Collective: every rank exchanges an 8-byte
    fingerprint, even when its graph is unchanged. Returns False, changing
    nothing, while windows exist. With ``is_weighted`` the graph's edge weights are the
    default weights of neighbour ops; otherwise they are uniform."""
    size, rank = mpi_ops.size(), mpi_ops.rank()
    if topology is None:
        topology = ExponentialGraph(size)
    _check_graph(topology, size, "set_topology")
    is_weighted = bool(is_weighted)
    if _state["windows"]:
        return False
    # Always exchange fingerprints: a rank skipping it because its graph is
    # unchanged would leave the others waiting in the exchange.
    _check_same_everywhere(topology, is_weighted, "set_topology")
    current = _state["graph"]
    if (current is not None and _state["weighted"] == is_weighted
            and IsTopologyEquivalent(current, topology)):
        return True
    _state["graph"] = topology.copy()
    _state["weighted"] = is_weighted
    (_state["in"], _state["out"], _state["self_weight"],
     _state["src_weights"]) = _plan(topology, rank, is_weighted)
    return True


def _plan(graph, node, weighted):
    """(in, out, self_weight, {src: weight}) of `node` in `graph`."""
    in_ranks, out_ranks = _neighbors(graph, node)
    if weighted:
        self_weight, src_weights = GetRecvWeights(graph, node)
        self_weight = float(self_weight)
        src_weights = {u: float(w) for u, w in src_weights.items()}
    else:
        uniform = 1.0 / (len(in_ranks) + 1)
        self_weight, src_weights = uniform, {u: uniform for u in in_ranks}
    return in_ranks, out_ranks, self_weight, src_weights


def window_created(name):
    """Window `name` now depends on the graph in force (see _state)."""
    _state["windows"].add(name)


def window_freed(name):
    _state["windows"].discard(name)


def _running():
    """Raises what every call raises before init or after shutdown."""
    mpi_ops.rank()


def load_topology():
    """The graph in force."""
    _running()
    return _state["graph"]


def in_neighbor_ranks():
    """Ranks this rank receives from in the installed graph (sorted, self excluded)."""
    _running()
    return list(_state["in"])


def out_neighbor_ranks():
    """Ranks this rank sends to in the installed graph (sorted, self excluded)."""
    _running()
    return list(_state["out"])


def is_topo_weighted():
    """Whether neighbour ops default to the installed graph's weights."""
    _running()
    return _state["weighted"]


def default_weights():
    """(self_weight, {src: weight}) for a static neighbour op."""
    return _state["self_weight"], dict(_state["src_weights"])


def set_machine_topology(topology, is_weighted=False):
    """Install the graph over machines used by hierarchical neighbour ops."""
    machines = mpi_ops.machine_size()
    if topology is None:
        topology = ExponentialGraph(machines)
    _check_graph(topology, machines, "set_machine_topology")
    _check_same_everywhere(topology, bool(is_weighted), "set_machine_topology")
    _state.update(machine_graph=topology.copy(), machine_weighted=bool(is_weighted))
    return True


def is_machine_topo_weighted():
    """Whether hierarchical neighbour ops default to the machine graph's weights."""
    _running()
    return _state["machine_weighted"]


def load_machine_topology():
    """The graph over machines in force."""
    _running()
    return _state["machine_graph"]


def _machine_plan():
    return _plan(_state["machine_graph"], mpi_ops.machine_rank(), _state["machine_weighted"])


def in_neighbor_machine_ranks():
    """Machines this machine receives from (sorted, itself excluded)."""
    return _machine_plan()[0]


def out_neighbor_machine_ranks():
    """Machines this machine sends to (sorted, itself excluded)."""
    return _machine_plan()[1]


def default_machine_weights():
    """(self_weight, {src machine: weight}) for a static hierarchical op."""
    _, _, self_weight, src_weights = _machine_plan()
    return self_weight, src_weights
