"""Checkpoints that survive `kill -9` at any instant: each is written to a temp folder
and renamed into place (core.runs.atomic_path), so a folder named step-N is complete.
They hold the trainable weights, optimizer, scheduler, data position and every RNG."""
from __future__ import annotations

import dataclasses
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from core.errors import TrainError
from core.runs import atomic_path

_NAME = re.compile(r"^step-(\d{8})$")


@dataclass
class Position:
    """Where training stands: the optimizer step, the data plan's epoch and batch index,
    and the totals the summary reports. Stored in every checkpoint as a plain dict."""
    step: int = 0
    epoch: int = 0
    index: int = 0
    tokens: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Position:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


def rng_state() -> dict:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Only parameters that train (LoRA: the adapter; full fine-tune: everything)."""
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def save(ckpt_dir: Path, model, optimizer, scheduler, pos: Position, keep: int) -> Path:
    path = ckpt_dir / f"step-{pos.step:08d}"
    with atomic_path(path) as tmp:
        tmp.mkdir(parents=True)
        torch.save({"model": trainable_state(model), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "progress": pos.to_dict(), "rng": rng_state()},
                   tmp / "state.pt")
    for old in list_checkpoints(ckpt_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return path


def list_checkpoints(ckpt_dir: Path) -> list[Path]:
    if not ckpt_dir.is_dir():
        return []
    found = [p for p in ckpt_dir.iterdir()
             if p.is_dir() and _NAME.match(p.name) and (p / "state.pt").is_file()]
    return sorted(found, key=lambda p: p.name)


def load_latest(ckpt_dir: Path, model, optimizer, scheduler) -> Position | None:
    """Restore the newest checkpoint into the given objects; returns its position."""
    ckpts = list_checkpoints(ckpt_dir)
    if not ckpts:
        return None
    state = torch.load(ckpts[-1] / "state.pt", map_location="cpu", weights_only=False)
    params = dict(model.named_parameters())
    missing = set(state["model"]) - set(params)
    if missing:
        raise TrainError(f"{ckpts[-1]}: checkpoint does not match the model (e.g. {sorted(missing)[0]}); "
                           "the config changed since it was written: use a new run_name")
    with torch.no_grad():
        for name, value in state["model"].items():
            params[name].copy_(value)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return Position.from_dict(state["progress"])
