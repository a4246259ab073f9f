"""Bad inputs to the evaluation stage (issue 16): cached outputs are never reused for
another model or another evaluation set, a quick run never replaces a full run's root
metrics.json, and names and output paths are checked before any backend runs."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from evaluation.run import main

PLUGIN = "tests.test_bad_inputs_eval:make_suffix"


class Suffix:
    """A real backend whose outputs depend on its model file: the file's text is appended."""
    name = "suffix"

    def __init__(self, model: str):
        self.tail = Path(model, "weights.txt").read_text().strip() if Path(model).is_dir() else \
            Path(model).read_text().strip()

    def correct(self, texts):
        return [f"{t} {self.tail}".strip() for t in texts]


def make_suffix(model=None, **options):
    return Suffix(model)


def _pairs(tmp_path: Path, n: int = 4, word: str = "cat") -> Path:
    f = tmp_path / "pairs.json"
    f.write_text("".join(json.dumps({"input": f"teh {word} {i}", "output": f"the {word} {i}"}) + "\n"
                         for i in range(n)))
    return f


def _run(tmp_path: Path, model: Path | None, *extra: str, backend: str = PLUGIN) -> int:
    models = f"backend_models={{'{backend}': '{model}'}}" if model else "backend_models={}"
    return main(["--benchmarks", str(tmp_path / "pairs.json"), "--backends", backend, "--run", "r1",
                 f"runs_root={tmp_path / 'runs'}", f"root_copy={tmp_path / 'root'}", "own_pairs=",
                 models, *extra])


def _outputs(path: Path) -> list[str]:
    return [r["raw_output"] for r in _rows(path)]


def _rows(path: Path) -> list[dict]:
    import csv

    return list(csv.DictReader(path.open()))


def test_rerun_with_another_model_file_is_refused(tmp_path, capsys):
    _pairs(tmp_path)
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_text("AAA")
    b.write_text("BBB")
    assert _run(tmp_path, a) == 0
    metrics = (tmp_path / "runs/eval/r1/metrics.json").read_bytes()
    assert _run(tmp_path, b) == 2
    err = capsys.readouterr().err
    assert re.search(r"was made with model.path=.*a.bin.*this run has model.path=.*b.bin.*fresh=", err), err
    assert (tmp_path / "runs/eval/r1/metrics.json").read_bytes() == metrics  # old label, old figures
    assert _run(tmp_path, b, "fresh=true") == 0
    assert all(o.endswith("BBB") for o in _outputs(tmp_path / "runs/eval/r1/model_test_results.csv"))


def test_rerun_after_the_model_folder_changed_is_refused(tmp_path, capsys):
    """models/checkpoint is a link that moves with training: same path, other weights."""
    _pairs(tmp_path)
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.txt").write_text("OLD")
    assert _run(tmp_path, model) == 0
    (model / "weights.txt").write_text("NEW")
    assert _run(tmp_path, model) == 2
    assert "was made with model.sha256=" in capsys.readouterr().err
    assert _run(tmp_path, model, "fresh=true") == 0
    assert all(o.endswith("NEW") for o in _outputs(tmp_path / "root/model_test_results.csv"))


def test_rerun_after_the_pairs_file_changed_is_refused(tmp_path, capsys):
    _pairs(tmp_path, word="cat")
    assert _run(tmp_path, None, backend="identity") == 0
    _pairs(tmp_path, word="dog")
    assert _run(tmp_path, None, backend="identity") == 2
    assert "line 1 was cached for another input" in capsys.readouterr().err
    assert _run(tmp_path, None, "fresh=true", backend="identity") == 0
    assert _outputs(tmp_path / "root/model_test_results.csv")[0] == "teh dog 0"


def test_growing_limit_and_a_new_backend_still_resume(tmp_path):
    _pairs(tmp_path)
    assert _run(tmp_path, None, "--limit", "2", backend="identity") == 0
    assert _run(tmp_path, None, backend="identity") == 0  # the same inputs, more of them
    assert _run(tmp_path, None, backend="symspell") == 0  # another backend: its own cache


def test_a_quick_run_keeps_the_root_metrics_of_a_full_run(tmp_path, capsys):
    _pairs(tmp_path)
    full = ["--backends", "identity,symspell"]
    assert main(["--benchmarks", str(tmp_path / "pairs.json"), "--run", "full", *full,
                 f"runs_root={tmp_path / 'runs'}", f"root_copy={tmp_path / 'root'}", "own_pairs="]) == 0
    root = (tmp_path / "root/metrics.json").read_bytes()
    for quick in (["--limit", "2", "--backends", "identity,symspell"], ["--backends", "identity"]):
        assert main(["--benchmarks", str(tmp_path / "pairs.json"), "--run", "quick", *quick,
                     f"runs_root={tmp_path / 'runs'}", f"root_copy={tmp_path / 'root'}", "own_pairs=",
                     "fresh=true"]) == 0
        assert "root_copy_force=true replaces it" in capsys.readouterr().err
        assert (tmp_path / "root/metrics.json").read_bytes() == root
    assert main(["--benchmarks", str(tmp_path / "pairs.json"), "--run", "quick", "--backends", "identity",
                 f"runs_root={tmp_path / 'runs'}", f"root_copy={tmp_path / 'root'}", "own_pairs=",
                 "root_copy_force=true"]) == 0
    assert set(json.loads((tmp_path / "root/metrics.json").read_text())["benchmarks"]["pairs"]["backends"]) \
        == {"identity"}


