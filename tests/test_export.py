"""Export stage, integration tier (tiny preset): the three `.pte` variants of the
session fixture `tiny_pte` against the eager model, their metadata, their delegation."""
from __future__ import annotations

import hashlib
import json

import pytest
import torch

from export.runtime import PteError, PteModel
from tests.fixtures.export import TEST_MAX_SEQ_LEN

pytestmark = pytest.mark.integration
N_EXACT = 24  # eval samples compared token for token with the eager model
MAX_NEW = 48


def eager_greedy(model, prompt: list[int], eos: list[int], max_new: int) -> list[int]:
    """Greedy answer tokens from the eager HF model (ends with EOS when it stopped)."""
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt]), max_new_tokens=max_new, do_sample=False,
                             eos_token_id=eos, pad_token_id=eos[0])
    return out[0, len(prompt):].tolist()


@pytest.fixture(scope="module")
def eager(tiny_model_dir):
    from core.loading import load_model

    return load_model(str(tiny_model_dir), dtype=torch.float32).eval()


def test_fp32_is_token_exact_with_eager(tiny_pte, eager, tiny_tokenizer, export_eval_pairs):
    from core.prompt import eos_ids, prompt_ids

    m = PteModel(tiny_pte["fp32"])
    for row in export_eval_pairs[:N_EXACT]:
        ids = prompt_ids(tiny_tokenizer, row["input"])
        got, _ = m.generate(ids, MAX_NEW)
        assert got == eager_greedy(eager, ids, eos_ids(tiny_tokenizer), MAX_NEW), row["input"]


