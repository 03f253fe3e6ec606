"""BlueFog for PyTorch: ``import bluefog.torch as bf``."""

from bluefog.torch.mpi_ops import (  # noqa: F401
    init, shutdown, is_initialized,
    size, rank, local_size, local_rank, machine_size, machine_rank,
    is_homogeneous, mpi_threads_supported, nccl_built,
    unified_mpi_window_model_supported,
    suspend, resume, set_skip_negotiate_stage, get_skip_negotiate_stage,
    allreduce, allreduce_nonblocking, allreduce_, allreduce_nonblocking_,
    broadcast, broadcast_nonblocking, broadcast_, broadcast_nonblocking_,
    allgather, allgather_nonblocking,
    barrier, poll, synchronize, wait,
)
