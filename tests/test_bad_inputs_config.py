"""Bad configs and command lines, for every stage at once (issue 28): non-finite and
out-of-range numbers, hostile YAML files, overrides anywhere among the flags, errors that
name the overrides at fault, and backend names that would import arbitrary modules."""
from __future__ import annotations

import dataclasses
import os
import re
import typing
from pathlib import Path

import pytest

from core.config import ConfigError, load_config
from core.tiny import TinyModelConfig
from datagen.config import DataConfig
from device_bench.config import BenchConfig
from evaluation.config import EvalConfig
from export.config import ExportConfig
from tests.fixtures.base import REPO
from train.config import TrainConfig

# every stage config with its shipped YAML
STAGES = {
    "train": (TrainConfig, "train/configs/tiny.yaml"),
    "datagen": (DataConfig, "datagen/configs/default.yaml"),
    "evaluation": (EvalConfig, "evaluation/configs/default.yaml"),
    "export": (ExportConfig, "export/configs/default.yaml"),
    "device_bench": (BenchConfig, "device_bench/configs/default.yaml"),
    "core.tiny": (TinyModelConfig, "core/configs/tiny_model.yaml"),
}


def _float_fields(cls: type, prefix: str = "") -> list[str]:
    """Dotted keys of every float field (float or float | None), nested dataclasses included."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out += _float_fields(tp, f"{prefix}{f.name}.")
        elif tp is float or float in typing.get_args(tp):
            out.append(f"{prefix}{f.name}")
    return out


FLOAT_FIELDS = [(stage, key) for stage, (cls, _) in STAGES.items() for key in _float_fields(cls)]
NON_FINITE = [".inf", "-.inf", ".nan", "nan", "inf", "-inf", "1e999", "-1e999", "Infinity"]


def test_every_stage_has_float_fields_to_check():
    stages = {s for s, _ in FLOAT_FIELDS}
    assert {"train", "datagen", "evaluation", "device_bench", "core.tiny"} <= stages, stages
    assert ("train", "optim.lr") in FLOAT_FIELDS


@pytest.mark.parametrize("stage, key", FLOAT_FIELDS)
def test_every_float_field_rejects_infinity_and_nan(stage, key):
    cls, yaml = STAGES[stage]
    for value in NON_FINITE:
        with pytest.raises(ConfigError) as exc:
            load_config(cls, REPO / yaml, [f"{key}={value}"])
        assert str(exc.value) == (f"command-line override {key}={value}: {key}: expected a finite number, "
                                  f"got {_shown(value)}"), str(exc.value)


def _shown(value: str) -> str:
    import yaml

    parsed = yaml.safe_load(value)
    return repr(parsed)


def test_a_non_finite_number_in_the_yaml_is_blamed_on_the_file(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text("seed: 1\noptim:\n  lr: .inf\n")
    want = rf"^{re.escape(str(bad))}: optim.lr: expected a finite number, got inf$"
    with pytest.raises(ConfigError, match=want):
        load_config(TrainConfig, bad, ["seed=2"])  # a good override does not take the blame


@pytest.mark.parametrize("cls, override, message", [
    (TrainConfig, "optim.lr=" + "9" * 400, r"optim.lr: 9{20}\.\.\. is too large for a number"),
    (TrainConfig, f"seed={2**70}",
     r"seed: 1180591620717411303424 is out of range \(a seed must be in \[0, 4294967296\)\)"),
    (TrainConfig, "seed=-1", r"seed: -1 is out of range"),
    (DataConfig, "seed=-5", r"seed: -5 is out of range"),
    (TrainConfig, f"lora.r={2**70}", r"lora.r: 1180591620717411303424 is out of range \(a count must be in"),
    (TrainConfig, "train.max_steps=-3", r"train.max_steps must be >= 0"),
    (TrainConfig, "train.max_steps=1.5", r"train.max_steps: expected an integer, got 1.5"),
    (TrainConfig, "eval.every=-1", r"eval.every must be >= 0"),
    (TrainConfig, "eval.samples=-1", r"eval.samples must be >= 0"),
    (TrainConfig, "eval.max_new_tokens=0", r"eval.max_new_tokens must be >= 1"),
    (TrainConfig, "optim.weight_decay=-1", r"optim.weight_decay must be >= 0"),
    (TrainConfig, "optim.beta1=1.5", r"optim.beta1 must be in \[0, 1\)"),
    (TrainConfig, "optim.beta2=1", r"optim.beta2 must be in \[0, 1\)"),
    (TrainConfig, "optim.grad_clip=-1", r"optim.grad_clip must be >= 0"),
    (TrainConfig, "optim.warmup_steps=-10", r"optim.warmup_steps must be >= 0"),
    (TrainConfig, "output.log_every=0", r"output.log_every must be >= 1"),
    (TrainConfig, "checkpoint.keep=-1", r"checkpoint.keep must be >= 0"),
    (TrainConfig, "data.max_train_samples=-1", r"data.max_train_samples .* must be >= 0"),
    (TrainConfig, "\u043eptim.lr=1", r"unknown key \u043eptim in TrainConfig; allowed keys: checkpoint"),
    (TrainConfig, "optim=5", r"optim: expected a mapping of keys, got 5"),
    (TrainConfig, "optim.lr.x=1", r"optim.lr: expected a number, got \{'x': 1\}"),
    (EvalConfig, "limit=1e3", r"limit: expected an integer, got '1e3'"),
    (EvalConfig, "backends=identity", r"backends: expected a list, got 'identity'"),
])
def test_out_of_range_and_ill_typed_numbers_name_the_override(cls, override, message):
    yaml = {TrainConfig: "train/configs/tiny.yaml", DataConfig: "datagen/configs/default.yaml",
            EvalConfig: "evaluation/configs/default.yaml"}[cls]
    with pytest.raises(ConfigError) as exc:
        load_config(cls, REPO / yaml, ["run_name=x" if cls is not EvalConfig else "seed=1", override])
    text = str(exc.value)
    shown = override if len(override) <= 80 else override[:77] + "..."
    assert text.startswith(f"command-line override {shown}: "), text  # only the one at fault
    assert re.search(message, text), text


@pytest.mark.parametrize("text, message", [
    ("override", "must look like key=value"),
    ("optim..lr=1", "has an empty key"),
    ("=1", "has an empty key"),
    ("run_name=[unclosed", "value is not valid YAML"),
    ("seed=!!python/object/apply:os.system [echo]", "value is not valid YAML: could not determine a"),
])
def test_malformed_overrides_are_named(text, message):
    with pytest.raises(ConfigError, match=re.escape(f"override {text!r}") + ".*" + message):
        load_config(TrainConfig, REPO / "train/configs/tiny.yaml", ["seed=1", text])


# --- overrides at fault ------------------------------------------------------------------------

def test_a_cross_field_error_names_both_overrides_and_no_other():
    flags = ["out_dir=/tmp/elsewhere", "train_pairs=50", "sources=[{kind: everyday}]"]
    with pytest.raises(ConfigError) as exc:
        load_config(DataConfig, REPO / "datagen/configs/default.yaml",
                    flags + ["clean.min_words=30", "clean.max_words=5", "seed=3"])
    text = str(exc.value)
    assert text.startswith("command-line overrides clean.min_words=30 clean.max_words=5: "), text
    assert "out_dir" not in text and "train_pairs" not in text and "seed=3" not in text


def test_a_cross_field_error_of_one_override_against_the_file_names_that_one():
    with pytest.raises(ConfigError) as exc:
        load_config(TrainConfig, REPO / "train/configs/tiny.yaml",
                    ["run_name=x", "data.row_tokens=16", "seed=2"])
    assert str(exc.value).startswith("command-line override data.row_tokens=16: data.row_tokens (16) must be "
                                     ">= data.max_length"), str(exc.value)


def test_a_key_given_twice_names_the_last_value():
    with pytest.raises(ConfigError) as exc:
        load_config(TrainConfig, REPO / "train/configs/tiny.yaml", ["optim.lr=-1", "seed=1", "optim.lr=-2"])
    assert str(exc.value).startswith("command-line override optim.lr=-2: optim.lr must be > 0, got -2.0")


# --- config files --------------------------------------------------------------------------------

@pytest.mark.parametrize("content, message", [
    (b"- a\n- b\n", "top level must be a mapping of keys, not a list"),
    (b"just a string\n", "top level must be a mapping of keys, not a string"),
    (b"seed: 1\nseed: 2\n", r"not valid YAML: .*key 'seed' appears twice in one mapping \(first at line 1\)"),
    (b"optim:\n  lr: 1.0e-3\n  lr: 1.0e-4\n", "key 'lr' appears twice"),
    (b"1: 2\nzz: 3\n", "unknown key 1 in TrainConfig; allowed keys"),
    (b"null: 3\n", "unknown key None in TrainConfig"),
    (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", "not valid YAML: nested too deeply"),
    (b"seed: !!python/object/apply:os.system ['echo hi']\n", "not valid YAML: could not determine a"),
    (b"note: caf\xe9\n", r"not UTF-8 text \(byte 9\)"),
    (bytes(range(256)) * 4, r"not UTF-8 text"),
    (b"seed: 1\x00\n", "holds NUL bytes"),
    (b"", r"empty \(0 bytes\)"),
    (b"optim: 5\n", "optim: expected a mapping of keys, got 5"),
    (b"a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b]\n",
     r"not valid YAML: alias \*a: anchors and aliases are not supported in configs"),
    (b"optim:\n  lr: .inf\n", "optim.lr: expected a finite number, got inf"),
])
def test_hostile_yaml_files_are_config_errors_naming_the_file(tmp_path, content, message):
    f = tmp_path / "c.yaml"
    f.write_bytes(content)
    with pytest.raises(ConfigError) as exc:
        load_config(TrainConfig, f, ["seed=1"] if b"seed" not in content else [])
    assert str(f) in str(exc.value) and re.search(message, str(exc.value)), str(exc.value)


def test_a_yaml_with_a_byte_order_mark_still_loads(tmp_path):
    f = tmp_path / "bom.yaml"
    f.write_bytes(b"\xef\xbb\xbfseed: 7\n")
    assert load_config(TrainConfig, f).seed == 7


@pytest.mark.parametrize("kind, message", [
    ("fifo", "a named pipe, not a regular file"),
    ("loop", "Too many levels of symbolic links"),
    ("dir", "a folder, not a file"),
    ("missing", "config file not found"),
    ("chardev", "a character device, not a regular file"),
])
def test_a_config_path_that_is_not_a_file_is_named_by_stat_without_blocking(tmp_path, kind, message):
    f = _odd_path(tmp_path, kind)
    with pytest.raises(ConfigError, match=message) as exc:
        load_config(TrainConfig, f)
    assert str(f) in str(exc.value)


def _odd_path(tmp_path: Path, kind: str) -> Path:
    if kind == "fifo":
        os.mkfifo(tmp_path / "fifo.yaml")
        return tmp_path / "fifo.yaml"
    if kind == "loop":
        (tmp_path / "a").symlink_to(tmp_path / "b")
        (tmp_path / "b").symlink_to(tmp_path / "a")
        return tmp_path / "a"
    if kind == "dir":
        return tmp_path
    if kind == "chardev":
        return Path("/dev/zero")
    return tmp_path / "nothing.yaml"


def test_a_config_path_with_a_newline_loads(tmp_path):
    f = tmp_path / "odd\nname.yaml"
    f.write_text("seed: 4\n")
    assert load_config(TrainConfig, f).seed == 4


# --- one key=value rule for every stage CLI ------------------------------------------------------

def _stage_cli(stage: str):
    import importlib

    mod = {"datagen": "datagen.generate_typos", "train": "train.train", "evaluation": "evaluation.run",
           "export": "export.export_to_pte", "device_bench": "device_bench.__main__",
           "core.tiny": "core.tiny", "autotrain": "datagen.autotrain"}[stage]
    return importlib.import_module(mod).main


@pytest.mark.parametrize("stage, argv, message", [
    ("datagen", ["--out", "{tmp}/d", "train_pairs=-5", "--corpus", "everyday", "runs_root={tmp}/runs"],
     r"command-line override train_pairs=-5: train_pairs must be >= 1"),
    ("train", ["optim.lr=.inf", "--config", "train/configs/tiny.yaml", "output.root={tmp}/runs"],
     r"command-line override optim.lr=.inf: optim.lr: expected a finite number, got inf"),
    ("evaluation", ["--benchmarks", "{tmp}/p.json", "limit=-1", "--backends", "identity", "own_pairs=",
                    "--run", "r", "runs_root={tmp}/runs", "root_copy={tmp}/root"],
     r"command-line override limit=-1: limit must be >= 0"),
    ("export", ["--model", "{tmp}/none", "max_seq_len=8", "--recipe", "xnnpack-int8", "out_dir={tmp}/m"],
     r"command-line override max_seq_len=8: max_seq_len must be in 16..32768"),
    ("device_bench", ["run", "--models", "{tmp}/m.pte", "reps=0", "--eval", "{tmp}/p.json", "--devices",
                      "host", "reports_dir={tmp}/reports"],
     r"command-line override reps=0: reps must be in \[1, 1000\], got 0"),
    ("device_bench", ["run", "--models", "{tmp}/a.pte", "{tmp}/b.pte", "threads=-1", "--eval",
                      "{tmp}/p.json"],
     r"command-line override threads=-1: threads must be in \[0, 256\]"),
    ("core.tiny", ["rope_theta=.inf", "--config", "core/configs/tiny_model.yaml"],
     r"rope_theta: expected a finite number, got inf"),
    ("autotrain", ["--out", "{tmp}/at", "limit=-1", "--preset", "tiny"], r"limit must be >= 0"),
])
def test_overrides_anywhere_among_the_flags_reach_the_config(tmp_path, capsys, stage, argv, message):
    """Every stage CLI parses `key=value` before, between and after its flags (the override is
    read: its own validation error comes back, not argparse's "unrecognized arguments")."""
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        rc = _stage_cli(stage)([a.replace("{tmp}", str(tmp_path)) for a in argv])
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err
    assert rc == 2 and "unrecognized arguments" not in err and re.search(message, err), err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_stage_parsers_keep_override_order_and_take_overrides_out_of_list_flags():
    from core.cli import Flag, stage_parser
    from device_bench.__main__ import parse_args as bench_args

    ap = stage_parser("x", "d", None, (Flag("--model", "model", "m"),))
    ns = ap.parse_args(["seed=1", "--config", "c.yaml", "a.b=2", "--model", "m", "seed=3"])
    assert ns.config == "c.yaml" and ns.model == "m" and ns.overrides == ["seed=1", "a.b=2", "seed=3"]
    ns = bench_args(["run", "--models", "a.pte", "b.pte", "reps=2", "--eval", "e.json", "warmup=0"])
    assert ns.cmd == "run" and ns.models == ["a.pte", "b.pte"] and ns.overrides == ["reps=2", "warmup=0"]
    with pytest.raises(SystemExit):
        bench_args(["run", "--models", "reps=2", "--eval", "e.json"])  # no model left before the override


# --- backend names -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["os:system", "subprocess:run", "builtins:eval", "tests..x:make_y",
                                  "tests.test_evaluate:make upper", "tests.test_evaluate:_private",
                                  "evaluation.run:main", "", "nonexistent"])
def test_a_backend_name_never_imports_an_arbitrary_module(name, monkeypatch):
    import importlib

    imported = []
    real = importlib.import_module
    monkeypatch.setattr(importlib, "import_module", lambda m, *a: imported.append(m) or real(m, *a))
    with pytest.raises(ConfigError) as exc:
        load_config(EvalConfig, REPO / "evaluation/configs/default.yaml", [f"backends=[{name!r}]"])
    text = str(exc.value)
    assert "backends: " in text and "identity, pte, pyspellchecker, symspell" in text, text
    assert imported == []
    with pytest.raises(ConfigError, match="baselines: .*allowed"):
        load_config(BenchConfig, REPO / "device_bench/configs/default.yaml", [f"baselines=[{name!r}]"])


def test_a_project_factory_is_still_a_backend():
    from evaluation.correctors import CorrectorError, make_corrector

    assert make_corrector("tests.test_evaluate:make_upper").correct(["x"]) == ["X"]
    with pytest.raises(CorrectorError, match="no module tests.nonexistent in this project"):
        make_corrector("tests.nonexistent:make_x")
    with pytest.raises(CorrectorError, match="has no make_nothing"):
        make_corrector("tests.test_evaluate:make_nothing")
