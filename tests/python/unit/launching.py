"""Launching a whole job of a scenario script (tests/python/scenarios) with
bfrun, bounded in time, for the single-process tests that check what jobs do."""

import glob
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCENARIOS = os.path.join(ROOT, "tests", "python", "scenarios")


def launch(np, script, args=(), env=None, extra_mpi_flags=None, timeout=120):
    """The finished job (subprocess.CompletedProcess), plus `reports`: the
    lines its ranks gave to scenarios/report.py, rank by rank, unmixed."""
    command = [sys.executable, "-m", "bluefog.run.bfrun", "-np", str(np)]
    if extra_mpi_flags:
        command += ["--extra-mpi-flags", extra_mpi_flags]
    command += [sys.executable, os.path.join(SCENARIOS, script), *args]
    with tempfile.TemporaryDirectory() as reports:
        full_env = dict(os.environ, **(env or {}), BLUEFOG_TEST_REPORT_DIR=reports)
        result = subprocess.run(command, env=full_env, capture_output=True, text=True,
                                timeout=timeout)
        result.reports = "".join(open(path).read() for path in
                                 sorted(glob.glob(os.path.join(reports, "rank*.txt"))))
    return result
