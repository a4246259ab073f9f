"""Export variants side by side in one run (e.g. xnnpack-int4 against xnnpack-int4-sdpa): the
same sentences, prompts and answer budgets as the device bench and the llama.cpp peer
(device_bench.inputs.build_requests), the Python ExecuTorch runtime or the host typo_runner
(--runtime cpp, android_runner/build/host/typo_runner) on one thread count, plain greedy and
copy speculation. Figures from a shared machine are only comparable
within one run: compare the ratios.

    python -m bench.bench_variants --pte a.pte --pte b.pte --tokenizer models/merged/<name> \
        --eval pairs.jsonl [--n 30] [--threads 1] [--runtime python|cpp] [--out runs/bench/variants.json]

Per file and mode: sentence p50/mean (ms), decode ms per token after the first and its
tokens/s, new tokens; checks: copy output == plain output per file, and how many outputs
each file shares with the first file. Raw per-sentence results stay in the JSON; the
Markdown beside it is rendered from the JSON.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def requests(tokenizer_dir: str, eval_path: str, n: int) -> list[dict]:
    from core.loading import load_tokenizer
    from device_bench.config import BenchConfig
    from device_bench.inputs import build_requests, load_eval

    tok = load_tokenizer(tokenizer_dir)
    return build_requests(tok, load_eval(eval_path, n), BenchConfig().max_new_tokens, 512)


def mode_row(results: list[dict]) -> dict[str, Any]:
    from bench.bench_runner import per_token_decode_ms

    per_tok = per_token_decode_ms(results)
    return {"p50_ms": statistics.median(r["total_ms"] for r in results),
            "mean_ms": statistics.mean(r["total_ms"] for r in results),
            "decode_ms_per_token": per_tok, "decode_tokens_per_s": 1000 / per_tok if per_tok else None,
            "new_tokens": sum(r["new_tokens"] for r in results),
            "forwards": sum(r["forwards"] for r in results)}


def bench_file(pte: Path, reqs: list[dict], threads: int, reps: int, draft_len: int,
               runtime: str = "python") -> dict[str, Any]:
    from bench.bench_runner import run_cpp, run_python

    if runtime == "cpp":
        plain, copy = (run_cpp(pte, reqs, threads, reps, draft_len=k)[0] for k in (0, draft_len))
    else:
        plain = run_python(pte, reqs, threads, reps)
        copy = run_python(pte, reqs, threads, reps, draft_len=draft_len)
    return {"pte": str(pte), "plain": mode_row(plain), "copy": mode_row(copy),
            "copy_identical": [a["output_ids"] for a in plain] == [b["output_ids"] for b in copy],
            "outputs": [r["output_ids"] for r in plain], "raw": {"plain": plain, "copy": copy}}


def render(report: dict[str, Any]) -> str:
    first = report["files"][0]["outputs"]
    lines = [f"# Export variants ({report['machine']}), {report['n']} sentences, "
             f"{report['threads']} thread(s), "
             f"{'host typo_runner' if report.get('runtime') == 'cpp' else 'Python ExecuTorch runtime'}", "",
             "| file | mode | p50 ms | mean ms | decode ms/token | decode tok/s | copy == plain | "
             "outputs as the first file |", "|---|---|---|---|---|---|---|---|"]
    for f in report["files"]:
        same = sum(a == b for a, b in zip(first, f["outputs"]))
        for mode in ("plain", "copy"):
            r = f[mode]
            lines.append(f"| {Path(f['pte']).name} | {mode} | {r['p50_ms']:.0f} | {r['mean_ms']:.0f} | "
                         f"{r['decode_ms_per_token']:.1f} | {r['decode_tokens_per_s']:.1f} | "
                         f"{f['copy_identical']} | {same}/{len(first)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from core import decoding

    ap = argparse.ArgumentParser(prog="python -m bench.bench_variants", description=__doc__.split("\n\n")[0])
    ap.add_argument("--pte", type=Path, action="append", required=True)
    ap.add_argument("--tokenizer", required=True, help="model folder whose tokenizer builds the prompts")
    ap.add_argument("--eval", required=True, help="JSON Lines pairs (input, output)")
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--draft-len", type=int, default=decoding.DRAFT_LEN)
    ap.add_argument("--runtime", choices=("python", "cpp"), default="python",
                    help="cpp: the host typo_runner (make runner), else the Python runtime")
    ap.add_argument("--machine", default="this host")
    ap.add_argument("--out", type=Path, default=Path("runs/bench/variants.json"))
    a = ap.parse_args(argv)
    if a.n < 1 or a.threads < 1 or a.reps < 1:
        ap.error("--n, --threads and --reps must be >= 1")
    reqs = requests(a.tokenizer, a.eval, a.n)
    files = [bench_file(p, reqs, a.threads, a.reps, a.draft_len, a.runtime) for p in a.pte]
    report = {"machine": a.machine, "n": len(reqs), "threads": a.threads, "runtime": a.runtime,
              "files": files}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report))
    md = render(report)
    a.out.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
