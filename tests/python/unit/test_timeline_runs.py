"""The timeline of whole jobs launched with bfrun at 1-4 ranks, read back
with the offline tool (bluefog.timeline): a slow rank is named the
straggler, merge lines up a barrier's end across ranks, every file parses
after a rank raised, stalls and deadlines are instants in their op's row,
and the optimizers' activities share their parameters' rows with the
engine's ops.

Bad input is covered elsewhere and not repeated here: an unwritable prefix
(missing directory, a file in place of a directory, a rank file path that
is a directory) by tests/python/unit/test_timeline.py, ending an activity
that was never started (it warns) by tests/python/mpi/test_timeline.py.
"""

import json
import os
import re
import subprocess
import sys

import pytest

from bluefog.timeline import merge, summarize
from bluefog.timeline.reader import read_events, read_rank_file

from launching import launch

ITERATIONS, SLEEP_MS, BARRIERS = 15, 40, 3

# The spread of the last barrier's end over the ranks in the merged trace.
# A barrier ends on every rank once the last rank's message arrived, so its
# ends differ by one message's delivery plus each rank's scheduling, and by
# the error of the clock offsets (rtt/2, a few tens of us here). Measured on
# this 2-core machine shared with other jobs (load average 5-8): at 4 ranks
# 0.8-2.5 ms over 7 runs, at 3 ranks 0.8-1.5 ms, at 2 ranks 0.01-0.7 ms.
# 20 ms leaves a margin of 8 over the worst seen for a busier machine. On
# one host the ranks' steady clocks agree and their files' origins are
# close (tens of us apart), so this checks that merge keeps every rank on
# the one clock (a rank shifted by its own first event, by its start, or by
# a misread origin or offset fails), not an offset measured across hosts.
BARRIER_END_SKEW_US = 20000


def tool(*args):
    return subprocess.run([sys.executable, "-m", "bluefog.timeline", *args],
                          capture_output=True, text=True, timeout=120)


def rank_paths(prefix, np):
    return [f"{prefix}{r}.json" for r in range(np)]


def spans_by_tid(events, pid):
    """{tid: [(name, begin, end, depth)]} of the B/E pairs on row ``pid``
    (depth: how many spans of that tid enclose it), checking
    that on each tid every E closes an open B, time never goes back, and
    nothing is left open."""
    stacks, spans, last = {}, {}, {}
    for e in events:
        if e.get("pid") != pid or e["ph"] not in "BE":
            continue
        tid = e["tid"]
        assert e["ts"] >= last.get(tid, 0), f"time goes back on tid {tid}: {e}"
        last[tid] = e["ts"]
        stack = stacks.setdefault(tid, [])
        if e["ph"] == "B":
            stack.append(e)
        else:
            assert stack, f"E without a B on tid {tid}: {e}"
            begin = stack.pop()
            spans.setdefault(tid, []).append((begin["name"], begin["ts"], e["ts"], len(stack)))
    assert all(not s for s in stacks.values()), f"left open: {stacks}"
    return spans


def pid_of(rank_file, row):
    pids = [pid for pid, name in rank_file.rows.items() if name == row]
    assert len(pids) == 1, (row, rank_file.rows)
    return pids[0]


# ---- 1 and 2: one slow rank, then barriers

