"""The lent-GPU path on this CPU, tiny model: `python -m cloud.gpu_pack` cuts the run into parts and
calls that fit the device tool's limits, `bash cloud/gpu_train.sh` (the device side) runs in a copy
of the working tree with the carried parts, one call after another, and `receive` brings back an
adapter that loads. The device's Python is this one; the wheels are a small wheel made here (no
network: the real pack's `pip download` is checked by hand, docs/cloud.md)."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from cloud import gpu_pack, gpu_train
from cloud.gpu_pack import MiB, call_room, lock_pins, plan_parts

REPO = Path(__file__).resolve().parents[1]
PART_MIB, CALL_MIB = 0.2, 1.0
MAX_STEPS = 20
# the tiny preset as a LoRA run, small enough for a loaded 2-core machine
TINY_SET = ["model.full_finetune=false", "train.device=cpu", "train.batch_tokens=512", "checkpoint.every=2",
            "data.max_eval_samples=16", "eval.samples=2", "eval.max_new_tokens=8"]


# --- units ---------------------------------------------------------------------------------------

def test_plan_parts_fills_calls_within_both_limits():
    items = [("wheel", 10), ("empty", 0), ("shard", 25), ("data", 7)]
    parts = plan_parts(items, room=12, part_max=5)
    assert all(p["size"] <= 5 for p in parts)
    per_call: dict[int, int] = {}
    for p in parts:
        per_call[p["call"]] = per_call.get(p["call"], 0) + p["size"]
    assert max(per_call.values()) <= 12 and sorted(per_call) == [1, 2, 3, 4]  # ceil(42 / 12) calls
    for name, size in items:  # each file's parts cover it in order, once
        mine = [p for p in parts if p["file"] == name]
        assert [p["offset"] for p in mine] == [sum(q["size"] for q in mine[:k]) for k in range(len(mine))]
        assert sum(p["size"] for p in mine) == size and mine
    assert [p["file"] for p in parts] == sorted([p["file"] for p in parts], key=[n for n, _ in items].index)


def test_call_room_leaves_space_for_the_working_tree():
    tree = 11 * MiB
    assert call_room(None, tree) == 64 * MiB - tree - gpu_pack.MARGIN - gpu_pack.MANIFEST_RESERVE
    assert call_room(30, tree) == 30 * MiB - gpu_pack.MANIFEST_RESERVE
    with pytest.raises(gpu_pack.GpuPackError, match="working tree is 63.5 MiB"):
        call_room(None, int(63.5 * MiB))


def test_the_committed_tree_leaves_a_device_call_room_to_work():
    """Every device call carries the working tree: a release folder that grows it (a base's
    tokenizer.json, fp32 weights) squeezes what a call can carry. Keep 8 MiB free."""
    size = gpu_pack.tree_bytes()
    assert call_room(None, size) >= 8 * MiB, f"the working tree takes {size / MiB:.1f} MiB of a 64 MiB call"


def test_wheels_are_pinned_by_the_lock():
    pins = lock_pins(list(gpu_pack.WHEELS))
    lock = (REPO / "requirements.lock").read_text()
    for name, version in pins.items():
        assert re.search(rf"^{re.escape(name)}=={re.escape(version)}$", lock, re.M | re.I), name
    # a training run never imports torch's own CLI helpers: they are not carried
    assert not {"torch", "typer", "click", "rich", "hf-xet"} & {gpu_pack.canonical(n) for n in pins}


def make_wheel(folder: Path, name: str = "gpu_pack_fake", version: str = "0.1") -> Path:
    """A pure-Python wheel with a module and a `.data/purelib` file (both land at the top)."""
    info = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": f"VERSION = {version!r}\n",
             f"{name}-{version}.data/purelib/{name}_extra.py": "EXTRA = True\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n"}

    def digest(text: str) -> str:
        return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()

    record = [f"{n},sha256={digest(t)},{len(t.encode())}" for n, t in files.items()]
    files[f"{info}/RECORD"] = "\n".join(record + [f"{info}/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for n, t in files.items():
            zf.writestr(n, t)
    return wheel


def _imports(site: Path, code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.parametrize("use_pip", [True, False], ids=["pip", "unzip"])
def test_wheels_install_with_pip_or_unzip(tmp_path, use_pip):
    root = tmp_path / "repo"
    wheel = make_wheel(root / gpu_train.WORK / "wheels")
    manifest = {"pack_id": "x1", "files": [{"path": f"wheels/{wheel.name}", "kind": "wheel"}]}
    site = gpu_train.install_wheels(root, manifest, sys.executable, use_pip)
    out = _imports(site, "import gpu_pack_fake, gpu_pack_fake_extra; print(gpu_pack_fake.VERSION)")
    assert out == "0.1"
    mtime = (site / ".gpu_pack-installed").stat().st_mtime_ns
    gpu_train.install_wheels(root, manifest, sys.executable, use_pip)  # once per pack
    assert (site / ".gpu_pack-installed").stat().st_mtime_ns == mtime


def test_run_limited_stops_the_whole_group(tmp_path):
    t0 = time.monotonic()
    marker = tmp_path / "late"
    cmd = ["bash", "-c", f"(sleep 4; touch {marker}) & sleep 60"]
    rc, stopped = gpu_train.run_limited(cmd, dict(os.environ), tmp_path, 1.0, tmp_path / "log")
    assert stopped and rc is not None and rc < 0 and time.monotonic() - t0 < 20
    time.sleep(5)
    assert not marker.exists()  # the background child went with its group


# --- the pack ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """A few hundred pairs from the tiny datagen config."""
    from core.config import load_config
    from datagen import DataConfig, build_dataset

    root = tmp_path_factory.mktemp("gpu_pairs")
    cfg = load_config(DataConfig, REPO / "datagen/configs/tiny.yaml",
                      [f"out_dir={root / 'data'}", f"runs_root={root / 'runs'}", "run_name=tiny",
                       "progress=false", "train_pairs=300", "eval_pairs=30"])
    build_dataset(cfg)
    return root / "data"


@pytest.fixture(scope="module")
def packed(tmp_path_factory, tiny_base, tiny_data) -> Path:
    tmp = tmp_path_factory.mktemp("gpu_pack")
    wheels = tmp / "wheels"
    make_wheel(wheels)
    out = tmp / "pack"
    sets = [a for s in TINY_SET for a in ("--set", s)]
    args = ["--config", "train/configs/tiny.yaml", "--preset", "tiny", *sets,
            "--base", str(tiny_base), "--data", str(tiny_data / "train_data.json"),
            "--eval", str(tiny_data / "eval_data.json"), "--out", str(out), "--wheels", str(wheels),
            "--part-mib", str(PART_MIB), "--call-mib", str(CALL_MIB), "--max-steps", str(MAX_STEPS)]
    assert gpu_pack.main(args) == 0
    return out


def _manifest(pack: Path) -> dict:
    return json.loads((pack / "manifest.json").read_text())


def test_pack_parts_and_calls_fit_their_limits(packed):
    m = _manifest(packed)
    assert m["part_max_bytes"] == int(PART_MIB * MiB)
    calls = sorted(p.name for p in packed.glob("call-*"))
    assert len(calls) == len(m["calls"]) >= 3
    for call in packed.glob("call-*"):
        files = list(call.iterdir())
        assert sum(f.stat().st_size for f in files) <= CALL_MIB * MiB, call.name
        assert all(f.stat().st_size <= PART_MIB * MiB for f in files if f.name != "manifest.json")
        assert json.loads((call / "manifest.json").read_text()) == m  # every call carries the manifest
    assert m["call_room_bytes"] <= 64 * MiB - m["tree_bytes"] - gpu_pack.MARGIN
    for part in m["parts"]:
        data = (packed / part["path"]).read_bytes()
        assert len(data) == part["size"] and hashlib.sha256(data).hexdigest() == part["sha256"]
        assert part["path"].startswith(f"call-{part['call']}/")
    for f in m["files"]:  # the parts of each file rebuild it: decoded, its own sha256
        blob = b"".join((packed / p["path"]).read_bytes() for p in sorted(
            (p for p in m["parts"] if p["file"] == f["path"]), key=lambda p: p["offset"]))
        raw = {"none": lambda b: b, "gzip": lambda b: zlib.decompress(b, 31),
               "xz": lambda b: __import__("lzma").decompress(b)}[f["codec"]](blob)
        assert hashlib.sha256(raw).hexdigest() == f["sha256"], f["path"]
    kinds = [f["kind"] for f in m["files"]]
    assert kinds[0] == "wheel" and m["parts"][0]["call"] == 1  # the first call installs the wheels
    assert {"base/config.json", "base/tokenizer.json", "data/train.jsonl", "data/eval.jsonl"} <= {
        f["path"] for f in m["files"]}
    assert any(f["path"].endswith(".safetensors") and f["codec"] == "xz" for f in m["files"])
    assert m["train_overrides"][-1] == f"train.max_steps={MAX_STEPS}"
    assert m["train_config"] == "train/configs/tiny.yaml"
    assert [w["name"] for w in m["wheels"]] == ["gpu_pack_fake"]
    plan = (packed / "plan.txt").read_text()
    assert f"carry=[\"gpu_pack/call-{len(calls)}\"]" in plan and "timeout_s=600" in plan


def test_pack_refuses_a_full_finetune_and_a_foreign_folder(tmp_path, tiny_base, tiny_data):
    base = ["--config", "train/configs/tiny.yaml", "--base", str(tiny_base), "--wheels", "none",
            "--data", str(tiny_data / "train_data.json"), "--max-steps", "2"]
    with pytest.raises(gpu_pack.GpuPackError, match="full_finetune"):
        gpu_pack.pack(gpu_pack.pack_parser().parse_args(base + ["--out", str(tmp_path / "p")]))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    from core.errors import OverwriteError

    with pytest.raises(OverwriteError):
        gpu_pack.pack(gpu_pack.pack_parser().parse_args(base + ["--set", "model.full_finetune=false",
                                                                "--out", str(tmp_path / "mine")]))
    assert (tmp_path / "mine" / "notes.txt").read_text() == "mine"


# --- the device, simulated -----------------------------------------------------------------------

def device_copy(dest: Path) -> Path:
    """What a device call gets: the tracked files and the untracked ones git does not ignore."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def carry(pack: Path, dev: Path, *calls: int) -> None:
    for k in calls:
        target = dev / "gpu_pack" / f"call-{k}"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(pack / f"call-{k}", target)


