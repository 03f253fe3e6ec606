#!/usr/bin/env bash
# Runs the neighbor_allreduce benchmark at 2 and 4 ranks.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" >/dev/null
cd "$ROOT"
for np in 2 4; do
  bfrun -np "$np" python bench/neighbor_allreduce_bench.py "$@"
done
