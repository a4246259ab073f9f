"""The device side of a lent-GPU training run (docs/cloud.md, "On a lent GPU (the device tool)").

    bash cloud/gpu_train.sh [--deadline-s 570] [--out DIR]      (= python3 -m cloud.gpu_train ...)

`python -m cloud.gpu_pack` (here) cut everything the run needs into folders gpu_pack/call-1 ...
gpu_pack/call-N, each small enough for one call of the device tool. Every call carries one of them
and runs this same command in the repository root there. Each time it:

1. checks every carried part against manifest.json (size and sha256): a corrupted part is refused
   (exit 3) before anything is built from it;
2. rebuilds each file whose parts have all arrived under gpu_pack/work/ (wheels, the bf16 base
   folder, the pairs as JSON Lines), each checked against its own sha256;
3. once the wheels are there, installs them into gpu_pack/work/site (`pip install --no-index
   --no-deps --target`, or unzipped when pip is missing) and checks that torch, CUDA and the
   carried packages import (preflight.json);
4. once everything is there, runs our trainer, `python -m train.train --config <the pack's config>
   ...`, under a hard wall-clock limit (--deadline-s after this script started, less a reserve):
   a run stopped by it still has its checkpoints, and `python -m train.snapshot` turns the newest
   one into the adapter;
5. writes the adapter and the run's records (config.yaml, env.json, log.jsonl, loss.png,
   summary.json, ...) as result.tar.gz in pieces of at most 15 MiB into $OUT (--out), with
   gpu_result.json (sha256 of every piece) and this script's log beside them. Back here:
   `python -m cloud.gpu_pack receive <that folder>`.

A call made while parts are still missing stops after step 3 and says which calls are still to
come (exit 0). On the same warm machine, running the command again resumes the training from its
newest checkpoint (gpu_pack/work/ stays there between calls), or, when it had finished, just writes
the result again. Standard library only: it runs on the device's Python before any wheel is in.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
import zlib
from pathlib import Path

FORMAT = 1
PACK = Path("gpu_pack")
WORK = PACK / "work"
MANIFEST = "manifest.json"
RESULT_PIECE = 15 * 2**20      # the device tool brings back files of at most 16 MiB ...
RESULT_FILES = 8               # ... and at most 8 of them
LOG_NAME = "gpu_train.log"
RESULT_JSON = "gpu_result.json"
RESULT_TAR = "result.tar.gz"
SNAPSHOT_RESERVE_S = 90        # kept back from the trainer's limit: snapshot + result
MIN_TORCH = (2, 6)             # train/ uses torch.compiler.set_stance and nn.utils.get_total_norm
# what the run folder gives back (besides adapter/): records, never checkpoints or merged weights
RUN_FILES = ("config.yaml", "env.json", "log.jsonl", "loss.png", "summary.json", "data_files.json",
             "eval_samples.json", "seed.json")


class PackError(RuntimeError):
    """A part or file does not match the manifest, or the pack cannot be used; exit 3."""


_LOG: list[Path] = []  # the log file, once main() knows it


def log(msg: str) -> None:
    line = f"[gpu_train {time.strftime('%H:%M:%S')}] {msg}"
    print(line, flush=True)
    for path in _LOG:
        with contextlib.suppress(OSError), open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- manifest and parts ---------------------------------------------------------------------

def load_manifest(root: Path) -> dict:
    """The manifest every carried call folder holds a copy of (they must agree)."""
    found = sorted((root / PACK).glob(f"call-*/{MANIFEST}"))
    if not found:
        raise PackError(f"no {PACK}/call-*/{MANIFEST} here: carry a folder gpu_pack/call-K made by "
                        "`python -m cloud.gpu_pack` (docs/cloud.md)")
    manifests = []
    for path in found:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PackError(f"{path}: not a readable manifest ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise PackError(f"{path}: not a gpu_pack manifest of format {FORMAT}")
        manifests.append((path, data))
    ids = {d.get("pack_id") for _, d in manifests}
    if len(ids) > 1:
        listing = ", ".join(f"{p.parent.name}: {d.get('pack_id')}" for p, d in manifests)
        raise PackError(f"the carried call folders come from different packs ({listing}): a machine "
                        "that held an older pack keeps its folders; carry the calls of one pack (or "
                        f"delete {PACK})")
    return manifests[0][1]


def check_parts(root: Path, manifest: dict) -> tuple[set[str], list[dict]]:
    """(names of the parts here, whole and right; the parts not here). A part that is here but
    differs from the manifest in size or sha256 is refused."""
    ok: set[str] = set()
    missing: list[dict] = []
    bad: list[tuple[dict, str]] = []
    for part in manifest["parts"]:
        path = root / PACK / part["path"]
        if not path.is_file():
            missing.append(part)
            continue
        size = path.stat().st_size
        if size != part["size"]:
            bad.append((part, f"{size} bytes, the manifest says {part['size']}"))
        elif sha256_file(path) != part["sha256"]:
            bad.append((part, f"sha256 differs from the manifest's {part['sha256'][:16]}..."))
        else:
            ok.add(part["path"])
    if bad:
        calls = sorted({p["call"] for p, _ in bad})
        raise PackError("corrupted part(s), nothing built from them: "
                        + "; ".join(f"{PACK.as_posix()}/{p['path']}: {why}" for p, why in bad)
                        + f". Carry call(s) {', '.join(map(str, calls))} again (or pack again here)")
    return ok, missing


def _decoder(codec: str):
    if codec == "none":
        return None
    if codec == "gzip":
        return zlib.decompressobj(wbits=31)
    if codec == "xz":
        try:
            import lzma
        except ImportError:
            raise PackError("this Python has no lzma module, and the base was packed with xz: pack again "
                            "with `--base-codec gzip`") from None
        return lzma.LZMADecompressor()
    raise PackError(f"unknown codec {codec!r} in the manifest")


def _state(work: Path) -> dict:
    return _read_json(work / "assembled.json")


def _save_state(work: Path, state: dict) -> None:
    tmp = work / ".assembled.json.tmp"
    tmp.write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, work / "assembled.json")


def assemble(root: Path, manifest: dict, have: set[str]) -> list[dict]:
    """Rebuild under gpu_pack/work/ every file whose parts are all here (once: assembled.json
    records what was built and checked). Returns the files still waiting for parts."""
    work = root / WORK
    work.mkdir(parents=True, exist_ok=True)
    state = _state(work)
    parts_of: dict[str, list[dict]] = {}
    for part in manifest["parts"]:
        parts_of.setdefault(part["file"], []).append(part)
    waiting = []
    for f in manifest["files"]:
        target = work / f["path"]
        if state.get(f["path"]) == f["sha256"] and target.is_file():
            continue
        parts = sorted(parts_of.get(f["path"], []), key=lambda p: p["offset"])
        if not parts or not all(p["path"] in have for p in parts):
            waiting.append(f)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        dec, h, size = _decoder(f["codec"]), hashlib.sha256(), 0
        with open(tmp, "wb") as out:
            for part in parts:
                with open(root / PACK / part["path"], "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 22), b""):
                        data = dec.decompress(block) if dec else block
                        out.write(data)
                        h.update(data)
                        size += len(data)
            if dec is not None and not dec.eof:
                tmp.unlink()
                raise PackError(f"{f['path']}: its parts end before the compressed stream does")
        if h.hexdigest() != f["sha256"] or size != f["size"]:
            tmp.unlink()
            raise PackError(f"{f['path']}: rebuilt from its parts it is not the packed file (sha256 or "
                            "size differ): pack again")
        os.replace(tmp, target)
        state[f["path"]] = f["sha256"]
        _save_state(work, state)
    return waiting


# --- wheels -----------------------------------------------------------------------------------

def _has_pip(python: str) -> bool:
    try:
        res = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, timeout=60)
        return res.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def unzip_wheel(wheel: Path, site: Path) -> None:
    """A wheel without pip: its files onto `site`, `*.data/purelib|platlib` moved to the top
    (scripts, headers and data files are not needed to import it)."""
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            name = info.filename
            parts = Path(name).parts
            if name.startswith("/") or ".." in parts:
                raise PackError(f"{wheel.name}: unsafe path {name!r} in the wheel")
            if parts and parts[0].endswith(".data"):
                if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                    continue
                parts = parts[2:]
            if info.is_dir() or not parts:
                continue
            dest = site.joinpath(*parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(dest, mode)


def install_wheels(root: Path, manifest: dict, python: str, use_pip: bool | None) -> Path:
    """The carried wheels installed into gpu_pack/work/site (once per pack)."""
    work = root / WORK
    site = work / "site"
    stamp = site / ".gpu_pack-installed"
    wheels = sorted(work / f["path"] for f in manifest["files"] if f["kind"] == "wheel")
    want = manifest["pack_id"]
    if stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == want:
        return site
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    if wheels:
        pip = _has_pip(python) if use_pip is None else use_pip
        log(f"installing {len(wheels)} wheels into {site} ({'pip' if pip else 'unzip'})")
        if pip:
            cmd = [python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                   "--no-cache-dir", "--disable-pip-version-check", "--target", str(site),
                   *map(str, wheels)]
            env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
            res = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if res.returncode != 0:
                raise PackError(f"pip install of the carried wheels failed ({res.returncode}): "
                                f"{(res.stderr or res.stdout).strip()[-2000:]}")
        else:
            for wheel in wheels:
                unzip_wheel(wheel, site)
    stamp.write_text(want + "\n", encoding="utf-8")
    return site


PREFLIGHT = r"""
import importlib, importlib.metadata as md, json, sys
out = {"python": sys.version.split()[0], "executable": sys.executable}
try:
    import torch
    out["torch"] = torch.__version__
    out["cuda"] = torch.cuda.is_available()
    if out["cuda"]:
        out["gpu"] = torch.cuda.get_device_name(0)
        out["bf16"] = torch.cuda.is_bf16_supported(including_emulation=False)
        out["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
except Exception as exc:
    out["torch_error"] = f"{type(exc).__name__}: {exc}"
wanted = json.loads(sys.argv[1])
out["packages"], out["errors"] = {}, []
for dist, module in wanted:
    try:
        mod = importlib.import_module(module)
        out["packages"][dist] = {"version": md.version(dist), "file": getattr(mod, "__file__", None)}
    except Exception as exc:
        out["errors"].append(f"{dist} ({module}): {type(exc).__name__}: {exc}")
print(json.dumps(out))
"""
# distribution -> module for the preflight imports (the training path's own, whatever was carried)
IMPORTS = {"transformers": "transformers", "peft": "peft", "tokenizers": "tokenizers",
           "safetensors": "safetensors", "huggingface_hub": "huggingface_hub", "accelerate": "accelerate",
           "PyYAML": "yaml", "tqdm": "tqdm", "numpy": "numpy"}


def child_env(root: Path, site: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(root)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH")
                                                                  else []))
    env.update(PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               TORCHINDUCTOR_CACHE_DIR=str(root / WORK / "inductor-cache"),
               MPLCONFIGDIR=str(root / WORK / "mplconfig"))
    return env


def preflight(root: Path, manifest: dict, python: str, site: Path) -> dict:
    """torch, CUDA and the training packages, imported the way the trainer will import them;
    each carried wheel's version must be the one that imports (the carried copy wins)."""
    wanted = [[d, m] for d, m in IMPORTS.items()]
    for w in manifest.get("wheels", []):
        if w.get("module") and w["name"] not in IMPORTS:
            wanted.append([w["name"], w["module"]])
    res = subprocess.run([python, "-c", PREFLIGHT, json.dumps(wanted)], env=child_env(root, site),
                         capture_output=True, text=True, cwd=root)
    if res.returncode != 0:
        raise PackError(f"preflight failed ({res.returncode}): {res.stderr.strip()[-2000:]}")
    info = json.loads(res.stdout.strip().splitlines()[-1])
    problems = list(info["errors"])
    if "torch" not in info:
        problems.append(f"torch does not import: {info.get('torch_error')}")
    else:
        version = tuple(int(x) for x in info["torch"].split("+")[0].split(".")[:2])
        if version < MIN_TORCH:
            problems.append(f"torch {info['torch']} is older than {'.'.join(map(str, MIN_TORCH))}, "
                            "which train/ needs")
    if manifest.get("device") == "cuda" and not info.get("cuda"):
        problems.append("the pack's config trains on CUDA (train.device=cuda) and torch sees no GPU here")
    for w in manifest.get("wheels", []):
        got = info["packages"].get(w["name"])
        if got and got["version"] != w["version"]:
            problems.append(f"{w['name']}: {got['version']} imports instead of the carried {w['version']}")
    info["pack_id"] = manifest["pack_id"]
    (root / WORK / "preflight.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    if problems:
        raise PackError("preflight: " + "; ".join(problems))
    pk = info["packages"]
    log(f"preflight: Python {info['python']}, torch {info['torch']}, "
        f"{'GPU ' + info['gpu'] if info.get('cuda') else 'no GPU'}; "
        + ", ".join(f"{d} {pk[d]['version']}" for d in ("transformers", "peft", "tokenizers") if d in pk))
    return info


# --- training ---------------------------------------------------------------------------------

def run_dir(root: Path, manifest: dict) -> Path:
    return root / WORK / "train" / manifest["run_name"]


def train_command(python: str, manifest: dict) -> list[str]:
    w = WORK.as_posix()
    return [python, "-m", "train.train", "--config", manifest["train_config"],
            f"run_name={manifest['run_name']}", f"data.train={w}/data/train.jsonl",
            f"data.eval={w}/data/eval.jsonl", f"model.base={w}/base", "model.offline_base=",
            f"output.root={w}", "output.link=", *manifest.get("train_overrides", [])]


def _pump(stream, sink) -> None:
    for line in iter(stream.readline, ""):
        sys.stdout.write(line)
        sys.stdout.flush()
        sink.write(line)
        sink.flush()


_CHILD: list[subprocess.Popen] = []  # the trainer (or snapshot) running now, for the SIGTERM handler


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the child's process group, SIGKILL 15 s later if it is still there."""
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _on_sigterm(signum, frame) -> None:  # the call is being stopped: take the trainer down with us
    for proc in _CHILD:
        _stop_group(proc)
    raise SystemExit(128 + signum)


def run_limited(cmd: list[str], env: dict, cwd: Path, limit_s: float,
                logfile: Path) -> tuple[int | None, bool]:
    """Run `cmd` in its own process group (same session: the device tool still ends it with the
    call), its output to stdout and `logfile`; past `limit_s` the group gets SIGTERM, then SIGKILL
    15 s later. Returns (exit code, stopped by the limit)."""
    with open(logfile, "a", encoding="utf-8") as sink:
        sink.write(f"$ {' '.join(cmd)}\n")
        sink.flush()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", process_group=0)
        _CHILD.append(proc)
        pump = threading.Thread(target=_pump, args=(proc.stdout, sink), daemon=True)
        pump.start()
        try:
            rc = proc.wait(timeout=max(1.0, limit_s))
            stopped = False
        except subprocess.TimeoutExpired:
            stopped = True
            log(f"time limit ({limit_s:.0f} s) reached: stopping it (checkpoints written so far stay)")
            _stop_group(proc)
            rc = proc.returncode
        finally:
            _CHILD.remove(proc)
        pump.join(timeout=10)
    return rc, stopped


def finished(run: Path) -> bool:
    return (run / "summary.json").is_file() and (run / "adapter" / "adapter_config.json").is_file()


def newest_checkpoint(run: Path) -> Path | None:
    found = sorted(p for p in (run / "checkpoints").glob("step-*") if (p / "state.pt").is_file())
    return found[-1] if found else None


def train(root: Path, manifest: dict, python: str, site: Path, deadline: float, logfile: Path,
          limit_s: float | None = None) -> dict:
    """Run (or resume) the training under the deadline; the adapter: the run's own when it
    finished, else a snapshot of its newest checkpoint."""
    run = run_dir(root, manifest)
    env = child_env(root, site)
    info: dict = {"run_dir": str(run.relative_to(root))}
    if finished(run):
        log(f"{run.name} finished in an earlier call: writing its result again")
    else:
        limit = deadline - time.monotonic() - SNAPSHOT_RESERVE_S
        if limit_s is not None:
            limit = min(limit, limit_s)
        elif limit < 60:
            raise PackError(f"only {limit:.0f} s left for training before the deadline: raise --deadline-s "
                            "(and the call's timeout_s)")
        ckpt = newest_checkpoint(run)
        log(f"training {run.name} for at most {limit:.0f} s"
            + (f" (resuming from {ckpt.name})" if ckpt else ""))
        t0 = time.monotonic()
        rc, stopped = run_limited(train_command(python, manifest), env, root, limit, logfile)
        info.update(train_exit=rc, stopped_by_limit=stopped, train_wall_s=round(time.monotonic() - t0, 1))
    if finished(run):
        info.update(adapter_from="final", adapter=str((run / "adapter").relative_to(root)))
        return info
    ckpt = newest_checkpoint(run)
    if ckpt is None:
        info["adapter_from"] = None
        log("no checkpoint was written: no adapter to bring back (see the log)")
        return info
    snap = root / WORK / "snapshot"
    if snap.exists():
        shutil.rmtree(snap)
    log(f"the run did not finish: writing the adapter of its newest checkpoint ({ckpt.name})")
    cmd = [python, "-m", "train.snapshot", str(run.relative_to(root)), "--out", str(snap.relative_to(root))]
    rc, stopped = run_limited(cmd, env, root, max(30.0, deadline - time.monotonic() - 10), logfile)
    if rc == 0 and (snap / "adapter_config.json").is_file():
        info.update(adapter_from=f"checkpoint {ckpt.name}", adapter=str(snap.relative_to(root)))
    else:
        info["adapter_from"] = None
        log(f"train.snapshot failed ({rc}{', stopped by the limit' if stopped else ''})")
    return info


# --- the result -------------------------------------------------------------------------------

def write_result(root: Path, manifest: dict, info: dict, out: Path, logfile: Path) -> dict:
    """result.tar.gz (adapter/ + the run's records + gpu_run.json) in pieces of at most 15 MiB,
    gpu_result.json and the log, into `out` (at most 8 files: the device tool's limit)."""
    out.mkdir(parents=True, exist_ok=True)
    run = run_dir(root, manifest)
    summary = None
    with contextlib.suppress(OSError, ValueError):
        summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    progress = None
    ckpt = newest_checkpoint(run)
    if ckpt is not None:
        progress = ckpt.name
    gpu_run = {"pack_id": manifest["pack_id"], "run_name": manifest["run_name"], "base": manifest["base"],
               "train_config": manifest["train_config"],
               "train_overrides": manifest.get("train_overrides", []),
               "plan": manifest.get("plan"), "newest_checkpoint": progress, "summary": summary,
               "machine": {"host": platform.node(), "python": sys.version.split()[0]}, **info}
    with contextlib.suppress(OSError, ValueError):
        gpu_run["preflight"] = json.loads((root / WORK / "preflight.json").read_text(encoding="utf-8"))
    tar_path = root / WORK / RESULT_TAR
    with tarfile.open(tar_path, "w:gz", compresslevel=6) as tar:
        def add_bytes(name: str, data: bytes) -> None:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode = len(data), int(time.time()), 0o644
            tar.addfile(ti, io.BytesIO(data))

        adapter = root / info["adapter"] if info.get("adapter") else None
        if adapter is not None:
            for f in sorted(adapter.iterdir()):
                if not f.is_file() or f.name.startswith("."):
                    continue
                if f.name == "adapter_config.json":  # records the base it belongs to, not the device's copy
                    cfg = json.loads(f.read_text(encoding="utf-8"))
                    gpu_run["device_base_path"] = cfg.get("base_model_name_or_path")
                    cfg["base_model_name_or_path"] = manifest["base"]["spec"]
                    add_bytes("adapter/adapter_config.json", (json.dumps(cfg, indent=2) + "\n").encode())
                else:
                    tar.add(f, arcname=f"adapter/{f.name}")
        for name in RUN_FILES:
            if (run / name).is_file():
                tar.add(run / name, arcname=name)
        add_bytes("gpu_run.json", (json.dumps(gpu_run, indent=2, default=str) + "\n").encode())
    pieces = []
    for old in out.glob(f"{RESULT_TAR}.*"):
        old.unlink()
    most = RESULT_FILES - 2  # gpu_result.json and the log come back too
    if tar_path.stat().st_size > most * RESULT_PIECE:
        raise PackError(f"{tar_path} is larger than {most} pieces of 15 MiB: it cannot come back")
    with open(tar_path, "rb") as fh:
        for k, data in enumerate(iter(lambda: fh.read(RESULT_PIECE), b"")):
            name = f"{RESULT_TAR}.{k:03d}"
            (out / name).write_bytes(data)
            pieces.append({"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    status = "finished" if info.get("adapter_from") == "final" else (
        "stopped" if info.get("adapter_from") else "no-adapter")
    result = {"format": FORMAT, "pack_id": manifest["pack_id"], "run_name": manifest["run_name"],
              "preset": manifest.get("preset"),
              "status": status, "adapter_from": info.get("adapter_from"), "tar": RESULT_TAR,
              "tar_sha256": sha256_file(tar_path), "pieces": pieces, "summary": summary,
              "newest_checkpoint": progress, "base": manifest["base"]}
    (out / RESULT_JSON).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    log(f"result: {status}; {len(pieces)} piece(s) of {RESULT_TAR} in {out}")
    return result


def copy_log(logfile: Path, out: Path) -> None:
    """The log into `out`, its last 15 MiB when longer (the device tool's file limit)."""
    if not logfile.is_file():
        return
    size = logfile.stat().st_size
    with open(logfile, "rb") as fh:
        fh.seek(max(0, size - RESULT_PIECE))
        (out / LOG_NAME).write_bytes(fh.read())


# --- main -------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cloud.gpu_train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=".", help="the repository root of the device's copy (default: here)")
    ap.add_argument("--out", default=os.environ.get("OUT", ""),
                    help="where the result goes (default: $OUT, else gpu_pack/work/out)")
    ap.add_argument("--deadline-s", type=float, default=570.0,
                    help="wall-clock seconds from this script's start by which everything must be written: "
                         "set it below the call's timeout_s (default 570 for timeout_s=600)")
    ap.add_argument("--python", default=sys.executable,
                    help="the Python that runs the trainer (default: this one)")
    ap.add_argument("--install", choices=("auto", "pip", "unzip"), default="auto",
                    help="how the carried wheels are installed (auto: pip when it runs, else unzip)")
    ap.add_argument("--train-limit-s", type=float, default=None,
                    help="at most this many seconds of training in this call (default: what the deadline "
                         f"leaves, less {SNAPSHOT_RESERVE_S} s for the snapshot and the result)")
    ap.add_argument("--no-train", action="store_true", help="check, rebuild and install only")
    args = ap.parse_args(argv)
    start = time.monotonic()
    deadline = start + args.deadline_s
    root = Path(args.root).resolve()
    out = Path(args.out).resolve() if args.out else root / WORK / "out"
    work = root / WORK
    work.mkdir(parents=True, exist_ok=True)
    logfile = work / LOG_NAME
    _LOG[:] = [logfile]
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        manifest = load_manifest(root)
        calls = manifest["calls"]
        here = sorted(int(p.parent.name.split("-")[1]) for p in (root / PACK).glob(f"call-*/{MANIFEST}"))
        log(f"pack {manifest['pack_id']}: calls here {here} of {len(calls)}")
        have, missing = check_parts(root, manifest)
        log(f"{len(have)} of {len(manifest['parts'])} parts here, all match the manifest")
        waiting = assemble(root, manifest, have)
        wheels_waiting = [f for f in waiting if f["kind"] == "wheel"]
        site = work / "site"
        if not wheels_waiting:
            use_pip = {"auto": None, "pip": True, "unzip": False}[args.install]
            site = install_wheels(root, manifest, args.python, use_pip)
            if _read_json(work / "preflight.json").get("pack_id") != manifest["pack_id"]:
                preflight(root, manifest, args.python, site)
        if waiting:
            need = sorted({p["call"] for p in missing})
            log(f"{len(waiting)} file(s) still wait for parts of call(s) {need}: run the next call "
                f"(carry gpu_pack/call-{need[0]}, the same command)")
            return 0
        if args.no_train:
            log("everything is here and built (--no-train: stopping)")
            return 0
        info = train(root, manifest, args.python, site, deadline, logfile, args.train_limit_s)
        result = write_result(root, manifest, info, out, logfile)
        copy_log(logfile, out)
        return 0 if result["status"] != "no-adapter" else 1
    except PackError as exc:
        log(f"error: {exc}")
        if out:
            with contextlib.suppress(OSError):
                out.mkdir(parents=True, exist_ok=True)
                copy_log(logfile, out)
        return 3


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


if __name__ == "__main__":
    sys.exit(main())