@pytest.fixture(scope="module", params=[1, 2, 3, 4])
def straggler_job(request, tmp_path_factory):
    np = request.param
    prefix = str(tmp_path_factory.mktemp(f"straggler{np}") / "tl")
    result = launch(np, "timeline_straggler.py", [str(ITERATIONS), str(SLEEP_MS), str(BARRIERS)],
                    env={"BLUEFOG_TIMELINE": prefix}, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert sorted(re.findall(r"STRAGGLER-DONE (\d+) (\d+)", result.reports)) == \
        [(str(r), str(np)) for r in range(np)], output
    assert sorted(os.listdir(os.path.dirname(prefix))) == \
        sorted(os.path.basename(p) for p in rank_paths(prefix, np))
    return np, prefix


def test_the_slow_rank_is_named_the_straggler(straggler_job):
    np, prefix = straggler_job
    cli = tool("summary", prefix)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert cli.stdout.startswith(f"{np} rank{'s' if np > 1 else ''} of {np} "), cli.stdout
    steps = re.search(r"^step +(\d+) ", cli.stdout, re.M)
    assert steps and int(steps.group(1)) == ITERATIONS * np, cli.stdout  # every rank's ops
    summary = summarize(prefix, warn=None)
    assert summary.ranks == list(range(np)) and summary.size == np
    assert summary.by_tensor["step"].ops == ITERATIONS * np
    assert summary.by_kind["NEIGHBOR_ALLREDUCE"].ops >= ITERATIONS * np
    if np == 1:  # nobody to wait for
        assert "straggler: none (no waiting recorded)" in cli.stdout, cli.stdout
        assert summary.straggler is None and summary.wait_ms == [[0.0]]
        return
    line = re.search(r"^straggler: rank (\d+) \(the others waited ([\d.]+) ms", cli.stdout, re.M)
    assert line, cli.stdout
    assert int(line.group(1)) == np - 1, cli.stdout
    assert summary.straggler == np - 1, summary.wait_ms
    waited = sum(summary.wait_ms[w][np - 1] for w in range(np - 1))
    # Each of the last rank's in-neighbours' steps waits for its sleep.
    assert waited >= ITERATIONS * SLEEP_MS / 2, summary.wait_ms
    assert float(line.group(2)) == pytest.approx(summary.straggler_ms, abs=0.001)
    assert summary.straggler_ms == pytest.approx(summary.waited_for_ms(np - 1))
    others = [summary.waited_for_ms(p) for p in range(np - 1)]
    # The ranks waiting for it make their own out-neighbours wait too (at
    # 4 ranks, rank 2 waits for ranks 0 and 1, which wait for rank 3): its
    # column is the largest by far, not necessarily half of all waiting.
    assert summary.straggler_ms >= 1.5 * max(others), summary.wait_ms
    assert summary.problems == []


def test_merge_aligns_the_last_barriers_end_across_ranks(straggler_job, tmp_path):
    np, prefix = straggler_job
    trace = merge(prefix, warn=None)
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in trace["traceEvents"]
             if e["ph"] == "M" and e["name"] == "thread_name"}
    ends, instances = {}, {}
    for rank in range(np):
        barriers = {}
        for (pid, tid), name in names.items():
            found = re.fullmatch(r"barrier\.noname\.(\d+) \u00b7 engine", name)
            if pid == rank and found:
                barriers[int(found.group(1))] = tid
        assert len(barriers) >= BARRIERS, (rank, names)
        instances[rank] = last = max(barriers)
        spans = spans_by_tid([e for e in trace["traceEvents"] if e["ph"] != "M"], rank)
        mpi = [s for s in spans[barriers[last]] if s[0] == "MPI_BARRIER"]
        assert len(mpi) == 1, spans[barriers[last]]
        ends[rank] = mpi[0][2]
    assert len(set(instances.values())) == 1, instances  # the same barrier on every rank
    skew = max(ends.values()) - min(ends.values())
    print(f"last barrier's end at {np} ranks: skew {skew:.0f} us")
    assert skew <= BARRIER_END_SKEW_US, ends
    assert trace["otherData"]["ranks"] == list(range(np))
    assert trace["otherData"]["missing_ranks"] == []

    out = str(tmp_path / "job.json")
    cli = tool("merge", prefix, "-o", out)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert cli.stdout.startswith(f"wrote {out} ({np} ranks, "), cli.stdout
    with open(out) as f:
        written = json.load(f)
    processes = {e["pid"]: e["args"]["name"] for e in written["traceEvents"]
                 if e["ph"] == "M" and e["name"] == "process_name"}
    assert sorted(processes) == list(range(np)), processes
    assert all(re.fullmatch(rf"rank {pid} \(.+\)", name) for pid, name in processes.items())
    assert {e["pid"] for e in written["traceEvents"] if e["ph"] != "M"} == set(range(np))
    assert written["otherData"] == trace["otherData"]


@pytest.mark.parametrize("straggler_job", [2], indirect=True)
def test_a_wait_ends_before_the_reduction_of_the_data_it_waited_for(straggler_job):
    # At 2 ranks rank 0 receives only from rank 1: in each of its steps the
    # reductions (COMPUTE_AVERAGE) use rank 1's data, so they cannot start
    # before the wait for rank 1 ended (docs/timeline.md: the wait lasts
    # "until p's data for it arrived"), or the summary would count them as
    # waiting and as reducing.
    np, prefix = straggler_job
    rank0 = read_rank_file(prefix + "0.json", strict=True)
    pid = pid_of(rank0, "step")
    ops = [s for s in spans_by_tid(rank0.events, pid)[0] if s[0] == "MPI_NEIGHBOR_ALLREDUCE"]
    waits = [e for e in rank0.events if e["pid"] == pid and e.get("name") == "WAIT_FOR_RANK_1"]
    reduces = [e for e in rank0.events if e["pid"] == pid and e.get("name") == "COMPUTE_AVERAGE"]
    assert len(ops) == len(waits) == ITERATIONS, (ops, waits)
    late = []
    for (_, begin, end, _), wait in zip(ops, waits):
        assert begin <= wait["ts"] and wait["ts"] + wait["dur"] <= end, (wait, begin, end)
        mine = [r for r in reduces if begin <= r["ts"] <= end]
        assert mine, (begin, end)
        if min(r["ts"] for r in mine) < wait["ts"] + wait["dur"]:
            late.append((wait, mine))
    assert late == [], f"{len(late)} of {len(ops)} waits end after a reduction began: {late[0]}"


