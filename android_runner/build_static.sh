#!/usr/bin/env bash
# `make android-runner-static`: a phone runner without Docker or the NDK. Android's kernel runs
# static Linux binaries, so typo_runner linked statically against glibc for aarch64 runs from
# `adb shell` like an NDK build. ExecuTorch is built from its git sources at the tag of the
# executorch version in .venv (there is no sdist on PyPI), with XNNPACK, KleidiAI, the optimized
# and the quantized kernels. Needs the internet the first time (git + one KleidiAI archive) and
# about 40 minutes on 2 cores; later runs rebuild only the runner.
#
#   bash android_runner/build_static.sh           -> android_runner/build/android-arm64/typo_runner
#   CC_KIND=gcc bash android_runner/build_static.sh    (force GCC; default: clang-19 when present)
#   ET_CMAKE_ARGS='-DXNNPACK_ENABLE_ARM_SME=OFF -DXNNPACK_ENABLE_ARM_SME2=OFF' ...  (extra ExecuTorch flags)
#
# Needs: git, cmake >= 3.31 (installed from PyPI into build/static/cmake-venv when older),
# clang-19 or g++-aarch64-linux-gnu, libc6-arm64-cross, the .venv (ExecuTorch's codegen uses it).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
PY="${PY:-$REPO/.venv/bin/python}"
WORK="$HERE/build/static"                       # sources, builds, install (ignored by git)
OUT="$HERE/build/android-arm64/typo_runner"     # where the bench looks (runner_android)
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
ET_REPO="${ET_REPO:-https://github.com/pytorch/executorch.git}"
die() { echo "build_static.sh: $*" >&2; exit 2; }
log() { echo "build_static.sh: $*" >&2; }

need_tools() {
  [ -x "$PY" ] || die "$PY not found; run 'make setup' first"
  command -v git >/dev/null || die "git not found (apt-get install git)"
  [ -d /usr/aarch64-linux-gnu/lib ] || die "no aarch64 glibc (apt-get install libc6-arm64-cross libc6-dev-arm64-cross)"
  command -v aarch64-linux-gnu-g++ >/dev/null \
    || die "aarch64-linux-gnu-g++ not found (apt-get install g++-aarch64-linux-gnu: libstdc++ and binutils)"
}

# cmake >= 3.31 (ExecuTorch 1.5 needs it; Debian 12 ships 3.25): from PyPI, in its own venv.
pick_cmake() {
  local have
  have="$(cmake --version 2>/dev/null | head -n1 | grep -oE '[0-9]+\.[0-9]+' || echo 0.0)"
  if printf '%s\n3.31\n' "$have" | sort -V | head -n1 | grep -qx 3.31; then CMAKE=cmake; return; fi
  if [ ! -x "$WORK/cmake-venv/bin/cmake" ]; then
    log "cmake $have < 3.31: installing cmake 3.31 from PyPI into $WORK/cmake-venv"
    "$PY" -m venv "$WORK/cmake-venv"
    timeout 900 "$WORK/cmake-venv/bin/python" -m pip install -q "cmake>=3.31,<4" || die "pip install cmake failed"
  fi
  CMAKE="$WORK/cmake-venv/bin/cmake"
}

# clang-19 --target=aarch64-linux-gnu (preferred), or GCC with -fno-tree-vectorize on C sources:
# GCC 12's vectorizer crashes on a KleidiAI file, and C here is hand-written intrinsics anyway.
pick_compiler() {
  local kind="${CC_KIND:-auto}"
  if [ "$kind" != gcc ] && command -v clang-19 >/dev/null; then
    COMPILER=(-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64
              -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 -DCMAKE_ASM_COMPILER=clang-19
              -DCMAKE_C_COMPILER_TARGET=aarch64-linux-gnu -DCMAKE_CXX_COMPILER_TARGET=aarch64-linux-gnu
              -DCMAKE_ASM_COMPILER_TARGET=aarch64-linux-gnu)
    log "compiler: clang-19 --target=aarch64-linux-gnu"
  else
    [ "$kind" = clang ] && die "CC_KIND=clang but clang-19 is not installed (apt-get install clang-19)"
    COMPILER=(-DCMAKE_TOOLCHAIN_FILE="$HERE/toolchain-aarch64-linux-gnu.cmake" -DCMAKE_C_FLAGS=-fno-tree-vectorize)
    log "compiler: aarch64-linux-gnu-gcc/g++ $(aarch64-linux-gnu-gcc -dumpversion) (C: -fno-tree-vectorize)"
  fi
}

