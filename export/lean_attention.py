"""A Llama-family decoder whose attention needs no custom ops and no K/V copies: what the
arm64/Android runner (portable + quantized + XNNPACK kernels only) can run fast.

Where transformers' static cache spends a decode step (export/README.md, issue 25): repeating
the K/V heads over every cache slot (`expand_copy`), copying the whole cache on each write
(functional `index_put` + a write-back `copy_`), and several boolean mask ops per layer.
Here instead:

* grouped-query attention without repeating K/V: the G query heads of one KV head are stacked
  as rows, q [H_kv, G*T, D], so both products are plain bmm's against the cache;
* K is cached transposed, [H_kv, D, S], and V as [H_kv, S, D]: both bmm's read the cache as
  it lies, no transpose copy of S slots per layer;
* the cache write is `index_copy_` at `cache_position` on a mutable buffer; the recipe asks
  `to_executorch` to re-inplace it (`Recipe.reinplace`), so it becomes one in-place
  `index_put_` of T slots, with no copy of the cache and no write-back;
* one additive float mask [G*T, S] (0 where a slot is at or before the query's position, -inf
  after) is built once per forward and shared by all layers: one XNNPACK add per layer.
Attention spans all S cache slots (static shapes for XNNPACK); slots not yet written are
masked, so their contents never reach the result (exp(-inf) = 0).

Gemma 3 and Qwen3 are the same decoder with three additions, taken from the HF modules: an RMSNorm
over each query and key head before RoPE (`q_norm`, `k_norm`); for Gemma 3, norms on both sides
of the attention and of the MLP, one RoPE per layer type (local and global base frequency) and
sliding-window layers, which get a second mask only when the window is shorter than the cache.

Same weights and `.pte` contract as `lower.prepare_model`: forward(input_ids [1,T],
cache_position [T]) -> logits [1,T,V]; a position past the cache fails in `index_put_`.
"""
from __future__ import annotations

import inspect

import torch

from core.errors import ExportError

SUPPORTED = ("llama", "gemma3_text", "qwen3")  # model_type values whose decoder layers this re-implements


class UnsupportedArchitectureError(ExportError):
    """The lean decoder only re-implements the SUPPORTED decoder layers."""


class LeanAttention(torch.nn.Module):
    """HF LlamaAttention's projections around an in-place cache and grouped bmm attention."""

    def __init__(self, attn: torch.nn.Module, max_seq_len: int):
        super().__init__()
        cfg = attn.config
        self.q_proj, self.k_proj, self.v_proj = attn.q_proj, attn.k_proj, attn.v_proj
        self.o_proj = attn.o_proj
        self.q_norm, self.k_norm = getattr(attn, "q_norm", None), getattr(attn, "k_norm", None)
        self.head_dim, self.scaling = attn.head_dim, float(attn.scaling)
        self.n_kv = cfg.num_key_value_heads
        self.group = cfg.num_attention_heads // self.n_kv
        self.register_buffer("k_cache", torch.zeros(self.n_kv, attn.head_dim, max_seq_len), persistent=False)
        self.register_buffer("v_cache", torch.zeros(self.n_kv, max_seq_len, attn.head_dim), persistent=False)

    def forward(self, x, cos, sin, cache_position, mask):
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

        _, t, _ = x.shape
        d, kv, g = self.head_dim, self.n_kv, self.group
        q = self.q_proj(x).view(1, t, kv * g, d)
        k = self.k_proj(x).view(1, t, kv, d)
        v = self.v_proj(x).view(t, kv, d)
        if self.q_norm is not None:  # Gemma 3, Qwen3: each head normalised before RoPE
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=2)  # [1, T, heads, D]
        self.k_cache.index_copy_(2, cache_position, k[0].permute(1, 2, 0))  # [H_kv, D, T]
        self.v_cache.index_copy_(1, cache_position, v.permute(1, 0, 2))  # [H_kv, T, D]
        # query head h = kv*G + g reads KV head kv (HF's repeat_kv order): rows g*T + t
        q = (q[0] * self.scaling).view(t, kv, g, d).permute(1, 2, 0, 3).reshape(kv, g * t, d)
        scores = torch.bmm(q, self.k_cache) + mask  # [H_kv, G*T, S]
        out = torch.bmm(torch.softmax(scores, dim=-1), self.v_cache)  # [H_kv, G*T, D]
        out = out.view(kv, g, t, d).permute(2, 0, 1, 3).reshape(1, t, kv * g * d)
        return self.o_proj(out)


