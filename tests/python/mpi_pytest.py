"""Runs pytest in every rank of an MPI job.

Rank 0 prints to the terminal; the other ranks write to LOG_DIR/rank<N>.log,
printed at the end when that rank failed. Exits non-zero if any rank failed
(bfrun/mpirun then return non-zero).

    bfrun -np 4 python tests/python/mpi_pytest.py --log-dir DIR -- PYTEST_ARGS...
"""

import argparse
import os
import sys

import pytest


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    pytest_args = [a for a in args.pytest_args if a != "--"]
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", "0")))
    os.makedirs(args.log_dir, exist_ok=True)
    log_path = os.path.join(args.log_dir, f"rank{rank}.log")
    if rank != 0:
        log = open(log_path, "w")
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        # Line-buffered, so a rank killed when another fails still left its log.
        sys.stdout.reconfigure(line_buffering=True)
    code = pytest.main(["-p", "no:cacheprovider", *pytest_args])
    sys.stdout.flush()
    sys.stderr.flush()
    if rank != 0 and code != 0:
        with open(log_path) as log:
            sys.__stderr__.write(f"---- rank {rank} failed; its log:\n{log.read()}\n")
    sys.exit(int(code))


if __name__ == "__main__":
    main()
