"""xnnpack-int4 ("8da4w"): int4 linear weights in groups of `group_size` (default 32) with
dynamic int8 activations (XNNPACK); embedding int8 per-channel (quantized kernels)."""
from export.recipes import Recipe, register
from export.recipes.quant import check_group_size, facts, quantize_embedding, quantize_linears


def quantize(model, group_size):
    check_group_size(model, group_size)
    emb = quantize_embedding(model, 8, None)
    lin = quantize_linears(model, 4, group_size)
    return facts("8da4w", lin, emb, group_size)


register(Recipe("xnnpack-int4", "8da4w: int4 grouped weights, dynamic int8 activations", "8da4w",
                quantize, uses_group_size=True))
