"""Topologies for decentralized averaging, as networkx ``DiGraph``s.

A topology over ``n`` ranks is a ``networkx.DiGraph`` on the nodes ``0..n-1``
built from a weight matrix ``W``: every nonzero ``W[i, j]`` is an edge
``i -> j`` whose attribute ``weight`` says how much rank ``j`` takes from rank
``i`` (self-loops included). Rank ``j`` combines with the weights in column
``j``.

The graph generators and the dynamic schedules come from the C++ core
(``bluefog._bluefog.topology``), so that the C++ API and Python agree; the
helpers that read arbitrary user graphs (``IsTopologyEquivalent``,
``GetRecvWeights``, ...) are plain Python. Names, arguments and results are
those of BlueFog 0.3. Beyond BlueFog 0.3: the schedule objects
(``OnePeerSchedule`` ...) and ``MixingAnalysis``.

Importing this module does not import torch.
"""

import numbers
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple, Union

import networkx as nx
import numpy as np

from bluefog import _bluefog

_core = _bluefog.topology

__all__ = [
    "ExponentialTwoGraph",
    "ExponentialGraph",
    "SymmetricExponentialGraph",
    "MeshGrid2DGraph",
    "StarGraph",
    "RingGraph",
    "FullyConnectedGraph",
    "IsTopologyEquivalent",
    "IsRegularGraph",
    "isPowerOf",
    "GetRecvWeights",
    "GetSendWeights",
    "GetDynamicOnePeerSendRecvRanks",
    "GetExp2DynamicSendRecvMachineRanks",
    "GetInnerOuterRingDynamicSendRecvRanks",
    "GetInnerOuterExpo2DynamicSendRecvRanks",
    "OnePeerSchedule",
    "Exp2MachineSchedule",
    "InnerOuterRingSchedule",
    "InnerOuterExpo2Schedule",
    "MixingAnalysis",
    "MixingInfo",
]

DynamicSchedule = _core.DynamicSchedule