@pytest.mark.parametrize("args, message", [
    (["--run", "../../x"], "--run '../../x' is not a plain name"),
    (["--run", "a/b"], "is not a plain name"),
    (["root_copy={file}"], "root_copy .* is a file, not a folder"),
    (["runs_root={file}/sub"], "runs_root .* is a file, so the folder cannot be created"),
    (["--limit", "-1"], "limit must be >= 0"),
    (["fresh=maybe"], "fresh: expected true/false"),
])
def test_names_and_paths_are_checked_first(tmp_path, capsys, args, message):
    _pairs(tmp_path)
    f = tmp_path / "a_file"
    f.write_text("x")
    argv = ["--benchmarks", str(tmp_path / "pairs.json"), "--backends", "identity", "own_pairs=",
            f"runs_root={tmp_path / 'runs'}", f"root_copy={tmp_path / 'root'}"]
    rc = main(argv + [a.replace("{file}", str(f)) for a in args])
    err = capsys.readouterr().err
    assert rc == 2 and re.search(message, err), err
    assert not (tmp_path.parent / "x").exists()


@pytest.mark.parametrize("content, message", [
    (b"", "empty|no pairs"),
    (b"\xff\xfe\x00binary", "looks like UTF-16"),  # a UTF-16 byte-order mark
    (b'{"input": "a", "output": "b"}\n{"input": "caf\xe9"}\n', r"pairs.json:2: not UTF-8"),
    (b'{"input": "a"}\n', "output"),
    (b'{"input": "a", "output": "b", "errors": "spelling"}\n', "errors"),
])
def test_bad_evaluation_sets_are_clear_errors(tmp_path, capsys, content, message):
    (tmp_path / "pairs.json").write_bytes(content)
    assert _run(tmp_path, None, backend="identity") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and re.search(message, err), err


# --- issue 28: inputs that are not files, backend names, overrides anywhere ----------------------

def _special(tmp_path: Path, kind: str) -> str:
    if kind == "fifo":
        os.mkfifo(tmp_path / "fifo.json")
        return str(tmp_path / "fifo.json")
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    return str(tmp_path / "a")


@pytest.mark.parametrize("extra, message", [
    (["--benchmarks", "{fifo}"], r"override benchmarks=.*: benchmarks .*fifo.json: a named pipe, "
                                 r"not a regular file or folder"),
    (["--benchmarks", "{pairs},{fifo}"], r"benchmarks .*fifo.json: a named pipe"),
    (["--benchmarks", "{loop}"], r"benchmarks .*/a: Too many levels of symbolic links"),
    (["own_pairs={fifo}"], r"override own_pairs=.*: own_pairs .*fifo.json: a named pipe, not a regular file"),
    (["--backends", "os:system"], r"override backends=\[os:system\]: backends: backend 'os:system' is not "
                                  r"allowed: allowed backends are .*identity, pte, pyspellchecker, symspell"),
    (["--backends", "identity,subprocess:run"], r"backend 'subprocess:run' is not allowed"),
    (["--backends", "evaluation.run:main"], r"backend 'evaluation.run:main' is not allowed"),
    (["--backends", "tests.nonexistent:make_x"], r"backend 'tests.nonexistent:make_x': no module "
                                                 r"tests.nonexistent in this project"),
    (["--backends", "nosuch"], r"unknown backend 'nosuch'; allowed: device, hf, identity"),
    (["backend_models={'os:system': x}"], r"backend_models: backend 'os:system' is not allowed"),
    (["guard.max_edit_ratio=.inf"], r"guard.max_edit_ratio: expected a finite number, got inf"),
    (["hf.few_shot=nan"], r"hf.few_shot: expected an integer, got 'nan'"),
])
def test_bad_sets_and_backend_names_fail_before_anything_is_written(tmp_path, capsys, extra, message):
    pairs = _pairs(tmp_path)
    subs = {"{pairs}": str(pairs)}
    for kind in ("fifo", "loop"):
        if any("{" + kind + "}" in a for a in extra):
            subs["{" + kind + "}"] = _special(tmp_path, kind)
    for key, value in subs.items():
        extra = [a.replace(key, value) for a in extra]
    rc = main(["--benchmarks", str(pairs), "--backends", "identity", "own_pairs=",
               f"runs_root={tmp_path / 'runs'}", f"root_copy={tmp_path / 'root'}", "--run", "r1", *extra])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and re.search(message, err), err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "root").exists()  # nothing written


