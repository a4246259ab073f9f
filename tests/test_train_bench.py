"""The GPU throughput benchmark script runs (CPU smoke shape) with only torch /
transformers / peft importable besides the project: datasets, executorch, matplotlib
and torchao are blocked, as on the GPU machines."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BLOCK = ('import sys\nfor m in ("datasets", "executorch", "matplotlib", "torchao"):\n'
         '    sys.modules[m] = None\n')


def run_bench(tmp_path: Path, *args: str) -> dict:
    (tmp_path / "sitecustomize.py").write_text(BLOCK)
    out = tmp_path / "bench.json"
    env = dict(os.environ, PYTHONPATH=str(tmp_path), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "bench.bench_train_throughput", "--smoke",
                           "--out", str(out), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout) == json.loads(out.read_text())
    return json.loads(out.read_text())["shapes"]["smoke"]


def _check(res: dict, variant: str) -> None:
    assert "error" not in res[variant], res[variant]
    assert res["baseline_padded_hf"]["tokens_per_s"] > 0
    assert res[variant]["ratio_vs_baseline"] == pytest.approx(
        res[variant]["tokens_per_s"] / res["baseline_padded_hf"]["tokens_per_s"])
    iso = res[variant]["isolation"]
    assert iso["packed_vs_alone_max_rel"] < 1e-4 < 1e-2 < iso["control_without_isolation_max_rel"]


def test_bench_smoke_eager(tmp_path):
    _check(run_bench(tmp_path, "--no-compile", "--variants", "packed_lora"), "packed_lora")


@pytest.mark.integration
def test_bench_smoke_compiled(tmp_path):
    _check(run_bench(tmp_path, "--variants", "packed_lora_compile_row512"), "packed_lora_compile_row512")


def test_bench_rejects_unknown_variant(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bench.bench_train_throughput", "--variants", "warp_speed"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown variant 'warp_speed'" in proc.stderr
