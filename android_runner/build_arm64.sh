#!/usr/bin/env bash
# Cross-build typo_runner for aarch64 Linux (glibc) against the aarch64 executorch wheel of the
# version installed in .venv (what `make runner-arm64` runs). Leaves
# android_runner/build/linux-arm64/typo_runner: for the arm64 loopback device (qemu-aarch64) and
# aarch64 Linux boards, not for phones (it needs glibc and the wheel's .so files; a phone needs
# `make android-runner` or `make android-runner-static`).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
PY="${PY:-$REPO/.venv/bin/python}"
BUILD="$HERE/build/linux-arm64"
WHEELS="$HERE/build/wheel-aarch64"          # ignored by git (android_runner/build/)
TOOLCHAIN="$HERE/toolchain-aarch64-linux-gnu.cmake"
die() { echo "build_arm64.sh: $*" >&2; exit 2; }
command -v cmake >/dev/null || die "cmake not found (apt-get install cmake)"
command -v aarch64-linux-gnu-g++ >/dev/null \
  || die "aarch64-linux-gnu-g++ not found (apt-get install g++-aarch64-linux-gnu libc6-arm64-cross)"
[ -x "$PY" ] || die "$PY not found; run 'make setup' first"
# The same version as the Python package: the .pte files come from its exporter.
VERSION="$("$PY" -c 'import importlib.metadata as m; print(m.version("executorch"))')"
WHEEL="$WHEELS/executorch-$VERSION/executorch"
if [ ! -f "$WHEEL/share/cmake/executorch-config.cmake" ]; then
  mkdir -p "$WHEELS"
  timeout 900 "$PY" -m pip download -q "executorch==$VERSION" --platform manylinux_2_28_aarch64 \
    --only-binary=:all: --no-deps -d "$WHEELS" || die "pip download of the aarch64 executorch==$VERSION wheel failed"
  WHL="$(ls "$WHEELS"/executorch-"$VERSION"-*aarch64.whl 2>/dev/null | head -n1)"
  [ -n "$WHL" ] || die "no aarch64 wheel of executorch==$VERSION in $WHEELS"
  # Only what the runner links: headers, libraries and the cmake config (~14 MB of its 73).
  rm -rf "$WHEELS/executorch-$VERSION.tmp"
  timeout 300 "$PY" - "$WHL" "$WHEELS/executorch-$VERSION.tmp" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    z.extractall(sys.argv[2], [n for n in z.namelist()
                               if n.split("/")[:2] in (["executorch", "lib"], ["executorch", "include"],
                                                       ["executorch", "share"])])
EOF
  rm -rf "$WHEELS/executorch-$VERSION"
  mv "$WHEELS/executorch-$VERSION.tmp" "$WHEELS/executorch-$VERSION"
fi
# TYPO_LLM_OPS=OFF: the aarch64 wheel's LLM custom ops exist only in its libtorch + libpython
# bound AOT library (android_runner/README.md), so -sdpa files are refused with the ops named.
if [ ! -f "$BUILD/CMakeCache.txt" ] || ! grep -q "EXECUTORCH_WHEEL:.*=$WHEEL\$" "$BUILD/CMakeCache.txt" \
   || ! grep -q "^TYPO_LLM_OPS:BOOL=OFF\$" "$BUILD/CMakeCache.txt"; then
  rm -rf "$BUILD"
  cmake -S "$HERE" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN" \
    -DEXECUTORCH_WHEEL="$WHEEL" -DTYPO_LLM_OPS=OFF >/dev/null
fi
cmake --build "$BUILD" -j "${JOBS:-$(nproc 2>/dev/null || echo 2)}"
test -x "$BUILD/typo_runner"
echo "$BUILD/typo_runner"
