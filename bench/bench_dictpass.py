"""What the dictionary pass (evaluation/dictpass.py) adds to a sentence's latency, and how many
sentences need it, one sentence at a time as a phone corrects them:

    generation  the hf model's greedy answer to one sentence (batch 1)
    pass        the guard, the pass's candidates and its one scoring call, the final guard

    python -m bench.bench_dictpass --model DIR [--benchmarks evaluation/devsets/messages]
        [--limit 48] [--threads 1] [--json FILE] [key=value ...]   (dictionary.* overrides)

Wall time (time.perf_counter, monotonic) and process CPU time (time.process_time) per sentence;
one warm-up sentence first (not counted). Prints one JSON object: the machine, every sample, the
medians, the share of sentences the pass looked at, and the added median latency in percent of
generation's (over all sentences: the cost a user sees on average per sentence).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict

from core.runs import atomic_write_json


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, (time.perf_counter() - w) * 1000, (time.process_time() - c) * 1000


def measure(corrector, dp, inputs: list[str]) -> list[dict]:
    samples = []
    for x in inputs:
        [raw], gen_ms, gen_cpu = _timed(lambda: corrector.correct([x]))  # noqa: B023 (called at once)
        res, pass_ms, pass_cpu = _timed(lambda: dp.run(x, raw))  # noqa: B023
        samples.append({"input": x, "output": res.output, "needed": res.needed, "changes": res.changes,
                        "gen_ms": round(gen_ms, 2), "pass_ms": round(pass_ms, 2),
                        "gen_cpu_ms": round(gen_cpu, 2), "pass_cpu_ms": round(pass_cpu, 2)})
    return samples


def summary(samples: list[dict]) -> dict:
    med = lambda key, rows=samples: round(statistics.median(r[key] for r in rows), 2) if rows else None  # noqa: E731
    needed = [r for r in samples if r["needed"]]
    total = [r["gen_ms"] + r["pass_ms"] for r in samples]
    gen = statistics.median(r["gen_ms"] for r in samples)
    return {"sentences": len(samples), "needed_share": round(len(needed) / len(samples), 4),
            "changed_share": round(sum(bool(r["changes"]) for r in samples) / len(samples), 4),
            "gen_ms_median": med("gen_ms"), "pass_ms_median": med("pass_ms"),
            "pass_ms_median_when_needed": med("pass_ms", needed),
            "pass_cpu_ms_median_when_needed": med("pass_cpu_ms", needed),
            "total_ms_median": round(statistics.median(total), 2),
            "added_median_pct": round(100 * (statistics.median(total) / gen - 1), 2),
            "added_mean_pct": round(100 * sum(r["pass_ms"] for r in samples)
                                    / sum(r["gen_ms"] for r in samples), 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_dictpass", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a merged model folder (core.loading merge ADAPTER)")
    ap.add_argument("--benchmarks", default="evaluation/devsets/messages")
    ap.add_argument("--limit", type=int, default=48)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default="", help="also write the JSON here")
    ap.add_argument("overrides", nargs="*", help="evaluation config overrides (dictionary.margin=3 ...)")
    args = ap.parse_args(argv)
    if args.limit < 2 or args.threads < 1:
        ap.error("--limit must be >= 2 (one warm-up sentence) and --threads >= 1")

    import torch

    from core.config import load_config
    from evaluation.config import DEFAULT_CONFIG, EvalConfig
    from evaluation.correctors import make_corrector
    from evaluation.dictpass import DictionaryPass
    from evaluation.eval_sets import load_benchmarks

    torch.set_num_threads(args.threads)
    cfg = load_config(EvalConfig, DEFAULT_CONFIG, [f"benchmarks={args.benchmarks}", *args.overrides])
    inputs = [p.input for b in load_benchmarks(cfg.benchmarks) for p in b.pairs if p.input.strip()]
    inputs = inputs[:args.limit + 1]
    corrector = make_corrector("hf", args.model, batch_size=1, device="cpu")
    dp = DictionaryPass.for_model(cfg.dictionary, corrector.dictionary_model(), cfg.guard)
    measure(corrector, dp, inputs[:1])  # warm-up: first-call allocations, kernel choices
    samples = measure(corrector, dp, inputs[1:])
    report = {"machine": {"platform": platform.platform(), "processor": platform.processor(),
                          "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()},
              "model": args.model, "benchmarks": args.benchmarks, "dictionary": asdict(cfg.dictionary),
              **summary(samples), "samples": samples}
    if args.json:
        atomic_write_json(args.json, report)
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
