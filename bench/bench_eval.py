"""Evaluation speed benchmarks. Two modes, each prints one JSON object.

GPU (needs only torch + transformers + the standard library, so it runs on a bare GPU
box without this project's other dependencies or the Hub):

    python -m bench.bench_eval gpu [--n 5000] [--batch 128] [--big-batch 512] [--smoke]

  A random-init model with the SmolLM2-135M shape (Llama: hidden 576, 30 layers, 9 heads,
  3 KV heads, intermediate 1536, vocab 49152) generates greedily for n synthetic
  sentences (prompt = 40 template tokens + a sentence of lognormal length, answer as
  long as the sentence + EOS). A random model never emits EOS, so every batch decodes
  to its longest member, exactly what batched greedy generation does when sequences
  stop at different lengths. Modes, timed in the same run on the same sentences:
    plain          input order, batch --batch, dynamic cache (the issue's baseline)
    sorted         length-sorted batches, dynamic cache
    sorted_static  length-sorted batches, static KV cache
    sorted_static_big  the same at --big-batch (sorting keeps big batches unpadded)
  `agreement_vs_plain` is the share of sentences whose greedy tokens equal plain's.
  --smoke: a tiny model and 48 sentences on CPU (what the test suite runs).

CPU (this project's tiny preset and SymSpell, sentences/s on the same sentences):

    python -m bench.bench_eval cpu [--n 200] [--model tiny|DIR] [--eval ../shared/data/eval/neuspell-jfleg]
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import random
import sys
import time
from pathlib import Path

SMOLLM2_135M = dict(hidden_size=576, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                    intermediate_size=1536, vocab_size=49152, max_position_embeddings=2048,
                    rope_theta=100000.0, tie_word_embeddings=True)
SMOKE = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             intermediate_size=128, vocab_size=512, max_position_embeddings=512, tie_word_embeddings=True)
TEMPLATE_TOKENS = 40  # chat template + instruction around the user's sentence


# ---------------------------------------------------------------- GPU mode
def workload(n: int, vocab: int, seed: int = 0) -> list[tuple[list[int], int]]:
    """(prompt ids, answer length) per synthetic sentence; lengths like real eval sentences."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        n_text = max(4, min(160, int(rng.lognormvariate(math.log(24), 0.5))))
        out.append(([rng.randrange(16, vocab) for _ in range(TEMPLATE_TOKENS + n_text)], n_text + 1))
    return out


def build_model(shape: dict, device: str, dtype):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(**shape, pad_token_id=0, bos_token_id=None, eos_token_id=None)
    model = LlamaForCausalLM(cfg).to(device=device, dtype=dtype).eval()
    model.generation_config.eos_token_id = None  # decode every batch to its longest answer
    model.generation_config.pad_token_id = 0
    return model


def generate_batches(model, work, order, batch: int, static: bool, device: str) -> tuple[float, dict]:
    """Greedy generation over `order` in batches; returns (seconds, {index: new ids})."""
    import torch

    outs: dict[int, list[int]] = {}
    extra = {"cache_implementation": "static", "disable_compile": True} if static else {}
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for s in range(0, len(order), batch):
        idx = order[s:s + batch]
        width = max(len(work[k][0]) for k in idx)
        ids = torch.tensor([[0] * (width - len(work[k][0])) + work[k][0] for k in idx], device=device)
        mask = (torch.arange(width, device=device)[None, :] >=
                torch.tensor([width - len(work[k][0]) for k in idx], device=device)[:, None]).long()
        new = max(work[k][1] for k in idx)
        with torch.inference_mode():
            gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new,
                                 do_sample=False, **extra)
        for row, k in zip(gen[:, width:].tolist(), idx):
            outs[k] = row[: work[k][1]]
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, outs


