"""Readers that stream raw units from every kind of source, never holding a corpus in
memory. A unit is a tuple (kind, a, b, where):
  ("text", paragraph, None, where)  running text, split into sentences later
  ("sent", sentence,  None, where)  one sentence (or a short line) as is
  ("pair", input,     output, where) a ready-made pair (C4_200M rows, the user's pairs)
  ("skip", reason,    None, where)  a line that could not be read (bad_lines=skip)
  ("block", (raw lines, first line number, format, bad_lines, max_line), None, path)
                                    a piece of a text file, expanded by `expand` in a worker
`where` is "file:line" so every error and skip names its origin."""
from __future__ import annotations

import csv
import inspect
import io
import json
import sys
from pathlib import Path
from typing import Iterator

from core.errors import DataError  # noqa: F401  (raised here, imported from here by callers)
from core.files import UTF16_HINT, loads_strict, looks_like_utf16, refuse_special
from core.paths import input_path
from datagen.config import SourceConfig

TEXT_SUFFIXES = {".txt", ".text", ".md", ".rst", ""}
PAIR_SUFFIXES = {".jsonl", ".json", ".csv", ".tsv"}


def _files(path: Path, suffixes: set[str]) -> list[Path]:
    refuse_special(path, "source", DataError)  # stat only: a named pipe is never opened
    if not path.exists():
        shown = repr(str(path)) if str(path) != str(path).strip() else str(path)  # a blank name, visibly
        raise DataError(f"{shown}: no such file or folder")
    if path.is_file():
        return [path]
    files = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in suffixes
                   and not any(part.startswith(".") for part in f.relative_to(path).parts))
    if not files:
        raise DataError(f"{path}: folder holds no readable files ({', '.join(sorted(suffixes - {''}))})")
    return files


def read_lines(path: Path, bad_lines: str) -> Iterator[tuple[int, str | None]]:
    """(line number, decoded line) from a file read in binary; an undecodable line is an
    error naming file and line, or (line, None) when bad_lines == "skip"."""
    with open(path, "rb") as fh:
        for no, raw in enumerate(fh, 1):
            if no == 1:
                _refuse_utf16(path, raw)
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark is no character of the line
            try:
                yield no, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                if bad_lines != "skip":
                    raise DataError(f"{path}:{no}: not UTF-8 ({exc.reason} at byte {exc.start}); "
                                    "fix the file or pass bad_lines=skip") from None
                yield no, None


def _refuse_utf16(path: Path, head: bytes) -> None:
    """A UTF-16 file decodes as UTF-8 with a NUL beside every ASCII letter: its text would be
    dropped as "not prose", or (a pairs file) trained on with NULs inside. Named instead."""
    if looks_like_utf16(head):
        raise DataError(f"{path}: {UTF16_HINT}")


def _detect_format(path: Path) -> str:
    """'lines' when the file has (almost) no blank lines: one unit per line (Wikipedia
    paragraphs, WordNet examples); otherwise hard-wrapped running prose."""
    n = blank = 0
    with open(path, "rb") as fh:
        for raw in fh:
            n += 1
            blank += not raw.strip()
            if n >= 2000:
                break
    return "lines" if n and blank / n < 0.01 else "running"


BLOCK_BYTES = 1 << 15  # text files travel to workers in blocks of ~32 KB (fixed: RNG indices depend on it)


