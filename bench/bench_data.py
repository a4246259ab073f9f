"""Data-stage benchmark: noise model alone, a one-worker build and a two-worker 500k
build, each with wall-clock and CPU seconds (the machine may be shared: CPU seconds
show the per-core cost even when other jobs steal wall time; the load average is
printed too). Speeds are also given as ratios to a baseline measured in the same run:
the same pipeline with every noise rate at 0.

    python -m bench.bench_data [--corpus ../shared/data/corpus] [--pairs 500000] [--workers 2] [--json FILE]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from core.config import load_config
from core.paths import REPO_ROOT as REPO
from datagen import DataConfig, NoiseConfig, Noiser, build_dataset
from datagen.noise import sentence_rng
from datagen.realism import sentences_from


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the build's workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn):
    w0, c0 = time.perf_counter(), cpu_seconds()
    out = fn()
    return out, time.perf_counter() - w0, cpu_seconds() - c0


def noise_only(sentences: list[str]) -> dict:
    zero = {f.name: 0.0 for f in dataclasses.fields(NoiseConfig) if f.type in ("float", float)
            and f.name != "clean_share"}
    res = {}
    # baseline: every pair left clean, so only the per-pair overhead around the noise remains
    for name, cfg in (("baseline (no noise)", NoiseConfig(**zero, clean_share=1.0)),
                      ("default noise", NoiseConfig())):
        noiser = Noiser(cfg)
        _, wall, cpu = timed(lambda n=noiser: [n(s, sentence_rng(0, i)) for i, s in enumerate(sentences)])
        res[name] = {"pairs": len(sentences), "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                     "pairs_per_s_wall": round(len(sentences) / wall),
                     "pairs_per_cpu_s": round(len(sentences) / cpu)}
    return res


def build(corpus: str, pairs: int, workers: int, tmp: Path, noise: dict | None = None) -> dict:
    over = [f"sources=[{{kind: text, path: '{corpus}'}}]", f"out_dir={tmp / 'data'}",
            f"runs_root={tmp / 'runs'}", "progress=false", f"workers={workers}", f"train_pairs={pairs}",
            f"eval_pairs={max(500, pairs // 100)}",
            "max_passes=8"] + [f"noise.{k}={v}" for k, v in (noise or {}).items()]
    cfg = load_config(DataConfig, REPO / "datagen/configs/default.yaml", over)
    stats, wall, cpu = timed(lambda: build_dataset(cfg))
    n = sum(stats["pairs"].values())
    return {"pairs": n, "workers": workers, "passes": stats["passes"], "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2), "pairs_per_s_wall": round(n / wall), "pairs_per_cpu_s": round(n / cpu)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(REPO.parent / "shared/data/corpus"))
    ap.add_argument("--pairs", type=int, default=500_000, help="size of the multi-worker build")
    ap.add_argument("--single-pairs", type=int, default=100_000, help="size of the one-worker builds")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", help="write the figures here too")
    args = ap.parse_args(argv)
    if not Path(args.corpus).exists():
        print(f"error: corpus {args.corpus} not found (give --corpus)", file=sys.stderr)
        return 2
    out = {"machine": {"cpus": os.cpu_count(), "load_avg_start": os.getloadavg()}}
    cfg = load_config(DataConfig, REPO / "datagen/configs/default.yaml",
                      [f"sources=[{{kind: text, path: '{args.corpus}'}}]"])
    out["noise_only"] = noise_only(sentences_from(cfg, 30_000))
    zero = {k: 0.0 for k in ("adjacent_key", "omission", "insertion", "transposition", "double_letter",
                             "misspelling", "undouble_letter", "real_word", "apostrophe", "lowercase_i",
                             "split_word", "merge_words", "drop_comma", "lowercase_start",
                             "drop_final_punct")}
    zero["clean_share"] = 1.0  # baseline build: the same pipeline, every pair clean
    with tempfile.TemporaryDirectory() as tmp:
        # warm-up: one-off start-up costs (imports, e.g. torch via env.json's machine info),
        # reported apart so the builds below measure steady-state throughput
        out["startup_warmup_1000_pairs"] = build(args.corpus, 1000, 1, Path(tmp) / "w")
        out["build_1_worker_baseline"] = build(args.corpus, args.single_pairs, 1, Path(tmp) / "b", zero)
        out["build_1_worker"] = build(args.corpus, args.single_pairs, 1, Path(tmp) / "s")
        out[f"build_{args.workers}_workers"] = build(args.corpus, args.pairs, args.workers, Path(tmp) / "m")
    out["machine"]["load_avg_end"] = os.getloadavg()
    base = out["build_1_worker_baseline"]["pairs_per_cpu_s"]
    noise_only_rates = {k: v["pairs_per_cpu_s"] for k, v in out["noise_only"].items()}
    out["ratios"] = {"noise_vs_baseline_build_cpu": round(out["build_1_worker"]["pairs_per_cpu_s"] / base, 3),
                     "noise_only_vs_baseline_cpu": round(noise_only_rates["default noise"]
                                                         / noise_only_rates["baseline (no noise)"], 3)}
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
