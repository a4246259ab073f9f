"""A model of a big shape that computes what a small trained model computes.

Latency depends on a model's shape, acceptance of copy drafts on its training. No trained
SmolLM2-135M can be downloaded here and none can be trained on 2 CPU cores, so to measure
copy speculation *at the SmolLM2-135M shape with a trained model's acceptance* we embed a
trained tiny Llama into a Llama of that shape: the tiny weights fill a corner of each big
tensor, the rest is random wherever it provably contributes nothing and zero elsewhere.
Every matmul still runs at full size (dense kernels do not skip zeros) over distinct
weights, so forward costs are the big shape's, while the logits equal the tiny model's.

    python -m bench.graft --small models/checkpoint --out runs/bench/graft-smollm2/model
    python -m bench.bench_export export --shape runs/bench/graft-smollm2/model --recipes xnnpack-int4 \
        --max-seq-len 256 --out-dir runs/bench/graft-smollm2            # ~8 min on 2 cores
    python -m device_bench.testing.bench_loopback --models runs/bench/graft-smollm2/model-xnnpack-int4.pte \
        --eval data/eval_data.json limit=50 reps=1 threads=1           # plain vs copy, host + loopback

How it stays exact:
- hidden dims 0..h-1 carry the tiny residual stream, the rest stay 0; RMSNorm then divides by
  an RMS sqrt(H/h) times smaller, so its weights are scaled by sqrt(h/H) (and eps by h/H);
- RoPE: a big head of D = r*d dims rotates pair (i, i+D/2) at frequency theta^(-2i/D); the
  tiny pair (m, m+d/2) lands on (r*m, r*m+D/2), whose frequency is theta^(-2m/d), unchanged;
- attention scale 1/sqrt(D) instead of 1/sqrt(d): q is multiplied by sqrt(D/d);
- unused heads and MLP units get v = 0 and gate = 0 rows (silu(0) = 0), so whatever random
  values q, k, up, o and down hold there multiply exact zeros; layers past the small depth
  are all such units and add exactly 0; vocabulary rows past the small vocabulary are 0
  (they score 0; a trained model's chosen token scores far above).
The tiny model's rope_theta is kept (a scalar, not part of the shape).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

from bench.bench_export import SMOLLM2_135M


class GraftError(ValueError):
    """The small model does not fit into the target shape."""


def _dims(cfg) -> dict:
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    return dict(h=cfg.hidden_size, heads=cfg.num_attention_heads, kv=cfg.num_key_value_heads, d=head_dim,
                ff=cfg.intermediate_size, layers=cfg.num_hidden_layers, vocab=cfg.vocab_size)


def check_fits(small: dict, big: dict) -> int:
    """The head-dim ratio r; raises GraftError naming the first field that does not fit."""
    for key in ("h", "heads", "kv", "ff", "layers", "vocab"):
        if small[key] > big[key]:
            raise GraftError(f"{key}: the small model has {small[key]}, the target shape only {big[key]}")
    if big["d"] % small["d"]:
        raise GraftError(f"head_dim {big['d']} is not a multiple of {small['d']} "
                         "(RoPE pairs would not line up)")
    if small["heads"] // small["kv"] != big["heads"] // big["kv"]:
        raise GraftError(f"query heads per KV head differ: {small['heads'] // small['kv']} vs "
                         f"{big['heads'] // big['kv']}")
    return big["d"] // small["d"]


def head_dim_map(d: int, r: int) -> torch.Tensor:
    """Big-head index of each small-head dim so RoPE rotates it at the same frequency."""
    half = d // 2
    return torch.tensor([r * m for m in range(half)] + [r * m + (r * d) // 2 for m in range(half)])


def _head_rows(heads: int, d: int, big_d: int, r: int) -> torch.Tensor:
    """Rows of a big q/k/v projection that receive the small heads' rows, head by head."""
    inner = head_dim_map(d, r)
    return torch.cat([h * big_d + inner for h in range(heads)])


def _others(n: int, used: torch.Tensor) -> torch.Tensor:
    keep = torch.ones(n, dtype=torch.bool)
    keep[used] = False
    return keep.nonzero().flatten()


