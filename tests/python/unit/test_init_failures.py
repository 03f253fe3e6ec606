"""bf.init() refusing bad settings, and what a failed init leaves behind: a
clear ValueError on every rank, bluefog uninitialised afterwards (every call
raises the not-initialized error, which says why), MPI finalised, and a job
that ends normally. Also the topology queries before init and after shutdown."""

import re

import pytest

import bluefog.torch as bf

from launching import launch

# Open MPI's banner for a rank that called MPI_Init but not MPI_Finalize.
BANNER = re.compile(r'exiting improperly|without calling "finalize"')


@pytest.mark.parametrize("variable,value,allowed", [
    ("BLUEFOG_CYCLE_TIME", "1e100", "milliseconds in [0, 1000]"),
    ("BLUEFOG_CYCLE_TIME", "-5", "milliseconds in [0, 1000]"),
    ("BLUEFOG_CYCLE_TIME", "nan", "milliseconds in [0, 1000]"),
    ("BLUEFOG_CYCLE_TIME", "inf", "milliseconds in [0, 1000]"),
    ("BLUEFOG_STALL_WARNING_SECONDS", "1e100", "seconds in (0, 1e+07]"),
    ("BLUEFOG_STALL_WARNING_SECONDS", "-inf", "seconds in (0, 1e+07]"),
    ("BLUEFOG_OP_TIMEOUT_SECONDS", "1e300", "seconds in [0, 1e+07]"),
    ("BLUEFOG_OP_TIMEOUT_SECONDS", "NaN", "seconds in [0, 1e+07]"),
    ("BLUEFOG_MAX_UNSYNCHRONIZED_HANDLES", "0", "an integer in [1, 1073741824]"),
    ("BLUEFOG_MAX_UNSYNCHRONIZED_HANDLES", "lots", "an integer in [1, 1073741824]"),
])
def test_absurd_numbers_fail_init_naming_variable_and_range(variable, value, allowed,
                                                            monkeypatch):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError) as info:
        bf.init()
    message = str(info.value)
    assert variable in message and f"'{value}'" in message and allowed in message, message
    assert not bf.is_initialized()


def test_topology_queries_before_init_raise_not_initialized():
    assert not bf.is_initialized()
    for query in (bf.load_topology, bf.in_neighbor_ranks, bf.out_neighbor_ranks,
                  bf.is_topo_weighted, bf.load_machine_topology, bf.in_neighbor_machine_ranks,
                  bf.out_neighbor_machine_ranks, bf.is_machine_topo_weighted):
        with pytest.raises(ValueError, match="not initialized; call bf.init"):
            query()


def test_topology_queries_after_shutdown_raise_like_every_call():
    result = launch(2, "topology_after_shutdown.py")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.reports.splitlines()
    assert len(lines) == 2 * 9, result.reports
    for line in lines:
        assert "ShutdownError (RuntimeError): bluefog has been shut down" in line, result.reports


def test_nodes_per_machine_must_divide_size_and_the_job_ends_normally():
    result = launch(4, "failed_init.py", ["as_launched"],
                    env={"BLUEFOG_NODES_PER_MACHINE": "3"})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert not BANNER.search(output), output
    reports = result.reports
    for r in range(4):
        assert (f"rank {r} INIT InvalidArgumentError: BLUEFOG_NODES_PER_MACHINE=3 does not divide the "
                f"number of ranks 4") in reports, reports
        assert f"rank {r} INITIALIZED False" in reports, reports
        assert re.search(rf"rank {r} SIZE InvalidArgumentError: bluefog is not initialized: bf.init\(\) "
                         r"failed on this rank \(BLUEFOG_NODES_PER_MACHINE=3", reports), reports
        assert f"rank {r} DONE" in reports, reports


@pytest.mark.parametrize("case,others", [("npm_differs", "1"), ("npm_set_on_some", "unset")])
@pytest.mark.parametrize("np", [2, 4])
def test_init_failing_after_the_engine_started_leaves_bluefog_uninitialized(np, case, others):
    # The first half of the ranks set BLUEFOG_NODES_PER_MACHINE=2, the others
    # 1 or nothing (which used to hang in MPI's set-up).
    result = launch(np, "failed_init.py", [case])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert not BANNER.search(output), output
    reports = result.reports
    half = list(range(np // 2))
    differs = (f"init: BLUEFOG_NODES_PER_MACHINE differs between ranks (2 on ranks {half}; "
               f"{others} on ranks {list(range(np // 2, np))}); set the same value on every rank")
    for r in range(np):
        assert f"rank {r} INIT MismatchError: {differs}" in reports, reports
        assert f"rank {r} INITIALIZED False" in reports, reports
        for call in ("SIZE", "LOAD_TOPOLOGY", "IN_NEIGHBORS", "MACHINE_NEIGHBORS", "ALLREDUCE",
                     "HIERARCHICAL"):
            assert (f"rank {r} {call} InvalidArgumentError: bluefog is not initialized: bf.init() failed "
                    f"on this rank ({differs})") in reports, reports
        assert re.search(rf"rank {r} INIT_AGAIN RuntimeError: bluefog cannot be initialised: "
                         r"an earlier bf.init\(\) in this process failed", reports), reports
        assert f"rank {r} DONE" in reports, reports
