"""xnnpack-int4-lean: the xnnpack-int4 quantization (8da4w linears, int4 embedding) on a decoder
whose attention uses only standard ops (export/lean_attention.py): grouped-query bmm's against
an in-place [H_kv, D, S] / [H_kv, S, D] cache, one shared additive mask per forward. No custom
ops, so the host and the arm64/Android typo_runner load it like xnnpack-int4. Since the lean decoder
became what `attention=auto` picks for Llama-family models, `xnnpack-int4` exports the same program
for them; this name forces it (and fails on other architectures)."""
from export.lean_attention import prepare_model
from export.recipes import Recipe, register
from export.recipes.xnnpack_int4 import quantize

register(Recipe("xnnpack-int4-lean",
                "8da4w as xnnpack-int4, attention as grouped bmm's on an in-place KV cache (standard ops)",
                "8da4w", quantize, uses_group_size=True, prepare=prepare_model, attention="lean",
                reinplace=True))
