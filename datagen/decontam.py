"""Keys for duplicate detection and decontamination.

`dedup_key` keeps only lowercase letters and digits, so two sentences that differ in
case, punctuation, spacing or tokenisation ("do n't" vs "don't") share a key: that is
both our near-duplicate test and how a training sentence is matched against an
evaluation set (the BEA sets are lowercased and tokenised)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from core.files import loads_strict, refuse_special
from datagen.sources import DataError, read_lines
from datagen.text import normalize, split_sentences

_ERR_TAG = re.compile(r"<ERR targ=([^>]*)>.*?</ERR>")
MIN_KEY_CHARS = 12  # shorter eval lines ("yes.") would knock out too much


_NOT_ALNUM_BYTES = bytes(c for c in range(128) if not chr(c).isalnum())


def dedup_key(text: str) -> str:
    """Lowercase ASCII letters and digits only (accents and symbols dropped); the bytes
    route is several times faster than a regex and this runs once per sentence."""
    return text.lower().encode("ascii", "ignore").translate(None, _NOT_ALNUM_BYTES).decode()


def _eval_sentences(path: Path) -> list[str]:
    """The clean sentences an evaluation file holds (any format we know, else lines)."""
    out: list[str] = []
    suffix = path.suffix.lower()
    lines = [line for _, line in read_lines(path, "skip") if line]
    if suffix in (".json", ".jsonl"):
        for no, line in enumerate(lines, 1):
            try:
                row = loads_strict(line)
            except json.JSONDecodeError:
                raise DataError(f"{path}:{no}: eval set line is not JSON") from None
            except ValueError as exc:  # nested too deeply (a RecursionError otherwise), a key twice, NaN
                raise DataError(f"{path}:{no}: eval set line is not valid JSON ({exc})") from None
            if isinstance(row, dict):
                out += [row[k] for k in ("output", "correct", "target") if isinstance(row.get(k), str)]
        return out
    out += [_ERR_TAG.sub(r"\1", line) for line in lines]
    out += _ukp_corrected(lines)
    return out


def _ukp_corrected(lines: list[str]) -> list[str]:
    """UKP real-word blocks: id / revision / wrong / right / offset / sentence."""
    out = []
    for i in range(len(lines) - 5):
        a, b, wrong, right, off, sent = lines[i:i + 6]
        if a.isdigit() and b.isdigit() and off.isdigit() and " " not in wrong.strip():
            k = int(off)
            if sent[k:k + len(wrong)] == wrong:
                out.append(sent[:k] + right + sent[k + len(wrong):])
    return out


EVAL_SUFFIXES = {".txt", ".dat", ".json", ".jsonl"}


def eval_files(root: Path) -> list[Path]:
    """The files of an evaluation set to decontaminate against (a file, or a folder's
    .txt/.dat/.json/.jsonl files); cheap, so the CLI checks them before anything is written."""
    refuse_special(root, "evaluation set to decontaminate against", DataError)  # never read a FIFO
    if not root.exists():
        raise DataError(f"{root}: evaluation set to decontaminate against not found")
    files = [root] if root.is_file() else sorted(
        f for f in root.rglob("*")
        if f.is_file() and f.suffix.lower() in EVAL_SUFFIXES and f.name != "set.json")  # set.json: metadata
    if not files:  # decontaminating against nothing must not pass for decontaminated
        raise DataError(f"{root}: evaluation set to decontaminate against holds no "
                        f"{', '.join(sorted(EVAL_SUFFIXES))} files")
    return files


def load_eval_keys(paths: list[Path]) -> tuple[set[str], dict[str, int]]:
    """Keys of every sentence (and every line) of the given eval files/folders."""
    keys: set[str] = set()
    per_file: dict[str, int] = {}
    for root in paths:
        files = eval_files(root)
        for f in files:
            n0 = len(keys)
            for line in _eval_sentences(f):
                line = normalize(line)
                for s in [line] + split_sentences(line):
                    k = dedup_key(s)
                    if len(k) >= MIN_KEY_CHARS:
                        keys.add(k)
            per_file[str(f)] = len(keys) - n0
    return keys, per_file
