"""Bench inputs on the host: eval pairs, models (+ tokenizer and metadata), requests."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import decoding, prompt
from core.errors import BenchError
from core.files import check_input, check_recorded_file, check_tokenizer_json, read_json, refuse_special
from core.paths import input_path
from core.runs import sha256_file
from evaluation.eval_sets import BenchmarkError, load_benchmark, read_jsonl


class BenchInputError(BenchError, ValueError):
    """A bench input (eval file, model, tokenizer) is missing or malformed."""


def load_eval(path: str | Path, limit: int = 0) -> list[dict]:
    """JSON Lines pairs {"input", "output"} -> [{"id", "input", "output"}] (first `limit`).
    Parsed by the evaluation's reader, so bench and evaluation accept the same files."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise BenchInputError(f"eval file not found: {path} (run `make data`, or pass --eval)")
    check_input(path, "eval file", BenchInputError, want="file")  # stat only: a FIFO is never opened
    try:
        pairs = read_jsonl(path).pairs
    except BenchmarkError as exc:
        raise BenchInputError(str(exc)) from None
    pairs = pairs[:limit] if limit else pairs
    rows = [{"id": f"s{i:05d}", "input": p.input, "output": p.reference} for i, p in enumerate(pairs)]
    if not rows:
        raise BenchInputError(f"{path}: no eval pairs")
    return rows


def main_set(eval_path: str | Path) -> str:
    """The name of the main (synthetic) eval set in the report: its file's stem."""
    return Path(eval_path).stem or "eval"


def load_real(path: str | Path, limit: int, main: str) -> tuple[list[dict], dict]:
    """The real human-typo slice (any benchmark evaluation.eval_sets reads), its first `limit`
    pairs -> samples {"id": "r00000", "input", "output", "set"} and the set's record
    {"name", "path", "sha256" (of the samples), "n", "case_insensitive", "main": False}."""
    where = input_path(path)
    refuse_special(where, "real_eval", BenchInputError)  # stat only: a FIFO is never opened
    if not where.exists():
        raise BenchInputError(f"real_eval {path}: not found (a benchmark folder such as "
                              "../shared/data/eval/neuspell-bea4660, or a pairs .json file)")
    try:
        full = load_benchmark(where)
    except BenchmarkError as exc:
        raise BenchInputError(f"real_eval {path}: {exc}") from None
    bench = full.head(limit)
    name = f"{full.name}[:{limit}]" if 0 < limit < len(full.pairs) else full.name
    name = f"{name} (real)" if name == main else name
    rows = [{"id": f"r{i:05d}", "input": p.input, "output": p.reference, "set": name}
            for i, p in enumerate(bench.pairs)]
    if not rows:
        raise BenchInputError(f"real_eval {path}: no pairs")
    digest = hashlib.sha256(json.dumps([[r["input"], r["output"]] for r in rows]).encode()).hexdigest()
    return rows, {"name": name, "path": str(path), "sha256": digest, "n": len(rows),
                  "case_insensitive": bench.case_insensitive, "fixes": list(bench.fixes), "main": False}


def fits(tok, text: str, max_seq_len: int | None) -> bool:
    """Whether a copy of `text` as the answer fits the model's static cache after its prompt."""
    if max_seq_len is None:
        return True
    n_prompt = len(prompt.prompt_ids_and_span(tok, text)[0])
    return n_prompt + len(tok(text, add_special_tokens=False)["input_ids"]) + 1 <= max_seq_len


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


def _is_pos_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


# metadata keys the bench reads (anywhere in the record, as _find_key finds them) and their types
_META_TYPES: dict[str, tuple[Any, str]] = {
    "recipe": (lambda v: isinstance(v, str), "a string"),
    "backend": (lambda v: isinstance(v, str), "a string"),
    "max_seq_len": (_is_pos_int, "a positive integer"),
    "chat_template": (lambda v: v is None or isinstance(v, str), "a string"),
    "instruction": (lambda v: v is None or isinstance(v, str), "a string"),
    "decoding": (lambda v: isinstance(v, dict), "an object"),
    "eos_ids": (lambda v: isinstance(v, list) and all(isinstance(i, int) and not isinstance(i, bool)
                                                      and i >= 0 for i in v), "a list of token ids"),
}


def _check_metadata_types(meta_path: Path, meta: dict) -> None:
    for key, (ok, want) in _META_TYPES.items():
        value = meta.get(key) if key in meta else _find_key(meta, key)
        if value is not None and not ok(value):
            raise BenchInputError(f"{meta_path}: {key} must be {want}, got {value!r}")


def load_model_info(path: str | Path) -> ModelInfo:
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise BenchInputError(f"model not found: {path} (run `make export`)")
    check_input(path, "model", BenchInputError, want="file")  # a FIFO is never opened
    if path.stat().st_size == 0:
        raise BenchInputError(f"model {path}: empty file (0 bytes): re-export it")
    meta_path = path.with_suffix(".json")
    meta = {}
    size, sha = path.stat().st_size, sha256_file(path)
    if meta_path.exists() or meta_path.is_symlink():
        meta = read_json(meta_path, BenchInputError, what="metadata")
        check_recorded_file(path, meta_path, meta, BenchInputError)
        _check_metadata_types(meta_path, meta)
    tok = path.parent / "tokenizer.json"
    if tok.exists() or tok.is_symlink():
        check_tokenizer_json(tok, BenchInputError)  # whole and loadable, before any unit runs
    return ModelInfo(path, path.stem, size, sha, meta, tok if tok.exists() else None)


def load_tokenizer(model: ModelInfo):
    """The tokenizer beside the .pte: a HF tokenizer folder, or tokenizer.json + the
    chat template recorded in the export metadata; the metadata's instruction either way."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    from core.loading import ModelLoadError, check_local_folder
    from core.prompt import set_instruction

    folder = model.path.parent
    if (folder / "tokenizer_config.json").is_file():
        try:
            check_local_folder(folder, "tokenizer")
            tok = AutoTokenizer.from_pretrained(folder)
        except ModelLoadError as exc:
            raise BenchInputError(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - transformers/tokenizers errors on a bad file
            raise BenchInputError(f"tokenizer beside {model.path} in {folder} cannot be loaded "
                                  f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") \
                from None
    elif model.tokenizer_path is not None:
        try:
            tok = PreTrainedTokenizerFast(tokenizer_file=str(model.tokenizer_path))
        except Exception as exc:  # noqa: BLE001 - tokenizers raises bare Exception
            raise BenchInputError(f"tokenizer {model.tokenizer_path}: cannot be loaded ({exc})") from None
    else:
        raise BenchInputError(f"no tokenizer.json beside {model.path} (export writes one)")
    if not getattr(tok, "chat_template", None):
        template = _find_key(model.metadata, "chat_template")
        if template:
            tok.chat_template = template
        # a base without a chat template (Gemma 3 270M base) was exported with core.prompt's plain
        # template, which a tokenizer without a chat template gets anyway
        elif _find_key(model.metadata, "template") != "plain":
            raise BenchInputError(f"{model.path}: tokenizer has no chat template and the metadata "
                                  f"{model.path.with_suffix('.json')} records none")
    said = _find_key(model.metadata, "instruction")
    if said:  # what the model was trained and exported with (core.prompt: travels with the tokenizer)
        set_instruction(tok, said)
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
                                  f"max_seq_len {max_seq_len}: shorten it, leave it out of the eval file, or "
                                  "export with a larger max_seq_len")
        req = {"id": s["id"], "prompt_ids": ids, "max_new_tokens": room}
        if span:
            req["source_span"] = list(span)  # guides copy drafts (runner README)
        out.append(req)
    return out
