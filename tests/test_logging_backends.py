"""W&B and TensorBoard stay optional, and when switched on they record the same values as
log.jsonl: a short tiny run with both on, W&B offline (WANDB_MODE=offline: no network, no
account), then each backend's own files are read back and compared with log.jsonl."""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest

from tests.fixtures.train import tiny_train_config

SMALL = ["data.max_train_samples=160", "data.max_eval_samples=8", "eval.samples=2", "eval.every=3",
         "eval.max_new_tokens=8", "train.batch_tokens=1024", "train.max_steps=5", "optim.warmup_steps=2",
         "train.device=cpu", "output.log_every=1"]
KEYS = ("loss", "lr", "grad_norm", "eval_loss")


def _wandb_records(path: Path):
    """The protobuf records of an offline run's .wandb file (W&B's leveldb-style log: a 7-byte
    file header, 32 KiB blocks, 7-byte record headers; FULL=1, FIRST=2, MIDDLE=3, LAST=4).
    wandb 0.31 ships no reader of its own, and syncing would need the network."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B", data[:7]
    pos, block, buf = 7, 32768, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if left < 7 or (length == 0 and kind == 0):  # block padding
            pos += left
            continue
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        buf = chunk if kind in (1, 2) else buf + chunk
        if kind in (1, 4):
            rec = pb.Record()
            rec.ParseFromString(buf)
            yield rec


def _wandb_history(run_dir: Path) -> dict[int, dict[str, float]]:
    files = list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1, files
    out: dict[int, dict[str, float]] = {}
    for rec in _wandb_records(files[0]):
        if rec.WhichOneof("record_type") == "history":
            row = out.setdefault(rec.history.step.num, {})
            for item in rec.history.item:
                key = item.key or "/".join(item.nested_key)  # wandb-core writes nested_key
                if key in KEYS:
                    row[key] = float(json.loads(item.value_json))
    return out


def _tensorboard_scalars(run_dir: Path) -> dict[int, dict[str, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert files, "no TensorBoard event file"
    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    out: dict[int, dict[str, float]] = {}
    for key in set(acc.Tags()["scalars"]) & set(KEYS):
        for ev in acc.Scalars(key):
            out.setdefault(ev.step, {})[key] = ev.value
    return out


def _jsonl(run_dir: Path) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    for line in (run_dir / "log.jsonl").read_text().splitlines():
        rec = json.loads(line)
        out.setdefault(rec["step"], {}).update({k: v for k, v in rec.items() if k in KEYS})
    return out


def test_wandb_offline_and_tensorboard_match_log_jsonl(tmp_path, tiny_pairs, tiny_base, monkeypatch):
    from train.train import train

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))  # its cache/config files stay in the test folder
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    cfg = tiny_train_config(tiny_pairs, tmp_path, tiny_base, *SMALL, "run_name=logged",
                            "output.wandb=true", "output.tensorboard=true")
    run_dir = train(cfg)
    import wandb

    wandb.teardown()  # run.finish() hands the tail to wandb-core; teardown waits until it is written
    want = _jsonl(run_dir)
    assert sorted(want) == [1, 2, 3, 4, 5] and "eval_loss" in want[3] and "eval_loss" in want[5]

    wb = _wandb_history(run_dir)
    tb = _tensorboard_scalars(run_dir)
    for step, row in want.items():
        for key, value in row.items():
            assert wb[step][key] == value, (step, key)  # JSON round trip: exact
            assert math.isclose(tb[step][key], value, rel_tol=1e-6), (step, key)  # float32 in events
    assert {k for r in wb.values() for k in r} == {k for r in want.values() for k in r}


def test_switched_on_without_the_package_says_what_to_install(tmp_path, monkeypatch):
    """Both stay optional: the import happens only when switched on, with a TrainError naming
    the package (sys.modules[name] = None makes `import name` fail as if not installed)."""
    import sys

    from core.errors import TrainError
    from train.logs import Trackers

    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(TrainError, match="pip install wandb"):
        Trackers(tmp_path, "run", {}, wandb=True, tensorboard=False)
    Trackers(tmp_path, "run", {}, wandb=False, tensorboard=False).close()


def test_wandb_id_follows_the_run_name():
    from train.logs import wandb_id

    assert wandb_id("smollm2-135m-1a2b3c4d") == "smollm2-135m-1a2b3c4d"
    assert wandb_id("a b/c") == "a-b-c"
    long = wandb_id("x" * 100)
    assert len(long) <= 64 and long == wandb_id("x" * 100) != wandb_id("x" * 99)
