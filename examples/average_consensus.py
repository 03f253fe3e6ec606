"""Average consensus over every built-in topology, static and dynamic.

Each rank starts from its own random vector and repeatedly averages it with its
neighbours; all vectors converge to the global mean. The error after step k is
sqrt(sum over ranks of ||x_i - mean||^2), step 0 being the starting point.

    bfrun -np 4 python examples/average_consensus.py [--steps N] [--size D]
        [--topologies NAME,NAME,...] [--dynamic] [--plot PATH | --no-plot]

Rank 0 prints one line per step and topology,
``topology RingGraph step 3 error 1.234e-05``, then a summary table, and saves
a semilog plot of error against step (default consensus.png; ``--plot ''``
or ``--no-plot`` disables it; needs matplotlib).

Static topologies are the generators of bluefog.common.topology_util, used
with their own weights. Dynamic ones change the peers at every step: the
one-peer exponential-2 schedule (exact mean after log2(size) steps when size
is a power of two) and the inner-outer schedules, which are skipped when a
machine has exactly 2 ranks (they do not support it).
"""

import argparse
import sys

import torch

import bluefog.torch as bf
from bluefog.common import topology_util as tu

# The graphs' own weights are doubly stochastic, so averaging keeps the mean.
# For the circulant graphs they are the uniform defaults anyway; MeshGrid2DGraph
# and StarGraph would drift to a weighted mean with uniform weights.
STATIC = {
    "ExponentialTwoGraph": tu.ExponentialTwoGraph,
    # with its default base 2, ExponentialGraph is ExponentialTwoGraph
    "ExponentialGraph-base3": lambda n: tu.ExponentialGraph(n, base=3),
    "SymmetricExponentialGraph": tu.SymmetricExponentialGraph,
    "MeshGrid2DGraph": tu.MeshGrid2DGraph,
    "StarGraph": tu.StarGraph,
    "RingGraph": tu.RingGraph,
    "RingGraph-left": lambda n: tu.RingGraph(n, connect_style=1),
    "FullyConnectedGraph": tu.FullyConnectedGraph,
}

# name -> (size, local_size, rank) -> endless generator of (send_ranks, recv_ranks)
DYNAMIC = {
    "OnePeerExpo2": lambda n, local, rank: tu.GetDynamicOnePeerSendRecvRanks(
        tu.ExponentialTwoGraph(n), rank),
    "InnerOuterExpo2": tu.GetInnerOuterExpo2DynamicSendRecvRanks,
    "InnerOuterRing": tu.GetInnerOuterRingDynamicSendRecvRanks,
}

INNER_OUTER = ("InnerOuterExpo2", "InnerOuterRing")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=1000, help="length of each rank's vector")
    parser.add_argument("--topologies", default=",".join([*STATIC, *DYNAMIC]),
                        help="comma-separated subset of: " + ", ".join([*STATIC, *DYNAMIC]))
    parser.add_argument("--dynamic", action="store_true",
                        help="only the dynamic schedules (overrides --topologies)")
    parser.add_argument("--plot", default="consensus.png", help="PNG to write ('' for none)")
    parser.add_argument("--no-plot", dest="plot", action="store_const", const="")
    args = parser.parse_args()
    names = list(DYNAMIC) if args.dynamic else [t for t in args.topologies.split(",") if t]
    unknown = [t for t in names if t not in STATIC and t not in DYNAMIC]
    if unknown:
        parser.error(f"unknown topologies {unknown}; choose from {[*STATIC, *DYNAMIC]}")
    args.topologies = names
    return args


def static_step(name):
    bf.set_topology(STATIC[name](bf.size()), is_weighted=True)
    return lambda x: bf.neighbor_allreduce(x, name=f"consensus.{name}")


def dynamic_step(name):
    schedule = DYNAMIC[name](bf.size(), bf.local_size(), bf.rank())

    def step(x):
        send, recv = next(schedule)
        weight = 1.0 / (len(recv) + 1)
        return bf.neighbor_allreduce(x, self_weight=weight,
                                     src_weights={r: weight for r in recv},
                                     dst_weights=send, enable_topo_check=False,
                                     name=f"consensus.{name}")
    return step


def consensus_errors(name, x, mean, steps):
    """Errors at steps 0..steps of averaging x over topology `name`."""
    step = static_step(name) if name in STATIC else dynamic_step(name)
    errors = []
    for k in range(steps + 1):
        if k > 0:
            x = step(x)
        squared = (x - mean).pow(2).sum().reshape(1)
        errors.append(bf.allreduce(squared, average=False, name="consensus.error").sqrt().item())
        if bf.rank() == 0:
            print(f"topology {name} step {k} error {errors[-1]:.3e}", flush=True)
    return errors


def load_pyplot():
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib, or pass --no-plot)",
              file=sys.stderr)
        return None
    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt
    return plt


def save_plot(plt, path, results, size):
    fig, ax = plt.subplots(figsize=(11, 6))
    markers = "ovs^D<>pP*hX"  # several topologies can give the same curve: keep each visible
    for i, (name, errors) in enumerate(results.items()):
        # An exact mean gives error 0, which a log axis cannot show: floor it.
        ax.semilogy([max(e, 1e-18) for e in errors], label=name, fillstyle="none",
                    linestyle="--" if name in DYNAMIC else "-", marker=markers[i % len(markers)])
    ax.set_xlabel("step")
    ax.set_ylabel("consensus error  sqrt(sum_i ||x_i - mean||^2)")
    ax.set_title(f"Average consensus on {size} rank{'s' if size > 1 else ''}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    args = parse_args()
    bf.init()
    n, me = bf.size(), bf.rank()
    plt = load_pyplot() if me == 0 and args.plot else None

    torch.manual_seed(me)
    x = torch.randn(args.size, dtype=torch.float64)
    mean = bf.allreduce(x, average=True, name="consensus.mean")

    results = {}
    for name in args.topologies:
        if name in INNER_OUTER and bf.local_size() == 2:
            if me == 0:
                print(f"topology {name} skipped: needs a local size other than 2", flush=True)
            continue
        results[name] = consensus_errors(name, x, mean, args.steps)

    if me == 0:
        width = max([len("topology")] + [len(name) for name in results])
        ranks = f"{n} rank{'s' if n > 1 else ''}"
        print(f"\n{'topology':<{width}}  final error (step {args.steps}, {ranks})")
        for name, errors in results.items():
            print(f"{name:<{width}}  {errors[-1]:.3e}")
        if plt is not None:
            save_plot(plt, args.plot, results, n)
            print(f"plot saved to {args.plot}")


if __name__ == "__main__":
    main()
