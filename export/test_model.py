"""Verify exported `.pte` files against the eager model they came from (the seed's
`test_model.py`): greedy on the host with the ExecuTorch runtime vs HF greedy.

    python -m export.test_model --model models/checkpoint \\
        --pte models/typing-corrector-int8.pte models/typing-corrector-int4.pte --eval data/eval_data.json

fp32 files must match token for token (exit 1 otherwise); quantized files report token
agreement and the accuracy delta through evaluation.scoring.score_outputs (guarded and raw).
Writes runs/export/<run>/verify.json.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from core.cli import run_cli
from core.errors import ExportError
from core.paths import input_path

KEY_METRICS = ("exact_match", "word_accuracy", "f0_5", "correction_rate", "over_correction_rate")


def read_pairs(path: str | Path, limit: int) -> list[dict]:
    """The eval pairs, parsed by the evaluation's reader (same errors, naming file and line)."""
    from evaluation.eval_sets import read_jsonl

    pairs = read_jsonl(Path(path)).head(limit).pairs
    return [{"input": p.input, "output": p.reference} for p in pairs]


def eager_outputs(model, prompts: list[list[int]], eos: list[int], max_new: int) -> list[list[int]]:
    import torch

    outs = []
    for ids in tqdm(prompts, desc="eager", unit="sample"):
        with torch.no_grad():
            gen = model.generate(torch.tensor([ids]), max_new_tokens=max_new, do_sample=False,
                                 eos_token_id=eos, pad_token_id=eos[0])
        outs.append(gen[0, len(ids):].tolist())
    return outs


def agreement(ref: list[list[int]], got: list[list[int]]) -> dict[str, float]:
    """Sample-level identical sequences and position-wise token agreement."""
    same = sum(a == b for a, b in zip(ref, got))
    match = sum(sum(x == y for x, y in zip(a, b)) for a, b in zip(ref, got))
    total = sum(max(len(a), len(b)) for a, b in zip(ref, got))
    return {"identical_samples": same / len(ref), "token_agreement": match / max(total, 1)}


def _key(metrics: dict) -> dict[str, Any]:
    return {k: metrics.get(k) for k in KEY_METRICS}


def _delta(a: dict, b: dict) -> dict[str, float | None]:
    return {k: (None if a.get(k) is None or b.get(k) is None else b[k] - a[k]) for k in KEY_METRICS}


def verify(model: str, ptes: list[str], eval_path: str, limit: int, max_new: int) -> dict[str, Any]:
    from core.prompt import decode_answer, eos_ids, prompt_ids
    from evaluation.scoring import score_outputs
    from export.runtime import PteModel
    from export.source import load_source_model, load_source_tokenizer, resolve_source

    for path in (*ptes, eval_path):  # before loading any model: a typo fails in a second
        if not input_path(path).is_file():
            raise ExportError(f"{path}: no such file")
    ptes = [str(input_path(p)) for p in ptes]
    src = resolve_source(model)
    tok = load_source_tokenizer(src)
    rows = read_pairs(input_path(eval_path), limit)
    inputs, refs = [r["input"] for r in rows], [r["output"] for r in rows]
    prompts = [prompt_ids(tok, t) for t in inputs]
    ref_ids = eager_outputs(load_source_model(src), prompts, eos_ids(tok), max_new)
    ref_score = score_outputs(inputs, refs, [decode_answer(tok, o) for o in ref_ids])
    report: dict[str, Any] = {"model": str(src.path), "eval": str(eval_path), "samples": len(rows),
                              "eager": {"guarded": _key(ref_score["guarded"]), "raw": _key(ref_score["raw"])},
                              "pte": {}}
    for path in ptes:
        m = PteModel(path)
        got = [m.generate(p, max_new)[0] for p in tqdm(prompts, desc=Path(path).name, unit="sample")]
        score = score_outputs(inputs, refs, [decode_answer(tok, o) for o in got])
        scheme = m.metadata.get("quantization", {}).get("scheme", "unknown")
        entry = {"scheme": scheme, **agreement(ref_ids, got),
                 "size_mib": round(Path(path).stat().st_size / 2**20, 3),
                 "guarded": _key(score["guarded"]), "raw": _key(score["raw"]),
                 "delta_guarded": _delta(ref_score["guarded"], score["guarded"]),
                 "delta_raw": _delta(ref_score["raw"], score["raw"])}
        entry["ok"] = entry["identical_samples"] == 1.0 if scheme == "fp32" else True
        report["pte"][str(path)] = entry
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Compare exported .pte files with the eager model.")
    ap.add_argument("--model", default="models/checkpoint",
                    help="run dir or merged model dir the .pte came from")
    ap.add_argument("--pte", nargs="+", required=True)
    ap.add_argument("--eval", default="data/eval_data.json", help="JSON Lines {input, output} pairs")
    ap.add_argument("--limit", type=int, default=200, help="samples (0 = all)")
    ap.add_argument("--max-new", type=int, default=64)
    ap.add_argument("--run", default=None, help="run name under runs/export/")
    args = ap.parse_args(argv)
    return run_cli(lambda: _verify_and_report(args))


def _verify_and_report(args: argparse.Namespace) -> int:
    from core.paths import output_path
    from core.runs import atomic_write_json, default_run_name, env_info

    report = verify(args.model, args.pte, args.eval, args.limit, args.max_new)
    run_dir = output_path("runs/export") / (args.run or f"verify-{default_run_name()}")
    atomic_write_json(run_dir / "args.json", vars(args))
    atomic_write_json(run_dir / "env.json", env_info(None))
    atomic_write_json(run_dir / "verify.json", report)
    for path, e in report["pte"].items():
        print(f"{Path(path).name:32s} {e['scheme']:6s} identical {e['identical_samples']:.3f} "
              f"tokens {e['token_agreement']:.3f} "
              f"exact-match delta (guarded) {e['delta_guarded']['exact_match']}"
              f" {'OK' if e['ok'] else 'FAIL: fp32 must be token-exact'}")
    print(f"report: {run_dir / 'verify.json'}")
    return 0 if all(e["ok"] for e in report["pte"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
