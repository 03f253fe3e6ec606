"""The core's checks of rank lists, which the Python ops call before anything
collective and the C++ op factories call again (bluefog/core/neighbor_checks.h),
and the one description of a send/receive pattern that disagrees with itself
(used by enable_topo_check and MixingAnalysis). No MPI needed."""

import pytest

from bluefog import _bluefog
from bluefog.common.topology_checks import check_rank, int_arg, send_recv_mismatches

core = _bluefog.topology


def message(call):
    with pytest.raises(ValueError) as info:
        call()
    return str(info.value)


def test_neighbour_lists_are_in_range_not_this_rank_and_without_repeats():
    core.check_neighbor_ranks("op", "src_ranks", [0, 2, 3], 1, 4)
    assert message(lambda: core.check_neighbor_ranks("op", "src_ranks", [0, 4], 1, 4)) == \
        "op: src_ranks names rank 4, out of range for 4 ranks"
    assert message(lambda: core.check_neighbor_ranks("op", "src_ranks", [-1], 1, 4)) == \
        "op: src_ranks names rank -1, out of range for 4 ranks"
    assert message(lambda: core.check_neighbor_ranks("op", "dst_ranks", [0, 1], 1, 4)) == \
        "op: dst_ranks names this rank (1); a rank is not its own neighbour"
    assert message(lambda: core.check_neighbor_ranks("op", "dst_ranks", [2, 0, 2], 1, 4)) == \
        "op: dst_ranks names rank 2 twice"


def test_the_unit_is_the_callers():
    assert message(lambda: core.check_neighbor_ranks(
        "hierarchical_neighbor_allreduce", "src_machine_weights", [0], 0, 2, "machine")) == \
        ("hierarchical_neighbor_allreduce: src_machine_weights names this machine (0); "
         "a machine is not its own neighbour")
    assert message(lambda: core.check_ranks_in_range("op", "ranks", [5], 2, "machine")) == \
        "op: ranks names machine 5, out of range for 2 machines"


def test_range_only_allows_this_rank_and_repeats():
    core.check_ranks_in_range("win_mutex", "ranks", [1, 1, 0], 2)
    assert message(lambda: core.check_ranks_in_range("win_mutex", "ranks", [2], 2)) == \
        "win_mutex: ranks names rank 2, out of range for 2 ranks"


def test_topology_ranks():
    assert check_rank("F", "self_rank", 3, 4) == 3
    assert message(lambda: check_rank("F", "self_rank", 4, 4)) == \
        "F: self_rank must be in [0, 4), got 4"
    with pytest.raises(TypeError, match="F: self_rank must be an integer, got 1.0"):
        check_rank("F", "self_rank", 1.0, 4)
    assert message(lambda: int_arg("F", "size", 2 ** 40)) == \
        f"F: size must be a 32-bit integer, got {2 ** 40}"


def test_send_recv_mismatches_name_both_sides():
    assert send_recv_mismatches([[1], [0]], [[1], [0]]) == []
    assert send_recv_mismatches([[1], []], [[], []]) == \
        ["rank 0 sends to rank 1, which does not receive from it"]
    assert send_recv_mismatches([[], []], [[1], []]) == \
        ["rank 0 receives from rank 1, which does not send to it"]
    assert send_recv_mismatches([[0, 2], []], [[], []]) == \
        ["rank 0 sends to 0, which is not another rank of 0..1",
         "rank 0 sends to 2, which is not another rank of 0..1"]
