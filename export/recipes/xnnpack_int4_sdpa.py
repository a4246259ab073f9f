"""xnnpack-int4-sdpa: the xnnpack-int4 quantization (8da4w linears, int4 embedding) on a
decoder whose attention uses ExecuTorch's LLM custom ops instead of transformers' static
cache: `llama::update_cache` writes K/V in place into a [1, S, H_kv, D] cache and
`llama::custom_sdpa` computes causal attention from the start position (no cache copies, no
mask, no repeated K/V heads). See export/custom_sdpa.py.

The ops are in the executorch pip wheel (`extension/llm/custom_ops/libcustom_ops_aot_lib.so`
registers them into libexecutorch.so on `import executorch.extension.llm.custom_ops.custom_ops`),
so the Python runtime loads the file (export/runtime.py does that import when the metadata's
`runtime_ops` lists "llama"). The C++ runner needs the same kernels linked (ExecuTorch's
EXECUTORCH_BUILD_KERNELS_LLM in a source build) or that library loaded."""
from export.custom_sdpa import prepare_model
from export.recipes import Recipe, register
from export.recipes.xnnpack_int4 import quantize

LOADABLE_BY = ("ExecuTorch Python runtime (pip wheel, with the LLM custom ops imported)",
               "a typo_runner linking ExecuTorch's LLM custom kernels")

register(Recipe("xnnpack-int4-sdpa",
                "8da4w as xnnpack-int4, attention on ExecuTorch's custom SDPA + in-place KV cache ops",
                "8da4w", quantize, uses_group_size=True,
                loadable_by=LOADABLE_BY,
                prepare=prepare_model, attention="custom-sdpa", runtime_ops=("llama",)))
