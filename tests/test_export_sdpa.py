"""The custom-SDPA recipes (export/custom_sdpa.py), integration tier on the tiny model: the fp32
file is token-exact with the eager model, logits match for uneven chunking, the custom ops
are in the program, and bench.bench_profile reads an ETDump of it into per-operator rows."""
from __future__ import annotations

import json

import pytest
import torch

from export.runtime import PteModel
from tests.fixtures.export import TEST_MAX_SEQ_LEN
from tests.test_export import MAX_NEW, eager_greedy

pytestmark = pytest.mark.integration
N_EXACT = 12


@pytest.fixture(scope="module")
def sdpa_pte(tiny_model_dir, tmp_path_factory):
    from export.export_to_pte import export_model

    path = tmp_path_factory.mktemp("sdpa") / "tiny-fp32-sdpa.pte"
    export_model(tiny_model_dir, "xnnpack-fp32-sdpa", path, max_seq_len=TEST_MAX_SEQ_LEN, progress=False)
    return path


@pytest.fixture(scope="module")
def eager(tiny_model_dir):
    from core.loading import load_model

    return load_model(str(tiny_model_dir), dtype=torch.float32).eval()


def test_custom_ops_are_in_the_program(sdpa_pte):
    from executorch.exir._serialize._program import deserialize_pte_binary

    program = deserialize_pte_binary(sdpa_pte.read_bytes()).program
    ops = {op.name for plan in program.execution_plan for op in plan.operators}
    assert {"llama::custom_sdpa", "llama::update_cache"} <= ops, ops
    meta = json.loads(sdpa_pte.with_suffix(".json").read_text())
    assert meta["runtime_ops"] == ["llama"] and meta["recipe"] == "xnnpack-fp32-sdpa"


def test_fp32_sdpa_is_token_exact_with_eager(sdpa_pte, eager, tiny_tokenizer, export_eval_pairs):
    from core.prompt import eos_ids, prompt_ids

    m = PteModel(sdpa_pte)
    for row in export_eval_pairs[:N_EXACT]:
        ids = prompt_ids(tiny_tokenizer, row["input"])
        got, _ = m.generate(ids, MAX_NEW)
        assert got == eager_greedy(eager, ids, eos_ids(tiny_tokenizer), MAX_NEW), row["input"]
        spec, _ = m.generate(ids, MAX_NEW, speculate="copy")
        assert spec == got, row["input"]


