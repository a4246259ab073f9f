"""Modal app checks, offline: no Modal account, no network. The app imports, its functions
and their GPU / timeout / retries / volume settings are what docs/cloud.md says, and the
image recipe installs the pinned requirements the way `make setup` does. Also the app's
local helpers (state links, stage commands, artifact zip) on a real folder.

Modal keeps a function's settings and an image's Dockerfile layers inside its (pinned,
modal==1.6.4) private objects; `_unwrap` and `_closure` read them without any call out."""
from __future__ import annotations

import io
import json
import re
import sys
import warnings
import zipfile
from pathlib import Path

import pytest

modal = pytest.importorskip("modal")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def app_module():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import cloud.modal_app as mod
    return mod


def _unwrap(obj):
    from modal._utils.async_utils import synchronizer

    return synchronizer._translate_in(obj)


def _closure(obj) -> dict:
    load = _unwrap(obj)._load
    return {n: c.cell_contents for n, c in zip(load.__code__.co_freevars, load.__closure__ or ())}


def _image_layers(image) -> list[tuple[list[str], dict]]:
    """Each layer's Dockerfile commands and context files, base first."""
    layers, img = [], _unwrap(image)
    while img is not None:
        load = img._load
        cells = {n: c.cell_contents for n, c in zip(load.__code__.co_freevars, load.__closure__ or ())}
        fn = cells.get("dockerfile_function")
        spec = fn("2025.06") if fn else None
        layers.append((spec.commands, spec.context_files) if spec else ([], {}))
        img = next(iter((cells.get("base_images") or {}).values()), None)
    return layers[::-1]


def test_app_functions_and_settings(app_module):
    m = app_module
    assert m.app.name == "typo-corrector"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert set(m.app.registered_functions) == {"pipeline"}
        assert set(m.app.registered_entrypoints) == {"main"}
    cells = _closure(m.pipeline)
    assert cells["gpu"] == m.GPU
    assert cells["timeout"] == m.TIMEOUT_S == 4 * 3600
    assert cells["retry_policy"].retries == m.RETRIES == 2
    volumes = _unwrap(m.pipeline)._spec.volumes
    assert list(volumes) == [m.VOLUME_PATH] and "typo-corrector-runs" in repr(volumes[m.VOLUME_PATH])


def test_gpu_follows_modal_gpu(app_module, monkeypatch):
    import importlib

    monkeypatch.setenv("MODAL_GPU", "T4")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mod = importlib.reload(app_module)
        assert _closure(mod.pipeline)["gpu"] == "T4"
        monkeypatch.delenv("MODAL_GPU")
        mod = importlib.reload(app_module)
    assert _closure(mod.pipeline)["gpu"] == "A10G"


def test_image_installs_the_pinned_requirements(app_module):
    layers = _image_layers(app_module.image)
    runs = [c for cmds, _ in layers for c in cmds if c.startswith("RUN ")]
    torch_pin = re.search(r"pip install -q (torch==[\d.]+)", (REPO / "Makefile").read_text()).group(1)
    torch_at = next(i for i, c in enumerate(runs) if f"pip install {torch_pin} " in c)
    reqs_at = next(i for i, c in enumerate(runs) if "-r /.requirements.txt -c /tmp/requirements.lock" in c)
    assert torch_at < reqs_at  # torch first, as `make setup` and docker/train.Dockerfile do
    context = next(files for _, files in layers if "/.requirements.txt" in files)
    assert Path(context["/.requirements.txt"]) == REPO / "requirements.txt"  # the local file it uploads
    assert any("pip install --no-deps -e ." in c for c in runs)
    assert not any("docker" in c.lower() for c in runs)  # the image runs the stages itself, no Docker inside


def test_docs_state_the_same_settings(app_module):
    m = app_module
    doc = (REPO / "docs" / "cloud.md").read_text()
    for fact in ("modal run cloud/modal_app.py", m.VOLUME_NAME, f"`{m.GPU}`", "MODAL_GPU", "4 h",
                 "retries"):
        assert fact in doc, fact


