#!/usr/bin/env bash
# The device side of a lent-GPU run (docs/cloud.md, "On a lent GPU (the device tool)"): the same
# command on every call, in the repository root of the device's copy of the working tree:
#     bash cloud/gpu_train.sh [--deadline-s 570] [--out DIR]
# Runs cloud/gpu_train.py with the device's own Python (GPU_PYTHON, else python3: the one with torch).
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${GPU_PYTHON:-python3}" -u -m cloud.gpu_train "$@"
