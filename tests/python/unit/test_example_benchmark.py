"""The synthetic-image benchmark example: every communication type runs (or is
skipped for a stated reason) and reports positive throughputs for the model
it says it built."""

import importlib.util
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, "examples", "pytorch_benchmark.py")
ALL = ["empty", "neighbor_allreduce", "dynamic_neighbor_allreduce", "atc",
       "hierarchical_neighbor_allreduce", "allreduce", "gradient_allreduce"]
NUMBER = r"(\d+(?:\.\d+)?)"


def load_example():
    spec = importlib.util.spec_from_file_location("pytorch_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_example(np_, nodes_per_machine, *args):
    command = [sys.executable, "-m", "bluefog.run.bfrun", "-np", str(np_), sys.executable,
               SCRIPT, "--batch-size", "4", "--num-warmup-batches", "1",
               "--num-batches-per-iter", "1", "--num-iters", "2", "--comm", "all", *args]
    env = dict(os.environ, BLUEFOG_NODES_PER_MACHINE=str(nodes_per_machine))
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize("np_, nodes_per_machine, model, width", [
    (2, 1, "resnet18", 4),  # one rank per machine: hierarchical is skipped
    (4, 2, "mlp", 8),       # two emulated machines of two ranks
])
def test_every_communication_type_reports_throughput(np_, nodes_per_machine, model, width):
    stdout = run_example(np_, nodes_per_machine, "--model", model, "--width", str(width))

    expected = [c for c in ALL if nodes_per_machine > 1 or c != "hierarchical_neighbor_allreduce"]
    results = re.findall(rf"^RESULT comm=(\S+) per_rank={NUMBER} total={NUMBER} "
                         rf"vs_empty={NUMBER} sent_bytes=(\d+)$", stdout, re.MULTILINE)
    assert [r[0] for r in results] == expected, stdout
    for comm, per_rank, total, vs_empty, sent in results:
        assert float(per_rank) > 0 and float(vs_empty) > 0, (comm, stdout)
        assert float(total) == pytest.approx(np_ * float(per_rank), abs=0.1 * np_), stdout
        assert (int(sent) == 0) == (comm == "empty"), (comm, stdout)
    assert dict((r[0], r[3]) for r in results)["empty"] == "1.00", stdout

    # two iterations and the summary for each type that ran
    assert len(re.findall(r"^Iter #[01]: \S+ img/sec per rank$", stdout, re.M)) == 2 * len(expected)
    assert len(re.findall(rf"^Total img/sec on {np_} rank\(s\): ", stdout, re.M)) == len(expected)

    skip = re.search(r"^SKIP comm=hierarchical_neighbor_allreduce reason: local_size\(\) is 1\b",
                     stdout, re.MULTILINE)
    assert (skip is not None) == (nodes_per_machine == 1), stdout

    params = sum(p.numel() for p in load_example().build_model(model, width).parameters())
    assert re.search(rf"^MODEL name={model} width={width} params={params} bytes={4 * params}$",
                     stdout, re.MULTILINE), (params, stdout)