def test_state_links_and_stage_commands(tmp_path):
    from cloud import pipeline as p

    repo, state = tmp_path / "repo", tmp_path / "vol"
    repo.mkdir()
    p.link_state(repo, state)
    p.link_state(repo, state)  # a retry links again without failing
    for name in p.STATE_DIRS:
        assert (repo / name).is_symlink() and (repo / name).resolve() == (state / name).resolve()
    cmds = dict(p.stage_commands("smollm2-135m", "hf:foo", "", "train.max_steps=10", "limit=50", ""))
    assert list(cmds) == ["data", "train", "eval", "export"]
    assert cmds["data"] == ["python", "-m", "datagen", "--corpus", "hf:foo"]  # argv lists: no shell
    assert cmds["train"][-3:] == ["--config", "train/configs/smollm2-135m.yaml", "train.max_steps=10"]
    for module in ("datagen/__main__.py", "train/train.py", "evaluation/__main__.py",
                   "export/export_to_pte.py"):
        assert (REPO / module).is_file(), module  # every command is a stage CLI that exists


def test_a_real_folder_is_never_replaced(tmp_path):
    from cloud import pipeline as p

    repo = tmp_path / "repo"
    (repo / "runs").mkdir(parents=True)
    with pytest.raises(p.CloudError, match="real folder"):
        p.link_state(repo, tmp_path / "vol")
    assert not (repo / "data").exists()  # refused before linking anything


def test_failed_stage_names_itself_and_still_runs_after(tmp_path):
    from cloud import pipeline as p

    seen = []
    ok, fail = [sys.executable, "-c", "pass"], [sys.executable, "-c", "raise SystemExit(3)"]
    with pytest.raises(p.CloudError, match="stage train failed.*rerun"):
        p.run_stages(tmp_path, [("data", ok), ("train", fail), ("eval", ok)], after=seen.append)
    assert seen == ["data", "train"]  # the volume is committed after the failed stage too


def test_the_data_stage_keeps_existing_pairs(tmp_path, capsys):
    from cloud import pipeline as p

    (tmp_path / "data").mkdir()
    (tmp_path / p.PAIRS).write_text('{"input": "a", "output": "a"}\n')
    p.run_stages(tmp_path, [("data", [sys.executable, "-c", "raise SystemExit(3)"])])  # not run
    assert "exists, kept" in capsys.readouterr().out


@pytest.mark.parametrize("preset", ["tiny.yaml --help; touch X; echo ", "../train/configs/tiny", "tiny; id",
                                    "nope"])
def test_preset_is_a_shipped_name_and_reaches_no_shell(tmp_path, capsys, monkeypatch, preset):
    """`--preset 'tiny.yaml --help; touch X; echo '` ran `touch X` through shell=True; now it is
    refused before anything is linked or run."""
    from cloud.pipeline import main

    monkeypatch.chdir(tmp_path)
    assert main(["--state", str(tmp_path / "vol"), "--preset", preset]) == 2
    err = capsys.readouterr().err
    assert "is not a shipped preset" in err and "smollm2-135m" in err and "tiny" in err
    assert sorted(tmp_path.iterdir()) == []  # nothing touched, no state folder


def test_stage_args_are_words_not_shell(tmp_path):
    """A `;` or `$(...)` in --train-args is a literal word handed to the stage CLI, never run."""
    from cloud import pipeline as p

    cmds = dict(p.stage_commands("tiny", train_args="a=1 'b=two words' ; $(touch X)"))
    assert cmds["train"][-5:] == ["a=1", "b=two words", ";", "$(touch", "X)"]
    with pytest.raises(p.CloudError, match="--eval-args .*No closing quotation"):
        p.stage_commands("tiny", eval_args="limit='5")


def test_cli_rejects_unknown_stages(tmp_path, capsys):
    from cloud.pipeline import main

    assert main(["--state", str(tmp_path), "--stages", "data,deploy"]) == 2
    assert "deploy" in capsys.readouterr().err


def test_artifact_zip_holds_the_small_outputs(tmp_path):
    from cloud.pipeline import link_state, zip_artifacts

    repo, state = tmp_path / "repo", tmp_path / "vol"
    repo.mkdir()
    link_state(repo, state)
    run = repo / "runs" / "train" / "r1"
    (run / "merged").mkdir(parents=True)
    for f in ("summary.json", "loss.png", "log.jsonl", "config.yaml", "env.json"):
        (run / f).write_text("x")
    (run / "merged" / "model.safetensors").write_text("big")
    (repo / "models" / "checkpoint").symlink_to(Path("..") / "runs" / "train" / "r1" / "merged")
    for f in ("typing-corrector-int8.pte", "typing-corrector-int8.json", "tokenizer.json"):
        (repo / "models" / f).write_text("x")
    (repo / "metrics.json").write_text("{}")
    names = set(zipfile.ZipFile(io.BytesIO(zip_artifacts(repo))).namelist())
    assert names == {"models/typing-corrector-int8.pte", "models/typing-corrector-int8.json",
                     "models/tokenizer.json", "metrics.json", "runs/train/r1/summary.json",
                     "runs/train/r1/loss.png", "runs/train/r1/log.jsonl", "runs/train/r1/config.yaml",
                     "runs/train/r1/env.json"}


