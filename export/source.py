"""Where the weights come from: a training run dir (LoRA adapter/ merged onto its base,
else merged/), a model dir (config.json), or an adapter dir. Errors say what to pass."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.config import ConfigError
from core.files import refuse_special
from core.paths import input_path


class SourceError(ConfigError):
    """The model/run directory is missing, incomplete, or does not fit its base."""


@dataclass
class Source:
    path: Path  # what the user gave (resolved)
    model_dir: Path | None  # full model folder, or None when merging an adapter
    adapter_dir: Path | None = None
    base: str | None = None  # base model the adapter is merged onto
    run_dir: Path | None = None  # training run dir, when known
    tokenizer_dir: Path | None = None

    def describe(self) -> dict:
        return {"path": str(self.path), "run_dir": str(self.run_dir) if self.run_dir else None,
                "model_dir": str(self.model_dir) if self.model_dir else None,
                "adapter_dir": str(self.adapter_dir) if self.adapter_dir else None, "base": self.base}


def _run_of(model_dir: Path) -> Path | None:
    """`runs/train/<name>/merged` -> the run dir (it holds config.yaml)."""
    parent = model_dir.parent
    return parent if (parent / "config.yaml").is_file() else None


def resolve_source(path: str | Path, base: str = "") -> Source:
    given = input_path(path)
    refuse_special(given, "model", SourceError)  # a named pipe or a symlink loop: said as such
    if not given.exists():
        raise SourceError(f"model or run directory not found: {given} (train first with "
                          f"`make train`, or pass --model runs/train/<name>)")
    p = given.resolve()  # models/checkpoint is a symlink to the newest run's merged/
    if (p / "adapter" / "adapter_config.json").is_file():
        return _adapter_source(p, p / "adapter", base, run_dir=p)
    if (p / "adapter_config.json").is_file():
        return _adapter_source(p, p, base, run_dir=_run_of(p))
    if (p / "merged" / "config.json").is_file():
        return Source(p, p / "merged", run_dir=p, tokenizer_dir=p / "merged")
    if (p / "config.json").is_file():
        return Source(p, p, run_dir=_run_of(p), tokenizer_dir=p)
    if p.is_file():
        raise SourceError(f"{given}: a file; --model takes a training run, model or LoRA adapter folder")
    raise SourceError(f"{given}: neither a training run (adapter/ or merged/) nor a model folder "
                      f"(config.json) nor a LoRA adapter (adapter_config.json)")


def _adapter_source(p: Path, adapter: Path, base: str, run_dir: Path | None) -> Source:
    from core.loading import ModelLoadError, read_adapter_config

    try:  # the whole file, its types checked (one reader with core.loading's merge)
        cfg = read_adapter_config(adapter)
    except ModelLoadError as exc:
        raise SourceError(str(exc)) from None
    base = base or cfg.get("base_model_name_or_path") or ""
    if not base:
        raise SourceError(f"{adapter}/adapter_config.json names no base model; pass base=<model dir>")
    tok = next((d for d in (adapter, p / "merged", p) if (d / "tokenizer.json").is_file()), None)
    return Source(p, None, adapter_dir=adapter, base=base, run_dir=run_dir, tokenizer_dir=tok)


def check_adapter_fits(model, adapter_dir: Path, base: str) -> None:
    """Every LoRA pair must sit on a Linear of the base with matching width, else the
    adapter was trained for another base (peft would only warn about missing keys)."""
    from safetensors import safe_open

    from core.files import check_safetensors

    f = adapter_dir / "adapter_model.safetensors"
    if not f.exists():
        raise SourceError(f"{adapter_dir}: no adapter_model.safetensors")
    check_safetensors(f, SourceError)  # a truncated file is named here, not deep in safetensors
    with safe_open(str(f), "pt") as st:
        for key in st.keys():
            if not key.endswith(("lora_A.weight", "lora_B.weight")):
                continue
            name = key.removeprefix("base_model.model.").rsplit(".lora_", 1)[0]
            shape = st.get_slice(key).get_shape()
            want = ("in_features", shape[1]) if ".lora_A." in key else ("out_features", shape[0])
            try:
                mod = model.get_submodule(name)
            except AttributeError:
                mod = None
            have = getattr(mod, want[0], None)
            if have != want[1]:
                raise SourceError(
                    f"adapter {adapter_dir} does not fit base model {base!r}: layer {name} has "
                    f"{want[0]}={have} in the base but the adapter expects {want[1]}. The adapter was "
                    f"trained for a different base model; pass the right one with base=<model dir>.")


def load_source_model(src: Source):
    """fp32 eval model: the full model, or the base with the adapter merged in."""
    import torch

    from core.loading import load_model

    if src.model_dir is not None:
        return load_model(str(src.model_dir), dtype=torch.float32).eval()
    from core.loading import ModelLoadError, attach_adapter

    try:
        model = load_model(src.base, dtype=torch.float32)
    except ModelLoadError as exc:
        hint = (f" The run also holds a merged model: pass --model {src.run_dir / 'merged'}"
                if src.run_dir and (src.run_dir / "merged" / "config.json").is_file() else "")
        raise SourceError(f"cannot load base model {src.base!r} to merge {src.adapter_dir} into: "
                          f"{exc}.{hint}") from exc
    check_adapter_fits(model, src.adapter_dir, src.base)
    try:  # core.loading's attach: the config's types and every tensor's landing checked
        peft_model = attach_adapter(model, src.adapter_dir, src.base)
    except ModelLoadError as exc:
        raise SourceError(str(exc)) from None
    return peft_model.merge_and_unload().eval()


def load_source_tokenizer(src: Source):
    from core.loading import load_tokenizer

    return load_tokenizer(str(src.tokenizer_dir or src.base))
