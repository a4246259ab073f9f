"""Reading the files stages hand each other, with one rule for a bad one: the stage's own
error (core.errors) naming the file and what is wrong with it, never a traceback from a
parser, and never a blocked read.

- `not_a_regular_file(path)`: why a path cannot be read as a file, from `stat` alone, so a
  named pipe, socket or device is never opened (opening a FIFO blocks until a writer comes).
- `check_input(path, what, error, want)`: an input that must be a regular file, a folder, or
  either, before anything reads it.
- `refuse_special(path, what, error)`: the same for an input that may also be missing (its
  reader says so), refusing only what is neither a regular file nor a folder.
- `looks_like_utf16(head)`: a text file in UTF-16/32 (named, not read as UTF-8 with NULs).
- `read_json(path, error, expect)`: a whole JSON file of the expected top-level type, parsed by
  `loads_strict` (no duplicate keys, no NaN: JSON Lines readers use it per line too).
- `check_tokenizer_json(path, error)`: a tokenizer.json the tokenizers library loads.
- `check_recorded_file(path, meta_path, meta, error)`: the sha256 and size a metadata JSON
  records (the export's `<name>.json` beside each `.pte`) are those of the file beside it.
- `check_safetensors(path, error)`: a `.safetensors` file's header covers the file exactly
  (a truncated copy fails here, by name, instead of deep inside a loader).
- `jsonl_lines(text)`: the lines of a JSON Lines text, split on "\n" only.
"""
from __future__ import annotations

import json
import os
import stat
import struct
from pathlib import Path
from typing import Any

from core.errors import PipelineError

MAX_JSON_BYTES = 256 << 20  # tokenizer.json of a large vocabulary is tens of MiB; metadata a few KiB

def jsonl_lines(text: str) -> list[str]:
    """The records of a JSON Lines text. Split on "\\n" only: str.splitlines() also breaks at
    U+0085, U+2028 and U+2029, which JSON writers that keep non-ASCII as is (ours with
    ensure_ascii=False, the C++ runner and corrector) leave raw inside strings, so a typed text
    holding one would be read as two torn records. A final newline gives no empty record."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln.removesuffix("\r") for ln in lines]


_KINDS = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def special_kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def not_a_regular_file(path: str | Path) -> str | None:
    """Why `path` cannot be read as a file, from stat alone: None for a regular file (symlinks
    followed), else "not found", "a folder, not a file", "a named pipe, not a regular file", or
    the system's reason (a symlink loop, a name too long, a parent that is a file)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "not found"
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        return getattr(exc, "strerror", None) or str(exc)
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    return f"{special_kind(mode)}, not a regular file"


def check_input(path: str | Path, what: str, error: type[Exception] = PipelineError,
                want: str = "file") -> Path:
    """`path` exists and is what `want` says ("file", "folder", or "either"), checked with stat
    only; else `error` naming `what` and the path."""
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        if p.is_symlink():
            raise error(f"{what} {p}: a symlink to {os.readlink(p)}, which does not exist") from None
        raise error(f"{what} {p}: not found") from None
    except (OSError, ValueError) as exc:
        raise error(f"{what} {p}: {getattr(exc, 'strerror', None) or exc}") from None
    if stat.S_ISREG(mode) and want in ("file", "either"):
        return p
    if stat.S_ISDIR(mode) and want in ("folder", "either"):
        return p
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        have, need = ("a file", "a folder") if stat.S_ISREG(mode) else ("a folder", "a file")
        raise error(f"{what} {p}: {have}, not {need}")
    need = {"file": "a regular file", "folder": "a folder"}.get(want, "a regular file or folder")
    raise error(f"{what} {p}: {special_kind(mode)}, not {need}")


def refuse_special(path: str | Path, what: str, error: type[Exception] = PipelineError) -> None:
    """Nothing when `path` is missing, a regular file or a folder (the reader says the rest); else
    (a named pipe, socket or device; a symlink loop) `error` naming it, checked with stat only."""
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        raise error(f"{what} {p}: {getattr(exc, 'strerror', None) or exc}") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise error(f"{what} {p}: {special_kind(mode)}, not a regular file or folder")


def read_bytes(path: str | Path, error: type[Exception] = PipelineError, what: str = "",
               limit: int | None = None) -> bytes:
    """The whole of a regular file (checked first: never a FIFO), read errors as `error`."""
    p = Path(path)
    label = f"{what} {p}" if what else str(p)
    why = not_a_regular_file(p)
    if why:
        raise error(f"{label}: {why}")
    size = p.stat().st_size
    if limit is not None and size > limit:
        raise error(f"{label}: {size >> 20} MiB, larger than any such file (at most {limit >> 20} MiB)")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise error(f"{label}: cannot be read ({exc.strerror or exc})") from None


