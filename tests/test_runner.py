"""typo_runner without a model: the build, the command line, fatal errors, the Android
Dockerfile's pin. (Token-level tests with real .pte files: test_runner_tokens.py.)"""
from __future__ import annotations

import re
import subprocess

import pytest

from tests.fixtures.runner import BINARY, REPO, run_runner

GOOD = {"id": "a", "prompt_ids": [1, 2, 3], "max_new_tokens": 4}


def test_dockerfile_executorch_tag_matches_pinned_wheel():
    pinned = re.search(r"^executorch==(\S+)$", (REPO / "requirements.txt").read_text(), re.M)
    assert pinned, "requirements.txt must pin executorch==X.Y.Z"
    docker = (REPO / "docker" / "android.Dockerfile").read_text()
    tag = re.search(r"^ARG EXECUTORCH_TAG=v(\S+)$", docker, re.M)
    assert tag, "docker/android.Dockerfile must declare ARG EXECUTORCH_TAG=v<version>"
    assert tag.group(1) == pinned.group(1)
    # The tag is what the clone uses, and the build enables the delegate and kernels .pte files need.
    assert "--branch ${EXECUTORCH_TAG}" in docker
    for flag in ("EXECUTORCH_BUILD_XNNPACK=ON", "EXECUTORCH_BUILD_KERNELS_QUANTIZED=ON",
                 "ANDROID_ABI=${ANDROID_ABI}"):
        assert flag in docker
    assert re.search(r"^ARG ANDROID_ABI=arm64-v8a$", docker, re.M)
    assert re.search(r"^ARG NDK_VERSION=r\d+[a-z]?$", docker, re.M), "the NDK must be pinned"


def test_build_leaves_binary_and_rebuild_is_a_no_op(host_runner):
    assert host_runner == BINARY and host_runner.stat().st_mode & 0o111
    before = host_runner.stat().st_mtime_ns
    proc = subprocess.run(["bash", str(REPO / "android_runner/build_host.sh")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert host_runner.stat().st_mtime_ns == before  # nothing changed -> nothing relinked


FILES = ["--model", "m.pte", "--requests", "r", "--results", "o", "--summary", "s"]


@pytest.mark.parametrize("args, message", [
    ([], "required"),
    (["--model", "m.pte"], "required"),
    (FILES + ["--threads", "many"], "--threads expects an integer"),
    (FILES + ["--reps", "0"], "--reps expects an integer in [1, 1000]"),
    (FILES + ["--speculate", "magic"], "--speculate must be none or copy"),
    (FILES + ["--draft-len", "4"], "--draft-len needs --speculate copy"),
    (FILES + ["--prefill-draft", "4"], "--prefill-draft needs --speculate copy"),
    (FILES + ["--speculate", "copy", "--prefill-draft", "-1"],
     "--prefill-draft expects an integer in [0, 4096]"),
    (FILES + ["--prefix-cache", "yes"], "--prefix-cache must be on or off"),
    (FILES + ["--bogus", "1"], "unknown option --bogus"),
    (FILES + ["--reps"], "missing value after --reps"),
])
def test_bad_command_line_exits_2_with_usage(host_runner, tmp_path, args, message):
    proc = subprocess.run([str(host_runner), *args], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr and "usage: typo_runner" in proc.stderr


def test_missing_model_is_fatal_but_reported(host_runner, tmp_path):
    proc, results, summary = run_runner(host_runner, tmp_path / "nope.pte", [GOOD, "{broken"], tmp_path)
    assert proc.returncode == 3
    assert "cannot open model file" in proc.stderr
    assert "nope.pte" in summary["error"] and summary["model_load_ms"] >= 0 and summary["peak_rss_kb"] > 0
    # every request gets an error result, the malformed line its own parse error
    assert [r["id"] for r in results] == ["a", None]
    assert "nope.pte" in results[0]["error"] and "invalid JSON" in results[1]["error"]


@pytest.mark.parametrize("content", [b"", b"not a flatbuffer at all" * 100, b"ET12" + bytes(4000)])
def test_corrupt_model_is_fatal_not_a_crash(host_runner, tmp_path, content):
    bad = tmp_path / "bad.pte"
    bad.write_bytes(content)
    proc, results, summary = run_runner(host_runner, bad, [GOOD], tmp_path)
    assert proc.returncode == 3, proc.stderr  # a clean fatal exit: no signal, no abort
    assert "cannot load" in summary["error"] and str(bad) in summary["error"]
    assert results[0]["id"] == "a" and results[0]["error"] == summary["error"]


def test_missing_requests_file_is_fatal(host_runner, tmp_path):
    proc = subprocess.run([str(host_runner), "--model", "x.pte", "--requests", str(tmp_path / "none.jsonl"),
                           "--results", str(tmp_path / "r"), "--summary", str(tmp_path / "s")],
                          capture_output=True, text=True)
    assert proc.returncode == 3 and (tmp_path / "s").exists()
