"""typo_runner on the exported tiny models (integration): tokens equal the Python ExecuTorch
runtime and the eager model, quantized variants run, stats are present, bad requests are
per-request errors, and copy-speculative decoding reproduces greedy exactly."""
from __future__ import annotations

import json

import pytest

from core import decoding
from tests.fixtures.runner import run_runner

pytestmark = pytest.mark.integration
N_PROMPTS = 24
MAX_NEW = 64


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from core.loading import load_tokenizer

    return load_tokenizer(str(tiny_model_dir))


@pytest.fixture(scope="module")
def requests_(tiny_pairs, tokenizer) -> list[dict]:
    from core.prompt import prompt_ids

    rows = [json.loads(line) for line in (tiny_pairs / "eval_data.json").read_text().splitlines()[:N_PROMPTS]]
    return [{"id": f"e{i}", "prompt_ids": prompt_ids(tokenizer, r["input"]), "max_new_tokens": MAX_NEW}
            for i, r in enumerate(rows)]


@pytest.fixture(scope="module")
def greedy(host_runner, tiny_pte, requests_, tmp_path_factory) -> dict:
    """Plain greedy runs of every variant: tag -> (process, results, summary)."""
    out = {}
    for tag, pte in tiny_pte.items():
        out[tag] = run_runner(host_runner, pte, requests_, tmp_path_factory.mktemp(f"greedy-{tag}"),
                              "--threads", "1")
        assert out[tag][0].returncode == 0, out[tag][0].stderr
    return out


def python_runtime_ids(pte, requests_) -> list[list[int]]:
    from export.runtime import PteModel

    m = PteModel(pte)
    return [m.generate(r["prompt_ids"], r["max_new_tokens"])[0] for r in requests_]


def test_fp32_tokens_equal_python_runtime_and_eager(greedy, tiny_pte, tiny_model_dir, requests_):
    import torch
    from transformers import AutoModelForCausalLM

    runner_ids = [r["output_ids"] for r in greedy["fp32"][1]]
    assert [r["id"] for r in greedy["fp32"][1]] == [r["id"] for r in requests_]
    assert runner_ids == python_runtime_ids(tiny_pte["fp32"], requests_)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        for req, ids in zip(requests_, runner_ids):
            p = torch.tensor([req["prompt_ids"]])
            eager = model.generate(p, attention_mask=torch.ones_like(p), max_new_tokens=MAX_NEW,
                                   do_sample=False,
                                   eos_token_id=greedy["fp32"][2]["eos_ids"])[0, p.shape[1]:].tolist()
            assert ids == eager, req["id"]


@pytest.mark.parametrize("tag", ["int8", "int4"])
def test_quantized_variants_run_like_the_python_runtime(greedy, tiny_pte, requests_, tag):
    proc, results, summary = greedy[tag]
    assert summary["errors"] == 0 and len(results) == len(requests_)
    eos = set(summary["eos_ids"])
    for r in results:  # each stops at an EOS or at max_new_tokens, never later
        ids = r["output_ids"]
        assert 1 <= len(ids) <= MAX_NEW and r["new_tokens"] == len(ids)
        assert not (eos & set(ids[:-1])) and (ids[-1] in eos or len(ids) == MAX_NEW)
    assert [r["output_ids"] for r in results] == python_runtime_ids(tiny_pte[tag], requests_)


def test_summary_and_timings_present_and_positive(greedy, requests_):
    import re

    _, results, s = greedy["int8"]
    assert s["peak_rss_kb"] > 1000 and s["model_load_ms"] > 0 and s["threads"] == 1
    assert s["requests"] == len(requests_) and s["generated_tokens"] == sum(r["new_tokens"] for r in results)
    assert s["decode_ms_per_token"] > 0 and s["forwards"] == s["generated_tokens"]  # plain: one per token
    for r in results:
        assert r["prefill_ms"] > 0 and r["ttft_ms"] >= r["prefill_ms"] and r["total_ms"] >= r["ttft_ms"]
        assert r["decode_ms"] > 0 or r["new_tokens"] == 1
    m = re.fullmatch(r"PyTorchObserver (\{.*\})", s["observer"])
    obs = json.loads(m.group(1))
    assert obs["prompt_tokens"] == sum(len(r["prompt_ids"]) for r in requests_)
    assert obs["generated_tokens"] == s["generated_tokens"] and obs["SCALING_FACTOR_UNITS_PER_SECOND"] == 1000
    order = ["model_load_start_ms", "model_load_end_ms", "inference_start_ms", "prompt_eval_end_ms",
             "inference_end_ms"]
    assert all(obs[a] < obs[b] for a, b in zip(order, order[1:]))
    assert obs["inference_start_ms"] < obs["first_token_ms"] <= obs["inference_end_ms"]
    # one observer line per request on stdout, like ExecuTorch's llm runners
    assert greedy["int8"][0].stdout.count("PyTorchObserver ") == len(requests_) + 1


