"""The average consensus example: every topology runs, converges as fast as its
mixing matrices say, and the plot is written."""

import importlib.util
import os
import re
import subprocess
import sys

import networkx as nx
import numpy as np
import pytest

from bluefog.common import topology_util as tu

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, "examples", "average_consensus.py")
STEPS = 10



def _load_example():
    spec = importlib.util.spec_from_file_location("average_consensus", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The example's own list of graphs and schedules; the bounds below are
# computed here from their mixing matrices.
_EXAMPLE = _load_example()
STATIC = _EXAMPLE.STATIC
DYNAMIC = {name: (lambda make: lambda n, r: make(n, n, r))(make)  # one machine
           for name, make in _EXAMPLE.DYNAMIC.items()}


def step_matrices(name, n):
    """W_1..W_STEPS, W[i, j] = how much rank j takes from rank i at that step."""
    if name in STATIC:
        return [nx.to_numpy_array(STATIC[name](n), nodelist=range(n))] * STEPS
    schedules = [DYNAMIC[name](n, r) for r in range(n)]
    matrices = []
    for _ in range(STEPS):
        w = np.zeros((n, n))
        for rank, schedule in enumerate(schedules):
            _, recv = next(schedule)
            for src in [rank, *recv]:  # recv may be [rank] (InnerOuterRing, one machine)
                w[src, rank] += 1.0 / (len(recv) + 1)
        matrices.append(w)
    return matrices


def contraction_bounds(name, n):
    """||W_1 ... W_k - 11^T/n||_2 for k = 0..STEPS: for doubly stochastic steps,
    error_k <= bound_k * error_0."""
    product, bounds = np.eye(n), [1.0]
    for w in step_matrices(name, n):
        product = product @ w
        bounds.append(np.linalg.norm(product - 1.0 / n, 2))
    return bounds


def run_example(np_, plot):
    command = [sys.executable, "-m", "bluefog.run.bfrun", "-np", str(np_), sys.executable,
               SCRIPT, "--steps", str(STEPS), "--size", "20", "--plot", str(plot)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    errors = {}
    for name, step, error in re.findall(r"^topology (\S+) step (\d+) error (\S+)$",
                                        result.stdout, re.MULTILINE):
        errors.setdefault(name, []).append(float(error))
        assert int(step) == len(errors[name]) - 1, result.stdout
    return errors, result.stdout


@pytest.mark.parametrize("np_", [4, 3])
def test_every_topology_converges_and_is_plotted(np_, tmp_path):
    plot = tmp_path / "consensus.png"
    errors, stdout = run_example(np_, plot)

    assert sorted(errors) == sorted([*STATIC, *DYNAMIC]), stdout
    for name, curve in errors.items():
        assert len(curve) == STEPS + 1, (name, curve)
        assert curve[0] > 1.0, (name, curve)  # 20 N(0, 1) entries per rank
        bounds = contraction_bounds(name, np_)
        assert bounds[-1] < 0.1, (name, bounds)  # every topology here mixes well
        # Some curves sit exactly on the bound; errors are printed to 4 digits.
        for k, (error, bound) in enumerate(zip(curve, bounds)):
            assert error <= bound * curve[0] * 1.002 + 1e-12, (name, k, curve, bounds)
        # the summary table repeats the last error
        assert re.search(rf"^{re.escape(name)} +{curve[-1]:.3e}$", stdout, re.MULTILINE), stdout

    # Exact mean in one step with weights 1/n everywhere; one-peer exponential-2
    # on 4 ranks pairs i with i+1, then i with i+2: exact after 2 steps.
    assert errors["FullyConnectedGraph"][1] < 1e-12, errors["FullyConnectedGraph"]
    if np_ == 4:
        assert errors["OnePeerExpo2"][1] > 1.0 and errors["OnePeerExpo2"][2] < 1e-12
    else:  # on 3 ranks the 1/3 ring is the full graph
        assert errors["RingGraph"][1] < 1e-12, errors["RingGraph"]

    data = plot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000, len(data)
