"""The ``BLUEFOG_*`` environment variables: the one list of those this
project reads, those BlueFog 0.3 read that do nothing here, and the warnings
``bluefog.torch.init`` gives for the latter and for unknown names (likely
typos). Malformed values of the recognised ones are refused by the engine
itself at init."""

import difflib
import warnings

# Every BLUEFOG_* variable this project reads, and where.
RECOGNISED = {
    "BLUEFOG_LOG_LEVEL": "engine: trace, debug, info, warning, error or fatal",
    "BLUEFOG_LOG_HIDE_TIME": "engine: log lines without the time",
    "BLUEFOG_TIMELINE": "engine: prefix of the per-rank timeline files",
    "BLUEFOG_FUSION_THRESHOLD": "engine: tensor fusion limit in bytes",
    "BLUEFOG_CYCLE_TIME": "engine: longest sleep of a waiting engine, in ms (0 to 1000)",
    "BLUEFOG_NODES_PER_MACHINE": "engine: ranks per (emulated) machine; divides the job size, same on every rank",
    "BLUEFOG_MPI_THREAD_LEVEL": "engine: the MPI thread level to ask for",
    "BLUEFOG_STALL_WARNING_SECONDS": "engine: when a waiting op is reported, in s (above 0, up to 1e7)",
    "BLUEFOG_OP_TIMEOUT_SECONDS": "engine: when a waiting op fails, in s (0: never; up to 1e7)",
    "BLUEFOG_MAX_UNSYNCHRONIZED_HANDLES": ("package: finished handles kept for a synchronize "
                                           "that has not come; the oldest go beyond (1 to 2**30)"),
    "BLUEFOG_EXTENSION_DIR": "package: directory of another build of _bluefog",
    "BLUEFOG_MPIRUN": "bfrun: the launcher to run",
    "BLUEFOG_MPICH_EXTENSION_DIR": "test suite: the MPICH build's _bluefog",
    "BLUEFOG_TEST_REPORT_DIR": "test suite: where scenario ranks write what they report",
}

_GPU = "there is no GPU backend in this version; every op runs on the CPU over MPI"
_NCCL = "there is no NCCL backend in this version; every op runs over MPI"
_BUILD = ("BlueFog 0.3's setup.py read it when building; this project builds with "
          "CMake (see its -DBLUEFOG_* options)")

# Variables BlueFog 0.3 read that have no effect here, and why.
IGNORED_FROM_0_3 = {
    "BLUEFOG_OPS_ON_CPU": _GPU,
    "BLUEFOG_WIN_ON_GPU": _GPU,
    "BLUEFOG_WIN_ON_CPU": _GPU,
    "BLUEFOG_ALLREDUCE_BY_MPI": _NCCL,
    "BLUEFOG_BROADCAST_BY_MPI": _NCCL,
    "BLUEFOG_ALLGATHER_BY_MPI": _NCCL,
    "BLUEFOG_NEIGHBOR_ALLREDUCE_BY_MPI": _NCCL,
    "BLUEFOG_NEIGHBOR_ALLGATHER_BY_MPI": _NCCL,
    "BLUEFOG_WIN_OPS_BY_MPI": _NCCL,
    "BLUEFOG_NUM_FINALIZER_THREADS": _NCCL,
    "BLUEFOG_SLEEP_USEC_FOR_WIN_PASSIVE": _NCCL,
    "BLUEFOG_MAX_WIN_SENT_LENGTH": ("windows here are served by the engine's messages, not "
                                    "MPI one-sided calls, and have no length limit"),
    "BLUEFOG_MPICXX_SHOW": _BUILD,
    "BLUEFOG_CUDA_HOME": _BUILD,
    "BLUEFOG_CUDA_INCLUDE": _BUILD,
    "BLUEFOG_CUDA_LIB": _BUILD,
    "BLUEFOG_WITH_NCCL": _BUILD,
    "BLUEFOG_NCCL_HOME": _BUILD,
    "BLUEFOG_NCCL_INCLUDE": _BUILD,
    "BLUEFOG_NCCL_LIB": _BUILD,
}


class BluefogEnvironmentWarning(UserWarning):
    """A BLUEFOG_* variable that is set but does nothing in this version."""


def problems(environ):
    """{name: message} for the BLUEFOG_* variables of `environ` that do nothing."""
    found = {}
    for name in sorted(environ):
        if not name.startswith("BLUEFOG_") or name in RECOGNISED:
            continue
        if name in IGNORED_FROM_0_3:
            found[name] = (f"{name} is set, but it has no effect in this version of "
                           f"bluefog: {IGNORED_FROM_0_3[name]}")
            continue
        guess = difflib.get_close_matches(name, RECOGNISED, n=1, cutoff=0.8)
        hint = f"; did you mean {guess[0]}?" if guess else \
            f" (it reads {', '.join(sorted(RECOGNISED))})"
        found[name] = f"{name} is set, but bluefog reads no such variable{hint}"
    return found


_warned = set()


def warn_once(environ):
    """Warns (BluefogEnvironmentWarning) about each variable of `environ` that
    does nothing, once per process and name."""
    for name, message in problems(environ).items():
        if name not in _warned:
            _warned.add(name)
            warnings.warn(message, BluefogEnvironmentWarning, stacklevel=3)
