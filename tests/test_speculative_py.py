"""Copy-speculative decoding in the Python `.pte` path , integration tier:
token-identical to greedy on every sample of the tiny eval set, fp32 and INT8."""
from __future__ import annotations

import pytest

from export.runtime import PteModel
from tests.fixtures.export import TEST_MAX_SEQ_LEN

pytestmark = pytest.mark.integration
MAX_NEW = 64


@pytest.mark.parametrize("tag", ["fp32", "int8"])
def test_copy_speculation_equals_greedy_on_every_eval_sample(tag, tiny_pte, tiny_tokenizer,
                                                             export_eval_pairs, tiny_is_trained):
    """Reference: plain greedy with a cold cache every time. Checked: copy speculation with
    the prefix cache, drafts from the text's span and a prefill draft, and plain greedy with
    the prefix cache."""
    from core.prompt import prompt_ids_and_span

    cold, m = PteModel(tiny_pte[tag], prefix_cache=False), PteModel(tiny_pte[tag])
    plain_fw = spec_fw = drafted = accepted = reused = 0
    for row in export_eval_pairs:
        ids, span = prompt_ids_and_span(tiny_tokenizer, row["input"])
        ref, s0 = cold.generate(ids, MAX_NEW)
        limit = m.reusable(ids)
        got, s = m.generate(ids, MAX_NEW, speculate="copy", draft_len=4, source_span=span, reuse_limit=limit)
        assert got == ref, row["input"]
        assert s["stop"] == s0["stop"] and 0 <= s["accepted_tokens"] <= s["drafted_tokens"]
        assert m.generate(ids, MAX_NEW, reuse_limit=limit)[0] == ref, row["input"]
        reused += s["reused_tokens"]
        plain_fw += s0["forwards"]
        spec_fw += s["forwards"]
        drafted += s["drafted_tokens"]
        accepted += s["accepted_tokens"]
    print(f"\n{tag}: forwards plain {plain_fw} / copy {spec_fw}, acceptance {accepted / max(drafted, 1):.2f}")
    assert spec_fw <= plain_fw
    assert reused >= span[0] * (len(export_eval_pairs) - 1)  # the opening is reused after the first
    if tiny_is_trained:  # a model that copies its input verifies several tokens per forward
        assert spec_fw < plain_fw


@pytest.mark.parametrize("k", [1, 2, 8])
def test_other_draft_lengths_equal_greedy(k, tiny_pte, tiny_tokenizer, export_eval_pairs):
    from core.prompt import prompt_ids

    m = PteModel(tiny_pte["int8"])
    for row in export_eval_pairs[:10]:
        ids = prompt_ids(tiny_tokenizer, row["input"])
        assert m.generate(ids, MAX_NEW, speculate="copy", draft_len=k)[0] == m.generate(ids, MAX_NEW)[0]


def test_speculation_at_the_cache_limit(tiny_pte, tiny_tokenizer, export_eval_pairs):
    """A prompt that nearly fills the cache: both modes stop at max_seq_len with the same
    tokens (the draft shrinks so start+K+1 never passes max_seq_len)."""
    from core.prompt import prompt_ids

    m = PteModel(tiny_pte["fp32"])
    text = " ".join(r["output"] for r in export_eval_pairs[:40])
    ids = prompt_ids(tiny_tokenizer, text)[-(TEST_MAX_SEQ_LEN - 5):]  # a long copy source, 5 slots left
    ref, s0 = m.generate(ids, 100)
    got, s = m.generate(ids, 100, speculate="copy", draft_len=8)
    assert got == ref and s["stop"] == s0["stop"]
    assert len(ids) + len(got) <= TEST_MAX_SEQ_LEN + 1
    if s0["stop"] != "eos":
        assert s0["stop"] == "max_seq_len"


def test_max_new_tokens_is_respected_with_drafts(tiny_pte, tiny_tokenizer, export_eval_pairs):
    from core.prompt import prompt_ids

    m = PteModel(tiny_pte["int8"])
    ids = prompt_ids(tiny_tokenizer, export_eval_pairs[0]["input"])
    for n in (1, 2, 3, 5):
        got, s = m.generate(ids, n, speculate="copy", draft_len=4)
        assert got == m.generate(ids, n)[0] and len(got) <= n


def test_bench_script_speculate_mode(tiny_pte, tiny_pairs):
    """The host benchmark (bench/bench_export.py speculate) runs end to end on a few
    sentences and reports both modes from the same run (no timing asserted)."""
    import argparse
    import importlib.util

    from tests.fixtures.base import REPO

    spec = importlib.util.spec_from_file_location("bench_export", REPO / "bench/bench_export.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = argparse.Namespace(pte=str(tiny_pte["int8"]), eval=str(tiny_pairs / "eval_data.json"), n=4,
                              max_new=32, draft_len=4, threads=1)
    res = bench.bench_speculate(args)
    allr = res["all"]
    assert res["sentences"] == 4 and allr["sentences"] == 4 and allr["latency_ratio_plain_over_copy"] > 0
    assert allr["copy"]["new_tokens"] == allr["plain"]["new_tokens"]
    assert allr["copy"]["forwards_per_token"] <= allr["plain"]["forwards_per_token"]


def test_copy_speculation_equals_greedy_with_the_int4_custom_sdpa(tiny_model_dir, tiny_tokenizer,
                                                                  export_eval_pairs, tmp_path_factory):
    """The INT4 custom-SDPA file (issue 25): llama::custom_sdpa is not row-independent, so drafts
    are checked one token per call (PteModel.row_exact False) and copy == greedy on every sample."""
    from core.prompt import prompt_ids_and_span
    from export.export_to_pte import export_model

    pte = tmp_path_factory.mktemp("int4-sdpa") / "tiny-int4-sdpa.pte"
    export_model(tiny_model_dir, "xnnpack-int4-sdpa", pte, max_seq_len=TEST_MAX_SEQ_LEN, progress=False)
    cold, m = PteModel(pte, prefix_cache=False), PteModel(pte)
    assert m.row_exact is False
    for row in export_eval_pairs:
        ids, span = prompt_ids_and_span(tiny_tokenizer, row["input"])
        ref, _ = cold.generate(ids, MAX_NEW)
        got, s = m.generate(ids, MAX_NEW, speculate="copy", source_span=span, reuse_limit=m.reusable(ids))
        assert got == ref, row["input"]
        assert 0 <= s["accepted_tokens"] <= s["drafted_tokens"]
