"""Smoke test of bench/timeline_cost.py: in --quick mode (2 ranks, 1 round,
1 KiB, few iterations) it prints the table with every row, numbers in the
off, on and on/off cells, the 1 KiB bound with a verdict, and a positive
count of events per op from the on job's timeline files; and the on job's
in-process table (recording paused against on)."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, "bench", "timeline_cost.py")
BFRUN = os.path.join(os.path.dirname(sys.executable), "bfrun")
TIME = re.compile(r"^\d+(?:\.\d+)? (?:us|ms)$")


def test_quick_run_prints_every_row_with_numbers_and_events():
    env = dict(os.environ)
    env.pop("BLUEFOG_TIMELINE", None)
    if os.path.exists(BFRUN):
        env["BFRUN"] = BFRUN
    result = subprocess.run([sys.executable, SCRIPT, "--quick"], capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout

    assert "#### Timeline cost, 2 ranks" in out, out
    assert re.search(r"^memcpy reference .*1 KiB \d", out, re.M), out
    header = [c.strip() for c in re.search(r"^\| case \|(.*)\|$", out, re.M).group(1).split("|")]
    assert header[:5] == ["off", "on", "on/off", "bound", "verdict"], out
    assert header[-1] == "events per op (on)", out
    jobs_table, in_process = out.split("In one process", 1)
    rows = {m.group(1): [c.strip() for c in m.group(2).split("|")]
            for m in re.finditer(r"^\| (1 KiB|digits step) \|(.*)\|$", jobs_table, re.M)}
    assert sorted(rows) == ["1 KiB", "digits step"], out
    for case, cells in rows.items():
        assert len(cells) == len(header), (case, out)
        off, on, ratio, bound, verdict = cells[:5]
        assert TIME.match(off) and TIME.match(on), (case, cells)
        assert float(ratio) > 0, (case, cells)
        assert float(cells[-1]) > 0, (case, "the on job wrote no events", cells)
    assert rows["1 KiB"][3] == "<= 1.10" and rows["1 KiB"][4] in ("within", "over"), out
    assert rows["digits step"][3] == "n/a", out

    # The on job's own comparison: recording paused against on, in one process.
    paused = {m.group(1): [c.strip() for c in m.group(2).split("|")]
              for m in re.finditer(r"^\| (1 KiB|digits step) \|(.*)\|$", in_process, re.M)}
    assert sorted(paused) == ["1 KiB", "digits step"], out
    for case, cells in paused.items():
        assert TIME.match(cells[0]) and TIME.match(cells[1]) and float(cells[2]) > 0, cells
    assert paused["1 KiB"][3] == "<= 1.10" and paused["1 KiB"][4] in ("within", "over"), out
