"""Asynchronous push-sum average consensus over one-sided windows.

    bfrun -np 4 python examples/push_sum_consensus.py [--size D] [--iters N]
        [--max-sleep-ms MS] [--slow-factor F] [--seed S] [--topology expo2|ring]
        [--report-every K]

Each rank r holds a vector x_r (float64, random, seeded by --seed and r) in a
window created with zero_init=True, and the push-sum weight p_r = 1 carried
with it (turn_on_win_ops_with_associated_p). With d_r out-neighbours and the
share s_r = 1 / (d_r + 1), one iteration of rank r is

    win_accumulate:          buffer_r at each out-neighbour j += s_r * (x_r, p_r)
                             (x_r, p_r) *= s_r
    win_update_then_collect: (x_r, p_r) += sum over in-neighbours i of buffer_i,
                             and those buffers go back to zero
    estimate:                x_r / p_r

Mass is conserved: the sum over ranks of x (and of p) plus what sits in the
buffers always equals the initial sum of x (and size), so every x_r / p_r
tends to the exact average of the initial vectors.

The ranks are not in lockstep: there is no barrier in the loop, each rank
sleeps a random 0..--max-sleep-ms after every iteration, and the last rank
--slow-factor times as long. Every rank makes at least --iters iterations and
keeps going until all have (a nonblocking allreduce started by each rank after
its --iters-th iteration tells when), so the fast ranks make more. Then all
stop sending, meet at a barrier (every accumulate has landed by then: they
block until applied), collect once more and meet again.

The topology is the default exponential-2 graph (``--topology expo2``, rank i
sends to i + 1, i + 2, i + 4, ...) or a directed ring (``--topology ring``,
i sends to i + 1 only).

Rank 0 prints ``PUSHSUM step K time T rank0_error E`` every --report-every of
its iterations (its own estimate against the exact average, which is
computed with an allreduce before the loop), and at the end

    PUSHSUM final max_error E sum_p P sum_x_rel_error R iterations [i0, i1, ...]

where E is the largest |x_r / p_r - average| over ranks and entries, P the sum
of p over ranks (size, up to rounding), R = max |sum_r x_r - sum_r x0_r| /
max |sum_r x0_r|, and i_r the number of iterations of rank r.
"""

import argparse
import random
import time

import torch

import bluefog.torch as bf
from bluefog.common import topology_util as tu

WINDOW = "pushsum.x"
TOPOLOGIES = {
    "expo2": tu.ExponentialTwoGraph,
    "ring": lambda n: tu.RingGraph(n, connect_style=2),  # directed: i -> i + 1
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, help="length of each rank's vector")
    parser.add_argument("--iters", type=int, default=100,
                        help="iterations every rank makes at least (fast ranks make more)")
    parser.add_argument("--max-sleep-ms", type=float, default=2.0,
                        help="each iteration sleeps uniform(0, this) ms ...")
    parser.add_argument("--slow-factor", type=float, default=5.0,
                        help="... times this on the last rank")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--topology", choices=sorted(TOPOLOGIES), default="expo2")
    parser.add_argument("--report-every", type=int, default=20,
                        help="rank 0 prints its error every this many iterations (0: never)")
    args = parser.parse_args()
    if args.iters < 1 or args.size < 1:
        parser.error("--iters and --size must be at least 1")
    if args.max_sleep_ms < 0 or args.slow_factor < 0:
        parser.error("--max-sleep-ms and --slow-factor must not be negative")
    return args


def main():
    args = parse_args()
    bf.init(TOPOLOGIES[args.topology])
    n, me = bf.size(), bf.rank()

    x = torch.randn(args.size, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(args.seed * 10007 + me))
    initial_sum = bf.allreduce(x, average=False, name="pushsum.initial")
    average = initial_sum / n

    bf.turn_on_win_ops_with_associated_p()
    bf.win_create(x, WINDOW, zero_init=True)  # x is the window tensor from now on
    out_ranks = bf.out_neighbor_ranks()
    share = 1.0 / (len(out_ranks) + 1)
    pause = random.Random(args.seed * 10007 + me)
    max_sleep = args.max_sleep_ms / 1000 * (args.slow_factor if me == n - 1 and n > 1 else 1)

    start = time.perf_counter()
    iterations, everyone_done = 0, None
    while everyone_done is None or not bf.poll(everyone_done):
        bf.win_accumulate(x, WINDOW, self_weight=share,
                          dst_weights={r: share for r in out_ranks})
        bf.win_update_then_collect(WINDOW)
        iterations += 1
        if me == 0 and args.report_every and iterations % args.report_every == 0:
            error = (x / bf.win_associated_p(WINDOW) - average).abs().max().item()
            print(f"PUSHSUM step {iterations} time {time.perf_counter() - start:.3f} "
                  f"rank0_error {error:.3e}", flush=True)
        if iterations == args.iters:  # completes once every rank has got this far
            everyone_done = bf.allreduce_nonblocking(torch.ones(1), name="pushsum.done")
        time.sleep(pause.uniform(0, max_sleep))
    bf.synchronize(everyone_done)

    bf.barrier()  # nobody sends any more, and every accumulate has been applied
    bf.win_update_then_collect(WINDOW)
    bf.barrier()
    elapsed = time.perf_counter() - start

    p = bf.win_associated_p(WINDOW)
    error = (x / p - average).abs().max().reshape(1)
    errors = bf.allgather(error, name="pushsum.errors")
    sum_p = bf.allreduce(torch.tensor([p], dtype=torch.float64), average=False,
                         name="pushsum.p").item()
    sum_x = bf.allreduce(x, average=False, name="pushsum.x")
    rel = ((sum_x - initial_sum).abs().max() / initial_sum.abs().max()).item()
    counts = bf.allgather(torch.tensor([iterations]), name="pushsum.iterations").tolist()
    bf.win_free(WINDOW)
    bf.turn_off_win_ops_with_associated_p()

    if me == 0:
        print(f"PUSHSUM final max_error {errors.max().item():.3e} sum_p {sum_p!r} "
              f"sum_x_rel_error {rel:.3e} iterations {counts}", flush=True)
        print(f"{n} ranks, topology {args.topology}, {elapsed:.2f} s", flush=True)


if __name__ == "__main__":
    main()
