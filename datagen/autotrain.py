"""Our pairs in the format Hugging Face AutoTrain's LLM SFT task reads, so a user can upload
them and click train (or run `autotrain --config autotrain.yml`), then bring the adapter back:
`make eval|export|bench ADAPTER=<its folder>`.

    python -m datagen.autotrain [--preset smollm2-135m] [--format text|messages] [--out data/autotrain]
                                [key=value ...]

Writes <out>/train.jsonl, <out>/valid.jsonl (from the eval pairs), and <out>/autotrain.yml with
the settings that match our preset (LoRA rank, alpha, targets, lr, schedule, length).

- `text` (default): each line {"text": prompt + answer + end-of-turn}, rendered by core.prompt
  exactly as our trainer sees it; AutoTrain uses it as is (chat_template: none).
- `messages`: each line {"messages": [system, user, assistant]} for AutoTrain's
  chat_template: tokenizer. It renders the same prompt for SmolLM2, but templates that
  change the generation prompt (Qwen3's empty think block) drift: prefer `text`.

AutoTrain's SFT puts the loss on every token (prompt included) and packs rows; it has no
answer-only setting. docs/cloud.md says what that changes.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from core.config import check, load_config
from core.errors import DataError


@dataclass
class AutoTrainExportConfig:
    preset: str = "smollm2-135m"                 # train/configs/<preset>.yaml: base and LoRA settings
    train: str = "data/train_data.json"
    eval: str = "data/eval_data.json"            # "" = no valid split
    out: str = "data/autotrain"
    format: Literal["text", "messages"] = "text"
    tokenizer: str = ""                          # renders the prompt; "" = the preset base (GGUF offline)
    limit: int = 0                               # 0 = every pair
    project_name: str = "typo-corrector"

    def __post_init__(self) -> None:
        check(self.limit >= 0, f"limit must be >= 0, got {self.limit}")
        check(bool(self.out), "out must name a folder")


def preset_settings(preset: str) -> dict:
    """The training preset, read as a file (datagen imports no other stage)."""
    from core.paths import input_path

    path = input_path(f"train/configs/{preset}.yaml")
    if not path.is_file():
        raise DataError(f"preset {preset!r} not found ({path}); presets live in train/configs/")
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _tokenizer(cfg: AutoTrainExportConfig, preset: dict):
    from core.loading import load_tokenizer, pick_base

    if cfg.tokenizer:
        return load_tokenizer(cfg.tokenizer)
    model = preset.get("model", {})
    return load_tokenizer(pick_base(model.get("base", ""), model.get("offline_base", "")))


def uses_system_role(tokenizer) -> bool:
    """Whether our prompt keeps the instruction as a system message for this template (Gemma's
    rejects the role, and core.prompt then folds it into the user turn)."""
    from core.prompt import build_prompt, messages, template_kind

    if template_kind(tokenizer) == "plain":
        return True
    kwargs = dict(tokenize=False, add_generation_prompt=True, enable_thinking=False)
    return build_prompt(tokenizer, "x") == tokenizer.apply_chat_template(messages("x", True), **kwargs)


def text_row(tokenizer, pair: dict) -> dict:
    """prompt + answer + end-of-turn, as one string: what our trainer's ids decode to."""
    from core.prompt import answer_eos_id, build_prompt

    eot = tokenizer.convert_ids_to_tokens(answer_eos_id(tokenizer))
    return {"text": build_prompt(tokenizer, pair["input"]) + pair["output"] + eot}


def messages_row(pair: dict, system: bool) -> dict:
    from core.prompt import messages

    return {"messages": [*messages(pair["input"], system), {"role": "assistant", "content": pair["output"]}]}


def read_pairs(path: str, limit: int) -> list[dict]:
    from core.paths import input_path
    from datagen import load_pairs

    p = input_path(path)
    if not p.is_file():
        raise DataError(f"pairs file not found: {p} (make data writes data/train_data.json)")
    rows = load_pairs(p)
    bad = next((i for i, r in enumerate(rows, 1) if not isinstance(r.get("input"), str)
                or not isinstance(r.get("output"), str) or not r["output"]), None)
    if bad is not None:
        raise DataError(f"{p}:{bad}: a pair needs string 'input' and non-empty string 'output'")
    return rows[:limit] if limit else rows


