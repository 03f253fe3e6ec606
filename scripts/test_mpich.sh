#!/usr/bin/env bash
# Builds bluefog against MPICH into build-mpich/ and runs the C++ tests and
# the multi-rank Python suite on it at 1, 2, 3 and 4 ranks, launched with
# MPICH's mpiexec. The Open MPI build (build/, python/bluefog/_bluefog*.so)
# is neither used nor touched: the MPICH module is written to
# build-mpich/python and loaded through BLUEFOG_EXTENSION_DIR.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# First run in a fresh clone: the common packages and the venv.
[ -x .venv/bin/python ] || bash scripts/setup.sh

# Open MPI keeps the plain mpicc/mpirun names: its alternatives priority is higher.
source "$ROOT/scripts/lib/apt.sh"
install_missing mpich libmpich-dev

BUILD="$ROOT/build-mpich"
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DBLUEFOG_MPI=mpich \
    -DPython3_EXECUTABLE="$ROOT/.venv/bin/python" \
    -DBLUEFOG_PYTHON_OUTPUT_DIR="$BUILD/python" >/dev/null
fi
cmake --build "$BUILD"

export PATH="$ROOT/.venv/bin:$PATH"
export BLUEFOG_EXTENSION_DIR="$BUILD/python"
export BLUEFOG_MPIRUN=mpiexec.mpich

echo "== C++ unit tests (MPICH)"
ctest --test-dir "$BUILD" --output-on-failure --timeout 120

for np in 1 2 3 4; do
  echo "== multi-rank Python tests at $np rank(s) (MPICH)"
  timeout -k 10 900 python -m bluefog.run.bfrun -np "$np" python tests/python/mpi_pytest.py \
    --log-dir "$BUILD/test-logs/np$np" -- -q --color=no --timeout=300 tests/python/mpi
done
echo "== window stress test (MPICH)"
BLUEFOG_MPICH_EXTENSION_DIR="$BUILD/python" python -m pytest -q -p no:cacheprovider \
  --color=no --timeout=600 tests/python/unit/test_window_stress.py -k mpich
echo "all MPICH test suites passed"