class LeanBlock(torch.nn.Module):
    """One decoder layer: the HF layer's norms and MLP around LeanAttention (the HF attention
    module itself is not kept: each linear must be reachable once, for quantize_)."""

    def __init__(self, layer: torch.nn.Module, max_seq_len: int):
        super().__init__()
        self.input_layernorm = layer.input_layernorm
        self.post_attention_layernorm = layer.post_attention_layernorm
        # Gemma 3 normalises the attention's and the MLP's outputs too ("sandwich" norms)
        self.pre_feedforward_layernorm = getattr(layer, "pre_feedforward_layernorm", None)
        self.post_feedforward_layernorm = getattr(layer, "post_feedforward_layernorm", None)
        self.mlp = layer.mlp
        self.attn = LeanAttention(layer.self_attn, max_seq_len)
        self.layer_type = getattr(layer.self_attn, "layer_type", None) or "full_attention"

    def forward(self, h, cos, sin, cache_position, mask):
        a = self.attn(self.input_layernorm(h), cos, sin, cache_position, mask)
        if self.pre_feedforward_layernorm is None:  # Llama, Qwen3
            h = h + a
            return h + self.mlp(self.post_attention_layernorm(h))
        h = h + self.post_attention_layernorm(a)
        return h + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(h)))


class LeanDecoder(torch.nn.Module):
    """forward(input_ids, cache_position) -> logits over the HF model's own modules."""

    def __init__(self, model: torch.nn.Module, max_seq_len: int):
        super().__init__()
        inner, cfg = model.model, model.config
        self.embed_tokens, self.norm, self.rotary_emb = inner.embed_tokens, inner.norm, inner.rotary_emb
        self.lm_head = model.lm_head
        self.layers = torch.nn.ModuleList(LeanBlock(layer, max_seq_len) for layer in inner.layers)
        self.group = self.layers[0].attn.group
        # Gemma 3's rotary module computes one (cos, sin) per layer type (local / global base)
        self.rope_per_type = "layer_type" in inspect.signature(self.rotary_emb.forward).parameters
        self.types = sorted({layer.layer_type for layer in self.layers})
        window = getattr(cfg, "sliding_window", None)
        # a window as long as the cache masks nothing the causal mask does not: no second mask
        self.window = window if "sliding_attention" in self.types and window and window < max_seq_len else 0
        self.softcap = getattr(cfg, "final_logit_softcapping", None)
        self.register_buffer("slots", torch.arange(max_seq_len), persistent=False)

    def _masks(self, cache_position: torch.Tensor) -> dict[str, torch.Tensor]:
        """Additive masks, built once and shared by every layer of a type: row g*T + t masks
        the slots after position t (and, in a sliding layer, those a window or more before it)."""
        ahead = self.slots.unsqueeze(0) - cache_position.unsqueeze(1)  # [T, S]: slot - position
        causal = torch.where(ahead > 0, float("-inf"), 0.0).repeat(self.group, 1)  # [G*T, S]
        masks = dict.fromkeys(self.types, causal)
        if self.window:
            far = (ahead > 0) | (ahead <= -self.window)
            masks["sliding_attention"] = torch.where(far, float("-inf"), 0.0).repeat(self.group, 1)
        return masks

    def forward(self, input_ids: torch.Tensor, cache_position: torch.Tensor) -> torch.Tensor:
        h = self.embed_tokens(input_ids)
        pos = cache_position.unsqueeze(0)
        rope = {t: self.rotary_emb(h, pos, t) for t in self.types} if self.rope_per_type \
            else dict.fromkeys(self.types, self.rotary_emb(h, pos))
        masks = self._masks(cache_position)
        for layer in self.layers:
            cos, sin = rope[layer.layer_type]
            h = layer(h, cos, sin, cache_position, masks[layer.layer_type])
        logits = self.lm_head(self.norm(h))
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits


class LeanWrapper(torch.nn.Module):
    """What `lower.export_program` expects: the exportable module as `.model`."""

    def __init__(self, model: torch.nn.Module, max_seq_len: int):
        super().__init__()
        self.model = LeanDecoder(model, max_seq_len)


def prepare_model(model: torch.nn.Module, max_seq_len: int) -> torch.nn.Module:
    """fp32 eval HF model -> wrapper whose `.model` has the lean attention."""
    from export.lower import strip_padding_idx

    kind = getattr(model.config, "model_type", "?")
    if kind not in SUPPORTED:
        raise UnsupportedArchitectureError(
            f"the lean-attention recipes support {', '.join(SUPPORTED)} models, not {kind!r}; "
            "use xnnpack-int4 for this model")
    if getattr(model.config, "attn_logit_softcapping", None):  # Gemma 2's; Gemma 3 has none
        raise UnsupportedArchitectureError("the lean decoder has no attention-logit soft-capping; "
                                           "use attention=static for this model")
    model = model.to(torch.float32).eval()
    strip_padding_idx(model)
    return LeanWrapper(model, max_seq_len)
