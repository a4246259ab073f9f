"""Progress the same way in every stage: one tqdm bar per long phase, on stderr, redrawn
at most every few seconds so that logs of long runs stay short. TYPO_PROGRESS=0 turns
every bar off (CI logs, scripted runs)."""
from __future__ import annotations

import os
import sys
from typing import Any, Iterable

from tqdm import tqdm


def enabled() -> bool:
    return os.environ.get("TYPO_PROGRESS", "1") != "0"


def progress(iterable: Iterable | None = None, *, desc: str, total: int | None = None,
             unit: str = "it", disable: bool = False, **kwargs: Any) -> tqdm:
    """A tqdm bar named `desc`; `disable` lets a caller turn off its own bar too."""
    kwargs.setdefault("mininterval", 2.0)
    return tqdm(iterable, desc=desc, total=total, unit=unit, file=sys.stderr,
                disable=disable or not enabled(), dynamic_ncols=True, **kwargs)
