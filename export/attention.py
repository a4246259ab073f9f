"""Which attention an exported decoder runs (`attention=` in export/configs/*.yaml).

auto (the default): the lean decoder (export/lean_attention.py: standard ops only, an in-place KV
cache, grouped bmm's) for the architectures it re-implements (Llama/SmolLM2, Gemma 3, Qwen3), and
transformers' static-cache wrapper (export/lower.py) for any other. Why lean first: on the released
SmolLM2 corrector it decodes ~4x faster on the runner with the same answers where the weights are
the same (fp32 token-exact with eager; INT4 lean = INT4 static in quality, export/README.md), and
the host, arm64 and Android runners load it with no extra kernels.
lean / static: force one (lean fails on an architecture it does not re-implement).
A recipe that brings its own attention (the custom-SDPA recipes, the `-lean` recipes) keeps it."""
from __future__ import annotations

from typing import Any, Callable

from core.config import ConfigError

MODES = ("auto", "lean", "static")


def check_mode(mode: str) -> None:
    """The one check of an `attention` value (config, export_model, resolve)."""
    if mode not in MODES:
        raise ConfigError(f"attention must be {', '.join(MODES[:-1])} or {MODES[-1]}, got {mode!r}")


def resolve(rec, model: Any, mode: str) -> tuple[Callable, bool, str]:
    """(prepare(model, max_seq_len), reinplace, label) for recipe `rec` on this model."""
    from export import lean_attention, lower

    check_mode(mode)
    if rec.prepare is not None:
        if mode != "auto" and mode != rec.attention:
            raise ConfigError(f"recipe {rec.name!r} brings its own attention ({rec.attention}); "
                              f"attention={mode} cannot apply to it: use attention=auto")
        return rec.prepare, rec.reinplace, rec.attention
    kind = getattr(model.config, "model_type", "?")
    if mode == "lean" or (mode == "auto" and kind in lean_attention.SUPPORTED):
        return lean_attention.prepare_model, True, "lean"
    return lower.prepare_model, False, "static"
