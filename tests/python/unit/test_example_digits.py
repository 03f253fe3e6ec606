"""examples/pytorch_digits.py: the main job reaches the centralized accuracy,
and every communication choice runs."""

import os
import re
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples",
                      "pytorch_digits.py")


def run_digits(np, *args, env=None, timeout=300):
    command = [sys.executable, "-m", "bluefog.run.bfrun", "-np", str(np), sys.executable,
               SCRIPT, *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                            env=dict(os.environ, **(env or {})))
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def epochs(output, label):
    return [(float(loss), float(acc)) for loss, acc in re.findall(
        rf"\[{label}\] epoch +\d+/\d+  loss (\S+)  test accuracy (\S+)%", output)]


def test_main_job_reaches_the_centralized_accuracy():
    """The README's first command: 4 ranks, dynamic one-peer exponential-2."""
    output = run_digits(4)
    assert "dynamic one-peer exponential-2" in output
    assert len(epochs(output, "decentralized")) == 20 and len(epochs(output, "centralized")) == 20
    decentralized = float(re.search(r"^neighbor_allreduce .* ([\d.]+)% +[\d.]+s$", output,
                                    re.M).group(1))
    centralized = float(re.search(r"^centralized \(gradient allreduce.* ([\d.]+)% +[\d.]+s$",
                                  output, re.M).group(1))
    assert decentralized >= 95.0, output
    assert decentralized >= centralized - 1.0, output


@pytest.mark.parametrize("np, args, env", [
    (1, [], None),
    (2, ["--atc-style"], None),
    (3, ["--disable-dynamic-topology"], None),
    (3, ["--dist-optimizer", "allreduce"], None),
    (2, ["--dist-optimizer", "gradient_allreduce"], None),
    (4, ["--dist-optimizer", "hierarchical_neighbor_allreduce"],
     {"BLUEFOG_NODES_PER_MACHINE": "2"}),
    (2, ["--dist-optimizer", "empty"], None),
], ids=["one-rank", "atc", "static", "allreduce", "gradient-allreduce", "hierarchical",
        "empty"])
def test_every_communication_choice_trains(np, args, env):
    output = run_digits(np, "--epochs", "4", "--no-baseline", *args, env=env)
    history = epochs(output, "decentralized")
    assert len(history) == 4, output
    assert history[-1][0] < history[0][0] * 0.8, history  # the loss falls
    assert re.search(r"^test accuracy [\d.]+% in [\d.]+ s$", output, re.M), output
