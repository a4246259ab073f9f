"""Modal: the whole pipeline (data -> train -> eval -> export) on one serverless GPU.

    pip install modal && modal setup                  # once: a Modal account and token
    modal run cloud/modal_app.py                      # SmolLM2-135M, A10G, artifacts -> ./modal-artifacts/
    modal run cloud/modal_app.py --preset qwen3-0.6b --train-args "train.max_steps=2000"
    MODAL_GPU=T4 modal run cloud/modal_app.py         # fp16 + loss scaling there (precision: auto)

The image installs the project with the same pins as `make setup` (torch first, then
requirements.txt constrained by requirements.lock), torch's CUDA build. `runs/`, `models/`,
`data/` and the Hugging Face cache live on a Modal Volume, committed after every stage, so a
run that is pre-empted or times out resumes where it stopped when started again with the same
arguments (training resumes from its newest checkpoint; see docs/cloud.md). The function returns
a zip of the artifacts (.pte files + metadata + tokenizer, eval metrics, training summary and
loss curve), which the local entrypoint writes to ./modal-artifacts/.
"""
from __future__ import annotations

import os
from pathlib import Path

import modal

from cloud.pipeline import link_state, run_stages, stage_commands, zip_artifacts

REPO = Path(__file__).resolve().parents[1]
APP_NAME = "typo-corrector"
REMOTE_REPO = "/root/typo-corrector"
VOLUME_NAME = "typo-corrector-runs"
VOLUME_PATH = "/vol"
GPU = os.environ.get("MODAL_GPU", "A10G")          # T4 | L4 | A10G | A100 | A100-80GB | H100 ...
TIMEOUT_S = 4 * 60 * 60                            # one call; a longer run resumes on the next call
RETRIES = 2                                        # pre-emption: Modal restarts it, training resumes
TORCH = "torch==2.13.0"
TORCH_INDEX = "https://download.pytorch.org/whl/cu128"
REQUIREMENTS = "requirements.txt"
LOCK = "requirements.lock"
# what stays local: outputs, caches, the runner's build tree (the image builds nothing C++)
IGNORE = [".git", ".venv", "data", "runs", "models", "reports", "**/__pycache__", ".pytest_cache",
          "android_runner/build", "*.egg-info", ".hypothesis", ".benchmarks"]

image = (
    modal.Image.debian_slim(python_version="3.11")
    .apt_install("git")
    .pip_install(TORCH, index_url=TORCH_INDEX)     # first: executorch links libtorch without declaring it
    .add_local_file(REPO / LOCK, f"/tmp/{LOCK}", copy=True)
    .pip_install_from_requirements(str(REPO / REQUIREMENTS), extra_options=f"-c /tmp/{LOCK}")
    .env({"HF_HOME": f"{VOLUME_PATH}/hf", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"})
    .add_local_dir(REPO, remote_path=REMOTE_REPO, copy=True, ignore=IGNORE)
    .run_commands(f"cd {REMOTE_REPO} && pip install --no-deps -e .")
)
app = modal.App(APP_NAME, image=image)
volume = modal.Volume.from_name(VOLUME_NAME, create_if_missing=True)


@app.function(gpu=GPU, timeout=TIMEOUT_S, volumes={VOLUME_PATH: volume}, retries=RETRIES)
def pipeline(preset: str = "smollm2-135m", corpus: str = "", data_args: str = "", train_args: str = "",
             eval_args: str = "limit=1000", export_args: str = "") -> bytes:
    """data -> train -> eval -> export on the GPU (cloud/pipeline.py); returns the artifacts as a zip."""
    repo = Path(REMOTE_REPO)
    link_state(repo, Path(VOLUME_PATH))
    cmds = stage_commands(preset, corpus, data_args, train_args, eval_args, export_args)
    # commit after every stage, failed or not: a retry or a new call resumes from there
    run_stages(repo, cmds, after=lambda _stage: volume.commit())
    return zip_artifacts(repo)


@app.local_entrypoint()
def main(preset: str = "smollm2-135m", corpus: str = "", data_args: str = "", train_args: str = "",
         eval_args: str = "limit=1000", export_args: str = "", out: str = "modal-artifacts") -> None:
    import io
    import zipfile

    blob = pipeline.remote(preset, corpus, data_args, train_args, eval_args, export_args)
    dest = Path(out)
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        zf.extractall(dest)
        names = zf.namelist()
    print(f"{len(names)} files -> {dest}/: " + ", ".join(sorted(names)))
