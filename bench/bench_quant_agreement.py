"""Which layers cost the INT4 export its agreement with eager: the eager model quantized
per plan (torchao, the configs the export recipes apply) scored against fp32 greedy outputs.

    python -m bench.bench_quant_agreement --model models/merged/<name> \\
        --eval ../shared/data/eval/neuspell-bea4660/<file>.jsonl [--limit 100] [--plans 8da4w,mixed]

A plan maps layer kinds (embedding, lm_head, attention, mlp) to bits (4: int4 groups of 32,
8: int8 per channel; linears take dynamic int8 activations, "w" plans weight-only ones);
the estimated file size counts the quantized weights and their scales. Prints one JSON line
per plan and writes runs/bench/quant_agreement.json. Eager quantized greedy is a stand-in
for the .pte (the lowered kernels differ in rounding): confirm a winner with
`python -m export.test_model`.
"""
from __future__ import annotations

import argparse
import copy
import json
import time

import torch

from core.paths import input_path, output_path
from core.runs import atomic_write_json

GROUP = 32
ATTN = ("q_proj", "k_proj", "v_proj", "o_proj")
# plan name -> bits per layer kind; "act": int8 dynamic activations on the linears (XNNPACK's 8daNw)
PLANS = {
    "8da8w": {"embedding": 8, "lm_head": 8, "attention": 8, "mlp": 8, "act": True},
    "8da4w": {"embedding": 4, "lm_head": 4, "attention": 4, "mlp": 4, "act": True},
    "8da4w-head8": {"embedding": 4, "lm_head": 8, "attention": 4, "mlp": 4, "act": True},
    "8da4w-attn8": {"embedding": 4, "lm_head": 4, "attention": 8, "mlp": 4, "act": True},
    "8da4w-emb8": {"embedding": 8, "lm_head": 4, "attention": 4, "mlp": 4, "act": True},
    "4w": {"embedding": 4, "lm_head": 4, "attention": 4, "mlp": 4, "act": False},
    # the same bits, better int4 scales: HQQ's scale search (still symmetric, so XNNPACK lowers it)
    "8da4w-hqq": {"embedding": 4, "lm_head": 4, "attention": 4, "mlp": 4, "act": True, "hqq": True},
    "8da4w-hqq-head8": {"embedding": 4, "lm_head": 8, "attention": 4, "mlp": 4, "act": True, "hqq": True},
    "8da4w-g16": {"embedding": 4, "lm_head": 4, "attention": 4, "mlp": 4, "act": True, "group": 16},
}


def kind(fqn: str) -> str:
    if fqn.endswith("lm_head"):
        return "lm_head"
    return "attention" if fqn.split(".")[-1] in ATTN else "mlp"


def quantize(model: torch.nn.Module, plan: dict) -> None:
    """The plan through the export recipes' own torchao configs (export.recipes.quant)."""
    from torchao.quantization import quantize_

    from export.recipes.quant import weight_config

    def cfg(bits: int, dynamic_activations: bool):
        group = plan.get("group", GROUP) if bits == 4 else None  # int8: per channel
        return weight_config(bits, group, dynamic_activations, hqq=plan.get("hqq", False))

    quantize_(model, cfg(plan["embedding"], False),
              filter_fn=lambda m, fqn: isinstance(m, torch.nn.Embedding))
    for k in ("lm_head", "attention", "mlp"):
        quantize_(model, cfg(plan[k], plan["act"]),
                  filter_fn=lambda m, fqn, k=k: isinstance(m, torch.nn.Linear) and kind(fqn) == k)


def size_mib(model: torch.nn.Module, plan: dict) -> float:
    """Weights at their bits plus one bf16 scale per group (int4) or per row (int8); the rest fp32."""
    total = 0.0
    for fqn, mod in model.named_modules():
        if isinstance(mod, torch.nn.Embedding | torch.nn.Linear):
            k = "embedding" if isinstance(mod, torch.nn.Embedding) else kind(fqn)
            n, rows = mod.weight.numel(), mod.weight.shape[0]
            scales = n / plan.get("group", GROUP) if plan[k] == 4 else rows
            total += n * plan[k] / 8 + scales * 2
    other = sum(p.numel() for n, p in model.named_parameters() if p.dim() == 1) * 4
    return (total + other) / 2**20


def forced_agreement(model, prompts: list[list[int]], ref: list[list[int]]) -> dict[str, float]:
    """One forward per sample over prompt + fp32 answer: greedy decoding reproduces the answer
    exactly when the argmax matches it at every answer position (the first miss is where greedy
    would part), so identical_samples equals the generated figure at a fraction of the cost."""
    same = hits = total = 0
    for ids, ans in zip(prompts, ref):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids + ans])).logits[0]
        pred = logits[len(ids) - 1: len(ids) - 1 + len(ans)].argmax(-1).tolist()
        ok = [a == b for a, b in zip(pred, ans)]
        same += all(ok)
        hits, total = hits + sum(ok), total + len(ans)
    return {"identical_samples": same / len(ref), "forced_token_agreement": hits / max(total, 1)}


def reference(fp32, prompts, eos, args) -> list[list[int]]:
    """fp32 greedy answers, kept beside the results: the same model, set and limit reuse them."""
    import hashlib

    from export.test_model import eager_outputs

    model_file = input_path(args.model) / "model.safetensors"
    key = hashlib.sha256(json.dumps([model_file.stat().st_size, model_file.stat().st_mtime_ns, prompts,
                                     args.max_new]).encode()).hexdigest()[:16]
    cache = output_path(args.out).with_suffix(f".ref-{key}.json")
    if cache.is_file():
        return json.loads(cache.read_text())
    ref = eager_outputs(fp32, prompts, eos, args.max_new)
    atomic_write_json(cache, ref)
    return ref


def main(argv: list[str] | None = None) -> int:
    from core.loading import load_model, load_tokenizer
    from core.prompt import eos_ids, prompt_ids
    from export.test_model import read_pairs

    ap = argparse.ArgumentParser(prog="python -m bench.bench_quant_agreement",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--max-new", type=int, default=96)
    ap.add_argument("--plans", default=",".join(PLANS), help=f"comma list of {', '.join(PLANS)}")
    ap.add_argument("--out", default="runs/bench/quant_agreement.json")
    args = ap.parse_args(argv)
    plans = args.plans.split(",")
    unknown = [p for p in plans if p not in PLANS]
    if unknown:
        ap.error(f"unknown plan(s) {unknown}; known: {', '.join(PLANS)}")
    tok = load_tokenizer(str(input_path(args.model)))
    fp32 = load_model(str(input_path(args.model)), dtype=torch.float32).eval()
    prompts = [prompt_ids(tok, r["input"]) for r in read_pairs(input_path(args.eval), args.limit)]
    eos = eos_ids(tok)
    ref = reference(fp32, prompts, eos, args)
    results = []
    for name in plans:
        model = copy.deepcopy(fp32)
        quantize(model, PLANS[name])
        t0 = time.monotonic()
        row = {"plan": name, **PLANS[name], **forced_agreement(model, prompts, ref),
               "est_size_mib": round(size_mib(fp32, PLANS[name]), 1),
               "seconds": round(time.monotonic() - t0, 1)}
        print(json.dumps(row), flush=True)
        results.append(row)
    atomic_write_json(output_path(args.out), {"model": args.model, "eval": args.eval, "samples": len(prompts),
                                              "plans": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
