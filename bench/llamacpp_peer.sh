#!/usr/bin/env bash
# bash bench/llamacpp_peer.sh MERGED_MODEL_DIR [OUT_DIR]
#
# The llama.cpp peer for bench/bench_llamacpp.py, offline, in three steps (each skipped when done):
#   1. llama-cpp-python 0.3.36 into .venv, built from the registry's sdist. Built with -march=native
#      on a Xeon with AMX it crashes on every multi-token decode, so the AMX kernels are off and
#      AVX-512 (+VNNI) is on explicitly (run here on an AMD EPYC Zen 4; the crash was on a Xeon with AMX).
#   2. HF folder -> GGUF f16 with the sdist's own vendor/llama.cpp/convert_hf_to_gguf.py (+ conversion/, gguf-py)
#      (the converter and the library it writes for are the same llama.cpp revision).
#   3. f16 -> Q8_0 and Q4_0 with llama.cpp's quantizer (llama_cpp.llama_model_quantize).
# Then: python -m bench.bench_llamacpp --gguf OUT_DIR/<name>-q8_0.gguf,OUT_DIR/<name>-q4_0.gguf \
#           --tokenizer MERGED_MODEL_DIR --eval <pairs.jsonl>
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=${1:?usage: bash bench/llamacpp_peer.sh MERGED_MODEL_DIR [OUT_DIR]}
OUT=${2:-models/llamacpp}
PY=${PY:-.venv/bin/python}
VERSION=0.3.36
SDIST_DIR=${SDIST_DIR:-$OUT/sdist}
[ -f "$MODEL/config.json" ] || { echo "llamacpp_peer: $MODEL/config.json: not found (give a merged HF model folder)" >&2; exit 2; }
name=$(basename "$MODEL")
mkdir -p "$OUT" "$SDIST_DIR"

# 1. the library, built for this CPU family without AMX
if ! "$PY" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$VERSION')" 2>/dev/null; then
    echo "llamacpp_peer: building llama-cpp-python $VERSION (about 15 min with JOBS=1)"
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF" \
        CMAKE_BUILD_PARALLEL_LEVEL=${JOBS:-1} \
        "$PY" -m pip install --no-deps --no-binary llama-cpp-python "llama-cpp-python==$VERSION" diskcache
fi

# 2. the converter from the same sdist (pip keeps no copy of it)
src="$SDIST_DIR/llama_cpp_python-$VERSION"
if [ ! -f "$src/vendor/llama.cpp/conversion/__init__.py" ]; then
    "$PY" -m pip download --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$SDIST_DIR"
    tar xzf "$SDIST_DIR/llama_cpp_python-$VERSION.tar.gz" -C "$SDIST_DIR" \
        "llama_cpp_python-$VERSION/vendor/llama.cpp/convert_hf_to_gguf.py" \
        "llama_cpp_python-$VERSION/vendor/llama.cpp/conversion" \
        "llama_cpp_python-$VERSION/vendor/llama.cpp/gguf-py"
fi
f16="$OUT/$name-f16.gguf"
if [ ! -f "$f16" ]; then
    PYTHONPATH="$src/vendor/llama.cpp/gguf-py:$src/vendor/llama.cpp" "$PY" "$src/vendor/llama.cpp/convert_hf_to_gguf.py" \
        "$MODEL" --outtype f16 --outfile "$f16.tmp"
    mv "$f16.tmp" "$f16"
fi

# 3. the quantized files
for q in q8_0 q4_0; do
    out="$OUT/$name-$q.gguf"
    [ -f "$out" ] && continue
    "$PY" - "$f16" "$out.tmp" "$q" <<'EOF'
import sys

import llama_cpp

src, dst, q = sys.argv[1:]
params = llama_cpp.llama_model_quantize_default_params()
params.ftype = {"q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0, "q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0}[q]
params.nthread = 1
rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), params)
if rc != 0:
    raise SystemExit(f"llamacpp_peer: quantizing {src} to {q} failed (llama_model_quantize returned {rc})")
EOF
    mv "$out.tmp" "$out"
done
ls -l "$OUT/$name"-*.gguf
