"""Runtime and collective operations of ``bluefog.torch``.

All communication runs in the native engine; these functions check Python
arguments, pick defaults and translate handles. Nonblocking calls return an
integer handle for ``poll``/``synchronize``/``wait``.
"""

from bluefog import _bluefog
from bluefog.torch import arguments, autograd

_skip_negotiate_stage = False


def _native_query(name, doc):
    """The function of no arguments that returns ``_bluefog.<name>()``."""
    def query():
        return getattr(_bluefog, name)()
    query.__name__ = query.__qualname__ = name
    query.__doc__ = doc
    return query


size = _native_query("size", "Number of ranks in the job.")
rank = _native_query("rank", "This process's rank, from 0 to size() - 1.")
local_size = _native_query("local_size", "Number of ranks on this machine.")
local_rank = _native_query("local_rank", "This process's rank among the ranks on its machine.")
machine_size = _native_query("machine_size", "Number of machines: size() // local_size().")
machine_rank = _native_query("machine_rank", "This machine's index: rank() // local_size().")
is_homogeneous = _native_query("is_homogeneous",
                               "Whether every machine runs the same number of ranks.")
mpi_threads_supported = _native_query("mpi_threads_supported",
                                      "Whether MPI provides MPI_THREAD_MULTIPLE.")
unified_mpi_window_model_supported = _native_query(
    "unified_mpi_window_model_supported",
    "Whether MPI's one-sided windows use the unified memory model.")
suspend = _native_query("suspend",
                        "Pause the engine: queued ops wait until resume(). Call on every rank.")
resume = _native_query("resume", "Resume an engine paused by suspend().")
message_counts = _native_query(
    "message_counts",
    "(per peer rank: messages received from it, MPI messages received), both since init "
    "and from one snapshot; a fused frame is one MPI message. Diagnostics, for tests and "
    "benchmarks.")


def nccl_built():
    """Whether the NCCL (GPU) backend was built. Not in this version."""
    return False


def set_skip_negotiate_stage(value):
    """Accepted for BlueFog 0.3 compatibility: this engine never negotiates
    through a coordinator, so there is no stage to skip."""
    global _skip_negotiate_stage
    _skip_negotiate_stage = bool(value)


def get_skip_negotiate_stage():
    return _skip_negotiate_stage


def allreduce_nonblocking(tensor, average=True, is_hierarchical_local=False, name=None):
    """Start an allreduce; the input is not modified. Returns a handle.
    Differentiable (at synchronize) when ``tensor`` requires grad."""
    arguments.check_tensor(tensor, "allreduce")
    name = arguments.op_name(name, "allreduce")
    average, is_hierarchical_local = bool(average), bool(is_hierarchical_local)
    handle = _bluefog.allreduce_nonblocking(tensor, None, average, is_hierarchical_local, name)
    if autograd.tracks(tensor):
        autograd.track(handle, autograd.Allreduce, tensor, None, average,
                       is_hierarchical_local, name)
    return handle


def allreduce(tensor, average=True, is_hierarchical_local=False, name=None):
    """Sum of ``tensor`` over all ranks (over this machine's ranks with
    ``is_hierarchical_local``), divided by their number when ``average``.
    Differentiable: backward allreduces the gradient the same way."""
    return synchronize(allreduce_nonblocking(tensor, average, is_hierarchical_local, name))


def _in_place(tensor, op, start, function, *args):
    """Starts an in-place op: `start(output)` with output the tensor itself,
    or, for a non-leaf that autograd tracks, out of place (None) with the
    result copied in at synchronize."""
    autograd.check_in_place(tensor, op)
    if not autograd.tracks(tensor):
        return start(tensor)
    return autograd.track(start(None), function, tensor, tensor, *args)


def allreduce_nonblocking_(tensor, average=True, is_hierarchical_local=False, name=None):
    """In-place allreduce_nonblocking: ``tensor`` receives the result."""
    op = "allreduce_"
    arguments.check_tensor(tensor, op)
    name = arguments.op_name(name, op)
    average, is_hierarchical_local = bool(average), bool(is_hierarchical_local)
    return _in_place(tensor, op, lambda output: _bluefog.allreduce_nonblocking(
        tensor, output, average, is_hierarchical_local, name),
        autograd.Allreduce, average, is_hierarchical_local, name)


def allreduce_(tensor, average=True, is_hierarchical_local=False, name=None):
    """In-place allreduce."""
    return synchronize(allreduce_nonblocking_(tensor, average, is_hierarchical_local, name))


def _root(root_rank, op):
    return arguments.rank(root_rank, op, "root_rank", _bluefog.size())


def broadcast_nonblocking(tensor, root_rank, name=None):
    """Start a broadcast of ``root_rank``'s tensor. Returns a handle."""
    arguments.check_tensor(tensor, "broadcast")
    root_rank = _root(root_rank, "broadcast")
    name = arguments.op_name(name, "broadcast")
    handle = _bluefog.broadcast_nonblocking(tensor, None, root_rank, name)
    if autograd.tracks(tensor):
        autograd.track(handle, autograd.Broadcast, tensor, None, root_rank, name)
    return handle


def broadcast(tensor, root_rank, name=None):
    """``root_rank``'s ``tensor`` on every rank (a new tensor). Differentiable:
    root's gradient is the sum of every rank's, the others' zero."""
    return synchronize(broadcast_nonblocking(tensor, root_rank, name))


def broadcast_nonblocking_(tensor, root_rank, name=None):
    """In-place broadcast_nonblocking."""
    op = "broadcast_"
    arguments.check_tensor(tensor, op)
    root_rank = _root(root_rank, op)
    name = arguments.op_name(name, op)
    return _in_place(tensor, op, lambda output: _bluefog.broadcast_nonblocking(
        tensor, output, root_rank, name), autograd.Broadcast, root_rank, name)


def broadcast_(tensor, root_rank, name=None):
    """In-place broadcast: ``tensor`` is overwritten with root's."""
    return synchronize(broadcast_nonblocking_(tensor, root_rank, name))


def allgather_nonblocking(tensor, name=None):
    """Start an allgather. Returns a handle."""
    arguments.check_tensor(tensor, "allgather")
    name = arguments.op_name(name, "allgather")
    handle = _bluefog.allgather_nonblocking(tensor, name)
    if autograd.tracks(tensor):
        autograd.track(handle, autograd.Allgather, tensor, None, name)
    return handle


def allgather(tensor, name=None):
    """Concatenation of every rank's tensor along dim 0, in rank order.
    Dim 0 may differ between ranks; the other dimensions must agree.
    Differentiable: each input gets the sum over ranks of its rows' gradient."""
    return synchronize(allgather_nonblocking(tensor, name))


def barrier():
    """Return once every rank has entered the barrier."""
    synchronize(_bluefog.barrier_nonblocking())


def poll(handle):
    """True if the op behind ``handle`` has finished (never blocks)."""
    return _bluefog.poll(arguments.handle(handle, "poll"))


def synchronize(handle, _op="synchronize"):
    """Wait for the op behind ``handle`` and return its result; raises the
    op's error. The GIL is released while waiting; Ctrl-C interrupts."""
    return autograd.result(arguments.handle(handle, _op))


def wait(handle):
    """Alias of synchronize."""
    return synchronize(handle, "wait")
