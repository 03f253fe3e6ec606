"""Basics of bluefog.torch: world queries, capabilities, init, suspend/resume.

Runs in every rank of the job (see conftest.py); bf.init() was already called.
"""

import os
import time

import pytest
import torch

import bluefog.torch as bf


def _env_int(*names):
    for name in names:
        value = os.environ.get(name)
        if value is not None:
            return int(value)
    return None


def test_size_and_rank_match_launcher_environment():
    size = _env_int("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")
    rank = _env_int("OMPI_COMM_WORLD_RANK", "PMI_RANK")
    if size is None:
        # A plain `python` run is a job of size 1.
        size, rank = 1, 0
    assert isinstance(bf.size(), int) and isinstance(bf.rank(), int)
    assert bf.size() == size
    assert bf.rank() == rank
    assert 0 <= bf.rank() < bf.size()


def test_ranks_are_distinct_and_cover_the_world():
    ranks = bf.allgather(torch.tensor([bf.rank()], dtype=torch.int64), name="basics.ranks")
    assert ranks.tolist() == list(range(bf.size()))
    sizes = bf.allgather(torch.tensor([bf.size()], dtype=torch.int64), name="basics.sizes")
    assert sizes.tolist() == [bf.size()] * bf.size()


def test_local_size_and_rank():
    assert isinstance(bf.local_size(), int) and isinstance(bf.local_rank(), int)
    assert 1 <= bf.local_size() <= bf.size()
    assert 0 <= bf.local_rank() < bf.local_size()
    if "BLUEFOG_NODES_PER_MACHINE" not in os.environ:
        # Every rank of these test jobs runs on this one machine.
        assert bf.local_size() == bf.size()
        assert bf.local_rank() == bf.rank()
        env_local_size = _env_int("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS")
        if env_local_size is not None:
            assert bf.local_size() == env_local_size
        env_local_rank = _env_int("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID")
        if env_local_rank is not None:
            assert bf.local_rank() == env_local_rank


def test_machine_size_and_rank():
    assert bf.machine_size() == bf.size() // bf.local_size()
    assert bf.machine_rank() == bf.rank() // bf.local_size()
    assert 0 <= bf.machine_rank() < bf.machine_size()
    if "BLUEFOG_NODES_PER_MACHINE" not in os.environ:
        assert bf.machine_size() == 1
        assert bf.machine_rank() == 0


def test_is_homogeneous():
    assert bf.is_homogeneous() is True


def test_capability_queries_return_bools():
    for query in (bf.mpi_threads_supported, bf.nccl_built,
                  bf.unified_mpi_window_model_supported):
        assert isinstance(query(), bool), query.__name__
    assert bf.nccl_built() is False
    # Debian's Open MPI and MPICH are both built with MPI_THREAD_MULTIPLE.
    assert bf.mpi_threads_supported() is True


def test_is_initialized():
    assert bf.is_initialized() is True


def test_init_again_is_harmless():
    before = (bf.size(), bf.rank(), bf.local_size(), bf.local_rank())
    bf.init()
    bf.init()
    assert bf.is_initialized()
    assert (bf.size(), bf.rank(), bf.local_size(), bf.local_rank()) == before
    # The runtime still communicates after the repeated init.
    out = bf.allreduce(torch.tensor([float(bf.rank() + 1)]), average=False,
                       name="basics.init_again")
    assert out.item() == bf.size() * (bf.size() + 1) / 2


@pytest.mark.parametrize("value", [True, False, True, False])
def test_skip_negotiate_stage_round_trip(value):
    bf.set_skip_negotiate_stage(value)
    assert bf.get_skip_negotiate_stage() is value
    # Harmless: collectives keep working whatever the setting.
    out = bf.allreduce(torch.tensor([1.0, 2.0]), average=True,
                       name=f"basics.skip_negotiate.{value}")
    assert out.tolist() == [1.0, 2.0]


def test_skip_negotiate_stage_default_restored():
    bf.set_skip_negotiate_stage(False)
    assert bf.get_skip_negotiate_stage() is False


def test_suspend_then_resume():
    bf.barrier()
    bf.suspend()
    try:
        tensor = torch.full((5,), float(bf.rank() + 1))
        handle = bf.allreduce_nonblocking(tensor, average=False, name="basics.suspended")
        time.sleep(0.3)
        finished_while_suspended = bf.poll(handle)
    finally:
        bf.resume()
    out = bf.synchronize(handle)
    assert finished_while_suspended is False
    expected = float(bf.size() * (bf.size() + 1) // 2)
    assert torch.equal(out, torch.full((5,), expected))
    assert torch.equal(tensor, torch.full((5,), float(bf.rank() + 1)))


def test_suspend_resume_twice_and_ops_after():
    for i in range(2):
        bf.suspend()
        bf.resume()
    out = bf.allreduce(torch.tensor([float(bf.rank())]), average=False,
                       name="basics.after_suspend")
    assert out.item() == bf.size() * (bf.size() - 1) / 2
