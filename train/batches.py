"""Read `{"input","output"}` JSON Lines and turn each pair into token ids via the one
prompt module (core.prompt): prompt tokens carry no loss, answer tokens (+ end of turn) do."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from core.errors import TrainError
from core.files import UTF16_HINT, loads_strict, looks_like_utf16, not_a_regular_file


class PairsFileError(TrainError):
    """The pairs file is missing, empty or malformed; the message says what to change."""


@dataclass
class Example:
    ids: list[int]      # prompt ids + answer ids
    n_prompt: int       # the first n_prompt ids carry no loss

    def __len__(self) -> int:
        return len(self.ids)


def load_pairs(path: str | Path, limit: int = 0) -> list[dict[str, str]]:
    """Pairs from a JSON Lines file; every problem names the file and line."""
    pairs = list(iter_pairs(path, limit))
    if not pairs:
        raise PairsFileError(f"dataset is empty: {path} "
                             "(expected one JSON object per line with 'input' and 'output')")
    return pairs


def check_pairs(path: str | Path, limit: int = 0) -> int:
    """What load_pairs(path, limit) would read, checked without keeping it (the run folder is made
    only after this passes); returns the number of pairs."""
    n = sum(1 for _ in iter_pairs(path, limit))
    if not n:
        raise PairsFileError(f"dataset is empty: {path} "
                             "(expected one JSON object per line with 'input' and 'output')")
    return n


def iter_pairs(path: str | Path, limit: int = 0) -> Iterator[dict[str, str]]:
    path = Path(path)
    why = not_a_regular_file(path)  # stat only: a named pipe is never opened
    if why == "not found":
        raise PairsFileError(f"dataset not found: {path} "
                             "(build it with `make data`, or set data.train / data.eval)")
    if why:
        raise PairsFileError(f"dataset {path}: {why}")
    n = 0
    with path.open("rb") as fh:  # bytes: a non-UTF-8 line is named, not a traceback
        for lineno, raw in enumerate(fh, 1):
            if lineno == 1:
                if looks_like_utf16(raw):
                    raise PairsFileError(f"{path}: {UTF16_HINT}")
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark is no character of the line
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise PairsFileError(f"{path}:{lineno}: not UTF-8 ({exc.reason} at byte {exc.start}); "
                                     "a pairs file is UTF-8 JSON Lines") from None
            if not line.strip():
                continue
            yield _parse_line(path, lineno, line)
            n += 1
            if limit and n >= limit:
                return


def _parse_line(path: Path, lineno: int, line: str) -> dict[str, str]:
    try:
        obj = loads_strict(line)
    except json.JSONDecodeError as exc:
        if line.lstrip().startswith("["):  # a pretty-printed JSON array of pairs
            raise PairsFileError(f"{path}:{lineno}: a JSON array, not JSON Lines: a pairs file holds one "
                                 '{"input": "...", "output": "..."} object per line') from None
        raise PairsFileError(f"{path}:{lineno}: not valid JSON ({exc.msg}); each line must be "
                        '{"input": "...", "output": "..."}') from None
    except ValueError as exc:  # a key twice (the last would win silently), NaN, nested too deep
        raise PairsFileError(f"{path}:{lineno}: not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise PairsFileError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
    for key in ("input", "output"):
        if not isinstance(obj.get(key), str):
            raise PairsFileError(f"{path}:{lineno}: field '{key}' must be a string, got {obj.get(key)!r}")
    if not obj["output"].strip():
        raise PairsFileError(f"{path}:{lineno}: field 'output' is empty")
    for key in ("input", "output"):
        if "\x00" in obj[key]:  # no typed text holds one: a binary file, or text read in the wrong encoding
            raise PairsFileError(f"{path}:{lineno}: field '{key}' holds a NUL character: not text")
        if not obj[key].isascii():
            try:
                obj[key].encode("utf-8")
            except UnicodeEncodeError as exc:  # "\udc00": no character; the tokenizer would fail on it
                raise PairsFileError(f"{path}:{lineno}: field '{key}' holds a lone UTF-16 surrogate "
                                     f"({obj[key][exc.start]!r}): not text") from None
    return {"input": obj["input"], "output": obj["output"]}


def encode_pairs(tokenizer: Any, pairs: list[dict[str, str]], max_length: int) -> tuple[list[Example], int]:
    """Token ids per pair; pairs longer than max_length are dropped (a cut answer would
    teach the model never to stop). Returns (examples, number dropped)."""
    from core.progress import progress
    from core.prompt import answer_ids, prompt_ids

    out, dropped = [], 0
    # Tokenizing 500k pairs takes minutes with a real vocabulary: show it.
    for pair in progress(pairs, desc="encode pairs", unit="pair", disable=len(pairs) < 5000):
        p = prompt_ids(tokenizer, pair["input"])
        a = answer_ids(tokenizer, pair["output"])
        if len(p) + len(a) > max_length:
            dropped += 1
            continue
        out.append(Example(p + a, len(p)))
    if not out:
        raise PairsFileError(f"every pair is longer than data.max_length={max_length} tokens; "
                             "raise data.max_length")
    return out, dropped
