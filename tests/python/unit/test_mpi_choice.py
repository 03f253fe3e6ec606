"""Choosing the MPI implementation at run time: BLUEFOG_EXTENSION_DIR picks
another build of the extension module, and a launcher of the other MPI is
refused at init instead of starting jobs of size 1."""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
INIT_ONLY = os.path.join(ROOT, "tests", "python", "scenarios", "init_only.py")


def test_extension_dir_is_searched_first(tmp_path):
    (tmp_path / "_bluefog.py").write_text("WHERE = 'extension dir'\n")
    env = dict(os.environ, BLUEFOG_EXTENSION_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", "from bluefog import _bluefog; print(_bluefog.WHERE)"],
        env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "extension dir", result.stderr


@pytest.mark.skipif(not (shutil.which("mpirun.openmpi") and shutil.which("mpiexec.mpich")),
                    reason="needs both Open MPI and MPICH")
def test_launcher_of_the_other_mpi_is_refused():
    # The module is built against one of the two; that one's launcher works
    # and the other's is refused, whichever the module is.
    outputs = []
    for launcher in ("mpirun.openmpi", "mpiexec.mpich"):
        result = subprocess.run(
            [sys.executable, "-m", "bluefog.run.bfrun", "--mpirun", launcher, "-np", "2",
             sys.executable, INIT_ONLY], capture_output=True, text=True, timeout=120)
        outputs.append(result.stdout)
    refused = [o.count("another MPI implementation") for o in outputs]
    started = [o.count("INIT-OK") for o in outputs]
    assert sorted(zip(refused, started)) == [(0, 2), (2, 0)], outputs
