"""Allreduce latency and bandwidth: bluefog vs torch.distributed (gloo),
with a single-process memory copy as the machine's reference.

Run under a launcher, e.g. ``bfrun -np 2 python bench/allreduce_bench.py``;
``bench/run_allreduce.sh`` runs 2 and 4 ranks plus raw MPI_Allreduce.
Prints one markdown table (rank 0). GB/s = tensor bytes / median time.
"""

import argparse
import os

import torch
import torch.distributed as dist

import bluefog.torch as bf
from timing import SIZES, median_time, print_table

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=29517)
    parser.add_argument("--max-bytes", type=int, default=64 << 20)
    parser.add_argument("--mpi-reference", default="",
                        help="file with 'bytes seconds' lines from mpi_allreduce_ref")
    args = parser.parse_args()

    bf.init()
    n, me = bf.size(), bf.rank()
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}",
                            rank=me, world_size=n)
    reference = {}
    if args.mpi_reference and os.path.exists(args.mpi_reference):
        with open(args.mpi_reference) as f:
            for line in f:
                b, s = line.split()
                reference[int(b)] = float(s)

    rows = []
    for nbytes in [s for s in SIZES if s <= args.max_bytes]:
        x = torch.ones(nbytes // 4)
        y = torch.empty_like(x)
        t_copy = median_time(lambda: y.copy_(x), nbytes, lambda: None)
        t_bf = median_time(lambda: bf.allreduce_(x, average=False, name="bench"), nbytes,
                           bf.barrier)
        t_bf_new = median_time(lambda: bf.allreduce(x, name="bench"), nbytes, bf.barrier)
        t_gloo = median_time(lambda: dist.all_reduce(x), nbytes, dist.barrier)
        rows.append((nbytes, t_copy, t_bf, t_bf_new, t_gloo, reference.get(nbytes)))

    if me == 0:
        print_table(f"allreduce, {n} ranks, float32 (median)",
                    ["memcpy", "bluefog allreduce_ (in place)", "bluefog allreduce (new output)",
                     "gloo all_reduce", "raw MPI_Allreduce (C)"],
                    [(nbytes, list(times)) for nbytes, *times in rows])
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
