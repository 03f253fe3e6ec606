"""BLUEFOG_MAX_UNSYNCHRONIZED_HANDLES in a job of its own: the table keeps
that many handles nobody synchronized, releases the oldest finished ones
beyond, warns once, and a released handle raises saying so."""

import pytest

from launching import launch


@pytest.mark.parametrize("np", [1, 2])
def test_a_small_limit_releases_the_oldest_finished_handles(np):
    result = launch(np, "handle_limit.py", env={"BLUEFOG_MAX_UNSYNCHRONIZED_HANDLES": "3"})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    lines = result.reports.splitlines()
    for r in range(np):
        # Issuing the 4th to 7th handle released the 1st to 4th, each finished.
        assert f"COUNTS {r} kept=3 released=4 limit=3" in lines, output
        assert f"WARNINGS {r} 1 RuntimeWarning" in lines, output
        for i in range(4):
            assert f"HANDLE {r} {i} released: True" in lines, output
        for i in range(4, 7):
            assert f"HANDLE {r} {i} {[2.0 * i] * 2}" in lines, output