fetch_sources() {
  if [ ! -f "$SRC/CMakeLists.txt" ]; then
    log "cloning $ET_REPO at $TAG with its submodules into $SRC"
    rm -rf "$SRC.tmp"
    timeout 1800 git clone -q --depth 1 --branch "$TAG" "$ET_REPO" "$SRC.tmp" || die "git clone of $TAG failed"
    timeout 3600 git -C "$SRC.tmp" submodule update -q --init --recursive --depth 1 || die "git submodule update failed"
    mv "$SRC.tmp" "$SRC"
  fi
}

# XNNPACK would download KleidiAI at configure time; fetch the same archive (URL and sha256 from
# XNNPACK's cmake/DownloadKleidiAI.cmake) once, check it, and hand it over as KLEIDIAI_SOURCE_DIR.
fetch_kleidiai() {
  local spec="$SRC/backends/xnnpack/third-party/XNNPACK/cmake/DownloadKleidiAI.cmake"
  [ -f "$spec" ] || die "$spec not found: is $SRC a complete checkout?"
  KLEIDIAI="$WORK/kleidiai"
  [ -f "$KLEIDIAI/CMakeLists.txt" ] && return
  timeout 900 "$PY" - "$spec" "$KLEIDIAI" <<'EOF' || die "KleidiAI download failed"
import hashlib, io, re, shutil, sys, urllib.request, zipfile
spec, dest = open(sys.argv[1]).read(), sys.argv[2]
url = re.search(r"^\s*URL\s+(\S+)", spec, re.M).group(1)
want = re.search(r"URL_HASH\s+SHA256=([0-9a-f]{64})", spec).group(1)
data = urllib.request.urlopen(url, timeout=300).read()
if hashlib.sha256(data).hexdigest() != want:
    sys.exit(f"{url}: sha256 differs from {want}")
with zipfile.ZipFile(io.BytesIO(data)) as z:
    top = z.namelist()[0].split("/")[0]
    z.extractall(dest + ".tmp")
shutil.move(f"{dest}.tmp/{top}", dest)
shutil.rmtree(dest + ".tmp")
EOF
}

build_executorch() {
  [ -f "$INSTALL/.done-$TAG" ] && return
  log "building ExecuTorch $TAG (static, aarch64): long the first time"
  # shellcheck disable=SC2086  # ET_CMAKE_ARGS is a list of flags on purpose
  "$CMAKE" -S "$SRC" -B "$WORK/et-build" "${COMPILER[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$INSTALL" -DPYTHON_EXECUTABLE="$PY" -DKLEIDIAI_SOURCE_DIR="$KLEIDIAI" \
    -DEXECUTORCH_BUILD_XNNPACK=ON -DEXECUTORCH_BUILD_KERNELS_OPTIMIZED=ON \
    -DEXECUTORCH_BUILD_KERNELS_QUANTIZED=ON -DEXECUTORCH_BUILD_EXTENSION_MODULE=ON \
    -DEXECUTORCH_BUILD_EXTENSION_DATA_LOADER=ON -DEXECUTORCH_BUILD_EXTENSION_TENSOR=ON \
    -DEXECUTORCH_BUILD_EXTENSION_FLAT_TENSOR=ON -DEXECUTORCH_BUILD_EXTENSION_NAMED_DATA_MAP=ON \
    -DEXECUTORCH_BUILD_CPUINFO=ON -DEXECUTORCH_BUILD_PTHREADPOOL=ON -DEXECUTORCH_ENABLE_LOGGING=ON \
    -DEXECUTORCH_BUILD_EXECUTOR_RUNNER=OFF -DEXECUTORCH_BUILD_TESTS=OFF ${ET_CMAKE_ARGS:-}
  "$CMAKE" --build "$WORK/et-build" -j "$JOBS" --target install
  touch "$INSTALL/.done-$TAG"
}

build_runner() {
  "$CMAKE" -S "$HERE" -B "$WORK/runner" "${COMPILER[@]}" -DCMAKE_BUILD_TYPE=Release -DET_SOURCE_BUILD=ON \
    -DEXECUTORCH_ROOT="$INSTALL" -DCMAKE_EXE_LINKER_FLAGS=-static >/dev/null
  "$CMAKE" --build "$WORK/runner" -j "$JOBS"
  mkdir -p "$(dirname "$OUT")"
  aarch64-linux-gnu-strip -o "$OUT.tmp" "$WORK/runner/typo_runner"
  mv "$OUT.tmp" "$OUT"
  file "$OUT" 2>/dev/null | grep -q "statically linked" || log "warning: $OUT is not reported as static"
}

need_tools
VERSION="$("$PY" -c 'import importlib.metadata as m; print(m.version("executorch"))')"
TAG="v$VERSION"                                 # the .pte files come from this version's exporter
SRC="$WORK/executorch-$TAG"
INSTALL="$WORK/et-install-$TAG"
mkdir -p "$WORK"
pick_cmake
pick_compiler
fetch_sources
fetch_kleidiai
build_executorch
build_runner
ls -l "$OUT" >&2
echo "$OUT"
