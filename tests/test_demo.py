"""`make demo` runs offline end to end (data -> train -> eval -> export -> runner -> bench,
tiny preset, host mode) and ends with the path of a complete report.

It runs in a copy of the source tree so a developer's own data/, models/ and reports/
are never touched; the copy shares this checkout's .venv."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOP_LEVEL_OUTPUTS = {".venv", "data", "runs", "models", "reports", ".git", ".pytest_cache", ".hypothesis",
                     ".benchmarks", "metrics.json", "model_test_results.csv"}


def _ignore(folder: str, names: list[str]) -> list[str]:
    """Skip generated outputs: the repo's top-level ones, build folders, caches."""
    top = Path(folder) == REPO
    return [n for n in names if (top and n in TOP_LEVEL_OUTPUTS) or n == "__pycache__"
            or n.endswith(".egg-info") or (Path(folder).name == "android_runner" and n == "build")]


@pytest.mark.integration
def test_make_demo_runs_offline_end_to_end(tmp_path):
    tree = tmp_path / "repo"
    shutil.copytree(REPO, tree, ignore=_ignore)
    (tree / ".venv").symlink_to(REPO / ".venv")
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    # -o setup: the shared .venv is already installed; never reinstall it from the copy.
    proc = subprocess.run(["make", "-o", "setup", "demo", "ARGS=--limit 24"], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = [line for line in proc.stdout.splitlines() if line.startswith("demo: report: ")][-1]
    html = Path(last.removeprefix("demo: report: "))
    assert html.is_file() and html.is_relative_to(tree)
    report = json.loads((html.parent / "report.json").read_text())
    assert report["status"] == "complete"
    units = report["units"]
    assert {u["model"] for u in units} == {"typing-corrector-int8", "typing-corrector-int4"}
    assert {u["mode"] for u in units} == {"plain", "copy"} and all(u["status"] == "ok" for u in units)
    assert all(u["accuracy"]["guarded"]["exact_match"] is not None for u in units)
    assert (tree / "models" / "typing-corrector-int8.pte").is_file()
    assert (tree / "models" / "typing-corrector-int4.pte").is_file()
    assert (tree / "metrics.json").is_file() and (tree / "model_test_results.csv").is_file()
    assert not (REPO / "reports" / html.parent.name).exists()  # the developer's checkout is untouched
