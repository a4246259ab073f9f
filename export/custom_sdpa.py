"""A Llama-family decoder whose attention runs on ExecuTorch's LLM custom ops: the KV cache
is updated in place by `llama::update_cache` and attention is `llama::custom_sdpa` (fused,
causal from `start_pos`, grouped-query heads without repeating K/V). Same weights and the
same `.pte` contract as `lower.prepare_model` (forward(input_ids [1,T], cache_position [T])
-> logits [1,T,V]).

The ops ship in the executorch pip wheel: `import executorch.extension.llm.custom_ops.custom_ops`
loads `extension/llm/custom_ops/libcustom_ops_aot_lib.so`, which registers
`llama::custom_sdpa.out`, `llama::update_cache.out` and `llama::sdpa_with_kv_cache.out` into
`libexecutorch.so` (the Python runtime can then run such a file). A C++ runner needs the same
kernels linked (ExecuTorch's `EXECUTORCH_BUILD_KERNELS_LLM`) or that library loaded (the host
typo_runner loads it, libpython first). `llama::custom_sdpa`'s result for one query row depends on
how many rows the call has, so both runtimes check copy-speculation drafts of such files one
token per call (export/README.md).
"""
from __future__ import annotations

import torch

from core.errors import ExportError

SUPPORTED = ("llama",)  # model_type values whose decoder layers this module re-implements


class UnsupportedArchitectureError(ExportError):
    """The custom-SDPA decoder only re-implements Llama-family layers."""


def load_custom_ops() -> None:
    """Register the llama:: ops with torch (export) and with the ExecuTorch runtime."""
    import executorch.extension.llm.custom_ops.custom_ops  # noqa: F401


class CustomSdpaAttention(torch.nn.Module):
    """HF LlamaAttention's projections around an in-place [1, S, H_kv, D] cache and custom_sdpa."""

    def __init__(self, attn: torch.nn.Module, max_seq_len: int):
        super().__init__()
        cfg = attn.config
        self.q_proj, self.k_proj, self.v_proj = attn.q_proj, attn.k_proj, attn.v_proj
        self.o_proj = attn.o_proj
        self.head_dim, self.scaling = attn.head_dim, float(attn.scaling)
        shape = (1, max_seq_len, cfg.num_key_value_heads, attn.head_dim)
        self.register_buffer("k_cache", torch.zeros(shape), persistent=False)
        self.register_buffer("v_cache", torch.zeros(shape), persistent=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, start_pos) -> torch.Tensor:
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, -1, self.head_dim)
        k = self.k_proj(x).view(b, t, -1, self.head_dim)
        v = self.v_proj(x).view(b, t, -1, self.head_dim)
        q, k = apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=2)  # [B, T, H, D] layout throughout
        torch.ops.llama.update_cache(k, self.k_cache, start_pos)
        torch.ops.llama.update_cache(v, self.v_cache, start_pos)
        out = torch.ops.llama.custom_sdpa(q, self.k_cache, self.v_cache, start_pos, None, 0.0, True,
                                          self.scaling)
        return self.o_proj(out.reshape(b, t, -1))


class CustomSdpaBlock(torch.nn.Module):
    """One decoder layer: the HF layer's norms and MLP around CustomSdpaAttention. The HF
    attention module itself is not kept (each linear must be reachable once, for quantize_)."""

    def __init__(self, layer: torch.nn.Module, max_seq_len: int):
        super().__init__()
        self.input_layernorm = layer.input_layernorm
        self.post_attention_layernorm = layer.post_attention_layernorm
        self.mlp = layer.mlp
        self.attn = CustomSdpaAttention(layer.self_attn, max_seq_len)

    def forward(self, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, start_pos) -> torch.Tensor:
        h = h + self.attn(self.input_layernorm(h), cos, sin, start_pos)
        return h + self.mlp(self.post_attention_layernorm(h))


class CustomSdpaDecoder(torch.nn.Module):
    """forward(input_ids, cache_position) -> logits over the HF model's own modules."""

    def __init__(self, model: torch.nn.Module, max_seq_len: int):
        super().__init__()
        inner = model.model
        self.embed_tokens, self.norm, self.rotary_emb = inner.embed_tokens, inner.norm, inner.rotary_emb
        self.lm_head = model.lm_head
        self.layers = torch.nn.ModuleList(CustomSdpaBlock(layer, max_seq_len) for layer in inner.layers)
        self.max_seq_len = max_seq_len

    def forward(self, input_ids: torch.Tensor, cache_position: torch.Tensor) -> torch.Tensor:
        start_pos = cache_position[0].item()
        torch._check_is_size(start_pos)
        torch._check(start_pos + input_ids.shape[1] <= self.max_seq_len)
        h = self.embed_tokens(input_ids)
        cos, sin = self.rotary_emb(h, cache_position.unsqueeze(0))
        for layer in self.layers:
            h = layer(h, cos, sin, start_pos)
        return self.lm_head(self.norm(h))


class CustomSdpaWrapper(torch.nn.Module):
    """What `lower.export_program` expects: the exportable module as `.model`."""

    def __init__(self, model: torch.nn.Module, max_seq_len: int):
        super().__init__()
        self.model = CustomSdpaDecoder(model, max_seq_len)


def prepare_model(model: torch.nn.Module, max_seq_len: int) -> torch.nn.Module:
    """fp32 eval HF model -> wrapper whose `.model` runs on the custom ops."""
    from export.lower import strip_padding_idx

    kind = getattr(model.config, "model_type", "?")
    if kind not in SUPPORTED:
        raise UnsupportedArchitectureError(
            f"the custom-SDPA recipe supports {', '.join(SUPPORTED)} models, not {kind!r}; "
            "use xnnpack-int4 for this model")
    load_custom_ops()
    model = model.to(torch.float32).eval()
    strip_padding_idx(model)
    return CustomSdpaWrapper(model, max_seq_len)
