"""notebooks/train_colab.ipynb runs top to bottom through a real notebook runner (nbclient +
ipykernel), on CPU, with the tiny preset and small sizes injected after its `parameters` cell
(papermill's convention), in a copy of the source tree. A second run with the same parameters,
as a user does after a Colab time-out, keeps the data and resumes training from the
checkpoint on the state folder (Drive's stand-in)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.test_demo import REPO, _ignore

pytestmark = pytest.mark.integration
NOTEBOOK = REPO / "notebooks" / "train_colab.ipynb"


def _params(tree: Path, state: Path, stages: list[str]) -> dict:
    return {
        "PRESET": "tiny", "REPO_URL": "", "WORK": str(tree), "INSTALL": False, "MOUNT_DRIVE": False,
        "STATE_DIR": str(state), "CORPUS": "",
        "DATA_ARGS": "--config datagen/configs/tiny.yaml out_dir=data train_pairs=400 eval_pairs=40 "
                     "progress=false",
        "RUN_NAME": "ci",
        "TRAIN_ARGS": "train.max_steps=12 checkpoint.every=6 eval.samples=4 data.max_eval_samples=16 "
                      "eval.max_new_tokens=16 train.device=cpu",
        "EVAL_ARGS": "limit=8 backends=[hf,identity]",
        "EXPORT_ARGS": "recipes=[xnnpack-int8] max_seq_len=256",
        "STAGES": stages, "DOWNLOAD": False,
    }


def _execute(tree: Path, params: dict):
    """Inject `params` after the cell tagged `parameters` and run every cell in order."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    src = "\n".join(f"{k} = {v!r}" for k, v in params.items())
    injected = nbformat.v4.new_code_cell(src)
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(at + 1, injected)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tree)}})
    client.execute()
    return nb


def _text(nb, marker: str) -> str:
    """All stream output of the code cells whose source contains `marker`."""
    out = []
    for cell in nb.cells:
        if cell.cell_type == "code" and marker in cell.source:
            out += [o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream"]
    return "".join(out)


def test_colab_notebook_runs_and_resumes(tmp_path):
    tree, state = tmp_path / "repo", tmp_path / "drive"
    shutil.copytree(REPO, tree, ignore=_ignore)
    (tree / ".venv").symlink_to(REPO / ".venv")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    # session 1 "times out" after training: only data and train ran
    first = _execute(tree, _params(tree, state, ["data", "train"]))
    ckpts = sorted(p.name for p in (state / "runs" / "train" / "ci" / "checkpoints").iterdir())
    assert ckpts and ckpts[-1] == "step-00000012"  # the checkpoints live on the state folder
    assert "data/train_data.json exists" not in _text(first, "\"datagen\"")
    assert (tree / "runs").is_symlink() and (tree / "runs").resolve() == (state / "runs").resolve()

    # session 2: the same notebook, the same parameters, every stage
    second = _execute(tree, _params(tree, state, ["data", "train", "eval", "export", "package"]))
    assert "data/train_data.json exists: kept" in _text(second, "\"datagen\"")
    assert "resumed from step 12" in _text(second, "\"train.train\"")
    summary = json.loads((state / "runs" / "train" / "ci" / "summary.json").read_text())
    assert summary["steps"] == 12
    metrics = json.loads((state / "runs" / "eval" / "ci" / "metrics.json").read_text())
    assert metrics["benchmarks"]
    assert (state / "models" / "typing-corrector-int8.pte").stat().st_size > 0
    import zipfile

    names = zipfile.ZipFile(state / "typo-corrector-ci.zip").namelist()
    assert {"models/typing-corrector-int8.pte", "models/typing-corrector-int8.json", "models/tokenizer.json",
            "runs/train/ci/summary.json", "runs/eval/ci/summary.md"} <= set(names)
    assert not (REPO / "runs" / "train" / "ci").exists()  # the developer's checkout is untouched
