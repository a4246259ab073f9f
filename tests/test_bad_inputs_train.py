"""Bad inputs to the train stage (issue 16): a changed config never resumes an old run,
checkpoints load with weights_only=True, and output paths and names are checked before any
model loads."""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
import torch

from core.runs import ResumeError
from tests.fixtures.base import REPO
from train import checkpoint
from train.batches import PairsFileError, load_pairs
from train.train import main

TINY = str(REPO / "train/configs/tiny.yaml")


def _data(tmp_path: Path) -> Path:
    f = tmp_path / "d.json"
    f.write_text("".join(json.dumps({"input": f"teh cat {i}", "output": f"The cat {i}."}) + "\n"
                         for i in range(8)))
    return f


def _train(tmp_path: Path, tiny_base: Path, *extra: str) -> int:
    data = _data(tmp_path)
    return main(["--config", TINY, f"data.train={data}", f"data.eval={data}", f"model.base={tiny_base}",
                 f"output.root={tmp_path / 'runs'}", "output.link=", "run_name=r1", "train.max_steps=2",
                 "checkpoint.every=1", "eval.samples=1", "eval.max_new_tokens=2", "eval.every=0",
                 "data.max_eval_samples=2", *extra])


def test_a_changed_config_does_not_resume_an_old_run(tmp_path, tiny_base, capsys):
    assert _train(tmp_path, tiny_base) == 0
    run = tmp_path / "runs/train/r1"
    config, summary = (run / "config.yaml").read_bytes(), (run / "summary.json").read_bytes()
    assert _train(tmp_path, tiny_base, "optim.lr=0.01") == 2
    err = capsys.readouterr().err
    assert "was made with optim.lr=" in err and "this run has optim.lr=0.01" in err and "new run_name" in err
    assert (run / "config.yaml").read_bytes() == config and (run / "summary.json").read_bytes() == summary
    # settings that change no result may differ; the same config resumes (from the last checkpoint)
    assert _train(tmp_path, tiny_base, "output.log_every=5", "checkpoint.keep=1") == 0


def _plain_state() -> tuple[torch.nn.Module, torch.optim.Optimizer, object]:
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.ones(1, 4)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    return model, opt, sched


def test_checkpoints_round_trip_with_weights_only(tmp_path):
    import random

    model, opt, sched = _plain_state()
    random.seed(7)
    checkpoint.save(tmp_path, model, opt, sched, checkpoint.Position(step=3, tokens=9), keep=2)
    expected = random.random()
    state = torch.load(tmp_path / "step-00000003/state.pt", weights_only=True)  # no error: plain data
    assert set(state) >= {"model", "optimizer", "scheduler", "progress", "rng"}
    m2, o2, s2 = _plain_state()
    pos = checkpoint.load_latest(tmp_path, m2, o2, s2)
    assert pos.step == 3 and random.random() == expected
    torch.testing.assert_close(m2.weight, model.weight)


class Payload:
    """Anything not plain data: an old-style or foreign checkpoint may hold such objects
    (or worse, a __reduce__ that runs code)."""


@pytest.mark.parametrize("content, message", [
    ("object", "refused: it holds Python objects other than tensors"),
    ("namespace", "refused: it holds Python objects other than tensors"),
    ("truncated", "not a readable checkpoint"),
    ("empty", "not a readable checkpoint"),
    ("not_a_dict", "not a checkpoint of this trainer"),
    ("missing_key", "not a checkpoint of this trainer \\(no 'rng' entry\\)"),
])
def test_unsafe_or_broken_checkpoints_are_refused(tmp_path, content, message):
    model, opt, sched = _plain_state()
    path = checkpoint.save(tmp_path, model, opt, sched, checkpoint.Position(step=1), keep=2) / "state.pt"
    good = torch.load(path, weights_only=True)
    if content == "object":
        torch.save({**good, "extra": Payload()}, path)
    elif content == "namespace":
        torch.save({**good, "rng": argparse.Namespace(python=None)}, path)
    elif content == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif content == "empty":
        path.write_bytes(b"")
    elif content == "not_a_dict":
        torch.save([1, 2, 3], path)
    else:
        torch.save({k: v for k, v in good.items() if k != "rng"}, path)
    with pytest.raises(checkpoint.TrainError, match=message):
        checkpoint.load_latest(tmp_path, *_plain_state())


