"""Bad inputs to the device bench (issue 16): report names stay inside reports/, a bad adb
port names its source, a failed runner shows its own error line, a token budget cut by the
cache marks the unit truncated, and an adb server the bench started is stopped."""
from __future__ import annotations

import json
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
