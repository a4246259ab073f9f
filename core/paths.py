"""Where relative paths point: the one rule every stage follows.

Inputs (configs, pairs, models) are taken as given when they exist relative to the
working folder, else relative to the repository, which is where the shipped configs
point. Outputs always land under the repository when relative, so `make` targets write
to the same place whichever folder they are started from.
"""
from __future__ import annotations

import os
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


def _path_error(message: str) -> Exception:
    from core.config import ConfigError  # core.config imports yaml: only on the error path

    return ConfigError(message)


def check_output_dir(path: str | Path, what: str) -> Path:
    """Fail at startup, not after the slow work, when `path` cannot become a writable folder:
    it (or a parent) is a file, or the nearest existing parent is not writable."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise _path_error(f"{what} {p} is a file, not a folder: give a folder path")
    probe = p
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise _path_error(f"{what} {p}: {probe} is a file, so the folder cannot be created")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise _path_error(f"{what} {p}: {probe} is not writable")
    return p


def check_output_file(path: str | Path, what: str) -> Path:
    """An output file: not a folder, and its folder can be created and written."""
    p = Path(path)
    if p.is_dir():
        raise _path_error(f"{what} {p} is a folder, not a file: give a file path")
    check_output_dir(p.parent, f"{what} {p}: folder")
    return p