def test_cloud_table_measures_tokens_per_pair_and_labels_estimates(tiny_pairs, tiny_base, tmp_path, capsys):
    from bench.bench_cloud_table import GPUS, MEASURED, main

    out = tmp_path / "table.json"
    assert main(["--pairs", str(tiny_pairs / "train_data.json"), "--tokenizer", str(tiny_base),
                 "--samples", "300", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    data = json.loads(out.read_text())
    tpp = data["tokens_per_pair"]["mean"]
    assert data["tokens_per_pair"]["n"] == 300 and 20 < tpp < 200
    measured = [r for r in data["rows"] if r["kind"] == "measured"]
    assert [r["machine"] for r in measured] == [MEASURED["cpu"]["machine"], MEASURED["h200"]["machine"]]
    cpu = measured[0]
    assert cpu["hours_per_100k"] == pytest.approx(100_000 * tpp / cpu["tokens_per_s"] / 3600)
    estimates = [r for r in data["rows"] if r["kind"] == "estimate"]
    assert [r["machine"] for r in estimates] == list(GPUS)
    for r in estimates:
        lo, hi = r["tokens_per_s_range"]
        assert lo <= r["tokens_per_s"] <= hi and r["offers"]
    assert next(r for r in estimates if r["machine"].startswith("T4"))["precision"] == "fp16"
    assert table.count("| estimate |") == len(GPUS) and table.count("**measured**") == 2


def test_training_image_holds_every_stage_a_pod_runs():
    """Pods run docker/train.Dockerfile's image directly (no Docker inside): it must hold the
    packages of every stage cloud.pipeline runs, and its build context must let them in."""
    from tests.test_docker_train import DOCKERFILE, instructions

    copied = {a.split()[0] for k, a in instructions(DOCKERFILE) if k == "COPY"}
    allowed = (REPO / "docker/train.Dockerfile.dockerignore").read_text().splitlines()
    for pkg in ("core", "datagen", "train", "evaluation", "export", "cloud"):
        assert pkg in copied and f"!{pkg}/**" in allowed, pkg


@pytest.mark.integration
def test_pipeline_cli_runs_and_resumes_on_a_state_folder(tmp_path):
    """`python -m cloud.pipeline` as a pod runs it, tiny preset, in a copy of the tree; the same
    command again (a pre-empted pod restarted) keeps the pairs and resumes training."""
    import shutil

    from tests.test_adapter import run_in_group
    from tests.test_demo import _ignore

    tree, state = tmp_path / "repo", tmp_path / "workspace"
    shutil.copytree(REPO, tree, ignore=_ignore)
    cmd = [str(REPO / ".venv/bin/python"), "-m", "cloud.pipeline", "--state", str(state), "--preset", "tiny",
           "--data-args", "--config datagen/configs/tiny.yaml out_dir=data train_pairs=300 eval_pairs=30 "
                          "progress=false",
           "--train-args", "run_name=pod train.max_steps=6 checkpoint.every=3 eval.samples=2 "
                           "data.max_eval_samples=8 eval.max_new_tokens=8 train.device=cpu",
           "--eval-args", "limit=4 backends=[hf,identity] run_name=pod", "--stages", "data,train,eval"]
    first = run_in_group(cmd, tree, timeout=1200)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    assert (state / "runs" / "train" / "pod" / "checkpoints" / "step-00000006").is_dir()
    assert (state / "runs" / "eval" / "pod" / "metrics.json").is_file()
    names = zipfile.ZipFile(state / "artifacts.zip").namelist()
    assert "runs/train/pod/summary.json" in names and "metrics.json" in names
    pairs = (state / "data" / "train_data.json").read_bytes()

    again = run_in_group(cmd[:-2] + ["--stages", "data,train"], tree, timeout=1200)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed from step 6" in again.stderr
    assert (state / "data" / "train_data.json").read_bytes() == pairs  # the same pairs, not rebuilt
