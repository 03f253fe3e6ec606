"""Misuse that used to give a wrong answer or hang: each case ends with an
error on every rank concerned, within the op deadline or at once where the
cause is local (scenarios/misuse.py, whole jobs under bfrun)."""

import re

import pytest

from launching import launch

QUICK = {"BLUEFOG_OP_TIMEOUT_SECONDS": "4", "BLUEFOG_STALL_WARNING_SECONDS": "1"}


def run_case(np, case, env=None):
    result = launch(np, "misuse.py", [case], env=dict(QUICK, **(env or {})), timeout=90)
    output = result.stdout + result.stderr
    lines = result.reports.splitlines()
    errors = {int(m.group(1)): m.group(2) for m in
              (re.match(r"ERROR (\d+) (.*)", l) for l in lines) if m}
    results = {int(m.group(1)): m.group(2) for m in
               (re.match(r"RESULT (\d+) (.*)", l) for l in lines) if m}
    ends = {int(m.group(1)): float(m.group(2)) for m in
            (re.match(r"END (\d+) ([\d.]+)", l) for l in lines) if m}
    assert sorted(ends) == list(range(np)), output
    return errors, results, ends, lines, output


@pytest.mark.parametrize("case", ["skipped_named", "skipped_unnamed"])
def test_a_skipped_call_with_topo_check_off_is_an_error_not_a_wrong_value(case):
    errors, results, ends, _, output = run_case(2, case)
    # Rank 1 would have averaged rank 0's first tensor (50) into its result.
    assert sorted(errors) == [0, 1], output
    assert "sends to rank 0, which does not receive from this rank" in errors[1], output
    assert "rank 1" in errors[0], output
    assert max(ends.values()) < 4, output


def test_ranks_disagreeing_on_is_hierarchical_local_all_fail():
    errors, _, ends, _, output = run_case(4, "hierarchical_local_differs",
                                          env={"BLUEFOG_NODES_PER_MACHINE": "2"})
    assert sorted(errors) == [0, 1, 2, 3], output
    for message in errors.values():
        assert message.startswith("MismatchError"), output
        assert "different group of ranks (is_hierarchical_local" in message, output
    assert max(ends.values()) < 4, output


def test_shutdown_on_one_rank_fails_the_peer_waiting_for_it_at_once():
    errors, _, ends, _, output = run_case(2, "shutdown_while_peer_waits")
    assert "PeerFailureError" in errors[1] and "without posting allreduce 'needs_rank_0'" \
        in errors[1], output
    assert ends[1] < 3, output


@pytest.mark.parametrize("case,np", [("barrier_against_allreduce", 2),
                                     ("win_create_on_one_rank", 2),
                                     ("unnamed_in_different_orders", 2),
                                     ("receive_without_sender", 2),
                                     ("barrier_against_allreduce", 3)])
def test_ops_that_can_never_match_warn_then_fail_within_the_deadline(case, np):
    errors, _, ends, _, output = run_case(np, case)
    # Rank 1 and rank 0 both wait (or rank 0 finishes and rank 1 waits);
    # every waiting rank gets an error naming what the other side did.
    assert 1 in errors, output
    assert "OpTimeoutError" in errors[1] or "PeerFailureError" in errors[1], output
    assert "stalled" in output or "has waited" in output, output  # the stall warning
    assert max(ends.values()) < 12, output  # a 4 s deadline, on a loaded machine


def test_shutdown_after_an_interrupted_wait_gives_the_op_up_at_once():
    # A shutdown gives up on stuck ops after the stall interval: make that
    # long, so that only the interrupted wait explains giving up at once.
    # Rank 1 is busy outside bluefog for 3 s; MPI_Finalize then waits for it.
    _, _, ends, lines, output = run_case(2, "shutdown_after_interrupted_wait",
                                         env={"BLUEFOG_STALL_WARNING_SECONDS": "30",
                                              "BLUEFOG_OP_TIMEOUT_SECONDS": "60"})
    assert "INTERRUPTED 0" in lines, output
    assert "shutdown gave up on 1 pending op(s) whose waits were interrupted" in output, output
    took = float(re.search(r"SHUTDOWN 0 took ([\d.]+)", output).group(1))
    assert took < 8, output  # it used to wait forever; now until rank 1 ends


def test_an_op_in_a_forked_child_raises_and_the_parent_goes_on():
    errors, results, _, lines, output = run_case(2, "op_in_forked_child")
    for r in (0, 1):
        child = [l for l in lines if l.startswith(f"CHILD {r} ")]
        assert child and "RuntimeError" in child[0] and "is a fork of it" in child[0], output
        exit_line = [l for l in lines if l.startswith(f"CHILD-EXIT {r} ")]
        assert exit_line and exit_line[0].split()[2] == "0", output
    assert not errors, output
    assert results == {0: "[0.5, 0.5, 0.5, 0.5]", 1: "[0.5, 0.5, 0.5, 0.5]"}, output


def test_a_blocking_op_while_suspended_raises_and_runs_after_resume():
    errors, results, _, lines, output = run_case(2, "blocking_op_while_suspended")
    for r in (0, 1):
        suspended = [l for l in lines if l.startswith(f"SUSPENDED {r} ")]
        assert suspended and "bluefog is suspended on this rank" in suspended[0], output
    assert not errors, output
    assert results == {0: "[0.5, 0.5, 0.5, 0.5]", 1: "[0.5, 0.5, 0.5, 0.5]"}, output
