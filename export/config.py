"""Typed export config (export/configs/*.yaml + key=value overrides)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.config import check


@dataclass
class ExportConfig:
    model: str = "models/checkpoint"  # training run dir, merged model dir, or adapter dir
    base: str = ""  # base model to merge an adapter onto (default: the adapter's own record)
    recipes: list[str] = field(default_factory=lambda: ["xnnpack-int8", "xnnpack-int4"])
    out_dir: str = "models"
    name: str = "typing-corrector"
    max_seq_len: int = 512  # static KV cache size = longest prompt + answer
    group_size: int = 32  # int4 weight groups (xnnpack-int4)
    # auto: the lean decoder where the architecture has one (Llama family), else transformers'
    # static cache; lean | static force one (export/attention.py)
    attention: str = "auto"
    # pairs whose prompt+answer must fit max_seq_len; auto = data/eval_data.json if present; "" = skip
    eval_data: str = "auto"
    # recipes exported at once, each in its own process (lowering is single-threaded Python):
    # 0 = as many as there are recipes, cores and memory for (see export.parallel)
    jobs: int = 0

    def __post_init__(self) -> None:
        check(16 <= self.max_seq_len <= 32768, f"max_seq_len must be in 16..32768, got {self.max_seq_len}")
        check(self.group_size in (16, 32, 64, 128, 256),
              f"group_size must be 16, 32, 64, 128 or 256, got {self.group_size}")
        check(self.jobs >= 0, f"jobs must be >= 0 (0 = auto), got {self.jobs}")
        from export.attention import check_mode

        check_mode(self.attention)
        check(len(self.recipes) > 0, "recipes must name at least one recipe")
        plain = re.fullmatch(r"[A-Za-z0-9_][\w.+=@,-]*", self.name, re.A)
        check(plain is not None and len(self.name) <= 100,
              f"name must be a plain file name (letters, digits and _ . - + = @ , ; no '/', no leading dot, "
              f"no spaces or control characters), got {self.name!r}")


def pte_name(name: str, recipe: str) -> str:
    """typing-corrector + xnnpack-int8 -> typing-corrector-int8.pte (xnnpack-int4-sdpa ->
    typing-corrector-int4-sdpa.pte)"""
    return f"{name}-{recipe.removeprefix('xnnpack-')}.pte"
