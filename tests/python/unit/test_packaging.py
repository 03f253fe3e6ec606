"""`pip install --no-build-isolation .` works offline into a fresh venv, and
the installed package and its `bfrun` run a 2-rank job outside the tree."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

SMOKE = """
import torch, bluefog, bluefog.torch as bf
assert 'site-packages' in bluefog.__file__, bluefog.__file__
bf.init()
total = bf.allreduce(torch.ones(3) * (bf.rank() + 1), average=False)
assert torch.equal(total, torch.full((3,), 3.0)), total
print('SMOKE-OK', bf.rank())
"""


def test_pip_install_then_run(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--no-build-isolation", "--no-deps", "-q", ROOT],
        capture_output=True, text=True, timeout=1200, env=env)
    assert install.returncode == 0, install.stdout + install.stderr
    script = tmp_path / "smoke.py"
    script.write_text(SMOKE)
    # The dev .pth of the test venv must not leak in: use the new venv only.
    run = subprocess.run(
        [str(venv / "bin" / "bfrun"), "-np", "2", str(venv / "bin" / "python"), str(script)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("SMOKE-OK") == 2, run.stdout + run.stderr
