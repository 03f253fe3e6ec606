"""How fast averaging over a topology reaches consensus: the spectral gap of
its mixing matrix, computed by the C++ core (cpp/core/src/topology_mixing.cc),
for static graphs, schedule objects and generator factories alike."""

from typing import Callable, List, NamedTuple, Optional, Union

import networkx as nx
import numpy as np

from bluefog import _bluefog
from bluefog.common.topology_checks import int_arg, rank_count, send_recv_mismatches
from bluefog.common.topology_schedules import DynamicSchedule

_core = _bluefog.topology


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


def _weight_matrix(function: str, topo: nx.DiGraph) -> np.ndarray:
    size = rank_count(function, topo)
    return nx.to_numpy_array(topo, nodelist=range(size), weight="weight", dtype=np.float64)


def _uniform_step_matrix(size: int, recv_lists: List[List[int]]) -> np.ndarray:
    step = np.zeros((size, size))
    for rank, recv in enumerate(recv_lists):
        weight = 1.0 / (len(recv) + 1)
        step[rank, rank] = weight
        for src in recv:
            step[src, rank] = weight
    return step


def _generator_steps(factory: Callable, size: int, period: int) -> List[np.ndarray]:
    generators = [factory(rank) for rank in range(size)]
    steps = []
    for k in range(period):
        sends, recvs = [], []
        for generator in generators:
            send_ranks, recv_ranks = next(generator)
            sends.append([int(r) for r in send_ranks])
            recvs.append(sorted(int(r) for r in recv_ranks))
        problems = send_recv_mismatches(sends, recvs)
        if problems:
            raise ValueError(f"MixingAnalysis: at step {k}: " + "; ".join(problems))
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
        size = int_arg("MixingAnalysis", "size", size)
        period = int_arg("MixingAnalysis", "period", period)
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
    if size is not None and int_arg("MixingAnalysis", "size", size) != result.size:
        raise ValueError(f"MixingAnalysis: size {size} given, but the topology has "
                         f"{result.size} participants")
    return _info(result)
