"""Where relative paths point: the one rule every stage follows.

Inputs (configs, pairs, models) are taken as given when they exist relative to the
working folder, else relative to the repository, which is where the shipped configs
point. Outputs always land under the repository when relative, so `make` targets write
to the same place whichever folder they are started from.
"""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def input_path(path: str | Path) -> Path:
    """An input: as given when it exists (or is absolute), else under the repository."""
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        return p
    return REPO_ROOT / p if (REPO_ROOT / p).exists() else p


def output_path(path: str | Path) -> Path:
    """An output: absolute as given, relative ones under the repository."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p
