"""Pack a training run for a lent GPU (docs/cloud.md, "On a lent GPU (the device tool)"), and
unpack what it brings back.

    python -m cloud.gpu_pack --preset smollm2-135m --data data/train_data.json --out gpu_pack/ \
        [--pairs 500000]
    python -m cloud.gpu_pack receive FILES_AT [--to runs/gpu/NAME]

The lent machine has torch but no network and none of our other packages, and each call of the
device tool carries at most 64 MiB (the working tree included). So everything the run needs is
made here and cut into parts, planned into calls gpu_pack/call-1 ... call-N that each fit one call:

- the carried wheels (`pip download`, Python 3.12, manylinux x86_64, the versions of
  requirements.lock; only what a training run imports beyond torch: WHEELS below);
- the base as a bf16 safetensors folder (config, tokenizer, shards), xz-compressed: offline that is
  the dequantized GGUF (core.loading / core.gguf), so the GPU trains against a bf16 copy of the
  dequantized base, and the adapter is merged onto the fp32 dequantized base here;
- the pairs and the eval pairs as gzip JSON Lines ({"input", "output"} only);
- manifest.json (in every call folder): each file's and part's size and sha256, which call carries
  which part, the training config and its overrides (train.max_steps from the time budget).

Each call runs `bash cloud/gpu_train.sh` there (cloud/gpu_train.py); the last one trains and writes
the adapter into $OUT; `receive` checks and unpacks it here, ready for `make eval ADAPTER=...`.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path

from cloud.gpu_train import FORMAT, LOG_NAME, MANIFEST, PACK, RESULT_JSON, sha256_file
from core.errors import PipelineError
from core.paths import REPO_ROOT, check_own_folder, input_path, output_path, write_marker

WRITER = "cloud.gpu_pack"
RECEIVER = "cloud.gpu_pack receive"
MiB = 2**20
DEVICE_LIMIT = 64 * MiB        # the device tool: working tree + carried paths, per call
MARGIN = 1 * MiB               # kept free of that (the tree may grow a little before the call)
MANIFEST_RESERVE = 256 * 1024  # room left in every call for its copy of manifest.json
MIN_PAIRS = 500_000            # the v2 run passes at least this many pairs
SHARD = "60MB"                 # bf16 safetensors shard size (save_pretrained's max_shard_size)
# What a training run imports beyond torch (python -m train.train, sys.modules listed at exit), at
# requirements.lock's versions; distribution -> import name. Not carried: torch and what torch
# needs anyway; numpy (in the device's image: --with-numpy carries it); what transformers and
# huggingface_hub install but a run never imports (typer, click, rich, pydantic: their CLIs;
# hf-xet: downloads); optional imports (matplotlib: loss.png is drawn by `receive` when missing).
WHEELS = {
    "transformers": "transformers", "peft": "peft", "tokenizers": "tokenizers",
    "safetensors": "safetensors", "huggingface_hub": "huggingface_hub", "accelerate": "accelerate",
    "PyYAML": "yaml", "tqdm": "tqdm",
    # huggingface_hub's HTTP stack, imported with it
    "httpx2": "httpx2", "httpcore2": "httpcore2", "truststore": "truststore", "anyio": "anyio",
    "h11": "h11", "idna": "idna",
    # the rest of their needs (typing_extensions, filelock, fsspec come with torch too; carried at
    # our versions so the device imports what we test with)
    "regex": "regex", "psutil": "psutil", "packaging": "packaging", "typing_extensions": "typing_extensions",
    "filelock": "filelock", "fsspec": "fsspec",
}
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_27_x86_64",
             "manylinux_2_28_x86_64")
XZ_FILTERS = [{"id": 0x21, "preset": 6, "lc": 3, "lp": 1, "pb": 1}]  # LZMA2, 2-byte aligned (bf16)


class GpuPackError(PipelineError, RuntimeError):
    """The pack cannot be made (or a result not received); the message says why."""


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- the calls' room ---------------------------------------------------------------------------

def tree_bytes(root: Path = REPO_ROOT) -> int:
    """What travels with every call besides the carried paths: tracked files and untracked files
    git does not ignore (and shared/ when the checkout has one)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=root, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise GpuPackError(f"cannot list the working tree with git ({exc}): pass --call-mib") from None
    total = 0
    for name in {n for n in out.decode("utf-8", "surrogateescape").split("\0") if n}:
        p = root / name
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
    shared = root / "shared"
    if shared.is_dir():
        total += sum(f.stat().st_size for f in shared.rglob("*") if f.is_file() and not f.is_symlink())
    return total


