"""Argument checks shared by the topology modules. Python converts: a
TypeError for what is not an integer and a ValueError for one that no C int
holds, where pybind11 would refuse either with its signature dump. The C++
core checks the values and words those messages (topology_checks.h)."""

import numbers

import networkx as nx

from bluefog import _bluefog


_C_INT = 2 ** 31


def int_arg(function: str, name: str, value) -> int:
    """``value`` as an int that a C int holds; TypeError for non-integers (bool
    and float included)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{function}: {name} must be an integer, got {value!r}")
    value = int(value)
    if not -_C_INT <= value < _C_INT:
        raise ValueError(f"{function}: {name} must be a 32-bit integer, got {value}")
    return value


def check_rank(function: str, name: str, rank, size: int) -> int:
    """``rank`` as an int in [0, size); ValueError otherwise."""
    rank = int_arg(function, name, rank)
    _bluefog.topology.check_rank(function, name, rank, size)
    return rank


def rank_count(function: str, topo: nx.DiGraph) -> int:
    """The number of ranks of a graph whose nodes must be exactly 0..n-1."""
    if not isinstance(topo, nx.Graph):
        raise TypeError(f"{function}: topo must be a networkx graph, got {type(topo).__name__}")
    size = topo.number_of_nodes()
    if set(topo.nodes) != set(range(size)):
        raise ValueError(f"{function}: the topology's nodes must be the ranks 0..{size - 1}")
    return size


def send_recv_mismatches(sends, receives):
    """Where a communication pattern over ranks 0..n-1 disagrees with itself,
    as sentences; ``sends[i]`` and ``receives[i]`` list the ranks that rank
    ``i`` sends to and receives from."""
    size = len(sends)
    problems = []
    for i in range(size):
        for j in sends[i]:
            if not 0 <= j < size or j == i:
                problems.append(f"rank {i} sends to {j}, which is not another rank of "
                                f"0..{size - 1}")
            elif i not in receives[j]:
                problems.append(f"rank {i} sends to rank {j}, which does not receive from it")
        for j in receives[i]:
            if not 0 <= j < size or i not in sends[j]:
                problems.append(f"rank {i} receives from rank {j}, which does not send to it")
    return problems
