"""Runtime and collective operations of ``bluefog.torch``.

All communication runs in the native engine; these functions check Python
arguments, pick defaults and translate handles. Nonblocking calls return an
integer handle for ``poll``/``synchronize``/``wait``.
"""

import atexit
import os

import torch

from bluefog import _bluefog
from bluefog.common import environment
from bluefog.torch import failure

_skip_negotiate_stage = False
_atexit_registered = False


def init(topology_fn=None, is_weighted=False):
    """Start bluefog in this process and install the topology
    ``topology_fn(size())`` (default: ExponentialGraph). Calling it again only
    resets the topology. Collective. Warns once about BLUEFOG_* variables
    that do nothing here (BlueFog 0.3's, and unknown names)."""
    global _atexit_registered
    if topology_fn is not None and not callable(topology_fn):
        raise TypeError("init: topology_fn must be a callable size -> networkx.DiGraph")
    _bluefog.init()
    failure.install_excepthook()
    if _bluefog.local_rank() == 0:  # one warning per machine, not per rank
        environment.warn_once(os.environ)
    if not _atexit_registered:
        atexit.register(shutdown)
        _atexit_registered = True
    from bluefog.torch import topology
    graph = topology_fn(size()) if topology_fn is not None else None
    topology.set_topology(graph, is_weighted)
    if topology.load_machine_topology() is None:
        topology.set_machine_topology(None)


def shutdown():
    """Stop bluefog: pending ops finish (or fail) first. Idempotent."""
    _bluefog.shutdown()


def is_initialized():
    return _bluefog.is_initialized()


def size():
    """Number of ranks in the job."""
    return _bluefog.size()


def rank():
    """This process's rank, from 0 to size() - 1."""
    return _bluefog.rank()


def local_size():
    """Number of ranks on this machine."""
    return _bluefog.local_size()


def local_rank():
    """This process's rank among the ranks on its machine."""
    return _bluefog.local_rank()


def machine_size():
    """Number of machines: size() // local_size()."""
    return _bluefog.machine_size()


def machine_rank():
    """This machine's index: rank() // local_size()."""
    return _bluefog.machine_rank()


def is_homogeneous():
    """Whether every machine runs the same number of ranks."""
    return _bluefog.is_homogeneous()


def mpi_threads_supported():
    """Whether MPI provides MPI_THREAD_MULTIPLE."""
    return _bluefog.mpi_threads_supported()


def nccl_built():
    """Whether the NCCL (GPU) backend was built. Not in this version."""
    return False


def unified_mpi_window_model_supported():
    """Whether MPI's one-sided windows use the unified memory model."""
    return _bluefog.unified_mpi_window_model_supported()


def suspend():
    """Pause the engine: queued ops wait until resume(). Call on every rank."""
    _bluefog.suspend()


def resume():
    """Resume an engine paused by suspend()."""
    _bluefog.resume()


def set_skip_negotiate_stage(value):
    """Accepted for BlueFog 0.3 compatibility: this engine never negotiates
    through a coordinator, so there is no stage to skip."""
    global _skip_negotiate_stage
    _skip_negotiate_stage = bool(value)


def get_skip_negotiate_stage():
    return _skip_negotiate_stage


def _check_tensor(tensor, op):
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{op}: expected a torch.Tensor, got {type(tensor).__name__}")


def _name(name, op):
    if name is None:
        return ""
    if not isinstance(name, str):
        raise TypeError(f"{op}: name must be a str, got {type(name).__name__}")
    if not name:
        raise ValueError(f"{op}: name must not be empty (pass None for an automatic name)")
    return name


def _root(root_rank, op):
    if isinstance(root_rank, bool) or not isinstance(root_rank, int):
        raise TypeError(f"{op}: root_rank must be an int, got {type(root_rank).__name__}")
    return root_rank


def allreduce_nonblocking(tensor, average=True, is_hierarchical_local=False, name=None):
    """Start an allreduce; the input is not modified. Returns a handle."""
    _check_tensor(tensor, "allreduce")
    return _bluefog.allreduce_nonblocking(
        tensor, None, bool(average), bool(is_hierarchical_local), _name(name, "allreduce"))


def allreduce(tensor, average=True, is_hierarchical_local=False, name=None):
    """Sum of ``tensor`` over all ranks (over this machine's ranks with
    ``is_hierarchical_local``), divided by their number when ``average``."""
    return synchronize(allreduce_nonblocking(tensor, average, is_hierarchical_local, name))


def allreduce_nonblocking_(tensor, average=True, is_hierarchical_local=False, name=None):
    """In-place allreduce_nonblocking: ``tensor`` receives the result."""
    _check_tensor(tensor, "allreduce_")
    return _bluefog.allreduce_nonblocking(
        tensor, tensor, bool(average), bool(is_hierarchical_local), _name(name, "allreduce_"))


def allreduce_(tensor, average=True, is_hierarchical_local=False, name=None):
    """In-place allreduce."""
    return synchronize(allreduce_nonblocking_(tensor, average, is_hierarchical_local, name))


def broadcast_nonblocking(tensor, root_rank, name=None):
    """Start a broadcast of ``root_rank``'s tensor. Returns a handle."""
    _check_tensor(tensor, "broadcast")
    return _bluefog.broadcast_nonblocking(
        tensor, None, _root(root_rank, "broadcast"), _name(name, "broadcast"))


def broadcast(tensor, root_rank, name=None):
    """``root_rank``'s ``tensor`` on every rank (a new tensor)."""
    return synchronize(broadcast_nonblocking(tensor, root_rank, name))


def broadcast_nonblocking_(tensor, root_rank, name=None):
    """In-place broadcast_nonblocking."""
    _check_tensor(tensor, "broadcast_")
    return _bluefog.broadcast_nonblocking(
        tensor, tensor, _root(root_rank, "broadcast_"), _name(name, "broadcast_"))


def broadcast_(tensor, root_rank, name=None):
    """In-place broadcast: ``tensor`` is overwritten with root's."""
    return synchronize(broadcast_nonblocking_(tensor, root_rank, name))


def allgather_nonblocking(tensor, name=None):
    """Start an allgather. Returns a handle."""
    _check_tensor(tensor, "allgather")
    return _bluefog.allgather_nonblocking(tensor, _name(name, "allgather"))


def allgather(tensor, name=None):
    """Concatenation of every rank's tensor along dim 0, in rank order.
    Dim 0 may differ between ranks; the other dimensions must agree."""
    return synchronize(allgather_nonblocking(tensor, name))


def barrier():
    """Return once every rank has entered the barrier."""
    synchronize(_bluefog.barrier_nonblocking())


def poll(handle):
    """True if the op behind ``handle`` has finished (never blocks)."""
    return _bluefog.poll(handle)


def synchronize(handle):
    """Wait for the op behind ``handle`` and return its result; raises the
    op's error. The GIL is released while waiting; Ctrl-C interrupts."""
    return _bluefog.synchronize(handle)


def wait(handle):
    """Alias of synchronize."""
    return synchronize(handle)
