"""xnnpack-int8 ("8da8w"): int8 per-channel linear weights with dynamic int8 activations
(XNNPACK), int8 per-channel embedding (quantized kernels)."""
from export.recipes import Recipe, register
from export.recipes.quant import facts, quantize_embedding, quantize_linears


def quantize(model, group_size):
    emb = quantize_embedding(model, 8, None)
    lin = quantize_linears(model, 8, None)
    return facts("8da8w", lin, emb, None)


register(Recipe("xnnpack-int8", "8da8w: int8 per-channel weights, dynamic int8 activations", "8da8w",
                quantize))
