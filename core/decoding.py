"""Copy-speculative decoding defaults, read once from core/decoding_defaults.json.

One home for them: the Python runtime (export/), the device bench and the C++ runner
(android_runner/CMakeLists.txt compiles the same JSON file into typo_runner) all take
these numbers from that file, so the two decoders cannot drift apart again. Change a
default there, then rebuild the runner (`make runner`).

    DRAFT_LEN      K, source tokens drafted per verify call after the prefill
    PREFILL_DRAFT  answer tokens drafted from the text's start and verified in the prefill call
    MAX_NGRAM      longest suffix of the output matched in the source to re-anchor after an edit
"""
from __future__ import annotations

import json
from pathlib import Path

DEFAULTS_FILE = Path(__file__).resolve().parent / "decoding_defaults.json"
KEYS = ("draft_len", "prefill_draft", "max_ngram")
MINIMUM = {"draft_len": 1, "prefill_draft": 0, "max_ngram": 1}  # as the runner's flags accept


def check_value(key: str, value: object, where: str, error: type[Exception] = ValueError,
                prefix: str = "") -> int:
    """`value` as setting `key`: an integer the runner's flag accepts, else `error` naming
    `where` and the field (`prefix` + key). The defaults file and the copies recorded in .pte
    metadata are checked alike."""
    if type(value) is not int or value < MINIMUM[key]:
        raise error(f"{where}: {prefix}{key} must be an integer >= {MINIMUM[key]}, got {value!r}")
    return value


def _load(path: Path = DEFAULTS_FILE) -> dict[str, int]:
    """The defaults, checked: a broken file fails at import, naming the field, not mid-decode."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or set(data) != set(KEYS):
        raise ValueError(f"{path}: expected exactly the keys {list(KEYS)}, got {data!r}")
    return {key: check_value(key, data[key], str(path)) for key in KEYS}


_DEFAULTS = _load()
DRAFT_LEN: int = _DEFAULTS["draft_len"]
PREFILL_DRAFT: int = _DEFAULTS["prefill_draft"]
MAX_NGRAM: int = _DEFAULTS["max_ngram"]


def defaults() -> dict[str, int]:
    """{"draft_len", "prefill_draft", "max_ngram"}: a copy, safe to modify."""
    return dict(_DEFAULTS)