def call_room(call_mib: float | None, tree: int) -> int:
    """Bytes of parts one call may carry: --call-mib, at most the tool's 64 MiB less the tree."""
    room = DEVICE_LIMIT - tree - MARGIN
    if call_mib is not None:
        room = min(room, int(call_mib * MiB))
    room -= MANIFEST_RESERVE
    if room < MiB // 4:
        raise GpuPackError(f"the working tree is {tree / MiB:.1f} MiB: it leaves no room in a call of the "
                           f"device tool ({DEVICE_LIMIT // MiB} MiB); make it smaller")
    return room


def plan_parts(items: list[tuple[str, int]], room: int, part_max: int) -> list[dict]:
    """Cut the stored files, in order, into parts that fill call 1, then call 2, ...: no part is
    larger than `part_max`, no call carries more than `room`. [{file, call, offset, size}]"""
    if room <= 0 or part_max <= 0:
        raise GpuPackError("the call and part sizes must be positive")
    parts, call, left = [], 1, room
    for name, size in items:
        off = 0
        while True:
            if left == 0:
                call, left = call + 1, room
            n = min(size - off, left, part_max)
            parts.append({"file": name, "call": call, "offset": off, "size": n})
            off, left = off + n, left - n
            if off >= size:
                break
    return parts


# --- staging -----------------------------------------------------------------------------------

class Staged:
    """A file of the pack: its path on the device (under gpu_pack/work/), what it is, its raw size
    and sha256, and the stored (compressed) copy that is cut into parts."""

    def __init__(self, path: str, kind: str, codec: str, blob: Path, size: int, sha256: str):
        self.path, self.kind, self.codec, self.blob = path, kind, codec, blob
        self.size, self.sha256 = size, sha256

    def entry(self) -> dict:
        return {"path": self.path, "kind": self.kind, "codec": self.codec, "size": self.size,
                "sha256": self.sha256, "stored_size": self.blob.stat().st_size}


def store(src: Path, dest_path: str, kind: str, codec: str, staging: Path) -> Staged:
    """`src` compressed with `codec` (xz, gzip, none) into the staging folder."""
    ext = {"xz": ".xz", "gzip": ".gz", "none": ""}[codec]
    blob = staging / "blobs" / (dest_path.replace("/", "__") + ext)
    blob.parent.mkdir(parents=True, exist_ok=True)
    h, size = hashlib.sha256(), 0
    if codec == "xz":
        import lzma

        filters = XZ_FILTERS if src.suffix == ".safetensors" else [{"id": lzma.FILTER_LZMA2, "preset": 6}]
        comp = lzma.LZMACompressor(format=lzma.FORMAT_XZ, filters=filters)
        encode, finish = comp.compress, comp.flush
    elif codec == "gzip":
        comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # a gzip member (header without name or time)
        encode, finish = comp.compress, comp.flush
    else:
        encode, finish = (lambda b: b), (lambda: b"")
    with open(src, "rb") as fh, open(blob, "wb") as out:
        for block in iter(lambda: fh.read(4 * MiB), b""):
            h.update(block)
            size += len(block)
            out.write(encode(block))
        out.write(finish())
    return Staged(dest_path, kind, codec, blob, size, h.hexdigest())


