#!/usr/bin/env bash
# Sets up (see setup.sh) and runs every test: C++ unit tests, single-process
# Python tests, the multi-rank suite under bfrun at 1, 2, 3 and 4 ranks, an
# 8-rank suite, the averaging tests on emulated machines, the window tests over
# TCP, BlueFog 0.3's own test suite (../shared/conformance) at 4 ranks, and the
# MPICH variant (scripts/test_mpich.sh); each run is bounded in time so that a
# hang fails instead of blocking.
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
echo "== multi-rank Python tests at 8 ranks (4 emulated machines of 2)"
BLUEFOG_NODES_PER_MACHINE=2 timeout -k 10 600 bfrun -np 8 python tests/python/mpi_pytest.py \
  --log-dir build/test-logs/np8 -- -q --color=no --timeout=300 tests/python/mpi8
echo "== uniform averaging at 4 ranks (2 emulated machines of 2)"
BLUEFOG_NODES_PER_MACHINE=2 timeout -k 10 600 bfrun -np 4 python tests/python/mpi_pytest.py \
  --log-dir build/test-logs/np4-machines -- -q --color=no --timeout=300 \
  tests/python/mpi/test_uniform_averaging.py
echo "== window tests at 4 ranks, Open MPI over TCP only"
timeout -k 10 600 bfrun -np 4 --extra-mpi-flags "--mca pml ob1 --mca btl self,tcp" \
  python tests/python/mpi_pytest.py --log-dir build/test-logs/np4-tcp -- -q --color=no \
  --timeout=300 tests/python/mpi/test_windows.py
echo "== BlueFog 0.3's own test suite (../shared/conformance) at 4 ranks"
CONFORMANCE="$ROOT/../shared/conformance/run.sh"
if [ -f "$CONFORMANCE" ]; then
  # A lost op fails in 2 minutes instead of the default 30.
  BLUEFOG_OP_TIMEOUT_SECONDS=120 bash "$CONFORMANCE" -p "$ROOT/.venv/bin/python" -t 600
elif [ "${CI:-}" = "true" ]; then
  echo "the conformance suite is missing at $CONFORMANCE; CI must run it" >&2
  exit 1
else
  echo "skipped: no conformance suite at $CONFORMANCE"
fi
echo "== MPICH build and tests"
bash scripts/test_mpich.sh
echo "all test suites passed"
