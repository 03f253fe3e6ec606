"""Whole jobs launched with bfrun: a rank that dies or stalls, bad or special
settings (emulated machines, log levels). Each job is bounded in time."""

import os
import re
import subprocess
import sys

import pytest
import torch

import bluefog.torch as bf

from launching import SCENARIOS, launch


def test_api_before_init_raises_value_error():
    assert not bf.is_initialized()
    for call in (bf.size, bf.rank, bf.local_size, bf.machine_rank):
        with pytest.raises(ValueError, match="not initialized"):
            call()
    with pytest.raises(ValueError, match="not initialized"):
        bf.allreduce(torch.ones(2))
    with pytest.raises(ValueError, match="not initialized"):
        bf.barrier()


@pytest.mark.parametrize("variable,value", [
    ("BLUEFOG_FUSION_THRESHOLD", "abc"),
    ("BLUEFOG_CYCLE_TIME", "-1"),
    ("BLUEFOG_LOG_LEVEL", "loud"),
    ("BLUEFOG_NODES_PER_MACHINE", "0"),
    ("BLUEFOG_STALL_WARNING_SECONDS", "never"),
    ("BLUEFOG_MPI_THREAD_LEVEL", "9"),
])
def test_malformed_environment_value_fails_init(variable, value, monkeypatch):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable):
        bf.init()
    assert not bf.is_initialized()


def test_nodes_per_machine_emulates_machines():
    result = launch(4, "init_only.py", env={"BLUEFOG_NODES_PER_MACHINE": "2"})
    lines = sorted(re.findall(r"INIT-OK rank \d+ local_size \d+ machine_size \d+ "
                              r"machine_rank \d+", result.stdout))
    assert lines == [f"INIT-OK rank {r} local_size 2 machine_size 2 machine_rank {r // 2}"
                     for r in range(4)], result.stdout + result.stderr


@pytest.mark.parametrize("np", [2, 3])
def test_stall_warning_names_missing_rank_and_tensor(np):
    result = launch(np, "stall.py", env={"BLUEFOG_STALL_WARNING_SECONDS": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("STALL-DONE") == np
    warnings = [l for l in result.stderr.splitlines()
                if "WARNING" in l and "late_tensor" in l and "rank 0]" in l]
    assert any("ranks [1] have not posted" in l for l in warnings), result.stderr


@pytest.mark.parametrize("np", [2, 3, 4])
def test_dead_rank_fails_pending_and_later_ops(np):
    # --enable-recovery keeps mpirun from killing the survivors, so we can see
    # what they report.
    result = launch(np, "kill_rank.py", extra_mpi_flags="--enable-recovery")
    survivors = [r for r in range(np) if r != 1]
    output = result.stdout + result.stderr
    for r in survivors:
        assert f"SURVIVOR-OK rank {r} pending" in result.reports, output
        assert f"SURVIVOR-OK rank {r} later" in result.reports, output
    assert "unexpectedly succeeded" not in result.reports


def test_dead_rank_with_default_launcher_ends_job_with_error():
    result = launch(3, "kill_rank.py")
    assert result.returncode != 0


def test_log_level_controls_logging():
    quiet = launch(2, "init_only.py")
    assert quiet.stdout.count("INIT-OK") == 2, quiet.stdout + quiet.stderr
    assert "INFO" not in quiet.stderr
    info = launch(2, "init_only.py", env={"BLUEFOG_LOG_LEVEL": "info"})
    lines = [l for l in info.stderr.splitlines() if "INFO" in l and "initialised" in l]
    assert len(lines) == 2, info.stderr
    # Time stamps by default (HH:MM:SS.micro), none with BLUEFOG_LOG_HIDE_TIME.
    assert re.search(r"\[bluefog \d\d:\d\d:\d\d\.\d{6} INFO rank \d\]", lines[0]), lines[0]
    hidden = launch(2, "init_only.py",
                    env={"BLUEFOG_LOG_LEVEL": "debug", "BLUEFOG_LOG_HIDE_TIME": "1"})
    assert re.search(r"\[bluefog INFO rank \d\] initialised", hidden.stderr), hidden.stderr


def test_error_log_level_silences_stall_warnings():
    result = launch(2, "stall.py", env={"BLUEFOG_STALL_WARNING_SECONDS": "1",
                                        "BLUEFOG_LOG_LEVEL": "error"})
    assert result.stdout.count("STALL-DONE") == 2, result.stdout + result.stderr
    assert "WARNING" not in result.stderr


def test_hierarchical_local_allreduce_on_emulated_machines():
    result = launch(4, "hierarchical_local.py", env={"BLUEFOG_NODES_PER_MACHINE": "2"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(re.findall(r"HIER-OK rank \d", result.stdout)) == 4, result.stdout + result.stderr


def test_shutdown_gives_up_on_ops_a_live_peer_never_posts():
    result = launch(2, "shutdown_with_pending.py", ["peer_stays", "5"],
                    env={"BLUEFOG_STALL_WARNING_SECONDS": "2"}, timeout=60)
    assert result.reports.count("SHUTDOWN-DONE") == 2, result.stdout + result.stderr
    assert "shutdown gave up on 1 pending op" in result.stderr, result.stderr


def test_shutdown_does_not_wait_for_an_op_a_departed_peer_never_posted():
    # The stall interval stays at its default (60 s): nothing may wait for it.
    result = launch(2, "shutdown_with_pending.py", ["peer_leaves"], timeout=60)
    times = [float(t) for t in re.findall(r"SHUTDOWN-DONE rank \d after ([\d.]+)s",
                                          result.reports)]
    assert len(times) == 2 and max(times) < 10, result.stdout + result.stderr
    assert "gave up" not in result.stderr, result.stderr


def test_plain_python_is_a_job_of_size_one():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_COMM_WORLD", "PMIX_"))}
    result = subprocess.run([sys.executable, os.path.join(SCENARIOS, "size_one.py")],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SIZE-ONE-OK" in result.stdout


@pytest.mark.parametrize("threshold", [None, "0"])
def test_fusion_packs_small_messages_and_stays_exact(threshold):
    env = {} if threshold is None else {"BLUEFOG_FUSION_THRESHOLD": threshold}
    result = launch(3, "fusion.py", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    counts = re.findall(r"FUSION rank \d logical (\d+) mpi (\d+)", result.stdout)
    assert len(counts) == 3, result.stdout + result.stderr
    for logical, mpi in counts:
        if threshold == "0":
            assert int(mpi) == int(logical)
        else:
            assert int(mpi) < int(logical) // 2, (logical, mpi)


def test_mismatch_without_topology_check_is_reported_not_silent():
    result = launch(2, "topo_check_off.py", env={"BLUEFOG_STALL_WARNING_SECONDS": "1"})
    assert result.stdout.count("TOPO-OFF-DONE") == 2, result.stdout + result.stderr
    rank1 = [l for l in result.stderr.splitlines() if "rank 1]" in l]
    assert any("rank 0 sent data for neighbor_allreduce 'orphan' that this rank's op "
               "completed without" in l for l in rank1), \
        result.stderr
    assert any("neighbor_allreduce 'missing' has waited" in l and "ranks [0]" in l
               for l in rank1), result.stderr


def test_window_ops_after_shutdown_raise():
    result = launch(2, "windows_after_shutdown.py")
    assert result.returncode == 0, result.stdout + result.stderr
    for op in ("win_put", "win_accumulate", "win_get", "win_update", "win_create"):
        assert result.stdout.count(f"AFTER-SHUTDOWN {op} RuntimeError") == 2, result.stdout
