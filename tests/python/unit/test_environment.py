"""The BLUEFOG_* variables: 0.3's that do nothing here and unknown names
warn once at init; the ones this project reads do not, and the list of
those is complete (every name the engine, the package and bfrun read)."""

import glob
import os
import re
import subprocess
import sys

import pytest

from bluefog.common import environment
from bluefog.common.environment import BluefogEnvironmentWarning

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_recognised_names_say_nothing():
    assert environment.problems({name: "1" for name in environment.RECOGNISED}) == {}
    assert environment.problems({"PATH": "/bin", "OMPI_COMM_WORLD_SIZE": "4"}) == {}


@pytest.mark.parametrize("name", ["BLUEFOG_OPS_ON_CPU", "BLUEFOG_ALLREDUCE_BY_MPI",
                                  "BLUEFOG_WIN_OPS_BY_MPI", "BLUEFOG_MAX_WIN_SENT_LENGTH",
                                  "BLUEFOG_WITH_NCCL"])
def test_0_3_variables_are_named_with_the_reason(name):
    message = environment.problems({name: "1"})[name]
    assert message.startswith(f"{name} is set, but it has no effect")
    assert environment.IGNORED_FROM_0_3[name] in message


def test_unknown_names_suggest_the_likely_one():
    found = environment.problems({"BLUEFOG_FUSION_THRESHHOLD": "8", "BLUEFOG_ZZZ": "1"})
    assert found["BLUEFOG_FUSION_THRESHHOLD"].endswith("did you mean BLUEFOG_FUSION_THRESHOLD?")
    assert "BLUEFOG_LOG_LEVEL" in found["BLUEFOG_ZZZ"]  # no close match: the whole list


def test_init_warns_once_per_name():
    """In a job of one rank of its own (an init in this process would leave
    MPI state that breaks the later tests' launches)."""
    script = "import bluefog.torch as bf\nbf.init()\nbf.init()\nprint('INIT-TWICE')\n"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
        env=dict(os.environ, BLUEFOG_OPS_ON_CPU="1", BLUEFOG_CYCLE_TIMES="5"))
    assert result.returncode == 0 and "INIT-TWICE" in result.stdout, result.stderr
    warned = [line for line in result.stderr.splitlines() if "BluefogEnvironmentWarning" in line]
    assert len(warned) == 2, result.stderr  # one per name, not one per init
    assert all(line.startswith("<string>:2: ") for line in warned), warned  # the caller's init()
    assert "BLUEFOG_CYCLE_TIMES is set, but bluefog reads no such variable; did you mean " \
           "BLUEFOG_CYCLE_TIME?" in result.stderr
    assert "BLUEFOG_OPS_ON_CPU is set, but it has no effect" in result.stderr


def test_warn_once_remembers_names(monkeypatch):
    monkeypatch.setattr(environment, "_warned", set())
    with pytest.warns(BluefogEnvironmentWarning):
        environment.warn_once({"BLUEFOG_WIN_ON_CPU": "1"})
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", BluefogEnvironmentWarning)
        environment.warn_once({"BLUEFOG_WIN_ON_CPU": "1"})


def names_read_by(pattern):
    names = set()
    for path in glob.glob(os.path.join(ROOT, pattern), recursive=True):
        if os.path.basename(path) in ("environment.py", "test_environment.py"):
            continue  # the lists themselves, and this file's misspelt names
        with open(path) as source:
            names |= set(re.findall(r'"(BLUEFOG_[A-Z0-9_]+)"', source.read()))
    return names


def test_the_recognised_list_covers_what_the_code_reads():
    read = (names_read_by("cpp/core/src/*.cc") | names_read_by("python/bluefog/**/*.py")
            | names_read_by("tests/python/**/*.py"))
    assert read, "the scan found nothing: the paths are wrong"
    missing = read - set(environment.RECOGNISED) - set(environment.IGNORED_FROM_0_3)
    assert not missing, f"add these to environment.RECOGNISED: {sorted(missing)}"


def test_one_warning_per_machine_in_a_job():
    script = "import bluefog.torch as bf; bf.init(); print('RAN', bf.rank(), flush=True)"
    result = subprocess.run(
        [sys.executable, "-m", "bluefog.run.bfrun", "-np", "2", sys.executable, "-c", script],
        env=dict(os.environ, BLUEFOG_WIN_ON_GPU="1"), capture_output=True, text=True,
        timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("RAN") == 2
    assert result.stderr.count("BLUEFOG_WIN_ON_GPU is set, but it has no effect") == 1, \
        result.stderr
