"""The host side of the runner protocol (specified in docs/runner_protocol.md; the runner's
side is android_runner/src/protocol.cpp): requests JSON Lines in, results JSON Lines and a
summary JSON out. The TypedDicts below name the fields this side reads and writes."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from core.errors import BenchError
from core.files import jsonl_lines
from core.runs import atomic_write_text


class RunnerRequest(TypedDict):
    """One request line: the prompt's token ids (id mode) or the sentence (text mode, the runner's
    --text-meta) and how many new tokens at most."""
    id: Any
    prompt_ids: NotRequired[list[int]]
    text: NotRequired[str]
    max_new_tokens: int
    source_span: NotRequired[list[int]]   # [begin, end): the text to correct, for copy drafts (id mode)


class RunnerResult(TypedDict):
    """One result line, in request order; `error` set means the request failed alone."""
    id: Any
    output_ids: list[int]
    prefill_ms: float
    decode_ms: float
    ttft_ms: float
    new_tokens: int
    total_ms: NotRequired[float]
    prompt_tokens: NotRequired[int]
    forwards: NotRequired[int]
    reps: NotRequired[int]
    reused_tokens: NotRequired[int]
    drafted_tokens: NotRequired[int]
    accepted_tokens: NotRequired[int]
    acceptance_rate: NotRequired[float]
    raw_text: NotRequired[str]            # text mode: the answer, decoded on the device
    guarded_text: NotRequired[str]        # text mode: raw_text through the device's guard
    tokenize_ms: NotRequired[float]       # text mode: the stage timings
    guard_ms: NotRequired[float]
    end_to_end_ms: NotRequired[float]     # tokenize_ms + total_ms + guard_ms
    error: NotRequired[str]


class RunnerSummary(TypedDict, total=False):
    """The summary JSON (the runner writes more keys; these are the ones the bench reads)."""
    model_load_ms: float
    peak_rss_kb: int
    threads: int
    max_seq_len: int
    requests: int
    errors: int
    observer: str | dict
    observer_parsed: dict   # added on the host: the PyTorchObserver line as an object


RESULT_KEYS = ("id", "output_ids", "prefill_ms", "decode_ms", "ttft_ms", "new_tokens")
TEXT_RESULT_KEYS = ("raw_text", "guarded_text", "tokenize_ms", "guard_ms", "end_to_end_ms")


class ProtocolError(BenchError, ValueError):
    """A runner file does not follow the protocol; the message names file and line."""


def write_requests(path: str | Path, requests: list[RunnerRequest]) -> Path:
    lines = []
    for r in requests:
        if "text" in r:  # text mode: the device builds the prompt ids itself
            lines.append(json.dumps({"id": r["id"], "text": str(r["text"]),
                                     "max_new_tokens": int(r["max_new_tokens"])}))
            continue
        req: RunnerRequest = {"id": r["id"], "prompt_ids": [int(t) for t in r["prompt_ids"]],
                              "max_new_tokens": int(r["max_new_tokens"])}
        if r.get("source_span"):
            req["source_span"] = [int(i) for i in r["source_span"]]
        lines.append(json.dumps(req))
    return atomic_write_text(path, "\n".join(lines) + "\n")


def read_results(path: str | Path, text_mode: bool = False) -> list[RunnerResult]:
    """Parse results; a truncated LAST line (runner killed mid-write) is dropped, not fatal.
    text_mode: a result without `error` must also carry TEXT_RESULT_KEYS."""
    path = Path(path)
    lines = jsonl_lines(path.read_text(encoding="utf-8", errors="replace"))
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            if i == len(lines):
                break
            raise ProtocolError(f"{path}:{i}: not JSON ({exc})") from None
        if not isinstance(obj, dict) or "id" not in obj:
            raise ProtocolError(f"{path}:{i}: a result needs an object with an `id`")
        if not obj.get("error"):
            missing = [k for k in RESULT_KEYS + (TEXT_RESULT_KEYS if text_mode else ()) if k not in obj]
            if missing:
                raise ProtocolError(f"{path}:{i}: result {obj['id']!r} lacks {', '.join(missing)}")
        out.append(obj)
    return out


OBSERVER = re.compile(r"PyTorchObserver\s*(\{.*\})")


def parse_observer(value) -> dict | None:
    """The `PyTorchObserver {...}` line (string, or already an object) -> dict."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        m = OBSERVER.search(value)
        if m:
            try:
                return json.loads(m.group(1))
            except json.JSONDecodeError:
                return None
    return None


def read_summary(path: str | Path) -> RunnerSummary:
    path = Path(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"{path}: summary is not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"{path}: summary must be a JSON object")
    for key in ("observer", "PyTorchObserver", "stats", "observer_line"):
        parsed = parse_observer(obj.get(key))
        if parsed is not None:
            obj["observer_parsed"] = parsed
            break
    return obj
