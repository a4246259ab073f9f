"""What a training run was trained on: size, mtime and sha256 of its data.train and data.eval
files, recorded in the run folder (`data_files.json`) when the run starts.

The default run name follows the config, not the data, so `make data` then `make train` lands in
the folder of the run before. A rerun whose files changed since is refused (the resume rule,
docs/ARCHITECTURE.md): its checkpoints would go on training on other pairs, or a finished run
hand back its old model, under the same name. The hash streams the file (core.runs.sha256_file);
the record doubles as the cache: a file whose size and mtime equal the recorded ones is taken as
unchanged without being read, so a rerun on unchanged data costs two stat calls.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import sys
from pathlib import Path

from core.errors import TrainError
from core.runs import ResumeError, atomic_write_json, sha256_file

RECORD = "data_files.json"
FIELDS = ("data.train", "data.eval")
WAY_OUT = ("use a new run_name (the default name follows the config, not the data: `make train RUN=<name>` "
           "or run_name=<name>), or delete the folder; to go on with this run, put the old file back")


class DataChangedError(ResumeError, TrainError):
    """A rerun whose data.train / data.eval differ from the files the run was started on."""


def fingerprint(path: Path, known: dict | None = None) -> dict | None:
    """{path, size, mtime_ns, sha256} of a file (None: no such file, the loader will say so).
    `known`: an earlier fingerprint; its sha256 is reused when size and mtime are the same."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    rec = {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if (known and known.get("size") == st.st_size and known.get("mtime_ns") == st.st_mtime_ns
            and isinstance(known.get("sha256"), str)):
        return {**rec, "sha256": known["sha256"]}
    return {**rec, "sha256": sha256_file(path)}


def read_record(run_dir: Path) -> dict | None:
    """The run's recorded fingerprints (None: not recorded, or unreadable)."""
    try:
        data = json.loads((Path(run_dir) / RECORD).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _describe(fp: dict) -> str:
    when = _dt.datetime.fromtimestamp(fp["mtime_ns"] / 1e9).isoformat(timespec="seconds")
    return f"{fp['size']} bytes, modified {when}, sha256 {fp['sha256'][:16]}"


def check_data(run_dir: Path, paths: dict[str, Path], resumed: bool) -> dict:
    """Fingerprints of `paths` ({"data.train": file, "data.eval": file}); when `resumed` (the run
    folder holds checkpoints or results), refuse files whose content differs from the record.
    Returns the record to write (write_record) once the run folder is made."""
    old = read_record(run_dir) or {}
    new = {}
    for field in FIELDS:
        before = old.get(field) if isinstance(old.get(field), dict) else None
        now = fingerprint(paths[field], before)
        if resumed and before and now and before.get("sha256") != now["sha256"]:
            raise DataChangedError(
                f"{run_dir} was trained on {field}={before.get('path', paths[field])} as it was then "
                f"({_describe(before)}); that file has changed since ({_describe(now)}), and resuming "
                f"would go on with (or hand back) a model trained on other pairs: {WAY_OUT}")
        new[field] = now or before  # a missing file keeps its record: the loader reports it
    if resumed and not old:
        print(f"warning: {run_dir} records no fingerprint of its data files (made before they were "
              f"recorded): resuming without checking that {' and '.join(FIELDS)} are unchanged",
              file=sys.stderr)
    return new


def write_record(run_dir: Path, record: dict) -> None:
    atomic_write_json(Path(run_dir) / RECORD, record)
