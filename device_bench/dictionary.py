"""The dictionary pass on the device (evaluation/dictpass.py, ported in corrector/src/dictpass.cpp):
the files text mode pushes for it. The C++ reads SymSpell's frequency list (the guard's English word
list, the same file) and one Mitton-format misspelling list; the real lists come in three formats
(Mitton .dat, TOEFL-Spell .tsv, Norvig's Python literal), so the host joins them into one .dat
that evaluation.dictpass.misspelling_pairs reads back as the same pairs."""
from __future__ import annotations

from pathlib import Path

from core.runs import atomic_write_text


def write_misspellings_dat(source: str | Path, out: Path) -> Path:
    """Every (typed, meant) pair of the lists under `source` as one Mitton .dat at `out`:
    "$meant", then its typed words, a line each, sorted so the file is reproducible."""
    from evaluation.dictpass import misspelling_pairs

    by_meant: dict[str, list[str]] = {}
    for typed, meant in sorted(misspelling_pairs(str(source))):
        by_meant.setdefault(meant, []).append(typed)
    text = "".join(f"${m}\n" + "".join(f"{t}\n" for t in ts) for m, ts in sorted(by_meant.items()))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, text)
    return out
