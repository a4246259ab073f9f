"""Fine-tune a base model into a typo corrector (LoRA, or full for the tiny preset).

    python -m train.train --config train/configs/tiny.yaml [run_name=NAME] [key=value ...]

Packed padding-free batches with per-sample isolation, bf16 + fused AdamW on GPU,
optional torch.compile / gradient checkpointing; checkpoints every N steps and resumes
from the newest one when the same command runs again (kill -9 safe). DDP when started
with `torchrun --nproc_per_node=N -m train.train ...`. Writes runs/train/<name>/ and
points models/checkpoint at its merged/ model.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from core.config import ConfigError, check, dump_yaml, load_config
from core.runs import REPO_ROOT, atomic_write_json, make_run_dir, point_latest


@dataclass
class ModelCfg:
    base: str = "builtin:tiny"       # Hub id, local folder, or builtin:tiny
    full_finetune: bool = False      # train every weight instead of a LoRA adapter
    attn_implementation: Literal["sdpa", "eager", "flex_attention"] = "sdpa"
    gradient_checkpointing: bool = False
    compile: bool = False            # torch.compile the decoder (GPU; static packed shapes)


@dataclass
class LoraCfg:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: ["all-linear"])

    def __post_init__(self) -> None:
        check(self.r > 0, f"lora.r must be > 0, got {self.r}")
        check(0.0 <= self.dropout < 1.0, f"lora.dropout must be in [0, 1), got {self.dropout}")
        check(bool(self.target_modules), "lora.target_modules must list modules (or 'all-linear')")


@dataclass
class DataCfg:
    train: str = "data/train_data.json"
    eval: str = "data/eval_data.json"
    max_length: int = 256            # longer pairs (prompt + answer) are dropped
    max_train_samples: int = 0       # 0 = all
    max_eval_samples: int = 512      # for the eval loss
    packing: bool = True             # False = length-bucketed padded batches
    row_tokens: int = 2048           # packed row length
    share_prefix: bool = False       # padded batches: the common prompt prefix computed once per batch

    def __post_init__(self) -> None:
        check(not (self.share_prefix and self.packing), "data.share_prefix needs data.packing=false")
        check(self.max_length > 8, f"data.max_length must be > 8, got {self.max_length}")
        check(self.row_tokens >= self.max_length,
              f"data.row_tokens ({self.row_tokens}) must be >= data.max_length ({self.max_length})")


@dataclass
class OptimCfg:
    lr: float = 2e-4
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_steps: int = 20
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    grad_clip: float = 1.0           # 0 = off
    fused: bool = True               # fused AdamW kernel where torch has one

    def __post_init__(self) -> None:
        check(self.lr > 0, f"optim.lr must be > 0, got {self.lr}")
        check(0.0 <= self.min_lr_ratio <= 1.0, f"optim.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")


@dataclass
class LoopCfg:
    epochs: float = 1.0
    max_steps: int = 0               # > 0 overrides epochs
    batch_tokens: int = 32768        # tokens per micro-batch (packed rows x row_tokens)
    grad_accum: int = 1
    precision: Literal["auto", "bf16", "fp32"] = "auto"   # auto: bf16 on GPU, fp32 on CPU
    device: Literal["auto", "cpu", "cuda"] = "auto"

    def __post_init__(self) -> None:
        check(self.epochs > 0 or self.max_steps > 0, "set train.epochs > 0 or train.max_steps > 0")
        check(self.batch_tokens > 0 and self.grad_accum > 0, "train.batch_tokens and train.grad_accum must be > 0")


@dataclass
class EvalCfg:
    every: int = 200                 # steps; 0 = only at the end
    samples: int = 64                # pairs for exact match (greedy generate)
    max_new_tokens: int = 128


@dataclass
class CheckpointCfg:
    every: int = 200                 # steps
    keep: int = 2

    def __post_init__(self) -> None:
        check(self.every > 0, f"checkpoint.every must be > 0, got {self.every}")


@dataclass
class OutputCfg:
    root: str = "runs"               # run dir: <root>/train/<run_name>/
    link: str = "models/checkpoint"  # points at the newest merged/ ("" = none)
    log_every: int = 1
    wandb: bool = False
    tensorboard: bool = False


@dataclass
class TrainConfig:
    run_name: str = ""               # empty: <config name>-<hash of the config>, so a rerun resumes
    seed: int = 0
    resume: bool = True
    model: ModelCfg = field(default_factory=ModelCfg)
    lora: LoraCfg = field(default_factory=LoraCfg)
    data: DataCfg = field(default_factory=DataCfg)
    optim: OptimCfg = field(default_factory=OptimCfg)
    train: LoopCfg = field(default_factory=LoopCfg)
    eval: EvalCfg = field(default_factory=EvalCfg)
    checkpoint: CheckpointCfg = field(default_factory=CheckpointCfg)
    output: OutputCfg = field(default_factory=OutputCfg)


def config_hash(cfg: TrainConfig) -> str:
    return hashlib.sha256(dump_yaml(cfg).encode()).hexdigest()[:8]


def _in_path(p: str) -> Path:
    """Inputs: as given if that exists (relative to the working folder), else under the repo."""
    path = Path(p)
    return path if path.is_absolute() or path.exists() else REPO_ROOT / path


def _out_path(p: str) -> Path:
    return Path(p) if Path(p).is_absolute() else REPO_ROOT / p


def train(cfg: TrainConfig) -> Path:
    """Run (or resume) training; returns the run directory."""
    from train.loop import run

    name = cfg.run_name or f"train-{config_hash(cfg)}"
    dist = _dist_info()
    run_dir = _out_path(cfg.output.root) / "train" / name
    if run_dir.exists() and not cfg.resume and dist["rank"] == 0:
        raise ConfigError(f"run {run_dir} exists and resume=false: pick a new run_name")
    if dist["rank"] == 0:
        run_dir = make_run_dir("train", name, cfg, cfg.seed, root=_out_path(cfg.output.root))
    merged = run(cfg, run_dir, dist, _in_path(cfg.data.train), _in_path(cfg.data.eval))
    if dist["rank"] == 0 and cfg.output.link:
        point_latest(_out_path(cfg.output.link), merged)
    return run_dir


def _dist_info() -> dict:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return {"world": world, "rank": int(os.environ.get("RANK", "0")), "local_rank": int(os.environ.get("LOCAL_RANK", "0"))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Fine-tune a typo-corrector model (LoRA or full).")
    ap.add_argument("--config", required=True, help="preset YAML, e.g. train/configs/tiny.yaml")
    ap.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. train.max_steps=100")
    args = ap.parse_args(argv)
    from core.loading import ModelLoadError
    from train.batches import DataError
    from train.model import TrainError

    try:
        cfg = load_config(TrainConfig, args.config, args.overrides)
        if not cfg.run_name:  # same command -> same name -> resumes
            cfg.run_name = f"{Path(args.config).stem}-{config_hash(cfg)}"
        run_dir = train(cfg)
    except (ConfigError, DataError, ModelLoadError, TrainError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"run: {run_dir}\nmerged model: {run_dir / 'merged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
