"""``bfrun``: launch a bluefog job with ``mpirun``.

``bfrun`` is a thin wrapper: it turns its own small set of options into an
``mpirun`` command line, forwards the caller's environment to every rank,
runs ``mpirun`` and returns the job's exit status. Example::

    bfrun -np 4 python train.py --epochs 3

The parts: :mod:`bluefog.run.options` (the command line and its checks),
:mod:`bluefog.run.mpirun_command` (Open MPI's or MPICH's command line, and
the environment the ranks get) and :mod:`bluefog.run.launch` (running it).
"""

import os
import shlex
import sys

from bluefog.run.launch import run_forwarding_signals
from bluefog.run.mpirun_command import (MpirunNotFoundError, UnsupportedOptionError,
                                        build_command)
from bluefog.run.options import parse_args

__all__ = ["main", "parse_args", "build_command", "MpirunNotFoundError",
           "UnsupportedOptionError"]


def main(argv=None):
    """Entry point of the ``bfrun`` command; returns the exit code."""
    try:
        args = parse_args(argv)
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        sys.stderr.write(f"{exc.code}\n")
        return 1

    try:
        cmd, env = build_command(args, os.environ)
    except MpirunNotFoundError as exc:
        sys.stderr.write(f"bfrun: error: {exc}\n")
        return 127
    except UnsupportedOptionError as exc:
        sys.stderr.write(f"bfrun: error: {exc}\n")
        return 2

    if args.verbose:
        sys.stderr.write(f"bfrun: {shlex.join(cmd)}\n")
        sys.stderr.flush()
    sys.stdout.flush()
    return run_forwarding_signals(cmd, env)


if __name__ == "__main__":
    sys.exit(main())