def gpu_main(args) -> dict:
    import torch
    import transformers

    device = "cpu" if args.smoke or not torch.cuda.is_available() else "cuda"
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    shape = SMOKE if args.smoke else SMOLLM2_135M
    n = args.n or (48 if args.smoke else 5000)
    batch, big = (16, 32) if args.smoke else (args.batch, args.big_batch)
    if device == "cpu":
        torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    model = build_model(shape, device, dtype)
    work = workload(n, shape["vocab_size"])
    by_len = sorted(range(n), key=lambda k: (len(work[k][0]), work[k][1]))
    useful = sum(t for _, t in work)
    generate_batches(model, work, by_len[-batch:], batch, True, device)  # warm-up (kernels, allocator)
    generate_batches(model, work, by_len[-batch:], batch, False, device)
    modes = {"plain": (list(range(n)), batch, False), "sorted": (by_len, batch, False),
             "sorted_static": (by_len, batch, True), "sorted_static_big": (by_len, big, True)}
    results, ref = {}, None
    for name, (order, bs, static) in modes.items():
        if args.modes and name not in args.modes.split(","):
            continue
        try:
            sec, outs = generate_batches(model, work, order, bs, static, device)
        except Exception as exc:  # report the failing mode, keep measuring the others
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            continue
        ref = outs if name == "plain" else ref
        results[name] = {"batch_size": bs, "static_cache": static, "seconds": round(sec, 3),
                         "sentences_per_s": round(n / sec, 1), "new_tokens_per_s": round(useful / sec, 1),
                         "agreement_vs_plain": None if ref is None else
                         round(sum(outs[k] == ref[k] for k in range(n)) / n, 4)}
    base = results.get("plain", {}).get("seconds")
    return {
        "bench": "eval_generation",
        "device": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu",
        "dtype": str(dtype).replace("torch.", ""), "torch": torch.__version__,
        "transformers": transformers.__version__,
        "shape": shape, "sentences": n, "useful_new_tokens": useful, "modes": results,
        "speedup_vs_plain": {k: round(base / v["seconds"], 2) for k, v in results.items()
                             if base and "seconds" in v},
    }


# ---------------------------------------------------------------- CPU mode
def _sentences(path: str, n: int) -> list[str]:
    p = Path(path) / "corrupt.txt"
    if p.is_file():
        return p.read_text(encoding="utf-8").splitlines()[:n]
    base = ["I tought you understood what I ment.", "We go home becouse it rains.",
            "She recieved 12 letters yesterday.", "It is definately fine, see https://example.com."]
    return [base[k % len(base)] for k in range(n)]


def _rate(fn, texts: list[str]) -> tuple[float, list[str]]:
    t0 = time.perf_counter()
    out = fn(texts)
    return len(texts) / (time.perf_counter() - t0), out


def cpu_main(args) -> dict:
    import torch

    from evaluation.correctors import make_corrector
    from evaluation.guard import guard
    from evaluation.run import resolve_model

    torch.set_num_threads(args.threads)
    texts = _sentences(args.eval, args.n)
    hf = make_corrector("hf", resolve_model(args.model), batch_size=args.batch, device="cpu")
    hf.correct(texts[:4])  # warm-up
    sym = make_corrector("symspell")  # dictionaries load here, outside the timing
    hf_rate, hf_out = _rate(hf.correct, texts)
    sym_rate, _ = _rate(sym.correct, texts)
    guard_rate, _ = _rate(lambda ts: [guard(a, b) for a, b in zip(ts, hf_out)], texts)
    return {"bench": "eval_cpu", "machine": platform.processor() or platform.machine(),
            "threads": args.threads, "sentences": len(texts), "model": args.model,
            "hf_sentences_per_s": round(hf_rate, 2),
            "symspell_sentences_per_s": round(sym_rate, 2), "guard_sentences_per_s": round(guard_rate, 1),
            "symspell_vs_hf": round(sym_rate / hf_rate, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    g = sub.add_parser("gpu", help="generation throughput, SmolLM2-135M shape (torch + transformers only)")
    g.add_argument("--n", type=int, default=0, help="sentences (default 5000; 48 with --smoke)")
    g.add_argument("--batch", type=int, default=128)
    g.add_argument("--big-batch", type=int, default=512)
    g.add_argument("--modes", default="",
                   help="comma-separated subset of plain,sorted,sorted_static,sorted_static_big")
    g.add_argument("--smoke", action="store_true", help="tiny model, 48 sentences, CPU")
    c = sub.add_parser("cpu", help="tiny preset and SymSpell sentences/s on CPU")
    c.add_argument("--n", type=int, default=200)
    c.add_argument("--model", default="tiny", help="tiny, a model dir or a training run dir")
    c.add_argument("--eval", default="../shared/data/eval/neuspell-jfleg")
    c.add_argument("--batch", type=int, default=32)
    c.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    result = gpu_main(args) if args.mode == "gpu" else cpu_main(args)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
