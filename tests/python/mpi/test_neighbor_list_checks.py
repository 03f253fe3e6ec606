"""The words of the neighbour-list checks, which the core owns
(bluefog/core/neighbor_checks.h) and the Python ops call before anything
collective: with enable_topo_check every rank makes the same mistake, every
rank raises at once, and the runtime keeps working."""

import pytest
import torch

import bluefog.torch as bf

N, ME = bf.size(), bf.rank()
NXT = (ME + 1) % N
needs_two = pytest.mark.skipif(N < 2, reason="needs at least 2 ranks")


def gather_error(src_ranks, dst_ranks, name):
    with pytest.raises(ValueError) as info:
        bf.neighbor_allgather(torch.ones(2), src_ranks=src_ranks, dst_ranks=dst_ranks,
                              enable_topo_check=True, name=name)
    bf.barrier()  # nobody is left waiting in the topology check
    return str(info.value)


def test_neighbor_allgather_refuses_this_rank():
    assert gather_error([ME], [], "nlc.self") == \
        f"neighbor_allgather: src_ranks names this rank ({ME}); a rank is not its own neighbour"


@needs_two
def test_neighbor_allgather_refuses_repeats():
    assert gather_error([], [NXT, NXT], "nlc.twice") == \
        f"neighbor_allgather: dst_ranks names rank {NXT} twice"


def test_neighbor_allgather_refuses_ranks_out_of_range():
    assert gather_error([N], [], "nlc.range") == \
        f"neighbor_allgather: src_ranks names rank {N}, out of range for {N} ranks"
    assert gather_error([2 ** 40], [], "nlc.huge") == \
        f"neighbor_allgather: src_ranks names rank {2 ** 40}, out of range (not a 32-bit integer)"


def test_neighbor_allreduce_weights_out_of_range():
    with pytest.raises(ValueError) as info:
        bf.neighbor_allreduce(torch.ones(2), self_weight=0.5, src_weights={N: 0.5},
                              dst_weights=[], name="nlc.allreduce.range")
    assert str(info.value) == \
        f"neighbor_allreduce: src_weights names rank {N}, out of range for {N} ranks"


@pytest.mark.skipif(bf.local_size() < 2, reason="needs local_size() > 1")
def test_hierarchical_machine_weights_speak_of_machines():
    machines = bf.machine_size()
    with pytest.raises(ValueError) as info:
        bf.hierarchical_neighbor_allreduce(torch.ones(2), self_weight=0.5,
                                           src_machine_weights={machines: 0.5},
                                           name="nlc.hier.range")
    assert str(info.value) == (f"hierarchical_neighbor_allreduce: src_machine_weights names "
                               f"machine {machines}, out of range for {machines} machines")


def test_pair_gossip_target_is_checked_by_the_native_op():
    with pytest.raises(ValueError) as info:
        bf.pair_gossip(torch.ones(2), N, name="nlc.gossip.range")
    assert str(info.value) == f"pair_gossip: target_rank {N} is out of range for {N} ranks"
    with pytest.raises(ValueError) as info:
        bf.pair_gossip(torch.ones(2), ME, name="nlc.gossip.self")
    assert str(info.value) == (f"pair_gossip: target_rank is this rank ({ME}); pair_gossip "
                               "exchanges with another rank")
    with pytest.raises(ValueError) as info:
        bf.pair_gossip(torch.ones(2), -2 ** 40, name="nlc.gossip.huge")
    assert str(info.value) == \
        f"pair_gossip: target_rank {-2 ** 40} is out of range (not a 32-bit integer)"


@needs_two
def test_topo_check_names_both_sides():
    """Every rank sends to the next one but receives from nobody."""
    with pytest.raises(ValueError) as info:
        bf.neighbor_allreduce(torch.ones(2), self_weight=1.0, src_weights={},
                              dst_weights=[NXT], enable_topo_check=True, name="nlc.topo")
    assert f"rank {ME} sends to rank {NXT}, which does not receive from it" in str(info.value)
    bf.barrier()