def test_bad_requests_are_reported_not_fatal(host_runner, tiny_pte, requests_, tmp_path):
    good = requests_[0]
    lines = [
        good, "{not json", "[1, 2]", {"id": "no-ids"}, {"id": "empty", "prompt_ids": []},
        {"id": "float", "prompt_ids": [1, 2.5]}, {"id": "oov", "prompt_ids": [1, 10**9]},
        {"id": "neg", "prompt_ids": [-1, 5]}, {"id": "long", "prompt_ids": [5] * 400},
        {"id": "zero", "prompt_ids": [5, 6], "max_new_tokens": 0}, "", {**good, "id": "again"},
    ]
    proc, results, s = run_runner(host_runner, tiny_pte["int8"], lines, tmp_path)
    assert proc.returncode == 0, proc.stderr
    by_id = {r["id"]: r for r in results}
    assert len(results) == len(lines) - 1  # the blank line is skipped
    assert by_id["again"]["output_ids"] == by_id[good["id"]]["output_ids"] and "error" not in by_id["again"]
    expect = {"no-ids": "prompt_ids", "empty": "non-empty", "float": "non-integer",
              "oov": "outside the vocabulary", "neg": "outside the vocabulary",
              "long": "prompt has 400 tokens", "zero": "max_new_tokens"}
    for rid, text in expect.items():
        assert text in by_id[rid]["error"], (rid, by_id[rid])
    unnamed = [r for r in results if r["id"] is None]
    assert [r["line"] for r in unnamed] == [2, 3] and "invalid JSON" in unnamed[0]["error"]
    assert s["errors"] == len(expect) + 2


def test_timeout_is_a_per_request_error(host_runner, tiny_pte, requests_, tmp_path):
    reqs = [{**r, "max_new_tokens": 200} for r in requests_[:2]]
    proc, results, s = run_runner(host_runner, tiny_pte["fp32"], reqs, tmp_path, "--timeout-ms", "1")
    assert proc.returncode == 0
    assert all("timeout" in r["error"] for r in results) and s["errors"] == 2


def test_reps_and_warmup_keep_the_tokens(host_runner, tiny_pte, requests_, greedy, tmp_path):
    proc, results, s = run_runner(host_runner, tiny_pte["int4"], requests_[:3], tmp_path, "--reps", "3",
                                  "--warmup", "2", "--threads", "1")
    assert proc.returncode == 0 and s["reps"] == 3 and s["warmup"] == 2
    assert [r["output_ids"] for r in results] == [r["output_ids"] for r in greedy["int4"][1][:3]]


@pytest.fixture(scope="module")
def eval_requests(tiny_pairs, tokenizer) -> list[dict]:
    """Every sample of the tiny eval set, as runner requests, with the span of the text to
    correct (so copy mode drafts inside the prefill call too)."""
    from core.prompt import prompt_ids_and_span

    rows = [json.loads(line) for line in (tiny_pairs / "eval_data.json").read_text().splitlines()
            if line.strip()]
    out = []
    for i, r in enumerate(rows):
        ids, span = prompt_ids_and_span(tokenizer, r["input"])
        out.append({"id": i, "prompt_ids": ids, "max_new_tokens": MAX_NEW, "source_span": list(span)})
    return out


def check_speculative(plain: list[dict], spec: list[dict], k: int, prefill: int = 0) -> None:
    assert len(spec) == len(plain)
    for p, r in zip(plain, spec):
        assert "error" not in r and r["output_ids"] == p["output_ids"], (k, r["id"])
        assert 0 <= r["accepted_tokens"] <= r["drafted_tokens"] <= max(k, prefill) * r["forwards"]
        assert r["forwards"] + r["accepted_tokens"] >= r["new_tokens"]  # a forward yields 1 + accepted


