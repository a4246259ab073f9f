"""Training log: one JSON line per logged step (append + flush: a crash loses at most
the line being written), one fixed-format progress line, and the loss-curve PNG."""
from __future__ import annotations

import json
import re
import resource
from pathlib import Path

import torch

from core.runs import atomic_write_bytes, atomic_write_text


def memory_mb(device: torch.device) -> float:
    """Peak memory: CUDA allocator peak on GPU, process max RSS on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def progress_line(rec: dict, total: int) -> str:
    line = (f"step {rec['step']:>6d}/{total} | epoch {rec['epoch']:6.3f} | loss {rec['loss']:.4f} | "
            f"lr {rec['lr']:.2e} | tok/s {rec['tokens_per_s']:>9.0f} | mem {rec['memory_mb']:8.0f}MB")
    if rec.get("skipped_steps"):  # non-finite gradients: steps left out of the update
        line += f" | skipped {rec['skipped_steps']}"
    if "loss_scale" in rec:
        line += f" | scale {rec['loss_scale']:.0f}"
    return line


def read_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by kill -9: drop it
            continue
    return out


def truncate_log(path: Path, step: int) -> None:
    """On resume, drop records after the checkpoint's step (they will be redone)."""
    keep = [r for r in read_log(path) if r.get("step", 0) <= step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in keep))


def append(path: Path, rec: dict) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(rec) + "\n")
        fh.flush()


def plot_loss(log_path: Path, png: Path) -> None:
    try:
        import matplotlib
    except ImportError:  # bare GPU boxes may lack it; everything else is still written
        print(f"warning: matplotlib is not installed, {png.name} not written (pip install matplotlib)")
        return

    matplotlib.use("Agg")
    import io

    import matplotlib.pyplot as plt

    recs = read_log(log_path)
    fig, ax = plt.subplots(figsize=(7, 4))
    tr = [r for r in recs if "loss" in r]
    ev = [r for r in recs if "eval_loss" in r]
    ax.plot([r["step"] for r in tr], [r["loss"] for r in tr], label="train loss", lw=1)
    if ev:
        ax.plot([r["step"] for r in ev], [r["eval_loss"] for r in ev], "o-", label="eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (answer tokens)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(png, buf.getvalue())


def wandb_id(name: str) -> str:
    """A W&B run id from a run name: ids allow letters, digits, '-' and '_' (at most 64)."""
    import hashlib

    safe = re.sub(r"[^A-Za-z0-9_-]", "-", name)
    return safe if len(safe) <= 64 else f"{safe[:55]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


class Trackers:
    """Optional W&B / TensorBoard (off by default; imported only when switched on)."""

    def __init__(self, run_dir: Path, name: str, config: dict, wandb: bool, tensorboard: bool):
        from core.errors import TrainError

        self.wb = self.tb = None
        try:
            if wandb:
                import wandb as _wandb

                # the id follows the run name, so a resumed run (same name) goes on in the same W&B run
                self.wb = _wandb.init(project="typo-corrector", name=name, id=wandb_id(name), config=config,
                                      dir=str(run_dir), resume="allow")
            if tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tensorboard"))
        except ImportError as exc:
            raise TrainError(f"output.wandb / output.tensorboard is on but {exc.name} is not installed: "
                             f"pip install {'wandb' if wandb else 'tensorboard'}, or switch it off") from None

    def log(self, rec: dict) -> None:
        nums = {k: v for k, v in rec.items() if isinstance(v, (int, float)) and k != "step"}
        if self.wb:
            self.wb.log(nums, step=rec["step"])
        if self.tb:
            for k, v in nums.items():
                self.tb.add_scalar(k, v, rec["step"])

    def close(self) -> None:
        if self.wb:
            self.wb.finish()
        if self.tb:
            self.tb.close()
