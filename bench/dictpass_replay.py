"""Replay the dictionary pass (evaluation/dictpass.py) over the raw outputs an evaluation run
already saved, under several pass settings, so settings are compared on the same model answers
without generating them again (generation is >90 % of an evaluation's time):

    python -m bench.dictpass_replay --model DIR --eval runs/eval/NAME [--eval ...]
        --variant typed: --variant masked:dictionary.context=masked [--set NAME] [--json FILE]

Each `--eval` is a run folder of `python -m evaluation` (its outputs/<set>__hf.jsonl and
metrics.json give the raw answers, the set's path, size and what its references fix); the model
must be the one that run scored (its metrics.json names it). Every variant is `name:k=v,k=v`
(dictionary.* keys of evaluation/configs/default.yaml). Prints, per set and variant, the guarded
metrics the evaluation reports (exact match on the full text, spelling correction and
over-correction, F0.5) and the number of sentences each variant changed against the plain guard.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.cli import run_cli
from core.errors import EvalError
from core.files import jsonl_lines
from core.runs import atomic_write_json

REPO = Path(__file__).resolve().parents[1]


def read_raw(run: Path) -> list[dict]:
    """[{"set", "source", "n", "case_insensitive", "fixes", "raw": [outputs in pair order]}]."""
    f = run / "metrics.json"
    if not f.is_file():
        raise EvalError(f"{f}: not found (--eval takes a `python -m evaluation` run folder)")
    try:
        meta = json.loads(f.read_text())
    except json.JSONDecodeError as exc:
        raise EvalError(f"{f}: not JSON ({exc})") from None
    sets = []
    for name, info in meta["benchmarks"].items():
        f = run / "outputs" / f"{name}__hf.jsonl"
        if not f.is_file():
            raise EvalError(f"{f}: no hf outputs (replay needs an hf evaluation run)")
        lines = jsonl_lines(f.read_text(encoding="utf-8"))
        rows = sorted((json.loads(line) for line in lines if line.strip()), key=lambda r: r["i"])
        if [r["i"] for r in rows] != list(range(info["n"])):
            raise EvalError(f"{f}: {len(rows)} outputs for {info['n']} pairs (an unfinished run?)")
        sets.append({"set": name, "source": info["source"], "n": info["n"],
                     "case_insensitive": info["case_insensitive"], "fixes": info["fixes"],
                     "raw": [r["output"] for r in rows]})
    return sets


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, _, spec = text.partition(":")
    if not name:
        raise EvalError(f"--variant {text!r}: give it a name, e.g. masked:dictionary.context=masked")
    return name, [kv for kv in spec.split(",") if kv.strip()]


def dict_config(overrides: list[str]):
    """The evaluation's dictionary section with `overrides` applied (its checks and errors)."""
    from core.config import load_config
    from evaluation.config import DEFAULT_CONFIG, EvalConfig

    return load_config(EvalConfig, DEFAULT_CONFIG, overrides).dictionary


def replay(sets: list[dict], model_dir: str, variants: list[tuple[str, list[str], Any]]) -> list[dict]:
    """`variants`: (name, overrides, the dictionary config they give)."""
    import torch

    from evaluation.correctors import HFCorrector
    from evaluation.dictpass import DictionaryPass
    from evaluation.eval_sets import load_benchmark
    from evaluation.guard import guard
    from evaluation.scoring import score_outputs

    hf = HFCorrector(model_dir, dtype="bfloat16")  # what the evaluation runs score with on a CPU
    pm = hf.dictionary_model()
    out = []
    for s in sets:
        bench = load_benchmark(REPO / s["source"])  # an absolute source stays itself
        pairs = bench.pairs[:s["n"]]
        inputs, refs = [p.input for p in pairs], [p.reference for p in pairs]
        plain = [guard(i, r) for i, r in zip(inputs, s["raw"])]
        for name, overrides, cfg in variants:
            dp = DictionaryPass.for_model(replace(cfg, enabled=True), pm)
            with torch.no_grad():
                outs = [dp.correct(i, r) for i, r in zip(inputs, s["raw"])]
            m = score_outputs(inputs, refs, outs, case_insensitive=s["case_insensitive"],
                              fixes=tuple(s["fixes"]))["guarded"]
            spell = m["classes"]["spelling"]
            out.append({"set": s["set"], "variant": name, "overrides": overrides, "n": len(outs),
                        "exact_full": m["exact_match_full"], "exact": m["exact_match"], "f0_5": m["f0_5"],
                        "spelling_correction": spell["correction_rate"],
                        "spelling_over": spell["over_correction_rate"],
                        "changed_by_pass": sum(o != g for o, g in zip(outs, plain)),
                        "changes": [[i, g, o] for i, g, o in zip(inputs, plain, outs) if o != g]})
            r = out[-1]
            print(f"{s['set']:>22} {name:>12}: exact(full) {r['exact_full']:.3f}  spelling "
                  f"{100 * (r['spelling_correction'] or 0):.1f} % / {100 * r['spelling_over']:.2f} %  "
                  f"F0.5 {r['f0_5']:.3f}  pass changed {r['changed_by_pass']}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.dictpass_replay", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="the merged model the evaluation runs scored")
    ap.add_argument("--eval", action="append", required=True, help="an evaluation run folder")
    ap.add_argument("--variant", action="append", default=[], help="name:dictionary.k=v,...")
    ap.add_argument("--set", action="append", default=[], dest="sets",
                    help="replay only this set of the runs (repeatable; default: every set)")
    ap.add_argument("--json", help="write every record (with the changed sentences) here")
    args = ap.parse_args(argv)
    named = [parse_variant(v) for v in args.variant] or [("default", [])]
    variants = [(name, ov, dict_config(ov)) for name, ov in named]  # a wrong key fails before the model loads
    sets = [s for run in args.eval for s in read_raw(Path(run))]
    missing = set(args.sets) - {s["set"] for s in sets}
    if missing:  # a typo in a set name must not replay nothing and look like a result
        raise EvalError(f"--set {sorted(missing)}: not in the runs' sets {[s['set'] for s in sets]}")
    sets = [s for s in sets if not args.sets or s["set"] in args.sets]
    records = replay(sets, args.model, variants)
    if args.json:
        atomic_write_json(Path(args.json), records)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