def test_fp32_logits_match_eager_for_any_chunking(tiny_pte, eager):
    """Prefill in uneven chunks at arbitrary cache positions == one eager pass."""
    m = PteModel(tiny_pte["fp32"])
    ids = torch.randint(4, m.vocab_size, (1, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = eager(ids).logits
    parts, pos = [], 0
    for n in (1, 7, 3, 16, 13):
        parts.append(m.forward(ids[0, pos:pos + n].tolist(), pos))
        pos += n
    assert torch.allclose(torch.cat(parts, 1), ref, atol=1e-4)


@pytest.mark.parametrize("tag", ["fp32", "int8", "int4"])
def test_pte_loads_generates_and_stops_at_eos(tag, tiny_pte, tiny_tokenizer, tiny_is_trained,
                                              export_eval_pairs):
    from core.prompt import eos_ids, prompt_ids

    m = PteModel(tiny_pte[tag])
    assert m.max_seq_len == TEST_MAX_SEQ_LEN and m.eos_ids == eos_ids(tiny_tokenizer)
    assert m.vocab_size == len(tiny_tokenizer)
    stopped = 0
    for row in export_eval_pairs[:8]:
        out, stats = m.generate(prompt_ids(tiny_tokenizer, row["input"]), MAX_NEW)
        assert 1 <= len(out) <= MAX_NEW and stats["new_tokens"] == len(out)
        assert not any(t in m.eos_ids for t in out[:-1])  # nothing generated past an EOS
        if stats["stop"] == "eos":
            assert out[-1] in m.eos_ids
            stopped += 1
    if not tiny_is_trained:
        pytest.skip("tiny_run (trained model) not available: an untrained model need not emit EOS")
    assert stopped > 0


def test_forward_limits_are_enforced(tiny_pte):
    m = PteModel(tiny_pte["int8"])
    assert m.forward([5] * 6, TEST_MAX_SEQ_LEN - 6).shape == (1, 6, m.vocab_size)
    with pytest.raises(PteError, match="do not fit max_seq_len"):
        m.forward([5] * 7, TEST_MAX_SEQ_LEN - 6)
    with pytest.raises(PteError, match="does not fit"):
        m.generate([5] * TEST_MAX_SEQ_LEN, 4)


@pytest.mark.parametrize("tag", ["fp32", "int8", "int4"])
def test_metadata_complete(tag, tiny_pte, tiny_tokenizer, tiny_model_dir):
    from core.prompt import template_info

    pte = tiny_pte[tag]
    meta = json.loads(pte.with_suffix(".json").read_text())
    data = pte.read_bytes()
    assert meta["sha256"] == hashlib.sha256(data).hexdigest() and meta["size_bytes"] == len(data)
    assert meta["prompt"] == template_info(tiny_tokenizer)
    assert meta["eos_ids"] == meta["prompt"]["eos_ids"] and meta["max_seq_len"] == TEST_MAX_SEQ_LEN
    assert meta["recipe"] == f"xnnpack-{tag}"
    assert meta["quantization"]["scheme"] == {"fp32": "fp32", "int8": "8da8w", "int4": "8da4w"}[tag]
    assert meta["quantization"]["group_size"] == (32 if tag == "int4" else None)
    assert meta["source"]["model_dir"] == str(tiny_model_dir.resolve())
    assert meta["export_seconds"] > 0 and meta["peak_export_rss_mb"] > 100
    assert "start+T <= max_seq_len" in meta["limits"]["cache_position"]
    assert (pte.parent / "tokenizer.json").read_bytes() == (tiny_model_dir / "tokenizer.json").read_bytes()


def test_sizes_shrink_with_quantization(tiny_pte):
    size = {k: p.stat().st_size for k, p in tiny_pte.items()}
    assert size["int4"] < size["int8"] < size["fp32"] / 2


@pytest.mark.parametrize("tag", ["fp32", "int8", "int4"])
def test_linears_are_delegated_to_xnnpack(tag, tiny_pte):
    """Every linear (incl. lm_head) runs inside XNNPACK: none in the non-delegated op set
    of the lowered program, and the serialized file carries XNNPACK delegates and no
    linear/matmul kernel outside them."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    meta = json.loads(tiny_pte[tag].with_suffix(".json").read_text())
    deleg = meta["delegation"]
    assert deleg["delegated"]["aten_linear_default"] == 4 * 7 + 1  # 4 layers x 7 + lm_head
    assert not any("linear" in op or op.startswith(("aten_mm", "aten_addmm"))
                   for op in deleg["non_delegated"])
    program = deserialize_pte_binary(tiny_pte[tag].read_bytes()).program
    plan = next(p for p in program.execution_plan if p.name == "forward")
    assert {d.id for d in plan.delegates} == {"XnnpackBackend"}
    ops = {o.name for o in plan.operators}
    assert not ops & {"aten::linear", "aten::mm", "aten::addmm"}, ops
    if tag != "fp32":  # the quantized embedding runs on the quantized kernels
        assert ops & {"quantized_decomposed::embedding_byte", "quantized_decomposed::embedding_4bit"}


def test_quantized_agree_with_fp32(tiny_pte, tiny_tokenizer, export_eval_pairs):
    """INT8 stays close to fp32 (the accuracy figures come from export/test_model.py)."""
    from core.prompt import prompt_ids

    ref, q8 = PteModel(tiny_pte["fp32"]), PteModel(tiny_pte["int8"])
    same = 0
    for row in export_eval_pairs[:8]:
        ids = prompt_ids(tiny_tokenizer, row["input"])
        same += ref.generate(ids, MAX_NEW)[0] == q8.generate(ids, MAX_NEW)[0]
    assert same >= 4


def test_pte_corrector_backend(tiny_pte, tiny_tokenizer, export_eval_pairs):
    from core.prompt import decode_answer, prompt_ids
    from evaluation.correctors import answer_budget, make_corrector

    c = make_corrector("pte", str(tiny_pte["int8"]))
    texts = [r["input"] for r in export_eval_pairs[:4]] + ["  "]
    got = c.correct(texts)
    assert got[-1] == "  " and len(c.stats) == 4
    m = PteModel(tiny_pte["int8"])
    for text, out in zip(texts[:-1], got):
        ids = prompt_ids(tiny_tokenizer, text)
        budget = min(answer_budget(len(tiny_tokenizer(text, add_special_tokens=False)["input_ids"])),
                     m.max_seq_len - len(ids))
        assert out == decode_answer(tiny_tokenizer, m.generate(ids, budget)[0])
    spec = make_corrector("pte", str(tiny_pte["int8"]), speculate="copy", draft_len=4)
    assert spec.correct(texts) == got


def test_tokenizer_rebuilt_from_files_beside_the_pte(tiny_pte, tiny_tokenizer, export_eval_pairs):
    from core.prompt import eos_ids, prompt_ids, template_info
    from export.runtime import load_pte_tokenizer

    tok = load_pte_tokenizer(tiny_pte["int4"])
    assert template_info(tok) == template_info(tiny_tokenizer) and eos_ids(tok) == eos_ids(tiny_tokenizer)
    for row in export_eval_pairs[:5]:
        assert prompt_ids(tok, row["input"]) == prompt_ids(tiny_tokenizer, row["input"])


def test_verification_script(tiny_pte, tiny_model_dir, tiny_pairs, tmp_path):
    """export/test_model.py: fp32 token-exact, INT8 agreement and accuracy delta."""
    from export.test_model import verify

    rep = verify(str(tiny_model_dir), [str(tiny_pte["fp32"]), str(tiny_pte["int8"])],
                 str(tiny_pairs / "eval_data.json"), limit=12, max_new=32)
    fp32, int8 = rep["pte"][str(tiny_pte["fp32"])], rep["pte"][str(tiny_pte["int8"])]
    assert rep["samples"] == 12 and fp32["ok"] and fp32["identical_samples"] == 1.0
    assert fp32["delta_raw"]["exact_match"] == 0
    assert int8["scheme"] == "8da8w" and 0 < int8["token_agreement"] <= 1
    assert set(int8["delta_guarded"]) >= {"exact_match", "word_accuracy"}