def save_base(spec: str, staging: Path) -> Path:
    """The base as a bf16 safetensors folder (shards, config, tokenizer): what the trainer loads there."""
    import torch

    from core.loading import load_model, load_tokenizer, resolve

    folder = Path(resolve(spec))
    dest = staging / "base"
    model = load_model(spec, dtype=torch.bfloat16)
    model.save_pretrained(dest, max_shard_size=SHARD)
    load_tokenizer(spec).save_pretrained(dest)
    del model
    record = {"spec": spec, "resolved": str(folder), "dtype": "bfloat16",
              "note": "a bf16 copy of this base, made by cloud.gpu_pack for a lent GPU; the adapter "
                      "trained on it is merged onto the base itself (fp32 where it is the dequantized "
                      "GGUF) here"}
    if (folder / "provenance.json").is_file():
        record["provenance"] = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
    (dest / "gpu_pack_base.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return dest


def store_base(dest: Path, staging: Path, codec: str) -> list[Staged]:
    """The base folder's files: the shards and tokenizer.json compressed, the small files as they are."""
    t0 = time.monotonic()
    staged = []
    for f in sorted(dest.iterdir()):
        big = f.suffix == ".safetensors" or f.name == "tokenizer.json"
        staged.append(store(f, f"base/{f.name}", "base", codec if big else "none", staging))
    stored = sum(s.blob.stat().st_size for s in staged)
    say(f"base: {sum(s.size for s in staged) / MiB:.1f} MiB bf16 -> {stored / MiB:.1f} MiB stored "
        f"({codec}, {time.monotonic() - t0:.0f} s)")
    return staged


def stage_pairs(src: Path, limit: int, dest_path: str, staging: Path) -> tuple[Staged, list[dict]]:
    """Pairs ({"input", "output"} only, checked by the trainer's own reader) as gzip JSON Lines."""
    from train.batches import load_pairs

    pairs = load_pairs(src, limit)
    raw = staging / "raw" / Path(dest_path).name
    raw.parent.mkdir(parents=True, exist_ok=True)
    with open(raw, "w", encoding="utf-8") as fh:
        for p in pairs:
            fh.write(json.dumps({"input": p["input"], "output": p["output"]}, ensure_ascii=False) + "\n")
    staged = store(raw, dest_path, "data", "gzip", staging)
    raw.unlink()
    return staged, pairs


def stage_wheels(staging: Path, source: str, python_version: str,
                 with_numpy: bool) -> tuple[list[Staged], list]:
    """The wheels: downloaded with pip (source "download") at requirements.lock's versions, taken
    from a folder (source = its path: tests, or wheels fetched elsewhere), or none ("none")."""
    dest = staging / "wheels"
    dest.mkdir(parents=True)
    names = dict(WHEELS, **({"numpy": "numpy"} if with_numpy else {}))
    if source == "download":
        pins = lock_pins(list(names))
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
               "--python-version", python_version, "--implementation", "cp",
               "--abi", f"cp{python_version.replace('.', '')}", "--abi", "abi3", "--abi", "none",
               *[a for p in PLATFORMS for a in ("--platform", p)], "--platform", "any",
               "-d", str(dest), *[f"{n}=={v}" for n, v in pins.items()]]
        say(f"pip download: {len(pins)} wheels for Python {python_version} manylinux x86_64")
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise GpuPackError(f"pip download failed ({res.returncode}): {res.stderr.strip()[-1500:]}")
    elif source != "none":
        src = input_path(source)
        if not src.is_dir():
            raise GpuPackError(f"--wheels-from {source}: not a folder of .whl files")
        for w in sorted(src.glob("*.whl")):
            shutil.copy2(w, dest / w.name)
    listed = []
    modules = {canonical(n): m for n, m in names.items()}
    for w in sorted(dest.glob("*.whl")):
        dist, version = w.name.split("-")[:2]
        listed.append({"name": dist, "version": version, "file": w.name,
                       "module": modules.get(canonical(dist))})
    if source == "download":
        got = {canonical(x["name"]) for x in listed}
        lost = sorted(n for n in names if canonical(n) not in got)
        if lost:
            raise GpuPackError(f"pip download brought no wheel for {', '.join(lost)}")
    for x in listed:  # the preflight there checks versions under the distributions' own names
        x["name"] = next((n for n in names if canonical(n) == canonical(x["name"])), x["name"])
    staged = [store(w, f"wheels/{w.name}", "wheel", "none", staging) for w in sorted(dest.glob("*.whl"))]
    return staged, listed


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins(names: list[str], lock: Path = REPO_ROOT / "requirements.lock") -> dict[str, str]:
    pins = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s#;]+)", line.strip())
        if m:
            pins[canonical(m.group(1))] = m.group(2)
    missing = [n for n in names if canonical(n) not in pins]
    if missing:
        raise GpuPackError(f"{lock.name} pins no version of {', '.join(missing)}")
    return {n: pins[canonical(n)] for n in names}


