"""Load a base model and tokenizer from a local folder, the built-in tiny preset, or
the Hugging Face Hub, with one clear message when the Hub cannot be reached."""
from __future__ import annotations

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
    p = input_path(name_or_path)
    return str(p) if p.exists() else name_or_path


def _is_local(name: str) -> bool:
    return Path(name).exists()


def _offline_error(name: str, exc: Exception) -> ModelLoadError:
    return ModelLoadError(
        f"could not load '{name}': it is not a local folder and the Hugging Face Hub is not "
        f"reachable (offline?). Use the built-in offline model with PRESET=tiny, point "
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
