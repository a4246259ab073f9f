"""bench.bench_quant_agreement scores a quantization plan by one teacher-forced forward per
sample; it claims that equals comparing greedy generations. Checked here on the trained tiny
model: the fp32 model reproduces itself, and a quantized model's teacher-forced verdict per
sample is the verdict of its own greedy generation."""
from __future__ import annotations

import copy
import json

import pytest
import torch

from bench.bench_quant_agreement import PLANS, forced_agreement, main, quantize


@pytest.fixture(scope="module")
def setup(tiny_run, tiny_pairs):
    from core.loading import load_model, load_tokenizer
    from core.prompt import eos_ids, prompt_ids
    from export.test_model import eager_outputs, read_pairs

    tok = load_tokenizer(str(tiny_run / "merged"))
    model = load_model(str(tiny_run / "merged"), dtype=torch.float32).eval()
    prompts = [prompt_ids(tok, r["input"]) for r in read_pairs(tiny_pairs / "eval_data.json", 12)]
    ref = eager_outputs(model, prompts, eos_ids(tok), 48)
    return model, prompts, ref, eos_ids(tok)


def test_fp32_reproduces_its_own_greedy_answers(setup):
    model, prompts, ref, _ = setup
    got = forced_agreement(model, prompts, ref)
    assert got == {"identical_samples": 1.0, "forced_token_agreement": 1.0}


def test_teacher_forced_verdict_is_the_generated_one(setup):
    from export.test_model import eager_outputs

    model, prompts, ref, eos = setup
    q = copy.deepcopy(model)
    quantize(q, PLANS["8da4w"])
    generated = eager_outputs(q, prompts, eos, 48)
    per_sample = [forced_agreement(q, [p], [r])["identical_samples"] for p, r in zip(prompts, ref)]
    assert per_sample == [float(g == r) for g, r in zip(generated, ref)]


def test_cli_writes_every_plan_and_refuses_unknown_ones(tiny_run, tiny_pairs, tmp_path, capsys):
    out = tmp_path / "qa.json"
    args = ["--model", str(tiny_run / "merged"), "--eval", str(tiny_pairs / "eval_data.json"), "--limit", "4",
            "--max-new", "32", "--out", str(out)]
    assert main([*args, "--plans", "8da8w,4w"]) == 0
    rows = json.loads(out.read_text())["plans"]
    assert [r["plan"] for r in rows] == ["8da8w", "4w"]
    assert rows[0]["est_size_mib"] > rows[1]["est_size_mib"]
    with pytest.raises(SystemExit):
        main([*args, "--plans", "8da3w"])
    assert "unknown plan(s) ['8da3w']" in capsys.readouterr().err
