"""The built-in topologies as networkx ``DiGraph``s, built by the C++ core
(cpp/core/src/topology_graphs.cc) so that the C++ API and Python agree.

A topology over ``n`` ranks has the nodes ``0..n-1`` and, for every nonzero
``W[i, j]`` of its weight matrix, an edge ``i -> j`` whose attribute
``weight`` says how much rank ``j`` takes from rank ``i`` (self-loops
included).
"""

from typing import Optional, Tuple

import networkx as nx
import numpy as np

from bluefog import _bluefog
from bluefog.common.topology_checks import int_arg

_core = _bluefog.topology


def _from_matrix(weights: np.ndarray) -> nx.DiGraph:
    return nx.from_numpy_array(weights, create_using=nx.DiGraph)


def ExponentialTwoGraph(size: int) -> nx.DiGraph:
    """Rank ``i`` sends to ``i + 2^t`` (mod size) for every ``2^t < size``.

    Circulant: the first row has ones at 0 and the powers of two, normalised.
    """
    return _from_matrix(_core.exponential_two_graph(int_arg("ExponentialTwoGraph", "size", size)))


def ExponentialGraph(size: int, base: int = 2) -> nx.DiGraph:
    """Rank ``i`` sends to ``i + base^t`` (mod size) for every exact power ``base^t < size``.

    The default topology of ``bluefog.torch.init``.
    """
    return _from_matrix(_core.exponential_graph(int_arg("ExponentialGraph", "size", size),
                                                int_arg("ExponentialGraph", "base", base)))


def SymmetricExponentialGraph(size: int, base: int = 4) -> nx.DiGraph:
    """Rank ``i`` is linked both ways with ``i +- base^t`` (mod size).

    Circulant: the first row has ones at ``k`` when ``min(k, size - k)`` is 0 or
    an exact power of ``base``, normalised.
    """
    return _from_matrix(_core.symmetric_exponential_graph(
        int_arg("SymmetricExponentialGraph", "size", size),
        int_arg("SymmetricExponentialGraph", "base", base)))


def default_mesh_grid_shape(size: int) -> Tuple[int, int]:
    """``(rows, cols)`` of ``MeshGrid2DGraph(size)``: the two closest factors."""
    return tuple(_core.default_mesh_grid_shape(int_arg("MeshGrid2DGraph", "size", size)))


def MeshGrid2DGraph(size: int, shape: Optional[Tuple[int, int]] = None) -> nx.DiGraph:
    """A non-periodic 2-D grid (4 neighbours), rank ``r`` at ``(r // cols, r % cols)``.

    ``shape = (rows, cols)`` defaults to the two closest factors of ``size``
    (rows <= cols). Metropolis-Hastings weights: ``1 / max(d_i, d_j)`` between
    neighbours, where degrees count the node itself; the self weight is the
    rest of the row. Symmetric and doubly stochastic.
    """
    size = int_arg("MeshGrid2DGraph", "size", size)
    if shape is None:
        rows, cols = default_mesh_grid_shape(size)
    else:
        try:
            rows, cols = shape
        except (TypeError, ValueError):
            raise ValueError(
                f"MeshGrid2DGraph: shape must be a pair (rows, cols), got {shape!r}") from None
        rows = int_arg("MeshGrid2DGraph", "shape[0]", rows)
        cols = int_arg("MeshGrid2DGraph", "shape[1]", cols)
    return _from_matrix(_core.mesh_grid_2d_graph(size, rows, cols))


def StarGraph(size: int, center_rank: int = 0) -> nx.DiGraph:
    """Every rank is linked both ways with ``center_rank``.

    Leaves keep ``1 - 1/size``; every edge to or from the center, and the
    center's self-loop, carry ``1/size``.
    """
    return _from_matrix(_core.star_graph(int_arg("StarGraph", "size", size),
                                         int_arg("StarGraph", "center_rank", center_rank)))


def RingGraph(size: int, connect_style: int = 0) -> nx.DiGraph:
    """A ring. ``connect_style`` 0: both sides, 1/3 each with self; 1: to the
    left (``i - 1``), 2: to the right (``i + 1``), 1/2 each with self.

    Size 1 is ``[[1]]`` and size 2 is all ``1/2``, whatever the style.
    """
    return _from_matrix(_core.ring_graph(int_arg("RingGraph", "size", size),
                                         int_arg("RingGraph", "connect_style", connect_style)))


def FullyConnectedGraph(size: int) -> nx.DiGraph:
    """Everyone with everyone, all weights ``1/size``."""
    return _from_matrix(_core.fully_connected_graph(int_arg("FullyConnectedGraph", "size", size)))
