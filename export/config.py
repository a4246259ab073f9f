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
    # auto: the lean decoder where the architecture has one (Llama, Gemma 3, Qwen3), else transformers'
    # static cache; lean | static force one (export/attention.py)
    attention: str = "auto"
    # pairs whose prompt+answer must fit max_seq_len; auto = data/eval_data.json if present; "" = skip
    eval_data: str = "auto"
    # recipes exported at once, each in its own process (lowering is single-threaded Python):
    # 0 = as many as there are recipes, cores and memory for (see export.parallel)
    jobs: int = 0
    # Vocabulary trim (export/vocab_trim.py): keep the corpus's tokens, the special and byte-fallback
    # tokens, and their BPE merges. off | on | auto; auto trims only vocabularies above
    # vocab_trim.AUTO_TRIM_ABOVE (100,000: Gemma 3's 262,144). Off by default: on a Gemma 3 adapter
    # the trim cost 2.5 points of exact match on the typed messages even keeping every training
    # token (export/README.md), so a file only gets it when its user asks (a phone-sized Gemma file).
    vocab_trim: str | bool = "off"  # YAML reads a bare off/on as false/true: taken as off/on
    # pairs (JSON Lines) whose tokens are kept; auto = the training run's own data.train, else
    # data/train_data.json. Never an evaluation set: that would hide what the trim costs there.
    vocab_corpus: str = "auto"
    # a token must occur in at least this many corpus pairs (1 = every token the corpus uses)
    vocab_min_count: int = 1

    def __post_init__(self) -> None:
        check(16 <= self.max_seq_len <= 32768, f"max_seq_len must be in 16..32768, got {self.max_seq_len}")
        check(self.group_size in (16, 32, 64, 128, 256),
              f"group_size must be 16, 32, 64, 128 or 256, got {self.group_size}")
        check(self.jobs >= 0, f"jobs must be >= 0 (0 = auto), got {self.jobs}")
        from export.attention import check_mode

        check_mode(self.attention)
        check(len(self.recipes) > 0, "recipes must name at least one recipe")
        self._check_vocab_trim()
        plain = re.fullmatch(r"[A-Za-z0-9_][\w.+=@,-]*", self.name, re.A)
        check(plain is not None and len(self.name) <= 100,
              f"name must be a plain file name (letters, digits and _ . - + = @ , ; no '/', no leading dot, "
              f"no spaces or control characters), got {self.name!r}")

    def _check_vocab_trim(self) -> None:
        if isinstance(self.vocab_trim, bool):
            self.vocab_trim = "on" if self.vocab_trim else "off"
        check(self.vocab_trim in ("off", "on", "auto"),
              f"vocab_trim must be off, on or auto, got {self.vocab_trim!r}")
        check(self.vocab_corpus.strip() != "",
              "vocab_corpus must be auto or a pairs file (JSON Lines with input and output), got ''")
        check(self.vocab_min_count >= 1,
              f"vocab_min_count must be >= 1 (pairs a kept token occurs in), got {self.vocab_min_count}")


def pte_name(name: str, recipe: str) -> str:
    """typing-corrector + xnnpack-int8 -> typing-corrector-int8.pte (xnnpack-int4-sdpa ->
    typing-corrector-int4-sdpa.pte)"""
    return f"{name}-{recipe.removeprefix('xnnpack-')}.pte"
