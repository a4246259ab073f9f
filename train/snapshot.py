"""The adapter at one checkpoint of a LoRA run, without finishing the run: a long CPU run
stopped early (time ran out, the loss stopped falling) still yields a usable adapter.

    python -m train.snapshot runs/train/<name> [--step N] [--out DIR]

Rebuilds the run's model from its config.yaml, loads the checkpoint's trainable weights and
writes a PEFT adapter folder (with the tokenizer and the instruction the run trained with)
that `make eval|export|bench ADAPTER=DIR` accept. Default: the newest checkpoint, written to
<run>/snapshots/step-N/.

--out is replaced as a whole, so it must be new, empty, or a snapshot this command wrote (its
marker file, core.paths.MARKER, lists the files; anything else in it is refused), and never a
file or a folder holding the run's inputs (core/paths.py: the overwrite rule).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.cli import run_cli
from core.errors import TrainError
from core.paths import check_not_an_input, check_own_folder, input_path, output_path, write_marker

WRITER = "train.snapshot"  # the marker's writer: only folders it names are replaced


def pick_checkpoint(run_dir: Path, step: int | None) -> Path:
    from train.checkpoint import list_checkpoints

    found = list_checkpoints(run_dir / "checkpoints")
    if not found:
        raise TrainError(f"{run_dir}: no checkpoints (checkpoints/step-N/state.pt)")
    if step is None:
        return found[-1]
    for path in found:
        if int(path.name.split("-")[1]) == step:
            return path
    have = ", ".join(str(int(p.name.split("-")[1])) for p in found)
    raise TrainError(f"{run_dir}: no checkpoint at step {step} (have: {have})")


def run_config(run_dir: Path):
    from core.config import load_config
    from train.config import TrainConfig

    if not (run_dir / "config.yaml").is_file():
        raise TrainError(f"{run_dir}: not a training run folder (no config.yaml)")
    cfg = load_config(TrainConfig, run_dir / "config.yaml", [])
    if cfg.model.full_finetune:
        raise TrainError(f"{run_dir}: a full fine-tune has no adapter to snapshot; resume it to finish")
    return cfg


def snapshot(run_dir: Path, step: int | None, out: Path | None) -> Path:
    import torch

    from core.loading import load_tokenizer
    from core.prompt import set_instruction
    from core.runs import atomic_path
    from train.checkpoint import load_weights, read_state
    from train.model import build

    cfg = run_config(run_dir)
    ckpt = pick_checkpoint(run_dir, step)
    out = check_out(out or run_dir / "snapshots" / ckpt.name, run_dir, ckpt, cfg.model.base)
    state = read_state(ckpt / "state.pt")
    model = build(cfg, torch.device("cpu"), torch.float32)
    load_weights(model, state, ckpt, "the run's config.yaml no longer builds the model it trained")
    tok = load_tokenizer(cfg.model.base)
    set_instruction(tok, cfg.data.instruction)
    check_out(out, run_dir, ckpt, cfg.model.base)  # again: the folder may have changed meanwhile
    with atomic_path(out) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "snapshot.json").write_text(json.dumps({"run": str(run_dir), "checkpoint": ckpt.name,
                                                       "progress": state["progress"]}, indent=2) + "\n")
        write_marker(tmp, WRITER)
    return out


def check_out(out: Path, run_dir: Path, ckpt: Path, base: str) -> Path:
    """The snapshot replaces `out` whole (atomic_path): it may hold only a snapshot of ours, and
    never the run's config, the checkpoint or a local base model."""
    check_own_folder(out, "--out", WRITER)
    base_dir = input_path(base)
    return check_not_an_input(out, "--out", {"the run's config": run_dir / "config.yaml",
                                             "the checkpoint": ckpt,
                                             "the base model": base_dir if base_dir.is_dir() else None})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m train.snapshot", description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="the run folder (runs/train/<name>)")
    ap.add_argument("--step", type=int, help="checkpoint step (default: the newest)")
    ap.add_argument("--out", help="adapter folder to write (default: <run>/snapshots/step-N)")
    args = ap.parse_args(argv)

    def body() -> int:
        run_dir = input_path(args.run)
        if not run_dir.is_dir():
            raise TrainError(f"run folder not found: {args.run}")
        out = snapshot(run_dir, args.step, output_path(args.out) if args.out else None)
        print(out)
        print(f"adapter written: {out} (make eval|export ADAPTER={out})", file=sys.stderr)
        return 0

    return run_cli(body)


if __name__ == "__main__":
    raise SystemExit(main())
