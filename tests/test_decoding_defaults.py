"""The copy-speculation defaults have one home, core/decoding_defaults.json: core.decoding reads
it, the runner is compiled with it, the export records it and the device bench passes it on.
Integration tier: the Python runtime and the C++ runner, both on those defaults, make the same
drafts, hence the same forward calls, for every eval request."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from core import decoding
from core.config import ConfigError
from device_bench.bench import copy_settings, fingerprint, runner_argv
from device_bench.config import BenchConfig
from device_bench.inputs import BenchInputError, ModelInfo
from tests.fixtures.base import REPO
from tests.fixtures.runner import run_runner

MAX_NEW = 64
RUNNER_FLAGS = {"draft_len": "--draft-len", "prefill_draft": "--prefill-draft", "max_ngram": "--max-ngram"}


# ------------------------------------------------------------------ fast tier: the one file


def test_core_decoding_equals_the_json_file():
    data = json.loads((REPO / "core" / "decoding_defaults.json").read_text(encoding="utf-8"))
    assert data == decoding.defaults() == {"draft_len": decoding.DRAFT_LEN,
                                           "prefill_draft": decoding.PREFILL_DRAFT,
                                           "max_ngram": decoding.MAX_NGRAM}
    copy = decoding.defaults()
    copy["draft_len"] = -1
    assert decoding.defaults()["draft_len"] == decoding.DRAFT_LEN  # callers get a copy


@pytest.mark.parametrize("content, field", [
    ({"draft_len": 0, "prefill_draft": 8, "max_ngram": 4}, "draft_len"),
    ({"draft_len": 6, "prefill_draft": "8", "max_ngram": 4}, "prefill_draft"),
    ({"draft_len": 6, "prefill_draft": 8}, "max_ngram"),
])
def test_a_broken_defaults_file_names_the_field(tmp_path, content, field):
    path = tmp_path / "d.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=field):
        decoding._load(path)


def test_runner_cmake_and_dockerfile_read_the_same_file():
    """The runner's CMakeLists reads ../core/decoding_defaults.json into TYPO_DEFAULT_* and the
    sources use nothing else; the Android image puts the file at that relative path."""
    cmake = (REPO / "android_runner" / "CMakeLists.txt").read_text()
    assert '"${CMAKE_CURRENT_SOURCE_DIR}/../core/decoding_defaults.json"' in cmake
    assert "string(JSON" in cmake and "TYPO_DEFAULT_${_macro}=${_value}" in cmake
    assert re.search(r"foreach\(_key draft_len prefill_draft max_ngram\)", cmake)
    docker = (REPO / "docker" / "android.Dockerfile").read_text()
    assert re.search(r"^COPY android_runner/src /src/android_runner/src$", docker, re.M)
    assert re.search(r"^COPY core/decoding_defaults.json /src/core/decoding_defaults.json$", docker, re.M)
    src = REPO / "android_runner" / "src"
    assert "kMaxNgram" not in (src / "decode.cpp").read_text()  # the literal this file replaced
    assert ": 6;" not in (src / "options.cpp").read_text()


# ------------------------------------------------------------------ fast tier: the device bench


def _model(tmp_path: Path, meta: dict) -> ModelInfo:
    return ModelInfo(tmp_path / "m.pte", "m", 1, "0" * 64, meta)


def test_bench_takes_copy_settings_from_the_config_then_the_metadata_then_core(tmp_path):
    recorded = _model(tmp_path, {"decoding": {"draft_len": 3, "prefill_draft": 0, "max_ngram": 2}})
    older = _model(tmp_path, {"recipe": "xnnpack-int8"})  # exported before "decoding" was recorded
    partial = _model(tmp_path, {"decoding": {"max_ngram": 1}})
    cfg = BenchConfig()
    assert (cfg.draft_len, cfg.prefill_draft, cfg.max_ngram) == (None, None, None)
    assert copy_settings(cfg, recorded) == {"draft_len": 3, "prefill_draft": 0, "max_ngram": 2}
    assert copy_settings(cfg, older) == decoding.defaults()
    assert copy_settings(cfg, partial) == {**decoding.defaults(), "max_ngram": 1}
    overridden = copy_settings(BenchConfig(draft_len=9), recorded)
    assert overridden == {"draft_len": 9, "prefill_draft": 0, "max_ngram": 2}


def test_bench_runner_argv_and_fingerprint_carry_the_resolved_settings(tmp_path):
    model = _model(tmp_path, {"decoding": {"draft_len": 3, "prefill_draft": 5, "max_ngram": 2}})
    cfg = BenchConfig(max_ngram=4)
    argv = runner_argv("r", "m.pte", "q", "o", "s", cfg, "copy", copy_settings(cfg, model))
    flags = {f: argv[argv.index(f) + 1] for f in RUNNER_FLAGS.values()}
    assert flags == {"--draft-len": "3", "--prefill-draft": "5", "--max-ngram": "4"}
    plain = runner_argv("r", "m.pte", "q", "o", "s", cfg, "plain")
    assert not set(RUNNER_FLAGS.values()) & set(plain)
    fp = fingerprint(cfg, model, "copy", 10, "sha")
    assert (fp["draft_len"], fp["prefill_draft"], fp["max_ngram"]) == (3, 5, 4)
    assert all(fingerprint(cfg, model, "plain", 10, "sha")[k] is None for k in RUNNER_FLAGS)
    with pytest.raises(ValueError, match="copy settings"):
        runner_argv("r", "m.pte", "q", "o", "s", cfg, "copy")


def test_bench_rejects_bad_copy_settings_naming_the_field(tmp_path):
    with pytest.raises(ConfigError, match="max_ngram"):
        BenchConfig(max_ngram=0)
    with pytest.raises(ConfigError, match="prefill_draft"):
        BenchConfig(prefill_draft=-1)
    with pytest.raises(BenchInputError, match="decoding.draft_len"):
        _ = _model(tmp_path, {"decoding": {"draft_len": "6"}}).decoding


# ------------------------------------------------------------------ integration: runner and .pte


@pytest.mark.integration
def test_runner_help_prints_the_compiled_in_defaults(host_runner):
    proc = subprocess.run([str(host_runner), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "usage: typo_runner" in proc.stdout
    line = next(out for out in proc.stdout.splitlines() if out.startswith("copy-speculation defaults"))
    shown = {key: int(re.search(rf"{flag} (\d+)", line).group(1)) for key, flag in RUNNER_FLAGS.items()}
    assert shown == decoding.defaults()


@pytest.mark.integration
@pytest.mark.parametrize("args, message", [
    (["--max-ngram", "2"], "--max-ngram needs --speculate copy"),
    (["--speculate", "copy", "--max-ngram", "0"], "--max-ngram expects an integer in [1, 64]"),
    (["--speculate", "copy", "--max-ngram", "x"], "--max-ngram expects an integer"),
])
def test_runner_validates_max_ngram(host_runner, tmp_path, args, message):
    files = ["--model", "m.pte", "--requests", "r", "--results", "o", "--summary", "s"]
    proc = subprocess.run([str(host_runner), *files, *args], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr


@pytest.mark.integration
def test_export_records_the_defaults_in_the_metadata(tiny_pte):
    for pte in tiny_pte.values():
        meta = json.loads(pte.with_suffix(".json").read_text(encoding="utf-8"))
        assert meta["decoding"] == decoding.defaults()


@pytest.fixture(scope="module")
def request_sets(tiny_pairs, tiny_tokenizer) -> dict[str, list[dict]]:
    """The tiny eval set as runner requests with their source spans: every sentence, and
    paragraphs of three sentences. The paragraphs' longer sources repeat tokens, so after an
    edit re-anchoring has occurrences to choose between: where two drafters that differ in
    that choice part ways (an earlier runner did on about one paragraph in seven)."""
    from core.prompt import prompt_ids_and_span
    from tests.fixtures.export import TEST_MAX_SEQ_LEN

    rows = [json.loads(line) for line in (tiny_pairs / "eval_data.json").read_text().splitlines()
            if line.strip()]
    texts = {"sentences": [r["input"] for r in rows],
             "paragraphs": [" ".join(r["input"] for r in rows[i:i + 3]) for i in range(0, len(rows) - 2, 3)]}
    sets = {}
    for name, items in texts.items():
        sets[name] = []
        for i, text in enumerate(items):
            ids, span = prompt_ids_and_span(tiny_tokenizer, text)
            budget = min(MAX_NEW if name == "sentences" else 160, TEST_MAX_SEQ_LEN - len(ids))
            if span and budget > 0:
                sets[name].append({"id": i, "prompt_ids": ids, "max_new_tokens": budget,
                                   "source_span": list(span)})
    return sets


def _python_copy(pte: Path, requests: list[dict], **options) -> list[dict]:
    """PteModel copy mode, request after request like the runner (prefix cache on)."""
    from export.runtime import PteModel

    m = PteModel(pte)
    out = []
    for r in requests:
        ids, stats = m.generate(r["prompt_ids"], r["max_new_tokens"], speculate="copy",
                                source_span=tuple(r["source_span"]), **options)
        out.append({"output_ids": ids, **stats})
    return out


def _assert_same_decoding(py: list[dict], cpp: list[dict]) -> None:
    assert len(py) == len(cpp)
    for p, c in zip(py, cpp):
        assert "error" not in c, c
        assert c["output_ids"] == p["output_ids"], c["id"]
        same = {k: (p[k], c[k]) for k in ("forwards", "drafted_tokens", "accepted_tokens") if p[k] != c[k]}
        assert not same, (c["id"], same)


@pytest.mark.integration
@pytest.mark.parametrize("tag, texts", [("fp32", "sentences"), ("int8", "sentences"), ("int8", "paragraphs")])
def test_python_and_runner_make_the_same_forward_calls_with_the_defaults(host_runner, tiny_pte, request_sets,
                                                                          tmp_path, tag, texts):
    requests = request_sets[texts]
    assert len(requests) > 50
    proc, cpp, summary = run_runner(host_runner, tiny_pte[tag], requests, tmp_path, "--threads", "1",
                                    "--speculate", "copy")
    assert proc.returncode == 0 and summary["errors"] == 0, proc.stderr
    assert {k: summary[k] for k in RUNNER_FLAGS} == decoding.defaults()
    py = _python_copy(tiny_pte[tag], requests)
    assert all(s["draft_len"] == decoding.DRAFT_LEN and s["max_ngram"] == decoding.MAX_NGRAM for s in py)
    _assert_same_decoding(py, cpp)
    assert summary["forwards"] == sum(p["forwards"] for p in py)


@pytest.mark.integration
@pytest.mark.parametrize("max_ngram", [1, 2])
def test_python_and_runner_agree_on_other_ngram_lengths(host_runner, tiny_pte, request_sets, tmp_path,
                                                        max_ngram):
    """--max-ngram reaches the runner's drafter: with other lengths the two still agree."""
    requests = request_sets["paragraphs"]
    proc, cpp, summary = run_runner(host_runner, tiny_pte["int8"], requests, tmp_path, "--threads", "1",
                                    "--speculate", "copy", "--max-ngram", str(max_ngram))
    assert proc.returncode == 0 and summary["max_ngram"] == max_ngram, proc.stderr
    _assert_same_decoding(_python_copy(tiny_pte["int8"], requests, max_ngram=max_ngram), cpp)
