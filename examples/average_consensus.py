"""Average consensus: every rank repeatedly averages its vector with its
neighbours and all vectors converge to the global mean.

    bfrun -np 4 python examples/average_consensus.py [--steps N] [--size D] [--dynamic]

Static: neighbour averaging over the default exponential-2 graph.
--dynamic: the one-peer exponential-2 schedule (one peer per step), which
reaches the exact mean after log2(size) steps when size is a power of two.
"""

import argparse

import torch

import bluefog.torch as bf
from bluefog.common import topology_util


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=1000, help="length of each rank's vector")
    parser.add_argument("--dynamic", action="store_true", help="one-peer dynamic schedule")
    args = parser.parse_args()

    bf.init()
    n, me = bf.size(), bf.rank()
    torch.manual_seed(me)
    x = torch.randn(args.size, dtype=torch.float64)
    target = bf.allreduce(x, average=True, name="target")
    schedule = topology_util.GetDynamicOnePeerSendRecvRanks(bf.load_topology(), me)

    for step in range(args.steps):
        if args.dynamic and n > 1:
            send, recv = next(schedule)
            x = bf.neighbor_allreduce(x, self_weight=1.0 / (len(recv) + 1),
                                      src_weights={r: 1.0 / (len(recv) + 1) for r in recv},
                                      dst_weights=send, enable_topo_check=False,
                                      name="consensus")
        else:
            x = bf.neighbor_allreduce(x, name="consensus")
        error = bf.allreduce((x - target).norm().pow(2).reshape(1), average=False,
                             name="error").sqrt().item()
        if me == 0:
            print(f"step {step:3d}  consensus error {error:.3e}", flush=True)
    if me == 0:
        kind = "one-peer dynamic" if args.dynamic else "static exponential-2"
        print(f"final error {error:.3e} after {args.steps} steps on {n} ranks ({kind})")


if __name__ == "__main__":
    main()