def read_json(path: str | Path, error: type[Exception] = PipelineError, expect: type = dict,
              what: str = "") -> Any:
    """A whole JSON file whose top level is `expect` (dict or list); a truncated, non-UTF-8,
    empty or ill-typed file is `error` naming it."""
    p = Path(path)
    label = f"{what} {p}" if what else str(p)
    raw = read_bytes(p, error, what, MAX_JSON_BYTES)
    if not raw.strip():
        raise error(f"{label}: empty file, expected JSON")
    try:
        data = loads_strict(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise error(f"{label}: not UTF-8 (byte {exc.start}): not a JSON file") from None
    except json.JSONDecodeError as exc:
        cut = ", truncated?" if exc.pos >= len(raw.rstrip()) - 64 else ""
        raise error(f"{label}: not valid JSON ({exc.msg}: line {exc.lineno} column {exc.colno}{cut})") \
            from None
    except ValueError as exc:  # loads_strict: a duplicate key, NaN, too deep
        raise error(f"{label}: not valid JSON ({exc})") from None
    if not isinstance(data, expect):
        names = {dict: "an object", list: "a list"}
        raise error(f"{label}: expected {names.get(expect, expect.__name__)} at the top level of the "
                    f"JSON, got {_json_kind(data)}")
    return data


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice in one object")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


UTF16_HINT = ("looks like UTF-16 or UTF-32 text (a byte-order mark or NUL bytes between the letters): "
              "save it as UTF-8")


def looks_like_utf16(head: bytes) -> bool:
    """Whether a text file's first bytes are UTF-16/32: a BOM, or a NUL in a quarter of the bytes.
    Such a file decodes as "UTF-8" with a NUL beside every ASCII letter, so a reader would take
    garbage (or drop every line as no prose) instead of saying what is wrong."""
    head = head[:4096]
    return head.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(head) >= 8 and head.count(0) * 4 >= len(head))


def loads_strict(text: str | bytes) -> Any:
    """json.loads that refuses what Python's parser lets through and a reader would take
    silently: a key given twice in one object (the last would win), NaN/Infinity. A nesting
    too deep for the parser is a ValueError too (not a RecursionError)."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _json_kind(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return {dict: "an object", list: "a list", str: "a string", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def check_safetensors(path: str | Path, error: type[Exception] = PipelineError) -> dict:
    """The header of a `.safetensors` file (tensor name -> dtype, shape, offsets), checked to
    describe exactly the bytes that follow it: a truncated, padded or foreign file is `error`
    naming it. Reads the header only."""
    p = Path(path)
    why = not_a_regular_file(p)
    if why:
        raise error(f"{p}: {why}")
    size = p.stat().st_size
    try:
        with open(p, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise error(f"{p}: {size} bytes, too short for a safetensors file (truncated?)")
            (n,) = struct.unpack("<Q", head)
            if n > size - 8 or n > 100 << 20:
                raise error(f"{p}: not a safetensors file, or truncated (header of {n} bytes in a file "
                            f"of {size})")
            header_bytes = fh.read(n)
    except OSError as exc:
        raise error(f"{p}: cannot be read ({exc.strerror or exc})") from None
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise error(f"{p}: not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise error(f"{p}: not a safetensors file (its header is not a JSON object)")
    data_size, end = size - 8 - n, 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
                or offsets[0] > offsets[1]):
            raise error(f"{p}: not a safetensors file (tensor {name!r} has no valid data_offsets)")
        end = max(end, offsets[1])
    if end > data_size:
        raise error(f"{p}: truncated: its header describes {end} bytes of tensors, the file holds "
                    f"{data_size}")
    if end < data_size:
        raise error(f"{p}: {data_size - end} bytes past the last tensor: not a file safetensors wrote "
                    "(corrupt or appended to)")
    return {k: v for k, v in header.items() if k != "__metadata__"}


def check_recorded_file(path: str | Path, meta_path: str | Path, meta: dict,
                        error: type[Exception] = PipelineError) -> None:
    """`meta` (read from `meta_path`) records `sha256` / `size_bytes` of `path`: a record of another
    file (an INT4 export's metadata beside an INT8 .pte) would label every figure with the other
    file's quantization, size and hash, so a mismatch is `error` naming both files. A record
    without these keys (an older export) passes."""
    from core.runs import sha256_file

    path, meta_path = Path(path), Path(meta_path)
    for key, want, name in (("sha256", str, "a string"), ("size_bytes", int, "an integer")):
        value = meta.get(key)
        if key in meta and (not isinstance(value, want) or isinstance(value, bool)):
            raise error(f"{meta_path}: {key} must be {name}, got {value!r}")
    wrong = []
    if "size_bytes" in meta and meta["size_bytes"] != path.stat().st_size:
        wrong.append(f"size_bytes {meta['size_bytes']} (the file: {path.stat().st_size})")
    if "sha256" in meta and meta["sha256"].lower() != sha256_file(path):
        wrong.append(f"sha256 {meta['sha256'][:16]}... (the file: {sha256_file(path)[:16]}...)")
    if wrong:
        raise error(f"{meta_path} does not describe {path}: it records {'; '.join(wrong)}. It is the "
                    f"metadata of another export (recipe {meta.get('recipe', '?')!r}): re-export, or put "
                    f"the {meta_path.name} written with this file beside it")


def check_tokenizer_json(path: str | Path, error: type[Exception] = PipelineError) -> None:
    """A tokenizer.json whole (read_json) and loadable by the tokenizers library: a truncated or
    foreign file is `error` naming it, not the library's bare Exception deep inside a loader."""
    from tokenizers import Tokenizer

    read_json(path, error, what="tokenizer")
    try:
        Tokenizer.from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - tokenizers raises bare Exception
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        raise error(f"tokenizer {path}: not a tokenizer.json the tokenizers library can load "
                    f"({lines[0] if lines else type(exc).__name__})") from None
