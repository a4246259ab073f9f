"""Bad inputs to the shared contracts (issue 16): run names, output paths, config overrides,
leftover temp files and the one resume rule."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import ConfigError, load_config
from core.paths import check_output_dir, check_output_file
from core.runs import (
    ResumeError,
    check_run_name,
    config_diff,
    make_run_dir,
    refuse_mismatch,
    remove_stale_temps,
)
from tests.fixtures.base import REPO
from train.config import TrainConfig

BAD_NAMES = ["../x", "../../x", "a/b", "/abs", "..", ".", ".hidden", "", "a b", "x\n", "a\\b",
             "x" * 200, "ok/../..", "\x00"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_run_name_is_a_plain_name(name):
    with pytest.raises(ConfigError, match="not a plain name"):
        check_run_name(name)


@pytest.mark.parametrize("name", ["t", "tiny-0a1b2c3d", "20240101-120000", "r1.v2", "a_b+c=d@e,f"])
def test_plain_names_pass(name):
    assert check_run_name(name) == name


def test_make_run_dir_refuses_an_escaping_name(tmp_path):
    with pytest.raises(ConfigError, match="not a plain name"):
        make_run_dir("data", "../../escaped", {"a": 1}, 0, root=tmp_path / "runs")
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "runs").exists()


def test_output_paths_are_checked(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ConfigError, match="out_dir .*file is a file, not a folder"):
        check_output_dir(f, "out_dir")
    with pytest.raises(ConfigError, match="is a file, so the folder cannot be created"):
        check_output_dir(f / "sub" / "deeper", "out_dir")
    with pytest.raises(ConfigError, match="is a folder, not a file"):
        check_output_file(tmp_path, "results")
    assert check_output_dir(tmp_path / "new" / "dir", "out_dir") == tmp_path / "new" / "dir"
    assert not (tmp_path / "new").exists()  # checking creates nothing


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_output_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="not writable"):
            check_output_dir(ro / "out", "out_dir")
    finally:
        ro.chmod(0o700)


def test_a_bad_override_is_blamed_on_the_command_line_not_the_yaml():
    tiny = REPO / "train/configs/tiny.yaml"
    with pytest.raises(ConfigError) as exc:
        load_config(TrainConfig, tiny, ["max_steps=200"])
    assert str(exc.value).startswith("command-line override max_steps=200: unknown key max_steps")
    with pytest.raises(ConfigError, match=r"^command-line override optim.lr=-1: optim.lr must be > 0"):
        load_config(TrainConfig, tiny, ["seed=1", "optim.lr=-1"])
    assert load_config(TrainConfig, tiny, ["train.max_steps=200"]).train.max_steps == 200


def test_a_bad_yaml_is_still_blamed_on_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lr: -1\n")
    with pytest.raises(ConfigError, match=f"^{bad}: optim.lr must be > 0"):
        load_config(TrainConfig, bad, ["seed=1"])


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = [tmp_path / f".train_data.json.{dead}.tmp", tmp_path / f".metrics.json.{dead}.ab12cd.tmp",
             tmp_path / f".step-00000002.tmp-{dead}"]
    for p in stale[:2]:
        p.write_text("half")
    stale[2].mkdir()
    live = tmp_path / f".train_data.json.{os.getppid()}.tmp"
    live.write_text("being written")
    keep = tmp_path / "train_data.json"
    keep.write_text("good")
    assert sorted(remove_stale_temps(tmp_path)) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, keep.name])


def test_resume_mismatch_names_the_field():
    old = {"optim": {"lr": 0.0002, "schedule": "cosine"}, "seed": 0, "output": {"log_every": 1}}
    new = {"optim": {"lr": 0.001, "schedule": "cosine"}, "seed": 0, "output": {"log_every": 5}}
    diffs = config_diff(old, new, ignore=("output",))
    assert diffs == [("optim.lr", 0.0002, 0.001)]
    with pytest.raises(ResumeError, match=r"runs/x was made with optim.lr=0.0002, this run has "
                                          r"optim.lr=0.001: use a new run_name"):
        refuse_mismatch("runs/x", diffs, "use a new run_name")
    refuse_mismatch("runs/x", [], "never raised")


# --- loaders: a truncated or ill-typed file is a ModelLoadError naming it (issue 28) -------------

def _cut(f: Path, size: int | None = None) -> None:
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2 if size is None else size])


def _edit_json(f: Path, **changes) -> None:
    f.write_text(json.dumps({**json.loads(f.read_text()), **changes}))


MODEL_BREAKS = {  # name -> (how the copy of the tiny model is broken, loader, message)
    "tokenizer.json truncated": (lambda d: _cut(d / "tokenizer.json"), "tokenizer",
                                 r"tokenizer.json: not valid JSON \("),
    "tokenizer.json empty": (lambda d: _cut(d / "tokenizer.json", 0), "tokenizer",
                             r"tokenizer.json: empty file, expected JSON"),
    "tokenizer.json a list": (lambda d: (d / "tokenizer.json").write_text("[1, 2]"), "tokenizer",
                              r"tokenizer.json: expected an object at the top level of the JSON, got a list"),
    "tokenizer.json no model": (lambda d: (d / "tokenizer.json").write_text('{"a": 1}'), "tokenizer",
                                r"tokenizer.json: not a tokenizer.json the tokenizers library can load"),
    "tokenizer.json duplicate key": (lambda d: (d / "tokenizer.json").write_text('{"a": 1, "a": 2}'),
                                     "tokenizer", r"tokenizer.json: not valid JSON \(key 'a' appears twice"),
    "tokenizer_config.json truncated": (lambda d: _cut(d / "tokenizer_config.json"), "tokenizer",
                                        r"tokenizer_config.json: not valid JSON"),
    "tokenizer_config.json binary": (lambda d: (d / "tokenizer_config.json").write_bytes(b"\xff\xfe\x00x"),
                                     "tokenizer", r"tokenizer_config.json: not UTF-8 \(byte 0\)"),
    "config.json truncated": (lambda d: _cut(d / "config.json"), "model", r"config.json: not valid JSON"),
    "config.json a list": (lambda d: (d / "config.json").write_text("[]"), "model",
                           r"config.json: expected an object at the top level of the JSON, got a list"),
    "config.json no model_type": (lambda d: (d / "config.json").write_text("{}"), "model",
                                  r"config.json: no model_type string"),
    "config.json ill-typed": (lambda d: _edit_json(d / "config.json", hidden_size="big"), "model",
                              r": not a loadable model folder \(StrictDataclassFieldValidationError: "
                              r".*hidden_size"),
    "config.json missing": (lambda d: (d / "config.json").unlink(), "model",
                            r": no config.json: not a model"),
    "model.safetensors truncated": (lambda d: _cut(d / "model.safetensors"), "model",
                                    r"model.safetensors: truncated: its header describes \d+ bytes of "
                                    r"tensors, the file holds \d+"),
    "model.safetensors empty": (lambda d: _cut(d / "model.safetensors", 0), "model",
                                r"model.safetensors: 0 bytes, too short for a safetensors file"),
    "model.safetensors junk": (lambda d: (d / "model.safetensors").write_bytes(b"\xff" * 100), "model",
                               r"model.safetensors: not a safetensors file, or truncated"),
    "model.safetensors appended": (lambda d: (d / "model.safetensors").write_bytes(
        (d / "model.safetensors").read_bytes() + b"\0" * 10), "model",
        r"model.safetensors: 10 bytes past the last"),
    "empty folder": (lambda d: [p.unlink() for p in d.iterdir()], "tokenizer", r": holds no tokenizer files"),
}


@pytest.mark.parametrize("case", list(MODEL_BREAKS))
def test_a_broken_model_folder_is_named_by_the_loader(tmp_path, tiny_base, case):
    import shutil

    from core.loading import ModelLoadError, load_model, load_tokenizer

    model = tmp_path / "m"
    shutil.copytree(tiny_base, model)
    breaks, loader, message = MODEL_BREAKS[case]
    breaks(model)
    before = sorted(p.name for p in model.iterdir())
    with pytest.raises(ModelLoadError) as exc:
        (load_tokenizer if loader == "tokenizer" else load_model)(str(model))
    assert re.search(message, str(exc.value)) and str(model) in str(exc.value), str(exc.value)
    assert sorted(p.name for p in model.iterdir()) == before


@pytest.mark.parametrize("kind, message", [("fifo", "a named pipe, not a folder"),
                                           ("loop", "Too many levels of symbolic links"),
                                           ("dangling", "a symlink to .*nowhere, which does not exist")])
def test_a_model_path_that_is_not_a_folder_is_named(tmp_path, kind, message):
    from core.loading import ModelLoadError, load_model, load_tokenizer

    p = tmp_path / "model"
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "loop":
        p.symlink_to(tmp_path / "other")
        (tmp_path / "other").symlink_to(p)
    else:
        p.symlink_to(tmp_path / "nowhere")
    for load in (load_model, load_tokenizer):
        with pytest.raises(ModelLoadError, match=message):
            load(str(p))


def make_tiny_adapter(base: Path, out: Path) -> Path:
    """A LoRA adapter (r=4 on q_proj, v_proj) of the tiny base at `out`, with its tokenizer."""
    import torch
    from peft import LoraConfig, get_peft_model

    from core.loading import load_model, load_tokenizer

    model = load_model(str(base), dtype=torch.float32)
    get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                     task_type="CAUSAL_LM")).save_pretrained(out)
    load_tokenizer(str(base)).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_adapter(tiny_base, tmp_path_factory) -> Path:
    return make_tiny_adapter(tiny_base, tmp_path_factory.mktemp("adapter") / "adapter")


ADAPTER_BREAKS = {
    "r a word": (lambda d: _edit_json(d / "adapter_config.json", r="sixteen"),
                 r"adapter_config.json: r must be a positive integer, got 'sixteen'"),
    "r zero": (lambda d: _edit_json(d / "adapter_config.json", r=0), r"r must be a positive integer, got 0"),
    "target_modules a number": (lambda d: _edit_json(d / "adapter_config.json", target_modules=5),
                                r"adapter_config.json: target_modules must be a module name pattern or a "
                                r"non-empty list of module names, got 5"),
    "target_modules empty": (lambda d: _edit_json(d / "adapter_config.json", target_modules=[]),
                             r"target_modules must be .*, got \[\]"),
    "lora_alpha a word": (lambda d: _edit_json(d / "adapter_config.json", lora_alpha="x"),
                          r"lora_alpha must be a positive number, got 'x'"),
    "lora_dropout 1.5": (lambda d: _edit_json(d / "adapter_config.json", lora_dropout=1.5),
                         r"lora_dropout must be a number in \[0, 1\), got 1.5"),
    "base a number": (lambda d: _edit_json(d / "adapter_config.json", base_model_name_or_path=5),
                      r"base_model_name_or_path must be a string, got 5"),
    "use_dora a string": (lambda d: _edit_json(d / "adapter_config.json", use_dora="yes"),
                          r"use_dora must be true or false, got 'yes'"),
    "no r": (lambda d: (d / "adapter_config.json").write_text('{"peft_type": "LORA", '
                                                              '"target_modules": ["q"]}'),
             r"adapter_config.json: no 'r': not a LoRA adapter's config"),
    "config a list": (lambda d: (d / "adapter_config.json").write_text("[1]"),
                      r"adapter_config.json: expected an object at the top level of the JSON, got a list"),
    "config truncated": (lambda d: _cut(d / "adapter_config.json"), r"adapter_config.json: not valid JSON"),
    "config NaN": (lambda d: (d / "adapter_config.json").write_text('{"r": NaN}'),
                   r"adapter_config.json: not valid JSON \(NaN is not JSON\)"),
    "weights truncated": (lambda d: _cut(d / "adapter_model.safetensors"),
                          r"adapter_model.safetensors: truncated"),
    "weights empty": (lambda d: _cut(d / "adapter_model.safetensors", 0),
                      r"adapter_model.safetensors: 0 bytes, too short"),
    "adapter tokenizer truncated": (lambda d: _cut(d / "tokenizer.json"), r"tokenizer.json: not valid JSON"),
}


@pytest.mark.parametrize("case", list(ADAPTER_BREAKS))
def test_a_broken_adapter_is_named_and_nothing_is_merged(tmp_path, tiny_adapter, tiny_base, case):
    import shutil

    from core.loading import ModelLoadError, merge_adapter

    adapter = tmp_path / "adapter"
    shutil.copytree(tiny_adapter, adapter)
    breaks, message = ADAPTER_BREAKS[case]
    breaks(adapter)
    with pytest.raises(ModelLoadError) as exc:
        merge_adapter(adapter, base=str(tiny_base), cache=tmp_path / "merged")
    assert re.search(message, str(exc.value)) and str(adapter) in str(exc.value), str(exc.value)
    assert not (tmp_path / "merged").exists() or not any((tmp_path / "merged").iterdir())


def test_the_shipped_adapter_config_passes_the_type_checks():
    from core.loading import adapter_lora_settings

    assert adapter_lora_settings(REPO / "release/smollm2-135m-typo-lora") == {"r": 16, "alpha": 32}
