#!/usr/bin/env bash
# Sets up (see setup.sh) and runs the main job on 4 local ranks.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec bfrun -np 4 python examples/average_consensus.py "$@"
