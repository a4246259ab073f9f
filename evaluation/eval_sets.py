"""Readers for the evaluation sets: the real typo benchmarks in ../shared/data/eval
(see its README) and the project's own data/eval_data.json (JSON Lines pairs).

    load_benchmarks("../shared/data/eval")          -> every benchmark found there
    load_benchmarks("../shared/data/eval/neuspell-jfleg,data/eval_data.json")
    load_benchmark("../shared/data/eval/holbrook")  -> one Benchmark

Formats:
- neuspell-* : corrupt.txt line i <-> correct.txt line i (BEA sets are lowercased, so
  they are scored case-insensitively)
- ukp-realword: blocks of id / revision / wrong / right / char offset / sentence,
  separated by blank lines (en_natural_test.txt; the real-word error is replaced at
  the offset to build the reference)
- holbrook: running text with inline `<ERR targ=right> wrong </ERR>` tags
- *.json / *.jsonl: one {"input", "output", "errors"?} object per line
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from core.errors import EvalError
from core.files import UTF16_HINT, loads_strict, looks_like_utf16, not_a_regular_file, read_json


class BenchmarkError(EvalError):
    """A benchmark is missing or malformed; the message names the file (and line)."""


@dataclass
class Pair:
    input: str
    reference: str
    errors: list[Any] | None = None


# What a set's references correct. The real learner sets (BEA, JFLEG, Holbrook, UKP) fix
# spelling only: their references keep the writer's case and punctuation, so a model that
# adds a right capital or comma is scored on spelling there (evaluation.metrics).
ALL_FIXES = ("spelling", "case", "punctuation")
SPELLING_ONLY = ("spelling",)
SET_FILE = "set.json"  # in a corrupt/correct folder: {"fixes": [...], "case_insensitive": bool}


@dataclass
class Benchmark:
    name: str
    pairs: list[Pair]
    source: str
    case_insensitive: bool = False
    notes: dict[str, Any] = field(default_factory=dict)
    fixes: tuple[str, ...] = ALL_FIXES

    def head(self, limit: int) -> "Benchmark":
        """The first `limit` pairs (all when limit <= 0)."""
        pairs = self.pairs[:limit] if limit > 0 else self.pairs
        return Benchmark(self.name, pairs, self.source, self.case_insensitive, dict(self.notes), self.fixes)


def _read_lines(path: Path) -> list[str]:
    why = not_a_regular_file(path)  # stat only: a named pipe inside a set folder is never opened
    if why == "not found":
        raise BenchmarkError(f"{path}: file not found")
    if why:
        raise BenchmarkError(f"{path}: {why}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BenchmarkError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if looks_like_utf16(raw):
        raise BenchmarkError(f"{path}: {UTF16_HINT}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BenchmarkError(f"{path}:{line}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    text = text.removeprefix("\ufeff")  # a byte-order mark is no character of the first line
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")  # CRLF, CR and LF end a line alike
    if lines and lines[-1] == "":
        lines.pop()  # the final newline does not start another line
    return [line.rstrip("\r") for line in lines]


# ---------------------------------------------------------------- formats
def read_parallel(folder: Path, name: str | None = None) -> Benchmark:
    """NeuSpell layout: corrupt.txt / correct.txt, aligned line by line."""
    src, ref = _read_lines(folder / "corrupt.txt"), _read_lines(folder / "correct.txt")
    if len(src) != len(ref):
        raise BenchmarkError(
            f"{folder}: corrupt.txt has {len(src)} lines but correct.txt has {len(ref)}; "
            "the two files must be aligned line by line")
    name = name or folder.name
    meta = _set_meta(folder)
    ci = bool(meta.get("case_insensitive", "bea" in name.lower()))
    pairs = [Pair(a, b, derive_errors(a, b, ci)) for a, b in zip(src, ref) if a.strip() or b.strip()]
    return Benchmark(name, pairs, str(folder), case_insensitive=ci,
                     fixes=tuple(meta.get("fixes", SPELLING_ONLY)))


def _set_meta(folder: Path) -> dict[str, Any]:
    """A corrupt/correct folder's set.json; without one, a spelling-only set (NeuSpell's)."""
    path = folder / SET_FILE
    if not path.exists():
        return {}
    meta = read_json(path, BenchmarkError, what="set metadata")  # a key twice is refused, not the last kept
    if not isinstance(meta, dict) or set(meta) - {"fixes", "case_insensitive", "description"}:
        raise BenchmarkError(f"{path}: expected an object with keys fixes, case_insensitive, description")
    fixes = meta.get("fixes", list(SPELLING_ONLY))
    if not isinstance(fixes, list) or not fixes or not set(fixes) <= set(ALL_FIXES) \
            or "spelling" not in fixes:
        raise BenchmarkError(f"{path}: fixes must be a list holding spelling and any of case, punctuation; "
                             f"got {fixes!r}")
    if not isinstance(meta.get("case_insensitive", False), bool):
        raise BenchmarkError(f"{path}: case_insensitive must be true or false")
    return meta


def derive_errors(src: str, ref: str, case_insensitive: bool = False) -> list[dict[str, str]]:
    """The word errors a parallel pair implies (input vs reference, aligned by words), typed
    like the tagged sets' errors, so every benchmark gets a per-error-type breakdown."""
    a, b = src.split(), ref.split()
    fold = (lambda w: w.lower()) if case_insensitive else (lambda w: w)
    ops = difflib.SequenceMatcher(None, [fold(w) for w in a], [fold(w) for w in b], autojunk=False)
    errors = []
    for tag, i1, i2, j1, j2 in ops.get_opcodes():
        if tag != "equal":
            wrong, right = " ".join(a[i1:i2]), " ".join(b[j1:j2])
            errors.append({"type": edit_type(wrong, right), "wrong": wrong, "right": right})
    return errors


