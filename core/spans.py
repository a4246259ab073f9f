"""Protected spans: text that no corruption may touch and no correction may change
(URLs, e-mail addresses, numbers and times, code in backticks). Shared by the noise
model (datagen/noise.py) and the guard (evaluation/guard.py) so both agree byte for byte."""
from __future__ import annotations

import re

_PATTERNS = [
    r"`[^`\n]+`",                                              # inline code
    r"\b(?:https?://|ftp://|www\.)[^\s<>\"']+[^\s<>\"'.,;:!?)\]]",  # URLs
    r"(?<![\w.+-])\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b",            # e-mail addresses (run starts only)
    r"\b\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:\s?[aApP]\.?[mM]\.?)?",  # times 9:30, 10:45pm, 1:57.28
    r"[$€£]?(?<!\d)(?<!\d[,.])\d(?:[\d,.]*\d)?%?",               # numbers, money, percentages (ditto)
]
# "run starts only": a match may begin only where its character run begins, so a long run such
# as "a.a.a..." or "1,1,1..." is scanned once, not once per position (quadratic before)
PROTECTED_RE = re.compile("|".join(f"(?:{p})" for p in _PATTERNS))


def protected_spans(text: str) -> list[tuple[int, int]]:
    """Sorted, non-overlapping (start, end) character spans that must stay byte-identical."""
    return [m.span() for m in PROTECTED_RE.finditer(text)]


def protected_strings(text: str) -> list[str]:
    return [text[a:b] for a, b in protected_spans(text)]


def mask(text: str) -> list[tuple[str, bool]]:
    """Split text into (piece, protected) segments, in order, covering it exactly."""
    out, pos = [], 0
    for a, b in protected_spans(text):
        if a > pos:
            out.append((text[pos:a], False))
        out.append((text[a:b], True))
        pos = b
    if pos < len(text):
        out.append((text[pos:], False))
    return out