@pytest.mark.parametrize("args, message", [
    (["run_name=../../x"], "run_name '../../x' is not a plain name"),
    (["run_name=a/b"], "is not a plain name"),
    (["output.root={file}"], "output.root .* is a file, not a folder"),
    (["output.link={dir}"], "output.link .* is a real folder"),
    (["output.link={file}/ckpt"], "output.link's folder .* is a file"),
    (["max_steps=200"], "command-line override max_steps=200: unknown key max_steps"),
])
def test_names_and_output_paths_are_checked_before_any_model_loads(tmp_path, capsys, args, message):
    import re

    f, d = tmp_path / "a_file", tmp_path / "real_dir"
    f.write_text("x")
    d.mkdir()
    (d / "keep.txt").write_text("mine")
    data = _data(tmp_path)
    # model.base names nothing loadable: reaching the model would be another error
    rc = main(["--config", TINY, f"data.train={data}", f"data.eval={data}", "model.base=/nonexistent",
               f"output.root={tmp_path / 'runs'}",
               *[a.replace("{file}", str(f)).replace("{dir}", str(d)) for a in args]])
    err = capsys.readouterr().err
    assert rc == 2 and re.search(message, err), err
    assert (d / "keep.txt").read_text() == "mine" and not (tmp_path.parent / "x").exists()


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe{}\n", r"d.json: looks like UTF-16"),  # a UTF-16 byte-order mark
    (b"\xfe\xfd{}\n", r"d.json:1: not UTF-8"),
    (b'{"input": "a", "output": "b"}\n\x00\x01\x02\n', r"d.json:2: not valid JSON"),
    (b"", "dataset is empty"),
    (b'["input", "output"]\n', r"d.json:1: expected a JSON object"),
    (b'{"input": "a", "output": "' + b"x" * 1_000_000 + b'"}\n{"input": 1, "output": "b"}\n',
     r"d.json:2: field 'input' must be a string"),
])
def test_bad_pairs_files_name_file_and_line(tmp_path, content, message):
    f = tmp_path / "d.json"
    f.write_bytes(content)
    with pytest.raises(PairsFileError, match=message):
        load_pairs(f)


def test_a_resumed_run_with_a_wrong_config_leaves_no_rewritten_config(tmp_path):
    """The unit under the CLI: the refusal happens before config.yaml is written."""
    from core.config import load_config
    from train.config import TrainConfig
    from train.train import check_resume

    run = tmp_path / "runs/train/r"
    (run / "checkpoints/step-00000001").mkdir(parents=True)
    cfg = load_config(TrainConfig, TINY, ["run_name=r"])
    from core.runs import make_run_dir

    make_run_dir("train", "r", cfg, 0, root=tmp_path / "runs")
    before = (run / "config.yaml").read_text()
    other = load_config(TrainConfig, TINY, ["run_name=r", "lora.r=4"])
    with pytest.raises(ResumeError, match="lora.r=.*this run has lora.r=4"):
        check_resume(run, other)
    assert (run / "config.yaml").read_text() == before


def _pairs_file(path: Path, word: str, n: int = 8) -> Path:
    path.write_text("".join(json.dumps({"input": f"teh {word} {i}", "output": f"The {word} {i}."}) + "\n"
                            for i in range(n)))
    return path


def test_changed_data_does_not_resume_a_finished_run(tmp_path, tiny_base, capsys):
    """Issue 28: the default run name follows the config, not the data, so `make data` then
    `make train` lands in the old run folder: new pairs are refused, naming the file."""
    from train.fingerprint import RECORD

    tr, ev = _pairs_file(tmp_path / "train.json", "cat"), _pairs_file(tmp_path / "eval.json", "dog")
    args = ["--config", TINY, f"data.train={tr}", f"data.eval={ev}", f"model.base={tiny_base}",
            f"output.root={tmp_path / 'runs'}", "output.link=", "run_name=r1", "train.max_steps=2",
            "checkpoint.every=1", "eval.samples=1", "eval.max_new_tokens=2", "data.max_eval_samples=2"]
    assert main(args) == 0
    run = tmp_path / "runs/train/r1"
    record = json.loads((run / RECORD).read_text())
    assert record["data.train"]["sha256"] and record["data.eval"]["size"] == ev.stat().st_size
    summary = (run / "summary.json").read_bytes()
    old = tr.read_bytes()
    _pairs_file(tr, "bird")
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"was trained on data.train={tr}" in err and "has changed since" in err, err
    assert "new run_name" in err and "delete the folder" in err, err
    assert (run / "summary.json").read_bytes() == summary
    tr.write_bytes(old)  # the same pairs again (a new mtime: hashed, found equal, resumed)
    assert main(args) == 0
    _pairs_file(ev, "fox")
    assert main(args) == 2
    assert "was trained on data.eval=" in capsys.readouterr().err


