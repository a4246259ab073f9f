"""optimum-xnnpack-int4-sdpa: the documented option with ExecuTorch's custom SDPA and
custom KV-cache ops (about 3x faster decode, measured on the SmolLM2 shape), NOT runnable here.

Why not: optimum-executorch 1.1.0 pins break peft when installed with its deps; its
`--use_custom_sdpa --use_custom_kv_cache` need transformers 5.0.0rc1 (we pin 5.24), and
the custom ops (llama::sdpa_with_kv_cache, llama::update_cache) are not in the executorch
pip wheel's C++ libraries, so neither the Python runtime nor the host typo_runner can load
such a file. What it would take:
  1. a separate venv: `pip install --no-deps optimum-executorch==1.1.0 transformers==5.0.0rc1`
  2. `optimum-cli export executorch --model <merged dir> --task text-generation --recipe xnnpack
      --use_custom_sdpa --use_custom_kv_cache --qlinear 8da4w --qembedding 8w --max_seq_len 512
      --output_dir <out>` (its forward takes (input_ids, cache_position) like ours)
  3. an Android runner built from ExecuTorch source with EXECUTORCH_BUILD_KERNELS_LLM=ON
     (links the custom ops) — the only runner that can load the file.
"""
import importlib.util

from export.recipes import Recipe, register


def _unavailable() -> str | None:
    if (importlib.util.find_spec("optimum") is None
            or importlib.util.find_spec("optimum.exporters.executorch") is None):
        return ("needs optimum-executorch (not installed: its pins break peft) and transformers 5.0.0rc1; "
                "see export/recipes/optimum_sdpa.py for the separate-venv recipe "
                "and which runner loads the file")
    return ("run optimum-cli directly (see export/recipes/optimum_sdpa.py); the file needs a runner "
            "built from ExecuTorch source with the custom LLM ops")


def quantize(model, group_size):
    raise NotImplementedError("optimum-xnnpack-int4-sdpa is exported by optimum-cli, not by this pipeline")


register(Recipe("optimum-xnnpack-int4-sdpa",
                "8da4w + custom SDPA/KV-cache ops via optimum-executorch (documented option)",
                "8da4w", quantize, uses_group_size=True,
                loadable_by=("Android typo_runner built from ExecuTorch source with the custom LLM ops",),
                unavailable=_unavailable))
