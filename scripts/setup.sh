#!/usr/bin/env bash
# Prepares a checkout on Debian 12: installs missing apt packages, makes the
# .venv (system Python with its torch), builds into build/ and links the
# package into the venv. Fast when nothing changed. Source it or run it:
# sourced, it also puts the venv's bin/ on PATH, and leaves the caller's shell
# options and working directory as they were (the work runs in a subshell
# with set -euo pipefail; a failure returns its status instead of exiting,
# unless the caller itself runs with set -e).
_bluefog_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
(
set -euo pipefail
ROOT="$_bluefog_root"
cd "$ROOT"

PACKAGES=(build-essential cmake ninja-build libgtest-dev libgmock-dev openssh-server iputils-ping
  openmpi-bin libopenmpi-dev python3-dev python3-venv python3-torch libtorch-dev
  pybind11-dev python3-pybind11 python3-numpy python3-pytest python3-pytest-timeout
  python3-networkx python3-sklearn python3-matplotlib)

source "$ROOT/scripts/lib/apt.sh"
install_missing "${PACKAGES[@]}"

# Debian's torch belongs to /usr/bin/python3; the venv sees it.
if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
PYTHON="$ROOT/.venv/bin/python"

if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DPython3_EXECUTABLE="$PYTHON" >/dev/null
fi
cmake --build build

# Development install: the venv imports bluefog from python/ and gets the
# command-line tools.
SITE="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$ROOT/python" > "$SITE/bluefog-dev.pth"
for tool in bfrun:bluefog.run.bfrun; do
  name="${tool%%:*}"; module="${tool#*:}"
  cat > ".venv/bin/$name" <<SCRIPT
#!$PYTHON
import sys
from $module import main
sys.exit(main())
SCRIPT
  chmod +x ".venv/bin/$name"
done
)
# (Not `( ... ) || ...`: bash ignores set -e inside a subshell that is part of
# such a list.)
_bluefog_status=$?
if [ "$_bluefog_status" -ne 0 ]; then
  unset _bluefog_root
  return "$_bluefog_status" 2>/dev/null || exit "$_bluefog_status"
fi
unset _bluefog_status
case ":$PATH:" in
  *":$_bluefog_root/.venv/bin:"*) ;;
  *) export PATH="$_bluefog_root/.venv/bin:$PATH" ;;
esac
unset _bluefog_root