def test_data_fingerprint_is_cached_on_size_and_mtime(tmp_path, monkeypatch, capsys):
    import os

    from core.errors import TrainError
    from train import fingerprint as fp

    f = _pairs_file(tmp_path / "d.json", "cat")
    paths = {"data.train": f, "data.eval": f}
    fp.write_record(tmp_path, fp.check_data(tmp_path, paths, resumed=False))
    rec = fp.read_record(tmp_path)
    hashed = []
    real = fp.sha256_file
    monkeypatch.setattr(fp, "sha256_file", lambda p: hashed.append(p) or real(p))
    assert fp.check_data(tmp_path, paths, resumed=True) == rec and hashed == []  # two stat calls
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same bytes, new mtime: hashed again
    again = fp.check_data(tmp_path, paths, resumed=True)
    assert len(hashed) == 2 and again["data.train"]["sha256"] == rec["data.train"]["sha256"]
    assert again["data.train"]["mtime_ns"] == st.st_mtime_ns + 10**9  # the next rerun is cheap again
    _pairs_file(f, "cat", n=9)
    with pytest.raises(fp.DataChangedError, match=r"data.train=.*has changed since") as exc:
        fp.check_data(tmp_path, paths, resumed=True)
    assert isinstance(exc.value, TrainError) and isinstance(exc.value, ResumeError)
    # a run from before the record: resumed with a warning, and recorded from now on
    (tmp_path / fp.RECORD).unlink()
    assert fp.check_data(tmp_path, paths, resumed=True)["data.train"]["size"] == f.stat().st_size
    assert "records no fingerprint of its data files" in capsys.readouterr().err


def test_a_checkpoint_resumes_only_with_as_many_processes(tmp_path):
    """DDP: each rank's share of the batches depends on the number of processes; every rank
    resumes its own RNG."""
    model, opt, sched = _plain_state()
    torch.manual_seed(1)
    r0 = checkpoint.rng_state()
    torch.manual_seed(2)
    r1 = checkpoint.rng_state()
    expected = torch.rand(3)
    checkpoint.save(tmp_path, model, opt, sched, checkpoint.Position(step=2, world=2), keep=2,
                    rank_rngs=[r0, r1])
    with pytest.raises(checkpoint.TrainError, match="written by a run of 2 process.*this one has 1"):
        checkpoint.load_latest(tmp_path, *_plain_state())
    pos = checkpoint.load_latest(tmp_path, *_plain_state(), rank=1, world=2)
    assert pos.step == 2 and pos.world == 2
    torch.testing.assert_close(torch.rand(3), expected)


# --- issue 28: non-finite settings and unreadable pairs files stop before the run folder ---------

def _special(tmp_path: Path, kind: str) -> Path:
    import os

    p = tmp_path / f"{kind}.json"
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "loop":
        p.symlink_to(tmp_path / "other.json")
        (tmp_path / "other.json").symlink_to(p)
    else:
        p.mkdir()
    return p


@pytest.mark.parametrize("args, message", [
    (["optim.lr=.inf"], r"command-line override optim.lr=.inf: optim.lr: expected a finite number, got inf"),
    (["optim.lr=nan"], r"optim.lr: expected a finite number, got 'nan'"),
    (["optim.lr=-.inf"], r"optim.lr: expected a finite number, got -inf"),
    (["optim.lr=1e999"], r"optim.lr: expected a finite number, got '1e999'"),
    (["lora.dropout=.nan"], r"lora.dropout: expected a finite number, got nan"),
    (["train.epochs=.inf"], r"train.epochs: expected a finite number"),
    ([f"seed={2**70}"], r"seed: 1180591620717411303424 is out of range"),
    (["output.log_every=0"], r"output.log_every must be >= 1"),
    (["optim.weight_decay=-1"], r"optim.weight_decay must be >= 0"),
    (["data.train={fifo}"], r"data.train .*fifo.json: a named pipe, not a regular file"),
    (["data.eval={loop}"], r"data.eval .*loop.json: Too many levels of symbolic links"),
    (["data.train={dir}"], r"data.train .*dir.json: a folder, not a file"),
])
def test_bad_settings_and_unreadable_pairs_fail_before_the_run_folder(tmp_path, capsys, args, message):
    data = _data(tmp_path)
    subs = {"{fifo}": "fifo", "{loop}": "loop", "{dir}": "dir"}
    for key, kind in subs.items():
        if any(key in a for a in args):
            args = [a.replace(key, str(_special(tmp_path, kind))) for a in args]
    rc = main(["--config", TINY, f"data.train={data}", f"data.eval={data}", "model.base=/nonexistent",
               f"output.root={tmp_path / 'runs'}", "output.link=", "run_name=r1", *args])
    err = capsys.readouterr().err
    assert rc == 2 and re.search(message, err), err
    assert not (tmp_path / "runs").exists()  # nothing written


