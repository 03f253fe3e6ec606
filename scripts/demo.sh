#!/usr/bin/env bash
# Sets up (see setup.sh) and runs the main job on 4 local ranks: digits
# training with the dynamic one-peer exponential-2 schedule, then the same
# training centralized (gradient allreduce) for comparison.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec bfrun -np 4 python examples/pytorch_digits.py "$@"
