"""Runs examples/decentralized_regression.py under bfrun on 1-4 ranks and
checks what its output claims: exact diffusion, gradient tracking and
push-DIGing reach x*, diffusion stalls at a biased point, and the plot exists."""

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "decentralized_regression.py"
LINE = re.compile(r"^(linear|logistic) (\S+) iter (\d+) distance (\S+)$", re.MULTILINE)
EXACT = ("exact-diffusion", "gradient-tracking", "push-DIGing")
# With 5 features and 50 samples per rank, L/mu of the logistic problem is
# about 5, so the slowest methods (step 0.5/L) contract the error by about 0.9
# per iteration: ~1e-14 after 300 iterations (the worst of 8 seeds on 2-4
# ranks was ~1e-12). 1e-6 leaves orders of magnitude of margin.
ITERS = 300
TOLERANCE = 1e-6


def run_example(n, tmp_path):
    plot = tmp_path / "r.png"
    command = [sys.executable, "-m", "bluefog.run.bfrun", "-np", str(n), sys.executable,
               str(EXAMPLE), "--iters", str(ITERS), "--dim", "5", "--samples-per-rank", "50",
               "--plot", str(plot)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    distances = {}
    for problem, algo, k, d in LINE.findall(result.stdout):
        distances.setdefault((problem, algo), {})[int(k)] = float(d)
    return result.stdout, distances, plot


def check_plot(plot):
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("n", [2, 3, 4])
def test_exact_methods_reach_optimum_and_diffusion_is_biased(n, tmp_path):
    stdout, distances, plot = run_example(n, tmp_path)
    assert f"summary on {n} ranks" in stdout, stdout
    for problem in ("linear", "logistic"):
        for algo in EXACT:
            final = distances[problem, algo][ITERS]
            assert final < TOLERANCE, (problem, algo, final, stdout)
        diffusion = distances[problem, "diffusion"]
        assert diffusion[ITERS] < diffusion[0], (problem, stdout)
        # Diffusion's bias: it stalls far from x*, above every exact method.
        assert diffusion[ITERS] > 1e-3, (problem, stdout)
        assert diffusion[ITERS] > 100 * max(distances[problem, a][ITERS] for a in EXACT)
    check_plot(plot)


def test_single_rank_runs(tmp_path):
    stdout, distances, plot = run_example(1, tmp_path)
    assert "summary on 1 rank " in stdout, stdout
    assert len(distances) == 8
    # One rank: every method is plain gradient descent, so all converge.
    for curve in distances.values():
        assert curve[ITERS] < curve[0]
    check_plot(plot)
