"""Several training processes: `torchrun` (or `accelerate launch`) sets WORLD_SIZE, RANK and
LOCAL_RANK; each process takes one GPU and NCCL, or, without CUDA (or train.device=cpu), the CPU
and gloo. Rank 0 alone checks the run folder and writes checkpoints, logs and the model; every rank
trains on its share of each step's batches (train.loop.Data.plan) and DDP averages the gradients.
"""
from __future__ import annotations

import datetime as _dt
import os
from typing import Any, Callable

import torch

from core.errors import PipelineError, TrainError


def info(env: dict | None = None) -> dict:
    env = os.environ if env is None else env
    return {"world": int(env.get("WORLD_SIZE", "1")), "rank": int(env.get("RANK", "0")),
            "local_rank": int(env.get("LOCAL_RANK", "0"))}


def device_for(name: str, dist: dict) -> torch.device:
    """train.device for this process: one GPU per local rank, or the CPU (gloo)."""
    from train.model import pick_device

    device = pick_device(name)
    if dist["world"] > 1 and device.type == "cuda":
        if dist["local_rank"] >= torch.cuda.device_count():
            raise TrainError(f"LOCAL_RANK {dist['local_rank']} but only {torch.cuda.device_count()} GPU(s) "
                             "visible: start at most that many processes per node (--nproc_per_node)")
        torch.cuda.set_device(dist["local_rank"])
        device = torch.device("cuda", dist["local_rank"])
    return device


def setup(name: str, dist: dict) -> torch.device:
    """This process's device; joins the process group (NCCL on GPUs, gloo on the CPU) once."""
    device = device_for(name, dist)
    if dist["world"] > 1 and not torch.distributed.is_initialized():
        # rank 0 alone evaluates and saves while the others wait at the next collective: a long
        # final eval or a slow disk must not time them out
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                             timeout=_dt.timedelta(hours=1))
    return device


def teardown() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum over all ranks (float64, so token counts stay exact)."""
    if not torch.distributed.is_initialized():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return t.tolist()


def all_gather(obj: Any) -> list[Any]:
    """Every rank's `obj` (picklable), in rank order."""
    out: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(out, obj)
    return out


def rank0_first(fn: Callable[[], None], dist: dict) -> None:
    """Run `fn` (checks that may refuse, then making the run folder) on rank 0; the other ranks
    wait for it and stop with its error, so none of them loads a model for a refused run."""
    err: PipelineError | None = None
    if dist["rank"] == 0:
        try:
            fn()
        except PipelineError as exc:
            err = exc
    if dist["world"] > 1:
        box = [f"{type(err).__name__}: {err}" if err else None]
        torch.distributed.broadcast_object_list(box, src=0)
        if dist["rank"] != 0 and box[0]:
            raise TrainError(f"rank 0 stopped the run: {box[0]}")
    if err is not None:
        raise err
