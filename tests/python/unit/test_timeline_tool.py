"""The offline timeline tools (``python -m bluefog.timeline``) on synthetic
per-rank files written in the engine's text form; no MPI, no native module."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

PYTHON_DIR = pathlib.Path(__file__).resolve().parents[3] / "python"
sys.path.insert(0, str(PYTHON_DIR))

from bluefog.timeline import (TimelineError, build_spans, format_summary, merge,  # noqa: E402
                              parse_events, read_rank_file, summarize)
from bluefog.timeline import plot as plot_module  # noqa: E402


def clock(rank, size, host, steady, system=1_700_000_000_000_000):
    return ('{"name": "bluefog_clock", "ph": "M", "pid": 0, "tid": 0, "args": {"rank": %d, '
            '"size": %d, "hostname": "%s", "steady_origin_us": %d, "system_origin_us": %d}}'
            % (rank, size, host, steady, system))


def offset(when, offset_us, rtt_us=40):
    return ('{"name": "bluefog_clock_offset", "ph": "M", "pid": 0, "tid": 0, "args": '
            '{"when": "%s", "reference_rank": 0, "offset_us": %d, "rtt_us": %d}}'
            % (when, offset_us, rtt_us))


def row(pid, name, threads):
    lines = ['{"name": "process_name", "ph": "M", "pid": %d, "tid": 0, "args": {"name": "%s"}}'
             % (pid, name),
             '{"name": "process_sort_index", "ph": "M", "pid": %d, "tid": 0, "args": '
             '{"sort_index": %d}}' % (pid, pid)]
    for tid, thread in threads:
        lines.append('{"name": "thread_name", "ph": "M", "pid": %d, "tid": %d, "args": '
                     '{"name": "%s"}}' % (pid, tid, thread))
    return lines


def B(name, ts, pid, tid=0):
    return '{"ph": "B", "name": "%s", "ts": %d, "pid": %d, "tid": %d}' % (name, ts, pid, tid)


def E(ts, pid, tid=0):
    return '{"ph": "E", "ts": %d, "pid": %d, "tid": %d}' % (ts, pid, tid)


def X(name, ts, dur, pid, tid=0):
    return ('{"ph": "X", "name": "%s", "ts": %d, "dur": %d, "pid": %d, "tid": %d}'
            % (name, ts, dur, pid, tid))


def I(name, ts, pid, tid=0, args=None):
    extra = ', "args": %s' % json.dumps(args) if args else ""
    return ('{"ph": "i", "name": "%s", "ts": %d, "pid": %d, "tid": %d, "s": "t"%s}'
            % (name, ts, pid, tid, extra))


def open_text(lines, pad_after=None, trailing_pad=0):
    """The engine's live form: `[`, then each line ending in `},`; spaces pad
    after line ``pad_after`` (as at a 4096-byte boundary) and at the end."""
    text = "[\n"
    for k, line in enumerate(lines):
        text += line + ",\n"
        if k == pad_after:
            text += " " * 300
    return text + " " * trailing_pad


def write(path, text):
    pathlib.Path(path).write_text(text, encoding="utf-8")
    return str(path)


# The hand-built two-rank job. Rank 1's steady clock is 3.999 s ahead of rank
# 0's (offset_us), its origin 4 s later, so its aligned time is
# 5_000_000 + ts - 3_999_000 = 1_001_000 + ts; rank 0's is 1_000_000 + ts. The
# earliest event is rank 0's at ts 100 (1_000_100), so after the shift rank 0's
# ts t is at t - 100 and rank 1's at t + 900.
RANK0 = [clock(0, 2, "h0", 1_000_000), offset("init", 0),
         *row(1, "w", [(0, "engine"), (100001, "rank 1")]),
         *row(2, "neighbor_allreduce.noname.0", [(0, "engine")]),
         B("ENQUEUE_ALLREDUCE", 100, 1), E(150, 1), B("MPI_ALLREDUCE", 150, 1),
         X("TRANSFER_FROM_RANK_1", 450, 100, 1, 100001),  # nested in the wait below
         X("WAIT_FOR_RANK_1", 150, 400, 1, 100001),
         X("COMPUTE_AVERAGE", 560, 20, 1), E(600, 1),
         I("FUSED_FRAME_TO_RANK_1", 590, 1, 100001, {"messages": 2, "bytes": 64}),
         B("ENQUEUE_NEIGHBOR_ALLREDUCE", 700, 2), E(710, 2), B("MPI_NEIGHBOR_ALLREDUCE", 710, 2),
         I("FAILED: rank 1 left", 890, 2), E(900, 2),
         offset("shutdown", 0)]
RANK1 = [clock(1, 2, "h1", 5_000_000), offset("init", 3_999_000),
         *row(1, "w", [(0, "engine"), (100000, "rank 0")]),
         *row(2, "user", [(1, "thread 1")]),
         B("FORWARD", 10, 2, 1), E(30, 2, 1),
         B("ENQUEUE_ALLREDUCE", 40, 1), E(50, 1), B("MPI_ALLREDUCE", 50, 1),
         X("WAIT_FOR_RANK_0", 50, 100, 1, 100000), X("TRANSFER_FROM_RANK_0", 120, 30, 1, 100000),
         X("COMPUTE_AVERAGE", 160, 10, 1), E(200, 1),
         B("GRADIENT COMPT.", 250, 2, 1),  # never ended
         I("STALL: waiting for rank 0", 400, 1),
         offset("shutdown", 3_999_000 + 1500)]


@pytest.fixture
def job(tmp_path):
    """The two-rank job: rank 0 as a live padded file, rank 1 closed by hand."""
    write(tmp_path / "tl0.json", open_text(RANK0, pad_after=5, trailing_pad=77))
    write(tmp_path / "tl1.json", "[\n" + ",\n".join(RANK1) + "\n]\n")
    return str(tmp_path / "tl")


# --- reader ---------------------------------------------------------------

def test_reader_parses_live_padded_and_closed_files():
    lines = RANK0
    expected = [json.loads(line) for line in lines]
    assert parse_events(open_text(lines)) == expected
    assert parse_events(open_text(lines, pad_after=3, trailing_pad=4000)) == expected
    assert parse_events("[\n" + ",\n".join(lines) + "\n]") == expected
    assert parse_events("[\n" + "".join(line + ",\n" for line in lines) + "]\n") == expected
    assert parse_events("[\n") == []


def test_reader_takes_a_file_cut_at_any_line_end():
    text = open_text(RANK1)
    ends = [k + 1 for k, c in enumerate(text) if c == "\n"]
    for n, end in enumerate(ends):
        assert len(parse_events(text[:end] + "   ")) == n, end


def test_reader_takes_a_file_cut_at_any_byte_as_a_prefix_of_its_events():
    text = open_text(RANK0, pad_after=5, trailing_pad=30)
    full = [json.loads(line) for line in RANK0]
    lengths = set()
    for n in range(1, len(text) + 1):
        events = parse_events(text[:n])
        assert events == full[:len(events)], n
        lengths.add(len(events))
    assert lengths == set(range(len(full) + 1))


def test_reader_drops_a_partial_last_line_unless_strict():
    text = open_text(RANK1)
    cut = text.index('"GRADIENT COMPT."') + 5
    events = parse_events(text[:cut])
    assert events[-1]["ph"] == "E" and events[-1]["ts"] == 200
    with pytest.raises(json.JSONDecodeError):
        parse_events(text[:cut], strict=True)


def test_read_rank_file_sorts_out_clock_offsets_rows_and_threads(job):
    f = read_rank_file(job + "1.json")
    assert (f.clock.rank, f.clock.size, f.clock.hostname) == (1, 2, "h1")
    assert f.clock.steady_origin_us == 5_000_000
    assert f.offsets["init"].offset_us == 3_999_000 and f.offsets["init"].rtt_us == 40
    assert f.offsets["shutdown"].offset_us == 3_999_000 + 1500
    assert f.rows == {1: "w", 2: "user"}
    assert f.thread_name(1, 100000) == "rank 0" and f.thread_name(2, 1) == "thread 1"
    assert f.thread_name(7, 100003) == "rank 3"  # no naming line: the engine's rule
    assert all(e["ph"] != "M" for e in f.events) and len(f.events) == 11


def test_spans_pair_begin_end_take_x_and_close_open_ones_at_the_end(job):
    spans, instants = build_spans(read_rank_file(job + "1.json"))
    by_name = {s.name: s for s in spans}
    forward = by_name["FORWARD"]
    assert (forward.start, forward.end, forward.row, forward.tid) == (10, 30, "user", 1)
    assert not forward.open
    wait = by_name["WAIT_FOR_RANK_0"]
    assert (wait.start, wait.end, wait.tid) == (50, 150, 100000)
    assert (by_name["MPI_ALLREDUCE"].start, by_name["MPI_ALLREDUCE"].end) == (50, 200)
    grad = by_name["GRADIENT COMPT."]
    assert grad.open and (grad.start, grad.end) == (250, 400)  # the file's last ts
    assert [s.open for s in spans].count(True) == 1
    assert [(i.name, i.ts, i.row) for i in instants] == [("STALL: waiting for rank 0", 400, "w")]


def test_reader_refuses_a_file_that_is_not_a_timeline(tmp_path):
    path = write(tmp_path / "x0.json", "[\n" + B("A", 1, 1) + ",\n")
    with pytest.raises(TimelineError, match="x0.json.*bluefog_clock"):
        read_rank_file(path)
    path = write(tmp_path / "y0.json", "hello\n")
    with pytest.raises(TimelineError, match="y0.json: not a timeline"):
        read_rank_file(path)


# --- merge ----------------------------------------------------------------

def test_merge_aligns_ranks_on_rank_0s_clock(job):
    trace = merge(job)
    events = [e for e in trace["traceEvents"] if e["ph"] != "M"]

    def ts_of(pid, name):
        return [e["ts"] for e in events if e["pid"] == pid and e.get("name") == name]

    assert ts_of(0, "ENQUEUE_ALLREDUCE") == [0]          # 100 - 100: the job's first event
    assert ts_of(0, "WAIT_FOR_RANK_1") == [50]
    assert ts_of(0, "FAILED: rank 1 left") == [790]
    assert ts_of(1, "FORWARD") == [910]                  # 10 + 900
    assert ts_of(1, "MPI_ALLREDUCE") == [950]
    assert ts_of(1, "STALL: waiting for rank 0") == [1300]
    assert min(e["ts"] for e in events) == 0
    assert trace["otherData"]["origin_us"] == 1_000_100
    assert sorted({e["pid"] for e in events}) == [0, 1]
    # X durations and args are kept
    fused = [e for e in events if e.get("name") == "FUSED_FRAME_TO_RANK_1"][0]
    assert fused["args"] == {"messages": 2, "bytes": 64}
    assert [e["dur"] for e in events if e.get("name") == "WAIT_FOR_RANK_1"] == [400]
    assert trace["displayTimeUnit"] == "ms"


def test_merge_makes_a_process_per_rank_and_a_thread_per_row_and_tid(job):
    trace = merge(job, warn=None)
    meta = [e for e in trace["traceEvents"] if e["ph"] == "M"]
    processes = {e["pid"]: e["args"]["name"] for e in meta if e["name"] == "process_name"}
    assert processes == {0: "rank 0 (h0)", 1: "rank 1 (h1)"}
    sort = {e["pid"]: e["args"]["sort_index"] for e in meta if e["name"] == "process_sort_index"}
    assert sort == {0: 0, 1: 1}
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in meta if e["name"] == "thread_name"}
    assert threads == {
        (0, 1): "w \u00b7 engine", (0, 2): "w \u00b7 rank 1",
        (0, 3): "neighbor_allreduce.noname.0 \u00b7 engine",
        (1, 1): "w \u00b7 engine", (1, 2): "w \u00b7 rank 0", (1, 3): "user \u00b7 thread 1",
    }
    used = {(e["pid"], e["tid"]) for e in trace["traceEvents"] if e["ph"] != "M"}
    assert used == set(threads)
    # every event sits on the thread of its original (row, tid)
    by_name = {e.get("name"): (e["pid"], e["tid"]) for e in trace["traceEvents"] if e["ph"] != "M"}
    assert threads[by_name["GRADIENT COMPT."]] == "user \u00b7 thread 1"
    assert threads[by_name["TRANSFER_FROM_RANK_0"]] == "w \u00b7 rank 0"


def test_merge_reports_clock_drift_and_warns_above_a_millisecond(job, capsys):
    trace = merge(job)
    assert trace["otherData"]["clock_drift_us"] == {"0": 0, "1": 1500}
    assert trace["otherData"]["clock"]["1"]["offset_us"] == 3_999_000
    assert trace["otherData"]["clock"]["1"]["offset_from"] == "init"
    err = capsys.readouterr().err
    assert "warning" in err and "rank 1" in err and "1500" in err
    assert err.count("drifted") == 1  # rank 0's drift is 0
    assert any("1500" in w for w in trace["otherData"]["warnings"])


def test_merge_without_offsets_uses_the_shared_steady_clock(tmp_path, capsys):
    write(tmp_path / "a0.json", open_text([clock(0, 2, "h", 2_000), *row(1, "t", []),
                                            B("MPI_BARRIER", 10, 1), E(20, 1)]))
    write(tmp_path / "a1.json", open_text([clock(1, 2, "h", 2_500), *row(1, "t", []),
                                            B("MPI_BARRIER", 5, 1), E(30, 1)]))
    trace = merge(str(tmp_path / "a"))
    ts = sorted((e["pid"], e["ph"], e["ts"]) for e in trace["traceEvents"] if e["ph"] != "M")
    assert ts == [(0, "B", 0), (0, "E", 10), (1, "B", 495), (1, "E", 520)]
    assert trace["otherData"]["clock_drift_us"] == {}
    assert capsys.readouterr().err == ""


def test_merge_warns_about_missing_ranks_and_goes_on(tmp_path, capsys):
    for r in (0, 2):
        write(tmp_path / "m{}.json".format(r), open_text([clock(r, 4, "h", 0), *row(1, "t", []),
                                                          B("MPI_BARRIER", 1, 1), E(2, 1)]))
    write(tmp_path / "m.json", "not a rank file")     # does not match PREFIX<digits>.json
    write(tmp_path / "mx1.json", "not a rank file")
    trace = merge(str(tmp_path / "m"))
    assert trace["otherData"]["ranks"] == [0, 2]
    assert trace["otherData"]["missing_ranks"] == [1, 3]
    err = capsys.readouterr().err
    assert "ranks 1, 3 of 4" in err


def test_merge_cli_writes_one_closed_valid_trace(job, tmp_path):
    out = tmp_path / "job.json"
    result = run_cli("merge", job, "-o", str(out))
    assert result.returncode == 0, result.stderr
    trace = json.loads(out.read_text(encoding="utf-8"))
    assert trace == json.loads(json.dumps(merge(job, warn=None)))
    assert "wrote" in result.stdout


# --- summary --------------------------------------------------------------

def test_summary_numbers_on_the_hand_built_job(job):
    s = summarize(job, warn=None)
    a = s.by_kind["ALLREDUCE"]
    assert a.ops == 2 and a.open_ops == 0
    assert a.queued_ms == pytest.approx(0.050 + 0.010)
    # waiting excludes the nested transfer: (400 - 100) + (100 - 30) us
    assert a.waiting_ms == pytest.approx(0.300 + 0.070)
    assert a.mean_waiting_ms == pytest.approx(0.185)
    assert a.transferring_ms == pytest.approx(0.100 + 0.030)
    assert a.reducing_ms == pytest.approx(0.020 + 0.010)
    n = s.by_kind["NEIGHBOR_ALLREDUCE"]
    assert (n.ops, n.queued_ms, n.waiting_ms) == (1, pytest.approx(0.010), 0)
    assert set(s.by_tensor) == {"w", "neighbor_allreduce.noname.*"}  # unnamed ops together
    assert s.by_tensor["w"].ops == 2 and s.by_tensor["w"].waiting_ms == pytest.approx(0.37)
    assert s.wait_ms[0][1] == pytest.approx(0.300) and s.wait_ms[1][0] == pytest.approx(0.070)
    assert s.wait_ms[0][0] == 0 and s.wait_ms[1][1] == 0
    assert s.straggler == 1
    assert s.straggler_ms == pytest.approx(0.300)
    assert s.straggler_share == pytest.approx(0.300 / 0.370)
    assert [(p.rank, p.tensor, p.kind, p.message) for p in s.problems] == [
        (0, "neighbor_allreduce.noname.0", "FAILED", "rank 1 left"),
        (1, "w", "STALL", "waiting for rank 0")]
    assert s.problems[0].ts_ms == pytest.approx(0.790)
    text = format_summary(s)
    assert ("straggler: rank 1 (the others waited 0.300 ms for it in total, "
            "81.1% of all waiting)") in text


def test_summary_straggler_is_the_rank_the_others_waited_for_most(tmp_path):
    # rank 0 waits 5 ms for rank 2, rank 1 waits 3 ms for rank 2 and 6 ms
    # for rank 0: rank 2's column (8 ms) beats rank 0's (6 ms), though rank
    # 0 is the largest single cell's target.
    waits = {0: [(2, 5000)], 1: [(2, 3000), (0, 6000)], 2: []}
    for r, peers in waits.items():
        lines = [clock(r, 3, "h", 0), *row(1, "g", []), B("MPI_NEIGHBOR_ALLREDUCE", 0, 1)]
        lines += [X("WAIT_FOR_RANK_{}".format(p), 0, d, 1, 100000 + p) for p, d in peers]
        lines.append(E(9000, 1))
        write(tmp_path / "s{}.json".format(r), open_text(lines))
    s = summarize(str(tmp_path / "s"), warn=None)
    assert s.straggler == 2 and s.straggler_ms == pytest.approx(8.0)
    assert s.waited_for_ms(0) == pytest.approx(6.0)
    assert s.straggler_share == pytest.approx(8 / 14)
    assert s.by_kind["NEIGHBOR_ALLREDUCE"].waiting_ms == pytest.approx(14.0)


def test_summary_names_no_straggler_without_waiting(tmp_path):
    for r in range(2):
        write(tmp_path / "n{}.json".format(r), open_text([clock(r, 2, "h", 0), *row(1, "b", []),
                                                          B("MPI_BARRIER", 0, 1), E(10, 1)]))
    s = summarize(str(tmp_path / "n"), warn=None)
    assert s.straggler is None and s.total_waiting_ms == 0
    assert s.by_kind["BARRIER"].ops == 2
    assert "straggler: none (no waiting recorded)" in format_summary(s)


def test_summary_counts_an_unfinished_op_as_open(tmp_path):
    write(tmp_path / "u0.json", open_text([clock(0, 1, "h", 0), *row(1, "b", []),
                                           B("MPI_ALLREDUCE", 0, 1), I("STALL: slow", 5000, 1)]))
    s = summarize(str(tmp_path / "u"), warn=None)
    assert (s.by_kind["ALLREDUCE"].ops, s.by_kind["ALLREDUCE"].open_ops) == (1, 1)
    assert "1 (1 open)" in format_summary(s)


def test_summary_cli_prints_the_tables(job):
    result = run_cli("summary", job)
    assert result.returncode == 0, result.stderr
    for heading in ("Per op kind", "Per tensor", "Who waited for whom", "Failures and stalls"):
        assert heading in result.stdout
    assert "rank 0  neighbor_allreduce.noname.0  FAILED: rank 1 left" in result.stdout


# --- plot -----------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def three_ranks(tmp_path):
    for r in range(3):
        lines = [clock(r, 3, "host{}".format(r // 2), 10_000 * r), offset("init", 10_000 * r),
                 *row(1, "w", [(0, "engine")]), *row(2, "user", [(1, "thread 1")])]
        for k in range(200):
            t = 1000 * k
            lines += [B("FORWARD", t, 2, 1), E(t + 300, 2, 1),
                      B("ENQUEUE_ALLREDUCE", t + 300, 1), E(t + 310, 1),
                      B("MPI_ALLREDUCE" if k % 3 else "MPI_NEIGHBOR_ALLREDUCE", t + 310, 1),
                      X("WAIT_FOR_RANK_{}".format((r + 1) % 3), t + 310, 200 + 50 * r, 1,
                        100000 + (r + 1) % 3),
                      X("TRANSFER_FROM_RANK_{}".format((r + 1) % 3), t + 460, 40, 1,
                        100000 + (r + 1) % 3),
                      E(t + 700, 1)]
        if r == 2:
            lines.append(I("FAILED: boom", 150_000, 1))
        write(tmp_path / "p{}.json".format(r), open_text(lines, pad_after=40))
    return str(tmp_path / "p")


def test_plot_writes_a_png_for_three_ranks(tmp_path):
    out = tmp_path / "job.png"
    plot_module.plot(three_ranks(tmp_path), str(out), warn=None)
    data = out.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 10_000


def test_plot_cli_writes_a_png(tmp_path):
    out = tmp_path / "cli.png"
    result = run_cli("plot", three_ranks(tmp_path), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == PNG_SIGNATURE


def test_plot_between_draws_only_that_stretch(tmp_path):
    prefix = three_ranks(tmp_path)
    full, part = tmp_path / "full.png", tmp_path / "part.png"
    plot_module.plot(prefix, str(full), warn=None)
    result = run_cli("plot", prefix, "-o", str(part), "--between", "10", "12.5")
    assert result.returncode == 0, result.stderr
    assert part.read_bytes()[:8] == PNG_SIGNATURE and part.read_bytes() != full.read_bytes()
    assert_usage_error(run_cli("plot", prefix, "-o", str(part), "--between", "5", "1"),
                       "--between 5 1", "earlier")


def test_plot_names_the_debian_package_when_matplotlib_is_missing(job, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(TimelineError, match="python3-matplotlib"):
        plot_module.plot(job, str(tmp_path / "x.png"))
    assert not (tmp_path / "x.png").exists()


# --- command line ---------------------------------------------------------

def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
    return subprocess.run([sys.executable, "-m", "bluefog.timeline", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def assert_usage_error(result, *fragments):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "warning" not in line]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], result.stderr


def test_cli_help_documents_the_three_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("merge", "summary", "plot", "PREFIX<rank>.json"):
        assert command in result.stdout
    sub = run_cli("merge", "--help")
    assert "-o FILE" in sub.stdout and "PREFIX" in sub.stdout


def test_cli_without_a_subcommand_is_a_usage_error():
    assert_usage_error(run_cli(), "error", "merge,summary,plot")


@pytest.mark.parametrize("command", ["merge", "summary", "plot"])
def test_cli_says_which_glob_matched_nothing(tmp_path, command):
    prefix = str(tmp_path / "nothing")
    extra = ["-o", str(tmp_path / "out")] if command != "summary" else []
    assert_usage_error(run_cli(command, prefix, *extra), "no timeline file matches",
                       prefix + "[0-9]*.json")


def test_cli_names_a_file_that_is_not_a_timeline(tmp_path):
    write(tmp_path / "bad0.json", '[\n{"name": "process_name", "ph": "M", "pid": 1, "tid": 0},\n')
    assert_usage_error(run_cli("summary", str(tmp_path / "bad")),
                       str(tmp_path / "bad0.json"), "not a timeline", "bluefog_clock")
    write(tmp_path / "junk0.json", "\x00\x01 binary")
    assert_usage_error(run_cli("merge", str(tmp_path / "junk"), "-o", str(tmp_path / "o.json")),
                       str(tmp_path / "junk0.json"), "not a timeline")


@pytest.mark.parametrize("command", ["merge", "plot"])
def test_cli_refuses_an_unwritable_output(job, tmp_path, command):
    missing_dir = tmp_path / "no" / "such" / "dir" / "out.file"
    assert_usage_error(run_cli(command, job, "-o", str(missing_dir)), "cannot write",
                       str(missing_dir))
    assert_usage_error(run_cli(command, job, "-o", str(tmp_path)), "cannot write",
                       "is a directory")


def test_cli_needs_an_output_for_merge():
    assert_usage_error(run_cli("merge", "x"), "-o")


def test_the_package_imports_neither_torch_nor_the_native_module():
    code = ("import sys, bluefog.timeline, bluefog.timeline.plot, bluefog.timeline.__main__; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'matplotlib') "
            "or m.endswith('_bluefog')]; assert not bad, bad; print('ok')")
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr


# --- the test suite's own reader, built on the package's -------------------

def test_the_suites_timeline_reader_parses_with_the_package_and_stays_strict(job, tmp_path):
    sys.path.insert(0, str(PYTHON_DIR.parent / "tests" / "python"))
    try:
        import timeline_reader
    finally:
        sys.path.pop(0)
    view = timeline_reader.read(job + "1.json")
    assert view.clock["args"]["rank"] == 1
    assert view.phases("user") == ["B:FORWARD", "E", "B:GRADIENT COMPT."]
    assert view.thread_names[(2, 1)] == "thread 1"
    assert timeline_reader.wait_until(job + "0.json", lambda v: len(v.of("w")) >= 8).of("w")
    text = open_text(RANK1)
    torn = write(tmp_path / "torn0.json", text[:text.index("GRADIENT")])
    with pytest.raises(json.JSONDecodeError):
        timeline_reader.load(torn)  # a torn read fails the suite's tests
    early = write(tmp_path / "early0.json", open_text([RANK1[0], B("A", 1, 9)]))
    with pytest.raises(AssertionError, match="before its row"):
        timeline_reader.read(early)


def test_summary_counts_unnamed_ops_of_one_kind_in_one_tensor_row(tmp_path):
    lines = [clock(0, 1, "h", 0)]
    for k in range(3):
        lines += [*row(k + 1, "barrier.noname.{}".format(k), []),
                  B("MPI_BARRIER", 10 * k, k + 1), E(10 * k + 5, k + 1)]
    lines += [*row(9, "my.noname.tensor", []), B("MPI_ALLREDUCE", 40, 9), E(50, 9)]
    write(tmp_path / "g0.json", open_text(lines))
    s = summarize(str(tmp_path / "g"), warn=None)
    assert {k: v.ops for k, v in s.by_tensor.items()} == {"barrier.noname.*": 3,
                                                          "my.noname.tensor": 1}
