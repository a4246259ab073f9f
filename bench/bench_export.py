"""Export and host-runtime benchmarks (a script, not a timed test). Each mode prints one
JSON object and writes it under runs/bench/<run>/.

    python bench/bench_export.py export --shape tiny|smollm2-135m|DIR \
        [--recipes xnnpack-int8 xnnpack-int4] [--max-seq-len 512]
        export time, .pte size and peak export RSS per recipe. `smollm2-135m` is a random-init
        Llama with SmolLM2-135M's shape (hidden 576, 30 layers, 9 heads, 3 KV heads,
        intermediate 1536, vocab 49152, tied embeddings) built from its config (no download).

    python bench/bench_export.py speculate --pte models/typing-corrector-int8.pte \
        --eval data/eval_data.json [--n 100] [--draft-len K]
        plain vs copy-speculative greedy through PteModel on the same sentences in the same
        run (interleaved): sentence latency, forwards per output token, acceptance rate, and
        the plain/copy latency ratio. Outputs are checked identical. Copy-mode settings not
        given (K, prefill draft, n-gram) are core/decoding_defaults.json's.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from core.files import jsonl_lines

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SMOLLM2_135M = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                    num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
                    rope_theta=100000.0, rms_norm_eps=1e-5, tie_word_embeddings=True)


def build_shape(shape: str, out: Path) -> Path:
    """A model folder for `shape`: the built-in tiny, the SmolLM2-135M shape (random init,
    with the tiny tokenizer's files for the metadata), or an existing folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from core.tiny import ensure_tiny

    if shape == "tiny":
        return ensure_tiny()
    if shape != "smollm2-135m":
        return Path(shape)
    tiny = ensure_tiny()
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**SMOLLM2_135M, eos_token_id=3, pad_token_id=0, bos_token_id=None))
    model.save_pretrained(out)
    for f in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (tiny / f).is_file():
            (out / f).write_bytes((tiny / f).read_bytes())
    return out


def bench_export(args) -> dict:
    import tempfile

    from export.export_to_pte import export_model

    tmp = Path(tempfile.mkdtemp(prefix="bench_export_"))
    model_dir = build_shape(args.shape, tmp / "model")
    rows = {}
    for recipe in args.recipes:
        out = (Path(args.out_dir) if args.out_dir else tmp) / f"{Path(str(args.shape)).name}-{recipe}.pte"
        meta = export_model(model_dir, recipe, out, max_seq_len=args.max_seq_len, group_size=args.group_size,
                            attention=args.attention)
        keys = ("size_bytes", "size_mib", "export_seconds", "peak_export_rss_mb", "attention")
        rows[recipe] = {k: meta[k] for k in keys}
        rows[recipe]["quantization"] = meta["quantization"]
        rows[recipe]["path"] = str(out)
        print(json.dumps({recipe: rows[recipe]}), flush=True)
    return {"mode": "export", "shape": args.shape, "max_seq_len": args.max_seq_len, "results": rows}


def bench_speculate(args) -> dict:
    from core.prompt import prompt_ids_and_span
    from export.runtime import PteModel, load_pte_tokenizer

    tok = load_pte_tokenizer(args.pte)
    m = PteModel(args.pte, threads=args.threads)
    lines = [json.loads(line) for line in jsonl_lines(Path(args.eval).read_text(encoding="utf-8"))
             if line.strip()]
    rows = lines[: args.n]
    prompts = [prompt_ids_and_span(tok, r["input"]) for r in rows]
    for p, _ in prompts[:3]:  # warm-up
        m.generate(p, args.max_new)
    plain, copy = [], []
    for p, span in prompts:  # interleaved, so load changes hit both modes alike
        limit = m.reusable(p)  # both modes reuse only what the previous sentence left in the cache
        a, sa = m.generate(p, args.max_new, reuse_limit=limit)
        b, sb = m.generate(p, args.max_new, speculate="copy", draft_len=args.draft_len, source_span=span,
                           reuse_limit=limit)
        if a != b:
            raise SystemExit(f"speculative output differs from greedy on prompt {p[:8]}...")
        plain.append(sa)
        copy.append(sb)
    clean = [r["input"] == r["output"] for r in rows]  # nothing to fix: a pure copy
    subsets = {"all": [True] * len(rows), "clean_inputs": clean, "inputs_with_typos": [not c for c in clean]}
    out = {"mode": "speculate", "pte": str(args.pte), "sentences": len(prompts), "draft_len": args.draft_len,
           "threads": args.threads}
    for name, keep in subsets.items():
        p = [s for s, k in zip(plain, keep) if k]
        c = [s for s, k in zip(copy, keep) if k]
        if p:
            out[name] = {"sentences": len(p), "plain": _summary(p), "copy": _summary(c),
                         "latency_ratio_plain_over_copy": statistics.mean(s["total_ms"] for s in p)
                         / statistics.mean(s["total_ms"] for s in c)}
    return out


def _summary(stats: list[dict]) -> dict:
    tokens = sum(s["new_tokens"] for s in stats)
    drafted = sum(s["drafted_tokens"] for s in stats)
    ms = [s["total_ms"] for s in stats]
    return {"sentence_ms_mean": statistics.mean(ms), "sentence_ms_median": statistics.median(ms),
            "prefill_ms_mean": statistics.mean(s["prefill_ms"] for s in stats),
            "decode_ms_mean": statistics.mean(s["decode_ms"] for s in stats),
            "forwards_per_token": sum(s["forwards"] for s in stats) / max(tokens, 1),
            "new_tokens": tokens,
            "acceptance_rate": sum(s["accepted_tokens"] for s in stats) / drafted if drafted else 0.0}


def main(argv: list[str] | None = None) -> int:
    from core import decoding
    from core.paths import REPO_ROOT
    from core.runs import atomic_write_json, env_info

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    e = sub.add_parser("export")
    e.add_argument("--shape", default="tiny")
    e.add_argument("--recipes", nargs="+", default=["xnnpack-fp32", "xnnpack-int8", "xnnpack-int4"])
    e.add_argument("--max-seq-len", type=int, default=512)
    e.add_argument("--group-size", type=int, default=32)
    e.add_argument("--attention", choices=["auto", "lean", "static"], default="auto",
                   help="static: the decoder every recipe had before the lean default (export/attention.py)")
    e.add_argument("--out-dir", default="")
    s = sub.add_parser("speculate")
    s.add_argument("--pte", required=True)
    s.add_argument("--eval", required=True)
    s.add_argument("--n", type=int, default=100)
    s.add_argument("--max-new", type=int, default=64)
    s.add_argument("--draft-len", type=int, default=decoding.DRAFT_LEN)
    s.add_argument("--threads", type=int, default=1)
    for p in (e, s):
        p.add_argument("--run", default=None)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(getattr(args, "threads", 1) or 1)
    t0 = time.perf_counter()
    result = bench_export(args) if args.mode == "export" else bench_speculate(args)
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    from core.runs import machine_info

    result["machine"] = machine_info()
    run_dir = REPO_ROOT / "runs/bench" / (args.run or f"export-{args.mode}-{time.strftime('%Y%m%d-%H%M%S')}")
    atomic_write_json(run_dir / "args.json", vars(args))  # argparse args: not a config dataclass
    atomic_write_json(run_dir / "env.json", env_info(None))
    atomic_write_json(run_dir / f"bench_export_{args.mode}.json", result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
