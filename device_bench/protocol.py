"""Runner protocol files (DESIGN.md): requests JSONL in, results JSONL + summary JSON out.

Requests: {"id", "prompt_ids", "max_new_tokens", "source_span"?} per line.
Results:  {"id", "output_ids", "prefill_ms", "decode_ms", "ttft_ms", "new_tokens", "error"?}
          (+ "forwards", "accepted_tokens", "acceptance_rate" when speculating).
Summary:  {"model_load_ms", "peak_rss_kb", "threads", ...} plus the `PyTorchObserver {...}`
          stats line (kept as a string or parsed object).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from core.runs import atomic_write_text

RESULT_KEYS = ("id", "output_ids", "prefill_ms", "decode_ms", "ttft_ms", "new_tokens")


class ProtocolError(ValueError):
    """A runner file does not follow the protocol; the message names file and line."""


def write_requests(path: str | Path, requests: list[dict]) -> Path:
    lines = []
    for r in requests:
        req = {"id": r["id"], "prompt_ids": [int(t) for t in r["prompt_ids"]],
               "max_new_tokens": int(r["max_new_tokens"])}
        if r.get("source_span"):
            req["source_span"] = [int(i) for i in r["source_span"]]
        lines.append(json.dumps(req))
    return atomic_write_text(path, "\n".join(lines) + "\n")


def read_results(path: str | Path) -> list[dict]:
    """Parse results; a truncated LAST line (runner killed mid-write) is dropped, not fatal."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
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
            missing = [k for k in RESULT_KEYS if k not in obj]
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


def read_summary(path: str | Path) -> dict:
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
