"""Guard speed on big inputs: evaluation.guard.guard(input, output) on 10 kB, 100 kB and
1 MB texts, two shapes per size, timed in the same run:

    token  one token of N letters; the output changes one letter in its middle (a huge
           "word" the guard must not align character by character)
    words  ordinary words, about one in eight misspelt; the output is the clean text,
           so every fix is a unit the guard aligns and accepts
    dotted one token "a.a.a...1,1,1..." (runs the protected-span patterns once scanned from
           every position: e-mail and number runs); the output adds a word

    python -m bench.bench_guard [--sizes 10000,100000,1000000] [--repeats 3] [--json FILE]

Prints one JSON object first (every raw sample in seconds, and the median), then a table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time

from core.runs import atomic_write_json

VOCAB = ("the cat sat on a mat and we will meet tomorrow at the station because the weather is good "
         "she does not like apples but their house is big I thought you understood please send the "
         "money back definitely received people government different beautiful").split()


def token_case(n: int, rng: random.Random) -> tuple[str, str]:
    tok = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n))
    k = n // 2
    return tok, tok[:k] + ("x" if tok[k] != "x" else "y") + tok[k + 1:]


def _misspell(w: str, rng: random.Random) -> str:
    if len(w) < 4:
        return w
    k = rng.randrange(1, len(w) - 1)
    return w[:k] + w[k + 1] + w[k] + w[k + 2:]  # one transposition: a fix the guard keeps


def words_case(n: int, rng: random.Random) -> tuple[str, str]:
    clean, noisy, size = [], [], 0
    while size < n:
        w = rng.choice(VOCAB)
        clean.append(w)
        noisy.append(_misspell(w, rng) if rng.random() < 0.125 else w)
        size += len(w) + 1
    return " ".join(noisy), " ".join(clean)


def dotted_case(n: int, rng: random.Random) -> tuple[str, str]:
    half = "a." * (n // 4) + "1," * (n // 4)
    return half, half + " ok"  # a change, so the guard reads both texts


CASES = {"token": token_case, "words": words_case, "dotted": dotted_case}


def time_case(inp: str, out: str, repeats: int) -> dict:
    from evaluation.guard import guard

    samples, kept = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        g = guard(inp, out)
        samples.append(time.perf_counter() - t0)
        kept = g == out
    return {"samples_s": [round(s, 4) for s in samples], "median_s": round(statistics.median(samples), 4),
            "output_kept": kept}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_guard", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000", help="input sizes in characters")
    ap.add_argument("--cases", default=",".join(CASES), help="from: " + ", ".join(CASES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the figures here too")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    out = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                       "load_avg_start": os.getloadavg()},
           "repeats": args.repeats, "results": {}}
    for case in [c for c in args.cases.split(",") if c]:
        if case not in CASES:
            raise SystemExit(f"unknown case {case!r}; known: {', '.join(CASES)}")
        for n in sizes:
            inp, cand = CASES[case](n, random.Random(args.seed))
            r = time_case(inp, cand, args.repeats)
            r.update(chars=len(inp), tokens=len(inp.split()))
            out["results"][f"{case}/{n}"] = r
            print(f"# {case:5s} {n:>9,d} chars: median {r['median_s']:.4f} s", file=sys.stderr, flush=True)
    print(json.dumps(out, indent=2))
    if args.json:
        atomic_write_json(args.json, out)
    print(f"\n{'case':6s} {'chars':>10s} {'tokens':>8s} {'median s':>9s} {'MB/s':>7s}  kept")
    for key, r in out["results"].items():
        mbs = r["chars"] / 1e6 / r["median_s"] if r["median_s"] else float("inf")
        print(f"{key.split('/')[0]:6s} {r['chars']:>10,d} {r['tokens']:>8,d} {r['median_s']:>9.4f} "
              f"{mbs:>7.2f}  {r['output_kept']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
