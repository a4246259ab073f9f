"""xnnpack-fp32-lean: no quantization, the lean attention of export/lean_attention.py: the
reference that must be token-exact with the eager model, as xnnpack-fp32 is."""
from export.lean_attention import prepare_model
from export.recipes import Recipe, register
from export.recipes.xnnpack_fp32 import quantize

register(Recipe("xnnpack-fp32-lean",
                "fp32 as xnnpack-fp32, attention as grouped bmm's on an in-place KV cache",
                "fp32", quantize, prepare=prepare_model, attention="lean", reinplace=True))
