"""Does max_seq_len hold the evaluation data? prompt tokens + answer tokens (incl. EOS)
of every pair must fit the static KV cache, else outputs would be cut off."""
from __future__ import annotations

import json
from pathlib import Path

from core.config import ConfigError
from core.paths import REPO_ROOT


class SeqLenError(ConfigError):
    pass


def resolve_eval_data(value: str) -> Path | None:
    if not value:
        return None
    if value == "auto":
        p = REPO_ROOT / "data/eval_data.json"
        return p if p.is_file() else None
    p = Path(value)
    if not p.exists() and not p.is_symlink():
        raise ConfigError(f"eval_data: file not found: {p}")
    from core.files import check_input

    return check_input(p, "eval_data", ConfigError, want="file")  # a named pipe is named, never opened


def needed_len(tokenizer, path: str | Path) -> tuple[int, int]:
    """(longest prompt+answer in tokens, its line number) over a JSON Lines pairs file."""
    from core.prompt import answer_ids, prompt_ids

    worst, where = 0, 0
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                n = len(prompt_ids(tokenizer, row["input"])) + len(answer_ids(tokenizer, row["output"]))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ConfigError(f"{path}:{i}: not an {{\"input\",\"output\"}} pair ({exc})") from None
            if n > worst:
                worst, where = n, i
    return worst, where


def check_eval_fits(tokenizer, path: str | Path, max_seq_len: int) -> int:
    worst, line = needed_len(tokenizer, path)
    if worst > max_seq_len:
        raise SeqLenError(f"max_seq_len {max_seq_len} is too small for {path}: line {line} needs "
                          f"{worst} tokens (prompt + answer); use max_seq_len={_round_up(worst)}")
    return worst


def _round_up(n: int) -> int:
    p = 64
    while p < n:
        p *= 2
    return p