def text_file_blocks(path: Path, fmt: str, bad_lines: str, max_line: int) -> Iterator[tuple]:
    """The main process's share of reading a text file: raw line blocks cut at paragraph
    ends, Gutenberg boilerplate blanked. Decoding and splitting happen in the workers
    (`block_units`), so reading is not the bottleneck of a multi-core build."""
    fmt = _detect_format(path) if fmt == "auto" else fmt
    bad_lines = "skip" if bad_lines == "auto" else bad_lines  # a stray byte in prose: skip it
    skipping, no = False, 1
    with open(path, "rb") as fh:
        _refuse_utf16(path, fh.read(4096))
        fh.seek(0)
        while True:
            lines = fh.readlines(BLOCK_BYTES)
            if not lines:
                return
            size = sum(map(len, lines))
            while fmt == "running" and lines[-1].strip() and size < 4 * BLOCK_BYTES:
                more = fh.readline()  # never cut a paragraph in two (unless it runs away)
                if not more:
                    break
                lines.append(more)
                size += len(more)
            from datagen.text import strip_gutenberg

            lines, skipping = strip_gutenberg(lines, skipping)
            if any(lines):
                yield ("block", (lines, no, fmt, bad_lines, max_line), None, str(path))
            no += len(lines)


def block_units(lines: list[bytes], first_no: int, fmt: str, bad_lines: str, max_line: int,
                path: str) -> list[tuple]:
    """A block of raw lines -> "text" units (paragraphs or lines) and "skip" units."""
    out, para, start, size = [], [], 0, 0
    for no, raw in enumerate(lines, first_no):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            if bad_lines != "skip":
                raise DataError(f"{path}:{no}: not UTF-8 ({exc.reason} at byte {exc.start}); "
                                "fix the file or pass bad_lines=skip") from None
            out.append(("skip", "not_utf8", None, f"{path}:{no}"))
            line = ""
        if len(line) > max_line:
            out.append(("skip", "line_too_long", None, f"{path}:{no}"))
            line = ""
        if fmt == "lines":
            if line:
                out.append(("text", line, None, f"{path}:{no}"))
            continue
        if line:
            start = start if para else no
            para.append(line)
            size += len(line)
        if para and (not line or size > max_line):  # blank line: paragraph end
            out.append(("text", " ".join(para), None, f"{path}:{start}"))
            para, size = [], 0
    if para:
        out.append(("text", " ".join(para), None, f"{path}:{start}"))
    return out


def expand(unit: tuple) -> list[tuple]:
    """A unit as the workers see it: a block becomes its text/skip units, a batch its units."""
    if unit[0] == "block":
        return block_units(*unit[1], unit[3])
    if unit[0] == "batch":
        return list(unit[1])
    return [unit]


