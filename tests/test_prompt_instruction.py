"""The instruction travels with the tokenizer: a model is always prompted with the instruction
it was trained with, in training, evaluation, export metadata and the bench."""
from __future__ import annotations

import json

import pytest

from core import prompt


def test_a_tokenizer_without_a_record_gets_the_legacy_instruction():
    from core.loading import load_tokenizer

    tok = load_tokenizer("builtin:tiny")
    assert prompt.INSTRUCTION_KEY not in tok.init_kwargs
    assert prompt.instruction(tok) == prompt.LEGACY_INSTRUCTION
    assert prompt.LEGACY_INSTRUCTION in prompt.build_prompt(tok, "helo")


def test_the_recorded_instruction_is_used_and_saved(tmp_path):
    from core.loading import load_tokenizer

    tok = load_tokenizer("builtin:tiny")
    long_ids = prompt.prompt_ids(tok, "helo wrld")
    prompt.set_instruction(tok, "Fix typos.")
    text = prompt.build_prompt(tok, "helo wrld")
    assert "Fix typos." in text and prompt.LEGACY_INSTRUCTION not in text
    assert len(prompt.prompt_ids(tok, "helo wrld")) < len(long_ids)
    assert prompt.template_info(tok)["instruction"] == "Fix typos."
    tok.save_pretrained(tmp_path)
    again = load_tokenizer(str(tmp_path))
    assert prompt.build_prompt(again, "helo wrld") == text
    with pytest.raises(ValueError, match="empty"):
        prompt.set_instruction(tok, "  ")


def test_the_plain_template_uses_the_recorded_instruction():
    from core.loading import load_tokenizer

    tok = load_tokenizer("builtin:tiny")
    tok.chat_template = None  # a base model without a chat template (the Gemma base)
    prompt.set_instruction(tok, "Fix typos.")
    assert prompt.build_prompt(tok, "helo").count("Fix typos.") == 1


def test_empty_instruction_in_the_train_config_is_refused():
    from core.config import ConfigError, load_config
    from core.paths import REPO_ROOT
    from train.config import TrainConfig

    cfg = load_config(TrainConfig, REPO_ROOT / "train/configs/tiny.yaml", [])
    assert cfg.data.instruction == prompt.INSTRUCTION
    with pytest.raises(ConfigError, match="data.instruction"):
        load_config(TrainConfig, REPO_ROOT / "train/configs/tiny.yaml", ["data.instruction=' '"])


@pytest.mark.integration
def test_a_trained_run_and_its_pte_carry_the_instruction(tiny_run, tiny_pte):
    """Training records the config's instruction in merged/ and adapter/, export copies it
    into the metadata, and both tokenizers rebuilt from a .pte prompt exactly like merged/."""
    from core.loading import load_tokenizer
    from device_bench.inputs import load_model_info
    from device_bench.inputs import load_tokenizer as bench_tokenizer
    from export.runtime import load_pte_tokenizer

    merged = load_tokenizer(str(tiny_run / "merged"))
    assert prompt.instruction(merged) == prompt.INSTRUCTION
    if (tiny_run / "adapter" / "tokenizer_config.json").is_file():
        assert prompt.instruction(load_tokenizer(str(tiny_run / "adapter"))) == prompt.INSTRUCTION
    meta = json.loads(tiny_pte["int8"].with_suffix(".json").read_text())
    assert meta["prompt"]["instruction"] == prompt.INSTRUCTION
    want = prompt.prompt_ids_and_span(merged, "i tought so")
    assert prompt.prompt_ids_and_span(load_pte_tokenizer(tiny_pte["int8"]), "i tought so") == want
    bench_tok = bench_tokenizer(load_model_info(tiny_pte["int8"]))
    assert prompt.prompt_ids_and_span(bench_tok, "i tought so") == want
