"""One-sided window ops: latency and bandwidth of win_put and win_accumulate
to every out-neighbour of the default exponential-2 graph, measured beside
neighbor_allreduce of the same tensor and a single-process memory copy, all
in the same run.

    bfrun -np 4 python bench/window_bench.py        (bench/run_window.sh runs 2 and 4)
    bfrun -np 2 python bench/window_bench.py --sizes 1024 65536 --reps 3

Columns (each cell: median / p90 latency per op, GB/s at the median):
- memcpy: y.copy_(x) in one process, the machine's reference.
- neighbor_allreduce: bf.neighbor_allreduce(x, name=...), the baseline.
- win_put, win_accumulate: blocking; an op returns once the tensor has been
  applied at every out-neighbour (one-way transfer plus an acknowledgement).
- "xD pipelined": D nonblocking ops in flight, then win_wait on all of them;
  the time shown is the total divided by D.
GB/s = bytes sent per rank per op / time: tensor bytes times the number of
out-neighbours for the communication ops, tensor bytes for memcpy.
Every timed repetition starts after a barrier. Windows are created once per
size (win_create is collective) and freed after it.
"""

import argparse
import statistics
import time

import torch

import bluefog.torch as bf
from timing import SIZES, repetitions, size_label

WINDOW = "bench_window"


def sample(fn, reps, barrier, per_call=1):
    """(median, p90) seconds per op of fn() over reps calls, each after
    barrier(); fn() performs per_call ops."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(reps):
        barrier()
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) / per_call)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.9 * len(times)))]


def pipelined(start_op, x, depth):
    def run():
        for handle in [start_op(x, WINDOW) for _ in range(depth)]:
            bf.win_wait(handle)
    return run


def fmt_time(seconds):
    return f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def cell(median, p90, sent_bytes):
    return f"{fmt_time(median)} / {fmt_time(p90)} ({sent_bytes / median / 1e9:.3g} GB/s)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES,
                        help="tensor sizes in bytes (multiples of 4)")
    parser.add_argument("--max-bytes", type=int, default=64 << 20)
    parser.add_argument("--reps", type=int, default=0,
                        help="repetitions per size (default: timing.repetitions)")
    parser.add_argument("--depth", type=int, default=4, help="ops in flight when pipelined")
    args = parser.parse_args()

    bf.init()
    n = bf.size()
    fanout = len(bf.out_neighbor_ranks())
    columns = ["memcpy", "neighbor_allreduce", "win_put", "win_accumulate",
               f"win_put x{args.depth} pipelined", f"win_accumulate x{args.depth} pipelined"]
    rows = []
    for nbytes in [s for s in args.sizes if s <= args.max_bytes]:
        reps = args.reps or repetitions(nbytes)
        x = torch.ones(nbytes // 4)
        y = torch.empty_like(x)
        bf.win_create(torch.zeros_like(x), WINDOW)
        results = [
            sample(lambda: y.copy_(x), reps, lambda: None),
            sample(lambda: bf.neighbor_allreduce(x, name="bench_nar"), reps, bf.barrier),
            sample(lambda: bf.win_put(x, WINDOW), reps, bf.barrier),
            sample(lambda: bf.win_accumulate(x, WINDOW), reps, bf.barrier),
            sample(pipelined(bf.win_put_nonblocking, x, args.depth), reps, bf.barrier,
                   args.depth),
            sample(pipelined(bf.win_accumulate_nonblocking, x, args.depth), reps, bf.barrier,
                   args.depth),
        ]
        bf.win_free(WINDOW)
        sent = [nbytes] + [nbytes * fanout] * (len(columns) - 1)
        rows.append((nbytes, [cell(m, p, b) for (m, p), b in zip(results, sent)]))

    if bf.rank() == 0:
        print(f"\n### window ops, {n} ranks, {fanout} out-neighbour(s), float32 "
              f"(median / p90 per op)\n")
        print("| size | " + " | ".join(columns) + " |")
        print("|---:|" + "---:|" * len(columns))
        for nbytes, cells in rows:
            print(f"| {size_label(nbytes)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
