"""Fine-tune a base model into a typo corrector (LoRA, or full for the tiny preset).

    python -m train.train --config train/configs/tiny.yaml [run_name=NAME] [key=value ...]

Packed padding-free batches with per-sample isolation, bf16 + fused AdamW on GPU,
optional torch.compile / gradient checkpointing; checkpoints every N steps and resumes
from the newest one when the same command runs again (kill -9 safe). DDP when started
with `torchrun --nproc_per_node=N -m train.train ...`. Writes runs/train/<name>/ and
points models/checkpoint at its merged/ model.
"""
from __future__ import annotations

import sys
from pathlib import Path

from core.cli import run_cli, stage_parser
from core.config import ConfigError, load_config, to_dict
from core.errors import TrainError
from core.loading import pick_base
from core.paths import check_output_dir, input_path, output_path
from core.runs import (
    check_run_name,
    config_diff,
    make_run_dir,
    point_latest,
    refuse_mismatch,
    run_lock,
    saved_config,
)
from train.config import TrainConfig, config_hash
from train.fingerprint import check_data, write_record

# Settings that change neither the weights nor the figures: a rerun may differ in these.
RESUME_IGNORES = ("run_name", "resume", "output.log_every", "output.wandb", "output.tensorboard",
                  "output.link", "output.root", "checkpoint.keep")


def train(cfg: TrainConfig) -> Path:
    """Run (or resume) training; returns the run directory. `cfg.model.base` is used as
    given: main() has already swapped in the offline base where the Hub one cannot load.
    Under torchrun every process calls this; rank 0 alone checks and writes the run folder."""
    from train import distributed  # torch: imported once a run starts, not for --help or a bad config
    from train.loop import run

    name = check_run_name(cfg.run_name or f"train-{config_hash(cfg)}", "run_name")
    dist = distributed.info()
    run_dir = output_path(cfg.output.root) / "train" / name
    train_path, eval_path = input_path(cfg.data.train), input_path(cfg.data.eval)

    locks: list = []

    def prepare() -> None:  # rank 0, before any model loads
        if run_dir.exists() and not cfg.resume:
            raise ConfigError(f"run {run_dir} exists and resume=false: pick a new run_name")
        check_outputs(cfg)
        resumed = check_resume(run_dir, cfg)
        record = check_data(run_dir, {"data.train": train_path, "data.eval": eval_path}, resumed)
        check_inputs(cfg, train_path, eval_path)
        # held until the run ends: a second process on the same run would interleave its checkpoints
        locks.append(run_lock(run_dir, "the training run folder"))
        make_run_dir("train", name, cfg, cfg.seed, root=output_path(cfg.output.root))
        write_record(run_dir, record)

    if dist["world"] > 1:
        distributed.setup(cfg.train.device, dist)
    try:
        distributed.rank0_first(prepare, dist)
        merged = run(cfg, run_dir, dist, train_path, eval_path)
        if dist["rank"] == 0 and cfg.output.link:
            point_latest(output_path(cfg.output.link), merged)
    finally:
        for lock in locks:
            lock.release()
        if dist["world"] > 1:
            distributed.teardown()
    return run_dir


def check_outputs(cfg: TrainConfig) -> None:
    """The run folder and the model link can be written: checked before any model loads."""
    check_output_dir(output_path(cfg.output.root), "output.root")
    if cfg.output.link:
        link = output_path(cfg.output.link)
        if link.is_dir() and not link.is_symlink():
            raise ConfigError(f"output.link {link} is a real folder, not a link: move it away or set "
                              "output.link to another path")
        if link.exists() and not link.is_symlink():  # a file: the link would replace it when the run ends
            raise ConfigError(f"output.link {link} is a file, not a link: the run would replace it with a "
                              "link to its model; move it away or set output.link to another path")
        check_output_dir(link.parent, "output.link's folder")


def check_inputs(cfg: TrainConfig, train_path: Path, eval_path: Path) -> None:
    """The pairs the run will read (as many lines as it reads), a local base model folder and a
    LoRA warm start, checked before the run folder is made: empty or junk pairs or a broken base
    leave no run folder behind (the loop reads them only after it exists)."""
    from core.loading import TINY, check_local_folder, hub_loadable, not_loadable_error, read_adapter_config
    from train.batches import check_pairs

    check_pairs(train_path, cfg.data.max_train_samples)
    check_pairs(eval_path, max(cfg.data.max_eval_samples, cfg.eval.samples))
    if cfg.train.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise TrainError("train.device=cuda but no CUDA GPU is visible (check `nvidia-smi`, the CUDA "
                             "build of torch, `docker run --gpus all`), or set train.device=cpu / auto")
    base = cfg.model.base
    local = input_path(base)
    if base == TINY or local.exists() or local.is_symlink() or base.startswith(("/", "./", "../", "~")):
        if base != TINY:
            check_local_folder(local.expanduser(), "model")
            check_local_folder(local.expanduser(), "tokenizer")
        _check_max_length(cfg, str(local.expanduser()) if base != TINY else TINY)
    elif base.startswith("gguf:"):
        from core.gguf import locate

        locate(base)  # the file or package is there (dequantized later, once)
    elif not hub_loadable(base):  # a Hub id: cached, or the Hub answers
        raise not_loadable_error(base)
    if cfg.lora.init_from and not cfg.model.full_finetune:
        read_adapter_config(input_path(cfg.lora.init_from))


def _check_max_length(cfg: TrainConfig, base: str) -> None:
    """data.max_length leaves room for a pair: the prompt of an empty input and an answer token."""
    from core.loading import load_tokenizer
    from core.prompt import prompt_ids

    need = len(prompt_ids(load_tokenizer(base), "")) + 2
    if cfg.data.max_length < need:
        raise TrainError(f"data.max_length={cfg.data.max_length} tokens cannot hold any pair: the prompt "
                         f"alone takes {need - 2} (with this base's tokenizer); raise data.max_length")


def check_resume(run_dir: Path, cfg: TrainConfig) -> bool:
    """A run folder with checkpoints or results is resumed only by the config that made them:
    anything else would relabel old weights with a new config.yaml (refused, naming the field).
    True when there is something to resume (the data files are then checked too: check_data)."""
    if not (any((run_dir / "checkpoints").glob("step-*")) or (run_dir / "summary.json").exists()):
        return False  # nothing trained yet: the new config simply starts the run
    old = saved_config(run_dir)
    if old is None:
        raise ConfigError(f"{run_dir} holds checkpoints but no readable config.yaml: use a new run_name")
    refuse_mismatch(run_dir, config_diff(old, to_dict(cfg), RESUME_IGNORES),
                    "use a new run_name (the default name follows the config), or delete the folder")
    return True


def main(argv: list[str] | None = None) -> int:
    ap = stage_parser("python -m train.train", "Fine-tune a typo-corrector model (LoRA or full).", None)
    args = ap.parse_args(argv)

    def body() -> int:
        cfg = load_config(TrainConfig, args.config, args.overrides)
        # Before naming the run: a run on the offline GGUF hashes to another name than one on
        # the Hub weights, so the same command never resumes one from the other's checkpoints.
        cfg.model.base = pick_base(cfg.model.base, cfg.model.offline_base)
        if not cfg.run_name:  # same command -> same name -> resumes
            cfg.run_name = f"{Path(args.config).stem}-{config_hash(cfg)}"
        run_dir = train(cfg)
        from train import distributed

        if distributed.info()["rank"] == 0:
            print(f"run: {run_dir}\nmerged model: {run_dir / 'merged'}")
        return 0
    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