def device_call(dev: Path, out: Path, *flags: str, background: bool = False):
    if out.exists():
        shutil.rmtree(out)  # the tool empties $OUT before each command
    out.mkdir(parents=True)
    env = {**os.environ, "OUT": str(out), "GPU_PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    cmd = ["bash", "cloud/gpu_train.sh", "--deadline-s", "500", *flags]
    if background:  # its output into a file: a pipe nobody reads would stall it
        with open(out.parent / "background.log", "w") as log:
            return subprocess.Popen(cmd, cwd=dev, env=env, stdout=log, stderr=subprocess.STDOUT)
    return subprocess.run(cmd, cwd=dev, env=env, capture_output=True, text=True, timeout=600)


def check_returned(out: Path) -> dict:
    """What comes back obeys the device tool's limits: <= 8 files, each <= 16 MiB, plain names."""
    files = list(out.iterdir())
    assert 0 < len(files) <= 8 and all(f.is_file() for f in files)
    assert all(f.stat().st_size <= 16 * MiB and re.fullmatch(r"[A-Za-z0-9._-]+", f.name) for f in files)
    return json.loads((out / "gpu_result.json").read_text())


def loads_and_trained(adapter: Path, base: Path) -> None:
    """The adapter attaches to the base and its LoRA B matrices moved from their zero start."""
    from core.loading import attach_adapter, load_model

    model = attach_adapter(load_model(str(base)), adapter, str(base))
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and any(float(p.abs().max()) > 0 for p in lora_b)


def _kill_tree(pid: int) -> None:
    import psutil

    proc = psutil.Process(pid)
    for p in proc.children(recursive=True) + [proc]:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


@pytest.mark.integration
def test_device_calls_train_resume_and_bring_back_an_adapter(packed, tiny_base, tmp_path):
    m = _manifest(packed)
    n = len(m["calls"])
    dev = device_copy(tmp_path / "dev")
    run = dev / "gpu_pack" / "work" / "train" / m["run_name"]
    out = tmp_path / "out"

    # call 1: the wheels arrive, are installed and checked; the rest is still to come
    carry(packed, dev, 1)
    res = device_call(dev, out)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "still wait for parts of call(s) [2" in res.stdout and "preflight: Python" in res.stdout
    assert _imports(dev / "gpu_pack/work/site", "import gpu_pack_fake; print(gpu_pack_fake.VERSION)") == "0.1"
    assert not run.exists()

    # the other calls, one part corrupted: refused, nothing built from it, nothing trained
    carry(packed, dev, *range(2, n + 1))
    victim = next(p for p in m["parts"] if p["call"] == 2)
    path = dev / "gpu_pack" / victim["path"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    res = device_call(dev, out)
    assert res.returncode == 3, res.stdout
    assert "corrupted part" in res.stdout and victim["path"] in res.stdout and "call(s) 2 again" in res.stdout
    assert not run.exists()

    # call 2 carried again: it trains; the lease ends (everything killed) after the first checkpoint
    carry(packed, dev, 2)
    proc = device_call(dev, out, background=True)
    deadline = time.monotonic() + 400
    while not (run / "checkpoints" / "step-00000002" / "state.pt").is_file():
        assert proc.poll() is None, (tmp_path / "background.log").read_text()
        assert time.monotonic() < deadline, "no checkpoint in 400 s"
        time.sleep(0.1)
    _kill_tree(proc.pid)
    proc.wait()
    assert not (run / "summary.json").exists(), "the run finished before it was killed"

    # a call with 1 s of training left: stopped by the limit, the adapter of the newest checkpoint
    res = device_call(dev, out, "--train-limit-s", "1")
    assert res.returncode == 0, res.stdout
    result = check_returned(out)
    assert result["status"] == "stopped" and result["adapter_from"].startswith("checkpoint step-")
    got = gpu_pack.receive(out, str(tmp_path / "stopped"))
    loads_and_trained(got / "adapter", tiny_base)

    # the same command again: resumes from the checkpoint and finishes
    res = device_call(dev, out)
    assert res.returncode == 0, res.stdout
    assert "resuming from step-" in res.stdout and "resumed from step" in res.stdout
    result = check_returned(out)
    assert result["status"] == "finished" and result["summary"]["steps"] == MAX_STEPS
    got = gpu_pack.receive(out, str(tmp_path / "final"))
    for name in ("adapter/adapter_model.safetensors", "adapter/adapter_config.json", "adapter/tokenizer.json",
                 "config.yaml", "env.json", "log.jsonl", "loss.png", "summary.json", "gpu_run.json",
                 "gpu_train.log"):
        assert (got / name).is_file(), name
    steps = [r["step"] for r in map(json.loads, (got / "log.jsonl").read_text().splitlines()) if "loss" in r]
    assert steps == sorted(set(steps)) and steps[-1] == MAX_STEPS
    cfg = json.loads((got / "adapter/adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == str(tiny_base)  # the pack's base, not the device's bf16 copy
    loads_and_trained(got / "adapter", tiny_base)
    from core.loading import merge_adapter

    merged = merge_adapter(got / "adapter", cache=tmp_path / "merged")
    assert (merged / "config.json").is_file()

    # once more: the finished run is not trained again, its result is written again
    res = device_call(dev, out)
    assert res.returncode == 0 and "finished in an earlier call" in res.stdout
    assert check_returned(out)["status"] == "finished"
