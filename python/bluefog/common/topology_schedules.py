"""Dynamic topologies: which rank sends to and receives from whom at each
step. The schedules are computed by the C++ core
(cpp/core/src/topology_schedules.cc); BlueFog 0.3's generators
(``GetDynamicOnePeerSendRecvRanks`` ...) step through them, and the
schedule objects (``OnePeerSchedule`` ...) expose them whole."""

from typing import Iterator, List, Tuple

import networkx as nx

from bluefog import _bluefog
from bluefog.common.topology_checks import check_rank, int_arg, rank_count

_core = _bluefog.topology
DynamicSchedule = _core.DynamicSchedule


def OnePeerSchedule(topo: nx.DiGraph) -> DynamicSchedule:
    """The one-peer schedule of ``topo`` (see ``GetDynamicOnePeerSendRecvRanks``) as an
    object: ``schedule.step(rank, k) -> ([send_rank], recv_ranks)``, ``.period``, ``.size``.
    """
    size = rank_count("OnePeerSchedule", topo)
    return _core.one_peer_schedule([list(topo.successors(rank)) for rank in range(size)])


def Exp2MachineSchedule(world_size: int, local_size: int) -> DynamicSchedule:
    """The machine-level schedule of ``GetExp2DynamicSendRecvMachineRanks``; its
    participants are machine ranks."""
    return _core.exp2_machine_schedule(
        int_arg("Exp2MachineSchedule", "world_size", world_size),
        int_arg("Exp2MachineSchedule", "local_size", local_size))


def InnerOuterRingSchedule(world_size: int, local_size: int) -> DynamicSchedule:
    """The schedule of ``GetInnerOuterRingDynamicSendRecvRanks``."""
    return _core.inner_outer_ring_schedule(
        int_arg("InnerOuterRingSchedule", "world_size", world_size),
        int_arg("InnerOuterRingSchedule", "local_size", local_size))


def InnerOuterExpo2Schedule(world_size: int, local_size: int) -> DynamicSchedule:
    """The schedule of ``GetInnerOuterExpo2DynamicSendRecvRanks``."""
    return _core.inner_outer_expo2_schedule(
        int_arg("InnerOuterExpo2Schedule", "world_size", world_size),
        int_arg("InnerOuterExpo2Schedule", "local_size", local_size))


def _steps(schedule: DynamicSchedule, rank: int) -> Iterator[Tuple[List[int], List[int]]]:
    period = schedule.period
    k = 0
    while True:
        yield schedule.step(rank, k)
        k = (k + 1) % period


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
    self_rank = check_rank("GetDynamicOnePeerSendRecvRanks", "self_rank", self_rank,
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
    self_rank = check_rank(function, "self_rank", self_rank, world_size)
    local_rank = int_arg(function, "local_rank", local_rank)
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
    self_rank = check_rank("GetInnerOuterRingDynamicSendRecvRanks", "self_rank", self_rank,
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
    self_rank = check_rank("GetInnerOuterExpo2DynamicSendRecvRanks", "self_rank", self_rank,
                           world_size)
    return _steps(schedule, self_rank)
