"""xnnpack-fp32-sdpa: no quantization, attention on ExecuTorch's custom SDPA + in-place KV
cache ops (export/custom_sdpa.py): the reference that must be token-exact with the eager
model, as xnnpack-fp32 is."""
from export.custom_sdpa import prepare_model
from export.recipes import Recipe, register
from export.recipes.xnnpack_fp32 import quantize
from export.recipes.xnnpack_int4_sdpa import LOADABLE_BY

register(Recipe("xnnpack-fp32-sdpa", "fp32 as xnnpack-fp32, attention on the custom SDPA + KV cache ops",
                "fp32", quantize, loadable_by=LOADABLE_BY, prepare=prepare_model,
                attention="custom-sdpa", runtime_ops=("llama",)))