@pytest.mark.parametrize("tag", ["fp32", "int8"])
def test_copy_speculation_equals_greedy_on_the_eval_set(host_runner, tiny_pte, eval_requests, tiny_is_trained,
                                                        tmp_path, tag):
    args = ("--threads", "1")
    _, plain, ps = run_runner(host_runner, tiny_pte[tag], eval_requests, tmp_path / "plain", *args)
    proc, spec, s = run_runner(host_runner, tiny_pte[tag], eval_requests, tmp_path / "copy", *args,
                               "--speculate", "copy", "--draft-len", "4")
    assert proc.returncode == 0 and ps["errors"] == 0, proc.stderr
    assert s["speculate"] == "copy" and s["draft_len"] == 4
    check_speculative(plain, spec, 4, prefill=decoding.PREFILL_DRAFT)
    assert s["forwards"] <= ps["forwards"] == ps["generated_tokens"]
    assert s["prefill_draft"] == decoding.PREFILL_DRAFT and s["prefix_cache"] is True  # the defaults
    if tiny_is_trained:  # a trained corrector copies much of its input: far fewer forwards
        assert s["acceptance_rate"] > 0.2 and s["forwards"] < 0.85 * ps["forwards"], s


@pytest.mark.parametrize("k", [1, 8])
def test_copy_speculation_any_draft_length(host_runner, tiny_pte, requests_, greedy, tmp_path, k):
    proc, spec, s = run_runner(host_runner, tiny_pte["int8"], requests_, tmp_path, "--speculate", "copy",
                               "--draft-len", str(k))
    assert proc.returncode == 0, proc.stderr
    check_speculative(greedy["int8"][1], spec, k)


@pytest.mark.parametrize("prefill", [0, 1, 64])
def test_prefill_draft_lengths_equal_greedy(host_runner, tiny_pte, eval_requests, tmp_path, prefill):
    reqs = eval_requests[:N_PROMPTS]
    _, plain, _ = run_runner(host_runner, tiny_pte["int8"], reqs, tmp_path / "plain")
    proc, spec, s = run_runner(host_runner, tiny_pte["int8"], reqs, tmp_path / "copy", "--speculate", "copy",
                               "--draft-len", "4", "--prefill-draft", str(prefill))
    assert proc.returncode == 0, proc.stderr
    check_speculative(plain, spec, 4, prefill=prefill)
    assert s["prefill_draft"] == prefill


def test_prefix_cache_reuses_the_opening_and_keeps_the_tokens(host_runner, tiny_pte, eval_requests, tmp_path):
    """Requests share the instruction and chat header: with the cache on, every request
    after the first skips them in its prefill; the tokens are those of a cold cache."""
    reqs = eval_requests[:N_PROMPTS]
    for mode in ([], ["--speculate", "copy"]):
        _, off, s_off = run_runner(host_runner, tiny_pte["fp32"], reqs, tmp_path / f"off{len(mode)}",
                                   "--prefix-cache", "off", *mode)
        _, on, s_on = run_runner(host_runner, tiny_pte["fp32"], reqs, tmp_path / f"on{len(mode)}",
                                 "--warmup", "2", *mode)
        assert [r["output_ids"] for r in on] == [r["output_ids"] for r in off]
        assert s_off["reused_tokens"] == 0 and s_off["prefix_cache"] is False and s_on["prefix_cache"] is True
        opening = min(r["source_span"][0] for r in reqs)  # the tokens before the text
        assert on[0]["reused_tokens"] == 0  # after the warm-up the cache starts cold again
        assert all(r["reused_tokens"] >= opening for r in on[1:])
        assert all(r["reused_tokens"] < len(q["prompt_ids"]) for r, q in zip(on, reqs))
        assert s_on["reused_tokens"] == sum(r["reused_tokens"] for r in on)


def test_bad_source_spans_are_per_request_errors(host_runner, tiny_pte, eval_requests, tmp_path):
    good = eval_requests[0]
    n = len(good["prompt_ids"])
    lines = [good, {**good, "id": "rev", "source_span": [5, 2]},
             {**good, "id": "long", "source_span": [0, n + 1]},
             {**good, "id": "one", "source_span": [3]}, {**good, "id": "str", "source_span": "0:4"}]
    proc, results, s = run_runner(host_runner, tiny_pte["int8"], lines, tmp_path, "--speculate", "copy")
    assert proc.returncode == 0 and s["errors"] == 4, proc.stderr
    by_id = {r["id"]: r for r in results}
    assert "error" not in by_id[good["id"]]
    assert "0 <= begin < end <= " + str(n) in by_id["rev"]["error"]
    assert "requests line 2" in by_id["rev"]["error"]
    assert "0 <= begin < end" in by_id["long"]["error"]
    assert all("'source_span' must be [begin, end]" in by_id[i]["error"] for i in ("one", "str"))
