"""Bad inputs to the export stage (issue 16): output paths and names are checked before the
model is even looked for, not after minutes of lowering."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from export.export_to_pte import main
from tests.test_bad_inputs_core import _cut, _edit_json, make_tiny_adapter


@pytest.mark.parametrize("args, message", [
    (["out_dir={file}"], "out_dir .* is a file, not a folder"),
    (["out_dir={file}/models"], "out_dir .* is a file, so the folder cannot be created"),
    (["out_dir={dir}"], "output .*typing-corrector-int8.pte is a folder, not a file"),
    (["name=../escape"], "name must be a plain file name"),
    (["name=.hidden"], "name must be a plain file name"),
    (["max_steps=200"], "command-line override max_steps=200: unknown key"),
])
def test_outputs_are_checked_before_the_model(tmp_path, capsys, args, message):
    f = tmp_path / "a_file"
    f.write_text("x")
    d = tmp_path / "out"
    (d / "typing-corrector-int8.pte").mkdir(parents=True)  # a folder where the .pte goes
    argv = ["--model", str(tmp_path / "no_such_model"), "--recipe", "xnnpack-int8"]
    rc = main(argv + [a.replace("{file}", str(f)).replace("{dir}", str(d)) for a in args])
    err = capsys.readouterr().err
    assert rc == 2 and re.search(message, err), err  # not "no_such_model not found": paths first
    assert not (tmp_path / "escape-int8.pte").exists()


# --- issue 28: a broken model, adapter or .pte is named before any lowering ----------------------


@pytest.fixture(scope="module")
def tiny_adapter(tiny_base, tmp_path_factory) -> Path:
    return make_tiny_adapter(tiny_base, tmp_path_factory.mktemp("adapter") / "adapter")


@pytest.mark.parametrize("what, breaks, message", [
    ("model", lambda d: _cut(d / "tokenizer.json"), r"m/tokenizer.json: not valid JSON"),
    ("model", lambda d: (d / "config.json").write_text("[]"), r"m/config.json: expected an object"),
    ("model", lambda d: _cut(d / "model.safetensors"), r"m/model.safetensors: truncated"),
    ("model", lambda d: (d / "model.safetensors").write_bytes(b""), r"m/model.safetensors: 0 bytes"),
    ("adapter", lambda d: _edit_json(d / "adapter_config.json", r="sixteen"),
     r"m/adapter_config.json: r must be a positive integer, got 'sixteen'"),
    ("adapter", lambda d: _edit_json(d / "adapter_config.json", target_modules=5),
     r"m/adapter_config.json: target_modules must be .* got 5"),
    ("adapter", lambda d: _edit_json(d / "adapter_config.json", base_model_name_or_path=5),
     r"m/adapter_config.json: base_model_name_or_path must be a string, got 5"),
    ("adapter", lambda d: _cut(d / "adapter_config.json"), r"m/adapter_config.json: not valid JSON"),
    ("adapter", lambda d: (d / "adapter_config.json").write_text('["r", 4]'),
     r"m/adapter_config.json: expected an object at the top level of the JSON, got a list"),
    ("adapter", lambda d: _cut(d / "adapter_model.safetensors"), r"m/adapter_model.safetensors: truncated"),
])
def test_a_broken_model_or_adapter_fails_before_lowering(tmp_path, capsys, tiny_base, tiny_adapter,
                                                         what, breaks, message):
    import shutil

    model = tmp_path / "m"
    shutil.copytree(tiny_base if what == "model" else tiny_adapter, model)
    breaks(model)
    rc = main(["--model", str(model), "--recipe", "xnnpack-int8", f"out_dir={tmp_path / 'out'}", "jobs=1",
               "eval_data="])
    err = capsys.readouterr().err
    assert rc == 2 and re.search(r"(?m)^error: .*" + message, err), err  # after any progress bar
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.parametrize("kind, message", [
    ("fifo", r"model .*/m: a named pipe, not a regular file or folder"),
    ("loop", r"model .*/m: Too many levels of symbolic links"),
    ("file", r"/m: a file; --model takes a training run, model or LoRA adapter folder"),
])
def test_a_model_path_that_is_no_folder_is_named(tmp_path, capsys, kind, message):
    m = tmp_path / "m"
    if kind == "fifo":
        os.mkfifo(m)
    elif kind == "loop":
        m.symlink_to(tmp_path / "n")
        (tmp_path / "n").symlink_to(m)
    else:
        m.write_bytes(b"\x00junk")
    rc = main(["--recipe", "xnnpack-int8", "--model", str(m), f"out_dir={tmp_path / 'out'}"])
    err = capsys.readouterr().err
    assert rc == 2 and re.search(message, err), err
    assert not (tmp_path / "out").exists()


def test_overrides_anywhere_among_the_export_flags(tmp_path, capsys):
    rc = main(["jobs=-1", "--model", str(tmp_path / "none"), "name=x", "--recipe", "xnnpack-int8"])
    err = capsys.readouterr().err
    assert rc == 2 and "unrecognized arguments" not in err
    assert err.startswith("error: command-line override jobs=-1: jobs must be >= 0"), err


def _pte_dir(tmp_path: Path, tiny_base: Path, meta: dict | str | None, tokenizer: bytes | None = None,
             ) -> Path:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "m.pte").write_bytes(b"PTE" * 100)
    if meta is not None:
        (tmp_path / "m.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    tok = (tiny_base / "tokenizer.json").read_bytes()
    (tmp_path / "tokenizer.json").write_bytes(tok if tokenizer is None else tokenizer)
    return tmp_path / "m.pte"


GOOD_META = {"prompt": {"chat_template": "{{ messages }}", "instruction": "Fix."},
             "tokenizer": {"eos_token": "</s>", "pad_token": None, "bos_token": None}}


@pytest.mark.parametrize("meta, tokenizer, message", [
    ('{"prompt": {"chat', None, r"metadata .*m.json: not valid JSON \(.*truncated\?\)"),
    ("[1, 2]", None, r"metadata .*m.json: expected an object at the top level of the JSON, got a list"),
    ({"tokenizer": {}}, None, r"m.json: prompt.chat_template .* must be strings"),
    ({**GOOD_META, "prompt": {"chat_template": 5}}, None, r"m.json: prompt.chat_template .* must be strings"),
    ({**GOOD_META, "tokenizer": {"eos_token": 7}}, None, r"m.json: tokenizer must map eos_token"),
    (None, None, r"m.json is missing"),
    (GOOD_META, b'{"model": ', r"tokenizer .*tokenizer.json: not valid JSON"),
    (GOOD_META, b"", r"tokenizer .*tokenizer.json: empty file"),
])
def test_the_pte_tokenizer_and_metadata_are_checked(tmp_path, tiny_base, meta, tokenizer, message):
    from export.runtime import PteError, load_pte_tokenizer

    pte = _pte_dir(tmp_path, tiny_base, meta, tokenizer)
    with pytest.raises(PteError, match=message):
        load_pte_tokenizer(pte)
    assert load_pte_tokenizer(_pte_dir(tmp_path / "ok", tiny_base, GOOD_META)).chat_template  # the control


@pytest.mark.parametrize("kind, message", [
    ("fifo", r"\.pte .*m.pte: a named pipe, not a regular file"),
    ("junk", r"m.pte: not a loadable .pte \(truncated or not an ExecuTorch program\?\)"),
    ("empty", r"m.pte: not a loadable .pte"),
    ("missing", r"m.pte: no such .pte file"),
])
def test_a_pte_that_cannot_load_is_a_pte_error(tmp_path, kind, message):
    from export.runtime import PteError, PteModel

    pte = tmp_path / "m.pte"
    if kind == "fifo":
        os.mkfifo(pte)
    elif kind == "junk":
        pte.write_bytes(b"\x00garbage" * 300)
    elif kind == "empty":
        pte.write_bytes(b"")
    with pytest.raises(PteError, match=message):
        PteModel(pte)


def test_a_metadata_of_another_export_is_refused_by_the_runtime_check(tmp_path):
    import hashlib

    from core.files import check_recorded_file
    from export.runtime import PteError

    int8, int4 = b"8" * 4000, b"4" * 2000
    (tmp_path / "m-int8.pte").write_bytes(int8)
    meta = {"recipe": "xnnpack-int4", "sha256": hashlib.sha256(int4).hexdigest(), "size_bytes": len(int4)}
    with pytest.raises(PteError, match=r"m-int8.json does not describe .*m-int8.pte: it records size_bytes "
                                       r"2000 \(the file: 4000\); sha256 .*recipe 'xnnpack-int4'"):
        check_recorded_file(tmp_path / "m-int8.pte", tmp_path / "m-int8.json", meta, PteError)
    same = {"sha256": hashlib.sha256(int8).hexdigest(), "size_bytes": len(int8)}
    check_recorded_file(tmp_path / "m-int8.pte", tmp_path / "m-int8.json", same, PteError)  # passes
