"""Checkpoints that survive `kill -9` at any instant: each is written to a temp folder
and renamed into place (core.runs.atomic_path), so a folder named step-N is complete.
They hold the trainable weights, optimizer, scheduler, data position and every RNG, all as
tensors and plain dicts/lists/numbers, so they load with torch.load(weights_only=True): a
checkpoint file from someone else cannot run code when it is resumed."""
from __future__ import annotations

import dataclasses
import pickle
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from core.errors import TrainError
from core.runs import atomic_path, remove_stale_temps

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
    # process CPU time (every thread) of the steps: unlike `seconds` (wall clock) a paused
    # (SIGSTOP) or starved process adds nothing, so CPU-hours read from it are the work done.
    # -1: a checkpoint from before this field; the loop estimates it on resume.
    cpu_seconds: float = -1.0
    skipped: int = 0  # optimizer steps skipped for non-finite gradients (fp16 overflow, NaN)
    # training processes (torchrun): epoch/index count batches of each rank's share of the plan,
    # so a checkpoint resumes only with as many processes as wrote it
    world: int = 1

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Position:
        # fields added later (skipped) default when an older checkpoint lacks them
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


def rng_state() -> dict:
    """Every RNG as tensors and plain lists (Python's state tuple becomes a list of ints)."""
    version, internal, gauss = random.getstate()
    state = {"python": {"version": version, "state": list(internal), "gauss": gauss},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    py = state["python"]
    if isinstance(py, dict):
        random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    else:  # written before the plain-list form: random.getstate()'s own tuple
        random.setstate((py[0], tuple(py[1]), py[2]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Only parameters that train (LoRA: the adapter; full fine-tune: everything)."""
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def save(ckpt_dir: Path, model, optimizer, scheduler, pos: Position, keep: int, scaler=None,
         rank_rngs: list[dict] | None = None) -> Path:
    """`scaler`: an enabled fp16 GradScaler; its state (plain numbers) resumes the loss scale.
    `rank_rngs`: every rank's rng_state() in rank order (DDP), so each rank resumes its own."""
    path = ckpt_dir / f"step-{pos.step:08d}"
    state = {"model": trainable_state(model), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "progress": pos.to_dict(), "rng": rng_state()}
    if rank_rngs is not None:
        state["rank_rngs"] = rank_rngs
    if scaler is not None and scaler.is_enabled():
        state["scaler"] = scaler.state_dict()
    remove_stale_temps(ckpt_dir)  # half-written step folders of a run killed with -9
    with atomic_path(path) as tmp:
        tmp.mkdir(parents=True)
        torch.save(state, tmp / "state.pt")
    for old in list_checkpoints(ckpt_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return path


def list_checkpoints(ckpt_dir: Path) -> list[Path]:
    if not ckpt_dir.is_dir():
        return []
    found = [p for p in ckpt_dir.iterdir()
             if p.is_dir() and _NAME.match(p.name) and (p / "state.pt").is_file()]
    return sorted(found, key=lambda p: p.name)


def read_state(path: Path) -> dict:
    """A checkpoint's state, loaded with weights_only=True: tensors and plain data only."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise TrainError(f"{path}: refused: it holds Python objects other than tensors and plain data "
                         "(an old-style or foreign checkpoint could run code when loaded); delete "
                         f"{path.parent} or use a new run_name ({_first_line(exc)})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise TrainError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {_first_line(exc)}); "
                         f"delete {path.parent} to resume from the one before") from None
    missing = [k for k in ("model", "optimizer", "scheduler", "progress", "rng")
               if not isinstance(state, dict) or k not in state]
    if missing:
        raise TrainError(f"{path}: not a checkpoint of this trainer (no {missing[0]!r} entry); "
                         f"delete {path.parent} or use a new run_name")
    return state


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else "no message"


def load_weights(model, state: dict, where: Path, remedy: str) -> None:
    """A checkpoint's trainable weights into the model; every one must have a place there."""
    params = dict(model.named_parameters())
    missing = set(state["model"]) - set(params)
    if missing:
        raise TrainError(f"{where}: checkpoint does not match the model (e.g. {sorted(missing)[0]}); "
                         f"{remedy}")
    with torch.no_grad():
        for name, value in state["model"].items():
            params[name].copy_(value)


def load_latest(ckpt_dir: Path, model, optimizer, scheduler, scaler=None, rank: int = 0,
                world: int = 1) -> Position | None:
    """Restore the newest checkpoint into the given objects; returns its position. `rank`/`world`:
    this process under torchrun; a checkpoint written by another number of processes is refused."""
    ckpts = list_checkpoints(ckpt_dir)
    if not ckpts:
        return None
    state = read_state(ckpts[-1] / "state.pt")
    pos = Position.from_dict(state["progress"])
    if pos.world != world:
        raise TrainError(f"{ckpts[-1]} was written by a run of {pos.world} process(es), this one has "
                         f"{world}: each process's share of the batches would change mid-run; resume with "
                         f"{pos.world} (torchrun --nproc_per_node / --nnodes), or use a new run_name")
    load_weights(model, state, ckpts[-1], "the config changed since it was written: use a new run_name")
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    rngs = state.get("rank_rngs")
    set_rng_state(rngs[rank] if isinstance(rngs, list) and len(rngs) == world else state["rng"])
    if scaler is not None and scaler.is_enabled() and "scaler" in state:
        scaler.load_state_dict(state["scaler"])
    return pos