def _int_arg(function: str, name: str, value) -> int:
    """``value`` as an int; TypeError for non-integers (bool and float included)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{function}: {name} must be an integer, got {value!r}")
    return int(value)


def _from_matrix(weights: np.ndarray) -> nx.DiGraph:
    return nx.from_numpy_array(weights, create_using=nx.DiGraph)


# ---------------------------------------------------------------------------
# Generators


def ExponentialTwoGraph(size: int) -> nx.DiGraph:
    """Rank ``i`` sends to ``i + 2^t`` (mod size) for every ``2^t < size``.

    Circulant: the first row has ones at 0 and the powers of two, normalised.
    """
    return _from_matrix(_core.exponential_two_graph(_int_arg("ExponentialTwoGraph", "size", size)))


def ExponentialGraph(size: int, base: int = 2) -> nx.DiGraph:
    """Rank ``i`` sends to ``i + base^t`` (mod size) for every exact power ``base^t < size``.

    The default topology of ``bluefog.torch.init``.
    """
    return _from_matrix(_core.exponential_graph(_int_arg("ExponentialGraph", "size", size),
                                                _int_arg("ExponentialGraph", "base", base)))


def SymmetricExponentialGraph(size: int, base: int = 4) -> nx.DiGraph:
    """Rank ``i`` is linked both ways with ``i +- base^t`` (mod size).

    Circulant: the first row has ones at ``k`` when ``min(k, size - k)`` is 0 or
    an exact power of ``base``, normalised.
    """
    return _from_matrix(_core.symmetric_exponential_graph(
        _int_arg("SymmetricExponentialGraph", "size", size),
        _int_arg("SymmetricExponentialGraph", "base", base)))


def MeshGrid2DGraph(size: int, shape: Optional[Tuple[int, int]] = None) -> nx.DiGraph:
    """A non-periodic 2-D grid (4 neighbours), rank ``r`` at ``(r // cols, r % cols)``.

    ``shape = (rows, cols)`` defaults to the two closest factors of ``size``
    (rows <= cols). Metropolis-Hastings weights: ``1 / max(d_i, d_j)`` between
    neighbours, where degrees count the node itself; the self weight is the
    rest of the row. Symmetric and doubly stochastic.
    """
    size = _int_arg("MeshGrid2DGraph", "size", size)
    if shape is None:
        rows, cols = _core.default_mesh_grid_shape(size)
    else:
        try:
            rows, cols = shape
        except (TypeError, ValueError):
            raise ValueError(
                f"MeshGrid2DGraph: shape must be a pair (rows, cols), got {shape!r}") from None
        rows = _int_arg("MeshGrid2DGraph", "shape[0]", rows)
        cols = _int_arg("MeshGrid2DGraph", "shape[1]", cols)
    return _from_matrix(_core.mesh_grid_2d_graph(size, rows, cols))


def StarGraph(size: int, center_rank: int = 0) -> nx.DiGraph:
    """Every rank is linked both ways with ``center_rank``.

    Leaves keep ``1 - 1/size``; every edge to or from the center, and the
    center's self-loop, carry ``1/size``.
    """
    return _from_matrix(_core.star_graph(_int_arg("StarGraph", "size", size),
                                         _int_arg("StarGraph", "center_rank", center_rank)))


def RingGraph(size: int, connect_style: int = 0) -> nx.DiGraph:
    """A ring. ``connect_style`` 0: both sides, 1/3 each with self; 1: to the
    left (``i - 1``), 2: to the right (``i + 1``), 1/2 each with self.

    Size 1 is ``[[1]]`` and size 2 is all ``1/2``, whatever the style.
    """
    return _from_matrix(_core.ring_graph(_int_arg("RingGraph", "size", size),
                                         _int_arg("RingGraph", "connect_style", connect_style)))


def FullyConnectedGraph(size: int) -> nx.DiGraph:
    """Everyone with everyone, all weights ``1/size``."""
    return _from_matrix(_core.fully_connected_graph(_int_arg("FullyConnectedGraph", "size", size)))


# ---------------------------------------------------------------------------
# Helpers on arbitrary graphs


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
    base = _int_arg("isPowerOf", "base", base)
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


def _check_node(function: str, topo: nx.DiGraph, rank) -> None:
    if rank not in topo:
        raise ValueError(f"{function}: rank {rank!r} is not a node of the topology "
                         f"({topo.number_of_nodes()} nodes)")


def _self_and_neighbor_weights(function, topo, rank, neighbors, edge):
    _check_node(function, topo, rank)
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


def _check_rank_nodes(function: str, topo: nx.DiGraph) -> int:
    """The number of ranks of a graph whose nodes must be exactly 0..n-1."""
    if not isinstance(topo, nx.Graph):
        raise TypeError(f"{function}: topo must be a networkx graph, got {type(topo).__name__}")
    size = topo.number_of_nodes()
    if set(topo.nodes) != set(range(size)):
        raise ValueError(f"{function}: the topology's nodes must be the ranks 0..{size - 1}")
    return size


def _weight_matrix(function: str, topo: nx.DiGraph) -> np.ndarray:
    size = _check_rank_nodes(function, topo)
    return nx.to_numpy_array(topo, nodelist=range(size), weight="weight", dtype=np.float64)


# ---------------------------------------------------------------------------
# Dynamic schedules


def OnePeerSchedule(topo: nx.DiGraph) -> DynamicSchedule:
    """The one-peer schedule of ``topo`` (see ``GetDynamicOnePeerSendRecvRanks``) as an
    object: ``schedule.step(rank, k) -> ([send_rank], recv_ranks)``, ``.period``, ``.size``.
    """
    size = _check_rank_nodes("OnePeerSchedule", topo)
    return _core.one_peer_schedule([list(topo.successors(rank)) for rank in range(size)])


def Exp2MachineSchedule(world_size: int, local_size: int) -> DynamicSchedule:
    """The machine-level schedule of ``GetExp2DynamicSendRecvMachineRanks``; its
    participants are machine ranks."""
    return _core.exp2_machine_schedule(
        _int_arg("Exp2MachineSchedule", "world_size", world_size),
        _int_arg("Exp2MachineSchedule", "local_size", local_size))


def InnerOuterRingSchedule(world_size: int, local_size: int) -> DynamicSchedule:
    """The schedule of ``GetInnerOuterRingDynamicSendRecvRanks``."""
    return _core.inner_outer_ring_schedule(
        _int_arg("InnerOuterRingSchedule", "world_size", world_size),
        _int_arg("InnerOuterRingSchedule", "local_size", local_size))


def InnerOuterExpo2Schedule(world_size: int, local_size: int) -> DynamicSchedule:
    """The schedule of ``GetInnerOuterExpo2DynamicSendRecvRanks``."""
    return _core.inner_outer_expo2_schedule(
        _int_arg("InnerOuterExpo2Schedule", "world_size", world_size),
        _int_arg("InnerOuterExpo2Schedule", "local_size", local_size))


def _steps(schedule: DynamicSchedule, rank: int) -> Iterator[Tuple[List[int], List[int]]]:
    period = schedule.period
    k = 0
    while True:
        yield schedule.step(rank, k)
        k = (k + 1) % period


def _check_rank(function: str, name: str, rank, size: int) -> int:
    rank = _int_arg(function, name, rank)
    if not 0 <= rank < size:
        raise ValueError(f"{function}: {name} must be in [0, {size}), got {rank}")
    return rank


def GetDynamicOnePeerSendRecvRanks(
        topo: nx.DiGraph, self_rank: int) -> Iterator[Tuple[List[int], List[int]]]:
    """An endless generator of ``([send_rank], recv_ranks)``, one item per step.

    At step ``k`` every rank sends to its ``(k mod out_degree)``-th out-neighbour,
    counted clockwise from itself (out-neighbours sorted by ``(j - rank) mod n``,
    self excluded), and receives from every rank that sends to it at step ``k``
    (ascending). A rank without out-neighbours (e.g. in a graph of one rank)
    sends to nobody: ``([], recv_ranks)``.

    Example (the dynamic-topology loop)::

        gen = GetDynamicOnePeerSendRecvRanks(bf.load_topology(), bf.rank())
        send_ranks, recv_ranks = next(gen)
    """
    schedule = OnePeerSchedule(topo)
    self_rank = _check_rank("GetDynamicOnePeerSendRecvRanks", "self_rank", self_rank,
                            schedule.size)
    return _steps(schedule, self_rank)


def GetExp2DynamicSendRecvMachineRanks(
        world_size: int, local_size: int, self_rank: int, local_rank: int
) -> Iterator[Tuple[List[int], List[int]]]:
    """An endless generator of ``([send_machine_rank], [recv_machine_rank])``.

    Over ``M = world_size // local_size`` machines (homogeneous: ``local_size``
    must divide ``world_size`` and ``local_rank == self_rank % local_size``),
    at step ``k`` the machine ``m`` sends to ``(m + d) mod M`` and receives from
    ``(m - d) mod M``, ``d = 2^(k mod (floor(log2(M - 1)) + 1))``. With one
    machine it yields ``([], [])``.
    """
    function = "GetExp2DynamicSendRecvMachineRanks"
    schedule = Exp2MachineSchedule(world_size, local_size)
    self_rank = _check_rank(function, "self_rank", self_rank, world_size)
    local_rank = _int_arg(function, "local_rank", local_rank)
    if self_rank % local_size != local_rank:
        raise ValueError(
            f"{function}: local_rank {local_rank} is not self_rank % local_size = "
            f"{self_rank % local_size}; this schedule needs homogeneous machines with "
            f"consecutive ranks")
    return _steps(schedule, self_rank // local_size)


def GetInnerOuterRingDynamicSendRecvRanks(
        world_size: int, local_size: int, self_rank: int
) -> Iterator[Tuple[List[int], List[int]]]:
    """An endless generator of ``([send_rank], [recv_rank])``: the inner-outer ring.

    Ranks are ``machine * local_size + local``. At step ``k`` the rank with
    ``local == k mod local_size`` of each machine sends to the same local rank
    of the next machine and receives from the previous machine's; the other
    ranks of each machine form a ring in local order skipping that rank, each
    sending to the next and receiving from the previous one. With one machine
    (``world_size == local_size``) the rank whose turn it is to go outside
    yields ``([self_rank], [self_rank])``, as in BlueFog 0.3: an exchange with
    itself, which neighbor_allreduce folds into the self weight (the schedule
    object, ``InnerOuterRingSchedule``, says ``([], [])`` there). ``local_size``
    must divide ``world_size`` and must not be 2 (the two local ranks would
    never mix; 0.3 refused it too). ``local_size == 1``, which 0.3 also
    refused, is a ring over the machines.
    """
    schedule = InnerOuterRingSchedule(world_size, local_size)
    self_rank = _check_rank("GetInnerOuterRingDynamicSendRecvRanks", "self_rank", self_rank,
                            world_size)
    steps = _steps(schedule, self_rank)
    if world_size != local_size:
        return steps
    return ((send or [self_rank], recv or [self_rank]) for send, recv in steps)


def GetInnerOuterExpo2DynamicSendRecvRanks(
        world_size: int, local_size: int, self_rank: int
) -> Iterator[Tuple[List[int], List[int]]]:
    """An endless generator of ``([send_rank], [recv_rank])``: the inner-outer
    exponential-2 schedule.

    As the inner-outer ring, with exponential-2 distances: across machines the
    rank talks to the machine at distance ``2^(k mod (floor(log2(M - 1)) + 1))``
    over ``M`` machines; inside, the ring of the other ``local_size - 1`` ranks
    uses distances ``2^(k mod (floor(log2(local_size - 2)) + 1))``. Also valid
    with one machine (the skipped rank then yields ``([], [])``).
    """
    schedule = InnerOuterExpo2Schedule(world_size, local_size)
    self_rank = _check_rank("GetInnerOuterExpo2DynamicSendRecvRanks", "self_rank", self_rank,
                            world_size)
    return _steps(schedule, self_rank)


# ---------------------------------------------------------------------------
# Mixing analysis


class MixingInfo(NamedTuple):
    """How fast a topology averages (see ``MixingAnalysis``)."""
    size: int                     # participants (ranks, or machines)
    period: int                   # steps per period; 1 for a static graph
    max_degree: int               # max over ranks (and steps) of max(in, out), self excluded
    contraction: float            # ||P - 11^T/n||_2 for one period's matrix P
    spectral_gap: float           # 1 - contraction
    contraction_per_step: float   # contraction ** (1 / period)
    periods: Optional[int]        # periods to shrink the consensus error by `tolerance`
    steps: Optional[int]          # periods * period; None: never (contraction >= 1)


def _info(result) -> MixingInfo:
    return MixingInfo(
        size=result.size, period=result.period, max_degree=result.max_degree,
        contraction=result.contraction, spectral_gap=result.spectral_gap,
        contraction_per_step=result.contraction_per_step,
        periods=None if result.periods < 0 else result.periods,
        steps=None if result.steps < 0 else result.steps)


def _uniform_step_matrix(size: int, recv_lists: List[List[int]]) -> np.ndarray:
    step = np.zeros((size, size))
    for rank, recv in enumerate(recv_lists):
        weight = 1.0 / (len(recv) + 1)
        step[rank, rank] = weight
        for src in recv:
            step[src, rank] = weight
    return step


def _generator_steps(factory: Callable, size: int, period: int) -> List[np.ndarray]:
    function = "MixingAnalysis"
    generators = [factory(rank) for rank in range(size)]
    steps = []
    for k in range(period):
        sends, recvs = [], []
        for rank, generator in enumerate(generators):
            send_ranks, recv_ranks = next(generator)
            sends.append([int(r) for r in send_ranks])
            recvs.append(sorted(int(r) for r in recv_ranks))
        for rank in range(size):
            for dst in sends[rank]:
                if not 0 <= dst < size or dst == rank:
                    raise ValueError(f"{function}: at step {k} rank {rank} sends to {dst}")
                if rank not in recvs[dst]:
                    raise ValueError(f"{function}: at step {k} rank {rank} sends to {dst}, "
                                     f"which does not receive from it")
            for src in recvs[rank]:
                if not 0 <= src < size or rank not in sends[src]:
                    raise ValueError(f"{function}: at step {k} rank {rank} receives from "
                                     f"{src}, which does not send to it")
        steps.append(_uniform_step_matrix(size, recvs))
    return steps


def MixingAnalysis(topology_or_schedule: Union[nx.DiGraph, np.ndarray, DynamicSchedule,
                                               Callable],
                   size: Optional[int] = None, period: Optional[int] = None,
                   tolerance: float = 1e-6) -> MixingInfo:
    """How fast averaging over a topology reaches consensus.

    ``topology_or_schedule`` is one of:

    - a static graph (``networkx`` graph on ``0..n-1``) or its weight matrix;
    - a schedule object (``OnePeerSchedule(topo)``, ``InnerOuterRingSchedule(...)``
      ...), analysed over one period;
    - a callable ``rank -> generator of (send_ranks, recv_ranks)`` such as
      ``lambda r: GetDynamicOnePeerSendRecvRanks(topo, r)``; ``size`` and
      ``period`` (the steps to analyse) are then required.

    For a dynamic step, rank ``j`` receiving from ``r_j`` ranks averages
    uniformly: self weight and every received weight ``1 / (r_j + 1)`` (for a
    one-peer schedule: 1/2 and 1/2). A period's matrix ``P`` is the product of
    its steps' matrices. The result gives the consensus contraction
    ``||P - 11^T/n||_2``, the spectral gap ``1 - contraction``, and the steps
    needed to shrink the distance to the average by ``tolerance``.
    """
    if isinstance(topology_or_schedule, DynamicSchedule):
        result = _core.analyze_schedule(topology_or_schedule, tolerance)
    elif isinstance(topology_or_schedule, nx.Graph):
        result = _core.analyze_matrix(_weight_matrix("MixingAnalysis", topology_or_schedule),
                                      tolerance)
    elif callable(topology_or_schedule):
        if size is None or period is None:
            raise ValueError("MixingAnalysis: a generator schedule needs size and period")
        size = _int_arg("MixingAnalysis", "size", size)
        period = _int_arg("MixingAnalysis", "period", period)
        if size < 1 or period < 1:
            raise ValueError(f"MixingAnalysis: size and period must be at least 1, "
                             f"got {size} and {period}")
        steps = _generator_steps(topology_or_schedule, size, period)
        result = _core.analyze_steps(steps, tolerance)
    else:
        try:
            matrix = np.asarray(topology_or_schedule, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError("MixingAnalysis: expected a networkx graph, a weight matrix, a "
                            "schedule or a generator factory, got "
                            f"{type(topology_or_schedule).__name__}") from None
        result = _core.analyze_matrix(matrix, tolerance)
    if size is not None and _int_arg("MixingAnalysis", "size", size) != result.size:
        raise ValueError(f"MixingAnalysis: size {size} given, but the topology has "
                         f"{result.size} participants")
    return _info(result)
