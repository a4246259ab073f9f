#!/usr/bin/env bash
# Build the host typo_runner against the executorch pip wheel in .venv (what `make runner` runs).
# Leaves android_runner/build/host/typo_runner; a rebuild with nothing changed takes a second.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
PY="${PY:-$REPO/.venv/bin/python}"
BUILD="$HERE/build/host"
command -v cmake >/dev/null || { echo "build_host.sh: cmake not found (apt-get install cmake g++)" >&2; exit 2; }
[ -x "$PY" ] || { echo "build_host.sh: $PY not found; run 'make setup' first" >&2; exit 2; }
# Ask the interpreter, not a glob: the wheel's folder is where `import executorch` finds it.
WHEEL="$("$PY" -c 'import executorch; print(list(executorch.__path__)[0])')"
[ -f "$WHEEL/share/cmake/executorch-config.cmake" ] || { echo "build_host.sh: no cmake config in $WHEEL" >&2; exit 2; }
if [ ! -f "$BUILD/CMakeCache.txt" ] || ! grep -q "EXECUTORCH_WHEEL:.*=$WHEEL\$" "$BUILD/CMakeCache.txt"; then
  rm -rf "$BUILD"
  cmake -S "$HERE" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DEXECUTORCH_WHEEL="$WHEEL" >/dev/null
fi
cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)"
test -x "$BUILD/typo_runner"
echo "$BUILD/typo_runner"
