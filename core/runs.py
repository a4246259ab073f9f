"""Run directories and atomic file writes shared by every stage.

Layout (docs/ARCHITECTURE.md, "Run folder"): runs/<stage>/<name>/ holds config.yaml (resolved), env.json
(seed, library versions, git revision, machine), the artifacts and the logs.
Stable names at the repository root point at the newest run's outputs.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from core.config import dump_yaml, to_dict
from core.paths import REPO_ROOT

TRACKED_LIBRARIES = (
    "torch", "transformers", "peft", "tokenizers", "datasets", "executorch", "torchao",
    "accelerate", "adbutils", "symspellpy", "rapidfuzz", "numpy",
)


_SHA256_CACHE: dict[tuple, str] = {}


def sha256_file(path: str | Path) -> str:
    """sha256 of a local file, cached by (path, size, mtime): models are big."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA256_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _SHA256_CACHE[key] = h.hexdigest()
    return _SHA256_CACHE[key]


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write to a temp file beside `path`, fsync, then rename: never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside `path` (file or folder); rename into place on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    _remove(tmp)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp}")
        old = path.parent / f".{path.name}.old-{os.getpid()}"
        if path.exists() or path.is_symlink():
            os.replace(path, old)  # files, folders and links alike
        os.replace(tmp, path)
        _remove(old)
    except BaseException:
        _remove(tmp)
        raise


def _remove(p: Path) -> None:
    if p.is_symlink() or p.is_file():
        p.unlink()
    elif p.is_dir():
        shutil.rmtree(p)


def git_revision(root: Path = REPO_ROOT) -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in TRACKED_LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "hostname": socket.gethostname(), "platform": platform.platform(),
        "processor": platform.machine(), "cpu_count": os.cpu_count(),
    }
    torch = sys.modules.get("torch")  # only if already loaded: importing it costs ~1 s
    if torch is not None:
        if torch.cuda.is_available():
            info["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def env_info(seed: int | None) -> dict[str, Any]:
    return {
        "seed": seed,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_revision": git_revision(),
        "versions": library_versions(),
        "machine": machine_info(),
    }


def default_run_name() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def make_run_dir(stage: str, name: str | None, config: Any, seed: int | None,
                 root: str | Path | None = None) -> Path:
    """Create runs/<stage>/<name>/ with config.yaml and env.json; reuse it when resuming."""
    base = Path(root) if root is not None else REPO_ROOT / "runs"
    run_dir = base / stage / (name or default_run_name())
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.yaml", dump_yaml(config))
    env = env_info(seed)
    gguf_models = _gguf_provenance(to_dict(config) if dataclasses.is_dataclass(config) else config)
    if gguf_models:
        env["gguf_models"] = gguf_models
    atomic_write_json(run_dir / "env.json", env)
    return run_dir


def _gguf_provenance(config: Any) -> dict[str, Any]:
    """Provenance of every `gguf:` model the config names: which file, its sha256 and
    quantization, so that figures from a dequantized model say so."""
    specs: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif isinstance(v, str) and v.startswith("gguf:"):
            specs.append(v)
    walk(config)
    if not specs:
        return {}
    from core.gguf import ensure_dequantized, provenance

    return {s: provenance(ensure_dequantized(s)) for s in specs}


def point_latest(link: str | Path, target: str | Path) -> Path:
    """Make `link` a relative symlink to `target`, replaced atomically."""
    link, target = Path(link), Path(target)
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.parent / f".{link.name}.lnk-{os.getpid()}"
    _remove(tmp)
    os.symlink(os.path.relpath(target, link.parent), tmp)
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)
    os.replace(tmp, link)
    return link
