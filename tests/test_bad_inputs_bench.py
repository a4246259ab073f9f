"""Bad inputs to the device bench (issue 16): report names stay inside reports/, a bad adb
port names its source, a failed runner shows its own error line, a token budget cut by the
cache marks the unit truncated, and an adb server the bench started is stopped."""
from __future__ import annotations

import json
import os
import re
import socket
import time
from pathlib import Path

import pytest

from core.config import ConfigError
from core.errors import BenchError
from device_bench import adb, bench, report
from device_bench.config import BenchConfig
from device_bench.run import run_bench
from tests.fixtures.base import REPO

HOST_RUNNER = REPO / "android_runner/build/host/typo_runner"


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", ".hidden", "x\n"])
def test_report_names_stay_inside_reports(tmp_path, name):
    cfg = BenchConfig(reports_dir=str(tmp_path / "reports"))
    with pytest.raises(ConfigError, match="--run .* is not a plain name"):
        run_bench(cfg, [str(tmp_path / "m.pte")], str(tmp_path / "e.json"), "host", name)
    assert not (tmp_path / "reports").exists() and not (tmp_path.parent / "x").exists()


def test_reports_dir_that_is_a_file_fails_first(tmp_path):
    f = tmp_path / "reports"
    f.write_text("x")
    with pytest.raises(ConfigError, match="reports_dir .* is a file"):
        run_bench(BenchConfig(reports_dir=str(f)), [str(tmp_path / "m.pte")], str(tmp_path / "e.json"),
                  "host", "r1")


@pytest.mark.parametrize("env, port, message", [
    ("notaport", None, "environment variable ANDROID_ADB_SERVER_PORT='notaport' is not a port number"),
    ("99999", None, "ANDROID_ADB_SERVER_PORT='99999' is out of range"),
    ("-1", None, "out of range"),
    (None, 0, "--adb-port='0' is out of range"),
])
def test_a_bad_adb_port_is_named(monkeypatch, env, port, message):
    if env is None:
        monkeypatch.delenv("ANDROID_ADB_SERVER_PORT", raising=False)
    else:
        monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", env)
    with pytest.raises(BenchError, match=message):
        adb.adb_client(port=port)


def test_a_good_adb_port_is_used(monkeypatch):
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", " 5999 ")
    assert adb.adb_client().port == 5999
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "")
    assert adb.adb_client().port == 5037


@pytest.mark.skipif(not HOST_RUNNER.is_file(), reason="host runner not built (make runner)")
def test_a_corrupt_pte_shows_the_runners_own_error(tmp_path):
    model = tmp_path / "bad.pte"
    model.write_bytes(b"\x00garbage" * 300)
    req = tmp_path / "req.jsonl"
    req.write_text(json.dumps({"id": "a", "prompt_ids": [1, 2, 3], "max_new_tokens": 4}) + "\n")
    target = adb.HostTarget(tmp_path / "work")
    target.prepare()
    remote = {"runner": str(HOST_RUNNER), "model": str(model), "requests": str(req), "tag": "t"}
    rec = bench.run_rep(target, remote, tmp_path, BenchConfig(warmup=0), "plain", 0)
    assert rec["returncode"] == 3
    assert "cannot load" in rec["error"] and "error 35" in rec["error"], rec["error"]
    assert "cpuinfo" not in rec["error"]


def test_runner_error_prefers_the_summary_then_its_own_lines():
    noise = "I 00:00 executorch:cpuinfo_utils.cpp:71] Reading file /sys/x\n" * 20
    why = "cannot load m.pte (error 35)"
    assert bench.runner_error({"error": why}, noise) == why
    stderr = "E program.cpp] bad id\ntypo_runner: fatal: cannot open requests\n" + noise
    assert bench.runner_error({}, stderr) == "typo_runner: fatal: cannot open requests"
    assert bench.runner_error({}, "segfault somewhere") == "segfault somewhere"


