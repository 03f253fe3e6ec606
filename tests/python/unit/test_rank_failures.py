"""No job hangs: a rank that raises, one that leaves early, and ops that can
never complete, in whole jobs launched with bfrun at 2, 3 and 4 ranks.

Each launch is bounded; the bounds on how fast errors arrive are generous
for a loaded 2-core machine and far below a hang."""

import json
import re
import time

import pytest

from launching import launch

BOOM = "its script raised ValueError: rank one gives up on purpose"
MODES = ["blocked", "nonblocking", "window", "optimizer"]


def survivors(np):
    return [r for r in range(np) if r != 1]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("np", [2, 3, 4])
def test_uncaught_exception_ends_the_job_within_seconds(np, mode):
    launched = time.time()
    result = launch(np, "rank_raises.py", [mode], timeout=120)
    ended = time.time()
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    raised = re.search(r"RAISING ([\d.]+)", result.reports)
    assert raised, output
    assert launched < float(raised.group(1)) < ended
    assert ended - float(raised.group(1)) < 10, output
    assert "ValueError: rank one gives up on purpose" in result.stderr  # its traceback
    # Every survivor's engine reported the failure, naming the rank and why,
    # before the launcher ended the job.
    for r in survivors(np):
        assert re.search(rf"ERROR rank {r}\] rank 1 \(pid \d+ on [^)]+\) failed: {BOOM}",
                         result.stderr), output


def test_a_rank_that_raises_leaves_its_timeline_complete(tmp_path):
    prefix = str(tmp_path / "timeline")
    result = launch(2, "rank_raises.py", ["blocked"], env={"BLUEFOG_TIMELINE": prefix})
    assert result.returncode != 0
    with open(prefix + "1.json") as trace:
        text = trace.read()
    events = json.loads(text.rstrip().rstrip(",") + "]")
    assert any(e.get("name") == "BEFORE_RAISE" and e.get("ph") == "B" for e in events), text


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("np", [2, 3, 4])
def test_survivors_ops_fail_naming_the_rank_and_its_exception(np, mode):
    # --enable-recovery keeps mpirun from killing the survivors, so that we
    # see their own errors and a later op.
    result = launch(np, "rank_raises.py", [mode], extra_mpi_flags="--enable-recovery",
                    timeout=120)
    output = result.stdout + result.stderr
    assert "unexpectedly finished" not in result.reports, output
    for r in survivors(np):
        line = re.search(rf"SURVIVOR {r} (\w+): (.*)", result.reports)
        assert line, output
        assert line.group(1) == "PeerFailureError", line.group(0)
        assert "rank 1" in line.group(2) and "ValueError: rank one gives up on purpose" \
            in line.group(2), line.group(0)
        later = re.search(rf"LATER {r} ([\d.]+) (\w+)", result.reports)
        assert later and later.group(2) == "PeerFailureError", output
        assert float(later.group(1)) < 1.0, later.group(0)  # at once, no waiting


@pytest.mark.parametrize("np", [2, 3, 4])
def test_rank_that_shuts_down_fails_the_ops_it_never_posted(np):
    result = launch(np, "rank_exits_early.py", timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "unexpectedly succeeded" not in result.reports, output
    for r in survivors(np):
        pending = re.search(rf"PENDING {r} ([\d.]+): (.*)", result.reports)
        assert pending, output
        # Posted 0.5 s before rank 1 left; fails as soon as it has left.
        assert float(pending.group(1)) < 5, pending.group(0)
        assert "rank 1" in pending.group(2) and "has shut down" in pending.group(2) and \
            "'posted_before'" in pending.group(2), pending.group(0)
        later = re.search(rf"LATER {r} ([\d.]+): (.*)", result.reports)
        assert later and float(later.group(1)) < 1.0, output
        assert "rank 1" in later.group(2) and "'after'" in later.group(2), later.group(0)


@pytest.mark.parametrize("np", [2, 3, 4])
def test_deadline_names_the_op_the_missing_ranks_and_what_they_do(np):
    result = launch(np, "deadline.py", ["mismatch"], env={"BLUEFOG_OP_TIMEOUT_SECONDS": "2"},
                    timeout=120)
    output = result.stdout + result.stderr
    lines = dict(re.findall(r"FAILED (\d+) [\d.]+ (.*)", result.reports))
    assert sorted(int(r) for r in lines) == list(range(np)), output
    for r in range(np):  # its own deadline, or a peer's passed on
        assert lines[str(r)].startswith("OpTimeoutError"), lines[str(r)]
    # Rank 1's own: the op, its tensor name, the setting, whom it waited for,
    # and what that rank was doing.
    own = re.search(r"FAILED 1 ([\d.]+) OpTimeoutError: rank 1: (.*)", result.reports)
    assert own, output
    assert 1.5 < float(own.group(1)) < 10, own.group(0)
    message = own.group(2)
    assert message.startswith("allreduce 'b' timed out: no progress for"), message
    assert "BLUEFOG_OP_TIMEOUT_SECONDS=2" in message, message
    assert "while waiting for ranks [0]" in message, message
    assert "rank 0 has not posted it and is in allreduce 'a'" in message, message


def test_deadline_restarts_with_each_message():
    # Rank 0 hears from rank 1 after 1.2 s and from rank 2 after 2.4 s: no
    # gap reaches the 2 s deadline, the whole wait does.
    result = launch(3, "deadline.py", ["progress", "1.2"],
                    env={"BLUEFOG_OP_TIMEOUT_SECONDS": "2"}, timeout=120)
    output = result.stdout + result.stderr
    assert re.search(r"DONE 0 ([\d.]+)", result.reports), output
    assert float(re.search(r"DONE 0 ([\d.]+)", result.reports).group(1)) > 2.0, output


@pytest.mark.parametrize("timeout,expected", [("1", "FAILED"), ("0", "DONE")])
def test_zero_turns_the_deadline_off(timeout, expected):
    result = launch(2, "deadline.py", ["late", "3"],
                    env={"BLUEFOG_OP_TIMEOUT_SECONDS": timeout}, timeout=120)
    output = result.stdout + result.stderr
    assert re.search(rf"{expected} 0 ", result.reports), output


@pytest.mark.parametrize("np", [2, 3, 4])
def test_ranks_that_leave_nonblocking_ops_unfinished_leave_nobody_waiting(np):
    started = time.monotonic()
    result = launch(np, "unfinished_group.py", env={"BLUEFOG_OP_TIMEOUT_SECONDS": "3"},
                    timeout=120)
    output = result.stdout + result.stderr
    ended = re.findall(r"ENDED (\d+) ([\d.]+) (\w+)", result.reports)
    assert sorted(int(r) for r, _, _ in ended) == list(range(np)), output
    for _, seconds, kind in ended:
        assert kind in ("OpTimeoutError", "PeerFailureError"), output
        assert float(seconds) < 30, output
    assert time.monotonic() - started < 90, output


def test_dead_holder_of_a_window_mutex_releases_it():
    result = launch(3, "lock_holder_dies.py", extra_mpi_flags="--enable-recovery",
                    timeout=120)
    output = result.stdout + result.stderr
    assert "RANK1-HOLDS" in result.reports, output
    assert re.search(r"PUT-OK after [\d.]+", result.reports), output
    assert "RANK2-SAW-PUT version 1" in result.reports, output