def test_overrides_between_flags_apply(tmp_path):
    _pairs(tmp_path)
    assert main(["--benchmarks", str(tmp_path / "pairs.json"), "limit=2", "--backends", "identity",
                 "own_pairs=", "--run", "r1", f"runs_root={tmp_path / 'runs'}",
                 f"root_copy={tmp_path / 'root'}"]) == 0
    metrics = json.loads((tmp_path / "runs/eval/r1/metrics.json").read_text())
    assert metrics["benchmarks"]["pairs"]["n"] == 2


def test_a_broken_hf_model_folder_is_named(tmp_path, tiny_base):
    import shutil

    from core.loading import ModelLoadError
    from evaluation.correctors import make_corrector

    model = tmp_path / "m"
    shutil.copytree(tiny_base, model)
    data = (model / "model.safetensors").read_bytes()
    (model / "model.safetensors").write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelLoadError, match=r"m/model.safetensors: truncated"):
        make_corrector("hf", str(model), device="cpu")


# --- issue 28 follow-ups: strict evaluation lines, a broken model named before the run folder -----

@pytest.mark.parametrize("content, message", [
    (b'{"input": "a", "output": "b", "output": "c"}\n',
     r"pairs.json:1: not valid JSON \(key 'output' appears twice in one object\)"),
    (b'{"input": "a", "output": "b"}\n' + b"[" * 100_000 + b"]" * 100_000 + b"\n",
     r"pairs.json:2: not valid JSON \(nested too deeply\)"),
    (b'{"input": "a", "output": "b", "errors": [NaN]}\n',
     r"pairs.json:1: not valid JSON \(NaN is not JSON\)"),
])
def test_evaluation_lines_json_would_take_silently_are_refused(tmp_path, capsys, content, message):
    (tmp_path / "pairs.json").write_bytes(content)
    assert _run(tmp_path, None, backend="identity") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and re.search(message, err), err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "root").exists()


def _broken_copy(tmp_path: Path, tiny_base: Path, how: str) -> Path:
    import shutil

    model = tmp_path / "m"
    shutil.copytree(tiny_base, model)
    if how == "weights":
        data = (model / "model.safetensors").read_bytes()
        (model / "model.safetensors").write_bytes(data[: len(data) // 3])
    elif how == "tokenizer":
        (model / "tokenizer.json").write_text('{"model": ')
    elif how == "config":
        (model / "config.json").write_text("{}")
    return model


@pytest.mark.parametrize("how, message", [
    ("weights", r"m/model.safetensors: truncated"),
    ("tokenizer", r"m/tokenizer.json: not valid JSON"),
    ("config", r"m/config.json: no model_type string"),
])
def test_a_broken_model_leaves_no_run_folder(tmp_path, capsys, tiny_base, how, message):
    """Before: runs/eval/r1/ (config.yaml, env.json) was made, then the hf backend failed."""
    pairs = _pairs(tmp_path)
    model = _broken_copy(tmp_path, tiny_base, how)
    rc = main(["--benchmarks", str(pairs), "--backends", "identity,hf", "--model", str(model), "--run", "r1",
               f"runs_root={tmp_path / 'runs'}", f"root_copy={tmp_path / 'root'}", "own_pairs="])
    err = capsys.readouterr().err
    assert rc == 2 and re.search(message, err), err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "root").exists()


@pytest.mark.parametrize("spec, message", [
    ("/nonexistent/model", r"model folder /nonexistent/model: not found"),
    ("{pte_empty}", r"pte model .*m.pte: empty file \(0 bytes\)"),
    ("{pte_dir}", r"pte model .*dir.pte: a folder, not a file"),
    ("{pte_badmeta}", r"metadata .*bad.json: not valid JSON"),
])
def test_a_backend_model_that_cannot_load_is_named_first(tmp_path, capsys, spec, message):
    pairs = _pairs(tmp_path)
    (tmp_path / "m.pte").write_bytes(b"")
    (tmp_path / "dir.pte").mkdir()
    (tmp_path / "bad.pte").write_bytes(b"PTE")
    (tmp_path / "bad.json").write_text('{"recipe": ')
    spec = spec.format(pte_empty=tmp_path / "m.pte", pte_dir=tmp_path / "dir.pte",
                       pte_badmeta=tmp_path / "bad.pte")
    backend = "hf" if spec.startswith("/nonexistent") else "pte"
    rc = main(["--benchmarks", str(pairs), "--backends", f"identity,{backend}", "--run", "r1",
               f"backend_models={{{backend}: '{spec}'}}", f"runs_root={tmp_path / 'runs'}",
               f"root_copy={tmp_path / 'root'}", "own_pairs="])
    err = capsys.readouterr().err
    assert rc == 2 and re.search(message, err), err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "root").exists()
