"""The timeline outside a running job (before init, bad settings) and whole
jobs launched with ``bfrun --timeline-filename`` at 1-4 ranks: every rank's
file, exact tids from a fresh process, the last events written at shutdown,
and no file when the timeline is off."""

import os
import re
import subprocess
import sys
import warnings

import pytest

import bluefog.torch as bf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
import timeline_reader  # noqa: E402

SCENARIO = os.path.join(ROOT, "tests", "python", "scenarios", "timeline_activities.py")


def _launch(np, cwd, bfrun_args=(), env_drop=("BLUEFOG_TIMELINE",)):
    env = {k: v for k, v in os.environ.items() if k not in env_drop}
    command = [sys.executable, "-m", "bluefog.run.bfrun", "-np", str(np), *bfrun_args,
               sys.executable, SCENARIO]
    result = subprocess.run(command, cwd=str(cwd), env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    # Open MPI forwards each rank's output in chunks: one rank's line may end
    # up glued to another's, so each record is matched by its exact form.
    return dict(re.findall(r"TIMELINE-RETURNS rank (\d+) ((?:True|False)(?: True| False)*)",
                           result.stdout))


def test_calls_before_init_return_false_and_warn_once(monkeypatch):
    monkeypatch.setattr("bluefog.torch.timeline._warned_off", False)
    assert not bf.is_initialized()
    with pytest.warns(RuntimeWarning, match="BLUEFOG_TIMELINE"):
        assert bf.timeline_start_activity("x", "A") is False
    with warnings.catch_warnings(record=True) as later:
        warnings.simplefilter("always")
        assert bf.timeline_end_activity("x") is False
        with bf.timeline_context("x", "A"):
            pass
    assert later == []


@pytest.mark.filterwarnings("ignore:timeline_start_activity:RuntimeWarning")
def test_context_runs_its_block_and_propagates_errors_when_off():
    ran = []
    with pytest.raises(ZeroDivisionError):
        with bf.timeline_context("x", "A"):
            ran.append(True)
            1 / 0
    assert ran == [True]


def test_argument_types_are_checked_before_anything_else():
    with pytest.raises(TypeError, match="timeline_start_activity: tensor_name must be a str"):
        bf.timeline_start_activity(None, "A")
    with pytest.raises(TypeError, match="timeline_end_activity: tensor_name must be a str"):
        bf.timeline_end_activity(1)


@pytest.mark.parametrize("make_prefix, reason", [
    (lambda tmp: str(tmp / "missing" / "tl"), "No such file or directory"),
    (lambda tmp: str(tmp / "a_file" / "tl"), "is not a directory"),
])
def test_prefix_in_a_directory_that_cannot_hold_it_fails_init(tmp_path, monkeypatch,
                                                              make_prefix, reason):
    (tmp_path / "a_file").write_text("not a directory")
    prefix = make_prefix(tmp_path)
    monkeypatch.setenv("BLUEFOG_TIMELINE", prefix)
    with pytest.raises(ValueError) as info:
        bf.init()
    message = str(info.value)
    assert "BLUEFOG_TIMELINE" in message and prefix in message and reason in message, message
    assert not bf.is_initialized()


def test_file_that_cannot_be_created_fails_init_after_the_engine_started(tmp_path):
    # The directory is fine, but rank 0's file name is taken by a directory.
    os.mkdir(tmp_path / "tl0.json")
    command = [sys.executable, "-m", "bluefog.run.bfrun", "-np", "1", "--timeline-filename",
               str(tmp_path / "tl"), sys.executable,
               os.path.join(ROOT, "tests", "python", "scenarios", "init_only.py")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr  # init raised, exit was clean
    assert re.search(r"INIT-VALUEERROR: BLUEFOG_TIMELINE='[^']*/tl': cannot open the timeline "
                     r"file '[^']*/tl0.json' for writing: Is a directory", result.stdout), \
        result.stdout + result.stderr


@pytest.mark.parametrize("np", [1, 2, 3, 4])
def test_every_rank_writes_its_file(np, tmp_path):
    os.mkdir(tmp_path / "out")
    returns = _launch(np, tmp_path, ["--timeline-filename", "out/tl"])  # relative to the job's cwd
    assert returns == {str(r): "True True False" for r in range(np)}
    assert sorted(os.listdir(tmp_path / "out")) == sorted("tl{}.json".format(r) for r in range(np))
    for r in range(np):
        view = timeline_reader.read(str(tmp_path / "out" / "tl{}.json".format(r)))
        assert (view.clock["args"]["rank"], view.clock["args"]["size"]) == (r, np)
        # A fresh process: the main thread first (1), then the threads in order.
        assert [(e["ph"], e["tid"]) for e in view.of("main")] == [("B", 1), ("E", 1)]
        for k in (1, 2):
            events = view.of("thread{}".format(k))
            assert [(e["ph"], e.get("name"), e["tid"]) for e in events] == [
                ("B", "THREAD_ACTIVITY", k + 1), ("E", None, k + 1)]
        assert view.phases("last") == ["B:JUST_BEFORE_SHUTDOWN", "E"]  # shutdown wrote them
        assert view.of("after") == []
        users = ["main", "thread1", "thread2", "last"]
        pids = {name: pid for pid, name in view.tensor_of_pid.items()}
        assert sorted(pids[u] for u in users) == [pids[u] for u in users]  # rows in first use
        for name, pid in pids.items():  # the other rows are the engine's ops
            if name not in users:
                assert all(e["tid"] == 0 or e["tid"] >= 100000 for e in view.of(name)), name
        offsets = {e["args"]["when"]: e["args"] for e in timeline_reader.load(
            str(tmp_path / "out" / "tl{}.json".format(r))) if e.get("name") == "bluefog_clock_offset"}
        assert sorted(offsets) == ["init", "shutdown"]
        for measured in offsets.values():  # one host, one clock: the offset is within its error
            assert measured["reference_rank"] == 0
            assert abs(measured["offset_us"]) <= measured["rtt_us"] / 2 + 1
            if r == 0:
                assert measured["offset_us"] == measured["rtt_us"] == 0
            else:
                assert 0 < measured["rtt_us"] < 1e6


def test_no_file_and_false_when_off(tmp_path):
    returns = _launch(2, tmp_path)
    assert returns == {"0": "False False False", "1": "False False False"}
    assert os.listdir(tmp_path) == []
