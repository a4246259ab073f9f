"""Export several recipes at once, one process each.

Lowering is single-threaded Python (graph passes over fake tensors), so on a machine with
two or more cores the INT8 and INT4 exports of `make export` take the time of the slower
one instead of the sum. Each process holds its own copy of the fp32 model and of the
lowered program, so the number of processes is capped by memory as well as by cores.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

# Peak RSS of one export over the fp32 size of the model: measured 5.2x (INT8) and 8.1x
# (INT4) on SmolLM2-135M; rounded up so two processes never push a machine into swap.
PEAK_OVER_FP32 = 10.0


def available_bytes() -> int:
    """MemAvailable from /proc/meminfo (0 where there is none: then memory does not cap)."""
    from core.runs import parse_meminfo

    try:
        return parse_meminfo(Path("/proc/meminfo").read_text()).get("MemAvailable", 0) * 1024
    except OSError:
        return 0


def fp32_bytes(model_dir: Path | None) -> int:
    """fp32 size of the weights in a model folder (safetensors headers only; 0 = unknown)."""
    from core.errors import ExportError
    from core.files import check_safetensors

    if model_dir is None or not Path(model_dir).is_dir():
        return 0
    n = 0
    for f in sorted(Path(model_dir).glob("*.safetensors")):
        # the header alone, checked to cover the file: a truncated copy is named here
        for entry in check_safetensors(f, ExportError).values():
            n += math.prod(entry.get("shape") or [])
    return 4 * n


def auto_jobs(n_recipes: int, model_bytes: int, cpus: int | None = None, free: int | None = None) -> int:
    """How many recipes to export at once: recipes, cores and memory all cap it."""
    cpus = cpus or os.cpu_count() or 1
    free = available_bytes() if free is None else free
    if not model_bytes:  # size unknown (e.g. an adapter on a Hub base): one at a time
        return 1
    by_mem = int(free // (PEAK_OVER_FP32 * model_bytes)) if free else n_recipes
    return max(1, min(n_recipes, cpus, by_mem))


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _export_one(args: tuple) -> dict:
    from export.export_to_pte import export_model

    src, recipe, out, max_seq_len, group_size, eval_data, attention, trim, position = args
    return export_model(src, recipe, out, max_seq_len, group_size, eval_data, progress=True,
                        bar_position=position, attention=attention, vocab_trim=trim)


def export_parallel(jobs: list[tuple], n_procs: int) -> list[dict]:
    """Run export_model for each (src, recipe, out, max_seq_len, group_size, eval_data, attention,
    vocab_trim) in `n_procs` processes; metadata comes back in the order given. A failure in one recipe
    is raised here once the others have finished (their files are kept)."""
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
    threads = max(1, (os.cpu_count() or 1) // n_procs)
    with ProcessPoolExecutor(n_procs, mp_context=ctx, initializer=_worker_init,
                             initargs=(threads,)) as pool:
        futures = [pool.submit(_export_one, (*job, i)) for i, job in enumerate(jobs)]
        errors = [f.exception() for f in futures]
    for e in errors:
        if e is not None:
            raise e
    return [f.result() for f in futures]