def read_ukp(path: Path, name: str = "ukp-realword") -> Benchmark:
    """UKP real-word errors: 6-line blocks (id, revision, wrong, right, offset, sentence)."""
    lines = _read_lines(path)
    pairs, block, start = [], [], 1
    for lineno, line in enumerate(lines + [""], 1):
        if line.strip():
            if not block:
                start = lineno
            block.append(line)
            continue
        if block:
            pairs.append(_ukp_pair(block, path, start))
            block = []
    return Benchmark(name, pairs, str(path), fixes=SPELLING_ONLY)


def _ukp_pair(block: list[str], path: Path, line: int) -> Pair:
    if len(block) != 6:
        raise BenchmarkError(f"{path}:{line}: expected 6 lines (id, revision, wrong, right, "
                             f"offset, sentence), got {len(block)}")
    _, _, wrong, right, offset, sentence = (b.strip() for b in block)
    try:
        pos = int(offset)
    except ValueError:
        raise BenchmarkError(f"{path}:{line + 4}: offset {offset!r} is not an integer") from None
    if sentence[pos:pos + len(wrong)] != wrong:
        raise BenchmarkError(f"{path}:{line + 5}: {wrong!r} is not at offset {pos} of the sentence")
    ref = sentence[:pos] + right + sentence[pos + len(wrong):]
    return Pair(sentence, ref, [{"type": "real-word", "wrong": wrong, "right": right}])


_ERR_RE = re.compile(r"<ERR targ=([^>]*)>(.*?)</ERR>", re.S)
_HEADER_RE = re.compile(r"^\s*(\d+\.|.*\bpage \d+)\s*$")


def read_holbrook(path: Path, name: str = "holbrook") -> Benchmark:
    """Holbrook: one sentence per line with inline tags; headers and blank lines skipped."""
    lines = _read_lines(path)
    pairs, k = [], 0
    while k < len(lines):
        line, lineno = lines[k], k + 1
        while line.count("<ERR") > line.count("</ERR>") and k + 1 < len(lines):
            k += 1  # a tag left open runs on to the next line
            line += " " + lines[k]
        k += 1
        if line.count("<ERR") != line.count("</ERR>"):
            raise BenchmarkError(f"{path}:{lineno}: unclosed <ERR> tag")
        if not line.strip() or _HEADER_RE.match(line):
            continue
        pairs.append(_holbrook_pair(line))
    return Benchmark(name, pairs, str(path), fixes=SPELLING_ONLY)


def _holbrook_pair(line: str) -> Pair:
    errors: list[dict[str, str]] = []

    def wrong(m: re.Match) -> str:
        errors.append({"type": edit_type(m.group(2).strip(), m.group(1).strip()),
                       "wrong": m.group(2).strip(), "right": m.group(1).strip()})
        return m.group(2)

    src = _ERR_RE.sub(wrong, line)
    ref = _ERR_RE.sub(lambda m: f" {m.group(1).strip()} ", line)
    return Pair(" ".join(src.split()), " ".join(ref.split()), errors or None)


def _letters(text: str) -> str:
    return "".join(c for c in text if c.isalnum() or c.isspace()).strip()


