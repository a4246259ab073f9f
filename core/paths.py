"""Where relative paths point, and what an output may replace: the rules every stage follows.

Inputs (configs, pairs, models) are taken as given when they exist relative to the
working folder, else relative to the repository, which is where the shipped configs
point. Outputs always land under the repository when relative, so `make` targets write
to the same place whichever folder they are started from.

The overwrite rule: no stage writes over its own inputs or over files it did not write.
An output is never the same file as an input (also through a symlink or a hard link), never
lies inside an input folder, and a folder a stage replaces as a whole must be absent, empty,
or one the same stage wrote (it leaves a marker file listing what it wrote there). Both are
checked before the slow work, with OverwriteError naming the output and the input.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from core.errors import OverwriteError

REPO_ROOT = Path(__file__).resolve().parents[1]


def _expand(path: str | Path) -> Path:
    """`~/x` -> the home folder's x; `./~` stays a folder named ~ (pathlib would drop the `./` and
    expanduser() then send it to the home folder)."""
    return Path(path).expanduser() if str(path).startswith("~") else Path(path)


def input_path(path: str | Path) -> Path:
    """An input: as given when it exists (or is absolute), else under the repository."""
    p = _expand(path)
    if p.is_absolute() or p.exists():
        return p
    return REPO_ROOT / p if (REPO_ROOT / p).exists() else p


def output_path(path: str | Path) -> Path:
    """An output: absolute as given, relative ones under the repository."""
    p = _expand(path)
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
    if probe.is_dir():  # access() says yes for root, and on /proc or /sys, where nothing can be made
        import tempfile

        try:
            fd, name = tempfile.mkstemp(prefix=".write-test-", dir=probe)
        except OSError as exc:
            raise _path_error(f"{what} {p}: {probe} is not writable ({exc.strerror or exc})") from None
        os.close(fd)
        os.unlink(name)
    return p


def check_output_file(path: str | Path, what: str) -> Path:
    """An output file: not a folder, and its folder can be created and written."""
    p = Path(path)
    if p.is_dir():
        raise _path_error(f"{what} {p} is a folder, not a file: give a file path")
    check_output_dir(p.parent, f"{what} {p}: folder")
    return p


# -- the overwrite rule ------------------------------------------------------------
MARKER = ".written-by.json"  # in a folder a stage replaces whole: {"writer": ..., "files": [...]}


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file or folder: the same (st_dev, st_ino) when both exist,
    so symlinks and hard links count; the same resolved path when they do not exist yet."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def is_inside(path: str | Path, folder: str | Path) -> bool:
    """`path` lies strictly inside `folder`, symlinks resolved on both sides."""
    return Path(os.path.realpath(folder)) in Path(os.path.realpath(path)).parents


def check_not_an_input(output: str | Path, what: str, inputs: Mapping[str, str | Path | None]) -> Path:
    """Refuse an output that would write over an input: the same file, a file inside an input
    folder, or a folder (replaced whole) holding an input. `inputs` maps a name (the flag or
    config key) to its path; None entries (an optional input not given) are skipped."""
    out = Path(output)
    for name, given in inputs.items():
        if given is None or str(given) == "":
            continue
        inp = Path(given)
        if same_file(out, inp):
            raise OverwriteError(f"{what} {out} is {name} {inp}: an output never writes over an input; "
                                 "give another path")
        if inp.is_dir() and is_inside(out, inp):
            raise OverwriteError(f"{what} {out} lies inside {name} {inp}: an output never writes "
                                 "into an input folder; give a path outside it")
        if is_inside(inp, out):
            raise OverwriteError(f"{what} {out} holds {name} {inp}: writing there could replace or delete "
                                 "an input; give another path")
    return out


def check_own_folder(path: str | Path, what: str, writer: str) -> Path:
    """A folder the stage replaces as a whole: absent, empty, or written by `writer` earlier
    (its marker) and holding nothing the marker does not list. A file, a symlink, or a folder
    with anything else in it is refused, so a replace never deletes what another wrote."""
    p = Path(path)
    if p.is_symlink():
        raise OverwriteError(f"{what} {p} is a symlink: give the folder itself (the link would be replaced)")
    if p.exists() and not p.is_dir():
        raise OverwriteError(f"{what} {p} is a file, not a folder: give a new or empty folder")
    if not p.exists():
        return p
    names = sorted(e.name for e in p.iterdir())
    if not names:
        return p
    own = _marker(p)
    if own is None or own.get("writer") != writer:
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise OverwriteError(f"{what} {p} is a folder {writer} did not write (it holds {shown}): "
                             "give a new or empty folder")
    foreign = [n for n in names if n != MARKER and n not in own.get("files", [])]
    if foreign:
        raise OverwriteError(f"{what} {p}: {', '.join(foreign[:5])} in it were not written by {writer}; "
                             "move them out or give another folder")
    return p


def write_marker(folder: str | Path, writer: str) -> None:
    """Record in `folder` that `writer` wrote everything in it now (call it last, before the
    folder is renamed into place)."""
    folder = Path(folder)
    files = sorted(e.name for e in folder.iterdir() if e.name != MARKER)
    (folder / MARKER).write_text(json.dumps({"writer": writer, "files": files}, indent=1) + "\n")


def _marker(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("files", []), list) else None
