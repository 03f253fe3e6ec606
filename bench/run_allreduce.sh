#!/usr/bin/env bash
# Runs the allreduce benchmark at 2 and 4 ranks, with raw MPI_Allreduce from C
# measured in the same invocation. Usage: bench/run_allreduce.sh [--max-bytes N]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" >/dev/null
cd "$ROOT"
mkdir -p build/bench
mpicc -O2 bench/mpi_allreduce_ref.c -o build/bench/mpi_allreduce_ref
SIZES="1024 4096 16384 65536 262144 1048576 4194304 16777216 67108864"
for np in 2 4; do
  bfrun -np "$np" build/bench/mpi_allreduce_ref $SIZES > "build/bench/mpi_ref_np$np.txt"
  bfrun -np "$np" python bench/allreduce_bench.py --mpi-reference "build/bench/mpi_ref_np$np.txt" "$@"
done