def edit_type(wrong: str, right: str) -> str:
    """A coarse type for a recorded word error (for the per-type breakdown)."""
    if not wrong or not right:
        return "missing word" if not wrong else "extra word"
    if wrong.lower() == right.lower():
        return "case"
    if _letters(wrong) == _letters(right):
        return "punctuation"
    if max(len(wrong.split()), len(right.split())) > 2:
        return "rewrite"
    if wrong.replace(" ", "") == right.replace(" ", ""):
        return "merge" if " " in wrong else "split"
    if len(wrong) == len(right) and sorted(wrong) == sorted(right):
        return "transposition"
    if len(wrong) < len(right):
        return "omission"
    if len(wrong) > len(right):
        return "insertion"
    return "substitution"


def read_jsonl(path: Path, name: str | None = None) -> Benchmark:
    """The project's pairs: one {"input", "output", ...} object per line."""
    pairs = []
    for lineno, line in enumerate(_read_lines(path), 1):
        if not line.strip():
            continue
        try:
            obj = loads_strict(line)
        except json.JSONDecodeError as exc:
            if line.lstrip().startswith("["):
                raise BenchmarkError(f"{path}:{lineno}: a JSON array, not JSON Lines: an evaluation set "
                                     'holds one {"input", "output"} object per line') from None
            raise BenchmarkError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
        except ValueError as exc:  # a key twice (the last would win silently), NaN, nested too deep
            raise BenchmarkError(f"{path}:{lineno}: not valid JSON ({exc})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("input"), str) \
                or not isinstance(obj.get("output"), str):
            raise BenchmarkError(f'{path}:{lineno}: expected an object with string "input" and "output"')
        if not isinstance(obj.get("errors", []), (list, type(None))):
            raise BenchmarkError(f'{path}:{lineno}: "errors" must be a list')
        for e in obj.get("errors") or []:  # names (datagen's), or tagged errors {"type": ...}
            if not (isinstance(e, str) or isinstance(e, dict) and isinstance(e.get("type", ""), str)):
                raise BenchmarkError(f'{path}:{lineno}: "errors" holds {json.dumps(e)[:60]}: each error is a '
                                     'type name or an object with a string "type"')
        pairs.append(Pair(obj["input"], obj["output"], obj.get("errors")))
    return Benchmark(name or path.stem, pairs, str(path))


# ---------------------------------------------------------------- discovery
def _detect(path: Path) -> Callable[[], Benchmark] | None:
    if path.is_file() and path.suffix in (".json", ".jsonl"):
        return lambda: read_jsonl(path)
    if path.is_file() and path.name.startswith("en_natural"):
        return lambda: read_ukp(path)
    if path.is_file() and path.suffix == ".dat" and "holbrook" in path.name:
        return lambda: read_holbrook(path)
    if not path.is_dir():
        return None
    if (path / "corrupt.txt").exists() or (path / "correct.txt").exists():
        return lambda: read_parallel(path)
    if (path / "en_natural_test.txt").exists():
        return lambda: read_ukp(path / "en_natural_test.txt", path.name)
    if (path / "holbrook-tagged.dat").exists():
        return lambda: read_holbrook(path / "holbrook-tagged.dat", path.name)
    return None


def load_benchmark(path: str | Path) -> Benchmark:
    path = Path(path)
    if not path.exists():
        raise BenchmarkError(f"benchmark not found: {path} (point --benchmarks at "
                             "../shared/data/eval, one of its folders, or a pairs .json file)")
    reader = _detect(path)
    if reader is None:
        raise BenchmarkError(f"{path}: not a benchmark this reader knows (neuspell corrupt/correct "
                             "folder, ukp-realword, holbrook, or JSON Lines pairs)")
    return reader()


def load_benchmarks(spec: str | Path, select: list[str] | None = None) -> list[Benchmark]:
    """Benchmarks from comma-separated paths; a folder of benchmarks yields each one
    (sorted by name). `select` keeps only the named ones."""
    found: list[Benchmark] = []
    for part in [p for p in str(spec).split(",") if p.strip()]:
        path = Path(part.strip())
        if path.is_dir() and _detect(path) is None:
            subs = [p for p in sorted(path.iterdir()) if _detect(p) is not None]
            if not subs:
                raise BenchmarkError(f"{path}: holds no benchmark this reader knows")
            found += [load_benchmark(p) for p in subs if not select or p.name in select]
        else:
            found.append(load_benchmark(path))
    if select:
        found = [b for b in found if b.name in select]
        missing = sorted(set(select) - {b.name for b in found})
        if missing:
            raise BenchmarkError(f"benchmark(s) {', '.join(missing)} not found in {spec}")
    return found
