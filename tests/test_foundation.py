"""Foundation: config loading, tiny model determinism, tokenizer round trip, Make targets."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import ConfigError, load_config
from core.tiny import TinyModelConfig, build_model, weight_hash

REPO = Path(__file__).resolve().parents[1]


@dataclass
class _Inner:
    lr: float = 1e-3
    steps: int = 10


@dataclass
class _Outer:
    name: str = "x"
    flag: bool = False
    inner: _Inner = field(default_factory=_Inner)
    modules: list[str] = field(default_factory=lambda: ["q_proj"])


def test_overrides_are_dotted_and_typed(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: a\ninner:\n  lr: 1e-4\n")
    cfg = load_config(_Outer, p, ["inner.steps=7", "flag=true", "modules=[a, b]"])
    assert (cfg.name, cfg.inner.lr, cfg.inner.steps, cfg.flag, cfg.modules) == (
        "a", 1e-4, 7, True, ["a", "b"])


def test_unknown_key_lists_allowed_keys(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("inner:\n  learning_rate: 3\n")
    with pytest.raises(ConfigError) as exc:
        load_config(_Outer, p)
    msg = str(exc.value)
    assert "inner.learning_rate" in msg and "allowed keys: lr, steps" in msg and str(p) in msg


def test_wrong_type_names_the_field():
    with pytest.raises(ConfigError, match=r"inner.steps: expected an integer"):
        load_config(_Outer, None, ["inner.steps=many"])
    with pytest.raises(ConfigError, match=r"must look like key=value"):
        load_config(_Outer, None, ["inner.steps"])


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(_Outer, tmp_path / "nope.yaml")


def test_tiny_model_is_deterministic_given_a_seed(tiny_base):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_base)
    cfg = TinyModelConfig()
    first, again = build_model(cfg, tok), build_model(cfg, tok)
    other = build_model(TinyModelConfig(seed=1), tok)
    assert weight_hash(first) == weight_hash(again) == (tiny_base / "weights.sha256").read_text().strip()
    assert weight_hash(other) != weight_hash(first)


def test_tiny_model_loads_with_auto_classes_and_generates(tiny_base):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.prompt import eos_ids, prompt_ids

    tok = AutoTokenizer.from_pretrained(tiny_base)
    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    ids = torch.tensor([prompt_ids(tok, "helo wrld")])
    out = model.generate(ids, max_new_tokens=4, do_sample=False, eos_token_id=eos_ids(tok))
    assert out.shape[1] > ids.shape[1]
    assert 1e6 <= sum(p.numel() for p in model.parameters()) <= 20e6
    assert tok.pad_token == "<|pad|>" and tok.eos_token == "<|im_end|>"


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_base):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_base)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=200))
def test_tokenizer_round_trips_any_text(tiny_tokenizer, text):
    ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tiny_tokenizer.decode(ids) == text


@pytest.mark.parametrize("text", ["naïve café — “quotes”", "emoji 👋🏽🧑‍💻 and 日本語",
                                  "  tabs\tand\nnewlines  "])
def test_tokenizer_round_trips_unicode_and_emoji(tiny_tokenizer, text):
    assert tiny_tokenizer.decode(tiny_tokenizer(text, add_special_tokens=False)["input_ids"]) == text


def test_offline_hub_id_names_the_tiny_preset(monkeypatch):
    from core.loading import ModelLoadError, load_tokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="PRESET=tiny"):
        load_tokenizer("HuggingFaceTB/SmolLM2-135M-Instruct-not-cached")


def test_make_help_lists_every_target():
    out = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True, timeout=30).stdout
    for target in ("setup", "data", "train", "eval", "export", "runner", "bench", "demo", "test", "image",
                   "clean"):
        assert f"  {target} " in out, target


@pytest.mark.parametrize("target", ["data", "train", "eval", "export", "runner", "bench", "demo", "image"])
def test_unbuilt_make_target_fails_loudly(target, tmp_path):
    # STAGE_ROOT points the "is this stage built?" check at an empty folder.
    proc = subprocess.run(["make", "-o", "setup", f"STAGE_ROOT={tmp_path}", target], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert f"make {target}: not implemented yet" in proc.stderr
