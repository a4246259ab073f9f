"""The lean attention (export/lean_attention.py), the default export of a Llama-family model
(attention=auto), integration tier on the tiny model's session files (tests/fixtures/export.py): only
standard ops (no llama:: custom ops, the cache written by an in-place index_put_, no K/V head
repeat, no cache copy), the fp32 file token-exact with the eager model for any chunking, copy
speculation == plain in the Python runtime and the host runner (with fewer forwards: the file
is row-exact), and the arm64 runner under qemu giving the host runner's tokens. attention=static
(what an architecture the lean decoder lacks gets) stays token-exact too."""
from __future__ import annotations

import json

import pytest
import torch

from export.runtime import PteModel
from tests.fixtures.export import TEST_MAX_SEQ_LEN
from tests.test_export import MAX_NEW, eager_greedy

pytestmark = pytest.mark.integration
N_EXACT = 12
N_RUNNER = 24


@pytest.fixture(scope="module")
def lean_pte(tiny_pte) -> dict[str, object]:
    """{"fp32", "int4"}: the session's default exports, lean for the Llama-family tiny model."""
    return {tag: tiny_pte[tag] for tag in ("fp32", "int4")}


@pytest.fixture(scope="module")
def eager(tiny_model_dir):
    from core.loading import load_model

    return load_model(str(tiny_model_dir), dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def lean_requests(tiny_tokenizer, export_eval_pairs) -> list[dict]:
    from core.prompt import prompt_ids_and_span

    out = []
    for i, row in enumerate(export_eval_pairs[:N_RUNNER]):
        ids, span = prompt_ids_and_span(tiny_tokenizer, row["input"])
        out.append({"id": i, "prompt_ids": ids, "max_new_tokens": MAX_NEW, "source_span": list(span)})
    return out


def test_only_standard_ops_and_an_in_place_cache_write(lean_pte):
    from executorch.exir._serialize._program import deserialize_pte_binary

    for tag, pte in lean_pte.items():
        program = deserialize_pte_binary(pte.read_bytes()).program
        ops = {f"{op.name}.{op.overload}" for plan in program.execution_plan for op in plan.operators}
        assert not any(o.startswith("llama::") for o in ops), ops
        assert "aten::index_put_." in ops, ops  # re-inplaced: no functional index_put ...
        copies = {"aten::index_put.out", "aten::copy_.out", "aten::expand_copy.out"}
        assert not copies & ops, ops  # ... and no cache copies
        meta = json.loads(pte.with_suffix(".json").read_text())
        assert meta["runtime_ops"] == [] and meta["recipe"] == f"xnnpack-{tag}"
        assert meta["attention"] == "lean"  # attention=auto on a Llama-family model
        assert "aten_bmm_default" in meta["delegation"]["delegated"]  # attention inside XNNPACK


def test_fp32_lean_is_token_exact_with_eager(lean_pte, eager, tiny_tokenizer, export_eval_pairs):
    from core.prompt import eos_ids, prompt_ids

    m = PteModel(lean_pte["fp32"])
    assert m.row_exact  # standard ops: copy speculation may verify several drafts per call
    for row in export_eval_pairs[:N_EXACT]:
        ids = prompt_ids(tiny_tokenizer, row["input"])
        got, _ = m.generate(ids, MAX_NEW)
        assert got == eager_greedy(eager, ids, eos_ids(tiny_tokenizer), MAX_NEW), row["input"]
        spec, _ = m.generate(ids, MAX_NEW, speculate="copy")
        assert spec == got, row["input"]


def test_static_attention_stays_token_exact_with_eager(tiny_model_dir, eager, tiny_tokenizer,
                                                       export_eval_pairs, tmp_path):
    """attention=static: transformers' static cache (a functional cache write, no lean decoder)."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    from core.prompt import eos_ids, prompt_ids
    from export.export_to_pte import export_model

    pte = tmp_path / "tiny-fp32-static.pte"
    meta = export_model(tiny_model_dir, "xnnpack-fp32", pte, max_seq_len=TEST_MAX_SEQ_LEN, progress=False,
                        attention="static")
    assert meta["attention"] == "static"
    program = deserialize_pte_binary(pte.read_bytes()).program
    ops = {f"{op.name}.{op.overload}" for plan in program.execution_plan for op in plan.operators}
    assert "aten::index_put_." not in ops and "aten::index_put.out" in ops, ops
    m = PteModel(pte)
    for row in export_eval_pairs[:N_EXACT // 2]:
        ids = prompt_ids(tiny_tokenizer, row["input"])
        got, _ = m.generate(ids, MAX_NEW)
        assert got == eager_greedy(eager, ids, eos_ids(tiny_tokenizer), MAX_NEW), row["input"]


def test_fp32_lean_logits_match_eager_for_any_chunking(lean_pte, eager):
    ids = torch.randint(10, eager.config.vocab_size - 1, (1, 21), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = eager(ids).logits
    m = PteModel(lean_pte["fp32"], prefix_cache=False)
    parts, pos = [], 0
    for t in (9, 1, 4, 1, 6):
        parts.append(m.forward(ids[:, pos:pos + t], pos))
        pos += t
    assert torch.allclose(torch.cat(parts, 1), ref, atol=1e-4)
    with pytest.raises(Exception, match="max_seq_len"):
        m.forward(ids[:, :3], TEST_MAX_SEQ_LEN - 2)  # past the cache: a named error


def test_host_runner_runs_the_lean_file_like_the_python_runtime(host_runner, lean_pte, lean_requests,
                                                                tmp_path):
    """Python plain == Python copy == runner plain == runner copy, and copy mode saves forwards."""
    from tests.fixtures.runner import run_runner

    pte = lean_pte["fp32"]
    m = PteModel(pte)
    python_plain = [m.generate(r["prompt_ids"], MAX_NEW)[0] for r in lean_requests]
    python_copy = [m.generate(r["prompt_ids"], MAX_NEW, speculate="copy",
                              source_span=tuple(r["source_span"]))[0] for r in lean_requests]
    assert python_copy == python_plain
    proc, plain, s = run_runner(host_runner, pte, lean_requests, tmp_path / "plain", "--threads", "1")
    assert proc.returncode == 0 and s["errors"] == 0, proc.stderr
    assert [r["output_ids"] for r in plain] == python_plain
    proc, copy, cs = run_runner(host_runner, pte, lean_requests, tmp_path / "copy", "--threads", "1",
                                "--speculate", "copy")
    assert proc.returncode == 0 and cs["errors"] == 0, proc.stderr
    assert [r["output_ids"] for r in copy] == python_plain
    assert cs["drafted_tokens"] > 0


def test_arm64_runner_gives_the_host_runners_tokens(lean_pte, lean_requests, host_runner, arm64_runner, arm64,
                                                    tmp_path):
    """No custom ops: the aarch64 build (under qemu, a phone core) loads both lean files and
    answers as the host runner does (a NEON/AVX near tie excepted, as in tests/test_arm64.py)."""
    from tests.test_arm64 import _run, assert_same_tokens

    requests = lean_requests[:8]
    prompts = {r["id"]: r["prompt_ids"] for r in requests}
    for tag, pte in lean_pte.items():
        host = _run([str(host_runner)], pte, requests, tmp_path / f"host-{tag}")
        arm = _run([*arm64("cortex-a76").emulator, str(arm64_runner)], pte, requests,
                   tmp_path / f"arm64-{tag}")
        assert assert_same_tokens(pte, prompts, host, arm) >= len(requests) - 1, tag
