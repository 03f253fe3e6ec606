#!/usr/bin/env bash
# Runs the window-op benchmark (bench/window_bench.py) at 2 and 4 ranks.
# Uses the existing build and .venv (make them with scripts/setup.sh first).
# Usage: bench/run_window.sh [window_bench.py options, e.g. --max-bytes N]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/.venv/bin:$PATH"
cd "$ROOT"
for np in 2 4; do
  bfrun -np "$np" python bench/window_bench.py "$@"
done
