#!/usr/bin/env bash
# Sets up (see setup.sh) and runs every test: C++ unit tests, single-process
# Python tests, then the multi-rank suite under bfrun at 1, 2, 3 and 4 ranks,
# each run bounded in time so that a hang fails instead of blocking.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
export OMPI_MCA_rmaps_base_oversubscribe=1

echo "== C++ unit tests"
ctest --test-dir build --output-on-failure --timeout 120

echo "== single-process Python tests"
python -m pytest -q -p no:cacheprovider --color=no --timeout=600 tests/python/unit

for np in 1 2 3 4; do
  echo "== multi-rank Python tests at $np rank(s)"
  timeout -k 10 900 bfrun -np "$np" python tests/python/mpi_pytest.py \
    --log-dir build/test-logs/np$np -- -q --color=no --timeout=300 tests/python/mpi
done
echo "all test suites passed"