def test_fp32_sdpa_logits_match_eager_for_any_chunking(sdpa_pte, eager):
    ids = torch.randint(10, eager.config.vocab_size - 1, (1, 21), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = eager(ids).logits
    m = PteModel(sdpa_pte, prefix_cache=False)
    parts, pos = [], 0
    for t in (9, 1, 4, 1, 6):
        parts.append(m.forward(ids[:, pos:pos + t], pos))
        pos += t
    assert torch.allclose(torch.cat(parts, 1), ref, atol=1e-4)


def test_profile_table_has_operator_rows(sdpa_pte, tmp_path):
    from bench.bench_profile import profile, render

    p = profile(sdpa_pte, tmp_path, "teh cat sat", decode_steps=3, prefills=2)
    assert p["decode_steps"] == 3 and len(p["prefill"]["runs"]) == 2
    for phase in ("prefill", "decode"):
        rows = p[phase]["table"]
        ops = {r["operator"] for r in rows}
        assert {"llama::custom_sdpa.out", "llama::update_cache.out"} <= ops, ops
        assert any(r["delegated"] for r in rows) and any(not r["delegated"] for r in rows)
        assert sum(r["share"] for r in rows) >= 0.98  # the rows account for the whole step
    md = render({"machine": "test", "threads": 1, "text": "teh cat sat", "files": [p]})
    assert "custom_sdpa" in md and "| operator | delegated |" in md


N_RUNNER = 24


@pytest.fixture(scope="module")
def sdpa_requests(tiny_tokenizer, export_eval_pairs) -> list[dict]:
    from core.prompt import prompt_ids_and_span

    out = []
    for i, row in enumerate(export_eval_pairs[:N_RUNNER]):
        ids, span = prompt_ids_and_span(tiny_tokenizer, row["input"])
        out.append({"id": i, "prompt_ids": ids, "max_new_tokens": MAX_NEW, "source_span": list(span)})
    return out


def test_host_runner_runs_the_sdpa_file_like_the_python_runtime(host_runner, sdpa_pte, sdpa_requests,
                                                                tmp_path):
    """The host runner loads the LLM custom ops for this file: its tokens equal the Python
    runtime's, and copy speculation (drafts from the prefill on) equals plain greedy in both."""
    from tests.fixtures.runner import run_runner

    m = PteModel(sdpa_pte)
    python_plain = [m.generate(r["prompt_ids"], MAX_NEW)[0] for r in sdpa_requests]
    python_copy = [m.generate(r["prompt_ids"], MAX_NEW, speculate="copy",
                              source_span=tuple(r["source_span"]))[0] for r in sdpa_requests]
    assert python_copy == python_plain
    proc, plain, s = run_runner(host_runner, sdpa_pte, sdpa_requests, tmp_path / "plain", "--threads", "1")
    assert proc.returncode == 0 and s["errors"] == 0, proc.stderr
    assert [r["output_ids"] for r in plain] == python_plain
    proc, copy, cs = run_runner(host_runner, sdpa_pte, sdpa_requests, tmp_path / "copy", "--threads", "1",
                                "--speculate", "copy")
    assert proc.returncode == 0 and cs["errors"] == 0, proc.stderr
    assert [r["output_ids"] for r in copy] == python_plain
    assert cs["drafted_tokens"] > 0  # checked one token per call for this file (Model::row_exact)


def test_runner_names_the_custom_ops_it_cannot_load(host_runner, sdpa_pte, sdpa_requests, tmp_path,
                                                    monkeypatch):
    from tests.fixtures.runner import run_runner

    monkeypatch.setenv("TYPO_LLM_OPS_LIB", str(tmp_path / "no-such-lib.so"))
    proc, results, s = run_runner(host_runner, sdpa_pte, sdpa_requests[:1], tmp_path / "run")
    assert proc.returncode == 3
    assert "llama::custom_sdpa" in s["error"] and "no-such-lib.so" in s["error"], s["error"]
    assert results and "llama::custom_sdpa" in results[0]["error"]


def test_python_copy_speculation_is_stepwise_for_custom_sdpa_files(sdpa_pte, sdpa_requests):
    """The wheel's custom_sdpa is not row-independent (MKL): the Python runtime checks drafts one
    token per call for such files, so copy == plain with as many forwards."""
    m = PteModel(sdpa_pte)
    assert m.row_exact is False
    r = sdpa_requests[0]
    plain, ps = m.generate(r["prompt_ids"], MAX_NEW)
    copy, cs = m.generate(r["prompt_ids"], MAX_NEW, speculate="copy", source_span=tuple(r["source_span"]))
    assert copy == plain and cs["forwards"] == ps["forwards"]


def test_etdump_runner_writes_a_profile_the_inspector_reads(sdpa_pte, tmp_path):
    """ETDUMP=1 build_host.sh: the runner writes an .etdp file; bench_profile --runner reads it."""
    import os
    import subprocess

    from bench.bench_profile import profile
    from tests.fixtures.runner import BUILD_SCRIPT

    proc = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "ETDUMP": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    runner = BUILD_SCRIPT.parent / "build" / "host-etdump" / "typo_runner"
    p = profile(sdpa_pte, tmp_path, "teh cat sat", decode_steps=3, prefills=2, runner=runner)
    assert len(p["prefill"]["runs"]) == 2 and 1 <= p["decode_steps"] <= 3
    ops = {r["operator"] for r in p["decode"]["table"]}
    assert {"llama::custom_sdpa.out", "llama::update_cache.out"} <= ops, ops
    assert sum(r["share"] for r in p["decode"]["table"]) >= 0.98
