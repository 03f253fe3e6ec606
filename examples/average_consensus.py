"""Average consensus on a ring: every rank repeatedly averages its value with
its two ring neighbours and all values converge to the global mean.

    bfrun -np 4 python examples/average_consensus.py [--steps N] [--size D]

Until neighbor_allreduce exists this gossips with allgather and keeps only
the neighbours' rows, which is the same arithmetic.
"""

import argparse

import torch

import bluefog.torch as bf


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--size", type=int, default=1000, help="length of each rank's vector")
    args = parser.parse_args()

    bf.init()
    n, me = bf.size(), bf.rank()
    torch.manual_seed(me)
    x = torch.randn(args.size, dtype=torch.float64)
    target = bf.allreduce(x, average=True, name="target")
    neighbours = sorted({(me - 1) % n, me, (me + 1) % n})

    for step in range(args.steps):
        everyone = bf.allgather(x.unsqueeze(0), name="gossip").squeeze(1)
        x = everyone[neighbours].mean(dim=0)
        error = bf.allreduce((x - target).norm().pow(2).reshape(1), average=False,
                             name="error").sqrt().item()
        if me == 0:
            print(f"step {step:3d}  consensus error {error:.3e}", flush=True)
    if me == 0:
        print(f"final error {error:.3e} after {args.steps} steps on {n} ranks")


if __name__ == "__main__":
    main()
