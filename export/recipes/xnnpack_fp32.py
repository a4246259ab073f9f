"""xnnpack-fp32: no quantization; the reference file (token-exact with the eager model)."""
from export.recipes import Recipe, register
from export.recipes.quant import facts


def quantize(model, group_size):
    return facts("fp32", "fp32", "fp32", None)


register(Recipe("xnnpack-fp32", "fp32 weights, linears on XNNPACK (reference)", "fp32", quantize))