def pair_file_units(path: Path, src: SourceConfig, bad_lines: str) -> Iterator[tuple]:
    """The user's pairs: JSON Lines ({"input", "output"} per line), CSV with a header
    naming the two columns, or TSV `input<TAB>output` (the C4_200M release format)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        yield from _csv_units(path, src, bad_lines)
        return
    for no, line in read_lines(path, bad_lines):
        where = f"{path}:{no}"
        if line is None:
            yield ("skip", "not_utf8", None, where)
            continue
        if not line.strip():
            continue
        yield _pair_unit(lambda line=line: _parse_pair_line(line, suffix, src), where, bad_lines)


def _pair_unit(parse, where: str, bad_lines: str) -> tuple:
    """("pair", input, output, where), or a counted skip when bad_lines=skip; else the
    parse error, prefixed with the file and line."""
    try:
        inp, out = parse()
    except DataError as exc:
        if bad_lines != "skip":
            raise DataError(f"{where}: {exc}") from None
        return ("skip", "bad_pair", None, where)
    return ("pair", inp, out, where)


def _parse_pair_line(line: str, suffix: str, src: SourceConfig) -> tuple[str, str]:
    if suffix == ".tsv":
        parts = line.split("\t")
        if len(parts) != 2:
            raise DataError(f"expected 2 tab-separated columns (input, output), got {len(parts)}")
        return parts[0], parts[1]
    try:
        row = loads_strict(line)
    except json.JSONDecodeError as exc:
        if line.lstrip().startswith("["):  # a pretty-printed JSON array of pairs
            raise DataError("a JSON array, not JSON Lines: a pairs file holds one {\"input\", \"output\"} "
                            "object per line") from None
        raise DataError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except ValueError as exc:  # a key twice (the last would win silently), NaN, nested too deep
        raise DataError(f"not valid JSON ({exc})") from None
    if not isinstance(row, dict):
        raise DataError("expected a JSON object per line")
    return _row_pair(row, src)


def _row_pair(row: dict, src: SourceConfig) -> tuple[str, str]:
    missing = [k for k in (src.input_column, src.output_column) if k not in row]
    if missing:
        raise DataError(f"missing key {missing[0]!r} (have: {', '.join(map(str, row)) or 'none'})")
    inp, out = row[src.input_column], row[src.output_column]
    if not isinstance(inp, str) or not isinstance(out, str):
        raise DataError(f"{src.input_column!r} and {src.output_column!r} must be strings")
    for key, value in ((src.input_column, inp), (src.output_column, out)):
        if "\x00" in value:  # no typed text holds one: a binary or UTF-16 file read as text
            raise DataError(f"{key!r} holds a NUL character: not text")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:  # "\ud800" in JSON: no character; the writer would fail on it
                raise DataError(f"{key!r} holds a lone UTF-16 surrogate ({value[exc.start]!r}): not "
                                "text") from None
    return inp, out


def _csv_units(path: Path, src: SourceConfig, bad_lines: str) -> Iterator[tuple]:
    """CSV with a header naming the two columns. Strict: a quote left open would otherwise
    swallow every later line into one field, silently."""
    raw = path.read_bytes()
    _refuse_utf16(path, raw)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 ({exc.reason})") from None
    read = [0]  # lines handed to the reader so far

    def lines():
        for line in io.StringIO(text, newline=""):
            read[0] += 1
            yield line
    reader = csv.DictReader(lines(), strict=True)
    start = 1  # the line the row being read starts on (a quoted field may span lines)
    try:
        header = reader.fieldnames or []
        want = (src.input_column, src.output_column)
        if not all(name in header for name in want):
            shown = ", ".join(repr(h) for h in header[:4]) or "nothing"
            raise DataError(f"{path}:1: the header line names no {' and '.join(map(repr, want))} column "
                            f"(it holds {shown}): a CSV pairs file starts with a header such as "
                            f"{','.join(want)}")
        if len(set(header)) != len(header):
            raise DataError(f"{path}:1: the header names a column twice ({', '.join(map(repr, header))})")
        start = read[0] + 1
        for row in reader:
            where = f"{path}:{start}"
            start = read[0] + 1
            extra, missing = row.pop(None, None) or [], sum(v is None for v in row.values())
            if extra or missing:  # an unquoted comma in the text would shift every column after it
                n = len(header) + len(extra) - missing
                yield _pair_unit(_raise(f"{n} fields, the header has {len(header)} (quote a field that "
                                        "holds a comma)"), where, bad_lines)
                continue
            yield _pair_unit(lambda row=row: _row_pair(row, src), where, bad_lines)
    except csv.Error as exc:  # an unterminated quote, a stray quote, a field over the size limit
        raise DataError(f"{path}:{start}: not valid CSV ({exc}); a quoted field must end with a quote "
                        "(\"\" inside one stands for a quote)") from None


def _raise(message: str):
    def parse():
        raise DataError(message)
    return parse


def load_hf(src: SourceConfig):
    """A Hugging Face dataset by name (streamed from the Hub or its cache) or a folder
    written by `Dataset.save_to_disk` (works offline)."""
    import datasets

    p = Path(src.path)
    if p.is_dir() and any((p / n).exists() for n in ("dataset_info.json", "state.json", "dataset_dict.json")):
        ds = datasets.load_from_disk(str(p))
        return ds[src.split] if isinstance(ds, datasets.DatasetDict) else ds
    try:
        return datasets.load_dataset(src.path, src.hf_config or None, split=src.split, streaming=True)
    except Exception as exc:  # offline, unknown name, gated: say which dataset and why
        raise DataError(f"hf:{src.path}: cannot load dataset ({type(exc).__name__}: {exc})") from None


def hf_units(rows, src: SourceConfig, pairs: bool) -> Iterator[tuple]:
    """Rows of a `datasets` object (or any iterable of dicts): a text column or two pair columns."""
    for i, row in enumerate(rows):
        where = f"hf:{src.path or 'dataset'}[{src.split}]:{i}"
        if pairs:
            try:
                inp, out = _row_pair(row, src)
            except DataError as exc:
                raise DataError(f"{where}: {exc}") from None
            yield ("pair", inp, out, where)
            continue
        if src.column not in row:
            raise DataError(f"{where}: no column {src.column!r} (have: {', '.join(row)}); set column=...")
        value = row[src.column]
        if isinstance(value, str) and value.strip():
            yield ("text", value, None, where)


def python_texts() -> Iterator[tuple[str, str]]:
    """(label, text): the pydoc topics and module docstrings (core.tiny.builtin_text),
    then the docstrings of every public function and class of the standard library."""
    import importlib

    from core.tiny import builtin_text

    for i, text in enumerate(builtin_text()):
        yield f"python:builtin[{i}]", text
    for name in sorted(sys.stdlib_module_names):
        if name.startswith("_") or name in {"antigravity", "this", "idlelib", "tkinter", "turtledemo"}:
            continue
        try:
            mod = importlib.import_module(name)
        except Exception:  # not every stdlib module imports everywhere
            continue
        for attr in sorted(vars(mod)):
            obj = getattr(mod, attr, None)
            if attr.startswith("_") or getattr(obj, "__module__", None) != name:
                continue
            doc = getattr(obj, "__doc__", None)
            if isinstance(doc, str) and len(doc) > 40:
                yield f"python:{name}.{attr}", inspect.cleandoc(doc)


def source_units(src: SourceConfig, bad_lines: str, max_line: int) -> Iterator[tuple]:
    """Every raw unit of one configured source, in a fixed order."""
    it = _units(src, bad_lines, max_line)
    if src.limit:
        import itertools

        it = itertools.islice(it, src.limit)
    if src.join and src.kind in ("everyday", "messages"):
        it = _batched(it, JOIN_BATCH)
    return it


JOIN_BATCH = 8  # one-sentence units travel in batches when a source joins: a sentence's partner
# is the next one in its batch, decided in the worker from the batch's own RNG


def _batched(units: Iterator[tuple], n: int) -> Iterator[tuple]:
    batch: list[tuple] = []
    for u in units:
        batch.append(u)
        if len(batch) == n:
            yield ("batch", batch, None, batch[0][3])
            batch = []
    if batch:
        yield ("batch", batch, None, batch[0][3])


def _units(src: SourceConfig, bad_lines: str, max_line: int) -> Iterator[tuple]:
    if src.kind == "everyday":
        from datagen.everyday import everyday_sentences

        for i, s in enumerate(everyday_sentences()):
            yield ("sent", s, None, f"everyday:{i}")
    elif src.kind == "messages":
        from datagen.messages import message_sentences

        for i, s in enumerate(message_sentences(Path(src.path) if src.path else None)):
            yield ("sent", s, None, f"messages:{i}")
    elif src.kind == "python":
        for label, text in python_texts():
            for para in _paragraphs(text):
                yield ("text", para, None, label)
    elif src.kind == "text":
        for f in _files(input_path(src.path), TEXT_SUFFIXES):
            yield from text_file_blocks(f, src.format, bad_lines, max_line)
    elif src.kind == "pairs":
        for f in _files(input_path(src.path), PAIR_SUFFIXES):
            yield from pair_file_units(f, src, bad_lines)
    else:  # hf, hf_pairs
        yield from hf_units(load_hf(src), src, pairs=src.kind == "hf_pairs")


def _paragraphs(text: str) -> Iterator[str]:
    """Paragraphs of a docstring; indented blocks (code, tables) are left out."""
    para: list[str] = []
    for line in text.splitlines() + [""]:
        if not line.strip() or line[:1] in (" ", "\t"):
            if para:
                yield " ".join(para)
                para = []
            continue
        para.append(line.strip())
