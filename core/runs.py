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
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from core.config import ConfigError, dump_yaml, to_dict
from core.errors import BusyError, PipelineError
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
    # the pid in the name lets a later start tell a dead writer's leftover (remove_stale_temps)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
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


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo text (this machine's or a device's) -> {"MemTotal", "MemAvailable"} in kB."""
    out = {}
    for key in ("MemTotal", "MemAvailable"):
        m = re.search(rf"^{key}:\s+(\d+)\s*kB", text, flags=re.M)
        if m:
            out[key] = int(m.group(1))
    return out


def cpu_model() -> dict[str, Any]:
    """The CPU's name and the vector extensions timings depend on (AVX2/AVX-512/AMX), from
    /proc/cpuinfo; {} where there is none (macOS, Windows): a figure names its machine."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    first = text.split("\n\n", 1)[0]  # the first processor's block: every core names the same CPU
    fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in first.splitlines())}
    flags = set(fields.get("flags", "").split())
    wanted = {"avx2", "avx512f", "avx512_vnni", "amx_tile", "amx_int8"}
    return {"cpu_model": fields.get("model name", ""), "cpu_features": sorted(flags & wanted)}


def memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "hostname": socket.gethostname(), "platform": platform.platform(),
        "processor": platform.machine(), "cpu_count": os.cpu_count(),
        "memory_gb": memory_gb(), **cpu_model(),
    }
    torch = sys.modules.get("torch")  # only if already loaded: importing it costs ~1 s
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()  # CPU-hours = seconds x these (bench.learning_curve)
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


_RUN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+=@,-]*$")


def check_run_name(name: str, what: str = "run name") -> str:
    """A run name is one plain folder name: no `/`, no `..`, no leading dot (a hidden or
    parent folder), no spaces or control characters, so it can never leave its stage folder."""
    if not isinstance(name, str) or not _RUN_NAME.fullmatch(name) or ".." in name or len(name) > 128:
        raise ConfigError(f"{what} {name!r} is not a plain name: use letters, digits and _ . - + = @ , "
                          "(no '/', no '..', no leading dot, at most 128 characters)")
    return name


class ResumeError(PipelineError, ValueError):
    """A rerun with an existing run name whose results came from other inputs or settings."""


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def config_diff(old: dict, new: dict, ignore: tuple[str, ...] = ()) -> list[tuple[str, Any, Any]]:
    """(dotted key, old, new) for every key whose value changed; a key in `ignore`, or under
    one (`output.` prefix), does not count."""
    a, b = _flat(old), _flat(new)
    diffs = []
    for key in sorted(set(a) | set(b)):
        if any(key == i or key.startswith(i + ".") for i in ignore):
            continue
        if a.get(key, "<absent>") != b.get(key, "<absent>"):
            diffs.append((key, a.get(key, "<absent>"), b.get(key, "<absent>")))
    return diffs


def refuse_mismatch(where: Path | str, diffs: list[tuple[str, Any, Any]], way_out: str) -> None:
    """The one resume rule (docs/ARCHITECTURE.md, "Run folder"): results made with other
    settings are never reused or relabelled; the error names the first differing field."""
    if not diffs:
        return
    key, old, new = diffs[0]
    more = f" (and {len(diffs) - 1} more: {', '.join(d[0] for d in diffs[1:4])})" if len(diffs) > 1 else ""
    raise ResumeError(f"{where} was made with {key}={old!r}, this run has {key}={new!r}{more}: "
                      f"{way_out}")


def saved_config(run_dir: Path) -> dict | None:
    """The config.yaml a run folder holds (None: none, or unreadable)."""
    import yaml

    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


_STALE = re.compile(r"^\..+?\.(\d+)(\.[^./]+)?\.tmp$|^\..+\.(?:tmp|old|lnk)-(\d+)$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete hidden temp files/folders that writers killed with -9 left in `folder`
    (their pid in the name is no longer alive); a live writer's are kept."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        m = _STALE.match(p.name)
        pid = m and int(m.group(1) or m.group(3))
        if pid and pid != os.getpid() and not _alive(pid):
            _remove(p)
            removed.append(p)
    return removed


def make_run_dir(stage: str, name: str | None, config: Any, seed: int | None,
                 root: str | Path | None = None) -> Path:
    """Create runs/<stage>/<name>/ with config.yaml and env.json; reuse it when resuming.
    Callers check a reused folder's config first (config_diff, refuse_mismatch)."""
    base = Path(root) if root is not None else REPO_ROOT / "runs"
    run_dir = base / stage / (check_run_name(name) if name else default_run_name())
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


class RunLock:
    """An exclusive lock on an output (a run folder, an out_dir) for as long as a process writes it:
    a second writer is refused at once (BusyError naming the holder's pid) instead of interleaving
    checkpoints, caches or pairs files with the first. flock(2): the kernel drops it when the holder
    dies (even by kill -9), so a stale lock file never blocks a rerun. The lock file lies beside
    the output (`.<name>.lock`, removed on release), so a failed start leaves no folder behind."""

    def __init__(self, output: str | Path, what: str) -> None:
        import fcntl

        output = Path(output)
        self.path = output.parent / f".{output.name}.lock"
        self.made = []  # folders made for the lock file: removed on release when still empty
        folder = self.path.parent
        while not folder.exists() and folder.parent != folder:
            self.made.append(folder)
            folder = folder.parent
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(self.fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(self.fd)
            self.fd = -1
            raise BusyError(f"{what} {output} is being written by another process (pid {holder}) right now: "
                            "wait for it to finish, or give another name or folder") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)

    def release(self) -> None:
        if self.fd < 0:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # before unlocking: a newcomer then makes a fresh file
        os.close(self.fd)
        self.fd = -1
        for folder in self.made:
            with contextlib.suppress(OSError):  # only while empty (a failed start wrote nothing else)
                folder.rmdir()

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def run_lock(output: str | Path, what: str) -> RunLock:
    """Lock `output` for this process (see RunLock); use as a context manager or call release()."""
    return RunLock(output, what)
