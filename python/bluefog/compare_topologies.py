"""Compare how fast the built-in topologies average: ``python -m bluefog.compare_topologies SIZE``.

Prints, for every built-in static graph and for the dynamic schedules (one-peer
over the exponential-2 graph, inner-outer ring and exponential-2, the machine-
level exponential-2), the largest degree, the consensus contraction per step
(``||W - 11^T/n||_2``; for a schedule, that of one period's product to the
power ``1/period``), the spectral gap (1 - contraction per step) and the steps
needed to shrink the distance to the average by the tolerance.
"""

import argparse
import math
import sys
from typing import List, Optional, Tuple

from bluefog.common import topology_util as tu
from bluefog.common.topology_graphs import default_mesh_grid_shape


def _default_local_size(size: int) -> Optional[int]:
    """A local size for the inner-outer schedules: a divisor of ``size`` of at
    least 3 giving two machines or more, closest to sqrt(size); else one
    machine of ``size`` ranks (size >= 3); None when nothing fits."""
    divisors = [d for d in range(3, size // 2 + 1) if size % d == 0]
    if divisors:
        return min(divisors, key=lambda d: (abs(d - math.sqrt(size)), d))
    return size if size >= 3 else None


def _rows(size: int, local_size: Optional[int]) -> List[Tuple[str, object]]:
    grid_rows, grid_cols = default_mesh_grid_shape(size)
    rows = [
        ("ExponentialTwoGraph", tu.ExponentialTwoGraph(size)),
        ("ExponentialGraph(base=3)", tu.ExponentialGraph(size, base=3)),
        ("SymmetricExponentialGraph(base=4)", tu.SymmetricExponentialGraph(size)),
        (f"MeshGrid2DGraph({grid_rows}x{grid_cols})", tu.MeshGrid2DGraph(size)),
        ("StarGraph", tu.StarGraph(size)),
        ("RingGraph(connect_style=0)", tu.RingGraph(size, 0)),
        ("RingGraph(connect_style=1)", tu.RingGraph(size, 1)),
        ("RingGraph(connect_style=2)", tu.RingGraph(size, 2)),
        ("FullyConnectedGraph", tu.FullyConnectedGraph(size)),
        ("OnePeer(ExponentialTwoGraph)", tu.OnePeerSchedule(tu.ExponentialTwoGraph(size))),
    ]
    if local_size is not None:
        machines = size // local_size
        where = f"local_size={local_size}"
        rows += [
            (f"InnerOuterRing({where})", tu.InnerOuterRingSchedule(size, local_size)),
            (f"InnerOuterExpo2({where})", tu.InnerOuterExpo2Schedule(size, local_size)),
        ]
        if machines >= 2:
            rows.append((f"Exp2Machine(machines={machines})",
                         tu.Exp2MachineSchedule(size, local_size)))
    return rows


def table(size: int, local_size: Optional[int] = None, tolerance: float = 1e-6) -> str:
    """The comparison table as text (``local_size`` None: a default choice)."""
    if local_size is None:
        local_size = _default_local_size(size)
    lines = [
        f"Mixing over {size} rank{'' if size == 1 else 's'}: consensus contraction ||W - 11^T/n||_2 per step, "
        f"spectral gap = 1 - contraction, steps to shrink the consensus error by {tolerance:g}",
        f"{'topology':<36} {'degree':>6} {'period':>6} {'contraction':>12} "
        f"{'gap':>10} {'steps':>8}",
    ]
    for name, topology in _rows(size, local_size):
        info = tu.MixingAnalysis(topology, tolerance=tolerance)
        steps = "never" if info.steps is None else str(info.steps)
        lines.append(f"{name:<36} {info.max_degree:>6} {info.period:>6} "
                     f"{info.contraction_per_step:>12.6f} {1 - info.contraction_per_step:>10.6f} "
                     f"{steps:>8}")
    lines.append(
        "Dynamic schedules (period > 1): at each step a rank averages uniformly over itself "
        "and the ranks it receives from (one peer: 1/2 each); their contraction per step is "
        "that of one period's product to the power 1/period. Exp2Machine counts machines.")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bluefog.compare_topologies",
        description="Compare the mixing speed of bluefog's built-in topologies.")
    parser.add_argument("size", type=int, help="number of ranks")
    parser.add_argument("--local-size", type=int, default=None,
                        help="ranks per machine for the inner-outer schedules "
                             "(default: a divisor of SIZE near its square root)")
    parser.add_argument("--tolerance", type=float, default=1e-6,
                        help="consensus error reduction to reach (default 1e-6)")
    args = parser.parse_args(argv)
    if args.local_size is not None and (args.local_size < 1 or args.size % args.local_size
                                        or args.local_size == 2):
        parser.error(f"--local-size must divide {args.size} and must not be 2, "
                     f"got {args.local_size}")
    if not 0 < args.tolerance < 1:
        parser.error(f"--tolerance must be in (0, 1), got {args.tolerance}")
    try:
        print(table(args.size, args.local_size, args.tolerance))
    except ValueError as error:  # the size, refused by the graphs
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main())
