"""Runs the window stress test (tests/python/stress/window_stress.py) under
bfrun for each launcher setup and rank count; every rank must report its
exact accounting OK. A launcher setup is one entry of LAUNCHERS: extra bfrun
arguments and environment (and marks, e.g. a skipif)."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, "tests", "python", "stress", "window_stress.py")
TIME_LIMIT = 240  # seconds, enforced inside the script; the subprocess gets a bit more

# Where scripts/test_mpich.sh built the MPICH variant of the module.
MPICH_MODULE = os.environ.get("BLUEFOG_MPICH_EXTENSION_DIR")

LAUNCHERS = [
    pytest.param([], {}, id="openmpi-shm"),
    # pml ob1, so that the btl choice is honoured (UCX would bypass it).
    pytest.param(["--extra-mpi-flags", "--mca pml ob1 --mca btl self,tcp"], {},
                 id="openmpi-tcp"),
    pytest.param(["--mpirun", "mpiexec.mpich"], {"BLUEFOG_EXTENSION_DIR": MPICH_MODULE or ""},
                 id="mpich", marks=pytest.mark.skipif(
                     not MPICH_MODULE, reason="needs the MPICH build; scripts/test_mpich.sh "
                     "runs this case")),
]


@pytest.mark.parametrize("bfrun_args,env", LAUNCHERS)
@pytest.mark.parametrize("np,ops", [(4, 10000), (2, 2000)], ids=["np4", "np2"])
def test_window_stress(bfrun_args, env, np, ops):
    command = [sys.executable, "-m", "bluefog.run.bfrun", "-np", str(np), *bfrun_args,
               sys.executable, SCRIPT, "--ops", str(ops), "--time-limit", str(TIME_LIMIT)]
    result = subprocess.run(command, env=dict(os.environ, **env), capture_output=True,
                            text=True, timeout=TIME_LIMIT + 60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # mpirun may interleave the ranks' lines, so match the markers themselves.
    ok = sorted(int(r) for r in re.findall(r"STRESS rank (\d+) ops \d+ checked OK",
                                            result.stdout))
    assert ok == list(range(np)), output