def autotrain_yaml(cfg: AutoTrainExportConfig, preset: dict, has_valid: bool) -> dict:
    """AutoTrain's CLI config (`autotrain --config autotrain.yml`) with our preset's settings."""
    model, lora = preset.get("model", {}), preset.get("lora", {})
    data, optim, loop = preset.get("data", {}), preset.get("optim", {}), preset.get("train", {})
    targets = lora.get("target_modules", ["all-linear"])
    return {
        "task": "llm-sft",
        "base_model": model.get("base", ""),
        "project_name": cfg.project_name,
        "log": "tensorboard",
        "backend": "local",
        "data": {"path": ".", "train_split": "train", "valid_split": "valid" if has_valid else None,
                 "chat_template": "tokenizer" if cfg.format == "messages" else None,
                 "column_mapping": {"text_column": cfg.format}},
        "params": {
            "block_size": data.get("max_length", 512), "model_max_length": data.get("max_length", 512),
            "epochs": max(1, round(float(loop.get("epochs", 1)))), "batch_size": 16,
            "gradient_accumulation": 1, "lr": optim.get("lr", 2e-4),
            "scheduler": optim.get("schedule", "cosine"), "warmup_ratio": 0.05,
            "weight_decay": optim.get("weight_decay", 0.0), "max_grad_norm": optim.get("grad_clip", 1.0),
            "optimizer": "adamw_torch", "mixed_precision": "bf16", "padding": "right",
            "peft": True, "quantization": None, "merge_adapter": False,
            "lora_r": lora.get("r", 16), "lora_alpha": lora.get("alpha", 32),
            "lora_dropout": lora.get("dropout", 0.0),
            "target_modules": ",".join(targets) if targets != ["all-linear"] else "all-linear",
            "add_eos_token": cfg.format == "messages",  # the text rows end with the end-of-turn already
        },
        "hub": {"username": "${HF_USERNAME}", "token": "${HF_TOKEN}", "push_to_hub": False},
    }


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def export(cfg: AutoTrainExportConfig) -> Path:
    """Write train.jsonl, valid.jsonl and autotrain.yml under cfg.out; returns the folder."""
    from core.paths import output_path
    from core.prompt import template_kind
    from core.runs import atomic_write_text

    preset = preset_settings(cfg.preset)
    tok = _tokenizer(cfg, preset)
    if cfg.format == "messages" and template_kind(tok) == "plain":
        raise DataError(f"the {cfg.preset} base has no chat template (AutoTrain would apply its own ChatML): "
                        "use format=text, which carries our plain prompt")
    system = uses_system_role(tok)
    row = (lambda p: text_row(tok, p)) if cfg.format == "text" else (lambda p: messages_row(p, system))
    out = output_path(cfg.out)
    splits = {"train": cfg.train, "valid": cfg.eval}
    counts = {}
    for split, path in splits.items():
        if not path:
            continue
        rows = [row(p) for p in read_pairs(path, cfg.limit)]
        atomic_write_text(out / f"{split}.jsonl", _jsonl(rows))
        counts[split] = len(rows)
    head = (f"# AutoTrain LLM SFT config written by `python -m datagen.autotrain` from preset {cfg.preset}.\n"
            f"# Run it beside train.jsonl: autotrain --config autotrain.yml (or upload train.jsonl in the\n"
            f"# AutoTrain UI with the same parameters). See docs/cloud.md, AutoTrain.\n")
    body = yaml.safe_dump(autotrain_yaml(cfg, preset, "valid" in counts), sort_keys=False)
    atomic_write_text(out / "autotrain.yml", head + body)
    print(f"autotrain: {', '.join(f'{k} {v} rows' for k, v in counts.items())} ({cfg.format}) -> {out}",
          file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    from core.cli import Flag, flag_overrides, run_cli, stage_parser

    flags = (Flag("--preset", "preset", "training preset whose base and LoRA settings to match"),
             Flag("--format", "format", "text (our prompt applied) or messages (chat_template: tokenizer)"),
             Flag("--out", "out", "output folder (default data/autotrain)"),
             Flag("--limit", "limit", "at most N pairs per split (0 = all)", typed=True))
    ap = stage_parser("python -m datagen.autotrain", __doc__.split("\n\n")[0], "", flags)
    args = ap.parse_args(argv)

    def body() -> int:
        overrides = flag_overrides(args, flags) + args.overrides
        cfg = load_config(AutoTrainExportConfig, args.config or None, overrides)
        print(export(cfg))
        return 0
    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
