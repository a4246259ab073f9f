"""Typed config of the training stage: one preset YAML per base model in train/configs/,
validated by these dataclasses (an unknown key lists the allowed ones)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

from core.config import check, dump_yaml
from core.files import not_a_regular_file
from core.paths import input_path
from core.prompt import INSTRUCTION


@dataclass
class ModelCfg:
    base: str = "builtin:tiny"       # Hub id, local folder, gguf:FILE|PACKAGE, or builtin:tiny
    offline_base: str = ""           # used when `base` cannot be loaded (offline): gguf:PACKAGE
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
    # warm start: a PEFT LoRA folder (e.g. release/...) to go on training, with a fresh optimizer and
    # schedule; its r and alpha must match the ones above, which the run records
    init_from: str = ""

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
    # padded batches: width and answer-token count rounded up to multiples of this (1 = exact);
    # fewer distinct shapes keep a CPU run's kernel cache, memory and speed flat (train/packing.py)
    shape_multiple: int = 16
    # the prompt's instruction, recorded in the saved tokenizer so every later stage uses it
    instruction: str = INSTRUCTION

    def __post_init__(self) -> None:
        check(not (self.share_prefix and self.packing), "data.share_prefix needs data.packing=false")
        check(self.max_length > 8, f"data.max_length must be > 8, got {self.max_length}")
        check(bool(self.instruction.strip()), "data.instruction must not be empty")
        check(self.shape_multiple >= 1, f"data.shape_multiple must be >= 1, got {self.shape_multiple}")
        check(self.row_tokens >= self.max_length,
              f"data.row_tokens ({self.row_tokens}) must be >= data.max_length ({self.max_length})")
        check(self.max_train_samples >= 0 and self.max_eval_samples >= 0,
              "data.max_train_samples (0 = all) and data.max_eval_samples must be >= 0")
        for key in ("train", "eval"):  # a folder or a named pipe (it would block the reader): stat only
            why = not_a_regular_file(input_path(getattr(self, key)))
            check(why in (None, "not found"), f"data.{key} {getattr(self, key)}: {why}")


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
        check(0.0 <= self.min_lr_ratio <= 1.0,
              f"optim.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        check(self.warmup_steps >= 0, f"optim.warmup_steps must be >= 0, got {self.warmup_steps}")
        check(self.weight_decay >= 0, f"optim.weight_decay must be >= 0, got {self.weight_decay}")
        for key, beta in (("beta1", self.beta1), ("beta2", self.beta2)):
            check(0.0 <= beta < 1.0, f"optim.{key} must be in [0, 1), got {beta}")
        check(self.grad_clip >= 0, f"optim.grad_clip must be >= 0 (0 = off), got {self.grad_clip}")


@dataclass
class LoopCfg:
    epochs: float = 1.0
    max_steps: int = 0               # > 0 overrides epochs
    batch_tokens: int = 32768        # tokens per micro-batch (packed rows x row_tokens)
    grad_accum: int = 1
    # auto: bf16 on a GPU that has it, fp16 + loss scaling on one that has not (T4, V100), fp32 on CPU
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"

    def __post_init__(self) -> None:
        check(self.max_steps >= 0, f"train.max_steps must be >= 0 (0 = train.epochs), got {self.max_steps}")
        check(self.epochs >= 0, f"train.epochs must be >= 0, got {self.epochs}")
        check(self.epochs > 0 or self.max_steps > 0, "set train.epochs > 0 or train.max_steps > 0")
        check(self.batch_tokens > 0 and self.grad_accum > 0,
              "train.batch_tokens and train.grad_accum must be > 0")


@dataclass
class EvalCfg:
    every: int = 200                 # steps; 0 = only at the end
    samples: int = 64                # pairs for exact match (greedy generate)
    max_new_tokens: int = 128

    def __post_init__(self) -> None:
        check(self.every >= 0, f"eval.every must be >= 0 (0 = only at the end), got {self.every}")
        check(self.samples >= 0, f"eval.samples must be >= 0, got {self.samples}")
        check(self.max_new_tokens >= 1, f"eval.max_new_tokens must be >= 1, got {self.max_new_tokens}")


@dataclass
class CheckpointCfg:
    every: int = 200                 # steps
    keep: int = 2

    def __post_init__(self) -> None:
        check(self.every > 0, f"checkpoint.every must be > 0, got {self.every}")
        check(self.keep >= 0, f"checkpoint.keep must be >= 0 (0 = keep all), got {self.keep}")


@dataclass
class OutputCfg:
    root: str = "runs"               # run dir: <root>/train/<run_name>/
    link: str = "models/checkpoint"  # points at the newest merged/ ("" = none)
    log_every: int = 1
    wandb: bool = False
    tensorboard: bool = False

    def __post_init__(self) -> None:
        check(self.log_every >= 1, f"output.log_every must be >= 1, got {self.log_every}")


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
