"""neighbor_allreduce latency and bandwidth: the static exponential-2 graph
and the dynamic one-peer exponential-2 schedule, beside allreduce, gloo
all_reduce and a single-process memory copy, all in one run.

    bfrun -np 4 python bench/neighbor_allreduce_bench.py   (bench/run_neighbor.sh runs 2 and 4)
"""

import argparse
import math

import torch
import torch.distributed as dist

import bluefog.torch as bf
from timing import SIZES, median_time, print_table


def one_peer_schedule(n, me):
    """(send, recv) of the dynamic exponential-2 schedule, step after step."""
    rounds = max(1, int(math.log2(n))) if n > 1 else 1
    step = 0
    while True:
        distance = 2 ** (step % rounds)
        yield (me + distance) % n, (me - distance) % n
        step += 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=29519)
    parser.add_argument("--max-bytes", type=int, default=64 << 20)
    args = parser.parse_args()

    bf.init()
    n, me = bf.size(), bf.rank()
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}",
                            rank=me, world_size=n)
    schedule = one_peer_schedule(n, me)

    def dynamic(x):
        send, recv = next(schedule)
        if n == 1:
            return bf.neighbor_allreduce(x, name="bench_dyn")
        return bf.neighbor_allreduce(x, self_weight=0.5, src_weights={recv: 0.5},
                                     dst_weights=[send], enable_topo_check=False,
                                     name="bench_dyn")

    rows = []
    for nbytes in [s for s in SIZES if s <= args.max_bytes]:
        x = torch.ones(nbytes // 4)
        y = torch.empty_like(x)
        rows.append((nbytes, [
            median_time(lambda: y.copy_(x), nbytes, lambda: None),
            median_time(lambda: bf.neighbor_allreduce(x, name="bench_static"), nbytes, bf.barrier),
            median_time(lambda: dynamic(x), nbytes, bf.barrier),
            median_time(lambda: bf.allreduce(x, name="bench_ar"), nbytes, bf.barrier),
            median_time(lambda: dist.all_reduce(x), nbytes, dist.barrier),
        ]))
    if me == 0:
        print_table(f"neighbor_allreduce, {n} ranks, float32 (median)",
                    ["memcpy", "neighbor_allreduce static exp-2", "neighbor_allreduce one-peer dynamic",
                     "bluefog allreduce", "gloo all_reduce"], rows)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