class _Filler:
    """Fills a big layer: the small weights where they go, random values wherever they
    provably add nothing, zeros where they would. Random rather than zero filler matters:
    identical all-zero tensors are stored once in a .pte (and then share cache lines at run
    time), which would make the big shape look faster than a real model of that shape."""

    def __init__(self, s: dict, b: dict, r: int, seed: int):
        self.s, self.b = s, b
        self.gen = torch.Generator().manual_seed(seed)
        self.q_rows = _head_rows(s["heads"], s["d"], b["d"], r)
        self.kv_rows = _head_rows(s["kv"], s["d"], b["d"], r)
        # Big-head dims outside the small heads' dims, in the heads the small model uses.
        self.q_idle = _others(b["heads"] * b["d"], self.q_rows)[: s["heads"] * b["d"] - len(self.q_rows)]
        self.r = r

    def rand(self, *shape) -> torch.Tensor:
        return torch.randn(*shape, generator=self.gen) * 0.02

    def layer(self, bl, sl=None) -> None:
        """sl=None: a layer past the small model's depth, made to add exactly 0."""
        h, H, ff = self.s["h"], self.b["h"], self.s["ff"]
        a, m = bl.self_attn, bl.mlp
        # Inputs of q/k/v/gate/up are the normed residual, whose dims >= h are always 0:
        # their columns >= h may hold anything.
        for w in (a.q_proj.weight, a.k_proj.weight, a.v_proj.weight, m.gate_proj.weight, m.up_proj.weight,
                  a.o_proj.weight, m.down_proj.weight):
            w.copy_(self.rand(*w.shape))
        # v = 0 outside the small heads' dims, so every other attention output dim is exactly 0
        # (o_proj may then be random on those columns); gate = 0 outside the small MLP units,
        # so silu(0) * up = 0 there (up and down may then be random on those units).
        a.v_proj.weight[:, :h] = 0
        m.gate_proj.weight[:, :h] = 0
        if sl is None:  # zero v and zero gate: attention and MLP outputs are exactly 0
            return
        sa, sm = sl.self_attn, sl.mlp
        a.q_proj.weight[self.q_rows, :h] = sa.q_proj.weight * math.sqrt(self.r)
        a.q_proj.weight[self.q_idle, :h] = 0  # idle dims of used heads: no share of the scores
        a.k_proj.weight[self.kv_rows, :h] = sa.k_proj.weight
        a.v_proj.weight[self.kv_rows, :h] = sa.v_proj.weight
        a.o_proj.weight[:, self.q_rows] = 0  # rows >= h write the residual's idle dims: 0
        a.o_proj.weight[:h, self.q_rows] = sa.o_proj.weight
        m.gate_proj.weight[:ff, :h] = sm.gate_proj.weight
        m.up_proj.weight[:ff, :h] = sm.up_proj.weight
        m.down_proj.weight[:, :ff] = 0
        m.down_proj.weight[:h, :ff] = sm.down_proj.weight
        bl.input_layernorm.weight[:h] = sl.input_layernorm.weight * math.sqrt(h / H)
        bl.post_attention_layernorm.weight[:h] = sl.post_attention_layernorm.weight * math.sqrt(h / H)


def graft(small_model, big_cfg, seed: int = 0):
    """A LlamaForCausalLM of `big_cfg` whose logits on ids < small vocab equal small_model's
    (ids >= the small vocabulary score exactly 0)."""
    from transformers import LlamaForCausalLM

    s, b = _dims(small_model.config), _dims(big_cfg)
    r = check_fits(s, b)
    big = LlamaForCausalLM(big_cfg)
    fill = _Filler(s, b, r, seed)
    sm, bg = small_model.model, big.model
    with torch.no_grad():
        for p in big.parameters():
            p.fill_(1.0) if p.dim() == 1 else p.zero_()  # norms 1, matrices 0 until filled
        bg.embed_tokens.weight[: s["vocab"], : s["h"]] = sm.embed_tokens.weight
        bg.norm.weight[: s["h"]] = sm.norm.weight * math.sqrt(s["h"] / b["h"])
        for i, bl in enumerate(bg.layers):
            fill.layer(bl, sm.layers[i] if i < s["layers"] else None)
        if not big_cfg.tie_word_embeddings and getattr(small_model, "lm_head", None) is not None:
            big.lm_head.weight[: s["vocab"], : s["h"]] = small_model.lm_head.weight
    if big_cfg.tie_word_embeddings:
        big.tie_weights()
    return big.eval()


def big_config(small_cfg, shape: dict):
    """The target LlamaConfig: the shape's sizes, the small model's scalars (RoPE theta, EOS, ...)."""
    from transformers import LlamaConfig

    theta = ((getattr(small_cfg, "rope_parameters", None) or {}).get("rope_theta")
             or getattr(small_cfg, "rope_theta", 10000.0))
    return LlamaConfig(**{**shape, "rope_theta": theta,
                          "rms_norm_eps": (small_cfg.rms_norm_eps * small_cfg.hidden_size
                                           / shape["hidden_size"])},
                       eos_token_id=small_cfg.eos_token_id, pad_token_id=small_cfg.pad_token_id,
                       bos_token_id=small_cfg.bos_token_id)


def max_logit_gap(small, big, ids: torch.Tensor) -> float:
    """Largest |logit difference| over the small vocabulary (the graft's exactness check)."""
    with torch.no_grad():
        a = small(ids).logits
        b = big(ids).logits[..., : a.shape[-1]]
    return float((a - b).abs().max())


def main(argv: list[str] | None = None) -> int:
    from transformers import AutoModelForCausalLM

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", required=True, help="trained small model folder (save_pretrained)")
    ap.add_argument("--out", required=True, help="folder for the grafted model (+ the small tokenizer files)")
    ap.add_argument("--shape", default="smollm2-135m", choices=["smollm2-135m"])
    args = ap.parse_args(argv)
    small = AutoModelForCausalLM.from_pretrained(args.small, dtype=torch.float32).eval()
    big = graft(small, big_config(small.config, SMOLLM2_135M))
    ids = torch.randint(0, small.config.vocab_size, (2, 48), generator=torch.Generator().manual_seed(0))
    gap = max_logit_gap(small, big, ids)
    out = Path(args.out)
    big.save_pretrained(out)
    for f in Path(args.small).iterdir():
        if f.name.startswith("tokenizer") or f.name in ("chat_template.jinja", "generation_config.json"):
            (out / f.name).write_bytes(f.read_bytes())
    info = {"small": str(args.small), "shape": args.shape, "params": sum(p.numel() for p in big.parameters()),
            "max_logit_gap_fp32": gap}
    (out / "graft.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
