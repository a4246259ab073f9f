"""Bench inputs on the host: eval pairs, models (+ tokenizer and metadata), requests."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import decoding, prompt
from core.errors import BenchError
from core.runs import sha256_file
from evaluation.eval_sets import BenchmarkError, read_jsonl


class BenchInputError(BenchError, ValueError):
    """A bench input (eval file, model, tokenizer) is missing or malformed."""


def load_eval(path: str | Path, limit: int = 0) -> list[dict]:
    """JSON Lines pairs {"input", "output"} -> [{"id", "input", "output"}] (first `limit`).
    Parsed by the evaluation's reader, so bench and evaluation accept the same files."""
    path = Path(path)
    if not path.is_file():
        raise BenchInputError(f"eval file not found: {path} (run `make data`, or pass --eval)")
    try:
        pairs = read_jsonl(path).pairs
    except BenchmarkError as exc:
        raise BenchInputError(str(exc)) from None
    pairs = pairs[:limit] if limit else pairs
    rows = [{"id": f"s{i:05d}", "input": p.input, "output": p.reference} for i, p in enumerate(pairs)]
    if not rows:
        raise BenchInputError(f"{path}: no eval pairs")
    return rows


def _find_key(obj: Any, key: str) -> Any:
    """First value of `key` anywhere in nested metadata (its layout belongs to export)."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for v in obj.values():
            found = _find_key(v, key)
            if found is not None:
                return found
    return None


def _recorded_decoding(metadata: dict, where: Path) -> dict[str, int]:
    """Copy-speculation defaults recorded at export (metadata "decoding"), so the runner
    decodes as the export's Python checks did; keys an older export lacks come from
    core/decoding_defaults.json."""
    recorded = _find_key(metadata, "decoding")
    recorded = recorded if isinstance(recorded, dict) else {}
    out = decoding.defaults()
    for key in out:
        if key in recorded:
            out[key] = decoding.check_value(key, recorded[key], str(where), BenchInputError, "decoding.")
    return out


@dataclass
class ModelInfo:
    path: Path
    name: str
    size_bytes: int
    sha256: str
    metadata: dict = field(default_factory=dict)
    tokenizer_path: Path | None = None
    decoding: dict[str, int] = field(init=False)  # copy-mode settings the model was exported with

    def __post_init__(self) -> None:
        # Resolved on load, so a malformed record fails before any unit runs.
        self.decoding = _recorded_decoding(self.metadata, self.path.with_suffix(".json"))

    @property
    def quantization(self) -> str:
        """Short tag (int4 / int8 / fp32) from the export recipe, else the file name."""
        for text in (str(self.metadata.get("recipe") or ""), self.name):
            for tag in ("int4", "int8", "fp32", "fp16", "bf16"):
                if tag in text:
                    return tag
        q = self.metadata.get("quantization")
        if isinstance(q, dict):
            return str(q.get("scheme") or q.get("name") or "custom")
        return str(q or "unknown")

    @property
    def max_seq_len(self) -> int | None:
        v = _find_key(self.metadata, "max_seq_len")
        return int(v) if isinstance(v, int) else None

    def describe(self) -> dict:
        return {"path": str(self.path), "name": self.name, "size_bytes": self.size_bytes,
                "sha256": self.sha256, "quantization": self.quantization, "backend": self.backend,
                "max_seq_len": self.max_seq_len, "metadata": self.metadata}

    @property
    def backend(self) -> str:
        return str(_find_key(self.metadata, "backend") or "xnnpack")


def load_model_info(path: str | Path) -> ModelInfo:
    path = Path(path)
    if not path.is_file():
        raise BenchInputError(f"model not found: {path} (run `make export`)")
    meta_path = path.with_suffix(".json")
    meta = {}
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise BenchInputError(f"{meta_path}: metadata is not JSON ({exc})") from None
    tok = path.parent / "tokenizer.json"
    return ModelInfo(path, path.stem, path.stat().st_size, sha256_file(path), meta,
                     tok if tok.is_file() else None)


def load_tokenizer(model: ModelInfo):
    """The tokenizer beside the .pte: a HF tokenizer folder, or tokenizer.json + the
    chat template recorded in the export metadata."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    folder = model.path.parent
    if (folder / "tokenizer_config.json").is_file():
        tok = AutoTokenizer.from_pretrained(folder)
    elif model.tokenizer_path is not None:
        tok = PreTrainedTokenizerFast(tokenizer_file=str(model.tokenizer_path))
    else:
        raise BenchInputError(f"no tokenizer.json beside {model.path} (export writes one)")
    if not getattr(tok, "chat_template", None):
        template = _find_key(model.metadata, "chat_template")
        if not template:
            raise BenchInputError(f"{model.path}: tokenizer has no chat template and the metadata "
                                  f"{model.path.with_suffix('.json')} records none")
        tok.chat_template = template
    return tok


def build_requests(tok, samples: list[dict], max_new_tokens: int, max_seq_len: int | None) -> list[dict]:
    """Prompt ids per sentence (the prompt module formats them). New tokens: the same
    budget the evaluation gives (answer_budget of the input length), capped by
    max_new_tokens and by what fits the model's static cache."""
    from evaluation.correctors import answer_budget

    out = []
    for s in samples:
        ids, span = prompt.prompt_ids_and_span(tok, s["input"])
        n_input = len(tok(s["input"], add_special_tokens=False)["input_ids"])
        budget = min(max_new_tokens, answer_budget(n_input))
        room = budget if max_seq_len is None else min(budget, max_seq_len - len(ids))
        if room < 1:
            raise BenchInputError(f"eval sentence {s['id']} ({len(ids)} prompt tokens) does not fit "
                                  f"max_seq_len {max_seq_len}; shorten it or raise limit")
        req = {"id": s["id"], "prompt_ids": ids, "max_new_tokens": room}
        if span:
            req["source_span"] = list(span)  # guides copy drafts (runner README)
        out.append(req)
    return out
