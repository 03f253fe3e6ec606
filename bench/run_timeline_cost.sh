#!/usr/bin/env bash
# Runs the timeline-cost benchmark (bench/timeline_cost.py): neighbor_allreduce
# and the digits training step with the timeline off and on, alternating
# jobs, at 2 and 4 ranks. Uses the existing build and .venv.
# Usage: bench/run_timeline_cost.sh [--rounds N] [--ranks 2 4]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/.venv/bin:$PATH"
cd "$ROOT"
uptime
python bench/timeline_cost.py --ranks 2 4 "$@"
uptime
