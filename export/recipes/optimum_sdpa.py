"""optimum-xnnpack-int4-sdpa: the same custom SDPA + in-place KV-cache ops through
optimum-executorch's exporter, NOT runnable here. This pipeline's own `xnnpack-int4-sdpa`
(export/custom_sdpa.py) uses the same ops and is runnable: use that.

Why not here: optimum-executorch 1.1.0 pins break peft when installed with its deps, and its
`--use_custom_sdpa --use_custom_kv_cache` need transformers 5.0.0rc1 (we pin 5.24).

The ops themselves ARE loadable (checked with executorch 1.5.1): the pip wheel ships
`extension/llm/custom_ops/libcustom_ops_aot_lib.so`, and
`import executorch.extension.llm.custom_ops.custom_ops` registers `llama::custom_sdpa.out`,
`llama::update_cache.out` and `llama::sdpa_with_kv_cache.out` into libexecutorch.so (the
Python runtime's operator list grows from 240 to 251). A C++ process can dlopen that library
once libpython3.11 is loaded (it needs PyType_GenericAlloc); a phone build links the same
kernels from ExecuTorch source (EXECUTORCH_BUILD_KERNELS_LLM).
What optimum's route would take:
  1. a separate venv: `pip install --no-deps optimum-executorch==1.1.0 transformers==5.0.0rc1`
  2. `optimum-cli export executorch --model <merged dir> --task text-generation --recipe xnnpack
      --use_custom_sdpa --use_custom_kv_cache --qlinear 8da4w --qembedding 8w --max_seq_len 512
      --output_dir <out>` (its forward takes (input_ids, cache_position) like ours)
"""
import importlib.util

from export.recipes import Recipe, register


def _unavailable() -> str | None:
    if (importlib.util.find_spec("optimum") is None
            or importlib.util.find_spec("optimum.exporters.executorch") is None):
        return ("needs optimum-executorch (not installed: its pins break peft) and transformers 5.0.0rc1; "
                "see export/recipes/optimum_sdpa.py for the separate-venv recipe "
                "and which runner loads the file")
    return ("run optimum-cli directly (see export/recipes/optimum_sdpa.py), or use the recipe "
            "xnnpack-int4-sdpa (same custom ops, this pipeline)")


def quantize(model, group_size):
    raise NotImplementedError("optimum-xnnpack-int4-sdpa is exported by optimum-cli, not by this pipeline")


register(Recipe("optimum-xnnpack-int4-sdpa",
                "8da4w + custom SDPA/KV-cache ops via optimum-executorch (documented option)",
                "8da4w", quantize, uses_group_size=True,
                loadable_by=("ExecuTorch Python runtime (pip wheel, with the LLM custom ops imported)",
                             "a typo_runner linking ExecuTorch's LLM custom kernels"),
                unavailable=_unavailable))
