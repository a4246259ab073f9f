"""Bad inputs to the shared contracts (issue 16): run names, output paths, config overrides,
leftover temp files and the one resume rule."""
from __future__ import annotations

import os
import subprocess
import sys

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
