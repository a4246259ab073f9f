"""Readers for real word-level misspelling lists (../shared/data/misspellings): the
Mitton `.dat` format (`$correct` then one misspelling per line, optionally followed by a
count), TOEFL-Spell annotations (TSV) and Norvig's spell-testset (Python dict literal).
Used by the realism report and, optionally, as a noise source (noise.misspellings_path)."""
from __future__ import annotations

import ast
import csv
import io
from pathlib import Path

from core.files import refuse_special
from datagen.sources import DataError, read_lines


def read_dat(path: Path) -> list[tuple[str, str]]:
    pairs, correct = [], None
    for no, line in read_lines(path, "skip"):
        if not line or not line.strip():
            continue
        if line.startswith("$"):
            correct = line[1:].strip()
            continue
        if correct is None:
            raise DataError(f"{path}:{no}: misspelling before any $correct line")
        wrong = line.split()[0]
        pairs.append((correct, wrong))
    return pairs


def _text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 ({exc.reason} at byte {exc.start})") from None


def read_toefl(path: Path) -> list[tuple[str, str]]:
    try:
        rows = list(csv.DictReader(io.StringIO(_text(path), newline=""), delimiter="\t"))
    except csv.Error as exc:
        raise DataError(f"{path}: not a TOEFL-Spell TSV ({exc})") from None
    return [(r["Correction"], r["Misspelling"]) for r in rows if r.get("Correction") and r.get("Misspelling")]


def read_norvig(path: Path) -> list[tuple[str, str]]:
    text = _text(path)
    try:
        table = ast.literal_eval(text.split("=", 1)[1].strip())
    except (IndexError, ValueError, SyntaxError, RecursionError, MemoryError) as exc:
        raise DataError(f"{path}: not a Norvig spell-testset dict ({type(exc).__name__}: "
                        f"{str(exc)[:120]})") from None
    if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in table.items()):
        raise DataError(f"{path}: not a Norvig spell-testset dict (want {{'right': 'wrong1 wrong2', ...}}, "
                        "strings only)")
    return [(right, wrong) for right, wrongs in table.items() for wrong in wrongs.split()]


def _format(path: Path):
    if path.suffix == ".dat":
        return read_dat
    if path.suffix == ".tsv":
        return read_toefl
    if path.name.startswith("spell-testset"):
        return read_norvig
    raise DataError(f"{path}: unknown misspelling list format (want .dat, .tsv or spell-testset*.txt)")


def read_any(path: Path) -> list[tuple[str, str]]:
    return _format(path)(path)


def list_files(path: Path) -> list[Path]:
    refuse_special(path, "misspelling lists", DataError)  # a named pipe is never opened
    if not path.exists():
        raise DataError(f"{path}: misspelling lists not found")
    if path.is_file():
        _format(path)  # known before anything is read or written
        return [path]
    files = sorted(f for f in path.iterdir() if f.is_file()
                   and (f.suffix in (".dat", ".tsv") or f.name.startswith("spell-testset")))
    if not files:  # a noise source that adds nothing must not pass silently
        raise DataError(f"{path}: folder holds no misspelling lists (.dat, .tsv, spell-testset*.txt)")
    return files


def word_pairs(path: Path) -> dict[str, list[tuple[str, str]]]:
    """(correct, misspelled) word pairs per list file, single words only, case kept."""
    out = {}
    for f in list_files(path):
        pairs = [(c, w) for c, w in read_any(f)
                 if c.isalpha() and w.isalpha() and c.lower() != w.lower() and c != "?"]
        if not pairs:  # a noise source that adds nothing must not pass silently
            raise DataError(f"{f}: holds no misspelling (no word with a misspelt form under it)")
        out[f.name] = pairs
    return out


def load_misspellings(path: Path) -> dict[str, list[str]]:
    """correct (lowercase) -> real misspellings, for the noise model."""
    table: dict[str, list[str]] = {}
    for pairs in word_pairs(path).values():
        for c, w in pairs:
            table.setdefault(c.lower(), []).append(w.lower())
    return {k: sorted(set(v)) for k, v in table.items()}
