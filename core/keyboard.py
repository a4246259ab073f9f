"""The QWERTY layout as key neighbours: the noise model (datagen/noise.py, through
datagen/tables.py) slips fingers onto them, and the dictionary pass (evaluation/dictpass.py)
prices a neighbouring key as the cheaper slip. One table, so both sides agree."""
from __future__ import annotations

# QWERTY rows and their horizontal offsets in key widths (the same stagger on phones and keyboards).
ROWS = [("qwertyuiop", 0.0), ("asdfghjkl", 0.25), ("zxcvbnm", 0.75)]


def _neighbours() -> dict[str, str]:
    pos = {ch: (x + off, y) for y, (row, off) in enumerate(ROWS) for x, ch in enumerate(row)}
    out = {}
    for ch, (x, y) in pos.items():
        near = [o for o, (ox, oy) in pos.items()
                if o != ch and abs(oy - y) <= 1 and abs(ox - x) <= (1.0 if oy == y else 0.75)]
        out[ch] = "".join(sorted(near))
    return out


NEIGHBOURS: dict[str, str] = _neighbours()


def adjacent(a: str, b: str) -> bool:
    """Keys next to each other on QWERTY (case-insensitive; anything off the letter rows is not)."""
    return b.lower() in NEIGHBOURS.get(a.lower(), "")
