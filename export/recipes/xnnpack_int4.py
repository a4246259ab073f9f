"""xnnpack-int4 ("8da4w"): int4 linear weights in groups of `group_size` (default 32,
bf16 group scales inside XNNPACK) with dynamic int8 activations; the embedding is int4 in
groups of `group_size` too (quantized kernels' embedding_4bit), as in ExecuTorch's own LLM
recipes (-E 4,32). With an int8 embedding the SmolLM2-135M file would be ~104 MB instead
of ~93 MB (the target is <= 100 MB)."""
from export.recipes import Recipe, register
from export.recipes.quant import check_group_size, facts, quantize_embedding, quantize_linears


def quantize(model, group_size):
    check_group_size(model, group_size)
    emb = quantize_embedding(model, 4, group_size)
    lin = quantize_linears(model, 4, group_size)
    return facts("8da4w", lin, emb, group_size)


register(Recipe("xnnpack-int4", "8da4w: int4 grouped weights, dynamic int8 activations, int4 embedding",
                "8da4w", quantize, uses_group_size=True))
