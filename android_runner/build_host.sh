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
# The interpreter's shared libpython: the wheel's LLM custom ops library (the -sdpa recipes) needs it.
LIBPYTHON="$("$PY" -c 'import sysconfig as s, os; print(os.path.join(s.get_config_var("LIBDIR") or "", s.get_config_var("INSTSONAME") or ""))')"
LLM_OPS="${TYPO_LLM_OPS:-ON}"
if [ "$LLM_OPS" = ON ] && [ ! -f "$LIBPYTHON" ]; then
  echo "build_host.sh: no shared libpython at $LIBPYTHON; building without the LLM custom ops (the -sdpa recipes will not load)" >&2
  LLM_OPS=OFF
fi
ETDUMP="${ETDUMP:-0}"
[ "$ETDUMP" = 1 ] && BUILD="$HERE/build/host-etdump"  # a profiling binary beside the plain one
KEY="$WHEEL|$LLM_OPS|$ETDUMP"
if [ ! -f "$BUILD/CMakeCache.txt" ] || [ "$(cat "$BUILD/.typo_key" 2>/dev/null)" != "$KEY" ]; then
  rm -rf "$BUILD"
  cmake -S "$HERE" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DEXECUTORCH_WHEEL="$WHEEL" \
    -DTYPO_LLM_OPS="$LLM_OPS" -DTYPO_LIBPYTHON="$LIBPYTHON" -DTYPO_ETDUMP="$([ "$ETDUMP" = 1 ] && echo ON || echo OFF)" >/dev/null
  echo "$KEY" > "$BUILD/.typo_key"
fi
cmake --build "$BUILD" -j "${JOBS:-$(nproc 2>/dev/null || echo 2)}"
test -x "$BUILD/typo_runner"
echo "$BUILD/typo_runner"
