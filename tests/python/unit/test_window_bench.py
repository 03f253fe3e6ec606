"""Smoke test of bench/window_bench.py: at 2 ranks with tiny settings it
prints one table row per size, with a positive median, p90 and GB/s for
every op."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, "bench", "window_bench.py")
OPS = ["memcpy", "neighbor_allreduce", "win_put", "win_accumulate",
       "win_put x2 pipelined", "win_accumulate x2 pipelined"]
TIME = r"(\d+(?:\.\d+)?) (?:us|ms)"
CELL = re.compile(rf"^{TIME} / {TIME} \(([\d.e+-]+) GB/s\)$")


def test_window_bench_prints_a_row_per_size_with_positive_numbers():
    command = [sys.executable, "-m", "bluefog.run.bfrun", "-np", "2", sys.executable, SCRIPT,
               "--sizes", "1024", "65536", "--reps", "3", "--depth", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout

    assert "### window ops, 2 ranks, 1 out-neighbour(s), float32" in out, out
    header = [c.strip() for c in re.search(r"^\| size \|(.*)\|$", out, re.M).group(1).split("|")]
    assert header == OPS, out
    rows = {m.group(1): [c.strip() for c in m.group(2).split("|")]
            for m in re.finditer(r"^\| (\d+ [KM]iB) \|(.*)\|$", out, re.M)}
    assert sorted(rows) == ["1 KiB", "64 KiB"], out
    for size, cells in rows.items():
        assert len(cells) == len(OPS), (size, out)
        for op, text in zip(OPS, cells):
            match = CELL.match(text)
            assert match, (size, op, text)
            assert all(float(v) > 0 for v in match.groups()), (size, op, text)
