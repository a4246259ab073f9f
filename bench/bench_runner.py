"""Benchmark of the C++ runner (a script, not a timed test; figures are ratios measured in
the same run on the same machine):

1. per-token decode time, C++ typo_runner vs the Python ExecuTorch runtime (export/runtime.py
   PteModel), same .pte, same requests, same thread count;
2. sentence latency, plain greedy vs copy-speculative decoding (--speculate copy), both in
   the C++ runner (and in the Python runtime for reference), with forwards per output token
   and the acceptance rate. Tokens must be identical in every mode (checked).

    .venv/bin/python bench/bench_runner.py --pte models/typing-corrector-int8.pte \
        --model-dir models/checkpoint --eval data/eval_data.json --n 50 --threads 2

Copy mode uses core/decoding_defaults.json (both runtimes default to it); --draft-len overrides K.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.files import jsonl_lines

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BINARY = REPO / "android_runner" / "build" / "host" / "typo_runner"


def build_requests(model_dir: Path, eval_path: Path, n: int, max_new: int) -> list[dict]:
    from core.loading import load_tokenizer
    from core.prompt import prompt_ids_and_span

    tok = load_tokenizer(str(model_dir))
    lines = jsonl_lines(eval_path.read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in lines if line.strip()][:n]
    if not rows:
        raise SystemExit(f"{eval_path}: no pairs")
    reqs = []
    for i, r in enumerate(rows):
        ids, span = prompt_ids_and_span(tok, r["input"])
        reqs.append({"id": i, "prompt_ids": ids, "max_new_tokens": max_new,
                     **({"source_span": list(span)} if span else {})})
    return reqs


def run_cpp(pte: Path, reqs: list[dict], threads: int, reps: int,
            draft_len: int = 0) -> tuple[list[dict], dict]:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "req.jsonl").write_text("".join(json.dumps(r) + "\n" for r in reqs))
        cmd = [str(BINARY), "--model", str(pte), "--requests", str(d / "req.jsonl"),
               "--results", str(d / "res.jsonl"), "--summary", str(d / "sum.json"),
               "--threads", str(threads), "--warmup", "1", "--reps", str(reps)]
        if draft_len:
            cmd += ["--speculate", "copy", "--draft-len", str(draft_len)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"typo_runner failed ({proc.returncode}): {proc.stderr[-2000:]}")
        results = [json.loads(line) for line in jsonl_lines((d / "res.jsonl").read_text(encoding="utf-8"))]
        errors = [r for r in results if "error" in r]
        if errors:
            raise SystemExit(f"typo_runner reported errors, e.g. {errors[0]}")
        return results, json.loads((d / "sum.json").read_text())


def run_python(pte: Path, reqs: list[dict], threads: int, reps: int, draft_len: int = 0) -> list[dict]:
    """PteModel on the same thread count (the ExecuTorch threadpool, not torch's)."""
    from executorch.extension.pybindings import portable_lib

    from export.runtime import PteModel

    portable_lib._unsafe_reset_threadpool(threads)
    m = PteModel(pte)
    kw = {"speculate": "copy", "draft_len": draft_len} if draft_len else {}
    m.generate(reqs[0]["prompt_ids"], reqs[0]["max_new_tokens"], **kw)  # warm-up, like the runner's
    out = []
    for r in reqs:
        span = r.get("source_span") if draft_len else None
        limit = m.reusable(r["prompt_ids"])  # every rep reuses what the previous request left, as in C++
        runs = [m.generate(r["prompt_ids"], r["max_new_tokens"], source_span=span, reuse_limit=limit, **kw)
                for _ in range(reps)]
        ids, st = runs[0]
        med = {k: statistics.median(s[k] for _, s in runs) for k in ("prefill_ms", "decode_ms", "total_ms")}
        out.append({"output_ids": ids, "new_tokens": len(ids), "forwards": st["forwards"],
                    "accepted_tokens": st["accepted_tokens"], "drafted_tokens": st["drafted_tokens"], **med})
    return out


def per_token_decode_ms(results: list[dict]) -> float:
    """Decode time per token after the first (which the prefill produced)."""
    toks = sum(max(0, r["new_tokens"] - 1) for r in results)
    return sum(r["decode_ms"] for r in results) / max(1, toks)


def mode_stats(results: list[dict]) -> dict:
    new = sum(r["new_tokens"] for r in results)
    drafted = sum(r.get("drafted_tokens", 0) for r in results)
    return {
        "sentence_ms_mean": statistics.mean(r["total_ms"] for r in results),
        "sentence_ms_median": statistics.median(r["total_ms"] for r in results),
        "decode_ms_per_token": per_token_decode_ms(results),
        "forwards_per_output_token": sum(r["forwards"] for r in results) / max(1, new),
        "acceptance_rate": sum(r.get("accepted_tokens", 0) for r in results) / drafted if drafted else None,
        "new_tokens": new,
    }


def bench_one(pte: Path, reqs: list[dict], threads: int, reps: int, k: int) -> dict:
    t0 = time.perf_counter()
    cpp_plain, summary = run_cpp(pte, reqs, threads, reps)
    cpp_spec, _ = run_cpp(pte, reqs, threads, reps, draft_len=k)
    py_plain = run_python(pte, reqs, threads, reps)
    py_spec = run_python(pte, reqs, threads, reps, draft_len=k)
    ids = [r["output_ids"] for r in cpp_plain]
    same = {name: [r["output_ids"] for r in res] == ids
            for name, res in (("cpp_copy", cpp_spec), ("python_plain", py_plain), ("python_copy", py_spec))}
    modes = {"cpp_plain": mode_stats(cpp_plain), "cpp_copy": mode_stats(cpp_spec),
             "python_plain": mode_stats(py_plain), "python_copy": mode_stats(py_spec)}
    return {
        "pte": str(pte), "requests": len(reqs), "threads": threads, "reps": reps, "draft_len": k,
        "tokens_identical": same, "modes": modes,
        "peak_rss_kb_cpp": summary["peak_rss_kb"], "model_load_ms_cpp": summary["model_load_ms"],
        # < 1: the C++ runner decodes faster than the Python runtime
        "decode_ms_per_token_ratio_cpp_over_python":
            modes["cpp_plain"]["decode_ms_per_token"] / modes["python_plain"]["decode_ms_per_token"],
        # > 1: speculation makes sentences faster
        "sentence_latency_ratio_plain_over_copy_cpp":
            modes["cpp_plain"]["sentence_ms_mean"] / modes["cpp_copy"]["sentence_ms_mean"],
        "sentence_latency_ratio_plain_over_copy_python":
            modes["python_plain"]["sentence_ms_mean"] / modes["python_copy"]["sentence_ms_mean"],
        "bench_s": time.perf_counter() - t0,
    }


def print_table(rep: dict) -> None:
    print(f"\n{rep['pte']}  ({rep['requests']} sentences, {rep['threads']} threads, K={rep['draft_len']})")
    print(f"  {'mode':14s} {'sentence ms':>12s} {'decode ms/tok':>14s} {'fwd/out tok':>12s} {'accept':>7s}")
    for name, m in rep["modes"].items():
        acc = "-" if m["acceptance_rate"] is None else f"{m['acceptance_rate']:.2f}"
        print(f"  {name:14s} {m['sentence_ms_mean']:12.2f} {m['decode_ms_per_token']:14.3f} "
              f"{m['forwards_per_output_token']:12.2f} {acc:>7s}")
    print(f"  decode ms/token C++/Python: {rep['decode_ms_per_token_ratio_cpp_over_python']:.2f}   "
          f"sentence latency plain/copy: C++ {rep['sentence_latency_ratio_plain_over_copy_cpp']:.2f}x, "
          f"Python {rep['sentence_latency_ratio_plain_over_copy_python']:.2f}x   tokens identical: "
          f"{all(rep['tokens_identical'].values())}")


def main(argv: list[str] | None = None) -> int:
    from core import decoding

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pte", type=Path, nargs="+", required=True,
                    help=".pte files (the same prompts for each)")
    ap.add_argument("--model-dir", type=Path, required=True,
                    help="model folder with the tokenizer (prompt module)")
    ap.add_argument("--eval", type=Path, required=True,
                    help="JSON Lines pairs; their inputs become the prompts")
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--draft-len", type=int, default=decoding.DRAFT_LEN)
    ap.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = ap.parse_args(argv)
    subprocess.run(["bash", str(REPO / "android_runner/build_host.sh")], check=True, capture_output=True)
    reqs = build_requests(args.model_dir, args.eval, args.n, args.max_new_tokens)
    reports = []
    for pte in args.pte:
        reports.append(bench_one(pte, reqs, args.threads, args.reps, args.draft_len))
        print_table(reports[-1])
    if args.out:
        from core.runs import atomic_write_json

        atomic_write_json(args.out, {"machine": _machine(), "results": reports})
        print(f"\nwritten {args.out}")
    return 0 if all(all(r["tokens_identical"].values()) for r in reports) else 1


def _machine() -> dict:
    import os
    import platform

    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "system": platform.platform()}


if __name__ == "__main__":
    sys.exit(main())