def test_a_budget_cut_by_the_cache_marks_the_unit_truncated():
    reqs = [{"id": "a", "prompt_ids": [0] * 200, "max_new_tokens": 56},   # cut: 256 - 200
            {"id": "b", "prompt_ids": [0] * 20, "max_new_tokens": 30},    # its own budget
            {"id": "c", "prompt_ids": [0] * 230, "max_new_tokens": 26}]   # cut, but stopped early
    capped = bench.capped_requests(reqs, max_new_tokens=96, max_seq_len=256)
    assert capped == {"a": 56, "c": 26}
    results = [{"id": "a", "new_tokens": 56}, {"id": "b", "new_tokens": 30}, {"id": "c", "new_tokens": 3},
               {"id": "w", "new_tokens": 99, "warmup": True}]
    assert bench.truncation(results, capped) == {"capped_requests": 2, "hit_cap": 1}
    unit = {"device": "host", "model": "m", "mode": "plain", "status": "truncated", "error": None,
            "reps": [], "metrics": {}, "truncation": {"capped_requests": 2, "hit_cap": 1}}
    rep = report.build_report("r", {"reps": 1, "warmup": 0}, [], [], {"path": "e", "n": 0}, [unit], {}, {})
    assert rep["status"] == "truncated" and rep["errors"] == []
    assert "1 of 2 capped requests" in rep["warnings"][0]
    assert "## Warnings" in report.markdown(rep | {"units": [], "mode_comparison": []})
    assert bench.capped_requests(reqs, 96, None) == {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.skipif(adb.find_adb() is None, reason="no adb binary")
def test_an_adb_server_the_bench_started_is_stopped(tmp_path):
    port = _free_port()
    client = adb.adb_client(port=port)
    try:
        adb.device_listing(client)  # no server there: it starts one
        assert _listening(port) and port in adb.STARTED_SERVERS
    finally:
        assert adb.stop_started_servers() == [port]
    for _ in range(50):
        if not _listening(port):
            break
        time.sleep(0.1)
    assert not _listening(port) and not adb.STARTED_SERVERS


def test_run_bench_stops_its_server_even_when_it_fails(tmp_path, monkeypatch):
    """The stop sits in run_bench's finally: a failing run (no such model) still calls it."""
    calls = []
    monkeypatch.setattr(adb, "stop_started_servers", lambda: calls.append(1) or [])
    with pytest.raises(BenchError):
        run_bench(BenchConfig(reports_dir=str(tmp_path / "r")), [str(tmp_path / "none.pte")],
                  str(tmp_path / "e.json"), "host", "r1")
    assert calls == [1]
    assert Path(tmp_path / "r").exists() is False


# --- issue 28: the .pte beside its metadata and tokenizer, checked before any unit runs ----------

INT8, INT4 = b"PTE8" * 1000, b"PTE4" * 500


def _meta_of(data: bytes, **extra) -> dict:
    import hashlib

    return {"format": "typo-corrector-pte/1", "recipe": "xnnpack-int8",
            "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data), "max_seq_len": 256, **extra}


def _model(tmp_path: Path, tiny_base: Path, meta, pte: bytes = INT8, tokenizer: bytes | None = None) -> Path:
    d = tmp_path / "models"
    d.mkdir(parents=True, exist_ok=True)
    (d / "m-int8.pte").write_bytes(pte)
    if meta is not None:
        (d / "m-int8.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    (d / "tokenizer.json").write_bytes((tiny_base / "tokenizer.json").read_bytes() if tokenizer is None
                                       else tokenizer)
    return d / "m-int8.pte"


M8 = _meta_of(INT8)


@pytest.mark.parametrize("meta, pte, tokenizer, message", [
    (_meta_of(INT4, recipe="xnnpack-int4"), INT8, None,
     r"m-int8.json does not describe .*m-int8.pte: it records size_bytes 2000 \(the file: 4000\); sha256 "
     r"[0-9a-f]{16}\.\.\. \(the file: [0-9a-f]{16}\.\.\.\)\. It is the metadata of another export \(recipe "
     r"'xnnpack-int4'\)"),
    ({**M8, "sha256": "0" * 64}, INT8, None, r"m-int8.json does not describe .*m-int8.pte: it records "
                                             r"sha256 0{16}"),
    ({**M8, "size_bytes": 1}, INT8, None, r"it records size_bytes 1 \(the file: 4000\)"),
    ({**M8, "sha256": 5}, INT8, None, r"m-int8.json: sha256 must be a string, got 5"),
    ({**M8, "size_bytes": "4000"}, INT8, None, r"m-int8.json: size_bytes must be an integer, got '4000'"),
    ('{"recipe": "xnn', INT8, None, r"metadata .*m-int8.json: not valid JSON \(.*truncated\?\)"),
    ("[1, 2]", INT8, None, r"metadata .*m-int8.json: expected an object at the top level of the JSON"),
    ("", INT8, None, r"metadata .*m-int8.json: empty file"),
    ('{"recipe": "a", "recipe": "b"}', INT8, None, r"m-int8.json: not valid JSON \(key 'recipe' appears"),
    ({**M8, "max_seq_len": "big"}, INT8, None, r"m-int8.json: max_seq_len must be a positive integer"),
    ({**M8, "max_seq_len": True}, INT8, None, r"max_seq_len must be a positive integer, got True"),
    ({**M8, "prompt": {"chat_template": 5}}, INT8, None, r"chat_template must be a string, got 5"),
    ({**M8, "eos_ids": ["x"]}, INT8, None, r"eos_ids must be a list of token ids"),
    ({**M8, "decoding": {"draft_len": "x"}}, INT8, None, r"draft_len"),
    (M8, INT8, b'{"model": {"type": "BPE", ', r"tokenizer .*tokenizer.json: not valid JSON"),
    (M8, INT8, b'{"a": 1}', r"tokenizer .*tokenizer.json: not a tokenizer.json the tokenizers library"),
    (None, b"", None, r"model .*m-int8.pte: empty file \(0 bytes\)"),
])
def test_a_pte_whose_metadata_or_tokenizer_does_not_fit_is_refused(tmp_path, tiny_base, meta, pte, tokenizer,
                                                                   message):
    from device_bench.inputs import BenchInputError, load_model_info

    path = _model(tmp_path, tiny_base, meta, pte, tokenizer)
    with pytest.raises(BenchInputError, match=message):
        load_model_info(path)


def test_a_pte_with_its_own_metadata_loads(tmp_path, tiny_base):
    from device_bench.inputs import load_model_info

    info = load_model_info(_model(tmp_path, tiny_base, _meta_of(INT8)))
    assert info.quantization == "int8" and info.size_bytes == len(INT8) and info.max_seq_len == 256
    info = load_model_info(_model(tmp_path / "old", tiny_base, {"recipe": "xnnpack-int8"}))  # no sha recorded
    assert info.quantization == "int8"


@pytest.mark.parametrize("kind, message", [("fifo", r"model .*m.pte: a named pipe, not a regular file"),
                                           ("loop", r"model .*m.pte: Too many levels of symbolic links"),
                                           ("dir", r"model .*m.pte: a folder, not a file")])
def test_a_model_path_that_is_not_a_file_is_named(tmp_path, kind, message):
    from device_bench.inputs import BenchInputError, load_model_info

    p = tmp_path / "m.pte"
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "loop":
        p.symlink_to(tmp_path / "n.pte")
        (tmp_path / "n.pte").symlink_to(p)
    else:
        p.mkdir()
    with pytest.raises(BenchInputError, match=message):
        load_model_info(p)


def test_eval_and_real_sets_that_are_pipes_are_named(tmp_path):
    from device_bench.inputs import BenchInputError, load_eval, load_real

    os.mkfifo(tmp_path / "e.json")
    with pytest.raises(BenchInputError, match=r"eval file .*e.json: a named pipe, not a regular file"):
        load_eval(tmp_path / "e.json")
    with pytest.raises(BenchInputError, match=r"real_eval .*e.json: a named pipe, not a regular file"):
        load_real(tmp_path / "e.json", 10, "eval")


@pytest.mark.parametrize("extra, message", [
    ([], r"m-int8.json does not describe .*m-int8.pte"),
    (["baselines=[os:system]"], r"override baselines=\[os:system\]: baselines: backend 'os:system' is not "
                                r"allowed"),
    (["timeout_s=.inf"], r"override timeout_s=.inf: timeout_s: expected a finite number, got inf"),
    (["cooldown_s=nan"], r"cooldown_s: expected a finite number, got 'nan'"),
])
def test_the_bench_cli_refuses_before_writing_a_report(tmp_path, capsys, tiny_base, extra, message):
    from device_bench.__main__ import main

    model = _model(tmp_path, tiny_base, _meta_of(INT4, recipe="xnnpack-int4"))
    pairs = tmp_path / "e.json"
    pairs.write_text(json.dumps({"input": "teh cat", "output": "the cat"}) + "\n")
    rc = main(["run", "--models", str(model), *extra, "--eval", str(pairs), "--devices", "host",
               "--run", "r1", f"reports_dir={tmp_path / 'reports'}"])
    err = capsys.readouterr().err
    assert rc == 2 and re.search(message, err), err
    assert not (tmp_path / "reports").exists()  # nothing written


@pytest.mark.parametrize("content", [b"[1, 2]", b'"unit"', b"\xff\xfe", b'{"model": "m"}',
                                     b'{"status": "ok', b""])
def test_an_unreadable_unit_record_is_redone_not_a_crash(tmp_path, content):
    from types import SimpleNamespace

    (tmp_path / "units").mkdir()
    (tmp_path / "units/host__m__plain.json").write_bytes(content)
    prep = SimpleNamespace(models=[SimpleNamespace(name="m")], unit_fingerprint=lambda m, mode: "f")
    assert bench.load_done(tmp_path, prep) == {}