@pytest.mark.parametrize("content, message", [
    (b'{"input": "a", "input": "b", "output": "c"}\n', r"d.json:1: not valid JSON \(key 'input' appears"),
    (b'{"input": NaN, "output": "c"}\n', r"d.json:1: not valid JSON \(NaN is not JSON\)"),
    (b"[" * 100_000 + b"]" * 100_000 + b"\n", r"d.json:1: not valid JSON \(nested too deeply\)"),
    (b'{"input": "a", "output": "b"}\n{"input": "a", "output": Infinity}\n', r"d.json:2: not valid JSON"),
])
def test_pairs_lines_that_json_would_take_silently_are_refused(tmp_path, content, message):
    f = tmp_path / "d.json"
    f.write_bytes(content)
    with pytest.raises(PairsFileError, match=message):
        load_pairs(f)


@pytest.mark.parametrize("kind, message", [("fifo", "a named pipe, not a regular file"),
                                           ("loop", "Too many levels of symbolic links"),
                                           ("dir", "a folder, not a file")])
def test_a_pairs_path_that_is_not_a_file_is_named_without_opening_it(tmp_path, kind, message):
    with pytest.raises(PairsFileError, match=f"dataset .*{kind}.json: {message}"):
        load_pairs(_special(tmp_path, kind))


# --- issue 28 follow-up: pairs and base model checked before the run folder ---------------------

@pytest.mark.parametrize("train, base, message", [
    (b"", None, r"dataset is empty: .*t.json"),
    (b"\n\n  \n", None, r"dataset is empty: .*t.json"),
    (bytes(range(256)), None, r"t.json:1: not valid JSON|t.json:1: not UTF-8"),
    (b'{"input": "a", "output": "b"}\n{"input": "a"}\n', None, r"t.json:2: field 'output' must be a string"),
    (b'{"input": "te\\u0000h", "output": "The."}\n', None, r"t.json:1: field 'input' holds a NUL character"),
    ('{"input": "teh", "output": "The."}\n'.encode("utf-16"), None, r"t.json: looks like UTF-16"),
    (None, "weights", r"b/model.safetensors: truncated"),
    (None, "tokenizer", r"b/tokenizer.json: not valid JSON"),
    (None, "empty", r"b: no config.json: not a model folder"),
    (None, "/nonexistent/base", r"model folder /nonexistent/base: not found"),
])
def test_bad_pairs_or_a_broken_base_leave_no_run_folder(tmp_path, capsys, tiny_base, train, base, message):
    """Before: runs/train/r1/ (config.yaml, env.json, data_files.json) was made, then the loop
    failed reading the pairs or loading the model."""
    import shutil

    good = _data(tmp_path)
    tr = tmp_path / "t.json"
    tr.write_bytes(good.read_bytes() if train is None else train)
    model = str(tiny_base)
    if base and not base.startswith("/"):
        shutil.copytree(tiny_base, tmp_path / "b")
        model = str(tmp_path / "b")
        if base == "weights":
            data = (tmp_path / "b/model.safetensors").read_bytes()
            (tmp_path / "b/model.safetensors").write_bytes(data[: len(data) // 2])
        elif base == "tokenizer":
            (tmp_path / "b/tokenizer.json").write_text('{"model": ')
        else:
            for f in (tmp_path / "b").iterdir():
                f.unlink()
    elif base:
        model = base
    rc = main(["--config", TINY, f"data.train={tr}", f"data.eval={good}", f"model.base={model}",
               f"output.root={tmp_path / 'runs'}", "output.link=", "run_name=r1", "train.max_steps=1"])
    err = capsys.readouterr().err
    assert rc == 2 and re.search(message, err), err
    assert not (tmp_path / "runs").exists()  # nothing written
