r"""Training throughput on one GPU: plain Hugging Face padded batches vs this project's
packed + isolated LoRA path, measured in ONE run on the same card, random-init models of
the real shapes (nothing is downloaded). Prints one JSON document.

    python -m bench.bench_train_throughput            # both shapes, baseline vs the presets' path, ~1.5 min
    python -m bench.bench_train_throughput \
        --variants packed_lora,packed_lora_compile,packed_lora_compile_row512,packed_lora_compile_flex
    python -m bench.bench_train_throughput --shapes smollm2-135m --no-compile
    python -m bench.bench_train_throughput --smoke    # tiny shape, CPU, seconds (tests)

Imports only torch / transformers / peft / stdlib and train.training (which never
imports `datasets`). Tokens counted are real (non-padding) tokens; the synthetic samples
mimic the task: a ~40-token instruction prompt + the text, then the answer (~text).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import platform
import random
import sys
import time
from pathlib import Path

import torch

from train.batches import Example
from train.loss import LossModule
from train.packing import IGNORE, collate_packed, collate_padded, make_plan

SHAPES = {
    "smollm2-135m": dict(model_type="llama", hidden_size=576, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, intermediate_size=1536, vocab_size=49152,
                         tie_word_embeddings=True, max_position_embeddings=8192, rope_theta=100000.0,
                         rms_norm_eps=1e-5),
    "qwen3-0.6b": dict(model_type="qwen3", hidden_size=1024, num_hidden_layers=28, num_attention_heads=16,
                       num_key_value_heads=8, head_dim=128, intermediate_size=3072, vocab_size=151936,
                       tie_word_embeddings=True, max_position_embeddings=40960, rope_theta=1000000.0,
                       rms_norm_eps=1e-6),
    "smoke": dict(model_type="llama", hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, intermediate_size=128, vocab_size=512, tie_word_embeddings=True,
                  max_position_embeddings=512),
}
# packed variants: (attention, torch.compile, row tokens; 0 = --row-tokens)
VARIANTS = {
    "packed_lora": ("sdpa", False, 0),
    "packed_lora_compile": ("sdpa", True, 0),
    "packed_lora_compile_row512": ("sdpa", True, 512),
    "packed_lora_compile_flex": ("flex_attention", True, 0),
}
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def synthetic_examples(n: int, vocab: int, seed: int) -> list[Example]:
    """Prompt = 40 instruction/template tokens + text (8..43 tokens); answer = text + EOS.
    Every sample fits 128 tokens, so the padded baseline trains on the same samples."""
    rng = random.Random(seed)
    prefix = [rng.randrange(10, vocab) for _ in range(40)]
    out = []
    for _ in range(n):
        k = rng.randint(8, 43)
        text = [rng.randrange(10, vocab) for _ in range(k)]
        noisy = [t if rng.random() > 0.1 else rng.randrange(10, vocab) for t in text]
        out.append(Example(prefix + noisy + [rng.randrange(10, vocab)] + text + [2], len(prefix) + k + 1))
    return out


def build_model(shape: str, device, dtype, attn: str):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    spec = dict(SHAPES[shape])
    cfg = AutoConfig.for_model(spec.pop("model_type"), **spec)
    torch.manual_seed(0)
    with torch.device(device):  # random init directly on the GPU (seconds, not a minute on CPU)
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype, attn_implementation=attn)
    model.config.use_cache = False
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=LORA_TARGETS,
                      task_type="CAUSAL_LM")
    return get_peft_model(model, lora).to(device).train()


def compile_layers(model) -> None:
    from train.model import compile_layers as _compile

    _compile(model)


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device, dtype):
    return torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else contextlib.nullcontext()


def to(batch: dict, device) -> dict:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}


def timed(step, batches, warmup: int, steps: int, device) -> dict:
    """Warm-up steps (compilation, allocator) are timed apart from the measured steps."""
    t0 = time.perf_counter()
    for b in batches[:warmup]:
        step(b)
    sync(device)
    t1 = time.perf_counter()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    tokens = 0
    for b in batches[warmup:warmup + steps]:
        step(b)
        tokens += b["n_real"]
    sync(device)
    dt = time.perf_counter() - t1
    mem = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"tokens_per_s": tokens / dt, "step_s": dt / steps, "real_tokens_per_step": tokens / steps,
            "warmup_s": t1 - t0, "peak_mem_gib": mem}


def run_baseline(shape, examples, args, device, dtype) -> dict:
    """Plain HF: model(input_ids, attention_mask, labels) on padded 64x128 batches, AdamW."""
    model = build_model(shape, device, dtype, "sdpa")
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    n = args.baseline_batch
    batches = []
    for k in range(0, (args.warmup + args.steps) * n, n):
        b = collate_padded(examples, list(range(k, k + n)), pad_id=0, pad_to=args.baseline_len)
        labels = b["input_ids"].clone()
        labels[torch.roll(b["targets"], 1, dims=1) == IGNORE] = IGNORE  # HF shifts labels itself
        batches.append({"input_ids": b["input_ids"], "attention_mask": b["attention_mask"], "labels": labels,
                        "n_real": b["n_real"]})

    def step(b):
        b = to(b, device)
        with autocast(device, dtype):
            loss = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                         labels=b["labels"]).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return timed(step, batches, args.warmup, args.steps, device)  # model and optimizer die with the frame


def run_packed(shape, examples, args, device, dtype, attn: str, compile_: bool, row_tokens: int) -> dict:
    """This project's path (train/training): packed rows with per-sample isolation, loss on
    answer tokens only (chunked LM head), bf16 autocast over bf16 base weights, fused
    AdamW, torch.compile of each decoder layer (regional: one graph reused by all layers)."""
    model = build_model(shape, device, dtype, attn)
    iso = isolation_check(model, examples, device, dtype) if args.isolation_check else None
    if compile_:
        compile_layers(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, fused=device.type in ("cuda", "cpu"))
    loss_mod = LossModule(model)
    plan = make_plan(examples, 0, 0, True, row_tokens, args.batch_tokens)
    rows = args.batch_tokens // row_tokens
    batches = [collate_packed(examples, b, rows, row_tokens, 0) for b in plan[: args.warmup + args.steps]]

    def step(b):
        b = to(b, device)
        with autocast(device, dtype):
            loss, n = loss_mod(b)
        (loss / n).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    res = timed(step, batches, args.warmup, args.steps, device)
    if iso is not None:
        res["isolation"] = iso
    return res


@torch.no_grad()
def isolation_check(model, examples, device, dtype) -> dict:
    """3 samples packed in one row vs each alone, on this card and attention kernel: the
    logits must agree (isolated) while a row with positions that do not restart must not
    (the control: random-init losses sit near ln(vocab) whatever the context)."""
    from train.loss import base_model

    ex = examples[:3]
    base = base_model(model)
    b = to(collate_packed(ex, [[0, 1, 2]], 1, sum(map(len, ex)) + 5, 0), device)
    leaky = dict(b, position_ids=torch.arange(b["input_ids"].shape[1], device=device)[None])

    def logits(batch):
        with autocast(device, dtype):
            return base(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                        use_cache=False).logits.float()

    packed, leak = logits(b), logits(leaky)
    diff = ctrl = 0.0
    at = 0
    for i, e in enumerate(ex):
        alone = logits(to(collate_padded(ex, [i], 0), device))[0, : len(e)]
        scale = alone.abs().max()
        diff = max(diff, float((packed[0, at:at + len(e)] - alone).abs().max() / scale))
        ctrl = max(ctrl, float((leak[0, at:at + len(e)] - alone).abs().max() / scale))
        at += len(e)
    return {"packed_vs_alone_max_rel": diff, "control_without_isolation_max_rel": ctrl}


PRESET_BATCH_TOKENS = {"smollm2-135m": 65536, "qwen3-0.6b": 32768, "smoke": 1024}


def bench_shape(shape: str, args, device, dtype) -> dict:
    args = argparse.Namespace(**vars(args))
    args.batch_tokens = args.batch_tokens or PRESET_BATCH_TOKENS[shape]
    steps = args.warmup + args.steps
    need = max(args.baseline_batch * steps, 2 * args.batch_tokens * steps // 80)
    examples = synthetic_examples(need, SHAPES[shape]["vocab_size"], seed=0)
    out: dict = {}
    names = [v for v in args.variants.split(",") if v and (args.compile or not VARIANTS[v][1])]
    for name in ["baseline_padded_hf"] + names:
        try:
            if name == "baseline_padded_hf":
                out[name] = run_baseline(shape, examples, args, device, dtype)
            else:
                attn, comp, row = VARIANTS[name]
                out[name] = run_packed(shape, examples, args, device, dtype, attn, comp,
                                       row or args.row_tokens)
        except Exception as exc:  # one failing variant (e.g. OOM, compile) must not lose the others
            out[name] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        if device.type == "cuda":
            torch.cuda.empty_cache()
        print(f"[{shape}] {name}: {json.dumps(out[name])}", file=sys.stderr, flush=True)
    base = out["baseline_padded_hf"].get("tokens_per_s")
    for name in list(out):
        if name != "baseline_padded_hf" and base and "tokens_per_s" in out[name]:
            out[name]["ratio_vs_baseline"] = out[name]["tokens_per_s"] / base
    out["batch_tokens"] = args.batch_tokens
    return out


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", default="smollm2-135m,qwen3-0.6b", help="comma list of " + ", ".join(SHAPES))
    ap.add_argument("--steps", type=int, default=20, help="measured steps per variant")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up steps (include compilation), not measured")
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--variants", default="packed_lora_compile_row512",
                    help="packed variants after the baseline, comma list of: " + ", ".join(VARIANTS))
    ap.add_argument("--isolation-check", action=argparse.BooleanOptionalAction, default=True,
                    help="per variant: packed vs alone logits on this card/kernel (+ a leaky control)")
    ap.add_argument("--batch-tokens", type=int, default=0,
                    help="packed tokens per step; 0 = the preset's (smollm2-135m 65536, qwen3-0.6b 32768)")
    ap.add_argument("--row-tokens", type=int, default=2048)
    ap.add_argument("--baseline-batch", type=int, default=64)
    ap.add_argument("--baseline-len", type=int, default=128)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--smoke", action="store_true", help="tiny shape, few steps, CPU-friendly (for tests)")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args(argv)
    unknown = [v for v in args.variants.split(",") if v and v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}")
    if args.smoke:
        args.shapes, args.steps, args.warmup = "smoke", 2, 1
        # no flex backward on CPU
        args.variants = ",".join(v for v in args.variants.split(",") if "flex" not in v)
        args.row_tokens, args.baseline_batch = 256, 8
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto"
                          else args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    import peft
    import transformers

    report = {"device": (torch.cuda.get_device_name(device) if device.type == "cuda"
                         else platform.processor() or "cpu"),
              "dtype": str(dtype).replace("torch.", ""), "torch": torch.__version__,
              "transformers": transformers.__version__, "peft": peft.__version__,
              "settings": {k: v for k, v in vars(args).items() if k != "out"}, "shapes": {}}
    for shape in args.shapes.split(","):
        if shape not in SHAPES:
            print(f"error: unknown shape {shape!r}; choose from {', '.join(SHAPES)}", file=sys.stderr)
            return 2
        report["shapes"][shape] = bench_shape(shape, args, device, dtype)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
