"""Training on several processes (torchrun, DDP), integration tier, on the CPU with gloo: two
processes train exactly as one process with the same global batch (2 x grad_accum 1 = 1 x
grad_accum 2), only rank 0 writes, and a DDP run killed with -9 resumes where an uninterrupted
one would be."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[1]
# Measured: 0.0 (bit-identical losses, gradient norms and eval loss). Each rank scales its loss by
# world / (all ranks' answer tokens) and DDP divides the summed gradients by world: with two
# processes both are exact powers of two, and a + b is the sum one process accumulates.
# The bound leaves room for reduction order on other machines (fp32, CPU, deterministic kernels).
REL = 1e-6


def _args(data: Path, out: Path, base: Path, name: str, *extra: str) -> list[str]:
    return ["--config", "train/configs/tiny.yaml", f"run_name={name}", f"model.base={base}",
            f"data.train={data / 'train_data.json'}", f"data.eval={data / 'eval_data.json'}",
            f"output.root={out}", "output.link=", "train.precision=fp32", "train.device=cpu",
            "train.max_steps=12", "checkpoint.every=4", "train.batch_tokens=1024",
            "data.max_train_samples=400", "optim.warmup_steps=2", "eval.samples=2", "eval.max_new_tokens=16",
            "data.max_eval_samples=8", *extra]


def _torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
            "-m", "train.train", *args]


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if '"loss"' in line]


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (torchrun starts each worker in a session of its own,
    so killing torchrun's process group would leave them running)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def test_two_processes_train_as_one_and_resume_after_kill_9(tmp_path, tiny_pairs, tiny_base):
    env = dict(os.environ, OMP_NUM_THREADS="1")  # one thread per process: 2 processes on 2 cores
    kw = dict(cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    one = subprocess.run([sys.executable, "-m", "train.train",
                          *_args(tiny_pairs, tmp_path, tiny_base, "one", "train.grad_accum=2")], **kw)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run(_torchrun(*_args(tiny_pairs, tmp_path, tiny_base, "two")), **kw)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("merged model: ") == 1  # rank 0 reports, the other rank only trains

    runs = tmp_path / "train"
    a, b = _log(runs / "one"), _log(runs / "two")
    assert [r["step"] for r in b] == list(range(1, 13))  # one log, one line per step: rank 0 writes
    worst = max(abs(x["loss"] - y["loss"]) / x["loss"] for x, y in zip(a, b))
    print(f"1 process (grad_accum 2) vs 2 processes: largest relative loss difference {worst:.3g}")
    assert [r["loss"] for r in b] == pytest.approx([r["loss"] for r in a], rel=REL)
    assert [r["grad_norm"] for r in b] == pytest.approx([r["grad_norm"] for r in a], rel=REL)
    assert [r["tokens"] for r in b] == [r["tokens"] for r in a]  # the global batch: both ranks' tokens
    sa, sb = (json.loads((runs / n / "summary.json").read_text()) for n in ("one", "two"))
    assert sb["eval_loss"] == pytest.approx(sa["eval_loss"], rel=REL)
    assert sb["train_tokens"] == sa["train_tokens"]
    state = torch.load(runs / "two/checkpoints/step-00000012/state.pt", weights_only=True)
    assert state["progress"]["world"] == 2 and len(state["rank_rngs"]) == 2

    # keep every checkpoint: with the default keep=2, a fast machine reaching step 12 before the
    # kill would prune step 4 and the test would mistake that for a missing checkpoint
    cmd = _torchrun(*_args(tiny_pairs, tmp_path, tiny_base, "killed", "checkpoint.keep=0"))
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = runs / "killed/checkpoints/step-00000004"
    deadline = time.monotonic() + 300
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(random.Random(0).uniform(0.05, 0.5))  # somewhere inside the following steps
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)  # the launcher and every worker, as a lost machine would
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    proc.wait()
    assert len(workers) == 2 and ckpt.exists()
    assert not (runs / "killed/merged").exists(), "killed too late: nothing left to resume"
    again = subprocess.run(cmd, **kw)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed from step" in again.stderr
    c = _log(runs / "killed")
    assert [r["step"] for r in c] == list(range(1, 13))
    assert [r["loss"] for r in c] == pytest.approx([r["loss"] for r in b], rel=REL)
    sc = json.loads((runs / "killed/summary.json").read_text())
    assert sc["eval_loss"] == pytest.approx(sb["eval_loss"], rel=REL)
