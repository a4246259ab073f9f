"""AutoTrain round trip: our pairs exported for AutoTrain's LLM SFT task render exactly the
prompt our trainer uses; an adapter trained the way AutoTrain trains (plain peft, loss on the
whole text) comes back through `core.loading.merge_adapter` and corrects through the same
evaluation backend as ours."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from core.config import ConfigError, load_config
from core.prompt import answer_eos_id, answer_ids, build_prompt, prompt_ids
from datagen.autotrain import AutoTrainExportConfig, export, main

REPO = Path(__file__).resolve().parents[1]


def _export(tmp_path: Path, tiny_pairs: Path, tiny_base: Path, fmt: str, limit: int = 200) -> Path:
    cfg = load_config(AutoTrainExportConfig, None, [
        "preset=smollm2-135m", f"tokenizer={tiny_base}", f"format={fmt}", f"limit={limit}",
        f"train={tiny_pairs / 'train_data.json'}", f"eval={tiny_pairs / 'eval_data.json'}",
        f"out={tmp_path / fmt}"])
    return export(cfg)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _pairs(tiny_pairs: Path, n: int) -> list[dict]:
    return _rows(tiny_pairs / "train_data.json")[:n]


def test_text_rows_tokenize_to_our_training_ids(tmp_path, tiny_pairs, tiny_base):
    from core.loading import load_tokenizer

    out = _export(tmp_path, tiny_pairs, tiny_base, "text")
    tok = load_tokenizer(str(tiny_base))
    rows, pairs = _rows(out / "train.jsonl"), _pairs(tiny_pairs, 200)
    assert len(rows) == 200 and len(_rows(out / "valid.jsonl")) == 200
    for row, pair in zip(rows, pairs):
        # what AutoTrain tokenizes (the text column as is) == what our trainer feeds the model
        got = tok(row["text"], add_special_tokens=False)["input_ids"]
        assert got == prompt_ids(tok, pair["input"]) + answer_ids(tok, pair["output"]), pair
    assert rows[0]["text"].endswith(tok.convert_ids_to_tokens(answer_eos_id(tok)))


def test_messages_rows_render_our_prompt_through_the_chat_template(tmp_path, tiny_pairs, tiny_base):
    """chat_template: tokenizer, as AutoTrain applies it (add_generation_prompt=False)."""
    from core.loading import load_tokenizer

    out = _export(tmp_path, tiny_pairs, tiny_base, "messages", limit=50)
    tok = load_tokenizer(str(tiny_base))
    eot = tok.convert_ids_to_tokens(answer_eos_id(tok))
    for row, pair in zip(_rows(out / "train.jsonl"), _pairs(tiny_pairs, 50)):
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        rendered = tok.apply_chat_template(row["messages"], tokenize=False, add_generation_prompt=False)
        assert rendered.startswith(build_prompt(tok, pair["input"]) + pair["output"] + eot)


def test_autotrain_yml_matches_the_preset(tmp_path, tiny_pairs, tiny_base):
    preset = yaml.safe_load((REPO / "train/configs/smollm2-135m.yaml").read_text())
    for fmt, template in (("text", None), ("messages", "tokenizer")):
        cfg = yaml.safe_load((_export(tmp_path, tiny_pairs, tiny_base, fmt, 5) / "autotrain.yml").read_text())
        assert cfg["task"] == "llm-sft" and cfg["base_model"] == preset["model"]["base"]
        assert cfg["data"]["chat_template"] == template
        assert cfg["data"]["column_mapping"] == {"text_column": fmt}
        assert (cfg["data"]["train_split"], cfg["data"]["valid_split"]) == ("train", "valid")
        p = cfg["params"]
        assert (p["lora_r"], p["lora_alpha"], p["lora_dropout"]) == (16, 32, 0.0)
        assert p["target_modules"] == "all-linear" and p["peft"] is True and p["quantization"] is None
        assert p["block_size"] == preset["data"]["max_length"] and p["lr"] == preset["optim"]["lr"]
        assert p["merge_adapter"] is False  # the adapter folder is what ADAPTER=... takes


def _autotrain_like_adapter(text_rows: list[dict], base: Path, out: Path, steps: int = 6) -> Path:
    """Train LoRA as AutoTrain's SFT does (plain peft, loss on every token of the text column),
    a few steps: enough to be a real trained adapter, not one written by our trainer."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(base)
    lora = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), lora)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    losses = []
    for step in range(steps):
        batch = [r["text"] for r in text_rows[step * 8:(step + 1) * 8]]
        enc = tok(batch, add_special_tokens=False, padding=True, return_tensors="pt")
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        loss = model(**enc, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0], losses
    model.save_pretrained(out)
    return out


def test_round_trip_autotrain_style_adapter_is_accepted(tmp_path, tiny_pairs, tiny_base):
    from core.loading import merge_adapter
    from evaluation.correctors import make_corrector

    rows = _rows(_export(tmp_path, tiny_pairs, tiny_base, "text", limit=64) / "train.jsonl")
    adapter = _autotrain_like_adapter(rows, tiny_base, tmp_path / "autotrain-lora")
    merged = merge_adapter(adapter, cache=tmp_path / "merged")
    corrector = make_corrector("hf", str(merged), batch_size=4)
    inputs = [p["input"] for p in _pairs(tiny_pairs, 3)]
    outs = corrector.correct(inputs)
    assert len(outs) == 3 and all(isinstance(o, str) for o in outs)


def test_cli_writes_the_folder_and_rejects_bad_input(tmp_path, tiny_pairs, tiny_base, capsys):
    argv = ["--preset", "smollm2-135m", "--format", "text", "--out", str(tmp_path / "cli"), "--limit", "3",
            f"tokenizer={tiny_base}", f"train={tiny_pairs / 'train_data.json'}", "eval="]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "cli")
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == ["autotrain.yml", "train.jsonl"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"input": "teh", "output": ""}) + "\n")
    assert main([*argv[:-2], f"train={bad}", "eval="]) == 2
    assert "non-empty string 'output'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="format"):
        load_config(AutoTrainExportConfig, None, ["format=csv"])
    assert main(["--preset", "no-such-preset", f"tokenizer={tiny_base}"]) == 2
    assert "no-such-preset" in capsys.readouterr().err
