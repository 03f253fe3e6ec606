"""scripts/setup.sh can be sourced: it leaves the caller's shell options and
working directory alone, puts the venv on PATH, and a failure returns its
status to the caller's shell instead of exiting it."""

import os
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

CALLER = r"""
set +e +u; set +o pipefail
before="$(set +o)"
cd "$START"
source "$SETUP" >/dev/null 2>&1
echo "rc=$?"
[ "$before" = "$(set +o)" ] && echo SAME-OPTIONS
echo "pwd=$PWD"
echo "bfrun=$(command -v bfrun)"
false | true  # would fail under pipefail; set -e would have ended the shell at `false`
echo STILL-HERE
"""


def run_caller(setup, start, path=None):
    env = dict(os.environ, SETUP=setup, START=str(start))
    if path is not None:
        env["PATH"] = path
    result = subprocess.run(["bash", "-c", CALLER], env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line), \
        result.stdout


def test_sourcing_keeps_the_callers_shell(tmp_path):
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                           if not p.startswith(ROOT))
    values, out = run_caller(os.path.join(ROOT, "scripts", "setup.sh"), tmp_path, path)
    assert values["rc"] == "0", out
    assert "SAME-OPTIONS" in out and "STILL-HERE" in out, out
    assert values["pwd"] == str(tmp_path)
    assert values["bfrun"] == os.path.join(ROOT, ".venv", "bin", "bfrun")


def test_a_failure_returns_to_the_caller(tmp_path):
    """A copy of setup.sh whose package step fails with status 3."""
    scripts = tmp_path / "checkout" / "scripts"
    (scripts / "lib").mkdir(parents=True)
    shutil.copy(os.path.join(ROOT, "scripts", "setup.sh"), scripts / "setup.sh")
    (scripts / "lib" / "apt.sh").write_text("install_missing() { return 3; }\n")
    values, out = run_caller(str(scripts / "setup.sh"), tmp_path)
    assert values["rc"] == "3", out
    assert "SAME-OPTIONS" in out and "STILL-HERE" in out, out
    assert values["pwd"] == str(tmp_path)
    assert not (tmp_path / "checkout" / ".venv").exists()  # it stopped at the failure


def test_running_it_works_too():
    result = subprocess.run(["bash", os.path.join(ROOT, "scripts", "setup.sh")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
