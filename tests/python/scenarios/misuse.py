"""Misuse that used to give wrong results or hang (issue 15), one case per
run: `misuse.py CASE`. Each rank reports 'RESULT <rank> <values>' or
'ERROR <rank> <type>: <message>', then 'END <rank> <seconds since init>'."""

import os
import signal
import sys
import threading
import time

import torch

import bluefog.torch as bf
from report import report

bf.init()
me = bf.rank()
case = sys.argv[1]
began = time.monotonic()


def skipped_call(name):
    # Rank 0 calls the op once more than rank 1, so that their instances pair
    # different steps: rank 1's first call must not take rank 0's first send.
    first = torch.full((3,), 50.0)
    if me == 0:
        bf.neighbor_allreduce(first, self_weight=1.0, src_weights={}, dst_weights=[1],
                              enable_topo_check=False, name=name)
    mine = torch.full((3,), 2.0 if me == 0 else 1.0)
    return bf.neighbor_allreduce(mine, self_weight=0.5, src_weights={1 - me: 0.5},
                                 dst_weights=[1 - me], enable_topo_check=False, name=name)


def run():
    x = torch.full((4,), float(me))
    if case == "skipped_named":
        return skipped_call("step")
    if case == "skipped_unnamed":
        return skipped_call(None)
    if case == "hierarchical_local_differs":
        return bf.allreduce(x, is_hierarchical_local=(me == 0))
    if case == "shutdown_while_peer_waits":
        if me == 0:
            bf.shutdown()
            return torch.zeros(1)
        return bf.allreduce(x, name="needs_rank_0")
    if case == "barrier_against_allreduce":
        return bf.barrier() if me == 0 else bf.allreduce(x)
    if case == "win_create_on_one_rank":
        if me == 0:
            bf.win_create(x, name="lonely")
        return bf.barrier()
    if case == "unnamed_in_different_orders":
        if me == 0:
            bf.allreduce(x)
            return bf.broadcast(x, root_rank=0)
        bf.broadcast(x, root_rank=0)
        return bf.allreduce(x)
    if case == "receive_without_sender":
        if me == 0:
            bf.barrier()  # posted, but nobody sends to rank 1
            return torch.zeros(1)
        return bf.neighbor_allreduce(x, self_weight=0.5, src_weights={0: 0.5}, dst_weights=[],
                                     enable_topo_check=False)
    if case == "shutdown_after_interrupted_wait":
        if me == 0:
            threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
            try:
                bf.allreduce(x, name="never_posted_elsewhere")
            except KeyboardInterrupt:
                report(f"INTERRUPTED {me}")
            started = time.monotonic()
            bf.shutdown()
            report(f"SHUTDOWN {me} took {time.monotonic() - started:.2f}")
            return torch.zeros(1)
        time.sleep(3)  # busy outside bluefog; its engine still answers
        return torch.zeros(1)
    if case == "op_in_forked_child":
        child = os.fork()
        if child == 0:
            try:
                bf.allreduce(x)
                report(f"CHILD {me} no error")
            except Exception as e:  # pylint: disable=broad-except
                report(f"CHILD {me} {type(e).__name__}: {e}")
            sys.exit(0)  # with exit handlers, which call shutdown()
        _, status = os.waitpid(child, 0)
        report(f"CHILD-EXIT {me} {status} after {time.monotonic() - began:.2f}")
        return bf.allreduce(x)  # the parent still works
    if case == "blocking_op_while_suspended":
        bf.suspend()
        try:
            bf.allreduce(x, name="queued")
        except RuntimeError as e:
            report(f"SUSPENDED {me} {e}")
        bf.resume()
        return bf.allreduce(x, name="after")
    raise ValueError(f"unknown case {case}")


try:
    result = run()
    report(f"RESULT {me} {[round(v, 6) for v in result.flatten().tolist()]}")
except Exception as e:  # pylint: disable=broad-except
    report(f"ERROR {me} {type(e).__name__}: {e}")
report(f"END {me} {time.monotonic() - began:.2f}")
