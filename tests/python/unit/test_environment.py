"""The BLUEFOG_* variables: 0.3's that do nothing here and unknown names
warn once at init; the ones this project reads do not, and the list of
those is complete (every name the engine, the package and bfrun read)."""

import glob
import os
import re
import subprocess
import sys

import pytest

import bluefog.torch as bf
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


def test_init_warns_once_per_name(monkeypatch):
    monkeypatch.setattr(environment, "_warned", set())
    monkeypatch.setenv("BLUEFOG_OPS_ON_CPU", "1")
    monkeypatch.setenv("BLUEFOG_CYCLE_TIMES", "5")
    with pytest.warns(BluefogEnvironmentWarning) as record:
        bf.init()
    messages = sorted(str(w.message) for w in record)
    assert len(messages) == 2, messages
    assert "BLUEFOG_CYCLE_TIMES" in messages[0] and "BLUEFOG_CYCLE_TIME?" in messages[0]
    assert messages[1].startswith("BLUEFOG_OPS_ON_CPU is set, but it has no effect")
    assert record[0].filename == __file__  # points at the caller's init()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", BluefogEnvironmentWarning)
        bf.init()  # again: no second warning


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