# --- the step budget -------------------------------------------------------------------------

def plan_steps(cfg, base_dir: Path, pairs: list[dict], args) -> dict:
    """train.max_steps: enough steps for --train-pairs (default: max(500k, every pair once)),
    at most what --train-seconds allow at --tokens-per-s. Pairs and tokens per step come from the
    trainer's own tokenization and batch plan of an evenly spread sample of the pairs."""
    from core.loading import load_tokenizer
    from core.prompt import set_instruction
    from train.batches import encode_pairs
    from train.packing import make_plan

    tok = load_tokenizer(str(base_dir))
    set_instruction(tok, cfg.data.instruction)
    every = max(1, len(pairs) // args.sample_pairs)
    sample = pairs[::every][: args.sample_pairs]
    examples, dropped = encode_pairs(tok, sample, cfg.data.max_length)
    plan = make_plan(examples, cfg.seed, 0, cfg.data.packing, cfg.data.row_tokens, cfg.train.batch_tokens)
    counts = [(sum(len(r) for r in b), sum(len(examples[i]) for r in b for i in r)) for b in plan]
    if len(counts) > 1:  # the smallest batch is the plan's remainder: not a full step
        counts.remove(min(counts))
    pairs_per_step = sum(c for c, _ in counts) / len(counts)
    tokens_per_step = sum(t for _, t in counts) / len(counts)
    kept = len(pairs) * len(examples) / max(1, len(sample))
    target = args.train_pairs or max(MIN_PAIRS, math.ceil(kept))
    steps_target = math.ceil(target / pairs_per_step)
    steps_budget = max(1, int(args.train_seconds * args.tokens_per_s / tokens_per_step))
    steps = args.max_steps or min(steps_target, steps_budget)
    passed = steps * pairs_per_step
    info = {"pairs": len(pairs), "sample": len(sample), "dropped_in_sample": dropped,
            "avg_tokens_per_pair": round(sum(map(len, examples)) / max(1, len(examples)), 1),
            "pairs_per_step": round(pairs_per_step, 1), "tokens_per_step": round(tokens_per_step),
            "target_pairs": target, "steps_for_target": steps_target, "steps_in_budget": steps_budget,
            "max_steps": steps, "pairs_passed": round(passed), "epochs": round(passed / max(1, kept), 2),
            "assumed_tokens_per_s": args.tokens_per_s, "train_seconds_budget": args.train_seconds,
            "est_step_seconds_at_301k": round(steps * tokens_per_step / 301_000),
            "est_step_seconds_assumed": round(steps * tokens_per_step / args.tokens_per_s)}
    if passed < MIN_PAIRS and not args.max_steps:
        say(f"warning: the plan passes {passed:,.0f} pairs, fewer than {MIN_PAIRS:,}: raise --train-seconds "
            "or --tokens-per-s if the GPU is faster than assumed")
    return info


# --- pack ----------------------------------------------------------------------------------------

def train_config(args) -> tuple[str, object]:
    from core.config import load_config
    from train.config import TrainConfig

    if args.config:
        path = input_path(args.config)
    else:
        gpu = REPO_ROOT / "train" / "configs" / f"{args.preset}-gpu.yaml"
        path = gpu if gpu.is_file() else REPO_ROOT / "train" / "configs" / f"{args.preset}.yaml"
    if not path.is_file():
        raise GpuPackError(f"no training config {path} (--preset names train/configs/<preset>.yaml)")
    try:
        rel = path.resolve().relative_to(REPO_ROOT.resolve()).as_posix()
    except ValueError:
        raise GpuPackError(f"--config {path}: must lie in the repository (the device has only its copy of "
                           "the working tree)") from None
    ignored = subprocess.run(["git", "check-ignore", "-q", rel], cwd=REPO_ROOT).returncode == 0
    if ignored:
        raise GpuPackError(f"--config {rel} is git-ignored, so the device's copy of the tree lacks it")
    cfg = load_config(TrainConfig, path, list(args.set))
    if cfg.model.full_finetune:
        raise GpuPackError(f"{rel}: model.full_finetune is on; a lent-GPU run brings back a LoRA adapter "
                           "(a merged model does not fit what the device tool returns): set "
                           "model.full_finetune=false")
    return rel, cfg


def pack(args) -> Path:
    from core.loading import pick_base
    from core.runs import atomic_path, git_revision

    t0 = time.monotonic()
    out = output_path(args.out)
    check_own_folder(out, "--out", WRITER)
    if out.resolve() != (REPO_ROOT / PACK).resolve():
        say(f"note: the device reads {PACK}/call-K from the repository root; --out {out} is for checks only")
    rel_cfg, cfg = train_config(args)
    spec = args.base or pick_base(cfg.model.base, cfg.model.offline_base)
    tree = tree_bytes()
    room = call_room(args.call_mib, tree)
    part_max = min(int(args.part_mib * MiB), room)
    data = input_path(args.data)
    evals = input_path(args.eval) if args.eval else data.with_name("eval_data.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    # staging beside the pack (git ignores both: .gitignore /*gpu_pack*/): the bf16 base, the stored files
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.staging-", dir=out.parent) as tmp:
        staging = Path(tmp)
        # the quick steps first, so that a bad input stops the pack before the long compression
        wheels, wheel_list = stage_wheels(staging, args.wheels, args.python_version, args.with_numpy)
        base_dir = save_base(spec, staging)
        train_file, pairs = stage_pairs(data, args.pairs, "data/train.jsonl", staging)
        eval_file, _ = stage_pairs(evals, args.eval_pairs, "data/eval.jsonl", staging)
        say(f"pairs: {len(pairs):,} from {data} -> {train_file.blob.stat().st_size / MiB:.1f} MiB gzip")
        steps = plan_steps(cfg, base_dir, pairs, args)
        base = store_base(base_dir, staging, args.base_codec)
        # order: wheels first (the first call installs them and checks torch/CUDA), the small base
        # files and the pairs, then the shards
        small = [s for s in base if s.kind == "base" and not s.path.endswith(".safetensors")]
        shards = [s for s in base if s.path.endswith(".safetensors")]
        files = wheels + small + [eval_file, train_file] + shards
        overrides = list(args.set) + [f"train.max_steps={steps['max_steps']}"]
        what = [[f.path, f.sha256] for f in files] + [rel_cfg, overrides]
        content = hashlib.sha256(json.dumps(what).encode())
        pack_id = content.hexdigest()[:12]
        # as few calls as the room allows, filled evenly: the spare room in each absorbs a working
        # tree that grows a little before the calls are made
        sizes = [(f.path, f.blob.stat().st_size) for f in files]
        n_min = max(1, math.ceil(sum(n for _, n in sizes) / room))
        even = min(room, math.ceil(sum(n for _, n in sizes) / n_min))
        parts = plan_parts(sizes, even, part_max)
        n_calls = parts[-1]["call"]
        by_file = {f.path: f for f in files}
        counts: dict[str, int] = {}
        for p in parts:
            counts[p["file"]] = counts.get(p["file"], 0) + 1
        index = {f.path: i for i, f in enumerate(files)}
        seen: dict[str, int] = {}
        with atomic_path(out) as dest:
            dest.mkdir(parents=True)
            for p in parts:
                f = by_file[p["file"]]
                j = seen[p["file"]] = seen.get(p["file"], -1) + 1
                name = f"{index[f.path]:03d}-{f.blob.name}" + (f".part{j}" if counts[f.path] > 1 else "")
                p["path"] = f"call-{p['call']}/{name}"
                target = dest / p["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(f.blob, "rb") as src, open(target, "wb") as fh:
                    src.seek(p["offset"])
                    data_bytes = src.read(p["size"])
                    fh.write(data_bytes)
                p["sha256"] = hashlib.sha256(data_bytes).hexdigest()
            calls = []
            for k in range(1, n_calls + 1):
                mine = [p for p in parts if p["call"] == k]
                complete = [f.path for f in files
                            if max(p["call"] for p in parts if p["file"] == f.path) == k]
                calls.append({"call": k, "carry": [f"{PACK.as_posix()}/call-{k}"],
                              "parts_bytes": sum(p["size"] for p in mine),
                              "command": "bash cloud/gpu_train.sh"
                                         + (" --deadline-s 570" if k == n_calls else ""),
                              "timeout_s": 600 if k == n_calls else 180, "completes": complete})
            manifest = {
                "format": FORMAT, "pack_id": pack_id, "run_name": f"gpu-{pack_id}",
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "git_revision": git_revision(),
                "preset": args.preset, "train_config": rel_cfg, "train_overrides": overrides,
                "device": cfg.train.device,
                "base": {"spec": spec, "dtype": "bfloat16", "codec": args.base_codec,
                         "note": "the GPU trains against a bf16 copy of this base; the adapter is merged "
                                 "onto the base itself here (fp32 where it is the dequantized GGUF)"},
                "plan": steps, "python": args.python_version, "platforms": list(PLATFORMS),
                "wheels": wheel_list, "tree_bytes": tree, "call_room_bytes": room, "call_bytes": even,
                "part_max_bytes": part_max,
                "files": [f.entry() for f in files], "parts": parts, "calls": calls}
            text = json.dumps(manifest, indent=1) + "\n"
            if len(text.encode()) > MANIFEST_RESERVE:
                raise GpuPackError(f"manifest.json is {len(text) // 1024} KiB, more than the "
                                   f"{MANIFEST_RESERVE // 1024} KiB kept for it in each call")
            (dest / MANIFEST).write_text(text, encoding="utf-8")
            for k in range(1, n_calls + 1):
                (dest / f"call-{k}" / MANIFEST).write_text(text, encoding="utf-8")
            (dest / "plan.txt").write_text(plan_text(manifest), encoding="utf-8")
            write_marker(dest, WRITER)
    print(plan_text(manifest))
    say(f"packed in {time.monotonic() - t0:.0f} s: {out}")
    return out


def plan_text(m: dict) -> str:
    s, n = m["plan"], len(m["calls"])
    total = sum(f["stored_size"] for f in m["files"])
    lines = [f"gpu pack {m['pack_id']} (run {m['run_name']}): {len(m['files'])} files, {total / MiB:.1f} MiB "
             f"in {len(m['parts'])} parts, {n} calls of the device tool; the working tree adds "
             f"{m['tree_bytes'] / MiB:.1f} MiB to each (limit {DEVICE_LIMIT // MiB} MiB a call)",
             f"base {m['base']['spec']} as bf16 ({m['base']['codec']}); {len(m['wheels'])} wheels; "
             f"{s['pairs']:,} pairs (~{s['avg_tokens_per_pair']} tokens each, "
             f"~{s['pairs_per_step']:.0f} a step)",
             f"training: {m['train_config']} {' '.join(m['train_overrides'])}: {s['max_steps']} steps, "
             f"~{s['pairs_passed']:,} pairs ({s['epochs']} epochs); estimated "
             f"{s['est_step_seconds_at_301k']} s "
             f"of steps at 301k tokens/s, {s['est_step_seconds_assumed']} s at {s['assumed_tokens_per_s']:,} "
             "(plus start-up: tokenizing, torch.compile, final eval)",
             "", "device calls, one after another while the machine is warm (it goes back after ~30 s idle):"]
    manifest_bytes = len((json.dumps(m, indent=1) + "\n").encode())
    for c in m["calls"]:
        carried = c["parts_bytes"] + manifest_bytes
        what = "installs the wheels, checks torch/CUDA; " if c["call"] == 1 else ""
        last = "; then trains and writes the adapter into $OUT" if c["call"] == n else ""
        lines.append(f"  call {c['call']}: run(command={c['command']!r}, carry={json.dumps(c['carry'])}, "
                     f"timeout_s={c['timeout_s']})\n      # carries {carried / MiB:.1f} MiB + the working "
                     f"tree {m['tree_bytes'] / MiB:.1f} MiB = {(carried + m['tree_bytes']) / MiB:.1f} of "
                     f"{DEVICE_LIMIT // MiB} MiB; {what}completes {len(c['completes'])} files{last}")
    lines += ["", "then here: python -m cloud.gpu_pack receive <files_at of the last call> "
              f"(-> runs/gpu/{m['run_name']}/adapter), and "
              f"make eval ADAPTER=runs/gpu/{m['run_name']}/adapter "
              f"PRESET={m['preset']}",
              "a call that failed: run the same call again; the last call again on the same warm machine "
              "resumes the training from its newest checkpoint"]
    return "\n".join(lines) + "\n"


# --- receive -------------------------------------------------------------------------------------

def receive(src: Path, to: str | None) -> Path:
    """Check the pieces against gpu_result.json, join and unpack them into `to` (default
    runs/gpu/<run name>), and draw loss.png from log.jsonl when the device could not."""
    from core.runs import atomic_path

    try:
        result = json.loads((src / RESULT_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GpuPackError(f"{src}: no readable {RESULT_JSON} ({exc}): give the folder a device call "
                           "brought back (files_at)") from None
    if result.get("format") != FORMAT or not isinstance(result.get("pieces"), list):
        raise GpuPackError(f"{src / RESULT_JSON}: not a gpu_train result of format {FORMAT}")
    dest = output_path(to or f"runs/gpu/{result['run_name']}")
    check_own_folder(dest, "--to", RECEIVER)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".gpu_receive-", dir=dest.parent) as t:
        joined = Path(t) / "result.tar.gz"
        with open(joined, "wb") as fh:
            for piece in result["pieces"]:
                p = src / piece["name"]
                if not p.is_file() or "/" in piece["name"]:
                    raise GpuPackError(f"{p}: missing (gpu_result.json lists it)")
                data = p.read_bytes()
                if hashlib.sha256(data).hexdigest() != piece["sha256"]:
                    raise GpuPackError(f"{p}: sha256 differs from gpu_result.json's: fetch it again")
                fh.write(data)
        if sha256_file(joined) != result["tar_sha256"]:
            raise GpuPackError(f"{src}: the joined pieces are not the device's {result['tar']}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(dest) as tmp:
            tmp.mkdir(parents=True)
            with tarfile.open(joined, "r:gz") as tar:
                tar.extractall(tmp, filter="data")
            shutil.copy2(src / RESULT_JSON, tmp / RESULT_JSON)
            if (src / LOG_NAME).is_file():
                shutil.copy2(src / LOG_NAME, tmp / LOG_NAME)
            if (tmp / "log.jsonl").is_file() and not (tmp / "loss.png").is_file():
                from train.logs import plot_loss

                plot_loss(tmp / "log.jsonl", tmp / "loss.png")
            write_marker(tmp, RECEIVER)
    adapter = dest / "adapter"
    status = result.get("status")
    if adapter.is_dir():
        say(f"{status}: adapter ({result.get('adapter_from')}) in {adapter}\n"
            f"  make eval ADAPTER={adapter} PRESET={result.get('preset') or 'smollm2-135m'}")
    else:
        say(f"{status}: no adapter came back; see {dest / LOG_NAME}")
    print(dest)
    return dest


# --- CLI -----------------------------------------------------------------------------------------

def pack_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m cloud.gpu_pack", description=__doc__.split("\n\n")[0],
                                 epilog="`python -m cloud.gpu_pack receive --help`: unpack a result")
    ap.add_argument("--preset", default="smollm2-135m",
                    help="train/configs/<preset>-gpu.yaml when it exists, else <preset>.yaml "
                         "(default %(default)s)")
    ap.add_argument("--config", default="", help="the training config instead (a file in the repository)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a training config override passed to the device run (repeatable)")
    ap.add_argument("--base", default="", help="base model spec (default: the config's model.base, else its "
                    "offline GGUF: core.loading.pick_base)")
    ap.add_argument("--data", default="data/train_data.json", help="training pairs, JSON Lines")
    ap.add_argument("--eval", default="", help="eval pairs (default: eval_data.json beside --data)")
    ap.add_argument("--pairs", type=int, default=0, help="pack the first N pairs (0 = all)")
    ap.add_argument("--eval-pairs", type=int, default=1000, help="eval pairs packed (default %(default)s)")
    ap.add_argument("--out", default=str(PACK),
                    help="the pack folder (default %(default)s: the device reads it)")
    ap.add_argument("--wheels", default="download", metavar="download|none|DIR",
                    help="pip download the wheels (default), carry none, or take the .whl files of DIR")
    ap.add_argument("--with-numpy", action="store_true", help="carry numpy too (the device's image has it)")
    ap.add_argument("--python-version", default="3.12", help="the device's Python (default %(default)s)")
    ap.add_argument("--base-codec", choices=("xz", "gzip", "none"), default="xz",
                    help="compression of the base's shards (default %(default)s)")
    ap.add_argument("--part-mib", type=float, default=60.0, help="largest part, MiB (default %(default)s)")
    ap.add_argument("--call-mib", type=float, default=None,
                    help=f"parts a call may carry, MiB (default: {DEVICE_LIMIT // MiB} MiB less the "
                         "working tree)")
    ap.add_argument("--train-pairs", type=int, default=0,
                    help=f"pairs the run should pass (default: max({MIN_PAIRS:,}, every packed pair once))")
    ap.add_argument("--train-seconds", type=float, default=300.0,
                    help="seconds of optimizer steps the run may take (default %(default)s)")
    ap.add_argument("--tokens-per-s", type=float, default=200_000.0,
                    help="assumed training speed, real tokens/s (default %(default)s: two thirds of "
                         "the H200's measured 301k)")
    ap.add_argument("--max-steps", type=int, default=0, help="train.max_steps as given (skips the budget)")
    ap.add_argument("--sample-pairs", type=int, default=20_000,
                    help="pairs tokenized here to size the steps (default %(default)s)")
    return ap


def receive_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m cloud.gpu_pack receive",
                                 description="check and unpack what the last device call brought back")
    ap.add_argument("src", help="the folder the device call's files landed in (files_at)")
    ap.add_argument("--to", default=None, help="where to unpack (default runs/gpu/<run name>)")
    return ap


def main(argv: list[str] | None = None) -> int:
    from core.cli import run_cli

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["receive"]:
        args = receive_parser().parse_args(argv[1:])
        return run_cli(lambda: (receive(input_path(args.src), args.to), 0)[1])
    args = pack_parser().parse_args(argv)
    return run_cli(lambda: (pack(args), 0)[1])


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