# ---- 3: a rank raises in the middle of a run of ops

@pytest.mark.parametrize("np", [2, 3, 4])
def test_every_file_parses_after_a_rank_raised(np, tmp_path):
    # rank_raises.py blocked: three neighbor allreduces 'blocked' at every
    # rank, then rank 1 raises while the others wait in the fourth. The
    # survivors' ops fail at once, they try one more op, re-raise and exit
    # (flushing their files) while mpirun ends the job. (Not with mpirun
    # --enable-recovery: that exits 0 although every rank exited 1.)
    prefix = str(tmp_path / "tl")
    result = launch(np, "rank_raises.py", ["blocked"], env={"BLUEFOG_TIMELINE": prefix},
                    timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "RAISING" in result.reports, output
    files = {}
    for r, path in enumerate(rank_paths(prefix, np)):
        assert os.path.exists(path), (path, output)
        events = read_events(path, strict=True)  # no cut line tolerated
        assert events[0]["name"] == "bluefog_clock" and events[0]["args"]["rank"] == r
        files[r] = read_rank_file(path, strict=True)

    raiser = files[1]
    blocked = spans_by_tid(raiser.events, pid_of(raiser, "blocked"))
    assert [s[0] for s in blocked[0] if s[0].startswith("MPI_")] == ["MPI_NEIGHBOR_ALLREDUCE"] * 3
    marker = [e for e in raiser.events if e.get("name") == "BEFORE_RAISE"]
    assert len(marker) == 1 and marker[0]["ts"] >= blocked[0][-1][2]  # after the last op
    assert not any(e.get("name", "").startswith("FAILED") for e in raiser.events)

    for r in range(np):
        if r == 1:
            continue
        failed = [e for e in files[r].events if e.get("name", "").startswith("FAILED: ")]
        assert failed, (r, output)
        for e in failed:
            assert e["ph"] == "i" and e["tid"] == 0, e
            assert f"FAILED: rank {r}: rank 1 (pid " in e["name"], e
            assert "ValueError: rank one gives up on purpose" in e["name"], e
        rows = {files[r].rows[e["pid"]] for e in failed}
        assert "blocked" in rows, rows
        # The failure is in the op it ended, the last: the fourth, or at 4
        # ranks a later one on a rank that does not receive from rank 1.
        pid = pid_of(files[r], "blocked")
        ops = [s for s in spans_by_tid(files[r].events, pid)[0] if s[0].startswith("MPI_")]
        assert len(ops) >= 4 and {s[0] for s in ops} == {"MPI_NEIGHBOR_ALLREDUCE"}, ops
        (instant,) = [e for e in failed if e["pid"] == pid]
        assert ops[-1][1] <= instant["ts"] <= ops[-1][2], (ops[-1], instant)
    summary = summarize(prefix, warn=None)
    failures = [p for p in summary.problems if p.kind == "FAILED"]
    assert {p.rank for p in failures} == set(range(np)) - {1}, summary.problems
    assert all("rank 1 (pid " in p.message for p in failures)
    cli = tool("summary", prefix)
    assert cli.returncode == 0, cli.stderr
    listed = cli.stdout.split("Failures and stalls\n", 1)[1]
    for r in range(np):
        if r != 1:
            assert re.search(rf"ms  rank {r}  blocked  FAILED: rank {r}: rank 1 \(pid",
                             listed), listed


# ---- 4: stalls and deadlines

def test_a_stall_is_an_instant_in_the_waiting_ops_row(tmp_path):
    prefix = str(tmp_path / "tl")
    result = launch(2, "timeline_problems.py", ["stall", "1"], timeout=120,
                    env={"BLUEFOG_TIMELINE": prefix, "BLUEFOG_STALL_WARNING_SECONDS": "0.3"})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert sorted(re.findall(r"DONE (\d+)", result.reports)) == ["0", "1"], output
    rank0 = read_rank_file(prefix + "0.json", strict=True)
    pid = pid_of(rank0, "late")
    op = [s for s in spans_by_tid(rank0.events, pid)[0] if s[0] == "MPI_ALLREDUCE"]
    assert len(op) == 1, op
    _, begin, end, _ = op[0]
    assert end - begin >= 0.5e6, op  # it waited for rank 1's second
    stalls = [e for e in rank0.events if e.get("name", "").startswith("STALL: ")]
    assert stalls, output
    for e in stalls:
        assert (e["ph"], e["pid"], e["tid"]) == ("i", pid, 0), e
        assert begin <= e["ts"] <= end, (e, op)
        assert re.fullmatch(r"STALL: allreduce 'late' has waited \d+ s for data from ranks \[1\]",
                            e["name"]), e
    assert not any(e.get("name", "").startswith("FAILED") for e in rank0.events)
    summary = summarize(prefix, warn=None)
    assert [p.kind for p in summary.problems if p.rank == 0] == ["STALL"] * len(stalls)
    assert all(p.tensor == "late" for p in summary.problems)


def test_a_deadline_is_a_failed_instant_with_the_timeouts_message(tmp_path):
    prefix = str(tmp_path / "tl")
    result = launch(2, "timeline_problems.py", ["deadline", "3"], timeout=120,
                    env={"BLUEFOG_TIMELINE": prefix, "BLUEFOG_OP_TIMEOUT_SECONDS": "1"})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    raised = re.search(r"FAILED 0 OpTimeoutError: (.*)", result.reports)
    assert raised, output
    message = raised.group(1)
    assert message.startswith("rank 0: allreduce 'orphan' timed out: no progress for "), message
    assert "(BLUEFOG_OP_TIMEOUT_SECONDS=1) while waiting for ranks [1]" in message, message
    assert "rank 1 has not posted it" in message, message
    rank0 = read_rank_file(prefix + "0.json", strict=True)
    pid = pid_of(rank0, "orphan")
    failed = [e for e in rank0.events if e.get("name", "").startswith("FAILED: ")]
    assert len(failed) == 1, failed
    assert (failed[0]["ph"], failed[0]["pid"], failed[0]["tid"]) == ("i", pid, 0)
    assert failed[0]["name"] == "FAILED: " + message  # the exception's message, whole
    op = [s for s in spans_by_tid(rank0.events, pid)[0] if s[0] == "MPI_ALLREDUCE"]
    assert len(op) == 1 and op[0][1] <= failed[0]["ts"] <= op[0][2], (op, failed)
    assert op[0][2] - op[0][1] >= 0.9e6, op  # not before its deadline
    rank1 = read_rank_file(prefix + "1.json", strict=True)
    assert "orphan" not in rank1.rows.values()
    summary = summarize(prefix, warn=None)
    assert [(p.rank, p.tensor, p.kind) for p in summary.problems] == [(0, "orphan", "FAILED")]


# ---- 6: the optimizers' activities and the engine's ops in one row

@pytest.mark.parametrize("optimizer, op", [("neighbor", "NEIGHBOR_ALLREDUCE"),
                                           ("gradient", "ALLREDUCE")])
def test_optimizer_rows_hold_activities_and_the_engines_ops(optimizer, op, tmp_path):
    iterations, np = 3, 2
    prefix = str(tmp_path / "tl")
    result = launch(np, "timeline_optimizers.py", [optimizer, str(iterations)],
                    env={"BLUEFOG_TIMELINE": prefix}, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    rows = re.findall(r"ROW (\d+) (\S+) (\S+)", result.reports)
    params = ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(rows) == np * len(params), output
    for r in range(np):
        rank_file = read_rank_file(f"{prefix}{r}.json", strict=True)
        mine = {param: row for rank, param, row in rows if int(rank) == r}
        assert sorted(mine) == sorted(params), mine
        for param, row in mine.items():
            assert row.endswith("." + param), row  # named after the parameter's op
            spans = spans_by_tid(rank_file.events, pid_of(rank_file, row))
            engine = spans.pop(0)
            assert [s[0] for s in engine if s[0].startswith("MPI_")] == \
                ["MPI_" + op] * iterations, (row, engine)
            assert [s[0] for s in engine if s[0].startswith("ENQUEUE_")] == \
                ["ENQUEUE_" + op] * iterations, (row, engine)
            assert all(s[3] == 0 for s in engine), engine  # queued, then run: not nested
            user = [s for tid, ss in spans.items() if tid < 100000 for s in ss]
            assert sorted((s[0] for s in user)) == \
                ["FORWARD"] * iterations + ["GRADIENT COMPT."] * iterations, (row, user)
            user.sort(key=lambda s: s[1])
            assert [s[0] for s in user] == ["FORWARD", "GRADIENT COMPT."] * iterations, user
            assert all(s[3] == 0 for s in user), user  # neither inside the other
            for earlier, later in zip(user, user[1:]):
                assert earlier[2] <= later[1], (earlier, later)
            if op == "ALLREDUCE":
                # The gradient's allreduce is submitted by the hook that sees it
                # ready, so not before its GRADIENT COMPT. began. (Which of the
                # two hooks runs first is not fixed, so not: after it ended.)
                for grad, enqueue in zip(user[1::2],
                                         [s for s in engine if s[0] == "ENQUEUE_" + op]):
                    assert enqueue[1] >= grad[1], (grad, enqueue)
