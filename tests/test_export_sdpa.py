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
