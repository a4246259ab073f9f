"""Typed config of the evaluation stage (YAML: evaluation/configs/default.yaml)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from core.config import ConfigError, check
from evaluation.dictpass import DictConfig
from evaluation.guard import GuardConfig

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "default.yaml"


def check_backends(names: list[str], key: str) -> None:
    """Every name a backend evaluation.correctors will build (never an arbitrary `module:function`),
    checked before anything is written."""
    from evaluation.correctors import CorrectorError, check_backend_name

    for name in names:
        try:
            check_backend_name(name)
        except CorrectorError as exc:
            raise ConfigError(f"{key}: {exc}") from None


def check_input_kinds(spec: str, key: str) -> None:
    """Each comma-separated path is a regular file or folder, or missing (the reader says so):
    a named pipe is refused by stat, never opened (a reader would block, or call it an unknown
    benchmark)."""
    from core.files import refuse_special
    from core.paths import input_path

    for part in (p.strip() for p in spec.split(",")):
        if part:
            refuse_special(input_path(part), key, ConfigError)


DTYPES = ("", "float32", "bfloat16", "float16")


@dataclass
class HFOptions:
    batch_size: int = 32
    device: str = ""
    dtype: str = ""
    static_cache: bool | None = None
    few_shot: int = 0               # worked examples in the prompt (prompt-only baselines of a base model)

    def __post_init__(self) -> None:
        check(self.batch_size >= 1, f"hf.batch_size must be >= 1, got {self.batch_size}")
        check(self.dtype in DTYPES, f"hf.dtype must be one of {', '.join(map(repr, DTYPES))} ('' = the "
              f"device's default), got {self.dtype!r}")
        check(re.fullmatch(r"(cpu|cuda(:\d+)?|mps)?", self.device) is not None,
              f"hf.device must be cpu, cuda, cuda:N or mps ('' = cuda when there is one), "
              f"got {self.device!r}")
        check(0 <= self.few_shot <= 3, f"hf.few_shot must be in [0, 3], got {self.few_shot}")


@dataclass
class EvalConfig:
    model: str = "models/checkpoint"
    benchmarks: str = "../shared/data/eval,evaluation/devsets"
    own_pairs: str = "data/eval_data.json"
    select: list[str] = field(default_factory=list)
    backends: list[str] = field(default_factory=lambda: ["hf", "identity", "symspell", "pyspellchecker"])
    backend_models: dict[str, str] = field(default_factory=dict)
    limit: int = 0
    chunk_size: int = 64
    run_name: str = ""
    root_copy: str = "."
    root_copy_force: bool = False   # replace the root metrics.json even when this run covers less
    fresh: bool = False             # discard this run's cached outputs made with another model/inputs
    runs_root: str = ""
    seed: int = 0
    hf: HFOptions = field(default_factory=HFOptions)
    guard: GuardConfig = field(default_factory=GuardConfig)
    dictionary: DictConfig = field(default_factory=DictConfig)  # the pass after a model backend

    def __post_init__(self) -> None:
        check(bool(self.backends), "backends must name at least one backend")
        twice = sorted({b for b in self.backends if self.backends.count(b) > 1})
        check(not twice, f"backends names {', '.join(twice)} twice: each backend runs once")
        check_backends(self.backends, "backends")
        for key, spec in (("benchmarks", self.benchmarks), ("own_pairs", self.own_pairs)):
            check_input_kinds(spec, key)
        check_backends(list(self.backend_models), "backend_models")
        check(self.limit >= 0, f"limit must be >= 0, got {self.limit}")
        check(self.chunk_size >= 1, f"chunk_size must be >= 1, got {self.chunk_size}")
